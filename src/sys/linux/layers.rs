//! An overlay's host directories: what the kernel writes there by itself, and undoing there.
//!
//! Takes an overlay mount call (its typed layers), or a change below an overlay
//! (a [`Call`] whose [`HostPlace`] names the overlay); returns the [`Side`]s the kernel will
//! make on the host for it: the `work` (and `index`) directories an overlay mount makes in its
//! work directory, and what a change in the overlay copies up into the upper layer (every
//! directory above the file that is only in a lower layer, and for chmod and chown the file
//! itself). The upper and work directories are opened when the overlay is mounted (before
//! any pivot, as every host path of a plan) and held, so the changes there can be found,
//! identified and undone after the overlay is unmounted, even after a pivot.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::SFlag;

use super::files::{self, Reversed, kind};
use super::host;
use crate::lowering::{At, Call, HostPlace, MountId};
use crate::model::{HostPath, OverlayOptions, RootPath};
use crate::sys::{FileId, Node, Side, SysError, Undo};

/// What an overlay mount makes in its work directory when missing (`index` only with
/// `index=on`).
const WORK_DIRS: [&str; 2] = ["work", "index"];

/// The host directories of the overlays mounted so far.
#[derive(Debug, Default)]
pub struct Layers {
    dirs: Vec<(HostPath, OwnedFd)>,
}

/// The first lower layer that is missing or not a directory on the host, when the kernel
/// refused the overlay for a missing path.
pub fn missing_lower(o: &OverlayOptions) -> Option<&HostPath> {
    o.lower
        .iter()
        .find(|l| !nix::sys::stat::stat(l.as_str()).is_ok_and(|st| kind(&st) == SFlag::S_IFDIR))
}

/// The node at `rel` below `dir`, when it is one a [`Node`] can describe.
fn node_at(dir: BorrowedFd<'_>, rel: &str) -> Option<Node> {
    let (d, name) = files::parent(dir, rel).ok()?;
    let st = files::lstat_at(d.as_fd(), name).ok()?;
    Some(match kind(&st) {
        SFlag::S_IFDIR => Node::Dir,
        SFlag::S_IFREG => Node::Copy {
            size: u64::try_from(st.st_size).ok()?,
            mtime: st.st_mtime,
            nsec: st.st_mtime_nsec,
        },
        SFlag::S_IFIFO => Node::Fifo,
        SFlag::S_IFCHR => Node::Char(st.st_rdev),
        SFlag::S_IFBLK => Node::Block(st.st_rdev),
        SFlag::S_IFLNK => Node::Symlink(
            nix::fcntl::readlinkat(d.as_fd(), name)
                .ok()?
                .into_string()
                .ok()?,
        ),
        _ => return None,
    })
}

/// Whether `rel` exists below `dir` (an error other than "missing" counts as existing, so no
/// side is recorded for it).
fn exists(dir: BorrowedFd<'_>, rel: &str) -> bool {
    match files::parent(dir, rel) {
        Ok((d, name)) => !matches!(files::lstat_at(d.as_fd(), name), Err(Errno::ENOENT)),
        Err(e) => e != Errno::ENOENT,
    }
}

impl Layers {
    /// The held directory `base` names (the newest, if an overlay reused it).
    pub fn get(&self, base: &HostPath) -> Option<BorrowedFd<'_>> {
        self.dirs
            .iter()
            .rev()
            .find(|(p, _)| p == base)
            .map(|(_, fd)| fd.as_fd())
    }

    /// Before the overlay `o` is made (by `c`): opens and holds its upper and work
    /// directories; returns the directories the mount will make in the work directory (undone
    /// after the overlay is gone: they are recorded after the call, above its own records).
    pub fn mounting(&mut self, c: &Call, o: &OverlayOptions) -> Result<Vec<Side>, SysError> {
        let mut out = Vec::new();
        for (what, dir) in [("upper", &o.upper), ("work", &o.work)] {
            let Some(base) = dir.clone() else {
                continue;
            };
            let dir = base.as_str();
            let fd = host::open_path(Path::new(dir), true).map_err(|e| {
                SysError::refused(
                    c,
                    e.errno,
                    format!(
                        "the overlay's {what} directory `{dir}` cannot be opened ({}): it must \
                         be an existing directory on the host",
                        crate::sys::errno_words(e.errno)
                    ),
                )
            })?;
            if what == "work" {
                for name in WORK_DIRS {
                    if !exists(fd.as_fd(), name) {
                        let path =
                            RootPath::new(&format!("/{name}")).unwrap_or_else(|_| RootPath::root());
                        out.push(Side {
                            place: HostPlace {
                                base: base.clone(),
                                rel: name.to_string(),
                                overlay: None,
                            },
                            undo: Undo::Remove {
                                at: At {
                                    path,
                                    on: MountId::ROOT,
                                    rel: name.to_string(),
                                },
                                node: Node::Dir,
                                id: None,
                                parent: None,
                            },
                        });
                    }
                }
            }
            self.dirs.push((base, fd));
        }
        Ok(out)
    }

    /// Why the kernel refused (EINVAL) the overlay `o`, as far as can be told from the
    /// directories held for it; else where to find overlayfs's own reason.
    pub fn why_refused(&self, o: &OverlayOptions, log: Option<&str>) -> String {
        let dir = |p: Option<&HostPath>| {
            let p = p?;
            let fd = self.get(p)?;
            Some((p.as_str().to_string(), files::statx_id(fd).ok()?.1))
        };
        if let (Some((u, Some(um))), Some((w, Some(wm)))) =
            (dir(o.upper.as_ref()), dir(o.work.as_ref()))
        {
            if um != wm {
                return format!(
                    "the upper directory `{u}` and the work directory `{w}` are on different \
                     mounts; overlayfs needs both on the same one: put `work` beside `upper`"
                );
            }
            let inside = |a: &str, b: &str| a.starts_with(&format!("{}/", b.trim_end_matches('/')));
            if inside(&u, &w) || inside(&w, &u) {
                return format!(
                    "one of the upper directory `{u}` and the work directory `{w}` is inside the \
                     other; overlayfs needs two separate directories on the same filesystem"
                );
            }
        }
        match log {
            Some(l) => format!("overlayfs refused these options: {l}"),
            None => "overlayfs refused these options; the kernel log (`dmesg`) gives its reason \
                     (a lower layer missing or not a directory, an upper layer on a filesystem \
                     without the xattrs or d_type overlayfs needs, or a layer already used by \
                     another overlay)"
                .into(),
        }
    }

    /// Before `c` changes a file below an overlay (`place`): what the kernel will copy up
    /// into the upper layer for it. `base` and `below` resolve the file in the overlay, for its
    /// kind.
    pub fn copy_ups(
        &self,
        base: BorrowedFd<'_>,
        below: &str,
        c: &Call,
        place: &HostPlace,
    ) -> Vec<Side> {
        let mut out = Vec::new();
        let (Some(upper), Some(mountpoint)) = (self.get(&place.base), place.overlay.as_ref())
        else {
            return out;
        };
        let rel = place.rel.as_str();
        let itself = matches!(c, Call::Chmod { .. } | Call::Chown { .. });
        // Every directory above the file, top down, then the file itself for chmod/chown.
        let ends = rel
            .char_indices()
            .filter(|&(_, ch)| ch == '/')
            .map(|(i, _)| i)
            .chain((itself && !rel.is_empty()).then_some(rel.len()));
        let mut missing = false;
        for end in ends {
            let sub = &rel[..end];
            // Below a missing directory everything is missing.
            missing = missing || !exists(upper, sub);
            if !missing {
                continue;
            }
            let Ok(path) = RootPath::new(&format!(
                "{}/{sub}",
                mountpoint.as_str().trim_end_matches('/')
            )) else {
                continue;
            };
            let node = if end == rel.len() {
                match node_at(base, below) {
                    Some(n) => n,
                    None => continue,
                }
            } else {
                Node::Dir
            };
            out.push(Side {
                place: HostPlace {
                    base: place.base.clone(),
                    rel: sub.to_string(),
                    overlay: Some(mountpoint.clone()),
                },
                undo: Undo::Remove {
                    at: At {
                        path,
                        on: MountId::ROOT,
                        rel: sub.to_string(),
                    },
                    node,
                    id: None,
                    parent: None,
                },
            });
        }
        out
    }

    /// After the call: the identity of what side `s` made, when the kernel made it.
    pub fn made(&self, s: &Side) -> Option<FileId> {
        let dir = self.get(&s.place.base)?;
        let Undo::Remove { node, .. } = &s.undo else {
            return None;
        };
        let (d, name) = files::parent(dir, &s.place.rel).ok()?;
        let st = files::lstat_at(d.as_fd(), name).ok()?;
        files::matches(d.as_fd(), name, &st, node).then(|| files::id_of(&st))
    }

    /// The identity of `place` in its held directory (`None`: not there).
    pub fn id_of(&self, place: &HostPlace) -> Result<Option<FileId>, Errno> {
        let dir = self.get(&place.base).ok_or(Errno::EBADF)?;
        if place.rel.is_empty() {
            // The overlay's root: the upper directory itself.
            return Ok(Some(files::id_of(&nix::sys::stat::fstat(dir)?)));
        }
        let (d, name) = match files::parent(dir, &place.rel) {
            Ok(x) => x,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        };
        match files::lstat_at(d.as_fd(), name) {
            Ok(st) => Ok(Some(files::id_of(&st))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reverses `u` at `place` in its held directory.
    pub fn undo(
        &self,
        proc: BorrowedFd<'_>,
        place: &HostPlace,
        u: &Undo,
    ) -> Result<Reversed, Errno> {
        let dir = self.get(&place.base).ok_or(Errno::EBADF)?;
        host::undo_in(dir, proc, &place.rel, u)
    }
}
