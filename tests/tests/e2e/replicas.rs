//! Several Tearsheet processes on one database behave as one service: nothing a process
//! keeps to itself changes an answer.

use serde_json::{Value, json};
use tearsheet_tests::app::{WRITE_TOKEN, error_codes, serve, serve_args};
use tearsheet_tests::{TestApp, TestDb};

use crate::support::{RECORD, run_input};

async fn post(base: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(WRITE_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn requests_alternating_between_two_processes_get_one_services_answers() {
    let app = TestApp::spawn_on(TestDb::migrated().await).await;
    let other = serve(&serve_args(&app.db.url)).await;
    let bases = [app.url(""), format!("http://{}", other.addr)];

    // Idempotent writes across processes: the same id and content on the other process is
    // a replay (the same run, one row); other content under that id is a conflict.
    let id = uuid::Uuid::new_v4().to_string();
    let input = run_input(json!({ "id": id, "strategyName": "Replicated" }));
    let first = post(&bases[0], json!({ "query": RECORD, "variables": { "input": input } })).await;
    let replay = post(&bases[1], json!({ "query": RECORD, "variables": { "input": input } })).await;
    assert_eq!(first["data"], replay["data"], "{first} {replay}");
    assert_eq!(app.db.count_rows("backtest_runs").await, 1);
    let changed = run_input(json!({ "id": id, "strategyName": "Changed" }));
    let conflict = post(&bases[1], json!({ "query": RECORD, "variables": { "input": changed } })).await;
    assert_eq!(error_codes(&conflict), ["CONFLICT"], "{conflict}");

    // Writes through one are read through the other at once, pages and cursors included.
    for i in 0..6 {
        let input = run_input(json!({ "strategyName": "Replicated", "instrumentSymbol": format!("I{i}") }));
        let response = post(&bases[i % 2], json!({ "query": RECORD, "variables": { "input": input } })).await;
        assert!(response.get("errors").is_none(), "{response}");
    }
    let page = "query($after: String) { backtestRuns(first: 3, after: $after, filter: { strategyName: \"Replicated\" }) { \
                  edges { cursor node { id instrumentSymbol } } pageInfo { hasNextPage endCursor } totalCount } }";
    let a = post(&bases[0], json!({ "query": page })).await;
    let b = post(&bases[1], json!({ "query": page })).await;
    assert_eq!(a["data"], b["data"], "the same page from both");
    assert_eq!(a["data"]["backtestRuns"]["totalCount"], 7);
    let cursor = a["data"]["backtestRuns"]["pageInfo"]["endCursor"].clone();
    let next_a = post(&bases[0], json!({ "query": page, "variables": { "after": cursor } })).await;
    let next_b = post(&bases[1], json!({ "query": page, "variables": { "after": cursor } })).await;
    assert!(next_b.get("errors").is_none(), "a cursor from one process works on the other: {next_b}");
    assert_eq!(next_a["data"], next_b["data"]);

    // Automatic persisted queries: a hash registered on one process is unknown to the
    // other, which says so; the client re-registers there (Apollo's link does this by
    // itself), and both then serve it by hash.
    let query = "{ backtestRuns(first: 1, filter: { strategyName: \"Replicated\" }) { nodes { strategyName } } }";
    let hash = crate::http::sha256_hex(query).expect("sha256sum");
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let registered = post(&bases[0], json!({ "query": query, "extensions": extensions })).await;
    assert_eq!(registered["data"]["backtestRuns"]["nodes"][0]["strategyName"], "Replicated", "{registered}");
    let unknown = post(&bases[1], json!({ "extensions": extensions })).await;
    assert_eq!(error_codes(&unknown), ["PERSISTED_QUERY_NOT_FOUND"], "{unknown}");
    let reregistered = post(&bases[1], json!({ "query": query, "extensions": extensions })).await;
    assert_eq!(reregistered["data"], registered["data"]);
    for base in &bases {
        let by_hash = post(base, json!({ "extensions": extensions })).await;
        assert_eq!(by_hash["data"], registered["data"], "{base}: {by_hash}");
    }
    let _ = other.shutdown.send(());
    app.stop().await;
}
