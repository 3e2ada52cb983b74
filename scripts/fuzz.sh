#!/usr/bin/env bash
# Fuzzes the decoders of untrusted input (cursors, config filters, request bodies, GET
# query strings; see api/src/fuzzing.rs) for a fixed time each:
#
#   scripts/fuzz.sh        # 20 s per target (what scripts/test.sh runs)
#   scripts/fuzz.sh 600    # longer, by hand
#
# cargo-fuzz on stable Rust: no sanitizer (they need nightly), a dev build with
# debug assertions, libFuzzer's coverage guidance. Seeds: fuzz/seeds/<target>; new
# corpus entries go to a temporary directory. A crash fails the run and leaves its input
# in fuzz/artifacts/<target>/ (reproduce: cargo fuzz run --sanitizer none --dev <target>
# <that file>, from fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> cargo-fuzz not found: installing it"
  cargo install cargo-fuzz --locked --version 0.13.2
fi
# Instrumented builds of their own: they never invalidate the main target directory.
export CARGO_TARGET_DIR="${TEARSHEET_FUZZ_TARGET_DIR:-$HOME/.cache/tearsheet/fuzz-target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd fuzz
log="$work/build.log"
cargo fuzz build --sanitizer none --dev >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
for target in $(cargo fuzz list); do
  mkdir -p "$work/$target" "artifacts/$target"
  echo "fuzz: $target for ${seconds}s"
  cargo fuzz run --sanitizer none --dev "$target" "$work/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -artifact_prefix="artifacts/$target/" -print_final_stats=1 2>&1 \
    | grep -E '^(Done|stat::number_of_executed_units)|panicked|ERROR|SUMMARY|Test unit written' || true
  # grep hides libFuzzer's chatter; its exit status is what counts.
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: $target found a crash: see fuzz/artifacts/$target/" >&2; exit 1; }
done
