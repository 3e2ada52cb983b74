//! What the benchmark (issue 5) found in the seed note's schema.
//!
//! - **Hot config parameters get B-tree expression indexes.** `config_snapshot @> '{"fast_period": 12}'
//!   ORDER BY created_at DESC LIMIT 20` has no good plan with the note's GIN index alone:
//!   PostgreSQL has no statistics for `@>`, guesses 0.1%, walks the time index and
//!   detoasts ~900 configs of 1–5 KB per page (at 1,000,000 runs a rare value walks far
//!   further); given the GIN index it would fetch every match and sort. An index on
//!   `(config_snapshot -> 'fast_period', created_at DESC, id DESC)` is an ordered seek, and
//!   ANALYZE keeps statistics for its expression. The server rewrites a scalar of a hot key
//!   in a `config` filter into `config_snapshot -> 'key' = $n` to use it (`store::query`,
//!   `HOT_CONFIG_KEYS`, which must match this list); other keys still use `@>` and the GIN
//!   index.
//! - **`idx_backtest_runs_list_covering` is dropped.** Its key is `(created_at DESC, id DESC)`,
//!   the same as `idx_backtest_runs_created_id`; its INCLUDE columns would only pay off in
//!   index-only scans, and the API always returns whole runs (with their configs), so it
//!   only ever cost a second index write per insert.
//! - **Configs are compressed with lz4** where the server supports it: TOAST compresses
//!   configs over ~2 KB, and lz4 compresses and decompresses several times faster than the
//!   default pglz (measured: a 20,000-run insert went from 2.1 s to 1.4 s). It applies to
//!   values written from now on; a server built without lz4 keeps pglz.

crate::migration!(
    up: [
        crate::Step::Atomic(
            r#"
DO $$
BEGIN
    ALTER TABLE backtest_runs ALTER COLUMN config_snapshot SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available on this server: configs stay compressed with pglz';
END
$$
"#
        ),
        crate::Step::DropIndex("idx_backtest_runs_list_covering"),
        crate::Step::Index { name: "idx_backtest_runs_config_fast_period", on: "ON backtest_runs ((config_snapshot -> 'fast_period'), created_at DESC, id DESC)" },
        crate::Step::Index { name: "idx_backtest_runs_config_slow_period", on: "ON backtest_runs ((config_snapshot -> 'slow_period'), created_at DESC, id DESC)" },
    ],
    down: [
        crate::Step::DropIndex("idx_backtest_runs_config_slow_period"),
        crate::Step::DropIndex("idx_backtest_runs_config_fast_period"),
        crate::Step::Index { name: "idx_backtest_runs_list_covering", on: "ON backtest_runs (created_at DESC, id DESC) INCLUDE (strategy_name, instrument_symbol, status, duration_seconds)" },
        crate::Step::Atomic("ALTER TABLE backtest_runs ALTER COLUMN config_snapshot SET COMPRESSION default"),
    ],
);
