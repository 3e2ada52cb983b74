//! Many runs at once, generated inside PostgreSQL (`generate_series`), for tests that need
//! volume rather than particular rows: plan tests at 100,000 runs, statement counts.
//!
//! Deterministic: every value is a function of the row number `g`, spread with
//! `hashint4` so neighbouring rows differ. The shape follows the seed note: 8 strategies
//! (skewed), 50 instruments, two years of `created_at` with ties, ~93% success / 5% failed
//! / 2% interrupted, nested configs with an `instruments` array, metrics for successful
//! runs with a few NULL fields, and re-runs of earlier runs.

use sea_orm::{ConnectionTrait as _, DatabaseConnection};

#[derive(Clone, Copy, Debug)]
pub struct Bulk {
    pub runs: i64,
    /// Every `rerun_every`-th run re-runs the run before it (1: all but the first do).
    pub rerun_every: i64,
}

impl Bulk {
    pub fn runs(runs: i64) -> Self {
        Bulk { runs, rerun_every: 33 }
    }
}

/// The id of row `g`, as SQL: stable, so tests can name rows.
const ID: &str = "md5('tearsheet-run-' || g)::uuid";

/// Inserts the runs and their metrics (two statements), then `VACUUM ANALYZE`s both tables
/// so plans and index-only scans look as they would on a settled database.
pub async fn insert(db: &DatabaseConnection, spec: Bulk) {
    let h = "(hashint4(g::int) & 2147483647)";
    let runs = format!(
        "INSERT INTO backtest_runs (id, created_at, completed_at, duration_seconds, status, strategy_name, \
           strategy_type, instrument_symbol, date_range_start, date_range_end, initial_capital, data_source, \
           config_snapshot, error_message, original_run_id)
         SELECT {ID},
           timestamptz '2024-01-01 00:00:00+00' + ({h} % ({n} / 2 + 1)) * interval '2 minutes',
           timestamptz '2024-01-01 00:00:00+00' + ({h} % ({n} / 2 + 1)) * interval '2 minutes' + interval '90 seconds',
           90,
           CASE WHEN {h} % 100 < 93 THEN 'success' WHEN {h} % 100 < 98 THEN 'failed' ELSE 'interrupted' END,
           'strategy_' || floor(8 * power((({h} / 7) % 1000) / 1000.0, 2))::int,
           (ARRAY['trend_following', 'mean_reversion', 'momentum'])[1 + g % 3],
           'SYM' || (g % 50),
           date '2020-01-01' + (g % 365)::int, date '2023-12-31',
           100000.00, 'polygon',
           jsonb_build_object(
             'fast_period', 5 + g % 46, 'slow_period', 50 + g % 150,
             'risk_management', jsonb_build_object('stop_loss', (1 + g % 5) / 100.0, 'max_position_size', 1000),
             'instruments', jsonb_build_array('SYM' || (g % 50), 'SYM' || ((g + 1) % 50)),
             'seed', g),
           CASE WHEN {h} % 100 >= 93 THEN 'engine stopped' END,
           CASE WHEN g > 1 AND g % {every} = 0 THEN md5('tearsheet-run-' || (g - 1))::uuid END
         FROM generate_series(1, {n}) AS g",
        n = spec.runs,
        every = spec.rerun_every,
    );
    let metrics = format!(
        "INSERT INTO performance_metrics (backtest_run_id, total_return, cagr, sharpe_ratio, sortino_ratio, \
           max_drawdown, volatility, total_trades, winning_trades, losing_trades, win_rate, profit_factor, \
           avg_win_amount, avg_loss_amount)
         SELECT {ID},
           ({h} % 20000 - 5000) / 10000.0, ({h} % 4000 - 1000) / 10000.0,
           CASE WHEN g % 50 = 0 THEN NULL ELSE ({h} % 60000 - 20000) / 10000.0 END,
           ({h} % 70000 - 20000) / 10000.0,
           ({h} % 6000) / 10000.0, ({h} % 3000) / 10000.0,
           100, 60, 40, 0.6, 1.5, 250.00, -180.00
         FROM generate_series(1, {n}) AS g WHERE {h} % 100 < 93",
        n = spec.runs,
    );
    for sql in [runs.as_str(), metrics.as_str(), "VACUUM ANALYZE backtest_runs", "VACUUM ANALYZE performance_metrics"] {
        db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("bulk insert: {e}\n{sql}"));
    }
}
