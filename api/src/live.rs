//! Live updates: every server process listens for the runs any process records.
//!
//! Writes `NOTIFY` the new runs' ids inside their transaction (`store::record`), so a
//! notification exists only for a committed batch, and arrives in commit order. Each
//! process holds one dedicated `LISTEN` connection (sqlx's `PgListener`, which reconnects
//! by itself after a PostgreSQL restart; notifications sent while it is away are lost, as
//! with any LISTEN) and fans the ids out to its subscribers through a bounded broadcast
//! channel. A subscriber that falls more than [`BACKLOG`] batches behind is closed with an
//! error instead of being buffered for without bound.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::config::DatabaseUrl;
use crate::store::record::RUNS_CHANNEL;

/// The ids of runs committed together, in input order.
pub type Batch = Arc<Vec<Uuid>>;

#[derive(Debug)]
pub struct LiveRuns {
    tx: broadcast::Sender<Batch>,
    task: tokio::task::JoinHandle<()>,
}

impl LiveRuns {
    /// Starts listening (in the background: a database that is not reachable yet is
    /// retried). `backlog`: batches a subscriber may fall behind.
    pub fn start(url: &DatabaseUrl, backlog: usize) -> Arc<LiveRuns> {
        let (tx, _) = broadcast::channel(backlog.max(1));
        let url = url.expose().to_owned();
        let sender = tx.clone();
        let task = tokio::spawn(async move { listen(&url, &sender).await });
        Arc::new(LiveRuns { tx, task })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.tx.subscribe()
    }
}

impl Drop for LiveRuns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(url: &str, tx: &broadcast::Sender<Batch>) {
    let mut delay = Duration::from_millis(100);
    loop {
        let listener = async {
            let mut listener = PgListener::connect(url).await?;
            listener.listen(RUNS_CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "live updates: cannot listen yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        delay = Duration::from_millis(100);
        loop {
            match listener.recv().await {
                Ok(notification) => {
                    let ids: Vec<Uuid> = notification.payload().split(',').filter_map(|id| id.parse().ok()).collect();
                    // No subscriber is not an error.
                    let _ = tx.send(Arc::new(ids));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live updates: the listening connection failed; reconnecting");
                    break;
                }
            }
        }
    }
}
