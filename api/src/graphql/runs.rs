//! `BacktestRun`, the `Node` interface, and the run queries.

use async_graphql::{Context, ID, Interface, Json, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tearsheet_entity::{RunStatus as DbRunStatus, backtest_run};

use super::loaders::Loaders;
use super::metrics::PerformanceMetrics;
use super::pagination::{self, BacktestRunConnection, BacktestRunEdge, PageInfo};
use super::scalars::{Date, parse_run_id, run_id};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store;
use crate::store::runs::CreatedAtKey;

#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Success,
    Failed,
    Interrupted,
}

impl From<DbRunStatus> for RunStatus {
    fn from(s: DbRunStatus) -> Self {
        match s {
            DbRunStatus::Success => RunStatus::Success,
            DbRunStatus::Failed => RunStatus::Failed,
            DbRunStatus::Interrupted => RunStatus::Interrupted,
        }
    }
}

impl From<RunStatus> for DbRunStatus {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Success => DbRunStatus::Success,
            RunStatus::Failed => DbRunStatus::Failed,
            RunStatus::Interrupted => DbRunStatus::Interrupted,
        }
    }
}

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    BacktestRun(BacktestRun),
}

/// One backtest execution.
#[derive(Clone)]
pub struct BacktestRun(pub backtest_run::Model);

#[Object]
impl BacktestRun {
    /// The run's UUID, lower-case and hyphenated.
    async fn id(&self) -> ID {
        run_id(self.0.id)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.with_timezone(&Utc)
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at.map(|t| t.with_timezone(&Utc))
    }
    async fn duration_seconds(&self) -> Option<i32> {
        self.0.duration_seconds
    }
    async fn status(&self) -> RunStatus {
        self.0.status.into()
    }
    async fn strategy_name(&self) -> &str {
        &self.0.strategy_name
    }
    async fn strategy_type(&self) -> &str {
        &self.0.strategy_type
    }
    async fn instrument_symbol(&self) -> &str {
        &self.0.instrument_symbol
    }
    async fn date_range_start(&self) -> Date {
        Date(self.0.date_range_start)
    }
    async fn date_range_end(&self) -> Date {
        Date(self.0.date_range_end)
    }
    async fn initial_capital(&self) -> Decimal {
        self.0.initial_capital
    }
    async fn data_source(&self) -> &str {
        &self.0.data_source
    }
    /// The complete strategy configuration (config_snapshot).
    async fn config(&self) -> Json<&serde_json::Value> {
        Json(&self.0.config_snapshot)
    }
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    /// The run this one re-ran, if any (null too when that run was deleted).
    async fn original_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<BacktestRun>> {
        let Some(original) = self.0.original_run_id else { return Ok(None) };
        Ok(ctx.data::<Loaders>()?.runs.load_one(original).await?.map(BacktestRun))
    }
    /// Null when the run recorded no metrics (e.g. it failed).
    async fn metrics(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PerformanceMetrics>> {
        Ok(ctx.data::<Loaders>()?.metrics.load_one(self.0.id).await?.map(PerformanceMetrics))
    }
}

#[derive(Default)]
pub struct RunQuery;

#[Object]
impl RunQuery {
    /// Fetches any object by its id (runs are the only nodes).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        Ok(self.backtest_run(ctx, id).await?.map(Node::BacktestRun))
    }

    /// One run by id; null when no run has it.
    async fn backtest_run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<BacktestRun>> {
        let id = parse_run_id("id", &id)?;
        Ok(ctx.data::<Loaders>()?.runs.load_one(id).await?.map(BacktestRun))
    }

    /// Relay cursor connection, newest first by (createdAt, id). At most 100 per page.
    async fn backtest_runs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<BacktestRunConnection> {
        let limit = pagination::page_size("first", first)?;
        let after = after.as_deref().map(|c| pagination::decode_created_at("after", c)).transpose()?;
        let state = ctx.data::<AppState>()?;
        // One row more than the page tells whether another page follows.
        let mut rows = store::runs::newest_first(&state.pools.read, after, limit + 1).await.map_err(ApiError::from)?;
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let edges: Vec<BacktestRunEdge> = rows
            .into_iter()
            .map(|row| BacktestRunEdge {
                cursor: pagination::encode_created_at(CreatedAtKey::of(&row)),
                node: BacktestRun(row),
            })
            .collect();
        let page_info = PageInfo {
            // Relay allows false when paginating forward; exact backward paging arrives
            // with `last`/`before`.
            has_previous_page: false,
            has_next_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(BacktestRunConnection { edges, page_info })
    }
}
