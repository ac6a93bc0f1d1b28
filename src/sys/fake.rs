//! A recording fake of [`Sys`] for unit tests: no kernel, just a log.
//!
//! Takes calls and undo records; returns plausible effects from a minimal model of the files
//! in the root (what exists, with made-up inode numbers) and records everything in
//! [`Fake::log`]. It can be told to fail the Nth call with an errno, so tests can check that
//! rollback replays exactly the undo records of what was really changed, in reverse.

use std::collections::{BTreeMap, BTreeSet};

use nix::errno::Errno;

use super::{Before, Effect, FileId, MountEntry, Node, Side, Sys, SysError, Undo};
use crate::calls::{Call, Dev, HostPlace, Target};
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
    fn create(
        &mut self,
        path: &RootPath,
        node: Node,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let intent = Undo::Remove {
            path: path.clone(),
            node: node.clone(),
            id: None,
        };
        self.note(before, &intent)?;
        let id = self.fresh();
        self.files.insert(path.clone(), (node.clone(), id));
        Ok(Effect::Changed(Undo::Remove {
            path: path.clone(),
            node,
            id: Some(id),
        }))
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
        match c {
            Call::Mkdir {
                path, if_missing, ..
            } => match self.files.get(path) {
                Some((Node::Dir, _)) if *if_missing => Ok(Effect::Unchanged),
                Some(_) => Err(SysError::new(c, Errno::EEXIST)),
                None => self.create(path, Node::Dir, before),
            },
            Call::CreateFile { path, .. } => {
                if self.files.contains_key(path) {
                    Ok(Effect::Unchanged)
                } else {
                    self.create(path, Node::File, before)
                }
            }
            Call::Mknod {
                path, node, dev, ..
            } => {
                let n = match node {
                    NodeType::Char => Node::Char(rdev(dev)),
                    NodeType::Block => Node::Block(rdev(dev)),
                    NodeType::Fifo => Node::Fifo,
                };
                match self.files.get(path) {
                    Some((have, _)) if *have == n => Ok(Effect::Unchanged),
                    Some(_) => Err(SysError::new(c, Errno::EEXIST)),
                    None => self.create(path, n, before),
                }
            }
            Call::Symlink { to, path, .. } => {
                let n = Node::Symlink(to.clone());
                match self.files.get(path) {
                    Some((have, _)) if *have == n => Ok(Effect::Unchanged),
                    Some(_) => Err(SysError::new(c, Errno::EEXIST)),
                    None => self.create(path, n, before),
                }
            }
            Call::Chmod { path, .. } => {
                let Some((_, id)) = self.files.get(path).cloned() else {
                    return Err(SysError::new(c, Errno::ENOENT));
                };
                let u = Undo::Chmod {
                    path: path.clone(),
                    id,
                    mode: 0o755,
                };
                self.note(before, &u)?;
                Ok(Effect::Changed(u))
            }
            Call::Chown { path, .. } => {
                let Some((_, id)) = self.files.get(path).cloned() else {
                    return Err(SysError::new(c, Errno::ENOENT));
                };
                let u = Undo::Chown {
                    path: path.clone(),
                    id,
                    uid: 0,
                    gid: 0,
                };
                self.note(before, &u)?;
                Ok(Effect::Changed(u))
            }
            Call::Mount { target, flags, .. } => match target {
                Target::InRoot(p) if flags.contains(MsFlags::MS_REMOUNT) => {
                    let u = Undo::Remount {
                        path: p.clone(),
                        flags: MsFlags::empty(),
                    };
                    self.note(before, &u)?;
                    Ok(Effect::Changed(u))
                }
                Target::InRoot(p)
                    if !flags.intersects(
                        MsFlags::MS_PRIVATE
                            | MsFlags::MS_SLAVE
                            | MsFlags::MS_SHARED
                            | MsFlags::MS_UNBINDABLE,
                    ) =>
                {
                    let u = Undo::Umount(p.clone());
                    self.note(before, &u)?;
                    Ok(Effect::Changed(u))
                }
                _ => Ok(Effect::Local),
            },
            Call::SetattrRec {
                target: Target::InRoot(p),
                set,
            } => {
                let u = Undo::Unsetattr {
                    path: p.clone(),
                    clear: *set,
                };
                self.note(before, &u)?;
                Ok(Effect::Changed(u))
            }
            Call::Mask(p) | Call::Readonly(p) => {
                if self.files.contains_key(p) {
                    let u = Undo::Umount(p.clone());
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
        if let Undo::Remove { path, id, .. } = u {
            if self.files.get(path).map(|(_, i)| Some(*i)) == Some(*id) {
                self.files.remove(path);
            }
        }
        Ok(())
    }

    fn mounts(&mut self) -> Result<Vec<MountEntry>, SysError> {
        Ok(self.mount_table.clone())
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
                        path: RootPath::new(&format!("{}/{d}", mp.as_str())).ok()?,
                        node: Node::Dir,
                        id: None,
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
