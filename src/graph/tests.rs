//! Unit tests of the graph, on plans from [`super::fixtures`].

use super::fixtures::*;
use super::*;
use crate::diag::Severity;
use crate::model::*;
use crate::source::Loc;

fn e(from: usize, to: usize, kind: EdgeKind) -> Edge {
    Edge { from, to, kind }
}

fn codes(ds: &[Diag]) -> Vec<&'static str> {
    ds.iter().map(|d| d.code).collect()
}

fn mount_at<'a>(d: &'a Dag, p: &str) -> Vec<&'a TreeMount> {
    d.tree
        .mounts
        .iter()
        .filter(|m| m.mountpoint.as_str() == p)
        .collect()
}

// ---- edges ----

#[test]
fn a_step_under_a_mount_depends_on_it() {
    let d = B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .s("other", &[], mkdir("/etc"))
        .dag();
    assert_eq!(d.edges, [e(0, 1, EdgeKind::Mount)]);
}

#[test]
fn the_latest_covering_mount_wins() {
    let d = B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s("pts", &[], tmpfs("/dev/pts"))
        .s("x", &[], mknod("/dev/pts/x"))
        .s("y", &[], mknod("/dev/y"))
        .dag();
    assert_eq!(
        d.edges,
        [
            e(0, 1, EdgeKind::Mount),
            e(1, 2, EdgeKind::Mount),
            e(0, 3, EdgeKind::Mount)
        ]
    );
}

#[test]
fn a_step_depends_on_the_step_that_made_its_parent() {
    let d = B::tmpfs()
        .s("a", &[], mkdir("/a"))
        .s("b", &[], mkdir("/a/b"))
        .s("n", &[], mknod("/a/b/n"))
        .dag();
    assert_eq!(
        d.edges,
        [e(0, 1, EdgeKind::Parent), e(1, 2, EdgeKind::Parent)]
    );
}

#[test]
fn a_parent_hidden_by_a_later_mount_is_not_a_dependency() {
    let d = B::tmpfs()
        .s("a", &[], mkdir("/a"))
        .s("m", &[], tmpfs("/a"))
        .s("b", &[], mkdir("/a/b"))
        .dag();
    // The mount on /a depends on the directory it is mounted on; /a/b is made in the tmpfs.
    assert_eq!(d.edges, [e(0, 1, EdgeKind::Made), e(1, 2, EdgeKind::Mount)]);
}

#[test]
fn a_chmod_depends_on_the_step_that_made_its_path() {
    let d = B::tmpfs()
        .s("a", &[], mkdir("/a"))
        .s("mode", &[], chmod("/a", 0o700))
        .dag();
    assert_eq!(d.edges, [e(0, 1, EdgeKind::Made)]);
    let n = &d.tree.nodes[0];
    assert_eq!(n.path.as_str(), "/a");
    assert_eq!(n.kind, NodeKind::Dir);
    assert_eq!(n.mode, Some(Mode::from_bits(0o700)));
    assert_eq!((n.uid, n.step), (Some(0), 1));
    assert!(!n.if_missing);
}

#[test]
fn remount_propagation_and_umount_depend_on_the_mount_they_change() {
    let d = B::tmpfs()
        .s("mnt", &[], tmpfs("/mnt"))
        .s("ro", &[], remount("/mnt", MsFlags::MS_RDONLY))
        .s("priv", &[], propagation("/mnt"))
        .s("gone", &[], umount("/mnt"))
        .dag();
    assert_eq!(
        d.edges,
        [
            e(0, 1, EdgeKind::Changes),
            e(0, 2, EdgeKind::Changes),
            e(0, 3, EdgeKind::Changes)
        ]
    );
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

#[test]
fn explicit_after_is_an_edge() {
    let d = B::tmpfs()
        .s("a", &[], mkdir("/a"))
        .s("b", &["a"], mkdir("/b"))
        .dag();
    assert_eq!(d.edges, [e(0, 1, EdgeKind::After)]);
}

#[test]
fn the_pivot_depends_only_on_steps_not_already_before_it() {
    let d = B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .s("etc", &[], mkdir("/etc"))
        .s("pivot", &[], pivot())
        .dag();
    assert_eq!(
        d.edges,
        [
            e(0, 1, EdgeKind::Mount),
            e(1, 3, EdgeKind::Pivot),
            e(2, 3, EdgeKind::Pivot)
        ]
    );
}

#[test]
fn edges_are_sorted_by_target_and_deduplicated() {
    let d = B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s("null", &["dev", "dev"], mknod("/dev/null"))
        .dag();
    assert_eq!(
        d.edges,
        [e(0, 1, EdgeKind::After), e(0, 1, EdgeKind::Mount)]
    );
}

// ---- errors ----

#[test]
fn after_naming_no_step_suggests_the_closest_id() {
    let errs = B::path_root("/srv/root")
        .s("devpts", &[], tmpfs("/dev/pts"))
        .s("x", &["devpt"], mkdir("/x"))
        .build()
        .unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::after::unknown"]);
    assert_eq!(errs[0].loc, Some(after_at(1, 0)));
    assert_eq!(errs[0].help.as_deref(), Some("did you mean `devpts`?"));
}

#[test]
fn after_naming_itself_is_an_error() {
    let errs = B::tmpfs().s("x", &["x"], mkdir("/x")).build().unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::after::self"]);
    assert_eq!(errs[0].loc, Some(after_at(0, 0)));
}

#[test]
fn after_naming_a_later_step_names_both_and_says_what_to_move() {
    let errs = B::tmpfs()
        .s("a", &["b"], mkdir("/a"))
        .s("b", &[], mkdir("/b"))
        .build()
        .unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::after::declared-later"]);
    let d = &errs[0];
    assert_eq!(d.severity, Severity::Error);
    assert!(
        d.message.contains("`a`") && d.message.contains("`b`"),
        "{}",
        d.message
    );
    assert_eq!(d.loc, Some(after_at(0, 0)));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(d.secondary[0].0, id_at(1));
    assert_eq!(
        d.help.as_deref(),
        Some("the declared order is the execution order; move step `b` above step `a`")
    );
}

#[test]
fn a_cycle_lists_every_step_in_it_with_a_label_on_each() {
    // a runs after c (declared later); b after a; c after b.
    let errs = B::tmpfs()
        .s("a", &["c"], mkdir("/a"))
        .s("b", &["a"], mkdir("/b"))
        .s("c", &["b"], mkdir("/c"))
        .s("d", &[], mkdir("/d"))
        .build()
        .unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::graph::cycle"]);
    let d = &errs[0];
    assert_eq!(
        d.message,
        "steps depend on each other in a cycle: `a` runs after `c`, which runs after `b`, \
         which runs after `a`"
    );
    assert_eq!(d.loc, Some(after_at(0, 0)));
    let mut places: Vec<Loc> = d.secondary.iter().map(|(l, _)| *l).collect();
    places.push(d.loc.unwrap());
    places.sort();
    assert_eq!(places, [after_at(0, 0), after_at(1, 0), after_at(2, 0)]);
}

#[test]
fn a_cycle_through_an_implicit_edge_labels_the_implicit_step_at_its_path() {
    let errs = B::tmpfs()
        .s("dev", &["null"], tmpfs("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .build()
        .unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::graph::cycle"]);
    let d = &errs[0];
    assert_eq!(d.loc, Some(after_at(0, 0)));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(d.secondary[0].0, path_at(1));
    assert!(d.secondary[0].1.contains("mount"), "{}", d.secondary[0].1);
}

// ---- warnings ----

#[test]
fn a_later_mount_hiding_a_node_warns_with_both_spans() {
    let d = B::path_root("/srv/root")
        .s("null", &[], mknod("/dev/null"))
        .s("dev", &[], tmpfs("/dev"))
        .dag();
    assert_eq!(codes(&d.warnings), ["mountplan::graph::hides"]);
    let w = &d.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.loc, Some(path_at(1)));
    assert_eq!(w.secondary.len(), 1);
    assert_eq!(w.secondary[0].0, path_at(0));
    assert_eq!(
        w.message,
        "the mount on `/dev` hides `/dev/null`, made earlier by step `null`"
    );
    let null = d.tree.nodes.iter().find(|n| n.path.as_str() == "/dev/null");
    assert_eq!(null.map(|n| n.hidden_by), Some(Some(1)));
}

#[test]
fn a_mountpoint_made_by_mkdir_is_not_hidden_by_its_mount() {
    let d = B::tmpfs()
        .s("dir", &[], mkdir("/dev"))
        .s("dev", &[], tmpfs("/dev"))
        .dag();
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    assert_eq!(d.tree.nodes[0].hidden_by, None);
}

#[test]
fn a_later_mount_hiding_a_mount_warns() {
    let d = B::path_root("/srv/root")
        .s("pts", &[], tmpfs("/dev/pts"))
        .s("dev", &[], tmpfs("/dev"))
        .dag();
    assert_eq!(codes(&d.warnings), ["mountplan::graph::hides"]);
    assert!(
        d.warnings[0]
            .message
            .contains("mounted earlier by step `pts`")
    );
}

#[test]
fn changing_a_path_nothing_is_mounted_on_warns_except_below_a_recursive_bind() {
    let d = B::tmpfs()
        .s("ro", &[], remount("/x", MsFlags::MS_RDONLY))
        .dag();
    assert_eq!(codes(&d.warnings), ["mountplan::graph::not-a-mount"]);
    assert_eq!(d.warnings[0].loc, Some(path_at(0)));

    let d = B::tmpfs()
        .s("usr", &[], bind("/usr", "/usr", true))
        .s("root-ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s("local", &[], umount("/usr/local"))
        .dag();
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    assert_eq!(d.edges, [e(0, 2, EdgeKind::Mount)]);

    // A path root is bound recursively: any path may be a host submount.
    let d = B::path_root("/srv/root")
        .s("x", &[], propagation("/x"))
        .dag();
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

// ---- the final tree ----

#[test]
fn the_root_comes_first() {
    let d = B::tmpfs().dag();
    assert_eq!(d.tree.mounts.len(), 1);
    let r = &d.tree.mounts[0];
    assert_eq!((r.fstype.as_str(), r.step), ("tmpfs", None));
    assert_eq!(
        r.flags,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME
    );
    let d = B::path_root("/srv/root").dag();
    let r = &d.tree.mounts[0];
    assert_eq!(
        (r.fstype.as_str(), r.source.as_str()),
        ("bind", "/srv/root")
    );
    assert!(r.recursive);
}

#[test]
fn an_umount_removes_the_mount_and_everything_on_it() {
    let d = B::tmpfs()
        .s("mnt", &[], tmpfs("/mnt"))
        .s("a", &[], tmpfs("/mnt/a"))
        .s("x", &[], mkdir("/mnt/a/x"))
        .s("keep", &[], tmpfs("/keep"))
        .s("gone", &[], umount("/mnt"))
        .dag();
    let mps: Vec<&str> = d
        .tree
        .mounts
        .iter()
        .map(|m| m.mountpoint.as_str())
        .collect();
    assert_eq!(mps, ["/", "/keep"]);
    // The mountpoint /mnt was made on the root and stays; what was made on the tmpfs is gone.
    let nodes: Vec<&str> = d.tree.nodes.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(nodes, ["/keep", "/mnt"]);
}

#[test]
fn an_umount_reveals_what_the_mount_hid() {
    let d = B::path_root("/srv/root")
        .s("null", &[], mknod("/dev/null"))
        .s("dev", &[], tmpfs("/dev"))
        .s("undo", &[], umount("/dev"))
        .dag();
    let null = d.tree.nodes.iter().find(|n| n.path.as_str() == "/dev/null");
    assert_eq!(null.map(|n| n.hidden_by), Some(None));
}

#[test]
fn a_remount_sets_exactly_its_flags_and_keeps_atime() {
    let d = B::tmpfs()
        .s(
            "proc",
            &[],
            proc_("/proc", MsFlags::MS_NOSUID | MsFlags::MS_NOATIME),
        )
        .s("ro", &[], remount("/proc", MsFlags::MS_RDONLY))
        .s(
            "root-ro",
            &[],
            remount(
                "/",
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            ),
        )
        .dag();
    assert_eq!(
        mount_at(&d, "/proc")[0].flags,
        MsFlags::MS_RDONLY | MsFlags::MS_NOATIME
    );
    assert_eq!(
        mount_at(&d, "/")[0].flags,
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME
    );
}

#[test]
fn a_recursive_remount_adds_flags_below_too() {
    let d = B::tmpfs()
        .s("a", &[], tmpfs("/a"))
        .s("b", &[], proc_("/a/b", MsFlags::MS_NOSUID))
        .s(
            "ro",
            &[],
            remount("/a", MsFlags::MS_RDONLY | MsFlags::MS_REC),
        )
        .dag();
    assert_eq!(
        mount_at(&d, "/a")[0].flags,
        MsFlags::MS_RDONLY | MsFlags::MS_RELATIME
    );
    assert_eq!(
        mount_at(&d, "/a/b")[0].flags,
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_RELATIME
    );
}

#[test]
fn a_mask_is_predicted_from_what_the_plan_made() {
    let d = B::tmpfs()
        .s("proc", &[], proc_("/proc", MsFlags::empty()))
        .s("dir", &[], mkdir("/secret"))
        .s("node", &[], mknod("/dev-x"))
        .s("m1", &[], mask("/secret"))
        .s("m2", &[], mask("/dev-x"))
        .s("m3", &[], mask("/proc/kcore"))
        .s("m4", &[], mask("/nothing"))
        .dag();
    let kinds: Vec<(&str, &str, &str)> = d.tree.mounts[2..]
        .iter()
        .map(|m| (m.mountpoint.as_str(), m.fstype.as_str(), m.source.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("/secret", "tmpfs", "tmpfs"),
            ("/dev-x", "bind", "/dev/null"),
            ("/proc/kcore", "mask", "tmpfs or /dev/null"),
        ]
    );
    assert_eq!(
        d.tree.mounts[2].flags,
        MsFlags::MS_RDONLY | MsFlags::MS_RELATIME
    );
    assert_eq!(
        d.edges.iter().filter(|e| e.kind == EdgeKind::Made).count(),
        2
    );
}

#[test]
fn readonly_binds_the_path_and_copies_the_mounts_below_read_only() {
    let d = B::tmpfs()
        .s("a", &[], tmpfs("/a"))
        .s("b", &[], tmpfs("/a/b"))
        .s("ro", &[], readonly("/a"))
        .dag();
    let got: Vec<(&str, &str, bool, Option<usize>)> = d
        .tree
        .mounts
        .iter()
        .map(|m| {
            (
                m.mountpoint.as_str(),
                m.fstype.as_str(),
                m.flags.contains(MsFlags::MS_RDONLY),
                m.step,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/", "tmpfs", false, None),
            ("/a", "tmpfs", false, Some(0)),
            ("/a/b", "tmpfs", false, Some(1)),
            ("/a", "bind", true, Some(2)),
            ("/a/b", "tmpfs", true, Some(1)),
        ]
    );
    assert_eq!(d.tree.mounts[3].source, "<root>/a");
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    // A path that cannot exist (on an empty tmpfs, made by no step) is left alone.
    let d = B::tmpfs().s("ro", &[], readonly("/nothing")).dag();
    assert_eq!(d.tree.mounts.len(), 1);
}

#[test]
fn nodes_are_sorted_by_path_with_mountpoints_made_if_missing() {
    let d = B::tmpfs()
        .s("z", &[], mkdir("/z"))
        .s("dev", &[], tmpfs("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .dag();
    let got: Vec<(&str, &NodeKind)> = d
        .tree
        .nodes
        .iter()
        .map(|n| (n.path.as_str(), &n.kind))
        .collect();
    assert_eq!(
        got,
        [
            ("/dev", &NodeKind::Dir),
            ("/dev/null", &NodeKind::Char(crate::calls::Dev::Num(1, 3))),
            ("/z", &NodeKind::Dir),
        ]
    );
    // On an empty tmpfs root they are certainly made; on a host directory only if missing.
    assert!(d.tree.nodes.iter().all(|n| !n.if_missing));
    let d = B::path_root("/srv/root").s("z", &[], mkdir("/z")).dag();
    assert!(d.tree.nodes[0].if_missing);
}

#[test]
fn a_missing_parent_on_an_empty_tmpfs_is_an_error() {
    let errs = B::tmpfs()
        .s("pts", &[], tmpfs("/dev/pts"))
        .s("dev", &[], tmpfs("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .s("deep", &[], mknod("/dev/x/y"))
        .s("mode", &[], chmod("/nothing", 0o700))
        .build()
        .unwrap_err();
    let got: Vec<(&str, Severity, Option<Loc>)> =
        errs.iter().map(|w| (w.code, w.severity, w.loc)).collect();
    // Apply certainly fails at each (ENOENT): errors; the mount hiding /dev/pts is a warning.
    assert_eq!(
        got,
        [
            (
                "mountplan::graph::missing",
                Severity::Error,
                Some(path_at(0))
            ),
            (
                "mountplan::graph::missing",
                Severity::Error,
                Some(path_at(3))
            ),
            (
                "mountplan::graph::missing",
                Severity::Error,
                Some(path_at(4))
            ),
            (
                "mountplan::graph::hides",
                Severity::Warning,
                Some(path_at(1))
            ),
        ]
    );
    assert_eq!(
        errs[1].message,
        "the parent directory `/dev/x` does not exist when step `deep` runs: it would be on the \
         empty tmpfs step `dev` mounts on `/dev`, and no earlier step makes it, so the step \
         certainly fails (ENOENT)"
    );
    assert_eq!(errs[1].secondary[0].0, path_at(1));
    // A path root may have anything in it: no diagnostic.
    let d = B::path_root("/srv/root").s("x", &[], mknod("/a/b/c")).dag();
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

// ---- certain failures are errors, likely ones warnings (issue 14, item 10) ----

fn shared(t: &str, recursive: bool) -> Action {
    Action::Propagation(Propagation {
        target: rp(t),
        target_loc: Loc::default(),
        kind: PropagationKind::Shared,
        recursive,
    })
}

fn pivot_by(strategy: PivotStrategy, fallback: Option<PivotStrategy>) -> Action {
    Action::Pivot(Pivot {
        strategy,
        fallback,
        put_old: rp("/.pivot_root"),
    })
}

fn symlink(p: &str) -> Action {
    Action::Symlink(Symlink {
        path: rp(p),
        path_loc: Loc::default(),
        to: "/proc/self/fd".into(),
    })
}

fn fifo(p: &str) -> Action {
    let mut a = mknod(p);
    if let Action::Mknod(n) = &mut a {
        n.spec = NodeSpec::Given {
            node: NodeType::Fifo,
            major: 0,
            minor: 0,
        };
    }
    a
}

/// Every diagnostic, errors and warnings, as (code, severity, place).
fn all(r: Result<Dag, Vec<Diag>>) -> Vec<(&'static str, Severity, Option<Loc>)> {
    let ds = match r {
        Ok(d) => d.warnings,
        Err(e) => e,
    };
    ds.iter().map(|d| (d.code, d.severity, d.loc)).collect()
}

const RO: &str = "mountplan::graph::read-only";
const RO_LIKELY: &str = "mountplan::graph::read-only-likely";

/// What a step makes on a read-only mount fails with EROFS: certainly when the path cannot be
/// there yet (an empty tmpfs, a directory mask), an error; else unless it is there already, a
/// warning. What exists already is not made again (EEXIST is accepted): nothing to report.
#[test]
fn making_a_path_on_a_read_only_mount_fails() {
    // `remount / ro` of an empty tmpfs root, then a mkdir, a node, a link, a mountpoint.
    let errs = B::tmpfs()
        .s("a", &[], mkdir("/a"))
        .s("ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s("again", &[], mkdir("/a"))
        .s("b", &[], mkdir("/b"))
        .s("n", &[], fifo("/a/n"))
        .s("l", &[], symlink("/a/l"))
        .s("m", &[], tmpfs("/a/m"))
        .build();
    assert_eq!(
        all(errs),
        [
            (RO, Severity::Error, Some(path_at(3))),
            (RO, Severity::Error, Some(path_at(4))),
            (RO, Severity::Error, Some(path_at(5))),
            (RO, Severity::Error, Some(path_at(6))),
        ]
    );
    let errs = B::tmpfs()
        .s("ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s("b", &[], mkdir("/b"))
        .build()
        .unwrap_err();
    assert_eq!(
        errs[0].message,
        "step `b` makes `/b` on a read-only mount (the empty tmpfs root, made read-only by step \
         `ro`), where it cannot be yet: mkdir fails (EROFS)"
    );
    assert_eq!(errs[0].secondary[0].0, path_at(0));
    // Writable again: nothing.
    let d = B::tmpfs()
        .s("ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s("rw", &[], remount("/", MsFlags::empty()))
        .s("b", &[], mkdir("/b"))
        .dag();
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

/// A recursive `ro` remount of `/` makes the tmpfs on /dev read-only too; a directory mask is
/// an empty read-only tmpfs.
#[test]
fn a_recursive_ro_remount_and_a_mask_are_read_only_below() {
    let r = B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s(
            "ro",
            &[],
            remount("/", MsFlags::MS_RDONLY | MsFlags::MS_REC),
        )
        .s("null", &[], mknod("/dev/null"))
        .s("d", &[], mkdir("/d"))
        .s("mask", &[], mask("/d"))
        .s("in", &[], mkdir("/d/x"))
        .build();
    assert_eq!(
        all(r),
        [
            (RO, Severity::Error, Some(path_at(2))),
            (RO, Severity::Error, Some(path_at(3))),
            (RO, Severity::Error, Some(path_at(5))),
        ]
    );
}

/// On a root directory from the host (or a bind) the path may be there already: a warning.
#[test]
fn making_a_path_on_a_read_only_host_directory_likely_fails() {
    let d = B::path_root("/srv/root")
        .s("ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s("x", &[], mkdir("/x"))
        .s("p", &[], proc_("/proc", MsFlags::empty()))
        .dag();
    assert_eq!(
        all(Ok(d.clone())),
        [
            (RO_LIKELY, Severity::Warning, Some(path_at(1))),
            (RO_LIKELY, Severity::Warning, Some(path_at(2))),
        ]
    );
    assert_eq!(
        d.warnings[0].message,
        "step `x` makes `/x` on a read-only mount (the root, made read-only by step `ro`): \
         mkdir fails (EROFS) unless `/x` is there already"
    );
    // A mountpoint on sysfs is the kernel's: read-only or not, nothing can be made there.
    let d = B::tmpfs()
        .s(
            "sys",
            &[],
            mount(FsKind::Sysfs, "sysfs", "/sys", MsFlags::MS_RDONLY),
        )
        .s(
            "cg",
            &[],
            mount(
                FsKind::Cgroup2,
                "cgroup",
                "/sys/fs/cgroup",
                MsFlags::empty(),
            ),
        )
        .dag();
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    // A read-only bind, and what is made in it.
    let d = B::tmpfs()
        .s("usr", &[], bind("/usr", "/usr", false))
        .s("x", &[], mkdir("/usr/x"))
        .dag();
    assert_eq!(codes(&d.warnings), [RO_LIKELY]);
}

/// The put_old directory of a `put-old` pivot is made by the pivot, and must not be there: on
/// a read-only root the pivot certainly fails, with or without a fallback.
#[test]
fn a_put_old_pivot_on_a_read_only_root_fails() {
    let r = B::path_root("/srv/root")
        .s("ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s("pivot", &[], pivot_by(PivotStrategy::PutOld, None))
        .build();
    assert_eq!(all(r), [(RO, Severity::Error, Some(kind_loc(1)))]);
    // A fallback does not help: only the kernel's refusal of the switch takes it, and here
    // the mkdir before it fails.
    let r = B::path_root("/srv/root")
        .s("ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s(
            "pivot",
            &[],
            pivot_by(PivotStrategy::PutOld, Some(PivotStrategy::Chroot)),
        )
        .build();
    let e = r.as_ref().expect_err("an error");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].code, RO);
    assert!(
        e[0].message.contains("its fallback is not taken"),
        "{}",
        e[0].message
    );
    // A put_old directory whose parent is missing on the empty root (one the plan made is no
    // conflict: the directory gets a fresh name).
    // One case so far, written as a table that takes more.
    #[allow(clippy::single_element_loop)]
    for (put_old, code) in [("/none/old", "mountplan::graph::missing")] {
        let mut pv = pivot_by(PivotStrategy::PutOld, None);
        if let Action::Pivot(p) = &mut pv {
            p.put_old = rp(put_old);
        }
        let r = B::tmpfs()
            .s("old", &[], mkdir("/old"))
            .s("pivot", &[], pv)
            .build();
        assert_eq!(all(r), [(code, Severity::Error, Some(kind_loc(1)))]);
    }
    // pivot-root makes no directory: fine on a read-only root.
    let d = B::tmpfs()
        .s("ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s("pivot", &[], pivot_by(PivotStrategy::PivotRoot, None))
        .dag();
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

const NODEV: &str = "mountplan::graph::nodev";

/// A device node on a `nodev` mount can be made but never opened (EACCES): a warning (apply
/// succeeds; see the warning's text). The empty tmpfs root is mounted nodev; a FIFO is not a
/// device; a later `nodev` remount, recursive from `/`, counts; one that drops it too.
#[test]
fn a_device_node_on_a_nodev_mount_warns() {
    let nodev = |t: &str| {
        mount(
            FsKind::Tmpfs(TmpfsOptions::default()),
            "tmpfs",
            t,
            MsFlags::MS_NODEV,
        )
    };
    let d = B::tmpfs()
        .s("dev", &[], mkdir("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .s("fifo", &[], fifo("/dev/f"))
        .s("shm", &[], nodev("/shm"))
        .s("zero", &[], mknod("/shm/zero"))
        .dag();
    assert_eq!(
        all(Ok(d.clone())),
        [
            (NODEV, Severity::Warning, Some(path_at(1))),
            (NODEV, Severity::Warning, Some(path_at(4))),
        ]
    );
    assert_eq!(
        d.warnings[0].message,
        "`/dev/null` is a device node on a `nodev` mount (the empty tmpfs root): it is made, \
         but opening it fails (EACCES)"
    );
    let d = B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .s(
            "nodev",
            &[],
            remount("/", MsFlags::MS_NODEV | MsFlags::MS_REC),
        )
        .dag();
    assert_eq!(codes(&d.warnings), [NODEV]);
    assert_eq!(d.warnings[0].secondary[0].0, path_at(2));
    let d = B::tmpfs()
        .s("dev", &[], mkdir("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .s("dev-ok", &[], remount("/", MsFlags::empty()))
        .dag();
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    // A node whose step certainly fails is not made: one diagnostic, the failure.
    let r = B::tmpfs().s("null", &[], mknod("/dev/null")).build();
    assert_eq!(
        all(r),
        [(
            "mountplan::graph::missing",
            Severity::Error,
            Some(path_at(0))
        )]
    );
}

const SHARED: &str = "mountplan::graph::shared-root";

/// pivot_root(2) fails with EINVAL when the new root, or the mount it is on, is shared.
#[test]
fn a_pivot_root_of_a_shared_root_fails() {
    let r = B::tmpfs()
        .s("share", &[], shared("/", false))
        .s("pivot", &[], pivot_by(PivotStrategy::PivotRoot, None))
        .build();
    assert_eq!(all(r), [(SHARED, Severity::Error, Some(kind_loc(1)))]);
    let errs = B::tmpfs()
        .s("share", &[], shared("/", true))
        .s("top", &[], tmpfs("/"))
        .s("pivot", &[], pivot_by(PivotStrategy::PutOld, None))
        .build()
        .unwrap_err();
    assert_eq!(codes(&errs), [SHARED]);
    assert_eq!(
        errs[0].message,
        "pivot_root fails with EINVAL when step `pivot` runs: the new root is a shared mount \
         (step `share` made it shared)"
    );
    assert_eq!(errs[0].secondary[0].0, path_at(0));
    // With a fallback that does not pivot_root, the fallback is used.
    let d = B::tmpfs()
        .s("share", &[], shared("/", false))
        .s(
            "pivot",
            &[],
            pivot_by(PivotStrategy::PivotRoot, Some(PivotStrategy::Chroot)),
        )
        .dag();
    assert_eq!(codes(&d.warnings), ["mountplan::graph::fallback"]);
    // Private again, or a move: nothing.
    for (strategy, last) in [
        (PivotStrategy::PivotRoot, propagation("/")),
        (PivotStrategy::Move, mkdir("/a")),
    ] {
        let d = B::tmpfs()
            .s("share", &[], shared("/", false))
            .s("last", &[], last)
            .s("pivot", &[], pivot_by(strategy, None))
            .dag();
        assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    }
}
