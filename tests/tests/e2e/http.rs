//! The endpoint as clients meet it over HTTP: media types and status codes (GraphQL over
//! HTTP), GET for queries only, CSRF-safe content types, body limit, persisted queries,
//! CORS and compression. graphql-http's own audits run in `clients`.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};
use tearsheet_api::config::{CorsOrigin, HttpArgs};
use tearsheet_tests::app::{WRITE_TOKEN, error_codes, serve_args};
use tearsheet_tests::{TestApp, TestDb};

use crate::support::record;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn json_of(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = response.json().await.expect("a JSON body");
    (status, content_type, body)
}

async fn post(app: &TestApp, accept: Option<&str>, body: Value) -> (u16, String, Value) {
    let mut request = client().post(app.url("/graphql")).json(&body);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    json_of(request.send().await.expect("request")).await
}

#[tokio::test]
async fn request_errors_are_400_without_data_for_the_new_media_type_and_200_for_json() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({ "query": "{ backtestRuns(first: 1) { nodes { id } }" }), "GRAPHQL_PARSE_FAILED"),
        (json!({ "query": "{ noSuchField }" }), "GRAPHQL_VALIDATION_FAILED"),
        (
            json!({ "query": "query($n: Int!) { backtestRuns(first: $n) { nodes { id } } }", "variables": { "n": "x" } }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (json!({ "query": "query A { __typename } query B { __typename }", "operationName": "C" }), "BAD_REQUEST"),
    ];
    for (body, code) in cases {
        let (status, content_type, response) = post(&app, Some(GRAPHQL_RESPONSE), body.clone()).await;
        assert_eq!(status, 400, "{body}: {response}");
        assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
        assert!(response.get("data").is_none(), "a request error has no data: {response}");
        let codes = error_codes(&response);
        assert!(!codes.is_empty() && codes.iter().all(|c| c == code), "{body}: {response}");

        let (status, content_type, response) = post(&app, Some("application/json"), body.clone()).await;
        assert_eq!(status, 200, "{body}: {response}");
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let codes = error_codes(&response);
        assert!(!codes.is_empty() && codes.iter().all(|c| c == code), "{body}: {response}");
    }
    // An executed request is 200 under both; with no Accept, JSON.
    let (status, content_type, response) = post(&app, None, json!({ "query": "{ __typename }" })).await;
    assert_eq!((status, response["data"]["__typename"].as_str()), (200, Some("Query")));
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let (status, _, response) = post(&app, Some("text/html"), json!({ "query": "{ __typename }" })).await;
    assert_eq!((status, error_codes(&response)), (406, vec!["NOT_ACCEPTABLE".to_owned()]));
}

/// Variable values are checked against their declared types on every request, before
/// anything runs: a request error naming the variable, whether or not the document has
/// been seen (and validated) before.
#[tokio::test]
async fn variables_are_validated_on_every_request_of_a_document() {
    let app = TestApp::spawn().await;
    let id = record(&app, json!({ "strategyName": "Validated" })).await;
    let query =
        "query($filter: BacktestRunFilter, $n: Int) { backtestRuns(first: $n, filter: $filter) { nodes { id } } }";
    let good = json!({ "filter": { "status": "SUCCESS", "strategyName": "Validated" }, "n": 5 });
    let bad = [
        json!({ "filter": { "status": "DONE" } }),
        json!({ "filter": { "strategy": "Validated" } }),
        json!({ "filter": "Validated" }),
        json!({ "n": "five" }),
        json!({ "filter": { "metrics": [{ "metric": "SHARPE_RATIO", "gte": "high" }] } }),
        json!({ "filter": { "metrics": [{ "gte": 1.0 }] } }),
    ];
    let required = "query($id: ID!) { backtestRun(id: $id) { id } }";
    let (status, _, response) = post(&app, Some(GRAPHQL_RESPONSE), json!({ "query": required })).await;
    assert_eq!((status, error_codes(&response)), (400, vec!["GRAPHQL_VALIDATION_FAILED".to_owned()]), "{response}");
    assert_eq!(response["errors"][0]["message"], r#"Variable "$id" of required type "ID!" was not provided."#);
    for round in 0..3 {
        let (status, _, response) = post(&app, None, json!({ "query": query, "variables": good })).await;
        assert_eq!((status, &response["data"]["backtestRuns"]["nodes"]), (200, &json!([{ "id": id }])), "{response}");
        for variables in &bad {
            // The same text (validated by now) and a text never seen before give one answer.
            let fresh = format!("{query} # {round} {variables}");
            let (_, _, first_time) =
                post(&app, Some(GRAPHQL_RESPONSE), json!({ "query": fresh, "variables": variables })).await;
            let (status, _, response) =
                post(&app, Some(GRAPHQL_RESPONSE), json!({ "query": query, "variables": variables })).await;
            assert_eq!(status, 400, "{variables}: {response}");
            assert_eq!(error_codes(&response), ["GRAPHQL_VALIDATION_FAILED"], "{variables}: {response}");
            assert_eq!(response["errors"][0]["message"], first_time["errors"][0]["message"], "{variables}");
            let message = response["errors"][0]["message"].as_str().unwrap_or_default();
            let name = variables.as_object().and_then(|o| o.keys().next()).expect("one variable");
            assert!(message.starts_with(&format!("Variable \"${name}\" got an invalid value")), "{message}");
        }
    }
}

/// Selections of one key merge (`edges { node { id } } edges { node { status } }`), though
/// objects are written as JSON text where a document merges none (`graphql::direct`).
#[tokio::test]
async fn selections_of_one_key_are_merged() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        let metrics = json!({ "totalReturn": 0.1 * f64::from(i), "sharpeRatio": 1.5 });
        record(&app, json!({ "strategyName": "Merged", "metrics": metrics })).await;
    }
    let page = |selection: &str| {
        format!(r#"{{ backtestRuns(first: 5, filter: {{ strategyName: "Merged" }}) {{ {selection} }} }}"#)
    };
    let merged = page(
        "edges { node { id } } edges { cursor node { status metrics { sharpeRatio } } } \
         edges { node { metrics { totalReturn } } } pageInfo { hasNextPage }",
    );
    let whole =
        page("edges { node { id status metrics { sharpeRatio totalReturn } } cursor } pageInfo { hasNextPage }");
    let (_, _, merged) = post(&app, None, json!({ "query": merged })).await;
    let (_, _, whole) = post(&app, None, json!({ "query": whole })).await;
    let edges = whole["data"]["backtestRuns"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 3, "{whole}");
    assert!(edges.iter().all(|e| e["node"]["metrics"]["totalReturn"].is_number() && e["cursor"].is_string()));
    assert_eq!(merged, whole);
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::spawn().await;
    let id = record(&app, json!({ "strategyName": "By GET" })).await;
    let response = client()
        .get(app.url("/graphql"))
        .query(&[
            ("query", "query One($id: ID!) { backtestRun(id: $id) { strategyName } }"),
            ("variables", &json!({ "id": id }).to_string()),
        ])
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .send()
        .await
        .expect("GET");
    let (status, _, body) = json_of(response).await;
    assert_eq!((status, &body["data"]["backtestRun"]["strategyName"]), (200, &json!("By GET")), "{body}");

    let mutation = format!("mutation {{ deleteBacktestRun(id: \"{id}\") {{ deletedId }} }}");
    let response = client()
        .get(app.url("/graphql"))
        .query(&[("query", mutation.as_str())])
        .bearer_auth(WRITE_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    let (status, _, body) = json_of(response).await;
    assert_eq!((status, error_codes(&body)), (405, vec!["METHOD_NOT_ALLOWED".to_owned()]));
    assert_eq!(app.db.count_rows("backtest_runs").await, 1, "the GET deleted nothing");
}

#[tokio::test]
async fn posts_a_browser_can_send_cross_site_are_refused_before_anything_runs() {
    let app = TestApp::spawn().await;
    let id = record(&app, json!({})).await;
    let body =
        json!({ "query": format!("mutation {{ deleteBacktestRun(id: \"{id}\") {{ deletedId }} }}") }).to_string();
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = client().post(app.url("/graphql")).bearer_auth(WRITE_TOKEN).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let (status, _, response) = json_of(request.send().await.expect("POST")).await;
        assert_eq!(status, 415, "{content_type:?}: {response}");
        assert_eq!(error_codes(&response), ["UNSUPPORTED_MEDIA_TYPE"]);
    }
    assert_eq!(app.db.count_rows("backtest_runs").await, 1, "nothing was deleted");
}

#[tokio::test]
async fn bodies_over_16_mib_bad_json_and_batches_are_refused_with_an_error_body() {
    let app = TestApp::spawn().await;
    let huge = format!("{{\"query\": \"{{ __typename }}\", \"variables\": {{\"pad\": \"{}\"}}}}", "x".repeat(17 << 20));
    let response = client()
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body(huge)
        .send()
        .await
        .expect("POST");
    let (status, _, body) = json_of(response).await;
    assert_eq!((status, error_codes(&body)), (413, vec!["PAYLOAD_TOO_LARGE".to_owned()]), "{body}");

    for bad in ["{\"query\": ", "[{\"query\": \"{ __typename }\"}]", "{\"query\": 7}", "{}"] {
        let response = client()
            .post(app.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, GRAPHQL_RESPONSE)
            .body(bad)
            .send()
            .await
            .expect("POST");
        let (status, _, body) = json_of(response).await;
        assert_eq!((status, error_codes(&body)), (400, vec!["BAD_REQUEST".to_owned()]), "{bad}: {body}");
    }
}

#[tokio::test]
async fn automatic_persisted_queries_let_a_client_send_the_hash_alone() {
    let app = TestApp::spawn().await;
    record(&app, json!({ "strategyName": "Persisted" })).await;
    let query = "{ backtestRuns(first: 1) { nodes { strategyName } } }";
    // sha256 of the query text, as Apollo's persisted-queries link computes it.
    let hash = sha256_hex(query).expect("sha256sum");
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });

    let (status, _, unknown) = post(&app, None, json!({ "extensions": extensions })).await;
    assert_eq!((status, error_codes(&unknown)), (200, vec!["PERSISTED_QUERY_NOT_FOUND".to_owned()]), "{unknown}");
    let (_, _, registered) = post(&app, None, json!({ "query": query, "extensions": extensions })).await;
    assert_eq!(registered["data"]["backtestRuns"]["nodes"][0]["strategyName"], "Persisted", "{registered}");
    let (_, _, by_hash) = post(&app, None, json!({ "extensions": extensions })).await;
    assert_eq!(by_hash["data"], registered["data"], "{by_hash}");
    // By GET, as Apollo Client sends hashed queries when told to.
    let response =
        client().get(app.url("/graphql")).query(&[("extensions", extensions.to_string())]).send().await.expect("GET");
    let (status, _, by_get) = json_of(response).await;
    assert_eq!((status, &by_get["data"]), (200, &registered["data"]), "{by_get}");
    // A hash that does not match the text is refused, not stored.
    let wrong = json!({ "persistedQuery": { "version": 1, "sha256Hash": "00".repeat(32) } });
    let (_, _, refused) = post(&app, None, json!({ "query": query, "extensions": wrong })).await;
    assert_eq!(error_codes(&refused), ["BAD_REQUEST"], "{refused}");
}

/// SHA-256 in hex by `sha256sum` (coreutils), so the test does not need a hashing crate.
pub(crate) fn sha256_hex(text: &str) -> Option<String> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let output = child.wait_with_output().ok()?;
    String::from_utf8(output.stdout).ok()?.split_whitespace().next().map(str::to_owned)
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app = TestApp::spawn_with(TestDb::migrated().await, |url| {
        let mut args = serve_args(url);
        args.http = HttpArgs {
            cors_origins: vec![CorsOrigin::Exact("https://dash.example.com".into())],
            ..HttpArgs::default()
        };
        args
    })
    .await;
    let preflight = |origin: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, authorization")
            .send()
    };
    let allowed = preflight("https://dash.example.com").await.expect("preflight");
    let header =
        |r: &reqwest::Response, name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header(&allowed, "access-control-allow-origin").as_deref(), Some("https://dash.example.com"));
    let headers = header(&allowed, "access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");
    let other = preflight("https://evil.example.net").await.expect("preflight");
    assert_eq!(header(&other, "access-control-allow-origin"), None, "another origin is not allowed");

    // Without configured origins, no CORS headers at all.
    let plain = TestApp::spawn().await;
    let response = client()
        .post(plain.url("/graphql"))
        .header("origin", "https://dash.example.com")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn responses_are_compressed_when_the_client_accepts_it() {
    let app = TestApp::spawn().await;
    for i in 0..30 {
        record(&app, json!({ "strategyName": format!("Compressible {i}"), "config": { "fast_period": i, "note": "same text ".repeat(20) } })).await;
    }
    let body = json!({ "query": "{ backtestRuns(first: 30) { nodes { id strategyName config } } }" });
    let send = |encoding: Option<&'static str>| {
        let mut request = client().post(app.url("/graphql")).json(&body);
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        request.send()
    };
    let plain = send(None).await.expect("POST");
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain_len = plain.bytes().await.expect("body").len();
    for encoding in ["gzip", "br"] {
        let response = send(Some(encoding)).await.expect("POST");
        assert_eq!(response.headers().get("content-encoding").and_then(|v| v.to_str().ok()), Some(encoding));
        let len = response.bytes().await.expect("body").len();
        assert!(len * 3 < plain_len, "{encoding}: {len} bytes against {plain_len} uncompressed");
    }
}
