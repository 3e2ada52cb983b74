//! Tearsheet proven by its clients' own tooling (`tests/clients/`, npm packages pinned in
//! its package-lock.json; `scripts/test.sh` installs them, and Chromium): Apollo's
//! composition and gateway, GraphiQL in headless Chromium, graphql-http's audits. Plus the
//! federation entry point (`_entities`) as the gateway uses it.

use std::path::{Path, PathBuf};

use serde_json::json;
use tearsheet_tests::app::{WRITE_TOKEN, serve_args};
use tearsheet_tests::{TestApp, TestDb};

use crate::support::record;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Runs `node tests/clients/<script> <args>` and fails the test with its output unless it
/// exits 0.
async fn node(script: &str, args: &[&str]) {
    let dir = clients_dir();
    assert!(
        dir.join("node_modules/.package-lock.json").is_file(),
        "the client checks' npm packages are missing: run `npm ci --prefix tests/clients` (scripts/test.sh does)"
    );
    let output = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .output()
        .await
        .expect("node (Node.js 20) must be installed");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{script} failed:\n{text}");
    println!("{text}");
}

/// Serves the demo data (the runs a new user explores).
async fn demo_app() -> TestApp {
    TestApp::spawn_with(TestDb::migrated().await, |url| {
        let mut args = serve_args(url);
        args.demo = true;
        args
    })
    .await
}

#[tokio::test]
async fn graphql_http_server_audits_all_pass() {
    let app = TestApp::spawn().await;
    node("http-audits.mjs", &[&app.url("/graphql")]).await;
}

#[tokio::test]
async fn an_apollo_gateway_composes_tearsheet_with_another_subgraph_and_resolves_runs_through_it() {
    let app = demo_app().await;
    node("federation.mjs", &[&app.url("/graphql")]).await;
}

#[tokio::test]
async fn graphiql_runs_its_example_query_and_sends_the_users_token_in_chromium_with_no_network_but_the_server() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).is_file(), "{chromium} is missing: install Debian's chromium (scripts/test.sh does)");
    let app = demo_app().await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("graphiql");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    node("graphiql.mjs", &[&app.url(""), shots.to_str().expect("utf-8 path"), WRITE_TOKEN]).await;
}

#[tokio::test]
async fn entities_load_in_one_statement_and_unknown_ids_resolve_to_null() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(record(&app, json!({ "strategyName": format!("Entity {i}") })).await);
    }
    let unknown = "00000000-0000-7000-8000-00000000beef";
    let mut representations: Vec<_> = ids.iter().map(|id| json!({ "__typename": "BacktestRun", "id": id })).collect();
    representations.insert(5, json!({ "__typename": "BacktestRun", "id": unknown }));
    representations.push(json!({ "__typename": "BacktestRun", "id": "not-a-uuid" }));
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on BacktestRun { id strategyName } } }";

    let before = app.db.statements_sent().await;
    let data = app.data(query, json!({ "r": representations })).await;
    let sent = app.db.statements_sent().await - before;
    let entities = data["_entities"].as_array().expect("entities");
    assert_eq!(entities.len(), 14, "one answer per representation, in order");
    for (entity, representation) in entities.iter().zip(&representations) {
        let id = representation["id"].as_str().expect("id");
        if ids.iter().any(|known| known == id) {
            assert_eq!(entity["id"], id);
            let i = ids.iter().position(|known| known == id).expect("known");
            assert_eq!(entity["strategyName"], format!("Entity {i}"));
        } else {
            assert!(entity.is_null(), "{id} is no run: {entity}");
        }
    }
    assert_eq!(sent, 1, "one statement for the whole call: {:?}", app.db.statement_log().await);
}
