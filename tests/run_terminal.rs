//! `stockade run` under a job-control shell on a terminal: Ctrl-C, Ctrl-Z and `fg` must act on
//! the sandboxed job as they act on any other job, although the sandbox runs in a session of
//! its own (the terminal's signals reach only the launcher).

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous: the machine may be loaded.
const PATIENCE: Duration = Duration::from_secs(30);

/// A POSIX shell with job control (`set -m`) on a new pty that is its controlling terminal,
/// as an interactive shell would be; the test types into the terminal and reads the screen.
struct JobShell {
    shell: Child,
    master: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl JobShell {
    fn start(script: &str) -> JobShell {
        let master =
            nix::pty::posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)
                .unwrap();
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(nix::pty::ptsname_r(&master).unwrap())
            .unwrap()
            .into();
        let slave_fd = slave.as_raw_fd();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("set -m\n{script}")]);
        // SAFETY: sigaction, setsid, ioctl and dup2 are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                // A terminal's session starts with the default actions. A test run started
                // as an asynchronous list of a shell without job control (`cargo test &`)
                // inherits SIGINT and SIGQUIT ignored, and an ignored signal is dropped when
                // the terminal sends it: the shell and stockade would never see Ctrl-C.
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                for signal in [libc::SIGINT, libc::SIGQUIT] {
                    libc::sigaction(signal, &default, std::ptr::null_mut());
                }
                libc::setsid();
                if libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for fd in 0..3 {
                    libc::dup2(slave_fd, fd);
                }
                Ok(())
            });
        }
        let shell = cmd
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        drop(slave);
        // SAFETY: dup of our own descriptor, owned by the File.
        let master = unsafe {
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(libc::dup(master.as_raw_fd()))
        };
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = screen.clone();
        // Ends when the last process holding the terminal's slave side has gone (EIO).
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        JobShell {
            shell,
            master,
            screen,
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    #[track_caller]
    fn wait_for(&self, text: &str) {
        let start = Instant::now();
        while !self.screen().contains(text) {
            assert!(
                start.elapsed() < PATIENCE,
                "timed out waiting for {text:?} on the terminal:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_in(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }
}

impl Drop for JobShell {
    fn drop(&mut self) {
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

/// Host processes whose command line has `token` as an argument, with their state letter.
fn processes_with(token: &str) -> Vec<(u32, char)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == token.as_bytes())
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The state follows the command name's closing parenthesis.
        if let Some(state) = stat.rsplit_once(") ").and_then(|(_, s)| s.chars().next()) {
            found.push((pid, state));
        }
    }
    found
}

#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_leftovers(token: &str) {
    for (pid, _) in processes_with(token) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn stockade_line(flags: &str, command: &str) -> String {
    format!(
        "'{}' run {flags} -- sh -c '{command}'",
        stockade_bin().display()
    )
}

/// Ctrl-C interrupts the whole foreground job, not only its first process: a shell waiting for
/// its child gets SIGINT together with the child, so that `sleep` dies and the shell goes on.
#[test]
fn ctrl_c_reaches_every_process_of_the_foreground_command() {
    require_ordinary_user();
    for flags in ["", "--keep-session --seccomp off"] {
        let token = unique_sleep(1000);
        let command = format!("trap : INT; echo ready; sleep {token}; echo sleep-status $?");
        let mut shell = JobShell::start(&format!(
            "{}; echo stockade-status $?",
            stockade_line(flags, &command)
        ));
        shell.wait_for("ready");
        wait_until("the sandboxed sleep to start", || {
            !processes_with(&token).is_empty()
        });
        shell.type_in(b"\x03");
        shell.wait_for("stockade-status");
        let screen = shell.screen();
        kill_leftovers(&token);
        assert!(
            screen.contains("sleep-status 130\r\nstockade-status 0"),
            "{flags:?}: Ctrl-C did not reach the sleep:\n{screen}"
        );
    }
}

/// Ctrl-Z stops the whole job, sandbox included (a job that goes on running and printing
/// after the shell said "Stopped" is not stopped), and `fg` resumes all of it.
#[test]
fn ctrl_z_stops_the_sandboxed_job_and_fg_resumes_it() {
    require_ordinary_user();
    for flags in ["", "--keep-session --seccomp off"] {
        let token = unique_sleep(1000);
        let command = format!("echo ready; sleep {token}; echo resumed");
        let mut shell = JobShell::start(&format!(
            "{}\necho stopped-status $?\nread go\nfg >/dev/null\necho fg-status $?",
            stockade_line(flags, &command)
        ));
        shell.wait_for("ready");
        wait_until("the sandboxed sleep to start", || {
            processes_with(&token).iter().any(|&(_, s)| s == 'S')
        });
        shell.type_in(b"\x1a");
        // 148 = 128 + SIGTSTP: the shell saw stockade stop.
        shell.wait_for("stopped-status 148");
        let stopped = (|| {
            let start = Instant::now();
            while start.elapsed() < PATIENCE {
                let states = processes_with(&token);
                if !states.is_empty() && states.iter().all(|&(_, s)| s == 'T') {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(processes_with(&token))
        })();
        if let Err(states) = stopped {
            kill_leftovers(&token);
            panic!(
                "{flags:?}: after Ctrl-Z, processes of the job still run: {states:?}\n{}",
                shell.screen()
            );
        }
        shell.type_in(b"\n");
        wait_until("fg to resume the sandbox", || {
            let states = processes_with(&token);
            !states.is_empty() && states.iter().all(|&(_, s)| s != 'T')
        });
        shell.type_in(b"\x03");
        shell.wait_for("fg-status");
        let screen = shell.screen();
        kill_leftovers(&token);
        assert!(screen.contains("fg-status 130"), "{flags:?}:\n{screen}");
    }
}

/// Counts the SIGINTs it receives (a byte each on the wakeup pipe, written by the C-level
/// handler, so deliveries never merge in Python) until 2 s after the first.
const COUNT_SIGINTS: &str = "import os, signal, time
r, w = os.pipe()
os.set_blocking(w, False)
os.set_blocking(r, False)
signal.signal(signal.SIGINT, lambda *a: None)
signal.set_wakeup_fd(w)
print(\"ready\", flush=True)
n, first = 0, None
while first is None or time.time() - first < 2:
    time.sleep(0.05)
    try:
        n += len(os.read(r, 100))
    except BlockingIOError:
        pass
    if n and first is None:
        first = time.time()
print(\"deliveries\", n, flush=True)";

/// When the sandbox shares the caller's terminal (bwrap without --new-session, run with
/// --keep-session), the terminal signals the command itself: a launcher or init that passes
/// the same signal on delivers it twice, and a second Ctrl-C can break a program's cleanup.
#[test]
fn one_ctrl_c_is_one_sigint_when_the_sandbox_shares_the_terminal() {
    require_ordinary_user();
    if !have("python3") {
        return skip("python3 is needed to count signal deliveries");
    }
    let bin = stockade_bin();
    let bin = bin.display();
    for front in [
        format!("'{bin}' bwrap --ro-bind / / --dev /dev --unshare-pid --"),
        format!("'{bin}' bwrap --ro-bind / / --dev /dev --"),
        format!("'{bin}' run --keep-session --"),
    ] {
        let mut shell = JobShell::start(&format!("{front} python3 -c '{COUNT_SIGINTS}'"));
        shell.wait_for("ready");
        shell.type_in(b"\x03");
        shell.wait_for("deliveries");
        shell.wait_for("\n");
        let screen = shell.screen();
        assert!(
            screen.contains("deliveries 1\r\n"),
            "{front}: one Ctrl-C:\n{screen}"
        );
    }
}

/// `line` in a job-control shell, followed by what shows that the shell got its prompt back
/// (it reports the status and runs the next command it is given) and by `fg`.
fn stop_then_fg(line: &str) -> JobShell {
    JobShell::start(&format!(
        "{line}\necho stopped-status $?\nread go\necho next-command-ran\nfg >/dev/null\n\
         echo fg-status $?"
    ))
}

/// Checks, once the shell of [`stop_then_fg`] has seen the job stop, that the job stays
/// stopped (prints its "resumed" line only after `fg`) and that its status comes back.
#[track_caller]
fn resumes_only_with_fg(mut shell: JobShell, exit_status: i32) {
    // 148 = 128 + SIGTSTP: the shell saw stockade stop.
    shell.wait_for("stopped-status 148");
    shell.type_in(b"\n");
    shell.wait_for(&format!("fg-status {exit_status}"));
    let screen = shell.screen();
    // Whole lines: the shell may echo the command line, which has the words too.
    let resumed = screen.find("\nresumed\r");
    assert!(
        resumed.is_some() && resumed > screen.find("\nnext-command-ran\r"),
        "the job did not stay stopped until fg:\n{screen}"
    );
}

/// A command that stops itself with SIGSTOP stops stockade too, so that the caller's shell gets
/// its prompt back instead of waiting for ever; `fg` resumes it.
#[test]
fn a_command_that_stops_itself_stops_the_job_and_fg_resumes_it() {
    require_ordinary_user();
    let bin = stockade_bin();
    let bin = bin.display();
    let command = "echo ready; kill -STOP $$; echo resumed; exit 7";
    for front in [
        format!("'{bin}' run --"),
        format!("'{bin}' run --keep-session --seccomp off --"),
        // An init (pid namespace), and the command as stockade's own child.
        format!("'{bin}' bwrap --ro-bind / / --dev /dev --unshare-pid --new-session --"),
        format!("'{bin}' bwrap --ro-bind / / --dev /dev --"),
    ] {
        resumes_only_with_fg(stop_then_fg(&format!("{front} sh -c '{command}'")), 7);
    }
}

/// A raw-mode program (an editor, a pager) reads Ctrl-Z as a character and suspends itself:
/// it restores the terminal and sends SIGTSTP to its own process group. The sandboxed job must
/// stop as it would in the caller's shell: the kernel discards SIGTSTP in an orphaned process
/// group, and it used to do nothing at all.
#[test]
fn a_job_that_sends_itself_sigtstp_stops_and_fg_resumes_it() {
    require_ordinary_user();
    let bin = stockade_bin();
    let bin = bin.display();
    let line = format!("'{bin}' run -- sh -c 'echo ready; kill -TSTP 0; echo resumed'");
    resumes_only_with_fg(stop_then_fg(&line), 0);
    if !have("python3") {
        return skip("python3 is needed for the raw-mode program");
    }
    let editor = "import os, signal, sys, termios, tty
saved = termios.tcgetattr(0)
tty.setraw(0)
print(\"ready\", end=\"\\r\\n\", flush=True)
key = os.read(0, 1)
termios.tcsetattr(0, termios.TCSADRAIN, saved)
if key == b\"\\x1a\":
    os.kill(0, signal.SIGTSTP)
print(\"resumed\", flush=True)";
    let mut shell = stop_then_fg(&format!("'{bin}' run -- python3 -c '{editor}'"));
    shell.wait_for("ready");
    // In raw mode the terminal sends no signal: the program reads the byte.
    shell.type_in(b"\x1a");
    resumes_only_with_fg(shell, 0);
}

/// Ctrl-Z reaches the job as SIGTSTP, which a program may handle: an editor or a pager puts the
/// terminal back before it stops, and stops by raising SIGTSTP again. It was passed on as
/// SIGSTOP, which cannot be handled, so such a program stopped with the terminal in its modes.
#[test]
fn ctrl_z_lets_a_program_that_handles_sigtstp_tidy_up_before_it_stops() {
    require_ordinary_user();
    if !have("python3") {
        return skip("python3 is needed for the program that handles SIGTSTP");
    }
    let bin = stockade_bin();
    let pager = "import os, signal, time
done = False
def suspend(signo, frame):
    global done
    print(\"tidied up\", flush=True)
    signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTSTP)
    done = True
signal.signal(signal.SIGTSTP, suspend)
print(\"ready\", flush=True)
while not done:
    time.sleep(0.02)
print(\"resumed\", flush=True)";
    let mut shell = stop_then_fg(&format!("'{}' run -- python3 -c '{pager}'", bin.display()));
    shell.wait_for("ready");
    shell.type_in(b"\x1a");
    shell.wait_for("stopped-status 148");
    let screen = shell.screen();
    // The terminal echoes ^Z just before it.
    let tidied = screen.find("tidied up\r");
    assert!(
        tidied.is_some() && tidied < screen.find("stopped-status 148"),
        "the program's SIGTSTP handler did not run before the job stopped:\n{screen}"
    );
    resumes_only_with_fg(shell, 0);
}

/// `bg` continues a job that stopped itself in the background: the shell goes on at once, and
/// the job's status comes back to `wait`.
#[test]
fn bg_lets_a_job_that_stopped_itself_go_on_in_the_background() {
    require_ordinary_user();
    let command = "echo ready; kill -STOP $$; sleep 1; echo resumed; exit 4";
    let shell = JobShell::start(&format!(
        "{}\necho stopped-status $?\nbg >/dev/null\necho shell-went-on\nwait %1\n\
         echo bg-status $?",
        stockade_line("", command)
    ));
    shell.wait_for("bg-status 4");
    let screen = shell.screen();
    let line = |text: &str| screen.find(&format!("\n{text}\r"));
    assert!(
        screen.contains("stopped-status 148") && line("shell-went-on") < line("resumed"),
        "{screen}"
    );
}

/// TIOCSTI from a job of a job-control shell, with the seccomp filter off so that only the
/// session layout stands in the way. Such a job runs in the sandbox init's session (not one of
/// its own, so that its own stop signals work): that session has no controlling terminal
/// either, and the command, a process group leader, cannot start one to take the terminal.
/// The control, with the caller's session kept, shows that an injection would be seen: the
/// shell's next `read` gets the byte.
#[test]
fn a_shells_job_cannot_push_input_into_its_terminal() {
    require_ordinary_user();
    if !have("python3") {
        return skip("python3 is needed inside the sandbox to issue TIOCSTI");
    }
    if std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").is_ok_and(|s| s.trim() == "0") {
        return skip("dev.tty.legacy_tiocsti=0: the kernel refuses TIOCSTI to everyone here");
    }
    let attacker = "import fcntl, os, termios
try:
    fcntl.ioctl(0, termios.TIOCSTI, b\"Z\")
    print(\"tiocsti ok\", flush=True)
except OSError as e:
    print(\"tiocsti refused\", e.errno, flush=True)
try:
    os.setsid()
    print(\"setsid ok\", flush=True)
except OSError as e:
    print(\"setsid refused\", e.errno, flush=True)";
    let bin = stockade_bin();
    let bin = bin.display();
    for (flags, injects) in [
        ("--keep-session --seccomp off", true),
        ("--seccomp off", false),
    ] {
        let mut shell = JobShell::start(&format!(
            "'{bin}' run {flags} -- python3 -c '{attacker}'\nread got\necho \"got:$got.\""
        ));
        shell.wait_for("setsid ");
        shell.type_in(b"\n");
        shell.wait_for("got:");
        shell.wait_for(".\r\n");
        let screen = shell.screen();
        if injects {
            assert!(
                screen.contains("got:Z."),
                "control: no injection seen:\n{screen}"
            );
        } else {
            assert!(
                screen.contains("got:.")
                    && screen.contains("tiocsti refused 1")
                    && screen.contains("setsid refused 1"),
                "{flags}:\n{screen}"
            );
        }
    }
}
