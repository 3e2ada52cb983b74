//! `admin explain <pattern>`: the plan PostgreSQL picks for the SQL the server sends for a
//! named query pattern, built by the same `store` functions with parameters taken from the
//! database (a run, the most common strategy and instrument, a config value it holds).
//!
//! The plan shown is the one the server's connections run: planned once for any values
//! (they set `plan_cache_mode = force_generic_plan`, see `db`), with the numbers a
//! statement carries in its text planned for (`Sql::push_literal`). See [`explain_served`].

use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbErr, Value};
use uuid::Uuid;

use crate::store::groups::{GroupSpec, groups_sql};
use crate::store::metrics::{Metric, MetricRange};
use crate::store::pareto::{self, Objective};
use crate::store::query::{Direction, Filter, Order, OrderField, Position, Scan, SortValue, Sql, count_sql};
use crate::store::runs::{self, Configs, duplicate_sets_sql, with_metrics_sql};
use crate::store::stmt;

/// The query patterns of the benchmark (BENCHMARKS.md), by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pattern {
    /// A run by id with its metrics, not showing its config.
    RunById,
    /// The newest 20 runs with metrics.
    Newest,
    /// A page of the most common strategy's runs.
    Strategy,
    /// A page of the most common instrument's runs.
    Instrument,
    /// A page of failed runs.
    Status,
    /// Top 20 by Sharpe ratio.
    TopSharpe,
    /// Top 20 by total return.
    TopTotalReturn,
    /// Top 20 by (smallest) max drawdown.
    TopMaxDrawdown,
    /// Ten runs side by side (`compareBacktestRuns`).
    Compare,
    /// Config containment: `{"fast_period": k}`.
    ConfigContains,
    /// An SQL/JSON path predicate on configs.
    ConfigPath,
    /// A metric range filter (Sharpe ≥ 1).
    MetricRange,
    /// A week of runs.
    DateRange,
    /// A cursor page 10,000 runs deep (or halfway, in a smaller database).
    DeepPage,
    /// `totalCount` of a strategy's runs.
    Count,
    /// `runGroups` by strategy × instrument, every statistic.
    Groups,
    /// `runGroups` by the config minus its seed, one strategy.
    GroupsAcrossSeeds,
    /// `paretoFront` on Sharpe (max) and max drawdown (min).
    Pareto,
    /// `duplicateRunSets`.
    Duplicates,
    /// `ancestors` of a re-run.
    Ancestors,
    /// A page of a run's descendants.
    Descendants,
}

/// Values from the database for the patterns' parameters.
struct Sample {
    run: Uuid,
    ids: Vec<Uuid>,
    strategy: String,
    instrument: String,
    fast_period: serde_json::Value,
    rerun: Option<Uuid>,
    original: Option<Uuid>,
    runs: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("the database holds no runs: record some, or fill it with `tearsheet seed --runs 100000`")]
    Empty,
    #[error("the database holds no re-runs (runs with an original), which this pattern needs")]
    NoLineage,
    #[error(transparent)]
    Db(#[from] DbErr),
}

async fn sample(db: &DatabaseConnection) -> Result<Sample, ExplainError> {
    let one = |sql: &'static str| async move { db.query_one_raw(stmt(sql, [])).await };
    let Some(row) =
        one("SELECT id, strategy_name, instrument_symbol, coalesce(config_snapshot -> 'fast_period', '10'::jsonb) \
         FROM backtest_runs ORDER BY id LIMIT 1")
        .await?
    else {
        return Err(ExplainError::Empty);
    };
    let ids = db
        .query_all_raw(stmt("SELECT id FROM backtest_runs ORDER BY id LIMIT 10", []))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<Uuid>(0))
        .collect::<Result<_, _>>()?;
    let common = |column: &'static str| async move {
        let row = db
            .query_one_raw(stmt(
                format!("SELECT {column} FROM backtest_runs GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"),
                [],
            ))
            .await?;
        row.map_or(Ok(String::new()), |r| r.try_get_by_index::<String>(0))
    };
    let lineage =
        one("SELECT id, original_run_id FROM backtest_runs WHERE original_run_id IS NOT NULL ORDER BY id LIMIT 1")
            .await?;
    let runs = one("SELECT count(*) FROM backtest_runs").await?.map_or(Ok(0), |r| r.try_get_by_index::<i64>(0))?;
    Ok(Sample {
        run: row.try_get_by_index(0)?,
        strategy: common("strategy_name").await?,
        instrument: common("instrument_symbol").await?,
        fast_period: row.try_get_by_index(3)?,
        ids,
        rerun: lineage.as_ref().map(|r| r.try_get_by_index(0)).transpose()?,
        original: lineage.as_ref().map(|r| r.try_get_by_index(1)).transpose()?,
        runs,
    })
}

fn page(filter: Filter, order: Order, from: Option<Position>) -> Sql {
    Scan { order, filter, from, backward: false, limit: 21, config: false, metrics: true }.to_sql()
}

fn top(field: OrderField) -> Sql {
    let direction = if field == OrderField::MaxDrawdown { Direction::Asc } else { Direction::Desc };
    page(Filter::default(), Order { field, direction }, None)
}

/// The statements the server sends for `pattern`, with the sample's values.
async fn statements(db: &DatabaseConnection, pattern: Pattern, s: &Sample) -> Result<Vec<Sql>, ExplainError> {
    let newest = Order::default();
    let by_strategy = Filter { strategy_name: Some(s.strategy.clone()), ..Filter::default() };
    Ok(match pattern {
        Pattern::RunById => vec![with_metrics_sql(&[s.run], Configs::Omit)],
        Pattern::Newest => vec![page(Filter::default(), newest, None)],
        Pattern::Strategy => vec![page(by_strategy, newest, None)],
        Pattern::Instrument => {
            vec![page(Filter { instrument_symbol: Some(s.instrument.clone()), ..Filter::default() }, newest, None)]
        }
        Pattern::Status => {
            vec![page(Filter { status: Some(tearsheet_entity::RunStatus::Failed), ..Filter::default() }, newest, None)]
        }
        Pattern::TopSharpe => vec![top(OrderField::SharpeRatio)],
        Pattern::TopTotalReturn => vec![top(OrderField::TotalReturn)],
        Pattern::TopMaxDrawdown => vec![top(OrderField::MaxDrawdown)],
        Pattern::Compare => vec![with_metrics_sql(&s.ids, Configs::Return)],
        Pattern::ConfigContains => {
            let config = serde_json::json!({ "fast_period": s.fast_period });
            vec![page(Filter { config: Some(config), ..Filter::default() }, newest, None)]
        }
        Pattern::ConfigPath => {
            let path = format!("$.fast_period == {}", s.fast_period);
            vec![page(Filter { config_path: Some(path), ..Filter::default() }, newest, None)]
        }
        Pattern::MetricRange => {
            let range = MetricRange { metric: Metric::SharpeRatio, gte: Some(1.0), lte: None };
            vec![page(Filter { metric_ranges: vec![range], ..Filter::default() }, newest, None)]
        }
        Pattern::DateRange => {
            let before = Utc::now() - Duration::days(180);
            let filter = Filter {
                created_after: Some(before - Duration::days(7)),
                created_before: Some(before),
                ..Filter::default()
            };
            vec![page(filter, newest, None)]
        }
        Pattern::DeepPage => {
            let depth = 10_000.min(s.runs / 2).max(0) as u64;
            let row = runs::offset_page(db, &Filter::default(), newest, depth, 1).await?;
            let from =
                row.first().map(|r| Position { value: SortValue::Time(r.created_at.with_timezone(&Utc)), id: r.id });
            vec![page(Filter::default(), newest, from)]
        }
        Pattern::Count => vec![count_sql(&by_strategy)],
        Pattern::Groups => vec![groups_sql(&GroupSpec::strategy_by_instrument()).0],
        Pattern::GroupsAcrossSeeds => vec![groups_sql(&GroupSpec::across_seeds(by_strategy)).0],
        Pattern::Pareto => {
            let objectives = [
                Objective { metric: Metric::SharpeRatio, maximize: true },
                Objective { metric: Metric::MaxDrawdown, maximize: false },
            ];
            pareto::statements(db, &Filter::default(), &objectives).await?.into()
        }
        Pattern::Duplicates => vec![duplicate_sets_sql(&Filter::default(), 20)],
        Pattern::Ancestors => vec![runs::ancestors_sql(s.rerun.ok_or(ExplainError::NoLineage)?)],
        Pattern::Descendants => {
            let filter =
                Filter { descendants_of: Some(s.original.ok_or(ExplainError::NoLineage)?), ..Filter::default() };
            vec![page(filter, newest, None)]
        }
    })
}

/// What `admin explain` prints for one statement.
pub struct Explained {
    pub sql: String,
    pub parameters: Vec<String>,
    pub plan: Vec<String>,
}

/// EXPLAIN (with `analyze`: ANALYZE, BUFFERS, which runs the statement; every pattern
/// only reads) for each statement of `pattern`.
pub async fn explain(db: &DatabaseConnection, pattern: Pattern, analyze: bool) -> Result<Vec<Explained>, ExplainError> {
    let sample = sample(db).await?;
    let options = if analyze { "(ANALYZE, BUFFERS)" } else { "" };
    let mut out = Vec::new();
    for Sql { text, values } in statements(db, pattern, &sample).await? {
        let parameters = values.iter().map(show).collect();
        let rows = explain_served(db, options, &text, values).await?;
        let plan = rows.iter().map(|r| r.try_get_by_index::<String>(0)).collect::<Result<_, _>>()?;
        out.push(Explained { sql: text, parameters, plan });
    }
    Ok(out)
}

/// `EXPLAIN <options>` of the plan the server runs for `text` with `values`: its generic
/// plan. PostgreSQL 15 has no `EXPLAIN (GENERIC_PLAN)`, and EXPLAIN of a statement with
/// parameters plans for their values; so, in a transaction of its own, the statement is
/// prepared (PostgreSQL infers its parameters' types), then `EXPLAIN EXECUTE`d with the
/// values written as literals of those types under `force_generic_plan`, and deallocated.
pub async fn explain_served(
    db: &DatabaseConnection,
    options: &str,
    text: &str,
    values: Vec<Value>,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    use sea_orm::TransactionTrait as _;
    const NAME: &str = "tearsheet_explain";
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await?;
    txn.execute_unprepared(&format!("PREPARE {NAME} AS {text}")).await?;
    // In a savepoint: should EXPLAIN fail, the transaction can still deallocate.
    let attempt = txn.begin().await?;
    let explained = async {
        let types = attempt
            .query_one_raw(stmt(
                format!("SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = '{NAME}'"),
                [],
            ))
            .await?
            .map(|row| row.try_get_by_index::<Vec<String>>(0))
            .transpose()?
            .unwrap_or_default();
        // EXECUTE's arguments cannot be parameters: the values are written as literals
        // (SeaORM's rendering; they come from the database's own rows, not from clients).
        let arguments: Vec<String> =
            types.iter().zip(values).map(|(t, v)| format!("{}::{t}", stmt("$1", [v]))).collect();
        let arguments = if arguments.is_empty() { String::new() } else { format!("({})", arguments.join(", ")) };
        attempt.query_all_raw(stmt(format!("EXPLAIN {options} EXECUTE {NAME}{arguments}"), [])).await
    }
    .await;
    attempt.rollback().await?;
    // Prepared statements outlive transactions.
    txn.execute_unprepared(&format!("DEALLOCATE {NAME}")).await?;
    txn.rollback().await?;
    explained
}

/// A parameter as SQL would spell it (for reading, not for pasting into psql blindly).
fn show(value: &Value) -> String {
    if let Value::Json(Some(json)) = value {
        return json.to_string();
    }
    let text = format!("{value:?}");
    // `Value`'s Debug output is `Variant(Some(x))`: keep the `x`.
    match (text.find("(Some("), text.rfind("))")) {
        (Some(start), Some(end)) if end > start + 6 => text[start + 6..end].to_owned(),
        _ => text,
    }
}
