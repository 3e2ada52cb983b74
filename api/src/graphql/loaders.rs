//! DataLoaders: nested fields of many runs become one `= ANY($1)` query per field.
//!
//! Created per request and stored in the request data: their caches (which also let a
//! mutation hand the rows it wrote to the fields of its response) must not outlive it.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
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

/// Runs by id.
pub struct RunLoader(DatabaseConnection);

impl Loader<Uuid> for RunLoader {
    type Value = backtest_run::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = store::runs::by_ids(&self.0, keys).await.map_err(ApiError::from)?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}

/// Metrics by run id.
pub struct MetricsLoader(DatabaseConnection);

impl Loader<Uuid> for MetricsLoader {
    type Value = performance_metrics::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = store::metrics::by_run_ids(&self.0, keys).await.map_err(ApiError::from)?;
        Ok(rows.into_iter().map(|m| (m.backtest_run_id, m)).collect())
    }
}
