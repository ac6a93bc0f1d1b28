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
