//! The real application on a random port, against a test database.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};
use tearsheet_api::config::{AuthArgs, DatabaseArgs, DatabaseUrl, HttpArgs, LimitsArgs, ServeArgs};
use tearsheet_api::startup::Application;
use tokio::sync::oneshot;

use crate::db::TestDb;

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// Serves a fresh, migrated, empty database.
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDb::migrated().await).await
    }

    pub async fn spawn_on(db: TestDb) -> Self {
        Self::spawn_with(db, serve_args).await
    }

    /// Serves `db` with the arguments `args` makes from its URL (e.g. to set read tokens).
    pub async fn spawn_with(db: TestDb, args: impl FnOnce(&str) -> ServeArgs) -> Self {
        let Served { addr, shutdown, server } = serve(&args(&db.url)).await;
        TestApp { addr, db, client: reqwest::Client::new(), shutdown: Some(shutdown), server: Some(server) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a GraphQL request with the write token and returns the whole JSON response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(Some(WRITE_TOKEN), query, variables).await.1
    }

    /// POSTs a GraphQL request with this bearer token (or none); returns the HTTP status
    /// and the JSON response.
    pub async fn graphql_as(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut request =
            self.client.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json response"))
    }

    /// Like [`graphql`](Self::graphql), but panics on any error and returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.graphql(query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response:#}");
        response["data"].clone()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    /// Sends the shutdown signal (as SIGTERM would) without waiting; [`stop`](Self::stop)
    /// then waits for the server to finish.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server and waits until it has shut down.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
    }
}

/// A server running in this process: its address, the signal that stops it, its task.
pub struct Served {
    pub addr: SocketAddr,
    pub shutdown: oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<()>,
}

/// Builds and runs the application with `args` until `shutdown` is sent (or dropped).
/// For servers beside a `TestApp`: a second replica, or one on a cluster of its own.
pub async fn serve(args: &ServeArgs) -> Served {
    let app = Application::build(args).await.unwrap_or_else(|e| panic!("building the app: {e}"));
    let addr = app.local_addr();
    let (shutdown, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until(async {
            let _ = rx.await;
        })
        .await
        .expect("server error");
    });
    Served { addr, shutdown, server }
}

/// The write token every test app accepts (`TestApp::graphql` sends it).
pub const WRITE_TOKEN: &str = "test-write-token-0123456789";

pub fn serve_args(database_url: &str) -> ServeArgs {
    ServeArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        no_migrate: true,
        demo: false,
        shutdown_grace_secs: 5,
        subscription_backlog: 1024,
        auth: AuthArgs { write_tokens: vec![WRITE_TOKEN.parse().expect("token")], read_tokens: Vec::new() },
        http: HttpArgs::default(),
        limits: LimitsArgs::default(),
        replicas: tearsheet_api::config::ReplicaArgs::default(),
        telemetry: tearsheet_api::config::TelemetryArgs::default(),
        db: DatabaseArgs {
            database_url: Some(DatabaseUrl::new(database_url)),
            data_dir: PathBuf::from("unused"),
            db_max_connections: 4,
            db_acquire_timeout_ms: 5000,
            db_connect_retry_secs: 5,
            statement_cache_size: tearsheet_api::config::DEFAULT_STATEMENT_CACHE_SIZE,
            direct_database_url: None,
        },
    }
}

/// The codes of a response's errors, in order.
pub fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect())
        .unwrap_or_default()
}

/// The `tearsheet` binary built next to this test binary (`target/<profile>/tearsheet`).
pub fn tearsheet_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let bin = dir.join("tearsheet");
    assert!(bin.is_file(), "{} is missing: build it first with `cargo build -p tearsheet-api`", bin.display());
    bin
}

/// The GraphQL schema executed directly (no HTTP), for tests that send many requests.
pub struct TestSchema {
    schema: tearsheet_api::graphql::AppSchema,
    pools: tearsheet_api::db::Pools,
}

impl TestSchema {
    pub async fn new(db: &TestDb) -> Self {
        let args = serve_args(&db.url);
        let pools = tearsheet_api::db::Pools::connect(
            &DatabaseUrl::new(db.url.clone()),
            &args.db,
            args.limits.statement_timeout(),
        )
        .await
        .expect("pools");
        let state = tearsheet_api::state::AppState {
            pools: pools.clone(),
            live: None,
            embedded_pid_file: None,
            replicas: None,
        };
        TestSchema { schema: tearsheet_api::graphql::build_schema(state, Default::default(), false), pools }
    }

    pub async fn execute(&self, query: &str, variables: Value) -> Value {
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(tearsheet_api::graphql::loaders::Loaders::new(&self.pools.read))
            .data(tearsheet_api::auth::Access::Write);
        let response = self.schema.execute(request).await;
        serde_json::to_value(&response).expect("serializable response")
    }

    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.execute(query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response:#}");
        response["data"].clone()
    }
}
