//! `run_facts`: one narrow row per run (what `runGroups` groups and filters by, and the
//! metrics as float8), kept by statement-level triggers on both tables.
//!
//! Why: grouping strategy × instrument with every statistic over 100,000 runs spent most
//! of its ~277 ms before the aggregates: reading the 59 MB runs heap (configs of 1–5 KB
//! are stored inline) for two short columns, hashing and joining the metrics, and casting
//! eight numeric metrics to float8 per row. From this 16 MB table the same statement takes
//! ~180 ms (psql, median of 5, the machine's PostgreSQL service); what is left is the
//! aggregates, eight medians (~100 ms, an ordered-set aggregate sorts per group and
//! metric) and the sort by group. The `configExcept: ["seed"]` grouping reads
//! `config_hash_except_seed` from here too.
//!
//! Maintenance: a trigger per table and event (PostgreSQL allows a transition table on
//! single-event triggers only), each one statement over the statement's rows, whatever
//! wrote them (the API, `tearsheet seed`, COPY, hand-written SQL):
//! - runs inserted: their facts rows, with their metrics if present by then. The API and
//!   `tearsheet seed` insert runs and their metrics in one statement, so the row is whole
//!   at once: both tables' triggers fire at the statement's end, in either order, and the
//!   metrics' finds nothing to change. Metrics in a statement of their own update every
//!   facts row just written (an UPDATE and a dead tuple per run);
//! - runs updated or deleted: their facts rows follow (no foreign key: its check, a
//!   query per inserted row, cost more than this statement per deleting statement);
//! - metrics inserted or updated: their values; deleted: NULLs, unless the run has
//!   metrics again by the statement's end.
//!
//! float8 loses nothing here: the metric columns are numeric(10,4) at most, ten
//! significant digits, which float8 (15) tells apart and keeps in order, so the best run
//! chosen on the float8 value is the one the numeric value gives.
//!
//! Live databases: the triggers are created first, so every write from then on keeps its
//! facts; the rows already there are filled in batches of ids (`ON CONFLICT DO NOTHING`
//! leaves a row a trigger wrote meanwhile as it is).

/// The table, its upkeep functions and its triggers (m0012's `down` puts these functions
/// back).
pub const TABLE_AND_TRIGGERS: &str = r#"
CREATE TABLE IF NOT EXISTS run_facts (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    status varchar(20) NOT NULL,
    strategy_name varchar(100) NOT NULL,
    strategy_type varchar(50) NOT NULL,
    instrument_symbol varchar(20) NOT NULL,
    data_source varchar(50) NOT NULL,
    original_run_id uuid,
    config_hash_except_seed uuid NOT NULL,
    f_total_return float8,
    f_cagr float8,
    f_sharpe_ratio float8,
    f_sortino_ratio float8,
    f_max_drawdown float8,
    f_volatility float8,
    f_win_rate float8,
    f_profit_factor float8
);

CREATE OR REPLACE FUNCTION tearsheet_run_facts_of_new_runs() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO run_facts (id, created_at, status, strategy_name, strategy_type, instrument_symbol, data_source,
                           original_run_id, config_hash_except_seed, f_total_return, f_cagr, f_sharpe_ratio,
                           f_sortino_ratio, f_max_drawdown, f_volatility, f_win_rate, f_profit_factor)
    SELECT r.id, r.created_at, r.status, r.strategy_name, r.strategy_type, r.instrument_symbol, r.data_source,
           r.original_run_id, r.config_hash_except_seed, pm.total_return::float8, pm.cagr::float8,
           pm.sharpe_ratio::float8, pm.sortino_ratio::float8, pm.max_drawdown::float8, pm.volatility::float8,
           pm.win_rate::float8, pm.profit_factor::float8
    FROM changed_runs r LEFT JOIN performance_metrics pm ON pm.backtest_run_id = r.id;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION tearsheet_run_facts_of_updated_runs() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE run_facts f SET
        created_at = r.created_at, status = r.status, strategy_name = r.strategy_name,
        strategy_type = r.strategy_type, instrument_symbol = r.instrument_symbol, data_source = r.data_source,
        original_run_id = r.original_run_id, config_hash_except_seed = r.config_hash_except_seed
    FROM changed_runs r
    WHERE f.id = r.id
      AND (f.created_at, f.status, f.strategy_name, f.strategy_type, f.instrument_symbol, f.data_source,
           f.original_run_id, f.config_hash_except_seed)
          IS DISTINCT FROM
          (r.created_at, r.status, r.strategy_name, r.strategy_type, r.instrument_symbol, r.data_source,
           r.original_run_id, r.config_hash_except_seed);
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION tearsheet_run_facts_of_deleted_runs() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM run_facts f USING changed_runs r WHERE f.id = r.id;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION tearsheet_run_facts_of_new_metrics() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE run_facts f SET
        f_total_return = m.total_return::float8, f_cagr = m.cagr::float8,
        f_sharpe_ratio = m.sharpe_ratio::float8, f_sortino_ratio = m.sortino_ratio::float8,
        f_max_drawdown = m.max_drawdown::float8, f_volatility = m.volatility::float8,
        f_win_rate = m.win_rate::float8, f_profit_factor = m.profit_factor::float8
    FROM changed_metrics m
    WHERE f.id = m.backtest_run_id
      AND (f.f_total_return, f.f_cagr, f.f_sharpe_ratio, f.f_sortino_ratio, f.f_max_drawdown, f.f_volatility,
           f.f_win_rate, f.f_profit_factor)
          IS DISTINCT FROM
          (m.total_return::float8, m.cagr::float8, m.sharpe_ratio::float8, m.sortino_ratio::float8,
           m.max_drawdown::float8, m.volatility::float8, m.win_rate::float8, m.profit_factor::float8);
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION tearsheet_run_facts_of_deleted_metrics() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE run_facts f SET
        f_total_return = NULL, f_cagr = NULL, f_sharpe_ratio = NULL, f_sortino_ratio = NULL,
        f_max_drawdown = NULL, f_volatility = NULL, f_win_rate = NULL, f_profit_factor = NULL
    FROM changed_metrics m
    WHERE f.id = m.backtest_run_id
      AND NOT EXISTS (SELECT 1 FROM performance_metrics pm WHERE pm.backtest_run_id = m.backtest_run_id);
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER backtest_runs_facts_insert AFTER INSERT ON backtest_runs
    REFERENCING NEW TABLE AS changed_runs FOR EACH STATEMENT EXECUTE FUNCTION tearsheet_run_facts_of_new_runs();
CREATE OR REPLACE TRIGGER backtest_runs_facts_update AFTER UPDATE ON backtest_runs
    REFERENCING NEW TABLE AS changed_runs FOR EACH STATEMENT EXECUTE FUNCTION tearsheet_run_facts_of_updated_runs();
CREATE OR REPLACE TRIGGER backtest_runs_facts_delete AFTER DELETE ON backtest_runs
    REFERENCING OLD TABLE AS changed_runs FOR EACH STATEMENT EXECUTE FUNCTION tearsheet_run_facts_of_deleted_runs();
CREATE OR REPLACE TRIGGER performance_metrics_facts_insert AFTER INSERT ON performance_metrics
    REFERENCING NEW TABLE AS changed_metrics FOR EACH STATEMENT EXECUTE FUNCTION tearsheet_run_facts_of_new_metrics();
CREATE OR REPLACE TRIGGER performance_metrics_facts_update AFTER UPDATE ON performance_metrics
    REFERENCING NEW TABLE AS changed_metrics FOR EACH STATEMENT EXECUTE FUNCTION tearsheet_run_facts_of_new_metrics();
CREATE OR REPLACE TRIGGER performance_metrics_facts_delete AFTER DELETE ON performance_metrics
    REFERENCING OLD TABLE AS changed_metrics FOR EACH STATEMENT EXECUTE FUNCTION tearsheet_run_facts_of_deleted_metrics();
"#;

crate::migration!(
    up: [
        crate::Step::Atomic(TABLE_AND_TRIGGERS),
        crate::Step::Fill {
            source: "backtest_runs",
            sql: "INSERT INTO run_facts (id, created_at, status, strategy_name, strategy_type, instrument_symbol, \
                  data_source, original_run_id, config_hash_except_seed, f_total_return, f_cagr, f_sharpe_ratio, \
                  f_sortino_ratio, f_max_drawdown, f_volatility, f_win_rate, f_profit_factor) \
                  SELECT r.id, r.created_at, r.status, r.strategy_name, r.strategy_type, r.instrument_symbol, \
                  r.data_source, r.original_run_id, r.config_hash_except_seed, pm.total_return::float8, \
                  pm.cagr::float8, pm.sharpe_ratio::float8, pm.sortino_ratio::float8, pm.max_drawdown::float8, \
                  pm.volatility::float8, pm.win_rate::float8, pm.profit_factor::float8 \
                  FROM backtest_runs r LEFT JOIN performance_metrics pm ON pm.backtest_run_id = r.id \
                  WHERE r.id > $1 AND r.id <= $2 \
                  ON CONFLICT (id) DO NOTHING",
        },
        crate::Step::Atomic("ANALYZE run_facts"),
    ],
    down: [crate::Step::Atomic(
        r#"
DROP TRIGGER IF EXISTS backtest_runs_facts_insert ON backtest_runs;
DROP TRIGGER IF EXISTS backtest_runs_facts_update ON backtest_runs;
DROP TRIGGER IF EXISTS backtest_runs_facts_delete ON backtest_runs;
DROP TRIGGER IF EXISTS performance_metrics_facts_insert ON performance_metrics;
DROP TRIGGER IF EXISTS performance_metrics_facts_update ON performance_metrics;
DROP TRIGGER IF EXISTS performance_metrics_facts_delete ON performance_metrics;
DROP FUNCTION IF EXISTS tearsheet_run_facts_of_new_runs();
DROP FUNCTION IF EXISTS tearsheet_run_facts_of_updated_runs();
DROP FUNCTION IF EXISTS tearsheet_run_facts_of_deleted_runs();
DROP FUNCTION IF EXISTS tearsheet_run_facts_of_new_metrics();
DROP FUNCTION IF EXISTS tearsheet_run_facts_of_deleted_metrics();
DROP TABLE IF EXISTS run_facts;
"#
    )],
);
