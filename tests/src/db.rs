//! Fresh databases for tests.

use std::sync::OnceLock;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait as _, DatabaseConnection};
use tearsheet_api::embedded_pg::{Cluster, ClusterSpec};
use tearsheet_migration::{Migrator, MigratorTrait as _};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The server every test database lives on: a base URL with `{db}` where the database
/// name goes.
struct Server {
    url_template: String,
    /// Keeps the throwaway cluster referenced; its watchdog stops it (and deletes its
    /// data) when the test process exits, since statics are never dropped.
    _cluster: Option<Cluster>,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            return Server { url_template: with_database(&url, "{db}"), _cluster: None };
        }
        let dir =
            std::env::temp_dir().join(format!("tearsheet-test-{}-{}", std::process::id(), Uuid::new_v4().simple()));
        let spec = ClusterSpec {
            pgdata: dir.join("pgdata"),
            log_file: dir.join("pgdata").join("server.log"),
            // Durability is worthless for a throwaway cluster; speed is not.
            settings: [
                ("fsync", "off"),
                ("synchronous_commit", "off"),
                ("full_page_writes", "off"),
                ("max_connections", "300"),
                ("shared_buffers", "64MB"),
                // Lets tests count the statements a request sent (see `statements_sent`).
                ("shared_preload_libraries", "pg_stat_statements"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
            ephemeral: true,
        };
        let cluster = Cluster::start(spec).unwrap_or_else(|e| panic!("starting the test PostgreSQL cluster: {e}"));
        Server { url_template: cluster.url("{db}"), _cluster: Some(cluster) }
    })
}

/// Replaces the database name of a postgres URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn url_for(db: &str) -> String {
    server().url_template.replace("{db}", db)
}

async fn connect(url: &str, max: u32) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(max).sqlx_logging(false).acquire_timeout(Duration::from_secs(30));
    sea_orm::Database::connect(opts).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

async fn admin() -> DatabaseConnection {
    connect(&url_for("postgres"), 1).await
}

/// The migrated template, created once per test process.
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("tearsheet_template_{}", Uuid::new_v4().simple());
            let admin = admin().await;
            admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create template");
            let db = connect(&url_for(&name), 1).await;
            Migrator::up(&db, None).await.expect("migrating the template database");
            db.close().await.expect("close");
            admin.close().await.expect("close");
            name
        })
        .await
}

/// A database of its own for one test, dropped when the guard drops.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A fresh database with every migration applied.
    pub async fn migrated() -> Self {
        let template = template().await;
        Self::create(&format!("TEMPLATE {template}")).await
    }

    /// A fresh, empty database (no tables).
    pub async fn empty() -> Self {
        // Make sure the server is up before the first `CREATE DATABASE`.
        Self::create("").await
    }

    async fn create(options: &str) -> Self {
        let name = format!("tearsheet_test_{}", Uuid::new_v4().simple());
        let admin = admin().await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name} {options}"))
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        admin.close().await.expect("close");
        TestDb { url: url_for(&name), name }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        connect(&self.url, 4).await
    }

    /// How many rows `table` holds (read directly, not through the API).
    pub async fn count_rows(&self, table: &str) -> i64 {
        let db = connect(&self.url, 1).await;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT count(*) FROM {table}"),
            ))
            .await
            .unwrap_or_else(|e| panic!("counting {table}: {e}"))
            .expect("a row");
        let n = row.try_get_by_index::<i64>(0).expect("bigint");
        db.close().await.expect("close");
        n
    }

    /// How many statements this database has executed so far, from `pg_stat_statements`
    /// (loaded in the throwaway cluster; a `TEST_DATABASE_URL` server must load it too).
    /// The counting queries themselves are left out.
    pub async fn statements_sent(&self) -> i64 {
        let db = connect(&self.url, 1).await;
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .expect("pg_stat_statements must be available (shared_preload_libraries) to count statements");
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND query NOT ILIKE '%pg_stat_statements%'",
            ))
            .await
            .expect("count statements")
            .expect("a row");
        let n = row.try_get_by_index::<i64>(0).expect("bigint");
        db.close().await.expect("close");
        n
    }

    /// Holds an exclusive lock on `backtest_runs` (from a connection of its own) until the
    /// returned sender is dropped: a way to make the server's statements wait.
    pub async fn lock_runs(&self) -> tokio::sync::oneshot::Sender<()> {
        use sea_orm::TransactionTrait as _;
        let conn = self.connect().await;
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let txn = conn.begin().await.expect("begin");
            txn.execute_unprepared("LOCK TABLE backtest_runs IN ACCESS EXCLUSIVE MODE").await.expect("lock");
            let _ = locked_tx.send(());
            let _ = release_rx.await;
            txn.rollback().await.expect("rollback");
        });
        locked_rx.await.expect("locked");
        release_tx
    }

    /// The full text of every statement this database has run whose text is LIKE `pattern`.
    pub async fn statements_like(&self, pattern: &str) -> Vec<String> {
        let db = connect(&self.url, 1).await;
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await.expect("pg_stat_statements");
        let rows = db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT query FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE $1",
                [pattern.into()],
            ))
            .await
            .expect("pg_stat_statements");
        db.close().await.expect("close");
        rows.iter().map(|r| r.try_get_by_index::<String>(0).expect("query")).collect()
    }

    /// The statements this database ran, most called first (for failure messages).
    pub async fn statement_log(&self) -> Vec<String> {
        let db = connect(&self.url, 1).await;
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT calls || ' x ' || left(query, 160) FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC",
            ))
            .await
            .unwrap_or_default();
        rows.iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // On a throwaway cluster the database goes with the cluster; on a shared server
        // drop it now. Drop cannot await: a short-lived thread with its own runtime does.
        if std::env::var_os("TEST_DATABASE_URL").is_none() {
            return;
        }
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let admin = admin().await;
                let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                let _ = admin.close().await;
            });
            Some(())
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
