//! `tearsheet seed`: many realistic runs, generated inside PostgreSQL.
//!
//! Every value of row `g` (1..=N) is a function of `g` and the seed, spread by
//! `hashint8extended(g, seed + k)`, so the same `(runs, seed)` gives the same rows (ids
//! included) on any server, and no row travels over the wire: PostgreSQL generates and
//! inserts a chunk per statement, which is as fast as `COPY` of the same rows and leaves
//! nothing to parse client-side. Chunks give progress to show. Ids are deterministic and
//! inserted with `ON CONFLICT DO NOTHING`, so seeding again adds nothing; how the chunks
//! are committed is in [`seed`].
//!
//! The shape follows the seed note and `synthetic` (the demo data): 8 strategies with
//! skewed weights, 50 instruments, `created_at` over two years (2024–2025) with ~2% ties,
//! ~93% success / 5% failed / 2% interrupted, configs of 1–5 KB (`fast_period` 5–50,
//! `slow_period`, nested `risk_management`, an `instruments` array, and a block of padding
//! parameters), metrics for every successful run (~2% with a NULL Sharpe, ~3% NULL
//! Sortino), and re-runs (~3% by default) of a run up to 200 rows earlier in the same
//! chunk (so that chunks can be inserted concurrently without waiting on each other's
//! foreign keys), with the original's config, instrument and date range.

use std::sync::Arc;

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait as _, Value};
use tokio::task::JoinSet;

use super::{facts, stmt};
use crate::synthetic::{DATA_SOURCES, INSTRUMENTS, STRATEGIES};

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedSpec {
    pub runs: u64,
    pub seed: u64,
    /// Re-runs per 1000 runs (1000: every run but the first re-runs an earlier one).
    pub reruns_per_mille: u16,
}

impl SeedSpec {
    pub fn new(runs: u64, seed: u64) -> Self {
        SeedSpec { runs, seed, reruns_per_mille: 30 }
    }
}

/// Rows per statement: large enough that per-statement costs vanish, small enough for
/// progress every second or so.
pub const CHUNK: u64 = 20_000;

/// The id of row `g` for `seed`, as SQL over the expressions `g` and `seed`: tests and the
/// benchmark name rows with it.
pub fn id_sql(g: &str, seed: &str) -> String {
    format!("md5('tearsheet-seed-' || ({seed})::text || '-' || ({g})::text)::uuid")
}

/// A non-negative 63-bit hash of the row number `row`, independent for each `k`.
fn hash(row: &str, k: u32) -> String {
    format!("(hashint8extended({row}, $1::bigint + {k}) & 9223372036854775807)")
}

/// `'a'`, with quotes doubled: for our own constants only, never for input.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn array(items: impl IntoIterator<Item = String>) -> String {
    format!("ARRAY[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

/// The 1-based index of a strategy, weighted, from a uniform value in 0..100.
fn strategy_index(uniform: &str) -> String {
    let total: u32 = STRATEGIES.iter().map(|s| s.2).sum();
    let mut arms = String::from("CASE");
    let mut upto = 0;
    for (i, (_, _, weight)) in STRATEGIES.iter().enumerate() {
        upto += weight;
        arms.push_str(&format!(" WHEN {uniform} * {total} / 100 < {upto} THEN {}", i + 1));
    }
    arms.push_str(" ELSE 1 END");
    arms
}

/// The statement that inserts rows `$2..=$3` of `$4` runs for seed `$1` (with re-runs per
/// mille `$5`), and their metrics.
fn chunk_sql() -> String {
    let names = array(STRATEGIES.iter().map(|s| literal(s.0)));
    let kinds = array(STRATEGIES.iter().map(|s| literal(s.1)));
    let symbols = array(INSTRUMENTS.iter().map(|s| literal(s)));
    let sources = array(DATA_SOURCES.iter().map(|s| literal(s)));
    let strategy = strategy_index("(h0 / 1000 % 100)");
    let h = |k| hash("g", k);
    let (h0, h1, h2, h3, h4, h5) = (h(0), h(1), h(2), h(3), h(4), h(5));
    let h2o = hash("orig", 2);
    let hc = hash("c", 9);
    let id = id_sql("g", "$1::bigint");
    let orig_id = id_sql("orig", "$1::bigint");
    let metrics_id = "md5('tearsheet-seed-metrics-' || $1::bigint::text || '-' || g::text)::uuid";
    // `c` is the row whose inputs a run uses: its original's for a re-run. `hc` hashes it.
    format!(
        "WITH rows AS (
           SELECT g, {h0} AS h0, {h1} AS h1, {h3} AS h3, {h4} AS h4, {h5} AS h5,
             CASE WHEN g > $2 AND {h2} % 1000 < $5 THEN g - 1 - ({h2} / 1000) % LEAST(g - $2, 200) END AS orig
           FROM generate_series($2::bigint, $3::bigint) AS g
         ),
         roots AS (
           -- A re-run takes its original's inputs; when the original is itself a re-run,
           -- those of the original's original (deeper chains, ~0.1% of re-runs, stop there).
           SELECT rows.*, CASE
               WHEN orig IS NULL THEN g
               WHEN orig > $2 AND {h2o} % 1000 < $5 THEN orig - 1 - ({h2o} / 1000) % LEAST(orig - $2, 200)
               ELSE orig END AS c
           FROM rows
         ),
         keyed AS (
           SELECT roots.*,
             {hc} AS hc,
             CASE WHEN h0 % 100 < 93 THEN 'success' WHEN h0 % 100 < 98 THEN 'failed' ELSE 'interrupted' END
               AS status,
             {strategy} AS si,
             timestamptz '2024-01-01 00:00:00+00'
               + ((CASE WHEN h1 % 50 = 0 AND g > 1 THEN g - 1 ELSE g END) - 1) * (63158400.0 / $4::bigint)::float8
                 * interval '1 second' AS created_at,
             30 + h1 / 50 % 3600 AS duration
           FROM roots
         ),
         padding AS MATERIALIZED (
           -- Config numbers are written as clients write them, without trailing zeros
           -- (trim_scale): `config_hash` (m0008) then skips its number normalisation.
           -- 256 blocks of 13-75 parameters, a third numbers and two thirds 67-character
           -- strings (feature lists, notes): what pads a config to 1-5 KB. Long strings
           -- rather than many small numbers keep the GIN index at ~60 entries per config.
           SELECT b, jsonb_object_agg('param_' || lpad(k::text, 2, '0'),
               CASE WHEN k % 3 = 0
                 THEN to_jsonb(trim_scale(round(((hashint8extended(b * 100 + k, $1::bigint) & 1048575) / 1000.0), 3)))
                 ELSE to_jsonb('fs_' || md5((b * 100 + k)::text || $1::bigint::text)
                                     || md5((b * 100 + k)::text || 'x' || $1::bigint::text))
               END) AS block
           FROM generate_series(0, 255) AS b, generate_series(1, 13 + (b * 37) % 63) AS k
           GROUP BY b
         ),
         inputs AS (
           -- A run's inputs, evaluated once per row (`OFFSET 0` keeps the planner from
           -- copying these expressions into each use below). `config0` is the config
           -- without its `seed`, `text0` its text.
           SELECT g, orig, c, status, created_at, duration, h1,
             ({names})[si] AS strategy_name, ({kinds})[si] AS strategy_type,
             ({symbols})[1 + hc % 50] AS instrument_symbol,
             date '2015-01-01' + (hc / 50 % 2500)::int AS date_range_start,
             date '2015-01-01' + (hc / 50 % 2500)::int + 365 + (hc / 125000 % 1460)::int AS date_range_end,
             (ARRAY[10000, 100000, 250000, 1000000])[1 + hc / 7 % 4]::numeric(20, 2) AS initial_capital,
             ({sources})[1 + hc / 11 % 4] AS data_source,
             config0, config0::text AS text0
           FROM (
             SELECT keyed.*, jsonb_build_object(
               'fast_period', 5 + hc % 46,
               'slow_period', 55 + hc / 46 % 150,
               'signal_threshold', trim_scale(round(hc / 6900 % 500 / 10000.0, 4)),
               'timeframe', (ARRAY['1m', '5m', '1h', '1d'])[1 + hc / 13 % 4],
               'commission', 0.001,
               'risk_management', jsonb_build_object(
                 'stop_loss', trim_scale(round(0.01 + hc / 17 % 40 / 1000.0, 3)),
                 'take_profit', trim_scale(round(0.02 + hc / 19 % 100 / 1000.0, 3)),
                 'max_position_size', 100 * (1 + hc / 23 % 50)),
               'instruments', jsonb_build_array(({symbols})[1 + hc % 50], ({symbols})[1 + hc / 29 % 50]),
               'parameters', padding.block) AS config0
             FROM keyed JOIN padding ON padding.b = keyed.hc / 31 % 256
             OFFSET 0
           ) k
           OFFSET 0
         ),
         runs AS (
           -- Both config hashes are supplied (the triggers keep them), computed as m0008's
           -- and m0009's functions would but without their scan for numbers with trailing
           -- zeros: these configs have none (`trim_scale`), so the canonical text is
           -- jsonb's own. And `seed`, the one 4-letter key, is the first in jsonb's key
           -- order (shorter keys first), so the whole config's text is `text0` with
           -- `\"seed\": c, ` after its opening brace. The triggers computing both took ~55 of the ~120
           -- seconds 1,000,000 runs spent inserting (8,300 -> 15,400 runs/s without them);
           -- the seeding tests compare every seeded hash with the SQL functions.
           INSERT INTO backtest_runs (id, created_at, completed_at, duration_seconds, status, strategy_name,
             strategy_type, instrument_symbol, date_range_start, date_range_end, initial_capital, data_source,
             config_snapshot, config_hash, config_hash_except_seed, error_message, original_run_id)
           SELECT {id}, created_at,
             CASE WHEN status = 'interrupted' THEN NULL ELSE created_at + duration * interval '1 second' END,
             CASE WHEN status = 'interrupted' THEN NULL ELSE duration END,
             status, strategy_name, strategy_type, instrument_symbol, date_range_start, date_range_end,
             initial_capital, data_source,
             config0 || jsonb_build_object('seed', c),
             md5('{{\"seed\": ' || c::text || ', ' || substr(text0, 2)
                 || chr(31) || strategy_name || chr(31) || strategy_type || chr(31) || instrument_symbol
                 || chr(31) || (date_range_start - date '2000-01-01')::text
                 || chr(31) || (date_range_end - date '2000-01-01')::text || chr(31) || data_source)::uuid,
             md5(text0)::uuid,
             CASE status WHEN 'failed' THEN (ARRAY['data feed returned no bars for the requested range',
                                                   'division by zero in position sizing',
                                                   'broker simulator rejected order: insufficient margin'])[1 + h1 % 3]
                         WHEN 'interrupted' THEN 'interrupted by user' END,
             CASE WHEN orig IS NOT NULL THEN {orig_id} END
           FROM inputs
           ORDER BY g
           ON CONFLICT (id) DO NOTHING
           RETURNING id
         ),
         metric_rows AS (
           SELECT g, h3, h4, h5,
             -- a bell-ish Sharpe in [-2.4, 3.6]: the mean of three uniforms, scaled
             ((h3 % 1000 + h3 / 1000 % 1000 + h3 / 1000000 % 1000) / 3000.0 * 6.0 - 2.4) AS sharpe,
             10 + h4 % 490 AS trades,
             0.3 + h4 / 490 % 400 / 1000.0 AS win_share
           FROM keyed WHERE status = 'success'
         )
         INSERT INTO performance_metrics (id, backtest_run_id, total_return, cagr, sharpe_ratio, sortino_ratio,
           max_drawdown, volatility, total_trades, winning_trades, losing_trades, win_rate, profit_factor,
           avg_win_amount, avg_loss_amount)
         SELECT {metrics_id}, {id},
           round(sharpe * 0.12 + (h5 % 2000 - 1000) / 10000.0, 4),
           round((sharpe * 0.12 + (h5 % 2000 - 1000) / 10000.0) / (1 + h5 / 2000 % 4), 4),
           CASE WHEN h4 / 196000 % 100 < 2 THEN NULL ELSE round(sharpe, 4) END,
           CASE WHEN h4 / 196000 % 100 < 3 THEN NULL ELSE round(sharpe * 1.3 + (h5 / 8000 % 1000) / 2000.0, 4) END,
           round(0.02 + h5 / 8000000 % 5000 / 10000.0, 4),
           round(0.05 + h3 / 1000000000 % 5000 / 10000.0, 4),
           trades, round(trades * win_share)::int, trades - round(trades * win_share)::int,
           round(round(trades * win_share) / trades, 4),
           round(0.5 + h4 / 196000000 % 2500 / 1000.0, 4),
           round(50 + h5 / 40000000 % 200000 / 100.0, 2),
           -round(40 + h3 / 70000000 % 150000 / 100.0, 2)
         FROM metric_rows
         WHERE {id} IN (SELECT id FROM runs)
         ON CONFLICT (backtest_run_id) DO NOTHING"
    )
}

/// Chunks in flight at once when adding to a table that already holds runs: PostgreSQL
/// runs each statement on one core, and generation, TOAST compression and index updates
/// are CPU-bound.
pub const WORKERS: usize = 2;

/// Inserts the runs in chunks of [`CHUNK`], calling `progress(rows done)` after each, then
/// `VACUUM ANALYZE`s the tables (fresh statistics for the planner, and a visibility map
/// that lets index-only scans skip the heap).
///
/// Into an empty `backtest_runs`, everything is one transaction that drops the secondary
/// indexes first and builds them again at the end: building an index from sorted rows is
/// far cheaper than updating it row by row (the GIN index over 1–5 KB configs takes about
/// two thirds of the insert time otherwise), and a seed that is interrupted leaves the
/// database as it was, indexes included. Into a table that holds runs, chunks commit one
/// by one, [`WORKERS`] at a time, with the indexes in place.
pub async fn seed(db: &DatabaseConnection, spec: SeedSpec, mut progress: impl FnMut(Step)) -> Result<(), DbErr> {
    let sql = chunk_sql();
    let chunks = (0..spec.runs.div_ceil(CHUNK)).map(|i| (i * CHUNK + 1, ((i + 1) * CHUNK).min(spec.runs)));
    let empty = db.query_one_raw(stmt("SELECT NOT EXISTS (SELECT 1 FROM backtest_runs)", [])).await?;
    if empty.map(|r| r.try_get_by_index::<bool>(0)).transpose()?.unwrap_or(false) {
        let txn = db.begin().await?;
        // Index builds sort in memory up to this much (the default, 64 MB, spills to disk).
        txn.execute_unprepared("SET LOCAL maintenance_work_mem = '512MB'").await?;
        let indexes = secondary_indexes(&txn).await?;
        for (name, _) in &indexes {
            txn.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        // `run_facts` is written once at the end rather than by its triggers per chunk (at
        // 1,000,000 runs: ~34 s by the triggers, ~5 s by one INSERT). The triggers are back
        // before the commit, so no other writer ever sees them off. Facts rows left while
        // the runs table is empty belong to no run (written with the triggers off): gone.
        txn.execute_unprepared("DELETE FROM run_facts").await?;
        for (table, trigger) in facts::INSERT_TRIGGERS {
            txn.execute_unprepared(&format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}")).await?;
        }
        for (lo, hi) in chunks {
            txn.execute_raw(stmt(sql.as_str(), chunk_values(spec, lo, hi))).await?;
            progress(Step::Rows(hi));
        }
        txn.execute_unprepared(facts::ADD_PAIRS).await?;
        txn.execute_unprepared(facts::FILL).await?;
        for (table, trigger) in facts::INSERT_TRIGGERS {
            txn.execute_unprepared(&format!("ALTER TABLE {table} ENABLE TRIGGER {trigger}")).await?;
        }
        for (i, (_, definition)) in indexes.iter().enumerate() {
            txn.execute_unprepared(definition).await?;
            progress(Step::Indexes(i as u64 + 1, indexes.len() as u64));
        }
        txn.commit().await?;
    } else {
        let sql = Arc::new(sql);
        let mut chunks = chunks;
        let mut in_flight = JoinSet::new();
        let mut done = 0;
        loop {
            while in_flight.len() < WORKERS {
                let Some((lo, hi)) = chunks.next() else { break };
                let (db, sql, values) = (db.clone(), Arc::clone(&sql), chunk_values(spec, lo, hi));
                in_flight.spawn(async move { db.execute_raw(stmt(sql.as_str(), values)).await.map(|_| hi - lo + 1) });
            }
            let Some(finished) = in_flight.join_next().await else { break };
            done += finished.map_err(|e| DbErr::Custom(format!("a seeding task failed: {e}")))??;
            progress(Step::Rows(done));
        }
    }
    progress(Step::Vacuum);
    for table in crate::store::TABLES {
        db.execute_unprepared(&format!("VACUUM ANALYZE {table}")).await?;
    }
    Ok(())
}

/// What `seed` has done so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Runs inserted.
    Rows(u64),
    /// Indexes built, of how many.
    Indexes(u64, u64),
    Vacuum,
}

fn chunk_values(spec: SeedSpec, lo: u64, hi: u64) -> Vec<Value> {
    vec![
        (spec.seed as i64).into(),
        (lo as i64).into(),
        (hi as i64).into(),
        (spec.runs as i64).into(),
        i32::from(spec.reruns_per_mille).into(),
    ]
}

/// Name and `CREATE INDEX` statement of every index on the runs, metrics and facts tables
/// that backs no constraint (primary keys and unique constraints stay: they keep the load
/// correct).
async fn secondary_indexes(txn: &DatabaseTransaction) -> Result<Vec<(String, String)>, DbErr> {
    let rows = txn
        .query_all_raw(stmt(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
             FROM pg_index i
             WHERE i.indrelid IN ('backtest_runs'::regclass, 'performance_metrics'::regclass, 'run_facts'::regclass)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
             ORDER BY 1",
            [],
        ))
        .await?;
    rows.iter().map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?))).collect()
}
