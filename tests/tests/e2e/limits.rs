//! Bounded work per request: query limits that let every frontend query through and
//! refuse the rest naming the limit, introspection that can be switched off, and slow
//! statements cancelled in PostgreSQL.

use std::path::Path;
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use tearsheet_api::config::ServeArgs;
use tearsheet_tests::app::{error_codes, serve_args};
use tearsheet_tests::{TestApp, TestDb};

use crate::support::record;

async fn app_with(change: impl FnOnce(&mut ServeArgs)) -> TestApp {
    TestApp::spawn_with(TestDb::migrated().await, |url| {
        let mut args = serve_args(url);
        change(&mut args);
        args
    })
    .await
}

/// The operation texts relay-compiler generated from `tests/clients/relay/` (a dashboard's
/// queries), by name.
fn relay_operations() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/relay/__generated__");
    let mut operations = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("relay artifacts") {
        let path = entry.expect("entry").path();
        let source = std::fs::read_to_string(&path).expect("artifact");
        let Some(start) = source.find("\"text\": \"") else { continue };
        let rest = &source[start + "\"text\": ".len()..];
        let text: String = serde_json::Deserializer::from_str(rest)
            .into_iter::<String>()
            .next()
            .and_then(Result::ok)
            .expect("a JSON string");
        operations.push((path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned(), text));
    }
    operations
}

/// GraphiQL's introspection query, from graphql-js (what GraphiQL and most tools send).
async fn introspection_query() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
    let output = tokio::process::Command::new("node")
        .current_dir(&dir)
        .args([
            "-e",
            "process.stdout.write(require('graphql').getIntrospectionQuery({ descriptions: true, \
             specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }))",
        ])
        .output()
        .await
        .expect("node (the client checks' packages: npm ci --prefix tests/clients)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

#[tokio::test]
async fn the_default_limits_let_dashboards_and_graphiql_through() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(record(&app, json!({ "strategyName": format!("Limits {i}") })).await);
    }
    let operations = relay_operations();
    assert!(operations.len() >= 4, "{operations:?}");
    for (name, text) in &operations {
        // The largest variables each operation allows: 100 per page, 10 runs compared.
        let variables = json!({ "count": 100, "cursor": null, "strategy": null, "id": ids[0], "ids": ids });
        let response = app.graphql(text, variables).await;
        assert!(response.get("errors").is_none(), "{name}: {response:#}");
    }
    let introspection = app.graphql(&introspection_query().await, json!({})).await;
    assert!(introspection["data"]["__schema"]["types"].as_array().is_some_and(|t| t.len() > 20), "{introspection:#}");
    // A dashboard page at its largest, nested one level.
    let page = "{ backtestRuns(first: 100) { totalCount edges { cursor node { id createdAt status strategyName \
                config metrics { sharpeRatio totalReturn maxDrawdown } originalRun { id metrics { sharpeRatio } } } } \
                pageInfo { hasNextPage endCursor } } }";
    let response = app.graphql(page, json!({})).await;
    assert!(response.get("errors").is_none(), "{response:#}");
}

fn limit_of(response: &Value) -> (String, String, u64) {
    let error = &response["errors"][0];
    (
        error["extensions"]["code"].as_str().unwrap_or_default().to_owned(),
        error["extensions"]["limit"].as_str().unwrap_or_default().to_owned(),
        error["extensions"]["max"].as_u64().unwrap_or_default(),
    )
}

#[tokio::test]
async fn each_limit_is_configurable_and_named_when_exceeded() {
    let app = app_with(|args| {
        args.limits.max_depth = 4;
        args.limits.max_complexity = 200;
        args.limits.max_aliases = 3;
        args.limits.max_root_fields = 2;
    })
    .await;
    let cases = [
        ("{ backtestRuns { nodes { originalRun { originalRun { id } } } } }", "maxDepth", 4),
        ("{ backtestRuns(first: 60) { nodes { id strategyName status } } }", "maxComplexity", 200),
        ("{ a: __typename b: __typename c: __typename d: __typename }", "maxAliases", 3),
        ("{ __typename backtestRuns { totalCount } compareBacktestRuns(ids: []) { missingIds } }", "maxRootFields", 2),
    ];
    for (query, limit, max) in cases {
        let response = app.graphql(query, json!({})).await;
        assert_eq!(limit_of(&response), ("LIMIT_EXCEEDED".to_owned(), limit.to_owned(), max), "{query}: {response}");
        let message = response["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&max.to_string()), "the message says the limit: {message}");
    }
    // Within the limits, the same shapes run.
    let fine = app.graphql("{ backtestRuns(first: 5) { nodes { id } } }", json!({})).await;
    assert!(fine.get("errors").is_none(), "{fine}");
}

#[tokio::test]
async fn introspection_can_be_switched_off_without_breaking_federation() {
    let app = app_with(|args| args.limits.no_introspection = true).await;
    let response = app.graphql("{ __schema { types { name } } }", json!({})).await;
    assert_eq!(error_codes(&response), ["INTROSPECTION_DISABLED"], "{response}");
    let response = app.graphql("{ __type(name: \"BacktestRun\") { name } }", json!({})).await;
    assert_eq!(error_codes(&response), ["INTROSPECTION_DISABLED"], "{response}");
    let sdl = app.data("{ _service { sdl } }", json!({})).await;
    assert!(sdl["_service"]["sdl"].as_str().is_some_and(|s| s.contains("type BacktestRun")), "{sdl}");
    assert_eq!(app.data("{ __typename }", json!({})).await["__typename"], "Query");
}

/// Statements of the server (application_name tearsheet) still running or waiting in this
/// test's database (the cluster is shared with other tests).
async fn server_statements_running(db: &TestDb) -> i64 {
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tearsheet' AND state = 'active' \
             AND datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE '%backtest_runs%'",
        ))
        .await
        .expect("pg_stat_activity")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

#[tokio::test]
async fn a_slow_statement_is_cancelled_in_postgresql_at_the_statement_timeout() {
    let app = app_with(|args| args.limits.statement_timeout_ms = 300).await;
    record(&app, json!({})).await;
    let release = app.db.lock_runs().await;
    let started = Instant::now();
    let response = app.graphql("{ backtestRuns(first: 5) { nodes { id } } }", json!({})).await;
    let took = started.elapsed();
    assert_eq!(error_codes(&response), ["TIMEOUT"], "{response}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    // Cancelled, not abandoned: nothing of the server's is still waiting on the lock.
    assert_eq!(server_statements_running(&app.db).await, 0);
    drop(release);
    let response = app.graphql("{ backtestRuns(first: 5) { nodes { id } } }", json!({})).await;
    assert!(response.get("errors").is_none(), "serves again: {response}");
}

#[tokio::test]
async fn a_request_past_the_request_timeout_is_answered_503() {
    let app = app_with(|args| {
        args.limits.statement_timeout_ms = 0;
        args.limits.request_timeout_ms = 400;
    })
    .await;
    record(&app, json!({})).await;
    let release = app.db.lock_runs().await;
    let (status, response) = app.graphql_as(None, "{ backtestRuns(first: 5) { nodes { id } } }", json!({})).await;
    assert_eq!((status, error_codes(&response)), (503, vec!["TIMEOUT".to_owned()]), "{response}");
    drop(release);
    let response = app.graphql("{ backtestRuns(first: 5) { nodes { id } } }", json!({})).await;
    assert!(response.get("errors").is_none(), "serves again: {response}");
}
