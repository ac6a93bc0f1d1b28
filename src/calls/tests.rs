//! Unit tests of the lowering and its model of the plan's mounts.

use super::lower::Mounts;
use super::*;
use crate::model::{HostPath, RootPath};

/// A plain stack of coverings, scanned: the reference model the index is checked against.
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

#[test]
fn an_umount_leaves_later_mounts_elsewhere_and_earlier_ones_below() {
    let rp = |p: &str| RootPath::new(p).unwrap();
    let hp = |p: &str| Some(HostPath::new(p).unwrap());
    let mut m = Mounts::new();
    m.push(rp("/"), hp("/srv/root"));
    m.push(rp("/a/deep"), hp("/src/deep"));
    m.push(rp("/a"), None);
    m.push(rp("/a/on-a"), hp("/src/on-a"));
    m.push(rp("/b"), hp("/src/b"));
    m.remove(&rp("/a"));
    // The bind made after the umounted tmpfs, elsewhere, is still there.
    assert_eq!(m.host_place(&rp("/b/x")).unwrap().base.as_str(), "/src/b");
    // What was mounted below /a before it shows again; what sat on it went with it.
    assert_eq!(
        m.host_place(&rp("/a/deep/x")).unwrap().base.as_str(),
        "/src/deep"
    );
    let on_root = m.host_place(&rp("/a/on-a/x")).unwrap();
    assert_eq!(
        (on_root.base.as_str(), on_root.rel.as_str()),
        ("/srv/root", "a/on-a/x")
    );
}

#[test]
fn indexed_mounts_match_the_naive_stack() {
    let paths: Vec<RootPath> = [
        "/", "/a", "/a/b", "/a/b/c", "/a/bc", "/a0", "/a.b", "/b", "/b/a", "/ab",
    ]
    .iter()
    .map(|p| RootPath::new(p).unwrap())
    .collect();
    let hosts = [None, Some(HostPath::new("/srv/x").unwrap())];
    // A small deterministic generator (xorshift), many short random histories.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % n as u64) as usize
    };
    for _ in 0..300 {
        let mut a = Mounts::new();
        let mut b = Naive(Vec::new());
        for _ in 0..40 {
            let p = paths[next(paths.len())].clone();
            match next(4) {
                0 | 1 => {
                    let h = hosts[next(2)].clone();
                    a.push(p.clone(), h.clone());
                    b.0.push((p, h));
                }
                2 => {
                    a.remove(&p);
                    b.remove(&p);
                }
                _ => {}
            }
            for q in &paths {
                assert_eq!(a.host_place(q), b.host_place(q), "at {q}");
            }
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
    c.dag.expect("the plan is valid").calls.steps
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
