//! An index the note forgot: re-runs by their original.
//!
//! `original_run_id` is a foreign key with `ON DELETE SET NULL`; without an index on it,
//! every delete of a run scans the whole table to find its re-runs, and the `reruns`
//! field and `originalRunId` filter have nothing to seek on. Partial (`IS NOT NULL`):
//! only ~3% of runs are re-runs, and `original_run_id = $1` implies the predicate.

crate::migration!(
    up: [
        crate::Step::Index { name: "idx_backtest_runs_original_created_id", on: "ON backtest_runs (original_run_id, created_at DESC, id DESC) WHERE original_run_id IS NOT NULL" },
    ],
    down: [
        crate::Step::DropIndex("idx_backtest_runs_original_created_id"),
    ],
);
