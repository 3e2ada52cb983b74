//! A corpus of bad requests: malformed, oversized, deeply nested, injected, mistyped,
//! unauthenticated. Each must get a well-formed answer (a 4xx with a GraphQL error body, a
//! 200 with `errors`, or for injection attempts an ordinary empty answer), never a 5xx,
//! and the server must answer a normal query right after every one of them.

use reqwest::Method;
use serde_json::{Value, json};
use tearsheet_tests::TestApp;
use tearsheet_tests::app::WRITE_TOKEN;

use crate::support::record;

enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

struct Case {
    name: String,
    method: Method,
    /// Query string for GET.
    url_query: Option<String>,
    content_type: Option<&'static str>,
    auth: Option<String>,
    accept: Option<&'static str>,
    body: Option<Body>,
    expect: Expect,
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// This status, with a GraphQL error body whose first error has this code.
    Refused(u16, &'static str),
    /// 200 with `errors`, the first of this code.
    Errors(&'static str),
    /// 200 with data and no errors (an injection attempt that is just a string).
    Harmless,
}

fn post(name: impl Into<String>, body: Value, expect: Expect) -> Case {
    Case {
        name: name.into(),
        method: Method::POST,
        url_query: None,
        content_type: Some("application/json"),
        auth: None,
        accept: None,
        body: Some(Body::Json(body)),
        expect,
    }
}

fn query(name: impl Into<String>, text: impl Into<String>, expect: Expect) -> Case {
    post(name, json!({ "query": text.into() }), expect)
}

fn with_vars(name: impl Into<String>, text: &str, variables: Value, expect: Expect) -> Case {
    post(name, json!({ "query": text, "variables": variables }), expect)
}

fn raw(name: impl Into<String>, content_type: Option<&'static str>, body: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        method: Method::POST,
        url_query: None,
        content_type,
        auth: None,
        accept: None,
        body: Some(Body::Raw(body)),
        expect,
    }
}

fn authed(mut case: Case, auth: &str) -> Case {
    case.auth = Some(auth.to_owned());
    case
}

const BAD_INPUT: Expect = Expect::Errors("BAD_USER_INPUT");
const INVALID: Expect = Expect::Errors("GRAPHQL_VALIDATION_FAILED");
const UNPARSED: Expect = Expect::Errors("GRAPHQL_PARSE_FAILED");
const LIMIT: Expect = Expect::Errors("LIMIT_EXCEEDED");
const REFUSED_400: Expect = Expect::Refused(400, "BAD_REQUEST");
const WRONG_TYPE: Expect = Expect::Refused(415, "UNSUPPORTED_MEDIA_TYPE");

const LIST: &str = "query($f: BacktestRunFilter) { backtestRuns(first: 5, filter: $f) { nodes { id } } }";
const RECORD: &str = "mutation($input: RecordBacktestRunInput!) { recordBacktestRun(input: $input) { id } }";

fn record_input(overrides: Value) -> Value {
    let mut input = crate::support::run_input(json!({}));
    for (k, v) in overrides.as_object().expect("object") {
        input[k] = v.clone();
    }
    input
}

fn corpus() -> Vec<Case> {
    let nest = |n: usize| format!("{{ {}b{} }}", "a { ".repeat(n), " }".repeat(n));
    let mut cases = vec![
        // Malformed JSON and bodies.
        raw("empty body", Some("application/json"), Vec::new(), REFUSED_400),
        raw("truncated JSON", Some("application/json"), b"{\"query\": ".to_vec(), REFUSED_400),
        raw("not JSON at all", Some("application/json"), b"query { __typename }".to_vec(), REFUSED_400),
        raw("trailing comma", Some("application/json"), b"{\"query\": \"{ __typename }\",}".to_vec(), REFUSED_400),
        raw("JSON null", Some("application/json"), b"null".to_vec(), REFUSED_400),
        raw("JSON string", Some("application/json"), b"\"{ __typename }\"".to_vec(), REFUSED_400),
        raw(
            "invalid UTF-8 in the body",
            Some("application/json"),
            b"{\"query\": \"{ \xff\xfe }\"}".to_vec(),
            REFUSED_400,
        ),
        raw(
            "a lone surrogate escape",
            Some("application/json"),
            br#"{"query": "{ __typename } # \ud800"}"#.to_vec(),
            REFUSED_400,
        ),
        raw("batch (JSON array)", Some("application/json"), br#"[{"query": "{ __typename }"}]"#.to_vec(), REFUSED_400),
        raw("17 MiB body", Some("application/json"), vec![b' '; 17 << 20], Expect::Refused(413, "PAYLOAD_TOO_LARGE")),
        // Content types a browser sends cross-site, and others.
        raw("text/plain", Some("text/plain"), br#"{"query": "{ __typename }"}"#.to_vec(), WRONG_TYPE),
        raw("form", Some("application/x-www-form-urlencoded"), b"query=%7B__typename%7D".to_vec(), WRONG_TYPE),
        raw("multipart", Some("multipart/form-data; boundary=x"), b"--x--".to_vec(), WRONG_TYPE),
        raw("no content type", None, br#"{"query": "{ __typename }"}"#.to_vec(), WRONG_TYPE),
        raw("application/graphql", Some("application/graphql"), b"{ __typename }".to_vec(), WRONG_TYPE),
        raw(
            "latin-1 JSON",
            Some("application/json; charset=latin1"),
            br#"{"query": "{ __typename }"}"#.to_vec(),
            WRONG_TYPE,
        ),
        // Request shape.
        post("query is a number", json!({ "query": 7 }), REFUSED_400),
        post("no query", json!({ "variables": {} }), REFUSED_400),
        post("variables is a list", json!({ "query": "{ __typename }", "variables": [1] }), REFUSED_400),
        post("variables is a string", json!({ "query": "{ __typename }", "variables": "{}" }), REFUSED_400),
        post("extensions is a number", json!({ "query": "{ __typename }", "extensions": 5 }), REFUSED_400),
        post("operationName is a number", json!({ "query": "{ __typename }", "operationName": 5 }), REFUSED_400),
        post(
            "bad persisted query",
            json!({ "extensions": { "persistedQuery": { "version": 2 } } }),
            Expect::Errors("BAD_REQUEST"),
        ),
        // GraphQL documents.
        query(
            "10,000 aliases",
            format!("{{ {} }}", (0..10_000).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ")),
            LIMIT,
        ),
        query("200-level nesting", nest(200), LIMIT),
        query("100,000-level nesting", nest(100_000), LIMIT),
        query("fragment cycle", "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", LIMIT),
        query("fragment spreads itself", "{ ...A } fragment A on Query { __typename ...A }", LIMIT),
        query("1,000 root fields", format!("{{ {} }}", "__typename ".repeat(1000)), LIMIT),
        query(
            "connections nested 100 x 100",
            "{ backtestRuns(first: 100) { nodes { reruns(first: 100) { nodes { id strategyName } } } } }",
            LIMIT,
        ),
        query(
            "too deep",
            "{ backtestRuns { nodes { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { originalRun { id } } } } } } } } } } } } } } } } }",
            LIMIT,
        ),
        query("a directive 1,000 times", format!("{{ __typename {} }}", "@skip(if: false) ".repeat(1000)), LIMIT),
        query("unknown field", "{ backtestRuns { nodes { password } } }", INVALID),
        query("unknown argument", "{ backtestRuns(where: \"1=1\") { nodes { id } } }", INVALID),
        query("unclosed brace", "{ backtestRuns { nodes { id }", UNPARSED),
        query("NUL in the query text", "{ __typename \u{0} }", UNPARSED),
        query("one line of 2 MB", format!("{{ {}", "x ".repeat(1 << 20)), UNPARSED),
        query("subscription", "subscription { runs }", INVALID),
        post(
            "unknown operation name",
            json!({ "query": "query A { __typename }", "operationName": "B" }),
            Expect::Errors("BAD_REQUEST"),
        ),
        query(
            "two operations, no name",
            "query A { __typename } query B { __typename }",
            Expect::Errors("BAD_REQUEST"),
        ),
        query("Int overflow", "{ backtestRuns(first: 2147483648) { nodes { id } } }", INVALID),
        // Variables.
        with_vars(
            "wrong variable type",
            "query($n: Int) { backtestRuns(first: $n) { nodes { id } } }",
            json!({ "n": "ten" }),
            INVALID,
        ),
        // A request error, as the GraphQL spec's CoerceVariableValues has it (async-graphql
        // alone raised it while resolving).
        with_vars("missing required variable", "query($id: ID!) { backtestRun(id: $id) { id } }", json!({}), INVALID),
        with_vars("string for an input object", LIST, json!({ "f": "SUCCESS" }), INVALID),
        with_vars(
            "null for a required variable",
            "query($id: ID!) { backtestRun(id: $id) { id } }",
            json!({ "id": null }),
            INVALID,
        ),
        with_vars(
            "object for a scalar",
            "query($id: ID!) { backtestRun(id: $id) { id } }",
            json!({ "id": { "a": 1 } }),
            INVALID,
        ),
        with_vars("unknown enum value", LIST, json!({ "f": { "status": "SUCCESS' --" } }), INVALID),
        // Values the resolvers refuse.
        query("id is not a UUID", "{ backtestRun(id: \"1 OR 1=1\") { id } }", BAD_INPUT),
        query("empty id", "{ backtestRun(id: \"\") { id } }", BAD_INPUT),
        query("cursor is not base64", "{ backtestRuns(after: \"!!!\") { nodes { id } } }", BAD_INPUT),
        query("cursor of junk", "{ backtestRuns(after: \"aGVsbG8gd29ybGQ\") { nodes { id } } }", BAD_INPUT),
        query("first is negative", "{ backtestRuns(first: -1) { nodes { id } } }", BAD_INPUT),
        query("first is a million", "{ backtestRuns(first: 1000000) { nodes { id } } }", BAD_INPUT),
        query("page 0", "{ backtestRunsPage(page: 0, pageSize: 10) { totalCount } }", BAD_INPUT),
        query("page beyond 10,000 rows", "{ backtestRunsPage(page: 1000, pageSize: 100) { totalCount } }", BAD_INPUT),
        query("date in words", "{ backtestRuns(filter: { createdAfter: \"yesterday\" }) { nodes { id } } }", BAD_INPUT),
        query(
            "impossible date",
            "{ backtestRuns(filter: { createdAfter: \"2024-13-45T00:00:00Z\" }) { nodes { id } } }",
            BAD_INPUT,
        ),
        with_vars("config filter is a list", LIST, json!({ "f": { "config": [1] } }), BAD_INPUT),
        query(
            "11 ids to compare",
            format!(
                "{{ compareBacktestRuns(ids: [{}]) {{ missingIds }} }}",
                (0..11).map(|i| format!("\"00000000-0000-7000-8000-{i:012}\"")).collect::<Vec<_>>().join(",")
            ),
            BAD_INPUT,
        ),
        query(
            "101 ids to compare",
            format!(
                "{{ compareBacktestRuns(ids: [{}]) {{ missingIds }} }}",
                (0..101).map(|_| "\"00000000-0000-7000-8000-000000000001\"").collect::<Vec<_>>().join(",")
            ),
            BAD_INPUT,
        ),
        with_vars("NUL in a string filter", LIST, json!({ "f": { "strategyName": "a\u{0}b" } }), BAD_INPUT),
        with_vars("NUL in the config filter", LIST, json!({ "f": { "config": { "k\u{0}": 1 } } }), BAD_INPUT),
        // Injection attempts are strings like any other.
        with_vars("SQL in strategyName", LIST, json!({ "f": { "strategyName": "x' OR '1'='1" } }), Expect::Harmless),
        with_vars(
            "SQL in strategyType",
            LIST,
            json!({ "f": { "strategyType": "'; DROP TABLE backtest_runs; --" } }),
            Expect::Harmless,
        ),
        with_vars(
            "SQL in instrumentSymbol",
            LIST,
            json!({ "f": { "instrumentSymbol": "AAPL\" OR 1=1 --" } }),
            Expect::Harmless,
        ),
        with_vars(
            "SQL in a config value",
            LIST,
            json!({ "f": { "config": { "fast_period": "1; DELETE FROM backtest_runs" } } }),
            Expect::Harmless,
        ),
        with_vars(
            "SQL in a config key",
            LIST,
            json!({ "f": { "config": { "fast_period'); DROP TABLE backtest_runs; --": 1 } } }),
            Expect::Harmless,
        ),
        with_vars(
            "SQL in a hot config key's nested value",
            LIST,
            json!({ "f": { "config": { "slow_period": { "$ne": null } } } }),
            Expect::Harmless,
        ),
        // Writes: validation, and tokens.
        authed(
            with_vars(
                "decimal that is not a number",
                RECORD,
                json!({ "input": record_input(json!({ "initialCapital": "abc" })) }),
                BAD_INPUT,
            ),
            &format!("Bearer {WRITE_TOKEN}"),
        ),
        authed(
            with_vars(
                "decimal of 1e400",
                RECORD,
                json!({ "input": record_input(json!({ "initialCapital": "1e400" })) }),
                BAD_INPUT,
            ),
            &format!("Bearer {WRITE_TOKEN}"),
        ),
        authed(
            with_vars(
                "negative capital",
                RECORD,
                json!({ "input": record_input(json!({ "initialCapital": "-5" })) }),
                BAD_INPUT,
            ),
            &format!("Bearer {WRITE_TOKEN}"),
        ),
        authed(
            with_vars(
                "30 February",
                RECORD,
                json!({ "input": record_input(json!({ "dateRangeStart": "2024-02-30" })) }),
                BAD_INPUT,
            ),
            &format!("Bearer {WRITE_TOKEN}"),
        ),
        authed(
            with_vars(
                "NUL in a recorded name",
                RECORD,
                json!({ "input": record_input(json!({ "strategyName": "a\u{0}" })) }),
                BAD_INPUT,
            ),
            &format!("Bearer {WRITE_TOKEN}"),
        ),
        authed(
            with_vars(
                "config is a string",
                RECORD,
                json!({ "input": record_input(json!({ "config": "{}" })) }),
                BAD_INPUT,
            ),
            &format!("Bearer {WRITE_TOKEN}"),
        ),
        with_vars(
            "mutation without a token",
            RECORD,
            json!({ "input": record_input(json!({})) }),
            Expect::Errors("UNAUTHENTICATED"),
        ),
        authed(
            with_vars("wrong token", RECORD, json!({ "input": record_input(json!({})) }), Expect::Errors("FORBIDDEN")),
            "Bearer not-the-token-0123456789",
        ),
        authed(
            with_vars(
                "empty bearer",
                RECORD,
                json!({ "input": record_input(json!({})) }),
                Expect::Errors("UNAUTHENTICATED"),
            ),
            "Bearer ",
        ),
        authed(
            with_vars(
                "basic auth",
                RECORD,
                json!({ "input": record_input(json!({})) }),
                Expect::Errors("UNAUTHENTICATED"),
            ),
            "Basic dXNlcjpwYXNz",
        ),
    ];
    // Methods.
    let mut get = query("mutation by GET", "", Expect::Refused(405, "METHOD_NOT_ALLOWED"));
    get.method = Method::GET;
    get.body = None;
    get.url_query =
        Some("query=mutation%20%7B%20deleteBacktestRun(id%3A%20%22x%22)%20%7B%20deletedId%20%7D%20%7D".into());
    cases.push(get);
    let mut get = query("GET with variables that are not JSON", "", REFUSED_400);
    get.method = Method::GET;
    get.body = None;
    get.url_query = Some("query=%7B__typename%7D&variables=%7Bnope".into());
    cases.push(get);
    let mut put = query("PUT", "{ __typename }", Expect::Refused(405, "METHOD_NOT_ALLOWED"));
    put.method = Method::PUT;
    cases.push(put);
    let mut accept = query("Accept: text/html on POST", "{ __typename }", Expect::Refused(406, "NOT_ACCEPTABLE"));
    accept.accept = Some("text/html");
    cases.push(accept);
    cases
}

async fn send(app: &TestApp, case: &Case) -> (u16, Vec<u8>) {
    let mut url = app.url("/graphql");
    if let Some(q) = &case.url_query {
        url = format!("{url}?{q}");
    }
    let mut request = reqwest::Client::new().request(case.method.clone(), url);
    if let Some(ct) = case.content_type {
        request = request.header("content-type", ct);
    }
    if let Some(auth) = &case.auth {
        request = request.header("authorization", auth);
    }
    if let Some(accept) = case.accept {
        request = request.header("accept", accept);
    }
    request = match &case.body {
        Some(Body::Json(v)) => request.body(v.to_string()),
        Some(Body::Raw(bytes)) => request.body(bytes.clone()),
        None => request,
    };
    let response = request.send().await.unwrap_or_else(|e| panic!("{}: no response: {e}", case.name));
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn every_bad_request_gets_a_well_formed_error_and_the_server_keeps_serving() {
    let app = TestApp::spawn().await;
    let id = record(&app, json!({ "strategyName": "Survivor" })).await;
    let cases = corpus();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let (status, body) = send(&app, case).await;
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let text = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
        let first_code = parsed.as_ref().and_then(|v| v["errors"][0]["extensions"]["code"].as_str()).map(str::to_owned);
        let well_formed = parsed.as_ref().is_some_and(|v| {
            v["errors"].as_array().is_some_and(|errors| {
                !errors.is_empty()
                    && errors.iter().all(|e| e["message"].is_string() && e["extensions"]["code"].is_string())
            })
        });
        let ok = match case.expect {
            Expect::Refused(want, code) => status == want && well_formed && first_code.as_deref() == Some(code),
            Expect::Errors(code) => status == 200 && well_formed && first_code.as_deref() == Some(code),
            Expect::Harmless => {
                status == 200 && parsed.as_ref().is_some_and(|v| v.get("errors").is_none() && v["data"].is_object())
            }
        };
        if !ok || status >= 500 {
            failures.push(format!("{}: expected {:?}, got {status} {text}", case.name, case.expect));
        }
        // Still serving, and still holding its data.
        let check = app.graphql("{ backtestRuns(first: 5) { nodes { id strategyName } } }", json!({})).await;
        if check["data"]["backtestRuns"]["nodes"][0]["id"] != id.as_str() {
            failures.push(format!("after {}: the normal query got {check}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(app.db.count_rows("backtest_runs").await, 1, "nothing was written or dropped");
}
