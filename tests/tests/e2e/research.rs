//! Research features (contract-research.graphql), each against an oracle computed here
//! from the recorded inputs: SQL/JSON path and metric-range filters, and lineage.

use serde_json::{Value, json};
use tearsheet_tests::TestApp;
use tearsheet_tests::app::error_codes;

use crate::support::run_input;

const RECORD_MANY: &str = "mutation($inputs: [RecordBacktestRunInput!]!) {
    recordBacktestRuns(inputs: $inputs) { runs { id } }
}";

fn uuid(n: usize) -> String {
    format!("00000000-0000-7000-8000-{n:012x}")
}

fn created(n: usize) -> String {
    format!("2025-01-01T00:{:02}:{:02}Z", n / 60, n % 60)
}

/// 60 runs: `fast_period` 0..29 twice, a nested stop loss of 0.01/0.02/0.03, tags on
/// some, metrics on most (some NULL Sharpe), created one second apart.
fn research_inputs() -> Vec<Value> {
    (0..60)
        .map(|i| {
            let stop = [0.01, 0.02, 0.03][i % 3];
            let mut config = json!({ "fast_period": i % 30, "risk": { "stop": stop } });
            if i % 4 == 0 {
                config["tags"] = json!(["robust", format!("t{}", i % 8)]);
            }
            let metrics = match i % 7 {
                6 => Value::Null,
                5 => json!({ "totalReturn": (i as f64) / 100.0, "maxDrawdown": 0.1 }),
                _ => json!({ "sharpeRatio": ((i * 37) % 50) as f64 / 10.0 - 1.0, "totalReturn": (i as f64) / 100.0,
                              "maxDrawdown": ((i * 13) % 40) as f64 / 100.0 }),
            };
            let mut input = run_input(json!({
                "id": uuid(i),
                "createdAt": created(i),
                "strategyName": if i % 2 == 0 { "Even" } else { "Odd" },
                "config": config,
            }));
            if !metrics.is_null() {
                input["metrics"] = metrics;
            }
            input
        })
        .collect()
}

/// Every id of `backtestRuns` with `filter` and `order`, walking pages of 7.
async fn walk(app: &TestApp, filter: &Value, order: &Value) -> Vec<String> {
    let query = "query($f: BacktestRunFilter, $o: BacktestRunOrder, $after: String) {
        backtestRuns(first: 7, after: $after, filter: $f, orderBy: $o) {
            totalCount nodes { id } pageInfo { hasNextPage endCursor } } }";
    let mut ids = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.data(query, json!({ "f": filter, "o": order, "after": after })).await;
        let page = &data["backtestRuns"];
        ids.extend(page["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].as_str().expect("id").to_owned()));
        if page["pageInfo"]["hasNextPage"] != true {
            assert_eq!(page["totalCount"].as_u64(), Some(ids.len() as u64), "totalCount agrees with the walk");
            return ids;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

fn newest_first(inputs: &[&Value]) -> Vec<String> {
    let mut ids: Vec<(String, String)> = inputs
        .iter()
        .map(|i| (i["createdAt"].as_str().expect("t").to_owned(), i["id"].as_str().expect("id").to_owned()))
        .collect();
    ids.sort();
    ids.into_iter().rev().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn config_paths_filter_like_the_oracle_and_an_invalid_path_is_bad_input() {
    let app = TestApp::spawn().await;
    let inputs = research_inputs();
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let config = |i: &Value| i["config"].clone();
    type Oracle = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(&str, Oracle)> = vec![
        ("$.fast_period < 10", Box::new(|c: &Value| c["fast_period"].as_u64().is_some_and(|f| f < 10))),
        ("$.risk.stop == 0.02", Box::new(|c: &Value| c["risk"]["stop"] == json!(0.02))),
        (
            "$.fast_period >= 5 && $.fast_period <= 12 && $.risk.stop != 0.01",
            Box::new(|c: &Value| {
                c["fast_period"].as_u64().is_some_and(|f| (5..=12).contains(&f)) && c["risk"]["stop"] != json!(0.01)
            }),
        ),
        ("exists($.tags)", Box::new(|c: &Value| c.get("tags").is_some())),
        ("$.tags[*] == \"t4\"", Box::new(|c: &Value| c["tags"][1] == "t4")),
        ("$.fast_period == 999", Box::new(|_: &Value| false)),
    ];
    for (path, oracle) in &cases {
        let expected: Vec<&Value> = inputs.iter().filter(|i| oracle(&config(i))).collect();
        let got = walk(&app, &json!({ "configPath": path }), &Value::Null).await;
        assert_eq!(got, newest_first(&expected), "{path}");
        // Combined with another filter.
        let odd: Vec<&Value> = expected.iter().copied().filter(|i| i["strategyName"] == "Odd").collect();
        let got = walk(&app, &json!({ "configPath": path, "strategyName": "Odd" }), &Value::Null).await;
        assert_eq!(got, newest_first(&odd), "{path} and Odd");
    }
    let response = app
        .graphql("{ backtestRuns(filter: { configPath: \"$.fast_period <<< 3\" }) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{response}");
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["field"], "filter.configPath");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("jsonpath")),
        "PostgreSQL's reason is quoted: {error}"
    );
}

fn metric(input: &Value, name: &str) -> Option<f64> {
    input["metrics"][name].as_f64()
}

#[tokio::test]
async fn metric_ranges_filter_every_order_like_the_oracle() {
    let app = TestApp::spawn().await;
    let inputs = research_inputs();
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let ranges =
        json!([{ "metric": "SHARPE_RATIO", "gte": 0.5, "lte": 3.0 }, { "metric": "MAX_DRAWDOWN", "lte": 0.3 }]);
    let matches = |i: &&Value| {
        metric(i, "sharpeRatio").is_some_and(|s| (0.5..=3.0).contains(&s))
            && metric(i, "maxDrawdown").is_some_and(|d| d <= 0.3)
    };
    let expected: Vec<&Value> = inputs.iter().filter(matches).collect();
    assert!(expected.len() >= 5 && expected.len() < inputs.len() / 2, "a selective filter: {}", expected.len());
    // Newest first.
    assert_eq!(walk(&app, &json!({ "metrics": ranges }), &Value::Null).await, newest_first(&expected));
    // By Sharpe, highest first, ties by id descending.
    let mut by_sharpe: Vec<(f64, String)> = expected
        .iter()
        .map(|i| (metric(i, "sharpeRatio").expect("s"), i["id"].as_str().expect("id").to_owned()))
        .collect();
    by_sharpe.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    let order = json!({ "field": "SHARPE_RATIO", "direction": "DESC" });
    let got = walk(&app, &json!({ "metrics": ranges }), &order).await;
    assert_eq!(got, by_sharpe.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
    // A range with no bounds: the metric must exist.
    let with_sharpe: Vec<&Value> = inputs.iter().filter(|i| metric(i, "sharpeRatio").is_some()).collect();
    let got = walk(&app, &json!({ "metrics": [{ "metric": "SHARPE_RATIO" }] }), &Value::Null).await;
    assert_eq!(got, newest_first(&with_sharpe));
    // With a config path and the offset pages too.
    let both: Vec<&Value> = expected.iter().copied().filter(|i| i["config"]["risk"]["stop"] == json!(0.02)).collect();
    let page = app
        .data(
            "query($f: BacktestRunFilter) { backtestRunsPage(page: 1, pageSize: 100, filter: $f) { totalCount items { id } } }",
            json!({ "f": { "metrics": ranges, "configPath": "$.risk.stop == 0.02" } }),
        )
        .await;
    let ids: Vec<String> = page["backtestRunsPage"]["items"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, newest_first(&both));
}

const LINEAGE: &str = "query($id: ID!, $after: String) { backtestRun(id: $id) {
    ancestors { id }
    descendants(first: 4, after: $after) { totalCount nodes { id } pageInfo { hasNextPage endCursor } } } }";

/// Every descendant of `id`, walking pages of 4.
async fn descendants(app: &TestApp, id: String) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.data(LINEAGE, json!({ "id": id, "after": after })).await;
        let page = &data["backtestRun"]["descendants"];
        ids.extend(page["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].as_str().expect("id").to_owned()));
        if page["pageInfo"]["hasNextPage"] != true {
            assert_eq!(page["totalCount"].as_u64(), Some(ids.len() as u64));
            return ids;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn lineage_follows_a_chain_of_25_both_ways_and_survives_a_cycle() {
    let app = TestApp::spawn().await;
    // 0 <- 1 <- 2 <- ... <- 24 (each re-runs the one before), plus 30 and 31 re-running 3.
    let mut inputs: Vec<Value> = (0..25)
        .map(|i| {
            let mut input = run_input(json!({ "id": uuid(i), "createdAt": created(i) }));
            if i > 0 {
                input["originalRunId"] = json!(uuid(i - 1));
            }
            input
        })
        .collect();
    for i in [30, 31] {
        inputs.push(run_input(json!({ "id": uuid(i), "createdAt": created(i), "originalRunId": uuid(3) })));
    }
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;

    let ancestors = |data: &Value| -> Vec<String> {
        data["backtestRun"]["ancestors"]
            .as_array()
            .expect("ancestors")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_owned())
            .collect()
    };

    let data = app.data(LINEAGE, json!({ "id": uuid(24) })).await;
    assert_eq!(ancestors(&data), (0..24).rev().map(uuid).collect::<Vec<_>>(), "nearest first");
    let data = app.data(LINEAGE, json!({ "id": uuid(31) })).await;
    assert_eq!(ancestors(&data), vec![uuid(3), uuid(2), uuid(1), uuid(0)]);
    // Newest first: 31, 30, 24, 23, ..., 1.
    let mut expected: Vec<String> = vec![uuid(31), uuid(30)];
    expected.extend((1..25).rev().map(uuid));
    assert_eq!(descendants(&app, uuid(0)).await, expected);
    let mut of_three: Vec<String> = vec![uuid(31), uuid(30)];
    of_three.extend((4..25).rev().map(uuid));
    assert_eq!(descendants(&app, uuid(3)).await, of_three);
    assert_eq!(descendants(&app, uuid(24)).await, Vec::<String>::new());

    // A cycle, possible only through direct SQL: 0 re-runs 24. Both ways still end.
    let db = app.db.connect().await;
    use sea_orm::ConnectionTrait as _;
    db.execute_unprepared(&format!(
        "UPDATE backtest_runs SET original_run_id = '{}' WHERE id = '{}'",
        uuid(24),
        uuid(0)
    ))
    .await
    .expect("make a cycle");
    let data = app.data(LINEAGE, json!({ "id": uuid(5) })).await;
    let mut around: Vec<String> = (0..5).rev().map(uuid).collect();
    around.extend((6..25).rev().map(uuid));
    assert_eq!(ancestors(&data), around, "every other run of the cycle once, nearest first, not the run itself");
    let all = descendants(&app, uuid(5)).await;
    assert_eq!(all.len(), 26, "the whole cycle but the run itself, plus 30 and 31: {all:?}");
}
