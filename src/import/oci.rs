//! `import oci`: takes an OCI runtime `config.json` (read with the `oci-spec` crate) and the
//! bundle directory it is in; returns the plan that builds what runc builds from it.
//!
//! runc's order is followed, and what runc does without being asked is written out: the
//! mounts in order (a bind's flags by a bind remount of its top mount, `r*` flags by a
//! recursive `mount_setattr`, a propagation option after the mount), then, unless `/dev` is a
//! bind, the default devices (`/dev/null`, `zero`, `full`, `random`, `urandom`, `tty`, then
//! `linux.devices`; bound from the host in a user namespace, where mknod is refused), the
//! `/dev/ptmx` and `/dev/fd`, `stdin`, `stdout`, `stderr` links (and `/dev/core` where the
//! host has `/proc/kcore`), a read-only `/dev` remounted so, `readonlyPaths`, `maskedPaths`, a
//! read-only root, and `pivot_root`. Every key of the file the plan does not carry is a note.

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Mount, Spec};
use serde_json::Value as Json;

use super::writer::{Plan, Step, Value};
use super::{Host, ImportError, Imported, absolute, id_for, mode_str, shell_word};

/// runc's default devices (libcontainer/specconv `AllowedDevices` with a path): path,
/// major, minor; each char, 0666, owned by 0:0.
const DEFAULT_DEVICES: [(&str, i64, i64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/random", 1, 8),
    ("/dev/full", 1, 7),
    ("/dev/tty", 5, 0),
    ("/dev/zero", 1, 5),
    ("/dev/urandom", 1, 9),
];

/// The plain mount flags a plan can write, as runc reads them: word, flag word in the plan,
/// set (`true`) or clear.
const PLAIN: &[(&str, &str, bool)] = &[
    ("ro", "ro", true),
    ("rw", "ro", false),
    ("nosuid", "nosuid", true),
    ("suid", "nosuid", false),
    ("nodev", "nodev", true),
    ("dev", "nodev", false),
    ("noexec", "noexec", true),
    ("exec", "noexec", false),
    ("relatime", "relatime", true),
    ("norelatime", "relatime", false),
    ("noatime", "noatime", true),
    ("atime", "noatime", false),
    ("strictatime", "strictatime", true),
    ("nostrictatime", "strictatime", false),
    ("nodiratime", "nodiratime", true),
    ("diratime", "nodiratime", false),
    ("sync", "sync", true),
    ("async", "sync", false),
    ("dirsync", "dirsync", true),
    ("silent", "silent", true),
    ("loud", "silent", false),
];

/// The order the plan writes flag words in.
const WORDS: [&str; 11] = [
    "ro",
    "nosuid",
    "nodev",
    "noexec",
    "relatime",
    "noatime",
    "strictatime",
    "nodiratime",
    "sync",
    "dirsync",
    "silent",
];

/// runc's recursive options that set a flag with `mount_setattr(AT_RECURSIVE)`.
const REC_SET: &[(&str, &str)] = &[
    ("rro", "ro"),
    ("rnosuid", "nosuid"),
    ("rnodev", "nodev"),
    ("rnoexec", "noexec"),
    ("rnodiratime", "nodiratime"),
    ("rrelatime", "relatime"),
    ("rnoatime", "noatime"),
    ("rstrictatime", "strictatime"),
];

/// runc's recursive options that clear a flag (or set one the plan has no word for).
const REC_OTHER: &[&str] = &[
    "rrw",
    "rsuid",
    "rdev",
    "rexec",
    "rdiratime",
    "rnorelatime",
    "ratime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// A mount's options as runc sorts them.
#[derive(Default)]
struct Options {
    /// Plain flags, by plan word: set or cleared (last word wins, as in runc).
    plain: Vec<(&'static str, bool)>,
    /// Recursive flags to set (plan words).
    rec: Vec<&'static str>,
    bind: bool,
    rbind: bool,
    /// The propagation option: (kind, recursive).
    propagation: Option<(&'static str, bool)>,
    /// Filesystem data, `key` or `key=value`.
    data: Vec<String>,
    /// Options the plan cannot carry, with why.
    dropped: Vec<(String, &'static str)>,
}

impl Options {
    fn parse(opts: &[String]) -> Options {
        let mut o = Options::default();
        for w in opts {
            let w = w.as_str();
            if let Some((_, word, set)) = PLAIN.iter().find(|(n, _, _)| *n == w) {
                o.plain.retain(|(x, _)| x != word);
                o.plain.push((word, *set));
            } else if let Some((_, word)) = REC_SET.iter().find(|(n, _)| *n == w) {
                if !o.rec.contains(word) {
                    o.rec.push(word);
                }
            } else if REC_OTHER.contains(&w) {
                o.dropped.push((
                    w.to_string(),
                    "a plan's recursive flags only add ro, nosuid, nodev, noexec or an atime \
                     mode",
                ));
            } else {
                match w {
                    "bind" => o.bind = true,
                    "rbind" => o.rbind = true,
                    "defaults" => {}
                    "private" | "slave" | "shared" | "unbindable" => {
                        o.propagation = Some((prop_name(w), false))
                    }
                    "rprivate" | "rslave" | "rshared" | "runbindable" => {
                        o.propagation = Some((prop_name(&w[1..]), true))
                    }
                    "idmap" | "ridmap" => o.dropped.push((
                        w.to_string(),
                        "idmapped mounts are not supported by mountplan (nor by runc 1.1)",
                    )),
                    "tmpcopyup" => o.dropped.push((
                        w.to_string(),
                        "runc's copy of the mountpoint's content into the tmpfs has no step",
                    )),
                    "remount" => o.dropped.push((
                        w.to_string(),
                        "a remount of an existing mount is a `remount` step of its own",
                    )),
                    "acl" | "noacl" | "mand" | "nomand" | "iversion" | "noiversion"
                    | "lazytime" | "nolazytime" | "nosymfollow" | "symfollow" => o
                        .dropped
                        .push((w.to_string(), "mountplan has no such mount flag")),
                    _ => o.data.push(w.to_string()),
                }
            }
        }
        o
    }
    /// The plain flags that are set, in the plan's order.
    fn words(&self) -> Vec<String> {
        WORDS
            .iter()
            .filter(|w| self.plain.iter().any(|(x, set)| x == *w && *set))
            .map(|w| w.to_string())
            .collect()
    }
}

fn prop_name(w: &str) -> &'static str {
    match w {
        "private" => "private",
        "slave" => "slave",
        "shared" => "shared",
        _ => "unbindable",
    }
}

/// The importer's state: the plan so far, the notes, the step ids taken.
struct Out {
    plan: Plan,
    notes: Vec<String>,
    ids: BTreeSet<String>,
    /// The root's host directory.
    rootfs: String,
    /// The mounts the plan made so far, and whether each starts empty.
    made: Vec<(String, bool)>,
    /// Directories the plan made so far.
    dirs: BTreeSet<String>,
}

impl Out {
    fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }
    fn id(&mut self, path: &str, suffix: &str) -> String {
        id_for(&format!("{path}{suffix}"), &mut self.ids)
    }
    /// Makes the parent of `dest` when it may be missing, as runc's MkdirAll would: when the
    /// deepest mount of the plan it is on is an empty filesystem (tmpfs) and the plan did not
    /// make it, or it is on the root and not a directory of it on the host. On a mount with
    /// content of its own (proc, sysfs, a bind) it is taken to be there.
    fn parent(&mut self, dest: &str, host: &dyn Host) {
        let parent = match dest.rfind('/') {
            Some(0) | None => return,
            Some(i) => dest[..i].to_string(),
        };
        let on = self
            .made
            .iter()
            .filter(|(m, _)| parent == *m || parent.starts_with(&format!("{m}/")))
            .max_by_key(|(m, _)| m.len())
            .cloned();
        let there = match on {
            Some((m, empty)) => m == parent || !empty || self.dirs.contains(&parent),
            None => {
                self.dirs.contains(&parent)
                    || host.exists(&format!("{}{parent}", self.rootfs.trim_end_matches('/')))
            }
        };
        if !there {
            self.plan.step(
                Step::new("mkdir")
                    .s("path", parent.clone())
                    .set("parents", Value::Bool(true))
                    .comment(format!("runc makes the missing parents of {dest}")),
            );
        }
        let mut p = parent;
        while !p.is_empty() {
            self.dirs.insert(p.clone());
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => break,
            }
        }
    }
    /// Records a mount the plan makes at `dest` (`empty`: a filesystem that starts empty).
    fn mounted(&mut self, dest: &str, empty: bool) {
        self.made.retain(|(m, _)| m != dest);
        self.made.push((dest.to_string(), empty));
    }
}

/// Imports `text`, a `config.json` in the directory `bundle` (relative paths in it are
/// relative to the bundle, as for runc), into a plan whose `#:schema` comment names `schema`.
pub fn import(
    text: &str,
    bundle: &Path,
    schema: &str,
    host: &dyn Host,
) -> Result<Imported, ImportError> {
    let json: Json = serde_json::from_str(text).map_err(|e| {
        ImportError::new(
            format!(
                "the config is not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
            "give an OCI runtime config.json (`runc spec` writes one)",
        )
    })?;
    let spec: Spec = serde_json::from_value(json.clone()).map_err(|e| {
        ImportError::new(
            format!("the config is not an OCI runtime config: {e}"),
            "fix the key named (the OCI runtime spec, config.md, says what it takes)",
        )
    })?;
    let mut o = Out {
        plan: Plan::new(schema),
        notes: Vec::new(),
        ids: BTreeSet::new(),
        rootfs: String::new(),
        made: Vec::new(),
        dirs: BTreeSet::new(),
    };
    leftovers(&json, &mut o.notes);

    let root = spec.root().as_ref().ok_or_else(|| {
        ImportError::new(
            "the config has no `root`",
            "add \"root\": {\"path\": \"rootfs\"} (the root filesystem, relative to the bundle)",
        )
    })?;
    let rootfs = absolute(bundle, &root.path().to_string_lossy());
    o.rootfs = rootfs.clone();
    o.plan.vars.set("ROOTFS", Value::Var(rootfs.clone()));
    o.plan.header = vec![
        "Imported from an OCI runtime config by `mountplan import oci`: what runc builds from"
            .into(),
        "it, in runc's order. `mountplan apply` this plan `-- COMMAND` (process.args is".into(),
        "not part of a plan).".into(),
    ];
    o.plan.root.set("path", Value::Var("${ROOTFS}".into()));

    let linux = spec.linux().clone().unwrap_or_default();
    let userns = namespaces(&linux, &mut o);
    process(&spec, &rootfs, host, &mut o);

    let mounts = spec.mounts().clone().unwrap_or_default();
    let mut dev_ro: Option<Vec<String>> = None;
    for (i, m) in mounts.iter().enumerate() {
        mount(i, m, bundle, host, userns, &mut o, &mut dev_ro);
    }

    let dev_is_bind = mounts.iter().any(|m| {
        absolute(Path::new("/"), &m.destination().to_string_lossy()) == "/dev"
            && is_bind(
                m,
                &Options::parse(m.options().as_deref().unwrap_or_default()),
            )
    });
    if dev_is_bind {
        o.note(
            "/dev is a bind: runc then makes no device, /dev/ptmx or /dev/fd link, and \
             neither does the plan",
        );
    } else {
        devices(&linux, userns, &mut o);
        o.plan.step(
            Step::new("symlink")
                .s("path", "/dev/ptmx")
                .s("to", "pts/ptmx"),
        );
        let mut links = vec![
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
        ];
        if host.exists("/proc/kcore") {
            links.push(("/dev/core", "/proc/kcore"));
            o.note(
                "/dev/core -> /proc/kcore: runc makes this link because this machine has \
                 /proc/kcore; so does the plan",
            );
        }
        for (p, to) in links {
            o.plan.step(Step::new("symlink").s("path", p).s("to", to));
        }
    }
    if let Some(words) = dev_ro {
        let id = o.id("/dev", "-ro");
        o.plan.step(
            Step::new("remount")
                .s("id", id)
                .s("target", "/dev")
                .set("options", Value::Strs(words))
                .comment("runc mounts a read-only /dev read-write and remounts it once its nodes are made"),
        );
    }
    if let Some(p) = linux
        .rootfs_propagation()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let (kind, rec) = match p {
            "private" | "slave" | "shared" | "unbindable" => (prop_name(p), false),
            "rprivate" | "rslave" | "rshared" | "runbindable" => (prop_name(&p[1..]), true),
            other => {
                return Err(ImportError::new(
                    format!("linux.rootfsPropagation is `{other}`"),
                    "use one of private, rprivate, slave, rslave, shared, rshared, \
                     unbindable, runbindable",
                ));
            }
        };
        o.plan.step(
            Step::new("propagation")
                .s("id", "rootfs-propagation")
                .s("target", "/")
                .s("propagation", kind)
                .set("recursive", Value::Bool(rec)),
        );
    }
    for p in linux.readonly_paths().as_deref().unwrap_or_default() {
        o.plan.step(Step::new("readonly").s("path", p));
    }
    for p in linux.masked_paths().as_deref().unwrap_or_default() {
        o.plan.step(Step::new("mask").s("path", p));
    }
    if root.readonly() == Some(true) {
        o.plan.step(
            Step::new("remount")
                .s("id", "root-ro")
                .s("target", "/")
                .set("options", Value::Strs(vec!["ro".into()]))
                .comment("root.readonly: runc remounts the root read-only (its own mount only)"),
        );
    }
    o.plan.step(
        Step::new("pivot")
            .s("id", "pivot")
            .s("strategy", "pivot-root"),
    );
    Ok(Imported {
        text: o.plan.text(),
        notes: o.notes,
    })
}

fn is_bind(m: &Mount, opts: &Options) -> bool {
    m.typ().as_deref() == Some("bind") || opts.bind || opts.rbind
}

/// `[namespaces]`; returns whether there is a user namespace.
fn namespaces(linux: &oci_spec::runtime::Linux, o: &mut Out) -> bool {
    let list = linux.namespaces().clone().unwrap_or_default();
    let has = |t: LinuxNamespaceType| list.iter().any(|n| n.typ() == t);
    for n in &list {
        if let Some(p) = n.path() {
            o.note(format!(
                "linux.namespaces: joining the {} namespace at {} is not supported; the plan \
                 makes a new one",
                n.typ(),
                p.display()
            ));
        }
    }
    if !has(LinuxNamespaceType::Mount) {
        o.note(
            "linux.namespaces has no mount namespace: mountplan always makes one (runc would \
             change the host's mounts)",
        );
    }
    if has(LinuxNamespaceType::Time) {
        o.note("linux.namespaces: a time namespace is not supported; the plan has none");
    }
    let userns = has(LinuxNamespaceType::User);
    if userns {
        o.plan.namespaces.set("user", Value::Bool(true));
        for (key, maps) in [
            ("uidMappings", linux.uid_mappings()),
            ("gidMappings", linux.gid_mappings()),
        ] {
            let maps = maps.clone().unwrap_or_default();
            let one = maps.len() == 1 && maps[0].container_id() == 0 && maps[0].size() == 1;
            if one {
                o.note(format!(
                    "linux.{key}: 0 -> {} is what mountplan maps when id {} runs apply (it \
                     maps the caller to 0)",
                    maps[0].host_id(),
                    maps[0].host_id()
                ));
            } else {
                o.note(format!(
                    "linux.{key}: mountplan maps only the caller to 0; {} mapping(s) not \
                     imported",
                    maps.len()
                ));
            }
        }
    }
    for (key, t) in [
        ("pid", LinuxNamespaceType::Pid),
        ("ipc", LinuxNamespaceType::Ipc),
        ("uts", LinuxNamespaceType::Uts),
        ("net", LinuxNamespaceType::Network),
        ("cgroup", LinuxNamespaceType::Cgroup),
    ] {
        o.plan.namespaces.set(key, Value::Bool(has(t)));
    }
    userns
}

/// `[process]`.
fn process(spec: &Spec, rootfs: &str, host: &dyn Host, o: &mut Out) {
    let uts = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::Uts));
    let Some(p) = spec.process() else {
        o.note("the config has no `process`: the plan's command runs as mountplan's defaults say");
        return;
    };
    if let Some(args) = p.args().as_ref().filter(|a| !a.is_empty()) {
        let line: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
        o.note(format!(
            "process.args: a plan has no command; run it as `mountplan apply PLAN -- {}`",
            line.join(" ")
        ));
    }
    if p.terminal() == Some(true) {
        // runc's console: a pty of the container's devpts, bound onto /dev/console.
        o.plan.process.set("console", Value::str("pty"));
    }
    let user = p.user();
    if user.uid() != 0 {
        o.plan.process.set("uid", Value::Int(i64::from(user.uid())));
    }
    if user.gid() != 0 {
        o.plan.process.set("gid", Value::Int(i64::from(user.gid())));
    }
    if let Some(g) = user.additional_gids().as_ref().filter(|g| !g.is_empty()) {
        o.plan.process.set(
            "groups",
            Value::Ints(g.iter().map(|g| i64::from(*g)).collect()),
        );
    }
    if let Some(m) = user.umask() {
        o.plan.process.set("umask", Value::str(mode_str(m)));
    }
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !cwd.is_empty() && cwd != "/" {
        o.plan.process.set("cwd", Value::str(cwd));
    }
    if let Some(caps) = p.capabilities() {
        let names = |s: &Option<oci_spec::runtime::Capabilities>| -> Option<Vec<String>> {
            let mut v: Vec<String> = s
                .as_ref()?
                .iter()
                .map(|c| {
                    let n = format!("{c}");
                    if n.starts_with("CAP_") {
                        n
                    } else {
                        format!("CAP_{n}")
                    }
                })
                .collect();
            v.sort();
            Some(v)
        };
        let bounding = names(caps.bounding()).unwrap_or_default();
        let effective = names(caps.effective());
        let permitted = names(caps.permitted());
        let ambient = names(caps.ambient());
        let inheritable = names(caps.inheritable());
        let ambient_list = ambient.clone().unwrap_or_default();
        // What the command holds after its exec under runc: as uid 0, its permitted set is
        // filled from the bounding set; as another uid, it keeps only its ambient set.
        let (set, from) = if user.uid() == 0 {
            (bounding.clone(), "bounding")
        } else {
            (
                ambient_list
                    .iter()
                    .filter(|c| bounding.contains(c))
                    .cloned()
                    .collect(),
                "ambient",
            )
        };
        let bounding = Some(bounding);
        let others = [
            ("bounding", &bounding),
            ("effective", &effective),
            ("permitted", &permitted),
            ("inheritable", &inheritable),
            ("ambient", &ambient),
        ];
        let differ: Vec<&str> = others
            .iter()
            .filter(|(_, v)| v.as_ref().is_some_and(|v| *v != set))
            .map(|(n, _)| *n)
            .collect();
        if !differ.is_empty() {
            o.note(format!(
                "process.capabilities: the plan gives the command one set, the {from} set \
                 (what it holds after exec under runc); {} differ and are not imported as such",
                differ.join(", ")
            ));
        }
        o.plan.process.set("capabilities", Value::Strs(set));
    } else {
        o.plan.process.set("capabilities", Value::Strs(Vec::new()));
    }
    if p.no_new_privileges() != Some(true) {
        o.plan.process.set("no_new_privileges", Value::Bool(false));
    }
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        if uts {
            o.plan.process.set("hostname", Value::str(h.clone()));
        } else {
            o.note(format!(
                "hostname `{h}` is not imported: it needs a uts namespace, which the config \
                 does not have (runc refuses it too)"
            ));
        }
    }
    if let Some(env) = p.env() {
        o.plan.env.set("clear", Value::Bool(true));
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            // runc sets HOME from the root's /etc/passwd entry of the uid, else to /.
            let passwd = host.read(&format!("{}/etc/passwd", rootfs.trim_end_matches('/')));
            let home = passwd
                .as_deref()
                .and_then(|t| {
                    t.lines().find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() > 5 && f[2] == user.uid().to_string()).then(|| f[5].to_string())
                    })
                })
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "/".into());
            o.note(format!(
                "process.env has no HOME: runc sets it to {home} (from the root's /etc/passwd, \
                 or /); so does the plan"
            ));
            o.plan.env_set.set("HOME", Value::str(home));
        }
        for e in env {
            match e.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    o.plan.env_set.set(k, Value::str(v));
                }
                _ => o.note(format!(
                    "process.env: `{e}` is not NAME=VALUE; not imported"
                )),
            }
        }
    }
}

/// One entry of `mounts`.
fn mount(
    i: usize,
    m: &Mount,
    bundle: &Path,
    host: &dyn Host,
    userns: bool,
    o: &mut Out,
    dev_ro: &mut Option<Vec<String>>,
) {
    let dest = m.destination().to_string_lossy().into_owned();
    let at = format!("mounts[{i}] ({dest})");
    if !dest.starts_with('/') {
        o.note(format!(
            "{at}: a relative destination is not imported (runc 1.1 takes it relative to /)"
        ));
        return;
    }
    let dest = absolute(Path::new("/"), &dest);
    let opts = Options::parse(m.options().as_deref().unwrap_or_default());
    for (w, why) in &opts.dropped {
        o.note(format!("{at}: option `{w}` is not imported: {why}"));
    }
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        o.note(format!(
            "{at}: uidMappings/gidMappings (an idmapped mount) are not imported: mountplan \
             has no idmapped mounts"
        ));
    }
    let mut typ = m.typ().clone().unwrap_or_else(|| "none".into());
    let mut source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut opts = opts;
    if userns && (typ == "cgroup" || typ == "cgroup2") {
        // A user namespace may not mount cgroup2 without a cgroup namespace of its own: runc
        // then binds the host's unified hierarchy.
        o.note(format!(
            "{at}: in a user namespace the cgroup mount is imported as a recursive bind of the \
             host's /sys/fs/cgroup, as runc falls back to on a cgroup v2 host (on v1 it binds \
             the container's cgroups, which need a cgroup manager)"
        ));
        typ = "bind".into();
        source = "/sys/fs/cgroup".into();
        opts.rbind = true;
    }
    o.parent(&dest, host);
    let id = o.id(&dest, "");
    let mut step = Step::new("mount").s("id", id.clone());
    let words = opts.words();
    let bind = is_bind(m, &opts);
    let mut after_flags: Option<Vec<String>> = None;
    let mut rec_on_mount = false;
    if bind {
        let src = absolute(bundle, &source);
        step = step
            .s("type", if opts.rbind { "rbind" } else { "bind" })
            .s("source", src.clone())
            .s("target", dest.clone());
        if host.is_file(&src) {
            step = step.s("create", "file");
        }
        if opts.rbind {
            // runc remounts only the top mount of a recursive bind with the plain flags; the
            // plan's rbind would give them to every mount it brings, so a remount says it.
            if !words.is_empty() {
                after_flags = Some(words.clone());
            } else if !opts.rec.is_empty() {
                step = step.set(
                    "options",
                    Value::Strs(opts.rec.iter().map(|s| s.to_string()).collect()),
                );
                rec_on_mount = true;
            }
        } else if !words.is_empty() {
            step = step.set("options", Value::Strs(words.clone()));
        }
        if !opts.data.is_empty() {
            o.note(format!(
                "{at}: filesystem options {} of a bind are not imported (a bind takes none)",
                opts.data.join(",")
            ));
        }
    } else {
        let (ty, fs_note) = match typ.as_str() {
            "cgroup" => (
                "cgroup2",
                Some(
                    "type cgroup is imported as cgroup2 (the unified hierarchy, as runc mounts \
                     it on a cgroup v2 host); on a v1 or hybrid host runc binds each v1 \
                     hierarchy of the container's cgroup instead, which needs a cgroup \
                     manager",
                ),
            ),
            "none" => {
                o.note(format!(
                    "{at}: type `none` without `bind` or `rbind` is not a mount; not imported"
                ));
                return;
            }
            t => (t, None),
        };
        if let Some(n) = fs_note {
            o.note(format!("{at}: {n}"));
        }
        let ty = ty.to_string();
        step = step.s("type", ty.clone());
        if !source.is_empty() && source != ty {
            step = step.s("source", source.clone());
        }
        step = step.s("target", dest.clone());
        let mut w = words.clone();
        if dest == "/dev" && w.iter().any(|x| x == "ro") {
            *dev_ro = Some(w.clone());
            w.retain(|x| x != "ro");
        }
        if !w.is_empty() {
            step = step.set("options", Value::Strs(w));
        }
        step = fs_data(&ty, &opts, step, &at, o);
    }
    let empty = matches!(
        step.keys.get("type"),
        Some(Value::Str(t)) if t == "tmpfs" || t == "devpts" || t == "mqueue"
    );
    o.mounted(&dest, empty);
    o.plan.step(step);
    if let Some(w) = after_flags {
        let rid = o.id(&dest, "-flags");
        o.plan.step(
            Step::new("remount")
                .s("id", rid)
                .s("target", dest.clone())
                .set("options", Value::Strs(w))
                .comment(format!(
                    "{at}: runc gives a recursive bind's flags to its top mount only"
                )),
        );
    }
    if let Some((kind, rec)) = opts.propagation {
        let pid = o.id(&dest, "-propagation");
        o.plan.step(
            Step::new("propagation")
                .s("id", pid)
                .s("target", dest.clone())
                .s("propagation", kind)
                .set("recursive", Value::Bool(rec)),
        );
    }
    if !opts.rec.is_empty() && !rec_on_mount {
        let rid = o.id(&dest, "-rec");
        let mut w: Vec<String> = opts.rec.iter().map(|s| s.to_string()).collect();
        w.push("rec".into());
        o.plan.step(
            Step::new("remount")
                .s("id", rid)
                .s("target", dest)
                .set("options", Value::Strs(w))
                .comment(format!(
                    "{at}: the r* options, with mount_setattr(AT_RECURSIVE)"
                )),
        );
    }
}

/// The typed filesystem options of `ty` from runc's data words.
fn fs_data(ty: &str, opts: &Options, mut step: Step, at: &str, o: &mut Out) -> Step {
    let mut rest = Vec::new();
    let octal = |v: &str| u32::from_str_radix(v, 8).ok().map(mode_str);
    let int = |v: &str| v.parse::<i64>().ok();
    let mut newinstance = false;
    for d in &opts.data {
        let (k, v) = d.split_once('=').unwrap_or((d.as_str(), ""));
        let typed = match (ty, k) {
            ("tmpfs", "size") => Some(Value::str(v)),
            ("tmpfs", "nr_inodes") => int(v).map(Value::Int),
            ("tmpfs" | "devpts", "mode") | ("devpts", "ptmxmode") => octal(v).map(Value::Str),
            ("tmpfs" | "devpts", "uid" | "gid") => int(v).map(Value::Int),
            ("devpts", "newinstance") if v.is_empty() => {
                newinstance = true;
                None
            }
            ("overlay", "lowerdir") => Some(Value::Strs(v.split(':').map(String::from).collect())),
            ("overlay", "upperdir") => Some(Value::str(v)),
            ("overlay", "workdir") => Some(Value::str(v)),
            _ => {
                rest.push(d.clone());
                None
            }
        };
        if let Some(val) = typed {
            let key = match k {
                "lowerdir" => "lower",
                "upperdir" => "upper",
                "workdir" => "work",
                k => k,
            };
            step = step.set(key, val);
        }
    }
    if ty == "devpts" && !newinstance {
        step = step.set("newinstance", Value::Bool(false));
    }
    let known = matches!(
        ty,
        "tmpfs" | "devpts" | "proc" | "sysfs" | "mqueue" | "overlay" | "cgroup2"
    );
    if !rest.is_empty() {
        if known {
            o.note(format!(
                "{at}: {ty} options {} are not imported: the plan has no key for them",
                rest.join(",")
            ));
        } else {
            step = step.set("data", Value::Strs(rest));
        }
    }
    step
}

/// runc's default devices, then `linux.devices`, as nodes (or binds of the host's in a user
/// namespace, as runc does).
fn devices(linux: &oci_spec::runtime::Linux, userns: bool, o: &mut Out) {
    struct Dev {
        path: String,
        node: &'static str,
        major: i64,
        minor: i64,
        mode: u32,
        uid: u32,
        gid: u32,
    }
    let given = linux.devices().clone().unwrap_or_default();
    let mut all: Vec<Dev> = DEFAULT_DEVICES
        .iter()
        .filter(|(p, _, _)| !given.iter().any(|d| d.path().as_os_str() == *p))
        .map(|(p, major, minor)| Dev {
            path: p.to_string(),
            node: "char",
            major: *major,
            minor: *minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for d in &given {
        let node = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => "char",
            LinuxDeviceType::B => "block",
            LinuxDeviceType::P => "fifo",
            LinuxDeviceType::A => {
                o.note(format!(
                    "linux.devices: {} has type `a`, which is for cgroup rules only; not \
                     imported",
                    d.path().display()
                ));
                continue;
            }
        };
        all.push(Dev {
            path: absolute(Path::new("/"), &d.path().to_string_lossy()),
            node,
            major: d.major(),
            minor: d.minor(),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    let mut made = BTreeSet::new();
    for d in all {
        let parent = match d.path.rfind('/') {
            Some(0) | None => "/".to_string(),
            Some(i) => d.path[..i].to_string(),
        };
        if parent != "/" && parent != "/dev" && made.insert(parent.clone()) {
            o.plan.step(
                Step::new("mkdir")
                    .s("path", parent)
                    .set("parents", Value::Bool(true)),
            );
        }
        if userns && d.node != "fifo" {
            let id = o.id(&d.path, "");
            o.plan.step(
                Step::new("mount")
                    .s("id", id)
                    .s("type", "bind")
                    .s("source", d.path.clone())
                    .s("target", d.path)
                    .s("create", "file")
                    .comment("in a user namespace runc binds the host's node (mknod is refused)"),
            );
            continue;
        }
        let mut s = Step::new("mknod").s("path", d.path).s("node", d.node);
        if d.node != "fifo" {
            s = s
                .set("major", Value::Int(d.major))
                .set("minor", Value::Int(d.minor));
        }
        o.plan.step(
            s.s("mode", mode_str(d.mode))
                .set("uid", Value::Int(i64::from(d.uid)))
                .set("gid", Value::Int(i64::from(d.gid))),
        );
    }
}

/// Why a key of the config is not in the plan, or `None` when the plan carries it.
fn why_not(path: &str) -> Option<&'static str> {
    Some(match path {
        "ociVersion"
        | "root"
        | "root.path"
        | "root.readonly"
        | "mounts"
        | "hostname"
        | "process"
        | "process.terminal"
        | "process.user"
        | "process.user.uid"
        | "process.user.gid"
        | "process.user.umask"
        | "process.user.additionalGids"
        | "process.args"
        | "process.env"
        | "process.cwd"
        | "process.capabilities"
        | "process.capabilities.bounding"
        | "process.capabilities.effective"
        | "process.capabilities.inheritable"
        | "process.capabilities.permitted"
        | "process.capabilities.ambient"
        | "process.noNewPrivileges"
        | "linux"
        | "linux.uidMappings"
        | "linux.gidMappings"
        | "linux.namespaces"
        | "linux.devices"
        | "linux.rootfsPropagation"
        | "linux.maskedPaths"
        | "linux.readonlyPaths" => {
            return None;
        }
        "process.rlimits" => "resource limits are not part of a mount plan",
        "process.apparmorProfile" => "an AppArmor profile is not part of a mount plan",
        "process.selinuxLabel" | "linux.mountLabel" => {
            "SELinux labels are not part of a mount plan"
        }
        "process.oomScoreAdj" => "the OOM score is not part of a mount plan",
        "process.consoleSize" => "the console size is not part of a mount plan",
        "process.commandLine" => "Windows only",
        "process.user.username" => "Windows only",
        "process.ioPriority" | "process.scheduler" | "process.execCPUAffinity" => {
            "scheduling is not part of a mount plan"
        }
        "linux.seccomp" => {
            "a seccomp filter is not part of a mount plan (the command gets mountplan's own \
             TIOCSTI filter)"
        }
        "linux.resources" | "linux.cgroupsPath" => "cgroups are not part of a mount plan",
        "linux.sysctl" => "sysctls are not part of a mount plan",
        "linux.intelRdt" | "linux.memoryPolicy" | "linux.personality" | "linux.timeOffsets"
        | "linux.netDevices" => "not part of a mount plan",
        "hooks" => "hooks (programs runc runs around the container) are not part of a mount plan",
        "annotations" => "annotations are not part of a mount plan",
        "domainname" => "the NIS domain name is not part of a mount plan",
        "solaris" | "windows" | "vm" | "zos" => "not for Linux",
        _ => "an unknown key",
    })
}

/// Every key of the config the plan does not carry, one note each.
fn leftovers(json: &Json, notes: &mut Vec<String>) {
    fn walk(prefix: &str, v: &Json, notes: &mut Vec<String>) {
        let Json::Object(m) = v else { return };
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match why_not(&path) {
                Some(why) => notes.push(format!("{path}: not imported: {why}")),
                None => {
                    if matches!(
                        path.as_str(),
                        "root" | "process" | "process.user" | "process.capabilities" | "linux"
                    ) {
                        walk(&path, v, notes);
                    }
                }
            }
        }
    }
    walk("", json, notes);
}
