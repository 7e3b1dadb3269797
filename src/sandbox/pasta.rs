//! `--net pasta`: user-mode networking for the sandbox's network namespace through `pasta`
//! (Debian's `passt` package).
//!
//! pasta must join the sandbox's user namespace from the *parent* one: a process can gain
//! capabilities in a user namespace only by entering it from its owner, and the launcher has
//! already moved into the new one by the time the sandbox's namespaces exist. So a small
//! starter is forked before `userns::enter`; once the sandbox child exists, the launcher sends
//! it the child's pid and the starter execs pasta for `/proc/PID/ns/{net,user}`.
//!
//! pasta runs in the foreground as the launcher's child, so stopping it is a plain kill and
//! wait. Readiness: pasta writes its pid file once the namespace is configured; the pid file
//! is the write end of a pipe (`/proc/self/fd/N`), so the launcher learns about it without a
//! temporary file, and an EOF without a pid means pasta gave up.

use std::ffi::CString;
use std::io::{Read, Seek, Write};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::error::Failure;
use crate::plan::{FsOp, NetMode, Plan};

/// One `--publish` forwarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub sandbox_port: u16,
    pub udp: bool,
}

/// `[HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|udp]`; an IPv6 HOST_IP is written in brackets.
pub fn parse_publish(spec: &str) -> Result<Publish> {
    let bad = |why: &str| anyhow!(Failure::setup(format!("--publish {spec}: {why}")));
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, p),
        None => (spec, "tcp"),
    };
    let udp = match proto {
        "tcp" => false,
        "udp" => true,
        _ => return Err(bad("the protocol must be tcp or udp")),
    };
    let (host_ip, ports) = split_host_ip(addr).map_err(|why| bad(&why))?;
    let (host, sandbox) = ports
        .split_once(':')
        .ok_or_else(|| bad("expected [HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|udp]"))?;
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad(&format!("{p:?} is not a port number (1-65535)")))
    };
    Ok(Publish {
        host_ip,
        host_port: port(host)?,
        sandbox_port: port(sandbox)?,
        udp,
    })
}

/// Splits off a leading host address: `[::1]:80:80`, `127.0.0.1:80:80`, or none in `80:80`.
fn split_host_ip(addr: &str) -> std::result::Result<(Option<IpAddr>, &str), String> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (ip, ports) = rest
            .split_once("]:")
            .ok_or("an IPv6 address needs the form [ADDR]:HOST_PORT:SANDBOX_PORT")?;
        let ip = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an address"))?;
        return Ok((Some(ip), ports));
    }
    match addr.matches(':').count() {
        1 => Ok((None, addr)),
        2 => {
            let (ip, ports) = addr.split_once(':').expect("two colons");
            let ip = ip
                .parse()
                .map_err(|_| format!("{ip:?} is not an address"))?;
            Ok((Some(ip), ports))
        }
        _ => Err("expected [HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|udp]".into()),
    }
}

impl Publish {
    /// pasta's spelling: `[ADDR/]PORT:TARGET`.
    fn pasta_spec(&self) -> String {
        let ip = self.host_ip.map(|ip| format!("{ip}/")).unwrap_or_default();
        format!("{ip}{}:{}", self.host_port, self.sandbox_port)
    }
}

/// The pasta binary on PATH, or the error that says how to get it.
pub fn find() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join("pasta"))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            anyhow!(Failure::setup(
                "--net pasta: `pasta` is not installed (it is in the `passt` package: \
apt install passt, dnf install passt)"
            ))
        })
}

/// pasta creates a tap device in the sandbox's namespace through /dev/net/tun, opened with
/// the caller's own permissions.
pub fn check_tun() -> Result<()> {
    let rw = nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK;
    nix::unistd::access("/dev/net/tun", rw).map_err(|e| {
        anyhow!(Failure::setup(format!(
            "--net pasta: /dev/net/tun is not usable by this user ({}); pasta needs it \
(distributions make it mode 0666; as root: chmod 0666 /dev/net/tun)",
            e.desc()
        )))
    })
}

fn is_executable(path: &std::path::Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    path.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

/// pasta's arguments, except the target namespaces (known only once the child exists).
fn arguments(
    publish: &[Publish],
    host_loopback: bool,
    forward_dns: bool,
    ready_fd: i32,
) -> Vec<String> {
    let mut args: Vec<String> = ["--config-net", "--quiet", "--foreground"]
        .map(String::from)
        .to_vec();
    args.extend(["--pid".into(), format!("/proc/self/fd/{ready_fd}")]);
    // Only the ports asked for: pasta's defaults would forward every port the sandbox binds to
    // the host (-t auto) and the host's loopback ports into the sandbox (-T auto).
    for (udp, flag) in [(false, "-t"), (true, "-u")] {
        let specs: Vec<String> = publish
            .iter()
            .filter(|p| p.udp == udp)
            .map(Publish::pasta_spec)
            .collect();
        if specs.is_empty() {
            args.extend([flag.into(), "none".into()]);
        }
        for spec in specs {
            args.extend([flag.into(), spec]);
        }
    }
    args.extend(["-T", "none", "-U", "none"].map(String::from));
    if forward_dns {
        args.extend(["--dns-forward".into(), DNS_FORWARD.into()]);
    }
    // pasta's default also turns connections to the gateway address into connections to the
    // host's loopback: every service that listens only there (databases, dev servers, CUPS,
    // debuggers), which trusts whoever can connect, would be the sandbox's to use.
    if !host_loopback {
        args.push("--no-map-gw".into());
    }
    args
}

/// Where the sandbox finds the host's resolver when the host's resolv.conf names one on the
/// host's loopback: pasta answers DNS queries sent here by asking that resolver. Link-local,
/// so no real server is hidden by it (podman's pasta setup uses the same address). Asked for
/// only then: with it, Debian 12's pasta no longer passes on queries sent to an ordinary
/// resolver (they time out).
const DNS_FORWARD: &str = "169.254.1.1";

const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The plan with a resolv.conf the sandbox can use, when the one it binds names a resolver on
/// the host's loopback (systemd-resolved's 127.0.0.53, a local dnsmasq or unbound): the
/// sandbox's loopback is its own, so every lookup would fail. None when nothing needs to change
/// (no pasta, no resolv.conf bound, or a first nameserver pasta reaches as it is), and when the
/// file could not be written there: under a bind of the host's /etc (or /), which is the
/// host's directory, read-only.
pub fn with_reachable_resolver(plan: &Plan) -> Option<Plan> {
    if !matches!(plan.net, NetMode::Pasta { .. }) {
        return None;
    }
    let resolv_conf = std::path::Path::new(RESOLV_CONF);
    let index = plan.fs.iter().rposition(|op| op.dest() == resolv_conf)?;
    let (FsOp::Bind { src, .. } | FsOp::Copy { src, .. }) = &plan.fs[index] else {
        return None;
    };
    let parent_is_the_hosts = plan.fs[..index].iter().any(|op| {
        matches!(
            op,
            FsOp::Bind { .. } | FsOp::BindFd { .. } | FsOp::Overlay { .. }
        ) && resolv_conf
            .parent()
            .is_some_and(|etc| etc.starts_with(op.dest()))
    });
    if parent_is_the_hosts {
        return None;
    }
    let contents = reachable_resolv_conf(&std::fs::read_to_string(src).ok()?)?;
    let mut plan = plan.clone();
    plan.fs[index] = FsOp::File {
        dest: RESOLV_CONF.into(),
        contents: contents.into_bytes(),
        mode: Some(0o644),
    };
    if let NetMode::Pasta { forward_dns, .. } = &mut plan.net {
        *forward_dns = true;
    }
    Some(plan)
}

/// `host`'s resolv.conf with its loopback nameservers replaced by [`DNS_FORWARD`], when the
/// first nameserver is on loopback (the one pasta forwards to); other lines are kept.
fn reachable_resolv_conf(host: &str) -> Option<String> {
    let nameserver = |line: &str| -> Option<IpAddr> {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next()?.parse().ok())
            .flatten()
    };
    if !host.lines().find_map(nameserver)?.is_loopback() {
        return None;
    }
    let mut out = String::new();
    let mut forwarded = false;
    for line in host.lines() {
        match nameserver(line) {
            // The host's other loopback resolvers are as unreachable as the first.
            Some(addr) if addr.is_loopback() && forwarded => continue,
            Some(addr) if addr.is_loopback() => {
                out.push_str(&format!("nameserver {DNS_FORWARD}\n"));
                forwarded = true;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Some(out)
}

/// The starter, forked before the launcher enters the new user namespace.
pub struct Starter {
    pid: Pid,
    pid_w: OwnedFd,
    ready_r: OwnedFd,
    /// pasta's stderr, kept for the one-line error when it fails (None with --verbose, where
    /// pasta writes to the caller's stderr).
    diagnostics: Option<OwnedFd>,
}

/// A running pasta; stopped when dropped.
pub struct Running {
    pid: Pid,
}

impl Starter {
    /// Forks the starter. It waits for the sandbox's pid, then execs pasta.
    pub fn fork(
        publish: &[String],
        host_loopback: bool,
        forward_dns: bool,
        verbose: bool,
    ) -> Result<Starter> {
        let program =
            CString::new(find()?.into_os_string().into_encoded_bytes()).context("pasta path")?;
        check_tun()?;
        let publish: Vec<Publish> = publish
            .iter()
            .map(|s| parse_publish(s))
            .collect::<Result<_>>()?;
        let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
        let (pid_r, pid_w) = nix::unistd::pipe2(cloexec).context("pipe for pasta")?;
        let (ready_r, ready_w) = nix::unistd::pipe2(cloexec).context("pipe for pasta")?;
        let base = arguments(&publish, host_loopback, forward_dns, ready_w.as_raw_fd());
        let diagnostics = match verbose {
            true => None,
            false => Some(memory_file()?),
        };
        // SAFETY: the launcher is single-threaded here, so the child may do anything.
        match unsafe { nix::unistd::fork() }.context("forking the pasta starter")? {
            nix::unistd::ForkResult::Child => {
                drop((pid_w, ready_r));
                if let Some(file) = &diagnostics {
                    // SAFETY: dup2 between descriptors this process owns.
                    unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) };
                }
                starter_main(&program, base, pid_r, ready_w)
            }
            nix::unistd::ForkResult::Parent { child } => Ok(Starter {
                pid: child,
                pid_w,
                ready_r,
                diagnostics,
            }),
        }
    }

    /// Points pasta at the sandbox `child` and waits until its network is configured.
    pub fn start(self, child: Pid) -> Result<Running> {
        let running = Running { pid: self.pid };
        let mut pid_w = std::fs::File::from(self.pid_w);
        pid_w
            .write_all(&child.as_raw().to_ne_bytes())
            .context("starting pasta")?;
        drop(pid_w);
        if !pid_line_arrives(self.ready_r) {
            let status = waitpid(running.pid, None);
            std::mem::forget(running);
            let said = match self.diagnostics {
                Some(file) => last_line(file).unwrap_or_else(|| "it gave no reason".into()),
                None => "its messages are above".into(),
            };
            bail!(
                "--net pasta: pasta could not set up the sandbox's network: {said} ({})",
                how_it_ended(status)
            );
        }
        Ok(running)
    }
}

/// An anonymous file for pasta's stderr: the launcher reads it only when pasta fails, and a
/// pipe nobody reads could fill and stall pasta while the sandbox runs.
fn memory_file() -> Result<OwnedFd> {
    // SAFETY: static name; the kernel returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"pasta-stderr".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("a file for pasta's messages");
    }
    // SAFETY: the descriptor was just created and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The last line pasta wrote (the one that says why it stopped; the lines before it are
/// about syslog and the like), shortened and with control characters escaped.
fn last_line(file: OwnedFd) -> Option<String> {
    let mut text = Vec::new();
    let mut file = std::fs::File::from(file);
    file.seek(std::io::SeekFrom::Start(0)).ok()?;
    file.take(64 * 1024).read_to_end(&mut text).ok()?;
    let text = String::from_utf8_lossy(&text);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let line: String = line.chars().take(200).collect();
    Some(crate::error::printable(line.trim_end_matches(", exiting")))
}

/// How pasta ended, for the error (its own diagnostics went to stderr before it).
fn how_it_ended(status: nix::Result<nix::sys::wait::WaitStatus>) -> String {
    use nix::sys::wait::WaitStatus;
    match status {
        Ok(WaitStatus::Exited(_, code)) => format!("it exited with status {code}"),
        Ok(WaitStatus::Signaled(_, signal, _)) => format!("it was killed by {signal}"),
        _ => "it could not be waited for".to_string(),
    }
}

/// pasta keeps its pid file open, so readiness is the first line, not EOF; EOF first means
/// pasta exited without configuring anything.
fn pid_line_arrives(ready: OwnedFd) -> bool {
    let mut file = std::fs::File::from(ready);
    let mut byte = [0u8; 1];
    let mut digits = 0;
    while let Ok(1) = file.read(&mut byte) {
        if byte[0] == b'\n' {
            return digits > 0;
        }
        digits += 1;
    }
    digits > 0
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGTERM);
        let _ = waitpid(self.pid, None);
    }
}

/// The starter's life: die with the launcher, read the sandbox pid, exec pasta.
fn starter_main(program: &CString, mut args: Vec<String>, pid_r: OwnedFd, ready_w: OwnedFd) -> ! {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let mut bytes = [0u8; 4];
    if std::fs::File::from(pid_r).read_exact(&mut bytes).is_err() {
        // The launcher gave up before the sandbox existed.
        // SAFETY: _exit from a forked child runs none of the parent's exit handlers.
        unsafe { libc::_exit(0) }
    }
    let pid = i32::from_ne_bytes(bytes);
    args.extend([
        "--netns".into(),
        format!("/proc/{pid}/ns/net"),
        "--userns".into(),
        format!("/proc/{pid}/ns/user"),
    ]);
    // pasta writes its pid here once the namespace is configured: it must survive exec.
    // SAFETY: fcntl on a descriptor this process owns; no memory is passed.
    unsafe { libc::fcntl(ready_w.as_raw_fd(), libc::F_SETFD, 0) };
    // Rust's runtime ignores SIGPIPE; pasta refuses to start when it finds it ignored already.
    // SAFETY: SIG_DFL installs no handler code.
    let _ =
        unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
    let mut argv: Vec<CString> = vec![CString::new("pasta").expect("no NUL")];
    argv.extend(args.into_iter().filter_map(|a| CString::new(a).ok()));
    let err = nix::unistd::execv(program, &argv).unwrap_err();
    eprintln!("cannot execute pasta: {}", err.desc());
    // SAFETY: as above.
    unsafe { libc::_exit(127) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_resolv_conf_is_replaced_only_where_a_file_can_be_written() {
        let dir = std::env::temp_dir().join(format!("stockade-resolv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let host = dir.join("resolv.conf");
        std::fs::write(&host, "nameserver 127.0.0.53\n").unwrap();
        let bind = |src: &std::path::Path, dest: &str| FsOp::Bind {
            src: src.into(),
            dest: dest.into(),
            mode: crate::plan::BindMode::ReadOnly,
            optional: true,
        };
        let pasta = NetMode::Pasta {
            publish: Vec::new(),
            host_loopback: false,
            forward_dns: false,
        };
        let plan = |net: NetMode, fs: Vec<FsOp>| Plan {
            net,
            fs,
            ..Plan::default()
        };
        let usual = plan(pasta.clone(), vec![bind(&host, "/etc/resolv.conf")]);
        let changed = with_reachable_resolver(&usual).unwrap();
        assert_eq!(
            changed.fs,
            vec![FsOp::File {
                dest: "/etc/resolv.conf".into(),
                contents: b"nameserver 169.254.1.1\n".to_vec(),
                mode: Some(0o644),
            }]
        );
        assert!(matches!(
            changed.net,
            NetMode::Pasta {
                forward_dns: true,
                ..
            }
        ));
        let under_hosts_etc = plan(
            pasta,
            vec![
                bind(std::path::Path::new("/etc"), "/etc"),
                bind(&host, "/etc/resolv.conf"),
            ],
        );
        assert_eq!(with_reachable_resolver(&under_hosts_etc), None);
        let no_pasta = plan(NetMode::None, vec![bind(&host, "/etc/resolv.conf")]);
        assert_eq!(with_reachable_resolver(&no_pasta), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_loopback_resolver_is_reached_through_pastas_forward_address() {
        let stub =
            "# systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        assert_eq!(
            reachable_resolv_conf(stub).unwrap(),
            "# systemd-resolved\nnameserver 169.254.1.1\noptions edns0 trust-ad\nsearch lan\n"
        );
        let mixed = "nameserver ::1\nnameserver 127.0.0.1\nnameserver 192.0.2.53\n";
        assert_eq!(
            reachable_resolv_conf(mixed).unwrap(),
            "nameserver 169.254.1.1\nnameserver 192.0.2.53\n"
        );
        // pasta reaches these as they are.
        for usable in [
            "nameserver 10.255.255.53\n",
            "nameserver 192.0.2.53\nnameserver 127.0.0.53\n",
            "search lan\n",
            "",
        ] {
            assert_eq!(reachable_resolv_conf(usable), None, "{usable:?}");
        }
    }

    #[test]
    fn publish_specs() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_port, p.sandbox_port, p.udp),
            (None, 8080, 80, false)
        );
        let p = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert!(p.udp);
        assert_eq!(p.pasta_spec(), "127.0.0.1/8080:80");
        let p = parse_publish("[::1]:53:5353/udp").unwrap();
        assert_eq!(p.host_ip, Some("::1".parse().unwrap()));
        for bad in [
            "80",
            "a:80",
            "1:2:3:4",
            "0:80",
            "80:80/sctp",
            "x.y:1:2",
            "[::1:1:2",
        ] {
            let err = parse_publish(bad).unwrap_err().to_string();
            assert!(err.starts_with("--publish "), "{bad}: {err}");
        }
    }

    #[test]
    fn only_published_ports_are_forwarded() {
        let publish = [parse_publish("127.0.0.1:8080:80").unwrap()];
        let args = arguments(&publish, false, false, 9).join(" ");
        assert!(args.contains("-t 127.0.0.1/8080:80"), "{args}");
        assert!(args.contains("-u none"), "{args}");
        assert!(args.contains("-T none -U none"), "{args}");
        assert!(args.contains("--pid /proc/self/fd/9"), "{args}");
        assert!(args.contains("--no-map-gw"), "{args}");
        assert!(!args.contains("--dns-forward"), "{args}");
        let args = arguments(&[], true, true, 9).join(" ");
        assert!(!args.contains("--no-map-gw"), "{args}");
        assert!(args.contains("--dns-forward 169.254.1.1"), "{args}");
    }
}
