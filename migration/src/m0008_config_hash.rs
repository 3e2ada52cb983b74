//! `config_hash`: the hash of a run's inputs, so that runs with the same inputs can be
//! found (issue 8: `configHash`, `equivalentRuns`, `duplicateRunSets`).
//!
//! - **A stored generated column**, computed by PostgreSQL from the row: every writer
//!   (the API, `tearsheet seed`, COPY, hand-written SQL) gets the same hash, and existing
//!   rows get theirs when this migration adds the column (a table rewrite: minutes at
//!   millions of runs; see issue 9 for migrating a live database).
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

crate::sql_migration!(
    r#"
CREATE FUNCTION tearsheet_config_hash(config jsonb, strategy_name text, strategy_type text,
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

ALTER TABLE backtest_runs ADD COLUMN config_hash uuid NOT NULL GENERATED ALWAYS AS (
    tearsheet_config_hash(config_snapshot, strategy_name, strategy_type, instrument_symbol,
                          date_range_start, date_range_end, data_source)
) STORED;

CREATE INDEX idx_backtest_runs_config_hash ON backtest_runs (config_hash, created_at DESC, id DESC);
"#,
    r#"
DROP INDEX IF EXISTS idx_backtest_runs_config_hash;
ALTER TABLE backtest_runs DROP COLUMN IF EXISTS config_hash;
DROP FUNCTION IF EXISTS tearsheet_config_hash(jsonb, text, text, text, date, date, text);
"#
);
