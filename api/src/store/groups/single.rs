//! The single-aggregate statement of `runGroups`: every grouping but strategy ×
//! instrument, from `run_facts` (m0011) or from the runs joined with their metrics.

use sea_orm::Value;

use super::{GroupSpec, Grouping, KeyKind, Statistic, lower_is_better};
use crate::store::metrics::Metric;
use crate::store::query::{Filter, Sql};

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
