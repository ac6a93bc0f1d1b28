//! Unit tests of the graph, on plans written as plan text ([`crate::test_plans`]): every
//! diagnostic is pinned to the step, key and text of the plan it points at.

use super::*;
use crate::diag::Severity;
use crate::model::*;
use crate::test_plans::*;

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
    let d = dag(&on_tmpfs(&[
        tmpfs("dev", "/dev"),
        mknod("null", "/dev/null"),
        mkdir("other", "/etc"),
    ]));
    assert_eq!(d.edges, [e(0, 1, EdgeKind::Mount)]);
}

#[test]
fn the_latest_covering_mount_wins() {
    let d = dag(&on_tmpfs(&[
        tmpfs("dev", "/dev"),
        tmpfs("pts", "/dev/pts"),
        mknod("x", "/dev/pts/x"),
        mknod("y", "/dev/y"),
    ]));
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
    let d = dag(&on_tmpfs(&[
        mkdir("a", "/a"),
        mkdir("b", "/a/b"),
        mknod("n", "/a/b/n"),
    ]));
    assert_eq!(
        d.edges,
        [e(0, 1, EdgeKind::Parent), e(1, 2, EdgeKind::Parent)]
    );
}

#[test]
fn a_parent_hidden_by_a_later_mount_is_not_a_dependency() {
    let d = dag(&on_tmpfs(&[
        mkdir("a", "/a"),
        tmpfs("m", "/a"),
        mkdir("b", "/a/b"),
    ]));
    // The mount on /a depends on the directory it is mounted on; /a/b is made in the tmpfs.
    assert_eq!(d.edges, [e(0, 1, EdgeKind::Made), e(1, 2, EdgeKind::Mount)]);
}

#[test]
fn a_chmod_depends_on_the_step_that_made_its_path() {
    let d = dag(&on_tmpfs(&[mkdir("a", "/a"), chmod("mode", "/a", "0700")]));
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
    let d = dag(&on_tmpfs(&[
        tmpfs("mnt", "/mnt"),
        remount("ro", "/mnt", &["ro"]),
        propagation("priv", "/mnt"),
        umount("gone", "/mnt"),
    ]));
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
    let d = dag(&on_tmpfs(&[
        mkdir("a", "/a"),
        with_after(mkdir("b", "/b"), &["a"]),
    ]));
    assert_eq!(d.edges, [e(0, 1, EdgeKind::After)]);
}

#[test]
fn the_pivot_depends_only_on_steps_not_already_before_it() {
    let d = dag(&on_tmpfs(&[
        tmpfs("dev", "/dev"),
        mknod("null", "/dev/null"),
        mkdir("etc", "/etc"),
        pivot_root("pivot"),
    ]));
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
    let d = dag(&on_tmpfs(&[
        tmpfs("dev", "/dev"),
        with_after(mknod("null", "/dev/null"), &["dev", "dev"]),
    ]));
    assert_eq!(
        d.edges,
        [e(0, 1, EdgeKind::After), e(0, 1, EdgeKind::Mount)]
    );
}

// ---- errors ----

#[test]
fn after_naming_no_step_suggests_the_closest_id() {
    let t = on_dir(&[
        tmpfs("devpts", "/dev/pts"),
        with_after(mkdir("x", "/x"), &["devpt"]),
    ]);
    let errs = try_dag(&t).unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::after::unknown"]);
    assert_eq!(spot_of(&t, errs[0].loc), Some((1, "after", "\"devpt\"")));
    assert_eq!(errs[0].help.as_deref(), Some("did you mean `devpts`?"));
}

#[test]
fn after_naming_itself_is_an_error() {
    let t = on_tmpfs(&[with_after(mkdir("x", "/x"), &["x"])]);
    let errs = try_dag(&t).unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::after::self"]);
    assert_eq!(spot_of(&t, errs[0].loc), Some((0, "after", "\"x\"")));
}

#[test]
fn after_naming_a_later_step_names_both_and_says_what_to_move() {
    let t = on_tmpfs(&[with_after(mkdir("a", "/a"), &["b"]), mkdir("b", "/b")]);
    let errs = try_dag(&t).unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::after::declared-later"]);
    let d = &errs[0];
    assert_eq!(d.severity, Severity::Error);
    assert!(
        d.message.contains("`a`") && d.message.contains("`b`"),
        "{}",
        d.message
    );
    assert_eq!(spot_of(&t, d.loc), Some((0, "after", "\"b\"")));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(spot(&t, d.secondary[0].0), (1, "id", "\"b\""));
    assert_eq!(
        d.help.as_deref(),
        Some("the declared order is the execution order; move step `b` above step `a`")
    );
}

#[test]
fn a_cycle_lists_every_step_in_it_with_a_label_on_each() {
    // a runs after c (declared later); b after a; c after b.
    let t = on_tmpfs(&[
        with_after(mkdir("a", "/a"), &["c"]),
        with_after(mkdir("b", "/b"), &["a"]),
        with_after(mkdir("c", "/c"), &["b"]),
        mkdir("d", "/d"),
    ]);
    let errs = try_dag(&t).unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::graph::cycle"]);
    let d = &errs[0];
    assert_eq!(
        d.message,
        "steps depend on each other in a cycle: `a` runs after `c`, which runs after `b`, \
         which runs after `a`"
    );
    assert_eq!(spot_of(&t, d.loc), Some((0, "after", "\"c\"")));
    let mut places: Vec<_> = d.secondary.iter().map(|(l, _)| spot(&t, *l)).collect();
    places.push(spot(&t, d.loc.unwrap()));
    places.sort();
    assert_eq!(
        places,
        [
            (0, "after", "\"c\""),
            (1, "after", "\"a\""),
            (2, "after", "\"b\"")
        ]
    );
}

#[test]
fn a_cycle_through_an_implicit_edge_labels_the_implicit_step_at_its_path() {
    let t = on_tmpfs(&[
        with_after(tmpfs("dev", "/dev"), &["null"]),
        mknod("null", "/dev/null"),
    ]);
    let errs = try_dag(&t).unwrap_err();
    assert_eq!(codes(&errs), ["mountplan::graph::cycle"]);
    let d = &errs[0];
    assert_eq!(spot_of(&t, d.loc), Some((0, "after", "\"null\"")));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(spot(&t, d.secondary[0].0), (1, "path", "\"/dev/null\""));
    assert!(d.secondary[0].1.contains("mount"), "{}", d.secondary[0].1);
}

// ---- warnings ----

#[test]
fn a_later_mount_hiding_a_node_warns_with_both_spans() {
    let t = on_dir(&[mknod("null", "/dev/null"), tmpfs("dev", "/dev")]);
    let d = dag(&t);
    assert_eq!(codes(&d.warnings), ["mountplan::graph::hides"]);
    let w = &d.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(spot_of(&t, w.loc), Some((1, "target", "\"/dev\"")));
    assert_eq!(w.secondary.len(), 1);
    assert_eq!(spot(&t, w.secondary[0].0), (0, "path", "\"/dev/null\""));
    assert_eq!(
        w.message,
        "the mount on `/dev` hides `/dev/null`, made earlier by step `null`"
    );
    let null = d.tree.nodes.iter().find(|n| n.path.as_str() == "/dev/null");
    assert_eq!(null.map(|n| n.hidden_by), Some(Some(1)));
}

#[test]
fn a_mountpoint_made_by_mkdir_is_not_hidden_by_its_mount() {
    let d = dag(&on_tmpfs(&[mkdir("dir", "/dev"), tmpfs("dev", "/dev")]));
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    assert_eq!(d.tree.nodes[0].hidden_by, None);
}

#[test]
fn a_later_mount_hiding_a_mount_warns() {
    let d = dag(&on_dir(&[tmpfs("pts", "/dev/pts"), tmpfs("dev", "/dev")]));
    assert_eq!(codes(&d.warnings), ["mountplan::graph::hides"]);
    assert!(
        d.warnings[0]
            .message
            .contains("mounted earlier by step `pts`")
    );
}

#[test]
fn changing_a_path_nothing_is_mounted_on_warns_except_below_a_recursive_bind() {
    let t = on_tmpfs(&[remount("ro", "/x", &["ro"])]);
    let d = dag(&t);
    assert_eq!(codes(&d.warnings), ["mountplan::graph::not-a-mount"]);
    assert_eq!(
        spot_of(&t, d.warnings[0].loc),
        Some((0, "target", "\"/x\""))
    );

    let d = dag(&on_tmpfs(&[
        bind("usr", "/usr", "/usr", true),
        remount("root-ro", "/", &["ro"]),
        umount("local", "/usr/local"),
    ]));
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    assert_eq!(d.edges, [e(0, 2, EdgeKind::Mount)]);

    // A path root is bound recursively: any path may be a host submount.
    let d = dag(&on_dir(&[propagation("x", "/x")]));
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

// ---- the final tree ----

#[test]
fn the_root_comes_first() {
    let d = dag(&on_tmpfs(&[]));
    assert_eq!(d.tree.mounts.len(), 1);
    let r = &d.tree.mounts[0];
    assert_eq!((r.fstype.as_str(), r.step), ("tmpfs", None));
    assert_eq!(
        r.flags,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME
    );
    let d = dag(&on_dir(&[]));
    let r = &d.tree.mounts[0];
    assert_eq!(
        (r.fstype.as_str(), r.source.as_str()),
        ("bind", "/srv/root")
    );
    assert!(r.recursive);
}

#[test]
fn an_umount_removes_the_mount_and_everything_on_it() {
    let d = dag(&on_tmpfs(&[
        tmpfs("mnt", "/mnt"),
        tmpfs("a", "/mnt/a"),
        mkdir("x", "/mnt/a/x"),
        tmpfs("keep", "/keep"),
        umount("gone", "/mnt"),
    ]));
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
    let d = dag(&on_dir(&[
        mknod("null", "/dev/null"),
        tmpfs("dev", "/dev"),
        umount("undo", "/dev"),
    ]));
    let null = d.tree.nodes.iter().find(|n| n.path.as_str() == "/dev/null");
    assert_eq!(null.map(|n| n.hidden_by), Some(None));
}

#[test]
fn a_remount_sets_exactly_its_flags_and_keeps_atime() {
    let d = dag(&on_tmpfs(&[
        mount("proc", "proc", "/proc", &["nosuid", "noatime"]),
        remount("ro", "/proc", &["ro"]),
        remount("root-ro", "/", &["ro", "nosuid", "nodev"]),
    ]));
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
    let d = dag(&on_tmpfs(&[
        tmpfs("a", "/a"),
        mount("b", "proc", "/a/b", &["nosuid"]),
        remount("ro", "/a", &["ro", "rec"]),
    ]));
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
    let d = dag(&on_tmpfs(&[
        mount("proc", "proc", "/proc", &[]),
        mkdir("dir", "/secret"),
        mknod("node", "/dev-x"),
        mask("m1", "/secret"),
        mask("m2", "/dev-x"),
        mask("m3", "/proc/kcore"),
        mask("m4", "/nothing"),
    ]));
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
    let d = dag(&on_tmpfs(&[
        tmpfs("a", "/a"),
        tmpfs("b", "/a/b"),
        readonly("ro", "/a"),
    ]));
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
    let d = dag(&on_tmpfs(&[readonly("ro", "/nothing")]));
    assert_eq!(d.tree.mounts.len(), 1);
}

/// (mountpoint, conditional) of every mount after the root.
fn conditionals(d: &Dag) -> Vec<(&str, bool)> {
    d.tree.mounts[1..]
        .iter()
        .map(|m| (m.mountpoint.as_str(), m.conditional))
        .collect()
}

#[test]
fn masks_and_readonly_paths_the_plan_does_not_know_exist_are_conditional() {
    // Issue 14, item 4: what the executor skips when the path is missing is marked.
    let d = dag(&on_tmpfs(&[
        mount("proc", "proc", "/proc", &[]),
        mkdir("dir", "/secret"),
        mknod("node", "/dev-x"),
        mask("m1", "/secret"),
        mask("m2", "/dev-x"),
        mask("m3", "/proc/kcore"),
        readonly("r1", "/proc/sys"),
        readonly("r2", "/proc"),
        symlink("l", "/link"),
        mask("m4", "/link"),
    ]));
    assert_eq!(
        conditionals(&d),
        [
            ("/proc", false),
            ("/secret", false),
            ("/dev-x", false),
            ("/proc/kcore", true),
            ("/proc/sys", true),
            // A mountpoint exists; what its copy brings along exists only if it was made.
            ("/proc", false),
            ("/proc/kcore", true),
            ("/proc/sys", true),
            // A symlink is followed: a dangling one is missing.
            ("/link", true),
        ]
    );
}

/// The propagation predicted for each mount after the root, as words.
fn propagations(d: &Dag) -> Vec<(&str, String)> {
    d.tree
        .mounts
        .iter()
        .map(|m| (m.mountpoint.as_str(), m.propagation.words()))
        .collect()
}

#[test]
fn the_propagation_of_each_mount_is_predicted() {
    // Issue 14, items 5 and 7. New filesystems are private; copies of host mounts are as the
    // host's (after the setup's rslave: a slave, or private); what is attached on a shared
    // mount becomes shared, keeping a master; make-slave of a shared mount leaves a slave of
    // its peers, or private when it has none.
    let d = dag(&on_dir(&[
        tmpfs("t", "/t"),
        bind("b", "/usr", "/usr", false),
        shared("s", "/t", false),
        tmpfs("u", "/t/u"),
        bind("c", "/etc", "/t/etc", false),
        step(
            "propagation",
            "p",
            &[kv("target", "/usr"), kv("propagation", "unbindable")],
        ),
        step(
            "propagation",
            "q",
            &[kv("target", "/t"), kv("propagation", "slave")],
        ),
    ]));
    let want: Vec<(&str, String)> = vec![
        ("/", "private or slave".into()),
        ("/t", "private or slave".into()),
        ("/usr", "unbindable".into()),
        ("/t/u", "shared".into()),
        ("/t/etc", "shared or shared+slave".into()),
    ];
    assert_eq!(propagations(&d), want);
    // A private propagation step, recursive, makes the whole subtree private.
    let d = dag(&on_dir(&[
        shared("s", "/", false),
        tmpfs("t", "/t"),
        step(
            "propagation",
            "p",
            &[
                kv("target", "/"),
                kv("propagation", "private"),
                "recursive = true".into(),
            ],
        ),
    ]));
    let all: Vec<String> = propagations(&d).into_iter().map(|(_, p)| p).collect();
    assert_eq!(all, ["private", "private"]);
}

#[test]
fn nodes_are_sorted_by_path_with_mountpoints_made_if_missing() {
    let d = dag(&on_tmpfs(&[
        mkdir("z", "/z"),
        tmpfs("dev", "/dev"),
        mknod("null", "/dev/null"),
    ]));
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
    let d = dag(&on_dir(&[mkdir("z", "/z")]));
    assert!(d.tree.nodes[0].if_missing);
}

/// Every diagnostic of the graph, errors and warnings, as (code, severity, place).
fn all(t: &str) -> Vec<(&'static str, Severity, Option<Spot<'_>>)> {
    let ds = match try_dag(t) {
        Ok(d) => d.warnings,
        Err(e) => e,
    };
    ds.iter()
        .map(|d| (d.code, d.severity, spot_of(t, d.loc)))
        .collect()
}

#[test]
fn a_missing_parent_on_an_empty_tmpfs_is_an_error() {
    let t = on_tmpfs(&[
        tmpfs("pts", "/dev/pts"),
        tmpfs("dev", "/dev"),
        mknod("null", "/dev/null"),
        mknod("deep", "/dev/x/y"),
        chmod("mode", "/nothing", "0700"),
    ]);
    // Apply certainly fails at each (ENOENT): errors; the mount hiding /dev/pts is a warning.
    const MISSING: &str = "mountplan::graph::missing";
    assert_eq!(
        all(&t),
        [
            (
                MISSING,
                Severity::Error,
                Some((0, "target", "\"/dev/pts\""))
            ),
            (MISSING, Severity::Error, Some((3, "path", "\"/dev/x/y\""))),
            (MISSING, Severity::Error, Some((4, "path", "\"/nothing\""))),
            (
                "mountplan::graph::hides",
                Severity::Warning,
                Some((1, "target", "\"/dev\""))
            ),
        ]
    );
    let errs = try_dag(&t).unwrap_err();
    assert_eq!(
        errs[1].message,
        "the parent directory `/dev/x` does not exist when step `deep` runs: it would be on the \
         empty tmpfs step `dev` mounts on `/dev`, and no earlier step makes it, so the step \
         certainly fails (ENOENT)"
    );
    assert_eq!(spot(&t, errs[1].secondary[0].0), (1, "target", "\"/dev\""));
    // A path root may have anything in it: no diagnostic.
    let d = dag(&on_dir(&[mknod("x", "/a/b/c")]));
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

// ---- certain failures are errors, likely ones warnings (issue 14, item 10) ----

fn shared(id: &str, target: &str, recursive: bool) -> String {
    step(
        "propagation",
        id,
        &[
            kv("target", target),
            kv("propagation", "shared"),
            format!("recursive = {recursive}"),
        ],
    )
}

fn pivot_by(id: &str, strategy: &str, fallback: Option<&str>) -> String {
    let mut keys = vec![kv("strategy", strategy)];
    keys.extend(fallback.map(|f| kv("fallback", f)));
    step("pivot", id, &keys)
}

fn symlink(id: &str, path: &str) -> String {
    step(
        "symlink",
        id,
        &[kv("path", path), kv("to", "/proc/self/fd")],
    )
}

fn fifo(id: &str, path: &str) -> String {
    step("mknod", id, &[kv("path", path), kv("node", "fifo")])
}

const RO: &str = "mountplan::graph::read-only";
const RO_LIKELY: &str = "mountplan::graph::read-only-likely";

/// What a step makes on a read-only mount fails with EROFS: certainly when the path cannot be
/// there yet (an empty tmpfs, a directory mask), an error; else unless it is there already, a
/// warning. What exists already is not made again (EEXIST is accepted): nothing to report.
#[test]
fn making_a_path_on_a_read_only_mount_fails() {
    // `remount / ro` of an empty tmpfs root, then a mkdir, a node, a link, a mountpoint.
    let t = on_tmpfs(&[
        mkdir("a", "/a"),
        remount("ro", "/", &["ro"]),
        mkdir("again", "/a"),
        mkdir("b", "/b"),
        fifo("n", "/a/n"),
        symlink("l", "/a/l"),
        tmpfs("m", "/a/m"),
    ]);
    assert_eq!(
        all(&t),
        [
            (RO, Severity::Error, Some((3, "path", "\"/b\""))),
            (RO, Severity::Error, Some((4, "path", "\"/a/n\""))),
            (RO, Severity::Error, Some((5, "path", "\"/a/l\""))),
            (RO, Severity::Error, Some((6, "target", "\"/a/m\""))),
        ]
    );
    let t = on_tmpfs(&[remount("ro", "/", &["ro"]), mkdir("b", "/b")]);
    let errs = try_dag(&t).unwrap_err();
    assert_eq!(
        errs[0].message,
        "step `b` makes `/b` on a read-only mount (the empty tmpfs root, made read-only by step \
         `ro`), where it cannot be yet: mkdir fails (EROFS)"
    );
    assert_eq!(spot(&t, errs[0].secondary[0].0), (0, "target", "\"/\""));
    // Writable again: nothing.
    let d = dag(&on_tmpfs(&[
        remount("ro", "/", &["ro"]),
        remount("rw", "/", &["rw"]),
        mkdir("b", "/b"),
    ]));
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

/// A recursive `ro` remount of `/` makes the tmpfs on /dev read-only too; a directory mask is
/// an empty read-only tmpfs.
#[test]
fn a_recursive_ro_remount_and_a_mask_are_read_only_below() {
    let t = on_tmpfs(&[
        tmpfs("dev", "/dev"),
        remount("ro", "/", &["ro", "rec"]),
        mknod("null", "/dev/null"),
        mkdir("d", "/d"),
        mask("mask", "/d"),
        mkdir("in", "/d/x"),
    ]);
    assert_eq!(
        all(&t),
        [
            (RO, Severity::Error, Some((2, "path", "\"/dev/null\""))),
            (RO, Severity::Error, Some((3, "path", "\"/d\""))),
            (RO, Severity::Error, Some((5, "path", "\"/d/x\""))),
        ]
    );
}

/// On a root directory from the host (or a bind) the path may be there already: a warning.
#[test]
fn making_a_path_on_a_read_only_host_directory_likely_fails() {
    let t = on_dir(&[
        remount("ro", "/", &["ro"]),
        mkdir("x", "/x"),
        mount("p", "proc", "/proc", &[]),
    ]);
    assert_eq!(
        all(&t),
        [
            (RO_LIKELY, Severity::Warning, Some((1, "path", "\"/x\""))),
            (
                RO_LIKELY,
                Severity::Warning,
                Some((2, "target", "\"/proc\""))
            ),
        ]
    );
    assert_eq!(
        dag(&t).warnings[0].message,
        "step `x` makes `/x` on a read-only mount (the root, made read-only by step `ro`): \
         mkdir fails (EROFS) unless `/x` is there already"
    );
    // A mountpoint on sysfs is the kernel's: read-only or not, nothing can be made there.
    let d = dag(&on_tmpfs(&[
        mount("sys", "sysfs", "/sys", &["ro"]),
        mount("cg", "cgroup2", "/sys/fs/cgroup", &[]),
    ]));
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    // A read-only bind, and what is made in it.
    let d = dag(&on_tmpfs(&[
        bind("usr", "/usr", "/usr", false),
        mkdir("x", "/usr/x"),
    ]));
    assert_eq!(codes(&d.warnings), [RO_LIKELY]);
}

/// The put_old directory of a `put-old` pivot is made by the pivot, and must not be there: on
/// a read-only root the pivot certainly fails, with or without a fallback.
#[test]
fn a_put_old_pivot_on_a_read_only_root_fails() {
    let t = on_dir(&[
        remount("ro", "/", &["ro"]),
        pivot_by("pivot", "put-old", None),
    ]);
    assert_eq!(
        all(&t),
        [(RO, Severity::Error, Some((1, "kind", "\"pivot\"")))]
    );
    // A fallback does not help: only the kernel's refusal of the switch takes it, and here
    // the mkdir before it fails.
    let t = on_dir(&[
        remount("ro", "/", &["ro"]),
        pivot_by("pivot", "put-old", Some("move")),
    ]);
    let e = try_dag(&t).expect_err("an error");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].code, RO);
    assert!(
        e[0].message.contains("its fallback is not taken"),
        "{}",
        e[0].message
    );
    // A put_old directory whose parent is missing on the empty root (one the plan made is no
    // conflict: the directory gets a fresh name).
    let t = on_tmpfs(&[
        mkdir("old", "/old"),
        step(
            "pivot",
            "pivot",
            &[kv("strategy", "put-old"), kv("put_old", "/none/old")],
        ),
    ]);
    assert_eq!(
        all(&t),
        [(
            "mountplan::graph::missing",
            Severity::Error,
            Some((1, "kind", "\"pivot\""))
        )]
    );
    // pivot-root makes no directory: fine on a read-only root.
    let d = dag(&on_tmpfs(&[
        remount("ro", "/", &["ro"]),
        pivot_by("pivot", "pivot-root", None),
    ]));
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
}

const NODEV: &str = "mountplan::graph::nodev";

/// A device node on a `nodev` mount can be made but never opened (EACCES): a warning (apply
/// succeeds; see the warning's text). The empty tmpfs root is mounted nodev; a FIFO is not a
/// device; a later `nodev` remount, recursive from `/`, counts; one that drops it too.
#[test]
fn a_device_node_on_a_nodev_mount_warns() {
    let t = on_tmpfs(&[
        mkdir("dev", "/dev"),
        mknod("null", "/dev/null"),
        fifo("fifo", "/dev/f"),
        mount("shm", "tmpfs", "/shm", &["nodev"]),
        mknod("zero", "/shm/zero"),
    ]);
    assert_eq!(
        all(&t),
        [
            (NODEV, Severity::Warning, Some((1, "path", "\"/dev/null\""))),
            (NODEV, Severity::Warning, Some((4, "path", "\"/shm/zero\""))),
        ]
    );
    assert_eq!(
        dag(&t).warnings[0].message,
        "`/dev/null` is a device node on a `nodev` mount (the empty tmpfs root): it is made, \
         but opening it fails (EACCES)"
    );
    let t = on_tmpfs(&[
        tmpfs("dev", "/dev"),
        mknod("null", "/dev/null"),
        remount("nodev", "/", &["nodev", "rec"]),
    ]);
    let d = dag(&t);
    assert_eq!(codes(&d.warnings), [NODEV]);
    assert_eq!(
        spot(&t, d.warnings[0].secondary[0].0),
        (2, "target", "\"/\"")
    );
    let d = dag(&on_tmpfs(&[
        mkdir("dev", "/dev"),
        mknod("null", "/dev/null"),
        remount("dev-ok", "/", &["rw"]),
    ]));
    assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    // A node whose step certainly fails is not made: one diagnostic, the failure.
    let t = on_tmpfs(&[mknod("null", "/dev/null")]);
    assert_eq!(
        all(&t),
        [(
            "mountplan::graph::missing",
            Severity::Error,
            Some((0, "path", "\"/dev/null\""))
        )]
    );
}

const SHARED: &str = "mountplan::graph::shared-root";

/// pivot_root(2) fails with EINVAL when the new root, or the mount it is on, is shared.
#[test]
fn a_pivot_root_of_a_shared_root_fails() {
    let t = on_tmpfs(&[
        shared("share", "/", false),
        pivot_by("pivot", "pivot-root", None),
    ]);
    assert_eq!(
        all(&t),
        [(SHARED, Severity::Error, Some((1, "kind", "\"pivot\"")))]
    );
    let t = on_tmpfs(&[
        shared("share", "/", true),
        tmpfs("top", "/"),
        pivot_by("pivot", "put-old", None),
    ]);
    let errs = try_dag(&t).unwrap_err();
    assert_eq!(codes(&errs), [SHARED]);
    assert_eq!(
        errs[0].message,
        "pivot_root fails with EINVAL when step `pivot` runs: the new root is a shared mount \
         (step `share` made it shared)"
    );
    assert_eq!(spot(&t, errs[0].secondary[0].0), (0, "target", "\"/\""));
    // With a fallback that does not pivot_root, the fallback is used.
    let d = dag(&on_tmpfs(&[
        shared("share", "/", false),
        pivot_by("pivot", "pivot-root", Some("move")),
    ]));
    assert_eq!(codes(&d.warnings), ["mountplan::graph::fallback"]);
    // Private again, or a move: nothing.
    for (strategy, last) in [
        ("pivot-root", propagation("last", "/")),
        ("move", mkdir("last", "/a")),
    ] {
        let d = dag(&on_tmpfs(&[
            shared("share", "/", false),
            last,
            pivot_by("pivot", strategy, None),
        ]));
        assert!(d.warnings.is_empty(), "{:#?}", d.warnings);
    }
}
