//! Operating the server: `/metrics`, `--metrics-listen` and `tearsheet admin`.

use std::time::Duration;

use serde_json::{Value, json};
use tearsheet_api::store::seed::{self, SeedSpec};
use tearsheet_tests::TestDb;
use tearsheet_tests::app::{TestApp, tearsheet_bin};

/// The value of the sample `name{labels}` in Prometheus text (labels as rendered, in order).
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn post(app: &TestApp, body: Value) -> Value {
    reqwest::Client::new().post(app.url("/graphql")).json(&body).send().await.expect("POST").json().await.expect("json")
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_outcome_errors_by_code_sql_by_shape_and_pools() {
    // The recorder is per process and other tests run in this one: names unique to this
    // test, and counts compared before and after.
    let app = TestApp::spawn().await;
    for i in 0..3 {
        let input = crate::support::run_input(json!({ "strategyName": format!("metrics-{i}") }));
        app.data(crate::support::RECORD, json!({ "input": input })).await;
    }
    let before = app.get("/metrics").await.text().await.expect("text");
    let ok = "tearsheet_requests_total{operation=\"MetricsProbeList\",outcome=\"ok\"}";
    let rejected = "tearsheet_requests_total{operation=\"MetricsProbeInvalid\",outcome=\"rejected\"}";
    let page_sql = "tearsheet_sql_duration_seconds_count{shape=\"runs_page_by_created_at\",outcome=\"ok\"}";
    let invalid_code = "tearsheet_graphql_errors_total{code=\"GRAPHQL_VALIDATION_FAILED\"}";
    let base = |name: &str| sample(&before, name).unwrap_or(0.0);
    let (pages_before, invalid_before) = (base(page_sql), base(invalid_code));

    let list = "query MetricsProbeList { backtestRuns(first: 5) { nodes { id metrics { sharpeRatio } } } }";
    for _ in 0..4 {
        let response = post(&app, json!({ "query": list, "operationName": "MetricsProbeList" })).await;
        assert!(response.get("errors").is_none(), "{response}");
    }
    // Federation's `_entities` goes through the runs DataLoader.
    let id = app.data("{ backtestRuns(first: 1) { nodes { id } } }", json!({})).await["backtestRuns"]["nodes"][0]["id"]
        .clone();
    let entities = "query($r: [_Any!]!) { _entities(representations: $r) { ... on BacktestRun { id } } }";
    let response = app.data(entities, json!({ "r": [{ "__typename": "BacktestRun", "id": id }] })).await;
    assert_eq!(response["_entities"][0]["id"], id);
    let invalid = "query MetricsProbeInvalid { backtestRuns { noSuchField } }";
    let response = post(&app, json!({ "query": invalid, "operationName": "MetricsProbeInvalid" })).await;
    assert!(response.get("errors").is_some());

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.expect("text");
    assert_eq!(sample(&text, ok), Some(4.0), "{text}");
    assert_eq!(sample(&text, rejected), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "tearsheet_request_duration_seconds_count{operation=\"MetricsProbeList\",outcome=\"ok\"}"),
        Some(4.0),
        "a latency histogram per operation and outcome:\n{text}"
    );
    assert!(text.contains(
        "tearsheet_request_duration_seconds_bucket{operation=\"MetricsProbeList\",outcome=\"ok\",le=\"0.005\"}"
    ));
    assert_eq!(sample(&text, invalid_code).unwrap_or(0.0) - invalid_before, 1.0, "{text}");
    assert!(sample(&text, page_sql).unwrap_or(0.0) - pages_before >= 4.0, "one page statement per request:\n{text}");
    for gauge in [
        "tearsheet_db_pool_connections{pool=\"read\",state=\"idle\"}",
        "tearsheet_db_pool_connections{pool=\"write\",state=\"in_use\"}",
        "tearsheet_db_pool_waiting{pool=\"read\"}",
        "tearsheet_sql_statements_in_flight{pool=\"read\"}",
    ] {
        assert!(sample(&text, gauge).is_some(), "{gauge} missing:\n{text}");
    }
    assert_eq!(sample(&text, "tearsheet_db_pool_max_connections{pool=\"read\"}"), Some(4.0));
    assert_eq!(sample(&text, "tearsheet_database_up{pool=\"read\"}"), Some(1.0));
    assert_eq!(sample(&text, "tearsheet_database_up{pool=\"write\"}"), Some(1.0));
    assert!(
        sample(&text, "tearsheet_dataloader_batch_size_count{loader=\"runs\"}").is_some_and(|n| n >= 1.0),
        "DataLoader batch sizes:\n{text}"
    );
    assert!(text.contains("# HELP tearsheet_requests_total"), "metrics are described");
    // No embedded cluster here: no gauge claiming one.
    assert!(!text.contains("tearsheet_embedded_postgres_up "), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn metrics_listen_moves_metrics_off_the_api_port() {
    let db = TestDb::migrated().await;
    let (mut child, api, _log_rx, log) =
        crate::binary::serve_on(&db.url, &["--metrics-listen", "127.0.0.1:0"], &[]).await;
    let metrics = log
        .lines()
        .find(|l| l.contains("metrics listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .map(|a| a.trim().to_owned())
        .unwrap_or_else(|| panic!("no metrics address:\n{log}"));
    assert_eq!(reqwest::get(format!("http://{api}/metrics")).await.expect("GET").status(), 404, "not on the API port");
    let response = reqwest::get(format!("http://{metrics}/metrics")).await.expect("GET");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("text").contains("tearsheet_database_up{pool=\"read\"} 1"));
    assert_eq!(reqwest::get(format!("http://{metrics}/graphql")).await.expect("GET").status(), 404, "metrics only");
    let _ = child.kill().await;
}

fn admin(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(tearsheet_bin())
        .arg("admin")
        .args(args)
        .args(["--database-url", url])
        .output()
        .expect("run tearsheet admin")
}

#[tokio::test]
async fn admin_indexes_reports_every_index_with_its_status_as_a_table_and_as_json() {
    let db = TestDb::migrated().await;
    let out = admin(&db.url, &["indexes", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let indexes = report["indexes"].as_array().expect("indexes");
    let names: Vec<&str> = indexes.iter().filter_map(|i| i["index"].as_str()).collect();
    let conn = db.connect().await;
    let expected: Vec<String> = {
        use sea_orm::ConnectionTrait as _;
        let rows = conn
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT indexname::text FROM pg_indexes WHERE tablename IN ('backtest_runs', 'performance_metrics')",
            ))
            .await
            .expect("pg_indexes");
        rows.iter().map(|r| r.try_get_by_index::<String>(0).expect("name")).collect()
    };
    assert_eq!(names.len(), expected.len(), "{names:?} vs {expected:?}");
    for name in &expected {
        assert!(names.contains(&name.as_str()), "{name} missing from {names:?}");
    }
    // A fresh database: nothing scanned yet, and the primary keys are marked as needed anyway.
    let pkey = indexes.iter().find(|i| i["index"] == "backtest_runs_pkey").expect("pkey");
    assert_eq!(pkey["enforces_constraint"], true);
    for index in indexes {
        assert!(
            ["UNUSED", "HIGH READ RATIO", "HIGH_READ_RATIO", "OK"].contains(&index["status"].as_str().unwrap_or("?"))
        );
        assert!(index["index_bytes"].as_i64().unwrap_or(0) > 0, "{index}");
    }

    let out = admin(&db.url, &["indexes"]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let header = table.lines().next().unwrap_or_default();
    for column in ["table", "index", "scans", "tuples read", "tuples fetched", "size", "status"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(table.contains("UNUSED (constraint)"), "{table}");

    let out = admin(&db.url, &["analyze"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("analyzed backtest_runs") && said.contains("analyzed performance_metrics"), "{said}");
}

#[tokio::test]
async fn admin_explain_plans_every_pattern_on_the_servers_sql() {
    let db = TestDb::migrated().await;
    let out = admin(&db.url, &["explain", "newest"]);
    assert!(!out.status.success(), "an empty database has nothing to take parameters from");
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no runs"), "{}", String::from_utf8_lossy(&out.stderr));

    let conn = db.connect().await;
    seed::seed(&conn, SeedSpec::new(3_000, 3), |_| {}).await.expect("seed");
    let help = String::from_utf8_lossy(
        &std::process::Command::new(tearsheet_bin())
            .args(["admin", "explain", "--help"])
            .output()
            .expect("help")
            .stdout,
    )
    .into_owned();
    // Every pattern the help lists plans, without running (and one with ANALYZE).
    let patterns: Vec<String> =
        help.lines().filter_map(|l| l.trim().strip_prefix("- ")?.split(':').next().map(str::to_owned)).collect();
    assert!(patterns.len() >= 20, "{help}");
    for pattern in &patterns {
        let out = admin(&db.url, &["explain", pattern, "--no-analyze"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{pattern}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            ["-- SELECT", "-- WITH", "-- (SELECT"].iter().any(|start| stdout.starts_with(start)),
            "{pattern}: the SQL first:\n{stdout}"
        );
        assert!(stdout.contains("cost="), "{pattern}: a plan:\n{stdout}");
        assert!(!stdout.contains("actual time="), "{pattern}: not run");
    }
    let out = admin(&db.url, &["explain", "run-by-id"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Index Scan using backtest_runs_pkey"), "{stdout}");
    assert!(stdout.contains("actual time=") && stdout.contains("Buffers:"), "ANALYZE, BUFFERS by default:\n{stdout}");
}

/// A stand-in OpenTelemetry collector: every OTLP/JSON span posted to `/v1/traces`.
async fn collector() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                for resource in body["resourceSpans"].as_array().into_iter().flatten() {
                    assert_eq!(resource["resource"]["attributes"][0]["value"]["stringValue"], "tearsheet-test");
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        sink.lock().expect("lock").extend(scope["spans"].as_array().into_iter().flatten().cloned());
                    }
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("collector") });
    (format!("http://{addr}"), spans)
}

#[tokio::test]
async fn traces_go_to_an_otlp_collector_continuing_the_gateways_trace_without_variables_or_tokens() {
    let (endpoint, spans) = collector().await;
    let db = TestDb::migrated().await;
    let token = "otlp-token-never-exported";
    let args = ["--write-token", token, "--otlp-endpoint", &endpoint, "--otlp-service-name", "tearsheet-test"];
    let (mut child, api, _log_rx, _log) = crate::binary::serve_on(&db.url, &args, &[]).await;

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let gateway_span = "b7ad6b7169203331";
    let client = reqwest::Client::new();
    let input = crate::support::run_input(json!({ "strategyName": "variable-never-exported" }));
    let response = client
        .post(format!("http://{api}/graphql"))
        .bearer_auth(token)
        .header("traceparent", format!("00-{trace}-{gateway_span}-01"))
        .json(&json!({ "query": crate::support::RECORD, "variables": { "input": input } }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let id = response.json::<Value>().await.expect("json")["data"]["recordBacktestRun"]["id"].clone();
    // A lookup through a DataLoader: the batch runs on a task of its own, in the trace.
    let loader_trace = "1bf7651916cd43dd8448eb211c80319d";
    let entities = "query($r: [_Any!]!) { _entities(representations: $r) { ... on BacktestRun { id } } }";
    client
        .post(format!("http://{api}/graphql"))
        .header("traceparent", format!("00-{loader_trace}-{gateway_span}-01"))
        .json(&json!({ "query": entities, "variables": { "r": [{ "__typename": "BacktestRun", "id": id }] } }))
        .send()
        .await
        .expect("POST");
    // A request without trace context starts a trace of its own.
    client
        .post(format!("http://{api}/graphql"))
        .json(&json!({ "query": "{ backtestRuns(first: 2) { nodes { id } } }" }))
        .send()
        .await
        .expect("POST");

    // The exporter sends within a second of a quiet moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = spans.lock().expect("lock").clone();
        let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
        if names.iter().filter(|n| **n == "request").count() >= 3 || std::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let in_trace: Vec<&Value> = spans.iter().filter(|s| s["traceId"] == trace).collect();
    let request = in_trace.iter().find(|s| s["name"] == "request").unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(request["parentSpanId"], gateway_span, "the request span is the gateway span's child");
    assert_eq!(request["kind"], 2);
    let resolve = in_trace
        .iter()
        .find(|s| s["name"] == "graphql.resolve")
        .unwrap_or_else(|| panic!("a root-field span: {in_trace:#?}"));
    assert_eq!(resolve["parentSpanId"], request["spanId"]);
    let sql: Vec<&&Value> = in_trace.iter().filter(|s| s["name"] == "sql").collect();
    assert!(!sql.is_empty(), "SQL statement spans in the trace: {in_trace:#?}");
    assert!(sql.iter().all(|s| s["kind"] == 3));
    assert!(
        sql.iter().any(|s| s["attributes"].to_string().contains("insert_runs")),
        "statements carry their shape: {sql:#?}"
    );
    assert!(
        spans.iter().any(|s| s["traceId"] == loader_trace
            && s["name"] == "sql"
            && s["attributes"].to_string().contains("runs_by_ids")),
        "the DataLoader's statement is in its request's trace: {spans:#?}"
    );
    let other = spans
        .iter()
        .find(|s| s["name"] == "request" && s["traceId"] != trace && s["traceId"] != loader_trace)
        .expect("the request without trace context");
    assert!(other.get("parentSpanId").is_none(), "a new trace has no parent: {other}");
    let everything = serde_json::to_string(&spans).expect("json");
    for secret in [token, "variable-never-exported"] {
        assert!(!everything.contains(secret), "{secret} was exported");
    }
    let _ = child.kill().await;
}
