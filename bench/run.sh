#!/usr/bin/env bash
# stockade's benchmark: startup, peak memory, launch throughput, seccomp overhead and the cost
# of each launch stage, side by side with bubblewrap in one run on this machine.
#
# Usage: bench/run.sh [--quick]
# As root it installs what it needs (bubblewrap, gcc, make, time), builds a release
# binary and measures as the unprivileged user $STOCKADE_TEST_USER (default tester).
# --quick uses fewer runs (for trying the script, not for numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
user="${STOCKADE_TEST_USER:-tester}"
runs=300 launches=500 loops=10000000 build_runs=5 stage_runs=50
if [ "${1:-}" = "--quick" ]; then
    runs=30 launches=50 loops=1000000 build_runs=1 stage_runs=10
fi

if [ "$(id -u)" = 0 ]; then
    need=""
    for tool in bwrap gcc make /usr/bin/time python3; do
        command -v "$tool" >/dev/null || need=1
    done
    if [ -n "$need" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            bubblewrap gcc libc6-dev make time python3 >/dev/null
    fi
    id "$user" >/dev/null 2>&1 || useradd --create-home "$user"
    # The same switch as the tests' runner, with the user's own HOME (stockade looks for the
    # user's profiles there).
    as_user() { STOCKADE_TEST_USER="$user" "$repo/.ci/as-user" "$@"; }
else
    as_user() { "$@"; }
fi

cargo build --release --quiet
work=$(mktemp -d /tmp/stockade-bench.XXXXXX)
chmod 1777 "$work"
trap 'rm -rf "$work"' EXIT
bin="$work/stockade"
cp "target/$(rustc -vV | sed -n "s/^host: //p")/release/stockade" "$bin"
gcc -O2 -o "$work/syscalls" bench/src/syscalls.c
gcc -O2 -o "$work/rounds" bench/src/rounds.c
gcc -O2 -o "$work/reference" bench/src/reference.c
cd "$work"

# The strict bubblewrap command line both tools run in (b) and (c), with the seccomp filter of
# stockade's default profile when stockade can export it as BPF.
strict=$(sh "$repo/bench/bwrap-equivalent.sh")
seccomp_note="no seccomp filter (stockade cannot export one yet)"
seccomp_arg=""
if "$bin" seccomp export --profile default >"$work/default.bpf" 2>/dev/null; then
    seccomp_arg="--seccomp 9"
    seccomp_note="stockade's default filter ($(($(stat -c %s "$work/default.bpf") / 8)) BPF instructions) via --seccomp"
fi
have_bwrap_mode=""
if as_user "$bin" bwrap $strict /bin/true >/dev/null 2>&1; then
    have_bwrap_mode=1
fi

echo "== 1. startup of /bin/true ($runs interleaved rounds after 10 warm-up rounds; medians)"
# In rounds (bench/src/rounds.c), not in one block of runs per launcher: the machine's speed
# drifts by more than the differences measured here, and a block of (a) and a block of (d)
# taken a minute apart gave a/d 2.42 where the same run's interleaved rounds gave 1.73.
names=("a: stockade run (default profile)")
cmds=("$bin" run -- /bin/true)
if [ -n "$have_bwrap_mode" ]; then
    names+=("b: stockade bwrap (strict line)")
    cmds+=(::: /bin/sh -c "exec $bin bwrap $strict $seccomp_arg /bin/true 9<$work/default.bpf")
fi
names+=("c: bubblewrap (strict line)" "d: unshare -Urmpfiun (kernel floor)" "e: /bin/true (bare)"
    "sh -c exit (shell cost inside b, c)")
cmds+=(::: /bin/sh -c "exec bwrap $strict $seccomp_arg /bin/true 9<$work/default.bpf")
cmds+=(::: /usr/bin/unshare -Urmpfiun /bin/true ::: /bin/true ::: /bin/sh -c "exec /bin/true 9</dev/null")
touch "$work/default.bpf"
as_user "$work/rounds" "$runs" "${cmds[@]}" >"$work/startup.txt"
printf '%s\n' "${names[@]}" >"$work/startup-names.txt"

echo "== 2. peak memory (max RSS of any process in the tree, KiB; median of 20)"
# Most of stockade's resident memory is its own text (see build.rs); tell whether this build
# was laid out by a current order file.
order="$repo/bench/order/stockade.order"
if [ -f "$order" ] && command -v nm >/dev/null; then
    found=$(nm --defined-only "$bin" | awk '{print $NF}' | sort -u | comm -12 - <(sort -u "$order") | wc -l)
    echo "   text order: $found of $(wc -l <"$order") functions in bench/order/stockade.order are in this build (bench/order/order.sh makes it again)"
fi
peak() {
    for _ in $(seq 20); do
        as_user /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
    done | sort -n | sed -n 10p
}
mem_a=$(peak "$bin" run -- /bin/true)
mem_b=""
if [ -n "$have_bwrap_mode" ]; then
    mem_b=$(peak sh -c "exec $bin bwrap $strict $seccomp_arg /bin/true 9<$work/default.bpf")
fi
mem_c=$(peak sh -c "exec bwrap $strict $seccomp_arg /bin/true 9<$work/default.bpf")

echo "== 3. throughput: $launches launches of /bin/true, sequential and 2 in parallel"
profile_test="--profile test"
"$bin" run --profile test --dry-run -- true >/dev/null 2>&1 || profile_test=""
seq_loop() { as_user sh -c "i=0; while [ \$i -lt $launches ]; do $1 >/dev/null || exit 1; i=\$((i+1)); done"; }
par_loop() { seq "$launches" | as_user xargs -P2 -I{} sh -c "$1 >/dev/null"; }
timed() {
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    python3 -c "print(f'{$launches / ($end - $start):.1f}')"
}
st_cmd="$bin run $profile_test -- /bin/true"
bw_cmd="bwrap $strict /bin/true"
tp_st_seq=$(timed seq_loop "$st_cmd")
tp_bw_seq=$(timed seq_loop "$bw_cmd")
tp_st_par=$(timed par_loop "$st_cmd")
tp_bw_par=$(timed par_loop "$bw_cmd")

echo "== 4. seccomp overhead under the default profile (medians)"
# Inside and outside runs alternate (and take turns going first), so that a change in the
# machine's load during the run (other guests on the host) falls on both sides alike.
# paired N OUT IN ARGS...: "out in" times per pair; column_median FILE COLUMN.
paired() {
    local n=$1 out_fn=$2 in_fn=$3 k o i
    shift 3
    for k in $(seq "$n"); do
        if [ $((k % 2)) = 1 ]; then
            o=$("$out_fn" "$@")
            i=$("$in_fn" "$@")
        else
            i=$("$in_fn" "$@")
            o=$("$out_fn" "$@")
        fi
        echo "$o $i"
    done
}
column_median() {
    local n
    n=$(wc -l <"$1")
    awk -v c="$2" '{print $c}' "$1" | sort -n | sed -n "$(((n + 1) / 2))p"
}
inside() { as_user "$bin" run --ro-bind "$work" "$work" -- "$@"; }
outside() { as_user "$@"; }
paired 5 outside inside "$work/syscalls" getppid "$loops" >"$work/getppid.txt"
gp_out=$(column_median "$work/getppid.txt" 1)
gp_in=$(column_median "$work/getppid.txt" 2)
# seccomp's own cost on this kernel: the same loop under a one-instruction allow-everything
# filter (bubblewrap installs it), against bubblewrap without a filter.
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('HBBI',0x06,0,0,0x7fff0000))" >"$work/allow.bpf"
bw_plain() { as_user bwrap --ro-bind / / "$@"; }
bw_allow() { as_user sh -c "exec bwrap --ro-bind / / --seccomp 9 $* 9<$work/allow.bpf"; }
paired 5 bw_plain bw_allow "$work/syscalls" getppid "$loops" >"$work/floor.txt"
gp_bw=$(column_median "$work/floor.txt" 1)
gp_bw_allow=$(column_median "$work/floor.txt" 2)
paired 5 outside inside "$work/syscalls" stat /usr/share 3 >"$work/stat.txt"
st_out=$(column_median "$work/stat.txt" 1)
st_in=$(column_median "$work/stat.txt" 2)

zstd_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/zstd-sys-*/zstd/lib 2>/dev/null | head -1 || true)
if [ -z "$zstd_src" ]; then
    mkdir -p "$work/zfetch/src"
    printf '[package]\nname="zfetch"\nversion="0.0.0"\nedition="2021"\n[dependencies]\nzstd-sys="=2.0.15"\n' >"$work/zfetch/Cargo.toml"
    echo 'fn main(){}' >"$work/zfetch/src/main.rs"
    (cd "$work/zfetch" && cargo fetch -q)
    zstd_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/zstd-sys-*/zstd/lib | head -1)
fi
cp "$repo/bench/src/zstd.mk" "$work/zstd.mk"
build_outside() { build_once outside; }
build_inside() { build_once inside; }
build_once() {
    local where=$1 dir
    dir=$(mktemp -d "$work/build.XXXX")
    cp -r "$zstd_src/." "$dir/"
    chmod -R a+rwX "$dir"
    local start end
    start=$(date +%s.%N)
    if [ "$where" = inside ]; then
        as_user "$bin" run --bind "$dir" "$dir" --ro-bind "$work/zstd.mk" "$work/zstd.mk" \
            --chdir "$dir" -- make -s -f "$work/zstd.mk" -j2 >/dev/null 2>&1
    else
        (cd "$dir" && as_user make -s -f "$work/zstd.mk" -j2 >/dev/null 2>&1)
    fi
    end=$(date +%s.%N)
    test -f "$dir/libzstd.a"
    rm -rf "$dir"
    python3 -c "print(int(($end - $start) * 1e9))"
}
paired "$build_runs" build_outside build_inside >"$work/build.txt"
mk_out=$(column_median "$work/build.txt" 1)
mk_in=$(column_median "$work/build.txt" 2)

echo "== 5. where stockade's launch time goes (--timings, median of $stage_runs, microseconds)"
for _ in $(seq "$stage_runs"); do
    as_user "$bin" run --timings -- /bin/true 2>&1 >/dev/null | sed -n 's/^stockade: timing: //p'
done >"$work/stages.txt"

echo "== 6. what the default profile adds to the unshare floor ($runs interleaved rounds; medians)"
# The same launch with one part of the default profile's work left out at a time, and with
# all of them left out, against unshare: each difference from (a) is what that part costs.
# The network namespace is part of the floor too: unshare without -n shows its share there.
grep -v 'src = "/etc/' "$repo/profiles/default.toml" >"$work/no-etc.toml"
chmod 644 "$work/no-etc.toml"
# (f) is the kernel's floor for the whole plan: the bubblewrap line stockade prints for it,
# run by the few lines of C in bench/src/reference.c with the same filter; a/f is what stockade
# itself adds to the kernel work its profile asks for.
read -ra plan_line <<<"$(as_user "$bin" run --print-bwrap -- /bin/true | head -1)"
reference=("$work/reference" "${plan_line[@]:1:${#plan_line[@]}-3}" --seccomp-file "$work/default.bpf" -- /bin/true)
if ! as_user "${reference[@]}" >/dev/null 2>&1; then
    echo "   (f) skipped: bench/src/reference.c cannot run this plan; a/f is not measured"
    reference=(/bin/true)
fi
as_user "$work/rounds" "$runs" \
    "$bin" run -- /bin/true ::: \
    "${reference[@]}" ::: \
    "$bin" run --profile "$work/no-etc.toml" -- /bin/true ::: \
    "$bin" run --net host -- /bin/true ::: \
    "$bin" run --seccomp off -- /bin/true ::: \
    "$bin" run --profile "$work/no-etc.toml" --net host --seccomp off -- /bin/true ::: \
    /usr/bin/unshare -Urmpfiun /bin/true ::: \
    /usr/bin/unshare -Urmpfiu /bin/true >"$work/parts.txt"

python3 - "$work" <<PY
import sys, collections, statistics
work = sys.argv[1]
names = [line.rstrip("\n") for line in open(f"{work}/startup-names.txt")]
med = dict(zip(names, (float(x) for x in open(f"{work}/startup.txt"))))
def find(prefix):
    return next((v for k, v in med.items() if k.startswith(prefix)), None)
a, b, c, d = find("a:"), find("b:"), find("c:"), find("d:")
print()
print("startup (seccomp in b and c: $seccomp_note)")
print(f"  {'launcher':42} {'median ms':>10} {'vs c':>7}")
for name, ms in med.items():
    print(f"  {name:42} {ms:10.2f} {ms / c:7.2f}")
print()
print("peak memory (KiB)")
print(f"  a: stockade run (default)   {'$mem_a':>8}")
if "$mem_b": print(f"  b: stockade bwrap (strict)  {'$mem_b':>8}")
print(f"  c: bubblewrap (strict)      {'$mem_c':>8}")
print()
print("throughput (launches per second)")
print(f"  {'':30} {'sequential':>11} {'2 parallel':>11}")
print(f"  {'stockade run ${profile_test:---profile default}':30} {$tp_st_seq:11.1f} {$tp_st_par:11.1f}")
print(f"  {'bubblewrap (strict)':30} {$tp_bw_seq:11.1f} {$tp_bw_par:11.1f}")
print()
print("seccomp overhead (inside / outside, medians)")
rows = [("getppid x $loops", $gp_out, $gp_in),
        ("getppid, seccomp floor (allow-all)", $gp_bw, $gp_bw_allow),
        ("stat of /usr/share x3", $st_out, $st_in),
        ("make -j2 of zstd (60 C files)", $mk_out, $mk_in)]
for name, out, inn in rows:
    print(f"  {name:32} outside {out/1e6:9.1f} ms  inside {inn/1e6:9.1f} ms  ratio {inn/out:6.3f}")
print()
stages = collections.OrderedDict()
for line in open(f"{work}/stages.txt"):
    name, _, value = line.rpartition(": ")
    stages.setdefault(name, []).append(int(value.split()[0]))
print("launch stages (median us)")
for name, values in stages.items():
    print(f"  {name:45} {statistics.median(values):8.0f}")
print()
parts = [float(x) for x in open(f"{work}/parts.txt")]
labels = ["a: stockade run (default profile)",
          "f: the same plan in C (bench/src/reference.c)",
          "  without its /etc entries",
          "  without a network namespace (--net host)",
          "  without seccomp (--seccomp off)",
          "  without all three",
          "d: unshare -Urmpfiun",
          "  unshare -Urmpfiu (no network namespace)"]
print("what the default profile adds to the unshare floor (interleaved; median ms)")
print(f"  {'launch':45} {'ms':>7} {'a minus this':>13} {'vs d':>6}")
floor = parts[6]
reference_ran = "$(basename "${reference[0]}")" == "reference"
if not reference_ran:
    labels[1] = "f: skipped (see above)"
for label, ms in zip(labels, parts):
    print(f"  {label:45} {ms:7.2f} {parts[0] - ms:13.2f} {ms / floor:6.2f}")
print()
print("targets")
def check(label, value, limit):
    print(f"  {label:52} {value:6.2f} (target <= {limit}) {'met' if value <= limit else 'NOT met'}")
if b is not None:
    check("startup b/c (stockade vs bubblewrap, same line)", b / c, 0.8)
check("startup a/c (default profile vs bubblewrap)", a / c, 1.0)
check("startup a/d (default profile vs unshare floor)", a / d, 1.5)
if reference_ran:
    print(f"  {'(section 6: the plan in C against unshare, f/d)':52} {parts[1] / floor:6.2f}")
    print(f"  {'(section 6: stockade against the plan in C, a/f)':52} {parts[0] / parts[1]:6.2f}")
check("peak memory a/c", int("$mem_a") / int("$mem_c"), 1.0)
check("throughput bubblewrap/stockade, sequential", $tp_bw_seq / $tp_st_seq, 0.8)
check("throughput bubblewrap/stockade, 2 parallel", $tp_bw_par / $tp_st_par, 0.8)
check("getppid overhead (ratio - 1)", $gp_in / $gp_out - 1, 0.02)
print(f"  {'(seccomp floor on this kernel: allow-all filter)':52} {$gp_bw_allow / $gp_bw - 1:6.2f}")
check("make -j2 overhead (ratio - 1)", $mk_in / $mk_out - 1, 0.02)
PY
