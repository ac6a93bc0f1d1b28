//! The process side: exit statuses passed through, the JSON report, no leaked descriptors,
//! --persist and release, rootless applies, and plans that must not start anything.

use std::path::{Path, PathBuf};

use crate::support::*;

/// A small sandbox: bound busybox root, proc, a tmpfs /dev with null, pivot_root.
const SMALL: &str = r#"
version = 1
name = "small"

[root]
path = "${ROOTFS}"

[namespaces]
user = false
pid = PID

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"
options = ["nosuid", "nodev", "noexec"]

[[step]]
kind = "mount"
id = "dev"
type = "tmpfs"
target = "/dev"
options = ["nosuid"]
mode = "0755"

[[step]]
kind = "mknod"
id = "null"
path = "/dev/null"
node = "char"
major = 1
minor = 3
mode = "0666"

[[step]]
kind = "pivot"
id = "pivot"
strategy = "pivot-root"
"#;

struct Small {
    s: Scratch,
    plan: PathBuf,
    root: PathBuf,
}

fn small(name: &str, pid: bool) -> Small {
    let s = Scratch::new(name);
    let root = s.path("root");
    busybox_root(&root);
    let plan = s.write("small.toml", &SMALL.replace("PID", &pid.to_string()));
    Small { s, plan, root }
}

impl Small {
    fn apply(&self) -> Run<'static> {
        Run::apply(&self.plan, &self.s.state()).set("ROOTFS", &self.root)
    }
}

#[test]
fn the_command_s_exit_status_passes_through() {
    let Some(_serial) = privileged("the_command_s_exit_status_passes_through") else {
        return;
    };
    for pid in [false, true] {
        let sb = small("status", pid);
        let host = host_mounts();
        let o = sb.apply().cmd(&["/bin/sh", "-c", "exit 7"]).run();
        assert_eq!(o.status, 7, "pid={pid}: {}", o.stderr);
        let o = sb.apply().cmd(&["/bin/sh", "-c", "kill -TERM $$"]).run();
        assert_eq!(o.status, 128 + 15, "pid={pid}: {}", o.stderr);
        let o = sb.apply().cmd(&["/bin/no-such-program"]).run();
        assert_eq!(o.status, 127, "pid={pid}: {}", o.stderr);
        assert!(
            o.stderr
                .contains("cannot run `/bin/no-such-program`: it is not in the new root"),
            "{}",
            o.stderr
        );
        let o = sb.apply().cmd(&["/etc/hostname"]).run();
        assert_eq!(o.status, 126, "pid={pid}: {}", o.stderr);
        let o = sb.apply().cmd(&["/bin/sh", "-c", "echo pid=$$"]).run();
        assert_eq!(o.status, 0);
        // In a pid namespace the command is pid 2 (mountplan's init is 1); outside it is not.
        let got = o.stdout.trim().strip_prefix("pid=");
        assert_eq!(got == Some("2"), pid, "pid={pid}: {}", o.stdout);
        assert!(
            got.is_some_and(|n| n.parse::<u32>().is_ok()),
            "{}",
            o.stdout
        );
        // Without a command: verify, exit 0, silently; -v prints the table.
        let o = sb.apply().run();
        assert_eq!(o.status, 0, "{}", o.stderr);
        assert_eq!(o.stderr, "", "a successful apply prints nothing");
        let o = sb.apply().arg("-v").run();
        assert_eq!(o.status, 0, "{}", o.stderr);
        assert!(o.stderr.contains("predicted mounts match"), "{}", o.stderr);
        assert_eq!(host, host_mounts());
    }
}

#[test]
fn the_command_sees_only_stdio_and_runs_in_its_own_session() {
    let Some(_serial) = privileged("the_command_sees_only_stdio_and_runs_in_its_own_session")
    else {
        return;
    };
    let sb = small("fds", true);
    let mut c = sb
        .apply()
        .cmd(&[
            "/bin/sh",
            "-c",
            "ls /proc/self/fd | tr '\\n' ' '; echo; \
             echo sid=$(cut -d' ' -f6 /proc/self/stat) pid=$$",
        ])
        .command();
    // Leave descriptors 5 and 9 open in mountplan, as a careless caller might.
    let extra = std::fs::File::open("/etc/hostname").unwrap();
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let raw = extra.as_raw_fd();
    unsafe {
        c.pre_exec(move || {
            if libc::dup2(raw, 5) < 0 || libc::dup2(raw, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(30));
    assert_eq!(o.status, 0, "{}", o.stderr);
    let fds: Vec<&str> = o
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // ls opens one descriptor of its own for the directory.
    assert!(
        fds.len() <= 4 && ["0", "1", "2"].iter().all(|f| fds.contains(f)),
        "descriptors leaked into the command, or stdio missing: {fds:?}"
    );
    assert!(!fds.contains(&"5") && !fds.contains(&"9"), "{fds:?}");
    // A new session: the session id is the command's own pid (setsid).
    let kv = kv(o.stdout.lines().nth(1).unwrap().replace(' ', "\n").as_str());
    assert_eq!(kv.get("sid"), kv.get("pid"), "{}", o.stdout);
}

/// The command's signals, with and without a pid namespace (there pid 1 starts it with
/// clone(CLONE_VM|CLONE_VFORK)): none blocked or caught; the four mountplan handles itself
/// (SIGTERM, SIGINT, SIGHUP forwarded, SIGPIPE ignored by Rust's runtime) back to default; and
/// what the caller ignored still ignored: SIGUSR1, which exec passes on, and SIGHUP, as under
/// `nohup`, which mountplan forwards and so must set to ignored again itself.
#[test]
fn the_command_gets_default_signals_and_what_the_caller_ignored() {
    let Some(_serial) = privileged("the_command_gets_default_signals_and_what_the_caller_ignored")
    else {
        return;
    };
    let bit = |sig: i32| 1u64 << (sig - 1);
    for (pid, nohup) in [(true, false), (false, false), (true, true), (false, true)] {
        let sb = small(&format!("signals-{pid}-{nohup}"), pid);
        let mut c = sb.apply().cmd(&["/bin/cat", "/proc/self/status"]).command();
        use std::os::unix::process::CommandExt;
        // SAFETY: signal(2) is async-signal-safe.
        unsafe {
            c.pre_exec(move || {
                libc::signal(libc::SIGUSR1, libc::SIG_IGN);
                // The caller's dispositions are set here, not inherited from the harness: a
                // CI run started with nohup, or in the background of a non-interactive shell
                // (SIGINT ignored), would otherwise pass them on, as mountplan should.
                let hup = if nohup { libc::SIG_IGN } else { libc::SIG_DFL };
                libc::signal(libc::SIGHUP, hup);
                for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGPIPE] {
                    libc::signal(sig, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(30));
        assert_eq!(o.status, 0, "pid={pid}: {}", o.stderr);
        let mask = |field: &str| {
            let line = o
                .stdout
                .lines()
                .find(|l| l.starts_with(&format!("{field}:")))
                .unwrap_or_else(|| panic!("pid={pid}: no {field} in:\n{}", o.stdout));
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap_or(""), 16).unwrap()
        };
        assert_eq!(mask("SigBlk"), 0, "pid={pid}: blocked signals");
        assert_eq!(mask("SigCgt"), 0, "pid={pid}: caught signals");
        let ign = mask("SigIgn");
        assert_ne!(
            ign & bit(libc::SIGUSR1),
            0,
            "pid={pid}: SIGUSR1 not passed on"
        );
        assert_eq!(
            ign & bit(libc::SIGHUP) != 0,
            nohup,
            "pid={pid} nohup={nohup}: SIGHUP"
        );
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGPIPE] {
            assert_eq!(ign & bit(sig), 0, "pid={pid}: signal {sig} left ignored");
        }
    }
}

#[test]
fn the_json_report_has_every_step_and_the_exit_status() {
    let Some(_serial) = privileged("the_json_report_has_every_step_and_the_exit_status") else {
        return;
    };
    let sb = small("json", true);
    let o = sb
        .apply()
        .arg("--format")
        .arg("json")
        .cmd(&["/bin/sh", "-c", "exit 3"])
        .run();
    assert_eq!(o.status, 3);
    let line = o
        .stderr
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in {}", o.stderr));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["plan"], "small");
    assert_eq!(v["exit_status"], 3);
    let steps = v["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["proc", "dev", "null", "pivot"]);
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "ok" && s["micros"].is_u64())
    );
    assert_eq!(v["verify"]["ok"], true);
    assert!(v["error"].is_null());
}

#[test]
fn a_failed_step_names_its_place_the_call_and_the_errno_in_words() {
    let Some(_serial) = privileged("a_failed_step_names_its_place_the_call_and_the_errno_in_words")
    else {
        return;
    };
    let s = Scratch::new("fail-msg");
    let root = s.path("root");
    busybox_root(&root);
    // A bind of a missing host path fails at mount time.
    let plan = s.write(
        "p.toml",
        "version = 1\nname = \"f\"\n[root]\npath = \"${ROOTFS}\"\n[namespaces]\nuser = false\n\
         [[step]]\nkind = \"mkdir\"\npath = \"/made\"\n\
         [[step]]\nkind = \"mount\"\nid = \"gone\"\ntype = \"bind\"\nsource = \"/no/such/dir\"\n\
         target = \"/mnt\"\n",
    );
    let before = manifest(&[&root]);
    let o = Run::apply(&plan, &s.state()).set("ROOTFS", &root).run();
    assert_eq!(o.status, 125);
    for w in [
        "step 2 `gone` (mount) failed",
        // The missing host path, not the target: that is what to fix.
        "p.toml:14:10",
        "source = \"/no/such/dir\"",
        "this host path",
        "ENOENT (No such file or directory)",
        "the bind's source `/no/such/dir` does not exist on the host",
        "open_tree(\"/no/such/dir\", OPEN_TREE_CLONE) = M1",
        "rolled back",
        "rmdir(\"<root>/made\")",
    ] {
        assert!(o.stderr.contains(w), "no {w:?} in:\n{}", o.stderr);
    }
    assert_same("failed step", &before, &manifest(&[&root]));
}

#[test]
fn an_invalid_plan_starts_nothing() {
    let Some(_serial) = privileged("an_invalid_plan_starts_nothing") else {
        return;
    };
    let s = Scratch::new("invalid");
    let plan = s.write(
        "bad.toml",
        "version = 1\n[root]\ntmpfs = {}\n[[step]]\nkind = \"mount\"\ntype = \"tmpfs\"\n\
         target = \"relative\"\n",
    );
    let o = Run::apply(&plan, &s.state())
        .cmd(&["/bin/sh", "-c", "echo ran"])
        .run();
    assert_eq!(o.status, 125);
    assert!(!o.stdout.contains("ran"));
    assert!(o.stderr.contains("nothing was applied"), "{}", o.stderr);
    assert!(
        !s.state().exists(),
        "an invalid plan must not even make the state dir"
    );
}

#[test]
fn persist_pins_the_namespace_and_release_undoes_it() {
    let Some(_serial) = privileged("persist_pins_the_namespace_and_release_undoes_it") else {
        return;
    };
    let sb = small("persist", false);
    // The pin must live on a private mount (it cannot propagate into itself).
    let pins = sb.s.path("pins");
    std::fs::create_dir(&pins).unwrap();
    let sh = |c: &str| {
        let st = std::process::Command::new("sh")
            .args(["-c", c])
            .status()
            .unwrap();
        assert!(st.success(), "{c}");
    };
    let p = pins.display().to_string();
    sh(&format!("mount --bind {p} {p} && mount --make-private {p}"));
    /// Unmounts the private mount (and a pin left by a failed assertion) however the test ends.
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .args(["-l", &format!("{}/ns", self.0)])
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::process::Command::new("umount")
                .args(["-l", &self.0])
                .status();
        }
    }
    let _unmount = Unmount(p.clone());
    let host = host_mounts();
    let file = pins.join("ns");
    let o = sb
        .apply()
        .arg("--persist")
        .arg(&file.display().to_string())
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    let inside = std::process::Command::new("nsenter")
        .arg(format!("--mount={}", file.display()))
        .args(["/bin/ls", "-l", "/dev"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inside.stdout);
    assert!(text.contains("null") && text.contains("1,   3"), "{text}");
    let o = Run {
        args: vec!["release".into(), file.display().to_string()],
        ..Run::default()
    }
    .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(!file.exists());
    // Releasing what is not a pinned namespace is refused.
    std::fs::write(&file, "").unwrap();
    let o = Run {
        args: vec!["release".into(), file.display().to_string()],
        ..Run::default()
    }
    .run();
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("not a pinned namespace"), "{}", o.stderr);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(host, host_mounts());
}

/// A rootless sandbox: tmpfs root, busybox bound in, proc of its own pid namespace.
const ROOTLESS: &str = r#"
version = 1
name = "rootless"

[root]
tmpfs = { mode = "0755" }

[namespaces]
user = "auto"
pid = true

[[step]]
kind = "mkdir"
path = "/bin"

[[step]]
kind = "mount"
id = "busybox"
type = "bind"
source = "${BUSYBOX}"
target = "/bin/busybox"
create = "file"
options = ["ro", "nosuid"]

[[step]]
kind = "symlink"
path = "/bin/sh"
to = "busybox"

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"
options = ["nosuid", "nodev", "noexec"]

[[step]]
kind = "mount"
id = "tmp"
type = "tmpfs"
target = "/tmp"

[[step]]
kind = "pivot"
strategy = "pivot-root"
"#;

fn nobody_dir(p: &Path) {
    std::fs::create_dir_all(p).unwrap();
    nix::unistd::chown(
        p,
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
}

#[test]
fn a_rootless_apply_works_and_device_nodes_are_refused_early() {
    let Some(_serial) = privileged("a_rootless_apply_works_and_device_nodes_are_refused_early")
    else {
        return;
    };
    if !rootless_possible("a_rootless_apply_works_and_device_nodes_are_refused_early") {
        return;
    }
    let s = Scratch::new("rootless");
    let bb = s.path("busybox");
    std::fs::copy(busybox(), &bb).unwrap();
    let plan = s.write("rootless.toml", ROOTLESS);
    let state = s.path("state");
    nobody_dir(&state);
    let host = host_mounts();
    let mut r = Run::apply(&plan, &state).set("BUSYBOX", &bb).cmd(&[
        "/bin/busybox",
        "sh",
        "-c",
        "echo uid=$(/bin/busybox id -u); echo pid=$$; /bin/busybox cat /proc/self/mountinfo",
    ]);
    r.nobody = true;
    let o = r.run();
    assert_eq!(o.status, 0, "rootless apply failed:\n{}", o.stderr);
    let kv = kv(&o.stdout);
    assert_eq!(kv.get("uid").map(String::as_str), Some("0"), "{}", o.stdout);
    assert_eq!(kv.get("pid").map(String::as_str), Some("2"), "{}", o.stdout);
    assert!(o.stdout.contains(" /proc "), "{}", o.stdout);
    assert_eq!(host, host_mounts());

    // A char device cannot be made in a user namespace: refused before anything starts,
    // with the fix.
    let bad = s.write(
        "dev.toml",
        &ROOTLESS.replace(
            "[[step]]\nkind = \"pivot\"",
            "[[step]]\nkind = \"mknod\"\npath = \"/null\"\nnode = \"char\"\nmajor = 1\n\
             minor = 3\n\n[[step]]\nkind = \"pivot\"",
        ),
    );
    let mut r = Run::apply(&bad, &state).set("BUSYBOX", &bb);
    r.nobody = true;
    let o = r.run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    for w in ["cannot work rootless", "bind the host's node", "dev.toml:"] {
        assert!(o.stderr.contains(w), "no {w:?} in:\n{}", o.stderr);
    }
}

#[test]
fn a_pivot_that_fails_undoes_its_own_changes_and_falls_back() {
    let Some(_serial) = privileged("a_pivot_that_fails_undoes_its_own_changes_and_falls_back")
    else {
        return;
    };
    let s = Scratch::new("fallback");
    let root = s.path("root");
    busybox_root(&root);
    // pivot_root refuses a new root with shared propagation (EINVAL): the put-old strategy's
    // directory is removed again and chroot is used instead.
    let plan = s.write(
        "f.toml",
        "version = 1\nname = \"f\"\n[root]\npath = \"${ROOTFS}\"\n[namespaces]\nuser = false\n\
         pid = true\n\
         [[step]]\nkind = \"propagation\"\ntarget = \"/\"\npropagation = \"shared\"\n\
         [[step]]\nkind = \"pivot\"\nid = \"enter\"\nstrategy = \"put-old\"\n\
         fallback = \"chroot\"\n",
    );
    let before = manifest(&[&root]);
    let host = host_mounts();
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .arg("--format")
        .arg("json")
        .cmd(&[
            "/bin/sh",
            "-c",
            "ls /; set -- /.pivot_root*; test -e \"$1\" && echo put_old-left; test -e \"$1\"",
        ])
        .run();
    assert_eq!(
        o.status, 1,
        "the last test fails when put_old is gone: {}",
        o.stderr
    );
    assert!(
        o.stdout.contains("busybox") || o.stdout.contains("bin"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("put_old-left"), "{}", o.stdout);
    let line = o.stderr.lines().find(|l| l.starts_with('{')).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let enter = &v["steps"][1];
    assert_eq!(enter["status"], "fallback", "{v}");
    assert!(
        enter["error"]
            .as_str()
            .unwrap()
            .contains("pivot_root(\".\", <the put_old directory made above>) => EINVAL"),
        "{v}"
    );
    assert_same("fallback", &before, &manifest(&[&root]));
    assert_eq!(host, host_mounts());
}
