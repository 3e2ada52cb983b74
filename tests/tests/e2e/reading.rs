use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use tearsheet_tests::TestApp;
use tearsheet_tests::app::error_codes;

use crate::support::record;

const PAGE: &str = "query($first: Int, $after: String) {
    backtestRuns(first: $first, after: $after) {
        edges { cursor node { id createdAt } }
        nodes { id }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

#[tokio::test]
async fn paging_through_45_runs_20_at_a_time_visits_each_once_newest_first() {
    let app = TestApp::spawn().await;
    // 15 timestamps, 3 runs each: ties on created_at must be ordered by id, not lost or
    // repeated at page boundaries.
    let mut expected: Vec<(String, String)> = Vec::new();
    for i in 0..45 {
        let created = format!("2025-01-{:02}T12:00:00Z", 1 + i / 3);
        let id = record(&app, json!({ "createdAt": created })).await;
        expected.push((created, id));
    }
    expected.sort_by(|a, b| b.cmp(a));

    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let data = app.data(PAGE, json!({ "first": 20, "after": after })).await;
        let conn = &data["backtestRuns"];
        let edges = conn["edges"].as_array().expect("edges").clone();
        let ids: Vec<String> = edges.iter().map(|e| e["node"]["id"].as_str().expect("id").to_owned()).collect();
        let node_ids: Vec<String> =
            conn["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].as_str().expect("id").to_owned()).collect();
        assert_eq!(ids, node_ids, "nodes mirror edges");
        assert_eq!(conn["pageInfo"]["startCursor"], edges[0]["cursor"]);
        assert_eq!(conn["pageInfo"]["endCursor"], edges[edges.len() - 1]["cursor"]);
        pages.push((ids.len(), conn["pageInfo"]["hasNextPage"].as_bool().expect("bool")));
        seen.extend(ids);
        if !conn["pageInfo"]["hasNextPage"].as_bool().expect("bool") {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, [(20, true), (20, true), (5, false)]);
    let expected_ids: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen, expected_ids, "every run exactly once, by (createdAt, id) descending");
}

#[tokio::test]
async fn an_empty_database_gives_an_empty_page() {
    let app = TestApp::spawn().await;
    let data = app.data(PAGE, json!({})).await;
    assert_eq!(
        data["backtestRuns"],
        json!({ "edges": [], "nodes": [], "pageInfo": { "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null } })
    );
}

#[tokio::test]
async fn bad_ids_cursors_and_page_sizes_are_bad_user_input() {
    let app = TestApp::spawn().await;
    record(&app, json!({})).await;
    let cases: [(&str, Value); 5] = [
        ("query { backtestRun(id: \"not-a-uuid\") { id } }", json!({})),
        (PAGE, json!({ "after": "garbage!" })),
        (
            PAGE,
            json!({ "after": "djF8U0hBUlBFX1JBVElPX0RFU0N8MS41fDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA" }),
        ),
        (PAGE, json!({ "first": 0 })),
        (PAGE, json!({ "first": 101 })),
    ];
    for (query, variables) in cases {
        let response = app.graphql(query, variables.clone()).await;
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{variables}: {response}");
        let message = response["errors"][0]["message"].as_str().expect("message");
        assert!(
            message.contains("UUID") || message.contains("cursor") || message.contains("between 1 and 100"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn an_unknown_id_is_null_not_an_error() {
    let app = TestApp::spawn().await;
    let response = app.graphql("{ backtestRun(id: \"5c0e9a8e-0d1e-4a8e-9f51-8d1f0e6a2b33\") { id } }", json!({})).await;
    assert_eq!(response, json!({ "data": { "backtestRun": null } }));
}

#[tokio::test]
async fn a_database_failure_is_reported_without_its_text() {
    let app = TestApp::spawn().await;
    record(&app, json!({})).await;
    let db = app.db.connect().await;
    db.execute_unprepared("ALTER TABLE backtest_runs RENAME TO gone").await.expect("rename");
    let response = app.graphql(PAGE, json!({})).await;
    assert_eq!(error_codes(&response), ["INTERNAL_SERVER_ERROR"], "{response}");
    let text = response.to_string();
    assert!(!text.contains("backtest_runs") && !text.contains("relation"), "database text leaked: {text}");
}

#[tokio::test]
async fn health_is_200_and_readiness_follows_the_database() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    let html = reqwest::Client::new()
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("GraphiQL");
    assert_eq!(html.status(), 200);
    assert!(html.text().await.expect("body").contains("GraphiQL"));

    let db = app.db.connect().await;
    let name = app.db.name.clone();
    db.close().await.expect("close");
    let admin = sea_orm::Database::connect(app.db.url.replace(&name, "postgres")).await.expect("admin");
    admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.expect("drop");
    assert_eq!(app.get("/readyz").await.status(), 503, "no database, not ready");
    assert_eq!(app.get("/healthz").await.status(), 200, "but alive");
    let response = app.graphql(PAGE, json!({})).await;
    assert_eq!(error_codes(&response), ["SERVICE_UNAVAILABLE"], "{response}");
}

#[tokio::test]
async fn a_repeated_query_text_still_uses_its_variables_and_is_still_validated() {
    // The server caches parsed documents by query text (graphql::documents).
    let app = TestApp::spawn().await;
    let a = record(&app, json!({ "strategyName": "Alpha" })).await;
    let b = record(&app, json!({ "strategyName": "Beta" })).await;
    let query = "query($id: ID!) { backtestRun(id: $id) { id strategyName } }";
    for _ in 0..2 {
        for (id, name) in [(&a, "Alpha"), (&b, "Beta")] {
            let data = app.data(query, json!({ "id": id })).await;
            assert_eq!(data["backtestRun"], json!({ "id": id, "strategyName": name }));
        }
    }
    // A document that parses but does not validate is refused every time, and a missing
    // required variable is noticed on the cached document too.
    for _ in 0..2 {
        let bad = app.graphql("{ backtestRun(id: \"x\") { noSuchField } }", json!({})).await;
        assert!(bad["errors"][0]["message"].as_str().is_some_and(|m| m.contains("noSuchField")), "{bad}");
        assert!(bad.get("data").is_none_or(Value::is_null), "{bad}");
        let missing = app.graphql(query, json!({})).await;
        assert!(missing["errors"].is_array() && missing["data"].is_null(), "{missing}");
    }
}
