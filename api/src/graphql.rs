//! The GraphQL schema: assembled here from one module per domain.

pub mod compare;
pub mod direct;
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
pub mod pipeline;
pub mod record;
pub mod request_errors;
pub mod runs;
pub mod scalars;
mod spans;
pub mod variables;

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

/// The schema with no state attached: enough for `tearsheet schema`. A Federation v2
/// subgraph (see `federation`).
pub fn schema_builder() -> async_graphql::SchemaBuilder<Query, Mutation, live::Subscription> {
    Schema::build(Query::default(), Mutation::default(), live::Subscription).enable_federation()
}

/// The schema of the WebSocket endpoint (subscriptions), with the request steps as
/// extensions, run outermost first: error codes see every parse and validation error,
/// limits every parsed document (cached or not), persisted queries are resolved before
/// the document cache is asked. HTTP requests take the same steps without extensions
/// ([`http_executor`]).
pub fn build_schema(state: AppState, limits: limits::Limits, traced: bool) -> AppSchema {
    limited(&limits, traced)
        .extension(request_errors::RequestErrorCodes)
        .extension(limits::LimitsExtension(std::sync::Arc::new(limits)))
        .extension(ApolloPersistedQueries::new(LruCacheStorage::new(pipeline::PERSISTED_QUERIES)))
        .extension(documents::DocumentCache::default())
        .data(state)
        .finish()
}

/// What executes HTTP requests: the schema without extensions (but the root-field spans
/// when traces are exported), its request steps taken by `pipeline`; built twice, with
/// strict and with fast validation (see `pipeline`). Its responses are written by
/// `http::json`, hence `JsonText`.
pub fn http_executor(state: AppState, limits: limits::Limits, traced: bool) -> pipeline::Executor {
    let schema =
        |mode| limited(&limits, traced).validation_mode(mode).data(state.clone()).data(scalars::JsonText).finish();
    let strict = schema(async_graphql::ValidationMode::Strict);
    let fast = schema(async_graphql::ValidationMode::Fast);
    pipeline::Executor::new(strict, fast, limits)
}

/// What both schemas share: async-graphql's own limits, and the root-field spans when
/// traces are exported.
fn limited(limits: &limits::Limits, traced: bool) -> async_graphql::SchemaBuilder<Query, Mutation, live::Subscription> {
    let builder = limits.apply(schema_builder());
    if traced { builder.extension(spans::RootFieldSpans) } else { builder }
}

/// The SDL that `tearsheet schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
