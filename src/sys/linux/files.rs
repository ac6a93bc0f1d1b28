//! Creating and reversing file changes on a resolved parent directory.
//!
//! Takes a directory descriptor to resolve in (the new root, or a host base directory when
//! recovering a journal), the host `/proc` descriptor (for `self/fd/N` magic links) and a
//! relative path; creates a node on the parent descriptor with its final name (never
//! following a final symlink), or reverses such a change only when the inode is still the
//! one recorded. Used by both [`super::Linux`] and host-side recovery.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{Gid, Uid, UnlinkatFlags};

use super::resolve::{How, resolve};
use crate::sys::{FileId, Handle, Node, Parent};

/// The `self/fd/N` name of a descriptor, relative to a `/proc` directory.
pub fn fd_name(fd: BorrowedFd<'_>) -> String {
    format!("self/fd/{}", fd.as_raw_fd())
}

/// Where `fd` is below `base`, as the kernel names them now (their `self/fd/N` links in the
/// `/proc` directory `proc`): the path with every symlink resolved, without a leading `/`
/// (empty for `base` itself). `None` when the kernel does not name `fd` below `base` (it was
/// removed, or is elsewhere).
pub fn rel_below(
    proc: BorrowedFd<'_>,
    base: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
) -> Result<Option<String>, Errno> {
    let name = |f: BorrowedFd<'_>| -> Result<String, Errno> {
        let l = nix::fcntl::readlinkat(proc, fd_name(f).as_str())?;
        l.into_string().map_err(|_| Errno::EILSEQ)
    };
    let (b, f) = (name(base)?, name(fd)?);
    if f.ends_with(" (deleted)") {
        return Ok(None);
    }
    if f == b {
        return Ok(Some(String::new()));
    }
    let below = if b == "/" {
        f.strip_prefix('/')
    } else {
        f.strip_prefix(b.as_str()).and_then(|r| r.strip_prefix('/'))
    };
    Ok(below.filter(|r| !r.is_empty()).map(str::to_string))
}

/// Splits a relative path into its parent and final name (`("", name)` for one component).
pub fn split(rel: &str) -> (&str, &str) {
    match rel.rfind('/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => ("", rel),
    }
}

/// Resolves the parent directory of `rel` inside `root`, following symlinks inside the root,
/// and returns it with the final name.
pub fn parent<'r>(root: BorrowedFd<'_>, rel: &'r str) -> Result<(OwnedFd, &'r str), Errno> {
    let (p, name) = split_name(rel)?;
    Ok((resolve(root, p, How::DIR)?, name))
}

/// [`split`], refusing a final name that cannot be created (empty, `.`, `..`) with EINVAL.
pub fn split_name(rel: &str) -> Result<(&str, &str), Errno> {
    let (p, name) = split(rel);
    if name.is_empty() || name == "." || name == ".." {
        return Err(Errno::EINVAL);
    }
    Ok((p, name))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &str) -> Result<FileStat, Errno> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// The identity of a stat result.
pub fn id_of(st: &FileStat) -> FileId {
    FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    }
}

/// The identity of what `fd` refers to and the id of the mount it is on (`None` on kernels
/// before 5.8, which do not say).
pub fn statx_id(fd: BorrowedFd<'_>) -> Result<(FileId, Option<u64>), Errno> {
    Ok(ids_of(&statx(fd, libc::STATX_INO | libc::STATX_MNT_ID)?))
}

/// The identity and mount id (when the kernel gave one) of a statx result.
pub fn ids_of(st: &libc::statx) -> (FileId, Option<u64>) {
    let mnt = (st.stx_mask & libc::STATX_MNT_ID != 0).then_some(st.stx_mnt_id);
    let dev = nix::sys::stat::makedev(u64::from(st.stx_dev_major), u64::from(st.stx_dev_minor));
    (
        FileId {
            dev,
            ino: st.stx_ino,
        },
        mnt,
    )
}

/// `statx(fd, "", AT_EMPTY_PATH, mask)`.
pub fn statx(fd: BorrowedFd<'_>, mask: libc::c_uint) -> Result<libc::statx, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::statx>::uninit();
    // SAFETY: an empty C string with AT_EMPTY_PATH names `fd` itself; `st` is writable and
    // large enough for a statx.
    let r = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            mask,
            st.as_mut_ptr(),
        )
    };
    Errno::result(r)?;
    // SAFETY: statx succeeded, so the kernel filled `st`.
    Ok(unsafe { st.assume_init() })
}

/// The file type bits of a stat result.
pub fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// A short word for a file type, for messages.
pub fn kind_word(st: &FileStat) -> &'static str {
    match kind(st) {
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFLNK => "a symlink",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        _ => "an unknown kind of file",
    }
}

/// Whether the existing file `st` (named `name` in `dir`) is the node described.
pub fn matches(dir: BorrowedFd<'_>, name: &str, st: &FileStat, node: &Node) -> bool {
    match node {
        Node::Dir => kind(st) == SFlag::S_IFDIR,
        Node::File | Node::Copy { .. } => kind(st) == SFlag::S_IFREG,
        Node::Char(r) => kind(st) == SFlag::S_IFCHR && st.st_rdev == *r,
        Node::Block(r) => kind(st) == SFlag::S_IFBLK && st.st_rdev == *r,
        Node::Fifo => kind(st) == SFlag::S_IFIFO,
        Node::Symlink(to) => {
            kind(st) == SFlag::S_IFLNK
                && nix::fcntl::readlinkat(dir, name)
                    .map(|t| t.as_encoded_bytes() == to.as_bytes())
                    .unwrap_or(false)
        }
    }
}

/// Creates `node` named `name` in `dir` with `mode` (exclusively: never over anything).
pub fn create(dir: BorrowedFd<'_>, name: &str, node: &Node, mode: u32) -> Result<FileStat, Errno> {
    if *node == Node::File {
        return fstat(open_new_file(dir, name, mode)?.as_fd());
    }
    make(dir, name, node, mode)?;
    lstat_at(dir, name)
}

/// Makes `node` as `name` in `dir` (never following a final symlink), without looking at it
/// afterwards: for changes whose undo needs no identity.
pub fn make(dir: BorrowedFd<'_>, name: &str, node: &Node, mode: u32) -> Result<(), Errno> {
    let m = Mode::from_bits_truncate(mode as libc::mode_t);
    match node {
        Node::Dir => nix::sys::stat::mkdirat(dir, name, m),
        Node::File => open_new_file(dir, name, mode).map(drop),
        Node::Char(r) => nix::sys::stat::mknodat(dir, name, SFlag::S_IFCHR, m, *r),
        Node::Block(r) => nix::sys::stat::mknodat(dir, name, SFlag::S_IFBLK, m, *r),
        Node::Fifo => nix::sys::stat::mknodat(dir, name, SFlag::S_IFIFO, m, 0),
        Node::Symlink(to) => nix::unistd::symlinkat(to.as_str(), dir, name),
        // Only the kernel makes these (an overlay's copy-up).
        Node::Copy { .. } => Err(Errno::EINVAL),
    }
}

/// A new, empty regular file (`O_EXCL`, never through a symlink).
fn open_new_file(dir: BorrowedFd<'_>, name: &str, mode: u32) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_WRONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY,
        Mode::from_bits_truncate(mode as libc::mode_t),
    )
}

/// What reversing a change found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reversed {
    /// Reversed.
    Done,
    /// Nothing to do: the file is gone (or was never made).
    Gone,
    /// Left alone, because what is there now is not what was made.
    Kept(String),
}

/// `struct file_handle` with room for the largest handle (MAX_HANDLE_SZ).
#[repr(C)]
struct RawHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; 128],
}

/// The file handle of what `fd` names, when its filesystem gives one.
pub fn handle_of(fd: BorrowedFd<'_>) -> Option<Handle> {
    let mut h = RawHandle {
        handle_bytes: 128,
        handle_type: 0,
        f_handle: [0; 128],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `h` is a file_handle with room for `handle_bytes` bytes; the path is an empty C
    // string naming `fd` itself (AT_EMPTY_PATH).
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            fd.as_raw_fd(),
            c"".as_ptr(),
            &raw mut h,
            &raw mut mount_id,
            libc::AT_EMPTY_PATH,
        )
    };
    (r == 0 && h.handle_bytes <= 128).then(|| Handle {
        kind: h.handle_type,
        bytes: h.f_handle[..h.handle_bytes as usize].to_vec(),
    })
}

/// Opens (`O_PATH`) what handle `h` names on the filesystem `mount` is on: ESTALE when it no
/// longer exists; EPERM without CAP_DAC_READ_SEARCH.
pub fn open_handle(mount: BorrowedFd<'_>, h: &Handle) -> Result<OwnedFd, Errno> {
    if h.bytes.len() > 128 {
        return Err(Errno::EINVAL);
    }
    let mut raw = RawHandle {
        handle_bytes: h.bytes.len() as u32,
        handle_type: h.kind,
        f_handle: [0; 128],
    };
    raw.f_handle[..h.bytes.len()].copy_from_slice(&h.bytes);
    // The kernel takes no `O_PATH` descriptor for the filesystem (EBADF): a real one.
    let m = nix::fcntl::openat(
        mount,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: a valid file_handle; the flags as for open(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            m.as_raw_fd(),
            &raw mut raw,
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r as i32) })
}

/// The directory a record's file is in, `dir` below `base`. When the record holds the
/// directory's handle and the kernel lets it be opened (root), that directory wherever it is
/// now, or gone when it no longer exists. Otherwise, when the record knows the directory's
/// identity (`parent`), found exactly where the record says (no symlink, below `base`, on its
/// mount) and checked to be that very directory, or else left alone with why (the file there
/// cannot be proved to be the one the apply changed); a missing directory is gone. Without any
/// (a filesystem of the namespace only, a journal of an earlier version), resolved as the
/// plan's paths are, and gone when missing.
pub fn record_dir(
    base: BorrowedFd<'_>,
    dir: &str,
    parent: Option<&Parent>,
) -> Result<Result<OwnedFd, Reversed>, Errno> {
    if let Some(h) = parent.and_then(|p| p.handle.as_ref()) {
        match open_handle(base, h) {
            Ok(fd) => {
                let want = parent.map(|p| p.id);
                return Ok(if Some(id_of(&fstat(fd.as_fd())?)) == want {
                    Ok(fd)
                } else {
                    Err(Reversed::Kept(
                        "its directory's handle names another directory: left alone".into(),
                    ))
                });
            }
            Err(Errno::ESTALE) => return Ok(Err(Reversed::Gone)),
            // No capability, or a handle this filesystem does not take: by path.
            Err(_) => {}
        }
    }
    let Some(want) = parent.map(|p| p.id) else {
        return match resolve(base, dir, How::DIR) {
            Ok(fd) => Ok(Ok(fd)),
            Err(Errno::ENOENT) => Ok(Err(Reversed::Gone)),
            Err(e) => Err(e),
        };
    };
    let shown = if dir.is_empty() { "." } else { dir };
    let fd = match resolve(base, dir, How::EXACT.dir()) {
        Ok(fd) => fd,
        // Missing: removed with what was in it (rmdir takes only an empty directory), or moved
        // away by someone who could (the handle, where it can be used, tells the two apart).
        Err(Errno::ENOENT) => return Ok(Err(Reversed::Gone)),
        Err(e @ (Errno::ELOOP | Errno::EXDEV | Errno::ENOTDIR)) => {
            return Ok(Err(Reversed::Kept(format!(
                "its directory `{shown}` is not where it was ({}): it was moved, removed or \
                 replaced, so what is there cannot be proved to be what the apply changed; the \
                 record is kept",
                crate::sys::errno_words(e)
            ))));
        }
        Err(e) => return Err(e),
    };
    if id_of(&fstat(fd.as_fd())?) != want {
        return Ok(Err(Reversed::Kept(format!(
            "its directory `{shown}` is another directory now: what is there cannot be proved \
             to be what the apply changed; the record is kept"
        ))));
    }
    Ok(Ok(fd))
}

/// Removes the node at `rel` below `root` if it is still the one created: in its directory
/// (see [`record_dir`]), the same kind (and device number or link target) and, when `id` is
/// known, the same inode. Without `id` (a journal intent whose creation may or may not have
/// happened) a regular file is removed only when empty, and a directory only when empty (rmdir
/// refuses otherwise).
pub fn remove(
    root: BorrowedFd<'_>,
    rel: &str,
    node: &Node,
    id: Option<FileId>,
    parent: Option<&Parent>,
) -> Result<Reversed, Errno> {
    either_place(rel, parent, |rel, parent| {
        remove_at(root, rel, node, id, parent)
    })
}

/// Runs an undo at `rel`, then, when it cannot be proved there and the plan names the file
/// elsewhere below the same base, at that place: both in a directory of the identity the
/// record holds. What the first place found is reported when neither is proved.
fn either_place(
    rel: &str,
    parent: Option<&Parent>,
    mut undo: impl FnMut(&str, Option<&Parent>) -> Result<Reversed, Errno>,
) -> Result<Reversed, Errno> {
    let first = undo(rel, parent)?;
    match (&first, parent.and_then(|p| p.planned.as_deref())) {
        (Reversed::Kept(_), Some(planned)) if planned != rel => match undo(planned, parent)? {
            Reversed::Kept(_) => Ok(first),
            r => Ok(r),
        },
        _ => Ok(first),
    }
}

fn remove_at(
    root: BorrowedFd<'_>,
    rel: &str,
    node: &Node,
    id: Option<FileId>,
    parent: Option<&Parent>,
) -> Result<Reversed, Errno> {
    let (dir, name) = split_name(rel)?;
    let dir = match record_dir(root, dir, parent)? {
        Ok(d) => d,
        Err(r) => return Ok(r),
    };
    let st = match lstat_at(dir.as_fd(), name) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(Reversed::Gone),
        Err(e) => return Err(e),
    };
    if !matches(dir.as_fd(), name, &st, node) {
        return Ok(Reversed::Kept(format!(
            "it is now {}, not the {} that was created",
            kind_word(&st),
            node.word()
        )));
    }
    match id {
        Some(id) if id != id_of(&st) => {
            return Ok(Reversed::Kept(
                "it is no longer the inode that was created".into(),
            ));
        }
        None if *node == Node::File && st.st_size != 0 => {
            return Ok(Reversed::Kept(
                "it is not empty, so it may not be the file that was created".into(),
            ));
        }
        None if matches!(node, Node::Copy { size, mtime, nsec }
            if (u64::try_from(st.st_size).ok(), st.st_mtime, st.st_mtime_nsec)
                != (Some(*size), *mtime, *nsec)) =>
        {
            return Ok(Reversed::Kept(
                "its size or modification time is not the copied file's, so it may not be the \
                 copy"
                    .into(),
            ));
        }
        _ => {}
    }
    let flag = if *node == Node::Dir {
        UnlinkatFlags::RemoveDir
    } else {
        UnlinkatFlags::NoRemoveDir
    };
    match nix::unistd::unlinkat(dir.as_fd(), name, flag) {
        Ok(()) => Ok(Reversed::Done),
        Err(Errno::ENOENT) => Ok(Reversed::Gone),
        Err(Errno::ENOTEMPTY) | Err(Errno::EEXIST) => Ok(Reversed::Kept(
            "the directory is not empty: something else was put in it".into(),
        )),
        Err(e) => Err(e),
    }
}

/// Resolves `rel` for a mode change (following a final symlink inside the root, as chmod).
pub fn open_for_chmod(root: BorrowedFd<'_>, rel: &str) -> Result<OwnedFd, Errno> {
    resolve(root, rel, How::FOLLOW)
}

/// Resolves `rel` for an owner change (the final component itself, as lchown).
pub fn open_for_chown(root: BorrowedFd<'_>, rel: &str) -> Result<OwnedFd, Errno> {
    resolve(root, rel, How::NOFOLLOW)
}

/// Whether the directory `fd` (an `O_PATH` descriptor, `st` its fstat) is indistinguishable
/// from one this process has just made with `mkdir(mode)` under a zero umask: a directory
/// owned by the effective uid, with those permission bits (the set-gid bit aside, which a
/// set-gid parent passes on), and empty. A directory swapped in by a rename race that passes
/// this is one the plan could have made there, so setting bits on it changes nothing else.
pub fn is_fresh_dir(fd: BorrowedFd<'_>, st: &FileStat, mode: u32) -> Result<bool, Errno> {
    let want = mode & 0o1777;
    if kind(st) != SFlag::S_IFDIR
        || st.st_uid != super::host::euid()
        || (st.st_mode & 0o1777) != want
    {
        return Ok(false);
    }
    let d = nix::fcntl::openat(
        fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut dir = nix::dir::Dir::from_fd(d)?;
    for e in dir.iter() {
        let name = e?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `chmod` of exactly the inode `fd` refers to, through `/proc/self/fd/N` of the host proc.
pub fn chmod_fd(proc: BorrowedFd<'_>, fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    nix::sys::stat::fchmodat(
        proc,
        fd_name(fd).as_str(),
        Mode::from_bits_truncate(mode as libc::mode_t),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
}

/// `lchown` of exactly the inode `fd` refers to (`AT_EMPTY_PATH` works on `O_PATH`).
pub fn chown_fd(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
    nix::unistd::fchownat(
        fd,
        "",
        uid.map(Uid::from_raw),
        gid.map(Gid::from_raw),
        AtFlags::AT_EMPTY_PATH,
    )
}

/// Opens the file a mode or owner record names, `rel` below `root`, when it is still inode
/// `id` in its directory (see [`record_dir`]; `rel` empty: `root` itself); otherwise what to
/// report instead (gone, or left alone because it is another inode now, saying what was
/// `changed`). Without `parent`, `follow` says whether a final symlink is followed (chmod) or
/// not (lchown), as the plan's call did.
fn open_same(
    root: BorrowedFd<'_>,
    rel: &str,
    id: FileId,
    parent: Option<&Parent>,
    follow: bool,
    changed: &str,
) -> Result<Result<OwnedFd, Reversed>, Errno> {
    let fd = if rel.is_empty() {
        super::resolve::dup(root)?
    } else if parent.is_some() {
        let (dir, name) = split_name(rel)?;
        let dir = match record_dir(root, dir, parent)? {
            Ok(d) => d,
            Err(r) => return Ok(Err(r)),
        };
        match nix::fcntl::openat(
            dir.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Err(Reversed::Gone)),
            Err(e) => return Err(e),
        }
    } else {
        let open = if follow {
            open_for_chmod
        } else {
            open_for_chown
        };
        match open(root, rel) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Err(Reversed::Gone)),
            Err(e) => return Err(e),
        }
    };
    if id_of(&fstat(fd.as_fd())?) != id {
        return Ok(Err(Reversed::Kept(format!(
            "it is no longer the inode whose {changed} was changed"
        ))));
    }
    Ok(Ok(fd))
}

/// Puts `mode` back on `rel` if it is still inode `id` (in its directory `parent`).
pub fn restore_mode(
    root: BorrowedFd<'_>,
    proc: BorrowedFd<'_>,
    rel: &str,
    id: FileId,
    mode: u32,
    parent: Option<&Parent>,
) -> Result<Reversed, Errno> {
    either_place(rel, parent, |rel, parent| {
        Ok(match open_same(root, rel, id, parent, true, "mode")? {
            Ok(fd) => {
                chmod_fd(proc, fd.as_fd(), mode)?;
                Reversed::Done
            }
            Err(r) => r,
        })
    })
}

/// Puts the owner back on `rel` if it is still inode `id` (in its directory `parent`), then
/// the set-id bits of `mode` that the chown cleared.
#[allow(clippy::too_many_arguments)]
pub fn restore_owner(
    root: BorrowedFd<'_>,
    proc: BorrowedFd<'_>,
    rel: &str,
    id: FileId,
    uid: u32,
    gid: u32,
    mode: u32,
    parent: Option<&Parent>,
) -> Result<Reversed, Errno> {
    either_place(rel, parent, |rel, parent| {
        Ok(match open_same(root, rel, id, parent, false, "owner")? {
            Ok(fd) => {
                chown_fd(fd.as_fd(), Some(uid), Some(gid))?;
                let st = fstat(fd.as_fd())?;
                if mode & 0o6000 != 0 && kind(&st) != SFlag::S_IFLNK && st.st_mode & 0o7777 != mode
                {
                    chmod_fd(proc, fd.as_fd(), mode)?;
                }
                Reversed::Done
            }
            Err(r) => r,
        })
    })
}

/// The entries of the directory `dir`, read from its start (a stream of its own: `dir`'s
/// offset is not moved).
pub fn entries(dir: BorrowedFd<'_>) -> Result<nix::dir::Dir, Errno> {
    nix::dir::Dir::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}
