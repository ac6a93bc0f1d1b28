//! Lowering: a validated plan -> the calls of its setup and of every step.
//!
//! Takes a step of a [`Plan`] and the model of the plan's mounts at that point ([`Place`]: the
//! graph's walk, the one model of the mount table); returns the step's calls. The model places
//! every path on the mount it is on ([`At`]), and says where a change there lives on the host
//! (the root directory, a bind source, an overlay's upper layer, or nowhere: a filesystem that
//! vanishes with the namespace) and whether nothing outside this namespace can reach it.

use super::{ATIME, At, AttrOn, Call, Dev, HostPlace, MountId, PERM, Source, Target};
use crate::model::{
    Action, Create, FsKind, HostPath, Mode, MsFlags, NodeSpec, NodeType, PivotStrategy, Plan, Root,
    RootPath,
};

/// Superblock flags a new filesystem gets as `fsconfig` flags.
const SB: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_SYNCHRONOUS)
    .union(MsFlags::MS_DIRSYNC)
    .union(MsFlags::MS_LAZYTIME);

/// What the lowering asks of the model of the plan's mounts (the graph's walk, at the point
/// of the plan where the step runs): which mount a path is on, where a change there lives on
/// the host, and whether nothing outside this namespace can reach it.
pub trait Place {
    /// `p` placed on the mount it is on (the newest of the plan's mounts at or above it).
    fn at(&self, p: &RootPath) -> At;
    /// Where a change at `p` lives on the host, when on a persistent filesystem (the root
    /// directory, a bind's source, an overlay's upper layer).
    fn host_place(&self, p: &RootPath) -> Option<HostPlace>;
    /// Whether `p` is on a filesystem the plan made that only this namespace reaches (a tmpfs
    /// or devpts of the plan's, a tmpfs root).
    fn private(&self, p: &RootPath) -> bool;
}

/// The part of `p` below the mountpoint `target` (`""` for `target` itself).
pub fn below(target: &str, p: &RootPath) -> String {
    p.as_str()[target.len()..]
        .trim_start_matches('/')
        .to_string()
}

/// The per-mount attributes of a new filesystem made with `flags`.
fn attrs(flags: MsFlags) -> MsFlags {
    flags & (PERM | ATIME)
}

/// A new filesystem `fs` with `flags`, attached on `to`.
fn new_fs(fs: &FsKind, source: &str, flags: MsFlags, mount: MountId, to: Target) -> [Call; 2] {
    [
        Call::NewFs {
            fs: fs.clone(),
            source: source.to_string(),
            sb: flags & SB,
            attr: attrs(flags),
            mount,
        },
        Call::Attach { mount, to },
    ]
}

/// The implicit setup: make `/` a recursive slave, then mount or bind the root as `M0`
/// (with mount(2) when the plan's `api` is classic).
pub fn setup(plan: &Plan) -> Vec<Call> {
    let classic = plan.api.is_classic();
    let slash = HostPath::new("/").expect("/ is a valid path");
    let mut calls = vec![Call::Mount {
        source: Source::None,
        target: Target::Host(slash),
        flags: MsFlags::MS_SLAVE | MsFlags::MS_REC,
    }];
    match &plan.root {
        Root::Path(p) if classic => {
            calls.extend(super::classic::bind(
                p,
                true,
                MsFlags::empty(),
                MountId::ROOT,
                Target::Host(p.clone()),
            ));
        }
        Root::Tmpfs(_) if classic => calls.push(super::classic::new_fs(
            &plan.root.fs(),
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            MountId::ROOT,
            Target::TmpRoot,
        )),
        Root::Path(p) => {
            let m = MountId::ROOT;
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
        Root::Tmpfs(_) => {
            let m = MountId::ROOT;
            calls.extend(new_fs(
                &plan.root.fs(),
                "tmpfs",
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                m,
                Target::TmpRoot,
            ));
        }
    }
    calls
}

/// A creation of `p` (with the mount model's answers about it).
fn mkdir(mounts: &dyn Place, p: &RootPath, mode: u32, if_missing: bool) -> Call {
    Call::Mkdir {
        at: mounts.at(p),
        mode: Mode::from_bits(mode),
        if_missing,
        host: mounts.host_place(p),
        private: mounts.private(p),
    }
}

/// The calls of a step that does `action`, its paths placed by `mounts` as the plan stands
/// right before the step; `next` is the number of the next mount made (taken when the step
/// makes one); `classic` makes the calls of `api = "classic"`. Returns the calls and, for a
/// pivot with a fallback, the fallback's.
pub fn step_calls(
    action: &Action,
    mounts: &dyn Place,
    next: &mut u32,
    classic: bool,
) -> (Vec<Call>, Option<Vec<Call>>) {
    let mut take = || {
        let id = MountId(*next);
        *next += 1;
        id
    };
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
                FsKind::Bind { source, recursive } if classic => {
                    calls.extend(super::classic::bind(
                        source,
                        *recursive,
                        m.flags,
                        take(),
                        to,
                    ));
                }
                fs if classic => {
                    calls.push(super::classic::new_fs(fs, m.source(), m.flags, take(), to))
                }
                FsKind::Bind { source, recursive } => {
                    let id = take();
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
                    // OCI's recursive spellings (`rro`, `rrw`, ...): added to and removed from
                    // every mount of the copy, the others kept as each mount has them.
                    if !m.rec.is_empty() {
                        calls.push(Call::SetAttr {
                            on: AttrOn::Mount(id),
                            recursive: true,
                            set: m.rec.set,
                            clear: m.rec.clear,
                        });
                    }
                    if let Some(map) = &m.idmap {
                        calls.push(Call::Idmap {
                            mount: id,
                            recursive: *recursive,
                            map: map.clone(),
                            source: source.clone(),
                        });
                    }
                    calls.push(Call::Attach { mount: id, to });
                }
                fs => {
                    let id = take();
                    calls.extend(new_fs(fs, m.source(), m.flags, id, to));
                }
            }
        }
        Action::Remount(r) => {
            let on = AttrOn::Path(Target::InRoot(mounts.at(&r.target)));
            let flags = r.flags - MsFlags::MS_REC;
            if classic {
                // Recursive remounts are refused for classic plans (validate/api.rs).
                calls.push(Call::Remount { on, flags });
            } else if r.flags.contains(MsFlags::MS_REC) {
                calls.push(Call::SetAttr {
                    on,
                    recursive: true,
                    set: flags | r.rec.set,
                    clear: r.rec.clear,
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
                    on: on.clone(),
                    recursive: false,
                    set: flags,
                    clear: (PERM - flags) | clear_atime,
                });
                // OCI's recursive spellings beside plain words: runc's order, the plain
                // flags on the mount, then these on it and every mount below it.
                if !r.rec.is_empty() {
                    calls.push(Call::SetAttr {
                        on,
                        recursive: true,
                        set: r.rec.set,
                        clear: r.rec.clear,
                    });
                }
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
            if classic {
                calls.push(Call::MaskClassic { at, mount: take() });
            } else {
                calls.push(Call::Mask { at, mount: take() });
            }
        }
        Action::Readonly(r) => {
            let at = mounts.at(&r.path);
            calls.push(Call::Readonly { at, mount: take() });
        }
        Action::Pivot(p) => {
            calls = pivot_calls(p.strategy, &p.put_old, mounts);
            fallback = p.fallback.map(|s| pivot_calls(s, &p.put_old, mounts));
        }
    }
    (calls, fallback)
}

fn pivot_calls(s: PivotStrategy, put_old: &RootPath, mounts: &dyn Place) -> Vec<Call> {
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
