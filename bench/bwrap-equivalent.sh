#!/bin/sh
# Prints bubblewrap options equivalent to stockade's default filesystem and isolation:
# every namespace, /usr read-only with the host's top-level links, the same /etc files,
# /proc, /dev, a fresh /tmp, a read-only root, no capabilities, a new session.
args="--unshare-all --die-with-parent --new-session --cap-drop ALL --ro-bind /usr /usr"
for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
        args="$args --symlink $(readlink "/$d") /$d"
    elif [ -d "/$d" ]; then
        args="$args --ro-bind /$d /$d"
    fi
done
# The /etc entries are read from the default profile itself, so that the two cannot drift
# apart (plan.rs keeps a copy for the plan without profiles, tied to the profile by a test).
profile="$(dirname "$0")/../profiles/default.toml"
etc=$(sed -n 's|^ *{ type = "ro-bind", src = "\(/etc/[^"]*\)", try = true },$|\1|p' "$profile")
[ -n "$etc" ] || { echo "bwrap-equivalent.sh: no /etc entries found in $profile" >&2; exit 1; }
for f in $etc; do
    args="$args --ro-bind-try $f $f"
done
echo "$args --proc /proc --dev /dev --tmpfs /tmp --remount-ro /"
