//! SeaORM entities for Tearsheet's two tables.
//!
//! Rows are not the API: nothing here knows about GraphQL. The `api` crate builds its
//! GraphQL objects from these models, so renaming a column cannot silently rename a field.

pub mod backtest_run;
pub mod performance_metrics;

pub use backtest_run::RunStatus;
