#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a few seconds, starting from its committed seeds
# (fuzz/seeds/TARGET), so that a parser regression (panic, hang, runaway memory) shows in CI.
# The long runs are done by hand (fuzz/README.md). Works on a stable toolchain: cargo-fuzz
# passes nightly-only rustc flags (-Zsanitizer=address, -Cpasses=sancov-module), which
# RUSTC_BOOTSTRAP=1 lets a stable compiler accept.
#
#   .ci/fuzz-smoke.sh [SECONDS_PER_TARGET]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-5}}"
export RUSTC_BOOTSTRAP=1
# One job at a time: CI machines and the shared development box have few cores.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

cd fuzz
triple=$(rustc -vV | sed -n 's/^host: //p')
targets=$(cargo fuzz list)
status=0
for target in $targets; do
    echo "== fuzz $target (${seconds}s)"
    cargo fuzz build "$target"
    scratch=$(mktemp -d)
    seeds="seeds/$target"
    mkdir -p "$seeds" "artifacts/$target"
    # The fuzzer binary is run directly rather than through `cargo fuzz run`, which would go
    # through the repository's test runner (.ci/as-user) and run it as a user that cannot
    # write the scratch corpus. The scratch corpus takes what the run finds; the committed
    # seeds stay as they are.
    if ! "target/$triple/release/$target" "$scratch" "$seeds" \
        -artifact_prefix="artifacts/$target/" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$scratch.log" 2>&1; then
        status=1
        echo "!! $target failed; last lines of the log:"
        tail -n 40 "$scratch.log"
        ls artifacts/"$target"/ 2>/dev/null | sed 's/^/!! artifact: /'
    else
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$scratch.log" \
            | sed 's/^/   /'
    fi
    rm -rf "$scratch" "$scratch.log"
done
exit "$status"
