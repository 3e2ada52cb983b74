use serde_json::json;
use tearsheet_tests::TestApp;
use tearsheet_tests::app::error_codes;

use crate::support::record;

const COMPARE: &str = "query($ids: [ID!]!) { compareBacktestRuns(ids: $ids) {
    runs { id createdAt metrics { sharpeRatio } }
    missingIds
    configDifferences { path values }
} }";

#[tokio::test]
async fn comparison_lists_runs_newest_first_missing_ids_and_differing_parameters() {
    let app = TestApp::spawn().await;
    let old = record(&app, json!({ "createdAt": "2025-01-01T00:00:00Z",
        "config": { "fast_period": 10, "slow_period": 50, "risk_management": { "stop_loss": 0.02, "max_position_size": 1000 }, "instruments": ["AAPL"] },
        "metrics": { "sharpeRatio": 1.5 } })).await;
    let new = record(&app, json!({ "createdAt": "2025-02-01T00:00:00Z",
        "config": { "fast_period": 10, "slow_period": 60, "risk_management": { "stop_loss": 0.03, "max_position_size": 1000 }, "instruments": ["AAPL", "MSFT"] } })).await;
    let unknown = "6a1b2c3d-0000-4000-8000-000000000000";
    let data = app.data(COMPARE, json!({ "ids": [old, unknown, new, old.to_uppercase()] })).await;
    let cmp = &data["compareBacktestRuns"];
    assert_eq!(cmp["runs"][0]["id"], new.as_str(), "newest first");
    assert_eq!(cmp["runs"][1]["id"], old.as_str());
    assert_eq!(cmp["runs"][1]["metrics"]["sharpeRatio"], 1.5);
    assert_eq!(cmp["runs"].as_array().map(Vec::len), Some(2), "duplicates collapse");
    assert_eq!(cmp["missingIds"], json!([unknown]));
    assert_eq!(
        cmp["configDifferences"],
        json!([
            { "path": ["instruments"], "values": [["AAPL", "MSFT"], ["AAPL"]] },
            { "path": ["risk_management", "stop_loss"], "values": [0.03, 0.02] },
            { "path": ["slow_period"], "values": [60, 50] },
        ])
    );
}

#[tokio::test]
async fn comparing_no_ids_or_more_than_ten_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let eleven: Vec<String> = (0..11).map(|i| format!("00000000-0000-4000-8000-0000000000{i:02}")).collect();
    for ids in [json!([]), json!(eleven), json!(["nope"])] {
        let response = app.graphql(COMPARE, json!({ "ids": ids })).await;
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{response}");
    }
}

const PAGE: &str = "query($page: Int!, $size: Int!, $filter: BacktestRunFilter, $orderBy: BacktestRunOrder) {
    backtestRunsPage(page: $page, pageSize: $size, filter: $filter, orderBy: $orderBy) {
        items { id } page pageSize totalCount totalPages
    }
}";

#[tokio::test]
async fn offset_pages_follow_the_connection_order_and_are_capped() {
    let app = TestApp::spawn().await;
    for i in 0..12 {
        let metrics = if i % 4 == 0 { json!(null) } else { json!({ "sharpeRatio": f64::from(i % 3) }) };
        record(&app, json!({ "createdAt": format!("2025-03-{:02}T00:00:00Z", i + 1), "metrics": metrics })).await;
    }
    let order = json!({ "field": "SHARPE_RATIO", "direction": "DESC" });
    let connection = app
        .data(
            "query($o: BacktestRunOrder) { backtestRuns(first: 100, orderBy: $o) { nodes { id } } }",
            json!({ "o": order }),
        )
        .await;
    let all: Vec<&str> = connection["backtestRuns"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id"))
        .collect();
    let mut paged = Vec::new();
    for page in 1..=3 {
        let data = app.data(PAGE, json!({ "page": page, "size": 5, "orderBy": order })).await;
        let p = &data["backtestRunsPage"];
        assert_eq!(
            (p["page"].clone(), p["pageSize"].clone(), p["totalCount"].clone(), p["totalPages"].clone()),
            (json!(page), json!(5), json!(12), json!(3))
        );
        paged.extend(p["items"].as_array().expect("items").iter().map(|n| n["id"].as_str().expect("id").to_owned()));
    }
    assert_eq!(paged, all, "offset pages list the same runs in the same order as the connection");

    for (page, size) in [(0, 10), (1, 0), (1, 101), (101, 100)] {
        let response = app.graphql(PAGE, json!({ "page": page, "size": size })).await;
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{page} {size}: {response}");
    }
    let deep = app.graphql(PAGE, json!({ "page": 101, "size": 100 })).await;
    assert!(deep["errors"][0]["message"].as_str().expect("message").contains("backtestRuns"), "{deep}");
}

#[tokio::test]
async fn lineage_reads_both_ways_and_node_finds_runs() {
    let app = TestApp::spawn().await;
    let original = record(&app, json!({ "createdAt": "2025-01-01T00:00:00Z" })).await;
    let first = record(&app, json!({ "createdAt": "2025-01-02T00:00:00Z", "originalRunId": original })).await;
    let second = record(&app, json!({ "createdAt": "2025-01-03T00:00:00Z", "originalRunId": original })).await;
    let data = app
        .data(
            "query($id: ID!) { node(id: $id) { id ... on BacktestRun { reruns(first: 10) { nodes { id originalRun { id } } totalCount } } } }",
            json!({ "id": original }),
        )
        .await;
    assert_eq!(data["node"]["id"], original.as_str());
    assert_eq!(
        data["node"]["reruns"],
        json!({ "nodes": [{ "id": second, "originalRun": { "id": original } }, { "id": first, "originalRun": { "id": original } }], "totalCount": 2 })
    );
    let filtered = app
        .data(
            "query($id: ID!) { backtestRuns(filter: { originalRunId: $id }) { totalCount } }",
            json!({ "id": original }),
        )
        .await;
    assert_eq!(filtered["backtestRuns"]["totalCount"], 2);
}

#[tokio::test]
async fn connection_argument_mistakes_are_bad_user_input() {
    let app = TestApp::spawn().await;
    record(&app, json!({})).await;
    let q = "query($first: Int, $last: Int, $after: String, $before: String, $filter: BacktestRunFilter) {
        backtestRuns(first: $first, last: $last, after: $after, before: $before, filter: $filter) { nodes { id } } }";
    for vars in [
        json!({ "first": 5, "last": 5 }),
        json!({ "last": 0 }),
        json!({ "last": 101 }),
        json!({ "first": -3 }),
        json!({ "filter": { "config": [1] } }),
        json!({ "filter": { "config": "fast_period" } }),
        json!({ "filter": { "originalRunId": "x" } }),
    ] {
        let response = app.graphql(q, vars.clone()).await;
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{vars}: {response}");
    }
    let response = app.graphql(q, json!({ "last": 0 })).await;
    assert!(response["errors"][0]["message"].as_str().expect("message").contains("between 1 and 100"));
}
