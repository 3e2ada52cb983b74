//! The seed note's phase 2: instrument filter, config search, metric sorts.
//!
//! Correction to the note: its metric indexes are `(sharpe_ratio DESC, backtest_run_id)`.
//! A plain `DESC` b-tree puts NULLs *first*, so "top 10 by Sharpe" read off that index
//! starts with the runs that have no Sharpe at all, and the API's order ("runs without
//! the metric sort last, ties broken by id in the same direction") could not be an index
//! scan. Each index here has exactly the API's order: NULLS LAST, and the run id as a
//! tiebreaker in the same direction as the metric, so a keyset page on
//! `(metric, backtest_run_id)` is an index range scan.
//! Max drawdown is stored as a positive magnitude, so smaller is better: ASC.

crate::migration!(
    up: [
        crate::Step::Index { name: "idx_backtest_runs_symbol_created_id", on: "ON backtest_runs (instrument_symbol, created_at DESC, id DESC)" },
        crate::Step::Index { name: "idx_backtest_runs_config_gin", on: "ON backtest_runs USING GIN (config_snapshot jsonb_path_ops)" },
        crate::Step::Index { name: "idx_performance_metrics_sharpe", on: "ON performance_metrics (sharpe_ratio DESC NULLS LAST, backtest_run_id DESC)" },
        crate::Step::Index { name: "idx_performance_metrics_return", on: "ON performance_metrics (total_return DESC NULLS LAST, backtest_run_id DESC)" },
        crate::Step::Index { name: "idx_performance_metrics_drawdown", on: "ON performance_metrics (max_drawdown ASC NULLS LAST, backtest_run_id ASC)" },
    ],
    down: [
        crate::Step::DropIndex("idx_performance_metrics_drawdown"),
        crate::Step::DropIndex("idx_performance_metrics_return"),
        crate::Step::DropIndex("idx_performance_metrics_sharpe"),
        crate::Step::DropIndex("idx_backtest_runs_config_gin"),
        crate::Step::DropIndex("idx_backtest_runs_symbol_created_id"),
    ],
);
