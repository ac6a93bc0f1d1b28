//! The pivot and its fallback: when the fallback is taken, what a failing pivot undoes, and the
//! put-old removed from an overlay it leaves mounted.

use super::*;

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
