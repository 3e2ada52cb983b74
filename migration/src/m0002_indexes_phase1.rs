//! The seed note's phase 1: the time-ordered list and the strategy filter.
//! (Its third phase-1 index, on `performance_metrics.backtest_run_id`, is the UNIQUE
//! constraint of m0001.)
//!
//! Plain `CREATE INDEX`, not `CONCURRENTLY` as the note suggests: sea-orm-migration runs
//! each PostgreSQL migration in a transaction, where CONCURRENTLY is not allowed, and on a
//! new or small database the lock is momentary. Building indexes on a large live table is
//! the job of the safe-migrations work (issue 9).

crate::sql_migration!(
    r#"
CREATE INDEX idx_backtest_runs_created_id
    ON backtest_runs (created_at DESC, id DESC);
CREATE INDEX idx_backtest_runs_strategy_created_id
    ON backtest_runs (strategy_name, created_at DESC, id DESC);
"#,
    r#"
DROP INDEX idx_backtest_runs_strategy_created_id;
DROP INDEX idx_backtest_runs_created_id;
"#
);
