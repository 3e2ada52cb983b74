//! The GraphQL schema: assembled here from one module per domain.

pub mod compare;
pub mod documents;
pub mod duplicates;
pub mod federation;
pub mod groups;
pub mod limits;
pub mod live;
pub mod loaders;
pub mod metrics;
pub mod pagination;
pub mod pareto;
pub mod record;
pub mod request_errors;
pub mod runs;
pub mod scalars;
mod spans;

use async_graphql::extensions::apollo_persisted_queries::{ApolloPersistedQueries, LruCacheStorage};
use async_graphql::{MergedObject, Schema};

use crate::state::AppState;

#[derive(MergedObject, Default)]
pub struct Query(
    runs::RunQuery,
    compare::CompareQuery,
    duplicates::DuplicateQuery,
    groups::GroupQuery,
    pareto::ParetoQuery,
    federation::FederationQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(record::RecordMutation);

pub type AppSchema = Schema<Query, Mutation, live::Subscription>;

/// Automatic persisted queries kept (parsed documents, by hash; least recently used go).
const PERSISTED_QUERIES: usize = 1_000;

/// The schema with no state attached: enough for `tearsheet schema`. A Federation v2
/// subgraph (see `federation`).
pub fn schema_builder() -> async_graphql::SchemaBuilder<Query, Mutation, live::Subscription> {
    Schema::build(Query::default(), Mutation::default(), live::Subscription).enable_federation()
}

/// Extensions run outermost first: error codes see every parse and validation error,
/// limits every parsed document (cached or not), persisted queries are resolved before
/// the document cache is asked.
pub fn build_schema(state: AppState, limits: limits::Limits, traced: bool) -> AppSchema {
    let builder = limits.apply(schema_builder());
    let builder = if traced { builder.extension(spans::RootFieldSpans) } else { builder };
    builder
        .extension(request_errors::RequestErrorCodes)
        .extension(limits::LimitsExtension(std::sync::Arc::new(limits)))
        .extension(ApolloPersistedQueries::new(LruCacheStorage::new(PERSISTED_QUERIES)))
        .extension(documents::DocumentCache::default())
        .data(state)
        .finish()
}

/// The SDL that `tearsheet schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
