//! The predicted final mount tree against the kernel's mount table, mount by mount.
//!
//! Takes the [`Dag`] (its predicted mounts and the calls that made them), the mounts at or
//! below the new root (from /proc/self/mountinfo, mountpoints relative to it), what the root
//! brought along when it was bound, and the mount id of each of the plan's mounts as the
//! executor holds it (`None`: not made, or unmounted); returns a [`VerifyReport`].
//!
//! Each predicted mount is found by its mount id, not by its path: a mount that landed where
//! a symlink in the root led (`/lib/x` on a merged-/usr root is `/usr/lib/x`) is the plan's
//! mount there, and the report says where it really is. For each, compared: the fstype (not
//! for binds, whose fstype is their source's), the per-mount flags ro/nosuid/nodev/noexec, the
//! filesystem options the plan states (tmpfs size, mode, inodes, owner; devpts modes and group;
//! an overlay's layers), and the mount it is on (the one the dry run places its target on, or
//! one that mount brought along). A bind without flags keeps its source's flags, and in a user
//! namespace the kernel keeps flags it locked, so there only the flags the plan asks for must be
//! present. Masks and read-only paths of a path that was missing are not made: counted as
//! skipped. Mounts the plan does not predict are accepted only where some mount brought them
//! along: the bound root, a recursive bind, a read-only copy.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::report::{Mismatch, Moved, VerifyReport};
use crate::calls::{Call, MountId, Target};
use crate::graph::{Dag, TreeMount};
use crate::model::{Action, MsFlags, Root};
use crate::sys::MountEntry;

const COMPARED: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

fn flag_words(f: MsFlags) -> String {
    let rw = if f.contains(MsFlags::MS_RDONLY) {
        "ro"
    } else {
        "rw"
    };
    let rest = crate::model::option_words(f & (COMPARED - MsFlags::MS_RDONLY));
    std::iter::once(rw)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(",")
}

fn show_pred(m: &TreeMount) -> String {
    match &m.data {
        Some(d) => format!("{} {} {d}", m.fstype, flag_words(m.flags & COMPARED)),
        None => format!("{} {}", m.fstype, flag_words(m.flags & COMPARED)),
    }
}

fn show_actual(e: &MountEntry) -> String {
    format!(
        "{} {} {}",
        e.fstype,
        flag_words(e.flags & COMPARED),
        e.options
    )
}

/// A filesystem option's value as the kernel shows it in mountinfo, for the options the plan
/// can state; `None` when the kernel shows nothing for it (a default), `Some(None)` when the
/// option is not one compared.
fn shown(fstype: &str, key: &str, value: &str) -> Option<Option<String>> {
    let octal = |v: &str| u32::from_str_radix(v, 8).ok();
    match (fstype, key) {
        ("tmpfs", "size") => {
            if value.ends_with('%') {
                return Some(None);
            }
            let bytes: u64 = value.parse().ok()?;
            // Shown in KiB, rounded up to whole pages.
            let page = 4096u64;
            Some(Some(format!("{}k", bytes.div_ceil(page) * page / 1024)))
        }
        ("tmpfs", "mode") => match octal(value)? {
            0o1777 => None,
            m => Some(Some(format!("{m:o}"))),
        },
        ("tmpfs" | "devpts", "uid" | "gid") if value == "0" => None,
        ("tmpfs", "nr_inodes" | "uid" | "gid") => Some(Some(value.to_string())),
        ("devpts", "mode" | "ptmxmode") => Some(Some(format!("{:03o}", octal(value)?))),
        ("devpts", "uid" | "gid") => Some(Some(value.to_string())),
        ("overlay", "lowerdir" | "upperdir" | "workdir") => Some(Some(value.to_string())),
        _ => Some(None),
    }
}

/// Whether the filesystem options the plan states (`data`) are the ones the kernel shows.
fn options_match(fstype: &str, data: Option<&str>, actual: &str) -> bool {
    let have: HashMap<&str, &str> = actual
        .split(',')
        .filter_map(|o| o.split_once('='))
        .collect();
    for o in data.into_iter().flat_map(|d| d.split(',')) {
        let Some((k, v)) = o.split_once('=') else {
            continue;
        };
        match shown(fstype, k, v) {
            // Not compared.
            Some(None) => {}
            Some(Some(want)) => {
                if have.get(k) != Some(&want.as_str()) {
                    return false;
                }
            }
            // A default: the kernel shows nothing, or shows it as the plan says.
            None => {
                if have.get(k).is_some_and(|h| *h != v) {
                    return false;
                }
            }
        }
    }
    true
}

/// Where each of the plan's mounts was to be attached: the mount number, the step, and the
/// mount its target was placed on (`None` for the root).
fn attachments(dag: &Dag) -> Vec<(MountId, Option<usize>, Option<MountId>)> {
    let mut out = Vec::new();
    for c in &dag.calls.setup {
        if let Call::Attach { mount, .. } = c {
            out.push((*mount, None, None));
        }
    }
    for sc in &dag.calls.steps {
        for c in &sc.calls {
            match c {
                Call::Attach {
                    mount,
                    to: Target::InRoot(at),
                } => out.push((*mount, sc.step, Some(at.on))),
                Call::Mask { at, mount } | Call::Readonly { at, mount } => {
                    out.push((*mount, sc.step, Some(at.on)))
                }
                _ => {}
            }
        }
    }
    out
}

/// Compares the prediction with the mount table. `inherited` is the mount table right after
/// the root was bound (empty for a tmpfs root, and when the bind is known to have brought no
/// other mount: see [`crate::sys::Sys::inherited`]); `made` is the mount id of each of the
/// plan's mounts, by number.
pub fn compare(
    dag: &Dag,
    actual: &[MountEntry],
    inherited: &[MountEntry],
    made: &[Option<u64>],
    userns: bool,
) -> VerifyReport {
    let bound_root = matches!(dag.plan.root, Root::Path(_));
    let by_id: BTreeMap<u64, &MountEntry> = actual.iter().map(|e| (e.id, e)).collect();
    // What the bound root brought along (its own bind aside): known by mount id and parent.
    let bind = inherited.iter().rposition(|e| e.mountpoint == "/");
    let brought: HashSet<(u64, u64)> = inherited
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != bind)
        .map(|(_, e)| (e.id, e.parent))
        .collect();
    let id_of = |m: MountId| made.get(m.index()).copied().flatten();
    let plans: HashSet<u64> = made.iter().flatten().copied().collect();
    let mut claimed: HashSet<u64> = HashSet::new();
    let mut mismatches = Vec::new();
    let mut moved = Vec::new();
    let (mut checked, mut skipped) = (0, 0);
    // Mounts that bring others along: what is below them and not the plan's is theirs, and
    // carries the flags they gave every mount they brought (`rro` and friends).
    let mut bringers: BTreeMap<u64, (String, MsFlags)> = BTreeMap::new();

    for (m, step, on) in attachments(dag) {
        let action = step.and_then(|i| dag.plan.steps.get(i)).map(|s| &s.action);
        // The mount the tree predicts for it: the first made by its step (or the root's).
        let Some(tm) = dag.tree.mounts.iter().find(|t| t.step == step) else {
            // Unmounted later by the plan, or never predicted (a mask of a path that cannot
            // exist).
            continue;
        };
        let conditional = matches!(action, Some(Action::Mask(_) | Action::Readonly(_)));
        let Some(id) = id_of(m) else {
            if conditional {
                skipped += 1;
            } else {
                checked += 1;
                mismatches.push(Mismatch {
                    mountpoint: tm.mountpoint.to_string(),
                    predicted: Some(show_pred(tm)),
                    actual: None,
                });
            }
            continue;
        };
        checked += 1;
        claimed.insert(id);
        let Some(e) = by_id.get(&id) else {
            mismatches.push(Mismatch {
                mountpoint: tm.mountpoint.to_string(),
                predicted: Some(show_pred(tm)),
                actual: None,
            });
            continue;
        };
        // (The bound root's own are known exactly: `inherited`.)
        if step.is_some() && (tm.recursive || matches!(action, Some(Action::Readonly(_)))) {
            bringers.insert(id, (tm.mountpoint.to_string(), tm.below & COMPARED));
        }
        if e.mountpoint != tm.mountpoint.as_str() {
            moved.push(Moved {
                predicted: tm.mountpoint.to_string(),
                actual: e.mountpoint.clone(),
            });
        }
        let is_bind = tm.fstype == "bind" || (tm.step.is_none() && bound_root);
        // A mask on a path whose kind the plan cannot know: an empty read-only tmpfs or a
        // bind of /dev/null, decided by what is on disk.
        let is_mask = tm.fstype == "mask";
        let type_ok = is_bind || is_mask || e.fstype == tm.fstype;
        let want = tm.flags & COMPARED;
        let have = e.flags & COMPARED;
        let extra_ok = userns || is_mask || (is_bind && want.is_empty());
        let flags_ok = have.contains(want) && (extra_ok || want == have);
        let opts_ok = is_bind || options_match(&e.fstype, tm.data.as_deref(), &e.options);
        // On the mount the dry run places its target on, or on one that mount brought along
        // (the target was the root of such a mount). The root of the predicted tree (a mount
        // stacked on `/` that the pivot switched into) is on nothing of the plan's.
        let is_root = std::ptr::eq(tm, &dag.tree.mounts[0]);
        let parent_ok = match on.and_then(id_of).filter(|_| !is_root) {
            None => true,
            Some(p) => {
                e.parent == p || (!plans.contains(&e.parent) && descends(&by_id, e.parent, p))
            }
        };
        if !type_ok || !flags_ok || !opts_ok || !parent_ok {
            let mut a = show_actual(e);
            if !parent_ok {
                a.push_str(" (on another mount than the dry run places it on)");
            }
            mismatches.push(Mismatch {
                mountpoint: tm.mountpoint.to_string(),
                predicted: Some(show_pred(tm)),
                actual: Some(a),
            });
        }
    }

    let root_id = id_of(MountId::ROOT);
    for e in actual {
        if claimed.contains(&e.id) || brought.contains(&(e.id, e.parent)) {
            continue;
        }
        // What the root's mountpoint had below the root's bind, and the old root's mounts
        // before a pivot detached them.
        if e.mountpoint == "/" && Some(e.id) != root_id {
            continue;
        }
        let mut via = false;
        for (b, (at, below)) in &bringers {
            if *b == e.id || !descends(&by_id, e.parent, *b) {
                continue;
            }
            via = true;
            if !(e.flags & COMPARED).contains(*below) {
                mismatches.push(Mismatch {
                    mountpoint: e.mountpoint.clone(),
                    predicted: Some(format!(
                        "brought along by the recursive mount at {at}, with {}",
                        crate::model::option_words(*below)
                            .collect::<Vec<_>>()
                            .join(",")
                    )),
                    actual: Some(show_actual(e)),
                });
            }
        }
        if !via {
            mismatches.push(Mismatch {
                mountpoint: e.mountpoint.clone(),
                predicted: None,
                actual: Some(show_actual(e)),
            });
        }
    }
    VerifyReport {
        ok: mismatches.is_empty(),
        checked,
        skipped,
        moved,
        mismatches,
    }
}

/// Whether mount `id` is `ancestor` or below it (through the parent ids of `by_id`).
fn descends(by_id: &BTreeMap<u64, &MountEntry>, mut id: u64, ancestor: u64) -> bool {
    for _ in 0..=by_id.len() {
        if id == ancestor {
            return true;
        }
        match by_id.get(&id) {
            Some(e) if e.parent != id => id = e.parent,
            _ => return false,
        }
    }
    false
}
