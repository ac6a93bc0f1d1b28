//! The order of what the executor does: the setup then every step's calls, intents before
//! changes and done records after, and only calls with a host place journaled.

use super::*;

const TMPFS: &str = "tmpfs = {}";

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

fn texts(calls: &[&Call]) -> Vec<String> {
    calls.iter().map(|c| c.to_string()).collect()
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
