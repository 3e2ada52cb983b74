//! Nested fields of a page are batched: a page of 100 runs with their metrics, their
//! original runs and those runs' metrics costs a fixed handful of statements, not 1 + 300.
//! A page reads configs only when its selection shows them.

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
async fn a_page_of_100_with_metrics_and_original_runs_sends_at_most_2_statements() {
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
        sent <= 2,
        "one page with its metrics, and the original runs with theirs, should take at most 2 statements; \
         sent {sent}:\n{}",
        app.db.statement_log().await.join("\n")
    );
}

#[tokio::test]
async fn a_page_reads_configs_only_when_shown_and_nested_configs_are_whole() {
    let app = TestApp::spawn().await;
    let db = app.db.connect().await;
    seed::seed(&db, SeedSpec { runs: 250, seed: 2, reruns_per_mille: 1000 }, |_| {}).await.expect("seed");
    let stored = |id: &str| {
        let db = db.clone();
        let id = id.to_owned();
        async move {
            use sea_orm::ConnectionTrait as _;
            let row = db
                .query_one_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT config_snapshot FROM backtest_runs WHERE id = $1::uuid",
                    [id.into()],
                ))
                .await
                .expect("query")
                .expect("row");
            row.try_get_by_index::<serde_json::Value>(0).expect("config")
        }
    };

    // No config on the page; the originals' configs (some of them runs of the same page).
    let data = app.data("{ backtestRuns(first: 100) { nodes { id originalRun { id config } } } }", json!({})).await;
    let nodes = data["backtestRuns"]["nodes"].as_array().expect("nodes");
    let ids: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    let originals: Vec<&serde_json::Value> =
        nodes.iter().map(|n| &n["originalRun"]).filter(|o| o.is_object()).collect();
    assert!(
        originals.iter().any(|o| ids.contains(&o["id"].as_str().unwrap_or_default())),
        "some originals on the page"
    );
    for original in originals {
        let id = original["id"].as_str().expect("id");
        assert_eq!(original["config"], stored(id).await, "the config of original {id}");
    }
    // (pg_stat_statements shows the constant `'null'::jsonb` in its place as `$n::jsonb`.)
    let page_sql = app.db.statements_like("%ORDER BY r.created_at%").await;
    assert_eq!(page_sql.len(), 1, "{page_sql:?}");
    assert!(!page_sql[0].contains("r.config_snapshot"), "the page read configs it does not show: {page_sql:?}");

    // Shown: each the stored one.
    let data = app.data("{ backtestRuns(first: 5) { nodes { id config } } }", json!({})).await;
    for node in data["backtestRuns"]["nodes"].as_array().expect("nodes") {
        assert_eq!(node["config"], stored(node["id"].as_str().expect("id")).await);
    }
}

#[tokio::test]
async fn a_run_by_id_reads_its_config_only_when_shown_and_always_shows_the_stored_one() {
    let app = TestApp::spawn().await;
    let db = app.db.connect().await;
    seed::seed(&db, SeedSpec { runs: 20, seed: 3, reruns_per_mille: 1000 }, |_| {}).await.expect("seed");
    let page =
        app.data("{ backtestRuns(first: 20) { nodes { id config originalRun { id config } } } }", json!({})).await;
    let nodes = page["backtestRuns"]["nodes"].as_array().expect("nodes");
    let rerun = nodes.iter().find(|n| n["originalRun"].is_object()).expect("a re-run");
    let (id, config) = (rerun["id"].as_str().expect("id"), &rerun["config"]);
    let original = &rerun["originalRun"];
    assert!(config.is_object() && original["config"].is_object());

    // Not shown: the lookup leaves the config out (its place holds the constant null).
    let data =
        app.data("query($id: ID!) { backtestRun(id: $id) { id metrics { sharpeRatio } } }", json!({ "id": id })).await;
    assert_eq!(data["backtestRun"]["id"], id);
    // One id: `r.id = $1` (a batch would be `= ANY($1)`), see `Sql::push_key_condition`.
    let lookups = app.db.statements_like("%WHERE r.id = $1%").await;
    assert!(!lookups.is_empty() && lookups.iter().all(|s| !s.contains("r.config_snapshot")), "{lookups:?}");

    // Shown, however the selection asks for it: beside a lookup of the same run that does
    // not show it, through a fragment, through `node`, and on its original.
    let data = app
        .data(
            "query($id: ID!) {
                a: backtestRun(id: $id) { id metrics { sharpeRatio } }
                b: backtestRun(id: $id) { ...Config }
                c: node(id: $id) { ... on BacktestRun { config } }
                d: backtestRun(id: $id) { metrics { sharpeRatio } originalRun { config } }
            }
            fragment Config on BacktestRun { config }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(&data["b"]["config"], config);
    assert_eq!(&data["c"]["config"], config);
    assert_eq!(data["d"]["originalRun"]["config"], original["config"]);
}
