//! Unit tests of the apply's process steps with [`FakeProcs`]: the order of the parent's
//! preparations, a refusal before any of them, a fork that fails, a child that dies without a
//! word, and a child whose namespaces cannot be made. Real files in a scratch state directory;
//! no process is made.

use std::cell::RefCell;
use std::path::PathBuf;

use super::*;
use crate::graph::Dag;
use crate::sys::Errno;
use crate::sys::fake::FakeProcs;
use crate::sys::procs::{Exit, Forked};

/// A fresh state directory (0700, the caller's) and a root directory, under the temp dir.
fn scratch(name: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let d = std::env::temp_dir().join(format!("mountplan-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("root")).unwrap();
    std::fs::create_dir(d.join("state")).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(d.join("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    (d.join("state"), d.join("root"))
}

fn dag(root: &Path, extra: &str) -> Dag {
    let text = format!(
        "version = 1\nname = \"unit\"\n[root]\npath = \"{}\"\n{extra}",
        root.display()
    );
    let c = crate::check(Path::new("t.toml"), &[], &mut |_| Ok(text.clone()));
    c.dag.expect("valid")
}

fn cfg(state: &Path) -> Config {
    Config {
        state_dir: state.to_path_buf(),
        verify: true,
        command: vec!["/bin/true".into()],
        ..Config::default()
    }
}

/// The lock files left in the journal directory.
fn locks(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join("journal"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default()
}

/// As root, with a pid namespace: the caller's descriptors are closed and mountplan becomes
/// non-dumpable before anything else, the umask is cleared, the pid namespace is made before
/// the fork; the parent forwards signals to the child and waits. A child killed before it
/// reported is said (with its signal), the status is 125, the lock file is gone.
#[test]
fn the_parent_prepares_in_order_and_reports_a_child_that_died_without_a_word() {
    let (state, root) = scratch("parent");
    let d = dag(&root, "[namespaces]\nuser = false\npid = true\n");
    let mut p = FakeProcs {
        child_exit: Exit {
            status: 137,
            signal: Some(9),
        },
        ..FakeProcs::default()
    };
    let events = RefCell::new(Vec::new());
    let a = apply_with(&d, &cfg(&state), &mut p, &mut |e| {
        events.borrow_mut().push(format!("{e:?}"))
    })
    .unwrap();
    assert_eq!(
        p.log,
        [
            "close_inherited_fds(None)",
            "set_dumpable(false)",
            "set_umask(0)",
            "note_caller_signals()",
            "unshare_pid()",
            "fork()",
            "forward_signals_to(4242)",
            "wait(4242)",
        ]
    );
    assert_eq!(a.exit_status, 125);
    assert!(a.outcome.is_none());
    let ev = events.into_inner();
    assert_eq!(
        ev,
        ["ChildDied { signal: Some(9), journal: false, reported: false }"]
    );
    assert!(locks(&state).is_empty(), "{:?}", locks(&state));
}

/// Rootless (`user = "auto"` as a user), the pid namespace is the child's to make: the parent
/// does not unshare it.
#[test]
fn rootless_the_parent_leaves_the_pid_namespace_to_the_child() {
    let (state, root) = scratch("rootless");
    let d = dag(&root, "");
    let mut p = FakeProcs {
        euid: 1000,
        ..FakeProcs::default()
    };
    let _ = apply_with(&d, &cfg(&state), &mut p, &mut |_| {});
    assert!(p.log.contains(&"fork()".to_string()), "{:?}", p.log);
    assert!(
        !p.log.iter().any(|l| l.starts_with("unshare_pid")),
        "{:?}",
        p.log
    );
}

/// What cannot work is refused before any process step: nothing is closed, nothing forked.
#[test]
fn a_refused_plan_changes_nothing_in_the_process() {
    let (state, root) = scratch("refused");
    let d = dag(&root, "[namespaces]\nuser = false\n");
    let mut p = FakeProcs {
        euid: 1000,
        ..FakeProcs::default()
    };
    let r = apply_with(&d, &cfg(&state), &mut p, &mut |_| {});
    match r {
        Err(ApplyError::Refused(d)) => assert_eq!(d[0].code, "mountplan::apply::needs-root"),
        other => panic!("not refused: {other:?}"),
    }
    assert!(p.log.is_empty(), "{:?}", p.log);
}

/// A fork that fails is a host error naming the call, and releases the lock (no lock file is
/// left behind).
#[test]
fn a_failed_fork_is_a_host_error_and_leaves_no_lock_file() {
    let (state, root) = scratch("fork");
    let d = dag(&root, "[namespaces]\nuser = false\n");
    let mut p = FakeProcs {
        fail: Some(("fork", Errno::EAGAIN)),
        ..FakeProcs::default()
    };
    match apply_with(&d, &cfg(&state), &mut p, &mut |_| {}) {
        Err(ApplyError::Host(e)) => {
            assert!(e.to_string().contains("fork()"), "{e}");
            assert_eq!(e.errno, Errno::EAGAIN);
        }
        other => panic!("not a host error: {other:?}"),
    }
    assert!(locks(&state).is_empty(), "{:?}", locks(&state));
}

/// On the child's side: it asks to die with its parent, checks the parent is still there,
/// makes the namespaces; when that fails it reports a setup failure (printed here, as the
/// child prints its report) and ends with 125, before any step.
#[test]
fn a_child_whose_namespaces_fail_reports_and_ends_before_any_step() {
    let (state, root) = scratch("child");
    let d = dag(&root, "[namespaces]\nuser = false\npid = false\n");
    let mut p = FakeProcs {
        fork_as: Forked::Child,
        fail: Some(("enter_namespaces", Errno::EPERM)),
        ..FakeProcs::default()
    };
    let events = RefCell::new(Vec::new());
    let c = cfg(&state);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = apply_with(&d, &c, &mut p, &mut |e| {
            if let Event::Setup(o) = e {
                events.borrow_mut().push(o.clone());
            }
        });
    }));
    let msg = r.expect_err("the child ends with exit_now");
    assert_eq!(
        msg.downcast_ref::<String>().map(String::as_str),
        Some("exit_now(125)")
    );
    let tail: Vec<&str> = p
        .log
        .iter()
        .skip_while(|l| *l != "fork()")
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "fork()",
            "die_with_parent()",
            "enter_namespaces(pid=false user=false)",
            "exit_now(125)",
        ]
    );
    let ev = events.into_inner();
    assert_eq!(ev.len(), 1);
    assert!(ev[0].setup_failed);
    let f = ev[0].failure.as_ref().unwrap();
    assert_eq!(f.errno.as_deref(), Some("EPERM"));
    assert!(ev[0].rolled_back.is_empty());
}
