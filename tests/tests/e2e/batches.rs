//! `recordBacktestRuns`: up to 1000 runs in one transaction, all or nothing, each input
//! judged like a single record; and `deleteBacktestRun`.

use serde_json::{Value, json};
use tearsheet_tests::TestApp;
use tearsheet_tests::app::error_codes;

use crate::support::{record, run_input};

const RECORD_MANY: &str = "mutation($inputs: [RecordBacktestRunInput!]!) {
    recordBacktestRuns(inputs: $inputs) { runs { id strategyName originalRun { id } metrics { sharpeRatio } } }
}";

fn uuid(n: usize) -> String {
    format!("00000000-0000-7000-8000-{n:012x}")
}

/// `n` valid inputs with ids `uuid(0..n)`; every tenth re-runs the one before it.
fn inputs(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut input = run_input(json!({
                "id": uuid(i),
                "strategyName": format!("Batch {i}"),
                "config": { "fast_period": i % 50, "risk": { "stop": 0.02 } },
                "metrics": { "sharpeRatio": (i % 300) as f64 / 100.0, "totalTrades": 10, "winningTrades": 6, "losingTrades": 4 },
            }));
            if i % 10 == 9 {
                input["originalRunId"] = json!(uuid(i - 1));
            }
            input
        })
        .collect()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.db.count_rows(table).await
}

fn errors(response: &Value) -> Vec<(u64, String, String)> {
    response["errors"]
        .as_array()
        .map(|errors| {
            let mut out: Vec<(u64, String, String)> = errors
                .iter()
                .map(|e| {
                    (
                        e["extensions"]["index"].as_u64().unwrap_or(u64::MAX),
                        e["extensions"]["field"].as_str().unwrap_or_default().to_owned(),
                        e["extensions"]["code"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            out.sort();
            out
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_batch_of_1000_is_stored_in_order_with_a_few_statements() {
    let app = TestApp::spawn().await;
    let before = app.db.statements_sent().await;
    let data = app.data(RECORD_MANY, json!({ "inputs": inputs(1000) })).await;
    let sent = app.db.statements_sent().await - before;
    let runs = data["recordBacktestRuns"]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1000);
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run["id"], uuid(i), "inputs order");
        assert_eq!(run["metrics"]["sharpeRatio"], json!((i % 300) as f64 / 100.0));
        if i % 10 == 9 {
            assert_eq!(run["originalRun"]["id"], uuid(i - 1), "a re-run of a run earlier in the batch");
        }
    }
    assert_eq!((count(&app, "backtest_runs").await, count(&app, "performance_metrics").await), (1000, 1000));
    // BEGIN, the runs (in statements of RUNS_PER_STATEMENT), the metrics, the live-update
    // NOTIFY, COMMIT (+ the original runs' lookup for the response, answered by one batched
    // query): not a statement per run.
    let most = 7 + 1000_usize.div_ceil(tearsheet_api::store::record::RUNS_PER_STATEMENT) as i64;
    assert!(sent <= most, "a batch of 1000 took {sent} statements:\n{}", app.db.statement_log().await.join("\n"));
}

#[tokio::test]
async fn re_runs_of_runs_in_the_same_batch_are_stored_whatever_the_order_of_their_ids() {
    // Ids that fall as the batch goes on, so that an original sorts after its re-runs, and
    // the last input re-runs the first: they cannot go in the same INSERT statement.
    let app = TestApp::spawn().await;
    let ids: Vec<String> = (0..1000).map(|i| uuid(999 - i)).collect();
    let inputs: Vec<Value> = (0..1000)
        .map(|i| {
            let mut input = run_input(json!({ "id": ids[i], "strategyName": format!("Batch {i}") }));
            if i == 999 {
                input["originalRunId"] = json!(ids[0]);
            } else if i % 10 == 9 {
                input["originalRunId"] = json!(ids[i - 1]);
            }
            input
        })
        .collect();
    let data = app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let runs = data["recordBacktestRuns"]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1000);
    assert_eq!(runs[999]["originalRun"]["id"], ids[0].as_str());
    assert_eq!(runs[989]["originalRun"]["id"], ids[988].as_str());
    assert_eq!(count(&app, "backtest_runs").await, 1000);
}

#[tokio::test]
async fn recorded_configs_are_sent_back_only_when_the_response_shows_them() {
    let app = TestApp::spawn().await;
    // Not shown: the INSERT returns a placeholder, not the megabytes just sent.
    app.data(RECORD_MANY, json!({ "inputs": inputs(20) })).await;
    // The runs' RETURNING list (the statement inserts their metrics next, in `pm`).
    let returning = |sql: &String| {
        let runs = sql.split_once("RETURNING").map(|(_, r)| r).unwrap_or_default();
        runs.split_once("), pm AS").map(|(r, _)| r.to_owned()).unwrap_or_default()
    };
    let inserts = app.db.statements_like("WITH r AS (INSERT INTO backtest_runs%").await;
    assert_eq!(inserts.len(), 1, "{inserts:?}");
    assert!(returning(&inserts[0]).contains("AS config_snapshot"), "configs read back: {inserts:?}");

    // Shown, for new runs and replays in one batch: each is the config stored.
    let mut batch = inputs(25);
    batch[22]["config"] = json!({ "fast_period": 7, "b": [1, 2.5, { "c": null }], "a": "x" });
    let data = app
        .data(
            "mutation($inputs: [RecordBacktestRunInput!]!) { recordBacktestRuns(inputs: $inputs) { runs { id config } } }",
            json!({ "inputs": batch }),
        )
        .await;
    let runs = data["recordBacktestRuns"]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 25);
    for (run, input) in runs.iter().zip(&batch) {
        assert_eq!(run["config"], input["config"], "config of {}", run["id"]);
    }
    let inserts = app.db.statements_like("WITH r AS (INSERT INTO backtest_runs%").await;
    assert!(inserts.iter().any(|sql| !returning(sql).contains("AS config_snapshot")), "{inserts:?}");
}

#[tokio::test]
async fn one_bad_input_in_1000_stores_nothing_and_names_its_index_and_field() {
    let app = TestApp::spawn().await;
    let mut batch = inputs(1000);
    batch[637]["metrics"]["winRate"] = json!(1.7);
    let response = app.graphql(RECORD_MANY, json!({ "inputs": batch })).await;
    assert_eq!(errors(&response), [(637, "metrics.winRate".to_owned(), "BAD_USER_INPUT".to_owned())], "{response}");
    let message = response["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("inputs[637]: "), "{message}");
    assert!(response["data"].is_null());
    assert_eq!(count(&app, "backtest_runs").await, 0, "all or nothing");
}

#[tokio::test]
async fn every_bad_input_is_reported_and_originals_must_come_earlier() {
    let app = TestApp::spawn().await;
    let stored = record(&app, json!({})).await;
    let mut batch = inputs(20);
    batch[2]["strategyName"] = json!("");
    batch[5]["originalRunId"] = json!(uuid(7)); // later in the batch
    batch[8]["originalRunId"] = json!(stored); // stored before: fine
    batch[11]["dateRangeEnd"] = json!("2019-01-01");
    batch[14]["originalRunId"] = json!(uuid(999)); // nowhere
    let response = app.graphql(RECORD_MANY, json!({ "inputs": batch })).await;
    let bad = |i: u64, field: &str| (i, field.to_owned(), "BAD_USER_INPUT".to_owned());
    // Field rules are checked before anything touches the database…
    assert_eq!(errors(&response), [bad(2, "strategyName"), bad(11, "dateRangeEnd")], "{response}");

    batch[2]["strategyName"] = json!("Fixed");
    batch[11]["dateRangeEnd"] = json!("2024-01-01");
    let response = app.graphql(RECORD_MANY, json!({ "inputs": batch })).await;
    // … then the references.
    assert_eq!(errors(&response), [bad(5, "originalRunId"), bad(14, "originalRunId")], "{response}");
    assert_eq!(count(&app, "backtest_runs").await, 1, "only the run recorded first");
}

#[tokio::test]
async fn ids_repeated_or_already_stored_are_judged_like_single_records() {
    let app = TestApp::spawn().await;
    let first = inputs(3);
    app.data(RECORD_MANY, json!({ "inputs": first })).await;

    // The same three again plus two new ones, one of them twice: stored once each.
    let mut again = inputs(5);
    again.push(again[4].clone());
    let data = app.data(RECORD_MANY, json!({ "inputs": again })).await;
    let ids: Vec<&str> = data["recordBacktestRuns"]["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [uuid(0), uuid(1), uuid(2), uuid(3), uuid(4), uuid(4)]);
    assert_eq!(count(&app, "backtest_runs").await, 5);

    // A stored id with other content, and an id repeated with other content: conflicts,
    // each named by index; nothing of the batch is stored.
    let mut conflicting = inputs(8);
    conflicting[1]["strategyName"] = json!("Changed");
    conflicting.push(conflicting[6].clone());
    conflicting[8]["instrumentSymbol"] = json!("MSFT");
    let response = app.graphql(RECORD_MANY, json!({ "inputs": conflicting })).await;
    assert_eq!(
        errors(&response),
        [
            (1, "strategyName".to_owned(), "CONFLICT".to_owned()),
            (8, "instrumentSymbol".to_owned(), "CONFLICT".to_owned())
        ],
        "{response}"
    );
    assert_eq!(count(&app, "backtest_runs").await, 5, "runs 5 to 7 were not stored either");
}

/// `runs` recorded by `batches` concurrent requests, each in another order (every other
/// one reversed, then rotated by `k * rotate`); their responses.
async fn record_concurrently(
    app: &std::sync::Arc<TestApp>,
    runs: &[Value],
    batches: usize,
    rotate: usize,
) -> Vec<Value> {
    let tasks: Vec<_> = (0..batches)
        .map(|k| {
            let app = app.clone();
            let mut batch = runs.to_vec();
            if k % 2 == 1 {
                batch.reverse();
            }
            let by = k * rotate % batch.len().max(1);
            batch.rotate_left(by);
            tokio::spawn(async move { app.graphql(RECORD_MANY, json!({ "inputs": batch })).await })
        })
        .collect();
    let mut responses = Vec::with_capacity(batches);
    for task in tasks {
        responses.push(task.await.expect("task"));
    }
    responses
}

#[tokio::test]
async fn concurrent_overlapping_batches_neither_deadlock_nor_duplicate() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    // Re-runs dropped: their originals must come earlier, which a reversed order breaks.
    let all: Vec<Value> = inputs(200).into_iter().filter(|r| r.get("originalRunId").is_none()).collect();
    for response in record_concurrently(&app, &all, 6, 17).await {
        assert!(response.get("errors").is_none(), "{response}");
    }
    assert_eq!(count(&app, "backtest_runs").await, 180);
    assert_eq!(count(&app, "performance_metrics").await, 180);
}

#[tokio::test]
async fn concurrent_large_overlapping_batches_of_several_statements_are_all_stored_once() {
    // 600 runs (three INSERT statements each) with configs padded so that every body is
    // over 256 KiB: the batches run on the large-request thread, side by side, and take
    // the same runs' locks statement after statement.
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let all: Vec<Value> = inputs(600)
        .into_iter()
        .filter(|r| r.get("originalRunId").is_none())
        .map(|mut r| {
            r["config"]["notes"] = json!("x".repeat(400));
            r
        })
        .collect();
    assert!(json!({ "inputs": all }).to_string().len() > 256 * 1024, "large enough for the large-request thread");
    for response in record_concurrently(&app, &all, 4, 131).await {
        assert!(response.get("errors").is_none(), "{response}");
        assert_eq!(response["data"]["recordBacktestRuns"]["runs"].as_array().map(Vec::len), Some(all.len()));
    }
    assert_eq!(count(&app, "backtest_runs").await, all.len() as i64);
}

#[tokio::test]
async fn batch_sizes_outside_1_to_1000_are_refused() {
    let app = TestApp::spawn().await;
    for n in [0, 1001] {
        let response = app.graphql(RECORD_MANY, json!({ "inputs": inputs(n) })).await;
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{n}");
        let message = response["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("1 to 1000"), "{message}");
    }
    assert_eq!(count(&app, "backtest_runs").await, 0);
}

const DELETE: &str = "mutation($id: ID!) { deleteBacktestRun(id: $id) { deletedId } }";

#[tokio::test]
async fn deleting_a_run_takes_its_metrics_and_leaves_its_reruns_without_an_original() {
    let app = TestApp::spawn().await;
    app.data(RECORD_MANY, json!({ "inputs": inputs(10) })).await;
    let (original, rerun) = (uuid(8), uuid(9));

    let data = app.data(DELETE, json!({ "id": original.to_uppercase() })).await;
    assert_eq!(data["deleteBacktestRun"]["deletedId"], original.as_str());
    let read = app
        .data(
            "query($a: ID!, $b: ID!) { gone: backtestRun(id: $a) { id } rerun: backtestRun(id: $b) { id originalRun { id } } }",
            json!({ "a": original, "b": rerun }),
        )
        .await;
    assert_eq!(read["gone"], Value::Null);
    assert_eq!(read["rerun"], json!({ "id": rerun, "originalRun": null }));
    assert_eq!((count(&app, "backtest_runs").await, count(&app, "performance_metrics").await), (9, 9));

    let again = app.data(DELETE, json!({ "id": original })).await;
    assert_eq!(again["deleteBacktestRun"]["deletedId"], Value::Null, "an unknown id is not an error");
    let bad = app.graphql(DELETE, json!({ "id": "nope" })).await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"]);
}
