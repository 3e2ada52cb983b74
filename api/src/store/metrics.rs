//! Reading performance metrics.

use sea_orm::{ConnectionTrait, DbErr};
use tearsheet_entity::performance_metrics;
use uuid::Uuid;

use super::query::Sql;
use super::stmt;
use crate::monitoring::{Shape, sql};

/// A metric a filter, a group or an objective can name: a numeric column of
/// `performance_metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    TotalReturn,
    Cagr,
    SharpeRatio,
    SortinoRatio,
    MaxDrawdown,
    Volatility,
    WinRate,
    ProfitFactor,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::TotalReturn,
        Metric::Cagr,
        Metric::SharpeRatio,
        Metric::SortinoRatio,
        Metric::MaxDrawdown,
        Metric::Volatility,
        Metric::WinRate,
        Metric::ProfitFactor,
    ];

    /// The column (spliced into SQL: constants only).
    pub fn column(self) -> &'static str {
        match self {
            Metric::TotalReturn => "total_return",
            Metric::Cagr => "cagr",
            Metric::SharpeRatio => "sharpe_ratio",
            Metric::SortinoRatio => "sortino_ratio",
            Metric::MaxDrawdown => "max_drawdown",
            Metric::Volatility => "volatility",
            Metric::WinRate => "win_rate",
            Metric::ProfitFactor => "profit_factor",
        }
    }
}

/// Both bounds inclusive; a run without the metric never matches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricRange {
    pub metric: Metric,
    pub gte: Option<f64>,
    pub lte: Option<f64>,
}

pub const METRICS_COLUMNS: &str = "id, backtest_run_id, total_return, cagr, sharpe_ratio, sortino_ratio, \
     max_drawdown, volatility, total_trades, winning_trades, losing_trades, win_rate, profit_factor, \
     avg_win_amount, avg_loss_amount";

/// `METRICS_COLUMNS` on the alias `pm`, for statements that join runs with their metrics
/// (read by position: `rows::metrics_at`).
pub static METRICS_COLUMNS_PM: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| METRICS_COLUMNS.split(", ").map(|c| format!("pm.{c}")).collect::<Vec<_>>().join(", "));

/// The metrics of these runs; runs without metrics are absent. One index scan on the
/// unique `idx_performance_metrics_run_id` for the whole batch.
pub async fn by_run_ids(db: &impl ConnectionTrait, run_ids: &[Uuid]) -> Result<Vec<performance_metrics::Model>, DbErr> {
    let Sql { text, values } = by_run_ids_sql(run_ids);
    let rows = sql(Shape::read("metrics_by_run_ids"), db.query_all_raw(stmt(text, values))).await?;
    rows.iter().filter_map(|row| super::rows::metrics_at(row, 0).transpose()).collect()
}

/// `by_run_ids`'s statement (the plan tests explain it).
pub fn by_run_ids_sql(run_ids: &[Uuid]) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {METRICS_COLUMNS} FROM performance_metrics WHERE "))
        .push_key_condition("backtest_run_id", run_ids);
    sql
}
