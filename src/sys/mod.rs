//! The syscall layer: one narrow trait between the executor and the kernel.
//!
//! Takes the [`Call`]s of [`crate::lowering`] one at a time; returns an [`Effect`] saying what
//! changed, so `exec` can keep an [`Undo`] record, and runs those records back on rollback.
//! [`linux::Linux`] is the real implementation (and the only code that makes the calls of a
//! step); [`fake::Fake`] records every call and undo for unit tests of ordering and rollback.
//!
//! Before a call changes anything that an undo record would reverse, it tells the caller
//! through `before` (with the undo record as far as it is known), so `exec` can write a
//! journal entry and sync it before the change happens.

pub mod fake;
pub mod linux;
pub mod procs;

pub use procs::Procs;

use std::fmt;

/// The errno of a failed call (nix's, which every `SysError` carries).
pub use nix::errno::Errno;

use crate::lowering::{At, Call, HostPlace, MountId};
use crate::model::{MsFlags, RootPath};

/// The identity of an inode: (st_dev, st_ino).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
}

/// The directory a changed file is in, as a record of the change knows it: its identity, and
/// where the plan names the file below the same base when that is not where the kernel named
/// it (a symlink, or a directory renamed at that instant): an undo looks in either place, and
/// acts only in a directory with that identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    /// (st_dev, st_ino) of the directory.
    pub id: FileId,
    /// The file's path below the base as the plan names it, when it differs.
    pub planned: Option<String>,
    /// The directory's file handle (`name_to_handle_at`), when the filesystem gives one: it
    /// finds the directory again wherever it was renamed, or tells that it no longer exists.
    pub handle: Option<Handle>,
}

/// A file handle, as `name_to_handle_at` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// `handle_type`.
    pub kind: i32,
    /// `f_handle`.
    pub bytes: Vec<u8>,
}

/// What a created inode is, so rollback and recovery remove only what they made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory (removed only when empty).
    Dir,
    /// A regular file (an empty mountpoint).
    File,
    /// A character device with this st_rdev.
    Char(u64),
    /// A block device with this st_rdev.
    Block(u64),
    /// A FIFO.
    Fifo,
    /// A symlink with this target.
    Symlink(String),
    /// A regular file an overlay copies up into its upper layer: it keeps the size and the
    /// modification time of the file in the lower layer, which identify it until its inode
    /// number is journaled. Never made by mountplan itself.
    Copy {
        /// st_size.
        size: u64,
        /// st_mtime, seconds.
        mtime: i64,
        /// st_mtime, nanoseconds.
        nsec: i64,
    },
}

impl Node {
    /// A short word for messages and the journal.
    pub fn word(&self) -> &'static str {
        match self {
            Node::Dir => "dir",
            Node::File => "file",
            Node::Char(_) => "char",
            Node::Block(_) => "block",
            Node::Fifo => "fifo",
            Node::Symlink(_) => "symlink",
            Node::Copy { .. } => "copy",
        }
    }
}

/// How to reverse one change. Paths are inside the new root, placed on the mount they are
/// on ([`At`]): they are resolved below that mount's held descriptor, which stays valid after
/// a pivot. In the records of changes to a persistent filesystem, `at.rel` is where the change
/// really is (symlinks resolved), and `parent` the identity of the directory it is in: an undo
/// acts only when it finds that very directory there, and otherwise leaves the record (it
/// cannot prove the file it would touch is the one the apply changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// A mount the plan made: detach it, through its descriptor (and forget the descriptor).
    Umount {
        /// Where it was attached.
        path: RootPath,
        /// Which.
        mount: MountId,
    },
    /// An inode was created: remove it if it is still the same inode (`id`; `None` only in the
    /// intent written before the creation, and on a filesystem of this namespace only) and the
    /// same kind of node.
    Remove {
        /// Where.
        at: At,
        /// What was created.
        node: Node,
        /// Its identity once created.
        id: Option<FileId>,
        /// The directory it was made in (`None`: on a filesystem of this namespace only, or in
        /// a journal of an earlier version).
        parent: Option<Parent>,
    },
    /// A mode was changed: put `mode` back if the inode is still `id`.
    Chmod {
        /// Where.
        at: At,
        /// The inode changed.
        id: FileId,
        /// The permission bits before.
        mode: u32,
        /// The directory it is in.
        parent: Option<Parent>,
    },
    /// An owner was changed: put `uid`/`gid` back if the inode is still `id`, then the set-id
    /// bits of `mode` the chown cleared.
    Chown {
        /// Where.
        at: At,
        /// The inode changed.
        id: FileId,
        /// The owner before.
        uid: u32,
        /// The group before.
        gid: u32,
        /// The permission bits before.
        mode: u32,
        /// The directory it is in.
        parent: Option<Parent>,
    },
    /// `mount_setattr` changed a mount's flags: set and clear what puts them back.
    Setattr {
        /// The mountpoint.
        at: At,
        /// `AT_RECURSIVE`.
        recursive: bool,
        /// The MS_* flags to set.
        set: MsFlags,
        /// The MS_* flags to clear.
        clear: MsFlags,
    },
}

impl Undo {
    /// The undo of a change of one mount's flags: back to `old`'s permission and atime flags
    /// (a remount, or a `mount_setattr` without `AT_RECURSIVE`).
    pub fn restore_flags(at: At, old: MsFlags) -> Undo {
        use crate::lowering::{ATIME, PERM};
        let restore = old & (PERM | ATIME);
        Undo::Setattr {
            at,
            recursive: false,
            set: restore,
            clear: PERM - restore,
        }
    }

    /// The path the record works on.
    pub fn path(&self) -> &RootPath {
        match self {
            Undo::Umount { path, .. } => path,
            Undo::Remove { at, .. }
            | Undo::Chmod { at, .. }
            | Undo::Chown { at, .. }
            | Undo::Setattr { at, .. } => &at.path,
        }
    }
}

impl fmt::Display for Undo {
    /// What the undo does, as a call on the path in the new root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.call_on(&crate::quote::quoted_in_root(self.path())))
    }
}

impl Undo {
    /// The undo as a call, its path written as `p` (quoted already).
    pub(crate) fn call_on(&self, p: &str) -> String {
        match self {
            Undo::Umount { .. } => format!("umount2({p}, MNT_DETACH)"),
            Undo::Remove { node, .. } => match node {
                Node::Dir => format!("rmdir({p})"),
                n => format!("unlink({p}) ({})", n.word()),
            },
            Undo::Chmod { mode, .. } => format!("chmod({p}, 0{mode:o})"),
            Undo::Chown { uid, gid, mode, .. } => {
                let mut s = format!("lchown({p}, {uid}, {gid})");
                if mode & 0o6000 != 0 {
                    s.push_str(&format!("; chmod({p}, 0{mode:o})"));
                }
                s
            }
            Undo::Setattr {
                recursive,
                set,
                clear,
                ..
            } => crate::lowering::setattr_text(p, *recursive, *set, *clear),
        }
    }

    /// The undo as a call on the host directory `place` names, where it is done in a layer
    /// (and where recovery does it): `rmdir("/srv/upper/etc")` for `rmdir("<root>/app/etc")`.
    pub fn on_host(&self, place: &HostPlace) -> String {
        self.call_on(&crate::quote::quote(&place.on_host()))
    }
}

/// A change the kernel makes on the host by itself when a call is made: what an overlay copies
/// up into its upper layer before it changes a file there (each directory above the file that
/// is only in a lower layer, and for chmod and chown the file itself), and the `work`
/// directory it makes in its work directory when it is mounted. Found by [`Sys::sides`] before
/// the call, journaled like the call's own change, and undone in that host directory after the
/// overlay is unmounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// Where on the host; its `overlay` is the overlay it belongs to.
    pub place: HostPlace,
    /// Its removal, without an identity yet. The path is the one in the root (for the work
    /// directory's `work`, which has none, the overlay's mountpoint).
    pub undo: Undo,
}

/// What a call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: what the call makes was already there (an existing directory, a missing path
    /// to mask).
    Unchanged,
    /// It changed the new namespace or this process only (propagation, a pivot, a chdir, the
    /// root mount): gone with the namespace, nothing for rollback to do.
    Local,
    /// It changed something that rollback reverses with this record.
    Changed(Undo),
    /// It changed a file on an overlay that the call itself copied up into the upper layer:
    /// removing the copy (one of the call's [`Side`]s) undoes it, so there is no record of its
    /// own.
    CopiedUp,
}

/// A failed system call: the call with its arguments and the errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysError {
    /// The call as the dry run prints it (`mount("proc", "<root>/proc", "proc", ...)`), or the
    /// undo record's call.
    pub call: String,
    /// The errno.
    pub errno: Errno,
    /// Why, when the error is a refusal by mountplan rather than the kernel (a symlink where a
    /// real directory is required, a device with the wrong number, ...).
    pub why: Option<String>,
    /// The error is about a host path the plan names (a bind's source, an overlay's lower
    /// layer, a node's `from_host`, the root directory): the report points at that key.
    pub on_host: bool,
}

impl SysError {
    /// An error from the kernel.
    pub fn new(call: impl fmt::Display, errno: Errno) -> Self {
        SysError {
            call: call.to_string(),
            errno,
            why: None,
            on_host: false,
        }
    }
    /// A refusal, with the errno it is reported as.
    pub fn refused(call: impl fmt::Display, errno: Errno, why: impl Into<String>) -> Self {
        SysError {
            call: call.to_string(),
            errno,
            why: Some(why.into()),
            on_host: false,
        }
    }
    /// A host path the plan names, `what` (`the bind's source`), could not be opened: the
    /// refusal says why in words and how to fix it, and points at that path's key.
    pub fn host_path(call: impl fmt::Display, errno: Errno, what: &str, path: &str) -> Self {
        let why = match errno {
            Errno::ENOENT => {
                format!("{what} `{path}` does not exist on the host: create it, or fix the path")
            }
            Errno::ENOTDIR => format!(
                "{what} `{path}` cannot be opened: a component of it is not a directory, or \
                 it is not one where a directory is needed: fix the path"
            ),
            Errno::EACCES | Errno::EPERM => format!(
                "{what} `{path}` cannot be opened: permission denied (rootless, mountplan \
                 can open only what the caller can)"
            ),
            Errno::ELOOP => {
                format!("{what} `{path}` cannot be opened: it goes through too many symlinks")
            }
            e => format!("{what} `{path}` cannot be opened: {}", errno_words(e)),
        };
        SysError {
            on_host: true,
            ..SysError::refused(call, errno, why)
        }
    }
}

/// `EPERM (Operation not permitted)`.
pub fn errno_words(e: Errno) -> String {
    format!("{e:?} ({})", e.desc())
}

/// An I/O error in the same words: `EMFILE (Too many open files)` whatever the C library's
/// own text for it (musl's and glibc's differ); other errors as they display.
pub fn io_words(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_words(Errno::from_raw(n)),
        None => e.to_string(),
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} => {}", self.call, errno_words(self.errno))?;
        if let Some(w) = &self.why {
            write!(f, ": {w}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SysError {}

/// One line of /proc/self/mountinfo, as much as verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The mount id (mountinfo's field 1), which a mount keeps while it exists.
    pub id: u64,
    /// The parent mount's id (field 2).
    pub parent: u64,
    /// The mountpoint, relative to the new root (`/` is the root itself).
    pub mountpoint: String,
    /// The filesystem type.
    pub fstype: String,
    /// The per-mount flags: MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOATIME, ...
    pub flags: MsFlags,
    /// The filesystem's options as the kernel shows them (after the source): `rw,size=64k`.
    pub options: String,
    /// Its propagation (mountinfo's optional fields).
    pub propagation: crate::model::Propagated,
}

/// Where the journal's lines go (the file `<state-dir>/journal/<key>.journal`).
pub trait JournalStore {
    /// Appends `line` and syncs it before returning; the first call creates the file with
    /// `head` first and syncs the directory, so the name is on disk before any change it
    /// describes.
    fn append(&mut self, head: &str, line: &str) -> Result<(), String>;
    /// Removes the file (the apply succeeded or was fully rolled back).
    fn remove(&mut self) -> Result<(), String>;
}

/// Told before a change is made, with the undo record as far as it is known then.
pub type Before<'a> = dyn FnMut(&Undo) -> Result<(), SysError> + 'a;

/// The system calls a plan needs.
pub trait Sys {
    /// Makes one call. `before` is called right before the change an undo record reverses
    /// (and not at all when the call finds what it would make already there); when it fails,
    /// the change is not made.
    fn call(&mut self, c: &Call, before: &mut Before<'_>) -> Result<Effect, SysError>;
    /// Reverses one change.
    fn undo(&mut self, u: &Undo) -> Result<(), SysError>;
    /// What the kernel will make on the host by itself when `c` is made (see [`Side`]), looked
    /// up right before it. Nothing, for a layer without overlays.
    fn sides(&mut self, c: &Call) -> Result<Vec<Side>, SysError> {
        let _ = c;
        Ok(Vec::new())
    }
    /// After the call (made or failed): the identity of what side `s` made, or `None` when
    /// the kernel did not make it.
    fn side_made(&mut self, s: &Side) -> Option<FileId> {
        let _ = s;
        None
    }
    /// Reverses one change in the host directory `place` names (an overlay's upper layer or
    /// work directory, held open since the overlay was mounted), not through the root: it is
    /// done after that overlay is unmounted.
    fn undo_at(&mut self, place: &HostPlace, u: &Undo) -> Result<(), SysError> {
        let _ = place;
        self.undo(u)
    }
    /// The mounts at or below the new root, mountpoints relative to it, in mount table order.
    fn mounts(&mut self) -> Result<Vec<MountEntry>, SysError>;
    /// The mount id of each of the plan's mounts, by number (`None`: not made, or unmounted).
    fn made(&self) -> Vec<Option<u64>> {
        Vec::new()
    }
    /// What the bound root brought along, right after it was bound: [`Sys::mounts`], or
    /// nothing when the layer knows the bind brought no mount (an empty list then means the
    /// same to verification as the bind's own entry alone).
    fn inherited(&mut self) -> Result<Vec<MountEntry>, SysError> {
        self.mounts()
    }
}
