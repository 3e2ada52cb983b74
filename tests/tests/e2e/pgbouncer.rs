//! Behind PgBouncer (Debian 12's 1.18: no prepared-statement tracking) in transaction
//! mode, with `--statement-cache-size 0`: reads, writes, idempotency, the statement
//! timeout and live updates all work, with clients sharing server connections.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use tearsheet_tests::app::{WRITE_TOKEN, error_codes, serve_args};
use tearsheet_tests::pgbouncer::{POOL_SIZE, PgBouncer};
use tearsheet_tests::{TestApp, TestDb};

use crate::support::{RECORD, run_input};

async fn post(app: &TestApp, query: &str, variables: Value) -> Value {
    app.graphql_as(Some(WRITE_TOKEN), query, variables).await.1
}

/// A server whose pools go through `bouncer` (LISTEN and migrations go straight to
/// PostgreSQL), with pools larger than PgBouncer's so that clients share its server
/// connections.
async fn behind(bouncer: &PgBouncer, db: TestDb, cache: u32, statement_timeout_ms: u64) -> TestApp {
    let through = bouncer.url(&db.name);
    let direct = db.url.clone();
    TestApp::spawn_with(db, move |_| {
        let mut args = serve_args(&through);
        args.db.statement_cache_size = cache;
        args.db.direct_database_url = Some(tearsheet_api::config::DatabaseUrl::new(direct));
        args.db.db_max_connections = POOL_SIZE * 3;
        args.limits.statement_timeout_ms = statement_timeout_ms;
        args
    })
    .await
}

#[tokio::test]
async fn reads_writes_and_idempotency_work_through_pgbouncer_in_transaction_mode() {
    let bouncer = PgBouncer::start(&TestDb::migrated().await.url);
    let app = behind(&bouncer, TestDb::migrated().await, 0, 5_000).await;

    // 40 concurrent writes, half with client-chosen ids, each replayed once concurrently.
    let ids: Vec<String> = (0..20).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let writes = (0..40).map(|i| {
        let mut overrides = json!({ "strategyName": "Bounced", "instrumentSymbol": format!("B{}", i % 5) });
        if i < 20 {
            overrides["id"] = json!(ids[i]);
        }
        let input = run_input(overrides);
        let app = &app;
        async move { post(app, RECORD, json!({ "input": input })).await }
    });
    let replays = (0..20).map(|i| {
        let input =
            run_input(json!({ "id": ids[i], "strategyName": "Bounced", "instrumentSymbol": format!("B{}", i % 5) }));
        let app = &app;
        async move { post(app, RECORD, json!({ "input": input })).await }
    });
    let (written, replayed) = tokio::join!(join_all(writes), join_all(replays));
    for response in written.iter().chain(&replayed) {
        assert!(response.get("errors").is_none(), "{response}\nPgBouncer's log:\n{}", bouncer.log());
    }
    assert_eq!(app.db.count_rows("backtest_runs").await, 40, "replays stored nothing twice");
    let conflict =
        post(&app, RECORD, json!({ "input": run_input(json!({ "id": ids[0], "strategyName": "Other" })) })).await;
    assert_eq!(error_codes(&conflict), ["CONFLICT"], "{conflict}");

    // A batch, all or nothing: one bad run refuses the batch and stores nothing.
    let batch = "mutation($runs: [RecordBacktestRunInput!]!) { recordBacktestRuns(inputs: $runs) { runs { id } } }";
    let runs: Vec<Value> = (0..50)
        .map(|i| run_input(json!({ "strategyName": "Batched", "initialCapital": format!("{}.00", 1000 + i) })))
        .collect();
    let stored = post(&app, batch, json!({ "runs": runs })).await;
    assert_eq!(stored["data"]["recordBacktestRuns"]["runs"].as_array().map(Vec::len), Some(50), "{stored}");
    let mut bad = runs.clone();
    bad[7]["dateRangeEnd"] = json!("2019-01-01");
    let refused = post(&app, batch, json!({ "runs": bad })).await;
    assert!(refused.get("errors").is_some(), "{refused}");
    assert_eq!(app.db.count_rows("backtest_runs").await, 90);

    // Concurrent reads of every kind: pages (metrics in the same statement), nested
    // lookups through DataLoaders, counts, groups, the streamed Pareto front.
    let page = "query($after: String) { backtestRuns(first: 7, after: $after, filter: { strategyName: \"Bounced\" }) { \
                  edges { cursor node { id metrics { sharpeRatio } } } pageInfo { hasNextPage endCursor } totalCount } }";
    let research = "{ runGroups(groupBy: { keys: [INSTRUMENT_SYMBOL] }) { key runCount } \
                      paretoFront(objectives: [{ metric: SHARPE_RATIO, goal: MAXIMIZE }]) { id } }";
    let compare = "query($ids: [ID!]!) { compareBacktestRuns(ids: $ids) { runs { id } } }";
    let reads = (0..60).map(|i| {
        let app = &app;
        let ids = ids.clone();
        async move {
            match i % 3 {
                0 => post(app, page, json!({})).await,
                1 => post(app, research, json!({})).await,
                _ => post(app, compare, json!({ "ids": ids[..5] })).await,
            }
        }
    });
    for response in join_all(reads).await {
        assert!(response.get("errors").is_none(), "{response}\nPgBouncer's log:\n{}", bouncer.log());
    }
    let first = post(&app, page, json!({})).await;
    assert_eq!(first["data"]["backtestRuns"]["totalCount"], 40);
    let groups = post(&app, research, json!({})).await;
    assert_eq!(
        groups["data"]["runGroups"].as_array().map(Vec::len),
        Some(6),
        "5 instruments and the batch's: {groups}"
    );
    // Walking the whole listing by cursor.
    let (mut after, mut seen) = (Value::Null, 0);
    loop {
        let response = post(&app, page, json!({ "after": after })).await;
        let connection = &response["data"]["backtestRuns"];
        seen += connection["edges"].as_array().map_or(0, Vec::len);
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, 40);
    app.stop().await;
}

#[tokio::test]
async fn the_statement_timeout_applies_through_pgbouncer() {
    let bouncer = PgBouncer::start(&TestDb::migrated().await.url);
    let app = behind(&bouncer, TestDb::migrated().await, 0, 300).await;
    crate::support::record(&app, json!({})).await;
    // Every server connection PgBouncer has: a session SET would have reached only some.
    let release = app.db.lock_runs().await;
    let started = Instant::now();
    let responses =
        join_all((0..POOL_SIZE * 2).map(|_| post(&app, "{ backtestRuns(first: 1) { nodes { id } } }", json!({}))))
            .await;
    for response in &responses {
        assert_eq!(error_codes(response), ["TIMEOUT"], "{response}");
    }
    assert!(started.elapsed() < Duration::from_secs(3), "cancelled at the timeout, {:?}", started.elapsed());
    drop(release);
    let after = post(&app, "{ backtestRuns(first: 1) { nodes { id } } }", json!({})).await;
    assert!(after.get("errors").is_none(), "{after}");
    app.stop().await;
}

#[tokio::test]
async fn with_statement_caching_pgbouncer_1_18_breaks_prepared_statements() {
    // The control: the same server with sqlx's default cache, through the same PgBouncer,
    // fails under concurrency. This is why `--statement-cache-size 0` exists.
    let bouncer = PgBouncer::start(&TestDb::migrated().await.url);
    let app = behind(&bouncer, TestDb::migrated().await, 100, 5_000).await;
    let reads =
        (0..60).map(|_| post(&app, "{ backtestRuns(first: 3) { nodes { id metrics { sharpeRatio } } } }", json!({})));
    let failed = join_all(reads).await.iter().filter(|r| r.get("errors").is_some()).count();
    assert!(failed > 0, "prepared statements through PgBouncer 1.18 in transaction mode should collide");
    app.stop().await;
}
