//! The filesystem stage: a fresh tmpfs root, the plan's operations applied in order inside it,
//! then pivot_root and the old root detached.
//!
//! Built on the new mount API (open_tree, fsopen/fsmount, move_mount, mount_setattr):
//! - every host source is opened *before* the root tmpfs is attached, so no host path is ever
//!   looked up again once the sandbox tree exists;
//! - destinations are resolved with openat2(RESOLVE_IN_ROOT) against the new root, so a
//!   symlink planted anywhere on the way cannot lead a mount out of it;
//! - mounts are attached to the resolved fd, never to a path that could change in between;
//! - read-only is set with mount_setattr(AT_RECURSIVE), which covers submounts in one call and
//!   only *adds* flags, so flags the kernel locked for the user namespace are never an issue.

use std::ffi::{CStr, CString, OsStr};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::plan::{BindMode, FsOp, Plan};

const OPEN_TREE_CLONE: u32 = 1;
const AT_RECURSIVE: u32 = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
pub(super) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(super) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(super) const MOUNT_ATTR_NODEV: u64 = 0x4;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;
const FSOPEN_CLOEXEC: u32 = 1;
const FSMOUNT_CLOEXEC: u32 = 1;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Device nodes of the minimal /dev, bound from the host's.
const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

fn cstr(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| anyhow!("{}: path contains a NUL byte", path.display()))
}

fn check(ret: libc::c_long) -> std::io::Result<libc::c_long> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned(ret: libc::c_long) -> std::io::Result<OwnedFd> {
    let fd = check(ret)?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A detached copy of the mount tree at `path` (recursive: submounts come along). The mount
/// must belong to this process's mount namespace.
pub(super) fn open_tree(dirfd: RawFd, path: &Path, recursive: bool) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    if path.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH as u32;
    }
    // SAFETY: `c` outlives the call; open_tree only reads the path.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, c.as_ptr(), flags) })
}

/// Sets (never clears) mount attributes on the mount `fd` is the root of, and on its
/// submounts when `recursive`.
pub(super) fn set_attrs(fd: RawFd, attrs: u64, recursive: bool) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: `attr` is a valid mount_attr of the size passed; the empty path is a static C string.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

/// Attaches the detached mount `mount` onto the object `target` refers to.
pub(super) fn attach(mount: &OwnedFd, target: &OwnedFd) -> std::io::Result<()> {
    move_mount(mount, target, c"", MOVE_MOUNT_T_EMPTY_PATH)
}

/// Attaches the detached mount `mount` on `name` in `parent`. The name is not followed if it
/// is a symlink (no MOVE_MOUNT_T_SYMLINKS); it was made a moment ago, inside the root.
fn attach_at(mount: &OwnedFd, parent: &OwnedFd, name: &OsStr) -> std::io::Result<()> {
    let c = CString::new(name.as_bytes()).map_err(std::io::Error::other)?;
    move_mount(mount, parent, &c, 0)
}

/// move_mount(2) of the detached mount `mount` to `to` in `dir` (`to_flags`: how `to` is
/// looked up).
fn move_mount(mount: &OwnedFd, dir: &OwnedFd, to: &CStr, to_flags: u32) -> std::io::Result<()> {
    // SAFETY: both descriptors are open; both paths are C strings that outlive the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            dir.as_raw_fd(),
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | to_flags,
        )
    })?;
    Ok(())
}

/// A new, detached filesystem instance of `fstype` configured with `options`
/// (`(key, None)` is a flag).
pub(super) fn new_fs(
    fstype: &str,
    options: &[(&str, Option<&str>)],
    attrs: u64,
) -> Result<OwnedFd> {
    let name = CString::new(fstype)?;
    // SAFETY: `name` outlives the call.
    let fs = owned(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) })
        .with_context(|| format!("fsopen {fstype}"))?;
    // The source shows in mountinfo and df: name it after the type, as mount(8) users do.
    let source = [("source", Some(fstype))];
    for (key, value) in source.iter().chain(options) {
        let k = CString::new(*key)?;
        let v = value.map(CString::new).transpose()?;
        let (cmd, vptr) = match &v {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: `k` and `v` outlive the call; fsconfig reads them as C strings.
        check(unsafe {
            libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, k.as_ptr(), vptr, 0)
        })
        .with_context(|| format!("{fstype} option {key}"))?;
    }
    // SAFETY: no pointers are passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })
    .with_context(|| format!("creating {fstype}"))?;
    // SAFETY: no pointers are passed.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
        .with_context(|| format!("fsmount {fstype}"))
}

/// openat2 with RESOLVE_IN_ROOT: `path` is looked up as if `root` were `/`, so `..` and
/// absolute symlinks stay inside it.
fn open_in_root(root: &OwnedFd, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c = CString::new(rel.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    openat2(root, &c, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
}

/// openat2(2) relative to `dir`, close-on-exec.
fn openat2(dir: &OwnedFd, path: &CStr, flags: i32, resolve: u64) -> std::io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `path` and `how` outlive the call; the size matches the struct passed.
    owned(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })
}

/// Opens directory `path` for `fchdir`, resolved inside the process's (new) root with no
/// magic links: `/proc/self/fd/N` or `/proc/PID/cwd` would otherwise name a directory of the
/// host through a descriptor or a process that still has one (runc CVE-2024-21626).
pub fn open_workdir(path: &Path) -> std::io::Result<OwnedFd> {
    let root = owned(
        // SAFETY: static path; the call only reads it.
        unsafe {
            libc::open(
                c"/".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        } as libc::c_long,
    )?;
    open_in_root(&root, path, libc::O_PATH | libc::O_DIRECTORY)
}

/// What a destination must be when it has to be created.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
}

/// Resolves `dest` inside the new root, creating missing parents as directories and the last
/// component as `kind`. Each step is resolved again from the root, so no step can leave it.
pub(super) fn resolve_dest(root: &OwnedFd, dest: &Path, kind: Kind, mode: u32) -> Result<OwnedFd> {
    // Missing parents of mount points and links are private to the sandbox's user, as in
    // bubblewrap (which derives them from an unset mode: 0700).
    resolve_dest_with_parents(root, dest, kind, mode, 0o700)
}

/// The mode bubblewrap gives the missing parents of a path created with `mode`: always
/// searchable by the owner, and readable and searchable by group and others when `mode` gives
/// them any access, so that `--perms 0750 --dir /a/b` makes `/a` 0750, not 0755.
pub fn parent_mode(mode: u32) -> u32 {
    let mut parent = 0o700;
    if mode & 0o070 != 0 {
        parent |= 0o050;
    }
    if mode & 0o007 != 0 {
        parent |= 0o005;
    }
    parent
}

/// [`resolve_dest`], creating missing parents with `parent` as their mode.
fn resolve_dest_with_parents(
    root: &OwnedFd,
    dest: &Path,
    kind: Kind,
    mode: u32,
    parent: u32,
) -> Result<OwnedFd> {
    Ok(resolve_or_create(root, dest, kind, mode, parent)?.fd)
}

/// A resolved destination, and whether this call created it (then a new file's descriptor is
/// open for writing, not O_PATH).
struct Resolved {
    fd: OwnedFd,
    created: bool,
}

/// Resolves `dest`, creating it and its missing parents. Most destinations are new entries
/// in a directory that exists (the new root is empty), so the parent is looked up first and
/// the entry created in it, exclusively: two lookups, where probing `dest` first would take
/// three. When the entry exists, it is resolved like any other path (following links that
/// stay inside the root), as before.
fn resolve_or_create(
    root: &OwnedFd,
    dest: &Path,
    kind: Kind,
    mode: u32,
    parent: u32,
) -> Result<Resolved> {
    let existing = |root| open_existing(root, dest).map(|fd| Resolved { fd, created: false });
    let name = match dest.components().next_back() {
        Some(Component::Normal(name)) => name,
        // `/`, or a path ending in `..`: nothing to create.
        _ => return existing(root),
    };
    let parent_fd = open_or_make_dir(root, dest.parent().unwrap_or(Path::new("/")), parent)?;
    match create_entry(&parent_fd, name, kind, mode) {
        Ok(Some(fd)) => Ok(Resolved { fd, created: true }),
        // Made by an earlier step of this plan, by the profile's author, or by someone else
        // meanwhile.
        Ok(None) => existing(root),
        // The parent is not a directory (ENOTDIR), and the like: say so about `dest`.
        Err(e) => Err(e).with_context(|| format!("creating {}", dest.display())),
    }
}

/// Opens `dest`, which exists, inside the root as O_PATH (following links that stay inside).
fn open_existing(root: &OwnedFd, dest: &Path) -> Result<OwnedFd> {
    open_in_root(root, dest, libc::O_PATH).with_context(|| format!("resolving {}", dest.display()))
}

/// Opens directory `path` inside the root as O_PATH, making it and its missing parents with
/// `mode` when it does not exist. Deeper gaps recurse, each level resolved again from the root.
fn open_or_make_dir(root: &OwnedFd, path: &Path, mode: u32) -> Result<OwnedFd> {
    match open_in_root(root, path, libc::O_PATH) {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            resolve_dest_with_parents(root, path, Kind::Dir, mode, mode)
        }
        Err(e) => Err(e).with_context(|| format!("resolving {}", path.display())),
    }
}

/// Creates `name` in `parent` (an O_PATH descriptor serves as the directory of *at() calls)
/// and returns a descriptor of what was created, or None when `name` already exists.
fn create_entry(
    parent: &OwnedFd,
    name: &OsStr,
    kind: Kind,
    mode: u32,
) -> std::io::Result<Option<OwnedFd>> {
    let c = CString::new(name.as_bytes()).map_err(std::io::Error::other)?;
    let dir = parent.as_raw_fd();
    let created = match kind {
        // SAFETY: `c` outlives the call; `dir` is an open directory descriptor.
        Kind::Dir => match check(unsafe { libc::mkdirat(dir, c.as_ptr(), mode) } as libc::c_long) {
            Ok(_) => open_beneath(parent, &c),
            Err(e) => Err(e),
        },
        // The new file's own descriptor is the mount target: no second lookup.
        Kind::File => owned(
            // SAFETY: as above.
            unsafe {
                libc::openat(
                    dir,
                    c.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    mode,
                )
            } as libc::c_long,
        ),
    };
    match created {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `name`, just created in `parent`, as O_PATH without following anything: what was
/// made there a moment ago cannot lead out of the parent, which is inside the root.
fn open_beneath(parent: &OwnedFd, name: &CStr) -> std::io::Result<OwnedFd> {
    openat2(
        parent,
        name,
        libc::O_PATH,
        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    )
}

fn is_dir(fd: &OwnedFd) -> bool {
    // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    let ok = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0;
    ok && (st.st_mode & libc::S_IFMT) == libc::S_IFDIR
}

/// A host object opened before the root exists, ready to be attached.
enum Source {
    /// A detached mount tree (bind sources).
    Tree(OwnedFd),
    /// The operation's source was optional and is missing.
    Skipped,
    /// A small regular host file, open for reading, to be copied: its size and permissions.
    Copy(OwnedFd, u64, u32),
    /// Bytes read from the caller's descriptor (`--file`, `--bind-data`).
    Data(Vec<u8>),
    /// Overlay layers opened as O_PATH descriptors.
    Overlay(super::overlay::Layers),
    /// The operation needs nothing from the host.
    None,
}

/// Everything the plan needs from the host, opened while the host tree is still visible.
pub struct HostSources {
    per_op: Vec<Source>,
    dev_nodes: Option<Vec<(String, OwnedFd)>>,
}

/// Opens every bind source (and the host device nodes a minimal /dev needs). Runs inside the
/// new mount namespace, before the root tmpfs is attached.
pub fn open_sources(plan: &Plan) -> Result<HostSources> {
    let mut per_op = Vec::with_capacity(plan.fs.len());
    let mut wants_dev = false;
    let mut handed_over = super::bind_fd::HandedOver::default();
    for op in &plan.fs {
        per_op.push(match op {
            FsOp::Bind { src, optional, .. } => host_source(
                op,
                src,
                *optional,
                open_tree(libc::AT_FDCWD, src, true).map(Source::Tree),
            )?,
            FsOp::Copy { src, optional, .. } => {
                host_source(op, src, *optional, open_copy_source(src))?
            }
            FsOp::BindFd { fd, .. } => Source::Tree(
                handed_over
                    .take(*fd)
                    .map_err(anyhow::Error::from)
                    .and_then(super::bind_fd::open)
                    .with_context(|| format!("{op}"))?,
            ),
            FsOp::Dev { .. } => {
                wants_dev = true;
                Source::None
            }
            FsOp::Data { fd, .. } => Source::Data(
                handed_over
                    .claim(*fd)
                    .and_then(|()| super::process::consume_fd(*fd))
                    .with_context(|| format!("{op}: reading fd {fd}"))?,
            ),
            FsOp::Overlay { .. } => Source::Overlay(super::overlay::open_layers(op)?),
            // A procfs belongs to a pid namespace: sharing the host's, bind the host's /proc.
            FsOp::Proc { .. } if !plan.namespaces.pid && plan.userns.pidns_fd.is_none() => {
                Source::Tree(
                    open_tree(libc::AT_FDCWD, Path::new("/proc"), true).context(
                        "opening the host's /proc (the sandbox shares its pid namespace)",
                    )?,
                )
            }
            _ => Source::None,
        });
    }
    let dev_nodes = if wants_dev {
        let mut nodes = Vec::new();
        for name in DEV_NODES {
            let path = PathBuf::from("/dev").join(name);
            match open_tree(libc::AT_FDCWD, &path, false) {
                Ok(fd) => nodes.push((name.to_string(), fd)),
                // /dev/tty is absent in some containers; the rest are required.
                Err(_) if *name == "tty" => {}
                Err(e) => bail!("minimal /dev: {}: {e}", path.display()),
            }
        }
        Some(nodes)
    } else {
        None
    };
    Ok(HostSources { per_op, dev_nodes })
}

/// What opening a host source gave: a missing optional source is skipped; any other failure
/// names the operation and the path.
fn host_source(
    op: &FsOp,
    src: &Path,
    optional: bool,
    opened: std::io::Result<Source>,
) -> Result<Source> {
    match opened {
        Ok(source) => Ok(source),
        Err(e) if optional && e.raw_os_error() == Some(libc::ENOENT) => Ok(Source::Skipped),
        Err(e) => Err(anyhow!("{op}: {}: {e}", src.display())),
    }
}

/// Files up to this size are copied by `copy`; larger ones are bound, which costs the same
/// whatever the size.
const COPY_MAX: u64 = 1 << 20;

/// Opens the source of a `copy`: a small regular file for reading, anything else as a tree
/// to bind read-only. The type is checked before opening, so no FIFO, device or socket is
/// ever opened (which could block or act); a swap in between is caught by the second check.
fn open_copy_source(src: &Path) -> std::io::Result<Source> {
    let small_file = |st: &libc::stat| {
        (st.st_mode & libc::S_IFMT) == libc::S_IFREG && (st.st_size as u64) <= COPY_MAX
    };
    let c = CString::new(src.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: an all-zero stat is a valid buffer for stat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `c` and `st` outlive the call.
    check(unsafe { libc::stat(c.as_ptr(), &mut st) } as libc::c_long)?;
    if small_file(&st) {
        let fd = owned(
            // SAFETY: `c` outlives the call.
            unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
                )
            } as libc::c_long,
        )?;
        // SAFETY: `st` is a valid, writable stat buffer.
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } as libc::c_long)?;
        if small_file(&st) {
            return Ok(Source::Copy(fd, st.st_size as u64, st.st_mode & 0o777));
        }
    }
    open_tree(libc::AT_FDCWD, src, true).map(Source::Tree)
}

/// Stops mount events from travelling between the host and the sandbox (in either direction)
/// before anything is mounted.
pub fn make_private() -> Result<()> {
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_SLAVE | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .context("making / a slave mount")
}

/// Builds the new root from the plan and pivots into it. On return the process's root and
/// working directory are the new root, and the old root is gone from this mount namespace.
pub fn build_root(plan: &Plan, sources: HostSources) -> Result<()> {
    let root_mount = new_fs(
        "tmpfs",
        &[("mode", Some("0755"))],
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )
    .context("root tmpfs")?;
    // Any existing directory will do as a mount point: the namespace is private, and every
    // host source is already open.
    let anchor = std::fs::File::open("/tmp")
        .or_else(|_| std::fs::File::open("/"))
        .context("opening a mount point for the new root")?;
    let anchor: OwnedFd = anchor.into();
    attach(&root_mount, &anchor).context("attaching the root tmpfs")?;
    drop(root_mount);
    let mut root = open_top_of_anchor()?;
    let HostSources { per_op, dev_nodes } = sources;
    let mut dev_nodes = dev_nodes;
    // Modes in the plan are exact (bwrap's --perms): no umask in between.
    // SAFETY: umask only swaps the process's mask.
    let old_umask = unsafe { libc::umask(0) };
    let mut last_parent = LastParent::default();
    for (op, source) in plan.fs.iter().zip(per_op) {
        if !matches!(
            op,
            FsOp::Bind { .. } | FsOp::Copy { .. } | FsOp::BindFd { .. }
        ) {
            last_parent = LastParent::default();
        }
        let result = apply(&root, op, source, &mut dev_nodes, &mut last_parent)
            .with_context(|| op.to_string());
        if let Err(e) = result {
            // SAFETY: as above.
            unsafe { libc::umask(old_umask) };
            return Err(e);
        }
        // Something mounted on / itself (`--bind / /`) hides the tmpfs: later operations and
        // pivot_root must see the new top of the stack.
        if op.dest() == Path::new("/") {
            root = open_top_of_anchor()?;
        }
    }
    // SAFETY: as above.
    unsafe { libc::umask(old_umask) };
    if plan.root_read_only {
        set_attrs(root.as_raw_fd(), MOUNT_ATTR_RDONLY, false).context("making / read-only")?;
    }
    pivot_into(&root)
}

/// The topmost mount on the anchor (/tmp of this private namespace): the new root.
fn open_top_of_anchor() -> Result<OwnedFd> {
    owned(
        // SAFETY: static path; the call only reads it.
        unsafe {
            libc::open(
                c"/tmp".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        } as libc::c_long,
    )
    .context("opening the new root")
}

fn apply(
    root: &OwnedFd,
    op: &FsOp,
    source: Source,
    dev_nodes: &mut Option<Vec<(String, OwnedFd)>>,
    last_parent: &mut LastParent,
) -> Result<()> {
    match op {
        FsOp::Bind { dest, mode, .. } => match source {
            Source::Tree(tree) => bind(root, last_parent, tree, dest, *mode),
            _ => Ok(()),
        },
        FsOp::Copy { dest, .. } => match source {
            Source::Copy(file, size, mode) => copy_file(root, dest, &file, size, mode),
            Source::Tree(tree) => bind(root, last_parent, tree, dest, BindMode::ReadOnly),
            _ => Ok(()),
        },
        FsOp::BindFd {
            dest, read_only, ..
        } => match source {
            Source::Tree(tree) => {
                let mode = if *read_only {
                    BindMode::ReadOnly
                } else {
                    BindMode::ReadWrite
                };
                bind(root, last_parent, tree, dest, mode)
            }
            _ => Ok(()),
        },
        FsOp::Tmpfs { dest, size, mode } => {
            let mode = format!("{:o}", mode.unwrap_or(0o755));
            let size = size.map(|s| s.to_string());
            let mut options = vec![("mode", Some(mode.as_str()))];
            if let Some(size) = &size {
                options.push(("size", Some(size.as_str())));
            }
            let fs = new_fs("tmpfs", &options, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?;
            let target = resolve_dest(root, dest, Kind::Dir, 0o755)?;
            Ok(attach(&fs, &target)?)
        }
        FsOp::Dir { dest, mode } => {
            // An existing directory keeps its mode, as in bwrap; a new one gets `mode` exactly
            // (the umask is 0 here), its missing parents a mode derived from it.
            let mode = mode.unwrap_or(0o755);
            resolve_dest_with_parents(root, dest, Kind::Dir, mode, parent_mode(mode))?;
            Ok(())
        }
        FsOp::Symlink { target, dest } => symlink(root, target, dest),
        FsOp::Proc { dest } => {
            let fs = match source {
                // The host's /proc: a bind like any other, so nosuid and nodev as bubblewrap
                // gives it (the clone keeps the host mount's own flags otherwise).
                Source::Tree(tree) => {
                    set_attrs(tree.as_raw_fd(), MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true)
                        .context("setting the flags of the host's /proc")?;
                    tree
                }
                _ => new_fs("proc", &[], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | 0x8)?,
            };
            let target = resolve_dest(root, dest, Kind::Dir, 0o755)?;
            attach(&fs, &target)?;
            cover_proc_dirs(root, dest)
        }
        FsOp::Dev { dest } => {
            let nodes = dev_nodes.take().unwrap_or_default();
            minimal_dev(root, dest, nodes)
        }
        FsOp::Mqueue { dest } => {
            // Plain flags, as bubblewrap mounts it (a message queue can be neither executed
            // nor a device).
            let fs = new_fs("mqueue", &[], 0)?;
            let target = resolve_dest(root, dest, Kind::Dir, 0o755)?;
            Ok(attach(&fs, &target)?)
        }
        FsOp::RemountRo { dest } => {
            let fd = open_in_root(root, dest, libc::O_PATH)?;
            set_attrs(fd.as_raw_fd(), MOUNT_ATTR_RDONLY, true)
                .map_err(|e| anyhow!("{}: not a mount point, or {e}", dest.display()))
        }
        FsOp::File {
            dest,
            contents,
            mode,
        } => write_file(root, dest, contents, mode.unwrap_or(0o644)),
        FsOp::Chmod { dest, mode } => {
            let fd = open_in_root(root, dest, libc::O_PATH)?;
            chmod_fd(&fd, *mode)
        }
        FsOp::Data {
            dest, mode, bind, ..
        } => {
            let Source::Data(bytes) = source else {
                bail!("internal error: no data read");
            };
            let mode = mode.unwrap_or(0o666);
            match bind {
                None => write_file(root, dest, &bytes, mode),
                Some(read_only) => bind_data(root, dest, &bytes, mode, *read_only),
            }
        }
        FsOp::Overlay { dest, .. } => {
            let Source::Overlay(layers) = source else {
                bail!("internal error: overlay layers not opened");
            };
            let fs = super::overlay::mount(layers)?;
            let target = resolve_dest(root, dest, Kind::Dir, 0o755)?;
            Ok(attach(&fs, &target)?)
        }
    }
}

/// Binds a detached tree at `dest`, with the flags its mode asks for on every submount
/// (bubblewrap applies them by path, which misses mounts hidden under others; this does not).
fn bind(
    root: &OwnedFd,
    last_parent: &mut LastParent,
    tree: OwnedFd,
    dest: &Path,
    mode: BindMode,
) -> Result<()> {
    let attrs = match mode {
        BindMode::ReadOnly => MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        BindMode::ReadWrite => MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        BindMode::Dev => MOUNT_ATTR_NOSUID,
    };
    set_attrs(tree.as_raw_fd(), attrs, true).context("setting mount flags")?;
    let kind = if is_dir(&tree) { Kind::Dir } else { Kind::File };
    let perms = if kind == Kind::Dir { 0o755 } else { 0o444 };
    let target = match last_parent.resolve(root, dest)? {
        // The usual case, a new entry: made and mounted on by name in its parent, with no
        // descriptor of its own (three calls fewer than resolve_dest, which matters for a
        // profile's dozens of binds).
        Some((parent, name)) => match make_mount_point(parent, name, kind, perms) {
            Ok(true) => return attach_at(&tree, parent, name).context("attaching"),
            Ok(false) => open_existing(root, dest)?,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dest.display())),
        },
        None => resolve_dest(root, dest, kind, perms)?,
    };
    // An existing destination (through a symlink, `..` or `/` itself) may be the cached
    // directory or one of its ancestors: once covered, the cache would put the next bind
    // under the cover, out of the sandbox's sight.
    *last_parent = LastParent::default();
    attach(&tree, &target).context("attaching")?;
    Ok(())
}

/// The directory the previous bind went into, kept for the next: a run of binds into one
/// directory (the default profile's /etc entries, the /dev nodes) looks it up once.
///
/// Why it cannot go stale: only binds use it, and `build_root` drops it before any other
/// operation. A bind that makes its mount point mounts on a new, empty entry *in* the cached
/// directory, which does not change what the directory's path resolves to; a bind onto
/// anything that existed already (which may resolve to the cached directory or above it)
/// drops the cache.
#[derive(Default)]
struct LastParent(Option<(PathBuf, OwnedFd)>);

impl LastParent {
    /// The parent directory of `dest` inside the root (made, with its missing parents, when
    /// absent) and `dest`'s last name; None when `dest` has no name to create (`/`, `..`).
    fn resolve<'a>(
        &mut self,
        root: &OwnedFd,
        dest: &'a Path,
    ) -> Result<Option<(&OwnedFd, &'a OsStr)>> {
        let Some(Component::Normal(name)) = dest.components().next_back() else {
            return Ok(None);
        };
        let parent = dest.parent().unwrap_or(Path::new("/"));
        if self.0.as_ref().map(|(path, _)| path.as_path()) != Some(parent) {
            // Dropped first, so that a failed lookup leaves nothing stale behind.
            self.0 = None;
            // Missing parents of mount points are private to the sandbox's user, as in
            // resolve_dest.
            self.0 = Some((parent.to_path_buf(), open_or_make_dir(root, parent, 0o700)?));
        }
        Ok(self.0.as_ref().map(|(_, fd)| (fd, name)))
    }
}

/// Makes `name` in `parent` as an empty mount point of `kind`; false when it exists already.
fn make_mount_point(
    parent: &OwnedFd,
    name: &OsStr,
    kind: Kind,
    mode: u32,
) -> std::io::Result<bool> {
    let c = CString::new(name.as_bytes()).map_err(std::io::Error::other)?;
    let dir = parent.as_raw_fd();
    let ret = match kind {
        // SAFETY: `c` outlives the call; `dir` is an open directory descriptor.
        Kind::Dir => unsafe { libc::mkdirat(dir, c.as_ptr(), mode) },
        // A regular file by mknod: no open file to make and close, as O_CREAT would.
        // SAFETY: as above; a regular file needs no device number.
        Kind::File => unsafe { libc::mknodat(dir, c.as_ptr(), libc::S_IFREG | mode, 0) },
    };
    match check(ret as libc::c_long) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

fn split_parent(dest: &Path) -> Result<(&Path, &OsStr)> {
    let name = dest
        .file_name()
        .ok_or_else(|| anyhow!("{}: no file name", dest.display()))?;
    Ok((dest.parent().unwrap_or(Path::new("/")), name))
}

fn symlink(root: &OwnedFd, target: &Path, dest: &Path) -> Result<()> {
    let (parent, name) = split_parent(dest)?;
    // `root` is the top of the new root's stack (build_root opens it again after a mount on
    // /), so links in / (the merged-/usr links) need no lookup.
    if parent == Path::new("/") {
        return symlink_in(root, target, name);
    }
    // Missing parents of links are private to the sandbox's user, as in resolve_dest.
    let parent = open_or_make_dir(root, parent, 0o700)?;
    symlink_in(&parent, target, name)
}

/// Makes the link `name` -> `target` in `parent`.
fn symlink_in(parent: &OwnedFd, target: &Path, name: &OsStr) -> Result<()> {
    let t = cstr(target)?;
    let n = CString::new(name.as_bytes())?;
    // SAFETY: both C strings outlive the call; `parent` is an open directory.
    if unsafe { libc::symlinkat(t.as_ptr(), parent.as_raw_fd(), n.as_ptr()) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    // The same link made twice (a profile and a flag agreeing) is not an error.
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for its whole length.
    let len = unsafe {
        libc::readlinkat(
            parent.as_raw_fd(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if len >= 0 && &buf[..len as usize] == target.as_os_str().as_bytes() {
        return Ok(());
    }
    Err(err.into())
}

fn chmod_fd(fd: &OwnedFd, mode: u32) -> Result<()> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let c = CString::new(path)?;
    // SAFETY: `c` outlives the call.
    if unsafe { libc::chmod(c.as_ptr(), mode) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chmod");
    }
    Ok(())
}

fn write_file(root: &OwnedFd, dest: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = file_to_fill(root, dest, mode, parent_mode(mode))?;
    file.write_all(contents).context("writing")
}

/// `copy`: the host file's bytes go straight from its descriptor into a new file of the
/// sandbox's tree (sendfile: no buffer in this process). Missing parents are private, as for
/// a bind.
fn copy_file(root: &OwnedFd, dest: &Path, src: &OwnedFd, size: u64, mode: u32) -> Result<()> {
    let file = file_to_fill(root, dest, mode, 0o700)?;
    let mut left = size;
    while left > 0 {
        // SAFETY: both descriptors are open; a null offset uses and advances the source's.
        let n = unsafe {
            libc::sendfile(
                file.as_raw_fd(),
                src.as_raw_fd(),
                std::ptr::null_mut(),
                left as usize,
            )
        };
        match n {
            // The host file shrank since it was measured: what there is, is the snapshot.
            0 => break,
            n if n > 0 => left -= n as u64,
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e).context("copying");
                }
            }
        }
    }
    Ok(())
}

/// A regular file at `dest`, empty and open for writing with permissions `mode`: created when
/// missing (its own descriptor is kept), else truncated and given `mode`.
fn file_to_fill(root: &OwnedFd, dest: &Path, mode: u32, parents: u32) -> Result<std::fs::File> {
    let Resolved { fd, created } = resolve_or_create(root, dest, Kind::File, mode, parents)?;
    if created {
        return Ok(fd.into());
    }
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .context("opening")?;
    chmod_fd(&fd, mode)?;
    Ok(file)
}

/// The parts of /proc that act on the whole machine are made read-only (bind-mounted on
/// themselves), as bubblewrap does, whatever the sandbox's privileges inside.
fn cover_proc_dirs(root: &OwnedFd, dest: &Path) -> Result<()> {
    for name in ["sys", "sysrq-trigger", "irq", "bus"] {
        let path = dest.join(name);
        let Ok(fd) = open_in_root(root, &path, libc::O_PATH) else {
            continue;
        };
        // Already read-only to this process (the usual case in a user namespace, where they
        // belong to an unmapped owner): nothing to cover, and the mount table stays as
        // bubblewrap's.
        if !writable(&fd) {
            continue;
        }
        let tree = open_tree(fd.as_raw_fd(), Path::new(""), true)
            .with_context(|| format!("covering {}", path.display()))?;
        set_attrs(
            tree.as_raw_fd(),
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            true,
        )
        .with_context(|| format!("covering {}", path.display()))?;
        attach(&tree, &fd).with_context(|| format!("covering {}", path.display()))?;
    }
    Ok(())
}

/// access(W_OK) on what `fd` refers to.
fn writable(fd: &OwnedFd) -> bool {
    // SAFETY: empty static path with AT_EMPTY_PATH; faccessat2 reads nothing else.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::W_OK,
            libc::AT_EMPTY_PATH,
        )
    };
    ret == 0
}

/// `--bind-data`: the bytes go to a file on a private, detached tmpfs (invisible in the
/// sandbox), which is then bind-mounted at `dest`.
fn bind_data(root: &OwnedFd, dest: &Path, bytes: &[u8], mode: u32, read_only: bool) -> Result<()> {
    let scratch = new_fs(
        "tmpfs",
        &[("mode", Some("0700"))],
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )
    .context("tmpfs for the data file")?;
    // SAFETY: static name; the mount fd is a directory; the result is checked.
    let fd = unsafe {
        libc::openat(
            scratch.as_raw_fd(),
            c"data".as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
            mode,
        )
    };
    let file = owned(fd as libc::c_long).context("creating the data file")?;
    std::fs::File::from(file)
        .write_all(bytes)
        .context("writing the data file")?;
    let tree = open_tree(scratch.as_raw_fd(), Path::new("data"), false)
        .context("cloning the data file")?;
    let mode = if read_only {
        BindMode::ReadOnly
    } else {
        BindMode::ReadWrite
    };
    bind(root, &mut LastParent::default(), tree, dest, mode)
}

/// tmpfs with the host's harmless device nodes bound in, a private devpts, shm, and the
/// conventional links into /proc/self/fd.
fn minimal_dev(root: &OwnedFd, dest: &Path, nodes: Vec<(String, OwnedFd)>) -> Result<()> {
    // nodev is fine here: the device nodes are bind mounts with their own flags.
    let fs = new_fs(
        "tmpfs",
        &[("mode", Some("0755"))],
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )?;
    let target = resolve_dest(root, dest, Kind::Dir, 0o755)?;
    attach(&fs, &target)?;
    let mut last_parent = LastParent::default();
    for (name, node) in nodes {
        bind(
            root,
            &mut last_parent,
            node,
            &dest.join(&name),
            BindMode::Dev,
        )
        .with_context(|| format!("/dev/{name}"))?;
    }
    // The tmpfs just attached, for the entries made in it by name: the directory the node
    // binds looked up, or, with no nodes, looked up here.
    let dev = match last_parent.0 {
        Some((_, fd)) => fd,
        None => open_existing(root, dest)?,
    };
    let pts = new_fs(
        "devpts",
        &[
            ("newinstance", None),
            ("ptmxmode", Some("0666")),
            ("mode", Some("620")),
        ],
        MOUNT_ATTR_NOSUID | 0x8,
    )?;
    make_mount_point(&dev, OsStr::new("pts"), Kind::Dir, 0o755).context("creating pts")?;
    attach_at(&pts, &dev, OsStr::new("pts")).context("attaching pts")?;
    // The umask is 0 while the root is built, and mkdir keeps the sticky bit.
    make_mount_point(&dev, OsStr::new("shm"), Kind::Dir, 0o1777).context("creating shm")?;
    let links = [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ];
    for (name, target) in links {
        symlink_in(&dev, Path::new(target), OsStr::new(name))
            .with_context(|| format!("{}", dest.join(name).display()))?;
    }
    Ok(())
}

/// Makes `root` the process's root with pivot_root(".", "."), then detaches the old root,
/// which is stacked on top of it afterwards.
fn pivot_into(root: &OwnedFd) -> Result<()> {
    nix::unistd::fchdir(root.as_raw_fd()).context("entering the new root")?;
    // SAFETY: both paths are static C strings.
    if unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pivot_root");
    }
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH).context("detaching the old root")?;
    nix::unistd::chdir("/").context("chdir /")?;
    Ok(())
}

/// Host-side checks that need no privileges, so bad input fails before any namespace exists.
pub fn preflight(plan: &Plan) -> Result<()> {
    for op in &plan.fs {
        if let FsOp::Bind {
            src,
            optional: false,
            ..
        }
        | FsOp::Copy {
            src,
            optional: false,
            ..
        } = op
        {
            if let Err(e) = std::fs::metadata(src) {
                bail!("{op}: {}: {}", src.display(), io_message(&e));
            }
        }
    }
    Ok(())
}

/// The OS error text without Rust's " (os error N)" suffix.
pub fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
