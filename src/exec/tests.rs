//! Unit tests of the executor with the recording fake: ordering, rollback, fallback, journal
//! protocol, verification. Plans come from TOML text, through the same check as the CLI's;
//! expected calls are written out.

use std::cell::RefCell;
use std::rc::Rc;

use nix::errno::Errno;

use super::journal::Log;
use super::report::Status;
use super::run::{Options, Point, run};
use super::verify;
use crate::calls::{Call, HostPlace};
use crate::graph::Dag;
use crate::model::*;
use crate::sys::fake::{Fake, Rec};
use crate::sys::{Before, Effect, MountEntry, Node, Sys, SysError, Undo};

fn rp(s: &str) -> RootPath {
    RootPath::new(s).unwrap()
}

/// The DAG of a valid plan given as text.
fn dag_of(text: &str) -> Dag {
    let c = crate::check_with(
        std::path::Path::new("t.toml"),
        &[],
        &mut |_| Ok(text.to_string()),
        &crate::load::Limits::default(),
    );
    let errors: Vec<&str> = c
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    c.dag.expect("the plan is valid")
}

/// The header of the test plans: a root directory on the host (so changes there are
/// journaled) or an empty tmpfs.
fn header(root: &str) -> String {
    format!("version = 1\nname = \"test\"\n[root]\n{root}\n[namespaces]\nuser = false\n")
}

const BOUND: &str = "path = \"/srv/root\"";
const TMPFS: &str = "tmpfs = {}";

/// A plan using every kind of step.
const EVERY_KIND: &str = r#"
[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"
options = ["nosuid"]
[[step]]
kind = "mount"
id = "usr"
type = "rbind"
source = "/usr"
target = "/usr"
options = ["ro"]
[[step]]
kind = "mkdir"
id = "etc"
path = "/etc/app/conf"
mode = "0700"
parents = true
[[step]]
kind = "mknod"
id = "null"
path = "/etc/null"
node = "char"
major = 1
minor = 3
uid = 0
[[step]]
kind = "symlink"
id = "link"
path = "/etc/fd"
to = "/proc/self/fd"
[[step]]
kind = "chmod"
id = "mode"
path = "/etc/app"
mode = "0750"
[[step]]
kind = "remount"
id = "ro"
target = "/usr"
options = ["ro", "rec"]
[[step]]
kind = "mask"
id = "mask"
path = "/proc/kcore"
"#;

const PIVOT: &str = "[[step]]\nkind = \"pivot\"\nid = \"pivot\"\nstrategy = \"pivot-root\"\n";

/// The every-kind plan on `root`, with a pivot (and its fallback).
fn every_kind(root: &str, fallback: Option<&str>) -> Dag {
    let fb = fallback
        .map(|f| format!("fallback = \"{f}\"\n"))
        .unwrap_or_default();
    dag_of(&format!("{}{EVERY_KIND}{PIVOT}{fb}", header(root)))
}

/// The calls of the every-kind plan, written out as the dry run prints them (after the setup).
const EVERY_KIND_CALLS: &[&str] = &[
    "mkdir(\"<root>/proc\", 0755) unless it is a directory",
    "fsopen(\"proc\") + fsconfig(source=\"proc\") + fsmount(MOUNT_ATTR_NOSUID) = M1",
    "move_mount(M1, \"<root>/proc\")",
    "mkdir(\"<root>/usr\", 0755) unless it is a directory",
    "open_tree(\"/usr\", OPEN_TREE_CLONE|AT_RECURSIVE) = M2",
    "mount_setattr(M2, AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY})",
    "move_mount(M2, \"<root>/usr\")",
    "mkdir(\"<root>/etc\", 0755) unless it is a directory",
    "mkdir(\"<root>/etc/app\", 0755) unless it is a directory",
    "mkdir(\"<root>/etc/app/conf\", 0700) unless it is a directory",
    "mknod(\"<root>/etc/null\", S_IFCHR|0666, makedev(0x1, 0x3)) unless that node is there",
    "lchown(\"<root>/etc/null\", 0, -1) unless it has that owner",
    "symlink(\"/proc/self/fd\", \"<root>/etc/fd\") unless that link is there",
    "chmod(\"<root>/etc/app\", 0750) unless it has that mode",
    "mount_setattr(\"<root>/usr\", AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY})",
    "mask \"<root>/proc/kcore\" when it exists: a directory gets fsopen(\"tmpfs\") + \
     fsconfig(source=\"tmpfs\", ro) + fsmount(MOUNT_ATTR_RDONLY) = M3, anything else \
     open_tree(\"/dev/null\", OPEN_TREE_CLONE) = M3; move_mount(M3, \"<root>/proc/kcore\")",
    "chdir(\"<root>\")",
    "pivot_root(\".\", \".\")",
    "umount2(\".\", MNT_DETACH)",
    "chdir(\"/\")",
];

fn no_verify() -> Options {
    Options {
        verify: false,
        userns: false,
    }
}

/// Every call of the DAG, setup first, in order.
fn all_calls(d: &Dag) -> Vec<Call> {
    let mut v = d.calls.setup.clone();
    for sc in &d.calls.steps {
        v.extend(sc.calls.iter().cloned());
    }
    v
}

fn texts(calls: &[&Call]) -> Vec<String> {
    calls.iter().map(|c| c.to_string()).collect()
}

const OVERLAY: &str = r#"
[[step]]
kind = "mount"
id = "ovl"
type = "overlay"
target = "/app"
lower = ["/srv/l"]
upper = "/srv/u"
work = "/srv/w"
"#;

/// Wraps the fake and records each call's effect.
struct Spy {
    fake: Fake,
    effects: Vec<Effect>,
}

impl Sys for Spy {
    fn call(&mut self, c: &Call, before: &mut Before<'_>) -> Result<Effect, SysError> {
        let r = self.fake.call(c, before);
        if let Ok(e) = &r {
            self.effects.push(e.clone());
        }
        r
    }
    fn undo(&mut self, u: &Undo) -> Result<(), SysError> {
        self.fake.undo(u)
    }
    fn mounts(&mut self) -> Result<Vec<MountEntry>, SysError> {
        self.fake.mounts()
    }
}

/// A log that records its events, shared with the test.
#[derive(Clone, Default)]
struct Events(Rc<RefCell<Vec<String>>>);

impl Log for Events {
    fn intent(&mut self, seq: u64, p: &HostPlace, u: &Undo) -> Result<(), String> {
        self.0
            .borrow_mut()
            .push(format!("I{seq} {}:{} {u}", p.base, p.rel));
        Ok(())
    }
    fn done(&mut self, seq: u64, _: &Undo) -> Result<(), String> {
        self.0.borrow_mut().push(format!("D{seq}"));
        Ok(())
    }
    fn undone(&mut self, seq: u64) -> Result<(), String> {
        self.0.borrow_mut().push(format!("U{seq}"));
        Ok(())
    }
}

#[test]
fn the_calls_made_are_the_setup_then_every_step_s_in_order() {
    let setups: [(&str, &[&str]); 2] = [
        (
            BOUND,
            &[
                "mount(NULL, \"/\", NULL, MS_REC|MS_SLAVE, NULL)",
                "open_tree(\"/srv/root\", OPEN_TREE_CLONE|AT_RECURSIVE) = M0",
                "move_mount(M0, \"/srv/root\")",
            ],
        ),
        (
            TMPFS,
            &[
                "mount(NULL, \"/\", NULL, MS_REC|MS_SLAVE, NULL)",
                "fsopen(\"tmpfs\") + fsconfig(source=\"tmpfs\") + \
                 fsmount(MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV) = M0",
                "move_mount(M0, \"<tmproot>\")",
            ],
        ),
    ];
    for (root, setup) in setups {
        let d = every_kind(root, None);
        let mut fake = Fake::new().with("/proc/kcore", Node::File);
        let o = run(
            &d,
            &mut fake,
            &mut Events::default(),
            no_verify(),
            &mut |_| {},
        );
        assert!(o.succeeded(), "{:?}", o.failure);
        let want: Vec<&str> = setup.iter().chain(EVERY_KIND_CALLS).copied().collect();
        assert_eq!(texts(&fake.calls()), want, "{root}");
        assert!(fake.undos().is_empty());
        assert!(o.steps.iter().all(|s| s.status == Status::Ok));
    }
}

#[test]
fn a_failure_at_each_call_undoes_exactly_what_was_changed_in_reverse() {
    let d = every_kind(BOUND, None);
    let total = all_calls(&d).len();
    // Which calls change something, and the undo of each, from a run without failure.
    let mut spy = Spy {
        fake: Fake::new().with("/proc/kcore", Node::File),
        effects: Vec::new(),
    };
    let o = run(
        &d,
        &mut spy,
        &mut Events::default(),
        no_verify(),
        &mut |_| {},
    );
    assert!(o.succeeded());
    assert_eq!(spy.effects.len(), total);
    for n in 0..total {
        let mut fake = Fake::new().with("/proc/kcore", Node::File);
        fake.fail_at = Some((n, Errno::EPERM));
        let events = Events::default();
        let o = run(&d, &mut fake, &mut events.clone(), no_verify(), &mut |_| {});
        let f = o.failure.as_ref().expect("the apply must fail");
        assert_eq!(f.errno.as_deref(), Some("EPERM"));
        // Only what calls before n changed is undone, newest first. Inode numbers differ
        // between runs, so compare the undo calls as text.
        let mut want: Vec<String> = spy.effects[..n]
            .iter()
            .filter_map(|e| match e {
                Effect::Changed(u) => Some(u.to_string()),
                _ => None,
            })
            .collect();
        want.reverse();
        let got: Vec<String> = fake.undos().iter().map(|u| u.to_string()).collect();
        assert_eq!(got, want, "failure at call {n}");
        assert_eq!(o.rolled_back, want);
        // Nothing the fake created is left.
        assert_eq!(fake.files.len(), 1, "failure at call {n}: {:?}", fake.files);
        // Every journaled change is marked undone, in reverse order of the intents.
        let ev = events.0.borrow();
        let intents: Vec<String> = ev
            .iter()
            .filter(|e| e.starts_with('I'))
            .map(|e| e[1..].split(' ').next().unwrap().to_string())
            .collect();
        let mut undone: Vec<String> = ev
            .iter()
            .filter(|e| e.starts_with('U'))
            .map(|e| e[1..].to_string())
            .collect();
        undone.reverse();
        assert_eq!(undone, intents, "failure at call {n}: {ev:?}");
    }
}

#[test]
fn intents_come_before_changes_and_done_records_after() {
    let d = every_kind(BOUND, None);
    let events = Events::default();
    let mut fake = Fake::new();
    let mut points = Vec::new();
    let o = run(&d, &mut fake, &mut events.clone(), no_verify(), &mut |p| {
        points.push(p)
    });
    assert!(o.succeeded());
    let ev = events.0.borrow();
    // Every host change (mkdir /proc, /usr, /etc, /etc/app, /etc/app/conf, mknod, chown,
    // symlink, chmod) is journaled: intent, then done.
    let intents = ev.iter().filter(|e| e.starts_with('I')).count();
    assert_eq!(intents, 9, "{ev:?}");
    for w in ev.chunks(2) {
        assert!(w[0].starts_with('I') && w[1].starts_with('D'), "{ev:?}");
        assert_eq!(w[0][1..].split(' ').next(), Some(&w[1][1..]));
    }
    assert!(ev[0].contains("/srv/root:proc rmdir"), "{}", ev[0]);
    assert_eq!(points.len(), 18);
    assert!(matches!(points[0], Point::Intent(_)) && matches!(points[1], Point::Made(_)));
    // A tmpfs root changes nothing persistent: no journal at all.
    let events = Events::default();
    let d = every_kind(TMPFS, None);
    run(
        &d,
        &mut Fake::new(),
        &mut events.clone(),
        no_verify(),
        &mut |_| {},
    );
    assert!(events.0.borrow().is_empty());
}

/// What a plan changes on an overlay, and what the kernel copies up for it, is journaled at
/// its place in the upper layer and undone there only after the overlay is unmounted.
#[test]
fn changes_on_an_overlay_are_undone_in_its_upper_layer_after_its_unmount() {
    let d = dag_of(&format!(
        "{}{OVERLAY}{}",
        header(BOUND),
        r#"
[[step]]
kind = "mkdir"
id = "made"
path = "/app/etc/made"
[[step]]
kind = "mount"
id = "tmp"
type = "tmpfs"
target = "/app/etc/made"
create = "none"
[[step]]
kind = "mkdir"
id = "after"
path = "/data"
"#
    ));
    let total = all_calls(&d).len();
    let mut fake = Fake::new();
    fake.lower_only.insert("etc".into());
    fake.fail_at = Some((total - 1, Errno::EIO));
    let events = Events::default();
    let o = run(&d, &mut fake, &mut events.clone(), no_verify(), &mut |_| {});
    assert!(o.failure.is_some());
    let undone: Vec<String> = fake
        .log
        .iter()
        .filter_map(|r| match r {
            Rec::Undo(u) => Some(u.to_string()),
            Rec::UndoAt(at, u) => Some(format!("{at}: {u}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        undone,
        [
            "umount2(\"<root>/app/etc/made\", MNT_DETACH)",
            "umount2(\"<root>/app\", MNT_DETACH)",
            "/srv/u/etc/made: rmdir(\"<root>/app/etc/made\")",
            "/srv/u/etc: rmdir(\"<root>/app/etc\")",
            "rmdir(\"<root>/app\")",
        ]
    );
    assert_eq!(o.rolled_back[2], "rmdir(\"/srv/u/etc/made\")");
    assert_eq!(o.rolled_back[3], "rmdir(\"/srv/u/etc\")");
    // The copy-up is journaled before the mkdir that makes it, both at their host places.
    let ev = events.0.borrow();
    let intents: Vec<&String> = ev.iter().filter(|e| e.starts_with('I')).collect();
    assert!(intents[1].contains("/srv/u:etc rmdir"), "{ev:?}");
    assert!(intents[2].contains("/srv/u:etc/made rmdir"), "{ev:?}");
}

/// A pivot whose put_old directory is made on an overlay, then fails and falls back: the
/// directory is removed from the upper layer before the fallback runs, though the overlay
/// stays mounted (a partial rollback); nothing else is undone and the apply succeeds.
#[test]
fn a_pivot_falling_back_removes_its_put_old_from_an_overlay_it_leaves_mounted() {
    let d = dag_of(&format!(
        "{}{OVERLAY}{}",
        header(BOUND),
        "[[step]]\nkind = \"pivot\"\nid = \"pivot\"\nstrategy = \"put-old\"\n\
         fallback = \"move\"\nput_old = \"/app/old\"\n"
    ));
    // Setup, then the overlay's mkdir, fsmount and attach, then the pivot: the put_old
    // directory, chdir, pivot_root (which fails).
    let at = d.calls.setup.len() + 3 + 2;
    assert!(matches!(all_calls(&d)[at], Call::PivotRoot { .. }));
    let mut fake = Fake::new();
    fake.fail_at = Some((at, Errno::EINVAL));
    let o = run(
        &d,
        &mut fake,
        &mut Events::default(),
        no_verify(),
        &mut |_| {},
    );
    assert!(o.succeeded(), "{:?}", o.failure);
    assert_eq!(o.steps[1].status, Status::Fallback);
    let undone: Vec<String> = fake
        .log
        .iter()
        .filter_map(|r| match r {
            Rec::Undo(u) => Some(u.to_string()),
            Rec::UndoAt(at, u) => Some(format!("{at}: {u}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        undone,
        ["/srv/u/oldXXXXXX: rmdir(\"<root>/app/oldXXXXXX\")"]
    );
}

#[test]
fn only_calls_with_a_host_place_are_journaled() {
    let d = every_kind(BOUND, None);
    for sc in &d.calls.steps {
        for c in &sc.calls {
            let changes_a_file = matches!(
                c,
                Call::Mkdir { .. }
                    | Call::CreateFile { .. }
                    | Call::Mknod { .. }
                    | Call::Symlink { .. }
                    | Call::Chmod { .. }
                    | Call::Chown { .. }
                    | Call::MakePutOld { .. }
            );
            assert_eq!(c.host_place().is_some(), changes_a_file, "{c}");
        }
    }
}

#[test]
fn a_failing_pivot_undoes_its_own_calls_and_runs_the_fallback() {
    let d = every_kind(BOUND, Some("move"));
    let before_pivot: usize = {
        let mut v = d.calls.setup.len();
        for sc in d.calls.steps.iter().take(d.plan.steps.len() - 1) {
            v += sc.calls.len();
        }
        v
    };
    // Call 0 of the pivot is chdir, 1 is pivot_root.
    let mut fake = Fake::new();
    fake.fail_at = Some((before_pivot + 1, Errno::EINVAL));
    let o = run(
        &d,
        &mut fake,
        &mut Events::default(),
        no_verify(),
        &mut |_| {},
    );
    assert!(o.succeeded(), "{:?}", o.failure);
    let last = o.steps.last().unwrap();
    assert_eq!(last.status, Status::Fallback);
    assert!(last.error.as_deref().unwrap().contains("EINVAL"));
    let made: Vec<String> = fake.calls()[before_pivot..]
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        made,
        [
            "chdir(\"<root>\")",
            "pivot_root(\".\", \".\")",
            "for each full proc or sysfs mount P outside <root>: mount(NULL, P, NULL, \
             MS_SLAVE|MS_REC, NULL); umount2(P, MNT_DETACH) (or mount(\"tmpfs\", P, \"tmpfs\", 0, \
             NULL) when refused)",
            "chdir(\"<root>\")",
            "mount(\".\", \"/\", NULL, MS_MOVE, NULL)",
            "chroot(\".\")",
            "chdir(\"/\")"
        ]
    );
    assert!(o.rolled_back.is_empty());
    // Without a fallback the same failure fails the apply and rolls everything back.
    let d = every_kind(BOUND, None);
    let mut fake = Fake::new();
    fake.fail_at = Some((before_pivot + 1, Errno::EINVAL));
    let o = run(
        &d,
        &mut fake,
        &mut Events::default(),
        no_verify(),
        &mut |_| {},
    );
    assert_eq!(
        o.failure.as_ref().unwrap().step,
        Some(d.plan.steps.len() - 1)
    );
    assert!(!o.rolled_back.is_empty());
    assert!(fake.files.is_empty(), "{:?}", fake.files);
}

/// Only the kernel's refusal of the switch takes the fallback: a put_old directory that cannot
/// be made (a root whose owner filled the name, a read-only root) fails the step and rolls
/// back, so the root's content can never force a weaker strategy.
#[test]
fn a_pivot_takes_its_fallback_only_when_the_switch_itself_is_refused() {
    let d = dag_of(&format!(
        "{}{}",
        header(BOUND),
        "[[step]]\nkind = \"mkdir\"\npath = \"/made\"\n\
         [[step]]\nkind = \"pivot\"\nstrategy = \"put-old\"\nfallback = \"move\"\n"
    ));
    let first_pivot_call = d.calls.setup.len() + 1;
    let calls = all_calls(&d);
    assert!(matches!(calls[first_pivot_call], Call::MakePutOld { .. }));
    for (n, fallback) in [(first_pivot_call, false), (first_pivot_call + 2, true)] {
        let mut fake = Fake::new();
        fake.fail_at = Some((n, Errno::EEXIST));
        let o = run(
            &d,
            &mut fake,
            &mut Events::default(),
            no_verify(),
            &mut |_| {},
        );
        let last = o.steps.last().unwrap();
        if fallback {
            assert!(o.succeeded(), "{:?}", o.failure);
            assert_eq!(last.status, Status::Fallback);
        } else {
            assert_eq!(last.status, Status::Failed, "failure at call {n}");
            assert_eq!(o.failure.as_ref().unwrap().step, Some(1));
            assert_eq!(o.rolled_back, ["rmdir(\"<root>/made\")"]);
            assert!(
                !fake
                    .calls()
                    .iter()
                    .any(|c| matches!(c, Call::MaskHostProcSys | Call::Chroot)),
                "the fallback ran"
            );
        }
    }
}

#[test]
fn existing_things_are_left_alone_and_not_undone() {
    let d = every_kind(BOUND, None);
    let mut fake = Fake::new().with("/proc", Node::Dir).with("/etc", Node::Dir);
    fake.fail_at = Some((all_calls(&d).len() - 1, Errno::EIO));
    let o = run(
        &d,
        &mut fake,
        &mut Events::default(),
        no_verify(),
        &mut |_| {},
    );
    assert!(o.failure.is_some());
    assert!(!o.rolled_back.iter().any(|u| u == "rmdir(\"<root>/proc\")"));
    assert!(!o.rolled_back.iter().any(|u| u == "rmdir(\"<root>/etc\")"));
    assert!(
        o.rolled_back
            .iter()
            .any(|u| u == "rmdir(\"<root>/etc/app\")")
    );
    assert!(fake.files.contains_key(&rp("/proc")) && fake.files.contains_key(&rp("/etc")));
    assert_eq!(o.steps[0].status, Status::RolledBack);
}

#[test]
fn an_incomplete_rollback_is_reported() {
    let d = every_kind(BOUND, None);
    let mut fake = Fake::new();
    fake.fail_at = Some((6, Errno::EIO));
    fake.fail_undo = Some(Errno::EBUSY);
    let o = run(
        &d,
        &mut fake,
        &mut Events::default(),
        no_verify(),
        &mut |_| {},
    );
    assert!(o.failure.is_some());
    assert!(o.rolled_back.is_empty());
    assert!(!o.rollback_errors.is_empty());
    assert!(o.rollback_errors[0].contains("EBUSY"));
    // Every record was still tried.
    assert_eq!(fake.undos().len(), o.rollback_errors.len());
    assert!(fake.log.iter().any(|r| matches!(r, Rec::Undo(_))));
}

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
