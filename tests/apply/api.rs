//! `api = "new"` and `api = "classic"` on a real kernel: the same plan gives the same mount
//! tree from inside either way; a classic apply that fails is rolled back to the host as it
//! was; under strace a classic apply makes mount(2) on `self/fd/N` names and no call of the
//! new API; `auto` on a kernel without the new API (the debug hook) takes the classic calls
//! and says so, `new` refuses to start; a symlink swapped in for a classic mount's target at
//! any call cannot move the mount out of the root (the deterministic pauses of races.rs).

use crate::races::exchange_once;
use crate::support::*;

/// Binds (one read-only), a remount, a tmpfs with a submount, propagation, a mask, proc,
/// a pivot.
const PLAN: &str = r#"
version = 1
name = "api"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
type = "tmpfs"
target = "/tmp"
options = ["nosuid", "nodev"]
mode = "1777"

[[step]]
kind = "mount"
type = "tmpfs"
target = "/tmp/sub"
create = "dir"
options = ["noexec", "noatime"]

[[step]]
kind = "mount"
type = "bind"
source = "${SRC}"
target = "/mnt"
options = ["ro", "nosuid"]

[[step]]
kind = "remount"
target = "/mnt"
options = ["ro", "nodev"]

[[step]]
kind = "propagation"
target = "/tmp"
propagation = "shared"

[[step]]
kind = "mount"
type = "proc"
target = "/proc"
options = ["nosuid", "nodev", "noexec"]

[[step]]
kind = "mask"
path = "/proc/kcore"

[[step]]
kind = "mask"
path = "/etc/secret"

[[step]]
kind = "pivot"
"#;

struct Setup {
    s: Scratch,
    root: std::path::PathBuf,
    src: std::path::PathBuf,
    plan: std::path::PathBuf,
}

fn setup(name: &str, plan: &str) -> Setup {
    let s = Scratch::new(name);
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir_all(root.join("etc/secret")).unwrap();
    let src = s.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "src\n").unwrap();
    let plan = s.write("api.toml", plan);
    Setup { s, root, src, plan }
}

fn run_with(st: &Setup, api: &str) -> Run<'static> {
    Run::apply(&st.plan, &st.s.state())
        .set("ROOTFS", &st.root)
        .set("SRC", &st.src)
        .arg("--api")
        .arg(api)
        .arg("-v")
}

/// The mount table from inside, each mount as mountpoint, fstype, per-mount options,
/// propagation (peer and master numbers left out) and superblock options, in order.
fn tree(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            let prop: Vec<&str> = f[6..dash]
                .iter()
                .map(|o| o.split(':').next().unwrap_or(o))
                .collect();
            Some(format!(
                "{} {} {} [{}] {}",
                f[4],
                f.get(dash + 1)?,
                f[5],
                prop.join(","),
                f.get(dash + 3)?
            ))
        })
        .collect()
}

#[test]
fn api_new_and_classic_give_the_same_tree_from_inside() {
    let Some(_g) = privileged("api_new_and_classic_give_the_same_tree_from_inside") else {
        return;
    };
    let mut trees = Vec::new();
    for api in ["new", "classic"] {
        let st = setup(&format!("same-{api}"), PLAN);
        let before = manifest(&[&st.root, &st.src]);
        let host = host_mounts();
        let o = run_with(&st, api)
            .cmd(&["cat", "/proc/self/mountinfo"])
            .run();
        assert_eq!(o.status, 0, "{api}: {}", o.stderr);
        assert!(
            o.stderr
                .contains(&format!("api: {api} (the plan's api = \"{api}\")")),
            "{api}: {}",
            o.stderr
        );
        let t = tree(&o.stdout);
        assert!(
            t.iter()
                .any(|m| m.starts_with("/mnt ext") || m.starts_with("/mnt ")),
            "{t:#?}"
        );
        assert!(
            t.iter()
                .any(|m| m.starts_with("/tmp tmpfs rw,nosuid,nodev") && m.contains("[shared]")),
            "{api}: {t:#?}"
        );
        assert!(
            t.iter()
                .any(|m| m.starts_with("/mnt ") && m.contains(" ro,nodev,")),
            "{api}: {t:#?}"
        );
        assert!(
            t.iter().any(|m| m.starts_with("/etc/secret tmpfs ro,")),
            "{api}: {t:#?}"
        );
        assert_same(
            &format!("{api}: the host"),
            &before,
            &manifest(&[&st.root, &st.src]),
        );
        assert_eq!(host, host_mounts(), "{api}");
        trees.push(t);
    }
    assert_eq!(trees[0], trees[1], "new and classic differ");
}

#[test]
fn api_classic_rollback_after_a_failing_step_leaves_the_host_as_before() {
    let Some(_g) =
        privileged("api_classic_rollback_after_a_failing_step_leaves_the_host_as_before")
    else {
        return;
    };
    if !debug_hooks("api_classic_rollback_after_a_failing_step_leaves_the_host_as_before") {
        return;
    }
    // Every call of the plan made to fail in turn (the last ones: the mask, the pivot).
    let mut failed = 0;
    for n in 2..40 {
        let st = setup(&format!("rollback-{n}"), PLAN);
        std::fs::remove_dir_all(st.root.join("tmp")).unwrap();
        let before = manifest(&[&st.root, &st.src]);
        let host = host_mounts();
        let o = run_with(&st, "classic")
            .env("MOUNTPLAN_TEST_FAIL_AT_CALL", n)
            .cmd(&["true"])
            .run();
        if o.status == 0 {
            // Past the last call.
            break;
        }
        failed += 1;
        assert_eq!(o.status, 125, "call {n}: {}", o.stderr);
        assert!(journals(&st.s.state()).is_empty(), "call {n}: {}", o.stderr);
        assert_same(
            &format!("call {n}: the host after the rollback"),
            &before,
            &manifest(&[&st.root, &st.src]),
        );
        assert_eq!(host, host_mounts(), "call {n}");
    }
    assert!(failed >= 10, "only {failed} calls were made to fail");
}

#[test]
fn api_classic_under_strace_is_mount_on_descriptors_and_no_new_api() {
    let Some(_g) = privileged("api_classic_under_strace_is_mount_on_descriptors_and_no_new_api")
    else {
        return;
    };
    let st = setup("strace", PLAN);
    let trace = st.s.path("trace");
    let o = finish(
        run_with(&st, "classic")
            .cmd(&["true"])
            .traced(
                &trace,
                &["-e", "trace=mount,umount2,fsopen,fsconfig,fsmount,move_mount,open_tree,mount_setattr"],
            )
            .spawn()
            .unwrap(),
        std::time::Duration::from_secs(60),
    );
    assert_eq!(o.status, 0, "{}", o.stderr);
    let t = std::fs::read_to_string(&trace).unwrap();
    for new in [
        "fsopen(",
        "fsconfig(",
        "fsmount(",
        "move_mount(",
        "open_tree(",
        "mount_setattr(",
    ] {
        assert!(!t.contains(new), "{new} under api = classic:\n{t}");
    }
    let mounts: Vec<&str> = t.lines().filter(|l| l.contains(" mount(")).collect();
    assert!(mounts.len() >= 8, "{t}");
    for l in &mounts {
        // Every target but the setup's `/` (made a slave) and the pivot's own is a descriptor
        // of the host /proc: `self/fd/N`.
        let target = l.split(", ").nth(1).unwrap_or("");
        assert!(
            target.starts_with("\"self/fd/") || target == "\"/\"" || target == "\".\"",
            "a target by path: {l}"
        );
    }
    // The bind's source by descriptor as well.
    assert!(
        mounts
            .iter()
            .any(|l| l.contains("mount(\"self/fd/") && l.contains("MS_BIND")),
        "{t}"
    );
    assert!(
        mounts.iter().any(|l| l.contains("MS_REMOUNT|MS_BIND")),
        "{t}"
    );
}

#[test]
fn api_auto_without_the_new_api_takes_classic_and_new_refuses() {
    let Some(_g) = privileged("api_auto_without_the_new_api_takes_classic_and_new_refuses") else {
        return;
    };
    if !debug_hooks("api_auto_without_the_new_api_takes_classic_and_new_refuses") {
        return;
    }
    let st = setup("auto", PLAN);
    let o = run_with(&st, "auto")
        .env("MOUNTPLAN_TEST_NO_NEW_API", 1)
        .arg("--format")
        .arg("json")
        .cmd(&["true"])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            r#""api":{"used":"classic","why":"auto: this kernel lacks fsopen, open_tree"}"#
        ),
        "{}",
        o.stderr
    );
    let o = run_with(&st, "auto").cmd(&["true"]).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("api: new (auto: this kernel has the new mount API"),
        "{}",
        o.stderr
    );
    let before = manifest(&[&st.root]);
    let o = run_with(&st, "new")
        .env("MOUNTPLAN_TEST_NO_NEW_API", 1)
        .cmd(&["true"])
        .run();
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("nothing was applied"), "{}", o.stderr);
    assert!(o.stderr.contains("lacks fsopen, open_tree"), "{}", o.stderr);
    assert_same("api = new refused", &before, &manifest(&[&st.root]));
}

/// Classic mounts under `/race/dir`; `/race/link` a symlink to the canary outside the root.
const RACE_PLAN: &str = r#"
version = 1
api = "classic"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
type = "tmpfs"
target = "/race/dir/m"

[[step]]
kind = "mount"
type = "bind"
source = "${SRC}"
target = "/race/dir/b"
options = ["ro"]

[[step]]
kind = "remount"
target = "/race/dir/b"
options = ["ro", "nosuid"]

[[step]]
kind = "mask"
path = "/race/dir/secret"
"#;

#[test]
fn api_classic_a_symlink_swapped_in_for_a_target_cannot_divert_a_mount() {
    let name = "api_classic_a_symlink_swapped_in_for_a_target_cannot_divert_a_mount";
    let Some(_g) = privileged(name) else {
        return;
    };
    if !debug_hooks(name) {
        return;
    }
    let (mut ok, mut refused, mut raced) = (0, 0, 0);
    for n in 0.. {
        let s = Scratch::new(&format!("race-{n}"));
        let root = s.path("root");
        let canary = s.path("canary");
        for d in [&root.join("race/dir"), &canary] {
            std::fs::create_dir_all(d.join("m")).unwrap();
            std::fs::create_dir_all(d.join("b")).unwrap();
            std::fs::write(d.join("secret"), "secret\n").unwrap();
        }
        std::os::unix::fs::symlink(&canary, root.join("race/link")).unwrap();
        let src = s.path("src");
        std::fs::create_dir(&src).unwrap();
        let plan = s.write("race.toml", RACE_PLAN);
        let host = host_mounts();
        let outside = manifest(&[&canary, &src]);
        let resume = Resume::new(&s.dir, "resume");
        let cmd = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .set("SRC", &src)
            .env("MOUNTPLAN_TEST_PAUSE_AT_CALL", n)
            .env("MOUNTPLAN_TEST_RESUME", resume.0.display())
            .cmd(&["cat", "/proc/self/mountinfo"])
            .command();
        let (dir, link) = (root.join("race/dir"), root.join("race/link"));
        let (o, paused) = run_paused(cmd, &resume, || exchange_once(&dir, &link));
        let c = canary.display().to_string();
        match o.status {
            0 => {
                ok += 1;
                for (mp, _, _) in parse_mountinfo(&o.stdout) {
                    assert!(!mp.starts_with(&c), "call {n}: a mount on the canary: {mp}");
                }
            }
            125 => refused += 1,
            st => panic!("call {n}: status {st}: {}", o.stderr),
        }
        if !journals(&s.state()).is_empty() {
            let r = Run {
                args: vec![
                    "recover".into(),
                    "--state-dir".into(),
                    s.state().display().to_string(),
                ],
                ..Run::default()
            }
            .run();
            assert_eq!(r.status, 0, "call {n}: recover: {}", r.stderr);
        }
        assert_same(
            &format!("call {n}: outside"),
            &outside,
            &manifest(&[&canary, &src]),
        );
        assert_eq!(host, host_mounts(), "call {n}");
        if !paused {
            assert_eq!(o.status, 0, "the plain apply failed: {}", o.stderr);
            break;
        }
        raced += 1;
    }
    eprintln!("classic race sweep: {raced} calls raced, {ok} ok, {refused} refused");
    assert!(raced >= 6, "{raced}");
}
