//! PostgreSQL going away under load, and coming back: requests fail fast with
//! `SERVICE_UNAVAILABLE`, readiness follows, the server recovers without a restart, and no
//! acknowledged write is lost across fast and immediate (crash) shutdowns. Each test runs
//! its own cluster, since it stops it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tearsheet_api::embedded_pg::{Cluster, ClusterSpec, StopMode};
use tearsheet_tests::app::{WRITE_TOKEN, serve_args};
use tokio::sync::Mutex;

/// A server on a cluster of its own.
struct Rig {
    cluster: Arc<Cluster>,
    base: String,
    client: reqwest::Client,
    _dir: tempdir::Dir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

mod tempdir {
    /// A directory under the system temp dir, removed on drop; reachable by the
    /// `postgres` user when the tests run as root.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "tearsheet-{tag}-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Rig {
    async fn start() -> Self {
        let dir = tempdir::Dir::new("faults");
        let spec = ClusterSpec { ephemeral: true, ..ClusterSpec::in_data_dir(&dir.0) };
        let cluster = tokio::task::spawn_blocking(move || Cluster::start(spec)).await.expect("join").expect("cluster");
        let cluster = Arc::new(cluster);
        let mut args = serve_args(&cluster.url("postgres"));
        args.no_migrate = false;
        args.db.db_acquire_timeout_ms = 2_000;
        let served = tearsheet_tests::app::serve(&args).await;
        let base = format!("http://{}", served.addr);
        Rig { cluster, base, client: reqwest::Client::new(), _dir: dir, shutdown: Some(served.shutdown) }
    }

    async fn post(&self, query: &str, variables: Value) -> Result<Value, String> {
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(WRITE_TOKEN)
            .timeout(Duration::from_secs(30))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status().as_u16();
        if status >= 500 {
            return Err(format!("HTTP {status}"));
        }
        response.json().await.map_err(|e| format!("body: {e}"))
    }

    async fn ready(&self) -> u16 {
        self.client.get(format!("{}/readyz", self.base)).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    }

    async fn stop_pg(&self, mode: StopMode) {
        let cluster = Arc::clone(&self.cluster);
        tokio::task::spawn_blocking(move || cluster.stop_server(mode)).await.expect("join").expect("stop");
    }

    async fn start_pg(&self) {
        let cluster = Arc::clone(&self.cluster);
        tokio::task::spawn_blocking(move || cluster.start_server()).await.expect("join").expect("start");
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// When a request started, how long it took, and how it ended.
type Outcome = (Instant, Duration, Result<(), String>);

const READ: &str = "{ backtestRuns(first: 5) { nodes { id metrics { sharpeRatio } } } }";
const RECORD: &str = "mutation($input: RecordBacktestRunInput!) { recordBacktestRun(input: $input) { id } }";

fn codes(response: &Value) -> Vec<String> {
    tearsheet_tests::app::error_codes(response)
}

#[tokio::test]
async fn an_outage_fails_requests_fast_and_the_server_recovers_within_5_seconds() {
    let rig = Rig::start().await;
    for _ in 0..3 {
        rig.post(RECORD, json!({ "input": crate::support::run_input(json!({})) })).await.expect("record");
    }
    // Readers keep going through the outage; each outcome is recorded with its latency.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (stop, outcomes, client, base) =
            (Arc::clone(&stop), Arc::clone(&outcomes), rig.client.clone(), rig.base.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = client
                    .post(format!("{base}/graphql"))
                    .timeout(Duration::from_secs(30))
                    .json(&json!({ "query": READ }))
                    .send()
                    .await;
                let outcome = match result {
                    Err(e) => Err(format!("transport: {e}")),
                    Ok(r) if r.status().is_server_error() => Err(format!("HTTP {}", r.status())),
                    Ok(r) => {
                        let body: Value = r.json().await.unwrap_or_default();
                        match codes(&body).first() {
                            None if body["data"]["backtestRuns"].is_object() => Ok(()),
                            Some(code) if code == "SERVICE_UNAVAILABLE" => Err(code.clone()),
                            _ => Err(format!("unexpected: {body}")),
                        }
                    }
                };
                outcomes.lock().await.push((started, started.elapsed(), outcome));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    rig.stop_pg(StopMode::Fast).await;
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rig.ready().await, 503, "not ready without PostgreSQL");
    rig.start_pg().await;
    let up_at = Instant::now();
    // Back within 5 s: the first success after the restart.
    let recovered = loop {
        if rig.post(READ, json!({})).await.is_ok_and(|r| r.get("errors").is_none()) {
            break up_at.elapsed();
        }
        assert!(up_at.elapsed() < Duration::from_secs(10), "no successful read 10 s after PostgreSQL came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }
    assert!(recovered < Duration::from_secs(5), "recovered after {recovered:?}");
    assert_eq!(rig.ready().await, 200, "ready again");

    let outcomes = outcomes.lock().await;
    let unexpected: Vec<&String> = outcomes
        .iter()
        .filter_map(|(_, _, o)| o.as_ref().err())
        .filter(|e| e.as_str() != "SERVICE_UNAVAILABLE")
        .collect();
    assert!(unexpected.is_empty(), "only SERVICE_UNAVAILABLE during the outage: {unexpected:?}");
    let during: Vec<Duration> =
        outcomes.iter().filter(|(at, _, _)| *at > down_at && *at < up_at).map(|(_, took, _)| *took).collect();
    assert!(during.len() >= 4, "requests ran during the outage: {}", during.len());
    let slowest = during.iter().max().copied().unwrap_or_default();
    assert!(slowest < Duration::from_millis(2_500), "a request during the outage took {slowest:?}");
    let failed = outcomes.iter().filter(|(at, _, o)| *at > down_at && *at < up_at && o.is_err()).count();
    println!(
        "outage: {} requests, {failed} failed, slowest {slowest:?}; recovered {recovered:?} after the restart",
        during.len()
    );
    assert!(failed >= during.len() / 2, "requests during the outage failed ({failed} of {})", during.len());
}

#[tokio::test]
async fn no_acknowledged_write_is_lost_when_postgresql_restarts_fast_or_crashes() {
    let rig = Arc::new(Rig::start().await);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..3 {
        let (rig, stop, acknowledged) = (Arc::clone(&rig), Arc::clone(&stop), Arc::clone(&acknowledged));
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("00000000-0000-7000-8000-{:04x}{:08x}", w, n);
                let input = crate::support::run_input(json!({ "id": id, "strategyName": format!("W{w} {n}") }));
                // Retry the same id until the server says it is stored: a retry of a write
                // that did commit is a replay, not a second row.
                let started = Instant::now();
                loop {
                    match rig.post(RECORD, json!({ "input": input })).await {
                        Ok(body) if body["data"]["recordBacktestRun"]["id"] == id.as_str() => {
                            acknowledged.lock().await.push(id.clone());
                            break;
                        }
                        Ok(body) => {
                            let code = codes(&body).first().cloned().unwrap_or_default();
                            assert_eq!(code, "SERVICE_UNAVAILABLE", "{body}");
                        }
                        Err(e) => panic!("{e}"),
                    }
                    assert!(started.elapsed() < Duration::from_secs(60), "{id} never stored");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                n += 1;
            }
        }));
    }
    for mode in [StopMode::Fast, StopMode::Immediate, StopMode::Immediate] {
        tokio::time::sleep(Duration::from_millis(700)).await;
        rig.stop_pg(mode).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        rig.start_pg().await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    let acknowledged = acknowledged.lock().await.clone();
    assert!(acknowledged.len() > 20, "writes went on: {}", acknowledged.len());
    println!("{} writes acknowledged across 3 restarts", acknowledged.len());

    let conn = sea_orm::Database::connect(rig.cluster.url("postgres")).await.expect("connect");
    use sea_orm::ConnectionTrait as _;
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT id::text, count(*) FROM backtest_runs GROUP BY id",
        ))
        .await
        .expect("rows");
    let stored: Vec<(String, i64)> =
        rows.iter().map(|r| (r.try_get_by_index(0).expect("id"), r.try_get_by_index(1).expect("n"))).collect();
    let stored_ids: HashSet<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !stored_ids.contains(id.as_str())).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
    assert!(stored.iter().all(|(_, n)| *n == 1), "a run stored twice");
    assert_eq!(stored.len(), acknowledged.len(), "every stored run was acknowledged, once");
}

async fn spawn_app(grace_secs: u64) -> tearsheet_tests::TestApp {
    tearsheet_tests::TestApp::spawn_with(tearsheet_tests::TestDb::migrated().await, |url| {
        let mut args = serve_args(url);
        args.shutdown_grace_secs = grace_secs;
        args
    })
    .await
}

#[tokio::test]
async fn on_shutdown_requests_in_flight_finish_and_new_connections_are_refused() {
    let mut app = spawn_app(10).await;
    crate::support::record(&app, json!({ "strategyName": "In flight" })).await;
    let release = app.db.lock_runs().await;
    let url = app.url("/graphql");
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new().post(url).json(&json!({ "query": READ })).send().await.map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = reqwest::Client::new().post(app.url("/graphql")).json(&json!({ "query": READ })).send().await;
    assert!(refused.is_err(), "a new connection after the signal is refused: {refused:?}");
    drop(release);
    let status = in_flight.await.expect("task").expect("the in-flight request got its answer");
    assert_eq!(status, 200);
    tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("the server stopped");
}
