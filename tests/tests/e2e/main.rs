//! End-to-end tests: one binary, a module per area. See `tearsheet_tests` for the harness.

mod access;
mod batches;
mod batching;
mod binary;
mod clients;
mod comparing;
mod faults;
mod hostile;
mod http;
mod limits;
mod live;
mod migrations;
mod operations;
mod oracle;
mod pgbouncer;
mod plans;
mod pools;
mod reading;
mod recording;
mod replicas;
mod research;
mod schema_file;
mod seeding;
mod support;
