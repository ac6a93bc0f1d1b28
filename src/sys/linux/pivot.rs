//! The pivot's own calls of [`Linux`]: the put_old directory made, held and removed, and
//! `pivot_root` itself.
//!
//! Takes the pivot's calls ([`Call::MakePutOld`], [`Call::PivotRoot`],
//! [`Call::RemovePutOld`]); returns what changed. The put_old directory is made with a fresh
//! random name on the resolved parent and used through its descriptor only, so its name in the
//! root plays no part (see [`super::mounting`] for the mounts themselves).

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, fstat};

use super::below::Fd;
use super::{Linux, files, host};
use crate::lowering::{At, Call};
use crate::sys::{Before, Effect, SysError, Undo};

impl Linux {
    /// A new put_old directory: the prefix at `at` and six random characters, a fresh name
    /// (another one while a name exists), made 0700 and held.
    pub(super) fn make_put_old(
        &mut self,
        c: &Call,
        at: &At,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let (dir, prefix) = self
            .held
            .parent(at)
            .map_err(|e| self.create_error(c, at, e))?;
        let mut name = String::new();
        for _ in 0..100 {
            name = format!("{prefix}{}", random_suffix());
            match files::lstat_at(dir.as_fd(), &name) {
                Err(Errno::ENOENT) => break,
                Ok(_) => name.clear(),
                Err(e) => return Err(err(e)),
            }
        }
        if name.is_empty() {
            return Err(SysError::refused(
                c,
                Errno::EEXIST,
                "no free name for the put_old directory after 100 tries",
            ));
        }
        let path = at.path.parent().join(&name);
        let named = At {
            path: path.clone(),
            on: at.on,
            rel: match at.split() {
                Some(("", _)) | None => name.clone(),
                Some((d, _)) => format!("{d}/{name}"),
            },
        };
        let (placed, parent) = self.placed(c, &named, dir.as_fd(), Some(&name))?;
        let mut u = Undo::Remove {
            at: placed,
            node: crate::sys::Node::Dir,
            id: None,
            parent,
        };
        before(&u)?;
        // Exclusive: a name taken since it was looked at fails the step, never another
        // directory is used.
        nix::sys::stat::mkdirat(dir.as_fd(), name.as_str(), Mode::from_bits_truncate(0o700))
            .map_err(err)?;
        let fd = nix::fcntl::openat(
            dir.as_fd(),
            name.as_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        let id = files::id_of(&fstat(fd.as_fd()).map_err(err)?);
        if let Undo::Remove { id: slot, .. } = &mut u {
            *slot = Some(id);
        }
        let parent_fd = match dir {
            Fd::Own(f) => f,
            Fd::Held(_) => super::resolve::dup(dir.as_fd()).map_err(err)?,
        };
        self.put_old = Some((parent_fd, name, id, fd));
        Ok(Effect::Changed(u))
    }

    /// `pivot_root` from the new root (the working directory): `put_old` `"."`, or the put_old
    /// directory made before, through its descriptor (its name in the root plays no part).
    pub(super) fn pivot_root(&mut self, c: &Call, put_old: bool) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        if !put_old {
            nix::unistd::pivot_root(".", ".").map_err(err)?;
            self.cwd_at_proc = false;
            return Ok(Effect::Local);
        }
        let Some((_, _, _, dir)) = &self.put_old else {
            return Err(err(Errno::EBADF));
        };
        let dir = dir.as_raw_fd();
        let root = self.root_fd().map_err(err)?.as_raw_fd();
        // The old root, `/` now: after the pivot, the mount it is on is the one to detach.
        let old = host::open_path(Path::new("/"), true).map_err(|e| err(e.errno))?;
        self.at_proc().map_err(err)?;
        let (new_root, put) = (format!("self/fd/{root}"), format!("self/fd/{dir}"));
        nix::unistd::pivot_root(new_root.as_str(), put.as_str()).map_err(err)?;
        self.old_root = Some(old);
        Ok(Effect::Local)
    }

    /// Removes the put_old directory, if it is still the one made.
    pub(super) fn remove_put_old(&mut self, c: &Call) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let Some((dir, name, id, fd)) = self.put_old.take() else {
            return Ok(Effect::Local);
        };
        drop(fd);
        match files::lstat_at(dir.as_fd(), &name) {
            Ok(st) if files::id_of(&st) == id => nix::unistd::unlinkat(
                dir.as_fd(),
                name.as_str(),
                nix::unistd::UnlinkatFlags::RemoveDir,
            )
            .map_err(err)?,
            Ok(_) => {
                return Err(SysError::refused(
                    c,
                    Errno::EEXIST,
                    format!(
                        "`{name}` is not the put_old directory made (replaced while apply ran): \
                         left alone"
                    ),
                ));
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(err(e)),
        }
        Ok(Effect::Local)
    }
}

/// Six characters from `[A-Za-z0-9]`, from the kernel's random pool.
fn random_suffix() -> String {
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut b = [0u8; 6];
    // SAFETY: getrandom(2) writes at most `b.len()` bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // Not random, still unlikely to be taken; a taken name is looked at first anyway.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        b = [
            t as u8,
            (t >> 8) as u8,
            (t >> 16) as u8,
            (t >> 24) as u8,
            7,
            11,
        ];
    }
    b.iter()
        .map(|x| SET[*x as usize % SET.len()] as char)
        .collect()
}
