//! Apollo Federation v2: `BacktestRun @key(fields: "id")`, so a gateway can resolve runs
//! that other subgraphs refer to. async-graphql adds `_service { sdl }` and `_entities`.

use async_graphql::{Context, ID, Object};

use super::loaders::Loaders;
use super::runs::BacktestRun;
use super::scalars::parse_run_id;

#[derive(Default)]
pub struct FederationQuery;

#[Object]
impl FederationQuery {
    /// A run for `_entities`; null for an id no run has (or that is not a run id at all:
    /// a gateway's representation is not a user's argument). async-graphql resolves a
    /// call's representations concurrently, so the runs loader reads them all in one
    /// `id = ANY($1)` statement.
    #[graphql(entity)]
    async fn find_backtest_run_by_id(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<BacktestRun>> {
        let Ok(id) = parse_run_id("id", &id) else { return Ok(None) };
        let run = ctx.data::<Loaders>()?.runs.load_one(id).await?;
        Ok(run.flatten().map(BacktestRun::from))
    }
}
