//! Prometheus metrics (`GET /metrics`): what the server does, through the `metrics` facade
//! and `metrics-exporter-prometheus`.
//!
//! The recorder is process-global (the facade's macros write to one recorder), installed
//! once however many applications a process builds (tests build many): counters then add
//! up across them, which is what a scrape of one process should see anyway.
//!
//! Labels are bounded: operation names are the client's, so only well-formed names are
//! kept, and at most [`MAX_OPERATION_NAMES`] of them; SQL shapes and error codes are the
//! server's own constants.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument as _;

use crate::db::Pools;

pub const REQUESTS: &str = "tearsheet_requests_total";
pub const REQUEST_SECONDS: &str = "tearsheet_request_duration_seconds";
pub const GRAPHQL_ERRORS: &str = "tearsheet_graphql_errors_total";
pub const SQL_SECONDS: &str = "tearsheet_sql_duration_seconds";
pub const SQL_IN_FLIGHT: &str = "tearsheet_sql_statements_in_flight";
pub const LOADER_BATCH: &str = "tearsheet_dataloader_batch_size";
pub const POOL_CONNECTIONS: &str = "tearsheet_db_pool_connections";
pub const POOL_MAX: &str = "tearsheet_db_pool_max_connections";
pub const POOL_WAITING: &str = "tearsheet_db_pool_waiting";
pub const DATABASE_UP: &str = "tearsheet_database_up";
pub const EMBEDDED_UP: &str = "tearsheet_embedded_postgres_up";
pub const READS: &str = "tearsheet_reads_total";
pub const REPLICA_UP: &str = "tearsheet_replica_up";
pub const REPLICA_LAG: &str = "tearsheet_replica_lag_seconds";

/// Distinct operation names kept as label values; later ones are counted as `other`.
pub const MAX_OPERATION_NAMES: usize = 200;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let sizes = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &seconds)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(LOADER_BATCH.to_owned()), &sizes))
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Histogram samples wait in a buffer until upkeep folds them into the buckets.
        // Rendering runs it, but a server nobody scrapes kept every sample: ~30 MiB more
        // resident after the benchmark's read patterns (15 → 44 MiB). So it runs every
        // few seconds too, on a thread of its own (no runtime needed, never busy).
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new().name("metrics-upkeep".to_owned()).spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(2));
                upkeep.run_upkeep();
            }
        });
        // Another recorder already installed (an embedding program's): ours still renders
        // what it is given, which is nothing; the server keeps working.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS, "GraphQL requests by operation name and outcome");
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "GraphQL request latency by operation name and outcome");
    describe_counter!(GRAPHQL_ERRORS, "GraphQL errors in responses, by extensions.code");
    describe_histogram!(SQL_SECONDS, Unit::Seconds, "SQL statement latency by query shape (connection wait included)");
    describe_gauge!(SQL_IN_FLIGHT, "SQL statements started and not finished, by pool");
    describe_histogram!(LOADER_BATCH, "Keys per DataLoader batch (one statement each)");
    describe_gauge!(POOL_CONNECTIONS, "Open connections by pool and state (idle, in_use)");
    describe_gauge!(POOL_MAX, "Most connections a pool opens");
    describe_gauge!(POOL_WAITING, "Statements waiting for a connection (in flight beyond the connections in use)");
    describe_gauge!(DATABASE_UP, "1 when the pool answered SELECT 1 within a second at the last scrape");
    describe_counter!(READS, "Requests by where their reads went (replica, primary), with replicas configured");
    describe_gauge!(REPLICA_UP, "1 when the replica answered the last poll");
    describe_gauge!(REPLICA_LAG, "How long ago the primary had WAL the replica has not replayed");
    describe_gauge!(EMBEDDED_UP, "1 when the embedded PostgreSQL cluster this process started is running");
}

/// How a GraphQL request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Executed without errors.
    Ok,
    /// Executed, with errors in the response.
    Error,
    /// Not executed: did not parse or validate, or was refused before execution.
    Rejected,
    /// Cut off at the request timeout.
    Timeout,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Rejected => "rejected",
            Outcome::Timeout => "timeout",
        }
    }
}

/// The label for a client's operation name: `anonymous`, the name, or `other` for a name
/// that is not a GraphQL name or came after [`MAX_OPERATION_NAMES`] others.
pub fn operation_label(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name.filter(|n| !n.is_empty()) else { return "anonymous".to_owned() };
    let well_formed = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return "other".to_owned();
    }
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if seen.contains(name) || seen.len() < MAX_OPERATION_NAMES {
        seen.insert(name.to_owned());
        name.to_owned()
    } else {
        "other".to_owned()
    }
}

pub fn record_request(operation: &str, outcome: Outcome, elapsed: Duration) {
    let (requests, seconds) = request_handles(operation, outcome);
    requests.increment(1);
    seconds.record(elapsed.as_secs_f64());
}

/// The request counter and histogram of an operation label and outcome. The facade's
/// macros copy the label strings into a new key and look it up in the registry on every
/// call (~5,000 instructions of a run by id's ~180,000); the handles are kept instead,
/// bounded as the labels are (operation labels × outcomes). Kept only once the recorder is
/// installed: handles taken before it are no-ops for good.
fn request_handles(operation: &str, outcome: Outcome) -> (Counter, Histogram) {
    type Handles = [Option<(Counter, Histogram)>; 4];
    static KEPT: OnceLock<Mutex<HashMap<String, Handles>>> = OnceLock::new();
    let make = || {
        let labels = [("operation", operation.to_owned()), ("outcome", outcome.label().to_owned())];
        (counter!(REQUESTS, &labels), histogram!(REQUEST_SECONDS, &labels))
    };
    if HANDLE.get().is_none() {
        return make();
    }
    let mut kept = KEPT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handles) = kept.get_mut(operation) {
        return handles[outcome as usize].get_or_insert_with(make).clone();
    }
    kept.entry(operation.to_owned()).or_default()[outcome as usize].get_or_insert_with(make).clone()
}

pub fn record_error_code(code: &str) {
    counter!(GRAPHQL_ERRORS, "code" => code.to_owned()).increment(1);
}

pub fn record_read(on_replica: bool) {
    counter!(READS, "target" => if on_replica { "replica" } else { "primary" }).increment(1);
}

pub fn record_batch(loader: &'static str, keys: usize) {
    histogram!(LOADER_BATCH, "loader" => loader).record(keys as f64);
}

/// Which pool a statement runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Read = 0,
    Write = 1,
}

impl PoolKind {
    fn label(self) -> &'static str {
        match self {
            PoolKind::Read => "read",
            PoolKind::Write => "write",
        }
    }
}

/// A shape of SQL statement: the store function that shaped it, and the pool it runs on.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub name: &'static str,
    pub pool: PoolKind,
}

impl Shape {
    pub const fn read(name: &'static str) -> Shape {
        Shape { name, pool: PoolKind::Read }
    }

    pub const fn write(name: &'static str) -> Shape {
        Shape { name, pool: PoolKind::Write }
    }
}

/// Statements started and not finished, per pool (read, write): counted here rather than
/// through a gauge so that a scrape can derive how many wait for a connection.
static IN_FLIGHT: [AtomicI64; 2] = [AtomicI64::new(0), AtomicI64::new(0)];

/// Runs one statement in a `sql` span named by its shape, timing it (the wait for a
/// connection included: that is what a slow pool costs a request).
pub async fn sql<T, E>(shape: Shape, statement: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let in_flight = &IN_FLIGHT[shape.pool as usize];
    in_flight.fetch_add(1, Ordering::Relaxed);
    // Decremented on drop too: a request cut off at its timeout drops the statement.
    let _done = scopeguard(|| {
        in_flight.fetch_sub(1, Ordering::Relaxed);
    });
    let started = Instant::now();
    let result = statement.instrument(tracing::debug_span!("sql", shape = shape.name)).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    histogram!(SQL_SECONDS, "shape" => shape.name, "outcome" => outcome).record(started.elapsed().as_secs_f64());
    result
}

struct Guard<F: FnMut()>(F);

impl<F: FnMut()> Drop for Guard<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn scopeguard<F: FnMut()>(f: F) -> Guard<F> {
    Guard(f)
}

/// What a scrape adds at the moment it runs: the pools' state, whether PostgreSQL answers.
pub struct Scrape<'a> {
    pub pools: &'a Pools,
    pub replicas: Option<&'a crate::replicas::Replicas>,
    /// `Some` when this process runs the embedded cluster: whether it is up.
    pub embedded_up: Option<bool>,
}

/// The exposition text: the recorded metrics plus the scrape-time gauges.
pub async fn render(scrape: Scrape<'_>) -> String {
    use sea_orm::ConnectionTrait as _;
    let handle = handle();
    for (kind, pool) in [(PoolKind::Read, &scrape.pools.read), (PoolKind::Write, &scrape.pools.write)] {
        let label = kind.label();
        let sqlx = pool.pool();
        let size = f64::from(sqlx.size());
        let idle = pool.idle() as f64;
        let in_use = (size - idle).max(0.0);
        let in_flight = IN_FLIGHT[kind as usize].load(Ordering::Relaxed).max(0) as f64;
        gauge!(POOL_CONNECTIONS, "pool" => label, "state" => "idle").set(idle);
        gauge!(POOL_CONNECTIONS, "pool" => label, "state" => "in_use").set(in_use);
        gauge!(POOL_MAX, "pool" => label).set(f64::from(sqlx.options().get_max_connections()));
        gauge!(SQL_IN_FLIGHT, "pool" => label).set(in_flight);
        gauge!(POOL_WAITING, "pool" => label).set(waiting(in_flight, in_use));
        let up = matches!(
            tokio::time::timeout(Duration::from_secs(1), pool.execute_unprepared("SELECT 1")).await,
            Ok(Ok(_))
        );
        gauge!(DATABASE_UP, "pool" => label).set(if up { 1.0 } else { 0.0 });
    }
    for replica in scrape.replicas.map(|r| r.replicas()).unwrap_or_default() {
        let name = replica.name.clone();
        gauge!(REPLICA_UP, "replica" => name.clone()).set(if replica.is_up() { 1.0 } else { 0.0 });
        gauge!(REPLICA_LAG, "replica" => name).set(replica.lag().as_secs_f64());
    }
    if let Some(up) = scrape.embedded_up {
        gauge!(EMBEDDED_UP).set(if up { 1.0 } else { 0.0 });
    }
    handle.run_upkeep();
    handle.render()
}

/// sqlx does not count the tasks waiting to acquire a connection: statements in flight
/// beyond the connections in use are. (A write transaction holds its connection between
/// statements, so on the write pool this undercounts, never overcounts.)
fn waiting(in_flight: f64, in_use: f64) -> f64 {
    (in_flight - in_use).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("")), "anonymous");
        assert_eq!(operation_label(Some("RunsPage")), "RunsPage");
        assert_eq!(operation_label(Some("Runs Page")), "other");
        assert_eq!(operation_label(Some(&"x".repeat(65))), "other");
        for i in 0..MAX_OPERATION_NAMES {
            operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(operation_label(Some("OneTooMany")), "other");
        // Names seen before the cap keep their label.
        assert_eq!(operation_label(Some("RunsPage")), "RunsPage");
    }

    #[test]
    fn waiting_is_in_flight_beyond_in_use() {
        assert_eq!(waiting(7.0, 4.0), 3.0);
        assert_eq!(waiting(2.0, 4.0), 0.0);
    }
}
