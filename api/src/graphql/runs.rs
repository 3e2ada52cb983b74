//! `BacktestRun`, the `Node` interface, and the run queries.

use std::borrow::Cow;

use async_graphql::parser::types::Field as AstField;
use async_graphql::{Context, ContextSelectionSet, ID, InputObject, Interface, Json, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tearsheet_entity::{RunStatus as DbRunStatus, backtest_run, performance_metrics};

use super::direct::{self, Direct, Written};
use super::limits::page_cost;
use super::loaders::Loaders;
use super::metrics::{MetricRangeInput, PerformanceMetrics};
use super::pagination::{self, BacktestRunConnection, ConnectionArgs};
use super::scalars::{Date, JsonRef, parse_run_id, run_id};
use crate::error::ApiError;
use crate::store::query::{Direction, Filter, Order, OrderField};
use crate::store::runs::Configs;
use axum::body::Bytes;

#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Success,
    Failed,
    Interrupted,
}

impl RunStatus {
    /// The value's name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Success => "SUCCESS",
            RunStatus::Failed => "FAILED",
            RunStatus::Interrupted => "INTERRUPTED",
        }
    }
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
    // The object itself: the interface resolves its fields one by one anyway.
    BacktestRun(RunObject),
}

/// One backtest execution, with what was read with it: written as JSON text where the
/// request allows (`direct`), else resolved field by field as `RunObject`.
pub type BacktestRun = Written<RunObject>;

#[derive(Clone)]
pub struct RunObject {
    run: backtest_run::Model,
    /// Its config as JSON text, when read as text (`Configs::Text`): shown as it is.
    config_text: Option<Bytes>,
    /// Its metrics, when read with it (`Some(None)`: it has none); else the loader's.
    metrics: Option<Option<performance_metrics::Model>>,
}

impl From<backtest_run::Model> for BacktestRun {
    fn from(run: backtest_run::Model) -> Self {
        Written(RunObject { run, config_text: None, metrics: None })
    }
}

impl BacktestRun {
    /// A run whose config was read as JSON text (`Configs::Text`), shown as it is.
    pub fn with_config_text(run: backtest_run::Model, text: Option<String>) -> Self {
        Written(RunObject { run, config_text: text.map(Bytes::from), metrics: None })
    }

    /// The run with its metrics, read with it (`None`: it has none).
    pub fn with_metrics(mut self, metrics: Option<performance_metrics::Model>) -> Self {
        self.0.metrics = Some(metrics);
        self
    }

    pub fn model(&self) -> &backtest_run::Model {
        &self.0.run
    }

    /// Its metrics when read with it: `Some(None)` when it has none.
    pub fn metrics(&self) -> Option<Option<&performance_metrics::Model>> {
        self.0.metrics.as_ref().map(Option::as_ref)
    }
}

impl RunObject {
    /// The config as read with the run: its text, or its tree; `None` when the run was
    /// read without it (`Configs::Omit`: JSON null in its place).
    fn config_in_hand(&self) -> Option<JsonRef<'_>> {
        match (&self.config_text, &self.run.config_snapshot) {
            (Some(text), _) => Some(JsonRef::Text(text.clone())),
            (None, serde_json::Value::Null) => None,
            (None, tree) => Some(JsonRef::Tree(Cow::Borrowed(tree))),
        }
    }
}

impl Direct for RunObject {
    const TYPE_NAME: &'static str = "BacktestRun";

    fn write_field(&self, ctx: &ContextSelectionSet<'_>, field: &AstField, out: &mut Vec<u8>) -> bool {
        let run = &self.run;
        match field.name.node.as_str() {
            "id" => {
                let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
                direct::string(out, run.id.hyphenated().encode_lower(&mut id));
            }
            "createdAt" => direct::utc_time(out, &run.created_at.with_timezone(&Utc)),
            "completedAt" => match run.completed_at {
                Some(time) => direct::utc_time(out, &time.with_timezone(&Utc)),
                None => out.extend_from_slice(b"null"),
            },
            "durationSeconds" => direct::number(out, run.duration_seconds),
            "status" => direct::string(out, RunStatus::from(run.status).name()),
            "strategyName" => direct::string(out, &run.strategy_name),
            "strategyType" => direct::string(out, &run.strategy_type),
            "instrumentSymbol" => direct::string(out, &run.instrument_symbol),
            "dateRangeStart" => direct::string(out, &Date(run.date_range_start).text()),
            "dateRangeEnd" => direct::string(out, &Date(run.date_range_end).text()),
            "initialCapital" => direct::string(out, &run.initial_capital.to_string()),
            "dataSource" => direct::string(out, &run.data_source),
            "config" => match self.config_in_hand() {
                Some(config) => config.write(out),
                // Read without it: the resolver fetches it.
                None => return false,
            },
            "errorMessage" => direct::optional_string(out, run.error_message.as_deref()),
            "configHash" => {
                let mut hash = [0u8; uuid::fmt::Simple::LENGTH];
                direct::string(out, run.config_hash.simple().encode_lower(&mut hash));
            }
            "metrics" => match &self.metrics {
                Some(Some(metrics)) => return direct::write_object(ctx, metrics, out),
                Some(None) => out.extend_from_slice(b"null"),
                None => return false,
            },
            _ => return false,
        }
        true
    }
}

#[Object(name = "BacktestRun")]
impl RunObject {
    /// The run's UUID, lower-case and hyphenated.
    async fn id(&self) -> ID {
        run_id(self.run.id)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.run.created_at.with_timezone(&Utc)
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.run.completed_at.map(|t| t.with_timezone(&Utc))
    }
    async fn duration_seconds(&self) -> Option<i32> {
        self.run.duration_seconds
    }
    async fn status(&self) -> RunStatus {
        self.run.status.into()
    }
    async fn strategy_name(&self) -> &str {
        &self.run.strategy_name
    }
    async fn strategy_type(&self) -> &str {
        &self.run.strategy_type
    }
    async fn instrument_symbol(&self) -> &str {
        &self.run.instrument_symbol
    }
    async fn date_range_start(&self) -> Date {
        Date(self.run.date_range_start)
    }
    async fn date_range_end(&self) -> Date {
        Date(self.run.date_range_end)
    }
    async fn initial_capital(&self) -> Decimal {
        self.run.initial_capital
    }
    async fn data_source(&self) -> &str {
        &self.run.data_source
    }
    /// The complete strategy configuration (config_snapshot).
    async fn config(&self, ctx: &Context<'_>) -> async_graphql::Result<JsonRef<'_>> {
        if let Some(config) = self.config_in_hand() {
            return Ok(config);
        }
        // Read without its config (a page whose selection did not show it, reached here
        // through a fragment the look-ahead missed): fetch the whole run.
        let run = ctx.data::<Loaders>()?.runs.load_one(self.run.id).await?.flatten();
        let run = run.ok_or_else(|| ApiError::Conflict {
            message: "the run was deleted while this request ran".into(),
            field: None,
            index: None,
        })?;
        Ok(JsonRef::Tree(Cow::Owned(run.config_snapshot)))
    }
    async fn error_message(&self) -> Option<&str> {
        self.run.error_message.as_deref()
    }
    /// The run this one re-ran, if any (null too when that run was deleted).
    async fn original_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<BacktestRun>> {
        let Some(original) = self.run.original_run_id else { return Ok(None) };
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
        let filter = Filter { original_run_id: Some(self.run.id), ..Filter::default() };
        let args = ConnectionArgs { first, after, last, before };
        pagination::connection(ctx, filter, Order::default(), args).await
    }
    /// Hash of the run's inputs: canonical config, instrument, date range, data source and
    /// strategy. Equal inputs, equal hash.
    async fn config_hash(&self) -> String {
        self.run.config_hash.simple().to_string()
    }
    /// Other runs with the same configHash, newest first (at most 100).
    async fn equivalent_runs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BacktestRun>> {
        let runs = ctx.data::<Loaders>()?.equivalents.load_one(self.run.config_hash).await?.unwrap_or_default();
        let max = crate::store::runs::MAX_EQUIVALENT as usize;
        Ok(runs.into_iter().filter(|r| r.id != self.run.id).take(max).map(BacktestRun::from).collect())
    }
    /// The chain of original runs, nearest first.
    async fn ancestors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BacktestRun>> {
        let db = ctx.data::<Loaders>()?.read();
        let runs = crate::store::runs::ancestors(db, self.run.id).await.map_err(ApiError::from)?;
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
        let filter = Filter { descendants_of: Some(self.run.id), ..Filter::default() };
        let args = ConnectionArgs { first, after, last, before };
        pagination::connection(ctx, filter, Order::default(), args).await
    }
    /// Null when the run recorded no metrics (e.g. it failed).
    async fn metrics(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PerformanceMetrics>> {
        if let Some(metrics) = &self.metrics {
            return Ok(metrics.clone().map(PerformanceMetrics));
        }
        Ok(ctx.data::<Loaders>()?.metrics.load_one(self.run.id).await?.flatten().map(PerformanceMetrics))
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
        Ok(self.backtest_run(ctx, id).await?.map(|run| Node::BacktestRun(run.0)))
    }

    /// One run by id; null when no run has it.
    async fn backtest_run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<BacktestRun>> {
        let id = parse_run_id("id", &id)?;
        let runs = super::loaders::load_runs(ctx, &[ctx.look_ahead()], &[id], Configs::Omit).await?;
        Ok(runs.into_iter().next())
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

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Request, Schema};
    use chrono::{FixedOffset, NaiveDate, TimeZone as _};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::graphql::direct::{DirectObjects, merges_no_objects};
    use crate::graphql::pagination::{BacktestRunEdge, EdgeObject};
    use crate::graphql::scalars::JsonText;

    struct Q(Vec<BacktestRun>);

    #[Object]
    impl Q {
        async fn runs(&self) -> Vec<BacktestRun> {
            self.0.clone()
        }
        async fn edges(&self) -> Vec<BacktestRunEdge> {
            self.0
                .iter()
                .map(|run| Written(EdgeObject { cursor: format!("c\"{}", run.model().id), node: run.clone() }))
                .collect()
        }
        async fn one(&self) -> Option<BacktestRun> {
            self.0.first().cloned()
        }
    }

    fn run(n: u128, status: DbRunStatus) -> backtest_run::Model {
        let at = FixedOffset::east_opt(7_200).expect("offset").with_ymd_and_hms(2025, 3, 4, 5, 6, 7).single();
        backtest_run::Model {
            id: Uuid::from_u128(0x0b3c_2f5e_8d1a_4c2b_9e0f_1a2b_3c4d_5e00 + n),
            created_at: at.expect("time") + chrono::Duration::microseconds(123_456),
            completed_at: None,
            duration_seconds: None,
            status,
            strategy_name: "momentum ünï".into(),
            strategy_type: "trend".into(),
            instrument_symbol: "AAPL".into(),
            date_range_start: NaiveDate::from_ymd_opt(2020, 1, 2).expect("date"),
            date_range_end: NaiveDate::from_ymd_opt(999, 12, 31).expect("date"),
            initial_capital: Decimal::new(1_000_050, 2),
            data_source: "yahoo".into(),
            config_snapshot: json!({ "z": 1, "fast_period": 10.5, "risk": { "stop": [0.02, null, "x\"y"] } }),
            error_message: None,
            original_run_id: None,
            config_hash: Uuid::from_u128(0xfeed + n),
        }
    }

    fn metrics(run: &backtest_run::Model, full: bool) -> performance_metrics::Model {
        let d = |n: i64, scale: u32| full.then(|| Decimal::new(n, scale));
        performance_metrics::Model {
            id: Uuid::from_u128(7),
            backtest_run_id: run.id,
            total_return: d(12_345, 4),
            cagr: d(-5, 4),
            sharpe_ratio: d(15_000, 4),
            sortino_ratio: d(0, 0),
            max_drawdown: d(-2_500, 4),
            volatility: d(1, 4),
            total_trades: full.then_some(120),
            winning_trades: full.then_some(-1),
            losing_trades: None,
            win_rate: d(5_500, 4),
            profit_factor: d(123_456_789_012, 4),
            avg_win_amount: d(1_000_050, 2),
            avg_loss_amount: d(-7, 2),
        }
    }

    /// Runs covering every field's null and non-null values, configs as trees and text.
    fn runs() -> Vec<BacktestRun> {
        let full = run(1, DbRunStatus::Success);
        let full_metrics = metrics(&full, true);
        let mut done = run(2, DbRunStatus::Failed);
        done.completed_at = Some(done.created_at + chrono::Duration::seconds(90));
        done.duration_seconds = Some(90);
        done.error_message = Some("line\nbreak \"quoted\" \\ \u{1}".into());
        done.original_run_id = Some(full.id);
        let sparse = run(3, DbRunStatus::Interrupted);
        let sparse_metrics = metrics(&sparse, false);
        vec![
            BacktestRun::from(full).with_metrics(Some(full_metrics)),
            BacktestRun::from(done.clone()).with_metrics(None),
            BacktestRun::with_config_text(sparse, Some(r#"{"a": 1, "b": [1.50, {"c": null}]}"#.into()))
                .with_metrics(Some(sparse_metrics)),
            BacktestRun::with_config_text(done, Some("[]".into())).with_metrics(None),
        ]
    }

    const ALL_RUN_FIELDS: &str = "__typename id createdAt completedAt durationSeconds status strategyName \
        strategyType instrumentSymbol dateRangeStart dateRangeEnd initialCapital dataSource config errorMessage \
        configHash metrics { __typename totalReturn cagr sharpeRatio sortinoRatio maxDrawdown volatility \
        totalTrades winningTrades losingTrades winRate profitFactor avgWinAmount avgLossAmount }";

    #[tokio::test]
    async fn objects_written_directly_are_the_bytes_async_graphql_writes() {
        let schema = Schema::build(Q(runs()), EmptyMutation, EmptySubscription)
            .register_output_type::<Node>()
            .data(JsonText)
            .finish();
        let queries = [
            format!("{{ runs {{ {ALL_RUN_FIELDS} }} }}"),
            format!("{{ edges {{ __typename cursor node {{ {ALL_RUN_FIELDS} }} }} one {{ id }} }}"),
            "{ runs { a: id id status a: id m: metrics { s: sharpeRatio sharpeRatio s: sharpeRatio } } }".into(),
            "{ runs { ...F ... on Node { id } ... on BacktestRun { status id } ... { strategyName } } } \
             fragment F on BacktestRun { configHash metrics { ...M } } fragment M on PerformanceMetrics { cagr }"
                .into(),
            "query($no: Boolean!) { runs { id status @include(if: $no) metrics @skip(if: $no) { cagr } } }".into(),
        ];
        for query in &queries {
            let document = async_graphql::parser::parse_query(query).expect("parses");
            assert!(merges_no_objects(&document), "{query}");
            let request = || Request::new(query).variables(async_graphql::Variables::from_json(json!({ "no": false })));
            let standard = schema.execute(request()).await;
            let direct = schema.execute(request().data(DirectObjects)).await;
            assert!(standard.errors.is_empty() && direct.errors.is_empty(), "{query}: {:?}", standard.errors);
            // Objects written directly: the same text from another value tree.
            assert_ne!(direct.data, standard.data, "{query}");
            let (standard, direct) = (crate::http::json::response(&standard), crate::http::json::response(&direct));
            let (standard, direct) = (standard.expect("json"), direct.expect("json"));
            assert_eq!(String::from_utf8_lossy(&direct), String::from_utf8_lossy(&standard), "{query}");
        }
    }

    #[tokio::test]
    async fn a_document_that_merges_objects_is_resolved_by_async_graphql() {
        let schema = Schema::build(Q(runs()), EmptyMutation, EmptySubscription).data(JsonText).finish();
        let query = "{ runs { id metrics { cagr } } runs { status metrics { sharpeRatio } } }";
        assert!(!merges_no_objects(&async_graphql::parser::parse_query(query).expect("parses")));
        let response = schema.execute(Request::new(query)).await;
        let body: serde_json::Value =
            serde_json::from_slice(&crate::http::json::response(&response).expect("json")).expect("parses");
        assert_eq!(body["data"]["runs"][0]["metrics"], json!({ "cagr": -0.0005, "sharpeRatio": 1.5 }));
        assert_eq!(body["data"]["runs"][1]["status"], json!("FAILED"));
    }
}
