//! Where a plan is read from, and the names its files are shown under.
//!
//! Takes a PLAN argument (a path, or `-` for standard input), how to name its files, and for
//! `diff --rev` a git revision; returns the checked plan (its files read through one reader
//! that [`mountplan::load`] calls for the plan and each include) and whether a file could not
//! be read.
//!
//! Names. `check` and `apply` show a file as the command line or the include named it, so a
//! diagnostic points at a path the caller can open. The dry run and the diff are documents
//! meant to be checked in and compared, so `plan` and `diff` name every file relative to the
//! root of the git work tree the plan is in (the nearest directory above it holding `.git`),
//! or, outside a repository, relative to the plan's own directory: `plans/x.toml`,
//! `./plans/x.toml`, `/abs/repo/plans/x.toml` and `../plans/x.toml` typed from a subdirectory
//! all give `file: plans/x.toml`. The path is made absolute by resolving the plan's directory
//! (symbolic links and `..` included); the file name itself is kept as given.
//!
//! A fragment (`mountplan:NAME`) is named as typed, and read from mountplan itself (also for
//! `diff --rev`: it is the same at every revision).
//!
//! Standard input (`-`) is read once, under the same rules as a file (at most
//! [`MAX_FILE_BYTES`], UTF-8; a terminal or a device is refused); it is named `<stdin>`, and
//! its includes are relative to the current directory.
//!
//! A git revision is read with the `git` command (`git ls-tree` for the entry's mode and size,
//! `git cat-file blob` for its text), the plan and each include at that revision: a file
//! missing at the revision, a directory, a symbolic link or a submodule there is an error that
//! says so, and so is a missing `git`.

use std::io::{self, IsTerminal, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mountplan::load::{MAX_FILE_BYTES, normal, too_big};

/// The name standard input is shown under.
pub const STDIN_NAME: &str = "<stdin>";

/// How a plan's files are named in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// As typed, and includes relative to that (`check`, `apply`).
    AsTyped,
    /// Relative to the git work tree's root, or the plan's directory (`plan`, `diff`).
    Review,
}

/// A plan argument, resolved: the name the pipeline is given (the entry's source name;
/// includes are named relative to it) and how a name is read.
pub struct Input {
    /// The entry file's name, as shown.
    pub name: PathBuf,
    read: Reader,
}

enum Reader {
    /// Files, each name relative to `base` (the current directory for [`Naming::AsTyped`]).
    Files { base: PathBuf },
    /// Standard input for the entry, files relative to the current directory for includes.
    Stdin,
    /// Files at a revision of the git work tree at `top` (`commit` is the resolved id).
    Git {
        top: PathBuf,
        rev: String,
        commit: String,
    },
}

/// A usage problem with a plan argument, found before anything is read (exit 2).
#[derive(Debug)]
pub struct InputError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl Input {
    /// The plan file at `arg`, named as typed (a file named `-` too).
    pub fn file(arg: &Path) -> Input {
        Input {
            name: arg.to_path_buf(),
            read: Reader::Files {
                base: PathBuf::new(),
            },
        }
    }

    /// The plan at `arg` (`-`: standard input), named as `naming` says.
    pub fn new(arg: &Path, naming: Naming) -> Input {
        if arg == Path::new("-") {
            return Input {
                name: PathBuf::from(STDIN_NAME),
                read: Reader::Stdin,
            };
        }
        let as_typed = Input::file(arg);
        if naming == Naming::AsTyped || is_fragment(arg) {
            return as_typed;
        }
        match review_name(arg) {
            Some((base, name)) => Input {
                name,
                read: Reader::Files { base },
            },
            // Its directory does not exist: the read fails, and says so with the path as typed.
            None => as_typed,
        }
    }

    /// The plan at `arg` as it is at git revision `rev` of the work tree it is in, includes
    /// read at that revision too. Named as [`Naming::Review`] names it (the path in the
    /// repository).
    pub fn at_revision(arg: &Path, rev: &str) -> Result<Input, InputError> {
        if is_fragment(arg) {
            // Built into mountplan: the same at every revision.
            return Ok(Input::file(arg));
        }
        let (dir, file) = split(arg).ok_or_else(|| InputError {
            message: format!("`{}` does not name a file", arg.display()),
            help: "give the path of a plan file".into(),
        })?;
        let dir = std::fs::canonicalize(&dir).map_err(|e| InputError {
            message: format!(
                "cannot find the directory of `{}` to read it at `{rev}`: {e}",
                arg.display()
            ),
            help: "give the plan's path in the work tree (its directory must exist)".into(),
        })?;
        let top = git(&dir, &["rev-parse", "--show-toplevel"])
            .map_err(|e| InputError {
                message: format!("cannot read `{}` at `{rev}`: {e}", arg.display()),
                help: "--rev reads the old plan from the git repository the plan is in".into(),
            })
            .and_then(|out| {
                let top = String::from_utf8_lossy(&out)
                    .trim_end_matches('\n')
                    .to_string();
                std::fs::canonicalize(&top).map_err(|e| InputError {
                    message: format!("cannot open the work tree `{top}`: {e}"),
                    help: "check its permissions".into(),
                })
            })?;
        let spec = format!("{rev}^{{commit}}");
        let commit = git(
            &top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        )
        .map_err(|_| InputError {
            message: format!(
                "`{rev}` is not a revision of the repository at `{}`",
                top.display()
            ),
            help: "give a commit, branch or tag (`HEAD~1`, `main`, `origin/main`, a commit id)"
                .into(),
        })?;
        let commit = String::from_utf8_lossy(&commit).trim().to_string();
        let name = dir
            .strip_prefix(&top)
            .map(|d| d.join(file))
            .map_err(|_| InputError {
                message: format!(
                    "`{}` is not inside the work tree `{}`",
                    arg.display(),
                    top.display()
                ),
                help: "give the plan's path in the work tree".into(),
            })?;
        Ok(Input {
            name,
            read: Reader::Git {
                top,
                rev: rev.to_string(),
                commit,
            },
        })
    }

    /// True when the plan is read from standard input.
    pub fn is_stdin(&self) -> bool {
        matches!(self.read, Reader::Stdin)
    }

    /// Checks the plan, reading it and its includes, with `--set` and `--api` (`None`: the
    /// plan's own `api`); also says whether a file could not be read (exit status 2 rather
    /// than 1, for `check`, `plan` and `diff` alike).
    pub fn check_api(
        &self,
        vars: &[(String, String)],
        api: Option<mountplan::model::Api>,
    ) -> (mountplan::Checked, bool) {
        let mut unreadable = false;
        let mut entry = true;
        let limits = mountplan::load::Limits::default();
        let checked = mountplan::check_api(
            &self.name,
            vars,
            &mut |p| {
                let first = std::mem::take(&mut entry);
                let r = match &self.read {
                    Reader::Files { base } => read_plan(&base.join(p)),
                    Reader::Stdin if first => read_stdin(),
                    Reader::Stdin => read_plan(p),
                    Reader::Git { top, rev, commit } => read_git(top, rev, commit, p),
                };
                unreadable |= r.is_err();
                r
            },
            &limits,
            api,
        );
        // An entry naming no fragment is a plan that cannot be read, as a missing file is.
        unreadable |= self
            .name
            .to_str()
            .is_some_and(|n| is_fragment(&self.name) && mountplan::fragments::get(n).is_none());
        (checked, unreadable)
    }
}

/// True when the PLAN argument names a fragment shipped inside mountplan (`mountplan:dev`),
/// which the loader resolves without reading a file.
fn is_fragment(arg: &Path) -> bool {
    arg.to_str()
        .is_some_and(mountplan::fragments::is_fragment_name)
}

/// A path's directory (`.` when it has none) and file name; `None` when it has no file name
/// (`/`, `..`).
fn split(p: &Path) -> Option<(PathBuf, &std::ffi::OsStr)> {
    let file = p.file_name()?;
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((dir, file))
}

/// The directory a plan's names are relative to (the root of its git work tree, or its own
/// directory), and its name relative to that. `None` when its directory cannot be resolved.
pub fn review_name(p: &Path) -> Option<(PathBuf, PathBuf)> {
    let (dir, file) = split(p)?;
    let dir = std::fs::canonicalize(dir).ok()?;
    let base = dir
        .ancestors()
        .find(|a| a.join(".git").symlink_metadata().is_ok())
        .unwrap_or(&dir)
        .to_path_buf();
    let name = dir.strip_prefix(&base).ok()?.join(file);
    Some((base, name))
}

fn not_a_plan(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({what}); a plan is read from a file or a pipe"),
    )
}

/// Whether a file type may be read as a plan: `Ok(true)` for a pipe (or a socket, standard
/// input only), `Ok(false)` for a regular file, an error for a directory or a device.
fn readable_kind(t: std::fs::FileType, socket_ok: bool) -> io::Result<bool> {
    if t.is_dir() {
        Err(not_a_plan("a directory"))
    } else if t.is_char_device() || t.is_block_device() {
        Err(not_a_plan("a device"))
    } else if t.is_socket() {
        if socket_ok {
            Ok(true)
        } else {
            Err(not_a_plan("a socket"))
        }
    } else {
        Ok(t.is_fifo())
    }
}

/// Reads a plan file (or an include) for the pipeline, the one way every command reads them.
///
/// Only a regular file or a pipe is read: a directory, a device or a socket is refused with
/// what it is (a device such as `/dev/zero` would never end). The file is opened with
/// `O_NONBLOCK`, so a FIFO with no writer cannot hang the open; a pipe that gives nothing is an
/// error. At most [`MAX_FILE_BYTES`] are read. The text must be UTF-8: the error names the
/// offset of the first bad byte.
pub fn read_plan(p: &Path) -> io::Result<String> {
    // Refused before opening too: opening a device can have effects of its own.
    readable_kind(std::fs::metadata(p)?.file_type(), false)?;
    let f = mountplan::sys::linux::fds::open_nonblocking(p)?;
    let meta = f.metadata()?;
    let pipe = readable_kind(meta.file_type(), false)?;
    if pipe {
        // Opened without waiting for a writer; now wait for what it writes.
        mountplan::sys::linux::fds::set_blocking(&f)?;
    }
    read_text(f, &meta, pipe, "a FIFO that gave nothing (no writer)")
}

/// Reads the plan on standard input (`check -`, `plan -`), as [`read_plan`] reads a file: a
/// pipe, a socket or a redirected regular file, at most [`MAX_FILE_BYTES`] of UTF-8. A
/// terminal is refused (nothing would come until the caller typed a plan and ^D), as is
/// a device, a directory or an empty input.
pub fn read_stdin() -> io::Result<String> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "standard input is a terminal; pipe a plan into it (`mountplan check - < plan.toml`)",
        ));
    }
    let f = std::fs::File::from(stdin.as_fd().try_clone_to_owned()?);
    let meta = f.metadata()?;
    let pipe = readable_kind(meta.file_type(), true)?;
    read_text(f, &meta, pipe, "standard input is empty")
}

/// Reads at most [`MAX_FILE_BYTES`] of UTF-8 from an open file (`pipe`: not a regular file, so
/// its length is unknown; `empty` is the error of a pipe that gives nothing).
fn read_text(
    f: std::fs::File,
    meta: &std::fs::Metadata,
    pipe: bool,
    empty: &str,
) -> io::Result<String> {
    if !pipe && meta.len() > MAX_FILE_BYTES as u64 {
        return Err(too_big());
    }
    // Room for the whole file and the read that finds its end: two reads, not one per
    // doubling of a buffer that starts at 32 bytes.
    let hint = if pipe { 0 } else { meta.len() as usize + 1 };
    let mut bytes = Vec::with_capacity(hint);
    f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    utf8(bytes, pipe, empty)
}

fn utf8(bytes: Vec<u8>, pipe: bool, empty: &str) -> io::Result<String> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    if pipe && bytes.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            empty.to_string(),
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

/// Runs `git -C dir ARGS...` and returns its standard output; an error with git's own message
/// when it fails, or a clear one when git is not installed.
fn git(dir: &Path, args: &[&str]) -> io::Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(git_missing)?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(io::Error::other(if msg.is_empty() {
            format!("`git {}` failed ({})", args.join(" "), out.status)
        } else {
            msg
        }));
    }
    Ok(out.stdout)
}

fn git_missing(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound {
        io::Error::new(
            io::ErrorKind::NotFound,
            "`git` is not installed (or not on PATH): reading a plan at a revision runs \
             `git ls-tree` and `git cat-file`",
        )
    } else {
        io::Error::new(e.kind(), format!("cannot run `git`: {e}"))
    }
}

/// Reads `p` (a path relative to the work tree's root, as the pipeline names it) at the
/// revision: the file's entry in the revision's tree must be a regular file of at most
/// [`MAX_FILE_BYTES`].
fn read_git(top: &Path, rev: &str, commit: &str, p: &Path) -> io::Result<String> {
    let outside = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` is outside the work tree `{}`, so it has no version at `{rev}`",
                p.display(),
                top.display()
            ),
        )
    };
    let p = if p.is_absolute() {
        p.strip_prefix(top).map_err(|_| outside())?.to_path_buf()
    } else {
        p.to_path_buf()
    };
    let rel = normal(&p);
    if rel.starts_with("..") || rel.as_os_str().is_empty() {
        return Err(outside());
    }
    let rel_s = rel.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not UTF-8", rel.display()),
        )
    })?;
    // `<mode> SP <type> SP <object> SP <size> TAB <path> NUL`, or nothing when it is missing.
    let listing = git(
        top,
        &["ls-tree", "-l", "-z", "--full-tree", commit, "--", rel_s],
    )?;
    let entry = listing
        .split(|&b| b == 0)
        .filter_map(|e| {
            let tab = e.iter().position(|&b| b == b'\t')?;
            (&e[tab + 1..] == rel_s.as_bytes()).then(|| String::from_utf8_lossy(&e[..tab]))
        })
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{rel_s}` does not exist at `{rev}`"),
            )
        })?;
    let fields: Vec<&str> = entry.split_whitespace().collect();
    let [mode, kind, object, size] = fields[..] else {
        return Err(io::Error::other(format!(
            "unexpected `git ls-tree` entry `{entry}`"
        )));
    };
    let what = match (mode, kind) {
        (_, "tree") => Some("a directory"),
        ("120000", _) => Some("a symbolic link"),
        (_, "commit") => Some("a submodule"),
        (_, "blob") => None,
        _ => Some("not a file"),
    };
    if let Some(what) = what {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{rel_s}` is {what} at `{rev}`, not a plan file"),
        ));
    }
    if size.parse::<u64>().is_ok_and(|s| s > MAX_FILE_BYTES as u64) {
        return Err(too_big());
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["cat-file", "blob", object])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(git_missing)?;
    let mut bytes = Vec::new();
    let read = child
        .stdout
        .take()
        .map(|o| o.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes));
    if bytes.len() > MAX_FILE_BYTES {
        let _ = child.kill();
    }
    let out = child.wait_with_output()?;
    if let Some(Err(e)) = read {
        return Err(e);
    }
    if bytes.len() <= MAX_FILE_BYTES && !out.status.success() {
        return Err(io::Error::other(format!(
            "`git cat-file blob {object}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    utf8(bytes, false, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_name_does_not_depend_on_how_the_path_is_typed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let want = (
            std::fs::canonicalize(root).unwrap(),
            PathBuf::from("plans/host-sandbox.toml"),
        );
        let abs = root.join("plans/host-sandbox.toml");
        let dotted = root.join("src/../plans/./host-sandbox.toml");
        for p in [abs.as_path(), dotted.as_path()] {
            assert_eq!(review_name(p).as_ref(), Some(&want), "{}", p.display());
        }
        assert_eq!(review_name(Path::new("/")), None);
        assert_eq!(review_name(Path::new("/no/such/dir/x.toml")), None);
    }
}
