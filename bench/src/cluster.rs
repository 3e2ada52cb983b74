//! The benchmark's database: a throwaway PostgreSQL cluster of its own, migrated and
//! seeded with `tearsheet seed`'s generator.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sea_orm::{ConnectOptions, ConnectionTrait as _, DatabaseConnection};
use tearsheet_api::embedded_pg::{Cluster, ClusterSpec};
use tearsheet_api::progress::Progress;
use tearsheet_api::store::seed::{self, SeedSpec, Step};
use tearsheet_migration::{Migrator, MigratorTrait as _};

pub const DATABASE: &str = "bench";

pub struct BenchDb {
    /// Stops (and deletes) the cluster when dropped.
    pub cluster: Cluster,
    pub db: DatabaseConnection,
    pub seed_seconds: f64,
}

impl BenchDb {
    pub fn url(&self) -> String {
        self.cluster.url(DATABASE)
    }
}

/// The settings a dedicated database server of this size would have; durability stays on
/// (`fsync`, synchronous commit), so the write numbers are real.
const SETTINGS: [(&str, &str); 6] = [
    ("shared_buffers", "2GB"),
    ("effective_cache_size", "8GB"),
    ("max_wal_size", "8GB"),
    ("max_connections", "100"),
    // The statements each request sent, for the report.
    ("shared_preload_libraries", "pg_stat_statements"),
    ("pg_stat_statements.track", "all"),
];

pub async fn start(dir: PathBuf, keep: bool, spec: SeedSpec) -> BenchDb {
    let cluster_spec = ClusterSpec {
        pgdata: dir.join("pgdata"),
        log_file: dir.join("pgdata").join("server.log"),
        settings: SETTINGS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        ephemeral: !keep,
    };
    eprintln!("starting PostgreSQL in {}", dir.display());
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(cluster_spec))
        .await
        .expect("cluster task")
        .unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"));
    let admin = connect(&cluster.url("postgres"), 1).await;
    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {DATABASE}")).await;
    admin.execute_unprepared(&format!("CREATE DATABASE {DATABASE}")).await.expect("create database");
    let db = connect(&cluster.url(DATABASE), 4).await;
    Migrator::up(&db, None).await.expect("migrations");
    db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await.expect("pg_stat_statements");
    eprintln!("seeding {} runs (seed {})", spec.runs, spec.seed);
    let started = Instant::now();
    let mut progress = Progress::new("runs", spec.runs);
    seed::seed(&db, spec, |step| match step {
        Step::Rows(done) => progress.update(done),
        Step::Indexes(built, of) => eprintln!("  built index {built} of {of}"),
        Step::Vacuum => eprintln!("  vacuum analyze"),
    })
    .await
    .expect("seeding");
    let seed_seconds = started.elapsed().as_secs_f64();
    eprintln!("seeded in {seed_seconds:.1} s");
    BenchDb { cluster, db, seed_seconds }
}

pub async fn connect(url: &str, max: u32) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(max).sqlx_logging(false).acquire_timeout(Duration::from_secs(60));
    sea_orm::Database::connect(opts).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}
