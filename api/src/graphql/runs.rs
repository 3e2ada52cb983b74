//! `BacktestRun`, the `Node` interface, and the run queries.

use std::borrow::Cow;

use async_graphql::{Context, ID, InputObject, Interface, Json, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tearsheet_entity::{RunStatus as DbRunStatus, backtest_run};

use super::limits::page_cost;
use super::loaders::Loaders;
use super::metrics::{MetricRangeInput, PerformanceMetrics};
use super::pagination::{self, BacktestRunConnection, ConnectionArgs};
use super::scalars::{Date, JsonRef, parse_run_id, run_id};
use crate::error::ApiError;
use crate::store::query::{Direction, Filter, Order, OrderField};
use axum::body::Bytes;

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
pub struct BacktestRun(pub backtest_run::Model, Option<Bytes>);

impl From<backtest_run::Model> for BacktestRun {
    fn from(run: backtest_run::Model) -> Self {
        BacktestRun(run, None)
    }
}

impl BacktestRun {
    /// A run whose config was read as JSON text (`Configs::Text`), shown as it is.
    pub fn with_config_text(run: backtest_run::Model, text: Option<String>) -> Self {
        BacktestRun(run, text.map(Bytes::from))
    }
}

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
    async fn config(&self, ctx: &Context<'_>) -> async_graphql::Result<JsonRef<'_>> {
        if let Some(text) = &self.1 {
            return Ok(JsonRef::Text(text.clone()));
        }
        if !self.0.config_snapshot.is_null() {
            return Ok(JsonRef::Tree(Cow::Borrowed(&self.0.config_snapshot)));
        }
        // Read without its config (a page whose selection did not show it, reached here
        // through a fragment the look-ahead missed): fetch the whole run.
        let run = ctx.data::<Loaders>()?.runs.load_one(self.0.id).await?.flatten();
        let run = run.ok_or_else(|| ApiError::Conflict {
            message: "the run was deleted while this request ran".into(),
            field: None,
            index: None,
        })?;
        Ok(JsonRef::Tree(Cow::Owned(run.config_snapshot)))
    }
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    /// The run this one re-ran, if any (null too when that run was deleted).
    async fn original_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<BacktestRun>> {
        let Some(original) = self.0.original_run_id else { return Ok(None) };
        Ok(ctx.data::<Loaders>()?.runs.load_one(original).await?.flatten().map(BacktestRun::from))
    }
    /// Re-runs of this run, newest first.
    #[graphql(complexity = "page_cost(first.or(last)) * child_complexity")]
    async fn reruns(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<BacktestRunConnection> {
        let filter = Filter { original_run_id: Some(self.0.id), ..Filter::default() };
        let args = ConnectionArgs { first, after, last, before };
        pagination::connection(ctx, filter, Order::default(), args).await
    }
    /// Hash of the run's inputs: canonical config, instrument, date range, data source and
    /// strategy. Equal inputs, equal hash.
    async fn config_hash(&self) -> String {
        self.0.config_hash.simple().to_string()
    }
    /// Other runs with the same configHash, newest first (at most 100).
    async fn equivalent_runs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BacktestRun>> {
        let runs = ctx.data::<Loaders>()?.equivalents.load_one(self.0.config_hash).await?.unwrap_or_default();
        let max = crate::store::runs::MAX_EQUIVALENT as usize;
        Ok(runs.into_iter().filter(|r| r.id != self.0.id).take(max).map(BacktestRun::from).collect())
    }
    /// The chain of original runs, nearest first.
    async fn ancestors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BacktestRun>> {
        let db = ctx.data::<Loaders>()?.read();
        let runs = crate::store::runs::ancestors(db, self.0.id).await.map_err(ApiError::from)?;
        Ok(runs.into_iter().map(BacktestRun::from).collect())
    }
    /// Every re-run of this run, of its re-runs and so on, newest first.
    #[graphql(complexity = "page_cost(first.or(last)) * child_complexity")]
    async fn descendants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<BacktestRunConnection> {
        let filter = Filter { descendants_of: Some(self.0.id), ..Filter::default() };
        let args = ConnectionArgs { first, after, last, before };
        pagination::connection(ctx, filter, Order::default(), args).await
    }
    /// Null when the run recorded no metrics (e.g. it failed).
    async fn metrics(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PerformanceMetrics>> {
        Ok(ctx.data::<Loaders>()?.metrics.load_one(self.0.id).await?.flatten().map(PerformanceMetrics))
    }
}

#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "OrderDirection")]
pub enum OrderDirection {
    Asc,
    Desc,
}

#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum BacktestRunOrderField {
    CreatedAt,
    SharpeRatio,
    TotalReturn,
    MaxDrawdown,
}

/// Sorts by `field`, ties broken by id in the same direction. Runs without metrics sort
/// last in both directions.
#[derive(InputObject, Copy, Clone, Debug)]
pub struct BacktestRunOrder {
    pub field: BacktestRunOrderField,
    pub direction: OrderDirection,
}

impl From<BacktestRunOrder> for Order {
    fn from(o: BacktestRunOrder) -> Self {
        Order {
            field: match o.field {
                BacktestRunOrderField::CreatedAt => OrderField::CreatedAt,
                BacktestRunOrderField::SharpeRatio => OrderField::SharpeRatio,
                BacktestRunOrderField::TotalReturn => OrderField::TotalReturn,
                BacktestRunOrderField::MaxDrawdown => OrderField::MaxDrawdown,
            },
            direction: match o.direction {
                OrderDirection::Asc => Direction::Asc,
                OrderDirection::Desc => Direction::Desc,
            },
        }
    }
}

/// All given conditions must hold (AND).
#[derive(InputObject, Clone, Debug, Default)]
pub struct BacktestRunFilter {
    pub strategy_name: Option<String>,
    pub strategy_type: Option<String>,
    pub instrument_symbol: Option<String>,
    pub status: Option<RunStatus>,
    /// created_at >= createdAfter
    pub created_after: Option<DateTime<Utc>>,
    /// created_at < createdBefore
    pub created_before: Option<DateTime<Utc>>,
    /// JSONB containment: config_snapshot @> config. Must be a JSON object; nested objects
    /// match by containment, arrays by element (`{"instruments": ["AAPL"]}`).
    pub config: Option<Json<serde_json::Value>>,
    /// Only re-runs of this run.
    pub original_run_id: Option<ID>,
    /// An SQL/JSON path predicate on the config, e.g. `$.fast_period < 20 &&
    /// $.risk_management.stop_loss == 0.02`. Equality chains use the config's GIN index;
    /// other predicates are checked on the rows the page reads (see docs/design.md).
    pub config_path: Option<String>,
    /// Every range must hold.
    pub metrics: Option<Vec<MetricRangeInput>>,
}

impl BacktestRunFilter {
    pub fn into_filter(self) -> Result<Filter, ApiError> {
        if let Some(Json(config)) = &self.config
            && !config.is_object()
        {
            return Err(ApiError::bad_input("filter.config", "filter.config must be a JSON object"));
        }
        Ok(Filter {
            strategy_name: self.strategy_name,
            strategy_type: self.strategy_type,
            instrument_symbol: self.instrument_symbol,
            status: self.status.map(Into::into),
            created_after: self.created_after,
            created_before: self.created_before,
            original_run_id: self
                .original_run_id
                .as_ref()
                .map(|id| parse_run_id("filter.originalRunId", id))
                .transpose()?,
            config: self.config.map(|Json(v)| v),
            config_path: self.config_path,
            metric_ranges: self.metrics.unwrap_or_default().into_iter().map(Into::into).collect(),
            descendants_of: None,
        })
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
        Ok(super::loaders::load_shown_runs(ctx, &[ctx.look_ahead()], &[id]).await?.into_iter().next())
    }

    /// Relay cursor connection. Default order: CREATED_AT DESC. At most 100 per page
    /// (default 20). Give `first`/`after` to page forwards or `last`/`before` backwards.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "page_cost(first.or(last)) * child_complexity")]
    async fn backtest_runs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<BacktestRunFilter>,
        order_by: Option<BacktestRunOrder>,
    ) -> async_graphql::Result<BacktestRunConnection> {
        let filter = filter.unwrap_or_default().into_filter()?;
        let order = order_by.map(Order::from).unwrap_or_default();
        let args = ConnectionArgs { first, after, last, before };
        pagination::connection(ctx, filter, order, args).await
    }
}
