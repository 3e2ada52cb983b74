//! Recording runs: a run and its metrics in one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveEnum as _, ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult as _, TransactionTrait as _, Value,
};
use tearsheet_entity::{RunStatus, backtest_run, performance_metrics};
use uuid::Uuid;

use super::metrics::METRICS_COLUMNS;
use super::runs::RUN_COLUMNS;
use super::stmt;

/// A validated run, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub status: RunStatus,
    pub strategy_name: String,
    pub strategy_type: String,
    pub instrument_symbol: String,
    pub date_range_start: NaiveDate,
    pub date_range_end: NaiveDate,
    pub initial_capital: Decimal,
    pub data_source: String,
    pub config: serde_json::Value,
    pub error_message: Option<String>,
    pub original_run_id: Option<Uuid>,
    pub metrics: Option<NewMetrics>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewMetrics {
    pub total_return: Option<Decimal>,
    pub cagr: Option<Decimal>,
    pub sharpe_ratio: Option<Decimal>,
    pub sortino_ratio: Option<Decimal>,
    pub max_drawdown: Option<Decimal>,
    pub volatility: Option<Decimal>,
    pub total_trades: Option<i32>,
    pub winning_trades: Option<i32>,
    pub losing_trades: Option<i32>,
    pub win_rate: Option<Decimal>,
    pub profit_factor: Option<Decimal>,
    pub avg_win_amount: Option<Decimal>,
    pub avg_loss_amount: Option<Decimal>,
}

/// The stored run with its metrics, as PostgreSQL returned them (numerics rounded to
/// their column's scale).
pub type Recorded = (backtest_run::Model, Option<performance_metrics::Model>);

/// Stores the run and its metrics atomically: either both rows are committed or neither.
pub async fn record(db: &DatabaseConnection, run: &NewRun) -> Result<Recorded, DbErr> {
    let txn = db.begin().await?;
    let stored = insert(&txn, run).await?;
    txn.commit().await?;
    Ok(stored)
}

/// Inserts inside the caller's transaction, so that it can add its own statements (a
/// `NOTIFY` for live updates) that commit or roll back with the rows.
pub async fn insert(txn: &impl ConnectionTrait, run: &NewRun) -> Result<Recorded, DbErr> {
    let sql = format!(
        "INSERT INTO backtest_runs ({RUN_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         RETURNING {RUN_COLUMNS}"
    );
    let values: [Value; 15] = [
        run.id.into(),
        run.created_at.into(),
        run.completed_at.into(),
        run.duration_seconds.into(),
        run.status.to_value().into(),
        run.strategy_name.clone().into(),
        run.strategy_type.clone().into(),
        run.instrument_symbol.clone().into(),
        run.date_range_start.into(),
        run.date_range_end.into(),
        run.initial_capital.into(),
        run.data_source.clone().into(),
        run.config.clone().into(),
        run.error_message.clone().into(),
        run.original_run_id.into(),
    ];
    let stored = backtest_run::Model::find_by_statement(stmt(sql, values))
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    let metrics = match &run.metrics {
        None => None,
        Some(m) => {
            let sql = format!(
                "INSERT INTO performance_metrics (backtest_run_id, total_return, cagr, sharpe_ratio, \
                 sortino_ratio, max_drawdown, volatility, total_trades, winning_trades, losing_trades, \
                 win_rate, profit_factor, avg_win_amount, avg_loss_amount) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 RETURNING {METRICS_COLUMNS}"
            );
            let values: [Value; 14] = [
                run.id.into(),
                m.total_return.into(),
                m.cagr.into(),
                m.sharpe_ratio.into(),
                m.sortino_ratio.into(),
                m.max_drawdown.into(),
                m.volatility.into(),
                m.total_trades.into(),
                m.winning_trades.into(),
                m.losing_trades.into(),
                m.win_rate.into(),
                m.profit_factor.into(),
                m.avg_win_amount.into(),
                m.avg_loss_amount.into(),
            ];
            performance_metrics::Model::find_by_statement(stmt(sql, values)).one(txn).await?
        }
    };
    Ok((stored, metrics))
}
