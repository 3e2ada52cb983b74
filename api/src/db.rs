//! Connecting to PostgreSQL: the embedded cluster or a given URL, the pools, migrations.
//!
//! Reads and writes get separate pools from the start. Today both point at the same
//! server; read replicas (issue 9) change only where the read pool points, and a burst of
//! slow reads can never take every connection a write needs.

use std::time::{Duration, Instant};

mod conn;
mod hot;

pub use conn::{Db, DbTxn, Fallback, ONE_OFF};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tearsheet_migration::{Migrator, MigratorTrait};

use crate::config::{DEFAULT_STATEMENT_CACHE_SIZE, DatabaseArgs, DatabaseUrl};
use crate::embedded_pg::{self, Cluster, ClusterSpec, EmbeddedPgError};

/// Why the database could not be made ready at start.
#[derive(Debug, thiserror::Error)]
pub enum DbStartError {
    #[error("embedded PostgreSQL: {0}")]
    Embedded(#[from] EmbeddedPgError),
    #[error("could not connect to {url} within {secs} s: {source}")]
    Unreachable {
        url: String,
        secs: u64,
        #[source]
        source: sea_orm::DbErr,
    },
    #[error("migrating the database failed: {0}")]
    Migrate(#[source] sea_orm::DbErr),
    #[error("seeding the database failed: {0}")]
    Seed(#[source] sea_orm::DbErr),
    #[error("preparing the embedded database failed: {0}")]
    Prepare(#[source] sea_orm::DbErr),
}

/// The database a command works on, and the cluster behind it when it is the embedded one.
/// Keep it alive as long as the database is in use: dropping it stops an embedded cluster.
#[derive(Debug)]
pub struct Provisioned {
    pub url: DatabaseUrl,
    /// PostgreSQL itself, for sessions a pooler cannot give (LISTEN, migrations): the
    /// direct URL when one is given, else `url`.
    pub direct_url: DatabaseUrl,
    pub cluster: Option<Cluster>,
}

/// Uses `DATABASE_URL` when given; otherwise starts (creating on first use) the embedded
/// cluster in the data dir and its `tearsheet` database.
pub async fn provision(args: &DatabaseArgs) -> Result<Provisioned, DbStartError> {
    if let Some(url) = &args.database_url {
        let direct_url = args.direct_database_url.clone().unwrap_or_else(|| url.clone());
        return Ok(Provisioned { url: url.clone(), direct_url, cluster: None });
    }
    let spec = ClusterSpec::in_data_dir(&args.data_dir);
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(spec))
        .await
        .map_err(|e| EmbeddedPgError::Command { what: "starting PostgreSQL".into(), detail: e.to_string() })??;
    let admin = connect_admin(&DatabaseUrl::new(cluster.url("postgres"))).await.map_err(DbStartError::Prepare)?;
    create_database_if_missing(&admin, embedded_pg::DEFAULT_DATABASE).await.map_err(DbStartError::Prepare)?;
    admin.close().await.map_err(DbStartError::Prepare)?;
    let url = DatabaseUrl::new(cluster.url(embedded_pg::DEFAULT_DATABASE));
    Ok(Provisioned { direct_url: url.clone(), url, cluster: Some(cluster) })
}

/// `CREATE DATABASE` has no `IF NOT EXISTS`; a concurrent creator losing the race gets
/// `duplicate_database`, which is success here.
pub async fn create_database_if_missing(admin: &DatabaseConnection, name: &str) -> Result<(), sea_orm::DbErr> {
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match admin.execute_unprepared(&sql).await {
        Err(e) if sqlstate(&e).as_deref() == Some("42P04") => Ok(()),
        other => other.map(|_| ()),
    }
}

/// The sqlx error inside a SeaORM error, whichever way SeaORM wrapped it.
pub fn sqlx_error(err: &sea_orm::DbErr) -> Option<&sea_orm::sqlx::Error> {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

/// The error the server reported, if the failure came from the server.
pub fn server_error(err: &sea_orm::DbErr) -> Option<&(dyn sea_orm::sqlx::error::DatabaseError + 'static)> {
    match sqlx_error(err)? {
        sea_orm::sqlx::Error::Database(db) => Some(db.as_ref()),
        _ => None,
    }
}

/// The SQLSTATE of a database error, if it came from the server.
pub fn sqlstate(err: &sea_orm::DbErr) -> Option<String> {
    server_error(err)?.code().map(|c| c.into_owned())
}

/// The read and the write pool.
#[derive(Clone, Debug)]
pub struct Pools {
    pub read: Db,
    pub write: Db,
}

impl Pools {
    /// Opens both pools, retrying with exponential backoff (capped at 2 s) for up to
    /// `--db-connect-retry-secs`: a database that starts a moment after Tearsheet (docker
    /// compose, a restarting host) is waited for, one that never comes is reported.
    ///
    /// `statement_timeout`: PostgreSQL cancels any statement of these pools that runs
    /// longer (set on each connection as it opens; `None` for commands that run long
    /// statements on purpose, such as `seed`).
    pub async fn connect(
        url: &DatabaseUrl,
        args: &DatabaseArgs,
        statement_timeout: Option<Duration>,
    ) -> Result<Self, DbStartError> {
        let deadline = Instant::now() + args.connect_retry();
        let mut delay = Duration::from_millis(100);
        let open = || pool(url, args, statement_timeout);
        let write = loop {
            match open().await {
                Ok(conn) => break conn,
                Err(e) if Instant::now() + delay < deadline => {
                    tracing::warn!(url = %url, error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(source) => {
                    return Err(DbStartError::Unreachable {
                        url: url.redacted(),
                        secs: args.db_connect_retry_secs,
                        source,
                    });
                }
            }
        };
        let read = open().await.map_err(|source| DbStartError::Unreachable { url: url.redacted(), secs: 0, source })?;
        Ok(Pools { read, write })
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

/// One pool: with the statement cache off, in unnamed mode (see `conn`), where the
/// statement timeout is set in each transaction instead of on each connection.
async fn pool(
    url: &DatabaseUrl,
    args: &DatabaseArgs,
    statement_timeout: Option<Duration>,
) -> Result<Db, sea_orm::DbErr> {
    open(url, args, statement_timeout, false).await
}

/// A pool that connects on first use: a replica that is down at start does not stop the
/// server from starting.
pub async fn lazy_pool(
    url: &DatabaseUrl,
    args: &DatabaseArgs,
    statement_timeout: Option<Duration>,
) -> Result<Db, sea_orm::DbErr> {
    open(url, args, statement_timeout, true).await
}

async fn open(
    url: &DatabaseUrl,
    args: &DatabaseArgs,
    statement_timeout: Option<Duration>,
    lazy: bool,
) -> Result<Db, sea_orm::DbErr> {
    let cache = args.statement_cache_size as usize;
    let settings =
        Settings { max: args.db_max_connections, acquire: args.acquire_timeout(), lazy, plans: Plans::Generic };
    if cache > 0 {
        return Ok(Db::new(connect_once(url, settings, statement_timeout, cache).await?));
    }
    let conn = connect_once(url, settings, None, 0).await?;
    let set_local =
        statement_timeout.map_or_else(String::new, |t| format!("SET LOCAL statement_timeout = {}", t.as_millis()));
    Ok(Db::unnamed(conn, set_local))
}

/// The size and behaviour of a pool.
#[derive(Clone, Copy)]
struct Settings {
    max: u32,
    acquire: Duration,
    lazy: bool,
    plans: Plans,
}

/// How PostgreSQL plans the pool's prepared statements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plans {
    /// Once per connection, for any values: the server's pools.
    Generic,
    /// PostgreSQL's default (migrations, seeding, admin commands).
    Default,
}

/// One connection without a statement timeout, for migrations (an index built on a large
/// table may take minutes).
pub async fn connect_admin(url: &DatabaseUrl) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let settings = Settings { max: 1, acquire: Duration::from_secs(10), lazy: false, plans: Plans::Default };
    connect_once(url, settings, None, DEFAULT_STATEMENT_CACHE_SIZE as usize).await
}

async fn connect_once(
    url: &DatabaseUrl,
    Settings { max, acquire, lazy, plans }: Settings,
    statement_timeout: Option<Duration>,
    statement_cache: usize,
) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut opts = ConnectOptions::new(url.expose());
    opts.max_connections(max)
        .connect_lazy(lazy)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        // sqlx waits 30 s by default: a request during an outage should fail fast instead.
        .acquire_timeout(acquire)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        // sqlx pings every connection it hands out by default: a second round trip for
        // every statement (measured: run by id 3,941 → 4,261 req/s, newest page 2,326 →
        // 2,724 req/s without it, BENCHMARKS.md).
        // Pinging only connections idle for a while still catches the ones a restarted
        // PostgreSQL or a proxy dropped; a hot connection that broke fails its statement
        // and is discarded.
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
        // Statements are traced by Tearsheet where they are shaped, not logged by sqlx.
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| o.application_name("tearsheet").statement_cache_capacity(statement_cache));
    let mut settings = Vec::new();
    if let Some(timeout) = statement_timeout {
        // A `SET` when each connection opens, not the startup parameter that
        // `ConnectOptions::statement_timeout` sends: PgBouncer refuses startup options.
        settings.push(format!("SET statement_timeout = {}", timeout.as_millis()));
    }
    if statement_cache > 0 && plans == Plans::Generic {
        // Each statement is planned once per connection, for any values (see
        // `store::query::Sql::push_literal` for those planned for their values). By
        // default PostgreSQL keeps planning a prepared statement for each execution's
        // values while the plan for any values is estimated costlier, and its estimates
        // for a strategy, a cursor or a containment are guesses: most pages were planned
        // on every request, for longer than they ran (a strategy page: bind 0.14 ms,
        // execute 0.18 ms), and often into a worse plan (the time index filtered by
        // strategy instead of the strategy's own index). BENCHMARKS.md step 24.
        settings.push("SET plan_cache_mode = force_generic_plan".to_owned());
    }
    if !settings.is_empty() {
        let sql = settings.join("; ");
        opts.map_sqlx_postgres_pool_opts(move |pool| {
            let sql = sql.clone();
            pool.after_connect(move |conn, _| {
                let sql = sql.clone();
                Box::pin(async move {
                    sea_orm::sqlx::Executor::execute(conn, sea_orm::sqlx::AssertSqlSafe(sql)).await.map(|_| ())
                })
            })
        });
    }
    sea_orm::Database::connect(opts).await
}

/// Applies every pending migration.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbStartError> {
    let pending = Migrator::get_pending_migrations(db).await.map_err(DbStartError::Migrate)?;
    if pending.is_empty() {
        return Ok(());
    }
    tracing::info!(count = pending.len(), "applying migrations");
    Migrator::up(db, None).await.map_err(DbStartError::Migrate)
}
