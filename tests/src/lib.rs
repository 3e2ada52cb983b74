//! The test harness: real PostgreSQL, one fresh database per test, the real router.
//!
//! By default a test run starts one throwaway cluster from the system's PostgreSQL
//! binaries (through the same `embedded_pg` module `tearsheet serve` uses), migrates a
//! template database once, and gives each test `CREATE DATABASE … TEMPLATE` of it, so tests
//! run in parallel and never share rows. `TEST_DATABASE_URL` (a URL with rights to create
//! databases) points the tests at an existing server instead.

pub mod app;
pub mod db;
pub mod pgbouncer;

pub use app::{TestApp, TestSchema};
pub use db::TestDb;

/// Runs whose `run_facts` row (m0011) is missing or differs from the runs and metrics it
/// is derived from (its `pair_id` included, m0012), and facts rows without a run, as text:
/// "0" whenever the triggers kept up.
pub async fn run_facts_mismatches(db: &impl sea_orm::ConnectionTrait) -> String {
    let statement = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, RUN_FACTS_MISMATCHES);
    let row = db.query_one_raw(statement).await.expect("count facts mismatches").expect("a row");
    row.try_get_by_index::<String>(0).expect("count")
}

const RUN_FACTS_MISMATCHES: &str = "SELECT (
    (SELECT count(*) FROM backtest_runs r
       LEFT JOIN performance_metrics pm ON pm.backtest_run_id = r.id
       LEFT JOIN run_facts f ON f.id = r.id
     WHERE f.id IS NULL
        OR (f.created_at, f.status, f.strategy_name, f.strategy_type, f.instrument_symbol, f.data_source,
            f.original_run_id, f.config_hash_except_seed, f.f_total_return, f.f_cagr, f.f_sharpe_ratio,
            f.f_sortino_ratio, f.f_max_drawdown, f.f_volatility, f.f_win_rate, f.f_profit_factor)
           IS DISTINCT FROM
           (r.created_at, r.status, r.strategy_name, r.strategy_type, r.instrument_symbol, r.data_source,
            r.original_run_id, r.config_hash_except_seed, pm.total_return::float8, pm.cagr::float8,
            pm.sharpe_ratio::float8, pm.sortino_ratio::float8, pm.max_drawdown::float8, pm.volatility::float8,
            pm.win_rate::float8, pm.profit_factor::float8)
        OR f.pair_id IS DISTINCT FROM (SELECT p.id FROM run_fact_pairs p
                                      WHERE p.strategy_name = r.strategy_name
                                        AND p.instrument_symbol = r.instrument_symbol))
  + (SELECT count(*) FROM run_facts f WHERE NOT EXISTS (SELECT 1 FROM backtest_runs r WHERE r.id = f.id))
)::text";
