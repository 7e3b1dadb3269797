# --- stockade "uses" (issue 6): setup that needs root, then dogfooding --------------------
# Part 1, as root before the tests (after apt-get install of ci-packages.txt):
if [ "$(id -u)" = 0 ]; then
    # deb-src for Debian 12, so the build test can `apt-get source hello` (GNU hello).
    if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ &&
        ! grep -qs '^deb-src ' /etc/apt/sources.list; then
        cat >/etc/apt/sources.list.d/stockade-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq
    fi
    # Xvfb run by an ordinary user cannot create the X11 socket directory (only the abstract
    # socket, which a sandbox with its own network namespace cannot reach).
    install -d -m 1777 /tmp/.X11-unix
fi

# Part 2, after `cargo test`: stockade's own unit tests, each test binary run by cargo through
# the `test` profile (as the unprivileged user when CI runs as root: .ci/as-user first).
echo "== dogfood: stockade's unit tests through stockade run --profile test as cargo's runner"
cargo build --quiet
stockade_bin="$PWD/target/debug/stockade"
runner="$stockade_bin run --profile test --"
if [ "$(id -u)" = 0 ]; then
    runner="$PWD/.ci/as-user $runner"
fi
if ! $runner true >/dev/null 2>&1; then
    echo "SKIPPED: dogfood: stockade run --profile test does not work here"
else
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$runner" \
        cargo test --lib --bins 2>&1 | tee /tmp/stockade-ci-dogfood.log
    dogfood_status=${PIPESTATUS[0]}
    if [ "$dogfood_status" != 0 ]; then
        echo "dogfood: unit tests failed under the test profile (status $dogfood_status)"
        exit "$dogfood_status"
    fi
fi
