//! mountinfo (and statmount records) -> plan, with the plans written out.

use std::collections::BTreeMap;

use super::table::{self, Origin};
use super::*;
use crate::model::MsFlags;
use crate::sys::linux::probe::StatMount;

/// Files on both sides, as a test says they are.
#[derive(Default)]
struct Files {
    host: BTreeMap<String, Stat>,
    inside: BTreeMap<String, Stat>,
}

impl Look for Files {
    fn host(&self, path: &str) -> Option<Stat> {
        self.host.get(path).copied()
    }
    fn inside(&self, path: &str) -> Option<Stat> {
        self.inside.get(path).copied()
    }
}

fn dir(dev: u64, ino: u64) -> Stat {
    Stat {
        dev,
        ino,
        dir: true,
        mode: 0o755,
    }
}

fn file(dev: u64, ino: u64) -> Stat {
    Stat {
        dir: false,
        ..dir(dev, ino)
    }
}

/// The host: ext4 on `/`, devtmpfs on /dev.
const HOST: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
24 27 0:6 / /dev rw,nosuid,relatime - devtmpfs devtmpfs rw,size=100k,mode=755
22 27 0:21 / /proc rw,relatime - proc proc rw
";

/// A sandbox after a pivot: a bound root, proc, a tmpfs /dev with devpts, a read-only bind, an
/// overlay, /etc/hostname masked with /dev/null, /mnt shared.
const SANDBOX: &str = "\
68 46 254:0 /srv/root / rw,relatime - ext4 /dev/vda rw
69 68 0:40 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
70 68 0:41 / /dev rw,nosuid - tmpfs tmpfs rw,size=1024k,nr_inodes=100,mode=755,uid=5
71 70 0:42 / /dev/pts rw,relatime - devpts devpts rw,mode=620,ptmxmode=666
72 68 254:0 /srv/data /mnt ro,nosuid,relatime shared:1 - ext4 /dev/vda rw
75 68 0:43 / /usr rw,relatime - overlay overlay rw,lowerdir=/srv/lower,upperdir=/srv/up,workdir=/srv/work
77 68 0:22 / /sys ro,relatime - sysfs sysfs rw
78 68 0:6 /null /etc/hostname rw,relatime - devtmpfs devtmpfs rw,size=100k,mode=755
";

fn snap(mountinfo: &str, stat: Result<Vec<StatMount>, String>) -> Snapshot {
    Snapshot {
        pid: Some(4242),
        own: false,
        mountinfo: mountinfo.into(),
        host_mountinfo: HOST.into(),
        stat,
        differs: vec![
            ("user", false),
            ("pid", false),
            ("ipc", false),
            ("uts", false),
            ("net", false),
            ("cgroup", false),
        ],
        kernel: "6.18.0".into(),
    }
}

fn req(root: Option<&str>) -> Request {
    Request {
        root: root.map(|r| RootPath::new(r).unwrap()),
        command: "mountplan capture --pid 4242".into(),
    }
}

fn sandbox_files() -> Files {
    let mut f = Files::default();
    for (p, id) in [("/srv/root", 10), ("/srv/data", 11), ("/dev/null", 12)] {
        let st = if p == "/dev/null" {
            file(6, id)
        } else {
            dir(254, id)
        };
        f.host.insert(p.into(), st);
    }
    f.inside.insert("/".into(), dir(254, 10));
    f.inside.insert("/mnt".into(), dir(254, 11));
    f.inside.insert("/etc/hostname".into(), file(6, 12));
    f
}

/// Whether the plan's comments say `words` (comments are wrapped: compared as one text).
fn says(text: &str, words: &str) -> bool {
    let flat: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .flat_map(|l| l.split_whitespace())
        .collect();
    let words: Vec<&str> = words.split_whitespace().collect();
    flat.join(" ").contains(&words.join(" "))
}

/// The plan without its comment lines.
fn body(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn mountinfo_lines_parse_with_optional_fields_and_escapes() {
    let l = table::parse(
        "72 68 254:0 /srv/my\\040data /mnt/a\\134b ro,nosuid shared:1 master:3 unbindable - ext4 \
         /dev/vda rw,lowerdir=/a\\054b,x\n",
    );
    assert_eq!(l.len(), 1);
    let l = &l[0];
    assert_eq!((l.id, l.parent, l.dev), (72, 68, (254, 0)));
    assert_eq!(l.root, "/srv/my data");
    assert_eq!(l.mountpoint, "/mnt/a\\b");
    assert_eq!(l.opts, ["ro", "nosuid"]);
    assert_eq!((l.shared, l.master, l.unbindable), (Some(1), Some(3), true));
    assert_eq!((l.fstype.as_str(), l.source.as_str()), ("ext4", "/dev/vda"));
    assert_eq!(l.super_opts, ["rw", "lowerdir=/a,b", "x"]);
    let (f, odd) = table::mount_flags(&["rw".into(), "nosymfollow".into()]);
    assert_eq!(f, MsFlags::MS_STRICTATIME);
    assert_eq!(odd, ["nosymfollow"]);
}

#[test]
fn a_pivoted_sandbox_becomes_a_plan_that_binds_the_host_and_makes_the_rest() {
    let c = capture(
        &snap(SANDBOX, Err("statmount(2) => ENOSYS".into())),
        &req(None),
        &sandbox_files(),
    )
    .unwrap();
    let want = r#"version = 1
name = "captured-4242"
description = "The mount tree of the mount namespace of pid 4242 below /, as captured."

[namespaces]
user = "auto"
pid = false
ipc = false
uts = false
net = false
cgroup = false

[root]
path = "/srv/root"

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"
options = ["nosuid", "nodev", "noexec", "relatime"]

[[step]]
kind = "mount"
id = "dev"
type = "tmpfs"
target = "/dev"
options = ["nosuid", "strictatime"]
size = "1024k"
nr_inodes = 100
mode = "0755"
uid = 5

[[step]]
kind = "mount"
id = "dev-pts"
type = "devpts"
target = "/dev/pts"
options = ["relatime"]
mode = "0620"
ptmxmode = "0666"

[[step]]
kind = "mount"
id = "mnt"
type = "bind"
source = "/srv/data"
target = "/mnt"
options = ["ro", "nosuid", "relatime"]

[[step]]
kind = "mount"
id = "usr"
type = "overlay"
target = "/usr"
options = ["relatime"]
lower = ["/srv/lower"]
upper = "/srv/up"
work = "/srv/work"

[[step]]
kind = "mount"
id = "sys"
type = "sysfs"
target = "/sys"
options = ["relatime"]

[[step]]
kind = "remount"
id = "remount-sys"
target = "/sys"
options = ["ro", "relatime"]

[[step]]
kind = "mount"
id = "etc-hostname"
type = "bind"
source = "/dev/null"
target = "/etc/hostname"
options = ["relatime"]
create = "file"

[[step]]
kind = "pivot"
id = "pivot"
strategy = "pivot-root"

[[step]]
kind = "propagation"
id = "propagation-root"
target = "/"
propagation = "private"

[[step]]
kind = "propagation"
id = "propagation-mnt"
target = "/mnt"
propagation = "shared"

[[step]]
kind = "propagation"
id = "propagation-etc-hostname"
target = "/etc/hostname"
propagation = "private"
"#;
    assert_eq!(body(&c.text), want);
    assert!(c.text.starts_with("#:schema ../schema/plan.schema.json\n"));
    assert!(c.inexact.is_empty(), "{:?}", c.inexact);
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    assert_eq!(c.mounts, 8);
    // Where each step came from, in its comment; and how the table was read.
    for w in [
        "The host path `/srv/root` (below the host's mount at `/`), confirmed: the same inode.",
        "A bind of the host path `/srv/data` (confirmed: the same inode).",
        "A new tmpfs: the captured one is not on the host.",
        "statmount(2)/listmount(2) could not be used (statmount(2) => ENOSYS)",
        "The mount is read-only while its filesystem is read-write: set after mounting.",
    ] {
        assert!(says(&c.text, w), "no {w:?} in\n{}", c.text);
    }
    // The plan is valid, and its dry run predicts the captured tree.
    let text = c.text.clone();
    let checked = crate::check(std::path::Path::new("c.toml"), &[], &mut |_| {
        Ok(text.clone())
    });
    let dag = checked.dag.as_ref().expect("the captured plan checks");
    assert!(!checked.has_errors(), "{:?}", checked.diags);
    assert_eq!(
        compare::differences(&dag.tree, &c.expected),
        Vec::<String>::new()
    );
}

fn stat(id_old: u32, parent_old: u32, unique: u64) -> StatMount {
    StatMount {
        id: unique,
        parent: 0,
        id_old,
        parent_old,
        attr: 0,
        propagation: libc::MS_PRIVATE,
        peer_group: 0,
        master: 0,
        propagate_from: 0,
        dev: (0, 0),
    }
}

/// A tmpfs root (no pivot: `--root`), a tmpfs at /a with /a/hidden on it, then a second tmpfs
/// over /a. mountinfo lists the cover before the hidden mount (ids are reused); statmount's
/// unique ids say the hidden one came first, and the plan makes it first: made after the
/// cover, it would land on the cover instead.
const STACK: &str = "\
94 51 0:50 / /t/root rw,nosuid,relatime - tmpfs tmpfs rw,size=2048k,mode=711
95 94 0:51 / /t/root/a rw,relatime - tmpfs tmpfs rw
30 95 0:54 / /t/root/a rw,nodev,relatime unbindable - tmpfs tmpfs rw,size=64k
97 95 0:53 / /t/root/a/b/c ro,noexec,relatime - tmpfs tmpfs ro
";

fn stack_stats() -> Vec<StatMount> {
    let mut v = vec![
        stat(94, 51, 100),
        stat(95, 94, 101),
        stat(97, 95, 102),
        stat(30, 95, 103),
    ];
    v[0].attr = crate::sys::linux::probe::MOUNT_ATTR_NOSUID;
    v[2].attr =
        crate::sys::linux::probe::MOUNT_ATTR_RDONLY | crate::sys::linux::probe::MOUNT_ATTR_NOEXEC;
    v[3].attr = crate::sys::linux::probe::MOUNT_ATTR_NODEV;
    v[3].propagation = libc::MS_UNBINDABLE;
    v
}

#[test]
fn hidden_mounts_are_made_in_the_order_statmount_gives_and_tmpfs_parents_get_directories() {
    let mut s = snap(STACK, Ok(stack_stats()));
    s.own = true;
    let c = capture(&s, &req(Some("/t/root")), &Files::default()).unwrap();
    let want = r#"[root]
tmpfs = { size = "2048k", mode = "0711" }

[[step]]
kind = "remount"
id = "remount-root"
target = "/"
options = ["nosuid", "relatime"]

[[step]]
kind = "mount"
id = "a"
type = "tmpfs"
target = "/a"
options = ["relatime"]

[[step]]
kind = "mkdir"
id = "mkdir-a-b"
path = "/a/b"
parents = true
mode = "0755"

[[step]]
kind = "mount"
id = "a-b-c"
type = "tmpfs"
target = "/a/b/c"
options = ["ro", "noexec", "relatime"]

[[step]]
kind = "mount"
id = "a-2"
type = "tmpfs"
target = "/a"
options = ["nodev", "relatime"]
size = "64k"

[[step]]
kind = "propagation"
id = "propagation-a"
target = "/a"
propagation = "unbindable"
"#;
    let b = body(&c.text);
    let from_root = &b[b.find("[root]").unwrap()..];
    assert_eq!(from_root, want);
    // No pivot for a subtree; statmount named in the header.
    assert!(says(&c.text, "each mount's 64-bit unique id"), "{}", c.text);
    let text = c.text.clone();
    let checked = crate::check(std::path::Path::new("c.toml"), &[], &mut |_| {
        Ok(text.clone())
    });
    let dag = checked.dag.as_ref().expect("checks");
    assert_eq!(
        compare::differences(&dag.tree, &c.expected),
        Vec::<String>::new()
    );

    // Without statmount, mountinfo's order: the cover first, the hidden mount after it (on
    // the cover, where the plan's model puts it).
    let c = capture(
        &snap(STACK, Err("no".into())),
        &req(Some("/t/root")),
        &Files::default(),
    )
    .unwrap();
    let b = body(&c.text);
    let order: Vec<&str> = b.lines().filter(|l| l.starts_with("id = ")).collect();
    assert_eq!(
        order,
        [
            "id = \"remount-root\"",
            "id = \"a\"",
            "id = \"a-2\"",
            "id = \"mkdir-a-b\"",
            "id = \"a-b-c\"",
            "id = \"propagation-a\""
        ]
    );
    assert!(says(&c.text, "in its order"), "{}", c.text);
}

#[test]
fn a_second_mount_of_a_namespace_only_filesystem_is_a_copy_said_so() {
    // /dev is a tmpfs only the namespace has; /run shows its `/shm` directory.
    let t = "\
1 0 0:50 / / rw,relatime - tmpfs tmpfs rw
2 1 0:51 / /dev rw,relatime - tmpfs tmpfs rw,mode=755
3 1 0:51 /shm /run rw,relatime - tmpfs tmpfs rw,mode=755
";
    let c = capture(&snap(t, Err("no".into())), &req(None), &Files::default()).unwrap();
    let b = body(&c.text);
    assert!(
        b.contains("id = \"run\"\ntype = \"tmpfs\"\ntarget = \"/run\"\noptions = [\"relatime\"]\nmode = \"0755\"\n"),
        "{b}"
    );
    assert!(c.inexact.is_empty(), "{:?}", c.inexact);
    assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
    assert!(
        c.notes[0]
            .starts_with("`/run`: a new tmpfs: it is another mount of the tmpfs mounted at `/dev`"),
        "{:?}",
        c.notes
    );
    assert!(
        says(&c.text, "the same tree, not the same files"),
        "{}",
        c.text
    );
}

#[test]
fn a_host_path_that_is_not_the_mounts_inode_is_said_to_be_unconfirmed() {
    let mut f = sandbox_files();
    f.host.insert("/srv/data".into(), dir(254, 99));
    let c = capture(&snap(SANDBOX, Err("no".into())), &req(None), &f).unwrap();
    assert!(
        says(
            &c.text,
            "Not confirmed: `/srv/data` on the host is not the inode the mount shows"
        ),
        "{}",
        c.text
    );
    assert!(body(&c.text).contains("source = \"/srv/data\"\n"));
    assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
}

#[test]
fn what_a_plan_cannot_give_is_listed_as_inexact() {
    let t = "\
1 0 0:50 / / rw,nosuid,nodev,relatime - tmpfs tmpfs rw,uid=7,huge=always
2 1 0:51 / /d rw,nosymfollow,relatime - tmpfs tmpfs rw,inode64
3 1 0:52 / /o rw,relatime - overlay overlay rw,lowerdir=/l,uuid=on
";
    let c = capture(&snap(t, Err("no".into())), &req(None), &Files::default()).unwrap();
    assert_eq!(
        c.inexact,
        [
            "`/`: a tmpfs root cannot be given `uid`",
            "`/`: the tmpfs options `huge=always`",
            "`/d`: the per-mount options nosymfollow cannot be given by a plan",
            "`/d`: the tmpfs options `inode64`",
            "`/o`: the overlay options `uuid=on`",
        ]
    );
    assert!(
        says(&c.text, "an overlay's `uuid=` is the kernel's choice"),
        "{}",
        c.text
    );
}

#[test]
fn strings_are_quoted_and_dollars_doubled() {
    let t = "\
1 0 254:0 /srv/a$b\\040\"q\" / rw,relatime - ext4 /dev/vda rw
";
    let mut f = Files::default();
    f.host.insert("/srv/a$b \"q\"".into(), dir(254, 5));
    f.inside.insert("/".into(), dir(254, 5));
    let c = capture(&snap(t, Err("no".into())), &req(None), &f).unwrap();
    // `$` doubled, as the plan's substitution wants it; the quotes as TOML writes them.
    assert!(
        body(&c.text).contains("path = '/srv/a$$b \"q\"'\n"),
        "{}",
        c.text
    );
    let text = c.text.clone();
    let checked = crate::check(std::path::Path::new("c.toml"), &[], &mut |_| {
        Ok(text.clone())
    });
    match &checked.dag.as_ref().unwrap().plan.root {
        crate::model::Root::Path(p) => assert_eq!(p.as_str(), "/srv/a$b \"q\""),
        r => panic!("{r:?}"),
    }
}

#[test]
fn a_root_that_is_not_a_mountpoint_is_refused_with_the_mountpoints_there() {
    let e = capture(
        &snap(SANDBOX, Err("no".into())),
        &req(Some("/srv")),
        &Files::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "nothing is mounted at `/srv` in /proc/4242/mountinfo"
    );
    assert!(
        e.help.contains("the mountpoints at or below it are: none"),
        "{}",
        e.help
    );
    // A chrooted process: nothing at its root.
    let t = "5 3 0:50 / /dev rw - tmpfs tmpfs rw\n";
    let e = capture(&snap(t, Err("no".into())), &req(None), &Files::default()).unwrap_err();
    assert!(e.help.contains("a chroot"), "{}", e.help);
}

#[test]
fn kernel_state_filesystems_are_made_fresh_even_when_the_host_has_them() {
    // The sandbox's proc is the host's superblock (same device): still a new proc mount.
    let t = "\
1 0 254:0 /srv/root / rw,relatime - ext4 /dev/vda rw
2 1 0:21 / /proc rw,relatime - proc proc rw
3 1 0:21 /sys /psys rw,relatime - proc proc rw
";
    let s = snap(t, Err("no".into()));
    let w = table::walk(&s, &RootPath::root(), &Files::default()).unwrap();
    assert_eq!(w.mounts[1].origin, Origin::Fresh);
    // A part of proc is a bind of the host's path to it.
    match &w.mounts[2].origin {
        Origin::Host { path, .. } => assert_eq!(path, "/proc/sys"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn the_comparison_reads_options_as_values() {
    use crate::test_plans::{dag, mount, on_tmpfs};
    // The tmpfs root (16 MiB, 0755) and a devpts, from plan text.
    let plan = on_tmpfs(&[format!(
        "{}mode = \"0620\"\n",
        mount("pts", "devpts", "/d", &["nosuid"])
    )])
    .replace("tmpfs = {}", "tmpfs = { size = \"16m\", mode = \"0755\" }");
    let tree = dag(&plan).tree;
    let rel = MsFlags::MS_RELATIME;
    // A tmpfs root is nosuid,nodev unless the plan says otherwise.
    let root = rel | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let e = |at: &str, fstype: &str, flags, opts: &[&str]| Expect {
        at: RootPath::new(at).unwrap(),
        bind: None,
        fstype: fstype.into(),
        flags,
        options: opts.iter().map(|s| s.to_string()).collect(),
    };
    let same = [
        e("/", "tmpfs", root, &["size=16384k", "mode=755"]),
        e("/d", "devpts", rel | MsFlags::MS_NOSUID, &["mode=620"]),
    ];
    assert_eq!(compare::differences(&tree, &same), Vec::<String>::new());
    let other = [
        e("/", "tmpfs", root, &["size=16m", "mode=700", "uid=3"]),
        e("/d", "devpts", rel, &["mode=620"]),
    ];
    assert_eq!(
        compare::differences(&tree, &other),
        [
            "`/`: the plan gives `mode=755`, the namespace has `mode=700`",
            "`/`: the namespace has `uid=3`, which the plan does not give",
            "`/d`: the plan predicts the flags nosuid,relatime, the namespace has relatime",
        ]
    );
    assert_eq!(
        compare::differences(&tree, &same[..1]),
        ["the plan predicts 2 mounts, the namespace has 1"]
    );
}
