//! Nested fields of a page are batched: a page of 100 runs with their metrics, their
//! original runs and those runs' metrics costs a fixed handful of statements, not 1 + 300.

use serde_json::json;
use tearsheet_api::store::seed::{self, SeedSpec};
use tearsheet_tests::TestApp;

const PAGE_WITH_LINEAGE: &str = "query($after: String) {
    backtestRuns(first: 100, after: $after) {
        nodes {
            id status
            metrics { sharpeRatio totalReturn }
            originalRun { id metrics { sharpeRatio } }
        }
        pageInfo { endCursor }
    }
}";

#[tokio::test]
async fn a_page_of_100_with_metrics_and_original_runs_sends_at_most_4_statements() {
    let app = TestApp::spawn().await;
    let db = app.db.connect().await;
    // Every run but the first re-runs one up to 200 runs before it (so some originals lie
    // on the page and some do not); ~7% failed without metrics.
    seed::seed(&db, SeedSpec { runs: 250, seed: 1, reruns_per_mille: 1000 }, |_| {}).await.expect("seed");

    // The second page: its runs' originals are on it, on the first page, or on none.
    let first = app.data(PAGE_WITH_LINEAGE, json!({ "after": null })).await;
    let after = first["backtestRuns"]["pageInfo"]["endCursor"].clone();

    let before = app.db.statements_sent().await;
    let data = app.data(PAGE_WITH_LINEAGE, json!({ "after": after })).await;
    let sent = app.db.statements_sent().await - before;

    let nodes = data["backtestRuns"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 100);
    let with_original = nodes.iter().filter(|n| n["originalRun"]["id"].is_string()).count();
    let with_metrics = nodes.iter().filter(|n| n["metrics"].is_object()).count();
    let failed_without = nodes.iter().filter(|n| n["status"] != "SUCCESS" && n["metrics"].is_null()).count();
    assert!(with_original >= 99, "the page's runs are re-runs: {with_original} show their original");
    assert!(with_metrics > 80 && failed_without > 0, "{with_metrics} with metrics, {failed_without} failed without");
    for node in nodes.iter().filter(|n| n["originalRun"].is_object()) {
        assert!(node["originalRun"].get("metrics").is_some(), "nested metrics resolved: {node}");
    }
    assert!(
        sent <= 4,
        "one page, its metrics, the original runs and their metrics should take at most 4 statements; \
         sent {sent}:\n{}",
        app.db.statement_log().await.join("\n")
    );
}
