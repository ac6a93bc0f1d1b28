//! The edges of the graph: what each step depends on (the mount it is under, the step that made
//! its parent or path, explicit `after`, the pivot), their order, and the errors of `after` and
//! of cycles.

use super::*;

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
