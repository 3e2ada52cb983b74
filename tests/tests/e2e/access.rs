//! Bearer tokens: writes need a write token; reads are open unless read tokens are set.

use serde_json::{Value, json};
use tearsheet_tests::app::{WRITE_TOKEN, error_codes, serve_args};
use tearsheet_tests::{TestApp, TestDb};

use crate::support::{RECORD, run_input};

const COUNT: &str = "{ backtestRuns(first: 1) { totalCount } }";
const DELETE: &str = "mutation { deleteBacktestRun(id: \"00000000-0000-4000-8000-000000000000\") { deletedId } }";

fn count(response: &Value) -> i64 {
    response["data"]["backtestRuns"]["totalCount"].as_i64().expect("count")
}

#[tokio::test]
async fn writes_need_a_write_token_and_reads_are_open_by_default() {
    let app = TestApp::spawn().await;
    let input = json!({ "input": run_input(json!({})) });

    let (_, missing) = app.graphql_as(None, RECORD, input.clone()).await;
    assert_eq!(error_codes(&missing), ["UNAUTHENTICATED"], "{missing}");
    let (_, wrong) = app.graphql_as(Some("not-the-token-at-all"), RECORD, input.clone()).await;
    assert_eq!(error_codes(&wrong), ["FORBIDDEN"], "{wrong}");
    let (_, delete) = app.graphql_as(None, DELETE, json!({})).await;
    assert_eq!(error_codes(&delete), ["UNAUTHENTICATED"], "{delete}");
    let (status, read) = app.graphql_as(None, COUNT, json!({})).await;
    assert_eq!((status, count(&read)), (200, 0), "refused writes changed nothing; reads need no token");

    let (_, ok) = app.graphql_as(Some(WRITE_TOKEN), RECORD, input).await;
    assert!(ok.get("errors").is_none(), "{ok}");
    assert_eq!(count(&app.graphql_as(None, COUNT, json!({})).await.1), 1);
}

#[tokio::test]
async fn with_read_tokens_every_request_needs_a_token_and_tokens_rotate() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn_with(db, |url| {
        let mut args = serve_args(url);
        args.auth.write_tokens.push("second-write-token-0001".parse().expect("token"));
        args.auth.read_tokens = vec!["dashboard-read-token-01".parse().expect("token")];
        args
    })
    .await;
    let (status, missing) = app.graphql_as(None, COUNT, json!({})).await;
    assert_eq!((status, error_codes(&missing)), (401, vec!["UNAUTHENTICATED".to_owned()]), "{missing}");
    let (status, wrong) = app.graphql_as(Some("dashboard-read-token-02"), COUNT, json!({})).await;
    assert_eq!((status, error_codes(&wrong)), (403, vec!["FORBIDDEN".to_owned()]), "{wrong}");
    let (status, read) = app.graphql_as(Some("dashboard-read-token-01"), COUNT, json!({})).await;
    assert_eq!((status, count(&read)), (200, 0));

    let input = json!({ "input": run_input(json!({})) });
    let (_, read_only) = app.graphql_as(Some("dashboard-read-token-01"), RECORD, input.clone()).await;
    assert_eq!(error_codes(&read_only), ["FORBIDDEN"], "a read token cannot write: {read_only}");
    // Either configured write token writes (rotation), and a write token also reads.
    for token in [WRITE_TOKEN, "second-write-token-0001"] {
        let (_, ok) = app.graphql_as(Some(token), RECORD, json!({ "input": run_input(json!({})) })).await;
        assert!(ok.get("errors").is_none(), "{ok}");
    }
    assert_eq!(count(&app.graphql_as(Some(WRITE_TOKEN), COUNT, json!({})).await.1), 2);
}
