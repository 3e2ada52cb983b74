//! End-to-end tests: one binary, a module per area. See `tearsheet_tests` for the harness.

mod binary;
mod migrations;
mod reading;
mod recording;
mod schema_file;
mod support;
