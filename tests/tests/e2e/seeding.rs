//! `tearsheet seed`: realistic, deterministic synthetic runs at volume.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;
use tearsheet_api::store::seed::{self, SeedSpec};
use tearsheet_tests::app::tearsheet_bin;
use tearsheet_tests::{TestDb, run_facts_mismatches};

async fn one(db: &DatabaseConnection, sql: &str) -> Value {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, format!("SELECT to_jsonb(x) FROM ({sql}) x")))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .expect("a row");
    row.try_get_by_index::<Value>(0).expect("json")
}

/// A digest of every column of every row of both tables.
async fn fingerprint(db: &DatabaseConnection) -> Value {
    one(
        db,
        "SELECT (SELECT md5(string_agg(r::text, '|' ORDER BY r.id)) FROM backtest_runs r) AS runs,
                (SELECT md5(string_agg(m::text, '|' ORDER BY m.id)) FROM performance_metrics m) AS metrics",
    )
    .await
}

async fn seeded(spec: SeedSpec) -> (TestDb, DatabaseConnection) {
    let test_db = TestDb::migrated().await;
    let db = test_db.connect().await;
    seed::seed(&db, spec, |_| {}).await.expect("seed");
    (test_db, db)
}

#[tokio::test]
async fn the_same_seed_gives_the_same_rows_and_another_seed_other_rows() {
    let (_a, a) = seeded(SeedSpec::new(3_000, 7)).await;
    let (_b, b) = seeded(SeedSpec::new(3_000, 7)).await;
    let (_c, c) = seeded(SeedSpec::new(3_000, 8)).await;
    let fa = fingerprint(&a).await;
    assert_eq!(fa, fingerprint(&b).await, "same runs and seed, same rows (ids and metrics included)");
    let fc = fingerprint(&c).await;
    assert_ne!(fa["runs"], fc["runs"]);
    assert_ne!(fa["metrics"], fc["metrics"]);

    // Again into the same database (the chunked, committed path): nothing added or changed.
    seed::seed(&a, SeedSpec::new(3_000, 7), |_| {}).await.expect("seed again");
    assert_eq!(fa, fingerprint(&a).await);

    // `run_facts`: written in one statement by a seed into empty tables (its triggers off
    // meanwhile, and on again after), by the triggers when runs are added.
    assert_eq!(run_facts_mismatches(&b).await, "0", "seeded into empty tables");
    seed::seed(&a, SeedSpec::new(4_000, 7), |_| {}).await.expect("seed more");
    assert_eq!(one(&a, "SELECT count(*) AS n FROM run_facts").await["n"], 4_000);
    assert_eq!(run_facts_mismatches(&a).await, "0", "runs added to a seeded database");
    let disabled = one(
        &a,
        "SELECT count(*) AS n FROM pg_trigger WHERE tgname LIKE '%facts%' AND tgenabled <> 'O' AND NOT tgisinternal",
    )
    .await;
    assert_eq!(disabled["n"], 0, "every facts trigger is on after a seed");
}

#[tokio::test]
async fn seeded_runs_look_like_the_seed_note_describes() {
    let (_db, db) = seeded(SeedSpec::new(20_000, 3)).await;
    let shape = one(
        &db,
        "SELECT count(*) AS runs,
           avg((status = 'success')::int)::float8 AS success,
           avg((status = 'failed')::int)::float8 AS failed,
           avg((status = 'interrupted')::int)::float8 AS interrupted,
           count(DISTINCT strategy_name) AS strategies,
           count(DISTINCT instrument_symbol) AS instruments,
           min(octet_length(config_snapshot::text)) AS min_config,
           max(octet_length(config_snapshot::text)) AS max_config,
           avg((original_run_id IS NOT NULL)::int)::float8 AS reruns,
           min(created_at)::date::text AS first_day, max(created_at)::date::text AS last_day,
           count(*) - count(DISTINCT created_at) AS ties,
           min((config_snapshot ->> 'fast_period')::int) AS min_fast,
           max((config_snapshot ->> 'fast_period')::int) AS max_fast,
           bool_and(config_snapshot ? 'slow_period' AND jsonb_typeof(config_snapshot -> 'risk_management') = 'object'
                    AND jsonb_typeof(config_snapshot -> 'instruments') = 'array') AS config_shape
         FROM backtest_runs",
    )
    .await;
    let f = |k: &str| shape[k].as_f64().unwrap_or_else(|| panic!("{k} in {shape}"));
    assert_eq!(f("runs"), 20_000.0);
    assert!((0.91..0.95).contains(&f("success")), "{shape}");
    assert!((0.04..0.06).contains(&f("failed")), "{shape}");
    assert!((0.01..0.03).contains(&f("interrupted")), "{shape}");
    assert_eq!(f("strategies"), 8.0);
    assert_eq!(f("instruments"), 50.0);
    assert!(f("min_config") >= 1_000.0 && f("max_config") <= 5_120.0, "configs of 1-5 KB: {shape}");
    assert!((0.02..0.04).contains(&f("reruns")), "{shape}");
    assert_eq!((shape["first_day"].as_str(), shape["last_day"].as_str()), (Some("2024-01-01"), Some("2025-12-31")));
    assert!(f("ties") > 0.0, "some runs share a created_at: {shape}");
    assert_eq!((f("min_fast"), f("max_fast")), (5.0, 50.0));
    assert_eq!(shape["config_shape"], Value::Bool(true));

    let skew = one(
        &db,
        "SELECT max(n) AS most, min(n) AS least FROM (SELECT count(*) AS n FROM backtest_runs GROUP BY strategy_name) s",
    )
    .await;
    assert!(skew["most"].as_f64() > skew["least"].as_f64().map(|l| l * 5.0), "skewed strategies: {skew}");

    let consistency = one(
        &db,
        "SELECT
           (SELECT count(*) FROM backtest_runs r WHERE (r.status = 'success')
              <> EXISTS (SELECT 1 FROM performance_metrics m WHERE m.backtest_run_id = r.id)) AS metrics_mismatch,
           -- A re-run has the inputs of the first run of its chain (chains longer than two
           -- are ~0.1% of re-runs, and the generator does not follow them).
           (SELECT count(*) FROM backtest_runs r JOIN backtest_runs o ON o.id = r.original_run_id
              LEFT JOIN backtest_runs oo ON oo.id = o.original_run_id
              WHERE oo.original_run_id IS NULL
                AND (o.created_at > r.created_at
                     OR coalesce(oo.config_snapshot, o.config_snapshot) <> r.config_snapshot
                     OR coalesce(oo.instrument_symbol, o.instrument_symbol) <> r.instrument_symbol)) AS bad_reruns,
           (SELECT avg((sharpe_ratio IS NULL)::int)::float8 FROM performance_metrics) AS null_sharpe,
           (SELECT count(*) FROM backtest_runs WHERE status <> 'success' AND error_message IS NULL) AS unexplained,
           -- The seed supplies both config hashes (computed its own cheaper way): they must
           -- be the canonical ones the API and the SQL functions compute.
           (SELECT count(*) FROM backtest_runs
              WHERE config_hash <> tearsheet_config_hash(config_snapshot, strategy_name, strategy_type,
                                     instrument_symbol, date_range_start, date_range_end, data_source)
                 OR config_hash_except_seed <> tearsheet_config_text_hash(config_snapshot - 'seed')) AS bad_hashes",
    )
    .await;
    assert_eq!(consistency["metrics_mismatch"], 0, "metrics for exactly the successful runs: {consistency}");
    assert_eq!(consistency["bad_reruns"], 0, "re-runs come later with their original's inputs: {consistency}");
    assert!((0.005..0.04).contains(&consistency["null_sharpe"].as_f64().expect("share")), "{consistency}");
    assert_eq!(consistency["unexplained"], 0);
    assert_eq!(consistency["bad_hashes"], 0, "seeded config hashes are the canonical ones: {consistency}");
}

#[tokio::test]
async fn the_seed_command_fills_a_database_and_reports_progress() {
    let test_db = TestDb::empty().await;
    let out = tokio::process::Command::new(tearsheet_bin())
        .args(["seed", "--runs", "1500", "--seed", "5", "--database-url", &test_db.url])
        .env("TEARSHEET_LOG", "info")
        .output()
        .await
        .expect("run tearsheet seed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Not a terminal: plain progress lines, not a redrawn bar.
    assert!(stderr.contains("done=1500 total=1500"), "{stderr}");
    assert!(!stderr.contains('\r'), "{stderr}");
    assert_eq!(test_db.count_rows("backtest_runs").await, 1_500);

    let help = std::process::Command::new(tearsheet_bin()).args(["seed", "--help"]).output().expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--runs", "--seed", "--reruns-per-mille", "--database-url"] {
        assert!(help.contains(flag), "{flag} missing from seed --help:\n{help}");
    }
}
