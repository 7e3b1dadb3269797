//! Unit tests on the plans profiles make: merging, overriding, removal, cycles, variables and
//! every error path with its exact `file:line:column`. No kernel needed: profiles come from an
//! in-memory catalog and variables have fixed values.

use std::path::PathBuf;

use super::build::{to_plan, Options};
use super::catalog::memory::MemoryCatalog;
use super::catalog::{Origin, BUILT_IN};
use super::schema::ProfileFile;
use super::vars::Vars;
use super::{commands, merged_profile};
use crate::plan::{
    default_fs_ops, BindMode, EnvOp, FsOp, LandlockAccess, LandlockPath, NetMode, Plan, Seccomp,
};

fn vars() -> Vars {
    Vars::fixed(&[
        ("HOME", "/home/u"),
        ("CWD", "/src/p"),
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ("UID", "1000"),
        ("GID", "1000"),
        ("USER", "u"),
        ("APP", "editor"),
    ])
}

/// Plans without a seccomp filter: these tests are about everything but syscall names.
fn no_seccomp() -> Options {
    Options {
        verbose: false,
        seccomp_off: true,
    }
}

fn with_built_ins() -> MemoryCatalog {
    BUILT_IN
        .iter()
        .fold(MemoryCatalog::default(), |c, (name, text)| {
            c.with(Origin::BuiltIn, name, text)
        })
}

fn user(text: &str) -> MemoryCatalog {
    MemoryCatalog::default().with(Origin::User, "p", text)
}

fn merged(catalog: &MemoryCatalog, name: &str) -> ProfileFile {
    merged_profile(catalog, name, false)
        .expect("profile loads")
        .1
}

fn plan(catalog: &MemoryCatalog, name: &str) -> Plan {
    let merged = merged(catalog, name);
    to_plan(&merged, &vars(), &no_seccomp()).expect("plan builds")
}

/// The one-line error loading (and building) a profile gives.
fn error(catalog: &MemoryCatalog, name: &str) -> String {
    let result = merged_profile(catalog, name, false)
        .and_then(|(_, m)| to_plan(&m, &vars(), &no_seccomp()).map(|_| ()));
    let err = result.expect_err("the profile should be rejected");
    assert_eq!(crate::error::status_of(&err), 125, "setup failure status");
    crate::error::one_line(&err)
}

fn ro(src: &str, dest: &str, optional: bool) -> FsOp {
    FsOp::Bind {
        src: src.into(),
        dest: dest.into(),
        mode: BindMode::ReadOnly,
        optional,
    }
}

fn dests(plan: &Plan) -> Vec<String> {
    plan.fs
        .iter()
        .map(|op| op.dest().display().to_string())
        .collect()
}

#[test]
fn default_profile_is_the_plan_default() {
    let p = plan(&with_built_ins(), "default");
    assert_eq!(p.fs, default_fs_ops());
    assert_eq!(p.net, NetMode::None);
    assert!(p.namespaces.net);
    assert_eq!(p.limits.rlimits, vec![("core".to_string(), 0, 0)]);
    assert_eq!(p.seccomp, Seccomp::Off, "seccomp_off was asked for");
}

#[test]
fn every_built_in_profile_has_a_description_and_builds() {
    let catalog = with_built_ins();
    for (name, _) in BUILT_IN {
        let m = merged(&catalog, name);
        assert!(
            m.description.as_ref().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        assert!(m.seccomp.is_some(), "{name} has a syscall filter");
        to_plan(&m, &vars(), &no_seccomp()).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
}

#[test]
fn build_profile_hides_home_but_keeps_toolchain_caches_and_cwd_writable() {
    let p = plan(&with_built_ins(), "build");
    let tail = &p.fs[default_fs_ops().len()..];
    assert_eq!(
        tail,
        &[
            FsOp::Tmpfs {
                dest: "/home/u".into(),
                size: None,
                mode: Some(0o700)
            },
            ro("/home/u/.cargo/registry", "/home/u/.cargo/registry", true),
            ro("/home/u/.cargo/git", "/home/u/.cargo/git", true),
            ro("/home/u/.cargo/bin", "/home/u/.cargo/bin", true),
            ro("/home/u/.rustup", "/home/u/.rustup", true),
            FsOp::Bind {
                src: "/src/p".into(),
                dest: "/src/p".into(),
                mode: BindMode::ReadWrite,
                optional: false
            },
        ]
    );
    for op in &p.fs {
        let dest = op.dest().display().to_string();
        assert!(
            !dest.contains("credentials") && !dest.contains(".ssh") && !dest.contains(".gnupg"),
            "{op}"
        );
        assert_ne!(dest, "/home/u/.cargo", "never the whole ~/.cargo");
    }
}

#[test]
fn test_profile_binds_the_project_read_only_with_a_private_home() {
    let p = plan(&with_built_ins(), "test");
    assert!(p.fs.contains(&ro("/src/p", "/src/p", false)));
    assert!(dests(&p).contains(&"/home/u".to_string()));
    assert_eq!(p.net, NetMode::None);
}

/// Projects usually live in the home directory: the empty home must not cover them.
#[test]
fn working_directory_binds_come_after_the_private_home() {
    let vars = Vars::fixed(&[("HOME", "/home/u"), ("CWD", "/home/u/proj")]);
    for name in ["build", "test"] {
        let m = merged(&with_built_ins(), name);
        let p = to_plan(&m, &vars, &no_seccomp()).unwrap();
        let d = dests(&p);
        let home = d.iter().position(|x| x == "/home/u").expect("a home");
        let cwd = d
            .iter()
            .rposition(|x| x == "/home/u/proj")
            .expect("the cwd");
        assert!(home < cwd, "{name}: {d:?}");
    }
}

#[test]
fn desktop_profile_uses_the_per_app_home() {
    let p = plan(&with_built_ins(), "desktop");
    assert!(p.fs.contains(&FsOp::Bind {
        src: "/home/u/.local/share/stockade/editor".into(),
        dest: "/home/u".into(),
        mode: BindMode::ReadWrite,
        optional: true,
    }));
    // The display's cookie and sockets are found at launch (sandbox::display), the bus is
    // filtered (sandbox::dbus).
    let display = p
        .display
        .expect("the desktop profile asks for display sockets");
    assert!(display.x11 && display.wayland && display.audio);
    assert!(p
        .dbus
        .expect("a filtered bus")
        .talk
        .contains(&"org.freedesktop.Notifications".to_string()));
}

#[test]
fn extends_appends_lists_and_overrides_scalars() {
    let catalog = MemoryCatalog::default()
        .with(
            Origin::BuiltIn,
            "base",
            "description = \"base\"\nhostname = \"one\"\nnew_session = false\n\
             fs = [{ type = \"proc\", dest = \"/proc\" }]\n\
             [namespaces]\nipc = false\n",
        )
        .with(
            Origin::User,
            "mid",
            "extends = \"base\"\nhostname = \"two\"\nfs = [{ type = \"dev\", dest = \"/dev\" }]\n",
        )
        .with(
            Origin::User,
            "leaf",
            "extends = \"mid\"\ndescription = \"leaf\"\n\
             fs = [{ type = \"tmpfs\", dest = \"/tmp\", size = \"1M\" }]\n\
             [namespaces]\ncgroup = true\n",
        );
    let m = merged(&catalog, "leaf");
    assert_eq!(m.description.as_deref(), Some("leaf"));
    let p = plan(&catalog, "leaf");
    assert_eq!(p.hostname.as_deref(), Some("two"));
    assert!(!p.process.new_session, "inherited from base");
    assert_eq!(dests(&p), ["/proc", "/dev", "/tmp"]);
    assert_eq!(
        p.fs[2],
        FsOp::Tmpfs {
            dest: "/tmp".into(),
            size: Some(1 << 20),
            mode: None
        }
    );
    assert!(!p.namespaces.ipc && p.namespaces.cgroup && p.namespaces.pid);
}

#[test]
fn fs_remove_drops_inherited_operations_at_and_below_a_path() {
    let catalog = MemoryCatalog::default()
        .with(
            Origin::BuiltIn,
            "base",
            "fs = [\n  { type = \"tmpfs\", dest = \"/run\" },\n  \
             { type = \"dir\", dest = \"/run/x\" },\n  \
             { type = \"ro-bind\", src = \"/usr\" },\n]\n",
        )
        .with(
            Origin::User,
            "p",
            "extends = \"base\"\nfs_remove = [\"/run/\"]\nfs = [{ type = \"dir\", dest = \"/run\" }]\n",
        );
    let p = plan(&catalog, "p");
    assert_eq!(
        p.fs,
        vec![
            ro("/usr", "/usr", false),
            FsOp::Dir {
                dest: "/run".into(),
                mode: None
            }
        ]
    );
}

#[test]
fn each_merged_fs_entry_knows_its_layer_after_removals() {
    let catalog = MemoryCatalog::default()
        .with(
            Origin::BuiltIn,
            "base",
            "fs = [\n  { type = \"tmpfs\", dest = \"/run\" },\n  \
             { type = \"ro-bind\", src = \"/usr\" },\n  { type = \"dir\", dest = \"/run/x\" },\n]\n",
        )
        .with(
            Origin::User,
            "p",
            "extends = \"base\"\nfs_remove = [\"/run\"]\nfs = [{ type = \"dir\", dest = \"/a\" }]\n",
        );
    let (chain, merged) = merged_profile(&catalog, "p", false).unwrap();
    assert_eq!(chain.len(), 2);
    let dests: Vec<String> = merged
        .fs
        .iter()
        .map(|e| {
            e.get_ref()
                .dest
                .as_ref()
                .map_or("/usr".into(), |d| d.get_ref().to_string())
        })
        .collect();
    assert_eq!(dests, ["/usr", "/a"]);
    assert_eq!(merged.fs_layers, [0, 1]);
}

#[test]
fn fs_remove_matching_nothing_is_an_error() {
    let catalog = with_built_ins().with(
        Origin::User,
        "p",
        "extends = \"default\"\nfs_remove = [\"/usr\", \"/home\"]\n",
    );
    assert_eq!(
        error(&catalog, "p"),
        "/u/p.toml:2:22: fs_remove[1]: no inherited filesystem operation at or below /home"
    );
}

#[test]
fn env_set_unset_and_remove() {
    let catalog = MemoryCatalog::default()
        .with(
            Origin::BuiltIn,
            "base",
            "[env]\nset = { A = \"${HOME}/a\", B = \"b\" }\nunset = [\"C\", \"D\"]\n",
        )
        .with(
            Origin::User,
            "p",
            "extends = \"base\"\n[env]\nclear = true\nremove = [\"A\", \"C\"]\n\
             set = { D = \"$$d\" }\nunset = [\"B\"]\n",
        );
    let p = plan(&catalog, "p");
    assert!(p.env.clear);
    assert_eq!(
        p.env.ops,
        vec![
            EnvOp::Set("D".into(), "$d".into()),
            EnvOp::Unset("B".into())
        ]
    );
}

#[test]
fn env_unset_patterns_clear_what_is_inherited_and_keep_what_is_set() {
    let catalog = MemoryCatalog::default()
        .with(
            Origin::BuiltIn,
            "base",
            "[env]\nset = { OLD_TOKEN = \"x\", KEEP = \"k\" }\nunset = [\"*SECRET*\"]\n",
        )
        .with(
            Origin::User,
            "p",
            "extends = \"base\"\n[env]\nunset = [\"*token\", \"NAMED\"]\n\
             set = { MY_SECRET = \"s\", NEW_TOKEN = \"t\" }\n",
        );
    let p = plan(&catalog, "p");
    // The child's pattern took the parent's OLD_TOKEN (letters in either case); the values the
    // child sets stay, because patterns apply first.
    assert_eq!(
        p.env.ops,
        vec![
            EnvOp::UnsetMatching("*SECRET*".into()),
            EnvOp::UnsetMatching("*token".into()),
            EnvOp::Set("KEEP".into(), "k".into()),
            EnvOp::Set("MY_SECRET".into(), "s".into()),
            EnvOp::Set("NEW_TOKEN".into(), "t".into()),
            EnvOp::Unset("NAMED".into()),
        ]
    );
    // A name takes only itself: an inherited `token` stays when `TOKEN` is unset.
    let catalog = catalog
        .with(Origin::BuiltIn, "lower", "[env]\nset = { token = \"t\" }\n")
        .with(
            Origin::User,
            "r",
            "extends = \"lower\"\n[env]\nunset = [\"TOKEN\"]\n",
        );
    assert!(plan(&catalog, "r")
        .env
        .ops
        .contains(&EnvOp::Set("token".into(), "t".into())));
    // A pattern is removed as written.
    let catalog = catalog.with(
        Origin::User,
        "q",
        "extends = \"base\"\n[env]\nremove = [\"*SECRET*\"]\n",
    );
    assert!(!plan(&catalog, "q")
        .env
        .ops
        .iter()
        .any(|op| matches!(op, EnvOp::UnsetMatching(_))));
    for (bad, message) in [
        (
            "[\"**\"]",
            "\"**\" is not a variable name or a pattern of name characters and '*'",
        ),
        (
            "[\"A-*\"]",
            "\"A-*\" is not a variable name or a pattern of name characters and '*'",
        ),
    ] {
        let catalog = user(&format!("[env]\nunset = {bad}\n"));
        assert!(
            error(&catalog, "p").ends_with(message),
            "{}",
            error(&catalog, "p")
        );
    }
}

#[test]
fn env_patterns_match_any_run_and_either_case() {
    use crate::plan::name_matches;
    for (pattern, name, expected) in [
        ("*TOKEN*", "GITHUB_TOKEN", true),
        ("*TOKEN*", "npm_config__authToken", true),
        ("*TOKEN*", "TOKEN", true),
        ("*TOKEN*", "TOKE", false),
        ("*_KEY", "API_KEY", true),
        ("*_KEY", "API_KEYS", false),
        ("A*B*C", "AxxBxxBxC", true),
        ("A*B*C", "AxxBxxBxD", false),
        ("SSH_AUTH_SOCK", "SSH_AUTH_SOCK", true),
        ("SSH_AUTH_SOCK", "SSH_AUTH_SOCKET", false),
        ("*", "ANYTHING", true),
        ("X*", "", false),
    ] {
        assert_eq!(
            name_matches(pattern, name.as_bytes()),
            expected,
            "{pattern} {name}"
        );
    }
}

#[test]
fn env_name_both_set_and_unset_in_one_file_is_an_error() {
    let catalog = user("[env]\nset = { X = \"1\" }\nunset = [\"Y\", \"X\"]\n");
    assert_eq!(
        error(&catalog, "p"),
        "/u/p.toml:3:15: env.unset[1]: X is both set and unset in this profile"
    );
}

#[test]
fn env_remove_of_nothing_is_an_error() {
    let catalog = user("[env]\nremove = [\"NOPE\"]\n");
    assert_eq!(
        error(&catalog, "p"),
        "/u/p.toml:2:11: env.remove[0]: NOPE is not set or unset by an inherited profile"
    );
}

#[test]
fn cycles_are_rejected_naming_the_cycle() {
    let catalog = MemoryCatalog::default()
        .with(Origin::User, "a", "extends = \"b\"\n")
        .with(Origin::User, "b", "description = \"b\"\nextends = \"a\"\n");
    assert_eq!(
        error(&catalog, "a"),
        "/u/b.toml:2:11: extends: cycle: a -> b -> a"
    );
    let selfish =
        MemoryCatalog::default().with(Origin::Path, "/x/me.toml", "extends = \"/x/me.toml\"\n");
    assert_eq!(
        error(&selfish, "/x/me.toml"),
        "/x/me.toml:1:11: extends: cycle: me -> me"
    );
}

#[test]
fn a_profile_extending_its_own_name_gets_the_next_one_down() {
    let catalog = with_built_ins().with(
        Origin::User,
        "default",
        "extends = \"default\"\nhostname = \"mine\"\n",
    );
    let p = plan(&catalog, "default");
    assert_eq!(p.hostname.as_deref(), Some("mine"));
    assert_eq!(p.fs, default_fs_ops());
}

#[test]
fn a_user_profile_overrides_the_built_in_one() {
    let catalog = with_built_ins().with(Origin::User, "build", "description = \"mine\"\n");
    let p = plan(&catalog, "build");
    assert!(p.fs.is_empty(), "the user's build does not extend anything");
}

#[test]
fn relative_extends_paths_start_at_the_extending_file() {
    let catalog = MemoryCatalog::default()
        .with(Origin::Path, "/cfg/base.toml", "hostname = \"from-base\"\n")
        .with(
            Origin::Path,
            "/cfg/leaf.toml",
            "extends = \"./base.toml\"\n",
        );
    assert_eq!(
        plan(&catalog, "/cfg/leaf.toml").hostname.as_deref(),
        Some("from-base")
    );
}

#[test]
fn missing_parent_is_reported_at_extends() {
    let catalog = user("description = \"x\"\nextends = \"nowhere\"\n");
    assert_eq!(
        error(&catalog, "p"),
        "/u/p.toml:2:11: extends: no profile named \"nowhere\""
    );
}

#[test]
fn unknown_keys_are_reported_at_the_key() {
    let catalog = user("description = \"x\"\n\n[namespaces]\nnet = true\n");
    assert_eq!(
        error(&catalog, "p"),
        "/u/p.toml:4:1: namespaces.net: unknown field `net`, expected one of `pid`, `uts`, `ipc`, `cgroup`"
    );
    let top = user("descripton = \"x\"\n");
    assert!(
        error(&top, "p").starts_with("/u/p.toml:1:1: descripton: unknown field `descripton`"),
        "{}",
        error(&top, "p")
    );
}

#[test]
fn wrong_types_are_reported_at_the_value() {
    let catalog = user("uid = \"zero\"\n");
    assert_eq!(
        error(&catalog, "p"),
        "/u/p.toml:1:7: uid: invalid type: string \"zero\", expected u32"
    );
    let net = user("net = \"wifi\"\n");
    assert_eq!(
        error(&net, "p"),
        "/u/p.toml:1:7: net: unknown variant `wifi`, expected one of `none`, `host`, `pasta`"
    );
}

#[test]
fn unknown_variables_are_reported_at_the_path() {
    let catalog = user("fs = [\n  { type = \"ro-bind\", src = \"${HOMEDIR}/x\" },\n]\n");
    let e = error(&catalog, "p");
    assert!(
        e.starts_with("/u/p.toml:2:29: fs[0].src: unknown variable ${HOMEDIR} (known: ${HOME},"),
        "{e}"
    );
}

#[test]
fn fs_fields_are_checked_per_type() {
    let extra = user("[[fs]]\ntype = \"tmpfs\"\ndest = \"/tmp\"\nsrc = \"/x\"\n");
    assert_eq!(
        error(&extra, "p"),
        "/u/p.toml:4:7: fs[0].src: type \"tmpfs\" does not take `src`"
    );
    let copy_mode = user("[[fs]]\ntype = \"copy\"\nsrc = \"/etc/hosts\"\nmode = \"0600\"\n");
    assert_eq!(
        error(&copy_mode, "p"),
        "/u/p.toml:4:8: fs[0].mode: type \"copy\" does not take `mode`"
    );
    let missing = user("[[fs]]\ndest = \"/x\"\ntype = \"symlink\"\n");
    assert_eq!(
        error(&missing, "p"),
        "/u/p.toml:3:8: fs[0].type: type \"symlink\" needs `target`"
    );
    let kind = user("[[fs]]\ntype = \"overlay\"\n");
    assert!(
        error(&kind, "p").starts_with("/u/p.toml:2:8: fs[0].type: unknown variant `overlay`"),
        "{}",
        error(&kind, "p")
    );
}

#[test]
fn bad_values_are_reported_at_the_value() {
    let mode = user("fs = [{ type = \"dir\", dest = \"/d\", mode = \"0999\" }]\n");
    assert_eq!(
        error(&mode, "p"),
        "/u/p.toml:1:43: fs[0].mode: mode \"0999\": expected an octal string such as \"0755\""
    );
    let relative = user("chdir = \"src\"\n");
    assert!(
        error(&relative, "p").starts_with("/u/p.toml:1:9: chdir: \"src\" is not an absolute path"),
        "{}",
        error(&relative, "p")
    );
    let rlimit = user("[limits.rlimits]\nnofiles = 10\n");
    assert!(
        error(&rlimit, "p")
            .starts_with("/u/p.toml:2:1: limits.rlimits.nofiles: unknown rlimit \"nofiles\""),
        "{}",
        error(&rlimit, "p")
    );
    let family = user("[seccomp]\nsocket_families = [\"unix\", \"ipx\"]\n");
    assert!(
        error(&family, "p").starts_with(
            "/u/p.toml:2:28: seccomp.socket_families[1]: unknown socket family \"ipx\""
        ),
        "{}",
        error(&family, "p")
    );
    let port = user("[landlock]\ntcp_connect = [80, 70000]\n");
    assert!(
        error(&port, "p").starts_with("/u/p.toml:2:20: landlock.tcp_connect[1]:"),
        "{}",
        error(&port, "p")
    );
}

#[test]
fn syntax_errors_are_located() {
    // Reported where the missing `]` belongs: right after the array's opening bracket.
    let catalog = user("description = \"x\"\nfs = [\n");
    assert!(
        error(&catalog, "p").starts_with("/u/p.toml:2:7: unclosed array"),
        "{}",
        error(&catalog, "p")
    );
}

#[test]
fn limits_map_into_the_plan() {
    let catalog = user(
        "[limits]\ntimeout = \"90s\"\nkill_after = 2\nmemory = \"512M\"\npids = 64\ncpus = 1.5\n\
         [limits.rlimits]\ncore = 0\nnofile = \"1024:4096\"\nas = \"unlimited\"\n",
    );
    let l = plan(&catalog, "p").limits;
    assert_eq!(l.timeout_ms, Some(90_000));
    assert_eq!(l.kill_after_ms, Some(2_000));
    assert_eq!(l.memory_bytes, Some(512 << 20));
    assert_eq!(l.pids, Some(64));
    assert_eq!(l.cpus, Some(1.5));
    assert_eq!(
        l.rlimits,
        vec![
            ("as".to_string(), u64::MAX, u64::MAX),
            ("core".to_string(), 0, 0),
            ("nofile".to_string(), 1024, 4096)
        ]
    );
}

#[test]
fn landlock_lists_merge_and_remove() {
    let catalog = MemoryCatalog::default()
        .with(
            Origin::BuiltIn,
            "base",
            "[landlock]\nread = [\"/usr\", \"-/opt\"]\nwrite = [\"${HOME}\"]\ntcp_connect = [443]\n",
        )
        .with(
            Origin::User,
            "p",
            "extends = \"base\"\n[landlock]\nremove = [\"${HOME}\"]\nexecute = [\"/usr/bin\"]\n\
             tcp_connect = [80]\nrequired = true\nscope_signals = true\n",
        );
    let l = plan(&catalog, "p").landlock.expect("landlock on");
    let path = |p: &str, access, optional| LandlockPath {
        path: PathBuf::from(p),
        access,
        optional,
    };
    assert_eq!(
        l.paths,
        vec![
            path("/usr", LandlockAccess::ReadOnly, false),
            path("/opt", LandlockAccess::ReadOnly, true),
            path("/usr/bin", LandlockAccess::Execute, false),
        ]
    );
    assert_eq!(l.tcp_connect, Some(vec![443, 80]));
    assert_eq!(l.tcp_bind, None);
    assert!(l.required && l.scope_signals && !l.scope_abstract_unix);
    let off = catalog.with(
        Origin::User,
        "off",
        "extends = \"p\"\n[landlock]\nenabled = false\n",
    );
    assert_eq!(plan(&off, "off").landlock, None);
}

#[test]
fn seccomp_lists_append_and_families_remove() {
    let catalog = MemoryCatalog::default()
        .with(
            Origin::BuiltIn,
            "base",
            "[seccomp]\nallow = [\"@system-service\"]\nsocket_families = [\"unix\", \"inet\", \"netlink\"]\n",
        )
        .with(
            Origin::User,
            "p",
            "extends = \"base\"\n[seccomp]\nallow = [\"!@aio\", \"ptrace\"]\n\
             deny_eperm = [\"kill\"]\ndefault_action = \"eperm\"\nsocket_families = [\"!netlink\", \"inet6\"]\n",
        );
    let s = merged(&catalog, "p").seccomp.expect("seccomp table");
    let allow: Vec<&str> = s.allow.iter().map(|a| a.get_ref().as_str()).collect();
    assert_eq!(allow, ["@system-service", "!@aio", "ptrace"]);
    let families: Vec<i32> = s
        .socket_families
        .unwrap()
        .iter()
        .map(|f| f.get_ref().number())
        .collect();
    assert_eq!(families, [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6]);
    let off = catalog.with(
        Origin::User,
        "off",
        "extends = \"p\"\n[seccomp]\nenabled = false\n",
    );
    let m = merged(&off, "off");
    let p = to_plan(&m, &vars(), &Options::default()).expect("no names to resolve when off");
    assert_eq!(p.seccomp, Seccomp::Off);
}

#[test]
fn seccomp_removals_of_nothing_are_errors() {
    let child = |body: &str| {
        MemoryCatalog::default()
            .with(
                Origin::BuiltIn,
                "base",
                "[seccomp]\nallow = [\"execve\", \"exit_group\", \"read\", \"write\"]\n\
                 deny_eperm = [\"kill\"]\n\
                 socket_families = [\"unix\"]\n",
            )
            .with(
                Origin::User,
                "p",
                &format!("extends = \"base\"\n[seccomp]\n{body}\n"),
            )
    };
    for (body, message) in [
        (
            "allow = [\"!write\", \"!ptrace\"]",
            "/u/p.toml:3:20: seccomp.allow[1]: !ptrace removes nothing: no earlier entry \
             allows that syscall",
        ),
        (
            "allow = [\"!@mount\"]",
            "/u/p.toml:3:10: seccomp.allow[0]: !@mount removes nothing: no earlier entry \
             allows any of its syscalls",
        ),
        (
            // Removed once already: the second removal takes nothing away.
            "allow = [\"!read\", \"!read\"]",
            "/u/p.toml:3:19: seccomp.allow[1]: !read removes nothing: no earlier entry allows \
             that syscall",
        ),
        (
            "deny_eperm = [\"!ptrace\"]",
            "/u/p.toml:3:15: seccomp.deny_eperm[0]: !ptrace removes nothing: no earlier entry \
             denies that syscall",
        ),
        (
            "socket_families = [\"!inet\"]",
            "/u/p.toml:3:20: seccomp.socket_families[0]: !inet removes nothing: no earlier \
             entry allows that family",
        ),
    ] {
        assert_eq!(error(&child(body), "p"), message, "{body}");
    }
    // What is inherited, or added earlier in the same list, can be removed.
    let fine = child(
        "allow = [\"!read\", \"ptrace\", \"!ptrace\"]\ndeny_eperm = [\"!kill\"]\n\
         socket_families = [\"!unix\"]",
    );
    let s = merged(&fine, "p").seccomp.expect("seccomp table");
    assert_eq!(s.socket_families.map(|f| f.len()), Some(0));
}

#[test]
fn a_filter_without_execve_or_exit_group_is_an_error() {
    for (text, message) in [
        (
            "extends = \"default\"\n[seccomp]\nallow = [\"@aio\", \"!@system-service\"]\n",
            "/u/p.toml:3:18: seccomp.allow[1]: !@system-service takes away execve, so no \
             command could start",
        ),
        (
            "extends = \"default\"\n[seccomp]\ndeny_eperm = [\"execve\"]\n",
            "/u/p.toml:3:15: seccomp.deny_eperm[0]: execve denies execve, so no command could \
             start",
        ),
        (
            "[seccomp]\nallow = [\"read\"]\n",
            "/u/p.toml: [seccomp] does not allow execve, so no command could start (allow it, \
             or a group that has it such as @default)",
        ),
        (
            "extends = \"default\"\n[seccomp]\ndeny_eperm = [\"exit_group\"]\n",
            "/u/p.toml:3:15: seccomp.deny_eperm[0]: exit_group denies exit_group, so no process \
             could exit",
        ),
        (
            "[seccomp]\nallow = [\"execve\"]\n",
            "/u/p.toml: [seccomp] does not allow exit_group, so no process could exit (allow \
             it, or a group that has it such as @default)",
        ),
    ] {
        let catalog = with_built_ins().with(Origin::User, "p", text);
        assert_eq!(error(&catalog, "p"), message, "{text}");
    }
    // Taken away and given back, or switched off: fine.
    for text in [
        "extends = \"default\"\n[seccomp]\nallow = [\"!@process\", \"execve\"]\n",
        "[seccomp]\nenabled = false\nallow = [\"read\"]\n",
    ] {
        let catalog = with_built_ins().with(Origin::User, "p", text);
        merged(&catalog, "p");
    }
}

/// Needs the syscall tables (`syscalls::resolve`), which land with the seccomp work.
#[test]
fn seccomp_policy_resolves_groups() {
    let catalog = user(
        "[seccomp]\nallow = [\"execve\", \"exit_group\", \"read\", \"write\", \"!write\"]\n\
         default_action = \"kill\"\n",
    );
    let (_, m) = merged_profile(&catalog, "p", true).expect("names resolve");
    let p = to_plan(&m, &vars(), &Options::default()).expect("plan builds");
    let Seccomp::Policy(policy) = p.seccomp else {
        panic!("a policy")
    };
    assert!(policy.allow.contains(&"read".to_string()));
    assert!(!policy.allow.contains(&"write".to_string()));
    assert_eq!(policy.default_action, crate::plan::DenyAction::Kill);
    assert_eq!(
        policy.socket_families,
        [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6]
    );
}

/// Needs the syscall tables (`syscalls::resolve`), which land with the seccomp work.
#[test]
fn unknown_syscall_names_are_located() {
    let catalog = user("[seccomp]\nallow = [\n  \"read\",\n  \"no_such_syscall\",\n]\n");
    let err = merged_profile(&catalog, "p", true).expect_err("unknown name");
    let line = crate::error::one_line(&err);
    assert!(
        line.starts_with("/u/p.toml:4:3: seccomp.allow[1]: "),
        "{line}"
    );
}

#[test]
fn show_output_round_trips_to_the_same_plan() {
    let catalog = with_built_ins();
    for (name, _) in BUILT_IN {
        let (chain, m) = merged_profile(&catalog, name, false).expect("loads");
        let shown = commands::render(&chain, &m, &["a note".into()]).expect("renders");
        let again = MemoryCatalog::default().with(Origin::Path, "/shown.toml", &shown);
        let (chain2, m2) = merged_profile(&again, "/shown.toml", false)
            .unwrap_or_else(|e| panic!("{name}: {e:#}\n{shown}"));
        assert_eq!(chain2.len(), 1, "a shown profile extends nothing");
        let a = to_plan(&m, &vars(), &no_seccomp()).unwrap();
        let b = to_plan(&m2, &vars(), &no_seccomp()).unwrap();
        assert_eq!(a, b, "{name}");
        assert_eq!(
            toml::to_string(&m2).unwrap(),
            toml::to_string(&m).unwrap(),
            "{name}: showing is stable"
        );
    }
}

#[test]
fn profile_names_with_slashes_or_dots_are_not_names() {
    let catalog = with_built_ins();
    assert!(error(&catalog, ".hidden").contains("is not a profile name"));
    assert_eq!(
        error(&catalog, "nope"),
        "no profile named \"nope\" (see stockade profile list)"
    );
    assert_eq!(
        error(&catalog, "mine.toml"),
        "no profile named \"mine.toml\" (a path needs a /, as in ./mine.toml)"
    );
}

/// stockade-profile(5) is written by hand: it must keep up with the group tables.
#[test]
fn man_page_lists_every_seccomp_group_with_its_members() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/man/stockade-profile.5");
    let page = std::fs::read_to_string(path).expect("reading the man page");
    for group in crate::syscalls::groups() {
        let bold = format!("\\fB{}\\fR", group.name);
        if group.members.is_empty() {
            // Computed from the tables (@known): named, not listed.
            assert!(
                page.contains(&bold),
                "{} is not in the man page",
                group.name
            );
            continue;
        }
        let heading = format!(".TP\n\\fB{}\\fR\n", group.name);
        let start = page
            .find(&heading)
            .unwrap_or_else(|| panic!("{} is not in the man page", group.name));
        let entry = &page[start + heading.len()..];
        let end = ["\n.TP", "\n.hy", "\n.SH"]
            .iter()
            .filter_map(|m| entry.find(m))
            .min()
            .unwrap_or(entry.len());
        let entry = &entry[..end];
        assert!(
            entry.starts_with(group.description),
            "{}: description",
            group.name
        );
        let listed: Vec<&str> = entry.lines().last().unwrap_or("").split(", ").collect();
        assert_eq!(listed, group.members, "{}: members", group.name);
    }
}

#[test]
fn fallback_key_is_inherited_and_can_be_turned_back_off() {
    let catalog = MemoryCatalog::default()
        .with(Origin::BuiltIn, "ci", "fallback = \"landlock\"\n")
        .with(
            Origin::User,
            "strict",
            "extends = \"ci\"\nfallback = \"none\"\n",
        )
        .with(Origin::User, "plain", "hostname = \"h\"\n");
    assert!(plan(&catalog, "ci").process.fallback_landlock);
    assert!(!plan(&catalog, "strict").process.fallback_landlock);
    assert!(!plan(&catalog, "plain").process.fallback_landlock);
    let bad = MemoryCatalog::default().with(Origin::User, "p", "fallback = \"chroot\"\n");
    assert!(
        error(&bad, "p").contains("fallback"),
        "{}",
        error(&bad, "p")
    );
}

/// The documents build.rs compiled in give the same profiles, spans included, as parsing the
/// built-in texts, and every built-in has one.
#[test]
fn compiled_built_ins_match_their_parse() {
    use serde::Deserialize;
    for (name, text) in BUILT_IN {
        let document = super::compiled::document(text)
            .unwrap_or_else(|| panic!("no compiled document for {name}"));
        let reparsed = toml::de::DeTable::parse(text).unwrap();
        assert_eq!(format!("{document:?}"), format!("{reparsed:?}"), "{name}");
        let compiled = ProfileFile::deserialize(toml::de::Deserializer::from(document)).unwrap();
        let parsed: ProfileFile = toml::from_str(text).unwrap();
        assert_eq!(format!("{compiled:?}"), format!("{parsed:?}"), "{name}");
    }
    assert_eq!(super::compiled::DOCUMENTS.len(), BUILT_IN.len());
    // Any other text is parsed.
    assert!(super::compiled::document("description = \"x\"\n").is_none());
}
