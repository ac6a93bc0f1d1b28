//! Crashes beyond the journal points of rollback.rs: SIGKILL of the process running the steps
//! before each of its calls (the parent must undo its journal itself), of `recover` after each
//! record it undoes, of the parent while the command runs (the command and its namespace must
//! not outlive it: PR_SET_PDEATHSIG), and many applies on one root while one of them holds the
//! lock, paused (the lock makes them take turns; the result is one apply's). Every kill and
//! pause point is chosen by a debug hook, never by timing.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use crate::rollback::{Disk, disk};
use crate::support::*;

/// Host manifest of a disk root without inode numbers (a twin root has other inodes).
fn shape(d: &Disk) -> Vec<String> {
    let p = d.root.display().to_string();
    let h = d.hostfile.display().to_string();
    d.manifest()
        .into_iter()
        .map(|l| l.replace(&p, "ROOT").replace(&h, "HOSTFILE"))
        .map(|l| l.split(" ino=").next().unwrap().to_string())
        .collect()
}

fn recover(d: &Disk) -> Out {
    Run {
        args: vec![
            "recover".into(),
            "--state-dir".into(),
            d.s.state().display().to_string(),
        ],
        ..Run::default()
    }
    .run()
}

/// Kills the child running the steps (not the parent) right before each of its calls in turn,
/// wherever that falls between journal points (`MOUNTPLAN_TEST_KILL_AT_CALL`): the parent sees
/// it die, undoes its journal, and exits 125 saying so (or that there was nothing to undo);
/// the root is as before, no journal is left, nothing outlives the parent. Past the last call
/// the apply succeeds. (A child killed after its steps, before or after its report: see
/// `crashes_a_child_killed_before_printing_its_report_gets_it_printed_by_the_parent`.)
#[test]
fn crashes_the_child_killed_before_each_call_is_undone_by_the_parent() {
    let test = "crashes_the_child_killed_before_each_call_is_undone_by_the_parent";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let host = host_mounts();
    let (mut undone, mut nothing) = (0, 0);
    let mut n = 0;
    loop {
        let d = disk("crash");
        let before = shape(&d);
        let o = d.run().env("MOUNTPLAN_TEST_KILL_AT_CALL", n).run();
        let what = format!("kill before call {n}");
        if o.status == 0 {
            assert!(n > 10, "{what}: the disk plan has more calls: {}", o.stderr);
            break;
        }
        assert_eq!(o.status, 125, "{what}: {}", o.stderr);
        assert!(
            o.stderr.contains("the apply ended before it reported"),
            "{what}: the parent must say the child died:\n{}",
            o.stderr
        );
        if o.stderr.contains("recovered the journal") {
            undone += 1;
            assert!(
                o.stderr.contains("undone from its journal"),
                "{what}: {}",
                o.stderr
            );
        } else {
            // Killed before its first change: the message must not claim anything was undone.
            assert!(
                o.stderr.contains("nothing on the host is undone"),
                "{what}: {}",
                o.stderr
            );
            nothing += 1;
        }
        let left = wait_no_processes(&d.s.dir.display().to_string());
        assert!(left.is_empty(), "{what}: processes left: {left:?}");
        assert!(journals(&d.s.state()).is_empty(), "{what}: journal left");
        assert_same(&what, &before, &shape(&d));
        assert_eq!(host, host_mounts(), "{what}");
        n += 1;
    }
    eprintln!(
        "child kills: before each of {n} calls; {undone} undone from the journal by the parent, \
         {nothing} before any change"
    );
    assert!(
        undone > 0 && nothing > 0,
        "{undone} undone, {nothing} before any change"
    );
}

/// The mount namespace of `pid` (the inode `/proc/PID/ns/mnt` links to).
fn mnt_ns(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|p| p.display().to_string())
}

/// Every process in mount namespace `ns`.
fn in_ns(ns: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|p| mnt_ns(*p).as_deref() == Some(ns))
        .collect()
}

/// The parent killed while the command runs (a shell looping forever, with and without a pid
/// namespace): the command dies too, and no process is left in the apply's mount namespace.
#[test]
fn crashes_the_command_and_its_namespace_do_not_outlive_the_parent() {
    let Some(_serial) =
        privileged("crashes_the_command_and_its_namespace_do_not_outlive_the_parent")
    else {
        return;
    };
    for pid in [true, false] {
        let d = disk(if pid { "outlive-pid" } else { "outlive" });
        if !pid {
            let text = std::fs::read_to_string(&d.plan).unwrap();
            std::fs::write(&d.plan, text.replace("pid = true", "pid = false")).unwrap();
        }
        let marker = d.s.dir.display().to_string();
        let mut c = Run::apply(&d.plan, &d.s.state())
            .set("ROOTFS", &d.root)
            .set("HOSTFILE", &d.hostfile)
            .cmd(&[
                "/bin/sh",
                "-c",
                "echo ready; while :; do sleep 1; done",
                &marker,
            ])
            .command();
        c.stderr(std::process::Stdio::null());
        let mut parent = c.spawn().unwrap();
        let mut out = BufReader::new(parent.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "pid={pid}");
        let cmd = processes_mentioning(&marker)
            .into_iter()
            .find(|p| *p != parent.id() as i32)
            .expect("the command");
        let ns = mnt_ns(cmd).unwrap();
        assert_ne!(Some(ns.clone()), mnt_ns(std::process::id() as i32));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(parent.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = parent.wait();
        let left = wait_no_processes(&marker);
        assert!(
            left.is_empty(),
            "pid={pid}: the command outlived the parent: {left:?}"
        );
        let t = std::time::Instant::now();
        while !in_ns(&ns).is_empty() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            in_ns(&ns).is_empty(),
            "pid={pid}: processes left in the namespace"
        );
        // The apply had succeeded: no journal, nothing to recover.
        assert!(journals(&d.s.state()).is_empty(), "pid={pid}");
    }
}

/// Eight applies on one root, five rounds: the first holds the lock, paused before its first
/// call, until the seven others have said they wait for it (so every round overlaps, by
/// construction); then each takes the lock in turn (none interleaves its journal with
/// another's), all succeed, and the root ends as after one apply.
#[test]
fn crashes_concurrent_applies_on_one_root_take_turns() {
    let test = "crashes_concurrent_applies_on_one_root_take_turns";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let twin = disk("concurrent-twin");
    assert_eq!(twin.run().run().status, 0);
    let after_ok = shape(&twin);
    let d = disk("concurrent");
    let host = host_mounts();
    let mut waited = 0;
    for round in 0..5 {
        let resume = Resume::new(&d.s.dir, "resume");
        let first = d
            .run()
            .env("MOUNTPLAN_TEST_PAUSE_AT_CALL", 0)
            .env("MOUNTPLAN_TEST_RESUME", resume.0.display())
            .command();
        let mut others = Vec::new();
        let (o, paused) = run_paused(first, &resume, || {
            for i in 0..7 {
                // Stderr into a file: complete once the apply has ended.
                let log = d.s.path(&format!("stderr-{round}-{i}"));
                let mut c = d.run().command();
                c.stdout(std::process::Stdio::null())
                    .stderr(std::fs::File::create(&log).unwrap());
                let mut child = c.spawn().unwrap();
                let t = std::time::Instant::now();
                while !std::fs::read_to_string(&log)
                    .unwrap()
                    .contains("waiting for it")
                {
                    let text = std::fs::read_to_string(&log).unwrap();
                    assert!(
                        child.try_wait().unwrap().is_none()
                            && t.elapsed() < Duration::from_secs(60),
                        "round {round}: an apply did not wait for the lock: {text}"
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
                others.push((child, log));
            }
        });
        assert!(paused, "round {round}: {}", o.stderr);
        assert_eq!(o.status, 0, "round {round}: {}", o.stderr);
        for (mut child, log) in others {
            let st = child.wait().unwrap();
            let err = std::fs::read_to_string(&log).unwrap();
            assert!(st.success(), "round {round}: {err}");
            assert!(!err.contains("recovered"), "round {round}: {err}");
            waited += 1;
        }
        assert!(journals(&d.s.state()).is_empty(), "round {round}");
        assert!(locks(&d.s.state()).is_empty(), "round {round}");
        assert_eq!(shape(&d), after_ok, "round {round}");
    }
    eprintln!(
        "concurrent applies: {waited} of 40 waited for the lock (7 a round, by construction)"
    );
    assert_eq!(host, host_mounts());
}

/// Recovery killed too: the parent of an apply SIGKILLed while its child waits at each journal
/// point in turn (`MOUNTPLAN_TEST_HANG_AT`: the child dies with it and leaves its journal),
/// then `mountplan recover` killed right after undoing 0, 1, 2, ... records
/// (`MOUNTPLAN_TEST_KILL_RECOVER_AT`) until one runs to the end: the root ends as before, and
/// no journal is left.
#[test]
fn crashes_recover_killed_after_each_record_still_finishes() {
    let test = "crashes_recover_killed_after_each_record_still_finishes";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let host = host_mounts();
    let (mut applies, mut recover_killed) = (0, 0);
    // The disk plan: 9 journaled changes, 2 points each.
    for point in 0..18u32 {
        let d = disk("recover-kill");
        let before = shape(&d);
        crate::rollback::kill_parent_while_hanging(&d, point);
        assert_eq!(journals(&d.s.state()).len(), 1, "point {point}: no journal");
        applies += 1;
        let mut r = 0;
        loop {
            let o = Run {
                args: vec![
                    "recover".into(),
                    "--state-dir".into(),
                    d.s.state().display().to_string(),
                ],
                env: vec![("MOUNTPLAN_TEST_KILL_RECOVER_AT", r.to_string())],
                ..Run::default()
            }
            .run();
            if o.status == 0 {
                break;
            }
            assert_eq!(
                o.status, 137,
                "point {point}, recover killed at {r}: {}",
                o.stderr
            );
            assert_eq!(journals(&d.s.state()).len(), 1, "point {point}, at {r}");
            recover_killed += 1;
            r += 1;
        }
        let o = recover(&d);
        assert_eq!(o.status, 0, "point {point}: {}", o.stderr);
        assert!(
            journals(&d.s.state()).is_empty(),
            "point {point}: {}",
            o.stderr
        );
        assert_same(
            &format!("point {point}: not as before"),
            &before,
            &shape(&d),
        );
        assert_eq!(host, host_mounts(), "point {point}");
    }
    eprintln!("recover kills: {applies} journals left, {recover_killed} recovers killed mid-way");
    assert!(
        recover_killed >= 9,
        "recovery was killed only {recover_killed} times"
    );
}

/// A child killed after it sent its outcome to the parent and before it printed its report
/// (a window of a few microseconds no journal point names; a test hook kills it there): the
/// parent prints the report, says the child died before the command started, and exits 125;
/// the root is as after a success, since the steps were done.
#[test]
fn crashes_a_child_killed_before_printing_its_report_gets_it_printed_by_the_parent() {
    let test = "crashes_a_child_killed_before_printing_its_report_gets_it_printed_by_the_parent";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !cfg!(debug_assertions) {
        eprintln!("NOT RUN {test}: the test hook needs a debug build");
        assert!(!ci(), "{test} must run under CI=true");
        return;
    }
    let twin = disk("report-twin");
    assert_eq!(twin.run().run().status, 0);
    let after_ok = shape(&twin);
    let d = disk("report-killed");
    let o = d.run().env("MOUNTPLAN_TEST_DIE_AFTER_REPORT", 1).run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(o.stderr.contains("predicted mounts match"), "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "after its steps, before it printed its report (printed above from what it sent) \
             or started the command"
        ),
        "{}",
        o.stderr
    );
    assert_eq!(shape(&d), after_ok);
    assert!(journals(&d.s.state()).is_empty());
    let left = wait_no_processes(&d.s.dir.display().to_string());
    assert!(left.is_empty(), "processes left: {left:?}");
}
