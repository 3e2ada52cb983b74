//! The one place where listing SQL is shaped: filters, orders, keyset positions.
//!
//! A listing is a scan in a total order: `(sort key, id)`, ties broken by id in the sort's
//! direction. For metric orders the runs that lack the metric (no metrics row, or a NULL
//! in it) come after all others in both directions, ordered by id. The scan is split into
//! two segments, each one index range:
//!
//! - **valued**: `performance_metrics ⋈ backtest_runs` on the metric's index, e.g.
//!   `idx_performance_metrics_sharpe (sharpe_ratio DESC NULLS LAST, backtest_run_id DESC)`,
//!   with `(metric, run id) < ($v, $id)` as the index bound;
//! - **missing**: runs whose metric IS NULL, by primary key.
//!
//! A page reads the segment its cursor is in and, when it may run past that segment's
//! end, the next one, as one `UNION ALL` statement with a LIMIT per branch and one over
//! both (the second branch runs only when the first does not fill the page); the rows are
//! put in order in Rust, not by an SQL sort. Walking backwards
//! (`last`/`before`) is the same scan reversed. Time order is a single segment.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::Value;
use tearsheet_entity::RunStatus;
use uuid::Uuid;

use crate::db::ONE_OFF;

/// Columns of `backtest_runs` qualified with the alias `r`.
pub const RUN_COLUMNS_R: &str = "r.id, r.created_at, r.completed_at, r.duration_seconds, r.status, r.strategy_name, \
     r.strategy_type, r.instrument_symbol, r.date_range_start, r.date_range_end, r.initial_capital, r.data_source, \
     r.config_snapshot, r.error_message, r.original_run_id, r.config_hash";

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OrderField {
    CreatedAt,
    SharpeRatio,
    TotalReturn,
    MaxDrawdown,
}

impl OrderField {
    pub const ALL: [OrderField; 4] =
        [OrderField::CreatedAt, OrderField::SharpeRatio, OrderField::TotalReturn, OrderField::MaxDrawdown];

    /// The metric column, and the direction its index is built in (the tiebreaker
    /// `backtest_run_id` runs the same way; NULLs are last in the index).
    fn metric(self) -> Option<(&'static str, Direction)> {
        match self {
            OrderField::CreatedAt => None,
            OrderField::SharpeRatio => Some(("sharpe_ratio", Direction::Desc)),
            OrderField::TotalReturn => Some(("total_return", Direction::Desc)),
            OrderField::MaxDrawdown => Some(("max_drawdown", Direction::Asc)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OrderField::CreatedAt => "CREATED_AT",
            OrderField::SharpeRatio => "SHARPE_RATIO",
            OrderField::TotalReturn => "TOTAL_RETURN",
            OrderField::MaxDrawdown => "MAX_DRAWDOWN",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn reverse(self) -> Self {
        match self {
            Direction::Asc => Direction::Desc,
            Direction::Desc => Direction::Asc,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        }
    }

    fn after_op(self) -> &'static str {
        match self {
            Direction::Asc => ">",
            Direction::Desc => "<",
        }
    }

    pub fn name(self) -> &'static str {
        self.sql()
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Order {
    pub field: OrderField,
    pub direction: Direction,
}

impl Default for Order {
    fn default() -> Self {
        Order { field: OrderField::CreatedAt, direction: Direction::Desc }
    }
}

/// A run's value of the sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortValue {
    Time(DateTime<Utc>),
    /// `None`: the run lacks the metric.
    Metric(Option<Decimal>),
}

/// A position in a listing: just after (or before) the run with this key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub value: SortValue,
    pub id: Uuid,
}

/// Conditions on runs; all must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub strategy_name: Option<String>,
    pub strategy_type: Option<String>,
    pub instrument_symbol: Option<String>,
    pub status: Option<RunStatus>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub original_run_id: Option<Uuid>,
    /// Must be a JSON object (checked by the caller): `config_snapshot @> $n`.
    pub config: Option<serde_json::Value>,
    /// An SQL/JSON path predicate: `config_snapshot @@ $n::jsonpath`. PostgreSQL parses
    /// it (an invalid one is the client's error, see `error`). The GIN `jsonb_path_ops`
    /// index serves `@@` only for equality chains (`$.a.b == 1`); other predicates are
    /// checked on the rows the rest of the query reads, and the page stays bounded by
    /// its LIMIT on an ordered index.
    pub config_path: Option<String>,
    /// Every range must hold: one `EXISTS` on `performance_metrics`.
    pub metric_ranges: Vec<super::metrics::MetricRange>,
    /// Only runs descended from this run through `original_run_id`, at any depth.
    pub descendants_of: Option<Uuid>,
}

/// SQL text with numbered parameters, built up piece by piece. Values are bound, except
/// numbers whose best plan depends on them ([`Sql::push_literal`]).
#[derive(Default, Debug)]
pub struct Sql {
    pub text: String,
    pub values: Vec<Value>,
}

/// A number written into a statement's text (see [`Sql::push_literal`]).
#[derive(Clone, Copy, Debug)]
pub enum Literal {
    /// Written as `'<shortest round-trip text>'::float8`: PostgreSQL reads back the same
    /// double, so `literal::numeric` is what binding it and casting gave.
    Float(f64),
    Decimal(Decimal),
    Integer(i64),
}

impl Sql {
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        let placeholder = self.placeholder(value);
        self.text.push_str(&placeholder);
        self
    }

    /// `column = $n` for one key, `column = ANY($n)` for several.
    ///
    /// The connections run generic plans (`db::connect_once`), and a generic plan takes an
    /// array parameter for 10 elements: with one id, `= ANY($1)` is priced at 168 against
    /// 17 for the primary-key seek that `= $1` gets. (Before the connections forced
    /// generic plans, the same pricing made PostgreSQL plan every lookup by id anew:
    /// PostgreSQL's CPU per "run by id" request 196 → 75 µs with `= $1`, 100,000 runs, wrk
    /// at 8 connections.) Batches of about ten keys or more are what `ANY` is priced for.
    pub fn push_key_condition(&mut self, column: &str, keys: &[Uuid]) -> &mut Self {
        match keys {
            [key] => self.push(&format!("{column} = ")).bind(*key),
            _ => self.push(&format!("{column} = ANY(")).bind(keys.to_vec()).push(")"),
        }
    }

    /// Writes `value` into the text, for a number the plan should be chosen for: a
    /// metric's range (a wide one is best read in the listing's order, a narrow one from
    /// the metric's index), a Pareto scan's pruning bounds, an OFFSET.
    ///
    /// Why not a parameter: the server's connections plan each statement once, for any
    /// values (`plan_cache_mode = force_generic_plan`, see `db::connect_once`), and that
    /// plan cannot know how many rows such a bound lets through. Written in, the number is
    /// planned for; the statement is marked one-off ([`ONE_OFF`]) and sent unnamed, planned
    /// on each execution and never cached (its text changes with the value).
    /// Numbers only: their text is made here, never taken from a client.
    pub fn push_literal(&mut self, value: Literal) -> &mut Self {
        if !self.text.starts_with(ONE_OFF) {
            self.text.insert_str(0, ONE_OFF);
        }
        let text = match value {
            Literal::Float(v) => format!("'{v:?}'::float8"),
            Literal::Decimal(d) => format!("'{d}'::numeric"),
            Literal::Integer(i) => i.to_string(),
        };
        self.push(&text)
    }

    /// Binds `value` and returns its placeholder, for text written more than once (an
    /// expression that must be the same, parameter included, in two clauses).
    pub fn placeholder(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }
}

impl Filter {
    /// Appends ` AND <condition>` for every condition, on the runs alias `r`.
    pub fn push_conditions(&self, sql: &mut Sql) {
        let eq = |sql: &mut Sql, column: &str, v: &Option<String>| {
            if let Some(v) = v {
                sql.push(&format!(" AND r.{column} = ")).bind(v.clone());
            }
        };
        eq(sql, "strategy_name", &self.strategy_name);
        eq(sql, "strategy_type", &self.strategy_type);
        eq(sql, "instrument_symbol", &self.instrument_symbol);
        if let Some(status) = self.status {
            sql.push(" AND r.status = ").bind(sea_orm::ActiveEnum::to_value(&status));
        }
        if let Some(t) = self.created_after {
            sql.push(" AND r.created_at >= ").bind(t);
        }
        if let Some(t) = self.created_before {
            sql.push(" AND r.created_at < ").bind(t);
        }
        if let Some(id) = self.original_run_id {
            sql.push(" AND r.original_run_id = ").bind(id);
        }
        if let Some(path) = &self.config_path {
            sql.push(" AND r.config_snapshot @@ ").bind(path.clone()).push("::jsonpath");
        }
        if !self.metric_ranges.is_empty() {
            // Numeric bounds cast to numeric, the columns' type, so the metric indexes
            // apply (a float8 comparison would cast the column instead).
            sql.push(" AND EXISTS (SELECT 1 FROM performance_metrics m WHERE m.backtest_run_id = r.id");
            for range in &self.metric_ranges {
                let column = range.metric.column();
                if range.gte.is_none() && range.lte.is_none() {
                    sql.push(&format!(" AND m.{column} IS NOT NULL"));
                }
                if let Some(v) = range.gte {
                    sql.push(&format!(" AND m.{column} >= ")).push_literal(Literal::Float(v)).push("::numeric");
                }
                if let Some(v) = range.lte {
                    sql.push(&format!(" AND m.{column} <= ")).push_literal(Literal::Float(v)).push("::numeric");
                }
            }
            sql.push(")");
        }
        if let Some(root) = self.descendants_of {
            // UNION, not UNION ALL: a run already found is not followed again, so a cycle
            // in the lineage (possible only through direct SQL) ends the recursion; the
            // run itself is never its own descendant.
            sql.push(
                " AND r.id IN (WITH RECURSIVE d(id) AS (SELECT id FROM backtest_runs WHERE original_run_id = ",
            )
            .bind(root)
            .push(" UNION SELECT b.id FROM backtest_runs b JOIN d ON b.original_run_id = d.id) SELECT id FROM d WHERE id <> ")
            .bind(root)
            .push(")");
        }
        if let Some(config) = &self.config {
            let (hot, rest) = split_hot_keys(config);
            for (key, value) in hot {
                sql.push(&format!(" AND r.config_snapshot -> '{key}' = ")).bind(value).push("::jsonb");
            }
            if let Some(rest) = rest {
                sql.push(" AND r.config_snapshot @> ").bind(rest).push("::jsonb");
            }
        }
    }
}

/// Top-level config keys with a B-tree index on `(config_snapshot -> key, created_at DESC,
/// id DESC)` (migration m0006). Keys are spliced into SQL: constants only.
pub const HOT_CONFIG_KEYS: [&str; 2] = ["fast_period", "slow_period"];

/// Splits a containment filter into equalities on hot keys and what is left for `@>`.
///
/// For a scalar value, `config @> {"k": v}` holds exactly when `config -> 'k' = v` (jsonb
/// equality; numbers compare by value), and only the second form can use the key's
/// B-tree index and its statistics. Both forms together would make the planner multiply
/// their selectivities and pick a bitmap plan with a sort, so a rewritten key leaves the
/// `@>` object. Objects and arrays stay in `@>` (containment is not equality for them).
fn split_hot_keys(config: &serde_json::Value) -> (Vec<(&'static str, serde_json::Value)>, Option<serde_json::Value>) {
    let Some(object) = config.as_object() else { return (Vec::new(), Some(config.clone())) };
    let mut rest = object.clone();
    let mut hot = Vec::new();
    for key in HOT_CONFIG_KEYS {
        if let Some(value) = object.get(key).filter(|v| !v.is_object() && !v.is_array()) {
            hot.push((key, value.clone()));
            rest.remove(key);
        }
    }
    let rest = (!rest.is_empty() || hot.is_empty()).then_some(serde_json::Value::Object(rest));
    (hot, rest)
}

/// One page's scan: in `order` (or its reverse when `backward`), strictly past `from`.
#[derive(Clone, Debug)]
pub struct Scan {
    pub order: Order,
    pub filter: Filter,
    pub from: Option<Position>,
    pub backward: bool,
    /// Rows to fetch (page size + 1, to learn whether more follow).
    pub limit: u64,
    /// Whether to read `config_snapshot`. Configs are 1–5 KB of JSONB each: detoasting,
    /// sending and parsing them is most of a page's cost, so a page whose selection does
    /// not show them reads `'null'::jsonb` in their place (never a stored value: configs
    /// are objects) and such rows must not be cached as whole runs.
    pub config: bool,
    /// Whether to read each run's metrics in the same statement (after the run's columns, all NULL
    /// for a run without metrics): a page that shows metrics then costs one statement.
    pub metrics: bool,
}

/// Which part of a metric order a position lies in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Segment {
    Valued,
    Missing,
}

impl Scan {
    /// The scan's name in SQL metrics: one per order (filters change the plan, but are
    /// open-ended; the order is what picks the index).
    pub fn shape(&self) -> &'static str {
        match self.order.field {
            OrderField::CreatedAt => "runs_page_by_created_at",
            OrderField::SharpeRatio => "runs_page_by_sharpe_ratio",
            OrderField::TotalReturn => "runs_page_by_total_return",
            OrderField::MaxDrawdown => "runs_page_by_max_drawdown",
        }
    }

    /// The direction the rows are read in.
    fn direction(&self) -> Direction {
        if self.backward { self.order.direction.reverse() } else { self.order.direction }
    }

    /// The run columns this scan reads, on alias `r`.
    fn columns(&self) -> &'static str {
        use super::runs::{Configs, run_columns_r};
        run_columns_r(if self.config { Configs::Return } else { Configs::Omit })
    }

    /// The statement for this page. Rows carry the run's columns plus `sort_metric`
    /// (NULL for time order) so the caller can order and cursor them; with `metrics`, the
    /// metrics columns follow: the page's rows (at most `limit` per segment) joined with
    /// their metrics by the unique index on `backtest_run_id`.
    pub fn to_sql(&self) -> Sql {
        let page = self.page_sql();
        if !self.metrics {
            return page;
        }
        Sql {
            text: format!(
                "SELECT p.*, {} FROM ({}) p LEFT JOIN performance_metrics pm ON pm.backtest_run_id = p.id",
                *super::metrics::METRICS_COLUMNS_PM,
                page.text
            ),
            values: page.values,
        }
    }

    fn page_sql(&self) -> Sql {
        let mut sql = Sql::default();
        match self.order.field.metric() {
            None => self.time_sql(&mut sql),
            Some((column, index_direction)) => {
                let from_segment = match &self.from {
                    None => None,
                    Some(Position { value: SortValue::Metric(Some(_)), .. }) => Some(Segment::Valued),
                    Some(_) => Some(Segment::Missing),
                };
                // Forward: valued, then missing. Backward: missing, then valued.
                let segments: &[Segment] = if self.backward {
                    &[Segment::Missing, Segment::Valued]
                } else {
                    &[Segment::Valued, Segment::Missing]
                };
                let start = from_segment.map_or(0, |s| segments.iter().position(|x| *x == s).unwrap_or(0));
                for (i, segment) in segments[start..].iter().enumerate() {
                    if i > 0 {
                        sql.push(" UNION ALL ");
                    }
                    // A cursor bounds only the segment it lies in; later segments are read
                    // from their beginning.
                    let bound = if i == 0 { self.from.as_ref() } else { None };
                    sql.push("(");
                    match segment {
                        Segment::Valued => self.valued_sql(&mut sql, column, index_direction, bound),
                        Segment::Missing => self.missing_sql(&mut sql, column, bound),
                    }
                    sql.push(")");
                }
                if segments.len() - start > 1 {
                    // PostgreSQL's Append runs its branches in order and stops pulling once
                    // the outer LIMIT is met: when the first segment fills the page, the
                    // second (an anti-join walk for runs lacking the metric) never runs.
                    // The rows come in scan order, segment after segment.
                    sql.push(&format!(" LIMIT {}", self.limit));
                }
            }
        }
        sql
    }

    // Every LIMIT of a scan is a literal (a number we computed: the page size plus one),
    // not a parameter. With `LIMIT $n` PostgreSQL's generic plan cannot know the page is
    // small and prices a sort of a tenth of the table: the plan cache planned every
    // execution anew (custom plans looked cheaper forever), and now that the connections
    // always use the generic plan (`db::connect_once`) it would sort. With the literal
    // the generic plan is the index walk. Measured before the connections forced generic
    // plans (`tearsheet-bench --runs 100000 --seconds 8 --pattern …`, old and new server
    // one after the other): newest 20 3,960 → 5,351 req/s, top 10 by
    // Sharpe 2,593 → 5,360, config fast_period 3,260 → 4,323, strategy + cursor 2,986 →
    // 3,510, date range 3,292 → 3,866. The price is a statement per page size in the
    // connections' statement caches (clients use a few).
    fn time_sql(&self, sql: &mut Sql) {
        let dir = self.direction();
        sql.push(&format!("SELECT {}, NULL::numeric AS sort_metric FROM backtest_runs r WHERE TRUE", self.columns()));
        if let Some(Position { value: SortValue::Time(t), id }) = &self.from {
            sql.push(&format!(" AND (r.created_at, r.id) {} (", dir.after_op()))
                .bind(*t)
                .push(", ")
                .bind(*id)
                .push(")");
        }
        self.filter.push_conditions(sql);
        sql.push(&format!(" ORDER BY r.created_at {d}, r.id {d} LIMIT {}", self.limit, d = dir.sql()));
    }

    fn valued_sql(&self, sql: &mut Sql, column: &str, index_direction: Direction, bound: Option<&Position>) {
        let dir = self.direction();
        sql.push(&format!(
            "SELECT {}, pm.{column} AS sort_metric FROM performance_metrics pm \
             JOIN backtest_runs r ON r.id = pm.backtest_run_id WHERE pm.{column} IS NOT NULL",
            self.columns()
        ));
        if let Some(Position { value: SortValue::Metric(Some(v)), id }) = bound {
            sql.push(&format!(" AND (pm.{column}, pm.backtest_run_id) {} (", dir.after_op()))
                .bind(*v)
                .push(", ")
                .bind(*id)
                .push(")");
        }
        self.filter.push_conditions(sql);
        // NULLs are excluded, so where they would sort is moot; it is spelled out to match
        // the index exactly (read forwards or backwards), so the planner uses its order.
        let nulls = if dir == index_direction { "NULLS LAST" } else { "NULLS FIRST" };
        sql.push(&format!(
            " ORDER BY pm.{column} {d} {nulls}, pm.backtest_run_id {d} LIMIT {}",
            self.limit,
            d = dir.sql()
        ));
    }

    fn missing_sql(&self, sql: &mut Sql, column: &str, bound: Option<&Position>) {
        let dir = self.direction();
        // NOT EXISTS, not `LEFT JOIN … WHERE pm.x IS NULL`: the planner estimates that
        // filter from the column's null fraction alone (0 when every metrics row has the
        // value), expects no row to pass, and hash-joins both whole tables; the anti-join
        // is estimated from the join, and it walks the primary key until the page is full.
        sql.push(&format!(
            "SELECT {}, NULL::numeric AS sort_metric FROM backtest_runs r \
             WHERE NOT EXISTS (SELECT 1 FROM performance_metrics pm \
             WHERE pm.backtest_run_id = r.id AND pm.{column} IS NOT NULL)",
            self.columns()
        ));
        if let Some(Position { value: SortValue::Metric(None), id }) = bound {
            sql.push(&format!(" AND r.id {} ", dir.after_op())).bind(*id);
        }
        self.filter.push_conditions(sql);
        sql.push(&format!(" ORDER BY r.id {} LIMIT {}", dir.sql(), self.limit));
    }

    /// Compares two positions in the scan's reading order.
    pub fn cmp(&self, a: &Position, b: &Position) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let forward = match (&a.value, &b.value) {
            (SortValue::Time(x), SortValue::Time(y)) => x.cmp(y).then(a.id.cmp(&b.id)),
            (SortValue::Metric(x), SortValue::Metric(y)) => match (x, y) {
                (Some(x), Some(y)) => x.cmp(y).then(a.id.cmp(&b.id)),
                // Missing values come last whatever the direction: handled below.
                (Some(_), None) => return if self.backward { Ordering::Greater } else { Ordering::Less },
                (None, Some(_)) => return if self.backward { Ordering::Less } else { Ordering::Greater },
                (None, None) => a.id.cmp(&b.id),
            },
            _ => Ordering::Equal,
        };
        match self.direction() {
            Direction::Asc => forward,
            Direction::Desc => forward.reverse(),
        }
    }
}

/// `SELECT count(*)` of the runs matching `filter`.
pub fn count_sql(filter: &Filter) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT count(*) FROM backtest_runs r WHERE TRUE");
    filter.push_conditions(&mut sql);
    sql
}

/// One offset page in `order` (for page-number interfaces; the caller caps the offset).
/// Same total order as the connections: runs lacking the metric last, ties by id.
pub fn offset_page_sql(filter: &Filter, order: Order, offset: u64, limit: u64) -> Sql {
    let mut sql = Sql::default();
    let d = order.direction.sql();
    match order.field.metric() {
        None => {
            sql.push(&format!("SELECT {RUN_COLUMNS_R} FROM backtest_runs r WHERE TRUE"));
            filter.push_conditions(&mut sql);
            sql.push(&format!(" ORDER BY r.created_at {d}, r.id {d}"));
        }
        Some((column, _)) => {
            sql.push(&format!(
                "SELECT {RUN_COLUMNS_R} FROM backtest_runs r \
                 LEFT JOIN performance_metrics pm ON pm.backtest_run_id = r.id WHERE TRUE"
            ));
            filter.push_conditions(&mut sql);
            sql.push(&format!(" ORDER BY pm.{column} {d} NULLS LAST, r.id {d}"));
        }
    }
    sql.push(" OFFSET ").push_literal(Literal::Integer(offset as i64));
    sql.push(" LIMIT ").push_literal(Literal::Integer(limit as i64));
    sql
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn conditions(config: serde_json::Value) -> (String, Vec<Value>) {
        let mut sql = Sql::default();
        Filter { config: Some(config), ..Filter::default() }.push_conditions(&mut sql);
        (sql.text, sql.values)
    }

    #[test]
    fn scalars_of_hot_keys_become_indexable_equalities() {
        let (text, values) = conditions(json!({ "fast_period": 12 }));
        assert_eq!(text, " AND r.config_snapshot -> 'fast_period' = $1::jsonb");
        assert_eq!(values, vec![Value::from(json!(12))]);

        let (text, values) =
            conditions(json!({ "slow_period": 60, "fast_period": 12, "risk_management": { "stop_loss": 0.02 } }));
        assert_eq!(
            text,
            " AND r.config_snapshot -> 'fast_period' = $1::jsonb AND r.config_snapshot -> 'slow_period' = $2::jsonb \
             AND r.config_snapshot @> $3::jsonb"
        );
        assert_eq!(values[2], Value::from(json!({ "risk_management": { "stop_loss": 0.02 } })));
    }

    #[test]
    fn other_keys_and_non_scalars_stay_containment() {
        // An array value means "contains", not "equals": it must stay in `@>`.
        let (text, values) = conditions(json!({ "fast_period": [12], "instruments": ["AAPL"] }));
        assert_eq!(text, " AND r.config_snapshot @> $1::jsonb");
        assert_eq!(values, vec![Value::from(json!({ "fast_period": [12], "instruments": ["AAPL"] }))]);
        // `{}` matches every object: kept as the client wrote it.
        assert_eq!(conditions(json!({})).0, " AND r.config_snapshot @> $1::jsonb");
    }
}
