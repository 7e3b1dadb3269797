#!/usr/bin/env bash
# Regenerates bench/order/stockade.order, the order in which lld lays out the functions that
# a launch runs (build.rs passes it as --symbol-ordering-file; see there for why).
#
# How: steptrace.c single-steps a few representative launches (below) as the unprivileged
# user, in every process of the tree (launcher, PID 1, the command until its exec), and
# records each instruction address executed in the stockade binary; order.py maps them to
# function symbols with nm and writes them grouped by process, in order of first execution.
# Only code that these command lines run is covered: other options, profiles and error paths
# stay where the linker puts them, which costs memory, never correctness.
#
# The names carry rustc's hashes, which change with the toolchain, the dependencies and the
# crate's metadata: run this again after such a change (`order.sh --check` tells how many
# names are still found in the current binary). Each trace takes about 30 s.
#
# Usage (as root, on x86_64): bench/order/order.sh [--check]
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
user="${STOCKADE_TEST_USER:-tester}"
order="$repo/bench/order/stockade.order"

cargo build --release --quiet
bin="$repo/target/$(rustc -vV | sed -n 's/^host: //p')/release/stockade"

if [ "${1:-}" = "--check" ]; then
    total=$(wc -l <"$order")
    found=$(nm --defined-only "$bin" | awk '{print $NF}' | sort -u | comm -12 - <(sort -u "$order") | wc -l)
    echo "$found of $total names in $order are in $bin"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "order.sh: run as root (the tracer attaches before the user namespace)" >&2; exit 1; }
work=$(mktemp -d /tmp/stockade-order.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp "$bin" "$work/stockade"
gcc -O2 -Wall -o "$work/steptrace" bench/order/steptrace.c

# The launches to cover: the default profile, the test and build profiles, the
# bubblewrap-compatible mode and --timings (which bench/run.sh uses).
lines=(
    "run -- /bin/true"
    "run --profile test -- /bin/true"
    "run --profile build -- /bin/true"
    "bwrap --unshare-all --ro-bind /usr /usr --proc /proc --dev /dev --symlink usr/bin /bin --symlink usr/lib64 /lib64 --symlink usr/lib /lib -- /bin/true"
    "run --timings -- /bin/true"
)
pids=()
for i in "${!lines[@]}"; do
    # From the scratch directory: build and test bind the working directory, and refuse the
    # user's home.
    # shellcheck disable=SC2086 # each line is split into its words on purpose
    (cd "$work" && exec "$work/steptrace" "$user" "$work/stockade" "$work/trace.$i" stockade ${lines[$i]}) \
        >"$work/log.$i" 2>&1 &
    pids+=($!)
    # As many at a time as there are CPUs.
    if [ $(((i + 1) % $(nproc))) = 0 ]; then wait "${pids[@]}" || true; pids=(); fi
done
[ ${#pids[@]} = 0 ] || wait "${pids[@]}" || true
for i in "${!lines[@]}"; do
    grep -q 'exit 0$' "$work/log.$i" || { echo "order.sh: tracing '${lines[$i]}' failed:" >&2; cat "$work/log.$i" >&2; exit 1; }
done
traces=()
for i in "${!lines[@]}"; do traces+=("$work/trace.$i"); done
python3 bench/order/order.py "$work/stockade" "${traces[@]}" >"$order"
echo "wrote $order ($(wc -l <"$order") functions)"
