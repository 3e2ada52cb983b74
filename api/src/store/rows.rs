//! Rows to models by column position, for the hot reads.
//!
//! SeaORM's `FromQueryResult` looks each column up by name (and, for a prefix such as
//! `pm_`, formats the name first): profiled under load it was a fifth of the server's CPU
//! for a page of runs with metrics. The statements here put the columns in a known order
//! (`RUN_COLUMNS`, then `METRICS_COLUMNS`), so they are read by index.

use sea_orm::{ActiveEnum as _, DbErr, QueryResult};
use tearsheet_entity::{RunStatus, backtest_run, performance_metrics};
use uuid::Uuid;

/// How many columns `RUN_COLUMNS` (and `RUN_COLUMNS_R`) has.
pub const RUN_WIDTH: usize = 16;

/// The run whose `RUN_COLUMNS` start at column `at`.
pub fn run_at(row: &QueryResult, at: usize) -> Result<backtest_run::Model, DbErr> {
    let status: String = row.try_get_by_index(at + 4)?;
    Ok(backtest_run::Model {
        id: row.try_get_by_index(at)?,
        created_at: row.try_get_by_index(at + 1)?,
        completed_at: row.try_get_by_index(at + 2)?,
        duration_seconds: row.try_get_by_index(at + 3)?,
        status: RunStatus::try_from_value(&status)?,
        strategy_name: row.try_get_by_index(at + 5)?,
        strategy_type: row.try_get_by_index(at + 6)?,
        instrument_symbol: row.try_get_by_index(at + 7)?,
        date_range_start: row.try_get_by_index(at + 8)?,
        date_range_end: row.try_get_by_index(at + 9)?,
        initial_capital: row.try_get_by_index(at + 10)?,
        data_source: row.try_get_by_index(at + 11)?,
        config_snapshot: row.try_get_by_index(at + 12)?,
        error_message: row.try_get_by_index(at + 13)?,
        original_run_id: row.try_get_by_index(at + 14)?,
        config_hash: row.try_get_by_index(at + 15)?,
    })
}

/// The metrics whose `METRICS_COLUMNS` start at column `at`; `None` when the row has no
/// metrics there (an outer join found none: the id is NULL).
pub fn metrics_at(row: &QueryResult, at: usize) -> Result<Option<performance_metrics::Model>, DbErr> {
    let Some(id) = row.try_get_by_index::<Option<Uuid>>(at)? else { return Ok(None) };
    Ok(Some(performance_metrics::Model {
        id,
        backtest_run_id: row.try_get_by_index(at + 1)?,
        total_return: row.try_get_by_index(at + 2)?,
        cagr: row.try_get_by_index(at + 3)?,
        sharpe_ratio: row.try_get_by_index(at + 4)?,
        sortino_ratio: row.try_get_by_index(at + 5)?,
        max_drawdown: row.try_get_by_index(at + 6)?,
        volatility: row.try_get_by_index(at + 7)?,
        total_trades: row.try_get_by_index(at + 8)?,
        winning_trades: row.try_get_by_index(at + 9)?,
        losing_trades: row.try_get_by_index(at + 10)?,
        win_rate: row.try_get_by_index(at + 11)?,
        profit_factor: row.try_get_by_index(at + 12)?,
        avg_win_amount: row.try_get_by_index(at + 13)?,
        avg_loss_amount: row.try_get_by_index(at + 14)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::metrics::METRICS_COLUMNS;
    use crate::store::query::RUN_COLUMNS_R;
    use crate::store::runs::RUN_COLUMNS;

    #[test]
    fn the_column_lists_have_the_widths_read_here() {
        assert_eq!(RUN_COLUMNS.split(", ").count(), RUN_WIDTH);
        assert_eq!(RUN_COLUMNS_R.split(", ").count(), RUN_WIDTH);
        assert_eq!(METRICS_COLUMNS.split(", ").count(), 15);
        // The positions used above: status is the 5th column, metrics' id the 1st.
        assert_eq!(RUN_COLUMNS.split(", ").nth(4), Some("status"));
        assert_eq!(RUN_COLUMNS.split(", ").nth(12), Some("config_snapshot"));
        assert_eq!(METRICS_COLUMNS.split(", ").nth(14), Some("avg_loss_amount"));
    }
}
