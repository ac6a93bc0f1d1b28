//! A kill at each journal point, of the child or the parent while it hangs: recover (or the parent)
//! undoes what the journal records.

use super::*;

#[test]
fn a_kill_at_each_journal_point_is_recovered_by_the_parent() {
    let Some(_serial) = privileged("a_kill_at_each_journal_point_is_recovered_by_the_parent")
    else {
        return;
    };
    if !debug_hooks("a_kill_at_each_journal_point_is_recovered_by_the_parent") {
        return;
    }
    let d = disk("kill-each");
    let host = host_mounts();
    let before = d.manifest();
    let mut k = 0;
    loop {
        let o = d.run().env("MOUNTPLAN_TEST_KILL_AT", k).run();
        if o.status == 0 {
            // Past the last point: the apply succeeded. 9 changes, 2 points each.
            assert_eq!(k, 18, "journal points: {}", o.stderr);
            break;
        }
        assert_eq!(o.status, 125, "point {k}: {}", o.stderr);
        assert!(
            o.stderr.contains("ended before it reported"),
            "point {k}: {}",
            o.stderr
        );
        assert!(o.stderr.contains("recovered the journal"), "{}", o.stderr);
        assert_same(&format!("kill at point {k}"), &before, &d.manifest());
        assert_eq!(host, host_mounts(), "kill at point {k}");
        assert!(journals(&d.s.state()).is_empty(), "point {k}: journal left");
        k += 1;
    }
}

#[test]
fn a_killed_parent_leaves_a_journal_that_recover_undoes() {
    let Some(_serial) = privileged("a_killed_parent_leaves_a_journal_that_recover_undoes") else {
        return;
    };
    if !debug_hooks("a_killed_parent_leaves_a_journal_that_recover_undoes") {
        return;
    }
    let d = disk("hang");
    let host = host_mounts();
    let before = d.manifest();
    // Every journal point of the disk plan (9 changes, 2 points each).
    for point in 0..18 {
        kill_parent_while_hanging(&d, point);
        assert_eq!(journals(&d.s.state()).len(), 1, "point {point}: no journal");
        if point > 0 {
            assert_ne!(before, d.manifest(), "point {point}: nothing was changed");
        }
        let o = Run {
            args: vec![
                "recover".into(),
                "--state-dir".into(),
                d.s.state().display().to_string(),
            ],
            ..Run::default()
        }
        .run();
        assert_eq!(o.status, 0, "recover after point {point}: {}", o.stderr);
        assert_same(
            &format!("recover after point {point}"),
            &before,
            &d.manifest(),
        );
        assert!(journals(&d.s.state()).is_empty());
        assert_eq!(host, host_mounts());
    }
    // The next apply also recovers by itself: leave a journal, then apply normally.
    kill_parent_while_hanging(&d, 9);
    let o = d.run().run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(o.stderr.contains("recovered the journal"), "{}", o.stderr);
}
