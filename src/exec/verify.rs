//! The predicted final mount tree against the kernel's mount table, mount by mount.
//!
//! Takes the [`Dag`] (its predicted mounts and the calls that made them), the mounts at or
//! below the new root (from /proc/self/mountinfo, mountpoints relative to it), what the root
//! brought along when it was bound, and the mount id of each of the plan's mounts as the
//! executor holds it (`None`: not made, or unmounted); returns a [`VerifyReport`].
//!
//! Each predicted mount is found by its mount id, not by its path: a mount that landed where
//! a symlink in the root led (`/lib/x` on a merged-/usr root is `/usr/lib/x`) is the plan's
//! mount there, and the report says where it really is. What is compared is decided on the
//! predicted mount's kind ([`Mounted`]), never on a type name: the fstype (not for binds,
//! whose fstype is their source's), the per-mount flags ro/nosuid/nodev/noexec and the atime
//! flags the prediction states, the filesystem options the plan states (tmpfs size, mode,
//! inodes, owner; devpts modes and owner; an overlay's layers: from the typed options, as
//! [`crate::lowering::fsconfig`] encodes them), the propagation (one of the states the dry run
//! predicts: mountinfo's `shared:`/`master:`/`unbindable`), and the mount it is on (the one the
//! dry run places its target on, or one that mount brought along). A bind without flags keeps
//! its source's flags, and in a user namespace the kernel keeps flags it locked, so there only
//! the flags the plan asks for must be present. A conditional mount (a mask or read-only path
//! the dry run marks `(if it exists)`) not made is counted as skipped, never as made or
//! matching; any other predicted mount not made is a mismatch. Mounts the plan does not predict
//! are accepted only where some mount brought them along: the bound root, a recursive bind, a
//! read-only copy.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::report::{Mismatch, Moved, VerifyReport};
use crate::graph::{Dag, Mounted, TreeMount};
use crate::lowering::{Call, MountId};
use crate::model::{Action, FsKind, MsFlags};
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
    let rest = crate::model::option_words(f & ((COMPARED | ATIME_SHOWN) - MsFlags::MS_RDONLY));
    std::iter::once(rw)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(",")
}

/// The atime flags mountinfo can show (strictatime is the absence of relatime and noatime).
const ATIME_SHOWN: MsFlags = MsFlags::MS_RELATIME
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME);

/// The atime flags the prediction states, as mountinfo would show them (`None`: not stated,
/// as for a bind the plan sets no atime flag on, whose are its source's).
fn atime_shown(m: &TreeMount) -> Option<MsFlags> {
    let stated = MsFlags::MS_RELATIME | MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME;
    m.flags.intersects(stated).then(|| m.flags & ATIME_SHOWN)
}

fn show_pred(m: &TreeMount) -> String {
    let mut flags = m.flags & COMPARED;
    flags |= atime_shown(m).unwrap_or(MsFlags::empty());
    let mut s = format!("{} {}", m.fstype, flag_words(flags));
    if let Some(d) = &m.data {
        s.push(' ');
        s.push_str(d);
    }
    s.push(' ');
    s.push_str(&m.propagation.words());
    s
}

fn show_actual(e: &MountEntry) -> String {
    format!(
        "{} {} {} {}",
        e.fstype,
        flag_words(e.flags & (COMPARED | ATIME_SHOWN)),
        e.options,
        e.propagation.as_str()
    )
}

/// A filesystem option's value as the kernel shows it in mountinfo, for the options the plan
/// can state; `None` when the kernel shows nothing for it (a default), `Some(None)` when the
/// option is not one compared.
fn shown(fs: &FsKind, key: &str, value: &str) -> Option<Option<String>> {
    let octal = |v: &str| u32::from_str_radix(v, 8).ok();
    match (fs, key) {
        (FsKind::Tmpfs(_), "size") => {
            if value.ends_with('%') {
                return Some(None);
            }
            let bytes: u64 = value.parse().ok()?;
            // Shown in KiB, rounded up to whole pages.
            let page = 4096u64;
            Some(Some(format!("{}k", bytes.div_ceil(page) * page / 1024)))
        }
        (FsKind::Tmpfs(_), "mode") => match octal(value)? {
            0o1777 => None,
            m => Some(Some(format!("{m:o}"))),
        },
        (FsKind::Tmpfs(_) | FsKind::Devpts(_), "uid" | "gid") if value == "0" => None,
        (FsKind::Tmpfs(_), "nr_inodes" | "uid" | "gid") => Some(Some(value.to_string())),
        (FsKind::Devpts(_), "mode" | "ptmxmode") => Some(Some(format!("{:03o}", octal(value)?))),
        (FsKind::Devpts(_), "uid" | "gid") => Some(Some(value.to_string())),
        (FsKind::Overlay(_), "lowerdir" | "upperdir" | "workdir") => Some(Some(value.to_string())),
        _ => Some(None),
    }
}

/// Whether the filesystem options the plan states for `fs` (as the one encoder gives them)
/// are the ones the kernel shows.
fn options_match(fs: &FsKind, actual: &str) -> bool {
    let have: HashMap<&str, &str> = actual
        .split(',')
        .filter_map(|o| o.split_once('='))
        .collect();
    for p in crate::lowering::fsconfig::options(fs) {
        let (k, Some(v)) = (p.key.as_str(), p.value.as_deref()) else {
            continue;
        };
        match shown(fs, k, v) {
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
        if let Call::Attach { mount, .. }
        | Call::MountFs { mount, .. }
        | Call::BindMount { mount, .. } = c
        {
            out.push((*mount, None, None));
        }
    }
    for sc in &dag.calls.steps {
        for c in &sc.calls {
            if let Some((mount, at)) = c.mounts_in_root() {
                out.push((mount, sc.step, Some(at.on)));
                continue;
            }
            match c {
                Call::Mask { at, mount }
                | Call::MaskClassic { at, mount }
                | Call::Readonly { at, mount } => out.push((*mount, sc.step, Some(at.on))),
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
        let Some(id) = id_of(m) else {
            if tm.conditional {
                skipped += 1;
            } else {
                mismatches.push(Mismatch {
                    mountpoint: tm.mountpoint.to_string(),
                    predicted: Some(show_pred(tm)),
                    actual: None,
                });
            }
            continue;
        };
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
        checked += 1;
        let is_bind = tm.kind == Mounted::Bind;
        // A mask on a path whose kind the plan cannot know: an empty read-only tmpfs or a
        // bind of /dev/null, decided by what is on disk.
        let is_mask = tm.kind == Mounted::Mask;
        let (type_ok, opts_ok) = match &tm.kind {
            Mounted::Fs(fs) => (e.fstype == fs.fstype(), options_match(fs, &e.options)),
            Mounted::Bind | Mounted::Mask => (true, true),
        };
        let want = tm.flags & COMPARED;
        let have = e.flags & COMPARED;
        let extra_ok = userns || is_mask || (is_bind && want.is_empty());
        // The atime flags the prediction states are the ones shown (unless the kernel kept a
        // bind's locked ones in a user namespace).
        let atime_ok = match atime_shown(tm) {
            Some(a) if !(userns && is_bind) => e.flags & ATIME_SHOWN == a,
            _ => true,
        };
        let flags_ok = have.contains(want) && (extra_ok || want == have) && atime_ok;
        let prop_ok = tm.propagation.contains(e.propagation);
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
        if !type_ok || !flags_ok || !opts_ok || !prop_ok || !parent_ok {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::linux::mountinfo::below_text;

    /// /proc/self/mountinfo as the command of plans/oci-default.toml saw it (a busybox root on
    /// ext4, kernel 6.18, a host whose mounts are private): 16 mounts, seven conditional ones
    /// not made (their paths missing on this kernel).
    const OCI_INSIDE: &str = "\
67 45 254:0 /tmp/tt/root / ro,relatime - ext4 /dev/vda rw,discard
68 67 0:41 / /proc rw,relatime - proc proc rw
69 67 0:42 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
70 69 0:43 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
71 69 0:44 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
72 69 0:40 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
73 67 0:45 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
74 73 0:38 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw
75 68 0:41 /bus /proc/bus ro,relatime - proc proc rw
76 68 0:41 /fs /proc/fs ro,relatime - proc proc rw
77 68 0:41 /irq /proc/irq ro,relatime - proc proc rw
78 68 0:41 /sys /proc/sys ro,relatime - proc proc rw
79 68 0:46 / /proc/acpi ro,relatime - tmpfs tmpfs ro
80 68 0:6 /null /proc/keys rw,relatime - devtmpfs devtmpfs rw,size=12334076k,mode=755
81 68 0:6 /null /proc/timer_list rw,relatime - devtmpfs devtmpfs rw,size=12334076k,mode=755
82 73 0:47 / /sys/firmware ro,relatime - tmpfs tmpfs ro
";

    /// The mount id of M0 to M22 in [`OCI_INSIDE`] (`None`: not made).
    fn oci_made() -> Vec<Option<u64>> {
        let mut v: Vec<Option<u64>> = (67..=78).map(Some).collect();
        v.extend([None, Some(79), None, None, Some(80), None, Some(81)]);
        v.extend([None, None, Some(82), None]);
        v
    }

    fn oci() -> Dag {
        crate::test_plans::dag(include_str!("../../plans/oci-default.toml"))
    }

    /// `OCI_INSIDE` with the line of `mountpoint` changed by `f`.
    fn changed(mountpoint: &str, f: impl Fn(&str) -> String) -> String {
        OCI_INSIDE
            .lines()
            .map(|l| {
                if l.split(' ').nth(4) == Some(mountpoint) {
                    f(l)
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect()
    }

    fn verify(text: &str) -> VerifyReport {
        let d = oci();
        assert_eq!(d.calls.mounts, oci_made().len());
        compare(&d, &below_text(text, "/"), &[], &oci_made(), false)
    }

    fn mismatched(v: &VerifyReport) -> Vec<&str> {
        v.mismatches.iter().map(|m| m.mountpoint.as_str()).collect()
    }

    #[test]
    fn the_real_table_of_a_correct_apply_matches_with_made_and_skipped_apart() {
        let v = verify(OCI_INSIDE);
        assert!(v.ok, "{:?}", v.mismatches);
        // 16 made; the 7 conditional ones not made are skipped, never counted as made.
        assert_eq!((v.checked, v.skipped), (16, 7));
        // The root bound from a host that shares it is a slave: accepted.
        let t = changed("/", |l| {
            l.replace(" ro,relatime ", " ro,relatime master:1 ")
        });
        assert!(verify(&t).ok, "{:?}", verify(&t).mismatches);
    }

    #[test]
    fn a_dev_remounted_with_another_size_is_found() {
        let t = changed("/dev", |l| l.replace("size=65536k", "size=2048k"));
        let v = verify(&t);
        assert_eq!(mismatched(&v), ["/dev"], "{:?}", v.mismatches);
        assert!(
            v.mismatches[0]
                .actual
                .as_deref()
                .unwrap()
                .contains("size=2048k")
        );
        assert!(!v.ok);
    }

    #[test]
    fn every_option_and_the_propagation_the_tree_states_are_compared() {
        let cases: [(&str, &str, &str); 7] = [
            ("/dev", "mode=755", "mode=700"),
            ("/dev/pts", "gid=5,", ""),
            ("/dev/pts", "ptmxmode=666", "ptmxmode=000"),
            ("/dev/pts", "mode=620", "mode=600"),
            // Predicted private (a new filesystem, on a mount that is not shared).
            ("/dev/shm", "relatime - ", "relatime shared:7 - "),
            ("/proc", "rw,relatime - ", "rw,relatime master:3 - "),
            // The atime flag stated (relatime, the kernel's default for a new mount).
            ("/proc", "rw,relatime - ", "rw,noatime - "),
        ];
        for (mp, from, to) in cases {
            let t = changed(mp, |l| l.replacen(from, to, 1));
            assert_ne!(t, OCI_INSIDE, "{mp}: {from} is not in its line");
            let v = verify(&t);
            assert_eq!(
                mismatched(&v),
                [mp],
                "{mp}: {from} -> {to}: {:?}",
                v.mismatches
            );
        }
    }

    #[test]
    fn a_conditional_mount_made_is_compared_and_a_certain_one_missing_is_a_mismatch() {
        // /proc/bus made read-write: compared like any other.
        let t = changed("/proc/bus", |l| {
            l.replacen(" ro,relatime ", " rw,relatime ", 1)
        });
        assert_eq!(mismatched(&verify(&t)), ["/proc/bus"]);
        // /dev/shm (not conditional) missing: a mismatch, and not counted as made.
        let t = changed("/dev/shm", |_| String::new()).replace("\n\n", "\n");
        let d = oci();
        let mut made = oci_made();
        made[4] = None;
        let v = compare(&d, &below_text(&t, "/"), &[], &made, false);
        assert_eq!(mismatched(&v), ["/dev/shm"]);
        assert_eq!((v.checked, v.skipped), (15, 7));
    }
}
