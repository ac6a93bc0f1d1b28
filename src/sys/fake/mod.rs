//! A recording fake of [`Sys`] for unit tests: no kernel, just a log ([`FakeProcs`] is the
//! same for [`super::Procs`]).
//!
//! Takes calls and undo records; returns plausible effects from a minimal model of the files
//! in the root (what exists, with made-up inode numbers) and records everything in
//! [`Fake::log`]. It can be told to fail the Nth call with an errno, so tests can check that
//! rollback replays exactly the undo records of what was really changed, in reverse.

mod procs;

pub use procs::FakeProcs;

use std::collections::{BTreeMap, BTreeSet};

use nix::errno::Errno;

use super::{Before, Effect, FileId, MountEntry, Node, Side, Sys, SysError, Undo};
use crate::lowering::{At, AttrOn, Call, Dev, HostPlace, MountId, Target};
use crate::model::{MsFlags, NodeType, RootPath};

/// One thing the fake was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rec {
    /// A call, in the order made (also recorded when it fails).
    Call(Call),
    /// The `before` notice of a call, with the undo record as known then.
    Before(Undo),
    /// An undo record replayed.
    Undo(Undo),
    /// An undo record replayed in a layer, with the host path it works on.
    UndoAt(String, Undo),
}

/// The recording fake.
#[derive(Debug, Default)]
pub struct Fake {
    /// Everything asked, in order.
    pub log: Vec<Rec>,
    /// Fail call number `n` (counting from 0 over every call) with this errno.
    pub fail_at: Option<(usize, Errno)>,
    /// Fail every undo with this errno (to test incomplete rollback).
    pub fail_undo: Option<Errno>,
    /// What exists in the root, with its identity.
    pub files: BTreeMap<RootPath, (Node, FileId)>,
    /// What [`Sys::mounts`] returns.
    pub mount_table: Vec<MountEntry>,
    /// What [`Sys::made`] returns.
    pub made: Vec<Option<u64>>,
    /// Directories below an overlay (relative to it) that are only in a lower layer: a change
    /// below one copies it up (a [`Side`] of that call).
    pub lower_only: BTreeSet<String>,
    calls: usize,
    next_ino: u64,
}

impl Fake {
    /// A fake whose root holds nothing.
    pub fn new() -> Self {
        Fake {
            next_ino: 100,
            ..Fake::default()
        }
    }
    /// Says that `path` exists as `node`.
    pub fn with(mut self, path: &str, node: Node) -> Self {
        let id = self.fresh();
        if let Ok(p) = RootPath::new(path) {
            self.files.insert(p, (node, id));
        }
        self
    }
    /// The calls made, in order.
    pub fn calls(&self) -> Vec<&Call> {
        self.log
            .iter()
            .filter_map(|r| match r {
                Rec::Call(c) => Some(c),
                _ => None,
            })
            .collect()
    }
    /// The undo records replayed, in order.
    pub fn undos(&self) -> Vec<&Undo> {
        self.log
            .iter()
            .filter_map(|r| match r {
                Rec::Undo(u) => Some(u),
                _ => None,
            })
            .collect()
    }
    fn fresh(&mut self) -> FileId {
        self.next_ino += 1;
        FileId {
            dev: 1,
            ino: self.next_ino,
        }
    }
    fn note(&mut self, before: &mut Before<'_>, u: &Undo) -> Result<(), SysError> {
        self.log.push(Rec::Before(u.clone()));
        before(u)
    }
    fn create(&mut self, at: &At, node: Node, before: &mut Before<'_>) -> Result<Effect, SysError> {
        let intent = Undo::Remove {
            at: at.clone(),
            node: node.clone(),
            id: None,
            parent: None,
        };
        self.note(before, &intent)?;
        let id = self.fresh();
        self.files.insert(at.path.clone(), (node.clone(), id));
        Ok(Effect::Changed(Undo::Remove {
            at: at.clone(),
            node,
            id: Some(id),
            parent: None,
        }))
    }
    /// Creates `node` at `at` unless the same node is there (a different one: EEXIST).
    fn make(
        &mut self,
        c: &Call,
        at: &At,
        node: Node,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        match self.files.get(&at.path) {
            Some((have, _)) if *have == node => Ok(Effect::Unchanged),
            Some(_) => Err(SysError::new(c, Errno::EEXIST)),
            None => self.create(at, node, before),
        }
    }
}

fn rdev(d: &Dev) -> u64 {
    match d {
        Dev::Num(a, b) => nix::sys::stat::makedev(u64::from(*a), u64::from(*b)),
        Dev::FromHost(_) => nix::sys::stat::makedev(1, 3),
    }
}

impl Sys for Fake {
    fn call(&mut self, c: &Call, before: &mut Before<'_>) -> Result<Effect, SysError> {
        let n = self.calls;
        self.calls += 1;
        self.log.push(Rec::Call(c.clone()));
        if let Some((at, e)) = self.fail_at {
            if at == n {
                return Err(SysError::new(c, e));
            }
        }
        if let Some((mount, at)) = c.mounts_in_root() {
            let u = Undo::Umount {
                path: at.path.clone(),
                mount,
            };
            self.note(before, &u)?;
            return Ok(Effect::Changed(u));
        }
        match c {
            Call::Mkdir { at, if_missing, .. } => match self.files.get(&at.path) {
                Some((Node::Dir, _)) if *if_missing => Ok(Effect::Unchanged),
                Some(_) => Err(SysError::new(c, Errno::EEXIST)),
                None => self.create(at, Node::Dir, before),
            },
            Call::CreateFile { at, .. } => {
                if self.files.contains_key(&at.path) {
                    Ok(Effect::Unchanged)
                } else {
                    self.create(at, Node::File, before)
                }
            }
            Call::Mknod { at, node, dev, .. } => {
                let n = match node {
                    NodeType::Char => Node::Char(rdev(dev)),
                    NodeType::Block => Node::Block(rdev(dev)),
                    NodeType::Fifo => Node::Fifo,
                };
                self.make(c, at, n, before)
            }
            Call::Symlink { to, at, .. } => self.make(c, at, Node::Symlink(to.clone()), before),
            Call::MakePutOld { at, .. } => {
                let named = At {
                    path: RootPath::new(&format!("{}XXXXXX", at.path.as_str()))
                        .unwrap_or_else(|_| at.path.clone()),
                    on: at.on,
                    rel: format!("{}XXXXXX", at.rel),
                };
                self.make(c, &named, Node::Dir, before)
            }
            Call::Chmod { at, .. } => {
                let Some((_, id)) = self.files.get(&at.path).cloned() else {
                    return Err(SysError::new(c, Errno::ENOENT));
                };
                let u = Undo::Chmod {
                    at: at.clone(),
                    id,
                    mode: 0o755,
                    parent: None,
                };
                self.note(before, &u)?;
                Ok(Effect::Changed(u))
            }
            Call::Chown { at, .. } => {
                let Some((_, id)) = self.files.get(&at.path).cloned() else {
                    return Err(SysError::new(c, Errno::ENOENT));
                };
                let u = Undo::Chown {
                    at: at.clone(),
                    id,
                    uid: 0,
                    gid: 0,
                    mode: 0o755,
                    parent: None,
                };
                self.note(before, &u)?;
                Ok(Effect::Changed(u))
            }
            Call::Remount {
                on: AttrOn::Path(Target::InRoot(at)),
                flags,
            } => {
                let u = Undo::Setattr {
                    at: at.clone(),
                    recursive: false,
                    set: MsFlags::empty(),
                    clear: *flags,
                };
                self.note(before, &u)?;
                Ok(Effect::Changed(u))
            }
            Call::SetAttr {
                on: AttrOn::Path(Target::InRoot(at)),
                recursive,
                set,
                ..
            } => {
                let u = Undo::Setattr {
                    at: at.clone(),
                    recursive: *recursive,
                    set: MsFlags::empty(),
                    clear: *set,
                };
                self.note(before, &u)?;
                Ok(Effect::Changed(u))
            }
            Call::Mask { at, mount }
            | Call::MaskClassic { at, mount }
            | Call::Readonly { at, mount } => {
                if self.files.contains_key(&at.path) {
                    let u = Undo::Umount {
                        path: at.path.clone(),
                        mount: *mount,
                    };
                    self.note(before, &u)?;
                    Ok(Effect::Changed(u))
                } else {
                    Ok(Effect::Unchanged)
                }
            }
            _ => Ok(Effect::Local),
        }
    }

    fn undo(&mut self, u: &Undo) -> Result<(), SysError> {
        self.log.push(Rec::Undo(u.clone()));
        if let Some(e) = self.fail_undo {
            return Err(SysError::new(u, e));
        }
        if let Undo::Remove { at, id, .. } = u {
            if self.files.get(&at.path).map(|(_, i)| Some(*i)) == Some(*id) {
                self.files.remove(&at.path);
            }
        }
        Ok(())
    }

    fn mounts(&mut self) -> Result<Vec<MountEntry>, SysError> {
        Ok(self.mount_table.clone())
    }

    fn made(&self) -> Vec<Option<u64>> {
        self.made.clone()
    }

    fn sides(&mut self, c: &Call) -> Result<Vec<Side>, SysError> {
        let Some(place) = c.host_place().filter(|p| p.overlay.is_some()) else {
            return Ok(Vec::new());
        };
        let (Some(mp), rel) = (&place.overlay, place.rel.as_str()) else {
            return Ok(Vec::new());
        };
        let above = rel.match_indices('/').map(|(i, _)| &rel[..i]);
        Ok(above
            .filter(|d| self.lower_only.contains(*d))
            .filter_map(|d| {
                Some(Side {
                    place: HostPlace {
                        base: place.base.clone(),
                        rel: d.to_string(),
                        overlay: Some(mp.clone()),
                    },
                    undo: Undo::Remove {
                        at: At {
                            path: RootPath::new(&format!("{}/{d}", mp.as_str())).ok()?,
                            on: MountId::ROOT,
                            rel: d.to_string(),
                        },
                        node: Node::Dir,
                        id: None,
                        parent: None,
                    },
                })
            })
            .collect())
    }

    fn side_made(&mut self, s: &Side) -> Option<FileId> {
        self.lower_only.remove(&s.place.rel).then(|| self.fresh())
    }

    fn undo_at(&mut self, place: &HostPlace, u: &Undo) -> Result<(), SysError> {
        self.log.push(Rec::UndoAt(place.on_host(), u.clone()));
        if let Some(e) = self.fail_undo {
            return Err(SysError::new(u, e));
        }
        Ok(())
    }
}
