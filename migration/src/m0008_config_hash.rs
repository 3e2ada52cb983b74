//! `config_hash`: the hash of a run's inputs, so that runs with the same inputs can be
//! found (issue 8: `configHash`, `equivalentRuns`, `duplicateRunSets`).
//!
//! - **A column maintained by PostgreSQL from the row** (a `BEFORE INSERT OR UPDATE`
//!   trigger): every writer (the API, `tearsheet seed`, COPY, hand-written SQL, a server
//!   of the previous version during an upgrade) gets the same hash. Not a generated
//!   column: adding a stored generated column rewrites the table under an exclusive lock
//!   (writes stop for minutes at millions of runs). Instead the column is added empty
//!   (instant), existing rows are backfilled in batches, `NOT NULL` is proven by a
//!   `CHECK` validated without blocking writes, then set without a scan, and the index is
//!   built concurrently (see `steps`). The first version of this migration did use a
//!   generated column; databases migrated by it keep it, with the same values.
//! - **What is hashed**: the config in canonical form, then strategy name, strategy type,
//!   instrument, date range and data source, separated by a control character no text
//!   column can hold ambiguously. jsonb's text form is already canonical for keys (sorted,
//!   de-duplicated) and whitespace; numbers are normalised here (`1.50` and `1.5`, `2.0`
//!   and `2` are the same number: trailing zeros after the point go). A cheap regex test
//!   skips that rewrite for the configs that need none (~10 µs a row instead of ~150).
//!   Dates enter as day numbers, not text: date output depends on `DateStyle`.
//! - **md5 as a uuid**: 16 bytes a row and in the index. Collisions between different
//!   inputs are not a security concern here (a client could only make its own runs look
//!   alike), and 128 bits keep accidental ones out of reach.
//! - **The index** `(config_hash, created_at DESC, id DESC)` serves `equivalentRuns` (an
//!   ordered seek) and grouping by hash.

crate::migration!(
    up: [
        crate::Step::Atomic(
            r#"
CREATE OR REPLACE FUNCTION tearsheet_config_hash(config jsonb, strategy_name text, strategy_type text,
                                      instrument text, date_start date, date_end date, data_source text)
RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT md5(
        CASE WHEN config::text ~ '\.[0-9]*0[],} ]'
             THEN regexp_replace(config::text,
                                 '("(?:[^"\\]|\\.)*")|(\.[0-9]*[1-9])0+(?=[],} ])|\.0+(?=[],} ])',
                                 '\1\2', 'g')
             ELSE config::text
        END
        || chr(31) || strategy_name || chr(31) || strategy_type || chr(31) || instrument
        || chr(31) || (date_start - date '2000-01-01')::text || chr(31) || (date_end - date '2000-01-01')::text
        || chr(31) || data_source
    )::uuid
$fn$;

CREATE OR REPLACE FUNCTION tearsheet_set_config_hash() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.config_hash := tearsheet_config_hash(NEW.config_snapshot, NEW.strategy_name, NEW.strategy_type,
                                             NEW.instrument_symbol, NEW.date_range_start, NEW.date_range_end,
                                             NEW.data_source);
    RETURN NEW;
END
$fn$;

ALTER TABLE backtest_runs ADD COLUMN IF NOT EXISTS config_hash uuid;

CREATE OR REPLACE TRIGGER backtest_runs_config_hash BEFORE INSERT OR UPDATE ON backtest_runs
    FOR EACH ROW EXECUTE FUNCTION tearsheet_set_config_hash();
"#
        ),
        crate::Step::Backfill {
            table: "backtest_runs",
            set: "config_hash = tearsheet_config_hash(config_snapshot, strategy_name, strategy_type, \
                  instrument_symbol, date_range_start, date_range_end, data_source)",
            pending: "config_hash IS NULL",
        },
        crate::Step::Atomic(
            "ALTER TABLE backtest_runs DROP CONSTRAINT IF EXISTS backtest_runs_config_hash_not_null, \
             ADD CONSTRAINT backtest_runs_config_hash_not_null CHECK (config_hash IS NOT NULL) NOT VALID"
        ),
        crate::Step::Atomic("ALTER TABLE backtest_runs VALIDATE CONSTRAINT backtest_runs_config_hash_not_null"),
        crate::Step::Atomic(
            "ALTER TABLE backtest_runs ALTER COLUMN config_hash SET NOT NULL; \
             ALTER TABLE backtest_runs DROP CONSTRAINT IF EXISTS backtest_runs_config_hash_not_null"
        ),
        crate::Step::Index { name: "idx_backtest_runs_config_hash", on: "ON backtest_runs (config_hash, created_at DESC, id DESC)" },
    ],
    down: [
        crate::Step::DropIndex("idx_backtest_runs_config_hash"),
        crate::Step::Atomic(
            r#"
DROP TRIGGER IF EXISTS backtest_runs_config_hash ON backtest_runs;
ALTER TABLE backtest_runs DROP COLUMN IF EXISTS config_hash;
DROP FUNCTION IF EXISTS tearsheet_set_config_hash();
DROP FUNCTION IF EXISTS tearsheet_config_hash(jsonb, text, text, text, date, date, text);
"#
        ),
    ],
);
