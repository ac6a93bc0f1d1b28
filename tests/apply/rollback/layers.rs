//! Changes below a bind source and on an overlay are undone in the layer they were made in, after
//! a failure or a kill; an overlay the kernel refuses says why.

use super::*;

/// Changes below a bind's source land in the host directory the bind shows: the journal
/// names that directory as the base, and recovery undoes them there (a chmod of the bind's
/// root changes the source directory itself).
const BIND_PLAN: &str = r#"
version = 1
name = "bind-changes"

[root]
tmpfs = { mode = "0755" }

[namespaces]
user = false

[[step]]
kind = "mount"
id = "data"
type = "bind"
source = "${SRC}"
target = "/data"

[[step]]
kind = "mkdir"
path = "/data/new/deeper"
parents = true

[[step]]
kind = "mknod"
path = "/data/new/fifo"
node = "fifo"

[[step]]
kind = "chmod"
path = "/data/existing"
mode = "0600"

[[step]]
kind = "chmod"
path = "/data"
mode = "0700"

[[step]]
kind = "pivot"
strategy = "pivot-root"
"#;

#[test]
fn changes_below_a_bind_source_are_undone_there_after_a_kill_or_a_failure() {
    let Some(_serial) =
        privileged("changes_below_a_bind_source_are_undone_there_after_a_kill_or_a_failure")
    else {
        return;
    };
    if !debug_hooks("changes_below_a_bind_source_are_undone_there_after_a_kill_or_a_failure") {
        return;
    }
    let s = Scratch::new("bind-changes");
    let src = s.path("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("existing"), "keep\n").unwrap();
    let plan = s.write("b.toml", BIND_PLAN);
    use std::os::unix::fs::PermissionsExt;
    let src_mode = std::fs::metadata(&src).unwrap().permissions().mode();
    let before = manifest(&[&src]);
    let host = host_mounts();
    let run = || Run::apply(&plan, &s.state()).set("SRC", &src);
    for hook in ["MOUNTPLAN_TEST_KILL_AT", "MOUNTPLAN_TEST_FAIL_AT_CALL"] {
        let mut n = 0;
        loop {
            let o = run().env(hook, n).run();
            if o.status == 0 {
                break;
            }
            assert_eq!(o.status, 125, "{hook}={n}: {}", o.stderr);
            assert_same(&format!("{hook}={n}"), &before, &manifest(&[&src]));
            assert_eq!(host, host_mounts());
            assert!(journals(&s.state()).is_empty(), "{hook}={n}");
            n += 1;
        }
        // Five changes (two directories, the FIFO, two modes): ten journal points.
        if hook == "MOUNTPLAN_TEST_KILL_AT" {
            assert_eq!(n, 10);
        } else {
            // Every call of the plan failed in turn before one run went through.
            assert!(n >= 4, "{hook}: only {n} calls failed in turn");
        }
        // The last run succeeded: its changes stay. Undo them by hand for the next hook.
        use std::os::unix::fs::PermissionsExt;
        assert!(src.join("new/deeper").is_dir());
        std::fs::remove_dir_all(src.join("new")).unwrap();
        std::fs::set_permissions(src.join("existing"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(src_mode)).unwrap();
    }
}

const OVERLAY_PLAN: &str = r#"
version = 1
name = "overlay-changes"

[root]
tmpfs = {}

[[step]]
kind = "mount"
type = "overlay"
target = "/app"
lower = ["${LOWER}"]
upper = "${UPPER}"
work = "${WORK}"

[[step]]
kind = "chmod"
path = "/app"
mode = "0700"

[[step]]
kind = "mkdir"
path = "/app/new/deeper"
parents = true

[[step]]
kind = "symlink"
path = "/app/link"
to = "existing"

[[step]]
kind = "mknod"
path = "/app/fifo"
node = "fifo"
mode = "0600"

[[step]]
kind = "mkdir"
path = "/app/etc/sub/made"

[[step]]
kind = "chmod"
path = "/app/etc/conf"
mode = "0600"
"#;

/// What a plan makes on an overlay is written to its upper layer, a host directory (a chmod of
/// the overlay's root changes the upper directory itself), and so is what the kernel copies up
/// for it (`etc` and `etc/sub` for the mkdir, `etc/conf` for the
/// chmod) and the `work` directory the mount makes in the work directory: a failure at any
/// call, or a kill at any journal point, leaves all three layers as they were.
#[test]
fn changes_on_an_overlay_are_undone_in_its_layers_after_a_failure_or_a_kill() {
    let test = "changes_on_an_overlay_are_undone_in_its_layers_after_a_failure_or_a_kill";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let s = Scratch::new("overlay-changes");
    let (lower, upper, work) = (s.path("lower"), s.path("upper"), s.path("work"));
    for d in [&lower, &upper, &work] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(lower.join("existing"), "lower\n").unwrap();
    std::fs::create_dir_all(lower.join("etc/sub")).unwrap();
    std::fs::write(lower.join("etc/conf"), "conf\n").unwrap();
    let plan = s.write("o.toml", OVERLAY_PLAN);
    let layers = || manifest(&[&lower, &upper, &work]);
    let before = layers();
    let host = host_mounts();
    let run = || {
        Run::apply(&plan, &s.state())
            .set("LOWER", &lower)
            .set("UPPER", &upper)
            .set("WORK", &work)
    };
    for hook in ["MOUNTPLAN_TEST_FAIL_AT_CALL", "MOUNTPLAN_TEST_KILL_AT"] {
        let mut n = 0;
        loop {
            let o = run().env(hook, n).run();
            if o.status == 0 {
                break;
            }
            assert_eq!(o.status, 125, "{hook}={n}: {}", o.stderr);
            // Killed after the kernel copied `etc/conf` up and before its inode number was
            // journaled, recovery knows the copy by the size and modification time it kept.
            assert!(!o.stderr.contains("left alone"), "{hook}={n}: {}", o.stderr);
            assert_same(&format!("{hook}={n}"), &before, &layers());
            assert_eq!(host, host_mounts(), "{hook}={n}");
            assert!(journals(&s.state()).is_empty(), "{hook}={n}");
            n += 1;
        }
        if hook == "MOUNTPLAN_TEST_KILL_AT" {
            // Ten changes, two points each: `work`, the mode of the upper directory itself,
            // `new`, `new/deeper`, the link, the FIFO, the copies of `etc` and `etc/sub`,
            // `etc/sub/made`, the copy of `etc/conf`; and the intent of `index`, which the mount
            // may make (with `index=on`) but did not.
            assert_eq!(n, 21, "journal points");
        } else {
            assert!(n >= 8, "{hook}: only {n} calls failed in turn");
        }
        // The run that succeeded wrote into the upper layer, as an overlay does. Undo it by
        // hand for the next hook.
        assert!(upper.join("new/deeper").is_dir() && upper.join("fifo").exists());
        assert!(upper.join("etc/sub/made").is_dir() && upper.join("etc/conf").is_file());
        for e in std::fs::read_dir(&upper).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
        std::fs::remove_dir(work.join("work")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&upper, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_same(&format!("{hook}: cleaned by hand"), &before, &layers());
    }
}

/// An overlay the kernel refuses (EINVAL, its reason only in the kernel log) gets the reason
/// mountplan can tell: here a work directory inside the upper one. Nothing is left behind.
#[test]
fn an_overlay_the_kernel_refuses_says_why() {
    let Some(_serial) = privileged("an_overlay_the_kernel_refuses_says_why") else {
        return;
    };
    let s = Scratch::new("overlay-refused");
    let (lower, upper) = (s.path("lower"), s.path("upper"));
    let work = upper.join("work");
    for d in [&lower, &upper, &work] {
        std::fs::create_dir(d).unwrap();
    }
    let plan = s.write("o.toml", OVERLAY_PLAN);
    let before = manifest(&[&lower, &upper]);
    let o = Run::apply(&plan, &s.state())
        .set("LOWER", &lower)
        .set("UPPER", &upper)
        .set("WORK", &work)
        .run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(o.stderr.contains("EINVAL"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("is inside the other; overlayfs needs two separate directories"),
        "{}",
        o.stderr
    );
    assert_same("refused overlay", &before, &manifest(&[&lower, &upper]));
    assert!(journals(&s.state()).is_empty());
}
