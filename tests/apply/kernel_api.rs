//! The modern mount API's features on a real apply: OCI's recursive flag spellings (`rro`
//! and friends, made with `mount_setattr(AT_RECURSIVE)` and verified on every submount),
//! idmapped binds, the `auto` pivot strategy and the `classic` api.

use crate::support::*;

/// A host directory with a tmpfs mounted below it (`sub`), unmounted when dropped.
struct Submounted(String);

impl Submounted {
    fn new(dir: &std::path::Path) -> Submounted {
        let d = dir.display().to_string();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "rro-sub", &format!("{d}/sub")])
            .status()
            .unwrap();
        assert!(st.success());
        Submounted(format!("{d}/sub"))
    }
}

impl Drop for Submounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", &self.0])
            .status();
    }
}

const RRO: &str = r#"
version = 1
name = "rro"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
id = "a"
type = "rbind"
source = "${DATA}"
target = "/a"
options = ["rro", "rnosuid"]

[[step]]
kind = "mount"
id = "b"
type = "rbind"
source = "${DATA}"
target = "/b"

[[step]]
kind = "remount"
id = "b-ro"
target = "/b"
options = ["rro"]

[[step]]
kind = "mount"
type = "proc"
target = "/proc"

[[step]]
kind = "pivot"
strategy = "pivot-root"
"#;

/// `rro` on a recursive bind, and on a remount of one, makes every submount read-only
/// (`mount_setattr(AT_RECURSIVE)`): a write into the submount from inside fails, and verify,
/// which checks each mount a recursive bind brought along, passes.
#[test]
fn rro_makes_every_submount_read_only_and_verify_checks_them() {
    let Some(_serial) = privileged("rro_makes_every_submount_read_only_and_verify_checks_them")
    else {
        return;
    };
    let s = Scratch::new("rro");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    let data = s.path("data");
    let _sub = Submounted::new(&data);
    let plan = s.write("rro.toml", RRO);
    let host = host_mounts();
    let script = "for f in /a/top /a/sub/x /b/top /b/sub/x; do \
                  if echo hi > $f 2>/dev/null; then echo wrote $f; else echo refused $f; fi; \
                  done; grep -c rro-sub /proc/self/mountinfo";
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .set("DATA", &data)
        .arg("-v")
        .cmd(&["sh", "-c", script])
        .run();
    assert_eq!(o.status, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(
        o.stdout, "refused /a/top\nrefused /a/sub/x\nrefused /b/top\nrefused /b/sub/x\n2\n",
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("predicted mounts match"), "{}", o.stderr);
    assert_eq!(host, host_mounts());
    // Nothing was written on the host.
    assert!(!data.join("top").exists() && !data.join("sub/x").exists());
}

const IDMAP: &str = r#"
version = 1
name = "idmap"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
id = "data"
type = "bind"
source = "${DATA}"
target = "/data"
idmap = { uid = [[0, 1000, 1], [5, 3000, 2]], gid = [[0, 1000, 1]] }

[[step]]
kind = "pivot"
strategy = "pivot-root"
"#;

/// A busybox root with `/data`, and a host directory (1000's) holding `mine` (1000:1000),
/// `other` (3001:1000) and `root` (0:0) to bind there.
fn owned_files(s: &Scratch) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir_all(root.join("data")).unwrap();
    let data = s.path("data");
    std::fs::create_dir_all(&data).unwrap();
    for (name, uid, gid) in [("mine", 1000, 1000), ("other", 3001, 1000), ("root", 0, 0)] {
        let f = data.join(name);
        std::fs::write(&f, name).unwrap();
        std::os::unix::fs::chown(&f, Some(uid), Some(gid)).unwrap();
    }
    std::os::unix::fs::chown(&data, Some(1000), Some(1000)).unwrap();
    (root, data)
}

/// The command of the idmap tests: the owners seen through the bind, then a file made there.
const STAT_AND_CREATE: &str =
    "stat -c '%n %u:%g' /data/mine /data/other /data/root && echo new > /data/new";

/// An idmapped bind (`MOUNT_ATTR_IDMAP` with a user namespace mountplan makes): a file owned
/// by uid 1000 on the host is owned by root seen from inside, uid 3001 is 6, an id no line
/// maps is 65534; a file the command creates as root is owned by 1000 on the host.
#[test]
fn an_idmapped_bind_shows_owners_through_its_map() {
    let Some(_serial) = privileged("an_idmapped_bind_shows_owners_through_its_map") else {
        return;
    };
    use std::os::unix::fs::MetadataExt;
    let s = Scratch::new("idmap");
    let (root, data) = owned_files(&s);
    let plan = s.write("idmap.toml", IDMAP);
    let host = host_mounts();
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .set("DATA", &data)
        .cmd(&["sh", "-c", STAT_AND_CREATE])
        .run();
    assert_eq!(o.status, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(
        o.stdout, "/data/mine 0:0\n/data/other 6:0\n/data/root 65534:65534\n",
        "{}",
        o.stderr
    );
    let new = std::fs::metadata(data.join("new")).unwrap();
    assert_eq!((new.uid(), new.gid()), (1000, 1000));
    assert_eq!(host, host_mounts());
}

/// A user namespace to borrow: `unshare --user --map-user=1000 --map-group=1000` run as root
/// (its maps: `1000 0 1`), held open by a process that waits on its standard input.
struct Borrowed(std::process::Child);

impl Borrowed {
    fn new() -> Borrowed {
        use std::io::BufRead;
        let mut c = std::process::Command::new("unshare")
            .args(["--user", "--map-user=1000", "--map-group=1000"])
            .args(["sh", "-c", "echo ready; exec cat"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("unshare (util-linux)");
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n", "unshare did not start");
        Borrowed(c)
    }
    fn ns(&self, kind: &str) -> String {
        format!("/proc/{}/ns/{kind}", self.0.id())
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// `idmap = { userns = PATH }` borrows an existing user namespace's maps: with `1000 0 1`, a
/// file owned by 1000 on the host is root's seen from inside, an id the namespace does not map
/// (3001, 0) is 65534, and a file the command creates as root is 1000's on the host. A path
/// that is not a user namespace (the same process's network namespace) is refused with why,
/// and rolled back.
#[test]
fn an_idmapped_bind_borrows_an_existing_user_namespace() {
    let Some(_serial) = privileged("an_idmapped_bind_borrows_an_existing_user_namespace") else {
        return;
    };
    use std::os::unix::fs::MetadataExt;
    let s = Scratch::new("idmap-userns");
    let (root, data) = owned_files(&s);
    let plan = s.write(
        "idmap.toml",
        &IDMAP.replace(
            "idmap = { uid = [[0, 1000, 1], [5, 3000, 2]], gid = [[0, 1000, 1]] }",
            "idmap = { userns = \"${USERNS}\" }",
        ),
    );
    let ns = Borrowed::new();
    let host = host_mounts();
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .set("DATA", &data)
        .set("USERNS", std::path::Path::new(&ns.ns("user")))
        .cmd(&["sh", "-c", STAT_AND_CREATE])
        .run();
    assert_eq!(o.status, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(
        o.stdout, "/data/mine 0:0\n/data/other 65534:0\n/data/root 65534:65534\n",
        "{}",
        o.stderr
    );
    let new = std::fs::metadata(data.join("new")).unwrap();
    assert_eq!((new.uid(), new.gid()), (1000, 1000));
    assert_eq!(host, host_mounts());

    let before = manifest(&[&root]);
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .set("DATA", &data)
        .set("USERNS", std::path::Path::new(&ns.ns("net")))
        .cmd(&["true"])
        .run();
    assert_ne!(o.status, 0, "{}", o.stderr);
    assert!(says(&o.stderr, "is not a user namespace"), "{}", o.stderr);
    assert!(o.stderr.contains("NS_GET_NSTYPE"), "{}", o.stderr);
    assert_eq!(host, host_mounts());
    assert_same("the root", &before, &manifest(&[&root]));
}

/// A source whose filesystem cannot be idmapped (ramfs): the apply fails at the idmap call,
/// says why in words with the errno, and rolls back.
#[test]
fn an_idmapped_bind_of_a_filesystem_without_idmap_is_refused_with_why() {
    let Some(_serial) =
        privileged("an_idmapped_bind_of_a_filesystem_without_idmap_is_refused_with_why")
    else {
        return;
    };
    let s = Scratch::new("idmap-ramfs");
    let root = s.path("root");
    busybox_root(&root);
    let data = s.path("data");
    std::fs::create_dir_all(&data).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "ramfs", "idmap-ramfs"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(data.clone());
    let plan = s.write("idmap.toml", IDMAP);
    let host = host_mounts();
    let before = manifest(&[&root]);
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .set("DATA", &data)
        .cmd(&["true"])
        .run();
    assert_ne!(o.status, 0, "{}", o.stderr);
    assert!(
        says(&o.stderr, "does not support idmapped mounts") && o.stderr.contains("EINVAL"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("MOUNT_ATTR_IDMAP"), "{}", o.stderr);
    assert_eq!(host, host_mounts());
    assert_same("the root", &before, &manifest(&[&root]));
}

/// Step `n` of apply's JSON report (on stderr): (status, error, choice).
fn json_step(stderr: &str, n: usize) -> (String, String, String) {
    let line = stderr.lines().find(|l| l.starts_with('{')).unwrap_or("{}");
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    let s = &v["steps"][n];
    let f = |k: &str| s[k].as_str().unwrap_or("").to_string();
    (f("status"), f("error"), f("choice"))
}

/// `strategy = "auto"`: pivot_root where the kernel takes it; on a shared root, where
/// pivot_root fails with EINVAL, MS_MOVE + chroot, and the report says which and why. The
/// command runs in the new root either way, and the host's mount table is unchanged.
#[test]
fn auto_pivots_with_pivot_root_or_moves_when_the_kernel_says_einval() {
    let Some(_serial) =
        privileged("auto_pivots_with_pivot_root_or_moves_when_the_kernel_says_einval")
    else {
        return;
    };
    for (shared, status, choice) in [
        (false, "ok", "pivot_root, which the kernel accepted"),
        (
            true,
            "fallback",
            "MS_MOVE + chroot, because pivot_root failed with EINVAL",
        ),
    ] {
        let s = Scratch::new("auto");
        let root = s.path("root");
        busybox_root(&root);
        std::fs::write(root.join("marker"), "inside\n").unwrap();
        let first = if shared {
            "[[step]]\nkind = \"propagation\"\ntarget = \"/\"\npropagation = \"shared\"\n"
        } else {
            ""
        };
        let plan = s.write(
            "auto.toml",
            &format!(
                "version = 1\nname = \"auto\"\n[root]\npath = \"${{ROOTFS}}\"\n[namespaces]\n\
                 user = false\n{first}[[step]]\nkind = \"pivot\"\nstrategy = \"auto\"\n"
            ),
        );
        let host = host_mounts();
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .arg("--format")
            .arg("json")
            .cmd(&["cat", "/marker"])
            .run();
        assert_eq!(o.status, 0, "shared {shared}: {}", o.stderr);
        assert_eq!(o.stdout, "inside\n");
        let (st, err, ch) = json_step(&o.stderr, usize::from(shared));
        assert_eq!(st, status, "shared {shared}: {}", o.stderr);
        assert!(ch.starts_with(choice), "shared {shared}: {ch}");
        if shared {
            assert!(
                err.contains("pivot_root") && err.contains("EINVAL"),
                "{err}"
            );
        }
        assert_eq!(host, host_mounts());
    }
}
