//! `compareBacktestRuns` and `backtestRunsPage`: the reads that are not connections.

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use serde_json::Value;
use uuid::Uuid;

use super::limits::page_cost;
use super::loaders::Loaders;
use super::runs::{BacktestRun, BacktestRunFilter, BacktestRunOrder};
use super::scalars::{parse_run_id, run_id};
use crate::error::ApiError;
use crate::store;
use crate::store::query::Order;

pub const MAX_COMPARED: usize = 10;
/// `page * pageSize` beyond this is refused: deep OFFSETs read and discard every row before.
pub const MAX_OFFSET_WINDOW: i64 = 10_000;

#[derive(SimpleObject)]
pub struct ConfigDifference {
    /// Path of the parameter inside config, e.g. ["risk_management", "stop_loss"].
    pub path: Vec<String>,
    /// One value per run, in the order of `runs`; null where the run lacks the parameter.
    pub values: Vec<Option<Json<Value>>>,
}

#[derive(SimpleObject)]
pub struct BacktestRunComparison {
    /// The runs found, newest first.
    pub runs: Vec<BacktestRun>,
    /// Requested ids that match no run.
    pub missing_ids: Vec<ID>,
    /// Every config parameter whose value is not the same in all runs.
    pub config_differences: Vec<ConfigDifference>,
}

/// One page of an offset-paginated listing, for interfaces that need page numbers.
#[derive(SimpleObject)]
pub struct BacktestRunPage {
    pub items: Vec<BacktestRun>,
    pub page: i32,
    pub page_size: i32,
    pub total_count: i32,
    pub total_pages: i32,
}

/// Leaf paths of a config: objects are recursed into; arrays and scalars are leaves.
fn leaf_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                prefix.push(k.clone());
                leaf_paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ if !prefix.is_empty() => out.push(prefix.clone()),
        _ => {}
    }
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, k| v.as_object()?.get(k))
}

/// Every leaf path whose value differs between the configs (a missing value differs from
/// any present one), sorted by path.
pub fn config_differences(configs: &[&Value]) -> Vec<ConfigDifference> {
    let mut paths = Vec::new();
    for config in configs {
        leaf_paths(config, &mut Vec::new(), &mut paths);
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let values: Vec<Option<&Value>> = configs.iter().map(|c| lookup(c, &path)).collect();
            let first = values[0];
            if values.iter().all(|v| *v == first) {
                return None;
            }
            Some(ConfigDifference { path, values: values.into_iter().map(|v| v.cloned().map(Json)).collect() })
        })
        .collect()
}

#[derive(Default)]
pub struct CompareQuery;

#[Object]
impl CompareQuery {
    /// Side-by-side comparison of 1 to 10 runs (duplicate ids count once).
    #[graphql(complexity = "ids.len().clamp(1, MAX_COMPARED) * child_complexity")]
    async fn compare_backtest_runs(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<BacktestRunComparison> {
        if ids.len() > 100 {
            return Err(ApiError::bad_input("ids", format!("ids: at most {MAX_COMPARED} runs can be compared")).into());
        }
        let mut wanted: Vec<Uuid> = Vec::with_capacity(ids.len());
        for id in &ids {
            let id = parse_run_id("ids", id)?;
            if !wanted.contains(&id) {
                wanted.push(id);
            }
        }
        if wanted.is_empty() || wanted.len() > MAX_COMPARED {
            return Err(ApiError::bad_input(
                "ids",
                format!("ids: compare 1 to {MAX_COMPARED} distinct runs, got {}", wanted.len()),
            )
            .into());
        }
        let mut runs = super::loaders::load_runs(ctx, &[ctx.look_ahead().field("runs")], &wanted).await?;
        runs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let missing_ids = wanted.iter().filter(|id| !runs.iter().any(|r| r.id == **id)).map(|id| run_id(*id)).collect();
        let config_differences = if runs.len() < 2 {
            Vec::new()
        } else {
            config_differences(&runs.iter().map(|r| &r.config_snapshot).collect::<Vec<_>>())
        };
        Ok(BacktestRunComparison { runs: runs.into_iter().map(BacktestRun).collect(), missing_ids, config_differences })
    }

    /// Offset pagination for page-number interfaces; page is 1-based; pageSize 1 to 100;
    /// page * pageSize may not exceed 10000 (use `backtestRuns` cursors to go deeper).
    #[graphql(complexity = "page_cost(Some(page_size)) * child_complexity")]
    async fn backtest_runs_page(
        &self,
        ctx: &Context<'_>,
        page: i32,
        page_size: i32,
        filter: Option<BacktestRunFilter>,
        order_by: Option<BacktestRunOrder>,
    ) -> async_graphql::Result<BacktestRunPage> {
        if page < 1 {
            return Err(ApiError::bad_input("page", format!("page starts at 1, got {page}")).into());
        }
        if !(1..=100).contains(&page_size) {
            return Err(ApiError::bad_input(
                "pageSize",
                format!("pageSize must be between 1 and 100, got {page_size}"),
            )
            .into());
        }
        if i64::from(page) * i64::from(page_size) > MAX_OFFSET_WINDOW {
            return Err(ApiError::bad_input(
                "page",
                format!(
                    "page * pageSize may not exceed {MAX_OFFSET_WINDOW}: use the backtestRuns connection (cursors) to page deeper"
                ),
            )
            .into());
        }
        let filter = filter.unwrap_or_default().into_filter()?;
        let order = order_by.map(Order::from).unwrap_or_default();
        let read = ctx.data::<Loaders>()?.read();
        let offset = (i64::from(page) - 1) * i64::from(page_size);
        let (items, total) = tokio::try_join!(
            store::runs::offset_page(read, &filter, order, offset as u64, page_size as u64),
            store::runs::count(read, &filter),
        )
        .map_err(ApiError::from)?;
        super::loaders::prefetch(ctx, &[ctx.look_ahead().field("items")], &items.iter().collect::<Vec<_>>()).await?;
        let total_count = i32::try_from(total).unwrap_or(i32::MAX);
        Ok(BacktestRunPage {
            items: items.into_iter().map(BacktestRun).collect(),
            page,
            page_size,
            total_count,
            total_pages: (total_count + page_size - 1) / page_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn differences_are_leaf_paths_with_unequal_values_sorted() {
        let a = json!({ "fast": 10, "slow": 50, "risk": { "stop": 0.02, "size": 100 }, "inst": ["A", "B"] });
        let b = json!({ "fast": 10, "slow": 60, "risk": { "stop": 0.02 }, "inst": ["A"], "extra": true });
        let diffs = config_differences(&[&a, &b]);
        let paths: Vec<Vec<String>> = diffs.iter().map(|d| d.path.clone()).collect();
        let p = |parts: &[&str]| parts.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(paths, [p(&["extra"]), p(&["inst"]), p(&["risk", "size"]), p(&["slow"])]);
        let size = &diffs[2].values;
        assert_eq!(size.iter().map(|v| v.as_ref().map(|j| j.0.clone())).collect::<Vec<_>>(), [Some(json!(100)), None]);
    }
}
