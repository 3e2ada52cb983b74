//! Connections the read path keeps checked out of sqlx's pool between statements.
//!
//! Why: sqlx pings every connection it takes back (`PoolConnection`'s drop sends `Sync` and
//! waits for `ReadyForQuery`), whatever the pool's options say. That is a second round
//! trip to PostgreSQL for every statement: a send that wakes a backend, its answer, a
//! receive and a task. Keeping the connection out of the pool after a statement that
//! finished cleanly skips it (run by id: 9,500 → 11,000 req/s, PostgreSQL's CPU per
//! request 72 → 55 µs; BENCHMARKS.md step 23).
//!
//! What still goes through sqlx, and why that is safe:
//! - a statement that failed, or whose future was dropped halfway (a request timeout):
//!   its connection is dropped into the pool, whose ping drains it or throws it away;
//! - a connection parked for longer than [`STALE`]: returned the same way (the ping that
//!   `test_before_acquire_if_idle_for` would have sent), so a connection a restarted server
//!   or a proxy dropped is not used;
//! - every connection once it has been kept for [`RECYCLE`]: the pool then applies its
//!   max lifetime and idle timeout to it;
//! - a connection whose statement ends while the pool is full and has none idle: someone
//!   may be waiting in the pool's queue (a read, a transaction), and kept it would idle
//!   while they wait;
//! - at most `max - max / 4` (at least one less than `max`) connections are kept at once:
//!   with reads quiet, the connections they kept are not taken back, and a transaction or
//!   a stream, which acquire from the pool, still finds one there.
//!
//! With no reads at all, the kept connections stay open (idle on PostgreSQL's side) until
//! the next read finds them stale and gives them back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::sqlx::Postgres;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, PgPool};

/// A parked connection unused this long is given back to the pool (which pings it).
pub const STALE: Duration = Duration::from_secs(1);
/// A connection kept this long (parked or in use) is given back to the pool after its
/// statement, so that the pool's lifetime and idle rules see it.
pub const RECYCLE: Duration = Duration::from_secs(60);

pub struct Hot {
    pool: PgPool,
    state: Mutex<State>,
    /// How many connections the cache may hold at once.
    cap: usize,
}

#[derive(Default)]
struct State {
    /// The most recently parked last.
    parked: Vec<Parked>,
    /// Connections out of the pool on behalf of the cache: parked, or running a statement.
    owned: usize,
}

struct Parked {
    conn: PoolConnection<Postgres>,
    /// When it was parked.
    at: Instant,
    /// When the cache took it from the pool.
    since: Instant,
}

/// A connection for one statement. Dropped without [`Lease::park`] (a failure, a
/// cancelled request), it goes back to the pool, which pings it.
pub struct Lease<'a> {
    hot: &'a Hot,
    /// `None` once parked.
    conn: Option<PoolConnection<Postgres>>,
    /// `Some` when it counts against the cache (it may be parked afterwards).
    since: Option<Instant>,
}

impl Hot {
    /// A cache over `pool`, or `None` when the pool is too small to spare connections.
    pub fn new(pool: &PgPool) -> Option<Hot> {
        let max = pool.options().get_max_connections() as usize;
        let cap = max - (max / 4).max(1);
        (cap > 0).then(|| Hot { pool: pool.clone(), state: Mutex::new(State::default()), cap })
    }

    /// Connections parked right now (idle, though the pool counts them in use).
    pub fn parked(&self) -> usize {
        self.lock().parked.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while the lock is held; should it, the state is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The most recently parked connection, or one from the pool.
    pub async fn lease(&self) -> Result<Lease<'_>, sqlx::Error> {
        let stale = {
            let mut state = self.lock();
            match state.parked.pop() {
                Some(p) if p.at.elapsed() < STALE => {
                    return Ok(Lease { hot: self, conn: Some(p.conn), since: Some(p.since) });
                }
                // The newest is stale, so all are: they go back to the pool together.
                Some(p) => {
                    let mut stale = std::mem::take(&mut state.parked);
                    stale.push(p);
                    state.owned -= stale.len();
                    stale
                }
                None => Vec::new(),
            }
        };
        drop(stale);
        let conn = self.pool.acquire().await?;
        let mut state = self.lock();
        let since = (state.owned < self.cap).then(|| {
            state.owned += 1;
            Instant::now()
        });
        Ok(Lease { hot: self, conn: Some(conn), since })
    }

    /// Gives every parked connection back to the pool (before closing it: `close` waits
    /// for every connection out of the pool).
    pub fn release_all(&self) {
        let parked = {
            let mut state = self.lock();
            let parked = std::mem::take(&mut state.parked);
            state.owned -= parked.len();
            parked
        };
        drop(parked);
    }
}

impl std::fmt::Debug for Hot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Hot").field("parked", &state.parked.len()).field("owned", &state.owned).finish()
    }
}

impl Lease<'_> {
    pub fn conn(&mut self) -> &mut sqlx::PgConnection {
        self.conn.as_mut().expect("a lease holds its connection until parked or dropped")
    }

    /// Keeps the connection of a statement that finished cleanly, unless it is due back.
    pub fn park(mut self) {
        let (Some(conn), Some(since)) = (self.conn.take(), self.since.take()) else { return };
        let hot = self.hot;
        let now = Instant::now();
        let mut state = hot.lock();
        // A full pool without an idle connection may have someone waiting in it: the
        // connection goes back so that they get it (kept, it would idle while they wait).
        let full = hot.pool.size() >= hot.pool.options().get_max_connections() && hot.pool.num_idle() == 0;
        if full || now.duration_since(since) >= RECYCLE || hot.pool.is_closed() {
            state.owned -= 1;
            drop(state);
            drop(conn);
            return;
        }
        // Under steady traffic the oldest parked connection only ages when fewer are in
        // use than before: give it back rather than keep more than the load needs.
        let oldest = match state.parked.first() {
            Some(p) if now.duration_since(p.at) >= STALE => {
                state.owned -= 1;
                Some(state.parked.remove(0))
            }
            _ => None,
        };
        state.parked.push(Parked { conn, at: now, since });
        drop(state);
        drop(oldest);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Not parked: the connection goes back to the pool by its own drop.
        if self.conn.is_some() && self.since.is_some() {
            self.hot.lock().owned -= 1;
        }
    }
}
