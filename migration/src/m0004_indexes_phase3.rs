//! The seed note's phase 3 ("optional optimizations") and its secondary status index.
//!
//! - `idx_backtest_runs_status_created_id` is the note's index #7; its phase list forgot
//!   it, but the status filter needs it (a 93%-success table still wants the index for
//!   `failed`/`interrupted` pages and for the equality+order shape of `success`).
//! - The note's `idx_backtest_runs_failed_only` is the same partial index as
//!   `idx_backtest_runs_failed` under another name: created once.
//! - The note's "recent backtests only" partial index (`WHERE created_at > NOW() - ...`)
//!   is left out: index predicates must be immutable, so PostgreSQL rejects `NOW()`
//!   there, and a predicate with a fixed date would silently stop covering new rows.

crate::migration!(
    up: [
        crate::Step::Index { name: "idx_backtest_runs_status_created_id", on: "ON backtest_runs (status, created_at DESC, id DESC)" },
        crate::Step::Index { name: "idx_backtest_runs_list_covering", on: "ON backtest_runs (created_at DESC, id DESC) INCLUDE (strategy_name, instrument_symbol, status, duration_seconds)" },
        crate::Step::Index { name: "idx_backtest_runs_failed", on: "ON backtest_runs (created_at DESC, id DESC) WHERE status = 'failed'" },
    ],
    down: [
        crate::Step::DropIndex("idx_backtest_runs_failed"),
        crate::Step::DropIndex("idx_backtest_runs_list_covering"),
        crate::Step::DropIndex("idx_backtest_runs_status_created_id"),
    ],
);
