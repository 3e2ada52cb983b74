//! The `tearsheet` binary itself: its command line, and the embedded default.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tearsheet_tests::app::{error_codes, tearsheet_bin};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

fn run_sync(args: &[&str]) -> std::process::Output {
    std::process::Command::new(tearsheet_bin()).args(args).env_remove("DATABASE_URL").output().expect("run tearsheet")
}

#[test]
fn help_lists_every_subcommand_and_each_has_help() {
    let out = run_sync(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "migrate", "schema", "seed", "admin"] {
        assert!(help.contains(sub), "{sub} missing from --help:\n{help}");
        let sub_help = run_sync(&[sub, "--help"]);
        assert!(sub_help.status.success(), "{sub} --help failed");
        assert!(!sub_help.stdout.is_empty());
    }
    let serve = String::from_utf8_lossy(&run_sync(&["serve", "--help"]).stdout).into_owned();
    for flag in [
        "--listen",
        "--database-url",
        "--data-dir",
        "--no-migrate",
        "--demo",
        "TEARSHEET_LISTEN",
        "DATABASE_URL",
        "TEARSHEET_DATA_DIR",
        "--write-token",
        "TEARSHEET_WRITE_TOKENS",
        "--read-token",
        "TEARSHEET_READ_TOKENS",
    ] {
        assert!(serve.contains(flag), "{flag} missing from serve --help:\n{serve}");
    }
}

#[test]
fn schema_prints_exactly_the_committed_schema_graphql() {
    let out = run_sync(&["schema"]);
    assert!(out.status.success());
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).expect("schema.graphql");
    assert!(out.stdout == committed, "`tearsheet schema` differs from schema.graphql");
}

#[test]
fn an_unreachable_database_fails_start_naming_the_url_without_its_password() {
    let start = Instant::now();
    let out = std::process::Command::new(tearsheet_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:9/nowhere")
        .env("TEARSHEET_DB_CONNECT_RETRY_SECS", "1")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("postgres://app:***@127.0.0.1:9/nowhere"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    assert!(start.elapsed() < Duration::from_secs(30), "retrying is bounded");
}

/// A `tearsheet serve` on the embedded default, in `data_dir`.
struct Served {
    child: Child,
    addr: String,
    /// The write token the server generated and printed.
    token: String,
}

async fn serve_embedded(data_dir: &Path) -> Served {
    let mut child = Command::new(tearsheet_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env("TEARSHEET_DATA_DIR", data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tearsheet");
    let (addr, _log_rx, log) = listening(&mut child, Duration::from_secs(120)).await;
    let token = log
        .lines()
        .find_map(|line| line.trim().strip_prefix("Authorization: Bearer ").map(str::to_owned))
        .unwrap_or_else(|| panic!("no generated write token was printed; the log:\n{log}"));
    Served { child, addr, token }
}

async fn graphql(addr: &str, query: &str, variables: serde_json::Value) -> serde_json::Value {
    graphql_as(addr, None, query, variables).await
}

async fn graphql_as(addr: &str, token: Option<&str>, query: &str, variables: serde_json::Value) -> serde_json::Value {
    let mut request = reqwest::Client::new().post(format!("http://{addr}/graphql"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().expect("kill").success();
    assert!(ok, "kill {sig} {pid}");
}

/// Processes whose command line mentions `needle` (Linux /proc).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmd| cmd.contains(needle) && cmd.contains("postgres"))
        .collect()
}

/// Waits (bounded) until no postgres of this cluster is left.
async fn assert_no_postgres_left(pgdata: &Path, within: Duration) {
    let needle = pgdata.to_string_lossy().into_owned();
    let deadline = Instant::now() + within;
    loop {
        let left = processes_mentioning(&needle);
        let pid_file = pgdata.join("postmaster.pid").exists();
        if left.is_empty() && !pid_file {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "postgres still running for {needle}: {left:?} (postmaster.pid present: {pid_file})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tearsheet-embedded-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn the_embedded_default_starts_persists_across_restarts_and_leaves_no_postgres_behind() {
    let data_dir = TempDir::new();
    let pgdata = data_dir.0.join("postgres");

    // First start: initialises the cluster, migrates, serves.
    // No write token configured: one is generated and printed; writes need it.
    let mut served = serve_embedded(&data_dir.0).await;
    let input = json!({ "input": crate::support::run_input(json!({ "strategyName": "Persisted" })) });
    let anonymous = graphql(&served.addr, crate::support::RECORD, input.clone()).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"], "{anonymous}");
    let recorded = graphql_as(&served.addr, Some(&served.token), crate::support::RECORD, input).await;
    let id = recorded["data"]["recordBacktestRun"]["id"].as_str().expect("recorded").to_owned();
    assert!(pgdata.join("PG_VERSION").is_file(), "the cluster lives in <data-dir>/postgres");
    let metrics = reqwest::get(format!("http://{}/metrics", served.addr)).await.expect("GET /metrics");
    let metrics = metrics.text().await.expect("metrics text");
    assert!(metrics.contains("tearsheet_embedded_postgres_up 1"), "the embedded cluster is reported up:\n{metrics}");

    // SIGTERM: a clean shutdown that stops PostgreSQL too.
    signal(served.child.id().expect("pid"), "-TERM");
    let status =
        tokio::time::timeout(Duration::from_secs(60), served.child.wait()).await.expect("exits").expect("status");
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert_no_postgres_left(&pgdata, Duration::from_secs(5)).await;

    // Second start: the data is still there.
    let mut served = serve_embedded(&data_dir.0).await;
    let read =
        graphql(&served.addr, "query($id: ID!) { backtestRun(id: $id) { strategyName } }", json!({ "id": id })).await;
    assert_eq!(read["data"]["backtestRun"]["strategyName"], "Persisted");

    // A crash (SIGKILL runs no shutdown code): the watchdog stops PostgreSQL anyway.
    served.child.kill().await.expect("kill");
    assert_no_postgres_left(&pgdata, Duration::from_secs(20)).await;

    // And the next start after the crash works.
    let mut served = serve_embedded(&data_dir.0).await;
    let read = graphql(&served.addr, "query($id: ID!) { backtestRun(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(read["data"]["backtestRun"]["id"], id.as_str());
    signal(served.child.id().expect("pid"), "-INT");
    let status =
        tokio::time::timeout(Duration::from_secs(60), served.child.wait()).await.expect("exits").expect("status");
    assert!(status.success(), "clean exit on SIGINT: {status}");
    assert_no_postgres_left(&pgdata, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stale_postmaster_pid_does_not_block_the_start() {
    let data_dir = TempDir::new();
    let pgdata = data_dir.0.join("postgres");
    let mut served = serve_embedded(&data_dir.0).await;
    signal(served.child.id().expect("pid"), "-TERM");
    served.child.wait().await.expect("exit");
    assert_no_postgres_left(&pgdata, Duration::from_secs(5)).await;

    // What a power cut leaves: a postmaster.pid naming a process that is gone (or, worse,
    // that now belongs to something else).
    let stale = format!("999999\n{}\n0\n5432\n\n\n", pgdata.display());
    std::fs::write(pgdata.join("postmaster.pid"), stale).expect("write stale pid");
    let mut served = serve_embedded(&data_dir.0).await;
    let response = graphql(&served.addr, "{ backtestRuns(first: 1) { totalCount } }", json!({})).await;
    assert_eq!(response["data"]["backtestRuns"]["totalCount"], 0);
    signal(served.child.id().expect("pid"), "-TERM");
    served.child.wait().await.expect("exit");
    assert_no_postgres_left(&pgdata, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn logs_carry_a_request_id_per_request_and_never_tokens_variables_or_passwords() {
    let db = tearsheet_tests::TestDb::migrated().await;
    // The test cluster trusts local connections: a password in the URL is accepted and
    // ignored, which is what this test needs to see it kept out of the logs.
    let url = match db.url.split_once("://") {
        Some((scheme, rest)) if !rest.split('@').next().unwrap_or_default().contains(':') && rest.contains('@') => {
            let (user, host) = rest.split_once('@').expect("user@host");
            format!("{scheme}://{user}:pw-hunter2-secret@{host}")
        }
        _ => db.url.clone(),
    };
    let token = "token-never-logged-0123456789";
    let (mut child, addr, mut log_rx, mut log) =
        serve_on(&url, &["--write-token", token], &[("TEARSHEET_LOG", "debug")]).await;

    let client = reqwest::Client::new();
    let record = "mutation($input: RecordBacktestRunInput!) { recordBacktestRun(input: $input) { id } }";
    let input = crate::support::run_input(json!({ "strategyName": "variable-never-logged" }));
    let response = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .header("x-request-id", "req-from-the-gateway-42")
        .json(&json!({ "query": record, "variables": { "input": input } }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("req-from-the-gateway-42"));
    assert!(response.json::<serde_json::Value>().await.expect("json").get("errors").is_none());
    let response = client
        .get(format!(
            "http://{addr}/graphql?query=%7B__typename%7D&variables=%7B%22k%22%3A%22get-variable-never-logged%22%7D"
        ))
        .send()
        .await
        .expect("GET");
    let generated = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert!(generated.as_deref().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()), "{generated:?}");

    signal(child.id().expect("pid"), "-TERM");
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(500), log_rx.recv()).await {
        log.push_str(&line);
        log.push('\n');
    }
    assert!(log.contains("req-from-the-gateway-42"), "the request id is in the log:\n{log}");
    assert!(log.contains(generated.as_deref().unwrap_or("?")), "the generated id is in the log:\n{log}");
    for secret in [token, "variable-never-logged", "get-variable-never-logged", "pw-hunter2-secret"] {
        assert!(!log.contains(secret), "{secret} leaked into the log:\n{log}");
    }
}

/// `tearsheet serve` on `url` (already migrated) with `args` and `env`: the child, its
/// address, its stderr lines as they come, and the log up to the address line.
pub(crate) async fn serve_on(
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, tokio::sync::mpsc::UnboundedReceiver<String>, String) {
    let mut child = Command::new(tearsheet_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--no-migrate"])
        .args(args)
        .env("DATABASE_URL", url)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tearsheet");
    let (addr, log_rx, log) = listening(&mut child, Duration::from_secs(60)).await;
    (child, addr, log_rx, log)
}

#[tokio::test]
async fn on_sigterm_requests_running_past_the_grace_period_are_dropped_and_the_process_exits() {
    let db = tearsheet_tests::TestDb::migrated().await;
    let (mut child, addr, _log_rx, _log) =
        serve_on(&db.url, &["--shutdown-grace-secs", "1", "--statement-timeout-ms", "0"], &[]).await;
    let release = db.lock_runs().await;
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://{addr}/graphql"))
            .json(&json!({ "query": "{ backtestRuns(first: 1) { nodes { id } } }" }))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    signal(child.id().expect("pid"), "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exited").expect("status");
    let took = started.elapsed();
    assert!(status.success(), "a clean exit: {status}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "exited after {took:?}");
    assert!(in_flight.await.expect("task").is_err(), "the request still running was cut off");
    drop(release);
}

/// Reads the child's stderr until it says where it listens (the "GraphiQL: http://…" line):
/// its address, the channel the later lines keep arriving on (so the pipe never fills),
/// and the log up to that line.
async fn listening(
    child: &mut Child,
    within: Duration,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>, String) {
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = log_tx.send(line);
        }
    });
    let mut log = String::new();
    let addr = tokio::time::timeout(within, async {
        while let Some(line) = log_rx.recv().await {
            log.push_str(&line);
            log.push('\n');
            if let Some(rest) = line.split("GraphiQL: http://").nth(1) {
                return rest.split('/').next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("tearsheet did not come up; its log:\n{log}"));
    (addr, log_rx, log)
}
