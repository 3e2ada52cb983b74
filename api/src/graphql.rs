//! The GraphQL schema: assembled here from one module per domain.

pub mod compare;
pub mod documents;
pub mod loaders;
pub mod metrics;
pub mod pagination;
pub mod record;
pub mod runs;
pub mod scalars;

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::state::AppState;

#[derive(MergedObject, Default)]
pub struct Query(runs::RunQuery, compare::CompareQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(record::RecordMutation);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema with no state attached: enough for `tearsheet schema`.
pub fn schema_builder() -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

pub fn build_schema(state: AppState) -> AppSchema {
    schema_builder().extension(documents::DocumentCache::default()).data(state).finish()
}

/// The SDL that `tearsheet schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
