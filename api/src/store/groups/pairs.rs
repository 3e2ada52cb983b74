//! The per-metric statement of `runGroups` by strategy × instrument, over the pair
//! indexes of m0012.

use super::{GroupColumn, GroupSpec, Grouping, KeyKind, Statistic, lower_is_better};
use crate::store::metrics::Metric;
use crate::store::query::{Filter, Sql};

/// Strategy × instrument (in either order) with no filter but on those two columns: one
/// aggregate per metric over the index `(pair_id, f_metric)` (m0012), a UNION ALL that
/// PostgreSQL runs as a Parallel Append, each branch an index-only scan already in group
/// order under a GroupAggregate; the branches' rows (one per pair and branch) are then
/// pivoted into one row per pair and the pair's names joined. `None` for any other
/// grouping or filter: a filter on another column would make every branch read the table
/// rather than its index alone, and the single aggregate is faster then (half the runs by
/// creation time, 100,000 runs: ~126 against ~180 ms).
///
/// Why: in [`super::single_aggregate_sql`] every statistic of every metric is computed in one
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
    // Each branch's WHERE. A filter on the names is a filter on pairs: `pair_id` is in
    // every index used.
    let branch_where = |sql: &mut Sql| {
        sql.push(" WHERE TRUE");
        if strategy_name.is_none() && instrument_symbol.is_none() {
            return;
        }
        sql.push(" AND r.pair_id IN (SELECT p.id FROM run_fact_pairs p WHERE TRUE");
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
    branch_where(&mut sql);
    sql.push(
        " GROUP BY r.pair_id UNION ALL SELECT -1, r.pair_id, NULL, count(*), NULL, NULL, NULL, NULL FROM run_facts r",
    );
    branch_where(&mut sql);
    sql.push(" AND r.status = 'success' GROUP BY r.pair_id");
    for (j, metric) in metrics.iter().enumerate() {
        let v = format!("r.f_{}", metric.column());
        sql.push(&format!(
            " UNION ALL SELECT {j}, r.pair_id, NULL, NULL, count({v}), avg({v}), stddev_samp({v}), \
             percentile_cont('{{0,0.5,1}}'::float8[]) WITHIN GROUP (ORDER BY {v}) FROM run_facts r"
        ));
        branch_where(&mut sql);
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
