//! The predicted final mount tree against the kernel's mount table.
//!
//! Takes the [`Dag`]'s predicted mounts and the mounts at or below the new root (mountpoints
//! relative to it, from /proc/self/mountinfo), plus what the root brought along when it was
//! bound; returns a [`VerifyReport`] with every difference.
//!
//! Compared per mountpoint, in mount order (stacked mounts match in the order made): the
//! fstype (not for binds, whose fstype is their source's) and ro/nosuid/nodev/noexec. A bind
//! without flags keeps its source's flags, and in a user namespace the kernel keeps flags it
//! locked, so there only the flags the plan asks for must be present. Mounts the plan does
//! not predict are accepted only below a recursive bind (the source's submounts), among the
//! submounts the bound root brought, and at a masked path (masks depend on what exists).
//! The mounts of masks and read-only paths may be missing: a missing path is left alone.

use std::collections::{BTreeMap, HashSet};

use super::report::{Mismatch, VerifyReport};
use crate::graph::{Dag, TreeMount};
use crate::model::{Action, MsFlags, Root, RootPath};
use crate::sys::MountEntry;
use crate::sys::linux::mountinfo::is_below;

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
    format!("{} {}", m.fstype, flag_words(m.flags & COMPARED))
}

fn show_actual(e: &MountEntry) -> String {
    format!("{} {}", e.fstype, flag_words(e.flags & COMPARED))
}

/// Compares the prediction with the mount table. `inherited` is the mount table right after
/// the root was bound (empty for a tmpfs root, and when the bind is known to have brought no
/// other mount: see [`crate::sys::Sys::inherited`]).
pub fn compare(
    dag: &Dag,
    actual: &[MountEntry],
    inherited: &[MountEntry],
    userns: bool,
) -> VerifyReport {
    let bound_root = matches!(dag.plan.root, Root::Path(_));
    // Per mountpoint, the actual mounts in table order.
    let mut groups: BTreeMap<&str, Vec<&MountEntry>> = BTreeMap::new();
    for e in actual {
        groups.entry(e.mountpoint.as_str()).or_default().push(e);
    }
    // Drop what the bound root brought along: every entry of `inherited` but the root's own
    // bind (the last one at `/`, which the prediction covers), recognised by its mount id and
    // parent id (a mount keeps both while it exists). Mounts stacked below the bind at `/`
    // (the root's host directory was itself a mountpoint) are among them: still there when
    // the root was not pivoted, gone with the old root when it was.
    let bind = inherited.iter().rposition(|e| e.mountpoint == "/");
    let brought: HashSet<(u64, u64)> = inherited
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != bind)
        .map(|(_, e)| (e.id, e.parent))
        .collect();
    for g in groups.values_mut() {
        g.retain(|e| !brought.contains(&(e.id, e.parent)));
    }

    let mut mismatches = Vec::new();
    let mut checked = 0;
    let predicts_root = dag.tree.mounts.iter().any(|m| m.mountpoint.is_root());
    for m in &dag.tree.mounts {
        checked += 1;
        let g = groups.entry(m.mountpoint.as_str()).or_default();
        // Masks and read-only paths leave a missing path alone: their mounts may be absent.
        let optional = m
            .step
            .and_then(|i| dag.plan.steps.get(i))
            .is_some_and(|s| matches!(s.action, Action::Mask(_) | Action::Readonly(_)));
        if g.is_empty() && optional {
            continue;
        }
        if g.is_empty() {
            mismatches.push(Mismatch {
                mountpoint: m.mountpoint.to_string(),
                predicted: Some(show_pred(m)),
                actual: None,
            });
            continue;
        }
        let e = g.remove(0);
        let is_bind = m.fstype == "bind" || (m.step.is_none() && bound_root);
        // A mask on a path whose kind the plan cannot know: an empty read-only tmpfs or a
        // bind of /dev/null, decided by what is on disk.
        let is_mask = m.fstype == "mask";
        let type_ok = is_bind || is_mask || e.fstype == m.fstype;
        let want = m.flags & COMPARED;
        let have = e.flags & COMPARED;
        let extra_ok = userns || is_mask || (is_bind && want.is_empty());
        let flags_ok = have.contains(want) && (extra_ok || want == have);
        if !type_ok || !flags_ok {
            mismatches.push(Mismatch {
                mountpoint: m.mountpoint.to_string(),
                predicted: Some(show_pred(m)),
                actual: Some(show_actual(e)),
            });
        }
    }

    let rec_binds: Vec<&RootPath> = dag
        .tree
        .mounts
        .iter()
        // Not the bound root itself: what it brought is known exactly (`inherited`).
        .filter(|m| m.recursive && m.step.is_some())
        .map(|m| &m.mountpoint)
        .collect();
    let masks: Vec<&RootPath> = dag
        .plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Mask(m) => Some(&m.path),
            _ => None,
        })
        .collect();
    for (mp, g) in &groups {
        for e in g {
            if *mp == "/" && !predicts_root {
                continue;
            }
            let below_rbind = rec_binds
                .iter()
                .any(|b| *mp != b.as_str() && is_below(mp, b.as_str()));
            let masked = masks.iter().any(|m| m.as_str() == *mp);
            if !below_rbind && !masked {
                mismatches.push(Mismatch {
                    mountpoint: mp.to_string(),
                    predicted: None,
                    actual: Some(show_actual(e)),
                });
            }
        }
    }
    VerifyReport {
        ok: mismatches.is_empty(),
        checked,
        mismatches,
    }
}
