//! Several Tearsheet processes on one database behave as one service: nothing a process
//! keeps to itself changes an answer.

use serde_json::{Value, json};
use tearsheet_tests::app::{WRITE_TOKEN, error_codes, serve, serve_args};
use tearsheet_tests::{TestApp, TestDb};

use crate::support::{RECORD, run_input};

async fn post(base: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(WRITE_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn requests_alternating_between_two_processes_get_one_services_answers() {
    let app = TestApp::spawn_on(TestDb::migrated().await).await;
    let other = serve(&serve_args(&app.db.url)).await;
    let bases = [app.url(""), format!("http://{}", other.addr)];

    // Idempotent writes across processes: the same id and content on the other process is
    // a replay (the same run, one row); other content under that id is a conflict.
    let id = uuid::Uuid::new_v4().to_string();
    let input = run_input(json!({ "id": id, "strategyName": "Replicated" }));
    let first = post(&bases[0], json!({ "query": RECORD, "variables": { "input": input } })).await;
    let replay = post(&bases[1], json!({ "query": RECORD, "variables": { "input": input } })).await;
    assert_eq!(first["data"], replay["data"], "{first} {replay}");
    assert_eq!(app.db.count_rows("backtest_runs").await, 1);
    let changed = run_input(json!({ "id": id, "strategyName": "Changed" }));
    let conflict = post(&bases[1], json!({ "query": RECORD, "variables": { "input": changed } })).await;
    assert_eq!(error_codes(&conflict), ["CONFLICT"], "{conflict}");

    // Writes through one are read through the other at once, pages and cursors included.
    for i in 0..6 {
        let input = run_input(json!({ "strategyName": "Replicated", "instrumentSymbol": format!("I{i}") }));
        let response = post(&bases[i % 2], json!({ "query": RECORD, "variables": { "input": input } })).await;
        assert!(response.get("errors").is_none(), "{response}");
    }
    let page = "query($after: String) { backtestRuns(first: 3, after: $after, filter: { strategyName: \"Replicated\" }) { \
                  edges { cursor node { id instrumentSymbol } } pageInfo { hasNextPage endCursor } totalCount } }";
    let a = post(&bases[0], json!({ "query": page })).await;
    let b = post(&bases[1], json!({ "query": page })).await;
    assert_eq!(a["data"], b["data"], "the same page from both");
    assert_eq!(a["data"]["backtestRuns"]["totalCount"], 7);
    let cursor = a["data"]["backtestRuns"]["pageInfo"]["endCursor"].clone();
    let next_a = post(&bases[0], json!({ "query": page, "variables": { "after": cursor } })).await;
    let next_b = post(&bases[1], json!({ "query": page, "variables": { "after": cursor } })).await;
    assert!(next_b.get("errors").is_none(), "a cursor from one process works on the other: {next_b}");
    assert_eq!(next_a["data"], next_b["data"]);

    // Automatic persisted queries: a hash registered on one process is unknown to the
    // other, which says so; the client re-registers there (Apollo's link does this by
    // itself), and both then serve it by hash.
    let query = "{ backtestRuns(first: 1, filter: { strategyName: \"Replicated\" }) { nodes { strategyName } } }";
    let hash = crate::http::sha256_hex(query).expect("sha256sum");
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let registered = post(&bases[0], json!({ "query": query, "extensions": extensions })).await;
    assert_eq!(registered["data"]["backtestRuns"]["nodes"][0]["strategyName"], "Replicated", "{registered}");
    let unknown = post(&bases[1], json!({ "extensions": extensions })).await;
    assert_eq!(error_codes(&unknown), ["PERSISTED_QUERY_NOT_FOUND"], "{unknown}");
    let reregistered = post(&bases[1], json!({ "query": query, "extensions": extensions })).await;
    assert_eq!(reregistered["data"], registered["data"]);
    for base in &bases {
        let by_hash = post(base, json!({ "extensions": extensions })).await;
        assert_eq!(by_hash["data"], registered["data"], "{base}: {by_hash}");
    }
    let _ = other.shutdown.send(());
    app.stop().await;
}

/// A primary cluster, a streaming replica of it that applies WAL 1.5 s late, and a
/// server on both.
struct Topology {
    primary: std::sync::Arc<tearsheet_api::embedded_pg::Cluster>,
    replica: tearsheet_api::embedded_pg::Cluster,
    base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const REPLAY_DELAY: std::time::Duration = std::time::Duration::from_millis(1500);

impl Topology {
    async fn start() -> Topology {
        use tearsheet_api::embedded_pg::{Cluster, ClusterSpec};
        let dir = TempDir(std::env::temp_dir().join(format!("tearsheet-replica-{}", uuid::Uuid::new_v4().simple())));
        let primary_spec = ClusterSpec { ephemeral: true, ..ClusterSpec::in_data_dir(&dir.0.join("primary")) };
        let primary =
            tokio::task::spawn_blocking(move || Cluster::start(primary_spec)).await.expect("join").expect("primary");
        let replica_spec = ClusterSpec {
            ephemeral: true,
            settings: vec![("recovery_min_apply_delay".into(), format!("{}ms", REPLAY_DELAY.as_millis()))],
            ..ClusterSpec::in_data_dir(&dir.0.join("replica"))
        };
        primary.base_backup(&replica_spec.pgdata).expect("pg_basebackup");
        let replica =
            tokio::task::spawn_blocking(move || Cluster::start(replica_spec)).await.expect("join").expect("replica");
        let mut args = serve_args(&primary.url("postgres"));
        args.no_migrate = false;
        args.replicas.replica_urls = vec![tearsheet_api::config::DatabaseUrl::new(replica.url("postgres"))];
        args.replicas.replica_max_lag_ms = 10_000;
        args.replicas.replica_wait_ms = 300;
        let served = serve(&args).await;
        let topology = Topology {
            primary: std::sync::Arc::new(primary),
            replica,
            base: format!("http://{}", served.addr),
            shutdown: Some(served.shutdown),
            _dir: dir,
        };
        // The migrations reach the replica after the delay; until then it has no tables.
        topology
            .wait_for("the replica to have the schema", |t| async move {
                t.metric("tearsheet_replica_up{").await == Some(1.0)
                    && t.read("{ backtestRuns(first: 1) { totalCount } }", json!({}), None)
                        .await
                        .0
                        .get("errors")
                        .is_none()
            })
            .await;
        topology
    }

    async fn wait_for<'a, F, Fut>(&'a self, what: &str, check: F)
    where
        F: Fn(&'a Topology) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !check(self).await {
            assert!(std::time::Instant::now() < deadline, "waited 30 s for {what}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// A query, with `x-tearsheet-lsn` when given; the response and its LSN header.
    async fn read(&self, query: &str, variables: Value, lsn: Option<&str>) -> (Value, Option<String>) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/graphql", self.base))
            .bearer_auth(WRITE_TOKEN)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(lsn) = lsn {
            request = request.header("x-tearsheet-lsn", lsn);
        }
        let response = request.send().await.expect("POST");
        let lsn = response.headers().get("x-tearsheet-lsn").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (response.json().await.expect("json"), lsn)
    }

    async fn metric(&self, prefix: &str) -> Option<f64> {
        let text = reqwest::get(format!("{}/metrics", self.base)).await.ok()?.text().await.ok()?;
        text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn reads_go_to_the_replica_a_client_reads_its_writes_and_reads_survive_the_replica_stopping() {
    let t = Topology::start().await;

    // A write answers with the primary's WAL position.
    let input = run_input(json!({ "strategyName": "Replicated" }));
    let (written, lsn) = t.read(RECORD, json!({ "input": input }), None).await;
    let id = written["data"]["recordBacktestRun"]["id"].as_str().unwrap_or_else(|| panic!("{written}")).to_owned();
    let lsn = lsn.expect("a mutation's response carries x-tearsheet-lsn");
    let by_id = "query($id: ID!) { backtestRun(id: $id) { id } }";
    let id_var = json!({ "id": id });

    // At once, without the position: the replica serves the read, and it has not
    // applied the write yet (it applies WAL 1.5 s late).
    let (stale, _) = t.read(by_id, id_var.clone(), None).await;
    assert_eq!(stale["data"]["backtestRun"], Value::Null, "served by the lagging replica: {stale}");
    // With the position: the client reads its write (the replica cannot catch up within
    // the 300 ms wait, so the primary answers).
    let (fresh, _) = t.read(by_id, id_var.clone(), Some(&lsn)).await;
    assert_eq!(fresh["data"]["backtestRun"]["id"], id.as_str(), "{fresh}");
    // Once the replica has applied it, the replica serves it too, position or not.
    tokio::time::sleep(REPLAY_DELAY + std::time::Duration::from_millis(500)).await;
    let (later, _) = t.read(by_id, id_var.clone(), None).await;
    assert_eq!(later["data"]["backtestRun"]["id"], id.as_str(), "{later}");
    assert!(t.metric("tearsheet_reads_total{target=\"replica\"}").await.unwrap_or(0.0) >= 2.0);
    assert!(t.metric("tearsheet_reads_total{target=\"primary\"}").await.unwrap_or(0.0) >= 1.0);

    // The replica stops: every read still succeeds, from the primary.
    let replica = &t.replica;
    replica.stop_server(tearsheet_api::embedded_pg::StopMode::Fast).expect("stop the replica");
    for _ in 0..20 {
        let (response, _) = t.read(by_id, id_var.clone(), None).await;
        assert_eq!(response["data"]["backtestRun"]["id"], id.as_str(), "{response}");
    }
    t.wait_for(
        "the replica to be reported down",
        |t| async move { t.metric("tearsheet_replica_up{").await == Some(0.0) },
    )
    .await;
    let _ = &t.primary;
}
