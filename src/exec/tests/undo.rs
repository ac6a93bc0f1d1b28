//! Rollback: a failure at each call undoes exactly what was changed, in reverse (also on an
//! overlay's upper layer); what existed is left alone; an incomplete rollback is reported.

use super::*;

fn rp(s: &str) -> RootPath {
    RootPath::new(s).unwrap()
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
