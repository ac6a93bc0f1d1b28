//! Resource limits and extreme inputs: a tmpfs with too few inodes (ENOSPC), too few
//! descriptors (EMFILE, RLIMIT_NOFILE set before exec), a chain of 41 symlinks (ELOOP), paths
//! at and past PATH_MAX and a component past NAME_MAX. Each is a clean error that names the
//! step and its place, everything is rolled back, and nothing outside the root changes.

use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::support::*;

fn plan_text(steps: &str) -> String {
    format!(
        "version = 1\nname = \"res\"\n[root]\npath = \"${{ROOTFS}}\"\n[namespaces]\n\
         user = false\n{steps}"
    )
}

/// Applies `steps` on a fresh busybox root prepared by `plant`; returns the output after
/// checking the host (a canary beside the root, the mount table), the journal and, when the
/// apply failed, that the root is as before.
fn apply_steps(name: &str, plant: fn(&Path), steps: &str, no_openat2: bool) -> Out {
    let s = Scratch::new(name);
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("srv")).unwrap();
    plant(&root);
    let canary = s.write("canary/keep", "canary\n");
    let plan = s.write("res.toml", &plan_text(steps));
    let host = host_mounts();
    let outside = manifest(&[canary.parent().unwrap()]);
    let inside = manifest(&[&root]);
    let mut r = Run::apply(&plan, &s.state()).set("ROOTFS", &root);
    if no_openat2 {
        r = r.env("MOUNTPLAN_TEST_NO_OPENAT2", 1);
    }
    let o = r.run();
    let what = format!("{name} (no_openat2={no_openat2})");
    assert!(!o.stderr.contains("panicked"), "{what}: {}", o.stderr);
    assert_same(&what, &outside, &manifest(&[canary.parent().unwrap()]));
    assert_eq!(host, host_mounts(), "{what}");
    assert!(journals(&s.state()).is_empty(), "{what}: journal left");
    if o.status != 0 {
        assert_same(
            &format!("{what}: rolled back"),
            &inside,
            &manifest(&[&root]),
        );
    }
    o
}

fn modes() -> &'static [bool] {
    if cfg!(debug_assertions) {
        &[false, true]
    } else {
        &[false]
    }
}

fn assert_failed_at(o: &Out, what: &str, words: &[&str]) {
    assert_eq!(o.status, 125, "{what}: must fail:\n{}", o.stderr);
    for w in words {
        assert!(o.stderr.contains(w), "{what}: no {w:?} in:\n{}", o.stderr);
    }
}

#[test]
fn resources_a_tmpfs_out_of_inodes_fails_the_step_with_enospc() {
    let Some(_serial) = privileged("resources_a_tmpfs_out_of_inodes_fails_the_step_with_enospc")
    else {
        return;
    };
    let mut steps = String::from(
        "[[step]]\nkind = \"mkdir\"\nid = \"on-disk\"\npath = \"/srv/kept-until-rollback\"\n\
         [[step]]\nkind = \"mount\"\nid = \"small\"\ntype = \"tmpfs\"\ntarget = \"/mnt\"\n\
         nr_inodes = 4\n",
    );
    for i in 0..6 {
        steps.push_str(&format!(
            "[[step]]\nkind = \"mknod\"\nid = \"fifo-{i}\"\npath = \"/mnt/f{i}\"\nnode = \"fifo\"\n"
        ));
    }
    for &w in modes() {
        let o = apply_steps("enospc", |_| {}, &steps, w);
        assert_failed_at(
            &o,
            "enospc",
            &[
                "`fifo-",
                "(mknod) failed",
                "res.toml:",
                "ENOSPC",
                "rolled back",
            ],
        );
    }
}

#[test]
fn resources_a_chain_of_41_symlinks_is_eloop_and_40_resolve() {
    let Some(_serial) = privileged("resources_a_chain_of_41_symlinks_is_eloop_and_40_resolve")
    else {
        return;
    };
    // <root>/l0 -> l1 -> ... -> l41, a directory: 41 links from l0, 40 from l1.
    let chain = |root: &Path| {
        for i in 0..41 {
            symlink(format!("/l{}", i + 1), root.join(format!("l{i}"))).unwrap();
        }
        std::fs::create_dir(root.join("l41")).unwrap();
    };
    for &w in modes() {
        let o = apply_steps(
            "eloop-41",
            chain,
            "[[step]]\nkind = \"mkdir\"\nid = \"first\"\npath = \"/srv/first\"\n\
             [[step]]\nkind = \"mkdir\"\nid = \"through-41\"\npath = \"/l0/x\"\n",
            w,
        );
        assert_failed_at(
            &o,
            "41 links",
            &[
                "`through-41`",
                "res.toml:",
                "ELOOP",
                "more than 40 symlinks",
            ],
        );
        let o = apply_steps(
            "eloop-40",
            chain,
            "[[step]]\nkind = \"mkdir\"\nid = \"through-40\"\npath = \"/l1/x\"\n\
             [[step]]\nkind = \"mknod\"\nid = \"fifo-40\"\npath = \"/l1/x/fifo\"\nnode = \"fifo\"\n",
            w,
        );
        assert_eq!(o.status, 0, "40 links: {}", o.stderr);
    }
}

#[test]
fn resources_long_paths_work_by_descriptor_or_are_refused_cleanly() {
    let Some(_serial) =
        privileged("resources_long_paths_work_by_descriptor_or_are_refused_cleanly")
    else {
        return;
    };
    // 4095 bytes (PATH_MAX - 1): components of 200 bytes, the last one shorter so the total
    // is exact. With the root's own prefix the host path is longer than PATH_MAX; resolution
    // by descriptor does not care.
    let comp = "d".repeat(199);
    let mut path = String::new();
    while path.len() + 200 <= 4095 {
        path.push('/');
        path.push_str(&comp);
    }
    let rest = 4095 - path.len() - 1;
    path.push('/');
    path.push_str(&"e".repeat(rest));
    assert_eq!(path.len(), 4095);
    for &w in modes() {
        let o = apply_steps(
            "path-4095",
            |_| {},
            &format!(
                "[[step]]\nkind = \"mkdir\"\nid = \"deep\"\npath = \"{path}\"\nparents = true\n\
                 [[step]]\nkind = \"mount\"\nid = \"deep-tmpfs\"\ntype = \"tmpfs\"\n\
                 target = \"{path}\"\n"
            ),
            w,
        );
        // Made, mounted and verified; or a clean error naming the step.
        if o.status != 0 {
            assert_failed_at(&o, "4095 bytes", &["res.toml:", "failed"]);
        }
        eprintln!("path of 4095 bytes (no_openat2={w}): status {}", o.status);
    }
    // 4096 bytes: refused by validation, before anything.
    let long = format!("{path}x");
    let o = apply_steps(
        "path-4096",
        |_| {},
        &format!("[[step]]\nkind = \"mkdir\"\nid = \"too-long\"\npath = \"{long}\"\n"),
        false,
    );
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(o.stderr.contains("res.toml:"), "{}", o.stderr);
    assert!(o.stderr.contains("nothing was applied"), "{}", o.stderr);
    // A component of 256 bytes (NAME_MAX is 255).
    let o = apply_steps(
        "name-256",
        |_| {},
        &format!(
            "[[step]]\nkind = \"mkdir\"\nid = \"first\"\npath = \"/srv/first\"\n\
             [[step]]\nkind = \"mkdir\"\nid = \"long-name\"\npath = \"/srv/{}\"\n",
            "n".repeat(256)
        ),
        false,
    );
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(o.stderr.contains("res.toml:"), "{}", o.stderr);
    assert!(
        o.stderr.contains("ENAMETOOLONG") || o.stderr.contains("nothing was applied"),
        "{}",
        o.stderr
    );
}

/// RLIMIT_NOFILE from 4 to 24 (set in the child before exec; at 3 the dynamic loader
/// itself cannot start the binary): each apply succeeds, or fails
/// cleanly (no panic, status 125 or 2, rolled back, no journal left) wherever the limit bites.
#[test]
fn resources_too_few_descriptors_fail_cleanly_at_every_limit() {
    let Some(_serial) = privileged("resources_too_few_descriptors_fail_cleanly_at_every_limit")
    else {
        return;
    };
    let s = Scratch::new("emfile");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("srv")).unwrap();
    let canary = s.write("canary/keep", "canary\n");
    let plan = s.write(
        "res.toml",
        &plan_text(
            "[[step]]\nkind = \"mkdir\"\nid = \"deep\"\npath = \"/srv/a/b/c/d/e/f\"\n\
             parents = true\n\
             [[step]]\nkind = \"mknod\"\nid = \"fifo\"\npath = \"/srv/a/b/c/d/e/f/fifo\"\n\
             node = \"fifo\"\n\
             [[step]]\nkind = \"mount\"\nid = \"tmp\"\ntype = \"tmpfs\"\ntarget = \"/tmp\"\n\
             [[step]]\nkind = \"mask\"\nid = \"mask\"\npath = \"/etc/hostname\"\n\
             [[step]]\nkind = \"readonly\"\nid = \"ro\"\npath = \"/etc\"\n\
             [[step]]\nkind = \"pivot\"\nid = \"pivot\"\nstrategy = \"pivot-root\"\n",
        ),
    );
    let host = host_mounts();
    let outside = manifest(&[canary.parent().unwrap()]);
    let mut inside = manifest(&[&root]);
    let mut seen = std::collections::BTreeMap::new();
    for &w in modes() {
        for limit in 4u64..=24 {
            let mut r = Run::apply(&plan, &s.state())
                .set("ROOTFS", &root)
                .cmd(&["/bin/true"]);
            if w {
                r = r.env("MOUNTPLAN_TEST_NO_OPENAT2", 1);
            }
            let mut c = r.command();
            unsafe {
                c.pre_exec(move || {
                    let l = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(30));
            let what = format!("RLIMIT_NOFILE={limit} (no_openat2={w})");
            assert!(!o.stderr.contains("panicked"), "{what}: {}", o.stderr);
            assert!(
                [0, 2, 125].contains(&o.status),
                "{what}: status {}: {}",
                o.status,
                o.stderr
            );
            if o.status == 125 && o.stderr.contains("failed") && o.stderr.contains("step ") {
                assert!(
                    o.stderr.contains("res.toml:"),
                    "{what}: no place: {}",
                    o.stderr
                );
            }
            if o.status != 0 {
                // A failure to write the journal is reported as EIO, the cause in `why`.
                assert!(
                    o.stderr.contains("EMFILE") || o.stderr.contains("Too many open files"),
                    "{what}: not said why: {}",
                    o.stderr
                );
                // A journal the apply could not finish is undone by `recover` (normal limits).
                let rec = Run {
                    args: vec![
                        "recover".into(),
                        "--state-dir".into(),
                        s.state().display().to_string(),
                    ],
                    ..Run::default()
                }
                .run();
                assert_eq!(rec.status, 0, "{what}: recover: {}", rec.stderr);
                assert_same(&what, &inside, &manifest(&[&root]));
            } else {
                // Succeeded: undo its changes for the next limit.
                std::fs::remove_dir_all(root.join("srv")).unwrap();
                std::fs::create_dir(root.join("srv")).unwrap();
                let no_ino = |m: Vec<String>| {
                    m.into_iter()
                        .map(|l| l.split(" ino=").next().unwrap().to_string())
                        .collect::<Vec<_>>()
                };
                assert_same(&what, &no_ino(inside.clone()), &no_ino(manifest(&[&root])));
                inside = manifest(&[&root]);
            }
            assert!(journals(&s.state()).is_empty(), "{what}: journal left");
            assert_same(&what, &outside, &manifest(&[canary.parent().unwrap()]));
            assert_eq!(host, host_mounts(), "{what}");
            let first = o
                .stderr
                .lines()
                .find(|l| l.contains("EMFILE") || l.contains("error"))
                .unwrap_or("")
                .to_string();
            seen.insert((w, limit), (o.status, first));
        }
    }
    for ((w, l), (st, first)) in &seen {
        eprintln!("no_openat2={w} RLIMIT_NOFILE={l}: {st} {first}");
    }
    assert!(
        seen.values().any(|(st, _)| *st == 0),
        "no limit was high enough"
    );
    assert!(
        seen.values().any(|(st, _)| *st != 0),
        "no limit was low enough"
    );
}

/// The state directory full (a small tmpfs, filled): the journal cannot be written, so no
/// change is made; the step fails cleanly, nothing changed on disk, no journal left.
#[test]
fn resources_a_full_state_directory_changes_nothing() {
    let Some(_serial) = privileged("resources_a_full_state_directory_changes_nothing") else {
        return;
    };
    let s = Scratch::new("state-full");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("srv")).unwrap();
    let state = s.path("state");
    std::fs::create_dir(&state).unwrap();
    let st = state.display().to_string();
    let sh = |c: &str| {
        let ok = std::process::Command::new("sh")
            .args(["-c", c])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{c}");
    };
    sh(&format!(
        "mount -t tmpfs -o size=64k,mode=0700 mp-state-full {st}"
    ));
    /// Unmounts the state tmpfs however the test ends.
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .args(["-l", &self.0])
                .status();
        }
    }
    let _unmount = Unmount(st.clone());
    // The directories apply needs, then a file filling every block.
    std::fs::create_dir(state.join("journal")).unwrap();
    std::fs::create_dir(state.join("tmproot")).unwrap();
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", &format!("of={st}/fill"), "bs=4k"])
        .stderr(std::process::Stdio::null())
        .status();
    let plan = s.write(
        "res.toml",
        &plan_text(
            "[[step]]\nkind = \"mkdir\"\nid = \"deep\"\npath = \"/srv/a/b\"\nparents = true\n\
             [[step]]\nkind = \"chmod\"\nid = \"mode\"\npath = \"/etc\"\nmode = \"0700\"\n",
        ),
    );
    let host = host_mounts();
    let inside = manifest(&[&root]);
    let o = Run::apply(&plan, &state).set("ROOTFS", &root).run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    for w in ["`deep`", "res.toml:", "No space left on device"] {
        assert!(o.stderr.contains(w), "no {w:?} in:\n{}", o.stderr);
    }
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert_same("state full", &inside, &manifest(&[&root]));
    assert!(journals(&state).is_empty(), "{:?}", journals(&state));
    assert_eq!(host, host_mounts());
}
