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
async fn invalid_runs_are_refused_with_the_field_named_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({ "dateRangeStart": "2024-01-02", "dateRangeEnd": "2024-01-01" }), "dateRangeEnd"),
        (json!({ "durationSeconds": -5 }), "durationSeconds"),
        (json!({ "id": "not-a-uuid" }), "id"),
        (json!({ "strategyName": "" }), "strategyName"),
        (json!({ "instrumentSymbol": "X".repeat(21) }), "instrumentSymbol"),
        (json!({ "config": [1, 2] }), "config"),
        (json!({ "originalRunId": "00000000-0000-4000-8000-000000000000" }), "originalRunId"),
        // The run row would be valid: its metrics are not, and the run must not be stored
        // without them.
        (json!({ "metrics": { "totalTrades": 10, "winningTrades": 6, "losingTrades": 5 } }), "metrics"),
        (json!({ "metrics": { "totalTrades": -1 } }), "metrics"),
    ];
    for (overrides, field) in cases {
        let response = app.graphql(RECORD, json!({ "input": run_input(overrides.clone()) })).await;
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{overrides}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{overrides}: {response}");
        assert!(response["data"].is_null(), "{response}");
    }
    assert_eq!(stored_runs(&app).await, 0, "no refused input left anything behind");
}

#[tokio::test]
async fn recording_an_existing_id_with_other_content_is_a_conflict() {
    let app = TestApp::spawn().await;
    let id = record(&app, json!({})).await;
    let response =
        app.graphql(RECORD, json!({ "input": run_input(json!({ "id": id, "strategyName": "Other" })) })).await;
    assert_eq!(error_codes(&response), ["CONFLICT"], "{response}");
    let run = app.data("query($id: ID!) { backtestRun(id: $id) { strategyName } }", json!({ "id": id })).await;
    assert_eq!(run["backtestRun"]["strategyName"], "SMA Crossover", "the stored run is unchanged");
}
