//! Data access: every SQL statement Tearsheet sends is shaped here, and nothing here knows
//! about GraphQL.
//!
//! Queries are hand-written SQL run through SeaORM, chosen by their plans rather than
//! emitted by the query builder: keyset predicates as row comparisons (an index bound;
//! `a < x OR (a = x AND b < y)` is not), batches as `= ANY($1)` (one statement text for
//! any batch size; `IN ($1, …, $n)` is a new statement per size) and single keys as
//! `= $1` (`query::Sql::push_key_condition`).
//! The column lists are explicit so that the heap is read for what the API returns.

pub mod config_hash;
pub mod facts;
pub mod groups;
pub mod metrics;
pub mod pareto;
pub mod query;
pub mod record;
pub mod rows;
pub mod run_config;
pub mod runs;
pub mod seed;

use sea_orm::{DbBackend, Statement, Value};

/// Tearsheet's tables: what `tearsheet seed` vacuums and `admin analyze` analyzes.
pub const TABLES: [&str; 4] = ["backtest_runs", "performance_metrics", "run_facts", "run_fact_pairs"];

pub(crate) fn stmt(sql: impl Into<String>, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}
