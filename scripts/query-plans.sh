#!/usr/bin/env bash
# Regenerates docs/query-plans.md: runs the plan test (100,000 generated runs on a throwaway
# cluster), which writes the EXPLAIN ANALYZE of every query pattern there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
TEARSHEET_PLANS_OUT="$PWD/docs/query-plans.md" \
  cargo test --locked -p tearsheet-tests --test e2e -- --exact plans::every_seed_query_pattern_reads_its_index_at_100k_runs
echo "wrote docs/query-plans.md"
