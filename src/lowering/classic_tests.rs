//! Unit tests of the lowering with `api = "classic"`: plans given as text, their calls
//! written out in full (not computed by the code under test).

use crate::model::Api;

/// The setup's and every step's calls of a valid plan, as the dry run prints them.
fn calls_of(text: &str, api: Option<Api>) -> Vec<String> {
    let c = crate::check_api(
        std::path::Path::new("t.toml"),
        &[],
        &mut |_| Ok(text.to_string()),
        &crate::load::Limits::default(),
        api,
    );
    let Some(d) = c.dag else {
        panic!(
            "not valid: {:?}",
            c.diags.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        )
    };
    let mut v: Vec<String> = d.calls.setup.iter().map(|c| c.to_string()).collect();
    for s in &d.calls.steps {
        v.extend(s.calls.iter().map(|c| c.to_string()));
    }
    v
}

const BINDS: &str = r#"
version = 1
api = "classic"
[root]
path = "/srv/root"
[[step]]
kind = "mount"
type = "bind"
source = "/srv/data"
target = "/data"
options = ["ro", "nosuid"]
[[step]]
kind = "mount"
type = "rbind"
source = "/srv/tree"
target = "/tree"
[[step]]
kind = "remount"
target = "/data"
options = ["ro", "nodev", "noatime"]
[[step]]
kind = "propagation"
target = "/tree"
propagation = "slave"
recursive = true
[[step]]
kind = "umount"
target = "/tree"
"#;

#[test]
fn binds_remounts_and_propagation_are_mount_calls() {
    assert_eq!(
        calls_of(BINDS, None),
        [
            r#"mount(NULL, "/", NULL, MS_REC|MS_SLAVE, NULL)"#,
            r#"mount("/srv/root", "/srv/root", NULL, MS_BIND|MS_REC, NULL) = M0"#,
            r#"mkdir("<root>/data", 0755) unless it is a directory"#,
            r#"mount("/srv/data", "<root>/data", NULL, MS_BIND, NULL) = M1"#,
            r#"mount(NULL, M1, NULL, MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND, NULL)"#,
            r#"mkdir("<root>/tree", 0755) unless it is a directory"#,
            r#"mount("/srv/tree", "<root>/tree", NULL, MS_BIND|MS_REC, NULL) = M2"#,
            r#"mount(NULL, "<root>/data", NULL, MS_RDONLY|MS_NODEV|MS_REMOUNT|MS_NOATIME|MS_BIND, NULL)"#,
            r#"mount(NULL, "<root>/tree", NULL, MS_REC|MS_SLAVE, NULL)"#,
            r#"umount2("<root>/tree", MNT_DETACH)"#,
        ]
    );
}

#[test]
fn the_same_plan_with_the_new_api_makes_detached_mounts() {
    let new = calls_of(BINDS, Some(Api::New));
    assert_eq!(
        new[1..6],
        [
            r#"open_tree("/srv/root", OPEN_TREE_CLONE|AT_RECURSIVE) = M0"#,
            r#"move_mount(M0, "/srv/root")"#,
            r#"mkdir("<root>/data", 0755) unless it is a directory"#,
            r#"open_tree("/srv/data", OPEN_TREE_CLONE) = M1"#,
            r#"mount_setattr(M1, 0, {attr_set=MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID, attr_clr=MOUNT_ATTR_NODEV|MOUNT_ATTR_NOEXEC})"#,
        ]
    );
    assert!(new.iter().all(|c| !c.contains("MS_BIND")), "{new:#?}");
}

#[test]
fn filesystems_masks_and_a_tmpfs_root() {
    let plan = r#"
version = 1
[root]
tmpfs = { mode = "0755" }
[[step]]
kind = "mount"
type = "tmpfs"
target = "/tmp"
create = "dir"
mode = "1777"
size = "64M"
options = ["nosuid", "nodev"]
[[step]]
kind = "mount"
type = "proc"
target = "/proc"
create = "dir"
options = ["nosuid", "nodev", "noexec"]
[[step]]
kind = "mask"
path = "/proc/kcore"
"#;
    assert_eq!(
        calls_of(plan, Some(Api::Classic)),
        [
            r#"mount(NULL, "/", NULL, MS_REC|MS_SLAVE, NULL)"#,
            r#"mount("tmpfs", "<tmproot>", "tmpfs", MS_NOSUID|MS_NODEV, "mode=0755") = M0"#,
            r#"mkdir("<root>/tmp", 0755) unless it is a directory"#,
            r#"mount("tmpfs", "<root>/tmp", "tmpfs", MS_NOSUID|MS_NODEV, "mode=01777,size=67108864") = M1"#,
            r#"mkdir("<root>/proc", 0755) unless it is a directory"#,
            r#"mount("proc", "<root>/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL) = M2"#,
            r#"mask "<root>/proc/kcore" when it exists: a directory gets mount("tmpfs", "<root>/proc/kcore", "tmpfs", MS_RDONLY, NULL) = M3, anything else mount("/dev/null", "<root>/proc/kcore", NULL, MS_BIND, NULL) = M3"#,
        ]
    );
}

#[test]
fn api_auto_and_new_keep_the_new_calls_and_classic_refuses_idmap() {
    let idmap = r#"
version = 1
[root]
path = "/srv/root"
[[step]]
kind = "mount"
type = "bind"
source = "/home/a"
target = "/home/a"
idmap = { uid = [[0, 1000, 1]], gid = [[0, 1000, 1]] }
"#;
    for api in [None, Some(Api::Auto), Some(Api::New)] {
        assert!(
            calls_of(idmap, api)
                .iter()
                .any(|c| c.contains("MOUNT_ATTR_IDMAP")),
            "{api:?}"
        );
    }
    let c = crate::check_api(
        std::path::Path::new("t.toml"),
        &[],
        &mut |_| Ok(idmap.to_string()),
        &crate::load::Limits::default(),
        Some(Api::Classic),
    );
    assert!(c.dag.is_none());
    let d: Vec<_> = c
        .diags
        .iter()
        .filter(|d| d.code == "mountplan::api::classic")
        .collect();
    assert_eq!(d.len(), 1, "{:?}", c.diags);
    // At the `idmap` key itself.
    let span = d[0].loc.map(|l| l.span).expect("a span");
    assert!(
        idmap[span.start..span.end].starts_with("{ uid"),
        "{:?}",
        d[0]
    );
}
