//! Recording and deleting runs.
//!
//! A batch is stored by a few statements whatever its size: one query for the original
//! runs it names, multi-row INSERTs of the runs with their metrics (one per
//! `RUNS_PER_STATEMENT` runs), one SELECT of the runs that were already stored (replays) —
//! all in one transaction. The rows travel as JSON documents expanded by
//! `json_to_recordset`: one statement text for any batch size (one prepared plan), NULLs
//! included, numerics as strings so they arrive exact.
//!
//! Idempotency: `INSERT … ON CONFLICT (id) DO NOTHING` inserts the new ids and skips the
//! stored ones; each skipped id is then compared with what is stored: the same content is
//! a replay (the stored run is returned), anything else a rejection. Concurrent identical
//! requests meet at the primary key: the second waits for the first to commit, skips, and
//! replays. Rows are inserted in id order, so two batches that share ids lock them in the
//! same order and cannot deadlock.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sea_orm::{ActiveEnum as _, ConnectionTrait, DbErr};
use serde::Serialize;
use tearsheet_entity::{RunStatus, backtest_run, performance_metrics};
use uuid::Uuid;

use super::metrics::{METRICS_COLUMNS, METRICS_COLUMNS_PM};
use super::query::Sql;
use super::rows::{RUN_WIDTH, metrics_at, run_at};
use super::run_config::RunConfig;
use super::runs::{INSERT_COLUMNS, run_columns};
use super::stmt;
use crate::monitoring::{self, Shape};

/// A validated run, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Whether the client chose `created_at`: a replay that leaves it out (so gets a new
    /// "now") still matches the stored run.
    pub created_at_given: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub status: RunStatus,
    pub strategy_name: String,
    pub strategy_type: String,
    pub instrument_symbol: String,
    pub date_range_start: NaiveDate,
    pub date_range_end: NaiveDate,
    pub initial_capital: Decimal,
    pub data_source: String,
    pub config: RunConfig,
    pub error_message: Option<String>,
    pub original_run_id: Option<Uuid>,
    pub metrics: Option<NewMetrics>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NewMetrics {
    pub total_return: Option<Decimal>,
    pub cagr: Option<Decimal>,
    pub sharpe_ratio: Option<Decimal>,
    pub sortino_ratio: Option<Decimal>,
    pub max_drawdown: Option<Decimal>,
    pub volatility: Option<Decimal>,
    pub total_trades: Option<i32>,
    pub winning_trades: Option<i32>,
    pub losing_trades: Option<i32>,
    pub win_rate: Option<Decimal>,
    pub profit_factor: Option<Decimal>,
    pub avg_win_amount: Option<Decimal>,
    pub avg_loss_amount: Option<Decimal>,
}

/// The stored run with its metrics, as PostgreSQL returned them.
pub type Recorded = (backtest_run::Model, Option<performance_metrics::Model>);

/// Whether the stored runs come back with their configs (replayed runs always carry
/// theirs).
pub use super::runs::Configs;

/// Why an input of a batch was not stored; `index` is its position in the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Its id is stored (or earlier in the batch) with other content; `field` is the
    /// first field (API name) that differs.
    Conflict { index: usize, field: &'static str },
    /// `originalRunId` names no stored run and no run earlier in the batch.
    UnknownOriginal { index: usize },
}

#[derive(Debug)]
pub enum RecordError {
    /// Nothing was stored: the inputs that could not be.
    Rejected(Vec<Rejection>),
    Db(DbErr),
}

impl From<DbErr> for RecordError {
    fn from(e: DbErr) -> Self {
        RecordError::Db(e)
    }
}

impl NewRun {
    /// The input that would have stored this run as it is.
    fn from_stored(run: &backtest_run::Model, metrics: Option<&performance_metrics::Model>) -> NewRun {
        NewRun {
            id: run.id,
            created_at: run.created_at.with_timezone(&Utc),
            created_at_given: true,
            completed_at: run.completed_at.map(|t| t.with_timezone(&Utc)),
            duration_seconds: run.duration_seconds,
            status: run.status,
            strategy_name: run.strategy_name.clone(),
            strategy_type: run.strategy_type.clone(),
            instrument_symbol: run.instrument_symbol.clone(),
            date_range_start: run.date_range_start,
            date_range_end: run.date_range_end,
            initial_capital: run.initial_capital,
            data_source: run.data_source.clone(),
            config: RunConfig::new(&run.config_snapshot),
            error_message: run.error_message.clone(),
            original_run_id: run.original_run_id,
            metrics: metrics.map(|m| NewMetrics {
                total_return: m.total_return,
                cagr: m.cagr,
                sharpe_ratio: m.sharpe_ratio,
                sortino_ratio: m.sortino_ratio,
                max_drawdown: m.max_drawdown,
                volatility: m.volatility,
                total_trades: m.total_trades,
                winning_trades: m.winning_trades,
                losing_trades: m.losing_trades,
                win_rate: m.win_rate,
                profit_factor: m.profit_factor,
                avg_win_amount: m.avg_win_amount,
                avg_loss_amount: m.avg_loss_amount,
            }),
        }
    }

    /// `None` when `self` and `other` describe the same run, so storing one where the
    /// other is changes nothing; else the first field (API name) that differs. Decimals
    /// compare by value (1.5 = 1.50), configs as JSON values (key order and spacing do not
    /// matter), and `createdAt` only when both sides chose it: a retry that leaves it out
    /// gets a new "now".
    pub fn difference(&self, other: &NewRun) -> Option<&'static str> {
        let checks: [(&'static str, bool); 16] = [
            ("id", self.id == other.id),
            ("createdAt", !(self.created_at_given && other.created_at_given) || self.created_at == other.created_at),
            ("completedAt", self.completed_at == other.completed_at),
            ("durationSeconds", self.duration_seconds == other.duration_seconds),
            ("status", self.status == other.status),
            ("strategyName", self.strategy_name == other.strategy_name),
            ("strategyType", self.strategy_type == other.strategy_type),
            ("instrumentSymbol", self.instrument_symbol == other.instrument_symbol),
            ("dateRangeStart", self.date_range_start == other.date_range_start),
            ("dateRangeEnd", self.date_range_end == other.date_range_end),
            ("initialCapital", self.initial_capital == other.initial_capital),
            ("dataSource", self.data_source == other.data_source),
            ("config", self.config == other.config),
            ("errorMessage", self.error_message == other.error_message),
            ("originalRunId", self.original_run_id == other.original_run_id),
            ("metrics", self.metrics == other.metrics),
        ];
        checks.iter().find(|(_, equal)| !equal).map(|(name, _)| *name)
    }

    /// The row as `json_to_recordset` reads it, borrowing every field: a batch's configs
    /// are serialized straight into the statement's parameter, never copied as values.
    fn row(&self) -> RunRow<'_> {
        RunRow {
            id: self.id,
            created_at: timestamp(self.created_at),
            completed_at: self.completed_at.map(timestamp),
            duration_seconds: self.duration_seconds,
            status: self.status.to_value(),
            strategy_name: &self.strategy_name,
            strategy_type: &self.strategy_type,
            instrument_symbol: &self.instrument_symbol,
            date_range_start: self.date_range_start,
            date_range_end: self.date_range_end,
            initial_capital: self.initial_capital,
            data_source: &self.data_source,
            config_snapshot: &self.config,
            error_message: self.error_message.as_deref(),
            original_run_id: self.original_run_id,
            config_hash: super::config_hash::config_hash(self),
            config_hash_except_seed: self.config.hash_except_seed(),
        }
    }
}

/// One run of the INSERT's JSON document (see [`NewRun::row`]); decimals are strings
/// (`serde-with-str`), so they arrive exact.
#[derive(Serialize)]
struct RunRow<'a> {
    id: Uuid,
    created_at: String,
    completed_at: Option<String>,
    duration_seconds: Option<i32>,
    status: String,
    strategy_name: &'a str,
    strategy_type: &'a str,
    instrument_symbol: &'a str,
    date_range_start: NaiveDate,
    date_range_end: NaiveDate,
    initial_capital: Decimal,
    data_source: &'a str,
    config_snapshot: &'a RunConfig,
    error_message: Option<&'a str>,
    original_run_id: Option<Uuid>,
    /// Computed here rather than by the trigger (see `config_hash`).
    config_hash: Uuid,
    config_hash_except_seed: Uuid,
}

/// One row of the metrics INSERT's JSON document.
#[derive(Serialize)]
struct MetricsRow<'a> {
    backtest_run_id: Uuid,
    #[serde(flatten)]
    metrics: &'a NewMetrics,
}

/// Runs per INSERT statement of a batch (see `insert`).
pub const RUNS_PER_STATEMENT: usize = 250;

/// A JSON array of `rows`, in a buffer sized for them up front (`configs`: the configs'
/// bytes; the rest of a run is a few hundred), not grown by doubling.
fn json_rows<T: Serialize>(rows: impl ExactSizeIterator<Item = T>, configs: usize) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(configs + rows.len() * 640);
    serde::Serializer::collect_seq(&mut serde_json::Serializer::new(&mut out), rows)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Stores the runs atomically: every input is stored or replayed, or nothing changes.
/// Returns one entry per input, in input order.
pub async fn record(db: &crate::db::Db, runs: &[NewRun], configs: Configs) -> Result<Vec<Recorded>, RecordError> {
    let txn = db.begin().await?;
    let stored = insert(&txn, runs, configs).await?;
    txn.commit().await?;
    Ok(stored)
}

/// [`record`] inside the caller's transaction, so that it can add its own statements (a
/// `NOTIFY` for live updates) that commit or roll back with the rows. On `Err` the caller
/// must roll back (dropping the transaction does).
pub async fn insert(
    txn: &impl ConnectionTrait,
    runs: &[NewRun],
    configs: Configs,
) -> Result<Vec<Recorded>, RecordError> {
    // Within the batch: the first input with an id is the one stored; later ones with the
    // same id must be the same run.
    let mut first_of: HashMap<Uuid, usize> = HashMap::with_capacity(runs.len());
    let mut rejected = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        match first_of.get(&run.id) {
            None => {
                first_of.insert(run.id, i);
            }
            Some(&j) => {
                if let Some(field) = run.difference(&runs[j]) {
                    rejected.push(Rejection::Conflict { index: i, field });
                }
            }
        }
    }
    let unique: Vec<&NewRun> = runs.iter().enumerate().filter(|(i, r)| first_of[&r.id] == *i).map(|(_, r)| r).collect();

    // Originals: earlier in the batch, or stored.
    let mut outside: Vec<(usize, Uuid)> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let Some(original) = run.original_run_id else { continue };
        match first_of.get(&original) {
            Some(&j) if j < i => {}
            _ => outside.push((i, original)),
        }
    }
    if !outside.is_empty() {
        let ids: Vec<Uuid> = outside.iter().map(|(_, id)| *id).collect::<HashSet<_>>().into_iter().collect();
        let mut sql = Sql::default();
        sql.push("SELECT id FROM backtest_runs WHERE ").push_key_condition("id", &ids);
        let rows = monitoring::sql(Shape::write("existing_ids"), txn.query_all_raw(stmt(sql.text, sql.values))).await?;
        let found: HashSet<Uuid> = rows.iter().map(|r| r.try_get::<Uuid>("", "id")).collect::<Result<_, _>>()?;
        let unknown: Vec<Rejection> = outside
            .iter()
            .filter(|(_, id)| !found.contains(id))
            .map(|(i, _)| Rejection::UnknownOriginal { index: *i })
            .collect();
        // The runs cannot be inserted at all (their foreign key would fail); a conflict
        // among the others is still worth reporting, so only this stops here.
        if !unknown.is_empty() {
            rejected.extend(unknown);
            return Err(RecordError::Rejected(sorted(rejected)));
        }
    }

    // The configs just sent need not come back unless the response shows them: a batch's
    // configs are megabytes to detoast, send and parse again.
    //
    // A run and its metrics go in by one statement: the runs inserted (`r`, the ids not
    // stored yet) and the metrics of those, returned side by side. One statement, so that
    // `run_facts` (m0011) gets each run's row whole from the runs' trigger, which sees the
    // statement's metrics: with the metrics in a statement of their own, their trigger
    // updated every facts row just written (an UPDATE and a dead tuple per run; bulk
    // throughput moved less than its noise either way, BENCHMARKS.md step 19).
    // Metrics of a replayed run are not inserted: its stored run decides (below).
    let sql = format!(
        "WITH r AS (INSERT INTO backtest_runs ({INSERT_COLUMNS}, config_hash, config_hash_except_seed) \
           SELECT {INSERT_COLUMNS}, config_hash, config_hash_except_seed \
           FROM json_to_recordset($1::json) AS x(id uuid, created_at timestamptz, \
             completed_at timestamptz, duration_seconds integer, status varchar, strategy_name varchar, \
             strategy_type varchar, instrument_symbol varchar, date_range_start date, date_range_end date, \
             initial_capital numeric, data_source varchar, config_snapshot jsonb, error_message text, \
             original_run_id uuid, config_hash uuid, config_hash_except_seed uuid) \
           ORDER BY id \
           ON CONFLICT (id) DO NOTHING RETURNING {returning}), \
         pm AS (INSERT INTO performance_metrics (backtest_run_id, total_return, cagr, sharpe_ratio, \
             sortino_ratio, max_drawdown, volatility, total_trades, winning_trades, losing_trades, win_rate, \
             profit_factor, avg_win_amount, avg_loss_amount) \
           SELECT * FROM json_to_recordset($2::json) AS x(backtest_run_id uuid, total_return numeric, \
             cagr numeric, sharpe_ratio numeric, sortino_ratio numeric, max_drawdown numeric, \
             volatility numeric, total_trades integer, winning_trades integer, losing_trades integer, \
             win_rate numeric, profit_factor numeric, avg_win_amount numeric, avg_loss_amount numeric) \
           WHERE x.backtest_run_id IN (SELECT id FROM r) \
           RETURNING {METRICS_COLUMNS}) \
         SELECT r.*, {metrics} FROM r LEFT JOIN pm ON pm.backtest_run_id = r.id",
        returning = run_columns(configs),
        metrics = *METRICS_COLUMNS_PM,
    );
    // In statements of at most `RUNS_PER_STATEMENT` runs, so that no parameter is a whole
    // batch's megabytes: sea-orm copies a statement's parameters and sqlx encodes them into
    // a connection buffer that doubles as it grows and keeps its size (massif: 4.6 + 9 MB
    // for a 4.6 MB batch in one statement). The foreign key to the original run is checked
    // at the end of each statement, so a re-run goes after its original when the original
    // is in the batch: runs in order of their depth of re-runs within the batch, then of
    // id, so that concurrent batches take the primary key's locks in one order.
    let mut depth: HashMap<Uuid, usize> = HashMap::with_capacity(unique.len());
    for run in &unique {
        let d = run.original_run_id.and_then(|o| depth.get(&o)).map_or(0, |d| d + 1);
        depth.insert(run.id, d);
    }
    let mut in_order = unique.clone();
    in_order.sort_unstable_by_key(|r| (depth[&r.id], r.id));
    let mut stored: HashMap<Uuid, Recorded> = HashMap::with_capacity(unique.len());
    for chunk in in_order.chunks(RUNS_PER_STATEMENT) {
        let runs_json = json_rows(chunk.iter().map(|r| r.row()), chunk.iter().map(|r| r.config.text().len()).sum())
            .map_err(|e| DbErr::Custom(format!("serializing runs: {e}")))?;
        let metrics: Vec<MetricsRow<'_>> = chunk
            .iter()
            .filter_map(|r| r.metrics.as_ref().map(|metrics| MetricsRow { backtest_run_id: r.id, metrics }))
            .collect();
        let metrics_json =
            serde_json::to_string(&metrics).map_err(|e| DbErr::Custom(format!("serializing metrics: {e}")))?;
        let statement = stmt(sql.clone(), [runs_json.into(), metrics_json.into()]);
        let inserted = monitoring::sql(Shape::write("insert_runs"), txn.query_all_raw(statement)).await?;
        for row in &inserted {
            let run = run_at(row, 0)?;
            stored.insert(run.id, (run, metrics_at(row, RUN_WIDTH)?));
        }
    }
    // New runs, in input order, for the live-update notification (replays are not news).
    let new_ids: Vec<Uuid> = unique.iter().map(|r| r.id).filter(|id| stored.contains_key(id)).collect();

    // Replays: the ids that were stored already must hold the same run.
    let replayed: Vec<Uuid> = unique.iter().map(|r| r.id).filter(|id| !stored.contains_key(id)).collect();
    if !replayed.is_empty() {
        for super::runs::Found { run, metrics, .. } in
            super::runs::with_metrics(txn, &replayed, Configs::Return).await?
        {
            let index = first_of[&run.id];
            if let Some(field) = runs[index].difference(&NewRun::from_stored(&run, metrics.as_ref())) {
                rejected.push(Rejection::Conflict { index, field });
            }
            stored.insert(run.id, (run, metrics));
        }
    }
    if !rejected.is_empty() {
        return Err(RecordError::Rejected(sorted(rejected)));
    }
    notify(txn, &new_ids).await?;
    runs.iter().map(|r| stored.get(&r.id).cloned().ok_or(RecordError::Db(DbErr::RecordNotInserted))).collect()
}

/// The channel every server process listens on for recorded runs (`crate::live`).
pub const RUNS_CHANNEL: &str = "tearsheet_runs_recorded";
/// Ids per notification: 200 × 37 bytes stays under PostgreSQL's 8,000-byte payload.
const IDS_PER_NOTIFICATION: usize = 200;

/// `NOTIFY` the new runs' ids, inside the transaction: PostgreSQL delivers them when (and
/// only if) it commits, in commit order. One statement for any batch: a notification per
/// chunk of ids, sent in the chunks' order.
async fn notify(txn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let payloads: Vec<String> =
        ids.chunks(IDS_PER_NOTIFICATION).map(|c| c.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",")).collect();
    let sql = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS p(payload, n) ORDER BY n";
    monitoring::sql(Shape::write("notify"), txn.execute_raw(stmt(sql, [RUNS_CHANNEL.into(), payloads.into()]))).await?;
    Ok(())
}

fn sorted(mut rejected: Vec<Rejection>) -> Vec<Rejection> {
    rejected.sort_by_key(|r| match r {
        Rejection::Conflict { index, .. } | Rejection::UnknownOriginal { index } => *index,
    });
    rejected
}

/// Deletes a run (its metrics cascade; its re-runs keep existing with no original).
/// Returns its id, or `None` when no run had it.
pub async fn delete(db: &crate::db::Db, id: Uuid) -> Result<Option<Uuid>, DbErr> {
    let row = monitoring::sql(
        Shape::write("delete_run"),
        db.query_one_raw(stmt("DELETE FROM backtest_runs WHERE id = $1 RETURNING id", [id.into()])),
    )
    .await?;
    row.map(|r| r.try_get::<Uuid>("", "id")).transpose()
}
