use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use tearsheet_migration::{Migrator, MigratorTrait as _};
use tearsheet_tests::TestDb;

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("query")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("text column"))
        .collect()
}

async fn tables(db: &DatabaseConnection) -> Vec<String> {
    strings(db, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' ORDER BY 1").await
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let test_db = TestDb::empty().await;
    let db = test_db.connect().await;
    Migrator::up(&db, None).await.expect("up");
    assert_eq!(tables(&db).await, ["backtest_runs", "performance_metrics", "run_fact_pairs", "run_facts"]);
    let indexes_after_first_up =
        strings(&db, "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1").await;

    Migrator::down(&db, None).await.expect("down");
    assert!(tables(&db).await.is_empty(), "down must remove every table");
    assert!(
        strings(
            &db,
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'"
        )
        .await
        .is_empty()
    );

    Migrator::up(&db, None).await.expect("up again");
    assert_eq!(tables(&db).await, ["backtest_runs", "performance_metrics", "run_fact_pairs", "run_facts"]);
    let indexes_after_second_up =
        strings(&db, "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1").await;
    assert_eq!(indexes_after_first_up, indexes_after_second_up);
}

#[tokio::test]
async fn every_index_of_the_seed_note_exists_with_the_api_order() {
    let test_db = TestDb::migrated().await;
    let db = test_db.connect().await;
    let defs = strings(&db, "SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public'").await;
    let def = |name: &str| -> String {
        defs.iter()
            .find(|d| d.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("index {name} is missing; have:\n{}", defs.join("\n")))
            .clone()
    };
    let expected = [
        (
            "idx_performance_metrics_run_id",
            "UNIQUE INDEX idx_performance_metrics_run_id ON public.performance_metrics USING btree (backtest_run_id)",
        ),
        ("idx_backtest_runs_created_id", "(created_at DESC, id DESC)"),
        ("idx_backtest_runs_strategy_created_id", "(strategy_name, created_at DESC, id DESC)"),
        ("idx_backtest_runs_symbol_created_id", "(instrument_symbol, created_at DESC, id DESC)"),
        ("idx_backtest_runs_config_gin", "USING gin (config_snapshot jsonb_path_ops)"),
        // The seed note's plain DESC would put NULLs first: the API sorts them last.
        ("idx_performance_metrics_sharpe", "(sharpe_ratio DESC NULLS LAST, backtest_run_id DESC)"),
        ("idx_performance_metrics_return", "(total_return DESC NULLS LAST, backtest_run_id DESC)"),
        ("idx_performance_metrics_drawdown", "(max_drawdown, backtest_run_id)"),
        ("idx_backtest_runs_status_created_id", "(status, created_at DESC, id DESC)"),
        // Hot config keys: ordered seeks for `config: {fast_period: k}` (m0006).
        (
            "idx_backtest_runs_config_fast_period",
            "(((config_snapshot -> 'fast_period'::text)), created_at DESC, id DESC)",
        ),
        (
            "idx_backtest_runs_config_slow_period",
            "(((config_snapshot -> 'slow_period'::text)), created_at DESC, id DESC)",
        ),
        ("idx_backtest_runs_failed", "(created_at DESC, id DESC) WHERE ((status)::text = 'failed'::text)"),
        (
            "idx_backtest_runs_original_created_id",
            "(original_run_id, created_at DESC, id DESC) WHERE (original_run_id IS NOT NULL)",
        ),
    ];
    for (name, fragment) in expected {
        let d = def(name);
        assert!(d.contains(fragment), "{name}: expected `{fragment}` in `{d}`");
    }
    // ASC NULLS LAST is PostgreSQL's default, so pg_indexes shows the drawdown index bare.
    assert!(!def("idx_performance_metrics_drawdown").contains("NULLS FIRST"));
    assert!(!defs.iter().any(|d| d.contains("now()")), "no index may depend on NOW()");
    // The note's covering index repeats idx_backtest_runs_created_id's key, and the API
    // never reads only its columns: m0006 drops it.
    assert!(!defs.iter().any(|d| d.starts_with("idx_backtest_runs_list_covering")));
}

#[tokio::test]
async fn configs_are_compressed_with_lz4() {
    let test_db = TestDb::migrated().await;
    let db = test_db.connect().await;
    let compression = strings(
        &db,
        "SELECT attcompression::text FROM pg_attribute \
         WHERE attrelid = 'backtest_runs'::regclass AND attname = 'config_snapshot'",
    )
    .await;
    // Debian's and most packaged servers are built with lz4; the migration falls back to
    // pglz on one that is not, which this test would then report.
    assert_eq!(compression, vec!["l".to_owned()]);
}

#[tokio::test]
async fn every_constraint_exists() {
    let test_db = TestDb::migrated().await;
    let db = test_db.connect().await;
    let constraints = strings(
        &db,
        "SELECT conrelid::regclass::text || '.' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace",
    )
    .await;
    let has = |fragment: &str| {
        assert!(
            constraints.iter().any(|c| c.contains(fragment)),
            "missing constraint `{fragment}`; have:\n{}",
            constraints.join("\n")
        );
    };
    has("backtest_runs.backtest_runs_pkey PRIMARY KEY (id)");
    has("performance_metrics.performance_metrics_pkey PRIMARY KEY (id)");
    has("FOREIGN KEY (original_run_id) REFERENCES backtest_runs(id) ON DELETE SET NULL");
    has("FOREIGN KEY (backtest_run_id) REFERENCES backtest_runs(id) ON DELETE CASCADE");
    has("backtest_runs_status_check CHECK");
    has("backtest_runs_date_range_check CHECK ((date_range_end >= date_range_start))");
    has("backtest_runs_duration_check CHECK ((duration_seconds >= 0))");
    has("performance_metrics_trade_counts_check CHECK");
    has("performance_metrics_trade_sum_check CHECK (((winning_trades + losing_trades) <= total_trades))");
    has("idx_performance_metrics_run_id UNIQUE (backtest_run_id)");
}

/// Inserts a run with `overrides` (SQL column = expression) and returns the SQLSTATE of
/// the failure, or None when the row was accepted.
async fn insert_run(db: &DatabaseConnection, id: &str, overrides: &[(&str, &str)]) -> Option<String> {
    let mut cols = vec![
        ("id", format!("'{id}'")),
        ("status", "'success'".to_owned()),
        ("strategy_name", "'s'".to_owned()),
        ("strategy_type", "'t'".to_owned()),
        ("instrument_symbol", "'AAPL'".to_owned()),
        ("date_range_start", "'2020-01-01'".to_owned()),
        ("date_range_end", "'2020-12-31'".to_owned()),
        ("initial_capital", "1000".to_owned()),
        ("data_source", "'csv'".to_owned()),
        ("config_snapshot", "'{}'".to_owned()),
    ];
    for (k, v) in overrides {
        match cols.iter_mut().find(|(c, _)| c == k) {
            Some(slot) => slot.1 = (*v).to_owned(),
            None => cols.push((k, (*v).to_owned())),
        }
    }
    let sql = format!(
        "INSERT INTO backtest_runs ({}) VALUES ({})",
        cols.iter().map(|c| c.0).collect::<Vec<_>>().join(", "),
        cols.iter().map(|c| c.1.as_str()).collect::<Vec<_>>().join(", ")
    );
    db.execute_unprepared(&sql).await.err().and_then(|e| tearsheet_api::db::sqlstate(&e))
}

#[tokio::test]
async fn constraints_reject_bad_rows() {
    let test_db = TestDb::migrated().await;
    let db = test_db.connect().await;
    let id = "00000000-0000-4000-8000-000000000001";
    assert_eq!(
        insert_run(&db, "00000000-0000-4000-8000-00000000000f", &[("status", "'done'")]).await.as_deref(),
        Some("23514")
    );
    assert_eq!(
        insert_run(&db, "00000000-0000-4000-8000-00000000000f", &[("date_range_end", "'2019-12-31'")]).await.as_deref(),
        Some("23514")
    );
    assert_eq!(
        insert_run(&db, "00000000-0000-4000-8000-00000000000f", &[("duration_seconds", "-1")]).await.as_deref(),
        Some("23514")
    );
    assert_eq!(
        insert_run(
            &db,
            "00000000-0000-4000-8000-00000000000f",
            &[("original_run_id", "'00000000-0000-4000-8000-0000000000aa'")]
        )
        .await
        .as_deref(),
        Some("23503")
    );
    assert_eq!(insert_run(&db, id, &[]).await, None, "a valid row is accepted");

    let metrics = |values: &str| {
        format!(
            "INSERT INTO performance_metrics (backtest_run_id, total_trades, winning_trades, losing_trades) VALUES ('{id}', {values})"
        )
    };
    for bad in ["-1, 0, 0", "10, -1, 0", "10, 0, -1", "10, 6, 5"] {
        let err = db.execute_unprepared(&metrics(bad)).await.expect_err(bad);
        assert_eq!(tearsheet_api::db::sqlstate(&err).as_deref(), Some("23514"), "{bad}");
    }
    db.execute_unprepared(&metrics("10, 6, 4")).await.expect("valid metrics");
    let err = db.execute_unprepared(&metrics("10, 6, 4")).await.expect_err("second metrics row");
    assert_eq!(tearsheet_api::db::sqlstate(&err).as_deref(), Some("23505"), "one metrics row per run");

    // Deleting a run cascades to its metrics and detaches its re-runs.
    let rerun = "00000000-0000-4000-8000-000000000002";
    assert_eq!(insert_run(&db, rerun, &[("original_run_id", &format!("'{id}'"))]).await, None);
    db.execute_unprepared(&format!("DELETE FROM backtest_runs WHERE id = '{id}'")).await.expect("delete");
    assert!(strings(&db, "SELECT id::text FROM performance_metrics").await.is_empty());
    assert_eq!(strings(&db, "SELECT coalesce(original_run_id::text, 'null') FROM backtest_runs").await, ["null"]);
}

/// One run and its metrics as a server of the first version writes them (it knows nothing
/// of `config_hash`), in one transaction.
const OLD_WRITE: &str = "WITH r AS (
    INSERT INTO backtest_runs (status, strategy_name, strategy_type, instrument_symbol, date_range_start,
                               date_range_end, initial_capital, data_source, config_snapshot)
    VALUES ('success', 'During migration', 'trend_following', 'AAPL', '2020-01-01', '2021-01-01', 1000,
            'polygon', jsonb_build_object('fast_period', $1::int, 'seed', $1::int))
    RETURNING id)
  INSERT INTO performance_metrics (backtest_run_id, sharpe_ratio) SELECT id, 1.5 FROM r";

#[tokio::test]
async fn migrating_a_populated_database_does_not_stop_its_writers() {
    use std::time::{Duration, Instant};
    use tearsheet_api::store::seed::{self, SeedSpec};

    // 200,000 runs on the first migration's schema: seeded with every migration, then
    // rolled back to m0001 (rollback keeps the rows, drops indexes, the hash columns and
    // the facts table).
    let test_db = TestDb::migrated().await;
    let db = test_db.connect().await;
    seed::seed(&db, SeedSpec::new(200_000, 9), |_| {}).await.expect("seed");
    let after_first = u32::try_from(Migrator::migrations().len() - 1).expect("count");
    Migrator::down(&db, Some(after_first)).await.expect("down to m0001");
    assert_eq!(tables(&db).await, ["backtest_runs", "performance_metrics"]);
    assert_eq!(strings(&db, "SELECT count(*)::text FROM backtest_runs").await, ["200000"]);

    // A writer of the previous version records runs, one transaction each, all along.
    let writer = test_db.connect().await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = tokio::spawn({
        let done = done.clone();
        async move {
            let mut waits = Vec::new();
            let mut i = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let started = Instant::now();
                writer
                    .execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, OLD_WRITE, [i.into()]))
                    .await
                    .expect("a write during the migration");
                waits.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            waits
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    Migrator::up(&db, None).await.expect("up, live");
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let waits = writing.await.expect("writer");

    let slowest = waits.iter().max().copied().unwrap_or_default();
    assert!(waits.len() >= 20, "the writer kept writing: {} writes in {took:?}", waits.len());
    assert!(slowest < Duration::from_secs(1), "a write waited {slowest:?} (migration took {took:?})");
    // The result is the schema a fresh database gets: the hash of every row, old or
    // written during the migration, NOT NULL, and every index valid.
    let hashed = strings(
        &db,
        "SELECT count(*) FILTER (WHERE config_hash = tearsheet_config_hash(config_snapshot, strategy_name, \
           strategy_type, instrument_symbol, date_range_start, date_range_end, data_source))::text \
           || '/' || count(*)::text FROM backtest_runs",
    )
    .await;
    let total = 200_000 + waits.len();
    assert_eq!(hashed, [format!("{total}/{total}")]);
    let hashed = strings(
        &db,
        "SELECT count(*) FILTER (WHERE config_hash_except_seed = tearsheet_config_text_hash(config_snapshot - 'seed'))::text \
           || '/' || count(*)::text FROM backtest_runs",
    )
    .await;
    assert_eq!(hashed, [format!("{total}/{total}")]);
    assert_eq!(
        strings(&db, "SELECT attnotnull::text FROM pg_attribute WHERE attrelid = 'backtest_runs'::regclass AND attname = 'config_hash'").await,
        ["true"]
    );
    assert_eq!(strings(&db, "SELECT count(*)::text FROM pg_index WHERE NOT indisvalid").await, ["0"]);
    // Every run's facts, the old rows filled in batches and the writer's (runs and metrics
    // in one statement) kept by the triggers while the fill went on.
    assert_eq!(tearsheet_tests::run_facts_mismatches(&db).await, "0");
    let fresh = TestDb::migrated().await;
    let fresh_db = fresh.connect().await;
    let indexes = "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1";
    assert_eq!(strings(&db, indexes).await, strings(&fresh_db, indexes).await);
    eprintln!("migrated 200,000 runs live in {took:?}: {} writes, the slowest {slowest:?}", waits.len());
}
