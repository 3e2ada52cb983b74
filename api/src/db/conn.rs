//! A pool as the store uses it: SeaORM's connection, or, with the statement cache off
//! (`--statement-cache-size 0`, for PgBouncer before 1.21 in transaction mode), the same
//! pool driven through sqlx so that no statement is named and none outlives its
//! transaction.
//!
//! Why a mode of its own: PgBouncer in transaction mode hands a client a server
//! connection per transaction. sqlx sends a statement in two exchanges (Parse + Describe,
//! then Bind + Execute, each ending in Sync); outside a transaction PgBouncer may move the
//! second to another server connection, where the statement does not exist (or, unnamed,
//! is someone else's). Named statements also stay on the server connection after the
//! client moved on, and the next client's statement of the same name collides with it.
//! So in this mode every statement runs in a transaction of its own (`BEGIN`, `SET LOCAL
//! statement_timeout`, the unnamed statement, `COMMIT`): four round trips instead of one,
//! the price of a pooler that cannot track prepared statements. The statement timeout is
//! set per transaction because PgBouncer refuses it as a startup parameter and a session
//! `SET` would land on whichever server connection took it.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
use sea_orm::sqlx::{self, Postgres};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, StreamTrait, TransactionTrait as _,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

use super::hot::Hot;

/// Marks a statement whose text carries values (`store::query::Sql::push_literal`): sent
/// unnamed, planned for those values and not cached, since its text changes with them.
pub const ONE_OFF: &str = "/* one-off */ ";

fn one_off(stmt: &Statement) -> bool {
    stmt.sql.starts_with(ONE_OFF)
}

/// One of the server's pools (reads, or writes).
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    /// `Some` with the statement cache off: the `SET LOCAL` that opens each transaction
    /// (empty without a statement timeout).
    unnamed: Option<Arc<str>>,
    /// A replica's reads: where a read goes when this server is unavailable.
    fallback: Option<Arc<Fallback>>,
    /// Connections kept between reads (`None` in unnamed mode, or with a pool too small).
    hot: Option<Arc<Hot>>,
}

/// Another pool to run a read on when this one's server is unavailable, and what to do
/// when that happens (mark the replica down).
pub struct Fallback {
    pub db: Db,
    pub on_failure: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fallback").finish_non_exhaustive()
    }
}

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        let hot = Hot::new(conn.get_postgres_connection_pool()).map(Arc::new);
        Db { conn, unnamed: None, fallback: None, hot }
    }

    /// This pool, whose reads go to `fallback` when its server is unavailable.
    pub fn falling_back(mut self, fallback: Fallback) -> Self {
        self.fallback = Some(Arc::new(fallback));
        self
    }

    /// `result` of a read on this pool, or, when its server was unavailable and there is a
    /// fallback, the same read on the fallback.
    async fn or_fallback<T, F>(&self, result: Result<T, DbErr>, again: impl FnOnce(Db) -> F) -> Result<T, DbErr>
    where
        F: std::future::Future<Output = Result<T, DbErr>>,
    {
        match (result, &self.fallback) {
            (Err(e), Some(fallback)) if crate::error::unavailable(&e) => {
                tracing::warn!(error = %e, "a replica is unavailable: reading from the primary");
                (fallback.on_failure)();
                again(fallback.db.clone()).await
            }
            (result, _) => result,
        }
    }

    /// Every statement unnamed and in a transaction of its own that starts with `set_local`.
    pub fn unnamed(conn: DatabaseConnection, set_local: String) -> Self {
        Db { conn, unnamed: Some(set_local.into()), fallback: None, hot: None }
    }

    /// SeaORM's connection (for the migrator and other code that needs it).
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        self.conn.get_postgres_connection_pool()
    }

    /// Connections idle right now: the pool's and those kept between reads.
    pub fn idle(&self) -> usize {
        self.pool().num_idle() + self.hot.as_ref().map_or(0, |hot| hot.parked())
    }

    pub async fn close(&self) -> Result<(), DbErr> {
        if let Some(hot) = &self.hot {
            hot.release_all();
        }
        self.conn.clone().close().await
    }

    /// A transaction (SeaORM's, or in unnamed mode one driven through sqlx).
    pub async fn begin(&self) -> Result<DbTxn, DbErr> {
        match &self.unnamed {
            None => Ok(DbTxn::Prepared(self.conn.begin().await?)),
            Some(set_local) => Ok(DbTxn::Unnamed(Mutex::new(Some(begin(self.pool(), set_local).await?)))),
        }
    }
}

async fn begin(pool: &sqlx::PgPool, set_local: &str) -> Result<sqlx::Transaction<'static, Postgres>, DbErr> {
    let mut tx = pool.begin().await.map_err(acquire_err)?;
    if !set_local.is_empty() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(set_local.to_owned())).execute(&mut *tx).await.map_err(query_err)?;
    }
    Ok(tx)
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

fn acquire_err(e: sqlx::Error) -> DbErr {
    match e {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

/// The statement as an unnamed sqlx query: prepared for this execution only.
fn unnamed_query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values)).persistent(false)
}

async fn fetch_all(tx: &mut sqlx::PgConnection, stmt: &Statement) -> Result<Vec<QueryResult>, DbErr> {
    let rows = unnamed_query(stmt).fetch_all(tx).await.map_err(query_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

async fn execute(tx: &mut sqlx::PgConnection, stmt: &Statement) -> Result<ExecResult, DbErr> {
    unnamed_query(stmt).execute(tx).await.map(Into::into).map_err(exec_err)
}

async fn execute_unprepared(tx: &mut sqlx::PgConnection, sql: &str) -> Result<ExecResult, DbErr> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(tx).await.map(Into::into).map_err(exec_err)
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let Some(set_local) = &self.unnamed else { return self.conn.execute_raw(stmt).await };
        let mut tx = begin(self.pool(), set_local).await?;
        let result = execute(&mut tx, &stmt).await?;
        tx.commit().await.map_err(exec_err)?;
        Ok(result)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let Some(set_local) = &self.unnamed else { return self.conn.execute_unprepared(sql).await };
        let mut tx = begin(self.pool(), set_local).await?;
        let result = execute_unprepared(&mut tx, sql).await?;
        tx.commit().await.map_err(exec_err)?;
        Ok(result)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.query_all_raw(stmt).await?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if self.fallback.is_none() {
            return self.query_here(stmt).await;
        }
        // Kept for a second attempt (a replica's reads only: the hot path has no fallback).
        let result = self.query_here(stmt.clone()).await;
        self.or_fallback(result, |db| async move { db.query_all_raw(stmt).await }).await
    }
}

impl Db {
    async fn query_here(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if let Some(hot) = &self.hot {
            // What SeaORM's `query_all` does, on a connection kept between reads.
            let mut lease = hot.lease().await.map_err(acquire_err)?;
            let persistent = !one_off(&stmt);
            let values = stmt.values.unwrap_or(sea_orm::sea_query::Values(Vec::new()));
            let rows = sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
                .persistent(persistent)
                .fetch_all(lease.conn())
                .await
                .map_err(query_err)?;
            lease.park();
            return Ok(rows.into_iter().map(Into::into).collect());
        }
        let Some(set_local) = &self.unnamed else {
            if one_off(&stmt) {
                let mut conn = self.pool().acquire().await.map_err(acquire_err)?;
                return fetch_all(&mut conn, &stmt).await;
            }
            return self.conn.query_all_raw(stmt).await;
        };
        let mut tx = begin(self.pool(), set_local).await?;
        let rows = fetch_all(&mut tx, &stmt).await?;
        tx.commit().await.map_err(query_err)?;
        Ok(rows)
    }
}

/// Rows handed from the task that holds an unnamed-mode transaction open while it reads.
const STREAM_BUFFER: usize = 256;

impl StreamTrait for Db {
    type Stream<'a> = Pin<Box<dyn Stream<Item = Result<QueryResult, DbErr>> + Send + 'a>>;

    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            // A one-off statement streams as in unnamed mode (without its `SET LOCAL`).
            let set_local = match &self.unnamed {
                Some(set_local) => Some(&**set_local),
                None => one_off(&stmt).then_some(""),
            };
            let Some(set_local) = set_local else {
                let Some(fallback) = &self.fallback else {
                    return Ok(Box::pin(self.conn.stream_raw(stmt).await?) as Self::Stream<'a>);
                };
                return match self.conn.stream_raw(stmt.clone()).await {
                    Err(e) if crate::error::unavailable(&e) => {
                        (fallback.on_failure)();
                        let stream = fallback.db.conn.stream_raw(stmt).await?;
                        Ok(Box::pin(stream) as Self::Stream<'a>)
                    }
                    started => Ok(Box::pin(started?) as Self::Stream<'a>),
                };
            };
            // The transaction must stay open while the rows stream: a task holds it and
            // hands rows over a bounded channel, so memory stays bounded as with a cursor.
            let mut tx = match (begin(self.pool(), set_local).await, &self.fallback) {
                (Err(e), Some(fallback)) if crate::error::unavailable(&e) => {
                    (fallback.on_failure)();
                    return fallback.db.stream_raw(stmt).await;
                }
                (begun, _) => begun?,
            };
            let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
            tokio::spawn(async move {
                let outcome = async {
                    let mut rows = unnamed_query(&stmt).fetch(&mut *tx);
                    while let Some(row) = rows.try_next().await.map_err(query_err)? {
                        if sender.send(Ok(QueryResult::from(row))).await.is_err() {
                            return Ok(()); // the reader stopped early
                        }
                    }
                    Ok::<(), DbErr>(())
                }
                .await;
                match outcome {
                    Ok(()) => {
                        let _ = tx.commit().await;
                    }
                    Err(e) => {
                        let _ = sender.send(Err(e)).await;
                    }
                }
            });
            let stream = tokio_stream_from(receiver);
            Ok(Box::pin(stream) as Self::Stream<'a>)
        })
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
}

/// A write transaction.
pub enum DbTxn {
    Prepared(DatabaseTransaction),
    /// `None` once committed.
    Unnamed(Mutex<Option<sqlx::Transaction<'static, Postgres>>>),
}

impl DbTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        match self {
            DbTxn::Prepared(txn) => txn.commit().await,
            DbTxn::Unnamed(tx) => match tx.into_inner() {
                Some(tx) => tx.commit().await.map_err(exec_err),
                None => Ok(()),
            },
        }
    }
}

fn finished() -> DbErr {
    DbErr::Custom("the transaction is already finished".into())
}

#[async_trait::async_trait]
impl ConnectionTrait for DbTxn {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            DbTxn::Prepared(txn) => txn.execute_raw(stmt).await,
            DbTxn::Unnamed(tx) => execute(tx.lock().await.as_mut().ok_or_else(finished)?, &stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            DbTxn::Prepared(txn) => txn.execute_unprepared(sql).await,
            DbTxn::Unnamed(tx) => execute_unprepared(tx.lock().await.as_mut().ok_or_else(finished)?, sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.query_all_raw(stmt).await?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            DbTxn::Prepared(txn) => txn.query_all_raw(stmt).await,
            DbTxn::Unnamed(tx) => fetch_all(tx.lock().await.as_mut().ok_or_else(finished)?, &stmt).await,
        }
    }
}
