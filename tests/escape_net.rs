//! Escape suite, network (issue 8): listeners the test makes on the host's loopback (TCP and
//! UDP, IPv4 and IPv6), an abstract unix socket and a unix socket in the host's /tmp record
//! whatever arrives; the attacker (tests/attackers/net.py) tries to reach each from inside.
//! Only loopback and sockets this test made are ever contacted.

mod common;
mod escape_common;

use common::*;
use escape_common::*;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Host-side listeners that record which of them received the token.
struct Listeners {
    tcp4: u16,
    tcp6: Option<u16>,
    udp4: u16,
    udp6: Option<u16>,
    abstract_name: String,
    path: std::path::PathBuf,
    received: Arc<Mutex<Vec<&'static str>>>,
    _dir: TempDir,
}

impl Listeners {
    fn start(token: &str) -> Listeners {
        let received = Arc::new(Mutex::new(Vec::new()));
        let tcp4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp4_port = tcp4.local_addr().unwrap().port();
        let tcp6 = TcpListener::bind("[::1]:0").ok();
        let tcp6_port = tcp6.as_ref().map(|l| l.local_addr().unwrap().port());
        let udp4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp4_port = udp4.local_addr().unwrap().port();
        let udp6 = UdpSocket::bind("[::1]:0").ok();
        let udp6_port = udp6.as_ref().map(|s| s.local_addr().unwrap().port());
        let abstract_name = unique("abstract");
        let abs = UnixListener::bind_addr(
            &SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap(),
        )
        .unwrap();
        let dir = TempDir::new("unix-socket");
        let path = dir.path().join("host.sock");
        let unix = UnixListener::bind(&path).unwrap();

        fn serve_stream<L, S>(accept: L, done: impl Fn(Vec<u8>) + Send + 'static)
        where
            L: FnMut() -> std::io::Result<S> + Send + 'static,
            S: Read,
        {
            let mut accept = accept;
            std::thread::spawn(move || {
                while let Ok(mut s) = accept() {
                    let mut data = Vec::new();
                    let _ = s.read_to_end(&mut data);
                    done(data);
                }
            });
        }
        fn serve_dgram(sock: UdpSocket, done: impl Fn(Vec<u8>) + Send + 'static) {
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while let Ok((n, _)) = sock.recv_from(&mut buf) {
                    done(buf[..n].to_vec());
                }
            });
        }
        let r = received.clone();
        let tok = token.as_bytes().to_vec();
        let recorder = move |name: &'static str| {
            let r = r.clone();
            let tok = tok.clone();
            move |data: Vec<u8>| {
                if data.windows(tok.len()).any(|w| w == tok) {
                    r.lock().unwrap().push(name);
                }
            }
        };
        serve_stream(move || tcp4.accept().map(|(s, _)| s), recorder("tcp4"));
        if let Some(l) = tcp6 {
            serve_stream(move || l.accept().map(|(s, _)| s), recorder("tcp6"));
        }
        serve_dgram(udp4, recorder("udp4"));
        if let Some(s) = udp6 {
            serve_dgram(s, recorder("udp6"));
        }
        serve_stream(move || abs.accept().map(|(s, _)| s), recorder("abstract"));
        serve_stream(move || unix.accept().map(|(s, _)| s), recorder("unix-path"));
        Listeners {
            tcp4: tcp4_port,
            tcp6: tcp6_port,
            udp4: udp4_port,
            udp6: udp6_port,
            abstract_name,
            path,
            received,
            _dir: dir,
        }
    }

    fn args(&self, token: &str) -> Vec<String> {
        vec![
            token.to_string(),
            self.tcp4.to_string(),
            self.tcp6.unwrap_or(9).to_string(),
            self.udp4.to_string(),
            self.udp6.unwrap_or(9).to_string(),
            self.abstract_name.clone(),
            self.path.display().to_string(),
        ]
    }

    /// What arrived, after giving the listener threads a moment.
    fn received(&self) -> Vec<&'static str> {
        std::thread::sleep(Duration::from_millis(200));
        let mut r = self.received.lock().unwrap().clone();
        r.sort();
        r.dedup();
        r
    }
}

#[test]
fn host_loopback_and_unix_sockets_are_out_of_reach() {
    // Control: from the host the attacker reaches every listener.
    let token = unique("net");
    let listeners = Listeners::start(&token);
    let out = on_host(NET_ATTACKER, &listeners.args(&token));
    assert_finished(&out, "control");
    let got = listeners.received();
    let mut expected = vec!["abstract", "tcp4", "udp4", "unix-path"];
    if listeners.tcp6.is_some() {
        expected.push("tcp6");
    }
    if listeners.udp6.is_some() {
        expected.push("udp6");
    }
    expected.sort();
    assert_eq!(got, expected, "control:\n{}", stdout(&out));

    for_each_profile(|profile| {
        let token = unique("net");
        let listeners = Listeners::start(&token);
        let out = attack(profile, &[], NET_ATTACKER, &listeners.args(&token));
        assert_finished(&out, profile);
        let got = listeners.received();
        assert!(
            got.is_empty(),
            "{profile}: host listeners reached from the sandbox: {got:?}\n{}",
            stdout(&out)
        );
    });
}

#[test]
fn share_net_reaches_loopback_as_documented() {
    // Not an escape: `--net host` is documented to share the host's network (SECURITY.md).
    // This pins down what it exposes, so a change in that promise is noticed: loopback TCP/UDP
    // and abstract sockets (they belong to the network namespace), but still not the unix
    // socket in the host's /tmp, which is a file outside the binds.
    let token = unique("net-host");
    let listeners = Listeners::start(&token);
    let mut flags = vec!["--net", "host"];
    flags.extend(FILTERS_OFF);
    let out = attack("default", &flags, NET_ATTACKER, &listeners.args(&token));
    assert_finished(&out, "--net host");
    let got = listeners.received();
    assert!(
        got.contains(&"tcp4") && got.contains(&"abstract"),
        "{got:?}"
    );
    assert!(!got.contains(&"unix-path"), "{got:?}");
}
