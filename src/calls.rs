//! The exact system calls of a plan: model steps -> [`Call`] lists.
//!
//! Takes a validated [`Plan`]; returns the implicit setup calls and, for every step in order,
//! the calls apply makes ([`StepCalls`]). The dry run prints these and the executor runs these,
//! through [`crate::sys::Sys`], so the two cannot disagree. A few calls depend on what is on
//! disk at apply time (a missing mountpoint, a file or a directory to mask); they say so in
//! their text.
//!
//! Paths under `<root>` are resolved inside the new root through file descriptors
//! (`openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`); the call is made on the resolved
//! descriptor, never on a joined string. `<tmproot>` is the directory in the tool's state
//! directory that an empty tmpfs root is mounted on, inside the new namespace only.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::ops::Bound;

use crate::model::{
    Action, Create, FsKind, HostPath, Mode, MsFlags, NodeSpec, NodeType, PivotStrategy, Plan, Root,
    RootPath, ms_flags_str,
};

/// Where a mount's source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// NULL.
    None,
    /// A name passed as is (`"proc"`, `"tmpfs"`, a device name for other filesystems).
    Name(String),
    /// A host path, opened `O_PATH` first and passed as its descriptor.
    Host(HostPath),
    /// The current directory (`"."`), the new root after `fchdir`.
    Cwd,
}

/// Where a path-taking call lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path inside the new root, resolved through the root descriptor.
    InRoot(RootPath),
    /// A host path (only the implicit setup: `/` and the root directory).
    Host(HostPath),
    /// The directory an empty tmpfs root is mounted on.
    TmpRoot,
    /// The current directory (`"."`).
    Cwd,
    /// An absolute path in the process's current root, after a pivot (the put_old directory).
    AfterPivot(RootPath),
}

/// Where a change to a file on a persistent filesystem lives on the host, so the journal can
/// undo it after a crash: `base` (the root directory or a bind source) and the path below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlace {
    /// The host directory the path is resolved in (root path or bind source).
    pub base: HostPath,
    /// The path below `base`, without a leading `/` (empty for `base` itself).
    pub rel: String,
    /// When `base` is the upper layer of an overlay the plan mounts: that overlay's
    /// mountpoint. A change there is undone in the upper layer itself once the overlay is
    /// unmounted, and so is what the kernel copies up for it (see [`crate::sys::Sys::sides`]).
    pub overlay: Option<RootPath>,
}

impl HostPlace {
    /// The host path it names: `base/rel`, or `base` itself.
    pub fn on_host(&self) -> String {
        match (self.base.as_str(), self.rel.as_str()) {
            (b, "") => b.to_string(),
            ("/", r) => format!("/{r}"),
            (b, r) => format!("{b}/{r}"),
        }
    }
}

/// A device number, given or copied from a host node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dev {
    /// `makedev(major, minor)`.
    Num(u32, u32),
    /// The `st_rdev` of a host node, checked to have the right type.
    FromHost(HostPath),
}

/// One system call (or a small fixed group the executor makes as one unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `open(root, O_PATH|O_DIRECTORY)`: the descriptor every later path is resolved in.
    OpenRoot(Target),
    /// `mount(2)`.
    Mount {
        /// Source.
        source: Source,
        /// Target.
        target: Target,
        /// Filesystem type, or NULL.
        fstype: Option<String>,
        /// Flags.
        flags: MsFlags,
        /// Data, or NULL.
        data: Option<String>,
    },
    /// `mount_setattr(2)` with `AT_RECURSIVE`: a recursive remount.
    SetattrRec {
        /// Target.
        target: Target,
        /// Flags to set (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, atime).
        set: MsFlags,
    },
    /// `umount2(target, MNT_DETACH)`.
    Umount(Target),
    /// `mkdirat`; with `if_missing`, an existing directory is accepted and left alone.
    Mkdir {
        /// The directory.
        path: RootPath,
        /// Its mode.
        mode: Mode,
        /// Accept an existing directory.
        if_missing: bool,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
        /// On a filesystem the plan made that only this mount namespace reaches (tmpfs,
        /// devpts): nothing outside can rename or replace what is made there.
        private: bool,
    },
    /// `openat(O_CREAT|O_EXCL)` of an empty file when missing (a file mountpoint).
    CreateFile {
        /// The file.
        path: RootPath,
        /// Its mode.
        mode: Mode,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
        /// On a filesystem the plan made that only this mount namespace reaches (tmpfs,
        /// devpts): nothing outside can rename or replace what is made there.
        private: bool,
    },
    /// `mknodat`. An existing node of the same type and number is accepted.
    Mknod {
        /// The node.
        path: RootPath,
        /// Its type.
        node: NodeType,
        /// Its mode.
        mode: Mode,
        /// Its number.
        dev: Dev,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
        /// On a filesystem the plan made that only this mount namespace reaches (tmpfs,
        /// devpts): nothing outside can rename or replace what is made there.
        private: bool,
    },
    /// `symlinkat`. An existing link with the same target is accepted.
    Symlink {
        /// What it points to.
        to: String,
        /// The link.
        path: RootPath,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
        /// On a filesystem the plan made that only this mount namespace reaches (tmpfs,
        /// devpts): nothing outside can rename or replace what is made there.
        private: bool,
    },
    /// `fchmodat` (on the resolved descriptor).
    Chmod {
        /// The file.
        path: RootPath,
        /// The new mode.
        mode: Mode,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
    },
    /// `fchownat` (on the resolved descriptor, not following a final symlink).
    Chown {
        /// The file.
        path: RootPath,
        /// New uid, or -1.
        uid: Option<u32>,
        /// New gid, or -1.
        gid: Option<u32>,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
    },
    /// runc's maskedPaths: a directory gets `mount("tmpfs", P, "tmpfs", MS_RDONLY, NULL)`, anything
    /// else a bind of the host's `/dev/null` (opened and checked to be char 1:3 at start).
    /// A missing path is left alone.
    Mask(RootPath),
    /// runc's readonlyPaths: when the path exists, bind it onto itself (MS_BIND|MS_REC) and make
    /// the bind and everything below it read-only with mount_setattr(AT_RECURSIVE).
    Readonly(RootPath),
    /// Before `move`: every full proc and sysfs mount outside the root is made a recursive
    /// slave and detached (or covered by a tmpfs where that is refused), as runc's msMoveRoot.
    MaskHostProcSys,
    /// `fchdir` to the target.
    Chdir(Target),
    /// `pivot_root(new_root, put_old)`, both relative to the current directory.
    PivotRoot {
        /// new_root (`"."`).
        new_root: String,
        /// put_old (`"."` or the put_old directory).
        put_old: String,
    },
    /// `chroot(".")`.
    Chroot,
    /// `unlinkat(AT_REMOVEDIR)` of a directory in the current root (after a pivot).
    Rmdir(RootPath),
}

impl Call {
    /// The place on the host this call changes, when it changes a file on a persistent
    /// filesystem (the change is journaled); `None` for everything else.
    pub fn host_place(&self) -> Option<&HostPlace> {
        match self {
            Call::Mkdir { host, .. }
            | Call::CreateFile { host, .. }
            | Call::Mknod { host, .. }
            | Call::Symlink { host, .. }
            | Call::Chmod { host, .. }
            | Call::Chown { host, .. } => host.as_ref(),
            _ => None,
        }
    }

    /// Whether this call makes or changes a file (a node, its mode or its owner) rather than a
    /// mount, a working directory or the root.
    pub fn changes_a_file(&self) -> bool {
        matches!(
            self,
            Call::Mkdir { .. }
                | Call::CreateFile { .. }
                | Call::Mknod { .. }
                | Call::Symlink { .. }
                | Call::Chmod { .. }
                | Call::Chown { .. }
        )
    }

    /// Whether this call creates a file on a filesystem the plan made that only this mount
    /// namespace reaches (see [`Call::Mkdir`]'s `private`).
    pub fn is_private(&self) -> bool {
        match self {
            Call::Mkdir { private, .. }
            | Call::CreateFile { private, .. }
            | Call::Mknod { private, .. }
            | Call::Symlink { private, .. } => *private,
            _ => false,
        }
    }
}

/// The calls of one step (or of the implicit setup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCalls {
    /// Index of the step in `plan.steps`; `None` for the implicit setup.
    pub step: Option<usize>,
    /// The calls, in order.
    pub calls: Vec<Call>,
    /// For a pivot with a fallback: the calls made instead when a call of `calls` fails.
    pub fallback: Option<Vec<Call>>,
}

fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn in_root(p: &RootPath) -> String {
    if p.is_root() {
        q("<root>")
    } else {
        q(&format!("<root>{}", p.as_str()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::InRoot(p) => f.write_str(&in_root(p)),
            Target::Host(p) => f.write_str(&q(p.as_str())),
            Target::TmpRoot => f.write_str(&q("<tmproot>")),
            Target::Cwd => f.write_str(&q(".")),
            Target::AfterPivot(p) => f.write_str(&q(p.as_str())),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::None => f.write_str("NULL"),
            Source::Name(n) => f.write_str(&q(n)),
            Source::Host(p) => f.write_str(&q(p.as_str())),
            Source::Cwd => f.write_str(&q(".")),
        }
    }
}

fn opt_q(s: &Option<String>) -> String {
    s.as_deref().map(q).unwrap_or_else(|| "NULL".into())
}

fn id(v: Option<u32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-1".into())
}

impl fmt::Display for Call {
    /// The call as strace would print it, with `<root>` for the new root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::OpenRoot(t) => write!(f, "open({t}, O_PATH|O_DIRECTORY|O_CLOEXEC)"),
            Call::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => write!(
                f,
                "mount({source}, {target}, {}, {}, {})",
                opt_q(fstype),
                ms_flags_str(*flags),
                opt_q(data)
            ),
            Call::SetattrRec { target, set } => write!(
                f,
                "mount_setattr({target}, AT_RECURSIVE, {{attr_set={}}})",
                attr_str(*set)
            ),
            Call::Umount(t) => write!(f, "umount2({t}, MNT_DETACH)"),
            Call::Mkdir {
                path,
                mode,
                if_missing,
                ..
            } => {
                write!(f, "mkdir({}, {mode})", in_root(path))?;
                if *if_missing {
                    f.write_str(" unless it is a directory")?;
                }
                Ok(())
            }
            Call::CreateFile { path, mode, .. } => write!(
                f,
                "openat({}, O_CREAT|O_EXCL|O_WRONLY|O_CLOEXEC, {mode}) unless it exists",
                in_root(path)
            ),
            Call::Mknod {
                path,
                node,
                mode,
                dev,
                ..
            } => {
                let t = match node {
                    NodeType::Char => "S_IFCHR",
                    NodeType::Block => "S_IFBLK",
                    NodeType::Fifo => "S_IFIFO",
                };
                let d = match dev {
                    Dev::Num(ma, mi) => format!("makedev({ma:#x}, {mi:#x})"),
                    Dev::FromHost(p) => format!("<st_rdev of {}>", p),
                };
                if *node == NodeType::Fifo {
                    write!(f, "mknod({}, {t}|{mode})", in_root(path))
                } else {
                    write!(f, "mknod({}, {t}|{mode}, {d})", in_root(path))
                }
            }
            Call::Symlink { to, path, .. } => write!(f, "symlink({}, {})", q(to), in_root(path)),
            Call::Chmod { path, mode, .. } => write!(f, "chmod({}, {mode})", in_root(path)),
            Call::Chown { path, uid, gid, .. } => {
                write!(f, "lchown({}, {}, {})", in_root(path), id(*uid), id(*gid))
            }
            Call::Mask(p) => write!(
                f,
                "mask {}: a directory gets mount(\"tmpfs\", {0}, \"tmpfs\", MS_RDONLY, NULL), \
                 anything else mount(\"/dev/null\", {0}, NULL, MS_BIND, NULL)",
                in_root(p)
            ),
            Call::Readonly(p) => write!(
                f,
                "readonly {0} when it exists: mount({0}, {0}, NULL, MS_BIND|MS_REC, NULL); \
                 mount_setattr({0}, AT_RECURSIVE, {{attr_set=MOUNT_ATTR_RDONLY}})",
                in_root(p)
            ),
            Call::MaskHostProcSys => f.write_str(
                "for each full proc or sysfs mount P outside <root>: \
                 mount(NULL, P, NULL, MS_SLAVE|MS_REC, NULL); umount2(P, MNT_DETACH) \
                 (or mount(\"tmpfs\", P, \"tmpfs\", 0, NULL) when refused)",
            ),
            Call::Chdir(t) => write!(f, "chdir({t})"),
            Call::PivotRoot { new_root, put_old } => {
                write!(f, "pivot_root({}, {})", q(new_root), q(put_old))
            }
            Call::Chroot => f.write_str("chroot(\".\")"),
            Call::Rmdir(p) => write!(f, "rmdir({})", q(p.as_str())),
        }
    }
}

fn attr_str(set: MsFlags) -> String {
    let names = [
        (MsFlags::MS_RDONLY, "MOUNT_ATTR_RDONLY"),
        (MsFlags::MS_NOSUID, "MOUNT_ATTR_NOSUID"),
        (MsFlags::MS_NODEV, "MOUNT_ATTR_NODEV"),
        (MsFlags::MS_NOEXEC, "MOUNT_ATTR_NOEXEC"),
        (MsFlags::MS_NOATIME, "MOUNT_ATTR_NOATIME"),
        (MsFlags::MS_STRICTATIME, "MOUNT_ATTR_STRICTATIME"),
        (MsFlags::MS_NODIRATIME, "MOUNT_ATTR_NODIRATIME"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(f, _)| set.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

/// The flags a bind mount keeps from its first call; everything else needs a remount.
const BIND_KEEPS: MsFlags = MsFlags::MS_REC;

/// Tracks the mounts made so far, to tell where a created file lives (persistent host
/// directory or a fresh filesystem that vanishes with the namespace).
///
/// Each mount is a covering (target, host directory) with a push number: a path lives on the
/// newest covering at or above it. Indexed by target so that a lookup costs one map probe per
/// ancestor of the path, not a scan of every mount made so far (plans with 100k steps).
struct Mounts {
    /// The push number of the next covering.
    next: usize,
    /// Per target, its live coverings, oldest first.
    by_target: BTreeMap<String, Vec<Covering>>,
}

/// One mount as [`Mounts`] sees it.
struct Covering {
    /// Its push number (newer is larger).
    n: usize,
    /// The host directory its files live in, when persistent.
    host: Option<HostPath>,
    /// A filesystem the plan made that only this mount namespace reaches (tmpfs, devpts).
    private: bool,
    /// For an overlay, whose `host` is its upper layer: its mountpoint.
    overlay: Option<RootPath>,
}

impl Mounts {
    fn new() -> Self {
        Mounts {
            next: 0,
            by_target: BTreeMap::new(),
        }
    }
    /// The newest covering at or above `p`: its target and entry.
    fn newest<'a>(&'a self, p: &'a RootPath) -> Option<(&'a str, &'a Covering)> {
        let s = p.as_str();
        // `/`, every ancestor, then the path itself: the newest covering among them.
        let ancestors = std::iter::once("/")
            .chain(
                s.char_indices()
                    .filter(|&(i, c)| c == '/' && i > 0)
                    .map(|(i, _)| &s[..i]),
            )
            .chain((s != "/").then_some(s));
        let mut best: Option<(&str, &Covering)> = None;
        for a in ancestors {
            if let Some(c) = self.by_target.get(a).and_then(|v| v.last()) {
                if best.is_none_or(|(_, b)| c.n > b.n) {
                    best = Some((a, c));
                }
            }
        }
        best
    }
    fn host_place(&self, p: &RootPath) -> Option<HostPlace> {
        let (target, c) = self.newest(p)?;
        let base = c.host.clone()?;
        let rel = p.as_str()[target.len()..]
            .trim_start_matches('/')
            .to_string();
        Some(HostPlace {
            base,
            rel,
            overlay: c.overlay.clone(),
        })
    }
    /// Whether `p` lives on a filesystem the plan made that only this namespace reaches.
    fn private(&self, p: &RootPath) -> bool {
        self.newest(p).is_some_and(|(_, c)| c.private)
    }
    fn push(&mut self, target: RootPath, host: Option<HostPath>) {
        self.push_fs(target, host, false, false);
    }
    fn push_fs(&mut self, target: RootPath, host: Option<HostPath>, private: bool, overlay: bool) {
        let overlay = overlay.then(|| target.clone());
        let n = self.next;
        self.next += 1;
        self.by_target
            .entry(target.as_str().to_string())
            .or_default()
            .push(Covering {
                n,
                host,
                private,
                overlay,
            });
    }
    /// `umount2(target, MNT_DETACH)`: the newest mount on `target` goes, with every mount
    /// made below it after it (they sit on it). Mounts made below it before it stay: it hid
    /// them, and they show again. Mounts elsewhere are untouched.
    fn remove(&mut self, target: &RootPath) {
        let t = target.as_str();
        let Some(v) = self.by_target.get_mut(t) else {
            return;
        };
        let Some(Covering { n: i, .. }) = v.pop() else {
            return;
        };
        if v.is_empty() {
            self.by_target.remove(t);
        }
        let prefix = if target.is_root() {
            "/".to_string()
        } else {
            format!("{t}/")
        };
        let below: Vec<String> = self
            .by_target
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .filter(|k| k.as_str() != t)
            .cloned()
            .collect();
        for k in below {
            if let Some(v) = self.by_target.get_mut(&k) {
                v.retain(|c| c.n < i);
                if v.is_empty() {
                    self.by_target.remove(&k);
                }
            }
        }
    }
}

/// The implicit setup: make `/` a recursive slave, then mount or bind the root and open it.
pub fn setup(plan: &Plan) -> StepCalls {
    let slash = HostPath::new("/").expect("/ is a valid path");
    let mut calls = vec![Call::Mount {
        source: Source::None,
        target: Target::Host(slash),
        fstype: None,
        flags: MsFlags::MS_SLAVE | MsFlags::MS_REC,
        data: None,
    }];
    match &plan.root {
        Root::Path(p) => {
            calls.push(Call::Mount {
                source: Source::Host(p.clone()),
                target: Target::Host(p.clone()),
                fstype: None,
                flags: MsFlags::MS_BIND | MsFlags::MS_REC,
                data: None,
            });
            calls.push(Call::OpenRoot(Target::Host(p.clone())));
        }
        Root::Tmpfs(o) => {
            calls.push(Call::Mount {
                source: Source::Name("tmpfs".into()),
                target: Target::TmpRoot,
                fstype: Some("tmpfs".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                data: crate::model::tmpfs_data(o),
            });
            calls.push(Call::OpenRoot(Target::TmpRoot));
        }
    }
    StepCalls {
        step: None,
        calls,
        fallback: None,
    }
}

/// Every step's calls, in plan order. Index `i` of the result is step `i`.
pub fn expand(plan: &Plan) -> Vec<StepCalls> {
    let mut mounts = Mounts::new();
    if let Root::Path(p) = &plan.root {
        mounts.push(RootPath::root(), Some(p.clone()));
    } else {
        mounts.push_fs(RootPath::root(), None, true, false);
    }
    let mut out = Vec::with_capacity(plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        let mut calls = Vec::new();
        let mut fallback = None;
        match &step.action {
            Action::Mount(m) => {
                let t = Target::InRoot(m.target.clone());
                match m.create {
                    Create::Dir => calls.push(Call::Mkdir {
                        path: m.target.clone(),
                        mode: Mode::from_bits(0o755),
                        if_missing: true,
                        host: mounts.host_place(&m.target),
                        private: mounts.private(&m.target),
                    }),
                    Create::File => calls.push(Call::CreateFile {
                        path: m.target.clone(),
                        mode: Mode::from_bits(0o644),
                        host: mounts.host_place(&m.target),
                        private: mounts.private(&m.target),
                    }),
                    Create::None => {}
                }
                match &m.fs {
                    FsKind::Bind { source, recursive } => {
                        let mut flags = MsFlags::MS_BIND;
                        if *recursive {
                            flags |= MsFlags::MS_REC;
                        }
                        calls.push(Call::Mount {
                            source: Source::Host(source.clone()),
                            target: t.clone(),
                            fstype: None,
                            flags,
                            data: None,
                        });
                        // The kernel ignores MS_RDONLY and friends on a new bind: they take a
                        // remount of the bind. MS_REMOUNT changes only the top mount, so a
                        // recursive bind (which brings the source's submounts along) takes
                        // mount_setattr(AT_RECURSIVE) instead, or its submounts stay writable.
                        let rest = m.flags - BIND_KEEPS;
                        if !rest.is_empty() && *recursive {
                            calls.push(Call::SetattrRec {
                                target: t,
                                set: rest,
                            });
                        } else if !rest.is_empty() {
                            calls.push(Call::Mount {
                                source: Source::None,
                                target: t,
                                fstype: None,
                                flags: MsFlags::MS_REMOUNT | MsFlags::MS_BIND | rest,
                                data: None,
                            });
                        }
                        mounts.push(m.target.clone(), Some(source.clone()));
                    }
                    fs => {
                        calls.push(Call::Mount {
                            source: Source::Name(m.source.clone()),
                            target: t,
                            fstype: Some(fs.fstype().to_string()),
                            flags: m.flags,
                            data: m.data.clone(),
                        });
                        // What is made on an overlay with an upper layer is written to that
                        // host directory: it outlives the namespace, so it is journaled there.
                        let host = match fs {
                            FsKind::Overlay(o) => o.upper.clone(),
                            _ => None,
                        };
                        let private = matches!(fs, FsKind::Tmpfs(_) | FsKind::Devpts(_));
                        let overlay = host.is_some();
                        mounts.push_fs(m.target.clone(), host, private, overlay);
                    }
                }
            }
            Action::Remount(r) => {
                let t = Target::InRoot(r.target.clone());
                if r.flags.contains(MsFlags::MS_REC) {
                    calls.push(Call::SetattrRec {
                        target: t,
                        set: r.flags - MsFlags::MS_REC,
                    });
                } else {
                    calls.push(Call::Mount {
                        source: Source::None,
                        target: t,
                        fstype: None,
                        flags: MsFlags::MS_REMOUNT | MsFlags::MS_BIND | r.flags,
                        data: None,
                    });
                }
            }
            Action::Propagation(p) => {
                let mut flags = p.kind.flag();
                if p.recursive {
                    flags |= MsFlags::MS_REC;
                }
                calls.push(Call::Mount {
                    source: Source::None,
                    target: Target::InRoot(p.target.clone()),
                    fstype: None,
                    flags,
                    data: None,
                });
            }
            Action::Umount(u) => {
                calls.push(Call::Umount(Target::InRoot(u.target.clone())));
                mounts.remove(&u.target);
            }
            Action::Mkdir(m) => {
                if m.parents {
                    let anc = m.path.ancestors_and_self();
                    // Every ancestor between `/` and the path itself (none for `/`).
                    for a in anc.iter().skip(1).take(anc.len().saturating_sub(2)) {
                        calls.push(Call::Mkdir {
                            path: a.clone(),
                            mode: Mode::from_bits(0o755),
                            if_missing: true,
                            host: mounts.host_place(a),
                            private: mounts.private(a),
                        });
                    }
                }
                calls.push(Call::Mkdir {
                    path: m.path.clone(),
                    mode: m.mode,
                    if_missing: true,
                    host: mounts.host_place(&m.path),
                    private: mounts.private(&m.path),
                });
            }
            Action::Mknod(n) => {
                let (node, dev) = match &n.spec {
                    NodeSpec::Given { node, major, minor } => (*node, Dev::Num(*major, *minor)),
                    NodeSpec::FromHost(h) => (NodeType::Char, Dev::FromHost(h.clone())),
                };
                let host = mounts.host_place(&n.path);
                calls.push(Call::Mknod {
                    path: n.path.clone(),
                    node,
                    mode: n.mode,
                    dev,
                    host: host.clone(),
                    private: mounts.private(&n.path),
                });
                if n.uid.is_some() || n.gid.is_some() {
                    calls.push(Call::Chown {
                        path: n.path.clone(),
                        uid: n.uid,
                        gid: n.gid,
                        host,
                    });
                }
            }
            Action::Symlink(s) => calls.push(Call::Symlink {
                to: s.to.clone(),
                path: s.path.clone(),
                host: mounts.host_place(&s.path),
                private: mounts.private(&s.path),
            }),
            Action::Chmod(c) => {
                let host = mounts.host_place(&c.path);
                calls.push(Call::Chmod {
                    path: c.path.clone(),
                    mode: c.mode,
                    host: host.clone(),
                });
                if c.uid.is_some() || c.gid.is_some() {
                    calls.push(Call::Chown {
                        path: c.path.clone(),
                        uid: c.uid,
                        gid: c.gid,
                        host,
                    });
                }
            }
            Action::Mask(m) => calls.push(Call::Mask(m.path.clone())),
            Action::Readonly(r) => calls.push(Call::Readonly(r.path.clone())),
            Action::Pivot(p) => {
                calls = pivot_calls(p.strategy, &p.put_old, &mounts);
                fallback = p.fallback.map(|s| pivot_calls(s, &p.put_old, &mounts));
            }
        }
        out.push(StepCalls {
            step: Some(i),
            calls,
            fallback,
        });
    }
    out
}

fn pivot_calls(s: PivotStrategy, put_old: &RootPath, mounts: &Mounts) -> Vec<Call> {
    let root = Target::InRoot(RootPath::root());
    match s {
        PivotStrategy::PivotRoot => vec![
            Call::Chdir(root),
            Call::PivotRoot {
                new_root: ".".into(),
                put_old: ".".into(),
            },
            Call::Umount(Target::Cwd),
            Call::Chdir(Target::AfterPivot(RootPath::root())),
        ],
        PivotStrategy::PutOld => vec![
            Call::Mkdir {
                path: put_old.clone(),
                mode: Mode::from_bits(0o700),
                if_missing: false,
                host: mounts.host_place(put_old),
                private: mounts.private(put_old),
            },
            Call::Chdir(root),
            Call::PivotRoot {
                new_root: ".".into(),
                put_old: put_old.relative().to_string(),
            },
            Call::Chdir(Target::AfterPivot(RootPath::root())),
            Call::Mount {
                source: Source::None,
                target: Target::AfterPivot(put_old.clone()),
                fstype: None,
                flags: MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                data: None,
            },
            Call::Umount(Target::AfterPivot(put_old.clone())),
            Call::Rmdir(put_old.clone()),
        ],
        PivotStrategy::Move => vec![
            Call::MaskHostProcSys,
            Call::Chdir(root),
            Call::Mount {
                source: Source::Cwd,
                target: Target::Host(HostPath::new("/").expect("/ is valid")),
                fstype: None,
                flags: MsFlags::MS_MOVE,
                data: None,
            },
            Call::Chroot,
            Call::Chdir(Target::AfterPivot(RootPath::root())),
        ],
        PivotStrategy::Chroot => vec![
            Call::Chdir(root),
            Call::Chroot,
            Call::Chdir(Target::AfterPivot(RootPath::root())),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain stack of coverings, scanned: the reference model the index is checked against.
    struct Naive(Vec<(RootPath, Option<HostPath>)>);

    impl Naive {
        fn host_place(&self, p: &RootPath) -> Option<HostPlace> {
            let (t, h) = self.0.iter().rev().find(|(t, _)| p.starts_with(t))?;
            let base = h.clone()?;
            let rel = p.as_str()[t.as_str().len()..]
                .trim_start_matches('/')
                .to_string();
            Some(HostPlace {
                base,
                rel,
                overlay: None,
            })
        }
        /// The newest mount on `target` and every mount made after it below it.
        fn remove(&mut self, target: &RootPath) {
            if let Some(i) = self.0.iter().rposition(|(t, _)| t == target) {
                // Entries after `i` are never on `target` itself (`i` is the newest there).
                let mut j = 0;
                self.0.retain(|(c, _)| {
                    let keep = j < i || (j > i && !c.starts_with(target));
                    j += 1;
                    keep
                });
            }
        }
    }

    #[test]
    fn an_umount_leaves_later_mounts_elsewhere_and_earlier_ones_below() {
        let rp = |p: &str| RootPath::new(p).unwrap();
        let hp = |p: &str| Some(HostPath::new(p).unwrap());
        let mut m = Mounts::new();
        m.push(rp("/"), hp("/srv/root"));
        m.push(rp("/a/deep"), hp("/src/deep"));
        m.push(rp("/a"), None);
        m.push(rp("/a/on-a"), hp("/src/on-a"));
        m.push(rp("/b"), hp("/src/b"));
        m.remove(&rp("/a"));
        // The bind made after the umounted tmpfs, elsewhere, is still there.
        assert_eq!(m.host_place(&rp("/b/x")).unwrap().base.as_str(), "/src/b");
        // What was mounted below /a before it shows again; what sat on it went with it.
        assert_eq!(
            m.host_place(&rp("/a/deep/x")).unwrap().base.as_str(),
            "/src/deep"
        );
        let on_root = m.host_place(&rp("/a/on-a/x")).unwrap();
        assert_eq!(
            (on_root.base.as_str(), on_root.rel.as_str()),
            ("/srv/root", "a/on-a/x")
        );
    }

    #[test]
    fn indexed_mounts_match_the_naive_stack() {
        let paths: Vec<RootPath> = [
            "/", "/a", "/a/b", "/a/b/c", "/a/bc", "/a0", "/a.b", "/b", "/b/a", "/ab",
        ]
        .iter()
        .map(|p| RootPath::new(p).unwrap())
        .collect();
        let hosts = [None, Some(HostPath::new("/srv/x").unwrap())];
        // A small deterministic generator (xorshift), many short random histories.
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % n as u64) as usize
        };
        for _ in 0..300 {
            let mut a = Mounts::new();
            let mut b = Naive(Vec::new());
            for _ in 0..40 {
                let p = paths[next(paths.len())].clone();
                match next(4) {
                    0 | 1 => {
                        let h = hosts[next(2)].clone();
                        a.push(p.clone(), h.clone());
                        b.0.push((p, h));
                    }
                    2 => {
                        a.remove(&p);
                        b.remove(&p);
                    }
                    _ => {}
                }
                for q in &paths {
                    assert_eq!(a.host_place(q), b.host_place(q), "at {q}");
                }
            }
        }
    }

    /// The calls of a valid plan given as text.
    fn expand_text(text: &str) -> Vec<StepCalls> {
        let c = crate::check_with(
            std::path::Path::new("t.toml"),
            &[],
            &mut |_| Ok(text.to_string()),
            &crate::load::Limits::default(),
        );
        expand(&c.dag.as_ref().expect("the plan is valid").plan)
    }

    /// Which creations are private (on a tmpfs or devpts the plan made, where the executor
    /// reuses descriptors): never on the host, a bind, an overlay or another filesystem, and
    /// again after an umount uncovers a private one.
    #[test]
    fn creations_on_a_tmpfs_or_devpts_the_plan_made_are_private() {
        let text = r#"
version = 1
name = "private"
[root]
path = "/srv/root"
[[step]]
kind = "mkdir"
path = "/host"
[[step]]
kind = "mount"
type = "tmpfs"
target = "/t"
[[step]]
kind = "mkdir"
path = "/t/a"
[[step]]
kind = "mount"
type = "bind"
source = "/srv/data"
target = "/t/a"
[[step]]
kind = "symlink"
path = "/t/a/bound"
to = "x"
[[step]]
kind = "umount"
target = "/t/a"
[[step]]
kind = "mknod"
path = "/t/a/fifo"
node = "fifo"
[[step]]
kind = "mount"
type = "devpts"
target = "/t/pts"
[[step]]
kind = "mkdir"
path = "/t/pts/d"
[[step]]
kind = "mount"
type = "overlay"
target = "/t/o"
lower = ["/srv/l"]
upper = "/srv/u"
work = "/srv/w"
[[step]]
kind = "mkdir"
path = "/t/o/d"
[[step]]
kind = "mount"
type = "cgroup2"
target = "/t/cg"
[[step]]
kind = "mkdir"
path = "/t/cg/d"
"#;
        let got: Vec<(String, bool)> = expand_text(text)
            .iter()
            .flat_map(|sc| &sc.calls)
            .filter_map(|c| match c {
                Call::Mkdir { path, .. }
                | Call::CreateFile { path, .. }
                | Call::Mknod { path, .. }
                | Call::Symlink { path, .. } => Some((path.to_string(), c.is_private())),
                _ => None,
            })
            .collect();
        let want = [
            ("/host", false),
            ("/t", false),
            ("/t/a", true),
            ("/t/a", true),
            ("/t/a/bound", false),
            ("/t/a/fifo", true),
            ("/t/pts", true),
            ("/t/pts/d", true),
            ("/t/o", true),
            ("/t/o/d", false),
            ("/t/cg", true),
            ("/t/cg/d", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(p, b)| (p.to_string(), *b)).collect();
        assert_eq!(got, want);
        // A tmpfs root is private from the start.
        let text = "version = 1\nname = \"t\"\n[root]\ntmpfs = {}\n[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n";
        let calls = expand_text(text);
        assert!(calls[0].calls[0].is_private(), "{}", calls[0].calls[0]);
    }

    /// `mkdir -p /` is the root itself: no ancestor to make, and no panic (it once sliced
    /// `anc[1..0]`).
    #[test]
    fn mkdir_with_parents_of_the_root_makes_nothing_else() {
        let text = "version = 1\nname = \"r\"\n[root]\ntmpfs = {}\n[[step]]\nkind = \"mkdir\"\npath = \"/\"\nparents = true\n[[step]]\nkind = \"mkdir\"\npath = \"/a/b\"\nparents = true\n";
        let made: Vec<Vec<String>> = expand_text(text)
            .iter()
            .map(|sc| {
                sc.calls
                    .iter()
                    .filter_map(|c| match c {
                        Call::Mkdir { path, .. } => Some(path.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        assert_eq!(made, [vec!["/"], vec!["/a", "/a/b"]]);
    }
}
