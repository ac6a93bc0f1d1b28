//! What `check` says apply will fail at, against what apply does in the kernel: each plan
//! here gets a warning from `check` (a likely failure, a pivot that falls back, a device node
//! that cannot be opened), so apply still runs it, and the test holds the warning's claim
//! (the call, the errno) to what apply reports. The certain failures (errors) are the same
//! calls on a filesystem where the path cannot be there; apply refuses those plans.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// `mountplan check PLAN --set ROOTFS=root`: (exit status, stderr).
fn check(plan: &Path, root: &Path) -> (i32, String) {
    let o = Command::new(BIN)
        .arg("check")
        .arg(plan)
        .arg("--set")
        .arg(format!("ROOTFS={}", root.display()))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const HEAD: &str = "version = 1\n[root]\npath = \"${ROOTFS}\"\n[namespaces]\nuser = false\n";

/// The status and error of step `n` in apply's JSON report.
fn step(stderr: &str, n: usize) -> (String, String) {
    let line = stderr.lines().find(|l| l.starts_with('{')).unwrap_or("{}");
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    let s = &v["steps"][n];
    (
        s["status"].as_str().unwrap_or("").to_string(),
        s["error"].as_str().unwrap_or("").to_string(),
    )
}

/// A pivot whose switch check says the kernel refuses (a shared root: pivot_root EINVAL) falls
/// back, as check says, for the reason it says. A put_old directory that cannot be made (a
/// read-only root: EROFS) fails the step even with a fallback: check says so, as an error.
#[test]
fn a_pivot_check_says_falls_back_falls_back_for_that_reason() {
    let Some(_serial) = privileged("a_pivot_check_says_falls_back_falls_back_for_that_reason")
    else {
        return;
    };
    {
        let (name, first, strategy, errno) = (
            "shared",
            "kind = \"propagation\"\ntarget = \"/\"\npropagation = \"shared\"\n",
            "pivot-root",
            "EINVAL",
        );
        let s = Scratch::new(&format!("truth-pivot-{name}"));
        let root = s.path("root");
        busybox_root(&root);
        let plan = s.write(
            "p.toml",
            &format!(
                "{HEAD}[[step]]\n{first}[[step]]\nkind = \"pivot\"\nstrategy = \"{strategy}\"\n\
                 fallback = \"chroot\"\n"
            ),
        );
        let (status, said) = check(&plan, &root);
        assert_eq!(status, 0, "{said}");
        assert!(
            said.contains("mountplan::graph::fallback"),
            "{name}: {said}"
        );
        assert!(said.contains(errno), "{name}: {said}");
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .arg("--format")
            .arg("json")
            .cmd(&["/bin/true"])
            .run();
        assert_eq!(o.status, 0, "{name}: {}", o.stderr);
        let (st, err) = step(&o.stderr, 1);
        eprintln!("{name}: check said the fallback is used ({errno}); apply: {st}: {err}");
        assert_eq!(st, "fallback", "{name}: {}", o.stderr);
        assert!(err.contains(errno), "{name}: {err}");
    }
    let s = Scratch::new("truth-pivot-ro");
    let root = s.path("root");
    busybox_root(&root);
    let plan = s.write(
        "p.toml",
        &format!(
            "{HEAD}[[step]]\nkind = \"remount\"\ntarget = \"/\"\noptions = [\"ro\"]\n\
             [[step]]\nkind = \"pivot\"\nstrategy = \"put-old\"\nfallback = \"chroot\"\n"
        ),
    );
    let (status, said) = check(&plan, &root);
    assert_eq!(status, 1, "{said}");
    assert!(
        said.contains("mountplan::graph::read-only") && said.contains("EROFS"),
        "{said}"
    );
    let flat = said
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("its fallback is not taken"), "{said}");
}

/// A device node on a `nodev` tmpfs: check warns it cannot be opened; apply makes it, and
/// the command's open fails (EACCES). Without `nodev`, no warning, and the open works.
#[test]
fn a_device_node_check_says_cannot_be_opened_cannot() {
    let Some(_serial) = privileged("a_device_node_check_says_cannot_be_opened_cannot") else {
        return;
    };
    for nodev in [true, false] {
        let s = Scratch::new("truth-nodev");
        let root = s.path("root");
        busybox_root(&root);
        let options = if nodev {
            "\"nosuid\", \"nodev\""
        } else {
            "\"nosuid\""
        };
        let plan = s.write(
            "n.toml",
            &format!(
                "{HEAD}[[step]]\nkind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/dev\"\n\
                 options = [{options}]\n\
                 [[step]]\nkind = \"mknod\"\npath = \"/dev/null\"\nnode = \"char\"\nmajor = 1\n\
                 minor = 3\n[[step]]\nkind = \"pivot\"\n"
            ),
        );
        let (status, said) = check(&plan, &root);
        assert_eq!(status, 0, "{said}");
        assert_eq!(said.contains("mountplan::graph::nodev"), nodev, "{said}");
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .cmd(&[
                "/bin/sh",
                "-c",
                "test -c /dev/null && cat /dev/null && echo opened",
            ])
            .run();
        eprintln!(
            "nodev={nodev}: apply exit {}, stdout {:?}, stderr tail {:?}",
            o.status,
            o.stdout.trim(),
            o.stderr.lines().last()
        );
        if nodev {
            assert_ne!(o.status, 0, "{}", o.stdout);
            assert!(o.stderr.contains("Permission denied"), "{}", o.stderr);
        } else {
            assert_eq!(o.status, 0, "{}", o.stderr);
            assert_eq!(o.stdout.trim(), "opened");
        }
    }
}

/// A directory made after `remount / ro` of a root directory: check warns it fails unless it
/// is there; apply fails with EROFS when it is not, and succeeds when it is (`/tmp` of the
/// busybox root).
#[test]
fn a_mkdir_check_says_likely_fails_on_a_read_only_root_fails_when_missing() {
    let Some(_serial) =
        privileged("a_mkdir_check_says_likely_fails_on_a_read_only_root_fails_when_missing")
    else {
        return;
    };
    for (dir, there) in [("/new", false), ("/tmp", true)] {
        let s = Scratch::new("truth-erofs");
        let root = s.path("root");
        busybox_root(&root);
        let plan = s.write(
            "r.toml",
            &format!(
                "{HEAD}[[step]]\nkind = \"remount\"\ntarget = \"/\"\noptions = [\"ro\"]\n\
                 [[step]]\nkind = \"mkdir\"\npath = \"{dir}\"\n[[step]]\nkind = \"pivot\"\n"
            ),
        );
        let (status, said) = check(&plan, &root);
        assert_eq!(status, 0, "{said}");
        assert!(
            said.contains("mountplan::graph::read-only-likely"),
            "{said}"
        );
        assert!(said.contains("EROFS"), "{said}");
        let before = manifest(&[&root]);
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .arg("--format")
            .arg("json")
            .cmd(&["/bin/true"])
            .run();
        let (st, err) = step(&o.stderr, 1);
        eprintln!("{dir}: apply exit {}: mkdir {st}: {err}", o.status);
        if there {
            assert_eq!(o.status, 0, "{}", o.stderr);
        } else {
            assert_eq!(o.status, 125, "{}", o.stderr);
            assert_eq!(st, "failed", "{}", o.stderr);
            assert!(err.contains("EROFS"), "{err}");
        }
        assert_same("erofs", &before, &manifest(&[&root]));
    }
}

/// An overlay on `/` of a tmpfs root (issue 14, item 2): a tmpfs on `/var/tmp`, which only the
/// lower layer has, is made through the overlay; the pivot switches into the overlay, so the
/// command (in the lower layer) runs, the predicted tree has the overlay as its root with the
/// two mounts on it, and verify agrees, parent by parent. Before, the tmpfs root stayed in the
/// prediction below the overlay and verify rolled the apply back.
#[test]
fn an_overlay_on_the_root_is_the_root_after_the_pivot_and_steps_go_through_it() {
    let Some(_serial) =
        privileged("an_overlay_on_the_root_is_the_root_after_the_pivot_and_steps_go_through_it")
    else {
        return;
    };
    let s = Scratch::new("truth-overlay-root");
    let lower = s.path("lower");
    busybox_root(&lower);
    std::fs::create_dir_all(lower.join("var/tmp")).unwrap();
    let base = s.path("base");
    std::fs::create_dir_all(&base).unwrap();
    let plan = s.write(
        "p.toml",
        "version = 1\nname = \"ovl-root\"\n[root]\ntmpfs = {}\n[namespaces]\nuser = false\n\
         [[step]]\nkind = \"mount\"\ntype = \"overlay\"\ntarget = \"/\"\n\
         lower = [\"${LOWER}\", \"${BASE}\"]\n\
         [[step]]\nkind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/var/tmp\"\n\
         [[step]]\nkind = \"mount\"\ntype = \"proc\"\ntarget = \"/proc\"\n\
         [[step]]\nkind = \"pivot\"\n",
    );
    let set = |c: &mut Command| {
        c.args(["--set", &format!("LOWER={}", lower.display())])
            .args(["--set", &format!("BASE={}", base.display())]);
    };
    let mut dry = Command::new(BIN);
    dry.args(["plan", "--format", "json"]).arg(&plan);
    set(&mut dry);
    let dry = dry.output().unwrap();
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let tree: Vec<(String, String)> = json["final"]["mounts"]
        .as_array()
        .expect("the predicted mounts")
        .iter()
        .map(|m| {
            (
                m["mountpoint"].as_str().unwrap_or("").to_string(),
                m["fstype"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want = [("/", "overlay"), ("/var/tmp", "tmpfs"), ("/proc", "proc")];
    assert_eq!(
        tree,
        want.map(|(a, b)| (a.to_string(), b.to_string())),
        "the predicted tree"
    );
    let o = Run::apply(&plan, &s.state())
        .set("LOWER", &lower)
        .set("BASE", &base)
        .arg("-v")
        .cmd(&["/bin/cat", "/proc/self/mountinfo"])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("verify: 3 predicted mounts match"),
        "{}",
        o.stderr
    );
    let seen: Vec<(String, String)> = parse_mountinfo(&o.stdout)
        .into_iter()
        .map(|(mp, t, _)| (mp, t))
        .collect();
    assert_eq!(seen, want.map(|(a, b)| (a.to_string(), b.to_string())));
}
