//! `runGroups`: group statistics across runs (e.g. across random seeds with `configExcept`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object};

use super::limits::page_cost;
use super::loaders::Loaders;
use super::metrics::MetricField;
use super::runs::{BacktestRun, BacktestRunFilter, OrderDirection};
use super::scalars::JsonRef;
use crate::error::ApiError;
use crate::store::groups::{self, Group, GroupColumn, GroupOrder, GroupSpec, Grouping, MetricStats, Statistic};
use crate::store::metrics::Metric;
use crate::store::runs::Configs;

/// Most groups one request returns.
pub const MAX_GROUPS: i32 = 1000;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RunGroupKey {
    StrategyName,
    StrategyType,
    InstrumentSymbol,
    Status,
    DataSource,
}

impl From<RunGroupKey> for GroupColumn {
    fn from(key: RunGroupKey) -> Self {
        match key {
            RunGroupKey::StrategyName => GroupColumn::StrategyName,
            RunGroupKey::StrategyType => GroupColumn::StrategyType,
            RunGroupKey::InstrumentSymbol => GroupColumn::InstrumentSymbol,
            RunGroupKey::Status => GroupColumn::Status,
            RunGroupKey::DataSource => GroupColumn::DataSource,
        }
    }
}

#[derive(InputObject, Clone, Debug, Default)]
pub struct RunGrouping {
    pub keys: Option<Vec<RunGroupKey>>,
    /// Also group by the values at these config paths.
    pub config_paths: Option<Vec<Vec<String>>>,
    /// Also group by the whole config minus these top-level keys, so runs that differ only
    /// there (e.g. a random seed) share a group.
    pub config_except: Option<Vec<String>>,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RunGroupStatistic {
    RunCount,
    Mean,
    Median,
    Stddev,
    Min,
    Max,
}

#[derive(InputObject, Clone, Copy, Debug)]
pub struct RunGroupOrder {
    pub statistic: RunGroupStatistic,
    /// Required for every statistic but RUN_COUNT.
    pub metric: Option<MetricField>,
    pub direction: OrderDirection,
}

/// mean, sample standard deviation (n - 1), min, median (continuous percentile 0.5) and
/// max over the runs that have the metric.
pub struct MetricSummary(MetricStats);

#[Object]
impl MetricSummary {
    async fn metric(&self) -> MetricField {
        MetricField::from(self.0.metric)
    }
    async fn count(&self) -> i32 {
        i32::try_from(self.0.count).unwrap_or(i32::MAX)
    }
    async fn mean(&self) -> Option<f64> {
        self.0.mean
    }
    async fn stddev(&self) -> Option<f64> {
        self.0.stddev
    }
    async fn min(&self) -> Option<f64> {
        self.0.min
    }
    async fn median(&self) -> Option<f64> {
        self.0.median
    }
    async fn max(&self) -> Option<f64> {
        self.0.max
    }
}

pub struct RunGroup {
    group: Group,
    /// The best runs of every group of the request, read in one statement.
    runs: Arc<HashMap<uuid::Uuid, BacktestRun>>,
}

#[Object]
impl RunGroup {
    /// The group's values: an object with one entry per grouping key and config path
    /// (named by the path joined with dots), plus `config` when configExcept is used.
    async fn key(&self) -> JsonRef<'_> {
        JsonRef::Tree(Cow::Borrowed(&self.group.key))
    }
    async fn run_count(&self) -> i32 {
        i32::try_from(self.group.run_count).unwrap_or(i32::MAX)
    }
    /// Share of the group's runs with status SUCCESS, 0 to 1.
    async fn success_rate(&self) -> f64 {
        self.group.success_rate
    }
    /// In the order of MetricField; only the metrics in `only` when given.
    async fn metrics(&self, only: Option<Vec<MetricField>>) -> Vec<MetricSummary> {
        let only: Option<Vec<Metric>> = only.map(|o| o.into_iter().map(Metric::from).collect());
        self.group
            .stats
            .iter()
            .filter(|s| only.as_ref().is_none_or(|o| o.contains(&s.metric)))
            .cloned()
            .map(MetricSummary)
            .collect()
    }
    /// The group's run with the highest value of the metric (lowest for MAX_DRAWDOWN and
    /// VOLATILITY).
    async fn best(&self, metric: MetricField) -> async_graphql::Result<Option<BacktestRun>> {
        let metric = Metric::from(metric);
        let Some((_, id)) = self.group.best.iter().find(|(m, _)| *m == metric) else {
            return Err(ApiError::bad_request("best: this metric was not computed for the group").into());
        };
        let Some(id) = id else { return Ok(None) };
        // Not among the runs read: it was deleted since the groups were computed.
        Ok(self.runs.get(id).cloned())
    }
}

/// The metrics the selection's `field(argument:)` asks for (`best(metric:)`,
/// `metrics(only:)`): every metric when the argument is absent (`metrics` without `only`)
/// or the look-ahead cannot read it; none when the field is not selected.
fn metrics_asked(ctx: &Context<'_>, field: &str, argument: &str) -> Vec<Metric> {
    let mut wanted = Vec::new();
    for selection in ctx.look_ahead().field(field).selection_fields() {
        let Ok(arguments) = selection.arguments() else { return Metric::ALL.to_vec() };
        let Some((_, value)) = arguments.into_iter().find(|(n, _)| n.as_str() == argument) else {
            return Metric::ALL.to_vec();
        };
        let parsed = match value {
            async_graphql::Value::List(items) => items
                .into_iter()
                .map(|v| <MetricField as async_graphql::InputType>::parse(Some(v)).ok())
                .collect::<Option<Vec<_>>>(),
            single => <MetricField as async_graphql::InputType>::parse(Some(single)).ok().map(|m| vec![m]),
        };
        match parsed {
            Some(fields) => wanted.extend(fields.into_iter().map(Metric::from)),
            None => return Metric::ALL.to_vec(),
        }
    }
    wanted.sort_by_key(|m| Metric::ALL.iter().position(|a| a == m));
    wanted.dedup();
    wanted
}

#[derive(Default)]
pub struct GroupQuery;

#[Object]
impl GroupQuery {
    /// Groups of runs with summary statistics, largest first unless ordered. `first`: 1 to
    /// 1000 groups (default 100). One statement, aggregates computed in PostgreSQL.
    #[graphql(complexity = "page_cost(first) * child_complexity")]
    async fn run_groups(
        &self,
        ctx: &Context<'_>,
        filter: Option<BacktestRunFilter>,
        group_by: RunGrouping,
        order_by: Option<RunGroupOrder>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<RunGroup>> {
        let first = first.unwrap_or(100);
        if !(1..=MAX_GROUPS).contains(&first) {
            return Err(ApiError::bad_input("first", format!("first must be 1 to {MAX_GROUPS}, got {first}")).into());
        }
        let order = match order_by {
            None => None,
            Some(o) => {
                let statistic = match o.statistic {
                    RunGroupStatistic::RunCount => Statistic::RunCount,
                    RunGroupStatistic::Mean => Statistic::Mean,
                    RunGroupStatistic::Median => Statistic::Median,
                    RunGroupStatistic::Stddev => Statistic::Stddev,
                    RunGroupStatistic::Min => Statistic::Min,
                    RunGroupStatistic::Max => Statistic::Max,
                };
                if statistic != Statistic::RunCount && o.metric.is_none() {
                    return Err(
                        ApiError::bad_input("orderBy.metric", "orderBy.metric is required for this statistic").into()
                    );
                }
                Some(GroupOrder {
                    statistic,
                    metric: o.metric.map(Metric::from),
                    descending: o.direction == OrderDirection::Desc,
                })
            }
        };
        let paths = group_by.config_paths.unwrap_or_default();
        if paths.iter().any(Vec::is_empty) {
            return Err(ApiError::bad_input("groupBy.configPaths", "a config path needs at least one key").into());
        }
        let spec = GroupSpec {
            grouping: Grouping {
                columns: group_by.keys.unwrap_or_default().into_iter().map(Into::into).collect(),
                config_paths: paths,
                config_except: group_by.config_except,
            },
            filter: filter.unwrap_or_default().into_filter()?,
            order,
            limit: first as u64,
            statistics: metrics_asked(ctx, "metrics", "only"),
            best: metrics_asked(ctx, "best", "metric"),
        };
        let db = ctx.data::<Loaders>()?.read();
        let found = groups::groups(db, &spec).await.map_err(ApiError::from)?;
        // Every group's best runs in one statement (a loader would split hundreds of
        // lookups into several batches); `best` then reads them from `RunGroup::runs`.
        let best: Vec<uuid::Uuid> = found.iter().flat_map(|g| g.best.iter().filter_map(|(_, id)| *id)).collect();
        let runs = if best.is_empty() {
            Vec::new()
        } else {
            // Without their configs unless `best` shows them: read with them, 400 runs'
            // configs were 1.2 MB to detoast, send and parse, and their parsing and
            // caching were 45% of the server's instructions for groups by strategy ×
            // instrument with the best Sharpe run's id (callgrind).
            super::loaders::load_runs(ctx, &[ctx.look_ahead().field("best")], &best, Configs::Omit).await?
        };
        let runs: Arc<HashMap<uuid::Uuid, BacktestRun>> =
            Arc::new(runs.into_iter().map(|r| (r.model().id, r)).collect());
        Ok(found.into_iter().map(|group| RunGroup { group, runs: runs.clone() }).collect())
    }
}
