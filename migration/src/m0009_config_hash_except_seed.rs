//! `config_hash_except_seed`: the hash of a run's config without its top-level `seed`, so
//! that grouping "the config minus the seed" (`runGroups(groupBy: { configExcept:
//! ["seed"] })`, robustness across random seeds: issue 8's own example) compares 16-byte
//! hashes instead of reading, subtracting and sorting whole configs.
//!
//! Measured at 100,000 runs, one strategy's 30,000 runs: 1.8–2.0 s grouping the jsonb
//! values (0.7 s reading and subtracting 1–5 KB configs, 1.1 s sorting 93 MB of keys on
//! disk) against 0.25 s grouping the stored hash; the key shown for each group is read
//! from one of its runs, for the groups returned only. Other `configExcept` lists still
//! group the jsonb values.
//!
//! Maintained like `config_hash` (m0008): a trigger of its own (databases migrated by the
//! first m0008 have a generated `config_hash`, which a trigger must not write), a batched
//! backfill, `NOT NULL` proven by a validated check. The canonical form is m0008's (keys
//! sorted by jsonb, numbers without trailing zeros), so `{"a": 1.50}` and `{"a": 1.5}`
//! group together as jsonb equality has them.

crate::migration!(
    up: [
        crate::Step::Atomic(
            r#"
CREATE OR REPLACE FUNCTION tearsheet_config_text_hash(config jsonb)
RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT md5(
        CASE WHEN config::text ~ '\.[0-9]*0[],} ]'
             THEN regexp_replace(config::text,
                                 '("(?:[^"\\]|\\.)*")|(\.[0-9]*[1-9])0+(?=[],} ])|\.0+(?=[],} ])',
                                 '\1\2', 'g')
             ELSE config::text
        END
    )::uuid
$fn$;

ALTER TABLE backtest_runs ADD COLUMN IF NOT EXISTS config_hash_except_seed uuid;

CREATE OR REPLACE FUNCTION tearsheet_set_config_hash_except_seed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.config_hash_except_seed := tearsheet_config_text_hash(NEW.config_snapshot - 'seed');
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER backtest_runs_config_hash_except_seed BEFORE INSERT OR UPDATE ON backtest_runs
    FOR EACH ROW EXECUTE FUNCTION tearsheet_set_config_hash_except_seed();
"#
        ),
        crate::Step::Backfill {
            table: "backtest_runs",
            set: "config_hash_except_seed = tearsheet_config_text_hash(config_snapshot - 'seed')",
            pending: "config_hash_except_seed IS NULL",
        },
        crate::Step::Atomic(
            "ALTER TABLE backtest_runs DROP CONSTRAINT IF EXISTS backtest_runs_config_hash_except_seed_not_null, \
             ADD CONSTRAINT backtest_runs_config_hash_except_seed_not_null \
             CHECK (config_hash_except_seed IS NOT NULL) NOT VALID"
        ),
        crate::Step::Atomic(
            "ALTER TABLE backtest_runs VALIDATE CONSTRAINT backtest_runs_config_hash_except_seed_not_null"
        ),
        crate::Step::Atomic(
            "ALTER TABLE backtest_runs ALTER COLUMN config_hash_except_seed SET NOT NULL; \
             ALTER TABLE backtest_runs DROP CONSTRAINT IF EXISTS backtest_runs_config_hash_except_seed_not_null"
        ),
    ],
    down: [crate::Step::Atomic(
        r#"
DROP TRIGGER IF EXISTS backtest_runs_config_hash_except_seed ON backtest_runs;
ALTER TABLE backtest_runs DROP COLUMN IF EXISTS config_hash_except_seed;
DROP FUNCTION IF EXISTS tearsheet_set_config_hash_except_seed();
DROP FUNCTION IF EXISTS tearsheet_config_text_hash(jsonb);
"#
    )],
);
