//! The config-hash triggers keep a hash the INSERT supplies.
//!
//! The API computes both hashes itself (`api/src/store/config_hash.rs`, bit for bit the
//! SQL functions of m0008 and m0009): computing them here cost ~100 µs a run, jsonb to text
//! twice, a regex and md5 twice, which made a batch of 1,000 runs spend ~60% of its time in
//! PostgreSQL in these triggers (measured: 20,000 runs inserted in 3.3 s with the triggers
//! computing, 1.3 s without). A writer that leaves the hashes out (COPY, hand-written
//! SQL, a server of the previous version during an upgrade) still gets them computed
//! (`tearsheet seed` supplies them too since session 10: `api/src/store/seed.rs`); an
//! UPDATE always recomputes them, so a changed config can never keep a stale hash. The
//! price: a writer that supplies a hash is believed.
//!
//! Databases migrated by the first version of m0008 have a generated `config_hash`, into
//! which an INSERT cannot write; `DROP EXPRESSION` makes it a plain column kept by the
//! trigger like everywhere else. It only changes the catalog (the values are stored
//! already): no rewrite, no scan, a brief exclusive lock under the step's lock timeout.

crate::migration!(
    up: [crate::Step::Atomic(
        r#"
ALTER TABLE backtest_runs ALTER COLUMN config_hash DROP EXPRESSION IF EXISTS;

CREATE OR REPLACE FUNCTION tearsheet_set_config_hash() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' OR NEW.config_hash IS NULL THEN
        NEW.config_hash := tearsheet_config_hash(NEW.config_snapshot, NEW.strategy_name, NEW.strategy_type,
                                                 NEW.instrument_symbol, NEW.date_range_start,
                                                 NEW.date_range_end, NEW.data_source);
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION tearsheet_set_config_hash_except_seed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' OR NEW.config_hash_except_seed IS NULL THEN
        NEW.config_hash_except_seed := tearsheet_config_text_hash(NEW.config_snapshot - 'seed');
    END IF;
    RETURN NEW;
END
$fn$;
"#
    )],
    down: [crate::Step::Atomic(
        r#"
CREATE OR REPLACE FUNCTION tearsheet_set_config_hash() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.config_hash := tearsheet_config_hash(NEW.config_snapshot, NEW.strategy_name, NEW.strategy_type,
                                             NEW.instrument_symbol, NEW.date_range_start, NEW.date_range_end,
                                             NEW.data_source);
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION tearsheet_set_config_hash_except_seed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.config_hash_except_seed := tearsheet_config_text_hash(NEW.config_snapshot - 'seed');
    RETURN NEW;
END
$fn$;
"#
    )],
);
