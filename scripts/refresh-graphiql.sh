#!/usr/bin/env bash
# Copies GraphiQL's browser assets into api/assets/graphiql/, from the npm packages pinned
# in tests/clients/package.json (graphiql, react, react-dom: their UMD builds, which need
# no bundler). The server embeds these files, so GraphiQL works on networks without
# internet access. To move to another version: change the pins there, `npm install
# --prefix tests/clients` (updates package-lock.json), run this script, commit the lot.
# The browser test (tests/clients/graphiql.mjs) checks that the copies match the pins.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=tests/clients
[ -d "$clients/node_modules/graphiql" ] || npm ci --prefix "$clients" --no-audit --no-fund --loglevel=error
out=api/assets/graphiql
modules="$clients/node_modules"
cp "$modules/graphiql/graphiql.min.js" "$modules/graphiql/graphiql.min.css" "$out/"
cp "$modules/react/umd/react.production.min.js" "$modules/react-dom/umd/react-dom.production.min.js" "$out/"
{
  echo "Third-party files, copied by scripts/refresh-graphiql.sh from these npm packages:"
  for p in graphiql react react-dom; do
    echo "- $p $(node -p "require('./$modules/$p/package.json').version") ($(node -p "require('./$modules/$p/package.json').license"))"
  done
  echo
  for p in graphiql react react-dom; do
    echo "== $p: LICENSE =="
    cat "$modules/$p/LICENSE"
    echo
  done
} > "$out/LICENSES.txt"
ls -l "$out"
