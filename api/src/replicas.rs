//! Read replicas: which pool serves a request's reads.
//!
//! Queries go to streaming replicas (`--replica-url`, round robin), mutations to the
//! primary. A replica that does not answer, or whose replay lags the primary by more than
//! `--replica-max-lag-ms`, is skipped; with none left, reads go to the primary.
//!
//! Read-your-writes: every mutation's response carries the primary's WAL position after
//! its commit (`x-tearsheet-lsn`). A request that sends it back is served by a replica
//! that has replayed that far, waiting up to `--replica-wait-ms` for one, else by the
//! primary. So a client that wrote and then reads, through any Tearsheet process, sees
//! its write.
//!
//! Lag is measured in time, not bytes: a poller samples the primary's WAL position and
//! each replica's replay position every [`POLL`]; a replica's lag is how long ago the
//! primary had WAL the replica has not replayed yet (0 when it has replayed everything
//! the primary had at the last sample).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait as _, DbBackend, Statement};

use crate::db::Db;

/// How often the poller samples the primary and the replicas.
pub const POLL: Duration = Duration::from_millis(200);
/// The header a mutation's response carries and a read may send back.
pub const LSN_HEADER: &str = "x-tearsheet-lsn";

/// A WAL position, parsed from PostgreSQL's `X/Y` text form.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

pub struct Replica {
    pub name: String,
    pub db: Db,
    up: AtomicBool,
    replayed: AtomicU64,
    lag_ms: AtomicU64,
}

impl Replica {
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn lag(&self) -> Duration {
        Duration::from_millis(self.lag_ms.load(Ordering::Relaxed))
    }

    /// Marks it down at once (a statement on it failed to connect); the poller brings it
    /// back when it answers again.
    pub fn mark_down(&self) {
        self.up.store(false, Ordering::Relaxed);
    }
}

/// The replicas and the primary's read pool.
pub struct Replicas {
    primary: Db,
    replicas: Vec<Arc<Replica>>,
    next: AtomicUsize,
    max_lag: Duration,
    wait: Duration,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas").field("replicas", &self.replicas.len()).finish_non_exhaustive()
    }
}

/// Where one request's reads go.
#[derive(Clone)]
pub struct ReadTarget {
    pub db: Db,
    /// The replica serving them (`None`: the primary).
    pub replica: Option<Arc<Replica>>,
}

impl Replicas {
    /// Starts polling (the task ends when the last handle is dropped).
    pub fn start(primary: Db, replicas: Vec<(String, Db)>, max_lag: Duration, wait: Duration) -> Arc<Replicas> {
        let replicas = replicas
            .into_iter()
            .map(|(name, db)| {
                Arc::new(Replica {
                    name,
                    db,
                    up: AtomicBool::new(false),
                    replayed: AtomicU64::new(0),
                    lag_ms: AtomicU64::new(u64::MAX),
                })
            })
            .collect();
        let this = Arc::new(Replicas { primary, replicas, next: AtomicUsize::new(0), max_lag, wait });
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            let mut history: VecDeque<(Instant, u64)> = VecDeque::new();
            loop {
                let Some(this) = weak.upgrade() else { return };
                this.poll(&mut history).await;
                drop(this);
                tokio::time::sleep(POLL).await;
            }
        });
        this
    }

    pub fn replicas(&self) -> &[Arc<Replica>] {
        &self.replicas
    }

    async fn poll(&self, history: &mut VecDeque<(Instant, u64)>) {
        let now = Instant::now();
        if let Some(lsn) = position(&self.primary, "SELECT pg_current_wal_lsn()::text").await {
            history.push_back((now, lsn));
        }
        while history.len() > 2
            && history.front().is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(600))
        {
            history.pop_front();
        }
        for replica in &self.replicas {
            match position(&replica.db, "SELECT pg_last_wal_replay_lsn()::text").await {
                Some(replayed) => {
                    replica.replayed.store(replayed, Ordering::Relaxed);
                    // The oldest sample the replica has not replayed: how far behind it is.
                    let behind = history
                        .iter()
                        .find(|(_, lsn)| *lsn > replayed)
                        .map_or(Duration::ZERO, |(t, _)| now.duration_since(*t));
                    replica.lag_ms.store(behind.as_millis() as u64, Ordering::Relaxed);
                    replica.up.store(true, Ordering::Relaxed);
                }
                None => replica.up.store(false, Ordering::Relaxed),
            }
        }
    }

    fn eligible(&self) -> impl Iterator<Item = &Arc<Replica>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.replicas.len();
        (0..n).map(move |i| &self.replicas[(start + i) % n]).filter(|r| r.is_up() && r.lag() <= self.max_lag)
    }

    /// The pool for a request's reads; `after`: the WAL position the client has seen.
    pub async fn route(&self, after: Option<u64>) -> ReadTarget {
        let primary = || ReadTarget { db: self.primary.clone(), replica: None };
        let Some(after) = after else {
            return self.eligible().next().map_or_else(primary, |r| self.target(r));
        };
        if let Some(r) = self.eligible().find(|r| r.replayed.load(Ordering::Relaxed) >= after) {
            return self.target(r);
        }
        // Wait (bounded) for a replica to replay that far, asking it directly.
        let deadline = Instant::now() + self.wait;
        let candidates: Vec<Arc<Replica>> = self.eligible().cloned().collect();
        while Instant::now() < deadline && !candidates.is_empty() {
            for r in &candidates {
                if let Some(replayed) = position(&r.db, "SELECT pg_last_wal_replay_lsn()::text").await {
                    r.replayed.fetch_max(replayed, Ordering::Relaxed);
                    if replayed >= after {
                        return self.target(r);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        primary()
    }
}

impl Replicas {
    /// A replica's pool whose reads fall back to the primary (marking the replica down)
    /// when the replica is unavailable.
    fn target(&self, replica: &Arc<Replica>) -> ReadTarget {
        let marked = replica.clone();
        let db = replica.db.clone().falling_back(crate::db::Fallback {
            db: self.primary.clone(),
            on_failure: Box::new(move || marked.mark_down()),
        });
        ReadTarget { db, replica: Some(replica.clone()) }
    }
}

/// A WAL position from `sql`, or `None` when the server does not answer within a second.
async fn position(db: &Db, sql: &str) -> Option<u64> {
    let row = tokio::time::timeout(
        Duration::from_secs(1),
        db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned())),
    )
    .await
    .ok()?
    .ok()??;
    parse_lsn(&row.try_get_by_index::<Option<String>>(0).ok()??)
}

/// The primary's WAL position now (after a commit: at or past it).
pub async fn primary_position(write: &Db) -> Option<u64> {
    position(write, "SELECT pg_current_wal_lsn()::text").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_round_trip_and_order() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B3748));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert!(parse_lsn("1/0") > parse_lsn("0/FFFFFFFF"));
        assert_eq!(format_lsn(0x1_0000_00AB), "1/AB");
        assert_eq!(parse_lsn(&format_lsn(123_456_789_000)), Some(123_456_789_000));
        assert_eq!(parse_lsn("nonsense"), None);
    }
}
