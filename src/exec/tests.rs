//! Unit tests of the executor with the recording fake: ordering, rollback, fallback, journal
//! protocol, verification.

use std::cell::RefCell;
use std::rc::Rc;

use nix::errno::Errno;

use super::journal::Log;
use super::report::Status;
use super::run::{Options, Point, run};
use super::verify;
use crate::calls::{self, Call, HostPlace};
use crate::graph::{Dag, FinalTree, TreeMount};
use crate::model::*;
use crate::source::Loc;
use crate::sys::fake::{Fake, Rec};
use crate::sys::{Before, Effect, MountEntry, Node, Sys, SysError, Undo};

fn rp(s: &str) -> RootPath {
    RootPath::new(s).unwrap()
}

fn step(id: &str, action: Action) -> Step {
    Step {
        id: StepId::new(id),
        explicit_id: true,
        host_loc: None,
        loc: Loc::default(),
        id_loc: None,
        after: Vec::new(),
        note: None,
        action,
    }
}

fn mount(target: &str, fs: FsKind, flags: MsFlags, create: Create) -> Action {
    Action::Mount(Mount {
        source: match &fs {
            FsKind::Bind { source, .. } => source.to_string(),
            f => f.fstype().to_string(),
        },
        fs,
        target: rp(target),
        target_loc: Loc::default(),
        flags,
        data: None,
        create,
    })
}

/// A plan using every kind of step, on a bound root (so host changes are journaled).
fn plan(root: Root, fallback: Option<PivotStrategy>) -> Plan {
    let steps = vec![
        step(
            "proc",
            mount("/proc", FsKind::Proc, MsFlags::MS_NOSUID, Create::Dir),
        ),
        step(
            "usr",
            mount(
                "/usr",
                FsKind::Bind {
                    source: HostPath::new("/usr").unwrap(),
                    recursive: true,
                },
                MsFlags::MS_RDONLY | MsFlags::MS_REC,
                Create::Dir,
            ),
        ),
        step(
            "etc",
            Action::Mkdir(Mkdir {
                path: rp("/etc/app/conf"),
                path_loc: Loc::default(),
                mode: Mode::from_bits(0o700),
                parents: true,
            }),
        ),
        step(
            "null",
            Action::Mknod(Mknod {
                path: rp("/etc/null"),
                path_loc: Loc::default(),
                spec: NodeSpec::Given {
                    node: NodeType::Char,
                    major: 1,
                    minor: 3,
                },
                mode: Mode::from_bits(0o666),
                uid: Some(0),
                gid: None,
            }),
        ),
        step(
            "link",
            Action::Symlink(Symlink {
                path: rp("/etc/fd"),
                path_loc: Loc::default(),
                to: "/proc/self/fd".into(),
            }),
        ),
        step(
            "mode",
            Action::Chmod(Chmod {
                path: rp("/etc/app"),
                path_loc: Loc::default(),
                mode: Mode::from_bits(0o750),
                uid: None,
                gid: None,
            }),
        ),
        step(
            "ro",
            Action::Remount(Remount {
                target: rp("/usr"),
                target_loc: Loc::default(),
                flags: MsFlags::MS_RDONLY | MsFlags::MS_REC,
            }),
        ),
        step(
            "mask",
            Action::Mask(Mask {
                path: rp("/proc/kcore"),
                path_loc: Loc::default(),
            }),
        ),
        step(
            "pivot",
            Action::Pivot(Pivot {
                strategy: PivotStrategy::PivotRoot,
                fallback,
                put_old: rp("/.pivot_root"),
            }),
        ),
    ];
    Plan {
        name: "test".into(),
        description: None,
        root,
        namespaces: Namespaces::default(),
        process: Default::default(),
        vars: Default::default(),
        includes: Vec::new(),
        root_loc: None,
        steps,
    }
}

fn dag(p: Plan) -> Dag {
    Dag {
        plan: p,
        edges: Vec::new(),
        warnings: Vec::new(),
        tree: FinalTree::default(),
    }
}

fn bound() -> Root {
    Root::Path(HostPath::new("/srv/root").unwrap())
}

fn no_verify() -> Options {
    Options {
        verify: false,
        userns: false,
    }
}

/// The calls the dry run shows: setup, then every step's calls.
fn dry_run(p: &Plan) -> Vec<Call> {
    let mut v = calls::setup(p).calls;
    for sc in calls::expand(p) {
        v.extend(sc.calls);
    }
    v
}

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
fn the_calls_made_are_the_dry_run_in_order() {
    for root in [bound(), Root::Tmpfs(TmpfsOptions::default())] {
        let d = dag(plan(root, None));
        let mut fake = Fake::new().with("/proc/kcore", Node::File);
        let o = run(
            &d,
            &mut fake,
            &mut Events::default(),
            no_verify(),
            &mut |_| {},
        );
        assert!(o.succeeded(), "{:?}", o.failure);
        let made: Vec<Call> = fake.calls().into_iter().cloned().collect();
        assert_eq!(made, dry_run(&d.plan));
        assert!(fake.undos().is_empty());
        assert!(o.steps.iter().all(|s| s.status == Status::Ok));
    }
}

#[test]
fn a_failure_at_each_call_undoes_exactly_what_was_changed_in_reverse() {
    let d = dag(plan(bound(), None));
    let total = dry_run(&d.plan).len();
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
    let d = dag(plan(bound(), None));
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
    let d = dag(plan(Root::Tmpfs(TmpfsOptions::default()), None));
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
    let overlay = FsKind::Overlay(OverlayOptions {
        lower: vec![HostPath::new("/srv/l").unwrap()],
        upper: Some(HostPath::new("/srv/u").unwrap()),
        work: Some(HostPath::new("/srv/w").unwrap()),
    });
    let mkdir = |p: &str| {
        Action::Mkdir(Mkdir {
            path: rp(p),
            path_loc: Loc::default(),
            mode: Mode::from_bits(0o755),
            parents: false,
        })
    };
    let tmpfs = FsKind::Tmpfs(TmpfsOptions::default());
    let mut p = plan(bound(), None);
    p.steps = vec![
        step("ovl", mount("/app", overlay, MsFlags::empty(), Create::Dir)),
        step("made", mkdir("/app/etc/made")),
        step(
            "tmp",
            mount("/app/etc/made", tmpfs, MsFlags::empty(), Create::None),
        ),
        step("after", mkdir("/data")),
    ];
    let d = dag(p);
    let total = dry_run(&d.plan).len();
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
    let overlay = FsKind::Overlay(OverlayOptions {
        lower: vec![HostPath::new("/srv/l").unwrap()],
        upper: Some(HostPath::new("/srv/u").unwrap()),
        work: Some(HostPath::new("/srv/w").unwrap()),
    });
    let mut p = plan(bound(), None);
    p.steps = vec![
        step("ovl", mount("/app", overlay, MsFlags::empty(), Create::Dir)),
        step(
            "pivot",
            Action::Pivot(Pivot {
                strategy: PivotStrategy::PutOld,
                fallback: Some(PivotStrategy::Chroot),
                put_old: rp("/app/old"),
            }),
        ),
    ];
    let d = dag(p);
    // Setup, then the overlay's mkdir and mount, then the pivot: mkdir put_old, chdir,
    // pivot_root (which fails).
    let at = calls::setup(&d.plan).calls.len() + 2 + 2;
    assert!(matches!(dry_run(&d.plan)[at], Call::PivotRoot { .. }));
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
    assert_eq!(undone, ["/srv/u/old: rmdir(\"<root>/app/old\")"]);
}

#[test]
fn only_calls_with_a_host_place_are_journaled() {
    let p = plan(bound(), None);
    for sc in calls::expand(&p) {
        for c in &sc.calls {
            assert_eq!(c.host_place().is_some(), c.changes_a_file(), "{c}");
        }
    }
}

#[test]
fn a_failing_pivot_undoes_its_own_calls_and_runs_the_fallback() {
    let d = dag(plan(bound(), Some(PivotStrategy::Chroot)));
    let before_pivot: usize = {
        let mut v = calls::setup(&d.plan).calls.len();
        for sc in calls::expand(&d.plan).iter().take(d.plan.steps.len() - 1) {
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
            "chdir(\"<root>\")",
            "chroot(\".\")",
            "chdir(\"/\")"
        ]
    );
    assert!(o.rolled_back.is_empty());
    // Without a fallback the same failure fails the apply and rolls everything back.
    let d = dag(plan(bound(), None));
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

#[test]
fn existing_things_are_left_alone_and_not_undone() {
    let d = dag(plan(bound(), None));
    let mut fake = Fake::new().with("/proc", Node::Dir).with("/etc", Node::Dir);
    fake.fail_at = Some((dry_run(&d.plan).len() - 1, Errno::EIO));
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
    let d = dag(plan(bound(), None));
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

fn tm(mp: &str, fstype: &str, flags: MsFlags, step: Option<usize>, recursive: bool) -> TreeMount {
    TreeMount {
        mountpoint: rp(mp),
        fstype: fstype.into(),
        source: fstype.into(),
        flags,
        data: None,
        step,
        recursive,
    }
}

fn me(mp: &str, fstype: &str, flags: MsFlags) -> MountEntry {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(100);
    MountEntry {
        id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        parent: 1,
        mountpoint: mp.into(),
        fstype: fstype.into(),
        flags,
    }
}

#[test]
fn verify_finds_missing_extra_and_different_mounts() {
    let mut d = dag(plan(Root::Tmpfs(TmpfsOptions::default()), None));
    let ns = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    d.tree.mounts = vec![
        tm("/", "tmpfs", ns, None, false),
        tm("/proc", "proc", MsFlags::MS_NOSUID, Some(0), false),
        tm("/usr", "bind", MsFlags::MS_RDONLY, Some(1), true),
    ];
    let good = vec![
        me("/", "tmpfs", ns | MsFlags::MS_RELATIME),
        me("/proc", "proc", MsFlags::MS_NOSUID),
        me("/usr", "ext4", MsFlags::MS_RDONLY),
        me("/usr/local", "ext4", MsFlags::empty()),
        me("/proc/kcore", "devtmpfs", MsFlags::empty()),
    ];
    let v = verify::compare(&d, &good, &[], false);
    assert!(v.ok, "{:?}", v.mismatches);
    assert_eq!(v.checked, 3);

    let mut bad = good.clone();
    bad[1] = me("/proc", "proc", MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
    bad[2] = me("/usr", "ext4", MsFlags::empty());
    bad.push(me("/tmp", "tmpfs", MsFlags::empty()));
    let v = verify::compare(&d, &bad, &[], false);
    let mps: Vec<&str> = v.mismatches.iter().map(|m| m.mountpoint.as_str()).collect();
    assert_eq!(mps, ["/proc", "/usr", "/tmp"]);
    assert_eq!(v.mismatches[2].predicted, None);
    assert_eq!(
        v.mismatches[0].actual.as_deref(),
        Some("proc rw,nosuid,noexec")
    );

    let missing = vec![good[0].clone(), good[2].clone()];
    let v = verify::compare(&d, &missing, &[], false);
    assert_eq!(v.mismatches.len(), 1);
    assert_eq!(v.mismatches[0].actual, None);

    // In a user namespace, flags the kernel kept (locked) are accepted.
    let v = verify::compare(&d, &bad[..3], &[], true);
    assert_eq!(v.mismatches.len(), 1, "{:?}", v.mismatches);
}

#[test]
fn verify_accepts_what_a_bound_root_brought_along() {
    let mut d = dag(plan(bound(), None));
    d.tree.mounts = vec![tm("/", "bind", MsFlags::empty(), None, false)];
    let inherited = vec![
        me("/", "ext4", MsFlags::empty()),
        me("/", "ext4", MsFlags::empty()),
        me("/data", "xfs", MsFlags::empty()),
    ];
    let mut actual = inherited.clone();
    let v = verify::compare(&d, &actual, &inherited, false);
    assert!(v.ok, "{:?}", v.mismatches);
    actual.push(me("/new", "tmpfs", MsFlags::empty()));
    let v = verify::compare(&d, &actual, &inherited, false);
    assert_eq!(v.mismatches.len(), 1);
    assert_eq!(v.mismatches[0].mountpoint, "/new");
}

#[test]
fn a_verify_difference_fails_and_rolls_back() {
    let mut d = dag(plan(Root::Tmpfs(TmpfsOptions::default()), None));
    d.tree.mounts = vec![tm("/proc", "proc", MsFlags::MS_NOSUID, Some(0), false)];
    let mut fake = Fake::new();
    fake.mount_table = vec![me("/proc", "sysfs", MsFlags::MS_NOSUID)];
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

#[test]
fn every_plan_in_plans_makes_exactly_its_dry_run_calls() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    let sets = vec![("ROOTFS".to_string(), "/srv/rootfs".to_string())];
    for p in names {
        let mut read = |p: &std::path::Path| std::fs::read_to_string(p);
        let mut c = crate::check(&p, &sets, &mut read);
        if c.dag.is_none() {
            // Plans without ${ROOTFS} may refuse an unknown --set variable.
            c = crate::check(&p, &[], &mut read);
        }
        let errors: Vec<&str> = c
            .diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.as_str())
            .collect();
        assert!(
            errors.is_empty(),
            "{} is not valid: {errors:?}",
            p.display()
        );
        let d = c.dag.expect("a valid plan has a DAG");
        let mut fake = Fake::new();
        let o = run(
            &d,
            &mut fake,
            &mut Events::default(),
            no_verify(),
            &mut |_| {},
        );
        assert!(o.succeeded(), "{}: {:?}", p.display(), o.failure);
        let made: Vec<Call> = fake.calls().into_iter().cloned().collect();
        assert_eq!(made, dry_run(&d.plan), "{}", p.display());
    }
}

/// A rootless apply maps only uid and gid 0 and cannot setgroups: a `[process]` asking for
/// more is refused before anything starts, at the key, with the fix; as root it is fine.
#[test]
fn rootless_refuses_a_command_uid_gid_or_groups_other_than_root_s() {
    let text = "version = 1\n[root]\ntmpfs = {}\n[process]\nuid = 1000\ngid = 5\ngroups = [7]\n";
    let t = text.to_string();
    let c = crate::check(std::path::Path::new("t.toml"), &[], &mut |_| Ok(t.clone()));
    let dag = c.dag.expect("valid");
    let d = super::preflight(&dag, true, false);
    let got: Vec<(&str, String)> = d
        .iter()
        .map(|d| {
            let l = d.loc.expect("a place");
            (d.code, text[l.span.start..l.span.end].to_string())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("mountplan::apply::rootless-ids", "1000".to_string()),
            ("mountplan::apply::rootless-ids", "5".to_string()),
            ("mountplan::apply::rootless-ids", "7".to_string()),
        ]
    );
    assert!(d[0].help.as_deref().unwrap().contains("user = false"));
    assert!(super::preflight(&dag, false, false).is_empty());
}
