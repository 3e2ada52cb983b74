//! Subscription delivery: how long after a write a subscriber hears of it. One subscriber
//! (WebSocket, `graphql-transport-ws`) and one writer recording single runs one after the
//! other; for each run, the time from sending the mutation to its response, and to the
//! subscription's event. The event cannot come before the commit, and the response comes
//! after it, so "event after request" minus "response after request" bounds the delivery
//! time after commit from above (when positive).

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

pub struct Delivery {
    pub events: usize,
    /// Milliseconds: p50 and p99 of request → response, and of request → event.
    pub response: (f64, f64),
    pub event: (f64, f64),
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

pub async fn measure(base_url: &str, token: &str, runs: usize) -> Delivery {
    let mut request =
        format!("{}/graphql", base_url.replace("http://", "ws://")).into_client_request().expect("ws request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("WebSocket");
    let send = |v: Value| Message::Text(v.to_string().into());
    socket.send(send(json!({ "type": "connection_init", "payload": {} }))).await.expect("init");
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message
            && text.contains("connection_ack")
        {
            break;
        }
    }
    let subscription = "subscription { backtestRunRecorded(filter: { strategyName: \"Delivery\" }) { id } }";
    socket
        .send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": subscription } })))
        .await
        .expect("subscribe");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let client = reqwest::Client::new();
    let mutation = "mutation($i: RecordBacktestRunInput!) { recordBacktestRun(input: $i) { id } }";
    let (mut responses, mut events) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let input = json!({
            "status": "SUCCESS", "strategyName": "Delivery", "strategyType": "bench", "instrumentSymbol": "AAPL",
            "dateRangeStart": "2024-01-01", "dateRangeEnd": "2024-12-31", "initialCapital": "1000.00",
            "dataSource": "bench", "config": { "fast_period": 10 },
        });
        let started = Instant::now();
        let sent = client
            .post(format!("{base_url}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": mutation, "variables": { "i": input } }))
            .send();
        // The event may arrive before the response: wait for both at once.
        let event = async {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message
                    && text.contains("\"next\"")
                {
                    return started.elapsed();
                }
            }
            panic!("the subscription ended");
        };
        let (response, event) = tokio::join!(async { sent.await.map(|_| started.elapsed()) }, event);
        responses.push(response.expect("mutation").as_secs_f64() * 1e3);
        events.push(event.as_secs_f64() * 1e3);
    }
    Delivery { events: events.len(), response: percentiles(responses), event: percentiles(events) }
}
