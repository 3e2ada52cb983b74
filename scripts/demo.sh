#!/usr/bin/env bash
# Runs Tearsheet on its embedded PostgreSQL with demo data; prints the GraphiQL URL.
# Extra arguments go to `tearsheet serve` (e.g. --listen 0.0.0.0:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

# As root, the embedded PostgreSQL runs as the `postgres` user, which cannot enter a
# checkout under a private home (e.g. /root): use a data dir it can reach instead.
if [ "$(id -u)" = 0 ] && [ -z "${TEARSHEET_DATA_DIR:-}" ] && [ -z "${DATABASE_URL:-}" ] \
   && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$PWD"; then
  export TEARSHEET_DATA_DIR=/var/lib/tearsheet
  mkdir -p "$TEARSHEET_DATA_DIR"
  echo "==> $PWD is not reachable by the postgres user: data goes to $TEARSHEET_DATA_DIR"
fi

cargo build -p tearsheet-api --bin tearsheet
exec "${CARGO_TARGET_DIR:-target}/debug/tearsheet" serve --demo "$@"
