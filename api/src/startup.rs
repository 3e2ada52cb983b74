//! Building and running the application: provision the database, migrate, bind, serve,
//! and shut down in order (HTTP first, then the pools, then the embedded cluster).

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::auth::AccessPolicy;
use crate::config::ServeArgs;
use crate::db::{self, DbStartError, Pools, Provisioned};
use crate::graphql;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbStartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("filling the demo data failed: {0}")]
    Demo(#[source] sea_orm::DbErr),
    #[error("serving HTTP failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("stopping the embedded PostgreSQL failed: {0}")]
    Stop(String),
    #[error("{0}")]
    Admin(String),
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// `--metrics-listen`: its own socket and router.
    metrics: Option<(TcpListener, axum::Router)>,
    pools: Pools,
    provisioned: Provisioned,
    grace: std::time::Duration,
}

impl Application {
    /// Everything up to a bound socket: tests build this on port 0 and read the port back.
    pub async fn build(args: &ServeArgs) -> Result<Self, StartError> {
        // Before anything is recorded: the facade drops what comes before a recorder.
        crate::monitoring::handle();
        let provisioned = db::provision(&args.db).await?;
        let pools = Pools::connect(&provisioned.url, &args.db, args.limits.statement_timeout()).await?;
        if !args.no_migrate {
            // Not on the pools: their statement timeout would cut a long index build short.
            let admin = db::connect_admin(&provisioned.direct_url).await.map_err(DbStartError::Migrate)?;
            let migrated = db::migrate_up(&admin).await;
            let _ = admin.close().await;
            migrated?;
        }
        if args.demo {
            let added = crate::demo::fill_if_empty(&pools.write).await.map_err(StartError::Demo)?;
            if added > 0 {
                tracing::info!(runs = added, "demo data added");
            }
        }
        let (policy, generated) = AccessPolicy::from_args(&args.auth);
        if let Some(token) = generated {
            // Printed, never logged: stderr once, as Jupyter does, so the person who
            // started the server can write and log collectors keep no copy.
            eprintln!(
                "\nNo write token configured (--write-token or TEARSHEET_WRITE_TOKENS); generated one for this run.\n\
                 Mutations need the header:\n\n    Authorization: Bearer {}\n",
                token.expose()
            );
        }
        let state = AppState {
            pools: pools.clone(),
            live: Some(crate::live::LiveRuns::start(&provisioned.direct_url, args.subscription_backlog as usize)),
            embedded_pid_file: provisioned.cluster.as_ref().map(|c| std::sync::Arc::new(c.pid_file())),
            replicas: replicas(&args.replicas, &args.db, &pools, args.limits.statement_timeout()).await?,
        };
        let metrics = match args.http.metrics_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
                Some((listener, crate::http::metrics_router(state.clone())))
            }
            None => None,
        };
        let traced = args.telemetry.otlp_endpoint.is_some();
        let router = crate::http::router(
            graphql::build_schema(state.clone(), args.limits.graphql(), traced),
            graphql::http_executor(state.clone(), args.limits.graphql(), traced),
            state,
            policy,
            &args.http,
            &args.limits,
        );
        let listener =
            TcpListener::bind(args.listen).await.map_err(|source| StartError::Bind { addr: args.listen, source })?;
        let grace = std::time::Duration::from_secs(args.shutdown_grace_secs);
        Ok(Application { listener, router, metrics, pools, provisioned, grace })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The `--metrics-listen` socket's address, when metrics have their own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Serves until `shutdown` completes; then refuses new connections, lets in-flight
    /// requests finish for up to the grace period, closes the pools and stops the embedded
    /// cluster (if any).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), StartError> {
        let Application { listener, router, metrics, pools, provisioned, grace } = self;
        // The metrics socket lives as long as the API's: aborted once that one is done.
        let metrics = metrics.map(|(listener, router)| {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "serving metrics failed");
                }
            })
        });
        let (begun_tx, begun_rx) = tokio::sync::oneshot::channel::<()>();
        let signalled = async move {
            shutdown.await;
            let _ = begun_tx.send(());
        };
        let serve = axum::serve(listener, router).with_graceful_shutdown(signalled);
        let grace_over = async move {
            if begun_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            served = serve.into_future() => served,
            () = grace_over => {
                tracing::warn!(grace_secs = grace.as_secs(), "shutdown grace period over: dropping the requests still running");
                Ok(())
            }
        };
        if let Some(task) = metrics {
            task.abort();
        }
        // sqlx waits for every connection to come back; one still held by a request the
        // grace period dropped never would.
        if tokio::time::timeout(std::time::Duration::from_secs(2), pools.close()).await.is_err() {
            tracing::warn!("closing the database pools timed out: connections still in use are dropped");
        }
        if let Some(mut cluster) = provisioned.cluster {
            tokio::task::spawn_blocking(move || cluster.stop())
                .await
                .map_err(|e| StartError::Stop(e.to_string()))?
                .map_err(|e| StartError::Stop(e.to_string()))?;
        }
        served.map_err(StartError::Serve)
    }
}

/// The replicas' pools, opened lazily (a replica that is down at start is skipped until it
/// answers), and their poller.
async fn replicas(
    args: &crate::config::ReplicaArgs,
    db: &crate::config::DatabaseArgs,
    pools: &Pools,
    statement_timeout: Option<std::time::Duration>,
) -> Result<Option<std::sync::Arc<crate::replicas::Replicas>>, StartError> {
    if args.replica_urls.is_empty() {
        return Ok(None);
    }
    let mut replicas = Vec::new();
    for url in &args.replica_urls {
        let pool = db::lazy_pool(url, db, statement_timeout)
            .await
            .map_err(|source| StartError::Db(DbStartError::Unreachable { url: url.redacted(), secs: 0, source }))?;
        replicas.push((url.redacted(), pool));
    }
    tracing::info!(count = replicas.len(), "reads go to replicas");
    Ok(Some(crate::replicas::Replicas::start(
        pools.read.clone(),
        replicas,
        std::time::Duration::from_millis(args.replica_max_lag_ms),
        std::time::Duration::from_millis(args.replica_wait_ms),
    )))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
