//! The query patterns: for each, sample requests (GraphQL bodies that vary ids, cursors
//! and parameters) and, for each request, the SQL the server sends for it, built by the
//! server's own `store` functions with the same parameters: the floor.

use chrono::{Duration, TimeZone as _, Utc};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use tearsheet_api::graphql::pagination::encode_cursor;
use tearsheet_api::store::groups::{self, GroupSpec};
use tearsheet_api::store::metrics::{Metric, MetricRange};
use tearsheet_api::store::query::{Direction, Filter, Order, OrderField, Position, Scan, SortValue, Sql};
use tearsheet_api::store::{pareto, runs, seed};
use tearsheet_api::synthetic::{INSTRUMENTS, Rng, STRATEGIES};
use tearsheet_entity::RunStatus;
use uuid::Uuid;

/// Requests per pattern (pgbench takes at most 128 scripts).
pub const SAMPLES: usize = 100;

pub struct Sample {
    /// A GraphQL-over-HTTP POST body.
    pub body: String,
    /// The statements the server sends for it, in order.
    pub floor: Vec<Sql>,
}

pub struct Pattern {
    pub name: &'static str,
    pub samples: Vec<Sample>,
}

const FIELDS: &str =
    "id createdAt status strategyName instrumentSymbol metrics { sharpeRatio totalReturn maxDrawdown }";

fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

fn list_query() -> String {
    format!(
        "query List($first: Int, $after: String, $filter: BacktestRunFilter, $orderBy: BacktestRunOrder) {{ \
           backtestRuns(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {{ \
             edges {{ cursor node {{ {FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )
}

/// What a list request asks for.
struct List {
    first: u64,
    order: Order,
    filter: Filter,
    filter_json: Value,
    /// Start after the run at this 0-based position of the listing.
    after_row: Option<u64>,
}

pub struct Builder<'a> {
    db: &'a DatabaseConnection,
    spec: seed::SeedSpec,
    rng: Rng,
    /// Ids of random seeded runs.
    known: Vec<Uuid>,
}

impl<'a> Builder<'a> {
    pub async fn new(db: &'a DatabaseConnection, spec: seed::SeedSpec) -> Self {
        let mut rng = Rng::new(spec.seed ^ 0x5eed);
        let rows: Vec<i64> = (0..2_000).map(|_| rng.range(1, spec.runs as i64)).collect();
        let sql = format!("SELECT {} FROM unnest($1::int8[]) AS g", seed::id_sql("g", &spec.seed.to_string()));
        let known = db
            .query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [rows.into()]))
            .await
            .expect("ids")
            .iter()
            .map(|r| r.try_get_by_index::<Uuid>(0).expect("id"))
            .collect();
        Builder { db, spec, rng, known }
    }

    fn ids(&mut self, n: usize) -> Vec<Uuid> {
        (0..n).map(|_| *self.rng.pick(&self.known)).collect()
    }

    async fn list(&mut self, list: List) -> Sample {
        let from = match list.after_row {
            Some(row) => {
                let run = runs::offset_page(self.db, &list.filter, list.order, row, 1).await.expect("cursor row");
                run.first().map(|r| Position { value: SortValue::Time(r.created_at.with_timezone(&Utc)), id: r.id })
            }
            None => None,
        };
        let scan = Scan {
            order: list.order,
            filter: list.filter,
            from: from.clone(),
            backward: false,
            limit: list.first + 1,
            config: false,
            metrics: true,
        };
        let floor = vec![scan.to_sql()];
        let order = json!({ "field": list.order.field.name(), "direction": list.order.direction.name() });
        Sample {
            body: body(
                &list_query(),
                json!({
                    "first": list.first,
                    "after": from.map(|p| encode_cursor(list.order, &p)),
                    "filter": list.filter_json,
                    "orderBy": order,
                }),
            ),
            floor,
        }
    }

    pub async fn patterns(&mut self, only: &[String]) -> Vec<Pattern> {
        let mut out = Vec::new();
        for name in NAMES.into_iter().chain(RESEARCH) {
            if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
                continue;
            }
            let count = if RESEARCH.contains(&name) { SAMPLES / 10 } else { SAMPLES };
            let mut samples = Vec::with_capacity(count);
            for i in 0..count {
                samples.push(self.sample(name, i).await);
            }
            out.push(Pattern { name, samples });
        }
        out
    }

    async fn sample(&mut self, name: &str, i: usize) -> Sample {
        let newest = Order::default();
        let list = |filter: Filter, filter_json: Value| List {
            first: 20,
            order: newest,
            filter,
            filter_json,
            after_row: None,
        };
        match name {
            "run by id + metrics" => {
                let id = self.ids(1)[0];
                Sample {
                    body: body(
                        &format!("query Run($id: ID!) {{ backtestRun(id: $id) {{ {FIELDS} config }} }}"),
                        json!({ "id": id }),
                    ),
                    // The query shows the config, so the server reads it too (as text).
                    floor: vec![runs::with_metrics_sql(&[id], runs::Configs::Text)],
                }
            }
            "newest 20 + metrics" => self.list(list(Filter::default(), Value::Null)).await,
            "strategy + cursor" => {
                let (name, _, weight) = STRATEGIES[i % STRATEGIES.len()];
                // Depth in pages, up to 200 or the strategy's last page.
                let pages = (self.spec.runs * u64::from(weight) / 100 / 20).clamp(1, 200);
                let page = self.rng.range(0, pages as i64 - 1) as u64;
                let filter = Filter { strategy_name: Some(name.into()), ..Filter::default() };
                let mut l = list(filter, json!({ "strategyName": name }));
                l.after_row = (page > 0).then(|| page * 20 - 1);
                self.list(l).await
            }
            "instrument" => {
                let symbol = INSTRUMENTS[i % INSTRUMENTS.len()];
                let filter = Filter { instrument_symbol: Some(symbol.into()), ..Filter::default() };
                self.list(list(filter, json!({ "instrumentSymbol": symbol }))).await
            }
            "status" => {
                let (status, name) = [
                    (RunStatus::Failed, "FAILED"),
                    (RunStatus::Interrupted, "INTERRUPTED"),
                    (RunStatus::Success, "SUCCESS"),
                ][i % 3];
                let filter = Filter { status: Some(status), ..Filter::default() };
                self.list(list(filter, json!({ "status": name }))).await
            }
            "top 10 Sharpe" | "top 10 return" | "top 10 drawdown" => {
                let (field, direction) = match name {
                    "top 10 Sharpe" => (OrderField::SharpeRatio, Direction::Desc),
                    "top 10 return" => (OrderField::TotalReturn, Direction::Desc),
                    _ => (OrderField::MaxDrawdown, Direction::Asc),
                };
                self.list(List {
                    first: 10,
                    order: Order { field, direction },
                    filter: Filter::default(),
                    filter_json: Value::Null,
                    after_row: None,
                })
                .await
            }
            "compare 10" => {
                let ids = self.ids(10);
                Sample {
                    body: body(
                        &format!(
                            "query Compare($ids: [ID!]!) {{ compareBacktestRuns(ids: $ids) {{ runs {{ {FIELDS} }} missingIds configDifferences {{ path values }} }} }}"
                        ),
                        json!({ "ids": ids }),
                    ),
                    floor: vec![runs::with_metrics_sql(&ids, runs::Configs::Return)],
                }
            }
            "config fast_period" => {
                let k = self.rng.range(5, 50);
                let config = json!({ "fast_period": k });
                let filter = Filter { config: Some(config.clone()), ..Filter::default() };
                self.list(list(filter, json!({ "config": config }))).await
            }
            "date range" => {
                let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("date")
                    + Duration::days(self.rng.range(0, 720));
                let end = start + Duration::days(7);
                let filter = Filter { created_after: Some(start), created_before: Some(end), ..Filter::default() };
                self.list(list(filter, json!({ "createdAfter": start, "createdBefore": end }))).await
            }
            "cursor page 500" => {
                let mut l = list(Filter::default(), Value::Null);
                // After 499 pages of 20, give or take a few pages.
                l.after_row = Some((499 + self.rng.range(-5, 5)) as u64 * 20 - 1);
                self.list(l).await
            }
            "config path page" => {
                let k = self.rng.range(6, 50);
                let path = format!("$.fast_period < {k} && $.risk_management.stop_loss >= 0.02");
                let filter = Filter { config_path: Some(path.clone()), ..Filter::default() };
                self.list(list(filter, json!({ "configPath": path }))).await
            }
            "metric range page" => {
                let low = self.rng.range(0, 20) as f64 / 10.0;
                let range = MetricRange { metric: Metric::SharpeRatio, gte: Some(low), lte: Some(low + 0.5) };
                let filter = Filter { metric_ranges: vec![range], ..Filter::default() };
                let json = json!({ "metrics": [{ "metric": "SHARPE_RATIO", "gte": low, "lte": low + 0.5 }] });
                self.list(list(filter, json)).await
            }
            "groups strategy x instrument" => {
                let spec = GroupSpec::strategy_by_instrument();
                Sample {
                    body: body(
                        "{ runGroups(groupBy: { keys: [STRATEGY_NAME, INSTRUMENT_SYMBOL] }, first: 1000) { key runCount successRate \
                           metrics { metric count mean stddev min median max } best(metric: SHARPE_RATIO) { id } } }",
                        json!({}),
                    ),
                    floor: vec![groups::groups_sql(&spec).0],
                }
            }
            "groups across seeds (one strategy)" => {
                let (name, _, _) = STRATEGIES[i % STRATEGIES.len()];
                let spec = GroupSpec::across_seeds(Filter { strategy_name: Some(name.into()), ..Filter::default() });
                Sample {
                    body: body(
                        "query($s: String) { runGroups(groupBy: { configExcept: [\"seed\"] }, filter: { strategyName: $s }, first: 100) { \
                           runCount metrics(only: [SHARPE_RATIO]) { mean stddev } } }",
                        json!({ "s": name }),
                    ),
                    floor: vec![groups::groups_sql(&spec).0],
                }
            }
            "pareto 2 objectives" => {
                let objectives = [
                    pareto::Objective { metric: Metric::SharpeRatio, maximize: true },
                    pareto::Objective { metric: Metric::MaxDrawdown, maximize: false },
                ];
                Sample {
                    body: body(
                        "{ paretoFront(objectives: [{ metric: SHARPE_RATIO, goal: MAXIMIZE }, { metric: MAX_DRAWDOWN, goal: MINIMIZE }]) { id } }",
                        json!({}),
                    ),
                    // Both statements of `pareto::front`, the scan's bounds read as it reads them.
                    floor: pareto::statements(self.db, &Filter::default(), &objectives).await.expect("pareto").into(),
                }
            }
            "duplicate sets" => Sample {
                body: body("{ duplicateRunSets(first: 20) { configHash sharpeSpread runs { id } } }", json!({})),
                floor: vec![runs::duplicate_sets_sql(&Filter::default(), 20)],
            },
            other => unreachable!("unknown pattern {other}"),
        }
    }
}

/// Issue 8's research patterns: a tenth of the samples each (a run of `groups across
/// seeds` takes seconds, and every sample is checked before the load).
pub const RESEARCH: [&str; 6] = [
    "config path page",
    "metric range page",
    "groups strategy x instrument",
    "groups across seeds (one strategy)",
    "pareto 2 objectives",
    "duplicate sets",
];

/// The lookup and list patterns of issue 5; the research patterns (`RESEARCH`) run after them.
pub const NAMES: [&str; 12] = [
    "run by id + metrics",
    "newest 20 + metrics",
    "strategy + cursor",
    "instrument",
    "status",
    "top 10 Sharpe",
    "top 10 return",
    "top 10 drawdown",
    "compare 10",
    "config fast_period",
    "date range",
    "cursor page 500",
];
