//! Mutations: recording and deleting runs, and the validation of what is recorded.

use std::borrow::Cow;

use async_graphql::registry::Registry;
use async_graphql::{
    Context, ID, InputObject, InputType, InputValueError, InputValueResult, Json, Object, SimpleObject,
};
use chrono::{DateTime, SubsecRound as _, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::loaders::Loaders;
use super::metrics::{PerformanceMetricsInput, decimal_in_column};
use super::runs::{BacktestRun, RunStatus};
use super::scalars::{Date, parse_run_id, run_id};
use crate::auth::Access;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::record::{self, Configs, NewRun, RecordError, Recorded, Rejection};
use crate::store::run_config::RunConfig;

/// At most this many runs per `recordBacktestRuns` call.
pub const MAX_BATCH: usize = 1000;
/// Largest `config`, serialized as JSON.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// At most this many errors are listed for one batch; the last says how many more.
const MAX_REPORTED_ERRORS: usize = 100;

#[derive(InputObject, Clone, Debug)]
pub struct RecordBacktestRunInput {
    /// Client-chosen UUID; recording the same id with the same content again is a no-op.
    /// Another run with this id already stored is a `CONFLICT`. Without it the server
    /// generates a time-ordered UUID (v7).
    pub id: Option<ID>,
    /// Defaults to the time of recording. Stored to the microsecond.
    pub created_at: Option<DateTime<Utc>>,
    /// Not before `createdAt`.
    pub completed_at: Option<DateTime<Utc>>,
    /// Zero or more.
    pub duration_seconds: Option<i32>,
    pub status: RunStatus,
    /// 1 to 100 characters.
    pub strategy_name: String,
    /// 1 to 50 characters.
    pub strategy_type: String,
    /// 1 to 20 characters.
    pub instrument_symbol: String,
    pub date_range_start: Date,
    /// Not before `dateRangeStart`.
    pub date_range_end: Date,
    /// Greater than 0, at most 2 decimals, less than 10^18.
    pub initial_capital: Decimal,
    /// 1 to 50 characters.
    pub data_source: String,
    /// The complete strategy configuration: a JSON object of at most 1 MiB.
    pub config: ConfigInput,
    /// Only for FAILED or INTERRUPTED runs.
    pub error_message: Option<String>,
    /// The run this one re-runs: a stored run, or one earlier in the same batch.
    pub original_run_id: Option<ID>,
    pub metrics: Option<PerformanceMetricsInput>,
}

/// The column widths of `backtest_runs`: checked here so the client learns which field is
/// too long instead of getting PostgreSQL's "value too long for type".
const TEXT_LIMITS: [(&str, usize); 4] =
    [("strategyName", 100), ("strategyType", 50), ("instrumentSymbol", 20), ("dataSource", 50)];

/// `config`, the `JSON` scalar of the schema, turned into the stored form (text and
/// hashes, see `store::run_config`) as soon as it is parsed: async-graphql parses a
/// batch's whole list of inputs before the resolver runs, and 1,000 configs as value trees
/// were a third of a recording's memory. What is wrong with it is kept and reported by
/// `validate`, in field order, like every other field's problem.
#[derive(Clone, Debug)]
pub struct ConfigInput(std::result::Result<RunConfig, String>);

impl ConfigInput {
    fn new(value: serde_json::Value) -> ConfigInput {
        if !value.is_object() {
            return ConfigInput(Err("config must be a JSON object".to_owned()));
        }
        if json_has_nul(&value) {
            return ConfigInput(Err("config must not contain the NUL character (\\u0000)".to_owned()));
        }
        let config = RunConfig::new(&value);
        let size = config.text().len();
        if size > MAX_CONFIG_BYTES {
            return ConfigInput(Err(format!("config must be at most {MAX_CONFIG_BYTES} bytes as JSON, got {size}")));
        }
        ConfigInput(Ok(config))
    }
}

/// Whether any string (or key) of a JSON value contains NUL, which `jsonb` cannot store.
fn json_has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

impl InputType for ConfigInput {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        <Json<serde_json::Value> as InputType>::type_name()
    }

    /// The schema's `JSON` scalar, as `Json<Value>` registers it.
    fn create_type_info(registry: &mut Registry) -> String {
        <Json<serde_json::Value> as InputType>::create_type_info(registry)
    }

    fn parse(value: Option<async_graphql::Value>) -> InputValueResult<Self> {
        let Json(value) = <Json<serde_json::Value> as InputType>::parse(value).map_err(InputValueError::propagate)?;
        Ok(ConfigInput::new(value))
    }

    fn to_value(&self) -> async_graphql::Value {
        match &self.0 {
            Ok(config) => async_graphql::Value::from_json(config.value()).unwrap_or_default(),
            Err(_) => async_graphql::Value::Null,
        }
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}

impl RecordBacktestRunInput {
    /// Checks every field and produces the row to store; the first problem found is the
    /// error. `now` is the default `createdAt`.
    pub fn validate(self, now: DateTime<Utc>) -> Result<NewRun> {
        let id = match &self.id {
            Some(id) => parse_run_id("id", id)?,
            // Time-ordered ids keep the primary key's b-tree appending at its right edge.
            None => Uuid::now_v7(),
        };
        let texts = [&self.strategy_name, &self.strategy_type, &self.instrument_symbol, &self.data_source];
        for ((field, max), value) in TEXT_LIMITS.iter().zip(texts) {
            if value.trim().is_empty() {
                return Err(ApiError::bad_input(*field, format!("{field} must not be empty")));
            }
            if value.chars().count() > *max {
                return Err(ApiError::bad_input(*field, format!("{field} must be at most {max} characters")));
            }
            if value.contains('\0') {
                return Err(ApiError::bad_input(*field, format!("{field} must not contain the NUL character")));
            }
        }
        // PostgreSQL keeps microseconds; rounding here makes what is compared on a replay
        // what is stored.
        let created_at = self.created_at.map(|t| t.round_subsecs(6));
        let completed_at = self.completed_at.map(|t| t.round_subsecs(6));
        let effective_created = created_at.unwrap_or(now);
        if let Some(done) = completed_at
            && done < effective_created
        {
            let which = if created_at.is_some() { "createdAt" } else { "createdAt (which defaults to now)" };
            return Err(ApiError::bad_input("completedAt", format!("completedAt must not be before {which}")));
        }
        if self.duration_seconds.is_some_and(|d| d < 0) {
            return Err(ApiError::bad_input("durationSeconds", "durationSeconds must not be negative"));
        }
        if self.date_range_end.0 < self.date_range_start.0 {
            return Err(ApiError::bad_input("dateRangeEnd", "dateRangeEnd must not be before dateRangeStart"));
        }
        if self.initial_capital <= Decimal::ZERO {
            return Err(ApiError::bad_input("initialCapital", "initialCapital must be greater than 0"));
        }
        let initial_capital = decimal_in_column("initialCapital", self.initial_capital, 20, 2)?;
        let config = self.config.0.map_err(|problem| ApiError::bad_input("config", problem))?;
        let status = self.status;
        if let Some(message) = &self.error_message {
            if status == RunStatus::Success {
                return Err(ApiError::bad_input(
                    "errorMessage",
                    "errorMessage is only for FAILED or INTERRUPTED runs, not SUCCESS",
                ));
            }
            if message.contains('\0') {
                return Err(ApiError::bad_input("errorMessage", "errorMessage must not contain the NUL character"));
            }
        }
        let original_run_id = self.original_run_id.as_ref().map(|o| parse_run_id("originalRunId", o)).transpose()?;
        if original_run_id == Some(id) {
            return Err(ApiError::bad_input("originalRunId", "a run cannot be a re-run of itself"));
        }
        let metrics = self.metrics.as_ref().map(PerformanceMetricsInput::validate).transpose()?;
        Ok(NewRun {
            id,
            created_at: effective_created,
            created_at_given: created_at.is_some(),
            completed_at,
            duration_seconds: self.duration_seconds,
            status: status.into(),
            strategy_name: self.strategy_name,
            strategy_type: self.strategy_type,
            instrument_symbol: self.instrument_symbol,
            date_range_start: self.date_range_start.0,
            date_range_end: self.date_range_end.0,
            initial_capital,
            data_source: self.data_source,
            config,
            error_message: self.error_message,
            original_run_id,
            metrics,
        })
    }
}

#[derive(SimpleObject)]
pub struct RecordBacktestRunsPayload {
    /// The runs, in the order of the inputs (replays included).
    pub runs: Vec<BacktestRun>,
}

#[derive(SimpleObject)]
pub struct DeleteBacktestRunPayload {
    /// The id of the deleted run; null when no run had it.
    pub deleted_id: Option<ID>,
}

/// Mutations need a write token (see `auth`).
fn require_write(ctx: &Context<'_>) -> Result<()> {
    let access = ctx.data_opt::<Access>().copied().unwrap_or(Access::Anonymous);
    if access.can_write() { Ok(()) } else { Err(ApiError::access_denied(access)) }
}

/// What the store refused, as errors naming each input (`batch`: with its index).
fn rejection_errors(rejected: Vec<Rejection>, runs: &[NewRun], batch: bool) -> Vec<ApiError> {
    rejected
        .into_iter()
        .map(|r| {
            let (index, err) = match r {
                Rejection::Conflict { index, field } => (
                    index,
                    ApiError::Conflict {
                        message: format!(
                            "a run with id {} is already recorded with a different {field}; nothing was stored",
                            runs[index].id
                        ),
                        field: Some(field.to_owned()),
                        index: None,
                    },
                ),
                Rejection::UnknownOriginal { index } => (
                    index,
                    ApiError::bad_input(
                        "originalRunId",
                        "originalRunId must name a stored run or a run earlier in the same batch",
                    ),
                ),
            };
            if batch { err.at(index) } else { err }
        })
        .collect()
}

/// Stores validated runs; a refusal becomes one error per refused input.
async fn store(
    state: &AppState,
    runs: &[NewRun],
    batch: bool,
    configs: Configs,
) -> Result<Vec<Recorded>, Vec<ApiError>> {
    match record::record(&state.pools.write, runs, configs).await {
        Ok(stored) => Ok(stored),
        Err(RecordError::Rejected(rejected)) => Err(rejection_errors(rejected, runs, batch)),
        Err(RecordError::Db(e)) => Err(vec![ApiError::from(e)]),
    }
}

/// Puts the primary's WAL position after this mutation's commit in the response
/// (`x-tearsheet-lsn`): sent back with a read, it makes the read see this write on any
/// replica (see `replicas`). Without replicas there is nothing to wait for.
async fn send_position(ctx: &Context<'_>, state: &AppState) {
    if state.replicas.is_none() {
        return;
    }
    if let Some(lsn) = crate::replicas::primary_position(&state.pools.write).await {
        ctx.insert_http_header(crate::replicas::LSN_HEADER, crate::replicas::format_lsn(lsn));
    }
}

/// Reports every error: all but the last through the context (with this field's path),
/// the last as the resolver's own error.
fn report(ctx: &Context<'_>, mut errors: Vec<ApiError>) -> async_graphql::Error {
    let total = errors.len();
    if total > MAX_REPORTED_ERRORS {
        errors.truncate(MAX_REPORTED_ERRORS - 1);
        errors.push(ApiError::bad_request(format!(
            "{} more inputs are invalid; fix the ones above and send the batch again",
            total - errors.len()
        )));
    }
    let last = errors.pop().unwrap_or_else(|| ApiError::bad_request("invalid input"));
    for err in errors {
        let server_error = async_graphql::Error::from(err).into_server_error(ctx.item.pos);
        ctx.add_error(ctx.set_error_path(server_error));
    }
    last.into()
}

/// Whether the response shows the recorded runs' configs (`path`: from this field to the
/// runs): only then does the INSERT send them back.
fn configs_shown(ctx: &Context<'_>, path: &[&str]) -> Configs {
    let mut look = ctx.look_ahead();
    for name in path {
        look = look.field(name);
    }
    if look.field("config").exists() { Configs::Return } else { Configs::Omit }
}

/// The response's runs from the rows just written, holding their metrics: they need no
/// second read (nor do those of the runs' `originalRun` among them, cached for it).
async fn respond(ctx: &Context<'_>, stored: Vec<Recorded>) -> async_graphql::Result<Vec<BacktestRun>> {
    let loaders = ctx.data::<Loaders>()?;
    loaders.metrics.feed_many(stored.iter().map(|(run, metrics)| (run.id, metrics.clone()))).await;
    Ok(stored.into_iter().map(|(run, metrics)| BacktestRun::from(run).with_metrics(metrics)).collect())
}

#[derive(Default)]
pub struct RecordMutation;

#[Object]
impl RecordMutation {
    /// Records one run and its metrics in one transaction. Needs a write token.
    async fn record_backtest_run(
        &self,
        ctx: &Context<'_>,
        input: RecordBacktestRunInput,
    ) -> async_graphql::Result<BacktestRun> {
        require_write(ctx)?;
        let run = input.validate(Utc::now())?;
        let state = ctx.data::<AppState>()?;
        let configs = configs_shown(ctx, &[]);
        let stored = store(state, std::slice::from_ref(&run), false, configs).await.map_err(|e| report(ctx, e))?;
        send_position(ctx, state).await;
        let mut runs = respond(ctx, stored).await?;
        runs.pop().ok_or_else(|| ApiError::bad_request("nothing was recorded").into())
    }

    /// All or nothing: either every run is stored, or none is. At most 1000 per call.
    /// Each invalid input is reported as its own error with `extensions.index` (its
    /// position in `inputs`) and `extensions.field`. Needs a write token.
    async fn record_backtest_runs(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<RecordBacktestRunInput>,
    ) -> async_graphql::Result<RecordBacktestRunsPayload> {
        require_write(ctx)?;
        if inputs.is_empty() || inputs.len() > MAX_BATCH {
            return Err(ApiError::bad_input(
                "inputs",
                format!("inputs: record 1 to {MAX_BATCH} runs per call, got {}", inputs.len()),
            )
            .into());
        }
        let now = Utc::now();
        let mut runs = Vec::with_capacity(inputs.len());
        let mut errors = Vec::new();
        for (i, input) in inputs.into_iter().enumerate() {
            match input.validate(now) {
                Ok(run) => runs.push(run),
                Err(e) => errors.push(e.at(i)),
            }
        }
        if !errors.is_empty() {
            return Err(report(ctx, errors));
        }
        let configs = configs_shown(ctx, &["runs"]);
        let state = ctx.data::<AppState>()?;
        let stored = store(state, &runs, true, configs).await.map_err(|e| report(ctx, e))?;
        send_position(ctx, state).await;
        Ok(RecordBacktestRunsPayload { runs: respond(ctx, stored).await? })
    }

    /// Deletes a run; its metrics go with it, its re-runs stay (their `originalRun`
    /// becomes null). `deletedId` is null when no run had this id. Needs a write token.
    async fn delete_backtest_run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<DeleteBacktestRunPayload> {
        require_write(ctx)?;
        let id = parse_run_id("id", &id)?;
        let state = ctx.data::<AppState>()?;
        let deleted = record::delete(&state.pools.write, id).await.map_err(ApiError::from)?;
        send_position(ctx, state).await;
        Ok(DeleteBacktestRunPayload { deleted_id: deleted.map(run_id) })
    }
}
