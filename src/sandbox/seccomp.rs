//! The seccomp stage: compiles a [`SeccompPolicy`] (syscall names) into one classic-BPF program
//! for the running architecture, and installs it as the very last step before exec.
//!
//! The program is built here rather than with seccompiler's `SeccompFilter`, because that type
//! has one action for "a rule matched" and one for "nothing matched", while a policy has up to
//! seven outcomes: allow, the default (ENOSYS, EPERM or kill), EPERM for named calls and for
//! refused arguments, ENOSYS for clone3, EAFNOSUPPORT / EPROTONOSUPPORT for refused sockets,
//! and kill for foreign ABIs. Stacking one seccompiler filter per outcome would make the kernel
//! run every filter on each syscall it cannot cache, and the errno a process sees would then
//! hinge on the kernel's "most recently installed ERRNO wins" rule. One program that
//! binary-searches the syscall number is short, fast to build and easy to check. seccompiler
//! still provides the instruction type and the installer.
//!
//! Shape of the program:
//! ```text
//!   load arch; if arch != native: kill
//!   load nr; binary search over ranges of syscall numbers with the same verdict
//!   leaf: return a verdict, or load one argument's low 32 bits and compare (ioctl, clone,
//!         unshare, personality, socket)
//!   one return per verdict, which the leaves jump to
//! ```
//! Syscalls allowed without argument checks return ALLOW whatever their arguments, so the
//! kernel's per-filter cache lets them through without running the program at all.

use anyhow::{anyhow, bail, Context, Result};
use seccompiler::{sock_filter, BpfProgram};

use crate::plan::{DenyAction, Seccomp, SeccompPolicy};
use crate::syscalls::{self, Arch};

/// Compiled filters, ready to install.
pub struct Filters(pub Vec<seccompiler::BpfProgram>);

/// Compiles the plan's filter before any namespace exists, so errors surface early.
pub fn prepare(seccomp: &Seccomp) -> Result<Filters> {
    match seccomp {
        Seccomp::Off => Ok(Filters(Vec::new())),
        Seccomp::Policy(policy) => {
            let arch = Arch::native()
                .ok_or_else(|| anyhow!("seccomp: no syscall table for this architecture"))?;
            Ok(Filters(vec![compile(policy, arch)?]))
        }
        // Loaded and installed by `seccomp_fd` (bwrap's programs go in with prctl).
        Seccomp::Fds(_) => Ok(Filters(Vec::new())),
    }
}

/// Installs the filters: the last thing before exec. Needs no_new_privs (set by the caps stage;
/// seccompiler sets it again, which is harmless).
pub fn install(filters: &Filters) -> Result<()> {
    for program in &filters.0 {
        seccompiler::apply_filter(program).context("installing the seccomp filter")?;
    }
    Ok(())
}

// Classic BPF opcodes (linux/bpf_common.h): only the few this compiler emits.
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JMP_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;

// struct seccomp_data: nr, arch, instruction_pointer, args[6].
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

/// Offset of the low 32 bits of argument `index`. Every argument checked here is an `int` or
/// `unsigned int` in the kernel (or, for clone, truncated to 32 bits), so the high half is
/// deliberately never read: a caller cannot slip past a check by setting bits the kernel
/// ignores (CVE-2019-10063 for TIOCSTI).
const fn arg_low(index: u32) -> u32 {
    // Both supported architectures are little-endian.
    16 + 8 * index
}

// AUDIT_ARCH_* (linux/audit.h): machine | 64-bit | little-endian.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;

/// x86_64's x32 ABI marks its syscall numbers with this bit, under the same AUDIT_ARCH.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// personality(2) values that only change what uname reports: Linux, its 32-bit flavour, and
// the "report 2.6.x" flag, plus the query. Everything else (ADDR_NO_RANDOMIZE,
// READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, foreign personas...) weakens the process's defences.
const PER_LINUX: u32 = 0x0000;
const PER_LINUX32: u32 = 0x0008;
const UNAME26: u32 = 0x0020000;
const PERSONALITY_QUERY: u32 = 0xffff_ffff;
const HARMLESS_PERSONAS: [u32; 5] = [
    PER_LINUX,
    PER_LINUX32,
    PER_LINUX | UNAME26,
    PER_LINUX32 | UNAME26,
    PERSONALITY_QUERY,
];

/// Namespace flags refused in clone(2). CLONE_NEWTIME (0x80) is left out: in clone's flags
/// that byte is the exit signal, and the kernel strips it before looking at the flags.
const CLONE_NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;
const UNSHARE_NAMESPACE_FLAGS: u32 = CLONE_NAMESPACE_FLAGS | libc::CLONE_NEWTIME as u32;

const NETLINK_ROUTE: u32 = 0;

/// What one syscall number gets.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Allow,
    Errno(u16),
    Kill,
    /// Allowed except TIOCSTI and TIOCLINUX (EPERM).
    Ioctl,
    /// Allowed unless argument 0 has one of these flags (EPERM).
    NoNamespaceFlags(u32),
    /// Allowed for the harmless personas only (EPERM).
    Personality,
    /// Allowed for the policy's socket families only.
    Socket,
}

/// A run of consecutive syscall numbers, `start` up to the next range's start.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Range {
    start: u32,
    verdict: Verdict,
}

/// Compiles a policy into a BPF program for `arch`.
pub fn compile(policy: &SeccompPolicy, arch: Arch) -> Result<BpfProgram> {
    let verdicts = verdicts(policy, arch)?;
    let ranges = ranges(&verdicts, &default_verdict(policy.default_action), arch);
    let leaves = Leaves::new(policy);
    let mut program = check_arch(arch);
    program.push(load(OFFSET_NR));
    search(&ranges, &leaves, &mut program);
    let program = share_returns(program);
    if program.len() > MAX_INSTRUCTIONS {
        bail!(
            "seccomp: the filter needs {} instructions, more than the kernel's {MAX_INSTRUCTIONS}",
            program.len()
        );
    }
    Ok(program)
}

fn default_verdict(action: DenyAction) -> Verdict {
    match action {
        DenyAction::Enosys => Verdict::Errno(libc::ENOSYS as u16),
        DenyAction::Eperm => Verdict::Errno(libc::EPERM as u16),
        DenyAction::Kill => Verdict::Kill,
    }
}

/// The verdict of every syscall the policy names, indexed by number (`None`: the default).
/// Later rules override earlier ones: allow, then argument checks on allowed calls, then
/// explicit EPERM, then clone3.
fn verdicts(policy: &SeccompPolicy, arch: Arch) -> Result<Vec<Option<Verdict>>> {
    // A table's numbers are dense and small (under 1024): a vector indexed by number is
    // cheaper than a map, and walks in the same order.
    let slots = arch.table().iter().map(|(_, nr)| *nr as usize + 1).max();
    let mut map: Vec<Option<Verdict>> = vec![None; slots.unwrap_or(0)];
    for name in &policy.allow {
        if let Some(nr) = number(arch, name)? {
            map[nr as usize] = Some(Verdict::Allow);
        }
    }
    let mut check_if_allowed = |name: &str, verdict: Verdict| {
        if let Some(Some(v)) = arch.number(name).map(|nr| &mut map[nr as usize]) {
            *v = verdict;
        }
    };
    check_if_allowed("ioctl", Verdict::Ioctl);
    check_if_allowed("personality", Verdict::Personality);
    check_if_allowed("socket", Verdict::Socket);
    if !policy.allow_namespaces {
        check_if_allowed("clone", Verdict::NoNamespaceFlags(CLONE_NAMESPACE_FLAGS));
        check_if_allowed(
            "unshare",
            Verdict::NoNamespaceFlags(UNSHARE_NAMESPACE_FLAGS),
        );
    }
    for name in &policy.deny_eperm {
        if let Some(nr) = number(arch, name)? {
            map[nr as usize] = Some(Verdict::Errno(libc::EPERM as u16));
        }
    }
    // Its arguments live in memory seccomp cannot read, so namespace flags could not be
    // refused; ENOSYS makes glibc and others fall back to clone, which is checked.
    if let Some(nr) = arch.number("clone3") {
        map[nr as usize] = Some(Verdict::Errno(libc::ENOSYS as u16));
    }
    Ok(map)
}

/// A syscall's number on `arch`; `None` for a name that exists only on other architectures.
fn number(arch: Arch, name: &str) -> Result<Option<u32>> {
    match arch.number(name) {
        Some(nr) => Ok(Some(nr)),
        None if syscalls::is_known(name) => Ok(None),
        None => bail!("seccomp: unknown syscall '{name}'"),
    }
}

/// Covers every u32 syscall number with ranges, merging neighbours with the same verdict.
fn ranges(verdicts: &[Option<Verdict>], default: &Verdict, arch: Arch) -> Vec<Range> {
    let mut spans: Vec<(u32, Verdict)> = Vec::with_capacity(verdicts.len() + 4);
    let mut next = 0u32;
    let named = verdicts
        .iter()
        .enumerate()
        .filter_map(|(nr, v)| Some((nr as u32, v.as_ref()?)));
    for (nr, verdict) in named {
        debug_assert!(nr < X32_SYSCALL_BIT);
        if nr > next {
            spans.push((next, default.clone()));
        }
        spans.push((nr, verdict.clone()));
        next = nr + 1;
    }
    // Table numbers are small (under 1024), far below the x32 marker and u32::MAX.
    spans.push((next, default.clone()));
    if arch == Arch::X86_64 {
        // x32 calls share x86_64's AUDIT_ARCH; kill them all. Number -1 stays with the
        // default: ptrace-based tools use it to skip a call.
        spans.push((X32_SYSCALL_BIT, Verdict::Kill));
        spans.push((u32::MAX, default.clone()));
    }
    let mut merged: Vec<Range> = Vec::with_capacity(spans.len());
    for (start, verdict) in spans {
        if merged.last().is_some_and(|r| r.verdict == verdict) {
            continue;
        }
        merged.push(Range { start, verdict });
    }
    merged
}

/// Binary search over `ranges` (A holds the syscall number), appended to `out`; each leaf
/// decides. Written in place: the jump over the lower half is patched once that half is out,
/// instead of building and copying a vector per node.
fn search(ranges: &[Range], leaves: &Leaves, out: &mut Vec<sock_filter>) {
    if let [only] = ranges {
        leaves.emit(&only.verdict, out);
        return;
    }
    let mid = ranges.len() / 2;
    let at = out.len();
    out.push(jump(JMP_JGE_K, ranges[mid].start, 0, 0));
    search(&ranges[..mid], leaves, out);
    let below = out.len() - at - 1;
    match u8::try_from(below) {
        Ok(skip) => out[at].jt = skip,
        Err(_) => {
            // Conditional jumps reach 255 instructions; a long left side needs JA. Jumps
            // inside the lower half are relative and stay right; the ancestors' jumps are
            // patched only after this subtree is complete.
            out[at].jf = 1;
            out.insert(at + 1, stmt(JMP_JA, below as u32));
        }
    }
    search(&ranges[mid..], leaves, out);
}

/// Replaces the returns by jumps to one shared return per value, at the end. Every leaf of
/// the search is a return, and installing a program costs the kernel a translation and a JIT
/// pass over each instruction: sharing them takes the default profile's program from 174 to
/// 100 instructions and its install from about 110 to 87 µs here. The program is left as it
/// is when a conditional jump (8-bit offsets) could not reach the end, or when a return is
/// reached by falling through from a load.
fn share_returns(program: Vec<sock_filter>) -> Vec<sock_filter> {
    let is_ret = |at: usize| program[at].code == RET_K;
    let mut values: Vec<u32> = Vec::new();
    let mut kept = 0;
    let mut position = vec![0; program.len()];
    for (at, ins) in program.iter().enumerate() {
        if is_ret(at) {
            if !values.contains(&ins.k) {
                values.push(ins.k);
            }
        } else {
            position[at] = kept;
            kept += 1;
        }
    }
    let target = |old: usize| match is_ret(old) {
        true => {
            kept + values
                .iter()
                .position(|&v| v == program[old].k)
                .unwrap_or(0)
        }
        false => position[old],
    };
    let mut shared = Vec::with_capacity(kept + values.len());
    for (at, ins) in program.iter().enumerate() {
        let here = shared.len();
        let offset = |old: usize| target(old) - here - 1;
        let ins = match ins.code {
            RET_K => continue,
            JMP_JA => stmt(JMP_JA, offset(at + 1 + ins.k as usize) as u32),
            JMP_JEQ_K | JMP_JGE_K | JMP_JSET_K => {
                let jt = u8::try_from(offset(at + 1 + usize::from(ins.jt)));
                let jf = u8::try_from(offset(at + 1 + usize::from(ins.jf)));
                match (jt, jf) {
                    (Ok(jt), Ok(jf)) => jump(ins.code, ins.k, jt, jf),
                    _ => return program,
                }
            }
            _ if program.get(at + 1).is_none_or(|next| next.code == RET_K) => return program,
            _ => ins.clone(),
        };
        shared.push(ins);
    }
    shared.extend(values.into_iter().map(ret));
    shared
}

/// Emits the code for each verdict.
struct Leaves {
    eperm: u32,
    /// Families allowed without further checks.
    socket_families: Vec<u32>,
    /// AF_NETLINK is allowed, for the route protocol only.
    netlink_route: bool,
}

impl Leaves {
    fn new(policy: &SeccompPolicy) -> Leaves {
        let netlink = libc::AF_NETLINK as u32;
        let mut socket_families: Vec<u32> =
            policy.socket_families.iter().map(|&f| f as u32).collect();
        socket_families.sort_unstable();
        socket_families.dedup();
        let netlink_route = socket_families.contains(&netlink);
        socket_families.retain(|&f| f != netlink);
        Leaves {
            eperm: errno(libc::EPERM as u16),
            socket_families,
            netlink_route,
        }
    }

    /// Appends the code for `verdict` to `out`. Most leaves are one return, pushed directly;
    /// the few argument checks are built apart.
    fn emit(&self, verdict: &Verdict, out: &mut Vec<sock_filter>) {
        match verdict {
            Verdict::Allow => out.push(ret(libc::SECCOMP_RET_ALLOW)),
            Verdict::Errno(e) => out.push(ret(errno(*e))),
            Verdict::Kill => out.push(ret(libc::SECCOMP_RET_KILL_PROCESS)),
            Verdict::Ioctl => out.extend(self.ioctl()),
            Verdict::NoNamespaceFlags(mask) => out.extend(self.no_flags(*mask)),
            Verdict::Personality => out.extend(self.one_of(0, &HARMLESS_PERSONAS, self.eperm)),
            Verdict::Socket => out.extend(self.socket()),
        }
    }

    /// ioctl(fd, request): TIOCSTI pushes input into a terminal (a sandbox escape through the
    /// caller's tty), TIOCLINUX can do the same on a virtual console.
    fn ioctl(&self) -> Vec<sock_filter> {
        vec![
            load(arg_low(1)),
            jump(JMP_JEQ_K, libc::TIOCSTI as u32, 2, 0),
            jump(JMP_JEQ_K, libc::TIOCLINUX as u32, 1, 0),
            ret(libc::SECCOMP_RET_ALLOW),
            ret(self.eperm),
        ]
    }

    /// EPERM when argument 0 has any bit of `mask`.
    fn no_flags(&self, mask: u32) -> Vec<sock_filter> {
        vec![
            load(arg_low(0)),
            jump(JMP_JSET_K, mask, 1, 0),
            ret(libc::SECCOMP_RET_ALLOW),
            ret(self.eperm),
        ]
    }

    /// ALLOW when argument `arg` is one of `values`, else `deny`.
    fn one_of(&self, arg: u32, values: &[u32], deny: u32) -> Vec<sock_filter> {
        let n = values.len();
        let mut out = Vec::with_capacity(n + 3);
        out.push(load(arg_low(arg)));
        for (i, &v) in values.iter().enumerate() {
            // Past the remaining comparisons and the deny, onto the allow.
            out.push(jump(JMP_JEQ_K, v, (n - i) as u8, 0));
        }
        out.push(ret(deny));
        out.push(ret(libc::SECCOMP_RET_ALLOW));
        out
    }

    /// socket(family, type, protocol): families outside the policy get EAFNOSUPPORT, what
    /// the kernel says for a family it was built without, so programs treat the family as
    /// absent instead of failing on a permission error. Netlink, when allowed, is limited to
    /// NETLINK_ROUTE (addresses and routes); other netlink protocols get EPROTONOSUPPORT.
    fn socket(&self) -> Vec<sock_filter> {
        let no_family = errno(libc::EAFNOSUPPORT as u16);
        let mut out = self.one_of(0, &self.socket_families, no_family);
        if self.netlink_route {
            // Before the deny (at len - 2), divert netlink to its own check at the end.
            let deny_at = out.len() - 2;
            out.insert(deny_at, jump(JMP_JEQ_K, libc::AF_NETLINK as u32, 2, 0));
            // The comparisons before it now jump one further to reach the allow.
            for ins in &mut out[1..deny_at] {
                ins.jt += 1;
            }
            out.push(load(arg_low(2)));
            out.push(jump(JMP_JEQ_K, NETLINK_ROUTE, 1, 0));
            out.push(ret(errno(libc::EPROTONOSUPPORT as u16)));
            out.push(ret(libc::SECCOMP_RET_ALLOW));
        }
        out
    }
}

/// Kills the process unless the syscall comes from the native ABI: on x86_64 a 64-bit program
/// can still make i386 calls (int 0x80), whose numbers mean different syscalls.
fn check_arch(arch: Arch) -> Vec<sock_filter> {
    let audit = match arch {
        Arch::X86_64 => AUDIT_ARCH_X86_64,
        Arch::Aarch64 => AUDIT_ARCH_AARCH64,
    };
    vec![
        load(OFFSET_ARCH),
        jump(JMP_JEQ_K, audit, 1, 0),
        ret(libc::SECCOMP_RET_KILL_PROCESS),
    ]
}

fn errno(e: u16) -> u32 {
    libc::SECCOMP_RET_ERRNO | u32::from(e)
}

fn load(offset: u32) -> sock_filter {
    stmt(LD_W_ABS, offset)
}

fn ret(value: u32) -> sock_filter {
    stmt(RET_K, value)
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

#[cfg(test)]
mod tests;
