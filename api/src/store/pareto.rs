//! `paretoFront`: the runs no other run beats on every objective.
//!
//! A skyline over one sorted scan: PostgreSQL streams the candidates (runs with every
//! objective's metric) ordered best-first on the objectives in turn, and each row is kept
//! when no run already on the front dominates it. In that order every run that dominates
//! a row comes before it, and dominance is transitive, so comparing with the front alone
//! is enough. Memory is the front, not the matching runs: 1,000,000 candidates stream
//! through a few KB.
//!
//! Before the scan, one statement reads a few candidates (the best on each objective, by
//! the metric indexes where they exist), and the scan leaves out in SQL every row one of
//! them beats: a row beaten by any candidate is not on the front, whether or not that
//! candidate is. With Sharpe against drawdown over 100,000 runs the scan then sorts and
//! sends ~1,400 rows instead of ~91,000 (PostgreSQL 121 ms → 42 ms on its own, with the
//! bounds compared as `numeric` so that the metric indexes serve them; `EXPLAIN ANALYZE`).
//! Two statements rather than one (a CTE of the candidates in the scan's `NOT EXISTS` took
//! 93 ms: bounds unknown when the scan is planned use no index). They may read different
//! snapshots (a run deleted in between, another replica): the scan must then meet each
//! candidate's values again, or it runs once more without them.
//!
//! Values stay `numeric` (exact; `Decimal` here): the objectives' columns have at most 10
//! significant digits, so their order is the order of their `float8` values too.

use futures_util::TryStreamExt as _;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, StreamTrait};
use uuid::Uuid;

use super::metrics::Metric;
use super::query::{Filter, Literal, Sql};
use super::rows::{decimal_at, get, pg_row};
use super::stmt;
use crate::monitoring::{Shape, sql};

/// 1 to this many objectives.
pub const MAX_OBJECTIVES: usize = 4;
/// A front larger than this is refused (objectives that barely conflict over a broad
/// filter): the caller should narrow the filter.
pub const MAX_FRONT: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Objective {
    pub metric: Metric,
    pub maximize: bool,
}

#[derive(Debug)]
pub enum ParetoError {
    TooLarge,
    Db(DbErr),
}

impl From<DbErr> for ParetoError {
    fn from(e: DbErr) -> Self {
        ParetoError::Db(e)
    }
}

/// A candidate's values of the objectives, as stored (exact, for binding back).
pub type Point = Vec<Decimal>;

impl Objective {
    fn column(&self) -> String {
        format!("pm.{}", self.metric.column())
    }

    /// Best first.
    fn direction(&self) -> &'static str {
        if self.maximize { "DESC" } else { "ASC" }
    }

    /// Whether its best candidates are read from a metric index (m0003: Sharpe and total
    /// return descending, max drawdown ascending).
    fn indexed(&self) -> bool {
        matches!(
            (self.metric, self.maximize),
            (Metric::SharpeRatio, true) | (Metric::TotalReturn, true) | (Metric::MaxDrawdown, false)
        )
    }
}

/// Whether [`extremes_sql`] adds a central pruner: for three objectives or more, of which
/// at most one is read by an index. Measured at 100,000 runs, one request at a time
/// (medians of 9, two rounds): CAGR, volatility and win rate 153 → 116 ms; Sharpe,
/// volatility and win rate 150 → 120 ms (the extremes of such objectives are scans that
/// prune only about half the rows); but with two or three indexed objectives their
/// extremes already prune well, and the scan costs more than it saves (Sharpe, drawdown,
/// return 11 → 41 ms; return, drawdown, CAGR 48 → 71 ms; four objectives with two indexed
/// 136 → 169 ms).
fn wants_central(objectives: &[Objective]) -> bool {
    objectives.len() >= 3 && objectives.iter().filter(|o| o.indexed()).count() <= 1
}

/// The objectives' values of a row, from column `at` on.
fn point_at(row: &sea_orm::QueryResult, at: usize, objectives: &[Objective]) -> Result<Point, DbErr> {
    (0..objectives.len())
        .map(|i| decimal_at(row, at + i)?.ok_or_else(|| DbErr::Type("pareto: NULL objective".to_owned())))
        .collect()
}

/// The runs with every objective's metric that match `filter`: the FROM and WHERE of both
/// statements. Without conditions (all of them are on runs) the metrics alone: each has
/// its run (a foreign key that cascades deletes), and PostgreSQL does not drop an inner
/// join it does not need; over 100,000 runs the join was half of a best-run probe's
/// 35 ms on a metric without an index.
fn candidates_from(sql: &mut Sql, filter: &Filter, objectives: &[Objective]) {
    if *filter == Filter::default() {
        sql.push(" FROM performance_metrics pm WHERE TRUE");
    } else {
        sql.push(" FROM backtest_runs r JOIN performance_metrics pm ON pm.backtest_run_id = r.id WHERE TRUE");
    }
    for o in objectives {
        sql.push(&format!(" AND {} IS NOT NULL", o.column()));
    }
    filter.push_conditions(sql);
}

/// The best candidate on each objective, ties broken by the other objectives in turn (one
/// row per objective; none when nothing matches), and for some sets of three or more the
/// candidate with the best sum of them (see [`wants_central`]). `NULLS LAST` as the metric indexes are
/// built, so that an objective in its natural direction (Sharpe and return maximized,
/// drawdown minimized) is an index probe and an incremental sort of its ties; NULLs are
/// excluded anyway. The ties matter: drawdowns pile up at the generator's floor, and the
/// lowest drawdown with the best Sharpe prunes far more than any lowest drawdown.
pub fn extremes_sql(filter: &Filter, objectives: &[Objective]) -> Sql {
    let columns: Vec<String> = objectives.iter().map(Objective::column).collect();
    let key = |o: &Objective| format!("{} {} NULLS LAST", o.column(), o.direction());
    let mut sql = Sql::default();
    for (i, first) in objectives.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push(&format!("(SELECT {}", columns.join(", ")));
        candidates_from(&mut sql, filter, objectives);
        let order: Vec<String> =
            std::iter::once(first).chain(objectives.iter().filter(|o| *o != first)).map(key).collect();
        sql.push(&format!(" ORDER BY {} LIMIT 1)", order.join(", ")));
    }
    if wants_central(objectives) {
        // The best sum of the oriented objectives: a run on the front (no run is better on
        // every objective, or its sum would be larger) in its middle, where one run beats
        // the most. It costs one more scan of the candidates.
        let sum: Vec<String> =
            objectives.iter().map(|o| format!("{}{}", if o.maximize { "" } else { "-" }, o.column())).collect();
        let ties: Vec<String> = objectives.iter().map(key).collect();
        sql.push(&format!(" UNION ALL (SELECT {}", columns.join(", ")));
        candidates_from(&mut sql, filter, objectives);
        sql.push(&format!(" ORDER BY {} DESC, {} LIMIT 1)", sum.join(" + "), ties.join(", ")));
    }
    sql
}

/// The candidates, best-first on each objective in turn, then by id; without the rows
/// that one of `pruners` beats (each a point of the objectives' values).
pub fn candidates_sql(filter: &Filter, objectives: &[Objective], pruners: &[Point]) -> Sql {
    let columns: Vec<String> = objectives.iter().map(Objective::column).collect();
    let mut sql = Sql::default();
    sql.push(&format!("SELECT pm.backtest_run_id, {}", columns.join(", ")));
    candidates_from(&mut sql, filter, objectives);
    for point in pruners {
        // Not beaten by `point`: better on some objective, or equal on all.
        sql.push(" AND (");
        for ((o, column), v) in objectives.iter().zip(&columns).zip(point) {
            sql.push(&format!("{column} {} ", if o.maximize { ">" } else { "<" }))
                .push_literal(Literal::Decimal(*v))
                .push(" OR ");
        }
        sql.push("(");
        for (i, (column, v)) in columns.iter().zip(point).enumerate() {
            sql.push(if i > 0 { " AND " } else { "" }).push(&format!("{column} = ")).push_literal(Literal::Decimal(*v));
        }
        sql.push("))");
    }
    let order: Vec<String> = objectives.iter().zip(&columns).map(|(o, c)| format!("{c} {}", o.direction())).collect();
    sql.push(&format!(" ORDER BY {}, pm.backtest_run_id", order.join(", ")));
    sql
}

/// The pruning points: [`extremes_sql`]'s rows, without repeats.
pub async fn extremes(
    db: &impl ConnectionTrait,
    filter: &Filter,
    objectives: &[Objective],
) -> Result<Vec<Point>, DbErr> {
    let Sql { text, values } = extremes_sql(filter, objectives);
    let rows = sql(Shape::read("pareto_extremes"), db.query_all_raw(stmt(text, values))).await?;
    let mut points: Vec<Point> = Vec::with_capacity(rows.len());
    for row in &rows {
        let point = point_at(row, 0, objectives)?;
        if !points.contains(&point) {
            points.push(point);
        }
    }
    Ok(points)
}

/// The two statements [`front`] sends, the scan's bounds read from the database as it
/// reads them: what the benchmark's floor and `admin explain` run.
pub async fn statements(
    db: &impl ConnectionTrait,
    filter: &Filter,
    objectives: &[Objective],
) -> Result<[Sql; 2], DbErr> {
    let pruners = extremes(db, filter, objectives).await?;
    Ok([extremes_sql(filter, objectives), candidates_sql(filter, objectives, &pruners)])
}

/// `a` beats `b`: at least as good on every objective, strictly better on one. Values are
/// oriented so that larger is better.
fn dominates(a: &[Decimal], b: &[Decimal]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y)
}

/// The front's run ids, in the scan's order (best-first on the first objective).
pub async fn front(
    db: &(impl StreamTrait + ConnectionTrait),
    filter: &Filter,
    objectives: &[Objective],
) -> Result<Vec<Uuid>, ParetoError> {
    let pruners = extremes(db, filter, objectives).await?;
    if pruners.is_empty() {
        return Ok(Vec::new());
    }
    front_pruned_by(db, filter, objectives, &pruners).await
}

/// The front, scanning without the rows one of `pruners` beats; should the scan not meet
/// each pruner's values, again without pruning.
pub async fn front_pruned_by(
    db: &impl StreamTrait,
    filter: &Filter,
    objectives: &[Objective],
    pruners: &[Point],
) -> Result<Vec<Uuid>, ParetoError> {
    match skyline(db, filter, objectives, pruners).await? {
        Some(front) => Ok(front),
        None => Ok(skyline(db, filter, objectives, &[]).await?.expect("no pruners to miss")),
    }
}

/// The skyline over the scan pruned by `pruners`; `None` when the scan did not meet one of
/// them (its snapshot lacks that run: what it pruned may be on the front).
async fn skyline(
    db: &impl StreamTrait,
    filter: &Filter,
    objectives: &[Objective],
    pruners: &[Point],
) -> Result<Option<Vec<Uuid>>, ParetoError> {
    let Sql { text, values } = candidates_sql(filter, objectives, pruners);
    let rows = sql(Shape::read("pareto_scan"), db.stream_raw(stmt(text, values))).await?;
    let mut rows = std::pin::pin!(rows);
    let mut met = vec![false; pruners.len()];
    let mut front: Vec<(Point, Uuid)> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let id: Uuid = get(pg_row(&row)?, 0)?;
        let mut point = point_at(&row, 1, objectives)?;
        for (seen, pruner) in met.iter_mut().zip(pruners) {
            *seen |= *pruner == point;
        }
        for (v, o) in point.iter_mut().zip(objectives) {
            if !o.maximize {
                *v = -*v;
            }
        }
        if front.iter().any(|(kept, _)| dominates(kept, &point)) {
            continue;
        }
        if front.len() == MAX_FRONT {
            return Err(ParetoError::TooLarge);
        }
        front.push((point, id));
    }
    Ok(met.iter().all(|m| *m).then(|| front.into_iter().map(|(_, id)| id).collect()))
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::dominates;

    #[test]
    fn dominance_needs_one_strict_improvement() {
        let d = |v: &[i64]| v.iter().map(|x| Decimal::from(*x)).collect::<Vec<_>>();
        assert!(dominates(&d(&[2, 1]), &d(&[1, 1])));
        assert!(!dominates(&d(&[1, 1]), &d(&[1, 1])), "equal is not beaten");
        assert!(!dominates(&d(&[2, 0]), &d(&[1, 1])), "a trade-off is not beaten");
    }
}
