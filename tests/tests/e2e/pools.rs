//! A pool keeps connections out between reads (`db::hot`, to skip sqlx's ping on every
//! release). What that must not break: a burst of reads wider than the pool shares every
//! connection, a transaction still gets a connection after reads kept as many as they
//! could, a kept connection PostgreSQL dropped is not used, and closing the pool does not
//! wait for the kept ones.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use tearsheet_api::config::DatabaseUrl;
use tearsheet_tests::TestDb;

fn sql(text: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, text)
}

/// Connections the pool has open, as PostgreSQL sees them.
async fn backends(admin: &sea_orm::DatabaseConnection, db: &TestDb) -> i64 {
    let row = admin
        .query_one_raw(sql(&format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'tearsheet'",
            db.name
        )))
        .await
        .expect("pg_stat_activity")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

#[tokio::test]
async fn kept_connections_are_shared_leave_room_for_transactions_are_dropped_when_stale_and_do_not_hold_up_close() {
    let test_db = TestDb::migrated().await;
    let admin = test_db.connect().await;
    let mut args = tearsheet_tests::app::serve_args(&test_db.url).db;
    args.db_max_connections = 4;
    args.db_acquire_timeout_ms = 2_000;
    let db = tearsheet_api::db::lazy_pool(&DatabaseUrl::new(&test_db.url), &args, None).await.expect("pool");

    // A burst of reads 3 times as wide as the pool: they share its 4 connections (each
    // serves about 3), rather than kept ones idling while the others queue for one.
    let reads: Vec<_> =
        (0..12).map(|_| db.query_one_raw(sql("SELECT pg_backend_pid() AS pid, pg_sleep(0.1)"))).collect();
    let mut served: std::collections::HashMap<i32, usize> = std::collections::HashMap::new();
    for read in futures_util::future::join_all(reads).await {
        let pid = read.expect("read").expect("a row").try_get::<i32>("", "pid").expect("pid");
        *served.entry(pid).or_default() += 1;
    }
    assert_eq!(served.len(), 4, "the burst used every connection: {served:?}");
    assert!(served.values().all(|n| *n <= 5), "no connection served most of the burst: {served:?}");
    // (The connections reads did not keep go back through sqlx's ping, on a task.)
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(backends(&admin, &test_db).await, 4, "the pool opened its 4 connections");
    assert_eq!(db.idle(), 4, "all idle after the burst");

    // Reads keep at most 3 of 4: a transaction gets the 4th at once, instead of waiting
    // out the acquire timeout for connections only reads take back.
    let started = Instant::now();
    let txn = db.begin().await.expect("a transaction begins after a burst of reads");
    assert!(started.elapsed() < Duration::from_millis(500), "began after {:?}", started.elapsed());
    txn.commit().await.expect("commit");

    // PostgreSQL drops every connection (a restart, an idle timeout of a proxy). Once the
    // kept ones are stale, the next read pings them, finds them gone and connects anew.
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' \
             AND application_name = 'tearsheet'",
            test_db.name
        ))
        .await
        .expect("terminate");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let row = db.query_one_raw(sql("SELECT 1 AS one")).await.expect("a read after the connections were dropped");
    assert_eq!(row.expect("a row").try_get::<i32>("", "one").expect("one"), 1);

    // Closing waits for every connection out of the pool: the kept ones go back first.
    for _ in 0..3 {
        db.query_all_raw(sql("SELECT 1")).await.expect("read");
    }
    tokio::time::timeout(Duration::from_secs(2), db.close())
        .await
        .expect("close does not wait for the connections reads kept")
        .expect("close");
}
