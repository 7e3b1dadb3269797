//! Networking: `--net pasta` with `--publish`, the host's loopback through pasta's gateway
//! only with `--host-loopback`, and `--net none` reaching neither. Only loopback on the host,
//! addresses inside the sandbox's own namespace and a network namespace the test makes
//! itself are ever contacted.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Why pasta tests cannot run here, if they cannot.
fn pasta_unusable() -> Option<String> {
    if !have("pasta") {
        return Some("pasta is not installed (apt install passt)".into());
    }
    if !have("python3") {
        return Some("python3 is not installed (used as server and client)".into());
    }
    let c = std::ffi::CString::new("/dev/net/tun").unwrap();
    // SAFETY: access(2) with a valid NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) } != 0 {
        return Some(
            "/dev/net/tun is not read-write for this user (pasta needs it; distributions \
             make it 0666, this machine has it 0600)"
                .into(),
        );
    }
    None
}

/// A port that was free on the host's loopback a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server on the host's 127.0.0.1 that greets one client. Returns its port.
fn host_server(greeting: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.write_all(greeting.as_bytes());
        }
    });
    port
}

/// Python inside the sandbox: connect to HOST:PORT, print what arrives or the error's name.
const CLIENT: &str = r#"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
if host == "gateway":
    host = None
    for line in open("/proc/net/route").read().splitlines()[1:]:
        f = line.split()
        if f[1] == "00000000":
            host = socket.inet_ntoa(bytes.fromhex(f[2])[::-1])
    if host is None:
        print("no-route"); sys.exit(0)
try:
    s = socket.create_connection((host, port), timeout=3)
    print(s.recv(100).decode().strip())
except OSError as e:
    print(type(e).__name__)
"#;

/// Python inside the sandbox: listen on ADDR:PORT, say "ready", greet one client.
const SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
s.settimeout(5)
try:
    c, _ = s.accept()
    c.sendall(b"hello from inside\n")
    c.close()
except OSError:
    pass
"#;

fn client_inside(net: &str, host: &str, port: u16) -> std::process::Output {
    let port = port.to_string();
    stockade([
        "run", "--net", net, "--", "python3", "-c", CLIENT, host, &port,
    ])
    .output()
    .unwrap()
}

/// The host's default gateway, as the test sees it (pasta copies it into the sandbox).
fn host_gateway() -> Option<String> {
    let routes = std::fs::read_to_string("/proc/net/route").ok()?;
    routes.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) != Some(&"00000000") {
            return None;
        }
        let raw = u32::from_str_radix(f.get(2)?, 16).ok()?;
        Some(std::net::Ipv4Addr::from(raw.to_le_bytes()).to_string())
    })
}

/// Starts a server in a sandbox and waits until it listens. Returns the running stockade.
fn server_inside(extra: &[&str], addr: &str, port: u16) -> std::process::Child {
    let port = port.to_string();
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "python3", "-c", SERVER, addr, &port]);
    let mut child = stockade(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.trim() != "ready" {
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        panic!("server inside did not start: {line:?} {err}");
    }
    child
}

fn greet_from_host(port: u16) -> Result<String, std::io::Error> {
    let mut conn = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(3),
    )?;
    conn.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut got = String::new();
    conn.read_to_string(&mut got)?;
    Ok(got)
}

#[test]
fn published_port_reaches_a_server_inside() {
    if let Some(why) = pasta_unusable() {
        skip(&why);
        return;
    }
    let host_port = free_port();
    let publish = format!("127.0.0.1:{host_port}:8080");
    let mut child = server_inside(&["--net", "pasta", "--publish", &publish], "0.0.0.0", 8080);
    let got = greet_from_host(host_port);
    let status = child.wait().unwrap();
    assert_eq!(got.unwrap(), "hello from inside\n");
    assert_eq!(status.code(), Some(0));
}

/// A network the test makes for itself, in a user and network namespace (see
/// [`in_test_network`]): loopback up and a veth pair whose far end answers nobody, set as the
/// default route, so that pasta has an uplink and whatever it sends to the gateway
/// (198.51.100.1) leaves no machine.
const TEST_UPLINK: &str = r#"
ip link add v0 type veth peer name v1 && ip link set v1 up &&
ip addr add 198.51.100.2/24 dev v0 && ip link set v0 up && ip link set lo up &&
ip route add default via 198.51.100.1 || { echo "no-test-network"; exit 0; }
"#;

/// Runs `script` after [`TEST_UPLINK`] in a namespace of the test's own (`unshare` with
/// `unshare_flags`), with $STOCKADE and `env` set; its output, or why it cannot run here.
fn in_test_network(
    unshare_flags: &str,
    script: &str,
    env: &[(&str, &str)],
) -> Result<String, String> {
    if let Some(why) = pasta_unusable() {
        return Err(why);
    }
    if !have("unshare") || !have("ip") || !have("python3") {
        return Err("unshare, ip and python3 make the test's network and its servers".into());
    }
    let dir = TempDir::new("testnet");
    let out = std::process::Command::new("unshare")
        .args([unshare_flags, "sh", "-c", &format!("{TEST_UPLINK}{script}")])
        .current_dir(dir.path())
        .env("STOCKADE", stockade_bin())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let said = stdout(&out);
    if said.contains("no-test-network") {
        return Err(format!("cannot make the test's network: {}", stderr(&out)));
    }
    assert_status(&out, 0);
    Ok(said)
}

/// In the test's network: a listener on 127.0.0.1 (that namespace's loopback, standing for
/// the host's) reports whether anything connected, and `stockade run --net pasta EXTRA`
/// connects to the gateway address. Prints the client's line, then the listener's.
const GATEWAY_PROBE: &str = r#"
python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 47001)); s.listen(1); s.settimeout(6)
print("listening", flush=True)
try:
    c, _ = s.accept(); c.sendall(b"secret\n"); c.close(); print("listener: connected")
except OSError:
    print("listener: nobody came")
' > listener.out &
until grep -q listening listener.out 2>/dev/null; do sleep 0.05; done
"$STOCKADE" run --net pasta $EXTRA -- python3 -c '
import socket
try:
    s = socket.create_connection(("198.51.100.1", 47001), timeout=2)
    print("client:", s.recv(100).decode().strip())
except OSError as e:
    print("client:", type(e).__name__)
'
wait
grep listener: listener.out
"#;

fn probe_gateway(extra: &str) -> Result<String, String> {
    in_test_network("-Urn", GATEWAY_PROBE, &[("EXTRA", extra)])
}

/// pasta maps the gateway address to the host's loopback unless told not to: stockade tells
/// it, so an untrusted build given a network cannot use services that listen only on the
/// host's 127.0.0.1 (they trust whoever can connect).
#[test]
fn the_host_loopback_is_not_reached_through_the_pasta_gateway() {
    let said = match probe_gateway("") {
        Ok(said) => said,
        Err(why) => return skip(&why),
    };
    assert!(said.contains("listener: nobody came"), "{said}");
    assert!(!said.contains("secret"), "{said}");
    assert!(said.contains("client: "), "{said}");
}

#[test]
fn host_loopback_opens_the_host_loopback_at_the_gateway() {
    let said = match probe_gateway("--host-loopback") {
        Ok(said) => said,
        Err(why) => return skip(&why),
    };
    assert!(said.contains("client: secret"), "{said}");
    assert!(said.contains("listener: connected"), "{said}");
}

/// The test's network (with a mount namespace of its own too) gets a resolv.conf naming
/// $RESOLVER, and a resolver there that answers every A query with 192.0.2.77 (an address
/// other than loopback is added to the veth's far end, which makes it this namespace's own);
/// a program in `stockade run --net pasta` looks a name up.
const RESOLVER_PROBE: &str = r#"
case "$RESOLVER" in 127.*) ;; *) ip addr add "$RESOLVER/32" dev v1 ;; esac
printf 'nameserver %s\noptions edns0\nsearch example.test\n' "$RESOLVER" > resolv.conf
mount --bind resolv.conf /etc/resolv.conf || { echo "no-test-network"; exit 0; }
python3 -c '
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(8)
s.bind((os.environ["RESOLVER"], 53))
print("listening", flush=True)
try:
    while True:
        q, peer = s.recvfrom(512)
        question = q[12:q.index(b"\0", 12) + 5]
        a = question[-4:-2] == b"\0\1"
        answer = b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4" + bytes([192, 0, 2, 77]) if a else b""
        s.sendto(q[:2] + b"\x81\x80\0\1\0" + bytes([a]) + b"\0\0\0\0" + question + answer, peer)
except OSError:
    pass
' > resolver.out &
until grep -q listening resolver.out 2>/dev/null; do sleep 0.05; done
"$STOCKADE" run --net pasta -- python3 -c '
import socket
print(open("/etc/resolv.conf").read().replace("\n", ";"))
try:
    print("resolved:", socket.gethostbyname("pkg.example"))
except OSError as e:
    print("failed:", e)
'
"#;

/// Runs [`RESOLVER_PROBE`] with the resolver at `resolver` and checks that the name resolves
/// and that the sandbox's resolv.conf names `nameserver` with the host file's other lines.
fn lookup_through_pasta(resolver: &str, nameserver: &str) {
    let said = match in_test_network("-Urnm", RESOLVER_PROBE, &[("RESOLVER", resolver)]) {
        Ok(said) => said,
        Err(why) => return skip(&why),
    };
    assert!(said.contains("resolved: 192.0.2.77"), "{said}");
    let file = format!("nameserver {nameserver};options edns0;search example.test;");
    assert!(said.contains(&file), "{said}");
}

/// A host whose resolver listens on its own loopback (systemd-resolved's 127.0.0.53): the
/// sandbox's file names pasta's forward address instead.
#[test]
fn a_resolver_on_the_hosts_loopback_answers_through_pasta() {
    lookup_through_pasta("127.0.0.53", "169.254.1.1");
}

/// An ordinary resolver, off the host's loopback: the sandbox gets the host's file as it is,
/// and pasta passes its queries on. Debian 12's pasta stopped doing that when also asked to
/// forward DNS from its own address, which stockade did for every launch for a while.
#[test]
fn an_ordinary_resolver_answers_through_pasta() {
    lookup_through_pasta("198.51.100.53", "198.51.100.53");
}

#[test]
fn net_none_reaches_neither_the_host_nor_is_reached() {
    if !have("python3") {
        skip("python3 is not installed (used as server and client)");
        return;
    }
    // The host's loopback server is not the sandbox's loopback...
    let port = host_server("hello from host\n");
    let out = client_inside("none", "127.0.0.1", port);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "ConnectionRefusedError\n");
    // ...the gateway pasta would map is not routed at all...
    if let Some(gw) = host_gateway() {
        let out = client_inside("none", &gw, port);
        assert_status(&out, 0);
        let got = stdout(&out);
        assert!(got == "OSError\n" || got.ends_with("Error\n"), "{got}");
        assert_ne!(got, "hello from host\n");
    }
    // ...and a server inside is not on the host's loopback.
    let port = free_port();
    let mut child = server_inside(&["--net", "none"], "127.0.0.1", port);
    let got = greet_from_host(port);
    let _ = child.kill();
    let _ = child.wait();
    assert!(got.is_err(), "reached the sandbox from the host: {got:?}");
}

/// pasta's own diagnostics are not printed ahead of stockade's line: its last one becomes part
/// of that line (pasta first complained about syslog, then about the port, on two lines).
#[test]
fn a_pasta_failure_is_one_line_with_pastas_reason() {
    if let Some(why) = pasta_unusable() {
        skip(&why);
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{port}:8080");
    let out = run_sh(&["--net", "pasta", "--publish", &publish], "echo ran");
    assert_status(&out, 125);
    assert_eq!(stdout(&out), "", "the command must not run");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("stockade: --net pasta: pasta could not set up the sandbox's network: ")
            && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn pasta_errors_are_setup_errors() {
    let out = run_sh(&["--publish", "8080:80"], "true");
    assert_status(&out, 125);
    assert!(stderr(&out).contains("--publish needs --net pasta"));
    let out = run_sh(&["--host-loopback"], "true");
    assert_status(&out, 125);
    assert!(stderr(&out).contains("--host-loopback needs --net pasta"));
    let out = run_sh(&["--net", "pasta", "--publish", "80"], "true");
    assert_status(&out, 125);
    assert!(stderr(&out).contains("--publish 80"), "{}", stderr(&out));
    // Without pasta on PATH.
    let out = stockade(["run", "--net", "pasta", "--", "/bin/true"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_status(&out, 125);
    assert!(
        stderr(&out).contains("`pasta` is not installed"),
        "{}",
        stderr(&out)
    );
}
