#!/usr/bin/env bash
# CI smoke run of the fuzz targets in fuzz/ (cargo-fuzz, libFuzzer).
#
#   scripts/fuzz-smoke.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Installs cargo-fuzz when missing, seeds the corpora from fixtures/
# (fuzz/seed.sh), builds every target and runs each one for
# SECONDS_PER_TARGET (default 20), one at a time, at the lowest priority.
# Any crash, panic, timeout or out-of-memory fails the script; libFuzzer
# leaves the input under fuzz/artifacts/<target>/.
#
# The toolchain is stable. cargo-fuzz passes nightly-only rustc flags
# (-Z...), so RUSTC_BOOTSTRAP=1 is set for the fuzz build only. The targets
# are built without a sanitizer (`-s none`): wheelfix's only unsafe code is
# the memory maps (the wheel, read-only; anonymous buffers), calls into
# zlib-rs (Rust) through its zlib API with pointers taken from slices, and
# the SIGBUS handler of the command-line tool (not in the fuzzed paths), so
# AddressSanitizer would only slow the runs down; overflow checks and debug
# assertions are on (-a).
set -euo pipefail
root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
cd "$root"
secs="${1:-20}"
shift || true
all=(parse_elf parse_macho parse_pe wheel_open rewrite_elf rewrite_macho rewrite_pe splice)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --debug-assertions)

fuzz/seed.sh
nice -n 19 cargo fuzz build "${flags[@]}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
    echo "== $t (${secs}s)"
    rc=0
    nice -n 19 cargo fuzz run "${flags[@]}" "$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $t failed (exit $rc): the input is under fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
echo "fuzz smoke: ${#targets[@]} targets, ${secs}s each, no failure"
