//! Verify after apply: each mount found by its id and compared, where a mount really is, what a
//! bound root brought along, and a difference failing and rolling back.

use super::*;

/// A mount table entry.
fn me(id: u64, parent: u64, mp: &str, fstype: &str, flags: MsFlags, options: &str) -> MountEntry {
    MountEntry {
        id,
        parent,
        mountpoint: mp.into(),
        fstype: fstype.into(),
        flags,
        options: options.into(),
        propagation: crate::model::Propagated::Private,
    }
}

/// A tmpfs root (16M) with proc, a recursive read-only bind of /usr and a mask: M0 to M3.
const VERIFY_PLAN: &str = r#"
version = 1
name = "v"
[root]
tmpfs = { size = "16M" }
[namespaces]
user = false
[[step]]
kind = "mount"
type = "proc"
target = "/proc"
options = ["nosuid"]
[[step]]
kind = "mount"
type = "rbind"
source = "/usr"
target = "/usr"
options = ["ro"]
[[step]]
kind = "mask"
path = "/proc/kcore"
"#;

/// The mount table of a correct apply of [`VERIFY_PLAN`], and the ids of M0 to M3.
fn verify_good() -> (Vec<MountEntry>, Vec<Option<u64>>) {
    let ns = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let table = vec![
        me(
            10,
            1,
            "/",
            "tmpfs",
            ns | MsFlags::MS_RELATIME,
            "rw,size=16384k",
        ),
        me(
            11,
            10,
            "/proc",
            "proc",
            MsFlags::MS_NOSUID | MsFlags::MS_RELATIME,
            "rw",
        ),
        me(12, 10, "/usr", "ext4", MsFlags::MS_RDONLY, "rw"),
        // Brought along by the recursive bind.
        me(14, 12, "/usr/local", "ext4", MsFlags::MS_RDONLY, "rw"),
        me(13, 11, "/proc/kcore", "devtmpfs", MsFlags::empty(), "rw"),
    ];
    (table, vec![Some(10), Some(11), Some(12), Some(13)])
}

#[test]
fn verify_finds_each_mount_by_its_id_and_compares_it() {
    let d = dag_of(VERIFY_PLAN);
    let (good, made) = verify_good();
    let v = verify::compare(&d, &good, &[], &made, false);
    assert!(v.ok, "{:?}", v.mismatches);
    assert_eq!((v.checked, v.skipped), (4, 0));

    // Flags, fstype and filesystem options differ; a mount nothing brought along.
    let mut bad = good.clone();
    bad[0].options = "rw,size=2048k".into();
    bad[1].flags |= MsFlags::MS_NOEXEC;
    bad[2].flags = MsFlags::empty();
    bad.push(me(20, 10, "/tmp", "tmpfs", MsFlags::empty(), "rw"));
    let v = verify::compare(&d, &bad, &[], &made, false);
    let mps: Vec<&str> = v.mismatches.iter().map(|m| m.mountpoint.as_str()).collect();
    assert_eq!(mps, ["/", "/proc", "/usr", "/tmp"]);
    assert_eq!(
        v.mismatches[0].predicted.as_deref(),
        Some("tmpfs rw,nosuid,nodev,relatime size=16777216 private")
    );
    assert_eq!(
        v.mismatches[1].actual.as_deref(),
        Some("proc rw,nosuid,noexec,relatime rw private")
    );
    assert_eq!(v.mismatches[3].predicted, None);

    // In a user namespace, flags the kernel kept (locked) are accepted.
    let v = verify::compare(&d, &bad[..5], &[], &made, true);
    let mps: Vec<&str> = v.mismatches.iter().map(|m| m.mountpoint.as_str()).collect();
    assert_eq!(mps, ["/", "/usr"], "{:?}", v.mismatches);

    // Not made: proc is a mismatch; the mask (of a path that was missing) is skipped.
    let v = verify::compare(
        &d,
        &[good[0].clone(), good[2].clone(), good[3].clone()],
        &[],
        &[Some(10), None, Some(12), None],
        false,
    );
    assert_eq!(v.mismatches.len(), 1, "{:?}", v.mismatches);
    assert_eq!(v.mismatches[0].mountpoint, "/proc");
    assert_eq!(v.mismatches[0].actual, None);
    // Neither counts as made.
    assert_eq!((v.checked, v.skipped), (2, 1));
}

/// A mount found by its id at another path (its target went through a symlink in the root)
/// is the plan's mount, and the report says where it is; one on another mount than the dry
/// run places it on is a mismatch.
#[test]
fn verify_reports_where_a_mount_really_is_and_checks_what_it_is_on() {
    let d = dag_of(VERIFY_PLAN);
    let (mut table, made) = verify_good();
    table[1].mountpoint = "/usr/lib/proc".into();
    let v = verify::compare(&d, &table, &[], &made, false);
    assert!(v.ok, "{:?}", v.mismatches);
    assert_eq!(v.moved.len(), 1);
    assert_eq!(
        (v.moved[0].predicted.as_str(), v.moved[0].actual.as_str()),
        ("/proc", "/usr/lib/proc")
    );
    let (mut table, made) = verify_good();
    table[1].parent = 12;
    let v = verify::compare(&d, &table, &[], &made, false);
    assert_eq!(v.mismatches.len(), 1, "{:?}", v.mismatches);
    assert!(
        v.mismatches[0]
            .actual
            .as_deref()
            .unwrap()
            .contains("on another mount"),
        "{:?}",
        v.mismatches
    );
}

#[test]
fn verify_accepts_what_a_bound_root_brought_along() {
    let d = dag_of(&header(BOUND));
    let inherited = vec![
        me(10, 1, "/", "ext4", MsFlags::empty(), "rw"),
        me(11, 10, "/", "ext4", MsFlags::empty(), "rw"),
        me(12, 11, "/data", "xfs", MsFlags::empty(), "rw"),
    ];
    let made = [Some(11)];
    let mut actual = inherited.clone();
    let v = verify::compare(&d, &actual, &inherited, &made, false);
    assert!(v.ok, "{:?}", v.mismatches);
    actual.push(me(13, 11, "/new", "tmpfs", MsFlags::empty(), "rw"));
    let v = verify::compare(&d, &actual, &inherited, &made, false);
    assert_eq!(v.mismatches.len(), 1);
    assert_eq!(v.mismatches[0].mountpoint, "/new");
}

#[test]
fn a_verify_difference_fails_and_rolls_back() {
    let d = dag_of(VERIFY_PLAN);
    let (mut table, made) = verify_good();
    table[1].fstype = "sysfs".into();
    let mut fake = Fake::new();
    fake.mount_table = table;
    fake.made = made;
    let o = run(
        &d,
        &mut fake,
        &mut Events::default(),
        Options {
            verify: true,
            userns: false,
        },
        &mut |_| {},
    );
    let f = o.failure.as_ref().unwrap();
    assert!(f.message.contains("differs"), "{}", f.message);
    assert!(!o.verify.as_ref().unwrap().ok);
    assert!(!o.rolled_back.is_empty());
    assert!(fake.files.is_empty());
}
