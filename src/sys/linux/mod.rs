//! The real [`Sys`]: the only code that makes a plan's system calls.
//!
//! Takes the [`Call`]s of a plan in order, inside the new mount namespace; returns what each
//! changed. Every path inside the new root is resolved from the root descriptor with
//! [`mod@resolve`] (openat2 `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, or the user-space walk),
//! creation happens on the resolved parent descriptor with the final name, and mounts land
//! on the resolved `O_PATH` descriptor through `self/fd/N` of the **host** `/proc` opened
//! before the namespace was made: the process's working directory is set to that `/proc`
//! (`fchdir`), so the relative name `self/fd/N` keeps working after a pivot, when `/proc` in
//! the new root may be missing, a fresh proc, or planted. Calls that need a particular
//! working directory (`pivot_root(".", ...)`, `chroot(".")`) are always preceded by the
//! `Chdir` of their step, which resets it.

pub mod files;
pub mod host;
pub mod layers;
pub mod mount;
pub mod mountinfo;
mod mounting;
pub mod pin;
pub mod resolve;
pub mod state;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, fstat};

use self::files::{Reversed, fd_name, kind, kind_word};
use self::host::HostFds;
use self::mounting::Spot;
use self::resolve::{How, resolve};
use super::{Before, Effect, FileId, MountEntry, Node, Side, Sys, SysError, Undo};
use crate::calls::{Call, Dev, HostPlace, Target};
use crate::model::{MsFlags, NodeType, RootPath};

/// The real syscall layer for one apply.
#[derive(Debug)]
pub struct Linux {
    proc: OwnedFd,
    null: OwnedFd,
    root: Option<OwnedFd>,
    /// Where an empty tmpfs root is mounted (`None` for a root directory).
    tmproot: Option<state::TmpRoot>,
    userns: bool,
    cwd_at_proc: bool,
    /// The root directory as opened for the setup's bind (see [`Linux::open_root`]).
    bound_root: Option<OwnedFd>,
    /// The parent directory of the last private creation (one on a filesystem of this mount
    /// namespace only, which no other process can reach to rename or replace anything) and
    /// its relative path: the next creation in the same directory uses it instead of resolving
    /// the path again. Dropped by every call that could change what a path names (any mount
    /// other than one on a directory just made there, umount, pivot, chroot, rmdir, ...).
    dir_cache: Option<(String, OwnedFd)>,
    /// The bound root brought no mount along: its host directory is not a mountpoint and has
    /// no submounts (see [`mount::bind_is_alone`]). Then the mount table need not be read
    /// for what it brought.
    root_alone: bool,
    /// The private directory the previous call made (see [`Linux::dir_cache`]): a mount on it
    /// goes through its parent's descriptor and its name, which nothing can have replaced,
    /// instead of a resolution of its own.
    fresh: Option<RootPath>,
    /// The upper and work directories of the overlays mounted so far.
    layers: layers::Layers,
}

/// The directory a creation happens in.
enum Parent {
    /// The root descriptor itself (for the root's own children).
    Root,
    /// A resolved directory, and its path when it came from [`Linux::dir_cache`] (to put it
    /// back without building the key again).
    Fd(OwnedFd, Option<String>),
}

pub(super) fn in_root(p: &RootPath) -> String {
    if p.is_root() {
        "<root>".into()
    } else {
        format!("<root>{}", p.as_str())
    }
}

/// Says what a failed resolution refused, when it is a refusal rather than a plain error.
pub(super) fn why_resolve(
    root: Option<BorrowedFd<'_>>,
    p: &RootPath,
    e: Errno,
    how: How,
) -> Option<String> {
    match e {
        Errno::ENOENT => {
            let (link, to) = resolve::first_symlink(root?, p.relative())?;
            Some(format!(
                "`<root>{link}` is a symlink to `{to}`; symlinks are resolved inside the root, \
                 where that path does not exist (a link cannot lead out of the root)"
            ))
        }
        Errno::ELOOP if how.no_symlinks => Some(format!(
            "`{}` is reached through a symlink; proc and sysfs are mounted only on real \
             directories (CVE-2019-19921): make it a directory in the root",
            in_root(p)
        )),
        Errno::ENOTDIR if how.no_symlinks => Some(format!(
            "`{}` is not a real directory (a symlink or another kind of file); proc and sysfs \
             are mounted only on real directories (CVE-2019-19921)",
            in_root(p)
        )),
        Errno::ELOOP => Some(format!(
            "resolving `{}` inside the root met a symlink loop, more than 40 symlinks, or a \
             magic link such as /proc/self/root, which are refused",
            in_root(p)
        )),
        Errno::ENOTDIR => Some(format!(
            "a component of `{}` is not a directory (it may be a symlink, a file or a FIFO \
             planted in the root)",
            in_root(p)
        )),
        _ => None,
    }
}

impl Linux {
    /// A syscall layer using the host descriptors opened before the namespace was made.
    /// `tmproot` is where an empty tmpfs root is mounted, as this namespace sees it; `userns`
    /// says the process is in a user namespace it created (bind remounts then keep the flags
    /// the kernel locked).
    ///
    /// Call it in the new mount namespace: a bind's source must be a mount of the caller's
    /// namespace (the kernel refuses others with EINVAL), so `/dev/null` is opened again here
    /// and checked to be the very inode the host descriptor names.
    pub fn new(
        host: HostFds,
        tmproot: Option<state::TmpRoot>,
        userns: bool,
    ) -> Result<Self, SysError> {
        let null = host::reopen_null(&host.null)?;
        Ok(Linux {
            proc: host.proc,
            null,
            root: None,
            tmproot,
            userns,
            cwd_at_proc: false,
            bound_root: None,
            dir_cache: None,
            fresh: None,
            root_alone: false,
            layers: layers::Layers::default(),
        })
    }

    /// The tmpfs root's mountpoint (EINVAL for a root directory, which has none).
    fn tmproot(&self) -> Result<&state::TmpRoot, SysError> {
        self.tmproot
            .as_ref()
            .ok_or_else(|| SysError::new("<tmproot>", Errno::EINVAL))
    }

    fn root_fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        self.root.as_ref().map(|f| f.as_fd()).ok_or(Errno::EBADF)
    }

    fn resolve(&self, p: &RootPath, how: How) -> Result<OwnedFd, Errno> {
        resolve(self.root_fd()?, p.relative(), how)
    }

    /// The error of making `p` (by `create` or `created`): what resolving it found, or a
    /// missing parent with the fix.
    fn create_error(&self, c: &Call, p: &RootPath, e: Errno) -> SysError {
        let root = self.root.as_ref().map(|f| f.as_fd());
        match why_resolve(root, p, e, How::DIR) {
            Some(w) => SysError::refused(c, e, w),
            None if e == Errno::ENOENT => SysError::refused(
                c,
                e,
                format!(
                    "its parent `{}` does not exist: make it first (a mkdir step, with \
                     `parents = true` for more than one level)",
                    in_root(&p.parent())
                ),
            ),
            None => SysError::new(c, e),
        }
    }

    /// The error of opening the existing `p` for a change: what resolving it found, or that it
    /// is missing, with the fix.
    fn open_error(&self, c: &Call, p: &RootPath, e: Errno, how: How) -> SysError {
        let root = self.root.as_ref().map(|f| f.as_fd());
        match why_resolve(root, p, e, how) {
            Some(w) => SysError::refused(c, e, w),
            None if e == Errno::ENOENT => SysError::refused(
                c,
                e,
                format!(
                    "`{}` does not exist: make it in an earlier step (mkdir, mknod, symlink, or a \
                     mount with `create`), or fix the path",
                    in_root(p)
                ),
            ),
            None => SysError::new(c, e),
        }
    }

    /// The directory to create `rel`'s final name in, and that name. A private parent (on a
    /// filesystem of this namespace only, see [`Linux::dir_cache`]) comes from the cache when it
    /// is the one resolved last; the root's own children are made on the root descriptor.
    fn parent_dir<'r>(&mut self, rel: &'r str, private: bool) -> Result<(Parent, &'r str), Errno> {
        let (dir, name) = files::split_name(rel)?;
        if dir.is_empty() {
            return Ok((Parent::Root, name));
        }
        if private {
            if let Some((cached, fd)) = self.dir_cache.take() {
                if cached == dir {
                    return Ok((Parent::Fd(fd, Some(cached)), name));
                }
            }
        }
        Ok((
            Parent::Fd(resolve(self.root_fd()?, dir, How::DIR)?, None),
            name,
        ))
    }

    /// Creates `node` at `p` unless the same node is there already.
    fn create(
        &mut self,
        c: &Call,
        p: &RootPath,
        node: Node,
        mode: u32,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        if p.is_root() {
            return if node == Node::Dir {
                Ok(Effect::Unchanged)
            } else {
                Err(SysError::new(c, Errno::EEXIST))
            };
        }
        let private = c.is_private();
        let (dir, name) = self
            .parent_dir(p.relative(), private)
            .map_err(|e| self.create_error(c, p, e))?;
        let mut r = self.create_in(c, p, &dir, name, &node, mode, before);
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
        if private {
            if node == Node::Dir && matches!(r, Ok(Effect::Changed(_))) {
                self.fresh = Some(p.clone());
            }
            if let Parent::Fd(fd, key) = dir {
                let key = key.unwrap_or_else(|| files::split(p.relative()).0.to_string());
                self.dir_cache = Some((key, fd));
            }
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn create_in(
        &self,
        c: &Call,
        p: &RootPath,
        dir: &Parent,
        name: &str,
        node: &Node,
        mode: u32,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| self.create_error(c, p, e);
        let private = c.is_private();
        let dir = match dir {
            Parent::Root => self.root_fd().map_err(err)?,
            Parent::Fd(fd, _) => fd.as_fd(),
        };
        let u = Undo::Remove {
            path: p.clone(),
            node: node.clone(),
            id: None,
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
                Ok(Some(st)) => return self.created(c, p, dir, name, node, mode, u, &st),
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
                // it leads, inside the root, to one: the mount follows it the same way.
                if kind(&st) == SFlag::S_IFLNK && matches!(node, Node::Dir | Node::File) {
                    if let Ok(fd) = self.resolve(p, How::FOLLOW) {
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
                        in_root(p),
                        kind_word(&st),
                        node.word()
                    ),
                ))
            }
            Err(Errno::ENOENT) => {
                before(&u)?;
                let st = files::create(dir, name, node, mode).map_err(err)?;
                self.created(c, p, dir, name, node, mode, u, &st)
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
        p: &RootPath,
        dir: BorrowedFd<'_>,
        name: &str,
        node: &Node,
        mode: u32,
        mut u: Undo,
        st: &nix::sys::stat::FileStat,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| self.create_error(c, p, e);
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
                        in_root(p)
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

    /// Opens the new root. For a bound root it must be the bind the setup made on the
    /// directory it opened: the same inode, on another mount (the new bind on top).
    fn open_root(&mut self, c: &Call, t: &Target) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let fd = match t {
            Target::Host(h) => nix::fcntl::open(
                h.as_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(err)?,
            Target::TmpRoot => self.tmproot()?.open_root(c)?,
            _ => return Err(err(Errno::EINVAL)),
        };
        if let Some(first) = self.bound_root.take() {
            let dir =
                files::statx(first.as_fd(), libc::STATX_INO | libc::STATX_MNT_ID).map_err(err)?;
            let a = files::ids_of(&dir);
            let b = files::statx_id(fd.as_fd()).map_err(err)?;
            self.root_alone = mount::bind_is_alone(&dir, fd.as_fd());
            if a.0 != b.0 || (a.1.is_some() && a.1 == b.1) {
                return Err(SysError::refused(
                    c,
                    Errno::EXDEV,
                    format!(
                        "`{}` is not the directory that was bound (it was renamed or replaced \
                         while the root was set up)",
                        match t {
                            Target::Host(h) => h.as_str(),
                            _ => "<tmproot>",
                        }
                    ),
                ));
            }
        }
        self.root = Some(fd);
        Ok(Effect::Local)
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
        let fresh = self.fresh.take();
        let on_fresh = match c {
            Call::Mount {
                target: Target::InRoot(p),
                flags,
                ..
            } => fresh.as_ref() == Some(p) && !flags.intersects(mounting::NOT_NEW),
            _ => false,
        };
        // Making or changing a file does not change what a path names.
        if !c.changes_a_file() && !on_fresh {
            self.dir_cache = None;
        }
        match c {
            Call::OpenRoot(t) => self.open_root(c, t),
            Call::Mount { .. } => self.do_mount(c, on_fresh, before),
            Call::SetattrRec { target, set } => {
                let (Target::InRoot(p) | Target::AfterPivot(p)) = target else {
                    return Err(err(Errno::EINVAL));
                };
                let fd = self.resolve(p, How::FOLLOW).map_err(err)?;
                let old = mount::flags_of_fd(fd.as_fd()).map_err(err)?;
                let u = Undo::Unsetattr {
                    path: p.clone(),
                    clear: *set - old,
                };
                before(&u)?;
                mount::setattr_rec(fd.as_fd(), *set, MsFlags::empty()).map_err(err)?;
                Ok(Effect::Changed(u))
            }
            Call::Umount(t) => {
                let s = self.target(t, How::FOLLOW).map_err(err)?;
                let path = self.path_of(&s).map_err(err)?;
                nix::mount::umount2(path.as_str(), nix::mount::MntFlags::MNT_DETACH).map_err(
                    |e| match (e, &s, t) {
                        (Errno::EINVAL, mounting::Spot::Fd(fd), Target::InRoot(p)) => {
                            match mount::not_a_mountpoint_why(fd.as_fd(), &in_root(p)) {
                                Some(w) => SysError::refused(c, e, w),
                                None => err(e),
                            }
                        }
                        _ => err(e),
                    },
                )?;
                Ok(Effect::Local)
            }
            Call::Mkdir {
                path,
                mode,
                if_missing,
                ..
            } => {
                let r = self.create(c, path, Node::Dir, mode.bits(), before)?;
                if !if_missing && r == Effect::Unchanged {
                    return Err(SysError::refused(
                        c,
                        Errno::EEXIST,
                        format!("`{}` already exists", in_root(path)),
                    ));
                }
                Ok(r)
            }
            Call::CreateFile { path, mode, .. } => {
                self.create(c, path, Node::File, mode.bits(), before)
            }
            Call::Mknod {
                path,
                node,
                mode,
                dev,
                ..
            } => {
                let n = self.node_of(c, *node, dev)?;
                self.create(c, path, n, mode.bits(), before)
            }
            Call::Symlink { to, path, .. } => {
                self.create(c, path, Node::Symlink(to.clone()), 0o777, before)
            }
            Call::Chmod { path, mode, .. } => {
                let fd = files::open_for_chmod(self.root_fd().map_err(err)?, path.relative())
                    .map_err(|e| self.open_error(c, path, e, How::FOLLOW))?;
                let st = fstat(fd.as_fd()).map_err(err)?;
                let old = st.st_mode & 0o7777;
                if old == mode.bits() {
                    return Ok(Effect::Unchanged);
                }
                let Some(id) = self.changed_id(c, &st).map_err(err)? else {
                    files::chmod_fd(self.proc.as_fd(), fd.as_fd(), mode.bits()).map_err(err)?;
                    return Ok(Effect::CopiedUp);
                };
                let u = Undo::Chmod {
                    path: path.clone(),
                    id,
                    mode: old,
                };
                before(&u)?;
                files::chmod_fd(self.proc.as_fd(), fd.as_fd(), mode.bits()).map_err(err)?;
                Ok(Effect::Changed(u))
            }
            Call::Chown { path, uid, gid, .. } => {
                let fd = files::open_for_chown(self.root_fd().map_err(err)?, path.relative())
                    .map_err(|e| self.open_error(c, path, e, How::NOFOLLOW))?;
                let st = fstat(fd.as_fd()).map_err(err)?;
                if uid.is_none_or(|u| u == st.st_uid) && gid.is_none_or(|g| g == st.st_gid) {
                    return Ok(Effect::Unchanged);
                }
                let Some(id) = self.changed_id(c, &st).map_err(err)? else {
                    files::chown_fd(fd.as_fd(), *uid, *gid).map_err(err)?;
                    return Ok(Effect::CopiedUp);
                };
                let u = Undo::Chown {
                    path: path.clone(),
                    id,
                    uid: st.st_uid,
                    gid: st.st_gid,
                };
                before(&u)?;
                files::chown_fd(fd.as_fd(), *uid, *gid).map_err(err)?;
                Ok(Effect::Changed(u))
            }
            Call::Mask(p) => self.mask(c, p, before),
            Call::Readonly(p) => self.readonly(c, p, before),
            Call::MaskHostProcSys => {
                let m = self.read_mountinfo().map_err(err)?;
                let prefix = self.root_prefix().map_err(err)?;
                mount::mask_host_proc_sys(&m, &prefix)?;
                Ok(Effect::Local)
            }
            Call::Chdir(t) => {
                match t {
                    // The root is its own descriptor: resolving "." in it gives the same
                    // directory again.
                    Target::InRoot(p) | Target::AfterPivot(p) if p.is_root() => {
                        nix::unistd::fchdir(self.root_fd().map_err(err)?).map_err(err)?;
                    }
                    Target::InRoot(p) | Target::AfterPivot(p) => {
                        let fd = self.resolve(p, How::DIR).map_err(err)?;
                        nix::unistd::fchdir(fd.as_fd()).map_err(err)?;
                    }
                    Target::Host(h) => nix::unistd::chdir(h.as_str()).map_err(err)?,
                    Target::TmpRoot => {
                        let fd = self.tmproot()?.open_root(c)?;
                        nix::unistd::fchdir(fd.as_fd()).map_err(err)?;
                    }
                    Target::Cwd => {}
                }
                self.cwd_at_proc = false;
                Ok(Effect::Local)
            }
            Call::PivotRoot { new_root, put_old } => {
                nix::unistd::pivot_root(new_root.as_str(), put_old.as_str()).map_err(err)?;
                self.cwd_at_proc = false;
                Ok(Effect::Local)
            }
            Call::Chroot => {
                nix::unistd::chroot(".").map_err(err)?;
                Ok(Effect::Local)
            }
            Call::Rmdir(p) => {
                let (dir, name) =
                    files::parent(self.root_fd().map_err(err)?, p.relative()).map_err(err)?;
                nix::unistd::unlinkat(dir.as_fd(), name, nix::unistd::UnlinkatFlags::RemoveDir)
                    .map_err(err)?;
                Ok(Effect::Local)
            }
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
        let root = self.root_fd().map_err(err)?;
        match u {
            Undo::Umount(p) => {
                let Some(fd) = self.resolve_if_there(p).map_err(err)? else {
                    return Ok(());
                };
                // `spot` keeps the descriptor open until umount2 has used its name.
                let spot = Spot::Fd(fd);
                let t = self.path_of(&spot).map_err(err)?;
                nix::mount::umount2(t.as_str(), nix::mount::MntFlags::MNT_DETACH).map_err(err)
            }
            Undo::Remove { path, node, id } => {
                kept(files::remove(root, path.relative(), node, *id).map_err(err)?)
            }
            Undo::Chmod { path, id, mode } => kept(
                files::restore_mode(root, self.proc.as_fd(), path.relative(), *id, *mode)
                    .map_err(err)?,
            ),
            Undo::Chown { path, id, uid, gid } => {
                kept(files::restore_owner(root, path.relative(), *id, *uid, *gid).map_err(err)?)
            }
            Undo::Remount { path, flags } => {
                let t = Spot::Fd(self.resolve(path, How::FOLLOW).map_err(err)?);
                self.mount(
                    None,
                    &t,
                    None,
                    MsFlags::MS_REMOUNT | MsFlags::MS_BIND | *flags,
                    None,
                )
                .map_err(err)
            }
            Undo::Unsetattr { path, clear } => {
                let fd = self.resolve(path, How::FOLLOW).map_err(err)?;
                mount::setattr_rec(fd.as_fd(), MsFlags::empty(), *clear).map_err(err)
            }
        }
    }

    fn sides(&mut self, c: &Call) -> Result<Vec<Side>, SysError> {
        match c {
            Call::Mount {
                target: Target::InRoot(p),
                fstype: Some(t),
                data,
                ..
            } if t == "overlay" => self.layers.mounting(c, p, data.as_deref()),
            _ => match (self.overlay_place(c), self.root_fd()) {
                (Some(place), Ok(root)) => Ok(self.layers.copy_ups(root, c, place)),
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

    fn mounts(&mut self) -> Result<Vec<MountEntry>, SysError> {
        let err = |e: Errno| SysError::new("read(\"/proc/self/mountinfo\")", e);
        let text = self.mountinfo_text().map_err(err)?;
        let prefix = self.root_prefix().map_err(err)?;
        Ok(mountinfo::below_text(&text, &prefix))
    }
}
