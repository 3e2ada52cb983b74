//! Migrations as steps that a live database can take without stopping its writers.
//!
//! Every migration runs outside a transaction (sea-orm-migration's `use_transaction`
//! returns `Some(false)`) as a list of steps, each safe on its own and safe to run again
//! after an interruption:
//!
//! - [`Step::Atomic`]: SQL in one transaction, with a short `lock_timeout` so that a DDL
//!   lock never queues for long behind a running query (while it waits, every writer
//!   waits behind it); on a timeout it is retried after a pause.
//! - [`Step::Index`] / [`Step::DropIndex`]: `CREATE` / `DROP INDEX CONCURRENTLY`, which
//!   cannot run in a transaction: writes continue while the index builds. A build that
//!   was interrupted leaves an invalid index behind; it is dropped and built again.
//! - [`Step::Backfill`]: an `UPDATE` of every row in batches by primary key, each batch
//!   committed on its own: row locks on one batch at a time, never a table lock.
//! - [`Step::Fill`]: the same batches of a source table's ids, each given to a statement
//!   (an `INSERT … SELECT … ON CONFLICT DO NOTHING` into a derived table).
//!
//! `tearsheet migrate --dry-run` prints the steps of pending migrations ([`Step::sql`]).

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// How long an atomic step waits for a lock before it gives up and tries again later.
pub const LOCK_TIMEOUT_MS: u32 = 500;
const ATTEMPTS: u32 = 40;
/// Rows per backfill batch.
pub const BATCH: i64 = 5_000;

#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Statements run as one transaction.
    Atomic(&'static str),
    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {on}`.
    Index { name: &'static str, on: &'static str },
    /// `DROP INDEX CONCURRENTLY IF EXISTS {0}`.
    DropIndex(&'static str),
    /// `UPDATE {table} SET {set} WHERE {pending}`, in batches of [`BATCH`] ids.
    Backfill { table: &'static str, set: &'static str, pending: &'static str },
    /// `{sql}` with `$1` and `$2` bounding each batch of [`BATCH`] ids of `source`
    /// (`id > $1 AND id <= $2`).
    Fill { source: &'static str, sql: &'static str },
}

impl Step {
    /// The SQL this step sends, with a comment on the locks it takes (for `--dry-run`).
    pub fn sql(&self) -> String {
        match self {
            Step::Atomic(sql) => format!(
                "-- one transaction; lock_timeout {LOCK_TIMEOUT_MS} ms, retried when a lock is not granted in time\n\
                 BEGIN;\nSET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms';\n{};\nCOMMIT;",
                sql.trim().trim_end_matches(';')
            ),
            Step::Index { name, on } => format!(
                "-- concurrently: writes continue while it builds (an invalid leftover of an interrupted build is dropped first)\n\
                 CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {};",
                on.trim()
            ),
            Step::DropIndex(name) => {
                format!("-- concurrently: writes continue\nDROP INDEX CONCURRENTLY IF EXISTS {name};")
            }
            Step::Backfill { table, set, pending } => format!(
                "-- in batches of {BATCH} rows by id, each batch its own transaction (row locks only)\n\
                 UPDATE {table} SET {set} WHERE id > $batch_start AND id <= $batch_end AND ({pending});"
            ),
            Step::Fill { source, sql } => format!(
                "-- in batches of {BATCH} ids of {source} ($1 < id <= $2), each batch its own transaction\n{};",
                sql.trim().trim_end_matches(';')
            ),
        }
    }

    pub async fn run(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        match self {
            Step::Atomic(sql) => atomic(db, sql).await,
            Step::Index { name, on } => {
                let invalid = db
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                         WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
                        [(*name).into()],
                    ))
                    .await?
                    .map(|r| r.try_get_by_index::<bool>(0))
                    .transpose()?
                    .unwrap_or(false);
                if invalid {
                    db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")).await?;
                }
                db.execute_unprepared(&format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {on}")).await?;
                Ok(())
            }
            Step::DropIndex(name) => {
                db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")).await.map(|_| ())
            }
            Step::Backfill { table, set, pending } => {
                let update = format!("UPDATE {table} SET {set} WHERE id > $1 AND id <= $2 AND ({pending})");
                let rows = in_batches(db, table, &update).await?;
                tracing::info!(table, rows, "backfilled");
                Ok(())
            }
            Step::Fill { source, sql } => {
                let rows = in_batches(db, source, sql).await?;
                tracing::info!(source, rows, "filled");
                Ok(())
            }
        }
    }
}

async fn atomic(db: &impl ConnectionTrait, sql: &str) -> Result<(), DbErr> {
    // One simple-query message: PostgreSQL runs it as one implicit transaction (SET LOCAL
    // holds within it), rolled back whole on an error, so the connection comes back clean.
    let script = format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'; {sql}");
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=ATTEMPTS {
        match db.execute_unprepared(&script).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let lock_timeout = e.to_string().contains("lock timeout");
                if !lock_timeout || attempt == ATTEMPTS {
                    return Err(e);
                }
                tracing::info!(attempt, "a migration step waited too long for a lock; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
    Ok(())
}

/// Runs `sql` once per batch of [`BATCH`] ids of `table`, with the batch's bounds as `$1`
/// (exclusive) and `$2` (inclusive), each batch committed on its own; the rows it affected.
async fn in_batches(db: &impl ConnectionTrait, table: &str, sql: &str) -> Result<u64, DbErr> {
    // The batch's last id (uuid has no max() in PostgreSQL 15).
    let bound = format!(
        "SELECT id FROM (SELECT id FROM {table} WHERE id > $1 ORDER BY id LIMIT {BATCH}) b ORDER BY id DESC LIMIT 1"
    );
    let mut start = uuid::Uuid::nil();
    let mut rows = 0u64;
    loop {
        let end = db
            .query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, &bound, [start.into()]))
            .await?
            .map(|r| r.try_get_by_index::<uuid::Uuid>(0))
            .transpose()?;
        let Some(end) = end else { break };
        let done = db
            .execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [start.into(), end.into()]))
            .await?;
        rows += done.rows_affected();
        start = end;
    }
    Ok(rows)
}
