#!/usr/bin/env bash
# The benchmark, in one command: builds the server and the bench in release mode (one
# cargo invocation, so shared crates compile once), installs wrk when missing, and runs
# `tearsheet-bench` with the arguments given (see `bench/run.sh --help`).
#
#   bench/run.sh                     # 100,000 runs, every pattern, 10 s each
#   bench/run.sh --runs 1000000      # the scale check
#   bench/run.sh --pattern compare --seconds 5 --bulk-runs 0
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

if ! command -v wrk >/dev/null 2>&1; then
  echo "==> wrk not found: installing it"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

cargo build --release --locked -p tearsheet-api -p tearsheet-bench
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/tearsheet-bench" --server-bin "$target_dir/release/tearsheet" "$@"
