# Part of .ci/run (to be sourced, POSIX sh): when CI runs as root, give the unprivileged test
# user what the limit and network tests need, the way a desktop session has it:
#   stockade_ci_cgroup   a delegated cgroup v2 subtree ($STOCKADE_CI_CGROUP) with the memory,
#                        pids and cpu controllers, owned by the test user, with this shell (and
#                        so every test binary it starts) inside it;
#   stockade_ci_tun      /dev/net/tun usable by ordinary users (mode 0666, the usual default),
#                        which pasta needs for --net pasta.
# Each prints why it did nothing when the machine cannot provide it; the tests then skip with
# a "SKIPPED:" line of their own. stockade_ci_cgroup_cleanup undoes the cgroup part.
#
# Layout made (under the cgroup2 mount M, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified):
#   M/stockade-ci          owned by the user; controllers enabled for its children; no processes
#   M/stockade-ci/runner   owned by the user; this shell and the tests run here
# stockade, run by a test, finds its own cgroup (runner) unable to enable controllers (it has
# processes) and uses the nearest writable ancestor, stockade-ci, for the sandbox's cgroup.

stockade_ci_cgroup() {
    _user="${STOCKADE_TEST_USER:-tester}"
    if [ "$(id -u)" != 0 ]; then
        echo "ci: not root: cannot create a delegated cgroup; cgroup limit tests will skip"
        return 0
    fi
    # The mount point of the cgroup2 hierarchy: the field after "cgroup2" on the right side
    # of " - " is the source; the mount point is field 5 on the left side.
    _mnt=$(sed -n 's/^[0-9]* [0-9]* [0-9:]* [^ ]* \([^ ]*\) .* - cgroup2 .*/\1/p' /proc/self/mountinfo | head -n 1)
    if [ -z "$_mnt" ]; then
        echo "ci: no cgroup2 mount in /proc/self/mountinfo; cgroup limit tests will skip"
        return 0
    fi
    for _c in memory pids cpu; do
        if ! grep -qw "$_c" "$_mnt/cgroup.controllers"; then
            echo "ci: controller $_c is not available in $_mnt/cgroup.controllers" \
                "($(cat "$_mnt/cgroup.controllers")); it is probably bound to a cgroup v1" \
                "hierarchy (see /proc/cgroups); cgroup limit tests will skip"
            return 0
        fi
    done
    # Enabling controllers for children fails while a non-root cgroup has processes (inside a
    # container with its own cgroup namespace, M is such a cgroup): move them to a leaf first.
    if ! echo "+memory +pids +cpu" >"$_mnt/cgroup.subtree_control" 2>/dev/null; then
        mkdir -p "$_mnt/ci-init"
        while read -r _p; do
            echo "$_p" >"$_mnt/ci-init/cgroup.procs" 2>/dev/null
        done <"$_mnt/cgroup.procs"
        if ! echo "+memory +pids +cpu" >"$_mnt/cgroup.subtree_control"; then
            echo "ci: cannot enable memory, pids and cpu in $_mnt/cgroup.subtree_control;" \
                "cgroup limit tests will skip"
            return 0
        fi
    fi
    _d="$_mnt/stockade-ci"
    mkdir -p "$_d/runner" || return 0
    echo "+memory +pids +cpu" >"$_d/cgroup.subtree_control" || return 0
    for _f in "" /cgroup.procs /cgroup.subtree_control /cgroup.threads \
        /runner /runner/cgroup.procs /runner/cgroup.subtree_control /runner/cgroup.threads; do
        chown "$_user" "$_d$_f" || return 0
    done
    echo $$ >"$_d/runner/cgroup.procs" || return 0
    STOCKADE_CI_CGROUP="$_d"
    STOCKADE_CI_CGROUP_MOUNT="$_mnt"
    export STOCKADE_CI_CGROUP STOCKADE_CI_CGROUP_MOUNT
    echo "ci: delegated cgroup v2 subtree $_d (memory pids cpu) for $_user"
}

stockade_ci_cgroup_cleanup() {
    [ -n "${STOCKADE_CI_CGROUP:-}" ] || return 0
    echo $$ >"$STOCKADE_CI_CGROUP_MOUNT/cgroup.procs" 2>/dev/null ||
        echo $$ >"$STOCKADE_CI_CGROUP_MOUNT/ci-init/cgroup.procs" 2>/dev/null
    # Sandboxes remove their own cgroups; anything left is a bug worth seeing in the log.
    for _left in "$STOCKADE_CI_CGROUP"/stockade-*; do
        [ -d "$_left" ] && echo "ci: sandbox cgroup left behind: $_left"
        [ -d "$_left" ] && rmdir "$_left"
    done
    rmdir "$STOCKADE_CI_CGROUP/runner" "$STOCKADE_CI_CGROUP" 2>/dev/null
    return 0
}

stockade_ci_tun() {
    if [ ! -c /dev/net/tun ]; then
        echo "ci: no /dev/net/tun; pasta tests will skip"
        return 0
    fi
    if [ "$(id -u)" = 0 ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
        chmod 0666 /dev/net/tun && echo "ci: /dev/net/tun made 0666 for pasta"
    fi
    return 0
}
