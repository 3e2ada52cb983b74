//! The two tables of the seed note's "Schema Creation", plus the constraints it forgot.
//!
//! Differences from the note, each deliberate:
//! - CHECKs on date range order, non-negative duration and trade counts, and
//!   `winning_trades + losing_trades <= total_trades`: the note trusted every writer.
//! - `performance_metrics.backtest_run_id` is UNIQUE: the relation is 1:1, and without the
//!   constraint a retried write could attach two metric rows to one run. Its unique index
//!   is named `idx_performance_metrics_run_id`, the note's phase-1 foreign-key index: a
//!   second, plain index on the same column would double the write cost and serve no
//!   query the unique one does not.

crate::migration!(
    up: [crate::Step::Atomic(
        r#"
CREATE TABLE backtest_runs (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    completed_at      TIMESTAMPTZ,
    duration_seconds  INTEGER,
    status            VARCHAR(20) NOT NULL,
    strategy_name     VARCHAR(100) NOT NULL,
    strategy_type     VARCHAR(50) NOT NULL,
    instrument_symbol VARCHAR(20) NOT NULL,
    date_range_start  DATE NOT NULL,
    date_range_end    DATE NOT NULL,
    initial_capital   NUMERIC(20, 2) NOT NULL,
    data_source       VARCHAR(50) NOT NULL,
    config_snapshot   JSONB NOT NULL,
    error_message     TEXT,
    original_run_id   UUID REFERENCES backtest_runs (id) ON DELETE SET NULL,
    CONSTRAINT backtest_runs_status_check
        CHECK (status IN ('success', 'failed', 'interrupted')),
    CONSTRAINT backtest_runs_date_range_check
        CHECK (date_range_end >= date_range_start),
    CONSTRAINT backtest_runs_duration_check
        CHECK (duration_seconds >= 0)
);

CREATE TABLE performance_metrics (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    backtest_run_id UUID NOT NULL REFERENCES backtest_runs (id) ON DELETE CASCADE,
    total_return    NUMERIC(10, 4),
    cagr            NUMERIC(10, 4),
    sharpe_ratio    NUMERIC(8, 4),
    sortino_ratio   NUMERIC(8, 4),
    max_drawdown    NUMERIC(10, 4),
    volatility      NUMERIC(10, 4),
    total_trades    INTEGER,
    winning_trades  INTEGER,
    losing_trades   INTEGER,
    win_rate        NUMERIC(5, 4),
    profit_factor   NUMERIC(10, 4),
    avg_win_amount  NUMERIC(20, 2),
    avg_loss_amount NUMERIC(20, 2),
    CONSTRAINT idx_performance_metrics_run_id UNIQUE (backtest_run_id),
    CONSTRAINT performance_metrics_trade_counts_check
        CHECK (total_trades >= 0 AND winning_trades >= 0 AND losing_trades >= 0),
    CONSTRAINT performance_metrics_trade_sum_check
        CHECK (winning_trades + losing_trades <= total_trades)
);
"#
    )],
    down: [crate::Step::Atomic(
        r#"
DROP TABLE performance_metrics;
DROP TABLE backtest_runs;
"#
    )],
);
