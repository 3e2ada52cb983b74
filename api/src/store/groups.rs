//! `runGroups`: runs grouped by columns, config values and "the config minus some keys",
//! with statistics per metric, computed by PostgreSQL in one statement.
//!
//! The statement computes only what the selection shows: statistics for the metrics
//! `metrics(only:)` asks for (every metric without `only`), the best run only for the
//! metrics `best` asks for. Medians are `percentile_cont(0.5)` (interpolated), standard
//! deviations `stddev_samp` (n - 1).
//!
//! Two shapes of statement (`groups_sql` picks): strategy × instrument, the dashboards'
//! grouping, is one aggregate per metric over the pair indexes of m0012, run side by side
//! in parallel workers (`pairs.rs`; 100,000 runs in 400 groups, every statistic: ~77 ms
//! in psql); every other grouping is one aggregate over `run_facts` or the runs
//! (`single.rs`; the same request: ~164 ms, most of it eight medians, which
//! an ordered-set aggregate computes serially).

mod pairs;
mod single;

pub use pairs::pair_sql;
pub use single::{reads_facts, single_aggregate_sql};

use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::metrics::Metric;
use super::query::{Filter, Sql};
use super::stmt;
use crate::monitoring::{Shape, sql};

/// Run columns to group by (spliced into SQL: constants only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupColumn {
    StrategyName,
    StrategyType,
    InstrumentSymbol,
    Status,
    DataSource,
}

impl GroupColumn {
    fn column(self) -> &'static str {
        match self {
            GroupColumn::StrategyName => "strategy_name",
            GroupColumn::StrategyType => "strategy_type",
            GroupColumn::InstrumentSymbol => "instrument_symbol",
            GroupColumn::Status => "status",
            GroupColumn::DataSource => "data_source",
        }
    }

    /// The entry's name in a group's key (the API's field name).
    fn key(self) -> &'static str {
        match self {
            GroupColumn::StrategyName => "strategyName",
            GroupColumn::StrategyType => "strategyType",
            GroupColumn::InstrumentSymbol => "instrumentSymbol",
            GroupColumn::Status => "status",
            GroupColumn::DataSource => "dataSource",
        }
    }
}

/// What makes runs one group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grouping {
    pub columns: Vec<GroupColumn>,
    /// Values at these config paths (an absent path groups as null).
    pub config_paths: Vec<Vec<String>>,
    /// The whole config minus these top-level keys.
    pub config_except: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    RunCount,
    Mean,
    Median,
    Stddev,
    Min,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupOrder {
    pub statistic: Statistic,
    /// Required for every statistic but `RunCount` (checked by the caller).
    pub metric: Option<Metric>,
    pub descending: bool,
}

/// One `runGroups` request.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSpec {
    pub grouping: Grouping,
    pub filter: Filter,
    /// `None`: largest groups first.
    pub order: Option<GroupOrder>,
    pub limit: u64,
    /// Compute the statistics of these metrics.
    pub statistics: Vec<Metric>,
    /// Find the best run for these metrics.
    pub best: Vec<Metric>,
}

impl GroupSpec {
    /// Strategy × instrument with every statistic and the best Sharpe run: the heaviest
    /// dashboard grouping (the benchmark's and `admin explain groups`).
    pub fn strategy_by_instrument() -> GroupSpec {
        GroupSpec {
            grouping: Grouping {
                columns: vec![GroupColumn::StrategyName, GroupColumn::InstrumentSymbol],
                ..Grouping::default()
            },
            filter: Filter::default(),
            order: None,
            limit: 1000,
            statistics: Metric::ALL.to_vec(),
            best: vec![Metric::SharpeRatio],
        }
    }

    /// Runs that differ only by their seed, among `filter`'s, with Sharpe's statistics:
    /// robustness across seeds (the benchmark's and `admin explain groups-across-seeds`).
    pub fn across_seeds(filter: Filter) -> GroupSpec {
        GroupSpec {
            grouping: Grouping { config_except: Some(vec!["seed".into()]), ..Grouping::default() },
            filter,
            order: None,
            limit: 100,
            statistics: vec![Metric::SharpeRatio],
            best: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricStats {
    pub metric: Metric,
    pub count: i64,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub key: serde_json::Value,
    pub run_count: i64,
    pub success_rate: f64,
    /// The metrics statistics were asked for.
    pub stats: Vec<MetricStats>,
    /// For each metric asked for: the best run (`None`: no run of the group has it).
    pub best: Vec<(Metric, Option<Uuid>)>,
}

/// Lower is better for these; higher for the rest.
pub fn lower_is_better(metric: Metric) -> bool {
    matches!(metric, Metric::MaxDrawdown | Metric::Volatility)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// How a grouping expression's value is read.
pub enum KeyKind {
    Text,
    Json,
}

/// The statement for `spec`: per metric over the pair indexes when the grouping is
/// strategy × instrument and nothing else narrows the runs ([`pair_sql`]), one aggregate
/// otherwise ([`single_aggregate_sql`]). Both give the same columns: the key parts, the
/// run count, the success rate, six statistics per metric of `spec.statistics`, and the
/// best run per metric of `spec.best`.
pub fn groups_sql(spec: &GroupSpec) -> (Sql, Vec<(String, KeyKind)>) {
    pair_sql(spec).unwrap_or_else(|| single_aggregate_sql(spec))
}

pub async fn groups(db: &impl ConnectionTrait, spec: &GroupSpec) -> Result<Vec<Group>, DbErr> {
    groups_from(db, spec, groups_sql(spec)).await
}

/// The groups `statement` (one of this module's, made for `spec`) gives: tests compare
/// [`pair_sql`] with [`single_aggregate_sql`] through it.
pub async fn groups_from(
    db: &impl ConnectionTrait,
    spec: &GroupSpec,
    statement: (Sql, Vec<(String, KeyKind)>),
) -> Result<Vec<Group>, DbErr> {
    let (Sql { text, values }, parts) = statement;
    let rows = sql(Shape::read("run_groups"), db.query_all_raw(stmt(text, values))).await?;
    let k = parts.len();
    rows.iter()
        .map(|row| {
            let mut key = serde_json::Map::new();
            for (i, (name, kind)) in parts.iter().enumerate() {
                let value = match kind {
                    KeyKind::Text => {
                        row.try_get_by_index::<Option<String>>(i)?.map_or(serde_json::Value::Null, Into::into)
                    }
                    KeyKind::Json => row.try_get_by_index::<Option<serde_json::Value>>(i)?.unwrap_or_default(),
                };
                key.insert(name.clone(), value);
            }
            let mut at = k + 2;
            let mut stats = Vec::new();
            {
                for &metric in &spec.statistics {
                    stats.push(MetricStats {
                        metric,
                        count: row.try_get_by_index(at)?,
                        mean: row.try_get_by_index(at + 1)?,
                        stddev: row.try_get_by_index(at + 2)?,
                        min: row.try_get_by_index(at + 3)?,
                        median: row.try_get_by_index(at + 4)?,
                        max: row.try_get_by_index(at + 5)?,
                    });
                    at += 6;
                }
            }
            let mut best = Vec::new();
            for metric in &spec.best {
                best.push((*metric, row.try_get_by_index(at)?));
                at += 1;
            }
            Ok(Group {
                key: serde_json::Value::Object(key),
                run_count: row.try_get_by_index(k)?,
                success_rate: row.try_get_by_index(k + 1)?,
                stats,
                best,
            })
        })
        .collect()
}
