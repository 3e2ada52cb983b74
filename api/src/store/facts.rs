//! `run_facts` (migration m0011): one narrow row per run that `runGroups` reads. Triggers
//! keep it; this rebuilds it where they could not, e.g. after writes made with the
//! triggers disabled (`ALTER TABLE … DISABLE TRIGGER USER`, `session_replication_role =
//! replica` on a logical replica).

use sea_orm::{ConnectionTrait, DbErr};

use super::stmt;
use crate::monitoring::{Shape, sql};

/// `INSERT INTO run_facts AS f (…) SELECT …`: every run's facts from the runs and their
/// metrics (a macro, so that the statements below are constants built from it).
macro_rules! insert_every_runs_facts {
    () => {
        "INSERT INTO run_facts AS f (id, created_at, status, strategy_name, strategy_type, instrument_symbol,
            data_source, original_run_id, config_hash_except_seed, f_total_return, f_cagr, f_sharpe_ratio,
            f_sortino_ratio, f_max_drawdown, f_volatility, f_win_rate, f_profit_factor, pair_id)
        SELECT r.id, r.created_at, r.status, r.strategy_name, r.strategy_type, r.instrument_symbol, r.data_source,
            r.original_run_id, r.config_hash_except_seed, pm.total_return::float8, pm.cagr::float8,
            pm.sharpe_ratio::float8, pm.sortino_ratio::float8, pm.max_drawdown::float8, pm.volatility::float8,
            pm.win_rate::float8, pm.profit_factor::float8, p.id
        FROM backtest_runs r LEFT JOIN performance_metrics pm ON pm.backtest_run_id = r.id
        LEFT JOIN run_fact_pairs p ON p.strategy_name = r.strategy_name AND p.instrument_symbol = r.instrument_symbol"
    };
}

/// Adds the (strategy, instrument) pairs of every run that `run_fact_pairs` (m0012) lacks:
/// run before [`FILL`] and the refresh, whose facts rows look their pairs up (a pair added
/// in the same statement would not be visible to it).
pub const ADD_PAIRS: &str = "INSERT INTO run_fact_pairs (strategy_name, instrument_symbol)
    SELECT DISTINCT r.strategy_name, r.instrument_symbol FROM backtest_runs r
    WHERE NOT EXISTS (SELECT 1 FROM run_fact_pairs p
                      WHERE p.strategy_name = r.strategy_name AND p.instrument_symbol = r.instrument_symbol)
    ON CONFLICT DO NOTHING";

/// Every run's facts, by a plain INSERT into an empty `run_facts`: `tearsheet seed` fills
/// empty tables with the facts triggers off, then writes the facts by this one statement
/// (1,000,000 runs: ~5 s; the triggers took ~34 s over the seed's chunks). With no
/// statistics inside the seed's transaction, an anti-join against the facts already there
/// was planned as a nested loop: the seed took 10 minutes instead of 3.
pub const FILL: &str = insert_every_runs_facts!();

/// The insert triggers that keep `run_facts` (m0011), on their tables.
pub const INSERT_TRIGGERS: [(&str, &str); 2] =
    [("backtest_runs", "backtest_runs_facts_insert"), ("performance_metrics", "performance_metrics_facts_insert")];

/// One statement: the facts rows that differ from the runs and metrics they come from are
/// rewritten, missing ones written, and those of runs that are gone removed. Rows already
/// right are left alone (no dead tuples for them). Returns (written, removed).
const REFRESH: &str = concat!(
    "WITH removed AS (
        DELETE FROM run_facts f WHERE NOT EXISTS (SELECT 1 FROM backtest_runs r WHERE r.id = f.id) RETURNING 1
    ), written AS (",
    insert_every_runs_facts!(),
    "
        ON CONFLICT (id) DO UPDATE SET
            created_at = EXCLUDED.created_at, status = EXCLUDED.status, strategy_name = EXCLUDED.strategy_name,
            strategy_type = EXCLUDED.strategy_type, instrument_symbol = EXCLUDED.instrument_symbol,
            data_source = EXCLUDED.data_source, original_run_id = EXCLUDED.original_run_id,
            config_hash_except_seed = EXCLUDED.config_hash_except_seed, f_total_return = EXCLUDED.f_total_return,
            f_cagr = EXCLUDED.f_cagr, f_sharpe_ratio = EXCLUDED.f_sharpe_ratio,
            f_sortino_ratio = EXCLUDED.f_sortino_ratio, f_max_drawdown = EXCLUDED.f_max_drawdown,
            f_volatility = EXCLUDED.f_volatility, f_win_rate = EXCLUDED.f_win_rate,
            f_profit_factor = EXCLUDED.f_profit_factor, pair_id = EXCLUDED.pair_id
        WHERE f IS DISTINCT FROM EXCLUDED
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM removed)"
);

/// Brings every facts row in line with its run; (rows written, rows removed).
pub async fn refresh(db: &impl ConnectionTrait) -> Result<(i64, i64), DbErr> {
    sql(Shape::write("refresh_fact_pairs"), db.execute_raw(stmt(ADD_PAIRS, []))).await?;
    let row = sql(Shape::write("refresh_facts"), db.query_one_raw(stmt(REFRESH, []))).await?;
    let row = row.ok_or_else(|| DbErr::Custom("refreshing run_facts returned no row".into()))?;
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}
