//! DataLoaders: nested fields of many runs become one `= ANY($1)` query per field.
//!
//! Created per request and stored in the request data: their caches (which also let a
//! mutation hand the rows it wrote to the fields of its response) must not outlive it.
//!
//! A loader collects keys for a short delay before it queries, so how many statements a
//! request sends depends on timing: resolving 100 list items can take longer than the
//! delay (a debug build on a busy machine does), and the batch splits. [`prefetch`] makes
//! the common shapes deterministic: a resolver that has a list of runs in hand asks, by
//! looking ahead in the selection, for every nested row the list will need, each kind in
//! one `load_many` — one statement — before the nested resolvers run and find it cached.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Lookahead};
use sea_orm::DatabaseConnection;
use tearsheet_entity::{backtest_run, performance_metrics};
use uuid::Uuid;

use crate::error::ApiError;
use crate::store;

pub struct Loaders {
    pub runs: DataLoader<RunLoader, HashMapCache>,
    pub metrics: DataLoader<MetricsLoader, HashMapCache>,
}

impl Loaders {
    pub fn new(read: &DatabaseConnection) -> Self {
        Loaders {
            runs: DataLoader::with_cache(RunLoader(read.clone()), tokio::spawn, HashMapCache::default()),
            metrics: DataLoader::with_cache(MetricsLoader(read.clone()), tokio::spawn, HashMapCache::default()),
        }
    }
}

/// Runs by id. Every requested key gets an entry — `None` for no such run — so that
/// absence is cached too and never asked for twice.
pub struct RunLoader(DatabaseConnection);

impl Loader<Uuid> for RunLoader {
    type Value = Option<backtest_run::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = store::runs::by_ids(&self.0, keys).await.map_err(ApiError::from)?;
        let mut found: HashMap<Uuid, Self::Value> = keys.iter().map(|k| (*k, None)).collect();
        found.extend(rows.into_iter().map(|r| (r.id, Some(r))));
        Ok(found)
    }
}

/// Metrics by run id; `None` for a run without metrics (cached like a row).
pub struct MetricsLoader(DatabaseConnection);

impl Loader<Uuid> for MetricsLoader {
    type Value = Option<performance_metrics::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = store::metrics::by_run_ids(&self.0, keys).await.map_err(ApiError::from)?;
        let mut found: HashMap<Uuid, Self::Value> = keys.iter().map(|k| (*k, None)).collect();
        found.extend(rows.into_iter().map(|m| (m.backtest_run_id, Some(m))));
        Ok(found)
    }
}

/// Loads, in one batch per kind, what `selections` (each a selection of `BacktestRun`
/// fields applied to every run of `runs`) will ask the loaders for: `metrics`,
/// `originalRun` and `originalRun { metrics }`. The page's metrics and the original runs
/// are fetched concurrently.
pub async fn prefetch(
    ctx: &Context<'_>,
    selections: &[Lookahead<'_>],
    runs: &[&backtest_run::Model],
) -> async_graphql::Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let selected = |path: &[&str]| {
        selections.iter().any(|s| {
            let mut look = s.field(path[0]);
            for name in &path[1..] {
                look = look.field(name);
            }
            look.exists()
        })
    };
    let loaders = ctx.data::<Loaders>()?;
    let metrics = async {
        if selected(&["metrics"]) {
            loaders.metrics.load_many(runs.iter().map(|r| r.id)).await?;
        }
        Ok::<_, async_graphql::Error>(())
    };
    let originals = async {
        if !selected(&["originalRun"]) {
            return Ok(());
        }
        let wanted: Vec<Uuid> = runs.iter().filter_map(|r| r.original_run_id).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        // An original on the same page is already in hand.
        loaders.runs.feed_many(runs.iter().map(|r| (r.id, Some((*r).clone())))).await;
        let found = loaders.runs.load_many(wanted).await?;
        if selected(&["originalRun", "metrics"]) {
            loaders.metrics.load_many(found.values().flatten().map(|r| r.id)).await?;
        }
        Ok(())
    };
    tokio::try_join!(metrics, originals)?;
    Ok(())
}
