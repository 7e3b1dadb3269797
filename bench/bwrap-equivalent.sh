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
for f in passwd group hosts host.conf nsswitch.conf resolv.conf gai.conf services protocols \
    localtime timezone ld.so.cache ld.so.conf ld.so.conf.d alternatives ssl ca-certificates \
    os-release locale.alias mime.types inputrc bash.bashrc profile environment magic gitconfig \
    pki crypto-policies; do
    args="$args --ro-bind-try /etc/$f /etc/$f"
done
echo "$args --proc /proc --dev /dev --tmpfs /tmp --remount-ro /"
