//! `stockade run`: processes, signals, exit statuses, descriptors, the terminal (issue 2).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn exit_statuses_follow_the_command_and_the_conventions() {
    let cases: &[(&[&str], i32)] = &[
        (&["true"], 0),
        (&["sh", "-c", "exit 3"], 3),
        (&["sh", "-c", "kill -9 $$"], 137),
        (&["sh", "-c", "kill -15 $$"], 143),
        (&["/etc/passwd"], 126),
        (&["/usr"], 126),
        (&["no-such-command-anywhere"], 127),
        (&["/no/such/path"], 127),
    ];
    for (command, expected) in cases {
        let mut args = vec!["run", "--"];
        args.extend_from_slice(command);
        let out = stockade(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(*expected),
            "{command:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn exec_failures_say_which_command_and_why_in_one_line() {
    let out = stockade(["run", "--", "no-such-command-anywhere"])
        .output()
        .unwrap();
    assert_status(&out, 127);
    assert_eq!(
        stderr(&out),
        "stockade: no-such-command-anywhere: No such file or directory\n"
    );
    let out = stockade(["run", "--", "/etc/passwd"]).output().unwrap();
    assert_status(&out, 126);
    assert_eq!(stderr(&out), "stockade: /etc/passwd: Permission denied\n");
}

/// All host processes whose command line contains `token`.
fn host_processes_with(token: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(token) {
                found.push(pid);
            }
        }
    }
    found
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the `sleep` itself runs (the wrapper shell's command line holds the token too).
fn sandboxed_sleep_running(token: &str) -> bool {
    host_processes_with(token)
        .iter()
        .any(|&p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c == "sleep\n"))
}

#[test]
fn nothing_of_the_sandbox_remains_after_it_exits() {
    let token = unique_sleep(1000);
    let out = run_sh(
        &[],
        &format!("sleep {token} & sleep {token} & echo started"),
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "started\n");
    wait_until("background sleeps to die", Duration::from_secs(3), || {
        host_processes_with(&token).is_empty()
    });
}

#[test]
fn nothing_remains_after_the_command_is_sigkilled() {
    let token = unique_sleep(1000);
    let out = run_sh(&[], &format!("sleep {token} & kill -9 $$"));
    assert_status(&out, 137);
    wait_until("leftover sleep to die", Duration::from_secs(3), || {
        host_processes_with(&token).is_empty()
    });
}

#[test]
fn orphaned_grandchildren_are_reaped() {
    // The inner shell exits at once, orphaning its sleep onto PID 1; once the sleep ends it must
    // not stay a zombie.
    let out = run_sh(
        &[],
        "sh -c 'sleep 0.2 & exit 0'; sleep 0.6; \
         for s in /proc/[0-9]*/stat; do cut -d' ' -f3 \"$s\"; done | grep -c Z || true",
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out).trim(), "0", "zombies left: {}", stdout(&out));
}

#[test]
fn sigterm_to_stockade_reaches_the_command() {
    let mut child = stockade([
        "run",
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(42));
}

/// Starts `stockade run FLAGS -- sleep TOKEN` under a wrapper shell, waits until the sleep
/// runs, then SIGKILLs the wrapper: stockade's parent. The shell waits for stockade, so
/// stockade is not reparented before the kill.
fn sigkill_the_parent_of_a_sandboxed_sleep(flags: &[&str], token: &str) {
    let mut parent = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "'{}' run {} -- sleep {token}; echo unreachable",
                stockade_bin().display(),
                flags.join(" ")
            ),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the sandboxed sleep to start",
        Duration::from_secs(5),
        || sandboxed_sleep_running(token),
    );
    parent.kill().unwrap();
    parent.wait().unwrap();
}

#[test]
fn killing_stockades_parent_kills_the_sandbox() {
    let token = unique_sleep(1000);
    sigkill_the_parent_of_a_sandboxed_sleep(&[], &token);
    wait_until(
        "the sandbox to die with its caller",
        Duration::from_secs(3),
        || host_processes_with(&token).is_empty(),
    );
}

#[test]
fn no_die_with_parent_lets_the_sandbox_outlive_its_caller() {
    let token = unique_sleep(1000);
    sigkill_the_parent_of_a_sandboxed_sleep(&["--no-die-with-parent"], &token);
    std::thread::sleep(Duration::from_millis(300));
    let left = host_processes_with(&token);
    assert!(!left.is_empty(), "the sandbox died although asked not to");
    for pid in left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Opens the host's `/` as a directory and moves it to descriptor `target` in the child,
/// without close-on-exec: the leak a careless caller makes.
fn leak_root_fd(cmd: &mut std::process::Command, target: i32) {
    // SAFETY: the closure only calls async-signal-safe functions (open, dup2, close).
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(c"/".as_ptr().cast(), libc::O_RDONLY | libc::O_DIRECTORY);
            if fd < 0 || libc::dup2(fd, target) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
}

#[test]
fn inherited_descriptors_are_closed_unless_kept() {
    let script =
        "ls /proc/self/fd | tr '\\n' ' '; ls /proc/self/fd/7/ 2>/dev/null | head -3 | wc -l";
    let mut cmd = stockade(["run", "--", "sh", "-c", script]);
    leak_root_fd(&mut cmd, 7);
    let out = cmd.output().unwrap();
    assert_status(&out, 0);
    let text = stdout(&out);
    // ls itself opens one descriptor for the directory it lists.
    assert!(
        !text.split_whitespace().any(|f| f == "7"),
        "fd 7 leaked: {text}"
    );
    assert!(text.trim_end().ends_with('0'), "{text}");

    let mut cmd = stockade(["run", "--keep-fd", "7", "--", "sh", "-c", script]);
    leak_root_fd(&mut cmd, 7);
    let out = cmd.output().unwrap();
    assert_status(&out, 0);
    assert!(
        stdout(&out).split_whitespace().any(|f| f == "7"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn keep_fd_that_is_not_open_is_a_setup_error() {
    let out = stockade(["run", "--keep-fd", "77", "--", "true"])
        .output()
        .unwrap();
    assert_status(&out, 125);
    assert_eq!(
        stderr(&out),
        "stockade: --keep-fd 77: not an open file descriptor\n"
    );
}

/// Runs stockade on a new pty as its controlling terminal and returns what the sandboxed
/// python printed for a TIOCSTI attempt, plus whether the byte arrived in the terminal's input.
fn tiocsti_attempt(extra: &[&str]) -> (String, bool) {
    let script = "import fcntl, termios\n\
try:\n    fcntl.ioctl(0, termios.TIOCSTI, b'Z'); print('injected', flush=True)\n\
except OSError as e:\n    print('refused', e.errno, flush=True)\n";
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "python3", "-c", script]);
    let (out, injected) = on_a_terminal(stockade(args), b'Z');
    (stdout(&out), injected)
}

#[test]
fn tiocsti_cannot_push_input_into_the_callers_terminal() {
    if !have("python3") {
        return skip("python3 is needed inside the sandbox to issue TIOCSTI");
    }
    if std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").is_ok_and(|s| s.trim() == "0") {
        return skip("dev.tty.legacy_tiocsti=0: the kernel refuses TIOCSTI to everyone here");
    }
    // Control: with the caller's session kept and no filter, the injection works, which proves
    // the test can see one.
    let (printed, injected) = tiocsti_attempt(&["--keep-session", "--seccomp", "off"]);
    assert_eq!(
        printed.trim(),
        "injected",
        "control run could not inject: {printed}"
    );
    assert!(injected, "control run: the byte never reached the terminal");

    let (printed, injected) = tiocsti_attempt(&[]);
    assert!(printed.starts_with("refused"), "{printed}");
    assert!(!injected, "TIOCSTI reached the caller's terminal");
}

/// The command's seccomp filter and rlimits are set up by a child that shares PID 1's memory
/// until its exec (as posix_spawn does): they must still be the command's alone, not PID 1's,
/// which has to go on reaping and forwarding signals.
#[test]
fn the_commands_filter_and_limits_stay_off_pid_1() {
    let out = stockade([
        "run",
        "--rlimit",
        "nofile=64",
        "--",
        "sh",
        "-c",
        "for p in 1 self; do grep -h '^Seccomp:' /proc/$p/status; \
         awk '/^Max open files/ {print $4}' /proc/$p/limits; done",
    ])
    .output()
    .unwrap();
    assert_status(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    // PID 1: no filter (mode 0) and the caller's open-files limit.
    assert_eq!(lines[0], "Seccomp:\t0", "{text}");
    assert_ne!(lines[1], "64", "{text}");
    // The command: filtered (mode 2), with the limit asked for.
    assert_eq!(lines[2], "Seccomp:\t2", "{text}");
    assert_eq!(lines[3], "64", "{text}");
}

/// Starts `stockade ARGS` with the write end of a new pipe as its descriptor 7 (inherited, as a
/// caller passes one), and returns whether the read end saw EOF while the sandbox still ran:
/// that is, whether stockade's own processes let go of the descriptor once the command had.
fn pipe_reaches_eof_while_the_sandbox_runs(args: &[&str]) -> bool {
    use std::os::fd::AsRawFd;
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let write_fd = write.as_raw_fd();
    let mut cmd = stockade(args);
    // SAFETY: dup2 is async-signal-safe; the copy on 7 is inherited, the original is not.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(write_fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    drop(write);
    // The command says when it has closed its copy (or never had one).
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "started\n", "{args:?}");
    let mut poll = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&read),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(10_000u16)).unwrap();
    let running = child.try_wait().unwrap().is_none();
    // Passed on to the command (SIGKILL would leave it running where there is no pid
    // namespace).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    child.wait().unwrap();
    ready == 1 && running
}

/// A descriptor the caller passed belongs to the command alone: once the command has closed
/// it (or never got it), the reader on the other end must see EOF, not wait for the sandbox to
/// end because the launcher or init still hold a copy. bubblewrap's launcher and init close
/// them too.
#[test]
fn stockade_holds_no_copy_of_the_callers_descriptors() {
    let token = unique_sleep(1000);
    let not_given = format!("echo started; exec sleep {token}");
    let closed = format!("exec 7>&-; echo started; exec sleep {token}");
    let cases: Vec<Vec<&str>> = vec![
        vec!["run", "--", "sh", "-c", &not_given],
        vec!["run", "--keep-fd", "7", "--", "sh", "-c", &closed],
        vec![
            "run",
            "--keep-session",
            "--keep-fd",
            "7",
            "--",
            "sh",
            "-c",
            &closed,
        ],
        // bwrap mode passes inherited descriptors on: with an init, and without.
        vec![
            "bwrap",
            "--ro-bind",
            "/",
            "/",
            "--unshare-pid",
            "--",
            "sh",
            "-c",
            &closed,
        ],
        vec!["bwrap", "--ro-bind", "/", "/", "--", "sh", "-c", &closed],
    ];
    let mut held = Vec::new();
    for args in &cases {
        if !pipe_reaches_eof_while_the_sandbox_runs(args) {
            held.push(args.join(" "));
        }
    }
    wait_until("the sleeps to end", Duration::from_secs(10), || {
        host_processes_with(&token).is_empty()
    });
    assert!(held.is_empty(), "the descriptor stayed open in:\n{held:#?}");
}

/// A caller without job control (a daemon, a script started with setsid: its process group is
/// orphaned) could never continue a stopped job, and outside a sandbox the kernel discards the
/// stop signals such a job raises itself (SIGTSTP, SIGTTIN, SIGTTOU). In the sandbox it must
/// be the same, and stockade must not stop either: its caller would wait for ever.
#[test]
fn without_job_control_a_jobs_own_stop_signals_are_discarded_as_outside() {
    let script =
        "kill -TSTP $$; sh -c 'kill -TTIN $$; kill -TTOU $$; echo child-went-on'; echo went-on";
    let mut outside = std::process::Command::new("sh");
    outside.args(["-c", script]);
    let inside = stockade(["run", "--", "sh", "-c", script]);
    for (what, mut cmd) in [("outside (control)", outside), ("in the sandbox", inside)] {
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            })
        };
        let out = finish(cmd, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
        assert_eq!(stdout(&out), "child-went-on\nwent-on\n", "{what}");
    }
}

/// wait(2) with WUNTRACED on `pid` until it stops or ends, polled so that a hang fails the test.
fn wait_stopped_or_ended(pid: nix::unistd::Pid) -> nix::sys::wait::WaitStatus {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let start = Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED)).unwrap() {
            WaitStatus::StillAlive => {}
            status => return status,
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "stockade neither stopped nor ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// stockade as a job of a job-control shell: a process group of its own, whose parent (this
/// test) is in the same session, so that the group is not orphaned.
fn as_a_shells_job(args: &[&str]) -> (std::process::Child, nix::unistd::Pid) {
    let child = stockade(args)
        .process_group(0)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    (child, pid)
}

/// With a caller that could continue it, a job that stops itself stops stockade too, as the
/// caller's wait(2) shows (so a shell gets its prompt back), and SIGCONT to stockade resumes
/// the job, whose status comes back.
#[test]
fn a_job_that_stops_itself_stops_stockade_for_a_caller_with_job_control() {
    use nix::sys::wait::WaitStatus;
    for stop in [
        "kill -STOP $$",
        "kill -STOP 0",
        "kill -TSTP $$",
        "kill -TTIN 0",
    ] {
        let script = format!("{stop}; echo went-on; exit 5");
        let (mut child, pid) = as_a_shells_job(&["run", "--", "sh", "-c", &script]);
        let stopped = wait_stopped_or_ended(pid);
        // The launcher stops with the job's own stop signal; SIGSTOP is taken as SIGTSTP.
        let expected = if stop.contains("TTIN") {
            nix::sys::signal::Signal::SIGTTIN
        } else {
            nix::sys::signal::Signal::SIGTSTP
        };
        assert_eq!(stopped, WaitStatus::Stopped(pid, expected), "{stop}");
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
        assert_eq!(
            wait_stopped_or_ended(pid),
            WaitStatus::Exited(pid, 5),
            "{stop}"
        );
        assert_eq!(rest_of_stdout(&mut child), "went-on\n", "{stop}");
    }
}

/// `--timeout` is a wall-clock limit, and holds while the job is stopped: stockade, stopped
/// with it, wakes at the deadline and ends the sandbox (SIGTERM, which a stopped process
/// acts on only once continued, then SIGKILL after the grace period), status 124, without
/// anybody continuing it.
#[test]
fn a_timeout_ends_a_stopped_job_at_its_deadline() {
    use nix::sys::wait::WaitStatus;
    let args = [
        "run",
        "--timeout",
        "2",
        "--kill-after",
        "1",
        "--",
        "sh",
        "-c",
        "kill -STOP $$; echo went-on",
    ];
    let (mut child, pid) = as_a_shells_job(&args);
    let stopped = wait_stopped_or_ended(pid);
    assert_eq!(
        stopped,
        WaitStatus::Stopped(pid, nix::sys::signal::Signal::SIGTSTP)
    );
    assert_eq!(wait_stopped_or_ended(pid), WaitStatus::Exited(pid, 124));
    assert_eq!(rest_of_stdout(&mut child), "", "the job went on");
}

/// What a child still writes to its piped stdout, until it closes it.
fn rest_of_stdout(child: &mut std::process::Child) -> String {
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// `stockade run -- yes | head -1` must end as `yes | head -1` does: yes killed by SIGPIPE
/// (status 141), silently. The command gets the default disposition for SIGPIPE, not the
/// ignored one stockade's own runtime sets up (an ignored signal stays ignored across exec),
/// with which it would get EPIPE, complain and exit 1.
#[test]
fn a_command_writing_to_a_closed_pipe_dies_of_sigpipe() {
    for front in [
        vec!["run", "--"],
        vec!["bwrap", "--ro-bind", "/", "/", "--"],
        vec!["bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--"],
    ] {
        let mut args = front.clone();
        args.push("yes");
        let mut child = stockade(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "y\n");
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            (out.status.code(), stderr(&out).as_str()),
            (Some(128 + libc::SIGPIPE), ""),
            "{front:?}"
        );
    }
}

/// The command may itself exit 125, 126 or 127, the statuses stockade uses for its own
/// failures. The README's way to tell them apart: the --json-status-fd line with `exit-code`
/// is written only when the command ran.
#[test]
fn json_status_tells_the_commands_own_125_to_127_from_stockades() {
    let status_line = |command: &[&str]| {
        let mut args = vec!["run", "--json-status-fd", "1", "--"];
        args.extend_from_slice(command);
        let out = stockade(args).output().unwrap();
        let text = stdout(&out);
        let exit_line = text
            .lines()
            .find(|l| l.contains("\"exit-code\""))
            .map(str::to_string);
        (out.status.code(), exit_line)
    };
    for code in [125, 126, 127] {
        let (status, line) = status_line(&["sh", "-c", &format!("exit {code}")]);
        assert_eq!(status, Some(code));
        let line = line.unwrap_or_default();
        assert!(
            line.starts_with(&format!("{{ \"exit-code\": {code}, \"reason\": \"exited\"")),
            "{line}"
        );
    }
    for (command, code) in [
        (&["no-such-command-anywhere"][..], 127),
        (&["/etc/passwd"][..], 126),
        (&["--chdir-is-not-a-command"][..], 127),
    ] {
        assert_eq!(status_line(command), (Some(code), None), "{command:?}");
    }
    let out = stockade([
        "run",
        "--json-status-fd",
        "1",
        "--chdir",
        "/no/such/dir",
        "--",
        "true",
    ])
    .output()
    .unwrap();
    assert_status(&out, 125);
    assert!(!stdout(&out).contains("exit-code"), "{}", stdout(&out));
}
