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

#[tokio::test]
async fn equal_inputs_share_a_config_hash_whatever_the_key_order_or_number_spelling() {
    let app = TestApp::spawn().await;
    let base = json!({ "fast_period": 10, "risk": { "stop": 1.5, "take": 2 }, "tags": ["a", "b"] });
    // The same inputs spelled differently: keys reordered, 1.5 as 1.50, 2 as 2.0.
    let respelled: Value =
        serde_json::from_str(r#"{"tags": ["a", "b"], "risk": {"take": 2.0, "stop": 1.50}, "fast_period": 10}"#)
            .expect("json");
    let variants = [
        (0, base.clone(), "AAPL", "2020-01-01"),
        (1, respelled, "AAPL", "2020-01-01"),
        (2, base.clone(), "MSFT", "2020-01-01"),
        (3, base.clone(), "AAPL", "2020-01-02"),
        (4, json!({ "fast_period": 10, "risk": { "stop": 1.5, "take": 2 }, "tags": ["b", "a"] }), "AAPL", "2020-01-01"),
        (5, base.clone(), "AAPL", "2020-01-01"),
    ];
    let inputs: Vec<Value> = variants
        .iter()
        .map(|(i, config, instrument, start)| {
            run_input(json!({ "id": uuid(*i), "createdAt": created(*i), "config": config,
                              "instrumentSymbol": instrument, "dateRangeStart": start }))
        })
        .collect();
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let data =
        app.data("{ backtestRuns(first: 10) { nodes { id configHash equivalentRuns { id } } } }", json!({})).await;
    let nodes = data["backtestRuns"]["nodes"].as_array().expect("nodes");
    let hash = |i: usize| nodes.iter().find(|n| n["id"] == uuid(i)).map(|n| n["configHash"].clone()).expect("run");
    assert!(hash(0).as_str().is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit())), "{}", hash(0));
    assert_eq!(hash(0), hash(1), "same inputs, spelled differently");
    assert_eq!(hash(0), hash(5));
    for other in [2, 3, 4] {
        assert_ne!(hash(0), hash(other), "run {other} has other inputs");
    }
    let equivalents = |i: usize| -> Vec<Value> {
        nodes.iter().find(|n| n["id"] == uuid(i)).expect("run")["equivalentRuns"]
            .as_array()
            .expect("list")
            .iter()
            .map(|r| r["id"].clone())
            .collect()
    };
    assert_eq!(equivalents(0), vec![json!(uuid(5)), json!(uuid(1))], "the others, newest first");
    assert_eq!(equivalents(2), Vec::<Value>::new());
}

/// A config of awkward JSON, deterministic in `state`: keys jsonb sorts by byte length
/// (`é` is two bytes), escapes, numbers of every spelling serde_json and numeric print
/// differently, nesting, empty containers, sometimes a `seed`.
fn awkward_config(state: &mut u64) -> Value {
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
    fn value(state: &mut u64, depth: u32) -> Value {
        const KEYS: [&str; 14] =
            ["", "a", "b", "ab", "ba", "é", "Z", "aa", "a\u{1}", "seed", "\"q\"", "日本", "k\\", "long_parameter"];
        const STRINGS: [&str; 8] =
            ["", "1.50", "tab\there", "nl\n\"q\"\\", "\u{1f}\u{7f}é日本", "x.0 }", "null", "b\u{8}f\u{c}r\r"];
        let numbers = [
            json!(0),
            json!(-7),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(0.1),
            json!(1.5),
            json!(2.0),
            json!(-0.0),
            json!(1e21),
            json!(1.5e-7),
            json!(1e300),
            json!(123456.789),
            json!(5e-324),
            json!(f64::MAX),
            json!(-2.5e-3),
        ];
        match next(state) % if depth >= 3 { 4 } else { 6 } {
            0 => numbers[(next(state) % numbers.len() as u64) as usize].clone(),
            1 => json!(STRINGS[(next(state) % STRINGS.len() as u64) as usize]),
            2 => [Value::Null, json!(true), json!(false)][(next(state) % 3) as usize].clone(),
            3 => numbers[(next(state) % numbers.len() as u64) as usize].clone(),
            4 => Value::Array((0..next(state) % 4).map(|_| value(state, depth + 1)).collect()),
            _ => Value::Object(
                (0..next(state) % 6)
                    .map(|_| (KEYS[(next(state) % KEYS.len() as u64) as usize].to_owned(), value(state, depth + 1)))
                    .collect(),
            ),
        }
    }
    let mut config = serde_json::Map::new();
    for _ in 0..1 + next(state) % 8 {
        let key = ["fast_period", "seed", "é", "ab", "risk", "", "日本", "x"][(next(state) % 8) as usize];
        config.insert(key.to_owned(), value(state, 1));
    }
    Value::Object(config)
}

#[tokio::test]
async fn server_computed_hashes_equal_postgresql_s() {
    use sea_orm::ConnectionTrait as _;
    let app = TestApp::spawn().await;
    let db = app.db.connect().await;
    // With the triggers off, a run stores only if the server supplied both hashes (they
    // are NOT NULL), and then each must equal the SQL functions' on the stored row.
    let hash_triggers = |action: &str| {
        format!(
            "ALTER TABLE backtest_runs {action} TRIGGER backtest_runs_config_hash, \
             {action} TRIGGER backtest_runs_config_hash_except_seed"
        )
    };
    db.execute_unprepared(&hash_triggers("DISABLE")).await.expect("disable triggers");
    let mut state = 0x9e37_79b9_7f4a_7c15;
    let inputs: Vec<Value> = (0..400)
        .map(|i| {
            run_input(json!({
                "id": uuid(i),
                "config": awkward_config(&mut state),
                "strategyName": (["SMA", "Mean réversion", "a\tb"][i % 3]),
                "instrumentSymbol": (["AAPL", "BTC-USD"][i % 2]),
                "dateRangeStart": (["1999-12-31", "2000-01-01", "2024-02-29"][i % 3]),
                "dateRangeEnd": "2025-01-01",
                "dataSource": (["polygon", "csv"][i % 2]),
            }))
        })
        .collect();
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS runs,
                    count(*) FILTER (WHERE config_hash <> tearsheet_config_hash(config_snapshot, strategy_name,
                        strategy_type, instrument_symbol, date_range_start, date_range_end, data_source)) AS bad,
                    count(*) FILTER (WHERE config_hash_except_seed
                        <> tearsheet_config_text_hash(config_snapshot - 'seed')) AS bad_except_seed,
                    count(DISTINCT config_hash) AS distinct_hashes
             FROM backtest_runs",
        ))
        .await
        .expect("query")
        .expect("row");
    let count = |c: &str| row.try_get::<i64>("", c).expect(c);
    assert_eq!(count("runs"), 400);
    assert_eq!((count("bad"), count("bad_except_seed")), (0, 0), "hashes that differ from PostgreSQL's");
    assert!(count("distinct_hashes") > 300, "the corpus is varied: {}", count("distinct_hashes"));

    // Writers that leave the hashes out get them from the triggers; an UPDATE recomputes.
    db.execute_unprepared(&hash_triggers("ENABLE")).await.expect("enable triggers");
    db.execute_unprepared(&format!(
        "INSERT INTO backtest_runs (id, status, strategy_name, strategy_type, instrument_symbol, date_range_start,
             date_range_end, initial_capital, data_source, config_snapshot)
         SELECT '{}', status, strategy_name, strategy_type, instrument_symbol, date_range_start, date_range_end,
             initial_capital, data_source, config_snapshot FROM backtest_runs WHERE id = '{}';
         UPDATE backtest_runs SET config_snapshot = config_snapshot || '{{\"fast_period\": 99, \"seed\": 1}}'
         WHERE id = '{}'",
        uuid(1000),
        uuid(7),
        uuid(8)
    ))
    .await
    .expect("write by SQL");
    let hashes = app
        .data(
            "query($a: ID!, $b: ID!, $c: ID!) { a: backtestRun(id: $a) { configHash }
               b: backtestRun(id: $b) { configHash } c: backtestRun(id: $c) { configHash config } }",
            json!({ "a": uuid(7), "b": uuid(1000), "c": uuid(8) }),
        )
        .await;
    assert_eq!(hashes["a"], hashes["b"], "the trigger computed the same hash for the copy");
    let check = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT config_hash = tearsheet_config_hash(config_snapshot, strategy_name, strategy_type,
                          instrument_symbol, date_range_start, date_range_end, data_source)
                      AND config_hash_except_seed = tearsheet_config_text_hash(config_snapshot - 'seed') AS fresh
                 FROM backtest_runs WHERE id = '{}'",
                uuid(8)
            ),
        ))
        .await
        .expect("query")
        .expect("row");
    assert!(check.try_get::<bool>("", "fresh").expect("fresh"), "an updated config got new hashes");
    assert_eq!(hashes["c"]["config"]["fast_period"], json!(99));
}

#[tokio::test]
async fn duplicate_run_sets_are_ordered_by_sharpe_spread_like_the_oracle() {
    let app = TestApp::spawn().await;
    // Set k (k = 0..6) has k + 2 runs of the same inputs; Sharpe varies by k within a set
    // (set 0: all equal; set 5: one run without metrics), plus 10 runs with unique inputs.
    let mut inputs = Vec::new();
    let mut n = 0;
    let mut expected: Vec<(Option<f64>, String, usize)> = Vec::new();
    for k in 0..6usize {
        let mut sharpes = Vec::new();
        for j in 0..k + 2 {
            let sharpe = 1.0 + (k * j) as f64 / 10.0;
            let mut input = run_input(json!({ "id": uuid(n), "createdAt": created(n), "config": { "set": k },
                                               "strategyName": if k % 2 == 0 { "Even" } else { "Odd" } }));
            if !(k == 5 && j == 0) {
                input["metrics"] = json!({ "sharpeRatio": sharpe });
                sharpes.push(sharpe);
            }
            inputs.push(input);
            n += 1;
        }
        let spread =
            sharpes.iter().copied().fold(f64::MIN, f64::max) - sharpes.iter().copied().fold(f64::MAX, f64::min);
        expected.push((Some(spread), format!("set {k}"), k + 2));
    }
    for u in 0..10 {
        inputs.push(run_input(json!({ "id": uuid(n), "createdAt": created(n), "config": { "unique": u } })));
        n += 1;
    }
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let query = "query($f: BacktestRunFilter) { duplicateRunSets(filter: $f, first: 100) {
        configHash sharpeSpread runs { id config } } }";
    let data = app.data(query, json!({})).await;
    let sets = data["duplicateRunSets"].as_array().expect("sets");
    assert_eq!(sets.len(), 6, "only sets of two or more: {sets:#?}");
    expected.sort_by(|a, b| b.0.unwrap_or(f64::MIN).total_cmp(&a.0.unwrap_or(f64::MIN)));
    let spreads: Vec<f64> = sets.iter().map(|s| s["sharpeSpread"].as_f64().expect("spread")).collect();
    let want: Vec<f64> = expected.iter().map(|e| e.0.expect("spread")).collect();
    for (got, want) in spreads.iter().zip(&want) {
        assert!((got - want).abs() < 1e-9, "spreads {spreads:?}, expected {want:?}");
    }
    for set in sets {
        let runs = set["runs"].as_array().expect("runs");
        let k = runs[0]["config"]["set"].as_u64().expect("set") as usize;
        assert_eq!(runs.len(), k + 2, "set {k} whole");
        assert!(runs.iter().all(|r| r["config"]["set"] == json!(k)), "one set's runs");
        let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().expect("id")).collect();
        let mut newest_first = ids.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(ids, newest_first, "newest first (ids grow with createdAt here)");
    }
    // A filter applies before grouping: only the odd sets (1, 3, 5).
    let data = app.data(query, json!({ "f": { "strategyName": "Odd" } })).await;
    let sets: Vec<u64> = data["duplicateRunSets"]
        .as_array()
        .expect("sets")
        .iter()
        .map(|s| s["runs"][0]["config"]["set"].as_u64().expect("set"))
        .collect();
    assert_eq!(sets, vec![5, 3, 1], "by spread: {sets:?}");
}

/// 48 runs for grouping: strategies A/B, `fast_period` 10/20, six seeds, two stop losses;
/// every 5th failed (no metrics), every 7th without a Sharpe ratio.
fn group_inputs() -> Vec<Value> {
    (0..48)
        .map(|i| {
            let (fast, stop) = ([10, 20][i % 2], [0.01, 0.02][i / 24]);
            let config = json!({ "fast_period": fast, "seed": i % 6, "risk": { "stop": stop } });
            let mut input = run_input(json!({
                "id": uuid(i), "createdAt": created(i),
                "strategyName": if i % 3 == 0 { "A" } else { "B" },
                "instrumentSymbol": if i % 4 < 2 { "AAPL" } else { "MSFT" },
                "config": config,
            }));
            if i % 5 == 4 {
                input["status"] = json!("FAILED");
                input["errorMessage"] = json!("boom");
            } else {
                let mut metrics =
                    json!({ "maxDrawdown": ((i * 7) % 30) as f64 / 100.0, "totalReturn": (i % 11) as f64 / 10.0 });
                if i % 7 != 3 {
                    metrics["sharpeRatio"] = json!(((i * 13) % 40) as f64 / 10.0 - 1.0);
                }
                input["metrics"] = metrics;
            }
            input
        })
        .collect()
}

/// count, mean, sample stddev, min, median (interpolated), max.
type Summary = (usize, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>);

fn summary(values: &mut [f64]) -> Summary {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return (0, None, None, None, None, None);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let stddev = (n > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    let pos = 0.5 * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let median = values[lo] + (pos - lo as f64) * (values[hi] - values[lo]);
    (n, Some(mean), stddev, Some(values[0]), Some(median), Some(values[n - 1]))
}

fn close(a: Option<f64>, b: &Value) -> bool {
    match (a, b.as_f64()) {
        (None, None) => b.is_null(),
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        _ => false,
    }
}

/// Checks every group of `runGroups` (keys of strategy name and `risk.stop`, statistics of
/// Sharpe and drawdown, the best run of each) against the same computed from `inputs`.
fn assert_oracle_groups(groups: &[Value], inputs: &[Value]) {
    let counts: Vec<u64> = groups.iter().map(|g| g["runCount"].as_u64().expect("n")).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "largest first: {counts:?}");
    for group in groups {
        let key = group["key"].as_object().expect("key");
        let members: Vec<&Value> = inputs
            .iter()
            .filter(|i| {
                key.iter().all(|(name, value)| match name.as_str() {
                    "strategyName" => i["strategyName"] == *value,
                    "instrumentSymbol" => i["instrumentSymbol"] == *value,
                    "risk.stop" => i["config"]["risk"]["stop"] == *value,
                    other => panic!("a key the oracle does not know: {other}"),
                })
            })
            .collect();
        let (strategy, stop) = (&key["strategyName"], key.get("risk.stop").or(key.get("instrumentSymbol")));
        assert_eq!(group["runCount"].as_u64(), Some(members.len() as u64), "{strategy} {stop:?}");
        let successes = members.iter().filter(|i| i["status"] == "SUCCESS").count() as f64;
        assert!(close(Some(successes / members.len() as f64), &group["successRate"]), "{group}");
        let summaries = group["metrics"].as_array().expect("metrics");
        assert_eq!(summaries.len(), 2, "only the metrics asked for");
        for (summary_json, (name, field)) in
            summaries.iter().zip([("SHARPE_RATIO", "sharpeRatio"), ("MAX_DRAWDOWN", "maxDrawdown")])
        {
            assert_eq!(summary_json["metric"], name);
            let mut values: Vec<f64> = members.iter().filter_map(|i| metric(i, field)).collect();
            let (n, mean, stddev, min, median, max) = summary(&mut values);
            assert_eq!(summary_json["count"].as_u64(), Some(n as u64), "{name} {summary_json}");
            for (want, key) in [(mean, "mean"), (stddev, "stddev"), (min, "min"), (median, "median"), (max, "max")] {
                assert!(
                    close(want, &summary_json[key]),
                    "{strategy} {stop:?} {name} {key}: want {want:?}, got {summary_json}"
                );
            }
        }
        // Best: highest Sharpe, lowest drawdown; ties to the smallest id.
        let best = |field: &str, lower: bool| -> Option<String> {
            let mut scored: Vec<(f64, &str)> =
                members.iter().filter_map(|i| metric(i, field).map(|v| (v, i["id"].as_str().expect("id")))).collect();
            scored.sort_by(|a, b| (if lower { a.0.total_cmp(&b.0) } else { b.0.total_cmp(&a.0) }).then(a.1.cmp(b.1)));
            scored.first().map(|(_, id)| (*id).to_owned())
        };
        assert_eq!(group["bestSharpe"]["id"].as_str().map(str::to_owned), best("sharpeRatio", false), "{group}");
        assert_eq!(group["bestDrawdown"]["id"].as_str().map(str::to_owned), best("maxDrawdown", true), "{group}");
    }
}

/// The groups of strategy × instrument come ordered by Sharpe's `statistic` in
/// `direction`, nulls last, ties by strategy and then instrument (assumes
/// `metrics(only: [SHARPE_RATIO, …])`).
fn assert_oracle_groups_in_order(groups: &[Value], statistic: &str, direction: &str) {
    let field = statistic.to_lowercase();
    let sort_key = |g: &Value| {
        let value = g["metrics"][0][field.as_str()].as_f64();
        let key =
            [&g["key"]["strategyName"], &g["key"]["instrumentSymbol"]].map(|v| v.as_str().expect("name").to_owned());
        (value, key)
    };
    for pair in groups.windows(2) {
        let ((a, ka), (b, kb)) = (sort_key(&pair[0]), sort_key(&pair[1]));
        let in_order = match (a, b) {
            (Some(a), Some(b)) if a == b => ka < kb,
            (Some(a), Some(b)) => (direction == "ASC") == (a < b),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => ka < kb,
        };
        assert!(in_order, "{statistic} {direction}: {:?} then {:?}", sort_key(&pair[0]), sort_key(&pair[1]));
    }
}

/// The two statements `runGroups` has for strategy × instrument (one aggregate per metric
/// over the pair indexes, m0012; one aggregate over everything) agree on seeded data with
/// re-runs, failed runs without metrics and 384 pairs of a few runs each, for every
/// order, limit, best run and name filter: exactly, but for means and deviations, whose
/// sums run in another order. (Ties for the best run are the oracle test's, below.)
#[tokio::test]
async fn both_statements_for_strategy_by_instrument_give_the_same_groups() {
    use tearsheet_api::store::groups::{self, GroupColumn, GroupOrder, GroupSpec, Statistic};
    use tearsheet_api::store::metrics::Metric;
    use tearsheet_api::store::query::Filter;
    use tearsheet_api::store::seed::{self, SeedSpec};
    let app = TestApp::spawn().await;
    let db = app.db.connect().await;
    seed::seed(&db, SeedSpec { runs: 3000, seed: 5, reruns_per_mille: 100 }, |_| {}).await.expect("seed");

    let mut specs = Vec::new();
    let base = GroupSpec::strategy_by_instrument();
    specs.push(base.clone());
    for statistic in
        [Statistic::RunCount, Statistic::Mean, Statistic::Median, Statistic::Stddev, Statistic::Min, Statistic::Max]
    {
        for descending in [false, true] {
            for metric in [Metric::SharpeRatio, Metric::MaxDrawdown, Metric::ProfitFactor] {
                let order = GroupOrder { statistic, metric: Some(metric), descending };
                specs.push(GroupSpec { order: Some(order), limit: 7, statistics: vec![Metric::Cagr], ..base.clone() });
            }
        }
    }
    specs.push(GroupSpec {
        grouping: groups::Grouping {
            columns: vec![GroupColumn::InstrumentSymbol, GroupColumn::StrategyName],
            ..groups::Grouping::default()
        },
        best: Metric::ALL.to_vec(),
        ..base.clone()
    });
    let (strategy, instrument) = {
        let rows = groups::groups(&db, &base).await.expect("groups");
        let key = &rows[0].key;
        (
            key["strategyName"].as_str().expect("name").to_owned(),
            key["instrumentSymbol"].as_str().expect("s").to_owned(),
        )
    };
    // Three runs of that pair tie for its best Sharpe and its best drawdown: the best run
    // is the smallest of their ids.
    let tied: Vec<uuid::Uuid> = {
        use sea_orm::ConnectionTrait as _;
        let tie = sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE performance_metrics SET sharpe_ratio = 9.5, max_drawdown = 0.0001 WHERE backtest_run_id IN (
               SELECT r.id FROM backtest_runs r JOIN performance_metrics m ON m.backtest_run_id = r.id
               WHERE r.strategy_name = $1 AND r.instrument_symbol = $2 ORDER BY r.created_at LIMIT 3)
             RETURNING backtest_run_id",
            [strategy.clone().into(), instrument.clone().into()],
        );
        let rows = db.query_all_raw(tie).await.expect("tie three runs");
        rows.iter().map(|r| r.try_get_by_index(0).expect("id")).collect()
    };
    assert_eq!(tied.len(), 3);
    let tied_pair = GroupSpec { best: vec![Metric::SharpeRatio, Metric::MaxDrawdown], ..base.clone() };
    let best = groups::groups(&db, &tied_pair).await.expect("groups");
    let group = best
        .iter()
        .find(|g| g.key["strategyName"] == strategy.as_str() && g.key["instrumentSymbol"] == instrument.as_str());
    let smallest = tied.iter().min().copied();
    let group = group.expect("the tied pair's group");
    assert_eq!(group.best, [(Metric::SharpeRatio, smallest), (Metric::MaxDrawdown, smallest)]);
    specs.push(tied_pair);
    for filter in [
        Filter { strategy_name: Some(strategy.clone()), ..Filter::default() },
        Filter { instrument_symbol: Some(instrument.clone()), ..Filter::default() },
        Filter { strategy_name: Some(strategy), instrument_symbol: Some(instrument), ..Filter::default() },
    ] {
        specs.push(GroupSpec { filter, best: vec![Metric::MaxDrawdown, Metric::SharpeRatio], ..base.clone() });
    }

    for spec in &specs {
        let pairs = groups::groups_from(&db, spec, groups::pair_sql(spec).expect("a pair statement"))
            .await
            .expect("pair groups");
        let single =
            groups::groups_from(&db, spec, groups::single_aggregate_sql(spec)).await.expect("single aggregate groups");
        assert!(!pairs.is_empty(), "{spec:?}");
        assert_eq!(pairs.len(), single.len(), "{spec:?}");
        for (p, s) in pairs.iter().zip(&single) {
            assert_eq!((&p.key, p.run_count, p.success_rate, &p.best), (&s.key, s.run_count, s.success_rate, &s.best));
            for (a, b) in p.stats.iter().zip(&s.stats) {
                assert_eq!((a.metric, a.count, a.min, a.median, a.max), (b.metric, b.count, b.min, b.median, b.max));
                for (x, y) in [(a.mean, b.mean), (a.stddev, b.stddev)] {
                    let close = match (x, y) {
                        (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                        (x, y) => x == y,
                    };
                    assert!(close, "{:?}: {x:?} against {y:?} in {:?}", a.metric, p.key);
                }
            }
        }
    }
}

#[tokio::test]
async fn run_groups_compute_every_statistic_like_the_oracle() {
    let app = TestApp::spawn().await;
    let inputs = group_inputs();
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let query = "query($g: RunGrouping!, $o: RunGroupOrder, $f: BacktestRunFilter) {
        runGroups(groupBy: $g, orderBy: $o, filter: $f) {
            key runCount successRate
            metrics(only: [SHARPE_RATIO, MAX_DRAWDOWN]) { metric count mean stddev min median max }
            bestSharpe: best(metric: SHARPE_RATIO) { id }
            bestDrawdown: best(metric: MAX_DRAWDOWN) { id } } }";
    // A config path makes the statement read the runs and their metrics; columns alone
    // read `run_facts` (m0011): both against the same oracle.
    // Strategy × instrument reads the pair indexes (m0012), one aggregate per metric.
    let pairs = json!({ "keys": ["STRATEGY_NAME", "INSTRUMENT_SYMBOL"] });
    let cases = [
        (
            json!({ "keys": ["STRATEGY_NAME"], "configPaths": [["risk", "stop"]] }),
            json!(null),
            4,
            "A/B x two stop losses",
        ),
        (json!({ "keys": ["STRATEGY_NAME"] }), json!(null), 2, "A/B"),
        (pairs.clone(), json!(null), 4, "A/B x AAPL/MSFT"),
        (json!({ "keys": ["INSTRUMENT_SYMBOL", "STRATEGY_NAME"] }), json!(null), 4, "AAPL/MSFT x A/B"),
        (pairs.clone(), json!({ "strategyName": "B" }), 2, "B x AAPL/MSFT"),
        (pairs.clone(), json!({ "strategyName": "B", "instrumentSymbol": "MSFT" }), 1, "B x MSFT"),
        (pairs.clone(), json!({ "strategyName": "nobody" }), 0, "no runs"),
    ];
    for (grouping, filter, count, what) in cases {
        let data = app.data(query, json!({ "g": grouping, "f": filter })).await;
        let groups = data["runGroups"].as_array().expect("groups");
        assert_eq!(groups.len(), count, "{what}: {groups:#?}");
        assert_oracle_groups(groups, &inputs);
    }
    // Ordered by a statistic: every statistic both ways, nulls last, ties by key.
    for statistic in ["MEAN", "MEDIAN", "STDDEV", "MIN", "MAX"] {
        for direction in ["ASC", "DESC"] {
            let order = json!({ "statistic": statistic, "metric": "SHARPE_RATIO", "direction": direction });
            let data = app.data(query, json!({ "g": pairs, "o": order })).await;
            let groups = data["runGroups"].as_array().expect("groups");
            assert_eq!(groups.len(), 4, "{statistic} {direction}");
            assert_oracle_groups_in_order(groups, statistic, direction);
        }
    }

    // Robustness across seeds: the config minus `seed`, ordered by mean Sharpe.
    let order = json!({ "statistic": "MEAN", "metric": "SHARPE_RATIO", "direction": "DESC" });
    let data = app.data(query, json!({ "g": { "configExcept": ["seed"] }, "o": order })).await;
    let groups = data["runGroups"].as_array().expect("groups");
    assert_eq!(groups.len(), 4, "fast_period x stop loss: {groups:#?}");
    let means: Vec<f64> = groups.iter().map(|g| g["metrics"][0]["mean"].as_f64().expect("mean")).collect();
    assert!(means.windows(2).all(|w| w[0] >= w[1]), "ordered by mean Sharpe: {means:?}");
    for group in groups {
        let config = &group["key"]["config"];
        assert!(config.get("seed").is_none(), "{config}");
        let members = inputs
            .iter()
            .filter(|i| i["config"]["fast_period"] == config["fast_period"] && i["config"]["risk"] == config["risk"])
            .count();
        assert_eq!(group["runCount"].as_u64(), Some(members as u64));
    }

    // Without `only`, every metric, in MetricField's order.
    let data = app.data("{ runGroups(groupBy: {}) { runCount metrics { metric } } }", json!({})).await;
    let metrics: Vec<&str> = data["runGroups"][0]["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| m["metric"].as_str().expect("metric"))
        .collect();
    assert_eq!(
        metrics,
        [
            "TOTAL_RETURN",
            "CAGR",
            "SHARPE_RATIO",
            "SORTINO_RATIO",
            "MAX_DRAWDOWN",
            "VOLATILITY",
            "WIN_RATE",
            "PROFIT_FACTOR"
        ]
    );
    assert_eq!(data["runGroups"][0]["runCount"].as_u64(), Some(inputs.len() as u64), "no keys: one group of all");
    // With no keys the best run is the best of all runs (lowest drawdown, ties to the
    // smallest id).
    let data = app.data("{ runGroups(groupBy: {}) { best(metric: MAX_DRAWDOWN) { id } } }", json!({})).await;
    let mut scored: Vec<(f64, &str)> =
        inputs.iter().filter_map(|i| metric(i, "maxDrawdown").map(|v| (v, i["id"].as_str().expect("id")))).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    assert!(scored.len() > 1 && scored[0].0 == scored[1].0, "the data has a tie for the lowest drawdown: {scored:?}");
    assert_eq!(data["runGroups"][0]["best"]["id"].as_str(), Some(scored[0].1));

    // A filter applies before grouping; an order needing a metric says so.
    let data = app.data(query, json!({ "g": { "keys": ["STATUS"] }, "f": { "strategyName": "A" } })).await;
    let total: u64 =
        data["runGroups"].as_array().expect("groups").iter().map(|g| g["runCount"].as_u64().expect("n")).sum();
    assert_eq!(total, inputs.iter().filter(|i| i["strategyName"] == "A").count() as u64);
    let response = app.graphql(query, json!({ "g": {}, "o": { "statistic": "MEAN", "direction": "DESC" } })).await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{response}");
}

/// The runs that groups and fronts name are read without their configs unless the
/// selection shows them: shown directly or through fragments, they are whole.
#[tokio::test]
async fn research_results_show_whole_runs_when_asked() {
    let app = TestApp::spawn().await;
    let inputs = group_inputs();
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let input = |run: &Value| {
        let id = run["id"].as_str().expect("id");
        inputs.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no input {id}")).clone()
    };
    let query = "fragment F on BacktestRun { config }
        { runGroups(groupBy: { keys: [STRATEGY_NAME] }) {
            key
            best(metric: SHARPE_RATIO) { id strategyName config }
            byFragment: best(metric: TOTAL_RETURN) { id ...F } }
          paretoFront(objectives: [{ metric: SHARPE_RATIO, goal: MAXIMIZE }, { metric: MAX_DRAWDOWN, goal: MINIMIZE }]) {
            id ... on BacktestRun { config } } }";
    let data = app.data(query, json!({})).await;
    let groups = data["runGroups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2, "strategies A and B: {groups:#?}");
    for group in groups {
        for best in [&group["best"], &group["byFragment"]] {
            assert!(best["config"].is_object(), "{group:#?}");
            assert_eq!(best["config"], input(best)["config"], "{group:#?}");
        }
        assert_eq!(group["best"]["strategyName"], group["key"]["strategyName"]);
    }
    let front = data["paretoFront"].as_array().expect("front");
    assert!(!front.is_empty());
    for run in front {
        assert!(run["config"].is_object(), "{run:#?}");
        assert_eq!(run["config"], input(run)["config"]);
    }
}

#[tokio::test]
async fn pareto_fronts_match_the_oracle_for_one_to_three_objectives() {
    let app = TestApp::spawn().await;
    let inputs = group_inputs();
    app.data(RECORD_MANY, json!({ "inputs": inputs })).await;
    let query = "query($o: [Objective!]!, $f: BacktestRunFilter) { paretoFront(objectives: $o, filter: $f) { id } }";
    let cases = [
        vec![("SHARPE_RATIO", "sharpeRatio", true)],
        vec![("SHARPE_RATIO", "sharpeRatio", true), ("MAX_DRAWDOWN", "maxDrawdown", false)],
        vec![("TOTAL_RETURN", "totalReturn", true), ("MAX_DRAWDOWN", "maxDrawdown", false)],
        vec![
            ("SHARPE_RATIO", "sharpeRatio", true),
            ("TOTAL_RETURN", "totalReturn", true),
            ("MAX_DRAWDOWN", "maxDrawdown", false),
        ],
        // Against the metric indexes' directions (at most one read by an index): the
        // extremes come with a central pruner, the best sum of the objectives.
        vec![
            ("SHARPE_RATIO", "sharpeRatio", true),
            ("TOTAL_RETURN", "totalReturn", false),
            ("MAX_DRAWDOWN", "maxDrawdown", true),
        ],
        vec![
            ("SHARPE_RATIO", "sharpeRatio", false),
            ("TOTAL_RETURN", "totalReturn", false),
            ("MAX_DRAWDOWN", "maxDrawdown", true),
        ],
    ];
    for objectives in &cases {
        for filter in [json!(null), json!({ "strategyName": "B" })] {
            // Points oriented so that larger is better; runs lacking a metric are out.
            let points: Vec<(Vec<f64>, String)> = inputs
                .iter()
                .filter(|i| filter.is_null() || i["strategyName"] == filter["strategyName"])
                .filter_map(|i| {
                    let values: Option<Vec<f64>> = objectives
                        .iter()
                        .map(|(_, field, maximize)| metric(i, field).map(|v| if *maximize { v } else { -v }))
                        .collect();
                    values.map(|v| (v, i["id"].as_str().expect("id").to_owned()))
                })
                .collect();
            let beats =
                |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y);
            let mut front: Vec<&(Vec<f64>, String)> =
                points.iter().filter(|p| !points.iter().any(|q| beats(&q.0, &p.0))).collect();
            // Best-first on each objective in turn, then by id.
            front.sort_by(|a, b| {
                a.0.iter()
                    .zip(&b.0)
                    .map(|(x, y)| y.total_cmp(x))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.1.cmp(&b.1))
            });
            let expected: Vec<String> = front.into_iter().map(|(_, id)| id.clone()).collect();
            let vars = json!({
                "o": objectives.iter().map(|(m, _, max)| json!({ "metric": m, "goal": if *max { "MAXIMIZE" } else { "MINIMIZE" } })).collect::<Vec<_>>(),
                "f": filter,
            });
            let data = app.data(query, vars).await;
            let got: Vec<String> = data["paretoFront"]
                .as_array()
                .expect("front")
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_owned())
                .collect();
            assert!(!expected.is_empty());
            assert_eq!(got, expected, "{objectives:?} with {filter}");
        }
    }
    for count in [0, 5] {
        let objectives: Vec<Value> = (0..count).map(|_| json!({ "metric": "CAGR", "goal": "MAXIMIZE" })).collect();
        let response = app.graphql(query, json!({ "o": objectives })).await;
        assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{count} objectives: {response}");
    }
}

#[tokio::test]
async fn grouping_across_seeds_treats_key_order_and_number_spelling_as_jsonb_equality_does() {
    let app = TestApp::spawn().await;
    // `2.0` and `2` are one number to jsonb equality, though PostgreSQL keeps each spelling.
    let configs = [
        r#"{"fast_period": 1.50, "seed": 1, "risk": {"stop": 2}}"#,
        r#"{"risk": {"stop": 2.0}, "seed": 2, "fast_period": 1.5}"#,
        r#"{"seed": 3, "fast_period": 1.5, "risk": {"stop": 2}}"#,
        r#"{"fast_period": 2, "seed": 1, "risk": {"stop": 2}}"#,
        r#"{"fast_period": 2, "risk": {"stop": 2}}"#,
    ];
    for config in configs {
        let mut input = run_input(json!({}));
        input["config"] = serde_json::from_str(config).expect("config");
        let body = format!(
            r#"{{"query": {}, "variables": {{"input": {}}}}}"#,
            serde_json::to_string(crate::support::RECORD).expect("query"),
            serde_json::to_string(&input).expect("input")
        );
        let response: Value = reqwest::Client::new()
            .post(app.url("/graphql"))
            .bearer_auth(tearsheet_tests::app::WRITE_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("json");
        assert!(response.get("errors").is_none(), "{response}");
    }
    // `best` puts the grouping expression (parameter included) in a window clause too.
    let query = "query($g: RunGrouping!) { runGroups(groupBy: $g) { key runCount best(metric: SHARPE_RATIO) { id } } }";
    // The stored hash (["seed"]) and the general path (the same list spelled twice is the
    // same grouping; ["seed", "nothing"] removes a key no config has) agree.
    for except in [json!(["seed"]), json!(["seed", "seed"]), json!(["seed", "nothing"])] {
        let data = app.data(query, json!({ "g": { "configExcept": except } })).await;
        let groups = data["runGroups"].as_array().expect("groups");
        let counts: Vec<u64> = groups.iter().map(|g| g["runCount"].as_u64().expect("count")).collect();
        assert_eq!(counts, [3, 2], "{except}: {groups:#?}");
        for group in groups {
            assert!(group["key"]["config"].get("seed").is_none(), "{group}");
            assert!(group["best"].is_null(), "no run has metrics: {group}");
        }
        assert_eq!(groups[0]["key"]["config"]["fast_period"].as_f64(), Some(1.5), "{groups:#?}");
    }
}

/// `paretoFront` prunes its scan by candidates read in a first statement; the scan may see
/// another snapshot (a run deleted in between, another replica). A pruner the scan does
/// not meet must not cost the front a run: the scan runs again without pruning.
#[tokio::test]
async fn a_pareto_pruner_missing_from_the_scan_leaves_the_front_whole() {
    use rust_decimal::Decimal;
    use tearsheet_api::store::metrics::Metric;
    use tearsheet_api::store::pareto::{Objective, extremes, front, front_pruned_by};
    use tearsheet_api::store::query::Filter;

    let app = TestApp::spawn().await;
    app.data(RECORD_MANY, json!({ "inputs": group_inputs() })).await;
    let db = app.db.connect().await;
    let objectives = [
        Objective { metric: Metric::SharpeRatio, maximize: true },
        Objective { metric: Metric::MaxDrawdown, maximize: false },
    ];
    let all = Filter::default();
    let expected = front(&db, &all, &objectives).await.expect("front");
    assert!(expected.len() > 1, "a front of several runs: {expected:?}");
    // Real candidates prune and leave the same front.
    let pruners = extremes(&db, &all, &objectives).await.expect("extremes");
    assert!(!pruners.is_empty());
    assert_eq!(front_pruned_by(&db, &all, &objectives, &pruners).await.expect("pruned"), expected);
    // A point no run has, beating every run: the scan alone would be empty.
    let best_sharpe = pruners.iter().map(|p| p[0]).max().expect("sharpe");
    let least_drawdown = pruners.iter().map(|p| p[1]).min().expect("drawdown");
    let phantom = vec![best_sharpe + Decimal::ONE, least_drawdown - Decimal::ONE];
    assert_eq!(front_pruned_by(&db, &all, &objectives, &[phantom]).await.expect("phantom"), expected);
}

/// `run_facts` (m0011), which `runGroups` reads when it needs no config, is kept by
/// triggers: whatever writes the runs or their metrics, through the API or SQL, in one
/// statement or several, the facts equal what they are derived from, and groups read from
/// them equal the same groups read from the runs and their metrics.
#[tokio::test]
async fn groups_read_from_run_facts_follow_every_write_whoever_makes_it() {
    use sea_orm::ConnectionTrait as _;
    let app = TestApp::spawn().await;
    let db = app.db.connect().await;
    let mismatches = || tearsheet_tests::run_facts_mismatches(&db);
    app.data(RECORD_MANY, json!({ "inputs": group_inputs() })).await;
    assert_eq!(mismatches().await, "0", "recorded through the API");

    let writes = [
        // A run and its metrics in one statement (as `tearsheet seed` writes): the two
        // tables' triggers fire at its end, in either order.
        format!(
            "WITH r AS (INSERT INTO backtest_runs (id, status, strategy_name, strategy_type, instrument_symbol,
                 date_range_start, date_range_end, initial_capital, data_source, config_snapshot, original_run_id)
               VALUES ('{}', 'success', 'C', 'trend', 'AAPL', '2020-01-01', '2021-01-01', 1000, 'csv',
                 '{{\"seed\": 1}}', '{}') RETURNING id)
             INSERT INTO performance_metrics (backtest_run_id, sharpe_ratio, max_drawdown)
             SELECT id, 2.5, 0.125 FROM r",
            uuid(100),
            uuid(0)
        ),
        format!(
            "UPDATE backtest_runs SET strategy_name = 'C', status = 'interrupted' WHERE id IN ('{}', '{}')",
            uuid(1),
            uuid(2)
        ),
        format!(
            "UPDATE performance_metrics SET sharpe_ratio = 9.75, total_return = NULL WHERE backtest_run_id = '{}'",
            uuid(3)
        ),
        format!("DELETE FROM performance_metrics WHERE backtest_run_id = '{}'", uuid(6)),
        // The re-run's original goes: the foreign key sets its `original_run_id` to null.
        format!("DELETE FROM backtest_runs WHERE id = '{}'", uuid(0)),
    ];
    for sql in &writes {
        db.execute_unprepared(sql).await.expect("write by SQL");
        assert_eq!(mismatches().await, "0", "after {sql}");
    }

    // The same groups from the facts and, with a filter only the runs can answer (every
    // config contains `{}`), from the runs and their metrics.
    let query = "query($f: BacktestRunFilter) {
        runGroups(groupBy: { keys: [STRATEGY_NAME, STATUS] }, filter: $f) {
            key runCount successRate
            metrics { metric count mean stddev min median max }
            sharpe: best(metric: SHARPE_RATIO) { id } drawdown: best(metric: MAX_DRAWDOWN) { id }
            returns: best(metric: TOTAL_RETURN) { id } } }";
    let from_facts = app.data(query, json!({})).await;
    let from_runs = app.data(query, json!({ "f": { "config": {} } })).await;
    // Sums of floats in another row order differ in their last bits.
    assert_same_up_to_rounding(&from_facts, &from_runs, "runGroups");
    // Strategy × instrument from the pair indexes (m0012), against the runs.
    let pairs_query = query.replace("STRATEGY_NAME, STATUS", "STRATEGY_NAME, INSTRUMENT_SYMBOL");
    let by_pairs = || async {
        let from_pairs = app.data(&pairs_query, json!({})).await;
        let from_runs = app.data(&pairs_query, json!({ "f": { "config": {} } })).await;
        assert_same_up_to_rounding(&from_pairs, &from_runs, "runGroups by strategy x instrument");
        from_pairs
    };
    let c = by_pairs().await["runGroups"].as_array().expect("groups").iter().any(|g| g["key"]["strategyName"] == "C");
    assert!(c, "a pair first met in an UPDATE groups its runs");
    let groups = from_facts["runGroups"].as_array().expect("groups");
    let c = groups.iter().filter(|g| g["key"]["strategyName"] == "C").map(|g| g["runCount"].as_u64().expect("n"));
    assert_eq!(c.sum::<u64>(), 3, "the SQL writes show: {groups:#?}");
    let total: u64 = groups.iter().map(|g| g["runCount"].as_u64().expect("n")).sum();
    assert_eq!(total, 48, "48 recorded, one inserted, one deleted");

    // Writes with the triggers off leave the facts behind; `admin refresh-facts` mends them.
    let both = |action: &str| {
        format!(
            "ALTER TABLE backtest_runs {action} TRIGGER USER; ALTER TABLE performance_metrics {action} TRIGGER USER"
        )
    };
    db.execute_unprepared(&both("DISABLE")).await.expect("disable triggers");
    db.execute_unprepared(&format!(
        "UPDATE performance_metrics SET sharpe_ratio = -3 WHERE backtest_run_id = '{}';
         DELETE FROM backtest_runs WHERE id = '{}';
         UPDATE backtest_runs SET strategy_name = 'D' WHERE id = '{}'",
        uuid(10),
        uuid(11),
        uuid(12)
    ))
    .await
    .expect("write with the triggers off");
    db.execute_unprepared(&both("ENABLE")).await.expect("enable triggers");
    assert_eq!(mismatches().await, "3", "one stale, one orphan, one stale");
    let out = std::process::Command::new(tearsheet_tests::app::tearsheet_bin())
        .args(["admin", "refresh-facts", "--database-url", &app.db.url])
        .output()
        .expect("run tearsheet admin refresh-facts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 rows written, 1 removed"), "{stdout}");
    assert_eq!(mismatches().await, "0", "after admin refresh-facts");
    let data = app.data(query, json!({})).await;
    let d = data["runGroups"].as_array().expect("groups").iter().any(|g| g["key"]["strategyName"] == "D");
    assert!(d, "groups read the mended facts: {data:#?}");
    let d = by_pairs().await["runGroups"].as_array().expect("groups").iter().any(|g| g["key"]["strategyName"] == "D");
    assert!(d, "the mended facts have their pairs");
}

/// `a` and `b` hold the same JSON but for numbers, which may differ by float rounding.
fn assert_same_up_to_rounding(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().expect("f64"), y.as_f64().expect("f64"));
            assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0), "{at}: {x} and {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: {a} and {b}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_same_up_to_rounding(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert!(x.keys().eq(y.keys()), "{at}: {a} and {b}");
            for (k, x) in x {
                assert_same_up_to_rounding(x, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}
