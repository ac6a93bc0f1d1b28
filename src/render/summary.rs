//! One line of plain words per step: a [`Step`] -> what it does, for people.
//!
//! Takes a validated step; returns a sentence without a final full stop. The exact system calls
//! are shown beside it; this line says the intent (flags as words, the owner, the fallback).

use crate::model::{
    Action, Create, FsKind, MsFlags, NodeSpec, NodeType, PivotStrategy, RootPath, Step,
};

/// The flags as words (`read-only, nosuid`), `MS_REC` left out.
pub(crate) fn flag_words(flags: MsFlags) -> Vec<&'static str> {
    crate::model::option_words(flags - MsFlags::MS_REC)
        .map(|w| if w == "ro" { "read-only" } else { w })
        .collect()
}

fn with_flags(mut s: String, flags: MsFlags) -> String {
    let w = flag_words(flags);
    if !w.is_empty() {
        s.push_str(", ");
        s.push_str(&w.join(", "));
    }
    s
}

/// OCI's recursive spellings of a step, in words: `; on it and every mount below it:
/// read-only, nosuid added, suid cleared` (empty when none).
fn rec_words(rec: &crate::model::RecAttrs) -> String {
    if rec.is_empty() {
        return String::new();
    }
    let mut parts = Vec::new();
    let set = flag_words(rec.set);
    if !set.is_empty() {
        parts.push(format!("{} added", set.join(", ")));
    }
    let cleared: Vec<&str> = crate::lowering::PERM
        .iter()
        .chain([MsFlags::MS_RELATIME])
        .filter(|f| rec.clear.contains(*f))
        .map(|f| flag_words(f).first().copied().unwrap_or("?"))
        .collect();
    if !cleared.is_empty() {
        parts.push(format!("{} cleared", cleared.join(", ")));
    }
    format!("; on it and every mount below it: {}", parts.join("; "))
}

fn owner(uid: Option<u32>, gid: Option<u32>) -> String {
    match (uid, gid) {
        (None, None) => String::new(),
        (Some(u), Some(g)) => format!(", owner {u}:{g}"),
        (Some(u), None) => format!(", owner uid {u}"),
        (None, Some(g)) => format!(", group {g}"),
    }
}

fn strategy(s: PivotStrategy, put_old: &RootPath) -> String {
    match s {
        PivotStrategy::PivotRoot => {
            "pivot_root into the new root and detach the old root".to_string()
        }
        PivotStrategy::PutOld => format!(
            "pivot_root into the new root with the old root on {put_old}, then detach it and \
             remove {put_old}"
        ),
        PivotStrategy::Move => "detach the host's full proc and sysfs mounts, move the new root \
                                onto / and chroot into it"
            .to_string(),
        PivotStrategy::Chroot => "chroot into the new root".to_string(),
    }
}

/// What the step does, in one line.
pub(crate) fn summary(step: &Step) -> String {
    match &step.action {
        Action::Mount(m) => {
            let mut s = match &m.fs {
                FsKind::Bind { source, recursive } => {
                    let rec = if *recursive {
                        " with the mounts below it"
                    } else {
                        ""
                    };
                    format!("bind host {source}{rec} onto {}", m.target)
                }
                fs => {
                    let t = fs.fstype();
                    let src = if m.source() != t {
                        format!(" (source {})", crate::quote::quote(m.source()))
                    } else {
                        String::new()
                    };
                    format!("mount {t}{src} on {}", m.target)
                }
            };
            s = with_flags(s, m.flags - MsFlags::MS_REC);
            if let Some(d) = crate::lowering::fsconfig::data(&m.fs) {
                s.push_str(&format!(" ({d})"));
            }
            s.push_str(&rec_words(&m.rec));
            if let Some(crate::model::IdmapFrom::Userns(p)) = &m.idmap {
                s.push_str(&format!(
                    "; idmapped with the user namespace of `{p}` (a file owned by `k` on the \
                     filesystem is seen as owned by what `k` in that namespace is outside it)"
                ));
            }
            if let Some(crate::model::IdmapFrom::Maps(map)) = &m.idmap {
                let lines = |r: &[crate::model::IdRange]| {
                    r.iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                s.push_str(&format!(
                    "; idmapped, [inside, outside, count]: uid {}; gid {} (a file owned by \
                     `outside` on the filesystem is seen as owned by `inside`)",
                    lines(&map.uid),
                    lines(&map.gid)
                ));
            }
            match m.create {
                Create::Dir => {}
                Create::File => s.push_str("; an empty file is made there first if missing"),
                Create::None => s.push_str("; the mountpoint must exist"),
            }
            s
        }
        Action::Remount(r) => {
            let line = {
                let set = r.flags - MsFlags::MS_REC;
                let w = flag_words(set);
                if r.flags.contains(MsFlags::MS_REC) {
                    if w.is_empty() && !r.rec.is_empty() {
                        // Only recursive spellings that clear: said by `rec_words` below.
                        format!("remount {}", r.target)
                    } else if w.is_empty() {
                        format!(
                            "remount {} and every mount below it, adding no flag",
                            r.target
                        )
                    } else {
                        format!(
                            "make {} and every mount below it {} (added to their flags)",
                            r.target,
                            w.join(", ")
                        )
                    }
                } else if w.is_empty() {
                    format!(
                        "remount {} read-write, clearing nosuid, nodev and noexec",
                        r.target
                    )
                } else {
                    format!(
                        "remount {} {} (flags not named are cleared; atime kept unless named)",
                        r.target,
                        w.join(", ")
                    )
                }
            };
            format!("{line}{}", rec_words(&r.rec))
        }
        Action::Propagation(p) => {
            let rec = if p.recursive {
                " and every mount below it"
            } else {
                ""
            };
            format!("make the mount on {}{rec} {}", p.target, p.kind.as_str())
        }
        Action::Umount(u) => format!(
            "unmount {} and everything mounted below it (detached)",
            u.target
        ),
        Action::Mkdir(m) => {
            let parents = if m.parents {
                " and any missing parent (0755)"
            } else {
                ""
            };
            format!(
                "create directory {}, mode {}{parents}, unless it exists",
                m.path, m.mode
            )
        }
        Action::Mknod(n) => {
            let what = match &n.spec {
                NodeSpec::Given {
                    node: NodeType::Fifo,
                    ..
                } => format!("create FIFO {}", n.path),
                NodeSpec::Given { node, major, minor } => {
                    let t = if *node == NodeType::Char {
                        "character"
                    } else {
                        "block"
                    };
                    format!("create {t} device {} ({major}:{minor})", n.path)
                }
                NodeSpec::FromHost(h) => {
                    format!("create {} with the device number of host {h}", n.path)
                }
            };
            format!("{what}, mode {}{}", n.mode, owner(n.uid, n.gid))
        }
        Action::Symlink(s) => format!("create symlink {} -> {}", s.path, s.to),
        Action::Chmod(c) => format!(
            "set the mode of {} to {}{}",
            c.path,
            c.mode,
            owner(c.uid, c.gid)
        ),
        Action::Mask(m) => format!(
            "hide {} (a directory under an empty read-only tmpfs, anything else under /dev/null; \
             nothing when missing)",
            m.path
        ),
        Action::Readonly(r) => format!(
            "make {} and every mount below it read-only (bound onto itself; nothing when missing)",
            r.path
        ),
        Action::Pivot(p) => {
            let mut s = strategy(p.strategy, &p.put_old);
            if p.auto {
                s = format!("auto: {s}");
            }
            if let Some(f) = p.fallback {
                s.push_str(if p.auto {
                    "; if pivot_root fails with EINVAL: "
                } else {
                    "; if that fails: "
                });
                s.push_str(&strategy(f, &p.put_old));
            }
            s
        }
    }
}
