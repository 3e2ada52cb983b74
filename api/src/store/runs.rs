//! Reading runs.

use std::sync::LazyLock;

use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult as _};
use tearsheet_entity::{backtest_run, performance_metrics};
use uuid::Uuid;

use super::metrics::METRICS_COLUMNS_PM;
use super::query::{
    Filter, Order, OrderField, Position, RUN_COLUMNS_R, Scan, SortValue, Sql, count_sql, offset_page_sql,
};
use super::rows::{METRICS_WIDTH, RUN_WIDTH, decimal_at, metrics_at, run_at};
use super::stmt;
use crate::monitoring::{self, Shape, sql};

/// The columns a write gives: every column of `backtest_runs` but the generated one.
pub const INSERT_COLUMNS: &str = "id, created_at, completed_at, duration_seconds, status, strategy_name, \
     strategy_type, instrument_symbol, date_range_start, date_range_end, initial_capital, data_source, \
     config_snapshot, error_message, original_run_id";

/// Every column of `backtest_runs`, in table order (read by position: `rows::run_at`).
pub const RUN_COLUMNS: &str = "id, created_at, completed_at, duration_seconds, status, strategy_name, \
     strategy_type, instrument_symbol, date_range_start, date_range_end, initial_capital, data_source, \
     config_snapshot, error_message, original_run_id, config_hash";

/// What a statement reads in place of `config_snapshot` when nobody will show the
/// configs: JSON null, which no stored config is (configs are objects), marks the row as
/// read without its config. (`NULL` would not decode into the model's non-null field.)
pub const NO_CONFIG: &str = "'null'::jsonb AS config_snapshot";

/// At most this many runs per hash for `equivalentRuns`, and per set for `duplicateRunSets`.
pub const MAX_EQUIVALENT: i64 = 100;

/// `by_config_hashes`' statement: for each hash, its newest runs (one more than
/// [`MAX_EQUIVALENT`], since the asking run is among them), by the config-hash index.
pub fn by_config_hashes_sql(hashes: &[Uuid]) -> Sql {
    Sql {
        text: format!(
            "SELECT {RUN_COLUMNS_R} FROM unnest($1::uuid[]) AS h(hash) \
             CROSS JOIN LATERAL (SELECT * FROM backtest_runs b WHERE b.config_hash = h.hash \
                                 ORDER BY b.created_at DESC, b.id DESC LIMIT {}) r",
            MAX_EQUIVALENT + 1
        ),
        values: vec![hashes.to_vec().into()],
    }
}

/// The newest runs with each of these config hashes, newest first within a hash.
pub async fn by_config_hashes(db: &impl ConnectionTrait, hashes: &[Uuid]) -> Result<Vec<backtest_run::Model>, DbErr> {
    let Sql { text, values } = by_config_hashes_sql(hashes);
    let rows = sql(Shape::read("runs_by_config_hashes"), db.query_all_raw(stmt(text, values))).await?;
    rows.iter().map(|row| run_at(row, 0)).collect()
}

/// Runs with the same inputs: a config hash, the ids (newest first, at most
/// [`MAX_EQUIVALENT`]), and the spread of their Sharpe ratios.
#[derive(Clone, Debug, PartialEq)]
pub struct DuplicateSet {
    pub config_hash: Uuid,
    pub run_ids: Vec<Uuid>,
    pub sharpe_spread: Option<Decimal>,
}

/// `duplicate_sets`' statement. Two phases in one statement: the hashes held by two or
/// more of the filtered runs (a group count over the config-hash index, no join), then
/// only those runs joined with their metrics and aggregated. Aggregating every run with
/// its metrics first took 3× as long (179 against 59 ms at 100,000 runs).
pub fn duplicate_sets_sql(filter: &Filter, limit: u64) -> Sql {
    let mut sql = Sql::default();
    sql.push("WITH dup AS (SELECT r.config_hash FROM backtest_runs r WHERE TRUE");
    filter.push_conditions(&mut sql);
    sql.push(&format!(
        " GROUP BY r.config_hash HAVING count(*) >= 2) \
         SELECT r.config_hash, max(pm.sharpe_ratio) - min(pm.sharpe_ratio) AS spread, \
           (array_agg(r.id ORDER BY r.created_at DESC, r.id DESC))[1:{MAX_EQUIVALENT}] AS ids \
         FROM dup JOIN backtest_runs r ON r.config_hash = dup.config_hash \
         LEFT JOIN performance_metrics pm ON pm.backtest_run_id = r.id WHERE TRUE"
    ));
    filter.push_conditions(&mut sql);
    sql.push(" GROUP BY r.config_hash HAVING count(*) >= 2 ORDER BY spread DESC NULLS LAST, r.config_hash LIMIT ")
        .bind(limit as i64);
    sql
}

/// Sets of two or more runs (among those `filter` selects) with the same inputs, largest
/// Sharpe spread first (sets without two Sharpe ratios last).
pub async fn duplicate_sets(
    db: &impl ConnectionTrait,
    filter: &Filter,
    limit: u64,
) -> Result<Vec<DuplicateSet>, DbErr> {
    let Sql { text, values } = duplicate_sets_sql(filter, limit);
    let rows = sql(Shape::read("duplicate_sets"), db.query_all_raw(stmt(text, values))).await?;
    rows.iter()
        .map(|row| {
            Ok(DuplicateSet {
                config_hash: row.try_get_by_index(0)?,
                sharpe_spread: row.try_get_by_index(1)?,
                run_ids: row.try_get_by_index(2)?,
            })
        })
        .collect()
}

/// How far `ancestors` follows a chain of re-runs.
pub const MAX_LINEAGE: u32 = 10_000;

/// `ancestors`' statement: one recursive CTE up the `original_run_id` chain. PostgreSQL's
/// `CYCLE` clause stops at a run already on the path (a cycle can only be made by direct
/// SQL, but must not loop), and the run itself is never its own ancestor.
pub fn ancestors_sql(id: Uuid) -> Sql {
    Sql {
        text: format!(
            "WITH RECURSIVE chain(id, depth) AS ( \
               SELECT original_run_id, 1 FROM backtest_runs WHERE id = $1 AND original_run_id IS NOT NULL \
               UNION ALL \
               SELECT b.original_run_id, c.depth + 1 FROM chain c JOIN backtest_runs b ON b.id = c.id \
               WHERE b.original_run_id IS NOT NULL AND c.depth < {MAX_LINEAGE} \
             ) CYCLE id SET is_cycle USING path \
             SELECT {RUN_COLUMNS_R} FROM chain c JOIN backtest_runs r ON r.id = c.id \
             WHERE NOT c.is_cycle AND c.id <> $1 ORDER BY c.depth"
        ),
        values: vec![id.into()],
    }
}

/// The chain of original runs of `id`, nearest first.
pub async fn ancestors(db: &impl ConnectionTrait, id: Uuid) -> Result<Vec<backtest_run::Model>, DbErr> {
    let Sql { text, values } = ancestors_sql(id);
    let rows = sql(Shape::read("ancestors"), db.query_all_raw(stmt(text, values))).await?;
    rows.iter().map(|row| run_at(row, 0)).collect()
}

/// The runs among `ids` that `filter` selects (live updates: a subscriber's filter is
/// applied by the same conditions as a listing's), in no particular order.
pub async fn matching(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    filter: &Filter,
) -> Result<Vec<backtest_run::Model>, DbErr> {
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {RUN_COLUMNS_R} FROM backtest_runs r WHERE ")).push_key_condition("r.id", ids);
    filter.push_conditions(&mut sql);
    let rows = monitoring::sql(Shape::read("runs_matching"), db.query_all_raw(stmt(sql.text, sql.values))).await?;
    rows.iter().map(|row| run_at(row, 0)).collect()
}

/// `by_ids`'s statement (the plan tests explain it).
pub fn by_ids_sql(ids: &[Uuid], configs: Configs) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {}{} FROM backtest_runs r WHERE ", run_columns_r(configs), config_text_column(configs)))
        .push_key_condition("r.id", ids);
    sql
}

/// The runs with these ids, in no particular order; unknown ids are simply absent.
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid], configs: Configs) -> Result<Vec<Found>, DbErr> {
    let Sql { text, values } = by_ids_sql(ids, configs);
    let rows = sql(Shape::read("runs_by_ids"), db.query_all_raw(stmt(text, values))).await?;
    rows.iter()
        .map(|row| {
            let config_text = config_text_at(row, RUN_WIDTH, configs)?;
            Ok(Found { run: run_at(row, 0)?, metrics: None, config_text })
        })
        .collect()
}

/// A run read by id: with its metrics when they were read with it (`None` as well for a
/// run without), and with its config as JSON text when read as text ([`Configs::Text`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub run: backtest_run::Model,
    pub metrics: Option<performance_metrics::Model>,
    pub config_text: Option<String>,
}

/// Whether a statement reads the runs' configs. Without (`Omit`), `config_snapshot` is
/// JSON null ([`NO_CONFIG`]), the mark of a row read without its config: such rows are
/// never cached as whole runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Configs {
    Return,
    Omit,
    /// The config as PostgreSQL writes jsonb as text, in a last column of its own, to be
    /// shown as it is (`graphql::scalars::JsonRef::Text`); the model's config is null, as
    /// with `Omit`. Parsing a 1–5 KB config into a tree and writing the tree out again
    /// were ~40% of a run by id's instructions.
    Text,
}

/// The run columns, with or without the config (built once: lookups and pages ask for
/// them on every request).
pub fn run_columns(configs: Configs) -> &'static str {
    static OMIT: LazyLock<String> = LazyLock::new(|| RUN_COLUMNS.replace("config_snapshot", NO_CONFIG));
    match configs {
        Configs::Return => RUN_COLUMNS,
        Configs::Omit | Configs::Text => &OMIT,
    }
}

/// What follows the columns a statement reads for `configs` (alias `r`).
fn config_text_column(configs: Configs) -> &'static str {
    match configs {
        Configs::Text => ", r.config_snapshot::text",
        Configs::Return | Configs::Omit => "",
    }
}

/// The config text of a statement that reads `configs`, at column `at`.
fn config_text_at(row: &sea_orm::QueryResult, at: usize, configs: Configs) -> Result<Option<String>, DbErr> {
    match configs {
        Configs::Text => Ok(Some(super::rows::get(super::rows::pg_row(row)?, at)?)),
        Configs::Return | Configs::Omit => Ok(None),
    }
}

/// [`run_columns`] on alias `r`.
pub fn run_columns_r(configs: Configs) -> &'static str {
    static OMIT: LazyLock<String> = LazyLock::new(|| RUN_COLUMNS_R.replace("r.config_snapshot", NO_CONFIG));
    match configs {
        Configs::Return => RUN_COLUMNS_R,
        Configs::Omit | Configs::Text => &OMIT,
    }
}

/// `with_metrics`'s statement: the runs' columns, then their metrics' (NULLs for a run
/// without metrics).
pub fn with_metrics_sql(ids: &[Uuid], configs: Configs) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {}, {}{} FROM backtest_runs r LEFT JOIN performance_metrics pm ON pm.backtest_run_id = r.id WHERE ",
        run_columns_r(configs),
        *METRICS_COLUMNS_PM,
        config_text_column(configs)
    ))
    .push_key_condition("r.id", ids);
    sql
}

/// Runs with their metrics (`None`: the run has none), in one statement: for lookups that
/// want both, a round trip and a query fewer than `by_ids` then the metrics.
///
/// A run by id is the most frequent request, and most do not show the config: reading one
/// (`Configs::Return`) means detoasting 1–5 KB in PostgreSQL and parsing it here.
pub async fn with_metrics(db: &impl ConnectionTrait, ids: &[Uuid], configs: Configs) -> Result<Vec<Found>, DbErr> {
    let Sql { text, values } = with_metrics_sql(ids, configs);
    let rows = sql(Shape::read("runs_with_metrics"), db.query_all_raw(stmt(text, values))).await?;
    rows.iter()
        .map(|row| {
            Ok(Found {
                run: run_at(row, 0)?,
                metrics: metrics_at(row, RUN_WIDTH)?,
                config_text: config_text_at(row, RUN_WIDTH + METRICS_WIDTH, configs)?,
            })
        })
        .collect()
}

/// One page of a listing: up to `scan.limit` runs in the scan's reading order, each with
/// its position (for cursors). One statement; see [`super::query`].
pub async fn scan(db: &impl ConnectionTrait, scan: &Scan) -> Result<Vec<Scanned>, DbErr> {
    let Sql { text, values } = scan.to_sql();
    let rows = sql(Shape::read(scan.shape()), db.query_all_raw(stmt(text, values))).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        // The run's columns, `sort_metric`, then (with `scan.metrics`) the metrics.
        let run = run_at(&row, 0)?;
        let value = match scan.order.field {
            OrderField::CreatedAt => SortValue::Time(run.created_at.with_timezone(&Utc)),
            _ => SortValue::Metric(decimal_at(&row, RUN_WIDTH)?),
        };
        let metrics = if scan.metrics { metrics_at(&row, RUN_WIDTH + 1)? } else { None };
        let position = Position { value, id: run.id };
        out.push(Scanned { run, position, metrics });
    }
    // Two segments may come back in either order from UNION ALL; order them here.
    out.sort_by(|a, b| scan.cmp(&a.position, &b.position));
    out.truncate(scan.limit as usize);
    Ok(out)
}

/// A row of a page.
pub struct Scanned {
    pub run: backtest_run::Model,
    pub position: Position,
    /// The run's metrics, when the scan read them (`None` also for a run without any).
    pub metrics: Option<performance_metrics::Model>,
}

/// How many runs match `filter`.
pub async fn count(db: &impl ConnectionTrait, filter: &Filter) -> Result<i64, DbErr> {
    let Sql { text, values } = count_sql(filter);
    let row = sql(Shape::read("runs_count"), db.query_one_raw(stmt(text, values))).await?;
    row.map_or(Ok(0), |r| r.try_get_by_index::<i64>(0))
}

/// Runs `offset..offset + limit` of a listing, by OFFSET: only for the capped page-number
/// API, never for connections.
pub async fn offset_page(
    db: &impl ConnectionTrait,
    filter: &Filter,
    order: Order,
    offset: u64,
    limit: u64,
) -> Result<Vec<backtest_run::Model>, DbErr> {
    let Sql { text, values } = offset_page_sql(filter, order, offset, limit);
    sql(Shape::read("runs_offset_page"), backtest_run::Model::find_by_statement(stmt(text, values)).all(db)).await
}
