//! Shared state: cheap-to-clone handles, passed explicitly (no globals).

use std::path::PathBuf;
use std::sync::Arc;

use crate::db::Pools;
use crate::live::LiveRuns;

#[derive(Clone, Debug)]
pub struct AppState {
    pub pools: Pools,
    /// Recorded runs as they commit (`None` where nothing listens, e.g. a schema built for
    /// tests without a server: subscriptions then fail with a clear error).
    pub live: Option<Arc<LiveRuns>>,
    /// The embedded cluster's `postmaster.pid`, when this process started one (for the
    /// `tearsheet_embedded_postgres_up` metric).
    pub embedded_pid_file: Option<Arc<PathBuf>>,
    /// Streaming replicas for reads (`None`: reads go to the primary).
    pub replicas: Option<Arc<crate::replicas::Replicas>>,
}
