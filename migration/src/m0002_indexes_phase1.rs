//! The seed note's phase 1: the time-ordered list and the strategy filter.
//! (Its third phase-1 index, on `performance_metrics.backtest_run_id`, is the UNIQUE
//! constraint of m0001.)
//!
//! Built `CONCURRENTLY`, as the note suggests, outside a transaction (see `steps`): on a
//! populated database, writes go on while the indexes build.

crate::migration!(
    up: [
        crate::Step::Index { name: "idx_backtest_runs_created_id", on: "ON backtest_runs (created_at DESC, id DESC)" },
        crate::Step::Index { name: "idx_backtest_runs_strategy_created_id", on: "ON backtest_runs (strategy_name, created_at DESC, id DESC)" },
    ],
    down: [
        crate::Step::DropIndex("idx_backtest_runs_strategy_created_id"),
        crate::Step::DropIndex("idx_backtest_runs_created_id"),
    ],
);
