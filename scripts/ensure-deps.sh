#!/usr/bin/env bash
# Installs what Tearsheet's commands need and are missing: PostgreSQL server binaries
# (initdb, pg_ctl, postgres), found the way the server finds them. Sourced by demo.sh and
# test.sh; safe to run again (it does nothing when all is there).
set -euo pipefail

have_pg_binaries() {
  local dir
  if [ -n "${PG_BIN_DIR:-}" ] && [ -x "$PG_BIN_DIR/initdb" ] && [ -x "$PG_BIN_DIR/pg_ctl" ]; then return 0; fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then return 0; fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && return 0
  done
  return 1
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1
  fi
}

if ! have_pg_binaries; then
  echo "==> PostgreSQL server binaries not found: installing them"
  if command -v apt-get >/dev/null 2>&1; then
    as_root apt-get update -qq
    # The server package; Debian also sets up (and starts) a system cluster, which
    # Tearsheet does not use: it runs its own cluster in its data dir.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    brew install postgresql@16
    export PG_BIN_DIR="$(brew --prefix postgresql@16)/bin"
  else
    echo "Install the PostgreSQL server (initdb, pg_ctl, postgres) with your package manager," >&2
    echo "or set PG_BIN_DIR to their directory, or DATABASE_URL to an existing server." >&2
    exit 1
  fi
  have_pg_binaries || { echo "PostgreSQL binaries still not found after installing" >&2; exit 1; }
fi

# Node.js and npm, for the checks written in JavaScript (the GraphQL contract check). Only
# the test script needs them.
ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then return 0; fi
  echo "==> Node.js not found: installing it"
  if command -v apt-get >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    brew install node
  else
    echo "Install Node.js (node and npm) with your package manager." >&2
    exit 1
  fi
}

# Installs a Debian package (the machines are Debian; elsewhere, says what to install).
apt_install() {
  local package=$1 why=$2
  echo "==> $package not found: installing it"
  if command -v apt-get >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
  else
    echo "Install $package ($why)." >&2
    exit 1
  fi
}

# PgBouncer (Debian's, 1.18 on Debian 12) for the tests that run Tearsheet behind it.
ensure_pgbouncer() {
  if [ -x /usr/sbin/pgbouncer ] || [ -x /usr/bin/pgbouncer ]; then return 0; fi
  apt_install pgbouncer "the tests run Tearsheet behind it"
}

# Debian's Chromium, for the GraphiQL browser test (playwright-core drives it; no browser
# is ever downloaded by a test tool). Only the test script needs it.
ensure_chromium() {
  if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then return 0; fi
  apt_install chromium "the GraphiQL browser test; or set CHROMIUM to its executable"
}
