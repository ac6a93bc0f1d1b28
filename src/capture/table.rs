//! A mount table as the kernel wrote it -> the mounts below the captured root, in an order a
//! plan can make them, each with where it came from.
//!
//! Takes the text of `/proc/PID/mountinfo` (and of the capturing process's own, for host
//! paths), the `statmount` records when the kernel gave them, and a [`Look`] at both
//! namespaces' files; returns [`Mount`]s, root first, each with its [`Origin`].

use std::collections::BTreeMap;

use super::{CaptureError, Look, Snapshot, Stat};
use crate::model::{MsFlags, RootPath};
use crate::sys::linux::mountinfo::{self, is_below};
use crate::sys::linux::probe::StatMount;

pub use crate::sys::linux::mountinfo::Line;

/// Parses a mountinfo text; lines that do not parse are skipped.
pub fn parse(text: &str) -> Vec<Line> {
    mountinfo::lines(text)
}

/// A mount's propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Propagation {
    /// In a peer group.
    pub shared: bool,
    /// A slave of a peer group.
    pub slave: bool,
    /// Unbindable.
    pub unbindable: bool,
}

/// Where a mount came from, as far as the tables tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A filesystem of its own, or one whose content the kernel gives any mount of its type
    /// (proc, sysfs, cgroup2, mqueue, ...): a new mount of the type makes it again.
    Fresh,
    /// A bind of this host path (the capturing namespace's). `confirmed` says whether the
    /// path was seen to be the very directory (or file) the mount shows, or why not.
    Host {
        /// The host path.
        path: String,
        /// Seen to be the same inode, or why that could not be checked.
        confirmed: Result<(), String>,
        /// The host mount it is below: its mountpoint and per-mount flags.
        host_mount: (String, MsFlags),
    },
    /// A second mount of a filesystem that only this namespace has (or a part of one), which
    /// a plan cannot bind (its `source` is a host path): made as a new filesystem of the same
    /// type and options, the same tree but not the same files.
    Copy {
        /// Why, in words.
        why: String,
    },
}

/// One mount of the captured tree.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Its line.
    pub line: Line,
    /// The mountpoint relative to the captured root (`/` for the root).
    pub at: RootPath,
    /// The index (in the list) of the mount it is on (`None` for the root).
    pub parent: Option<usize>,
    /// The statmount unique id, when the kernel gave it.
    pub unique: Option<u64>,
    /// Per-mount flags: MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, the atime mode (MS_RELATIME,
    /// MS_NOATIME, or MS_STRICTATIME when neither), MS_NODIRATIME.
    pub flags: MsFlags,
    /// Per-mount options a plan cannot give (`nosymfollow`, `idmapped`).
    pub odd_opts: Vec<String>,
    /// Its propagation.
    pub propagation: Propagation,
    /// Where it came from.
    pub origin: Origin,
    /// What its root is: a directory (`Some(true)`), something else, or unknown.
    pub root_dir: Option<bool>,
    /// It is the top mount at its mountpoint (not covered by a mount on the same path).
    pub top: bool,
}

/// Per-mount options as flags, and those a plan cannot give.
pub fn mount_flags(opts: &[String]) -> (MsFlags, Vec<String>) {
    let mut f = MsFlags::empty();
    let mut odd = Vec::new();
    for o in opts {
        match o.as_str() {
            "ro" => f |= MsFlags::MS_RDONLY,
            "rw" => {}
            "nosuid" => f |= MsFlags::MS_NOSUID,
            "nodev" => f |= MsFlags::MS_NODEV,
            "noexec" => f |= MsFlags::MS_NOEXEC,
            "noatime" => f |= MsFlags::MS_NOATIME,
            "relatime" => f |= MsFlags::MS_RELATIME,
            "nodiratime" => f |= MsFlags::MS_NODIRATIME,
            // Not per-mount flags but shown there: sync and dirsync belong to the superblock.
            "sync" | "dirsync" | "mand" | "lazytime" => {}
            other => odd.push(other.to_string()),
        }
    }
    if !f.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME) {
        f |= MsFlags::MS_STRICTATIME;
    }
    (f, odd)
}

/// The per-mount flags of statmount's `mnt_attr`, as [`mount_flags`] gives them.
fn attr_flags(attr: u64) -> (MsFlags, Vec<String>) {
    use crate::sys::linux::probe as p;
    let mut f = MsFlags::empty();
    for (bit, ms) in [
        (p::MOUNT_ATTR_RDONLY, MsFlags::MS_RDONLY),
        (p::MOUNT_ATTR_NOSUID, MsFlags::MS_NOSUID),
        (p::MOUNT_ATTR_NODEV, MsFlags::MS_NODEV),
        (p::MOUNT_ATTR_NOEXEC, MsFlags::MS_NOEXEC),
        (p::MOUNT_ATTR_NODIRATIME, MsFlags::MS_NODIRATIME),
    ] {
        if attr & bit != 0 {
            f |= ms;
        }
    }
    f |= match attr & p::MOUNT_ATTR_ATIME_MASK {
        p::MOUNT_ATTR_NOATIME => MsFlags::MS_NOATIME,
        p::MOUNT_ATTR_STRICTATIME => MsFlags::MS_STRICTATIME,
        _ => MsFlags::MS_RELATIME,
    };
    let mut odd = Vec::new();
    if attr & p::MOUNT_ATTR_NOSYMFOLLOW != 0 {
        odd.push("nosymfollow".to_string());
    }
    if attr & p::MOUNT_ATTR_IDMAP != 0 {
        odd.push("idmapped".to_string());
    }
    (f, odd)
}

/// Filesystems whose content a new mount shows as well as the captured one (the kernel keeps
/// it per namespace or per machine), when the whole filesystem is mounted (root `/`).
pub const KERNEL_STATE: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup2",
    "cgroup",
    "mqueue",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "fusectl",
    "configfs",
    "efivarfs",
    "binfmt_misc",
];

/// `path` below `prefix`, relative to it (`/` for `prefix` itself).
fn relative(path: &str, prefix: &str) -> String {
    if prefix == "/" {
        return path.to_string();
    }
    let r = &path[prefix.len()..];
    if r.is_empty() { "/".into() } else { r.into() }
}

/// `base` joined with the part of `path` below `prefix`.
fn rebase(base: &str, path: &str, prefix: &str) -> String {
    let rest = relative(path, prefix);
    if rest == "/" {
        base.to_string()
    } else if base == "/" {
        rest
    } else {
        format!("{base}{rest}")
    }
}

/// What [`walk`] found.
pub struct Walked {
    /// The mounts, root first, parents before children, in the order a plan makes them.
    pub mounts: Vec<Mount>,
    /// Mounts at or below the root that could not be placed in the tree.
    pub left_out: Vec<String>,
    /// The host's mounts below a bound root's host path (they come along with the root).
    pub host_below_root: Vec<String>,
    /// The order came from statmount's unique ids (else mountinfo's order).
    pub ordered_by_unique_id: bool,
}

/// The mounts at or below `root` (a path as the captured process sees it) of the snapshot.
pub fn walk(snap: &Snapshot, root: &RootPath, look: &dyn Look) -> Result<Walked, CaptureError> {
    let lines = parse(&snap.mountinfo);
    if lines.is_empty() {
        return Err(CaptureError {
            message: format!("{} is empty or cannot be parsed", snap.mountinfo_name()),
            help: "check that the process exists and that you may read its mountinfo".into(),
        });
    }
    let host = parse(&snap.host_mountinfo);
    let stats: BTreeMap<u64, &StatMount> = match &snap.stat {
        Ok(v) => v.iter().map(|s| (u64::from(s.id_old), s)).collect(),
        Err(_) => BTreeMap::new(),
    };
    let ordered = !stats.is_empty() && lines.iter().all(|l| stats.contains_key(&l.id));
    let prefix = root.as_str();

    // The root: the bottom of the stack of mounts at `prefix` (the one no other mount there
    // is under).
    let at_prefix: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].mountpoint == prefix)
        .collect();
    let bottom = at_prefix.iter().copied().find(|&i| {
        !at_prefix
            .iter()
            .any(|&j| j != i && lines[j].id == lines[i].parent)
    });
    let Some(ri) = bottom else {
        let help = if root.is_root() {
            "the process's root is a directory inside a mount (a chroot), which its \
             mountinfo does not show: capture a process that is not chrooted, with --root \
             PATH naming that directory"
                .to_string()
        } else {
            format!(
                "give a mountpoint as --root (the mountpoints at or below it are: {})",
                mountpoints_below(&lines, prefix)
            )
        };
        return Err(CaptureError {
            message: format!(
                "nothing is mounted at `{prefix}` in {}",
                snap.mountinfo_name()
            ),
            help,
        });
    };

    let key = |i: usize| -> u64 {
        if ordered {
            stats.get(&lines[i].id).map(|s| s.id).unwrap_or(u64::MAX)
        } else {
            i as u64
        }
    };
    let mut children: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if i != ri && is_below(&l.mountpoint, prefix) {
            children.entry(l.parent).or_default().push(i);
        }
    }
    for v in children.values_mut() {
        v.sort_by_key(|&i| key(i));
    }
    // Pre-order from the root: a mount comes after the one it is on, and the mounts on one
    // mount in the order they were made (a mount hidden under a later one is made first).
    let mut order: Vec<(usize, Option<usize>)> = Vec::new();
    let mut seen = vec![false; lines.len()];
    let mut stack = vec![(ri, None)];
    while let Some((i, parent)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let me = order.len();
        order.push((i, parent));
        if let Some(kids) = children.get(&lines[i].id) {
            for &k in kids.iter().rev() {
                stack.push((k, Some(me)));
            }
        }
    }
    let left_out: Vec<String> = (0..lines.len())
        .filter(|&i| !seen[i] && is_below(&lines[i].mountpoint, prefix))
        .map(|i| {
            format!(
                "mount {} at `{}` ({}): the mount it is on (id {}) is not in the tree",
                lines[i].id, lines[i].mountpoint, lines[i].fstype, lines[i].parent
            )
        })
        .collect();

    let mut mounts: Vec<Mount> = Vec::with_capacity(order.len());
    // Filesystems only this namespace has, by device: the first mount of each, as mounted.
    let mut private_devs: BTreeMap<(u32, u32), String> = BTreeMap::new();
    for (n, &(i, parent)) in order.iter().enumerate() {
        let l = &lines[i];
        let st = stats.get(&l.id).copied();
        let (flags, odd_opts) = match st {
            Some(s) if ordered => attr_flags(s.attr),
            _ => mount_flags(&l.opts),
        };
        let propagation = match st {
            Some(s) if ordered => Propagation {
                shared: s.propagation & libc::MS_SHARED != 0,
                slave: s.propagation & libc::MS_SLAVE != 0,
                unbindable: s.propagation & libc::MS_UNBINDABLE != 0,
            },
            _ => Propagation {
                shared: l.shared.is_some(),
                slave: l.master.is_some(),
                unbindable: l.unbindable,
            },
        };
        let rel = relative(&l.mountpoint, prefix);
        let at = RootPath::new(&rel).map_err(|e| CaptureError {
            message: format!(
                "the mountpoint `{}` cannot be a plan path: {e}",
                l.mountpoint
            ),
            help: "capture a tree whose mountpoints are plain paths".into(),
        })?;
        let top = !order
            .iter()
            .skip(n + 1)
            .any(|&(j, _)| lines[j].mountpoint == l.mountpoint);
        let inside = if top {
            look.inside(&l.mountpoint)
        } else {
            None
        };
        let origin = origin(l, inside, &host, &private_devs, look);
        if matches!(origin, Origin::Fresh | Origin::Copy { .. }) {
            private_devs.entry(l.dev).or_insert_with(|| at.to_string());
        }
        let root_dir = match &origin {
            Origin::Host { path, .. } => look.host(path).map(|s| s.dir),
            _ => inside.map(|s| s.dir).or(Some(true)),
        };
        mounts.push(Mount {
            line: l.clone(),
            at,
            parent,
            unique: st.filter(|_| ordered).map(|s| s.id),
            flags,
            odd_opts,
            propagation,
            origin,
            root_dir,
            top,
        });
    }
    let host_below_root = match &mounts[0].origin {
        Origin::Host { path, .. } => host
            .iter()
            .filter(|h| h.mountpoint != *path && is_below(&h.mountpoint, path))
            .map(|h| h.mountpoint.clone())
            .collect(),
        _ => Vec::new(),
    };
    Ok(Walked {
        mounts,
        left_out,
        host_below_root,
        ordered_by_unique_id: ordered,
    })
}

fn mountpoints_below(lines: &[Line], prefix: &str) -> String {
    let v: Vec<&str> = lines
        .iter()
        .filter(|l| is_below(&l.mountpoint, prefix))
        .map(|l| l.mountpoint.as_str())
        .take(8)
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Where mount `l` came from. `inside` is what its mountpoint shows in its namespace (when it
/// is the top mount there); `earlier` the filesystems only this namespace has, met so far.
fn origin(
    l: &Line,
    inside: Option<Stat>,
    host: &[Line],
    earlier: &BTreeMap<(u32, u32), String>,
    look: &dyn Look,
) -> Origin {
    if l.root == "/" && KERNEL_STATE.contains(&l.fstype.as_str()) {
        return Origin::Fresh;
    }
    // The host's mounts of the same filesystem that show the mount's root, the most
    // specific first (the longest root inside the filesystem), then in table order.
    let mut cands: Vec<&Line> = host
        .iter()
        .filter(|h| h.dev == l.dev && is_below(&l.root, &h.root))
        .collect();
    cands.sort_by_key(|h| std::cmp::Reverse(h.root.len()));
    let mut first: Option<Origin> = None;
    for h in cands {
        let path = rebase(&h.mountpoint, &l.root, &h.root);
        let seen = look.host(&path);
        let confirmed = match (inside, seen) {
            (Some(i), Some(s)) if (i.dev, i.ino) == (s.dev, s.ino) => Ok(()),
            (Some(_), Some(_)) => Err(format!(
                "`{path}` on the host is not the inode the mount shows (it may be covered \
                 by another mount there, or replaced)"
            )),
            (_, None) => Err(format!("`{path}` cannot be found on the host")),
            (None, _) => Err(
                "the mount is covered by another one, so its root cannot be \
                              compared with the host path"
                    .to_string(),
            ),
        };
        let (hf, _) = mount_flags(&h.opts);
        let o = Origin::Host {
            path,
            confirmed: confirmed.clone(),
            host_mount: (h.mountpoint.clone(), hf),
        };
        if confirmed.is_ok() {
            return o;
        }
        first.get_or_insert(o);
    }
    if let Some(o) = first {
        return o;
    }
    match earlier.get(&l.dev) {
        Some(at) => Origin::Copy {
            why: format!(
                "it is another mount of the {} mounted at `{at}` (device {}:{}), which the \
                 host does not have, and a plan binds only host paths",
                l.fstype, l.dev.0, l.dev.1
            ),
        },
        None if l.root != "/" => Origin::Copy {
            why: format!(
                "it shows `{}` of a {} (device {}:{}) that neither the host nor this tree \
                 mounts whole, so where it came from cannot be determined",
                l.root, l.fstype, l.dev.0, l.dev.1
            ),
        },
        None => Origin::Fresh,
    }
}
