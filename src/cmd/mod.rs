//! One module per subcommand; each returns the exit status.

mod apply;
mod check;
mod diff;
mod plan;

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use mountplan::load::{MAX_FILE_BYTES, too_big};

use crate::cli::Command;

/// Reads a plan file (or an include) for the pipeline, the one way every command reads them.
///
/// Only a regular file or a pipe is read: a directory, a device or a socket is refused with
/// what it is (a device such as `/dev/zero` would never end). The file is opened with
/// `O_NONBLOCK`, so a FIFO with no writer cannot hang the open; a pipe that gives nothing is an
/// error. At most [`MAX_FILE_BYTES`] are read. The text must be UTF-8: the error names the
/// offset of the first bad byte.
pub fn read_plan(p: &Path) -> io::Result<String> {
    let refuse = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({what}); a plan is read from a file or a pipe"),
        )
    };
    let kind = |t: std::fs::FileType| {
        if t.is_dir() {
            Err(refuse("a directory"))
        } else if t.is_char_device() || t.is_block_device() {
            Err(refuse("a device"))
        } else if t.is_socket() {
            Err(refuse("a socket"))
        } else {
            Ok(t.is_fifo())
        }
    };
    // Refused before opening too: opening a device can have effects of its own.
    kind(std::fs::metadata(p)?.file_type())?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(p)?;
    let meta = f.metadata()?;
    let fifo = kind(meta.file_type())?;
    if fifo {
        // Opened without waiting for a writer; now wait for what it writes.
        // SAFETY: fcntl on a descriptor this function owns.
        let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
        if flags < 0
            || unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0
        {
            return Err(io::Error::last_os_error());
        }
    } else if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(too_big());
    }
    // Room for the whole file and the read that finds its end: two reads, not one per
    // doubling of a buffer that starts at 32 bytes.
    let hint = if fifo { 0 } else { meta.len() as usize + 1 };
    let mut bytes = Vec::with_capacity(hint);
    f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    if fifo && bytes.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "a FIFO that gave nothing (no writer)",
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Checks a plan, reading it and its includes with [`read_plan`]; also says whether a file
/// could not be read (exit status 2 rather than 1, for `check`, `plan` and `diff` alike).
pub(crate) fn check_plan(path: &Path, vars: &[(String, String)]) -> (mountplan::Checked, bool) {
    let mut unreadable = false;
    let checked = mountplan::check(path, vars, &mut |p| {
        let r = read_plan(p);
        unreadable |= r.is_err();
        r
    });
    (checked, unreadable)
}

/// Whether to colour a stream: `--color always|never`, or with `auto` when the stream is a
/// terminal and `NO_COLOR` is not set to a non-empty value (no-color.org: an empty value does
/// not count).
pub(crate) fn color_on(c: crate::cli::Color, terminal: bool) -> bool {
    color_with(c, terminal, std::env::var_os("NO_COLOR").as_deref())
}

fn color_with(c: crate::cli::Color, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    match c {
        crate::cli::Color::Always => true,
        crate::cli::Color::Never => false,
        crate::cli::Color::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// Runs a subcommand and returns its exit status.
pub fn run(c: Command) -> u8 {
    match c {
        Command::Check(a) => check::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Apply(a) => apply::apply(a),
        Command::Recover(a) => apply::recover(a),
        Command::Release(a) => apply::release(a),
        Command::Schema(a) => check::schema(a),
        Command::Completions(a) => check::completions(a),
        Command::Man => check::man(),
    }
}

#[cfg(test)]
mod tests {
    use super::color_with;
    use crate::cli::Color;
    use std::ffi::OsStr;

    #[test]
    fn no_color_counts_only_when_not_empty() {
        assert!(color_with(Color::Auto, true, None));
        assert!(color_with(Color::Auto, true, Some(OsStr::new(""))));
        assert!(!color_with(Color::Auto, true, Some(OsStr::new("1"))));
        assert!(!color_with(Color::Auto, false, None));
        assert!(color_with(Color::Always, false, Some(OsStr::new("1"))));
        assert!(!color_with(Color::Never, true, None));
    }
}
