use serde_json::json;
use tearsheet_tests::TestApp;
use tearsheet_tests::app::error_codes;

use crate::support::{RECORD, record, run_input};

const READ_BACK: &str = "query($id: ID!) { backtestRun(id: $id) {
    id createdAt completedAt durationSeconds status strategyName strategyType instrumentSymbol
    dateRangeStart dateRangeEnd initialCapital dataSource config errorMessage
    originalRun { id }
    metrics { totalReturn cagr sharpeRatio sortinoRatio maxDrawdown volatility totalTrades
              winningTrades losingTrades winRate profitFactor avgWinAmount avgLossAmount }
} }";

#[tokio::test]
async fn a_recorded_run_reads_back_with_its_metrics_and_exact_decimals() {
    let app = TestApp::spawn().await;
    let original = record(&app, json!({})).await;
    let id = "3f1c8a52-9d7e-4b1a-8c3e-2a9f0d6b7e11";
    let config = json!({
        "fast_period": 12, "slow_period": 48,
        "risk_management": { "stop_loss": 0.02, "max_position_size": 1000 },
        "instruments": ["AAPL", "MSFT"],
    });
    let input = run_input(json!({
        "id": id.to_uppercase(),
        "createdAt": "2025-01-25T10:30:00Z",
        "completedAt": "2025-01-25T10:31:05.5+00:00",
        "durationSeconds": 65,
        "strategyName": "EMA Crossover",
        "instrumentSymbol": "MSFT",
        "initialCapital": "123456789012345678.99",
        "config": config,
        "originalRunId": original,
        "metrics": {
            "totalReturn": 0.1234, "cagr": 0.0567, "sharpeRatio": 1.2345, "sortinoRatio": -0.5,
            "maxDrawdown": 0.2, "volatility": 0.15, "totalTrades": 120, "winningTrades": 70,
            "losingTrades": 50, "winRate": 0.5833, "profitFactor": 1.8,
            "avgWinAmount": "512.25", "avgLossAmount": "-301.10"
        }
    }));
    let recorded = app.data(RECORD, json!({ "input": input })).await;
    assert_eq!(recorded["recordBacktestRun"]["id"], id, "ids come back lower-case and hyphenated");

    let run = app.data(READ_BACK, json!({ "id": id })).await["backtestRun"].clone();
    assert_eq!(run["id"], id);
    assert_eq!(run["createdAt"], "2025-01-25T10:30:00+00:00");
    assert_eq!(run["completedAt"], "2025-01-25T10:31:05.500+00:00");
    assert_eq!(run["durationSeconds"], 65);
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["strategyName"], "EMA Crossover");
    assert_eq!(run["strategyType"], "trend_following");
    assert_eq!(run["instrumentSymbol"], "MSFT");
    assert_eq!(run["dateRangeStart"], "2020-01-01");
    assert_eq!(run["dateRangeEnd"], "2023-12-31");
    assert_eq!(run["initialCapital"], "123456789012345678.99", "NUMERIC(20,2) survives exactly");
    assert_eq!(run["dataSource"], "polygon");
    assert_eq!(run["config"], config);
    assert_eq!(run["errorMessage"], serde_json::Value::Null);
    assert_eq!(run["originalRun"]["id"], original.as_str());
    let m = &run["metrics"];
    assert_eq!(m["totalReturn"], 0.1234);
    assert_eq!(m["cagr"], 0.0567);
    assert_eq!(m["sharpeRatio"], 1.2345);
    assert_eq!(m["sortinoRatio"], -0.5);
    assert_eq!(m["maxDrawdown"], 0.2);
    assert_eq!(m["volatility"], 0.15);
    assert_eq!(
        (m["totalTrades"].clone(), m["winningTrades"].clone(), m["losingTrades"].clone()),
        (json!(120), json!(70), json!(50))
    );
    assert_eq!(m["winRate"], 0.5833);
    assert_eq!(m["profitFactor"], 1.8);
    assert_eq!(m["avgWinAmount"], "512.25");
    assert_eq!(m["avgLossAmount"], "-301.10");
}

#[tokio::test]
async fn a_run_without_an_id_gets_a_time_ordered_uuid_and_now_as_created_at() {
    let app = TestApp::spawn().await;
    let before = chrono::Utc::now();
    let data =
        app.data(RECORD, json!({ "input": run_input(json!({ "status": "FAILED", "errorMessage": "boom" })) })).await;
    let id = uuid::Uuid::parse_str(data["recordBacktestRun"]["id"].as_str().expect("id")).expect("uuid");
    assert_eq!(id.get_version_num(), 7);
    let created: chrono::DateTime<chrono::Utc> =
        data["recordBacktestRun"]["createdAt"].as_str().expect("createdAt").parse().expect("RFC 3339");
    assert!(created >= before - chrono::Duration::seconds(1) && created <= chrono::Utc::now());
    let run = app
        .data(
            "query($id: ID!) { backtestRun(id: $id) { status errorMessage metrics { sharpeRatio } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(run["backtestRun"], json!({ "status": "FAILED", "errorMessage": "boom", "metrics": null }));
}

async fn stored_runs(app: &TestApp) -> i64 {
    app.data("{ backtestRuns(first: 1) { totalCount } }", json!({})).await["backtestRuns"]["totalCount"]
        .as_i64()
        .expect("count")
}

#[tokio::test]
async fn every_validation_rule_names_its_field_and_says_what_is_wrong() {
    let app = TestApp::spawn().await;
    let metrics = |m: serde_json::Value| json!({ "metrics": m });
    let huge = "x".repeat(1024 * 1024);
    let cases = [
        (json!({ "id": "not-a-uuid" }), "id", "id must be a UUID"),
        (json!({ "strategyName": "" }), "strategyName", "strategyName must not be empty"),
        (json!({ "strategyName": "   " }), "strategyName", "strategyName must not be empty"),
        (json!({ "strategyName": "S".repeat(101) }), "strategyName", "at most 100 characters"),
        (json!({ "strategyType": "t".repeat(51) }), "strategyType", "at most 50 characters"),
        (json!({ "instrumentSymbol": "X".repeat(21) }), "instrumentSymbol", "at most 20 characters"),
        (json!({ "dataSource": "d".repeat(51) }), "dataSource", "at most 50 characters"),
        (json!({ "strategyName": "nul\u{0}byte" }), "strategyName", "NUL"),
        (
            json!({ "dateRangeStart": "2024-01-02", "dateRangeEnd": "2024-01-01" }),
            "dateRangeEnd",
            "dateRangeEnd must not be before dateRangeStart",
        ),
        (
            json!({ "createdAt": "2025-01-02T00:00:00Z", "completedAt": "2025-01-01T23:59:59Z" }),
            "completedAt",
            "completedAt must not be before createdAt",
        ),
        (json!({ "durationSeconds": -5 }), "durationSeconds", "durationSeconds must not be negative"),
        (json!({ "initialCapital": "0" }), "initialCapital", "greater than 0"),
        (json!({ "initialCapital": "-100.00" }), "initialCapital", "greater than 0"),
        (json!({ "initialCapital": "100.001" }), "initialCapital", "at most 2 decimals"),
        (json!({ "initialCapital": "1000000000000000000" }), "initialCapital", "less than 10^18"),
        (json!({ "config": [1, 2] }), "config", "config must be a JSON object"),
        (json!({ "config": "fast=10" }), "config", "config must be a JSON object"),
        (json!({ "config": { "padding": huge } }), "config", "at most 1048576 bytes"),
        (json!({ "config": { "k": "a\u{0}b" } }), "config", "NUL"),
        (json!({ "errorMessage": "boom" }), "errorMessage", "only for FAILED or INTERRUPTED"),
        (json!({ "originalRunId": "00000000-0000-4000-8000-000000000000" }), "originalRunId", "must name a stored run"),
        (
            json!({ "id": "00000000-0000-4000-8000-000000000001", "originalRunId": "00000000-0000-4000-8000-000000000001" }),
            "originalRunId",
            "re-run of itself",
        ),
        (metrics(json!({ "sharpeRatio": 10000.0 })), "metrics.sharpeRatio", "less than 10000"),
        (metrics(json!({ "sortinoRatio": -12345.6 })), "metrics.sortinoRatio", "less than 10000"),
        (metrics(json!({ "totalReturn": 1.0e6 })), "metrics.totalReturn", "less than 1000000"),
        (metrics(json!({ "winRate": 1.5 })), "metrics.winRate", "between 0 and 1"),
        (metrics(json!({ "winRate": -0.01 })), "metrics.winRate", "between 0 and 1"),
        (metrics(json!({ "totalTrades": -1 })), "metrics.totalTrades", "must not be negative"),
        (metrics(json!({ "losingTrades": -1 })), "metrics.losingTrades", "must not be negative"),
        // The run row would be valid: its metrics are not, and the run must not be stored
        // without them.
        (
            metrics(json!({ "totalTrades": 10, "winningTrades": 6, "losingTrades": 5 })),
            "metrics.winningTrades",
            "must not exceed totalTrades",
        ),
        (metrics(json!({ "avgWinAmount": "10.005" })), "metrics.avgWinAmount", "at most 2 decimals"),
        (metrics(json!({ "avgLossAmount": "-1000000000000000000" })), "metrics.avgLossAmount", "less than 10^18"),
    ];
    for (overrides, field, message) in cases {
        let response = app.graphql(RECORD, json!({ "input": run_input(overrides.clone()) })).await;
        let shown = if response.to_string().len() > 600 { field.to_owned() } else { response.to_string() };
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{field}: {shown}");
        let error = &response["errors"][0];
        assert_eq!(error["extensions"]["field"], field, "{shown}");
        let text = error["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{field}: expected {message:?} in {text:?}");
        assert!(response["data"].is_null(), "{shown}");
    }
    assert_eq!(stored_runs(&app).await, 0, "no refused input left anything behind");
}

#[tokio::test]
async fn metrics_are_rounded_to_their_columns_and_edge_values_are_accepted() {
    let app = TestApp::spawn().await;
    let input = run_input(json!({
        "status": "INTERRUPTED", "errorMessage": "",
        "initialCapital": "0.01",
        "createdAt": "2025-03-01T00:00:00.1234567Z", "completedAt": "2025-03-01T00:00:00.1234567Z",
        "metrics": { "sharpeRatio": 1.23456, "sortinoRatio": -9999.9999, "winRate": 1.0, "totalReturn": -0.00004,
                     "totalTrades": 0, "winningTrades": 0, "losingTrades": 0, "avgWinAmount": "7.50" }
    }));
    let id = app.data(RECORD, json!({ "input": input.clone() })).await["recordBacktestRun"]["id"].clone();
    let run = app
        .data(
            "query($id: ID!) { backtestRun(id: $id) { createdAt initialCapital
                metrics { sharpeRatio sortinoRatio winRate totalReturn avgWinAmount } } }",
            json!({ "id": id }),
        )
        .await;
    let run = &run["backtestRun"];
    assert_eq!(run["createdAt"], "2025-03-01T00:00:00.123457+00:00", "microseconds, rounded");
    assert_eq!(run["initialCapital"], "0.01");
    assert_eq!(run["metrics"]["sharpeRatio"], 1.2346, "rounded half away from zero to 4 decimals");
    assert_eq!(run["metrics"]["sortinoRatio"], -9999.9999);
    assert_eq!(run["metrics"]["winRate"], 1.0);
    assert_eq!(run["metrics"]["totalReturn"], 0.0);
    assert_eq!(run["metrics"]["avgWinAmount"], "7.50");

    // What was stored is what a replay of the same input is compared with: no conflict.
    let mut again = input;
    again["id"] = id;
    let replay = app.graphql(RECORD, json!({ "input": again })).await;
    assert!(replay.get("errors").is_none(), "{replay}");
}

#[tokio::test]
async fn recording_an_existing_id_with_other_content_is_a_conflict() {
    let app = TestApp::spawn().await;
    let id = record(&app, json!({})).await;
    let response =
        app.graphql(RECORD, json!({ "input": run_input(json!({ "id": id, "strategyName": "Other" })) })).await;
    assert_eq!(error_codes(&response), ["CONFLICT"], "{response}");
    assert_eq!(response["errors"][0]["extensions"]["field"], "strategyName", "{response}");
    let with_metrics = app
        .graphql(RECORD, json!({ "input": run_input(json!({ "id": id, "metrics": { "sharpeRatio": 1.0 } })) }))
        .await;
    assert_eq!(error_codes(&with_metrics), ["CONFLICT"], "{with_metrics}");
    assert_eq!(with_metrics["errors"][0]["extensions"]["field"], "metrics");
    let run = app.data("query($id: ID!) { backtestRun(id: $id) { strategyName } }", json!({ "id": id })).await;
    assert_eq!(run["backtestRun"]["strategyName"], "SMA Crossover", "the stored run is unchanged");
}

#[tokio::test]
async fn replaying_a_recorded_run_returns_the_stored_run_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = "0193f2a4-7c1e-7b3a-9d2e-5f6a7b8c9d0e";
    let first = run_input(json!({
        "id": id, "initialCapital": "250000.00",
        "config": { "a": 1, "nested": { "x": [1, 2, { "y": null }], "z": 0.25 } },
        "metrics": { "sharpeRatio": 1.5, "avgWinAmount": "10.50" }
    }));
    let recorded = app.data(RECORD, json!({ "input": first })).await;
    let created = recorded["recordBacktestRun"]["createdAt"].clone();

    // A retry after a timeout: no createdAt (so "now" again), decimals and key order
    // spelled differently. Same run: the stored one comes back.
    let retry = run_input(json!({
        "id": id.to_uppercase(), "initialCapital": "250000",
        "config": { "nested": { "z": 0.250, "x": [1, 2, { "y": null }] }, "a": 1 },
        "metrics": { "avgWinAmount": "10.5", "sharpeRatio": 1.50 }
    }));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let replayed = app.data(RECORD, json!({ "input": retry })).await;
    assert_eq!(replayed["recordBacktestRun"]["id"], id);
    assert_eq!(replayed["recordBacktestRun"]["createdAt"], created, "the stored run, not a new one");
    assert_eq!(stored_runs(&app).await, 1);
}

#[tokio::test]
async fn concurrent_identical_records_store_one_run() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let input = run_input(json!({
        "id": "0193f2a4-7c1e-7b3a-9d2e-000000000001",
        "createdAt": "2025-02-01T00:00:00Z",
        "metrics": { "sharpeRatio": 0.75 }
    }));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let app = app.clone();
            let input = input.clone();
            tokio::spawn(async move { app.graphql(RECORD, json!({ "input": input })).await })
        })
        .collect();
    for task in tasks {
        let response = task.await.expect("task");
        assert!(response.get("errors").is_none(), "every identical request succeeds: {response}");
        assert_eq!(response["data"]["recordBacktestRun"]["id"], "0193f2a4-7c1e-7b3a-9d2e-000000000001");
    }
    assert_eq!(stored_runs(&app).await, 1);
    assert_eq!(app.db.count_rows("performance_metrics").await, 1);
}
