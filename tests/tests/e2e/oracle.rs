//! The oracle test: every order × direction × filter × page size, walked forwards and
//! backwards through the API, against the answer computed here from the rows themselves.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tearsheet_api::store::record::{Configs, NewMetrics, NewRun, record};
use tearsheet_api::synthetic::Rng;
use tearsheet_entity::RunStatus;
use tearsheet_tests::{TestDb, TestSchema};
use uuid::Uuid;

const RUNS: usize = 2000;

/// Runs built to stress the orders: few distinct timestamps and metric values (many ties),
/// failed runs without metrics, metrics rows with NULLs, re-runs, nested configs.
fn oracle_runs() -> Vec<NewRun> {
    let mut rng = Rng::new(42);
    let base = DateTime::<Utc>::from_timestamp(1_735_689_600, 0).unwrap_or_default();
    let sharpes = [-1.5, 0.0, 0.5, 1.0, 1.25, 2.0];
    let mut runs: Vec<NewRun> = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let status = match rng.range(0, 19) {
            0 => RunStatus::Failed,
            1 => RunStatus::Interrupted,
            _ => RunStatus::Success,
        };
        let metric = |rng: &mut Rng, values: &[f64]| -> Option<Decimal> {
            (rng.range(0, 9) > 0).then(|| Decimal::from_f64_retain(*rng.pick(values)).unwrap_or_default().round_dp(4))
        };
        let metrics = (status == RunStatus::Success).then(|| NewMetrics {
            sharpe_ratio: metric(&mut rng, &sharpes),
            total_return: metric(&mut rng, &[-0.2, 0.0, 0.1, 0.35]),
            max_drawdown: metric(&mut rng, &[0.05, 0.1, 0.3]),
            ..NewMetrics::default()
        });
        let symbol = *rng.pick(&["AAPL", "MSFT", "SPY", "BTCUSD"]);
        runs.push(NewRun {
            id: Uuid::from_u64_pair(rng.next_u64(), rng.next_u64()),
            created_at: base + Duration::minutes(rng.range(0, 59)),
            created_at_given: true,
            completed_at: None,
            duration_seconds: Some(60),
            status,
            strategy_name: (*rng.pick(&["SMA Crossover", "RSI Mean Reversion", "Pairs Trading"])).to_owned(),
            strategy_type: "trend_following".to_owned(),
            instrument_symbol: symbol.to_owned(),
            date_range_start: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
            date_range_end: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default(),
            initial_capital: Decimal::from(100_000),
            data_source: "csv".to_owned(),
            config: json!({
                "fast_period": rng.range(1, 5) * 10,
                "risk_management": { "stop_loss": rng.range(1, 3), "trailing": rng.range(0, 1) == 1 },
                "instruments": [symbol, "SPY"],
            })
            .into(),
            error_message: (status != RunStatus::Success).then(|| "stopped".to_owned()),
            original_run_id: (i > 0 && rng.range(0, 30) == 0).then(|| runs[rng.range(0, i as i64 - 1) as usize].id),
            metrics,
        });
    }
    runs
}

/// jsonb `@>` for the values this test uses.
fn contains(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => b.iter().all(|(k, bv)| a.get(k).is_some_and(|av| contains(av, bv))),
        (Value::Array(a), Value::Array(b)) => b.iter().all(|bv| a.iter().any(|av| contains(av, bv))),
        _ => a == b,
    }
}

fn metric_of(run: &NewRun, field: &str) -> Option<Decimal> {
    let m = run.metrics.as_ref()?;
    match field {
        "SHARPE_RATIO" => m.sharpe_ratio,
        "TOTAL_RETURN" => m.total_return,
        "MAX_DRAWDOWN" => m.max_drawdown,
        _ => None,
    }
}

/// The expected listing: the runs matching `keep`, in the API's total order.
fn expected(runs: &[NewRun], field: &str, desc: bool, keep: &dyn Fn(&NewRun) -> bool) -> Vec<String> {
    let mut matching: Vec<&NewRun> = runs.iter().filter(|r| keep(r)).collect();
    matching.sort_by(|a, b| {
        let dir = |o: Ordering| if desc { o.reverse() } else { o };
        if field == "CREATED_AT" {
            return dir(a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        }
        match (metric_of(a, field), metric_of(b, field)) {
            (Some(x), Some(y)) => dir(x.cmp(&y).then(a.id.cmp(&b.id))),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => dir(a.id.cmp(&b.id)),
        }
    });
    matching.iter().map(|r| r.id.to_string()).collect()
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $filter: BacktestRunFilter, $orderBy: BacktestRunOrder) {
    backtestRuns(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
        edges { cursor node { id } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

struct Walk<'a> {
    schema: &'a TestSchema,
    filter: Value,
    order: Value,
    size: i64,
}

impl Walk<'_> {
    async fn page(&self, vars: Value) -> (Vec<String>, Value) {
        let mut vars = vars;
        vars["filter"] = self.filter.clone();
        vars["orderBy"] = self.order.clone();
        let data = self.schema.data(PAGE, vars).await;
        let conn = &data["backtestRuns"];
        let ids = conn["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect();
        (ids, conn["pageInfo"].clone())
    }

    async fn forwards(&self) -> Vec<String> {
        let (mut all, mut after) = (Vec::new(), Value::Null);
        loop {
            let (ids, info) = self.page(json!({ "first": self.size, "after": after })).await;
            assert_eq!(info["hasPreviousPage"], false);
            let more = info["hasNextPage"].as_bool().expect("bool");
            assert!(more || (ids.len() as i64) <= self.size);
            if more {
                assert_eq!(ids.len() as i64, self.size, "a page before the last is full");
            }
            all.extend(ids);
            if !more {
                return all;
            }
            after = info["endCursor"].clone();
        }
    }

    async fn backwards(&self) -> Vec<String> {
        let (mut pages, mut before) = (Vec::new(), Value::Null);
        loop {
            let (ids, info) = self.page(json!({ "last": self.size, "before": before })).await;
            assert_eq!(info["hasNextPage"], false);
            let more = info["hasPreviousPage"].as_bool().expect("bool");
            if more {
                assert_eq!(ids.len() as i64, self.size, "a page after the first is full");
            }
            pages.push(ids);
            if !more {
                pages.reverse();
                return pages.concat();
            }
            before = info["startCursor"].clone();
        }
    }
}

#[tokio::test]
async fn every_order_filter_and_page_size_walks_like_the_oracle_both_ways() {
    let db = TestDb::migrated().await;
    let runs = oracle_runs();
    {
        let conn = db.connect().await;
        for batch in runs.chunks(1000) {
            // Re-runs name earlier runs: in an earlier batch, or earlier in this one.
            record(&tearsheet_api::db::Db::new(conn.clone()), batch, Configs::Omit).await.expect("insert");
        }
    }
    let schema = TestSchema::new(&db).await;
    let rerun_target = runs.iter().find_map(|r| r.original_run_id).expect("some re-run");
    let window_start = runs[0].created_at.min(runs[1].created_at) + Duration::minutes(10);
    let window_end = window_start + Duration::minutes(20);

    type Keep = Box<dyn Fn(&NewRun) -> bool>;
    let filters: Vec<(Value, Keep, bool)> = vec![
        (Value::Null, Box::new(|_| true), false),
        (json!({ "strategyName": "Pairs Trading" }), Box::new(|r| r.strategy_name == "Pairs Trading"), false),
        (json!({ "status": "FAILED" }), Box::new(|r| r.status == RunStatus::Failed), true),
        (
            json!({ "instrumentSymbol": "BTCUSD", "status": "SUCCESS" }),
            Box::new(|r| r.instrument_symbol == "BTCUSD" && r.status == RunStatus::Success),
            false,
        ),
        (
            json!({ "createdAfter": window_start.to_rfc3339(), "createdBefore": window_end.to_rfc3339(), "strategyName": "SMA Crossover" }),
            Box::new(move |r| {
                r.created_at >= window_start && r.created_at < window_end && r.strategy_name == "SMA Crossover"
            }),
            true,
        ),
        (
            json!({ "config": { "fast_period": 30, "risk_management": { "stop_loss": 2 }, "instruments": ["MSFT"] } }),
            Box::new(|r| {
                contains(
                    &r.config.value(),
                    &json!({ "fast_period": 30, "risk_management": { "stop_loss": 2 }, "instruments": ["MSFT"] }),
                )
            }),
            true,
        ),
        (
            json!({ "originalRunId": rerun_target.to_string() }),
            Box::new(move |r| r.original_run_id == Some(rerun_target)),
            true,
        ),
    ];
    let mut walks = 0;
    for (filter, keep, small) in &filters {
        for field in ["CREATED_AT", "SHARPE_RATIO", "TOTAL_RETURN", "MAX_DRAWDOWN"] {
            for direction in ["ASC", "DESC"] {
                let want = expected(&runs, field, direction == "DESC", keep.as_ref());
                // Page size 1 over 2,000 runs is 2,000 requests a walk: only on the
                // selective filters.
                let sizes: &[i64] = if *small { &[1, 7, 100] } else { &[7, 100] };
                for &size in sizes {
                    let walk = Walk {
                        schema: &schema,
                        filter: filter.clone(),
                        order: json!({ "field": field, "direction": direction }),
                        size,
                    };
                    let context = format!("filter {filter}, {field} {direction}, size {size}");
                    assert_eq!(walk.forwards().await, want, "forwards: {context}");
                    assert_eq!(walk.backwards().await, want, "backwards: {context}");
                    walks += 2;
                }
            }
        }
    }
    assert!(walks >= 100, "{walks} walks");
    assert!(filters.iter().all(|(_, keep, _)| runs.iter().any(keep)), "every filter matches some runs");
}
