#!/usr/bin/env bash
# Runs every check and test: formatting, lints, the schema file, unit and end-to-end tests
# against real PostgreSQL (a throwaway cluster, or TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

target_dir="${CARGO_TARGET_DIR:-target}"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo build (the binary the end-to-end tests drive)"
cargo build --locked -p tearsheet-api --bin tearsheet
test -x "$target_dir/debug/tearsheet"

echo "==> cargo test"
cargo test --workspace --locked
