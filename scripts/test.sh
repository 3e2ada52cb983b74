#!/usr/bin/env bash
# Runs every check and test: formatting, lints, the schema file, unit and end-to-end tests
# against real PostgreSQL (a throwaway cluster, or TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

target_dir="${CARGO_TARGET_DIR:-target}"

echo "==> GraphQL contract"
ensure_node
# ../shared is the source of truth when it is there; contract/ is its copy for clones without it.
contract="contract"
if [ -f ../shared/tools/contract-check.mjs ] && [ -f ../shared/api/contract.graphql ]; then
  contract="../shared"
  for f in contract.graphql contract-research.graphql; do
    if ! diff -q "../shared/api/$f" "contract/api/$f" >/dev/null; then
      echo "note: contract/api/$f differs from ../shared; refresh it (see contract/README.md)"
    fi
  done
fi
[ -d "$contract/tools/node_modules/graphql" ] || npm ci --prefix "$contract/tools" --no-audit --no-fund --loglevel=error
# The public contract and the research features' (issue 8).
node "$contract/tools/contract-check.mjs" schema.graphql --with research

echo "==> client tooling (tests/clients: Apollo Federation, graphql-http, GraphiQL, Relay)"
# npm ci only when the lock file changed since the last install (a copy marks it).
stamp=tests/clients/node_modules/.installed-package-lock.json
if ! cmp -s tests/clients/package-lock.json "$stamp" 2>/dev/null; then
  npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
  cp tests/clients/package-lock.json "$stamp"
fi
ensure_chromium
ensure_pgbouncer
echo "relay-compiler --validate (tests/clients/relay against schema.graphql)"
(cd tests/clients/relay && ../node_modules/.bin/relay-compiler --validate >/dev/null) || {
  (cd tests/clients/relay && ../node_modules/.bin/relay-compiler --validate) || true
  echo "relay-compiler: the Relay operations do not compile against schema.graphql (or their" >&2
  echo "artifacts are stale: run it without --validate in tests/clients/relay)" >&2
  exit 1
}

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo build (the binary the end-to-end tests drive)"
cargo build --locked -p tearsheet-api --bin tearsheet
test -x "$target_dir/debug/tearsheet"

echo "==> cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

echo "==> fuzzing (scripts/fuzz.sh: every decoder of untrusted input, 20 s each)"
scripts/fuzz.sh 20

# One closing line over every test binary, so the summary is not a crate's "0 passed".
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
