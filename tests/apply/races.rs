//! Races of the CVE-2021-30465 class: a directory of the root is exchanged with a symlink to a
//! canary directory outside it (`renameat2(RENAME_EXCHANGE)`), once per apply, at one exact
//! point: right before call n (the binary's test pauses), or right after one system call
//! inside a call (the tracer of `stops.rs`), swept over every point on a fresh root. Every step
//! under that directory (a tmpfs mount, a bind, `mkdir` with parents, a FIFO, a mode change, a
//! mask, a readonly, set-id bits, the put_old of a pivot) must land inside the root or fail:
//! the canary never changes and no mount ever lands on it. A negative control makes the same
//! exchange before plain path-based `mount` and `mkdir` in a shell, which must land on the
//! canary, so the test can see an escape. The threads that race as fast as they can are the
//! ignored stress runs (`cargo test --test apply -- --ignored races_stress`).

use std::os::unix::ffi::OsStrExt;

#[path = "races/pivot.rs"]
mod pivot;
#[path = "races/readonly.rs"]
mod readonly;
#[path = "races/setid.rs"]
mod setid;
#[path = "races/swap.rs"]
mod swap;

/// `renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)` by its system call (musl has no
/// wrapper), returning -1 with errno set on failure.
unsafe fn exchange(a: &std::ffi::CStr, b: &std::ffi::CStr) -> libc::c_long {
    // SAFETY: two NUL-terminated paths; the kernel reads nothing else.
    unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    }
}
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::hostile::Resolver;
use crate::stops::{Stop, stopped_at};
use crate::support::*;

/// A thread exchanging two paths as fast as it can until dropped.
pub struct Swapper {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn c_path(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap()
}

impl Swapper {
    /// Starts exchanging `a` and `b` (both must exist).
    pub fn start(a: &Path, b: &Path) -> Swapper {
        let (a, b) = (c_path(a), c_path(b));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), count.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let r = unsafe { exchange(&a, &b) };
                if r == 0 {
                    n.fetch_add(1, Ordering::Relaxed);
                } else {
                    panic!("renameat2: {}", std::io::Error::last_os_error());
                }
            }
        });
        Swapper {
            stop,
            count,
            handle: Some(handle),
        }
    }
    /// Starts exchanging every entry of `dir` whose name starts with `prefix` (as the owner
    /// of a root finds a name mountplan makes there, by listing it) with `b`.
    pub fn start_matching(dir: &Path, prefix: &str, b: &Path) -> Swapper {
        let (dir, prefix, b) = (dir.to_path_buf(), prefix.to_string(), c_path(b));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), count.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in rd.filter_map(|e| e.ok()) {
                    if e.file_name().to_string_lossy().starts_with(&prefix) {
                        let a = c_path(&e.path());
                        if unsafe { exchange(&a, &b) } == 0 {
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Swapper {
            stop,
            count,
            handle: Some(handle),
        }
    }
    /// Stops; returns how many exchanges were made.
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.count.load(Ordering::Relaxed)
    }
    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.halt();
    }
}

/// What a sweep of stops saw.
#[derive(Debug, Default)]
struct Swept {
    /// Points swept (a swap at each).
    points: u32,
    /// Applies that succeeded.
    ok: u32,
    /// Applies refused with the step named.
    refused: u32,
    /// Rollbacks that kept their journal (finished by `recover` after).
    kept: u32,
}

/// `recover` in `state` (as root).
fn recover_in(state: &Path) -> Out {
    Run {
        args: vec![
            "recover".into(),
            "--state-dir".into(),
            state.display().to_string(),
        ],
        ..Run::default()
    }
    .run()
}

/// One `renameat2(RENAME_EXCHANGE)` of `a` and `b`.
pub fn exchange_once(a: &Path, b: &Path) {
    let (a, b) = (c_path(a), c_path(b));
    let r = unsafe { exchange(&a, &b) };
    assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
}
