//! Bulk recording: N runs through `recordBacktestRuns` in batches, against a `COPY` of
//! rows of the same shape (another seed, so the ids differ) into the same tables, hashes
//! included as the API sends them.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, TimeZone as _, Utc};
use sea_orm::DatabaseConnection;
use sea_orm::sqlx::Connection as _;
use serde_json::{Value, json};
use tearsheet_api::store::config_hash;
use tearsheet_api::store::record::{NewMetrics, NewRun};
use tearsheet_api::synthetic::{self, Rng};

pub const BATCH: usize = 1_000;

/// Synthetic runs with configs padded to 1–5 KB, like the seeded ones.
pub fn runs(seed: u64, count: usize) -> Vec<NewRun> {
    let end = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("date");
    let mut runs = synthetic::runs(seed, count, end, chrono::Duration::days(730));
    let mut rng = Rng::new(seed);
    for run in &mut runs {
        let params: serde_json::Map<String, Value> = (0..rng.range(8, 60))
            .map(|k| {
                (
                    format!("param_{k:02}"),
                    json!(format!("fs_{:016x}{:016x}{:016x}", rng.next_u64(), rng.next_u64(), rng.next_u64())),
                )
            })
            .collect();
        if run.original_run_id.is_none() {
            let mut config = run.config.value();
            config["parameters"] = Value::Object(params);
            run.config = config.into();
        }
    }
    // Re-runs carry their original's config, padded or not, as it was generated.
    let by_id: std::collections::HashMap<_, _> = runs.iter().map(|r| (r.id, r.config.clone())).collect();
    for run in &mut runs {
        if let Some(orig) = run.original_run_id {
            run.config = by_id[&orig].clone();
        }
    }
    runs
}

fn decimal(d: Option<rust_decimal::Decimal>) -> Value {
    d.map_or(Value::Null, |d| json!(d.to_string()))
}

fn float(d: Option<rust_decimal::Decimal>) -> Value {
    d.map_or(Value::Null, |d| json!(d.to_string().parse::<f64>().expect("number")))
}

fn metrics_input(m: &NewMetrics) -> Value {
    json!({
        "totalReturn": float(m.total_return), "cagr": float(m.cagr), "sharpeRatio": float(m.sharpe_ratio),
        "sortinoRatio": float(m.sortino_ratio), "maxDrawdown": float(m.max_drawdown), "volatility": float(m.volatility),
        "totalTrades": m.total_trades, "winningTrades": m.winning_trades, "losingTrades": m.losing_trades,
        "winRate": float(m.win_rate), "profitFactor": float(m.profit_factor),
        "avgWinAmount": decimal(m.avg_win_amount), "avgLossAmount": decimal(m.avg_loss_amount),
    })
}

fn input(r: &NewRun) -> Value {
    json!({
        "id": r.id, "createdAt": r.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "completedAt": r.completed_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true)),
        "durationSeconds": r.duration_seconds, "status": format!("{:?}", r.status).to_uppercase(),
        "strategyName": r.strategy_name, "strategyType": r.strategy_type, "instrumentSymbol": r.instrument_symbol,
        "dateRangeStart": r.date_range_start, "dateRangeEnd": r.date_range_end,
        "initialCapital": r.initial_capital.to_string(), "dataSource": r.data_source, "config": r.config,
        "errorMessage": r.error_message, "originalRunId": r.original_run_id,
        "metrics": r.metrics.as_ref().map(metrics_input),
    })
}

const RECORD: &str =
    "mutation Record($inputs: [RecordBacktestRunInput!]!) { recordBacktestRuns(inputs: $inputs) { runs { id } } }";

/// POSTs the runs in batches of [`BATCH`], in order, `concurrency` batches in flight.
/// Returns runs per second.
///
/// A re-run must name a stored run or one earlier in its batch; with several batches in
/// flight, an original in a batch that may not have committed yet would be refused, so
/// such re-runs are sent without `originalRunId` (none are with `concurrency` 1).
pub async fn through_api(base_url: &str, token: &str, runs: &[NewRun], concurrency: usize) -> f64 {
    let position: std::collections::HashMap<_, _> = runs.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let mut runs = runs.to_vec();
    for (i, run) in runs.iter_mut().enumerate() {
        let (batch, original_batch) = (i / BATCH, run.original_run_id.map(|o| position[&o] / BATCH));
        if original_batch.is_some_and(|b| b < batch && b + concurrency > batch) {
            run.original_run_id = None;
        }
    }
    let bodies: Vec<String> = runs
        .chunks(BATCH)
        .map(|batch| {
            json!({ "query": RECORD, "variables": { "inputs": batch.iter().map(input).collect::<Vec<_>>() } })
                .to_string()
        })
        .collect();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("client");
    let started = Instant::now();
    // Awaited oldest first, so the batches in flight are always the latest `concurrency`.
    let mut in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Value>> = std::collections::VecDeque::new();
    for body in bodies {
        while in_flight.len() >= concurrency {
            check(in_flight.pop_front().expect("a batch").await.expect("batch task"));
        }
        let (client, url, token) = (client.clone(), format!("{base_url}/graphql"), token.to_owned());
        in_flight.push_back(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("POST a batch");
            response.json::<Value>().await.expect("JSON response")
        }));
    }
    for batch in in_flight {
        check(batch.await.expect("batch task"));
    }
    runs.len() as f64 / started.elapsed().as_secs_f64()
}

fn check(response: Value) {
    if response.get("errors").is_some() {
        let text = response.to_string();
        panic!("a batch was refused: {}", &text[..500.min(text.len())]);
    }
}

fn csv(v: Option<String>) -> String {
    match v {
        None => String::new(),
        Some(s) => format!("\"{}\"", s.replace('"', "\"\"")),
    }
}

/// `COPY` of the runs and their metrics (two statements, one connection). Runs per second.
pub async fn through_copy(db: &DatabaseConnection, runs: &[NewRun]) -> f64 {
    let mut run_rows = String::new();
    let mut metric_rows = String::new();
    for r in runs {
        let fields = [
            Some(r.id.to_string()),
            Some(r.created_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
            r.completed_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true)),
            r.duration_seconds.map(|d| d.to_string()),
            Some(format!("{:?}", r.status).to_lowercase()),
            Some(r.strategy_name.clone()),
            Some(r.strategy_type.clone()),
            Some(r.instrument_symbol.clone()),
            Some(r.date_range_start.to_string()),
            Some(r.date_range_end.to_string()),
            Some(r.initial_capital.to_string()),
            Some(r.data_source.clone()),
            Some(r.config.to_string()),
            r.error_message.clone(),
            r.original_run_id.map(|id| id.to_string()),
            // The hashes the API sends too (m0010): the trigger would compute them otherwise.
            Some(config_hash::config_hash(r).to_string()),
            Some(r.config.hash_except_seed().to_string()),
        ];
        run_rows.push_str(&fields.map(csv).join(","));
        run_rows.push('\n');
        if let Some(m) = &r.metrics {
            let d = |v: Option<rust_decimal::Decimal>| v.map(|d| d.to_string());
            let i = |v: Option<i32>| v.map(|n| n.to_string());
            let fields = [
                Some(r.id.to_string()),
                d(m.total_return),
                d(m.cagr),
                d(m.sharpe_ratio),
                d(m.sortino_ratio),
                d(m.max_drawdown),
                d(m.volatility),
                i(m.total_trades),
                i(m.winning_trades),
                i(m.losing_trades),
                d(m.win_rate),
                d(m.profit_factor),
                d(m.avg_win_amount),
                d(m.avg_loss_amount),
            ];
            metric_rows.push_str(&fields.map(csv).join(","));
            metric_rows.push('\n');
        }
    }
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await.expect("connection");
    let started = Instant::now();
    let mut txn = conn.begin().await.expect("begin");
    for (sql, data) in [
        (
            "COPY backtest_runs (id, created_at, completed_at, duration_seconds, status, strategy_name, strategy_type, \
          instrument_symbol, date_range_start, date_range_end, initial_capital, data_source, config_snapshot, \
          error_message, original_run_id, config_hash, config_hash_except_seed) FROM STDIN (FORMAT csv)",
            &run_rows,
        ),
        (
            "COPY performance_metrics (backtest_run_id, total_return, cagr, sharpe_ratio, sortino_ratio, max_drawdown, \
          volatility, total_trades, winning_trades, losing_trades, win_rate, profit_factor, avg_win_amount, \
          avg_loss_amount) FROM STDIN (FORMAT csv)",
            &metric_rows,
        ),
    ] {
        let mut copy = txn.copy_in_raw(sql).await.expect("COPY");
        copy.send(data.as_bytes()).await.expect("COPY data");
        copy.finish().await.expect("COPY finish");
    }
    txn.commit().await.expect("commit");
    runs.len() as f64 / started.elapsed().as_secs_f64()
}
