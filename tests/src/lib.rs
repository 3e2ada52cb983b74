//! The test harness: real PostgreSQL, one fresh database per test, the real router.
//!
//! By default a test run starts one throwaway cluster from the system's PostgreSQL
//! binaries (through the same `embedded_pg` module `tearsheet serve` uses), migrates a
//! template database once, and gives each test `CREATE DATABASE … TEMPLATE` of it, so tests
//! run in parallel and never share rows. `TEST_DATABASE_URL` (a URL with rights to create
//! databases) points the tests at an existing server instead.

pub mod app;
pub mod db;
pub mod pgbouncer;

pub use app::{TestApp, TestSchema};
pub use db::TestDb;
