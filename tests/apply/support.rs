//! Helpers for the privileged apply tests: scratch directories with a busybox root, manifests
//! of host directories, the host mount table, running the built binary with a timeout, and on
//! a terminal of the test's ([`on_a_terminal`]).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "support/seccomp.rs"]
mod seccomp;
pub use seccomp::*;
#[path = "support/pause.rs"]
mod pause;
pub use pause::*;
#[path = "support/terminal.rs"]
mod terminal;
pub use terminal::*;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mountplan");

/// The plans shipped with the crate.
pub fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plans")
}

/// True under CI=true, where a test that cannot run is a failure.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held by a privileged test for its whole run: the tests compare the host's mount table
/// before and after, so they must not overlap — with each other (the mutex) nor with the
/// privileged tests of another test process on the same machine, e.g. a second checkout
/// (an exclusive `flock` on /tmp/mountplan-privileged-tests.lock).
pub struct Serial {
    _guard: std::sync::MutexGuard<'static, ()>,
    _file: Option<nix::fcntl::Flock<std::fs::File>>,
}

/// `Some` (holding the lock that runs privileged tests one at a time) when this process can
/// make mount namespaces (root, and the kernel allows it). When it cannot, says so loudly;
/// under CI=true that is a failure, not a skip.
pub fn privileged(test: &str) -> Option<Serial> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/mountplan-privileged-tests.lock")
        .ok()
        .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
    can_make_namespaces(test).then_some(Serial {
        _guard: guard,
        _file: file,
    })
}

/// True when this process is root and `unshare -m -p -f` works; otherwise says NOT RUN (and
/// fails under CI=true).
fn can_make_namespaces(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let ns = root
        && Command::new("unshare")
            .args(["-m", "-p", "-f", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !ns {
        let why = if root {
            "unshare -m -p -f failed: this machine does not allow new namespaces"
        } else {
            "it needs root (mount namespaces, mknod, pivot_root)"
        };
        eprintln!("\n!!!! {test}: NOT RUN: {why}\n");
        assert!(!ci(), "{test} must run under CI=true, but {why}");
    }
    ns
}

/// True when an unprivileged user (uid 65534) may make user namespaces here.
pub fn rootless_possible(test: &str) -> bool {
    let ok = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "-Urm",
            "true",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "\n!!!! {test}: NOT RUN: unprivileged user namespaces are not allowed on this \
             machine (or setpriv is missing), so a rootless apply cannot be tested\n"
        );
        assert!(!ci(), "{test} must run under CI=true");
    }
    ok
}

static N: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under /tmp, removed when dropped.
pub struct Scratch {
    /// The directory.
    pub dir: PathBuf,
}

impl Scratch {
    /// A new, empty scratch directory (mode 0755).
    pub fn new(name: &str) -> Scratch {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(format!(
            "/tmp/mountplan-test-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch { dir }
    }
    /// A path in it.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
    /// The state directory for applies in this test.
    pub fn state(&self) -> PathBuf {
        self.path("state")
    }
    /// Writes a file (parents created).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Busybox applets the tests' commands use.
pub const APPLETS: &[&str] = &[
    "sh", "cat", "ls", "stat", "sleep", "true", "false", "echo", "id", "readlink", "kill", "env",
    "grep", "hostname", "mkdir", "pwd", "sed", "tr", "wc",
];

/// The host's static busybox (`busybox-static`, which .ci/run installs).
pub fn busybox() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("busybox"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("busybox is not installed: the apply tests need a static busybox (apt-get install busybox-static; .ci/run installs it)")
    })
}

/// A tiny root at `root`: the usual top-level directories and a static busybox.
pub fn busybox_root(root: &Path) {
    for d in [
        "bin", "proc", "sys", "dev", "tmp", "etc", "run", "usr", "mnt", "var",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox(), root.join("bin/busybox")).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/hostname"), "mountplan-test\n").unwrap();
}

/// The C program `source` compiled by `cc` with `flags` into cargo's scratch directory for
/// tests, as `stem` (one file, whatever the pid: the next run replaces it). `None`, with NOT
/// RUN naming `who`, when `cc` fails; that is a failure under CI=true. Callers keep the result
/// in a `OnceLock`, to compile once per test process.
pub fn compile_c(stem: &str, source: &str, flags: &[&str], who: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join(format!("{stem}-{}.c", std::process::id()));
    std::fs::write(&src, source).ok()?;
    let bin = dir.join(format!("{stem}-{}", std::process::id()));
    let st = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .status();
    let _ = std::fs::remove_file(&src);
    match st {
        Ok(s) if s.success() => {
            let stable = dir.join(stem);
            std::fs::rename(&bin, &stable).ok()?;
            Some(stable)
        }
        _ => {
            let cc = format!("cc {}", flags.join(" "));
            eprintln!(
                "\n!!!! {who}: NOT RUN: `{cc}` failed (apt-get install build-essential; \
                 .ci/run installs it)\n"
            );
            assert!(!ci(), "`{cc}` must work under CI=true");
            None
        }
    }
}

fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Every file below `dirs` (not following symlinks): path, type, mode, owner, device number,
/// inode, and a hash of the content or the link target. Sorted.
pub fn manifest(dirs: &[&Path]) -> Vec<String> {
    let mut out = Vec::new();
    for d in dirs {
        walk(d, &mut out);
    }
    out.sort();
    out
}

fn walk(p: &Path, out: &mut Vec<String>) {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        out.push(format!("{} missing", p.display()));
        return;
    };
    let ft = m.file_type();
    let (kind, extra) = if ft.is_dir() {
        ("dir", String::new())
    } else if ft.is_symlink() {
        let t = std::fs::read_link(p).unwrap_or_default();
        ("link", t.display().to_string())
    } else if ft.is_file() {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        if let Ok(mut f) = std::fs::File::open(p) {
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                h = fnv(&buf[..n], h);
            }
        }
        ("file", format!("{h:016x}"))
    } else if ft.is_fifo() {
        ("fifo", String::new())
    } else if ft.is_char_device() {
        ("char", String::new())
    } else if ft.is_block_device() {
        ("block", String::new())
    } else {
        ("other", String::new())
    };
    out.push(format!(
        "{} {kind} {:o} {}:{} rdev={} ino={} {extra}",
        p.display(),
        m.mode() & 0o7777,
        m.uid(),
        m.gid(),
        m.rdev(),
        m.ino()
    ));
    if ft.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for n in names {
            walk(&n, out);
        }
    }
}

/// The host's mount table as this test process sees it, without the mounts of *other* test
/// processes' scratch directories (the same suite may run at the same time from another
/// checkout; their mounts come and go on the shared host table).
pub fn host_mounts() -> String {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let ours = format!("/tmp/mountplan-test-{}-", std::process::id());
    text.lines()
        .filter(|l| {
            let mp = l.split(' ').nth(4).unwrap_or("");
            !mp.starts_with("/tmp/mountplan-test-") || mp.starts_with(&ours)
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Asserts two manifests are the same, showing the lines that differ.
pub fn assert_same(what: &str, before: &[String], after: &[String]) {
    if before != after {
        let b: std::collections::BTreeSet<&String> = before.iter().collect();
        let a: std::collections::BTreeSet<&String> = after.iter().collect();
        let gone: Vec<_> = b.difference(&a).collect();
        let new: Vec<_> = a.difference(&b).collect();
        panic!("{what}: the host changed\n  before only: {gone:#?}\n  after only: {new:#?}");
    }
}

/// The journals left in a state directory.
pub fn journals(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join("journal"))
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".journal"))
                .collect()
        })
        .unwrap_or_default()
}

/// The lock files left in a state directory (each apply removes its own when done).
pub fn locks(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join("journal"))
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `text` (a diagnostic, wrapped at 80 columns anywhere, even inside a path) says
/// `words`: both compared without white space and the renderer's margin.
pub fn says(text: &str, words: &str) -> bool {
    let flat = |t: &str| -> String {
        t.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    flat(text).contains(&flat(words))
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Out {
    /// The exit status (128+N for signal N).
    pub status: i32,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

/// How to run the binary.
#[derive(Default)]
pub struct Run<'a> {
    /// Arguments after the binary.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(&'a str, String)>,
    /// Run as uid/gid 65534 through setpriv.
    pub nobody: bool,
}

impl<'a> Run<'a> {
    /// `mountplan apply PLAN --state-dir STATE [--set ...] [extra] [-- cmd]`.
    pub fn apply(plan: &Path, state: &Path) -> Run<'a> {
        Run {
            args: vec![
                "apply".into(),
                plan.display().to_string(),
                "--state-dir".into(),
                state.display().to_string(),
            ],
            ..Run::default()
        }
    }
    /// Adds `--set K=V`.
    pub fn set(mut self, k: &str, v: &Path) -> Self {
        self.args.push("--set".into());
        self.args.push(format!("{k}={}", v.display()));
        self
    }
    /// Adds arguments.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
    /// Adds `-- cmd...`.
    pub fn cmd(mut self, c: &[&str]) -> Self {
        self.args.push("--".into());
        self.args.extend(c.iter().map(|s| s.to_string()));
        self
    }
    /// Adds an environment variable.
    pub fn env(mut self, k: &'a str, v: impl ToString) -> Self {
        self.env.push((k, v.to_string()));
        self
    }
    /// The command under `strace -f -qq OPTS -o TRACE` (as root), not started.
    pub fn traced(&self, trace: &Path, opts: &[&str]) -> Command {
        let mut c = Command::new("strace");
        c.args(["-f", "-qq"])
            .args(opts)
            .arg("-o")
            .arg(trace)
            .arg(BIN)
            .args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }
    /// The command, not started.
    pub fn command(&self) -> Command {
        let mut c = if self.nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        c.args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }
    /// Runs to the end (at most 60 s: a hang is a failure).
    pub fn run(&self) -> Out {
        let child = self.command().spawn().unwrap();
        finish(child, Duration::from_secs(60))
    }
}

/// Waits for `child` with a timeout, collecting its output.
pub fn finish(mut child: Child, limit: Duration) -> Out {
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let ho = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let he = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mountplan hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    use std::os::unix::process::ExitStatusExt;
    let status = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Out {
        status,
        stdout: ho.join().unwrap(),
        stderr: he.join().unwrap(),
    }
}

/// One line of a mountinfo text: mountpoint -> (fstype, per-mount options).
pub fn parse_mountinfo(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let fstype = right.split(' ').next()?;
            Some((
                f.get(4)?.replace("\\040", " "),
                fstype.to_string(),
                f.get(5)?.to_string(),
            ))
        })
        .collect()
}

/// Processes whose command line mentions `needle` (leftovers of an apply).
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&c).contains(needle) {
                v.push(pid);
            }
        }
    }
    v
}

/// Waits until no process mentions `needle` (at most 5 s); returns those left.
pub fn wait_no_processes(needle: &str) -> Vec<i32> {
    let t = Instant::now();
    loop {
        let v = processes_mentioning(needle);
        if v.is_empty() || t.elapsed() > Duration::from_secs(5) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `key=value` lines a command printed, as a map.
pub fn kv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A running binary whose stderr is collected in the background.
pub struct Watched {
    /// The process.
    pub child: Child,
    /// Its stderr so far.
    pub err: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Watched {
    /// Starts `cmd` and collects its stderr.
    pub fn spawn(mut cmd: Command) -> Watched {
        let mut child = cmd.spawn().unwrap();
        let mut se = child.stderr.take().unwrap();
        let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let e2 = err.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = se.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e2.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watched { child, err }
    }
    /// Waits until stderr contains `needle` (at most `limit`).
    pub fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            if self.err.lock().unwrap().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
    /// Stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }
    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }
}
