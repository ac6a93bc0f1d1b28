//! Unit tests of the lowering and its model of the plan's mounts.

use super::*;
use crate::model::{HostPath, RootPath};

/// A plain stack of coverings, scanned: the reference model the graph's walk is checked
/// against.
struct Naive(Vec<(RootPath, Option<HostPath>)>);

impl Naive {
    fn host_place(&self, p: &RootPath) -> Option<HostPlace> {
        let (t, h) = self.0.iter().rev().find(|(t, _)| p.starts_with(t))?;
        let base = h.clone()?;
        let rel = p.as_str()[t.as_str().len()..]
            .trim_start_matches('/')
            .to_string();
        Some(HostPlace {
            base,
            rel,
            overlay: None,
        })
    }
    /// The newest mount on `target` and every mount made after it below it.
    fn remove(&mut self, target: &RootPath) {
        if let Some(i) = self.0.iter().rposition(|(t, _)| t == target) {
            // Entries after `i` are never on `target` itself (`i` is the newest there).
            let mut j = 0;
            self.0.retain(|(c, _)| {
                let keep = j < i || (j > i && !c.starts_with(target));
                j += 1;
                keep
            });
        }
    }
}

/// The host place of the last mkdir of each step that makes directories, by step index.
fn mkdir_places(text: &str) -> Vec<(usize, Option<HostPlace>)> {
    expand_text(text)
        .iter()
        .filter_map(|sc| {
            let place = sc.calls.iter().rev().find_map(|c| match c {
                Call::Mkdir { host, .. } => Some(host.clone()),
                _ => None,
            })?;
            Some((sc.step?, place))
        })
        .collect()
}

/// The places of the mkdirs of the steps at `at`.
fn places_at(text: &str, at: &[usize]) -> Vec<Option<HostPlace>> {
    let all = mkdir_places(text);
    at.iter()
        .map(|i| {
            all.iter()
                .find(|(s, _)| s == i)
                .unwrap_or_else(|| panic!("step {i} makes no directory in\n{text}"))
                .1
                .clone()
        })
        .collect()
}

const ROOT: &str = "version = 1\nname = \"m\"\n[root]\npath = \"/srv/root\"\n";

fn bind(src: &str, target: &str) -> String {
    format!(
        "[[step]]\nkind = \"mount\"\ntype = \"bind\"\nsource = \"{src}\"\ntarget = \"{target}\"\n"
    )
}

fn tmpfs(target: &str) -> String {
    format!("[[step]]\nkind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"{target}\"\n")
}

fn umount(target: &str) -> String {
    format!("[[step]]\nkind = \"umount\"\ntarget = \"{target}\"\n")
}

fn mkdir_p(path: &str) -> String {
    format!("[[step]]\nkind = \"mkdir\"\npath = \"{path}\"\nparents = true\n")
}

#[test]
fn an_umount_leaves_later_mounts_elsewhere_and_earlier_ones_below() {
    let text = [
        ROOT.to_string(),
        bind("/src/deep", "/a/deep"),
        tmpfs("/a"),
        bind("/src/on-a", "/a/on-a"),
        bind("/src/b", "/b"),
        umount("/a"),
        mkdir_p("/b/x"),
        mkdir_p("/a/deep/x"),
        mkdir_p("/a/on-a/x"),
    ]
    .concat();
    let places: Vec<(String, String)> = places_at(&text, &[5, 6, 7])
        .into_iter()
        .map(|h| {
            let h = h.expect("on the host");
            (h.base.to_string(), h.rel)
        })
        .collect();
    let want = [
        // The bind made after the umounted tmpfs, elsewhere, is still there.
        ("/src/b", "x"),
        // What was mounted below /a before it shows again; what sat on it went with it.
        ("/src/deep", "x"),
        ("/srv/root", "a/on-a/x"),
    ];
    assert_eq!(places, want.map(|(a, b)| (a.to_string(), b.to_string())));
}

/// The graph's walk places paths as a plain stack of coverings would, over random histories
/// of binds, tmpfs mounts and umounts.
#[test]
fn the_walk_places_paths_as_a_plain_stack_of_mounts_would() {
    let paths = [
        "/", "/a", "/a/b", "/a/b/c", "/a/bc", "/a0", "/a.b", "/b", "/b/a", "/ab",
    ];
    let rp = |p: &str| RootPath::new(p).unwrap();
    // A small deterministic generator (xorshift), many short random histories.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % n as u64) as usize
    };
    for round in 0..60 {
        let mut text = ROOT.to_string();
        let mut naive = Naive(vec![(rp("/"), Some(HostPath::new("/srv/root").unwrap()))]);
        // The query steps (mkdirs) by index, and where the plain stack places each.
        let mut at = Vec::new();
        let mut want = Vec::new();
        let mut n = 0;
        let mut query = |text: &mut String, naive: &Naive, n: &mut usize, q: &str| {
            text.push_str(&mkdir_p(q));
            at.push(*n);
            want.push((q.to_string(), naive.host_place(&rp(q))));
            *n += 1;
        };
        for _ in 0..12 {
            let p = paths[next(paths.len())];
            let op = next(4);
            // A mountpoint is made first (a query too), so the plan never certainly fails.
            if op < 2 && p != "/" {
                query(&mut text, &naive, &mut n, p);
            }
            match op {
                0 => {
                    text.push_str(&bind("/srv/x", p));
                    naive
                        .0
                        .push((rp(p), Some(HostPath::new("/srv/x").unwrap())));
                    n += 1;
                }
                1 => {
                    text.push_str(&tmpfs(p));
                    naive.0.push((rp(p), None));
                    n += 1;
                }
                2 if p != "/" => {
                    text.push_str(&umount(p));
                    naive.remove(&rp(p));
                    n += 1;
                }
                _ => {}
            }
            let q = paths[next(paths.len())];
            if q != "/" {
                query(&mut text, &naive, &mut n, q);
            }
        }
        let got = places_at(&text, &at);
        for (k, (q, w)) in want.iter().enumerate() {
            assert_eq!(
                &got[k], w,
                "round {round}: `{q}` (step {}) in\n{text}",
                at[k]
            );
        }
    }
}

/// The calls of a valid plan given as text.
fn expand_text(text: &str) -> Vec<StepCalls> {
    let c = crate::check_with(
        std::path::Path::new("t.toml"),
        &[],
        &mut |_| Ok(text.to_string()),
        &crate::load::Limits::default(),
    );
    match c.dag {
        Some(d) => d.calls.steps,
        None => panic!(
            "the plan is not valid: {:?}\n{text}",
            c.diags.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        ),
    }
}

/// Which creations are private (on a tmpfs or devpts the plan made, where the executor
/// reuses descriptors): never on the host, a bind, an overlay or another filesystem, and
/// again after an umount uncovers a private one.
#[test]
fn creations_on_a_tmpfs_or_devpts_the_plan_made_are_private() {
    let text = r#"
version = 1
name = "private"
[root]
path = "/srv/root"
[[step]]
kind = "mkdir"
path = "/host"
[[step]]
kind = "mount"
type = "tmpfs"
target = "/t"
[[step]]
kind = "mkdir"
path = "/t/a"
[[step]]
kind = "mount"
type = "bind"
source = "/srv/data"
target = "/t/a"
[[step]]
kind = "symlink"
path = "/t/a/bound"
to = "x"
[[step]]
kind = "umount"
target = "/t/a"
[[step]]
kind = "mknod"
path = "/t/a/fifo"
node = "fifo"
[[step]]
kind = "mount"
type = "devpts"
target = "/t/pts"
[[step]]
kind = "mkdir"
path = "/t/pts/d"
[[step]]
kind = "mount"
type = "overlay"
target = "/t/o"
lower = ["/srv/l"]
upper = "/srv/u"
work = "/srv/w"
[[step]]
kind = "mkdir"
path = "/t/o/d"
[[step]]
kind = "mount"
type = "cgroup2"
target = "/t/cg"
[[step]]
kind = "mkdir"
path = "/t/cg/d"
"#;
    let got: Vec<(String, bool)> = expand_text(text)
        .iter()
        .flat_map(|sc| &sc.calls)
        .filter_map(|c| match c {
            Call::Mkdir { at, .. }
            | Call::CreateFile { at, .. }
            | Call::Mknod { at, .. }
            | Call::Symlink { at, .. } => Some((at.path.to_string(), c.is_private())),
            _ => None,
        })
        .collect();
    let want = [
        ("/host", false),
        ("/t", false),
        ("/t/a", true),
        ("/t/a", true),
        ("/t/a/bound", false),
        ("/t/a/fifo", true),
        ("/t/pts", true),
        ("/t/pts/d", true),
        ("/t/o", true),
        ("/t/o/d", false),
        ("/t/cg", true),
        ("/t/cg/d", false),
    ];
    let want: Vec<(String, bool)> = want.iter().map(|(p, b)| (p.to_string(), *b)).collect();
    assert_eq!(got, want);
    // A tmpfs root is private from the start.
    let text = "version = 1\nname = \"t\"\n[root]\ntmpfs = {}\n[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n";
    let calls = expand_text(text);
    assert!(calls[0].calls[0].is_private(), "{}", calls[0].calls[0]);
}

/// `mkdir -p /` is the root itself: no ancestor to make, and no panic (it once sliced
/// `anc[1..0]`).
#[test]
fn mkdir_with_parents_of_the_root_makes_nothing_else() {
    let text = "version = 1\nname = \"r\"\n[root]\ntmpfs = {}\n[[step]]\nkind = \"mkdir\"\npath = \"/\"\nparents = true\n[[step]]\nkind = \"mkdir\"\npath = \"/a/b\"\nparents = true\n";
    let made: Vec<Vec<String>> = expand_text(text)
        .iter()
        .map(|sc| {
            sc.calls
                .iter()
                .filter_map(|c| match c {
                    Call::Mkdir { at, .. } => Some(at.path.to_string()),
                    _ => None,
                })
                .collect()
        })
        .collect();
    assert_eq!(made, [vec!["/"], vec!["/a", "/a/b"]]);
}

/// The calls of step `i` of `text`, as the dry run prints them.
fn step_texts(text: &str, i: usize) -> Vec<String> {
    let d = crate::test_plans::dag(text);
    d.calls.steps[i]
        .calls
        .iter()
        .map(|c| c.to_string())
        .collect()
}

/// OCI's recursive spellings are `mount_setattr(AT_RECURSIVE)` after the plain flags: on a
/// single bind (no plain flags: the copy keeps its source's), on a recursive bind, on a
/// remount beside a plain flag (two calls, runc's order) and alone (one recursive call).
#[test]
fn recursive_spellings_are_recursive_setattrs_after_the_plain_flags() {
    use crate::test_plans::*;
    let b = |ty: &str, opts: &[&str]| {
        step(
            "mount",
            "b",
            &[
                kv("type", ty),
                kv("source", "/srv/data"),
                kv("target", "/data"),
                format!("options = {}", list(opts)),
            ],
        )
    };
    let t = on_tmpfs(&[b("bind", &["rro", "rnosuid"])]);
    assert_eq!(
        step_texts(&t, 0)[1..3],
        [
            "open_tree(\"/srv/data\", OPEN_TREE_CLONE) = M1",
            "mount_setattr(M1, AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID})",
        ]
    );
    let t = on_tmpfs(&[b("rbind", &["nodev", "rrw", "rexec"])]);
    assert_eq!(
        step_texts(&t, 0)[2..4],
        [
            "mount_setattr(M1, AT_RECURSIVE, {attr_set=MOUNT_ATTR_NODEV})",
            "mount_setattr(M1, AT_RECURSIVE, {attr_clr=MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOEXEC})",
        ]
    );
    let t = on_tmpfs(&[
        b("rbind", &[]),
        remount("r", "/data", &["nodev", "rro"]),
        remount("s", "/data", &["rro"]),
    ]);
    assert_eq!(
        step_texts(&t, 1),
        [
            "mount_setattr(\"<root>/data\", 0, {attr_set=MOUNT_ATTR_NODEV, attr_clr=MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID|MOUNT_ATTR_NOEXEC})",
            "mount_setattr(\"<root>/data\", AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY})",
        ]
    );
    assert_eq!(
        step_texts(&t, 2),
        ["mount_setattr(\"<root>/data\", AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY})"]
    );
    // A new filesystem has nothing below it: `rro` is `ro`, made with the filesystem.
    let t = on_tmpfs(&[mount("t", "tmpfs", "/t", &["rro", "rnoexec"])]);
    let plain = on_tmpfs(&[mount("t", "tmpfs", "/t", &["ro", "noexec"])]);
    assert_eq!(step_texts(&t, 0), step_texts(&plain, 0));
}

/// `rro` and `rrw` conflict; an unknown `r` word gets the recursive spelling it is near.
#[test]
fn recursive_spellings_conflict_and_are_suggested() {
    use crate::test_plans::*;
    let t = on_tmpfs(&[remount("r", "/", &["rro", "rrw"])]);
    let e = try_dag(&t).unwrap_err();
    assert_eq!(e[0].code, "mountplan::option::conflict");
    assert_eq!(spot(&t, e[0].loc.unwrap()), (0, "options", "\"rrw\""));
    assert!(
        e[0].message.contains("`rrw` conflicts with `rro`"),
        "{}",
        e[0].message
    );
    let t = on_tmpfs(&[remount("r", "/", &["ro", "rrw"])]);
    assert!(try_dag(&t).is_ok());
    let t = on_tmpfs(&[remount("r", "/", &["rnosiud"])]);
    let e = try_dag(&t).unwrap_err();
    assert_eq!(e[0].help.as_deref(), Some("did you mean `rnosuid`?"));
}
