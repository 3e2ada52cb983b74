//! `paretoFront`: the runs no other run beats on every objective.
//!
//! A skyline over one sorted scan: PostgreSQL streams the candidates (runs with every
//! objective's metric) ordered best-first on the objectives in turn, and each row is kept
//! when no run already on the front dominates it. In that order every run that dominates
//! a row comes before it, and dominance is transitive, so comparing with the front alone
//! is enough. Memory is the front, not the matching runs: 1,000,000 candidates stream
//! through a few KB.

use futures_util::TryStreamExt as _;
use sea_orm::{DbErr, StreamTrait};
use uuid::Uuid;

use super::metrics::Metric;
use super::query::{Filter, Sql};
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

/// The candidates, best-first on each objective in turn, then by id.
pub fn candidates_sql(filter: &Filter, objectives: &[Objective]) -> Sql {
    let values: Vec<String> = objectives.iter().map(|o| format!("pm.{}::float8", o.metric.column())).collect();
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT r.id, {} FROM backtest_runs r JOIN performance_metrics pm ON pm.backtest_run_id = r.id WHERE TRUE",
        values.join(", ")
    ));
    for o in objectives {
        sql.push(&format!(" AND pm.{} IS NOT NULL", o.metric.column()));
    }
    filter.push_conditions(&mut sql);
    let order: Vec<String> = objectives
        .iter()
        .zip(&values)
        .map(|(o, v)| format!("{v} {}", if o.maximize { "DESC" } else { "ASC" }))
        .collect();
    sql.push(&format!(" ORDER BY {}, r.id", order.join(", ")));
    sql
}

/// `a` beats `b`: at least as good on every objective, strictly better on one. Values are
/// oriented so that larger is better.
fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y)
}

/// The front's run ids, in the scan's order (best-first on the first objective).
pub async fn front(db: &impl StreamTrait, filter: &Filter, objectives: &[Objective]) -> Result<Vec<Uuid>, ParetoError> {
    let Sql { text, values } = candidates_sql(filter, objectives);
    let rows = sql(Shape::read("pareto_scan"), db.stream_raw(stmt(text, values))).await?;
    let mut rows = std::pin::pin!(rows);
    let mut front: Vec<(Vec<f64>, Uuid)> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let id: Uuid = row.try_get_by_index(0)?;
        let mut point = Vec::with_capacity(objectives.len());
        for (i, o) in objectives.iter().enumerate() {
            let v: f64 = row.try_get_by_index(i + 1)?;
            point.push(if o.maximize { v } else { -v });
        }
        if front.iter().any(|(kept, _)| dominates(kept, &point)) {
            continue;
        }
        if front.len() == MAX_FRONT {
            return Err(ParetoError::TooLarge);
        }
        front.push((point, id));
    }
    Ok(front.into_iter().map(|(_, id)| id).collect())
}

#[cfg(test)]
mod tests {
    use super::dominates;

    #[test]
    fn dominance_needs_one_strict_improvement() {
        assert!(dominates(&[2.0, 1.0], &[1.0, 1.0]));
        assert!(!dominates(&[1.0, 1.0], &[1.0, 1.0]), "equal is not beaten");
        assert!(!dominates(&[2.0, 0.0], &[1.0, 1.0]), "a trade-off is not beaten");
    }
}
