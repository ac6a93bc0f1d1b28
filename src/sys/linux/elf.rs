//! Why a command was not found: the program, its ELF interpreter or its `#!` interpreter
//! missing from the new root.
//!
//! Takes the program as given and the PATH it was searched in, after `execve` failed with
//! ENOENT; returns a sentence naming what is missing ("its ELF interpreter
//! `/lib64/ld-linux-x86-64.so.2` is not in the new root"), or `None` when the files do not
//! explain it. It runs in the process whose exec failed, inside the new root (after the
//! pivot), and looks at the files the way execvp(3) finds them: the program itself when it has
//! a `/`, else `DIR/program` for each entry of PATH, an empty entry being the working
//! directory. A missing interpreter makes `execve` fail with ENOENT although the file is
//! there, which is what a root without `/lib64` looks like.
//!
//! Only regular files are opened (`O_NONBLOCK`, so a FIFO planted in the root cannot hang the
//! reader), and only their ELF header, program headers and interpreter string are read
//! (bounded): the root's content may be hostile.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// `PT_INTERP`: the program header naming the interpreter.
const PT_INTERP: u32 = 3;
/// The most program header bytes read (a real program has some 15 headers of 56 bytes).
const MAX_PHDR_BYTES: usize = 64 << 10;
/// The longest interpreter path read (PATH_MAX).
const MAX_INTERP: usize = 4096;

/// What starts a program, as read from its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// An ELF file with a `PT_INTERP` header: the dynamic loader that runs it.
    Interpreter(PathBuf),
    /// An ELF file without one (statically linked).
    Static,
    /// A script: the interpreter on its `#!` line.
    Script(PathBuf),
    /// Neither, or a header that does not hold together.
    Unknown,
}

/// Reads what starts a program through `read_at(offset, len)`, which returns at most `len`
/// bytes at `offset` (fewer at the end of the file, `None` on an error).
pub fn start(read_at: &mut dyn FnMut(u64, usize) -> Option<Vec<u8>>) -> Start {
    let Some(head) = read_at(0, 256) else {
        return Start::Unknown;
    };
    if let Some(rest) = head.strip_prefix(b"#!") {
        return script(rest);
    }
    elf(&head, read_at).unwrap_or(Start::Unknown)
}

/// The interpreter of a `#!` line (what follows `#!` and blanks, up to a blank or the end of
/// the line).
fn script(rest: &[u8]) -> Start {
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let path: Vec<u8> = line
        .iter()
        .copied()
        .skip_while(|b| *b == b' ' || *b == b'\t')
        .take_while(|b| *b != b' ' && *b != b'\t' && *b != b'\r')
        .collect();
    if path.is_empty() {
        return Start::Unknown;
    }
    Start::Script(PathBuf::from(OsStr::from_bytes(&path)))
}

fn elf(head: &[u8], read_at: &mut dyn FnMut(u64, usize) -> Option<Vec<u8>>) -> Option<Start> {
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match head.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match head.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let int = |b: &[u8], at: usize, n: usize| -> Option<u64> {
        let bytes = b.get(at..at + n)?;
        Some(if little {
            bytes.iter().rev().fold(0u64, |v, x| v << 8 | u64::from(*x))
        } else {
            bytes.iter().fold(0u64, |v, x| v << 8 | u64::from(*x))
        })
    };
    // e_phoff, e_phentsize, e_phnum; then in each header p_type, p_offset, p_filesz.
    let (phoff, phentsize, phnum) = if wide {
        (
            int(head, 0x20, 8)?,
            int(head, 0x36, 2)?,
            int(head, 0x38, 2)?,
        )
    } else {
        (
            int(head, 0x1c, 4)?,
            int(head, 0x2a, 2)?,
            int(head, 0x2c, 2)?,
        )
    };
    let (entry, offset, filesz) = if wide {
        (56, (8, 8), (32, 8))
    } else {
        (32, (4, 4), (16, 4))
    };
    let size = usize::try_from(phentsize).ok()?;
    let count = usize::try_from(phnum).ok()?;
    if size < entry || size.checked_mul(count)? > MAX_PHDR_BYTES {
        return None;
    }
    let table = read_at(phoff, size * count)?;
    if table.len() < size * count {
        return None;
    }
    for ph in table.chunks_exact(size) {
        if int(ph, 0, 4)? != u64::from(PT_INTERP) {
            continue;
        }
        let at = int(ph, offset.0, offset.1)?;
        let len = usize::try_from(int(ph, filesz.0, filesz.1)?).ok()?;
        if len == 0 || len > MAX_INTERP {
            return None;
        }
        let name = read_at(at, len)?;
        let name = name.split(|b| *b == 0).next().unwrap_or_default();
        if name.is_empty() {
            return None;
        }
        return Some(Start::Interpreter(PathBuf::from(OsStr::from_bytes(name))));
    }
    Some(Start::Static)
}

/// The files execvp(3) tries for `program` with `path`: `program` itself when it has a `/`,
/// else `DIR/program` for each entry of `path` (an empty entry is the working directory).
pub fn candidates(program: &OsStr, path: &OsStr) -> Vec<PathBuf> {
    let p = program.as_bytes();
    if p.is_empty() {
        return Vec::new();
    }
    if p.contains(&b'/') {
        return vec![PathBuf::from(program)];
    }
    path.as_bytes()
        .split(|b| *b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
            Path::new(OsStr::from_bytes(dir)).join(program)
        })
        .collect()
}

/// What is at `p`: `Some(true)` a regular file (symlinks followed), `Some(false)` something
/// else, `None` nothing (or a symlink to nothing).
fn exists(p: &Path) -> Option<bool> {
    std::fs::metadata(p).ok().map(|m| m.is_file())
}

/// ` (a symbolic link to `T`, which is missing)` when `p` is a link whose target is missing.
fn dangling(p: &Path) -> String {
    match std::fs::read_link(p) {
        Ok(t) if exists(p).is_none() => format!(
            " (it is a symbolic link to `{}`, which is missing)",
            t.display()
        ),
        _ => String::new(),
    }
}

/// Reads what starts the regular file at `p` (never blocking on a FIFO or a device).
fn start_of(p: &Path) -> Start {
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(p)
    else {
        return Start::Unknown;
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return Start::Unknown;
    }
    start(&mut |at, len| read_at(&f, at, len))
}

fn read_at(f: &File, at: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut n = 0;
    while n < len {
        match f.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(n);
    Some(buf)
}

/// Why `program`, searched in `path`, could not be executed with ENOENT, in the new root:
/// `cannot run ...` naming the missing file, or `None` when nothing is found missing (then
/// the caller's own message stands).
pub fn why_not_found(program: &str, path: &OsStr) -> Option<String> {
    let tried = candidates(OsStr::new(program), path);
    let Some(found) = tried.iter().find(|c| exists(c) == Some(true)) else {
        let first = tried.first()?;
        if program.contains('/') {
            return Some(format!(
                "cannot run `{program}`: it is not in the new root{}",
                dangling(first)
            ));
        }
        return Some(format!(
            "cannot run `{program}`: it is in no directory of the command's PATH `{}` in the \
             new root",
            path.to_string_lossy()
        ));
    };
    let (what, interp) = match start_of(found) {
        Start::Interpreter(i) => ("its ELF interpreter", i),
        Start::Script(i) => ("the interpreter of its `#!` line", i),
        Start::Static | Start::Unknown => return None,
    };
    if exists(&interp).is_some() {
        return None;
    }
    Some(format!(
        "cannot run `{}`: {what} `{}` is not in the new root{}",
        found.display(),
        interp.display(),
        dangling(&interp)
    ))
}

/// What starts the program at `p` (for tests and tools: the ELF interpreter of a host binary).
pub fn program_start(p: &Path) -> Start {
    start_of(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF image: header, `n` program headers, the interpreter string.
    fn image(wide: bool, little: bool, interp: Option<&[u8]>) -> Vec<u8> {
        let (ehsize, phsize) = if wide { (64usize, 56usize) } else { (52, 32) };
        let mut v = vec![0u8; ehsize];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = if wide { 2 } else { 1 };
        v[5] = if little { 1 } else { 2 };
        let put = |v: &mut Vec<u8>, at: usize, n: usize, x: u64| {
            for i in 0..n {
                let b = (x >> (8 * i)) as u8;
                let j = if little { at + i } else { at + n - 1 - i };
                v[j] = b;
            }
        };
        let phnum = 2u64;
        let str_at = (ehsize + 2 * phsize) as u64;
        if wide {
            put(&mut v, 0x20, 8, ehsize as u64);
            put(&mut v, 0x36, 2, phsize as u64);
            put(&mut v, 0x38, 2, phnum);
        } else {
            put(&mut v, 0x1c, 4, ehsize as u64);
            put(&mut v, 0x2a, 2, phsize as u64);
            put(&mut v, 0x2c, 2, phnum);
        }
        // A PT_LOAD (1), then PT_INTERP (3) or PT_NOTE (4).
        for ty in [1u64, if interp.is_some() { 3 } else { 4 }] {
            let mut ph = vec![0u8; phsize];
            put(&mut ph, 0, 4, ty);
            let len = interp.map_or(0, |i| i.len() as u64 + 1);
            if wide {
                put(&mut ph, 8, 8, str_at);
                put(&mut ph, 32, 8, len);
            } else {
                put(&mut ph, 4, 4, str_at);
                put(&mut ph, 16, 4, len);
            }
            v.extend(ph);
        }
        if let Some(i) = interp {
            v.extend_from_slice(i);
            v.push(0);
        }
        v
    }

    fn read(img: &[u8]) -> Start {
        start(&mut |at, len| {
            let at = usize::try_from(at).ok()?;
            Some(img.get(at..)?.iter().take(len).copied().collect())
        })
    }

    #[test]
    fn the_interpreter_is_read_in_every_class_and_byte_order() {
        for wide in [true, false] {
            for little in [true, false] {
                let img = image(wide, little, Some(b"/lib64/ld-linux-x86-64.so.2"));
                assert_eq!(
                    read(&img),
                    Start::Interpreter("/lib64/ld-linux-x86-64.so.2".into()),
                    "wide {wide} little {little}"
                );
                assert_eq!(read(&image(wide, little, None)), Start::Static);
            }
        }
    }

    #[test]
    fn scripts_name_their_interpreter() {
        assert_eq!(read(b"#!/bin/sh -e\necho"), Start::Script("/bin/sh".into()));
        assert_eq!(
            read(b"#! /usr/bin/env python3\n"),
            Start::Script("/usr/bin/env".into())
        );
        assert_eq!(read(b"#!\n"), Start::Unknown);
    }

    #[test]
    fn broken_headers_are_unknown_not_a_panic() {
        let good = image(true, true, Some(b"/lib/ld.so"));
        for cut in 0..good.len() {
            let _ = read(&good[..cut]);
        }
        let mut huge = good.clone();
        huge[0x38] = 0xff;
        huge[0x39] = 0xff;
        assert_eq!(read(&huge), Start::Unknown);
        assert_eq!(read(b"\x7fELF\x03\x01"), Start::Unknown);
        assert_eq!(read(b"plain text"), Start::Unknown);
        assert_eq!(read(b""), Start::Unknown);
    }

    #[test]
    fn candidates_are_searched_as_execvp_does() {
        let c = |p: &str, path: &str| candidates(OsStr::new(p), OsStr::new(path));
        assert_eq!(
            c("ls", "/usr/bin:/bin"),
            [PathBuf::from("/usr/bin/ls"), PathBuf::from("/bin/ls")]
        );
        assert_eq!(
            c("ls", "/a::/b"),
            [
                PathBuf::from("/a/ls"),
                PathBuf::from("./ls"),
                PathBuf::from("/b/ls")
            ]
        );
        assert_eq!(c("./x", "/a"), [PathBuf::from("./x")]);
        assert!(c("", "/a").is_empty());
    }

    #[test]
    fn a_host_program_is_read_from_disk() {
        // The test binary itself is an ELF file: dynamically linked, or static under musl.
        let me = std::env::current_exe().expect("the test binary");
        assert!(matches!(
            program_start(&me),
            Start::Interpreter(_) | Start::Static
        ));
        assert_eq!(program_start(Path::new("/nonexistent/x")), Start::Unknown);
    }
}
