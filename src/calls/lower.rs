//! Lowering: a validated plan -> the calls of its setup and of every step.
//!
//! Takes a [`Plan`]; returns [`Lowered`]. A model of the plan's own mounts ([`Mounts`]) places
//! every path on the mount it is on ([`At`]), and says where a change there lives on the host
//! (the root directory, a bind source, an overlay's upper layer, or nowhere: a filesystem that
//! vanishes with the namespace) and whether nothing outside this namespace can reach it.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{
    At, AttrOn, Call, Dev, FsParam, HostPlace, Lowered, MountId, Source, StepCalls, Target,
};
use crate::model::{
    Action, Create, FsKind, HostPath, Mode, MsFlags, NodeSpec, NodeType, PivotStrategy, Plan, Root,
    RootPath,
};

/// The per-mount flags (`mount_setattr` attributes) a bind remount sets exactly.
const PERM: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// The atime flags.
const ATIME: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME)
    .union(MsFlags::MS_NODIRATIME);

/// Superblock flags a new filesystem gets as `fsconfig` flags.
const SB: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_SYNCHRONOUS)
    .union(MsFlags::MS_DIRSYNC)
    .union(MsFlags::MS_LAZYTIME);

/// Tracks the plan's mounts so far, to place each path on its mount and tell where a created
/// file lives (persistent host directory or a fresh filesystem that vanishes with the
/// namespace).
///
/// Each mount is a covering (target, host directory) with its [`MountId`] (newer is larger):
/// a path lives on the newest covering at or above it. Indexed by target so that a lookup
/// costs one map probe per ancestor of the path, not a scan of every mount made so far
/// (plans with 100k steps).
pub(super) struct Mounts {
    /// The id of the next mount.
    next: u32,
    /// Per target, its live coverings, oldest first.
    by_target: BTreeMap<String, Vec<Covering>>,
}

/// One mount as [`Mounts`] sees it.
struct Covering {
    /// Its id.
    id: MountId,
    /// The host directory its files live in, when persistent.
    host: Option<HostPath>,
    /// A filesystem the plan made that only this mount namespace reaches (tmpfs, devpts).
    private: bool,
    /// For an overlay, whose `host` is its upper layer: its mountpoint.
    overlay: Option<RootPath>,
    /// A mask or a read-only copy, made only when the path exists at apply time: paths below
    /// it are placed on it, but where their changes live is decided by what is below it (when
    /// it is made, it is read-only or a file, and nothing below it can change).
    conditional: bool,
}

impl Mounts {
    pub(super) fn new() -> Self {
        Mounts {
            next: 0,
            by_target: BTreeMap::new(),
        }
    }
    /// The newest covering at or above `p` (`conditional` ones too, or not): its target and
    /// entry.
    fn newest<'a>(&'a self, p: &'a RootPath, conditional: bool) -> Option<(&'a str, &'a Covering)> {
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
            let top = self
                .by_target
                .get(a)
                .and_then(|v| v.iter().rev().find(|c| conditional || !c.conditional));
            if let Some(c) = top {
                if best.is_none_or(|(_, b)| c.id > b.id) {
                    best = Some((a, c));
                }
            }
        }
        best
    }
    /// `p` placed on its mount.
    pub(super) fn at(&self, p: &RootPath) -> At {
        match self.newest(p, true) {
            Some((target, c)) => At {
                path: p.clone(),
                on: c.id,
                rel: below(target, p),
            },
            None => At {
                path: p.clone(),
                on: MountId::ROOT,
                rel: p.relative().to_string(),
            },
        }
    }
    pub(super) fn host_place(&self, p: &RootPath) -> Option<HostPlace> {
        let (target, c) = self.newest(p, false)?;
        let base = c.host.clone()?;
        Some(HostPlace {
            base,
            rel: below(target, p),
            overlay: c.overlay.clone(),
        })
    }
    /// Whether `p` lives on a filesystem the plan made that only this namespace reaches.
    pub(super) fn private(&self, p: &RootPath) -> bool {
        self.newest(p, false).is_some_and(|(_, c)| c.private)
    }
    /// A new mount on `target`: its id.
    pub(super) fn push(&mut self, target: RootPath, host: Option<HostPath>) -> MountId {
        self.push_fs(target, host, false, false)
    }
    /// A mask or read-only copy on `target`, made only when the path exists.
    pub(super) fn push_conditional(&mut self, target: RootPath) -> MountId {
        let id = self.push_fs(target.clone(), None, false, false);
        if let Some(c) = self
            .by_target
            .get_mut(target.as_str())
            .and_then(|v| v.last_mut())
        {
            c.conditional = true;
        }
        id
    }
    pub(super) fn push_fs(
        &mut self,
        target: RootPath,
        host: Option<HostPath>,
        private: bool,
        overlay: bool,
    ) -> MountId {
        let overlay = overlay.then(|| target.clone());
        let id = MountId(self.next);
        self.next += 1;
        self.by_target
            .entry(target.as_str().to_string())
            .or_default()
            .push(Covering {
                id,
                host,
                private,
                overlay,
                conditional: false,
            });
        id
    }
    /// How many mounts were pushed.
    pub(super) fn count(&self) -> usize {
        self.next as usize
    }
    /// `umount2(target, MNT_DETACH)`: the newest mount on `target` goes, with every mount
    /// made below it after it (they sit on it). Mounts made below it before it stay: it hid
    /// them, and they show again. Mounts elsewhere are untouched.
    pub(super) fn remove(&mut self, target: &RootPath) {
        let t = target.as_str();
        let Some(v) = self.by_target.get_mut(t) else {
            return;
        };
        let Some(Covering { id: i, .. }) = v.pop() else {
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
                v.retain(|c| c.id < i);
                if v.is_empty() {
                    self.by_target.remove(&k);
                }
            }
        }
    }
}

/// The part of `p` below the mountpoint `target` (`""` for `target` itself).
fn below(target: &str, p: &RootPath) -> String {
    p.as_str()[target.len()..]
        .trim_start_matches('/')
        .to_string()
}

/// A data string's options as `fsconfig` parameters (`key` or `key=value`, comma-separated:
/// validation keeps commas out of every value).
fn params(data: Option<&str>) -> Vec<FsParam> {
    data.into_iter()
        .flat_map(|d| d.split(','))
        .filter(|o| !o.is_empty())
        .map(|o| match o.split_once('=') {
            Some((k, v)) => FsParam {
                key: k.to_string(),
                value: Some(v.to_string()),
            },
            None => FsParam {
                key: o.to_string(),
                value: None,
            },
        })
        .collect()
}

/// The per-mount attributes of a new filesystem made with `flags`.
fn attrs(flags: MsFlags) -> MsFlags {
    flags & (PERM | ATIME)
}

/// A new filesystem of `fstype` with `flags` and `data`, attached on `to`.
fn new_fs(
    fstype: &str,
    source: &str,
    flags: MsFlags,
    data: Option<&str>,
    mount: MountId,
    to: Target,
) -> [Call; 2] {
    [
        Call::NewFs {
            fstype: fstype.to_string(),
            source: source.to_string(),
            params: params(data),
            sb: flags & SB,
            attr: attrs(flags),
            mount,
        },
        Call::Attach { mount, to },
    ]
}

/// The implicit setup: make `/` a recursive slave, then mount or bind the root.
fn setup(plan: &Plan, mounts: &mut Mounts) -> Vec<Call> {
    let slash = HostPath::new("/").expect("/ is a valid path");
    let mut calls = vec![Call::Mount {
        source: Source::None,
        target: Target::Host(slash),
        flags: MsFlags::MS_SLAVE | MsFlags::MS_REC,
    }];
    match &plan.root {
        Root::Path(p) => {
            let m = mounts.push(RootPath::root(), Some(p.clone()));
            calls.push(Call::CloneTree {
                source: p.clone(),
                recursive: true,
                mount: m,
            });
            calls.push(Call::Attach {
                mount: m,
                to: Target::Host(p.clone()),
            });
        }
        Root::Tmpfs(o) => {
            let m = mounts.push_fs(RootPath::root(), None, true, false);
            let data = crate::model::tmpfs_data(o);
            calls.extend(new_fs(
                "tmpfs",
                "tmpfs",
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                data.as_deref(),
                m,
                Target::TmpRoot,
            ));
        }
    }
    calls
}

/// The setup's calls and every step's calls, in plan order.
pub fn lower(plan: &Plan) -> Lowered {
    let mut mounts = Mounts::new();
    let setup = setup(plan, &mut mounts);
    let mut steps = Vec::with_capacity(plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        let (calls, fallback) = step_calls(&step.action, &mut mounts);
        steps.push(StepCalls {
            step: Some(i),
            calls,
            fallback,
        });
    }
    Lowered {
        setup,
        steps,
        mounts: mounts.count(),
    }
}

/// A creation of `p` (with the mount model's answers about it).
fn mkdir(mounts: &Mounts, p: &RootPath, mode: u32, if_missing: bool) -> Call {
    Call::Mkdir {
        at: mounts.at(p),
        mode: Mode::from_bits(mode),
        if_missing,
        host: mounts.host_place(p),
        private: mounts.private(p),
    }
}

fn step_calls(action: &Action, mounts: &mut Mounts) -> (Vec<Call>, Option<Vec<Call>>) {
    let mut calls = Vec::new();
    let mut fallback = None;
    match action {
        Action::Mount(m) => {
            match m.create {
                Create::Dir => calls.push(mkdir(mounts, &m.target, 0o755, true)),
                Create::File => calls.push(Call::CreateFile {
                    at: mounts.at(&m.target),
                    mode: Mode::from_bits(0o644),
                    host: mounts.host_place(&m.target),
                    private: mounts.private(&m.target),
                }),
                Create::None => {}
            }
            let to = Target::InRoot(mounts.at(&m.target));
            match &m.fs {
                FsKind::Bind { source, recursive } => {
                    let id = mounts.push(m.target.clone(), Some(source.clone()));
                    calls.push(Call::CloneTree {
                        source: source.clone(),
                        recursive: *recursive,
                        mount: id,
                    });
                    // A copy keeps its source's flags: the plan's are set on it while it is
                    // detached. A recursive bind only adds them, to it and every mount it
                    // brought along (they stay as restrictive as on the host); a single bind
                    // gets exactly the ones given, as a bind remount (MS_REMOUNT|MS_BIND) does,
                    // its atime mode changed only when one is given.
                    let rest = m.flags - MsFlags::MS_REC;
                    let (set, clear) = if *recursive {
                        (rest & (PERM | ATIME), MsFlags::empty())
                    } else {
                        let clear_atime = if rest.intersects(ATIME) {
                            ATIME - rest
                        } else {
                            MsFlags::empty()
                        };
                        (rest & (PERM | ATIME), (PERM - rest) | clear_atime)
                    };
                    let needed = if *recursive {
                        !set.is_empty()
                    } else {
                        !rest.is_empty()
                    };
                    if needed {
                        calls.push(Call::SetAttr {
                            on: AttrOn::Mount(id),
                            recursive: *recursive,
                            set,
                            clear,
                        });
                    }
                    calls.push(Call::Attach { mount: id, to });
                }
                fs => {
                    // What is made on an overlay with an upper layer is written to that host
                    // directory: it outlives the namespace, so it is journaled there.
                    let host = match fs {
                        FsKind::Overlay(o) => o.upper.clone(),
                        _ => None,
                    };
                    let private = matches!(fs, FsKind::Tmpfs(_) | FsKind::Devpts(_));
                    let overlay = host.is_some();
                    let id = mounts.push_fs(m.target.clone(), host, private, overlay);
                    calls.extend(new_fs(
                        fs.fstype(),
                        &m.source,
                        m.flags,
                        m.data.as_deref(),
                        id,
                        to,
                    ));
                }
            }
        }
        Action::Remount(r) => {
            let on = AttrOn::Path(Target::InRoot(mounts.at(&r.target)));
            let flags = r.flags - MsFlags::MS_REC;
            if r.flags.contains(MsFlags::MS_REC) {
                calls.push(Call::SetAttr {
                    on,
                    recursive: true,
                    set: flags,
                    clear: MsFlags::empty(),
                });
            } else {
                // As MS_REMOUNT|MS_BIND: exactly these per-mount flags; the atime mode is kept
                // unless one is given.
                let clear_atime = if flags.intersects(ATIME) {
                    ATIME - flags
                } else {
                    MsFlags::empty()
                };
                calls.push(Call::SetAttr {
                    on,
                    recursive: false,
                    set: flags,
                    clear: (PERM - flags) | clear_atime,
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
                target: Target::InRoot(mounts.at(&p.target)),
                flags,
            });
        }
        Action::Umount(u) => {
            calls.push(Call::Umount(Target::InRoot(mounts.at(&u.target))));
            mounts.remove(&u.target);
        }
        Action::Mkdir(m) => {
            if m.parents {
                let anc = m.path.ancestors_and_self();
                // Every ancestor between `/` and the path itself (none for `/`).
                for a in anc.iter().skip(1).take(anc.len().saturating_sub(2)) {
                    calls.push(mkdir(mounts, a, 0o755, true));
                }
            }
            calls.push(mkdir(mounts, &m.path, m.mode.bits(), true));
        }
        Action::Mknod(n) => {
            let (node, dev) = match &n.spec {
                NodeSpec::Given { node, major, minor } => (*node, Dev::Num(*major, *minor)),
                NodeSpec::FromHost(h) => (NodeType::Char, Dev::FromHost(h.clone())),
            };
            let host = mounts.host_place(&n.path);
            let at = mounts.at(&n.path);
            calls.push(Call::Mknod {
                at: at.clone(),
                node,
                mode: n.mode,
                dev,
                host: host.clone(),
                private: mounts.private(&n.path),
            });
            if n.uid.is_some() || n.gid.is_some() {
                calls.push(Call::Chown {
                    at: at.clone(),
                    uid: n.uid,
                    gid: n.gid,
                    host: host.clone(),
                });
                // A chown clears the set-id bits: put them back.
                if n.mode.bits() & 0o6000 != 0 {
                    calls.push(Call::Chmod {
                        at,
                        mode: n.mode,
                        host,
                    });
                }
            }
        }
        Action::Symlink(s) => calls.push(Call::Symlink {
            to: s.to.clone(),
            at: mounts.at(&s.path),
            host: mounts.host_place(&s.path),
            private: mounts.private(&s.path),
        }),
        Action::Chmod(c) => {
            let host = mounts.host_place(&c.path);
            let at = mounts.at(&c.path);
            // The owner first: a chown clears the set-id bits, so the mode comes after it and
            // ends as the plan says.
            if c.uid.is_some() || c.gid.is_some() {
                calls.push(Call::Chown {
                    at: at.clone(),
                    uid: c.uid,
                    gid: c.gid,
                    host: host.clone(),
                });
            }
            calls.push(Call::Chmod {
                at,
                mode: c.mode,
                host,
            });
        }
        Action::Mask(m) => {
            let at = mounts.at(&m.path);
            let mount = mounts.push_conditional(m.path.clone());
            calls.push(Call::Mask { at, mount });
        }
        Action::Readonly(r) => {
            let at = mounts.at(&r.path);
            let mount = mounts.push_conditional(r.path.clone());
            calls.push(Call::Readonly { at, mount });
        }
        Action::Pivot(p) => {
            calls = pivot_calls(p.strategy, &p.put_old, mounts);
            fallback = p.fallback.map(|s| pivot_calls(s, &p.put_old, mounts));
        }
    }
    (calls, fallback)
}

fn pivot_calls(s: PivotStrategy, put_old: &RootPath, mounts: &Mounts) -> Vec<Call> {
    // The new root is the mount on top at `/` (an overlay mounted over the root, say).
    let root = Target::InRoot(mounts.at(&RootPath::root()));
    match s {
        PivotStrategy::PivotRoot => vec![
            Call::Chdir(root),
            Call::PivotRoot { put_old: false },
            Call::Umount(Target::Cwd),
            Call::Chdir(Target::AfterPivot(RootPath::root())),
        ],
        PivotStrategy::PutOld => vec![
            Call::MakePutOld {
                at: mounts.at(put_old),
                host: mounts.host_place(put_old),
            },
            Call::Chdir(root),
            Call::PivotRoot { put_old: true },
            Call::Chdir(Target::AfterPivot(RootPath::root())),
            Call::Mount {
                source: Source::None,
                target: Target::OldRoot,
                flags: MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            },
            Call::Umount(Target::OldRoot),
            Call::RemovePutOld,
        ],
        PivotStrategy::Move => vec![
            Call::MaskHostProcSys,
            Call::Chdir(root),
            Call::Mount {
                source: Source::Cwd,
                target: Target::Host(HostPath::new("/").expect("/ is valid")),
                flags: MsFlags::MS_MOVE,
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
