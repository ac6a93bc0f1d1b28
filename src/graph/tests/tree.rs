//! The predicted final mount tree: the root first, umounts, remounts and their flags, masks and
//! readonly paths (and which are conditional), propagation, and the nodes made.

use super::*;

fn mount_at<'a>(d: &'a Dag, p: &str) -> Vec<&'a TreeMount> {
    d.tree
        .mounts
        .iter()
        .filter(|m| m.mountpoint.as_str() == p)
        .collect()
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
            (
                "/dev/null",
                &NodeKind::Char(crate::lowering::Dev::Num(1, 3))
            ),
            ("/z", &NodeKind::Dir),
        ]
    );
    // On an empty tmpfs root they are certainly made; on a host directory only if missing.
    assert!(d.tree.nodes.iter().all(|n| !n.if_missing));
    let d = dag(&on_dir(&[mkdir("z", "/z")]));
    assert!(d.tree.nodes[0].if_missing);
}
