//! The journal format: undo records <-> the lines of a journal file.
//!
//! Takes undo records with their host place; returns their lines (the intent, done and undone
//! records, each sealed with its checksum, and the header). Takes a journal file's text;
//! returns its [`Entry`]s ([`parse`]), torn or damaged lines reported, version 1 still read.
//!
//! ## Format (version 2)
//!
//! ```text
//! mountplan-journal 2 <key> ~<crc>
//! I <seq> <base> /<rel> <op> ~<crc>     intent, written and synced before the change
//! D <seq> <op> ~<crc>                   done: the op with the inode's dev and ino
//! U <seq> ~<crc>                        undone by rollback (or the call failed)
//! ```
//!
//! `<op>` is `rm <dir|file|fifo|char|block|symlink|copy> <rdev|target|size:mtime:nsec|-> <dev|-> <ino|->`,
//! `chmod <dev> <ino> <mode>` or `chown <dev> <ino> <uid> <gid> <mode>`, then the directory the
//! file is in: `<pdev|-> <pino|->` its identity, `</planned|->` the file's path below the base
//! as the plan names it when that is not `<rel>`, and `<type:hex|->` the directory's file
//! handle. Undo and recovery act only in that very directory: found by its handle wherever it
//! is (or known gone), else at either path and checked. `<rel>` is where the change really is
//! below `<base>` (symlinks resolved, as the kernel named it).
//! Version 1 (no directory identity, no mode for chown) is still read. Tokens are percent-encoded
//! (only `[A-Za-z0-9/._+,:@=]` stand for themselves), so a token never holds a space, a
//! newline or `~`. `<crc>` is the FNV-1a 32 of the text before ` ~`, in hex. A last line
//! without its newline or with a wrong crc is a torn write and is ignored; a damaged line
//! before the last stops the reading there (the records after it are reported, not used).

use std::fmt::Write as _;

use crate::lowering::{At, HostPlace, MountId};
use crate::model::{HostPath, RootPath};
use crate::sys::{FileId, Handle, Node, Parent, Undo};

/// The version of the format this code writes.
const VERSION: u32 = 2;

/// FNV-1a, 32 bits.
fn fnv32(b: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for x in b {
        h ^= u32::from(*x);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn enc(s: &str, out: &mut String) {
    if s.is_empty() {
        out.push_str("%00");
        return;
    }
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/._+,:@=".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn dec(t: &str) -> Option<String> {
    if t == "%00" {
        return Some(String::new());
    }
    let b = t.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = t.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn enc_op(u: &Undo, out: &mut String) -> bool {
    match u {
        Undo::Remove { node, id, .. } => {
            out.push_str("rm ");
            out.push_str(node.word());
            out.push(' ');
            match node {
                Node::Char(r) | Node::Block(r) => out.push_str(&r.to_string()),
                Node::Symlink(t) => enc(t, out),
                Node::Copy { size, mtime, nsec } => {
                    let _ = write!(out, "{size}:{mtime}:{nsec}");
                }
                _ => out.push('-'),
            }
            let _ = write!(
                out,
                " {} {}",
                opt(id.map(|i| i.dev)),
                opt(id.map(|i| i.ino))
            );
        }
        Undo::Chmod { id, mode, .. } => {
            let _ = write!(out, "chmod {} {} {:o}", id.dev, id.ino, mode);
        }
        Undo::Chown {
            id, uid, gid, mode, ..
        } => {
            let _ = write!(
                out,
                "chown {} {} {} {} {:o}",
                id.dev, id.ino, uid, gid, mode
            );
        }
        // Mounts live in the namespace: never journaled.
        Undo::Umount { .. } | Undo::Setattr { .. } => return false,
    }
    let parent = match u {
        Undo::Remove { parent, .. } | Undo::Chmod { parent, .. } | Undo::Chown { parent, .. } => {
            parent.clone()
        }
        _ => None,
    };
    let _ = write!(
        out,
        " {} {} ",
        opt(parent.as_ref().map(|p| p.id.dev)),
        opt(parent.as_ref().map(|p| p.id.ino))
    );
    match parent.as_ref().and_then(|p| p.planned.as_deref()) {
        Some(r) => {
            out.push('/');
            if !r.is_empty() {
                enc(r, out);
            }
        }
        None => out.push('-'),
    }
    match parent.as_ref().and_then(|p| p.handle.as_ref()) {
        Some(h) => {
            let _ = write!(out, " {}:", h.kind);
            for b in &h.bytes {
                let _ = write!(out, "{b:02x}");
            }
        }
        None => out.push_str(" -"),
    }
    true
}

fn num(t: Option<&&str>) -> Option<u64> {
    t?.parse().ok()
}

fn optnum(t: Option<&&str>) -> Option<Option<u64>> {
    match *t? {
        "-" => Some(None),
        s => s.parse().ok().map(Some),
    }
}

/// The directory at `t[i..]`: its identity and the path as planned (version 2), or none
/// (version 1).
fn parent_at(t: &[&str], i: usize, v: u32) -> Option<Option<Parent>> {
    if v < 2 {
        return (t.len() == i).then_some(None);
    }
    if t.len() != i + 4 {
        return None;
    }
    let handle = match *t.get(i + 3)? {
        "-" => None,
        h => {
            let (kind, hex) = h.split_once(':')?;
            if hex.len() % 2 != 0 || hex.len() > 256 {
                return None;
            }
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|k| u8::from_str_radix(hex.get(k..k + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            Some(Handle {
                kind: kind.parse().ok()?,
                bytes,
            })
        }
    };
    let planned = match *t.get(i + 2)? {
        "-" => None,
        "/" => Some(String::new()),
        p => Some(dec(p.strip_prefix('/')?)?),
    };
    if planned
        .as_deref()
        .is_some_and(|p| p.split('/').any(|c| c == ".." || c == "."))
    {
        return None;
    }
    Some(match (optnum(t.get(i))?, optnum(t.get(i + 1))?) {
        (Some(dev), Some(ino)) => Some(Parent {
            id: FileId { dev, ino },
            planned,
            handle,
        }),
        _ => None,
    })
}

fn dec_op(path: RootPath, rel: &str, t: &[&str], v: u32) -> Option<Undo> {
    let at = At {
        path,
        on: MountId::ROOT,
        rel: rel.to_string(),
    };
    match *t.first()? {
        "rm" => {
            let node = match *t.get(1)? {
                "dir" => Node::Dir,
                "file" => Node::File,
                "fifo" => Node::Fifo,
                "char" => Node::Char(num(t.get(2))?),
                "block" => Node::Block(num(t.get(2))?),
                "symlink" => Node::Symlink(dec(t.get(2)?)?),
                "copy" => {
                    let mut v = t.get(2)?.split(':');
                    let node = Node::Copy {
                        size: v.next()?.parse().ok()?,
                        mtime: v.next()?.parse().ok()?,
                        nsec: v.next()?.parse().ok()?,
                    };
                    if v.next().is_some() {
                        return None;
                    }
                    node
                }
                _ => return None,
            };
            let dev = optnum(t.get(3))?;
            let ino = optnum(t.get(4))?;
            let id = match (dev, ino) {
                (Some(dev), Some(ino)) => Some(FileId { dev, ino }),
                _ => None,
            };
            Some(Undo::Remove {
                at,
                node,
                id,
                parent: parent_at(t, 5, v)?,
            })
        }
        "chmod" => Some(Undo::Chmod {
            at,
            id: FileId {
                dev: num(t.get(1))?,
                ino: num(t.get(2))?,
            },
            mode: u32::from_str_radix(t.get(3)?, 8).ok()?,
            parent: parent_at(t, 4, v)?,
        }),
        "chown" => {
            let (mode, p) = if v < 2 {
                (0, 5)
            } else {
                (u32::from_str_radix(t.get(5)?, 8).ok()?, 6)
            };
            Some(Undo::Chown {
                at,
                id: FileId {
                    dev: num(t.get(1))?,
                    ino: num(t.get(2))?,
                },
                uid: u32::try_from(num(t.get(3))?).ok()?,
                gid: u32::try_from(num(t.get(4))?).ok()?,
                mode,
                parent: parent_at(t, p, v)?,
            })
        }
        _ => None,
    }
}

/// The intent record of change `seq` (`None` for a change that is never journaled). The path
/// below the base is written after a `/`: `/` alone is the base itself.
pub(super) fn intent_line(seq: u64, place: &HostPlace, u: &Undo) -> Option<String> {
    let mut s = format!("I {seq} ");
    enc(place.base.as_str(), &mut s);
    s.push_str(" /");
    if !place.rel.is_empty() {
        enc(&place.rel, &mut s);
    }
    s.push(' ');
    enc_op(u, &mut s).then(|| seal(s))
}

/// The done record of change `seq` (`None` for a change that is never journaled).
pub(super) fn done_line(seq: u64, u: &Undo) -> Option<String> {
    let mut s = format!("D {seq} ");
    enc_op(u, &mut s).then(|| seal(s))
}

/// The header line of a journal for the plan whose key is `key`.
pub(super) fn header_line(key: &str) -> String {
    seal(format!("mountplan-journal {VERSION} {key}"))
}

/// The undone record of change `seq`.
pub(super) fn undone_line(seq: u64) -> String {
    seal(format!("U {seq}"))
}

/// `content` with its checksum and the newline: a complete line.
pub(super) fn seal(mut content: String) -> String {
    let c = fnv32(content.as_bytes());
    let _ = writeln!(content, " ~{c:08x}");
    content
}

/// One change found in a journal, ready to undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The sequence number.
    pub seq: u64,
    /// Where on the host the change was made.
    pub place: HostPlace,
    /// The undo (from the done record when there is one, else the intent).
    pub undo: Undo,
    /// Whether the change was recorded as done.
    pub done: bool,
    /// Whether it was recorded as undone.
    pub undone: bool,
}

/// A parsed journal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// The key in the header.
    pub key: String,
    /// The changes, in the order they were made.
    pub entries: Vec<Entry>,
    /// Problems met while reading (a damaged line before the last).
    pub warnings: Vec<String>,
}

/// Parses a journal's text.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..i],
        // The header is written and synced before the first record, so a journal without a
        // complete header line was cut short before any change: there is nothing to undo.
        None => {
            out.warnings
                .push("the journal was cut short before its header: nothing had changed".into());
            return Ok(out);
        }
    };
    let lines: Vec<&str> = complete.split('\n').collect();
    let mut version = VERSION;
    for (n, line) in lines.iter().enumerate() {
        let ok = line
            .rsplit_once(" ~")
            .filter(|(c, crc)| u32::from_str_radix(crc, 16).ok() == Some(fnv32(c.as_bytes())));
        let Some((content, _)) = ok else {
            if n == 0 {
                return Err("the journal's header line is damaged".into());
            }
            if n + 1 < lines.len() {
                out.warnings.push(format!(
                    "line {} is damaged: it and the {} line(s) after it were ignored",
                    n + 1,
                    lines.len() - n - 1
                ));
            }
            break;
        };
        let t: Vec<&str> = content.split(' ').collect();
        if n == 0 {
            if t.first() != Some(&"mountplan-journal") {
                return Err("not a mountplan journal".into());
            }
            version = match t.get(1) {
                Some(&"1") => 1,
                Some(&"2") => 2,
                v => {
                    return Err(format!(
                        "journal format version {} is not known to this mountplan (it knows 1 \
                         and 2)",
                        v.unwrap_or(&"?")
                    ));
                }
            };
            out.key = t.get(2).map(|s| s.to_string()).unwrap_or_default();
            continue;
        }
        let bad = || format!("line {} is not a journal record", n + 1);
        let seq: u64 = t.get(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        match t[0] {
            "I" => {
                let base = t.get(2).and_then(|s| dec(s)).ok_or_else(bad)?;
                let base = HostPath::new(&base).map_err(|_| bad())?;
                // Earlier versions wrote the base itself as `/%00`.
                let rel = match t.get(3) {
                    Some(&"/%00") => "/".to_string(),
                    r => r.and_then(|s| dec(s)).ok_or_else(bad)?,
                };
                let rel = rel.strip_prefix('/').ok_or_else(bad)?.to_string();
                let path = RootPath::new(&format!("/{rel}")).map_err(|_| bad())?;
                if rel.split('/').any(|c| c == ".." || c == ".") {
                    return Err(bad());
                }
                let undo = dec_op(path, &rel, &t[4..], version).ok_or_else(bad)?;
                out.entries.push(Entry {
                    seq,
                    place: HostPlace {
                        base,
                        rel,
                        overlay: None,
                    },
                    undo,
                    done: false,
                    undone: false,
                });
            }
            "D" => {
                let e = out
                    .entries
                    .iter_mut()
                    .rev()
                    .find(|e| e.seq == seq)
                    .ok_or_else(bad)?;
                e.undo = dec_op(e.undo.path().clone(), &e.place.rel, &t[2..], version)
                    .ok_or_else(bad)?;
                e.done = true;
            }
            "U" => {
                if let Some(e) = out.entries.iter_mut().rev().find(|e| e.seq == seq) {
                    e.undone = true;
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}
