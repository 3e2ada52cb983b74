//! Cheaper GIN maintenance for writes (issue 5's bulk-recording benchmark).
//!
//! A GIN index over 1–5 KB configs has ~60 entries per row. With `fastupdate` (the
//! default) new entries go to a pending list that is merged into the index when it passes
//! `gin_pending_list_limit` (4 MB by default): small, frequent merges that each touch GIN
//! pages all over an index of hundreds of MB. Measured on 1,000,000 runs: inserting 30,000
//! runs took 13.3 s with the default, 2.5 s with a 64 MB list plus 0.9 s to merge it
//! (`gin_clean_pending_list`), 27.6 s without `fastupdate`, and 3.5 s with no GIN index.
//!
//! The cost of a big list: a query that reads the GIN index also scans the pending list
//! linearly. So the list is 32 MB, and autovacuum (which merges it, off the request path)
//! runs after every 20,000 inserted rows instead of after 20% of the table; at most a
//! few MB of pending entries are scanned by `@>` queries during heavy ingestion.

crate::migration!(
    up: [crate::Step::Atomic(
        r#"
ALTER INDEX idx_backtest_runs_config_gin SET (gin_pending_list_limit = 32768);
ALTER TABLE backtest_runs SET (autovacuum_vacuum_insert_threshold = 20000,
                               autovacuum_vacuum_insert_scale_factor = 0);
"#
    )],
    down: [crate::Step::Atomic(
        r#"
ALTER TABLE backtest_runs RESET (autovacuum_vacuum_insert_threshold, autovacuum_vacuum_insert_scale_factor);
ALTER INDEX idx_backtest_runs_config_gin RESET (gin_pending_list_limit);
"#
    )],
);
