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
//! This file holds [`Linux`] and the dispatch of each [`Call`] and undo; `creation` makes
//! and changes files below the resolved parent (and proves their place for the journal),
//! `explain` says why a call inside the root failed, in words. `below` holds the mounts and
//! resolves below them, `mounting` makes the mount calls (`classic` those of
//! `api = "classic"`, mount(2) on descriptors; `pivot` the put_old directory and pivot_root),
//! `files` the file changes and their reversal, `resolve` the path walk, `newmount` the
//! kernel's mount API, `idmap` the user namespace of an idmapped bind, `mount_facts` what a
//! mount is (flags, locked flags, a mountpoint or not), `layers` an overlay's host directories,
//! `host` what happens outside the namespace (the host's proc and sysfs masked), `elf` why a
//! command was not found (its ELF or `#!` interpreter missing from the new root), `state` the state directory (`walk` the
//! checked walk to it, `lock` the roots' lock files, `journal_files` the journals' files,
//! `tmproot` the tmpfs root's mountpoint). The calls of the apply's processes are here too,
//! behind [`crate::sys::Procs`]: `process` (descriptors, signals, namespaces, fork, wait),
//! `command` (becoming the command as `[process]` says: `prepare` builds it, `become_command`
//! makes the calls, `seccomp` the TIOCSTI filter, `caps` the capabilities there are), `console`
//! (the command's pty or terminal on `/dev/console`, and the relay), `procs` (the trait's
//! implementation). The mount table: `mountinfo` (the text), `statmount` (listmount and
//! statmount, what verify reads), `snapshot` (a namespace's tables, for capture), `probe`
//! (what this kernel offers, for doctor), `pin` (a namespace pinned on a file), `fds`,
//! `pause` (the test pauses of debug builds: stop before call or undo N until a test says go).

mod below;
mod classic;
pub mod command;
pub mod console;
mod creation;
pub mod elf;
mod explain;
pub mod fds;
pub mod files;
pub mod host;
mod idmap;
pub mod layers;
pub mod mount_facts;
pub mod mountinfo;
mod mounting;
pub mod newmount;
pub mod pause;
pub mod pin;
mod pivot;
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
use crate::lowering::{At, Call, Dev, HostPlace, MountId, Target};
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
    /// `api = "classic"`: mount changes are undone with mount(2) (see [`classic`]).
    classic: bool,
    /// The root's host directory, for a classic apply (the mount on top there is looked up
    /// again by it).
    root_host: Option<crate::model::HostPath>,
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
            classic: false,
            root_host: None,
            fresh_dir: None,
        })
    }

    /// The same layer for a plan whose calls are classic (`api = "classic"`, or `auto` on a
    /// kernel without the new API): its undo of a flag change is a bind remount.
    pub fn classic(mut self, on: bool) -> Self {
        self.classic = on;
        self
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
            Call::MountFs { .. } => self.mount_fs(c, fresh, before),
            Call::BindMount { .. } => self.bind_mount(c, fresh, before),
            Call::Remount { on, flags } => self.remount(c, on, *flags, before),
            Call::MaskClassic { at, mount } => self.mask_classic(c, at, *mount, before),
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
            Undo::Setattr { at, set, .. } if self.classic => self.undo_remount(u, at, *set),
            Undo::Setattr {
                at,
                recursive,
                set,
                clear,
            } => {
                let fd = self.held.top(at, How::FOLLOW).map_err(err)?;
                let (s, c) = crate::lowering::mount_attr(*set, *clear);
                newmount::mount_setattr(fd.as_fd(), *recursive, s, c).map_err(err)
            }
        }
    }

    fn sides(&mut self, c: &Call) -> Result<Vec<Side>, SysError> {
        match c {
            Call::NewFs {
                fs: crate::model::FsKind::Overlay(o),
                ..
            }
            | Call::MountFs {
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
