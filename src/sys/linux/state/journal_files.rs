//! The files of a journal directory: the journals left (listed, read, removed) and the
//! journal one apply writes.
//!
//! Takes a journal directory's descriptor and a file's name; returns the names that end with
//! a suffix ([`list`]), whether one [`exists`], a journal's text and inode ([`read`]: only a
//! regular file the caller owns and only it may write), its removal when it is still that
//! inode ([`remove`]); and [`JournalFile`], the [`crate::sys::JournalStore`] of one apply
//! (created exclusively on its first line, every line synced).

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag, fstat, fstatat};
use nix::unistd::UnlinkatFlags;

use super::{me, mode_of, owner_word};
use crate::sys::FileId;
use crate::sys::linux::files::{self, id_of, kind};

/// The names in the directory `dir` that end with `suffix`, sorted.
pub fn list(dir: BorrowedFd<'_>, suffix: &str) -> Result<Vec<String>, Errno> {
    let mut d = files::entries(dir)?;
    let mut v = Vec::new();
    for e in d.iter() {
        let e = e?;
        if let Ok(n) = e.file_name().to_str() {
            if n.ends_with(suffix) && n != suffix {
                v.push(n.to_string());
            }
        }
    }
    v.sort();
    Ok(v)
}

/// True when `name` exists in `dir` (errors other than "missing" count as existing).
pub fn exists(dir: BorrowedFd<'_>, name: &str) -> bool {
    !matches!(
        fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW),
        Err(Errno::ENOENT)
    )
}

/// A journal file read from its directory's descriptor.
#[derive(Debug)]
pub struct JournalText {
    /// Its text.
    pub text: String,
    /// The inode read, so only it is removed.
    pub id: FileId,
}

/// The most a journal may hold (a plan has at most 10 000 steps of a few records each).
const MAX_JOURNAL: u64 = 64 << 20;

/// Reads the journal `name` in `dir`: `Ok(None)` when it is gone. Only a regular file the
/// caller owns and only it may write is read (journals are made 0600): anything else is not
/// a journal of this user and is left alone.
pub fn read(dir: BorrowedFd<'_>, name: &str) -> Result<Option<JournalText>, String> {
    let fd = match nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {}", crate::sys::errno_words(e))),
    };
    let st = fstat(fd.as_fd()).map_err(|e| format!("fstat: {}", crate::sys::errno_words(e)))?;
    if kind(&st) != SFlag::S_IFREG || st.st_uid != me() || mode_of(&st) & 0o022 != 0 {
        return Err(format!(
            "it is not a journal mountplan wrote as {} ({} owned by {}, mode 0{:o}): it was \
             left alone",
            owner_word(me()),
            crate::sys::linux::files::kind_word(&st),
            owner_word(st.st_uid),
            mode_of(&st)
        ));
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_JOURNAL)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it: {}", crate::sys::io_words(&e)))?;
    Ok(Some(JournalText {
        text,
        id: id_of(&st),
    }))
}

/// Removes `name` from `dir` when it is still the inode `id`: `Ok(false)` when it is gone or
/// is another file now (left alone).
pub fn remove(dir: BorrowedFd<'_>, name: &str, id: FileId) -> Result<bool, Errno> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if id_of(&st) == id => {}
        Ok(_) | Err(Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(e),
    }
    nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?;
    let _ = nix::unistd::fsync(dir);
    Ok(true)
}

/// The journal of one apply, `<key>.journal` in the journal directory held open (from before
/// the namespace was made, so it works after a pivot): created exclusively on the first line.
#[derive(Debug)]
pub struct JournalFile {
    dir: OwnedFd,
    name: String,
    file: Option<std::fs::File>,
}

impl JournalFile {
    /// The journal `name` in the journal directory `dir`.
    pub fn new(dir: OwnedFd, name: &str) -> Self {
        JournalFile {
            dir,
            name: name.to_string(),
            file: None,
        }
    }
}

impl crate::sys::JournalStore for JournalFile {
    fn append(&mut self, head: &str, line: &str) -> Result<(), String> {
        use std::io::Write;
        let e = |what: &str, e: std::io::Error| {
            format!("{what} journal {}: {}", self.name, crate::sys::io_words(&e))
        };
        if self.file.is_none() {
            let fd = nix::fcntl::openat(
                self.dir.as_fd(),
                self.name.as_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_APPEND
                    | OFlag::O_CLOEXEC
                    | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(|x| e("create", x.into()))?;
            let mut f = std::fs::File::from(fd);
            f.write_all(head.as_bytes())
                .and_then(|_| f.sync_data())
                .map_err(|x| e("write", x))?;
            // The new name must be on disk before any change it describes.
            nix::unistd::fsync(self.dir.as_fd())
                .map_err(|x| e("sync the directory of", x.into()))?;
            self.file = Some(f);
        }
        let Some(f) = self.file.as_mut() else {
            return Err(format!("journal {} is not open", self.name));
        };
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|x| e("write", x))
    }

    fn remove(&mut self) -> Result<(), String> {
        if self.file.take().is_some() {
            nix::unistd::unlinkat(
                self.dir.as_fd(),
                self.name.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(|e| {
                format!(
                    "remove journal {}: {}",
                    self.name,
                    crate::sys::errno_words(e)
                )
            })?;
            let _ = nix::unistd::fsync(self.dir.as_fd());
        }
        Ok(())
    }
}
