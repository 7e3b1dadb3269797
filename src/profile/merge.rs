//! `extends`: loading a profile's chain and merging it into one profile.
//!
//! Merging goes from the base to the named profile: lists append, scalars override, tables
//! merge key by key. Removal is explicit: `fs_remove` (by destination, and everything below
//! it), `[env] remove` (by name), `[landlock] remove` (by path), and `!name` in the name lists
//! of `[seccomp]`. A removal that matches nothing inherited is an error, so typos show.

use std::path::{Path, PathBuf};

use anyhow::Result;
use toml::Spanned;

use super::catalog::{Catalog, Origin, Source};
use super::load::{self, Layer};
use super::schema::{
    DbusTable, EnvTable, FsEntry, LandlockEntry, LandlockTable, LimitsTable, NamespacesTable,
    ProfileFile, SeccompTable,
};
use super::vars::PathTemplate;

/// Loads `start` and every profile it extends, base first.
pub fn load_chain(
    catalog: &dyn Catalog,
    start: Source,
    check_syscalls: bool,
) -> Result<Vec<Layer>> {
    let mut chain = vec![load::parse(start, check_syscalls)?];
    loop {
        let child = chain.last().expect("the chain starts with one layer");
        let Some(extends) = &child.profile.extends else {
            break;
        };
        let parent = find_parent(catalog, child, extends)?;
        if let Some(first) = chain.iter().position(|l| same_file(&l.source, &parent)) {
            let mut names: Vec<&str> = chain[first..]
                .iter()
                .map(|l| l.source.name.as_str())
                .collect();
            names.push(&parent.name);
            return Err(child.error(extends.span(), &format!("cycle: {}", names.join(" -> "))));
        }
        chain.push(load::parse(parent, check_syscalls)?);
    }
    chain.reverse();
    Ok(chain)
}

fn same_file(a: &Source, b: &Source) -> bool {
    a.origin == b.origin && a.file == b.file
}

/// The profile `extends` names: a path (relative to the extending file) when it has a `/`,
/// else a name looked up as usual, except that a profile extending its own name gets the next
/// one down the lookup order (so `~/.config/.../default.toml` can extend the built-in
/// `default`).
fn find_parent(catalog: &dyn Catalog, child: &Layer, extends: &Spanned<String>) -> Result<Source> {
    let name = extends.get_ref();
    if name.contains('/') {
        // Collecting the components drops the `.` of `./base.toml` from what errors show.
        let path: PathBuf = match &child.source.dir {
            Some(dir) => dir.join(name).components().collect(),
            None => Path::new(name).components().collect(),
        };
        return catalog
            .read_path(&path)
            .map_err(|e| child.error(extends.span(), &crate::error::one_line(&e)));
    }
    let after = (name == &child.source.name && child.source.origin != Origin::Path)
        .then_some(child.source.origin);
    match catalog.find(name, after) {
        Ok(Some(source)) => Ok(source),
        Ok(None) => Err(child.error(extends.span(), &format!("no profile named {name:?}"))),
        Err(e) => Err(child.error(extends.span(), &crate::error::one_line(&e))),
    }
}

/// One profile from a chain, base first.
pub fn merge(chain: &[Layer]) -> Result<ProfileFile> {
    let mut merged = ProfileFile::default();
    for (index, layer) in chain.iter().enumerate() {
        merge_layer(&mut merged, layer, index)?;
    }
    check_required_syscalls(&merged, chain)?;
    Ok(merged)
}

/// What a filter must let through, and why: without execve no command could start, and
/// without exit_group no process could end (a failed exec's report would end in SIGSEGV,
/// read as the command's crash). The exec and its failure run inside the filter, where
/// stockade can no longer say why; so it is said when the profile is read.
const REQUIRED_SYSCALLS: [(&str, &str); 2] = [
    ("execve", "no command could start"),
    ("exit_group", "no process could exit"),
];

/// A merged filter without a required syscall is refused, naming the profile.
fn check_required_syscalls(merged: &ProfileFile, chain: &[Layer]) -> Result<()> {
    let Some(seccomp) = merged.seccomp.as_ref().filter(|s| s.enabled != Some(false)) else {
        return Ok(());
    };
    let Some((name, why)) = REQUIRED_SYSCALLS
        .into_iter()
        .find(|(name, _)| lets_through(seccomp, name) == Some(false))
    else {
        return Ok(());
    };
    let last = chain
        .iter()
        .rev()
        .find(|l| l.profile.seccomp.is_some())
        .expect("a merged [seccomp] comes from a layer");
    Err(super::locate::error_at(
        &last.source.file,
        &last.source.text,
        None,
        &format!(
            "[seccomp] does not allow {name}, so {why} (allow it, or a group that has it \
             such as @default)"
        ),
    ))
}

/// Whether the merged lists let `name` through; None when a name does not parse.
fn lets_through(seccomp: &SeccompTable, name: &str) -> Option<bool> {
    fn names(list: &[Spanned<String>]) -> Vec<&str> {
        list.iter().map(|e| e.get_ref().as_str()).collect()
    }
    let allowed = crate::syscalls::includes(&names(&seccomp.allow), name)?;
    let denied = crate::syscalls::includes(&names(&seccomp.deny_eperm), name)?;
    Some(allowed && !denied)
}

/// The last of a layer's new entries (from `first_new` on) that took `name` out of the list,
/// or (`wanted_in` false) put it in.
fn entry_changing<'a>(
    list: &'a [Spanned<String>],
    first_new: usize,
    name: &str,
    wanted_in: bool,
) -> Option<&'a Spanned<String>> {
    let is_in = |end: usize| {
        let names: Vec<&str> = list[..end].iter().map(|e| e.get_ref().as_str()).collect();
        crate::syscalls::includes(&names, name)
    };
    let mut was = is_in(first_new)?;
    let mut found = None;
    for (i, entry) in list.iter().enumerate().skip(first_new) {
        let now = is_in(i + 1)?;
        if was == wanted_in && now != wanted_in {
            found = Some(entry);
        }
        was = now;
    }
    found
}

fn override_with<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
    if from.is_some() {
        into.clone_from(from);
    }
}

fn merge_layer(merged: &mut ProfileFile, layer: &Layer, index: usize) -> Result<()> {
    let p = &layer.profile;
    override_with(&mut merged.description, &p.description);
    override_with(&mut merged.hostname, &p.hostname);
    override_with(&mut merged.uid, &p.uid);
    override_with(&mut merged.gid, &p.gid);
    override_with(&mut merged.net, &p.net);
    override_with(&mut merged.new_session, &p.new_session);
    override_with(&mut merged.die_with_parent, &p.die_with_parent);
    override_with(&mut merged.fallback, &p.fallback);
    override_with(&mut merged.chdir, &p.chdir);
    if let Some(ns) = &p.namespaces {
        merge_namespaces(merged.namespaces.get_or_insert_with(Default::default), ns);
    }
    remove_fs(merged, &p.fs_remove, layer)?;
    merged.fs.extend(p.fs.iter().cloned());
    merged.fs_layers.resize(merged.fs.len(), index);
    if let Some(env) = &p.env {
        merge_env(merged.env.get_or_insert_with(Default::default), env, layer)?;
    }
    if let Some(limits) = &p.limits {
        merge_limits(merged.limits.get_or_insert_with(Default::default), limits);
    }
    if let Some(seccomp) = &p.seccomp {
        merge_seccomp(
            merged.seccomp.get_or_insert_with(Default::default),
            seccomp,
            layer,
        )?;
    }
    merged.sockets.extend(p.sockets.iter().copied());
    if let Some(dbus) = &p.dbus {
        merge_dbus(merged.dbus.get_or_insert_with(Default::default), dbus);
    }
    if let Some(landlock) = &p.landlock {
        merge_landlock(
            merged.landlock.get_or_insert_with(Default::default),
            landlock,
            layer,
        )?;
    }
    Ok(())
}

fn merge_dbus(into: &mut DbusTable, from: &DbusTable) {
    override_with(&mut into.enabled, &from.enabled);
    into.talk.extend(from.talk.iter().cloned());
    into.own.extend(from.own.iter().cloned());
    into.see.extend(from.see.iter().cloned());
    into.call.extend(from.call.iter().cloned());
    into.broadcast.extend(from.broadcast.iter().cloned());
    override_with(&mut into.socket, &from.socket);
    override_with(&mut into.log, &from.log);
}

fn merge_namespaces(into: &mut NamespacesTable, from: &NamespacesTable) {
    override_with(&mut into.pid, &from.pid);
    override_with(&mut into.uts, &from.uts);
    override_with(&mut into.ipc, &from.ipc);
    override_with(&mut into.cgroup, &from.cgroup);
}

/// The destination an entry writes: `dest`, or for binds without one, `src`.
pub fn fs_dest(entry: &FsEntry) -> Option<&PathTemplate> {
    entry
        .dest
        .as_ref()
        .or(entry.src.as_ref())
        .map(Spanned::get_ref)
}

fn remove_fs(
    merged: &mut ProfileFile,
    removals: &[Spanned<PathTemplate>],
    layer: &Layer,
) -> Result<()> {
    for removal in removals {
        let before = merged.fs.len();
        let kept: Vec<bool> = merged
            .fs
            .iter()
            .map(|e| !fs_dest(e.get_ref()).is_some_and(|d| d.is_at_or_below(removal.get_ref())))
            .collect();
        let mut keep = kept.iter().copied();
        merged.fs.retain(|_| keep.next().unwrap_or(true));
        let mut keep = kept.iter().copied();
        merged.fs_layers.retain(|_| keep.next().unwrap_or(true));
        if merged.fs.len() == before {
            return Err(layer.error(
                removal.span(),
                &format!(
                    "no inherited filesystem operation at or below {}",
                    removal.get_ref()
                ),
            ));
        }
    }
    Ok(())
}

/// `set` and `unset` stay disjoint, so the order the plan applies them in cannot matter.
fn merge_env(into: &mut EnvTable, from: &EnvTable, layer: &Layer) -> Result<()> {
    override_with(&mut into.clear, &from.clear);
    for name in &from.remove {
        let had_set = name
            .get_ref()
            .as_name()
            .is_some_and(|n| into.set.remove(&n).is_some());
        let before = into.unset.len();
        into.unset.retain(|n| n.get_ref() != name.get_ref());
        if !had_set && into.unset.len() == before {
            return Err(layer.error(
                name.span(),
                &format!(
                    "{} is not set or unset by an inherited profile",
                    name.get_ref().0
                ),
            ));
        }
    }
    // Unsets first: a pattern takes the values inherited from the profiles below, not the
    // ones this layer sets (which the plan applies after every pattern).
    for name in &from.unset {
        into.set.retain(|set, _| !name.get_ref().takes(set));
        if !into.unset.iter().any(|n| n.get_ref() == name.get_ref()) {
            into.unset.push(name.clone());
        }
    }
    for (name, value) in &from.set {
        into.unset.retain(|n| n.get_ref().0 != name.0);
        into.set.insert(name.clone(), value.clone());
    }
    Ok(())
}

fn merge_limits(into: &mut LimitsTable, from: &LimitsTable) {
    for (name, value) in &from.rlimits {
        into.rlimits.insert(name.clone(), *value);
    }
    override_with(&mut into.timeout, &from.timeout);
    override_with(&mut into.kill_after, &from.kill_after);
    override_with(&mut into.memory, &from.memory);
    override_with(&mut into.pids, &from.pids);
    override_with(&mut into.cpus, &from.cpus);
}

/// The allow and deny lists append as written: their `!name` entries are part of what the
/// resolver applies in order, and here only checked to remove something.
fn merge_seccomp(into: &mut SeccompTable, from: &SeccompTable, layer: &Layer) -> Result<()> {
    override_with(&mut into.enabled, &from.enabled);
    let had: Vec<bool> = REQUIRED_SYSCALLS
        .iter()
        .map(|(name, _)| lets_through(into, name) == Some(true))
        .collect();
    let (first_allow, first_deny) = (into.allow.len(), into.deny_eperm.len());
    append_syscalls(&mut into.allow, &from.allow, "allows", layer)?;
    append_syscalls(&mut into.deny_eperm, &from.deny_eperm, "denies", layer)?;
    for ((name, why), had) in REQUIRED_SYSCALLS.into_iter().zip(had) {
        if !had || lets_through(into, name) != Some(false) {
            continue;
        }
        // Named at the entry that took it away; a profile that never had it is reported
        // once merged.
        let (entry, verb) = match entry_changing(&into.allow, first_allow, name, true) {
            Some(entry) => (entry, "takes away"),
            None => (
                entry_changing(&into.deny_eperm, first_deny, name, false)
                    .expect("one of this layer's entries took the syscall away"),
                "denies",
            ),
        };
        return Err(layer.error(
            entry.span(),
            &format!("{} {verb} {name}, so {why}", entry.get_ref()),
        ));
    }
    override_with(&mut into.default_action, &from.default_action);
    override_with(&mut into.allow_namespaces, &from.allow_namespaces);
    if let Some(families) = &from.socket_families {
        let list = into.socket_families.get_or_insert_with(Vec::new);
        for entry in families {
            let family = entry.get_ref();
            if !family.remove {
                if !list.iter().any(|f| f.get_ref() == family) {
                    list.push(entry.clone());
                }
                continue;
            }
            let before = list.len();
            list.retain(|f| f.get_ref().name != family.name);
            if list.len() == before {
                return Err(layer.error(
                    entry.span(),
                    &format!(
                        "!{} removes nothing: no earlier entry allows that family",
                        family.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Appends a layer's syscall entries; a `!name` among them that takes away nothing the
/// entries before it (here or inherited) listed is an error at that entry.
fn append_syscalls(
    into: &mut Vec<Spanned<String>>,
    from: &[Spanned<String>],
    verb: &str,
    layer: &Layer,
) -> Result<()> {
    let first_new = into.len();
    into.extend(from.iter().cloned());
    if !from.iter().any(|e| e.get_ref().starts_with('!')) {
        return Ok(());
    }
    let names: Vec<&str> = into.iter().map(|e| e.get_ref().as_str()).collect();
    match crate::syscalls::first_idle_removal(&names) {
        Some(index) if index >= first_new => {
            let entry = &into[index];
            Err(layer.error(
                entry.span(),
                &format!(
                    "{} removes nothing: no earlier entry {verb} {}",
                    entry.get_ref(),
                    if entry.get_ref().starts_with("!@") {
                        "any of its syscalls"
                    } else {
                        "that syscall"
                    }
                ),
            ))
        }
        _ => Ok(()),
    }
}

fn merge_landlock(into: &mut LandlockTable, from: &LandlockTable, layer: &Layer) -> Result<()> {
    override_with(&mut into.enabled, &from.enabled);
    for path in &from.remove {
        let target = path.get_ref().normalized();
        let mut found = false;
        for list in [&mut into.read, &mut into.write, &mut into.execute] {
            let before = list.len();
            list.retain(|e| e.path.normalized() != target);
            found |= list.len() != before;
        }
        if !found {
            return Err(layer.error(
                path.span(),
                &format!("no inherited Landlock rule for {}", path.get_ref()),
            ));
        }
    }
    append_unique(&mut into.read, &from.read);
    append_unique(&mut into.write, &from.write);
    append_unique(&mut into.execute, &from.execute);
    append_ports(&mut into.tcp_bind, &from.tcp_bind);
    append_ports(&mut into.tcp_connect, &from.tcp_connect);
    override_with(&mut into.scope_abstract_unix, &from.scope_abstract_unix);
    override_with(&mut into.scope_signals, &from.scope_signals);
    override_with(&mut into.required, &from.required);
    Ok(())
}

fn append_unique(into: &mut Vec<LandlockEntry>, from: &[LandlockEntry]) {
    for entry in from {
        if !into.contains(entry) {
            into.push(entry.clone());
        }
    }
}

/// A port list restricts once any profile in the chain gives one.
fn append_ports(into: &mut Option<Vec<u16>>, from: &Option<Vec<u16>>) {
    if let Some(ports) = from {
        let list = into.get_or_insert_with(Vec::new);
        for port in ports {
            if !list.contains(port) {
                list.push(*port);
            }
        }
    }
}
