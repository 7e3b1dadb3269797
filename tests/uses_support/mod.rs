//! Fixtures for the end-to-end "uses" tests (build, desktop, test profiles): sources fetched
//! from package registries and cached in the test user's cache directory (never in the
//! repository), a work directory under the real `$HOME`, an Xvfb server, a private session bus,
//! and a look at the host's process table.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

/// Whether the built-in (or installed) profile `name` exists in this build: the profiles
/// land separately, and a test of a missing profile says so instead of failing.
pub fn profile_available(name: &str) -> bool {
    common::stockade(["run", "--profile", name, "--dry-run", "--", "true"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The real home of the user running the tests.
pub fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
}

/// Where downloaded sources are kept between runs: `$STOCKADE_TEST_CACHE`, else
/// `~/.cache/stockade-tests`.
pub fn cache_dir() -> PathBuf {
    let dir = std::env::var_os("STOCKADE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/stockade-tests"));
    std::fs::create_dir_all(dir.join("src")).expect("creating the test cache");
    dir
}

/// A fresh directory under the real `$HOME` (where people keep their projects, so a profile
/// that hides `$HOME` must still show this one when it is the working directory), removed
/// when dropped.
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    pub fn new(tag: &str) -> WorkDir {
        let base = cache_dir().join("work");
        std::fs::create_dir_all(&base).expect("creating the work base");
        for n in 0..1000u32 {
            let path = base.join(format!("{tag}-{}-{n}", std::process::id()));
            if std::fs::create_dir(&path).is_ok() {
                return WorkDir(path);
            }
        }
        panic!("cannot create a work directory in {}", base.display());
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // Builds leave read-only files (autotools, cargo's registry copies): make them
        // removable first.
        let _ = Command::new("chmod")
            .args(["-R", "u+rwX"])
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a shell line on the host, returning (success, combined output).
pub fn host_sh(script: &str, cwd: &Path) -> (bool, String) {
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("running sh");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The source tree of Debian's `hello` (GNU hello, an autoconf C project), fetched with
/// `apt-get source` (needs a deb-src line, which `.ci/run` adds) and cached.
pub fn hello_source() -> Result<PathBuf, String> {
    let src = cache_dir().join("src");
    if let Some(dir) = find_dir(&src, "hello-") {
        return Ok(dir);
    }
    if !common::have("apt-get") || !common::have("dpkg-source") {
        return Err("apt-get source needs apt and dpkg-dev".into());
    }
    let (ok, out) = host_sh("apt-get source hello 2>&1", &src);
    match find_dir(&src, "hello-") {
        Some(dir) if ok => Ok(dir),
        _ => Err(format!(
            "cannot fetch Debian's hello source (is a deb-src line configured? .ci/run adds one): {}",
            out.lines().last().unwrap_or("")
        )),
    }
}

/// An sdist from PyPI (`pip download`), unpacked and cached.
pub fn pypi_sdist(name: &str, version: &str) -> Result<PathBuf, String> {
    let src = cache_dir().join("src");
    let dir = src.join(format!("{name}-{version}"));
    if dir.join("tests").is_dir() {
        return Ok(dir);
    }
    let tarball = src.join(format!("{name}-{version}.tar.gz"));
    if !tarball.exists() {
        let (ok, out) = host_sh(
            &format!(
                "python3 -m pip download --quiet --no-deps --no-binary :all: \
                 '{name}=={version}' -d . 2>&1"
            ),
            &src,
        );
        if !ok || !tarball.exists() {
            return Err(format!(
                "cannot download {name} {version} from PyPI: {}",
                out.lines().last().unwrap_or("")
            ));
        }
    }
    let (ok, out) = host_sh(&format!("tar xzf '{}'", tarball.display()), &src);
    if !ok {
        return Err(format!("unpacking {}: {out}", tarball.display()));
    }
    Ok(dir)
}

fn find_dir(parent: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
}

/// Copies a tree (cp -a), so each test builds in a fresh copy of the cached source.
pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("running cp");
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// Pids of host processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<i32> {
    processes_matching(|cmdline| cmdline.contains(marker))
}

/// Pids of host processes whose command line (arguments joined by spaces) passes `test`.
pub fn processes_matching(test: impl Fn(&str) -> bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if test(&text) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Polls `check` until it is true or `timeout` passes.
pub fn wait_for(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process killed (and reaped) when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether another X server holds the display of `lock` and `socket`: the lock file names a
/// live process, or the socket exists without a lock. A lock left by a server that was killed is free: Xvfb removes
/// it when it starts (without this, every killed server took a display number for good, and
/// after 140 of them the desktop tests skipped).
fn display_in_use(lock: &Path, socket: &Path) -> bool {
    match std::fs::read_to_string(lock) {
        Ok(text) => match text.trim().parse::<i32>() {
            Ok(pid) if pid > 0 => {
                // SAFETY: kill with signal 0 only checks that the process exists.
                let alive = unsafe { libc::kill(pid, 0) };
                alive == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
            }
            _ => true,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => socket.exists(),
        Err(_) => true,
    }
}

/// An Xvfb server on a free display with a fresh MIT-MAGIC-COOKIE (so clients need the
/// Xauthority file, as on a real desktop), with a black root window (so anything drawn shows).
pub struct Xvfb {
    pub display: String,
    pub xauthority: PathBuf,
    _server: Guard,
    _dir: common::TempDir,
}

impl Xvfb {
    pub fn start() -> Result<Xvfb, String> {
        for tool in ["Xvfb", "xauth", "mcookie"] {
            if !common::have(tool) {
                return Err(format!("{tool} is not installed (Debian: xvfb, xauth)"));
            }
        }
        let dir = common::TempDir::new("xvfb");
        let xauthority = dir.path().join("Xauthority");
        // The cookie goes into the -auth file before the server starts: the server reads the
        // file at start and at each reset, so a cookie added later would race with clients.
        // That needs the display number up front: take the first one without a lock file, and
        // the next when another server wins the race for it.
        for n in 60..200u32 {
            let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            if display_in_use(&lock, &socket) {
                continue;
            }
            let display = format!(":{n}");
            let _ = std::fs::remove_file(&xauthority);
            let (ok, out) = host_sh(
                &format!(
                    "xauth -f '{}' add '{display}' . \"$(mcookie)\" 2>&1",
                    xauthority.display()
                ),
                dir.path(),
            );
            if !ok {
                return Err(format!("xauth add: {out}"));
            }
            let server = Command::new("Xvfb")
                .arg(&display)
                .args(["-screen", "0", "640x480x24", "-nolisten", "tcp"])
                // -noreset: no reset (and no moment of refused connections) when the last
                // client leaves; -br: a black root window, so anything drawn shows.
                .args(["-noreset", "-br", "-auth"])
                .arg(&xauthority)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting Xvfb: {e}"))?;
            let mut server = Guard(server);
            let pid = server.0.id();
            // Ours only when the lock file names our server: another one that won the race
            // for this number has the socket too, but not our cookie.
            let ours = || {
                socket.exists()
                    && std::fs::read_to_string(&lock)
                        .is_ok_and(|l| l.trim().parse::<u32>() == Ok(pid))
            };
            wait_for(Duration::from_secs(10), || {
                ours() || matches!(server.0.try_wait(), Ok(Some(_)))
            });
            if ours() && matches!(server.0.try_wait(), Ok(None)) {
                return Ok(Xvfb {
                    display,
                    xauthority,
                    _server: server,
                    _dir: dir,
                });
            }
        }
        Err("Xvfb did not start on any display from :60 to :199 (is /tmp/.X11-unix there?)".into())
    }

    /// A host command with this display and cookie.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DISPLAY", &self.display)
            .env("XAUTHORITY", &self.xauthority)
            .stdin(Stdio::null());
        cmd
    }

    /// Window ids whose WM_CLASS matches `class` (xdotool search).
    pub fn windows_of_class(&self, class: &str) -> Vec<String> {
        self.command("xdotool")
            .args(["search", "--onlyvisible", "--class", class])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The root window as a PPM (xwd piped through ImageMagick), decoded to pixels.
    pub fn screenshot(&self, dir: &Path) -> Result<Vec<[u8; 3]>, String> {
        let file = dir.join("root.ppm");
        let out = self
            .command("import")
            .args(["-window", "root", "-depth", "8"])
            .arg(format!("ppm:{}", file.display()))
            .output()
            .map_err(|e| format!("import: {e}"))?;
        if !out.status.success() {
            return Err(format!("import: {}", String::from_utf8_lossy(&out.stderr)));
        }
        parse_ppm(&std::fs::read(&file).map_err(|e| e.to_string())?)
    }
}

impl Drop for Xvfb {
    /// SIGTERM first, so that the server removes its lock file and socket (the guard's SIGKILL
    /// would leave them behind); the guard kills it if it has not gone within two seconds.
    fn drop(&mut self) {
        let server = &mut self._server.0;
        // SAFETY: plain kill(2) to our own child, which has not been reaped yet.
        unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
        wait_for(Duration::from_secs(2), || {
            matches!(server.try_wait(), Ok(Some(_)))
        });
    }
}

/// A binary PPM (P6, maxval 255) as pixels.
pub fn parse_ppm(data: &[u8]) -> Result<Vec<[u8; 3]>, String> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while pos < data.len() && data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if data.get(pos) == Some(&b'#') {
            while pos < data.len() && data[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        while pos < data.len() && !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            return Err("truncated PPM header".into());
        }
        fields.push(String::from_utf8_lossy(&data[start..pos]).into_owned());
    }
    pos += 1;
    if fields[0] != "P6" || fields[3] != "255" {
        return Err(format!("unexpected PPM header {fields:?}"));
    }
    let pixels = &data[pos..];
    Ok(pixels.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
}

/// Variance of the grey level over all pixels: 0 for a blank screen.
pub fn grey_variance(pixels: &[[u8; 3]]) -> f64 {
    if pixels.is_empty() {
        return 0.0;
    }
    let grey: Vec<f64> = pixels
        .iter()
        .map(|p| (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0)
        .collect();
    let mean = grey.iter().sum::<f64>() / grey.len() as f64;
    grey.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / grey.len() as f64
}

/// A private session bus (`dbus-daemon --session`) for one test, stopped when dropped.
pub struct SessionBus {
    pub address: String,
    _daemon: Guard,
    // Declared after the daemon, so dropped after it is killed. The socket goes in here:
    // dbus-daemon's own default (unix:tmpdir=/tmp) leaves a socket file in /tmp for every
    // daemon killed, as the guard does.
    _dir: common::TempDir,
}

impl SessionBus {
    pub fn start() -> Result<SessionBus, String> {
        if !common::have("dbus-daemon") {
            return Err("dbus-daemon is not installed (Debian: dbus)".into());
        }
        let dir = common::TempDir::new("session-bus");
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:dir={}", dir.str()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting dbus-daemon: {e}"))?;
        let stdout = daemon.stdout.take().expect("piped stdout");
        let daemon = Guard(daemon);
        let mut address = String::new();
        BufReader::new(stdout)
            .read_line(&mut address)
            .map_err(|e| e.to_string())?;
        let address = address.trim().to_string();
        if address.is_empty() {
            return Err("dbus-daemon printed no address".into());
        }
        Ok(SessionBus {
            address,
            _daemon: daemon,
            _dir: dir,
        })
    }
}
