//! Unit tests of the journal format: records written and read back, older versions, torn and
//! damaged lines, the journal's name.

use super::format::*;
use super::*;
use crate::lowering::{At, MountId};
use crate::model::{HostPath, RootPath};
use crate::sys::{FileId, Handle, Node, Parent};

fn at(p: &str) -> At {
    let path = RootPath::new(p).unwrap();
    At {
        rel: path.relative().to_string(),
        path,
        on: MountId::ROOT,
    }
}

fn place(rel: &str) -> HostPlace {
    HostPlace {
        base: HostPath::new("/srv/my root").unwrap(),
        rel: rel.into(),
        overlay: None,
    }
}

/// The journal's lines, in memory.
struct Mem(String);
impl Log for Mem {
    fn intent(&mut self, seq: u64, p: &HostPlace, u: &Undo) -> Result<(), String> {
        self.0.push_str(&intent_line(seq, p, u).unwrap());
        Ok(())
    }
    fn done(&mut self, seq: u64, u: &Undo) -> Result<(), String> {
        self.0.push_str(&done_line(seq, u).unwrap());
        Ok(())
    }
    fn undone(&mut self, seq: u64) -> Result<(), String> {
        self.0.push_str(&seal(format!("U {seq}")));
        Ok(())
    }
}

fn sample() -> String {
    let mut m = Mem(seal("mountplan-journal 2 root-00".into()));
    let intent = Undo::Remove {
        at: at("/dev/my node"),
        node: Node::Symlink("../a b~%".into()),
        id: None,
        parent: Some(Parent {
            id: FileId { dev: 7, ino: 1 },
            planned: Some("dev/my  node".into()),
            handle: Some(Handle {
                kind: 1,
                bytes: vec![0, 0xab, 7],
            }),
        }),
    };
    m.intent(0, &place("dev/my node"), &intent).unwrap();
    let done = Undo::Remove {
        at: at("/dev/my node"),
        node: Node::Symlink("../a b~%".into()),
        id: Some(FileId { dev: 7, ino: 9 }),
        parent: Some(Parent {
            id: FileId { dev: 7, ino: 1 },
            planned: Some("dev/my  node".into()),
            handle: Some(Handle {
                kind: 1,
                bytes: vec![0, 0xab, 7],
            }),
        }),
    };
    m.done(0, &done).unwrap();
    let ch = Undo::Chmod {
        at: at("/etc"),
        id: FileId { dev: 7, ino: 2 },
        mode: 0o1755,
        parent: Some(Parent {
            id: FileId { dev: 7, ino: 1 },
            planned: Some("dev/my  node".into()),
            handle: Some(Handle {
                kind: 1,
                bytes: vec![0, 0xab, 7],
            }),
        }),
    };
    m.intent(1, &place("etc"), &ch).unwrap();
    m.done(1, &ch).unwrap();
    m.undone(1).unwrap();
    m.0
}

#[test]
fn records_round_trip() {
    let p = parse(&sample()).unwrap();
    assert_eq!(p.key, "root-00");
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.entries[0].place.rel, "dev/my node");
    assert_eq!(p.entries[0].place.base.as_str(), "/srv/my root");
    assert!(p.entries[0].done && !p.entries[0].undone);
    assert_eq!(
        p.entries[0].undo,
        Undo::Remove {
            at: at("/dev/my node"),
            node: Node::Symlink("../a b~%".into()),
            id: Some(FileId { dev: 7, ino: 9 }),
            parent: Some(Parent {
                id: FileId { dev: 7, ino: 1 },
                planned: Some("dev/my  node".into()),
                handle: Some(Handle {
                    kind: 1,
                    bytes: vec![0, 0xab, 7],
                }),
            }),
        }
    );
    assert!(p.entries[1].undone);
    assert!(p.warnings.is_empty());
}

/// A change to the base directory itself (a chmod of a bind's or an overlay's root): its
/// path below the base is empty, written as `/` alone. It was written `/%00`, which read
/// back as a NUL byte: recover refused the whole journal.
#[test]
fn a_change_to_the_base_itself_round_trips() {
    let mut m = Mem(seal("mountplan-journal 2 root-00".into()));
    let ch = Undo::Chmod {
        at: at("/"),
        id: FileId { dev: 7, ino: 2 },
        mode: 0o755,
        parent: None,
    };
    m.intent(3, &place(""), &ch).unwrap();
    assert!(m.0.contains("I 3 /srv/my%20root / chmod"), "{}", m.0);
    // A journal an earlier version left, with `/%00`, reads the same.
    let old = intent_line(3, &place(""), &ch)
        .unwrap()
        .replace(" / ", " /%00 ");
    let old = format!(
        "{}{}",
        seal("mountplan-journal 2 root-00".into()),
        seal(old.split(" ~").next().unwrap().to_string())
    );
    for text in [&m.0, &old] {
        let p = parse(text).unwrap();
        assert_eq!(p.entries.len(), 1, "{text}");
        assert_eq!(p.entries[0].place, place(""));
        assert_eq!(p.entries[0].undo, ch);
    }
}

/// A file an overlay copies up is journaled with the size and modification time it keeps
/// from the lower layer (all recovery has before its inode number is known).
#[test]
fn a_copied_up_file_round_trips_with_its_size_and_time() {
    let mut m = Mem(seal("mountplan-journal 2 root-00".into()));
    let node = Node::Copy {
        size: 12,
        mtime: 1_700_000_000,
        nsec: 123_456_789,
    };
    let u = Undo::Remove {
        at: at("/etc/conf"),
        node: node.clone(),
        id: None,
        parent: None,
    };
    m.intent(0, &place("etc/conf"), &u).unwrap();
    assert!(
        m.0.contains(" rm copy 12:1700000000:123456789 - - - - - - "),
        "{}",
        m.0
    );
    let p = parse(&m.0).unwrap();
    assert_eq!(p.entries[0].undo, u);
    let bad = seal("I 0 /srv/my%20root /etc/conf rm copy 12:1:2:3 - - - - - -".into());
    let text = format!("{}{bad}", seal("mountplan-journal 2 root-00".into()));
    assert!(
        parse(&text).is_err(),
        "a fourth number is not a copy's stamp"
    );
}

/// A journal of the first version (no directory identity, no mode in a chown) still reads:
/// its records are undone as before.
#[test]
fn a_version_1_journal_still_reads() {
    let mut t = seal("mountplan-journal 1 root-00".into());
    t.push_str(&seal("I 0 /srv/root /etc/app rm dir - - -".into()));
    t.push_str(&seal("D 0 rm dir - 7 9".into()));
    t.push_str(&seal("I 1 /srv/root /etc/null chown 7 10 5 6".into()));
    let p = parse(&t).unwrap();
    assert_eq!(p.entries.len(), 2);
    assert_eq!(
        p.entries[0].undo,
        Undo::Remove {
            at: at("/etc/app"),
            node: Node::Dir,
            id: Some(FileId { dev: 7, ino: 9 }),
            parent: None,
        }
    );
    assert_eq!(
        p.entries[1].undo,
        Undo::Chown {
            at: at("/etc/null"),
            id: FileId { dev: 7, ino: 10 },
            uid: 5,
            gid: 6,
            mode: 0,
            parent: None,
        }
    );
    // A version 2 record in a version 1 journal (more fields than the version has) is not
    // read as one.
    let mut bad = seal("mountplan-journal 1 root-00".into());
    bad.push_str(&seal("I 0 /srv/root /etc/app rm dir - - - - - - -".into()));
    assert!(parse(&bad).is_err());
}

#[test]
fn a_torn_last_line_is_ignored() {
    let s = sample();
    // Cut inside the last line: no newline at the end.
    let torn = &s[..s.len() - 4];
    let p = parse(torn).unwrap();
    assert!(!p.entries[1].undone, "the torn `U 1` must not count");
    assert!(p.warnings.is_empty());
    // A complete last line with a wrong checksum (garbage after a crash) is also ignored.
    let mut bad = s.clone();
    bad.push_str("U 0 ~00000000\n");
    let p = parse(&bad).unwrap();
    assert!(!p.entries[0].undone);
}

#[test]
fn a_damaged_middle_line_stops_reading_with_a_warning() {
    let s = sample().replacen("I 1", "I 9", 1);
    let p = parse(&s).unwrap();
    assert_eq!(p.entries.len(), 1);
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("line 4"), "{:?}", p.warnings);
}

#[test]
fn unknown_versions_and_paths_with_dotdot_are_refused() {
    assert!(
        parse(&seal("mountplan-journal 3 k".into()))
            .unwrap_err()
            .contains("version 3")
    );
    let mut s = seal("mountplan-journal 1 k".into());
    s.push_str(&seal("I 0 /srv /a/../b rm dir - - -".into()));
    assert!(parse(&s).is_err());
}

#[test]
fn keys_differ_by_root() {
    let a = fnv64(b"/srv/a");
    let b = fnv64(b"/srv/b");
    assert_ne!(a, b);
}

/// Regression: an apply killed while writing the header left a journal that `recover`
/// refused forever. Nothing can have changed before the header is synced.
#[test]
fn journal_killed_mid_header_recovers_as_empty() {
    for text in ["", "mountplan-jour", "mountplan-journal 1 key ~"] {
        let p = parse(text).expect("a torn header is an empty journal");
        assert!(p.entries.is_empty());
        assert_eq!(p.warnings.len(), 1);
    }
}
