#!/usr/bin/env bash
# Startup benchmark: stockade against bubblewrap, side by side in one run on this machine.
# Usage: bench/run.sh [RUNS]   (as root it installs hyperfine and bubblewrap, builds a release
# binary, and measures as the unprivileged user $STOCKADE_TEST_USER, default tester).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"
user="${STOCKADE_TEST_USER:-tester}"

if [ "$(id -u)" = 0 ]; then
    command -v hyperfine >/dev/null && command -v bwrap >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine bubblewrap >/dev/null
    }
    id "$user" >/dev/null 2>&1 || useradd --create-home "$user"
    as_user() { setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"; }
else
    as_user() { "$@"; }
fi

cargo build --release --quiet
out=$(mktemp -d /tmp/stockade-bench.XXXXXX)
chmod 1777 "$out"
bin="$out/stockade"
cp target/release/stockade "$bin"
bwrap_args=$(sh bench/bwrap-equivalent.sh)

cd "$out"
as_user hyperfine -N --warmup 30 --runs "$runs" --export-json "$out/startup.json" \
    -n "stockade run (default)" "$bin run -- /bin/true" \
    -n "bwrap (equivalent)" "bwrap $bwrap_args /bin/true" \
    -n "unshare -Urmpfiun (kernel floor)" "unshare -Urmpfiun /bin/true" \
    -n "/bin/true (bare)" "/bin/true" >/dev/null

python3 - "$out/startup.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: sorted(r["times"])[len(r["times"]) // 2] * 1000 for r in results}
print(f"{'launcher':36} {'median ms':>10} {'vs bwrap':>9}")
base = med["bwrap (equivalent)"]
for name, ms in med.items():
    print(f"{name:36} {ms:10.2f} {ms / base:9.2f}")
PY
rm -rf "$out"
