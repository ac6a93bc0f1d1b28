//! Hostile plans against the built binary: `mountplan check` and `mountplan plan` on a 50 MB
//! file, files at the 2 MiB size limit in the shapes that cost the parser most, deep nesting,
//! a million steps, huge numbers, invalid UTF-8, directories, devices and FIFOs, include and
//! variable bombs. Each runs under an address-space limit ([`MEM_LIMIT`]) and must end with
//! its documented exit status and a diagnostic on stderr, never a panic, an abort or a hang
//! (a run still going after [`HANG`] is killed and fails the test; that is a hang detector,
//! not a timing assertion). The files are generated in a scratch directory at test time.
//!
//! `cargo test --test hostile_plans -- --nocapture` prints each run's peak RSS and time.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "hostile_plans/commands.rs"]
mod commands;
#[path = "hostile_plans/limits.rs"]
mod limits;
#[path = "hostile_plans/reading.rs"]
mod reading;

/// The address-space limit of every run: 1 GiB. The worst file measured at the 2 MiB size
/// limit (a million inline tables) peaks near 500 MB resident in a debug build, so this
/// leaves room and still stops runaway growth long before the machine does.
const MEM_LIMIT: u64 = 1 << 30;
/// A run still going after this is a hang.
const HANG: Duration = Duration::from_secs(60);

/// Exit statuses from the README.
const OK: i32 = 0;
const INVALID: i32 = 1;
const UNREADABLE: i32 = 2;

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d =
            std::env::temp_dir().join(format!("mountplan-hostile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        Scratch(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write plan");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a run ended.
#[derive(Debug)]
struct Run {
    what: String,
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
    stdout_bytes: u64,
    peak_rss_kb: i64,
    secs: f64,
}

/// Runs the binary with `args` under [`MEM_LIMIT`], output to files in `dir`.
#[allow(clippy::zombie_processes, reason = "reaped with wait4, for its rusage")]
fn run(dir: &Scratch, args: &[&std::ffi::OsStr]) -> Run {
    let what = args
        .iter()
        .map(|a| {
            Path::new(a)
                .file_name()
                .unwrap_or(a)
                .to_string_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let (out, err) = (dir.path("stdout"), dir.path("stderr"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mountplan"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .env("NO_COLOR", "1");
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MEM_LIMIT,
                rlim_max: MEM_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn mountplan");
    let pid = child.id() as libc::pid_t;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: plain wait4 on our own child, with valid out-pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        assert!(r == 0, "wait4: {}", io::Error::last_os_error());
        if start.elapsed() > HANG {
            // SAFETY: killing our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("{what}: still running after {HANG:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let secs = start.elapsed().as_secs_f64();
    let stderr_bytes = std::fs::read(&err).unwrap_or_default();
    let r = Run {
        what,
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stderr: String::from_utf8_lossy(&stderr_bytes).into_owned(),
        stdout_bytes: std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0),
        peak_rss_kb: usage.ru_maxrss,
        secs,
    };
    // ru_maxrss counts the forked test process before exec too: an upper bound.
    println!(
        "{:<60} exit {:?} signal {:?}  {:>8.2} s  peak RSS <= {:>7} KB  stdout {} B  stderr {} B",
        r.what,
        r.code,
        r.signal,
        r.secs,
        r.peak_rss_kb,
        r.stdout_bytes,
        r.stderr.len()
    );
    r
}

/// Asserts a clean end: exit status `code`, no panic, and for a failure a diagnostic with
/// `needle` in it (a diagnostic code or message part).
fn clean(r: &Run, code: i32, needle: &str) {
    let head: String = r.stderr.chars().take(2000).collect();
    assert!(
        !r.stderr.contains("panicked"),
        "{}: panicked:\n{head}",
        r.what
    );
    assert_eq!(r.signal, None, "{}: killed by a signal:\n{head}", r.what);
    assert_eq!(r.code, Some(code), "{}: exit status:\n{head}", r.what);
    if code != OK {
        assert!(
            r.stderr.contains("mountplan::"),
            "{}: no diagnostic:\n{head}",
            r.what
        );
    }
    assert!(
        flat(&r.stderr).contains(&flat(needle)),
        "{}: expected `{needle}` on stderr:\n{head}",
        r.what
    );
}

/// Text with miette's wrapping undone (it breaks lines at spaces and hyphens): no `│`
/// gutters, no whitespace.
fn flat(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '│' && !c.is_whitespace())
        .collect()
}

/// `check` and `plan` of one file both end cleanly with `code`.
fn both(dir: &Scratch, file: &Path, code: i32, needle: &str) {
    for cmd in ["check", "plan"] {
        let r = run(dir, &[cmd.as_ref(), file.as_os_str()]);
        clean(&r, code, needle);
    }
}

const HEAD: &str = "version = 1\n[root]\ntmpfs = {}\n";

/// `unit` repeated to make a file of about `bytes`, between `pre` and `post`.
fn fill(pre: &str, unit: &str, post: &str, bytes: usize) -> String {
    let n = bytes.saturating_sub(pre.len() + post.len()) / unit.len();
    let mut s = String::with_capacity(bytes);
    s.push_str(pre);
    for _ in 0..n {
        s.push_str(unit);
    }
    s.push_str(post);
    s
}
