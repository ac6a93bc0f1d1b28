//! The real [`Sys`]: the only code that makes a plan's system calls.
//!
//! Takes the [`Call`]s of a plan in order, inside the new mount namespace; returns what each
//! changed. Every mount the plan makes is made with the new mount API (`fsmount`,
//! `open_tree`), held by its descriptor from that moment (`below::Held`) and attached with
//! `move_mount`; every path inside the new root is resolved below the descriptor of the mount
//! the dry run puts it on (`below`), never into another mount. Creation happens on the
//! resolved parent descriptor with the final name. What only `mount(2)` and `umount2(2)` can
//! do (propagation, `MS_MOVE`, detaching) takes a descriptor as `self/fd/N` of the **host**
//! `/proc` opened before the namespace was made: the working directory is set to that
//! `/proc` (`fchdir`), so the relative name keeps working after a pivot, when `/proc` in the
//! new root may be missing, a fresh proc, or planted. Calls that need a particular working
//! directory (`pivot_root(".", ...)`, `chroot(".")`) are always preceded by the `Chdir` of
//! their step, which resets it.
//!
//! `below` holds the mounts and resolves below them, `mounting` makes the mount calls,
//! `files` the file changes and their reversal, `resolve` the path walk, `newmount` the
//! kernel's mount API, `mount` flags and masking, `layers` an overlay's host directories,
//! `host` what happens outside the namespace, `elf` why a command was not found (its ELF or
//! `#!` interpreter missing from the new root), `state` the state directory (`walk` the
//! checked walk to it, `lock` the roots' lock files, `journal_files` the journals' files,
//! `tmproot` the tmpfs root's mountpoint). The calls of the apply's processes are here too,
//! behind [`crate::sys::Procs`]: `process` (descriptors, signals, namespaces, fork, wait),
//! `command` (becoming the command as `[process]` says: `prepare` builds it, `become_command`
//! makes the calls, `seccomp` the TIOCSTI filter, `caps` the capabilities there are), `procs`
//! (the trait's implementation).

mod below;
pub mod command;
pub mod console;
pub mod elf;
pub mod fds;
pub mod files;
pub mod host;
mod idmap;
pub mod layers;
pub mod mount_facts;
pub mod mountinfo;
mod mounting;
pub mod newmount;
pub mod pin;
pub mod probe;
pub mod process;
mod procs;
pub mod resolve;
pub mod snapshot;
pub mod state;
pub mod statmount;

pub use procs::LinuxProcs;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, fstat};

use self::below::Held;
use self::files::{Reversed, fd_name, kind, kind_word};
use self::host::HostFds;
use self::resolve::How;
use super::{Before, Effect, FileId, MountEntry, Node, Parent, Side, Sys, SysError, Undo};
use crate::calls::{At, Call, Dev, HostPlace, MountId, Target};
use crate::model::NodeType;

/// The real syscall layer for one apply.
#[derive(Debug)]
pub struct Linux {
    proc: OwnedFd,
    null: OwnedFd,
    /// The plan's mounts, by number; `M0` is the new root.
    held: Held,
    /// Where an empty tmpfs root is mounted, as this namespace sees it (`None` for a root
    /// directory).
    tmproot: Option<state::TmpRoot>,
    userns: bool,
    cwd_at_proc: bool,
    /// The root directory as opened for the setup's copy (see [`Linux::attach_root`]).
    root_dir: Option<OwnedFd>,
    /// The bound root brought no mount along: its host directory is not a mountpoint and has
    /// no submounts (see [`mount_facts::bind_is_alone`]). Then the mount table need not be read
    /// for what it brought.
    root_alone: bool,
    /// The upper and work directories of the overlays mounted so far.
    layers: layers::Layers,
    /// Whether each mount made with `fsmount`, by number, is proc or sysfs: those are attached
    /// only on real directories.
    real_dir_only: Vec<bool>,
    /// The put_old directory a `put-old` pivot made: its parent, its name and its identity.
    put_old: Option<(OwnedFd, String, FileId, OwnedFd)>,
    /// `/` right before a `put-old` pivot: the old root's mount, after it.
    old_root: Option<OwnedFd>,
    /// The directory the call before this one made (or the one before a new filesystem's
    /// creation), right below the root of a mount of the plan's own tmpfs or devpts (see
    /// [`Linux::attach`]): reset by every other call.
    fresh_dir: Option<At>,
}

/// Where the mount `at` is on is attached: `at`'s path without the part below that mount.
fn mountpoint(at: &At) -> crate::model::RootPath {
    let p = at.path.as_str();
    let cut = p.len().saturating_sub(at.rel.len());
    crate::model::RootPath::new(&p[..cut]).unwrap_or_else(|_| crate::model::RootPath::root())
}

pub(super) use crate::quote::in_root;

impl Linux {
    /// A syscall layer using the host descriptors opened before the namespace was made, for a
    /// plan that makes `mounts` mounts (the root included). `tmproot` is where an empty tmpfs
    /// root is mounted, as this namespace sees it; `userns` says the process is in a user
    /// namespace it created (bind remounts then keep the flags the kernel locked).
    ///
    /// Call it in the new mount namespace: a bind's source must be a mount of the caller's
    /// namespace (the kernel refuses others with EINVAL), so `/dev/null` is opened again here
    /// and checked to be the very inode the host descriptor names.
    pub fn new(
        host: HostFds,
        tmproot: Option<state::TmpRoot>,
        userns: bool,
        mounts: usize,
    ) -> Result<Self, SysError> {
        let null = host::reopen_null(&host.null)?;
        Ok(Linux {
            proc: host.proc,
            null,
            held: Held::new(mounts),
            tmproot,
            userns,
            cwd_at_proc: false,
            root_dir: None,
            root_alone: false,
            layers: layers::Layers::default(),
            real_dir_only: Vec::new(),
            put_old: None,
            old_root: None,
            fresh_dir: None,
        })
    }

    /// The tmpfs root's mountpoint (EINVAL for a root directory, which has none).
    fn tmproot_mountpoint(&self) -> Result<BorrowedFd<'_>, Errno> {
        self.tmproot
            .as_ref()
            .map(|t| t.mountpoint())
            .ok_or(Errno::EINVAL)
    }

    fn root_fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        let fd = self.held.fd(MountId::ROOT).ok_or(Errno::EBADF)?;
        // SAFETY: the root's descriptor is held for as long as this layer lives.
        Ok(unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// Whether mount `m` is a proc or sysfs made with `fsmount`.
    fn real_dir_only(&self, m: MountId) -> bool {
        self.real_dir_only.get(m.index()).copied().unwrap_or(false)
    }

    /// Why resolving `at` failed, in words, when it is a refusal rather than a plain error.
    fn why(&self, at: &At, e: Errno, how: How) -> Option<String> {
        let p = in_root(&at.path);
        match e {
            Errno::EXDEV => {
                let on = if at.on == MountId::ROOT {
                    "the root".to_string()
                } else {
                    format!("{}, the plan's mount there", at.on)
                };
                let through = self
                    .held
                    .base(at)
                    .ok()
                    .and_then(|b| resolve::first_symlink(b.as_fd(), &b.rel))
                    .map(|(link, to)| {
                        format!(
                            "the symlink `{}` (-> `{to}`) in the way",
                            mountpoint(at).join(&link)
                        )
                    })
                    .unwrap_or_else(|| {
                        "a symlink, a `..` or a mount in the way, or a rename while apply ran"
                            .to_string()
                    });
                Some(format!(
                    "`{p}` leads off the mount the dry run puts it on ({on}), through {through}; \
                     mountplan changes a path only on the mount its dry run names: make the path \
                     a real directory there, or name the real path"
                ))
            }
            Errno::ENOENT => {
                let b = self.held.base(at).ok()?;
                let (link, to) = resolve::first_symlink(b.as_fd(), &b.rel)?;
                Some(format!(
                    "`{}` is a symlink to `{to}`; symlinks are resolved inside the root, \
                     where that path does not exist (a link cannot lead out of the root)",
                    in_root(&mountpoint(at).join(&link))
                ))
            }
            Errno::ELOOP if how.no_symlinks => Some(format!(
                "`{p}` is reached through a symlink; proc and sysfs are mounted only on real \
                 directories (CVE-2019-19921): make it a directory in the root"
            )),
            Errno::ENOTDIR if how.no_symlinks => Some(format!(
                "`{p}` is not a real directory (a symlink or another kind of file); proc and \
                 sysfs are mounted only on real directories (CVE-2019-19921)"
            )),
            Errno::ELOOP => Some(format!(
                "resolving `{p}` inside the root met a symlink loop, more than 40 symlinks, a \
                 magic link such as /proc/self/root, or a symlink to another mount, which are \
                 refused"
            )),
            Errno::ENOTDIR => Some(format!(
                "a component of `{p}` is not a directory (it may be a symlink, a file or a FIFO \
                 planted in the root)"
            )),
            _ => None,
        }
    }

    /// A failed resolution of `at` for `c`, with why.
    fn refuse(&self, c: &Call, at: &At, e: Errno, how: How) -> SysError {
        match self.why(at, e, how) {
            Some(w) => SysError::refused(c, e, w),
            None => SysError::new(c, e),
        }
    }

    /// The error of making `at` (by `create` or `created`): what resolving it found, or a
    /// missing parent with the fix.
    fn create_error(&self, c: &Call, at: &At, e: Errno) -> SysError {
        match self.why(at, e, How::DIR) {
            Some(w) if e != Errno::ENOENT || self.has_symlink(at) => SysError::refused(c, e, w),
            _ if e == Errno::ENOENT => SysError::refused(
                c,
                e,
                format!(
                    "its parent `{}` does not exist: make it first (a mkdir step, with \
                     `parents = true` for more than one level)",
                    in_root(&at.path.parent())
                ),
            ),
            Some(w) => SysError::refused(c, e, w),
            None => SysError::new(c, e),
        }
    }

    fn has_symlink(&self, at: &At) -> bool {
        self.held
            .base(at)
            .ok()
            .and_then(|b| resolve::first_symlink(b.as_fd(), &b.rel))
            .is_some()
    }

    /// The error of opening the existing `at` for a change: what resolving it found, or that
    /// it is missing, with the fix.
    fn open_error(&self, c: &Call, at: &At, e: Errno, how: How) -> SysError {
        match self.why(at, e, how) {
            Some(w) if e != Errno::ENOENT || self.has_symlink(at) => SysError::refused(c, e, w),
            _ if e == Errno::ENOENT => SysError::refused(
                c,
                e,
                format!(
                    "`{}` does not exist: make it in an earlier step (mkdir, mknod, symlink, or a \
                     mount with `create`), or fix the path",
                    in_root(&at.path)
                ),
            ),
            Some(w) => SysError::refused(c, e, w),
            None => SysError::new(c, e),
        }
    }

    /// Where `fd` really is below the mount `at` is on, and the directory it is in, for the
    /// record of a change to a persistent filesystem: `at` with that path (as the kernel names
    /// it: symlinks resolved, a rename at that instant seen), the directory's identity and the
    /// path as planned, so that rollback and recovery find exactly what was changed, in either
    /// place. `fd` is the directory a new node `name` is made in, or (`name` `None`) the file
    /// changed. No proof for a change that needs none (on an overlay, whose changes are undone
    /// in its upper layer).
    fn placed(
        &self,
        c: &Call,
        at: &At,
        fd: BorrowedFd<'_>,
        name: Option<&str>,
    ) -> Result<(At, Option<Parent>), SysError> {
        if c.host_place().is_none_or(|h| h.overlay.is_some()) {
            return Ok((at.clone(), None));
        }
        let err = |e: Errno| SysError::new(c, e);
        let b = self.held.base(at).map_err(err)?;
        let moved = || {
            SysError::refused(
                c,
                Errno::EXDEV,
                format!(
                    "`{}` is not below the mount it was resolved on any more (moved while apply \
                     ran)",
                    in_root(&at.path)
                ),
            )
        };
        let real = files::rel_below(self.proc.as_fd(), b.as_fd(), fd)
            .map_err(err)?
            .ok_or_else(moved)?;
        let dir_of = |d: BorrowedFd<'_>| -> Result<(FileId, Option<crate::sys::Handle>), SysError> {
            Ok((files::id_of(&fstat(d).map_err(err)?), files::handle_of(d)))
        };
        let (rel, dir) = match name {
            Some(n) => {
                let rel = if real.is_empty() {
                    n.to_string()
                } else {
                    format!("{real}/{n}")
                };
                (rel, Some(dir_of(fd)?))
            }
            // The base itself: no directory to prove.
            None if real.is_empty() => (real, None),
            None => {
                let (d, _) = files::split(&real);
                let dfd = resolve::resolve(b.as_fd(), d, How::EXACT.dir()).map_err(|_| moved())?;
                let found = dir_of(dfd.as_fd())?;
                (real, Some(found))
            }
        };
        let planned = (b.rel.as_ref() != rel).then(|| b.rel.to_string());
        let parent = dir.map(|(id, handle)| Parent {
            id,
            planned,
            handle,
        });
        Ok((self.with_rel(at, b.on, rel), parent))
    }

    fn with_rel(&self, at: &At, on: MountId, rel: String) -> At {
        At {
            path: at.path.clone(),
            on,
            rel,
        }
    }

    /// Creates `node` at `at` unless the same node is there already.
    fn create(
        &mut self,
        c: &Call,
        at: &At,
        node: Node,
        mode: u32,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let (dir, name) = match self.held.parent(at) {
            Ok(x) => x,
            // The mount's root itself.
            Err(Errno::EEXIST) if node == Node::Dir => return Ok(Effect::Unchanged),
            Err(e) => return Err(self.create_error(c, at, e)),
        };
        let mut r = self.create_in(c, at, dir.as_fd(), name, &node, mode, before);
        // A directory made right below a mount's root on the plan's own filesystem: a mount
        // attached on it by the next call goes through that root's descriptor and the name.
        if node == Node::Dir
            && c.is_private()
            && matches!(dir, below::Fd::Held(_))
            && matches!(r, Ok(Effect::Changed(_)))
        {
            self.fresh_dir = Some(at.clone());
        }
        if let (Ok(Effect::Changed(Undo::Remove { id, .. })), Some(place)) =
            (&mut r, self.overlay_place(c))
        {
            // Made through the overlay, it lives in the upper layer: the identity rollback and
            // recovery check is the upper layer's inode, not the overlay's.
            *id = self
                .layers
                .id_of(place)
                .map_err(|e| SysError::new(c, e))?
                .or(*id);
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn create_in(
        &self,
        c: &Call,
        at: &At,
        dir: BorrowedFd<'_>,
        name: &str,
        node: &Node,
        mode: u32,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| self.create_error(c, at, e);
        let private = c.is_private();
        let (placed, parent) = self.placed(c, at, dir, Some(name))?;
        let u = Undo::Remove {
            at: placed,
            node: node.clone(),
            id: None,
            parent,
        };
        // A change that is not journaled (on a filesystem that goes away with the namespace)
        // is tried first, and what is there looked at only when something is. On a private
        // filesystem, where nothing else can make, rename or replace a file, its undo record
        // needs no identity either: no `fstatat` at all for a new node (unless set-id bits
        // are to be put on a new directory). A journaled change keeps its order: intent on
        // disk, then the change, then its identity.
        if c.host_place().is_none() {
            before(&u)?;
            let made = if private && !(*node == Node::Dir && mode & 0o6000 != 0) {
                files::make(dir, name, node, mode).map(|()| None)
            } else {
                files::create(dir, name, node, mode).map(Some)
            };
            match made {
                Ok(None) => return Ok(Effect::Changed(u)),
                Ok(Some(st)) => return self.created(c, at, dir, name, node, mode, u, &st),
                Err(Errno::EEXIST) => {}
                Err(e) => return Err(err(e)),
            }
        }
        match files::lstat_at(dir, name) {
            Ok(st) => {
                if files::matches(dir, name, &st, node) {
                    return Ok(Effect::Unchanged);
                }
                // A symlink where a directory or a file mountpoint is wanted is accepted when
                // it leads, on the same mount, to one: the mount follows it the same way.
                if kind(&st) == SFlag::S_IFLNK && matches!(node, Node::Dir | Node::File) {
                    if let Ok(fd) = self.held.file(at, How::FOLLOW) {
                        let t = fstat(fd.as_fd()).map_err(err)?;
                        if (*node == Node::Dir) == (kind(&t) == SFlag::S_IFDIR) {
                            return Ok(Effect::Unchanged);
                        }
                    }
                }
                if *node == Node::File && kind(&st) != SFlag::S_IFDIR {
                    // Any existing non-directory will do as a file mountpoint.
                    return Ok(Effect::Unchanged);
                }
                Err(SysError::refused(
                    c,
                    Errno::EEXIST,
                    format!(
                        "`{}` exists and is {}, not the {} the plan makes",
                        in_root(&at.path),
                        kind_word(&st),
                        node.word()
                    ),
                ))
            }
            Err(Errno::ENOENT) => {
                before(&u)?;
                let st = files::create(dir, name, node, mode).map_err(err)?;
                self.created(c, at, dir, name, node, mode, u, &st)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// After `create` made `node`: the undo record gets the new inode's identity, and a new
    /// directory its set-id bits (mkdir ignores them).
    #[allow(clippy::too_many_arguments)]
    fn created(
        &self,
        c: &Call,
        at: &At,
        dir: BorrowedFd<'_>,
        name: &str,
        node: &Node,
        mode: u32,
        mut u: Undo,
        st: &nix::sys::stat::FileStat,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| self.create_error(c, at, e);
        if let Undo::Remove { id, .. } = &mut u {
            *id = Some(files::id_of(st));
        }
        // mkdir ignores the set-id bits: set them on the new directory itself, which is
        // opened again by name, so check it is the inode just made and, since `st` was read
        // by name too, that it is as fresh as one (a rename in the root in between must not
        // put them on another directory).
        if *node == Node::Dir && mode & 0o6000 != 0 {
            let fd = files::open_for_chown(dir, name).map_err(err)?;
            let now = fstat(fd.as_fd()).map_err(err)?;
            if files::id_of(&now) != files::id_of(st)
                || !files::is_fresh_dir(fd.as_fd(), &now, mode).map_err(err)?
            {
                return Err(SysError::refused(
                    c,
                    Errno::EXDEV,
                    format!(
                        "`{}` was moved or replaced right after it was made (a rename in the \
                         root): its set-id bits are not put on another directory",
                        in_root(&at.path)
                    ),
                ));
            }
            files::chmod_fd(self.proc.as_fd(), fd.as_fd(), mode).map_err(err)?;
        }
        Ok(Effect::Changed(u))
    }

    /// The call's host place when it is below an overlay's upper layer.
    fn overlay_place<'c>(&self, c: &'c Call) -> Option<&'c HostPlace> {
        c.host_place().filter(|p| p.overlay.is_some())
    }

    /// The identity a chmod or chown's undo record checks: on an overlay, the upper layer's
    /// inode (`None` when the file is only in a lower layer: the call copies it up, and
    /// removing the copy undoes it); elsewhere the inode itself.
    fn changed_id(&self, c: &Call, st: &nix::sys::stat::FileStat) -> Result<Option<FileId>, Errno> {
        match self.overlay_place(c) {
            Some(place) => self.layers.id_of(place),
            None => Ok(Some(files::id_of(st))),
        }
    }

    fn node_of(&self, c: &Call, node: NodeType, dev: &Dev) -> Result<Node, SysError> {
        let rdev = match dev {
            Dev::Num(a, b) => nix::sys::stat::makedev(u64::from(*a), u64::from(*b)),
            Dev::FromHost(h) => {
                let st = nix::sys::stat::stat(h.as_str())
                    .map_err(|e| SysError::host_path(c, e, "the host node", h.as_str()))?;
                return match kind(&st) {
                    SFlag::S_IFCHR => Ok(Node::Char(st.st_rdev)),
                    SFlag::S_IFBLK => Ok(Node::Block(st.st_rdev)),
                    _ => Err(SysError::refused(
                        c,
                        Errno::EINVAL,
                        format!("the host's `{h}` is {}, not a device", kind_word(&st)),
                    )),
                };
            }
        };
        Ok(match node {
            NodeType::Char => Node::Char(rdev),
            NodeType::Block => Node::Block(rdev),
            NodeType::Fifo => Node::Fifo,
        })
    }

    fn chmod(
        &mut self,
        c: &Call,
        at: &At,
        mode: u32,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let fd = self
            .held
            .file(at, How::FOLLOW)
            .map_err(|e| self.open_error(c, at, e, How::FOLLOW))?;
        let st = fstat(fd.as_fd()).map_err(err)?;
        let old = st.st_mode & 0o7777;
        if old == mode {
            return Ok(Effect::Unchanged);
        }
        let Some(id) = self.changed_id(c, &st).map_err(err)? else {
            files::chmod_fd(self.proc.as_fd(), fd.as_fd(), mode).map_err(err)?;
            return Ok(Effect::CopiedUp);
        };
        let (placed, parent) = self.placed(c, at, fd.as_fd(), None)?;
        let u = Undo::Chmod {
            at: placed,
            id,
            mode: old,
            parent,
        };
        before(&u)?;
        files::chmod_fd(self.proc.as_fd(), fd.as_fd(), mode).map_err(err)?;
        Ok(Effect::Changed(u))
    }

    fn chown(
        &mut self,
        c: &Call,
        at: &At,
        uid: Option<u32>,
        gid: Option<u32>,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let fd = self
            .held
            .file(at, How::NOFOLLOW)
            .map_err(|e| self.open_error(c, at, e, How::NOFOLLOW))?;
        let st = fstat(fd.as_fd()).map_err(err)?;
        if uid.is_none_or(|u| u == st.st_uid) && gid.is_none_or(|g| g == st.st_gid) {
            return Ok(Effect::Unchanged);
        }
        let Some(id) = self.changed_id(c, &st).map_err(err)? else {
            files::chown_fd(fd.as_fd(), uid, gid).map_err(err)?;
            return Ok(Effect::CopiedUp);
        };
        let (placed, parent) = self.placed(c, at, fd.as_fd(), None)?;
        let u = Undo::Chown {
            at: placed,
            id,
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
            parent,
        };
        before(&u)?;
        files::chown_fd(fd.as_fd(), uid, gid).map_err(err)?;
        Ok(Effect::Changed(u))
    }

    /// The text of /proc/self/mountinfo, read in large chunks (the file has no size to ask
    /// for: no `fstat` first).
    fn mountinfo_text(&self) -> Result<String, Errno> {
        let fd = nix::fcntl::openat(
            self.proc.as_fd(),
            "self/mountinfo",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut buf: Vec<u8> = Vec::with_capacity(16 << 10);
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(buf.capacity());
            }
            let spare = buf.spare_capacity_mut();
            // SAFETY: read(2) writes at most `spare.len()` bytes into the spare capacity, and
            // only the bytes it reports are added to the length.
            let n = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
            match n {
                0 => break,
                n if n > 0 => unsafe { buf.set_len(buf.len() + n as usize) },
                _ if Errno::last() == Errno::EINTR => {}
                _ => return Err(Errno::last()),
            }
        }
        String::from_utf8(buf).map_err(|_| Errno::EIO)
    }

    fn read_mountinfo(&self) -> Result<Vec<mountinfo::RawMount>, Errno> {
        Ok(mountinfo::parse(&self.mountinfo_text()?))
    }

    /// The root as mountinfo shows it: its path from this process's root.
    fn root_prefix(&self) -> Result<String, Errno> {
        let fd = self.root_fd()?;
        let l = nix::fcntl::readlinkat(self.proc.as_fd(), fd_name(fd).as_str())?;
        Ok(l.to_string_lossy().into_owned())
    }
}

impl Sys for Linux {
    fn call(&mut self, c: &Call, before: &mut Before<'_>) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        // Kept over a new filesystem's creation (fsopen..fsmount, which changes nothing in the
        // tree): the mount made then is the one attached on the directory.
        let fresh = match c {
            Call::NewFs { .. } => None,
            _ => self.fresh_dir.take(),
        };
        match c {
            Call::Mount { .. } => self.mount_call(c),
            Call::NewFs { .. } => self.new_fs(c),
            Call::CloneTree {
                source,
                recursive,
                mount,
            } => self.clone_tree(c, source, *recursive, *mount),
            Call::SetAttr {
                on,
                recursive,
                set,
                clear,
            } => self.set_attr(c, on, *recursive, *set, *clear, before),
            Call::Idmap {
                mount,
                recursive,
                map,
                source,
            } => self.idmap(c, *mount, *recursive, map, source),
            Call::Attach { mount, to } => self.attach(c, *mount, to, fresh, before),
            Call::Umount(t) => self.umount(c, t),
            Call::Mkdir {
                at,
                mode,
                if_missing,
                ..
            } => {
                let r = self.create(c, at, Node::Dir, mode.bits(), before)?;
                if !if_missing && r == Effect::Unchanged {
                    return Err(SysError::refused(
                        c,
                        Errno::EEXIST,
                        format!("`{}` already exists", in_root(&at.path)),
                    ));
                }
                Ok(r)
            }
            Call::CreateFile { at, mode, .. } => {
                self.create(c, at, Node::File, mode.bits(), before)
            }
            Call::Mknod {
                at,
                node,
                mode,
                dev,
                ..
            } => {
                let n = self.node_of(c, *node, dev)?;
                self.create(c, at, n, mode.bits(), before)
            }
            Call::Symlink { to, at, .. } => {
                self.create(c, at, Node::Symlink(to.clone()), 0o777, before)
            }
            Call::Chmod { at, mode, .. } => self.chmod(c, at, mode.bits(), before),
            Call::Chown { at, uid, gid, .. } => self.chown(c, at, *uid, *gid, before),
            Call::Mask { at, mount } => self.mask(c, at, *mount, before),
            Call::Readonly { at, mount } => self.readonly(c, at, *mount, before),
            Call::MaskHostProcSys => {
                let m = self.read_mountinfo().map_err(err)?;
                let prefix = self.root_prefix().map_err(err)?;
                host::mask_host_proc_sys(&m, &prefix)?;
                Ok(Effect::Local)
            }
            Call::Chdir(t) => {
                match t {
                    Target::InRoot(at) => {
                        let fd = self
                            .held
                            .file(at, How::DIR)
                            .map_err(|e| self.refuse(c, at, e, How::DIR))?;
                        nix::unistd::fchdir(fd.as_fd()).map_err(err)?;
                    }
                    // After a pivot: the process's own root, where nothing but this process
                    // can be yet.
                    Target::AfterPivot(p) => nix::unistd::chdir(p.as_str()).map_err(err)?,
                    Target::Host(h) => nix::unistd::chdir(h.as_str()).map_err(err)?,
                    Target::TmpRoot => {
                        let fd = self.tmproot_mountpoint().map_err(err)?;
                        nix::unistd::fchdir(fd).map_err(err)?;
                    }
                    Target::Cwd | Target::OldRoot => {}
                }
                self.cwd_at_proc = false;
                Ok(Effect::Local)
            }
            Call::MakePutOld { at, .. } => self.make_put_old(c, at, before),
            Call::PivotRoot { put_old } => self.pivot_root(c, *put_old),
            Call::Chroot => {
                nix::unistd::chroot(".").map_err(err)?;
                Ok(Effect::Local)
            }
            Call::RemovePutOld => self.remove_put_old(c),
        }
    }

    fn undo(&mut self, u: &Undo) -> Result<(), SysError> {
        let err = |e: Errno| SysError::new(u, e);
        let kept = |r: Reversed| match r {
            Reversed::Done | Reversed::Gone => Ok(()),
            Reversed::Kept(why) => Err(SysError::refused(
                u,
                Errno::EEXIST,
                format!("left alone: {why}"),
            )),
        };
        match u {
            Undo::Umount { mount, .. } => {
                let Some(fd) = self.held.fd(*mount) else {
                    return Ok(());
                };
                self.at_proc().map_err(err)?;
                let r = nix::mount::umount2(
                    format!("self/fd/{fd}").as_str(),
                    nix::mount::MntFlags::MNT_DETACH,
                );
                match r {
                    Ok(()) | Err(Errno::EINVAL) => {
                        self.held.forget(*mount);
                        Ok(())
                    }
                    Err(e) => Err(err(e)),
                }
            }
            Undo::Remove {
                at,
                node,
                id,
                parent,
            } => {
                let b = self.held.base(at).map_err(err)?;
                kept(files::remove(b.as_fd(), &b.rel, node, *id, parent.as_ref()).map_err(err)?)
            }
            Undo::Chmod {
                at,
                id,
                mode,
                parent,
            } => {
                let b = self.held.base(at).map_err(err)?;
                kept(
                    files::restore_mode(
                        b.as_fd(),
                        self.proc.as_fd(),
                        &b.rel,
                        *id,
                        *mode,
                        parent.as_ref(),
                    )
                    .map_err(err)?,
                )
            }
            Undo::Chown {
                at,
                id,
                uid,
                gid,
                mode,
                parent,
            } => {
                let b = self.held.base(at).map_err(err)?;
                kept(
                    files::restore_owner(
                        b.as_fd(),
                        self.proc.as_fd(),
                        &b.rel,
                        *id,
                        *uid,
                        *gid,
                        *mode,
                        parent.as_ref(),
                    )
                    .map_err(err)?,
                )
            }
            Undo::Setattr {
                at,
                recursive,
                set,
                clear,
            } => {
                let fd = self.held.top(at, How::FOLLOW).map_err(err)?;
                let (s, c) = crate::calls::mount_attr(*set, *clear);
                newmount::mount_setattr(fd.as_fd(), *recursive, s, c).map_err(err)
            }
        }
    }

    fn sides(&mut self, c: &Call) -> Result<Vec<Side>, SysError> {
        match c {
            Call::NewFs {
                fs: crate::model::FsKind::Overlay(o),
                ..
            } => self.layers.mounting(c, o),
            _ => match (self.overlay_place(c), c) {
                (
                    Some(place),
                    Call::Mkdir { at, .. }
                    | Call::CreateFile { at, .. }
                    | Call::Mknod { at, .. }
                    | Call::Symlink { at, .. }
                    | Call::Chmod { at, .. }
                    | Call::Chown { at, .. },
                ) => match self.held.base(at) {
                    Ok(b) => Ok(self.layers.copy_ups(b.as_fd(), &b.rel, c, place)),
                    Err(_) => Ok(Vec::new()),
                },
                _ => Ok(Vec::new()),
            },
        }
    }

    fn side_made(&mut self, s: &Side) -> Option<FileId> {
        self.layers.made(s)
    }

    fn undo_at(&mut self, place: &HostPlace, u: &Undo) -> Result<(), SysError> {
        let at = || u.on_host(place);
        match self.layers.undo(self.proc.as_fd(), place, u) {
            Ok(Reversed::Done | Reversed::Gone) => Ok(()),
            Ok(Reversed::Kept(why)) => Err(SysError::refused(
                at(),
                Errno::EEXIST,
                format!("left alone: {why}"),
            )),
            Err(e) => Err(SysError::new(at(), e)),
        }
    }

    fn inherited(&mut self) -> Result<Vec<MountEntry>, SysError> {
        if self.root_alone {
            return Ok(Vec::new());
        }
        self.mounts()
    }

    fn made(&self) -> Vec<Option<u64>> {
        self.held.ids()
    }

    fn mounts(&mut self) -> Result<Vec<MountEntry>, SysError> {
        let err = |e: Errno| SysError::new("read(\"/proc/self/mountinfo\")", e);
        let prefix = self.root_prefix().map_err(err)?;
        // One statmount per mount, binary fields; mountinfo's text where the kernel has no
        // statmount with options (before Linux 6.10).
        match statmount::below(&prefix) {
            Ok(v) => return Ok(v),
            Err(Errno::ENOSYS | Errno::EINVAL | Errno::EOPNOTSUPP) => {}
            Err(e) => return Err(SysError::new("listmount(2) and statmount(2)", e)),
        }
        let text = self.mountinfo_text().map_err(err)?;
        Ok(mountinfo::below_text(&text, &prefix))
    }
}
