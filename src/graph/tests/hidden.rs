//! Warnings of paths and mounts that a later mount hides, and of changes to paths nothing is
//! mounted on.

use super::*;

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
