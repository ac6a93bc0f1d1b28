//! Paths the plan makes where they cannot be made: a missing parent on an empty tmpfs, a read-only
//! mount or host directory, a read-only root under a put-old pivot, a device node on a nodev
//! mount, a pivot of a shared root.

use super::*;

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

fn pivot_by(id: &str, strategy: &str, fallback: Option<&str>) -> String {
    let mut keys = vec![kv("strategy", strategy)];
    keys.extend(fallback.map(|f| kv("fallback", f)));
    step("pivot", id, &keys)
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
