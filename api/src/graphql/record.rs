//! Mutations: recording runs.

use async_graphql::{Context, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::loaders::Loaders;
use super::metrics::PerformanceMetricsInput;
use super::runs::{BacktestRun, RunStatus};
use super::scalars::{Date, parse_run_id};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::record::{self, NewRun};

#[derive(InputObject, Clone, Debug)]
pub struct RecordBacktestRunInput {
    /// Client-chosen UUID; recording the same id with the same content again is a no-op.
    pub id: Option<ID>,
    pub created_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub status: RunStatus,
    pub strategy_name: String,
    pub strategy_type: String,
    pub instrument_symbol: String,
    pub date_range_start: Date,
    pub date_range_end: Date,
    pub initial_capital: Decimal,
    pub data_source: String,
    pub config: Json<serde_json::Value>,
    pub error_message: Option<String>,
    pub original_run_id: Option<ID>,
    pub metrics: Option<PerformanceMetricsInput>,
}

/// The column widths of `backtest_runs`: checked here so the client learns which field is
/// too long instead of getting PostgreSQL's "value too long for type".
const TEXT_LIMITS: [(&str, usize); 4] =
    [("strategyName", 100), ("strategyType", 50), ("instrumentSymbol", 20), ("dataSource", 50)];

impl RecordBacktestRunInput {
    /// Checks every field and produces the row to store. `now` is the default `createdAt`.
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
        }
        if self.duration_seconds.is_some_and(|d| d < 0) {
            return Err(ApiError::bad_input("durationSeconds", "durationSeconds must not be negative"));
        }
        if self.date_range_end.0 < self.date_range_start.0 {
            return Err(ApiError::bad_input("dateRangeEnd", "dateRangeEnd must not be before dateRangeStart"));
        }
        if !self.config.0.is_object() {
            return Err(ApiError::bad_input("config", "config must be a JSON object"));
        }
        let metrics = self.metrics.as_ref().map(PerformanceMetricsInput::validate).transpose()?;
        Ok(NewRun {
            id,
            created_at: self.created_at.unwrap_or(now),
            completed_at: self.completed_at,
            duration_seconds: self.duration_seconds,
            status: self.status.into(),
            strategy_name: self.strategy_name,
            strategy_type: self.strategy_type,
            instrument_symbol: self.instrument_symbol,
            date_range_start: self.date_range_start.0,
            date_range_end: self.date_range_end.0,
            initial_capital: self.initial_capital,
            data_source: self.data_source,
            config: self.config.0,
            error_message: self.error_message,
            original_run_id: self.original_run_id.as_ref().map(|id| parse_run_id("originalRunId", id)).transpose()?,
            metrics,
        })
    }
}

#[derive(Default)]
pub struct RecordMutation;

#[Object]
impl RecordMutation {
    /// Records one run and its metrics in one transaction.
    async fn record_backtest_run(
        &self,
        ctx: &Context<'_>,
        input: RecordBacktestRunInput,
    ) -> async_graphql::Result<BacktestRun> {
        let run = input.validate(Utc::now())?;
        let state = ctx.data::<AppState>()?;
        let (stored, metrics) = record::record(&state.pools.write, &run).await.map_err(ApiError::from)?;
        // The response's `metrics` comes from what was just written, not a second read.
        ctx.data::<Loaders>()?.metrics.feed_one(stored.id, metrics).await;
        Ok(BacktestRun(stored))
    }
}
