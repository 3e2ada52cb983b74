//! `duplicateRunSets`: runs with the same inputs (config hash) whose results differ, the
//! largest Sharpe spread first: nondeterminism a researcher wants to see.

use async_graphql::{Context, Object, SimpleObject};
use rust_decimal::prelude::ToPrimitive as _;

use super::limits::page_cost;
use super::loaders::Loaders;
use super::runs::{BacktestRun, BacktestRunFilter};
use crate::error::ApiError;
use crate::store::runs::Configs;

#[derive(SimpleObject)]
pub struct DuplicateRunSet {
    pub config_hash: String,
    /// Newest first (at most 100).
    pub runs: Vec<BacktestRun>,
    /// Largest minus smallest Sharpe ratio across the set: non-zero means the same inputs
    /// gave different results.
    pub sharpe_spread: Option<f64>,
}

#[derive(Default)]
pub struct DuplicateQuery;

#[Object]
impl DuplicateQuery {
    /// Sets of two or more runs with the same inputs, largest Sharpe spread first. `first`:
    /// 1 to 100 sets (default 20). One aggregate statement, then the sets' runs in one more.
    #[graphql(complexity = "page_cost(first) * child_complexity")]
    async fn duplicate_run_sets(
        &self,
        ctx: &Context<'_>,
        filter: Option<BacktestRunFilter>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<DuplicateRunSet>> {
        let first = first.unwrap_or(20);
        if !(1..=100).contains(&first) {
            return Err(ApiError::bad_input("first", format!("first must be 1 to 100, got {first}")).into());
        }
        let filter = filter.unwrap_or_default().into_filter()?;
        let db = ctx.data::<Loaders>()?.read();
        let sets = crate::store::runs::duplicate_sets(db, &filter, first as u64).await.map_err(ApiError::from)?;
        let ids: Vec<uuid::Uuid> = sets.iter().flat_map(|s| s.run_ids.iter().copied()).collect();
        // Configs only when the selection shows them (see `runGroups`).
        let runs = super::loaders::load_runs(ctx, &[ctx.look_ahead().field("runs")], &ids, Configs::Omit).await?;
        let by_id: std::collections::HashMap<uuid::Uuid, BacktestRun> =
            runs.into_iter().map(|r| (r.model().id, r)).collect();
        Ok(sets
            .into_iter()
            .map(|set| DuplicateRunSet {
                config_hash: set.config_hash.simple().to_string(),
                // A run deleted between the two statements is left out.
                runs: set.run_ids.iter().filter_map(|id| by_id.get(id).cloned()).collect(),
                sharpe_spread: set.sharpe_spread.and_then(|d| d.to_f64()),
            })
            .collect())
    }
}
