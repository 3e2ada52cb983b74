//! Live updates: `backtestRunRecorded` over WebSocket (`graphql-transport-ws`), on two
//! server processes (two applications) sharing one database.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tearsheet_tests::app::{WRITE_TOKEN, serve_args};
use tearsheet_tests::{TestApp, TestDb};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::support::run_input;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A second server on the same database, as another replica of the service would be.
async fn second_server(db_url: &str) -> (String, tearsheet_tests::app::Served) {
    let served = tearsheet_tests::app::serve(&serve_args(db_url)).await;
    (format!("http://{}", served.addr), served)
}

/// Opens a `graphql-transport-ws` connection and waits for its acknowledgement; the
/// server's close reason when it refuses.
async fn connect(base: &str, init: Value) -> Result<Socket, String> {
    let mut request = format!("{}/graphql", base.replace("http://", "ws://")).into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| e.to_string())?;
    let init = json!({ "type": "connection_init", "payload": init }).to_string();
    socket.send(Message::Text(init.into())).await.map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).expect("json");
                if message["type"] == "connection_ack" {
                    return Ok(socket);
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => return Err(format!("closed: {frame:?}")),
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("no acknowledgement: {other:?}")),
        }
    }
}

async fn subscribe(socket: &mut Socket, id: &str, filter: Value) {
    let message = json!({
        "id": id, "type": "subscribe",
        "payload": {
            "query": "subscription($f: BacktestRunFilter) { backtestRunRecorded(filter: $f) { id strategyName metrics { sharpeRatio } } }",
            "variables": { "f": filter },
        },
    });
    socket.send(Message::Text(message.to_string().into())).await.expect("subscribe");
}

/// The runs a subscription delivers until nothing more comes for a while.
async fn drain(socket: &mut Socket, quiet: Duration) -> Vec<Value> {
    let mut runs = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(quiet, socket.next()).await {
        if let Message::Text(text) = message {
            let message: Value = serde_json::from_str(&text).expect("json");
            if message["type"] == "next" {
                assert!(message["payload"].get("errors").is_none(), "{message}");
                runs.push(message["payload"]["data"]["backtestRunRecorded"].clone());
            }
        }
    }
    runs
}

fn ids(runs: &[Value]) -> Vec<String> {
    runs.iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect()
}

fn uuid(n: usize) -> String {
    format!("00000000-0000-7000-8000-{n:012x}")
}

#[tokio::test]
async fn both_servers_deliver_exactly_the_matching_runs_in_commit_order() {
    let app = TestApp::spawn().await;
    let (other, _stop) = second_server(&app.db.url).await;
    let base = app.url("");
    let mut live_on_first = connect(&base, json!({})).await.expect("connect");
    subscribe(&mut live_on_first, "1", json!({ "strategyName": "Live" })).await;
    let mut all_on_second = connect(&other, json!({})).await.expect("connect");
    subscribe(&mut all_on_second, "1", json!(null)).await;
    let mut metric_on_second = connect(&other, json!({})).await.expect("connect");
    subscribe(&mut metric_on_second, "1", json!({ "metrics": [{ "metric": "SHARPE_RATIO", "gte": 1.5 }] })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let record_many =
        "mutation($inputs: [RecordBacktestRunInput!]!) { recordBacktestRuns(inputs: $inputs) { runs { id } } }";
    let input = |n: usize, name: &str, sharpe: f64| {
        run_input(json!({ "id": uuid(n), "strategyName": name, "metrics": { "sharpeRatio": sharpe } }))
    };
    // Through the first server: a batch of five.
    let batch: Vec<Value> = vec![
        input(1, "Live", 1.0),
        input(2, "Other", 2.0),
        input(3, "Live", 2.5),
        input(4, "Other", 0.5),
        input(5, "Live", 0.1),
    ];
    app.data(record_many, json!({ "inputs": batch })).await;
    // A batch that fails as a whole: nothing is announced.
    let mut failing = vec![input(6, "Live", 3.0), input(7, "Live", 3.0)];
    failing[1]["dateRangeEnd"] = json!("2000-01-01");
    let refused = app.graphql(record_many, json!({ "inputs": failing })).await;
    assert!(refused.get("errors").is_some(), "{refused}");
    // A replay of stored runs is not news either.
    app.data(record_many, json!({ "inputs": [input(1, "Live", 1.0)] })).await;
    // Through the second server: one more.
    let response = reqwest::Client::new()
        .post(format!("{other}/graphql"))
        .bearer_auth(WRITE_TOKEN)
        .json(&json!({ "query": record_many, "variables": { "inputs": [input(8, "Live", 1.7)] } }))
        .send()
        .await
        .expect("record on the second server")
        .json::<Value>()
        .await
        .expect("json");
    assert!(response.get("errors").is_none(), "{response}");

    let quiet = Duration::from_millis(1500);
    assert_eq!(ids(&drain(&mut live_on_first, quiet).await), [uuid(1), uuid(3), uuid(5), uuid(8)]);
    let everything = drain(&mut all_on_second, quiet).await;
    assert_eq!(ids(&everything), [uuid(1), uuid(2), uuid(3), uuid(4), uuid(5), uuid(8)]);
    assert_eq!(everything[2]["metrics"]["sharpeRatio"], 2.5, "nested fields resolve");
    assert_eq!(ids(&drain(&mut metric_on_second, quiet).await), [uuid(2), uuid(3), uuid(8)]);
}

#[tokio::test]
async fn with_read_tokens_a_subscription_needs_one_in_connection_init() {
    let app = TestApp::spawn_with(TestDb::migrated().await, |url| {
        let mut args = serve_args(url);
        args.auth.read_tokens = vec!["read-token-0123456789abcdef".parse().expect("token")];
        args
    })
    .await;
    let base = app.url("");
    let refused = connect(&base, json!({})).await;
    assert!(refused.is_err(), "no token, no connection");
    let refused = connect(&base, json!({ "Authorization": "Bearer wrong-token-0123456789" })).await;
    assert!(refused.is_err(), "a wrong token, no connection");
    let mut socket =
        connect(&base, json!({ "Authorization": "Bearer read-token-0123456789abcdef" })).await.expect("a read token");
    subscribe(&mut socket, "1", json!(null)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.data(
        "mutation($i: RecordBacktestRunInput!) { recordBacktestRun(input: $i) { id } }",
        json!({ "i": run_input(json!({ "id": uuid(1) })) }),
    )
    .await;
    assert_eq!(ids(&drain(&mut socket, Duration::from_millis(1500)).await), [uuid(1)]);
}

#[tokio::test]
async fn a_batch_of_450_arrives_whole_and_in_order_across_several_notifications() {
    let app = TestApp::spawn().await;
    let (other, _stop) = second_server(&app.db.url).await;
    let mut socket = connect(&other, json!({})).await.expect("connect");
    subscribe(&mut socket, "1", json!(null)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let inputs: Vec<Value> = (0..450).map(|n| run_input(json!({ "id": uuid(1000 - n) }))).collect();
    app.data(
        "mutation($inputs: [RecordBacktestRunInput!]!) { recordBacktestRuns(inputs: $inputs) { runs { id } } }",
        json!({ "inputs": inputs }),
    )
    .await;
    let got = ids(&drain(&mut socket, Duration::from_millis(1500)).await);
    assert_eq!(got, (0..450).map(|n| uuid(1000 - n)).collect::<Vec<_>>(), "input order, not id order");
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_gets_an_error_and_its_subscription_ends() {
    // A backlog of one batch: a 450-run batch arrives as three notifications at once,
    // faster than a subscriber reads each batch's runs from the database.
    let app = TestApp::spawn_with(TestDb::migrated().await, |url| {
        let mut args = serve_args(url);
        args.subscription_backlog = 1;
        args
    })
    .await;
    let mut socket = connect(&app.url(""), json!({})).await.expect("connect");
    subscribe(&mut socket, "1", json!(null)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let inputs: Vec<Value> = (0..450).map(|n| run_input(json!({ "id": uuid(n + 1) }))).collect();
    app.data(
        "mutation($inputs: [RecordBacktestRunInput!]!) { recordBacktestRuns(inputs: $inputs) { runs { id } } }",
        json!({ "inputs": inputs }),
    )
    .await;
    let (mut runs, mut error, mut completed) = (0, None, false);
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
        let Message::Text(text) = message else { continue };
        let message: Value = serde_json::from_str(&text).expect("json");
        match message["type"].as_str() {
            Some("next") if message["payload"].get("errors").is_some() => {
                error = Some(message["payload"]["errors"][0].clone())
            }
            Some("next") => runs += 1,
            Some("complete") => {
                completed = true;
                break;
            }
            _ => {}
        }
    }
    let error = error.expect("the lagging subscriber was told");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("behind")), "{error}");
    assert!(completed, "and its subscription ended");
    assert!(runs < 450, "it did not get everything: {runs}");
}
