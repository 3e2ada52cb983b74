//! DataLoaders: nested fields of many runs become one `= ANY($1)` query per field.
//!
//! Created per request and stored in the request data: their caches (which also let a
//! mutation hand the rows it wrote to the fields of its response) must not outlive it.
//!
//! A loader collects keys for a short delay (1 ms) before it queries, so how many
//! statements a request sends depends on timing — resolving 100 list items can take longer
//! than the delay, and the batch splits — and every batch waits out the delay. [`prefetch`]
//! makes the common shapes deterministic and wait-free: a resolver that has a list of runs
//! in hand looks ahead in the selection and queries every nested row the list will need,
//! one statement per kind, right away, then feeds the rows (and the absences) into the
//! loaders' caches, where the nested resolvers find them. [`load_runs`] does the same for
//! runs asked for by id, with their metrics in the same statement when selected.

use std::collections::HashMap;

use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Lookahead};
use tearsheet_entity::{backtest_run, performance_metrics};
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiError;
use crate::monitoring;
use crate::store;
use crate::store::runs::{Configs, Found};

use super::runs::BacktestRun;

/// Cheap to clone (the loaders are shared): a subscription keeps a handle to clear them.
#[derive(Clone)]
pub struct Loaders {
    pub runs: Arc<DataLoader<RunLoader, HashMapCache>>,
    pub metrics: Arc<DataLoader<MetricsLoader, HashMapCache>>,
    /// Runs by config hash (`equivalentRuns`).
    pub equivalents: Arc<DataLoader<EquivalentsLoader, HashMapCache>>,
    /// For the queries `prefetch` and `load_runs` send themselves.
    read: Db,
}

impl Loaders {
    /// The pool this request reads from (a replica, or the primary).
    pub fn read(&self) -> &Db {
        &self.read
    }

    pub fn new(read: &Db) -> Self {
        Loaders {
            runs: Arc::new(DataLoader::with_cache(RunLoader(read.clone()), spawn_in_span, HashMapCache::default())),
            metrics: Arc::new(DataLoader::with_cache(
                MetricsLoader(read.clone()),
                spawn_in_span,
                HashMapCache::default(),
            )),
            equivalents: Arc::new(DataLoader::with_cache(
                EquivalentsLoader(read.clone()),
                spawn_in_span,
                HashMapCache::default(),
            )),
            read: read.clone(),
        }
    }

    /// Queries the metrics of `run_ids` now (one statement); runs without have no row.
    async fn read_metrics(&self, run_ids: &[Uuid]) -> async_graphql::Result<Vec<performance_metrics::Model>> {
        monitoring::record_batch("metrics_prefetch", run_ids.len());
        Ok(store::metrics::by_run_ids(&self.read, run_ids).await.map_err(ApiError::from)?)
    }

    /// Queries the metrics of `run_ids` now and caches them, absences included.
    async fn fetch_metrics(&self, run_ids: Vec<Uuid>) -> async_graphql::Result<()> {
        let rows = self.read_metrics(&run_ids).await?;
        self.metrics.feed_many(with_absences(&run_ids, rows.into_iter().map(|m| (m.backtest_run_id, m)))).await;
        Ok(())
    }

    /// Queries runs by id now (with their metrics when `metrics` is set, in the same
    /// statement; without their configs, or with them as text, as `configs` says) and
    /// returns the runs found. Nothing is cached: a resolver that asked for the runs
    /// returns them itself, and only `prefetch` needs them in the cache (copying a run into
    /// it copies its config: 8% of a run by id's instructions).
    async fn fetch_runs(&self, ids: &[Uuid], metrics: bool, configs: Configs) -> async_graphql::Result<Vec<Found>> {
        monitoring::record_batch("runs_prefetch", ids.len());
        let found = if metrics {
            store::runs::with_metrics(&self.read, ids, configs).await
        } else {
            store::runs::by_ids(&self.read, ids, configs).await
        };
        Ok(found.map_err(ApiError::from)?)
    }

    /// Caches the metrics read with `found` (by `fetch_runs` with metrics).
    async fn feed_metrics(&self, found: &[Found]) {
        self.metrics.feed_many(found.iter().map(|f| (f.run.id, f.metrics.clone()))).await;
    }
}

/// Runs a batch on its own task, inside the span that dispatched it (a request's): its SQL
/// spans then belong to that request's trace instead of starting traces of their own.
fn spawn_in_span<F>(batch: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument as _;
    tokio::spawn(batch.in_current_span())
}

/// The rows found, by key, and `None` for every other key asked for: absence is cached
/// like a row, so nothing missing is asked for twice.
fn with_absences<T>(keys: &[Uuid], found: impl Iterator<Item = (Uuid, T)>) -> HashMap<Uuid, Option<T>> {
    let mut all: HashMap<Uuid, Option<T>> = keys.iter().map(|k| (*k, None)).collect();
    all.extend(found.map(|(k, v)| (k, Some(v))));
    all
}

/// Whether any of `selections` selects the field at `path`.
pub fn selected(selections: &[Lookahead<'_>], path: &[&str]) -> bool {
    selections.iter().any(|s| {
        let mut look = s.field(path[0]);
        for name in &path[1..] {
            look = look.field(name);
        }
        look.exists()
    })
}

/// The runs with these ids (unknown ids are left out), read for a resolver whose result
/// applies `selections` to each: one statement for the runs and, when selected, their
/// metrics (which the runs hold); then what [`prefetch`] loads for their original runs.
///
/// `configs`: whether the caller needs the configs whatever the selection shows
/// (`Return`), or only where it shows them (`Omit`: read without them, or as text when
/// selected, shown as they are (`Configs::Text`); a selection the look-ahead misses still
/// gets its config from the `config` resolver).
pub async fn load_runs(
    ctx: &Context<'_>,
    selections: &[Lookahead<'_>],
    ids: &[Uuid],
    configs: Configs,
) -> async_graphql::Result<Vec<BacktestRun>> {
    let loaders = ctx.data::<Loaders>()?;
    let configs = match configs {
        Configs::Omit if selected(selections, &["config"]) => Configs::Text,
        configs => configs,
    };
    let metrics = selected(selections, &["metrics"]);
    let found = loaders.fetch_runs(ids, metrics, configs).await?;
    prefetch_originals(loaders, selections, &found.iter().map(|f| &f.run).collect::<Vec<_>>()).await?;
    let runs: Vec<BacktestRun> = found
        .into_iter()
        .map(|f| {
            let run = BacktestRun::with_config_text(f.run, f.config_text);
            if metrics { run.with_metrics(f.metrics) } else { run }
        })
        .collect();
    feed_for_originals(loaders, selections, &runs).await;
    Ok(runs)
}

/// Runs by id. Every requested key gets an entry — `None` for no such run — so that
/// absence is cached too and never asked for twice.
pub struct RunLoader(Db);

impl Loader<Uuid> for RunLoader {
    type Value = Option<backtest_run::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        monitoring::record_batch("runs", keys.len());
        let rows = store::runs::by_ids(&self.0, keys, Configs::Return).await.map_err(ApiError::from)?;
        Ok(with_absences(keys, rows.into_iter().map(|f| (f.run.id, f.run))))
    }
}

/// The newest runs with a config hash (at most `MAX_EQUIVALENT` + 1), newest first; every
/// hash asked for gets an entry.
pub struct EquivalentsLoader(Db);

impl Loader<Uuid> for EquivalentsLoader {
    type Value = Vec<backtest_run::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        monitoring::record_batch("equivalents", keys.len());
        let rows = store::runs::by_config_hashes(&self.0, keys).await.map_err(ApiError::from)?;
        let mut by_hash: HashMap<Uuid, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for run in rows {
            by_hash.entry(run.config_hash).or_default().push(run);
        }
        Ok(by_hash)
    }
}

/// Metrics by run id; `None` for a run without metrics (cached like a row).
pub struct MetricsLoader(Db);

impl Loader<Uuid> for MetricsLoader {
    type Value = Option<performance_metrics::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        monitoring::record_batch("metrics", keys.len());
        let rows = store::metrics::by_run_ids(&self.0, keys).await.map_err(ApiError::from)?;
        Ok(with_absences(keys, rows.into_iter().map(|m| (m.backtest_run_id, m))))
    }
}

/// `runs` as the `BacktestRun`s of a resolver whose result applies `selections` (each a
/// selection of `BacktestRun` fields) to each, with what those will need loaded in one
/// batch per kind: their `metrics` (which the runs then hold), `originalRun` and
/// `originalRun { metrics }`, fetched concurrently.
pub async fn prefetch(
    ctx: &Context<'_>,
    selections: &[Lookahead<'_>],
    runs: Vec<backtest_run::Model>,
) -> async_graphql::Result<Vec<BacktestRun>> {
    let loaders = ctx.data::<Loaders>()?;
    if !selected(selections, &["metrics"]) || runs.is_empty() {
        prefetch_originals(loaders, selections, &runs.iter().collect::<Vec<_>>()).await?;
        return Ok(runs.into_iter().map(BacktestRun::from).collect());
    }
    let ids: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
    let refs: Vec<&backtest_run::Model> = runs.iter().collect();
    let (metrics, ()) = tokio::try_join!(loaders.read_metrics(&ids), prefetch_originals(loaders, selections, &refs))?;
    let mut metrics: HashMap<Uuid, performance_metrics::Model> =
        metrics.into_iter().map(|m| (m.backtest_run_id, m)).collect();
    let runs: Vec<BacktestRun> = runs
        .into_iter()
        .map(|run| {
            let metrics = metrics.remove(&run.id);
            BacktestRun::from(run).with_metrics(metrics)
        })
        .collect();
    feed_for_originals(loaders, selections, &runs).await;
    Ok(runs)
}

/// [`prefetch`] for runs that hold their metrics when selected (read with them).
pub async fn prefetch_with_metrics(
    ctx: &Context<'_>,
    selections: &[Lookahead<'_>],
    runs: &[&BacktestRun],
) -> async_graphql::Result<()> {
    let loaders = ctx.data::<Loaders>()?;
    feed_for_originals(loaders, selections, runs).await;
    prefetch_originals(loaders, selections, &runs.iter().map(|r| r.model()).collect::<Vec<_>>()).await
}

/// Caches the metrics that `runs` hold when `originalRun { metrics }` is selected: an
/// original run among them is resolved from the runs loader, and asks the metrics loader
/// for its metrics ([`prefetch_originals`] fetches those of the other originals).
async fn feed_for_originals<R: std::borrow::Borrow<BacktestRun>>(
    loaders: &Loaders,
    selections: &[Lookahead<'_>],
    runs: &[R],
) {
    if selected(selections, &["originalRun", "metrics"]) {
        let metrics = runs.iter().filter_map(|r| Some((r.borrow().model().id, r.borrow().metrics()?.cloned())));
        loaders.metrics.feed_many(metrics).await;
    }
}

/// The `originalRun` (and `originalRun { metrics }`) part of [`prefetch`]: one statement.
async fn prefetch_originals(
    loaders: &Loaders,
    selections: &[Lookahead<'_>],
    runs: &[&backtest_run::Model],
) -> async_graphql::Result<()> {
    if !selected(selections, &["originalRun"]) {
        return Ok(());
    }
    // An original among the runs in hand needs no query, unless it was read without its
    // config (see `Scan::config`): such rows are never cached as whole runs.
    let complete: Vec<&backtest_run::Model> = runs.iter().copied().filter(|r| !r.config_snapshot.is_null()).collect();
    let in_hand: std::collections::HashSet<Uuid> = complete.iter().map(|r| r.id).collect();
    loaders.runs.feed_many(complete.iter().map(|r| (r.id, Some((*r).clone())))).await;
    let mut wanted: Vec<Uuid> =
        runs.iter().filter_map(|r| r.original_run_id).filter(|id| !in_hand.contains(id)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let with_metrics = selected(selections, &["originalRun", "metrics"]);
    if !wanted.is_empty() {
        // Whole runs, and the absences too: nothing missing is asked for twice.
        let found = loaders.fetch_runs(&wanted, with_metrics, Configs::Return).await?;
        if with_metrics {
            loaders.feed_metrics(&found).await;
        }
        loaders.runs.feed_many(with_absences(&wanted, found.into_iter().map(|f| (f.run.id, f.run)))).await;
    }
    // Originals in hand whose metrics `prefetch` does not fetch with the page's.
    let in_hand_originals: Vec<Uuid> =
        runs.iter().filter_map(|r| r.original_run_id).filter(|id| in_hand.contains(id)).collect();
    if with_metrics && !selected(selections, &["metrics"]) && !in_hand_originals.is_empty() {
        loaders.fetch_metrics(in_hand_originals).await?;
    }
    Ok(())
}

impl Loaders {
    /// Forgets every cached row: a subscription's connection lives long, and each batch of
    /// recorded runs is read afresh.
    pub fn clear(&self) {
        self.runs.clear::<Uuid>();
        self.metrics.clear::<Uuid>();
        self.equivalents.clear::<Uuid>();
    }
}
