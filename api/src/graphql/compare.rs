//! `compareBacktestRuns` and `backtestRunsPage`: the reads that are not connections.

use async_graphql::parser::types::Field;
use async_graphql::{Context, ContextSelectionSet, ID, Json, Object, SimpleObject};
use serde_json::Value;
use uuid::Uuid;

use super::direct::{self, Direct, Written};
use super::limits::page_cost;
use super::loaders::Loaders;
use super::runs::{BacktestRun, BacktestRunFilter, BacktestRunOrder};
use super::scalars::{parse_run_id, run_id};
use crate::error::ApiError;
use crate::store;
use crate::store::query::Order;
use crate::store::runs::Configs;

pub const MAX_COMPARED: usize = 10;
/// `page * pageSize` beyond this is refused: deep OFFSETs read and discard every row before.
pub const MAX_OFFSET_WINDOW: i64 = 10_000;

/// A parameter that differs: written as JSON text where the request allows (`direct`; a
/// comparison of configs with hundreds of parameters has as many differences).
pub type ConfigDifference = Written<DifferenceObject>;

#[derive(SimpleObject)]
#[graphql(name = "ConfigDifference")]
pub struct DifferenceObject {
    /// Path of the parameter inside config, e.g. ["risk_management", "stop_loss"].
    pub path: Vec<String>,
    /// One value per run, in the order of `runs`; null where the run lacks the parameter.
    pub values: Vec<Option<Json<Value>>>,
}

impl Direct for DifferenceObject {
    const TYPE_NAME: &'static str = "ConfigDifference";

    fn write_field(&self, _: &ContextSelectionSet<'_>, field: &Field, out: &mut Vec<u8>) -> bool {
        match field.name.node.as_str() {
            "path" => direct::list(out, &self.path, |out, key| direct::string(out, key)),
            "values" => direct::list(out, &self.values, |out, value| match value {
                // A `serde_json::Value` always serializes, as async-graphql's value of it would.
                Some(value) => {
                    let _ = serde_json::to_writer(&mut *out, &value.0);
                }
                None => out.extend_from_slice(b"null"),
            }),
            _ => return false,
        }
        true
    }
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

/// Every leaf path whose value differs between the configs (a missing value differs from
/// any present one), sorted by path. A leaf is a scalar, an array or an empty object; a
/// path can be a leaf in one config and an object in another, and then both it and the
/// object's leaves are compared (`lookup` semantics: each config's value at the path, or
/// none).
///
/// One walk over the configs side by side, in key order: depth first with sorted keys is
/// the paths' sorted order, and only the differing paths are built. (Collecting every
/// config's leaf paths, sorting and looking each up in every config was most of a
/// comparison's CPU with configs of hundreds of parameters.)
pub fn config_differences(configs: &[&Value]) -> Vec<ConfigDifference> {
    let mut out = Vec::new();
    let roots: Vec<Option<&Value>> = configs.iter().map(|c| Some(*c)).collect();
    differences_at(&roots, &mut Vec::new(), &mut out);
    out
}

/// A non-empty object: a path the walk goes into.
fn inner(value: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
    value.and_then(Value::as_object).filter(|m| !m.is_empty())
}

/// The objects' entries are merged as sorted lists: serde_json's `Map` (without its
/// `preserve_order` feature) is a `BTreeMap` and iterates in key order, so the children of
/// a key come out of the iterators side by side, with no key list to collect, sort and
/// look up in every object again (that was a third of a comparison's walk). The unit test
/// against the definition below fails if the maps ever stop iterating in order.
fn differences_at<'a>(values: &[Option<&'a Value>], path: &mut Vec<&'a str>, out: &mut Vec<ConfigDifference>) {
    let is_leaf = values.iter().any(|v| v.is_some() && inner(*v).is_none());
    if is_leaf && !path.is_empty() && values.iter().any(|v| *v != values[0]) {
        out.push(Written(DifferenceObject {
            path: path.iter().map(|k| (*k).to_owned()).collect(),
            values: values.iter().map(|v| v.cloned().map(Json)).collect(),
        }));
    }
    let mut entries: Vec<_> = values.iter().map(|v| inner(*v).map(|m| m.iter().peekable())).collect();
    if entries.iter().all(Option::is_none) {
        return;
    }
    let mut children: Vec<Option<&'a Value>> = vec![None; values.len()];
    loop {
        let next = entries.iter_mut().flatten().filter_map(|e| e.peek().map(|&(k, _)| k.as_str())).min();
        let Some(key) = next else { break };
        for (child, e) in children.iter_mut().zip(&mut entries) {
            *child = e.as_mut().and_then(|e| e.next_if(|(k, _)| k.as_str() == key)).map(|(_, v)| v);
        }
        // Equal subtrees hold no difference: skip them whole (the common case).
        if children.iter().all(|c| c.is_some() && *c == children[0]) {
            continue;
        }
        path.push(key);
        differences_at(&children, path, out);
        path.pop();
    }
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
        // The differences need the configs; without them, the runs' selection decides.
        let configs =
            if ctx.look_ahead().field("configDifferences").exists() { Configs::Return } else { Configs::Omit };
        let mut runs = super::loaders::load_runs(ctx, &[ctx.look_ahead().field("runs")], &wanted, configs).await?;
        runs.sort_by(|a, b| {
            let (a, b) = (a.model(), b.model());
            b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id))
        });
        let missing_ids =
            wanted.iter().filter(|id| !runs.iter().any(|r| r.model().id == **id)).map(|id| run_id(*id)).collect();
        let config_differences = if runs.len() < 2 {
            Vec::new()
        } else {
            config_differences(&runs.iter().map(|r| &r.model().config_snapshot).collect::<Vec<_>>())
        };
        Ok(BacktestRunComparison { runs, missing_ids, config_differences })
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
        let items = super::loaders::prefetch(ctx, &[ctx.look_ahead().field("items")], items).await?;
        let total_count = i32::try_from(total).unwrap_or(i32::MAX);
        Ok(BacktestRunPage {
            items,
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

    /// The definition, spelled out: every config's leaf paths, sorted, each looked up in
    /// every config.
    fn oracle(configs: &[&Value]) -> Vec<(Vec<String>, Vec<Option<Value>>)> {
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
        let lookup =
            |value: &Value, path: &[String]| path.iter().try_fold(value, |v, k| v.as_object()?.get(k)).cloned();
        let mut paths = Vec::new();
        for config in configs {
            leaf_paths(config, &mut Vec::new(), &mut paths);
        }
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .filter_map(|path| {
                let values: Vec<Option<Value>> = configs.iter().map(|c| lookup(c, &path)).collect();
                (!values.iter().all(|v| *v == values[0])).then_some((path, values))
            })
            .collect()
    }

    /// A small random config: few keys so that configs share paths, nested objects, empty
    /// objects, arrays and scalars, so that a path is a leaf in one and an object in another.
    fn random_config(state: &mut u64, depth: u32) -> Value {
        fn next(state: &mut u64, n: u64) -> u64 {
            *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (*state >> 33) % n
        }
        let mut map = serde_json::Map::new();
        for _ in 0..next(state, 4) {
            let key = ["a", "b", "ab", "c"][next(state, 4) as usize].to_owned();
            let value = match next(state, if depth < 3 { 6 } else { 4 }) {
                0 => json!(next(state, 3)),
                1 => json!([next(state, 2)]),
                2 => json!({}),
                3 => Value::Null,
                _ => random_config(state, depth + 1),
            };
            map.insert(key, value);
        }
        Value::Object(map)
    }

    #[test]
    fn the_walk_finds_what_the_definition_finds() {
        let mut state = 7_u64;
        for round in 0..3_000 {
            let n = 2 + round % 4;
            let configs: Vec<Value> = (0..n).map(|_| random_config(&mut state, 0)).collect();
            let refs: Vec<&Value> = configs.iter().collect();
            let walked: Vec<(Vec<String>, Vec<Option<Value>>)> = config_differences(&refs)
                .into_iter()
                .map(|Written(d)| (d.path, d.values.into_iter().map(|v| v.map(|j| j.0)).collect()))
                .collect();
            assert_eq!(walked, oracle(&refs), "configs {configs:?}");
        }
    }

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

#[cfg(test)]
mod written {
    use async_graphql::{EmptyMutation, EmptySubscription, Request, Schema};
    use serde_json::json;

    use super::*;
    use crate::graphql::direct::DirectObjects;

    struct Q;

    #[Object]
    impl Q {
        async fn differences(&self) -> Vec<ConfigDifference> {
            let a = json!({ "fast": 10, "risk": { "stop": 0.02, "size": [1, "two \"2\""] }, "name": "ä\n" });
            let b = json!({ "fast": 10.5, "risk": { "stop": null }, "x": { "k": {} } });
            config_differences(&[&a, &b])
        }
    }

    #[tokio::test]
    async fn differences_written_directly_are_the_bytes_async_graphql_writes() {
        let schema = Schema::build(Q, EmptyMutation, EmptySubscription).finish();
        let query = "{ differences { __typename path values p: path } }";
        let standard = schema.execute(Request::new(query)).await;
        let direct = schema.execute(Request::new(query).data(DirectObjects)).await;
        assert!(standard.errors.is_empty(), "{:?}", standard.errors);
        assert_ne!(direct.data, standard.data);
        let (standard, direct) = (crate::http::json::response(&standard), crate::http::json::response(&direct));
        assert_eq!(String::from_utf8(direct.expect("json")), String::from_utf8(standard.expect("json")));
    }
}
