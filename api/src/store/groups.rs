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
//! in parallel workers (`pair_sql`; 100,000 runs in 400 groups, every statistic: ~77 ms
//! in psql); every other grouping is one aggregate over `run_facts` or the runs
//! (`single_aggregate_sql`; the same request: ~164 ms, most of it eight medians, which
//! an ordered-set aggregate computes serially).

use sea_orm::{ConnectionTrait, DbErr, Value};
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

/// The inner query's float8 column of a metric (`x.f_sharpe_ratio`).
fn float(metric: Metric) -> String {
    format!("x.f_{}", metric.column())
}

fn aggregate(statistic: Statistic, metric: Option<Metric>) -> String {
    let c = float(metric.unwrap_or(Metric::SharpeRatio));
    match statistic {
        Statistic::RunCount => "count(*)".to_owned(),
        Statistic::Mean => format!("avg({c})"),
        Statistic::Median => format!("percentile_cont(0.5) WITHIN GROUP (ORDER BY {c})"),
        Statistic::Stddev => format!("stddev_samp({c})"),
        Statistic::Min => format!("min({c})"),
        Statistic::Max => format!("max({c})"),
    }
}

/// The grouping expressions, in key order (the inner query's columns `k1`, `k2`, …), each
/// with its entry name in the key; their parameters are bound in `sql`.
fn key_parts(grouping: &Grouping, sql: &mut Sql) -> Vec<(String, String, KeyKind)> {
    let mut parts = Vec::new();
    for column in &grouping.columns {
        parts.push((format!("r.{}", column.column()), column.key().to_owned(), KeyKind::Text));
    }
    for path in &grouping.config_paths {
        let expr = format!("r.config_snapshot #> {}::text[]", sql.placeholder(Value::from(path.clone())));
        parts.push((expr, path.join("."), KeyKind::Json));
    }
    if let Some(except) = &grouping.config_except {
        let expr = if except_seed_only(except) {
            // A hash to group by; the key itself is read back per group (`groups_sql`).
            "r.config_hash_except_seed".to_owned()
        } else {
            format!("r.config_snapshot - {}::text[]", sql.placeholder(Value::from(except.clone())))
        };
        parts.push((expr, "config".to_owned(), KeyKind::Json));
    }
    parts
}

/// `configExcept: ["seed"]` (in any spelling of the list): the stored
/// `config_hash_except_seed` (m0009) groups these runs without reading their configs.
fn except_seed_only(keys: &[String]) -> bool {
    !keys.is_empty() && keys.iter().all(|k| k == "seed")
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

/// One aggregate over the filtered runs, grouped by the plain expressions
/// (grouping by a `jsonb_build_object` of them cost 3× as much: the key object is built
/// here, from the grouped values).
///
/// The rows come from `run_facts` (m0011) when the grouping and the filter need nothing
/// else: one narrow row per run with its metrics as float8, ~3.5× smaller than the runs
/// heap, and no join (strategy × instrument with every statistic at 100,000 runs: ~277 →
/// ~180 ms). Groupings by config values and config filters read the runs left-joined with
/// their metrics, and cast the metrics to float8 once per row in an inner query that
/// `OFFSET 0` keeps from being flattened: flattened, every aggregate evaluated its own
/// cast, six per metric and row (numeric → float8 goes through text), and all eight
/// metrics took 1.34 s against 0.75 s at 100,000 runs (medians of 7 runs of the statement
/// in psql, serial). Metrics are aggregated as float8 either way: numeric aggregates are
/// several times slower, and the API returns floats anyway.
///
/// The best run per metric: a window over the group (the same expressions, parameters
/// included, so the grouping reuses its sort) gives each row its group's best value, and
/// the smallest id among the rows that have it is the best run. Its value is the numeric
/// one, or the float8 of `run_facts`, which orders and ties exactly as the numeric does
/// (see m0011). PostgreSQL 15 has no `min(uuid)`; the text of a uuid in the "C" collation
/// sorts as the uuid does. This replaced `(array_agg(id ORDER BY value DESC, id))[1]`,
/// which sorted and collected every group's runs per metric: strategy × instrument at
/// 220,000 runs, every statistic and the best Sharpe run, ~880 → ~650 ms (psql, serial;
/// the window's sort also lets PostgreSQL run the join and sort in parallel workers).
pub fn single_aggregate_sql(spec: &GroupSpec) -> (Sql, Vec<(String, KeyKind)>) {
    let mut floats: Vec<Metric> = spec.statistics.clone();
    if let Some(metric) = spec.order.and_then(|o| o.metric)
        && !floats.contains(&metric)
    {
        floats.push(metric);
    }
    let k = spec.grouping.columns.len()
        + spec.grouping.config_paths.len()
        + usize::from(spec.grouping.config_except.is_some());
    let mut sql = Sql::default();
    sql.push("SELECT ");
    for i in 1..=k {
        match &spec.grouping.config_except {
            // The config part of the key (the last one), grouped by its hash: read from one
            // run of the group. PostgreSQL evaluates this subquery after the sort and
            // LIMIT, for the groups returned only.
            Some(except) if i == k && except_seed_only(except) => {
                sql.push("(SELECT b.config_snapshot - ")
                    .bind(Value::from(except.clone()))
                    .push("::text[] FROM backtest_runs b WHERE b.id = (array_agg(x.id))[1]), ");
            }
            _ => {
                sql.push(&format!("x.k{i}, "));
            }
        }
    }
    sql.push("count(*) AS runs, count(*) FILTER (WHERE x.ok)::float8 / count(*) AS success_rate");
    for metric in &spec.statistics {
        let c = float(*metric);
        sql.push(&format!(
            ", count({c}), avg({c}), stddev_samp({c}), min({c}), \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY {c}), max({c})"
        ));
    }
    for metric in &spec.best {
        let column = metric.column();
        sql.push(&format!(", (min(x.id::text COLLATE \"C\") FILTER (WHERE x.n_{column} = x.w_{column}))::uuid"));
    }
    sql.push(" FROM (SELECT ");
    let parts = key_parts(&spec.grouping, &mut sql);
    for (i, (expr, _, _)) in parts.iter().enumerate() {
        sql.push(&format!("{expr} AS k{}, ", i + 1));
    }
    sql.push("r.id, r.status = 'success' AS ok");
    let facts = reads_facts(spec);
    // A metric's value in the inner query: float8 from the facts, numeric from the join.
    let value = |metric: Metric| {
        if facts { format!("r.f_{}", metric.column()) } else { format!("pm.{}", metric.column()) }
    };
    for metric in &floats {
        let cast = if facts { "" } else { "::float8" };
        sql.push(&format!(", {}{cast} AS f_{}", value(*metric), metric.column()));
    }
    for metric in &spec.best {
        let best = if lower_is_better(*metric) { "min" } else { "max" };
        let v = value(*metric);
        sql.push(&format!(", {v} AS n_{0}, {best}({v}) OVER g AS w_{0}", metric.column()));
    }
    if facts {
        sql.push(" FROM run_facts r WHERE TRUE");
    } else {
        sql.push(" FROM backtest_runs r LEFT JOIN performance_metrics pm ON pm.backtest_run_id = r.id WHERE TRUE");
    }
    spec.filter.push_conditions(&mut sql);
    if !spec.best.is_empty() {
        let keys: Vec<&str> = parts.iter().map(|(expr, _, _)| expr.as_str()).collect();
        let partition = if keys.is_empty() { String::new() } else { format!("PARTITION BY {}", keys.join(", ")) };
        sql.push(&format!(" WINDOW g AS ({partition})"));
    }
    sql.push(" OFFSET 0) x");
    let positions: Vec<String> = (1..=parts.len()).map(|i| format!("x.k{i}")).collect();
    if !positions.is_empty() {
        sql.push(&format!(" GROUP BY {}", positions.join(", ")));
    }
    let order = match spec.order {
        None => "count(*) DESC".to_owned(),
        Some(o) => {
            format!("{} {} NULLS LAST", aggregate(o.statistic, o.metric), if o.descending { "DESC" } else { "ASC" })
        }
    };
    let ties: String = positions.iter().map(|p| format!(", {p}")).collect();
    // HAVING: with no grouping keys, an empty selection would still give one row.
    sql.push(&format!(" HAVING count(*) > 0 ORDER BY {order}{ties} LIMIT ")).bind(spec.limit as i64);
    (sql, parts.into_iter().map(|(_, name, kind)| (name, kind)).collect())
}

/// Strategy × instrument (in either order) with no filter but on those two columns: one
/// aggregate per metric over the index `(pair_id, f_metric)` (m0012), a UNION ALL that
/// PostgreSQL runs as a Parallel Append, each branch an index-only scan already in group
/// order under a GroupAggregate; the branches' rows (one per pair and branch) are then
/// pivoted into one row per pair and the pair's names joined. `None` for any other
/// grouping or filter: a filter on another column would make every branch read the table
/// rather than its index alone, and the single aggregate is faster then (half the runs by
/// creation time, 100,000 runs: ~126 against ~180 ms).
///
/// Why: in [`single_aggregate_sql`] every statistic of every metric is computed in one
/// serial aggregate, and the medians cannot be split over workers (an ordered-set
/// aggregate has no partial form in PostgreSQL 15). Here each metric's median, minimum
/// and maximum come from one `percentile_cont` over `{0, 0.5, 1}` (the same interpolation
/// as `percentile_cont(0.5)`; 0 and 1 are the extreme values exactly), its count, mean and
/// standard deviation from the same branch, and the branches are spread over the
/// processes. 100,000 runs in 400 pairs, every statistic and the best Sharpe run (psql,
/// 11 interleaved runs, this 2-core machine): ~164 → ~77 ms. The runs and successes per
/// pair are counted from the indexes too (the partial index of successes).
///
/// The best run per metric is read after the pivot, per pair returned: the smallest id
/// among the pair's runs whose value is the best one (an index probe on the same index).
pub fn pair_sql(spec: &GroupSpec) -> Option<(Sql, Vec<(String, KeyKind)>)> {
    let Grouping { columns, config_paths, config_except } = &spec.grouping;
    let pair = [GroupColumn::StrategyName, GroupColumn::InstrumentSymbol];
    let reversed = [GroupColumn::InstrumentSymbol, GroupColumn::StrategyName];
    if !(columns.as_slice() == pair || columns.as_slice() == reversed)
        || !config_paths.is_empty()
        || config_except.is_some()
    {
        return None;
    }
    // Every field named: a new filter must say whether this statement can answer it.
    let Filter {
        strategy_name,
        strategy_type,
        instrument_symbol,
        status,
        created_after,
        created_before,
        original_run_id,
        config,
        config_path,
        metric_ranges,
        descendants_of,
    } = &spec.filter;
    if strategy_type.is_some()
        || status.is_some()
        || created_after.is_some()
        || created_before.is_some()
        || original_run_id.is_some()
        || config.is_some()
        || config_path.is_some()
        || !metric_ranges.is_empty()
        || descendants_of.is_some()
    {
        return None;
    }

    // The metrics with a branch: those with statistics, a best run or the order.
    let mut metrics: Vec<Metric> = spec.statistics.clone();
    for metric in spec.best.iter().copied().chain(spec.order.and_then(|o| o.metric)) {
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    let branch = |metric: Metric| metrics.iter().position(|m| *m == metric).expect("every metric used has a branch");

    let mut sql = Sql::default();
    // A filter on the names is a filter on pairs: `pair_id` is in every index used.
    let pairs_condition = |sql: &mut Sql| {
        if strategy_name.is_none() && instrument_symbol.is_none() {
            return;
        }
        sql.push(" WHERE r.pair_id IN (SELECT p.id FROM run_fact_pairs p WHERE TRUE");
        if let Some(name) = strategy_name {
            sql.push(" AND p.strategy_name = ").bind(name.clone());
        }
        if let Some(symbol) = instrument_symbol {
            sql.push(" AND p.instrument_symbol = ").bind(symbol.clone());
        }
        sql.push(")");
    };

    let names: Vec<&str> = columns.iter().map(|c| c.column()).collect();
    sql.push(&format!("SELECT p.{} AS k1, p.{} AS k2, g.runs, g.ok::float8 / g.runs", names[0], names[1]));
    for metric in &spec.statistics {
        let j = branch(*metric);
        sql.push(&format!(", g.c{j}, g.a{j}, g.s{j}, g.q{j}[1], g.q{j}[2], g.q{j}[3]"));
    }
    for metric in &spec.best {
        let (j, column) = (branch(*metric), metric.column());
        let best = if lower_is_better(*metric) { 1 } else { 3 };
        sql.push(&format!(
            ", (SELECT r.id FROM run_facts r WHERE r.pair_id = g.k AND r.f_{column} = g.q{j}[{best}] ORDER BY r.id LIMIT 1)"
        ));
    }
    // The pivot: one row per pair from its branches' rows (`m`: -2 runs, -1 successes,
    // j the j-th metric).
    sql.push(" FROM (SELECT u.k, max(u.runs) AS runs, coalesce(max(u.ok), 0) AS ok");
    for j in 0..metrics.len() {
        for column in ["c", "a", "s", "q"] {
            sql.push(&format!(", max(u.{column}) FILTER (WHERE u.m = {j}) AS {column}{j}"));
        }
    }
    sql.push(
        " FROM (SELECT -2 AS m, r.pair_id AS k, count(*) AS runs, NULL::int8 AS ok, NULL::int8 AS c, \
         NULL::float8 AS a, NULL::float8 AS s, NULL::float8[] AS q FROM run_facts r",
    );
    pairs_condition(&mut sql);
    sql.push(
        " GROUP BY r.pair_id UNION ALL SELECT -1, r.pair_id, NULL, count(*), NULL, NULL, NULL, NULL FROM run_facts r",
    );
    pairs_condition(&mut sql);
    sql.push(if strategy_name.is_some() || instrument_symbol.is_some() { " AND" } else { " WHERE" });
    sql.push(" r.status = 'success' GROUP BY r.pair_id");
    for (j, metric) in metrics.iter().enumerate() {
        let v = format!("r.f_{}", metric.column());
        sql.push(&format!(
            " UNION ALL SELECT {j}, r.pair_id, NULL, NULL, count({v}), avg({v}), stddev_samp({v}), \
             percentile_cont('{{0,0.5,1}}'::float8[]) WITHIN GROUP (ORDER BY {v}) FROM run_facts r"
        ));
        pairs_condition(&mut sql);
        sql.push(" GROUP BY r.pair_id");
    }
    sql.push(") u GROUP BY u.k) g JOIN run_fact_pairs p ON p.id = g.k");
    let order = match spec.order {
        None => "g.runs DESC".to_owned(),
        Some(o) => {
            let value = match (o.statistic, o.metric.map(branch)) {
                (Statistic::RunCount, _) | (_, None) => "g.runs".to_owned(),
                (Statistic::Mean, Some(j)) => format!("g.a{j}"),
                (Statistic::Median, Some(j)) => format!("g.q{j}[2]"),
                (Statistic::Stddev, Some(j)) => format!("g.s{j}"),
                (Statistic::Min, Some(j)) => format!("g.q{j}[1]"),
                (Statistic::Max, Some(j)) => format!("g.q{j}[3]"),
            };
            format!("{value} {} NULLS LAST", if o.descending { "DESC" } else { "ASC" })
        }
    };
    sql.push(&format!(" ORDER BY {order}, p.{}, p.{} LIMIT ", names[0], names[1])).bind(spec.limit as i64);
    let parts = columns.iter().map(|c| (c.key().to_owned(), KeyKind::Text)).collect();
    Some((sql, parts))
}

/// Whether the grouping and the filter need only what `run_facts` holds: its columns are
/// the runs' own names, so the filter's conditions on `r` read the same there. Config
/// values (paths, containment, `configExcept` other than the seed alone) are not in it.
pub fn reads_facts(spec: &GroupSpec) -> bool {
    // Every field named: a new filter must say whether `run_facts` can answer it.
    let Filter {
        strategy_name: _,
        strategy_type: _,
        instrument_symbol: _,
        status: _,
        created_after: _,
        created_before: _,
        original_run_id: _,
        config,
        config_path,
        metric_ranges: _,
        descendants_of: _,
    } = &spec.filter;
    let grouping = &spec.grouping;
    grouping.config_paths.is_empty()
        && grouping.config_except.as_deref().is_none_or(except_seed_only)
        && config.is_none()
        && config_path.is_none()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn by(columns: Vec<GroupColumn>, filter: Filter) -> GroupSpec {
        GroupSpec {
            grouping: Grouping { columns, ..Grouping::default() },
            filter,
            ..GroupSpec::strategy_by_instrument()
        }
    }

    #[test]
    fn only_strategy_by_instrument_with_at_most_name_filters_reads_the_pair_indexes() {
        use GroupColumn::*;
        let names =
            Filter { strategy_name: Some("A".into()), instrument_symbol: Some("X".into()), ..Filter::default() };
        assert!(pair_sql(&by(vec![StrategyName, InstrumentSymbol], Filter::default())).is_some());
        assert!(pair_sql(&by(vec![InstrumentSymbol, StrategyName], names.clone())).is_some());
        for columns in [vec![StrategyName], vec![InstrumentSymbol], vec![StrategyName, InstrumentSymbol, Status]] {
            assert!(pair_sql(&by(columns.clone(), Filter::default())).is_none(), "{columns:?}");
        }
        let narrowing = [
            Filter { status: Some(tearsheet_entity::RunStatus::Success), ..Filter::default() },
            Filter { strategy_type: Some("t".into()), ..Filter::default() },
            Filter { config_path: Some("$.a == 1".into()), ..Filter::default() },
        ];
        for filter in narrowing {
            assert!(pair_sql(&by(vec![StrategyName, InstrumentSymbol], filter.clone())).is_none(), "{filter:?}");
        }
        let mut except = by(vec![StrategyName, InstrumentSymbol], Filter::default());
        except.grouping.config_except = Some(vec!["seed".into()]);
        assert!(pair_sql(&except).is_none());
    }

    #[test]
    fn the_pair_statement_binds_name_filters_in_every_branch_and_keeps_the_key_order() {
        use GroupColumn::*;
        let mut spec =
            by(vec![InstrumentSymbol, StrategyName], Filter { strategy_name: Some("A".into()), ..Filter::default() });
        spec.statistics = vec![Metric::SharpeRatio];
        spec.best = vec![Metric::MaxDrawdown];
        let (sql, parts) = pair_sql(&spec).expect("pair statement");
        // Runs, successes, Sharpe, and drawdown (for its best run): four branches, each
        // with the filter, and the limit.
        assert_eq!(sql.text.matches("p.strategy_name = $").count(), 4, "{}", sql.text);
        assert_eq!(sql.values.len(), 5);
        assert!(sql.text.starts_with("SELECT p.instrument_symbol AS k1, p.strategy_name AS k2"), "{}", sql.text);
        assert!(sql.text.contains("ORDER BY g.runs DESC, p.instrument_symbol, p.strategy_name LIMIT"), "{}", sql.text);
        // Drawdown's best run is its lowest value: the first of `{0, 0.5, 1}`.
        assert!(sql.text.contains("r.f_max_drawdown = g.q1[1]"), "{}", sql.text);
        let names: Vec<&str> = parts.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["instrumentSymbol", "strategyName"]);
    }
}
