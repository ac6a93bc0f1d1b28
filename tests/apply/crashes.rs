//! Crashes beyond the hooks of rollback.rs (these need no debug build): SIGKILL of the
//! process running the steps at random instants (the parent must undo its journal itself),
//! the parent killed while the command runs (the command and its namespace must not outlive
//! it: PR_SET_PDEATHSIG), and many applies started at once on one root (the lock makes them
//! take turns; the result is one apply's).

use std::io::{BufRead, BufReader};
use std::time::Duration;

use crate::rollback::{Disk, disk};
use crate::support::*;

/// The pids whose parent is `pid` (from /proc/N/stat).
fn children_of(pid: i32) -> Vec<i32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(pid) {
            v.push(p);
        }
    }
    v
}

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

/// Kills the child running the steps (not the parent) at a random instant, 300 times: the
/// parent sees it die, undoes its journal, and exits 125 saying so; or the apply had finished
/// first. Either way the root is as before or as after a successful apply, no journal is
/// left, nothing outlives the parent.
#[test]
fn crashes_the_child_killed_at_random_instants_is_undone_by_the_parent() {
    let Some(_serial) =
        privileged("crashes_the_child_killed_at_random_instants_is_undone_by_the_parent")
    else {
        return;
    };
    let twin = disk("crash-twin");
    let t = std::time::Instant::now();
    let ok = twin.run().run();
    // The random instants cover the whole apply, and a little after.
    // (At most 30 ms: a slow first run must not make the test slow.)
    let span = ((t.elapsed().as_micros() as u64) * 5 / 4).min(30_000);
    assert_eq!(ok.status, 0, "{}", ok.stderr);
    let after_ok = shape(&twin);
    let host = host_mounts();
    let (mut killed, mut finished, mut undone, mut late) = (0, 0, 0, 0);
    let (mut as_before, mut as_after) = (0, 0);
    // A fixed seed: the same instants on every run of the test.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..300 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let d = disk("crash");
        let before = shape(&d);
        let mut parent = d.run().command().spawn().unwrap();
        let delay = Duration::from_micros(seed % span);
        let t = std::time::Instant::now();
        // Wait for the child to exist, then for the random instant; kill it.
        let mut victim = None;
        while t.elapsed() < Duration::from_millis(50) {
            if let Some(c) = children_of(parent.id() as i32).first() {
                victim = Some(*c);
                break;
            }
        }
        while t.elapsed() < delay {}
        if let Some(c) = victim {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let o = finish_child(&mut parent);
        let what = format!("run {i} (delay {delay:?})");
        match o.status {
            0 => finished += 1,
            // Killed after its report: the steps had succeeded, the process (then running the
            // command, or the init waiting for it) died as the command would: 128 + SIGKILL.
            137 if o.stderr.contains("predicted mounts match") => finished += 1,
            // Killed after it sent its outcome to the parent, before it printed its report:
            // the steps had succeeded, and the parent prints the report and says so.
            125 if o
                .stderr
                .contains("after its steps, before it printed its report") =>
            {
                finished += 1;
                assert!(
                    o.stderr.contains("predicted mounts match"),
                    "{what}: the parent must print the report:\n{}",
                    o.stderr
                );
                assert_eq!(
                    shape(&d),
                    after_ok,
                    "{what}: reported success, but the root differs"
                );
            }
            125 => {
                killed += 1;
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
                    // Killed before its first change, or between finishing its journal and
                    // reporting: the message must not claim anything was undone.
                    assert!(
                        o.stderr.contains("nothing on the host is undone"),
                        "{what}: {}",
                        o.stderr
                    );
                    late += 1;
                }
            }
            s => panic!("{what}: status {s}:\n{}", o.stderr),
        }
        let left = wait_no_processes(&d.s.dir.display().to_string());
        assert!(left.is_empty(), "{what}: processes left: {left:?}");
        assert!(journals(&d.s.state()).is_empty(), "{what}: journal left");
        // Nothing for recover to do.
        let r = recover(&d);
        assert_eq!(r.status, 0, "{what}: {}", r.stderr);
        let now = shape(&d);
        if now == before {
            as_before += 1;
        } else if now == after_ok {
            as_after += 1;
            // A child killed after its report: the apply had succeeded.
        } else {
            assert_same(&format!("{what}: neither before nor after"), &before, &now);
        }
        assert_eq!(host, host_mounts(), "{what}");
    }
    eprintln!(
        "child kills over {span} us: {killed} killed (status 125; the parent undid a \
         journal in {undone}; in {late} there was none), {finished} reported \
         success first; {as_before} as before, {as_after} \
         as after"
    );
    assert!(killed > 0, "no kill landed during the apply");
    assert!(
        undone > 0,
        "no kill landed after a journaled change: nothing was undone"
    );
}

fn finish_child(c: &mut std::process::Child) -> Out {
    let mut so = c.stdout.take().unwrap();
    let mut se = c.stderr.take().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    use std::io::Read;
    let h = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let _ = so.read_to_string(&mut out);
    err.push_str(&h.join().unwrap());
    let st = c.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    Out {
        status: st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
        stdout: out,
        stderr: err,
    }
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

/// Eight applies started at once on one root, five rounds: each takes the lock in turn
/// (none interleaves its journal with another's), all succeed, and the root ends as after one
/// apply.
#[test]
fn crashes_concurrent_applies_on_one_root_take_turns() {
    let Some(_serial) = privileged("crashes_concurrent_applies_on_one_root_take_turns") else {
        return;
    };
    let twin = disk("concurrent-twin");
    assert_eq!(twin.run().run().status, 0);
    let after_ok = shape(&twin);
    let d = disk("concurrent");
    let host = host_mounts();
    let mut waited = 0;
    for round in 0..5 {
        let kids: Vec<_> = (0..8).map(|_| d.run().command().spawn().unwrap()).collect();
        for mut k in kids {
            let o = finish_child(&mut k);
            assert_eq!(o.status, 0, "round {round}: {}", o.stderr);
            assert!(
                !o.stderr.contains("recovered"),
                "round {round}: {}",
                o.stderr
            );
            if o.stderr.contains("waiting for it") {
                waited += 1;
            }
        }
        assert!(journals(&d.s.state()).is_empty(), "round {round}");
        assert!(locks(&d.s.state()).is_empty(), "round {round}");
        assert_eq!(shape(&d), after_ok, "round {round}");
    }
    eprintln!("concurrent applies: {waited} of 40 waited for the lock");
    assert!(
        waited > 0,
        "no apply ever waited: the test did not make them overlap"
    );
    assert_eq!(host, host_mounts());
}

/// Recovery killed too: the parent of an apply SIGKILLed at a random instant (its child dies
/// with it and leaves its journal), then `mountplan recover` SIGKILLed at random instants, up
/// to three times, before one runs to the end. 50 rounds: the root ends as before or as after
/// a successful apply, and no journal is left.
#[test]
fn crashes_recover_killed_at_random_instants_still_finishes() {
    let Some(_serial) = privileged("crashes_recover_killed_at_random_instants_still_finishes")
    else {
        return;
    };
    let twin = disk("recover-twin");
    let t = std::time::Instant::now();
    assert_eq!(twin.run().run().status, 0);
    let span = ((t.elapsed().as_micros() as u64) * 5 / 4).min(30_000);
    let after_ok = shape(&twin);
    let host = host_mounts();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m.max(1)
    };
    let (mut journaled, mut recover_killed, mut as_before, mut as_after) = (0, 0, 0, 0);
    for i in 0..50 {
        let d = disk("recover-kill");
        let before = shape(&d);
        let mut parent = d.run().command().spawn().unwrap();
        std::thread::sleep(Duration::from_micros(next(span)));
        let _ = parent.kill();
        let _ = parent.wait();
        let left = wait_no_processes(&d.s.dir.display().to_string());
        assert!(left.is_empty(), "round {i}: processes left: {left:?}");
        if !journals(&d.s.state()).is_empty() {
            journaled += 1;
        }
        for _ in 0..3 {
            if journals(&d.s.state()).is_empty() {
                break;
            }
            let mut r = Run {
                args: vec![
                    "recover".into(),
                    "--state-dir".into(),
                    d.s.state().display().to_string(),
                ],
                ..Run::default()
            }
            .command()
            .spawn()
            .unwrap();
            std::thread::sleep(Duration::from_micros(next(3000)));
            if r.try_wait().unwrap().is_none() {
                recover_killed += 1;
            }
            let _ = r.kill();
            let _ = r.wait();
        }
        let o = recover(&d);
        assert_eq!(o.status, 0, "round {i}: {}", o.stderr);
        assert!(journals(&d.s.state()).is_empty(), "round {i}: {}", o.stderr);
        let now = shape(&d);
        if now == before {
            as_before += 1;
        } else if now == after_ok {
            as_after += 1;
        } else {
            assert_same(
                &format!("round {i}: neither before nor after"),
                &before,
                &now,
            );
        }
        assert_eq!(host, host_mounts(), "round {i}");
    }
    eprintln!(
        "recover kills: {journaled} of 50 applies left a journal, {recover_killed} recovers \
         killed while running; {as_before} as before, {as_after} as after"
    );
    assert!(journaled > 0, "no kill left a journal");
}

/// A child killed after it sent its outcome to the parent and before it printed its report
/// (a window of a few microseconds the random kills above rarely hit): the parent prints the
/// report, says the child died before the command started, and exits 125; the root is as
/// after a success, since the steps were done.
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
