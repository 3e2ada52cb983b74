//! Tearsheet: a GraphQL API over trading-strategy backtest runs stored in PostgreSQL.
//!
//! `main.rs` parses the command line and calls [`commands::run`]; tests build an
//! [`startup::Application`] directly.

pub mod admin;
pub mod auth;
pub mod commands;
pub mod config;
pub mod db;
pub mod demo;
pub mod embedded_pg;
pub mod error;
pub mod fuzzing;
pub mod graphql;
pub mod http;
pub mod live;
pub mod monitoring;
pub mod progress;
pub mod replicas;
pub mod startup;
pub mod state;
pub mod store;
pub mod synthetic;
pub mod telemetry;
