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
/// `apply`: mountplan itself failed (here: the plan is invalid, nothing is applied).
const APPLY_FAILED: i32 = 125;

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

#[test]
fn a_50_mb_file_is_refused_unread() {
    let d = Scratch::new("50mb");
    for (name, unit) in [
        ("comment", "# padding\n"),
        ("steps", "[[step]]\nkind = \"pivot\"\n"),
    ] {
        let f = d.write(&format!("{name}.toml"), fill(HEAD, unit, "", 50_000_000));
        both(&d, &f, UNREADABLE, "larger than the limit of 2 MiB");
    }
}

/// Just under `load::MAX_VALUE_MARKS`, with room for the plan's head.
const MARKS: usize = mountplan::load::MAX_VALUE_MARKS - 100;

#[test]
fn files_at_the_size_limit_cost_bounded_time_and_memory() {
    let d = Scratch::new("limit");
    let size = (2 << 20) - 64;
    let shapes = [
        (
            "inline-tables",
            fill("version = 1\nx = [", "{a=1},", "]\n", size),
            "mountplan::limit::values",
        ),
        (
            "int-array",
            fill("version = 1\nx = [", "1,", "]\n", size),
            "mountplan::limit::values",
        ),
        (
            "empty-arrays",
            fill("version = 1\nx = [", "[],", "]\n", size),
            "mountplan::limit::values",
        ),
        (
            "array-of-tables",
            fill("version = 1\n", "[[a]]\n", "", size),
            "mountplan::limit::values",
        ),
        (
            // Distinct dotted keys: 17 tables a line; 2 MiB of them took 920 MB to parse.
            "dotted-keys",
            (0..)
                .map(|i| format!("k{i}.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o = 1\n"))
                .scan(0usize, |n, l| {
                    *n += l.len();
                    (*n < size).then_some(l)
                })
                .collect::<String>(),
            "mountplan::limit::values",
        ),
        (
            // Just under the value limit: what the parser may still be made to build.
            "dotted-keys-at-the-value-limit",
            (0..MARKS / 17)
                .map(|i| format!("k{i}.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o = 1\n"))
                .collect::<String>(),
            "unknown key `k0`",
        ),
        (
            "inline-tables-at-the-value-limit",
            fill("version = 1\nx = [", "{a=1},", "]\n", MARKS / 3 * 6),
            "unknown key `x`",
        ),
        ("comment-lines", fill(HEAD, "#\n", "", size), "ok (0 steps)"),
        ("blank-lines", fill(HEAD, "\n", "", size), "ok (0 steps)"),
        (
            "one-long-string",
            fill(
                "version = 1\nname = \"",
                "x",
                "\"\n[root]\ntmpfs = {}\n",
                size,
            ),
            "ok (0 steps)",
        ),
        (
            "one-long-comment",
            fill(HEAD, "x", "", size).replacen("x", "#", 1),
            "ok (0 steps)",
        ),
        (
            "binary-ish",
            fill("version = 1\n", "@\n", "", size),
            "more syntax errors",
        ),
        (
            "long-bad-line",
            fill("version = 1\n", "@", "\n", size),
            "too long to show",
        ),
    ];
    for (name, text, needle) in shapes {
        assert!(text.len() <= 2 << 20, "{name}: {} bytes", text.len());
        let f = d.write(&format!("{name}.toml"), text);
        let code = if needle.starts_with("ok") {
            OK
        } else {
            INVALID
        };
        let r = run(&d, &["check".as_ref(), f.as_os_str()]);
        clean(&r, code, needle);
        // `plan` reports an invalid plan as `check` does.
        let r = run(&d, &["plan".as_ref(), f.as_os_str()]);
        clean(&r, code, if code == OK { "" } else { needle });
    }
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let d = Scratch::new("deep");
    // 300 000 levels of `{a = ` fill 1.8 MB, under the 2 MiB file limit.
    for depth in [100usize, 10_000, 300_000] {
        let cases = [
            (
                "arrays",
                format!(
                    "version = 1\nx = {}{}\n",
                    "[".repeat(depth),
                    "]".repeat(depth)
                ),
            ),
            (
                "inline-tables",
                format!(
                    "version = 1\nx = {}1{}\n",
                    "{a = ".repeat(depth),
                    "}".repeat(depth)
                ),
            ),
            (
                "dotted-key",
                format!("version = 1\n{} = 1\n", vec!["a"; depth].join(".")),
            ),
            (
                "table-header",
                format!("version = 1\n[{}]\n", vec!["a"; depth].join(".")),
            ),
            (
                "step-field",
                format!(
                    "{HEAD}[[step]]\nkind = \"mkdir\"\npath = {}{}\n",
                    "[".repeat(depth),
                    "]".repeat(depth)
                ),
            ),
            (
                "unclosed",
                format!("version = 1\nx = {}\n", "[{a=".repeat(depth)),
            ),
        ];
        for (name, text) in cases {
            let f = d.write(&format!("{name}-{depth}.toml"), text);
            both(&d, &f, INVALID, "mountplan::");
        }
    }
}

#[test]
fn a_million_steps_is_refused_and_ten_thousand_run() {
    let d = Scratch::new("steps");
    // A million steps do not fit in a plan file: refused by size, before parsing.
    let million = fill(HEAD, "[[step]]\nkind = \"pivot\"\n", "", 0)
        + &"[[step]]\nkind = \"pivot\"\n".repeat(1_000_000);
    let f = d.write("million.toml", million);
    both(&d, &f, UNREADABLE, "larger than the limit");
    // As many as fit in 2 MiB, written inline: too many values to parse.
    let n = ((2 << 20) - 100) / "{kind=\"pivot\"},".len();
    let f = d.write(
        "inline.toml",
        format!(
            "version = 1\nstep = [{}]\n[root]\ntmpfs = {{}}\n",
            "{kind=\"pivot\"},".repeat(n)
        ),
    );
    both(&d, &f, INVALID, "mountplan::limit::values");
    // One past the step limit.
    let mk = |i: usize| format!("[[step]]\nkind = \"mkdir\"\npath = \"/d{i}\"\n");
    let f = d.write(
        "over.toml",
        format!("{HEAD}{}", (0..10_001).map(mk).collect::<String>()),
    );
    both(&d, &f, INVALID, "more than 10000 steps");
    // At the limit, valid: every format renders.
    let f = d.write(
        "ten-thousand.toml",
        format!("{HEAD}{}", (0..10_000).map(mk).collect::<String>()),
    );
    clean(
        &run(&d, &["check".as_ref(), f.as_os_str()]),
        OK,
        "ok (10000 steps)",
    );
    for format in ["text", "json", "markdown", "mermaid", "dot"] {
        let r = run(
            &d,
            &[
                "plan".as_ref(),
                "--format".as_ref(),
                format.as_ref(),
                f.as_os_str(),
            ],
        );
        clean(&r, OK, "");
        assert!(
            r.stdout_bytes > 10_000,
            "{format}: {} bytes",
            r.stdout_bytes
        );
    }
    // Ten thousand mounts stacked on one path: a warning each, a 10 000-deep mount tree.
    let f = d.write(
        "stacked.toml",
        format!(
            "{HEAD}{}",
            "[[step]]\nkind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/t\"\n".repeat(10_000)
        ),
    );
    clean(
        &run(&d, &["check".as_ref(), f.as_os_str()]),
        OK,
        "mountplan::graph::hides",
    );
    // Its dry run draws the tree 24 levels deep, then gives the depth: 8 MB, where indenting
    // every level made 207 MB.
    let r = run(&d, &["plan".as_ref(), f.as_os_str()]);
    clean(&r, OK, "");
    assert!(
        (1_000_000..20_000_000).contains(&r.stdout_bytes),
        "{} bytes",
        r.stdout_bytes
    );
}

#[test]
fn huge_numbers_are_diagnosed_or_accepted() {
    let d = Scratch::new("numbers");
    let step = |body: &str| format!("{HEAD}[[step]]\n{body}\n");
    let mknod = |f: &str| {
        step(&format!(
            "kind = \"mknod\"\npath = \"/n\"\nnode = \"char\"\n{f}"
        ))
    };
    let tmpfs = |f: &str| {
        step(&format!(
            "kind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/t\"\n{f}"
        ))
    };
    let cases = [
        (
            "version-overflow",
            "version = 99999999999999999999999999\n".to_string(),
        ),
        (
            "version-max",
            format!("version = {}\n[root]\ntmpfs = {{}}\n", i64::MAX),
        ),
        (
            "version-min",
            format!("version = {}\n[root]\ntmpfs = {{}}\n", i64::MIN),
        ),
        (
            "version-float",
            "version = 1e308\n[root]\ntmpfs = {}\n".to_string(),
        ),
        (
            "version-inf",
            "version = inf\n[root]\ntmpfs = {}\n".to_string(),
        ),
        (
            "version-nan",
            "version = nan\n[root]\ntmpfs = {}\n".to_string(),
        ),
        (
            "major-max",
            mknod(&format!("major = {}\nminor = 0", i64::MAX)),
        ),
        (
            "minor-min",
            mknod(&format!("major = 1\nminor = {}", i64::MIN)),
        ),
        ("size-max", tmpfs(&format!("size = {}", i64::MAX))),
        ("size-negative", tmpfs(&format!("size = {}", i64::MIN))),
        (
            "size-suffix-overflow",
            tmpfs("size = \"99999999999999999999g\""),
        ),
        ("size-g-overflow", tmpfs("size = \"17179869184g\"")),
        ("size-percent", tmpfs("size = \"99999999999999999999%\"")),
        ("nr-inodes", tmpfs(&format!("nr_inodes = {}", i64::MIN))),
        (
            "mode-long",
            tmpfs(&format!("mode = \"{}\"", "7".repeat(40))),
        ),
        ("uid-max", tmpfs(&format!("uid = {}", i64::MAX))),
        ("gid-min", tmpfs(&format!("gid = {}", i64::MIN))),
        (
            "root-size",
            format!(
                "version = 1\n[root]\ntmpfs = {{ size = {}, nr_inodes = {} }}\n",
                i64::MAX,
                i64::MAX
            ),
        ),
        ("digits", format!("version = 1{}\n", "0".repeat(1_000_000))),
    ];
    // Some are in range (a tmpfs may be as large as it likes): valid or not, the end is clean.
    let valid = ["size-max", "root-size"];
    for (name, text) in cases {
        let f = d.write(&format!("{name}.toml"), text);
        if valid.contains(&name) {
            both(&d, &f, OK, "");
        } else {
            both(&d, &f, INVALID, "mountplan::");
        }
    }
}

#[test]
fn invalid_utf8_is_unreadable_with_the_offset() {
    let d = Scratch::new("utf8");
    let cases: [(&str, Vec<u8>, usize); 6] = [
        ("first-byte", b"\xffversion = 1\n".to_vec(), 0),
        (
            "in-a-string",
            b"version = 1\nname = \"a\xc3\x28\"\n".to_vec(),
            21,
        ),
        (
            "in-a-comment",
            b"version = 1\n# \xed\xa0\x80 surrogate\n".to_vec(),
            14,
        ),
        ("truncated-at-end", b"version = 1\n# \xe2\x82".to_vec(), 14),
        ("utf16", b"\xff\xfev\x00e\x00r\x00".to_vec(), 0),
        ("overlong", b"version = 1\n# \xc0\xaf\n".to_vec(), 14),
    ];
    for (name, bytes, at) in cases {
        let f = d.write(&format!("{name}.toml"), bytes);
        both(
            &d,
            &f,
            UNREADABLE,
            &format!("not UTF-8 text (bad byte at offset {at})"),
        );
    }
    // Random bytes, a megabyte.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let f = d.write("noise.toml", noise);
    both(&d, &f, UNREADABLE, "not UTF-8 text");
}

#[test]
fn non_regular_files_are_refused_without_hanging() {
    let d = Scratch::new("special");
    both(&d, &d.0, UNREADABLE, "not a regular file (a directory)");
    both(
        &d,
        Path::new("/dev/zero"),
        UNREADABLE,
        "not a regular file (a device)",
    );
    both(
        &d,
        Path::new("/dev/null"),
        UNREADABLE,
        "not a regular file (a device)",
    );
    // A FIFO nobody writes to: the open must not wait for a writer.
    let fifo = d.path("fifo.toml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    both(&d, &fifo, UNREADABLE, "a FIFO that gave nothing");
    // A pipe is read (`mountplan diff a.toml <(git show ...)` passes `/dev/fd/63`): here one
    // whose writer wrote the plan and closed, inherited by the child as `/dev/fd/N`.
    let mut fds = [0; 2];
    // SAFETY: pipe2 with a valid array; the ends are closed below. Both are close-on-exec
    // (children of other tests must not hold the write end open); the read end is then
    // made inheritable.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        assert_eq!(libc::fcntl(fds[0], libc::F_SETFD, 0), 0, "fcntl");
    }
    let plan = format!("{HEAD}[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n");
    // SAFETY: writing a buffer smaller than the pipe's to its write end, then closing it.
    unsafe {
        assert_eq!(
            libc::write(fds[1], plan.as_ptr().cast(), plan.len()),
            plan.len() as isize
        );
        libc::close(fds[1]);
    }
    let via = format!("/dev/fd/{}", fds[0]);
    let r = run(&d, &["check".as_ref(), via.as_ref()]);
    // SAFETY: closing the read end this test opened.
    unsafe { libc::close(fds[0]) };
    clean(&r, OK, "ok (1 steps)");
    // An include that is a directory, or a device, is an error at the include, and an
    // unreadable file (exit 2) like the plan itself would be.
    let f = d.write(
        "inc.toml",
        format!(
            "version = 1\ninclude = [\".\", \"/dev/zero\"]\n{}",
            &HEAD[12..]
        ),
    );
    let r = run(&d, &["check".as_ref(), f.as_os_str()]);
    clean(&r, UNREADABLE, "not a regular file (a directory)");
    assert!(
        r.stderr.contains("not a regular file (a device)"),
        "{}",
        r.stderr
    );
}

#[test]
fn include_and_variable_bombs_stop_at_the_limits() {
    let d = Scratch::new("bombs");
    // Each file includes the next one ten times, 12 deep: 10^12 reads without the limits.
    for i in 0..12 {
        let inc = format!("\"f{}.toml\", ", i + 1).repeat(10);
        d.write(
            &format!("f{i}.toml"),
            format!(
                "version = 1\ninclude = [{inc}]\n# {}\n",
                "x".repeat(1 << 20)
            ),
        );
    }
    d.write("f12.toml", "version = 1\n");
    let f0 = d.path("f0.toml");
    std::fs::write(
        &f0,
        std::fs::read_to_string(&f0).expect("f0") + "[root]\ntmpfs = {}\n",
    )
    .expect("f0");
    both(&d, &f0, INVALID, "mountplan::limit::bytes");
    // A 1 MiB variable used in every string of every step.
    let x = "a".repeat(1 << 20);
    let uses = "${X}".repeat(100);
    let f = d.write(
        "vars.toml",
        format!(
            "version = 1\n[vars]\nX = \"{x}\"\n[root]\ntmpfs = {{}}\n{}",
            format!("[[step]]\nkind = \"mkdir\"\npath = \"/{uses}\"\n").repeat(100)
        ),
    );
    both(&d, &f, INVALID, "mountplan::limit::expanded");
    // Many files, each included once.
    let n = 300;
    for i in 0..n {
        d.write(&format!("s{i}.toml"), "version = 1\n");
    }
    let list: String = (0..n).map(|i| format!("\"s{i}.toml\", ")).collect();
    let f = d.write(
        "many.toml",
        format!("version = 1\ninclude = [{list}]\n{}", &HEAD[12..]),
    );
    both(&d, &f, INVALID, "mountplan::limit::files");
}

#[test]
fn diff_of_hostile_plans_ends_cleanly() {
    let d = Scratch::new("diff");
    let good = d.write(
        "good.toml",
        format!("{HEAD}[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n"),
    );
    let big = d.write("big.toml", fill(HEAD, "# padding\n", "", 3 << 20));
    let bad = d.write("bad.toml", b"version = 1\n\xff\n");
    for other in [&big, &bad, &d.0] {
        let args: [OsString; 3] = ["diff".into(), good.clone().into(), other.clone().into()];
        let a: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        clean(&run(&d, &a), UNREADABLE, "cannot read");
    }
}

#[test]
fn apply_refuses_hostile_plans_before_doing_anything() {
    let d = Scratch::new("apply");
    let state = d.path("state");
    let long_line = d.write(
        "pivots.toml",
        format!(
            "version = 1\nstep = [{}]\n[root]\ntmpfs = {{}}\n",
            "{kind=\"pivot\"},".repeat(9_000)
        ),
    );
    let fifo = d.path("fifo.toml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let cases: [(&Path, &str); 4] = [
        // 9 000 pivots on one 135 kB line, under every input limit: a diagnostic for each of
        // them, which printed the line each time (over a gigabyte of stderr); now 1.4 MB.
        (&long_line, "mountplan::pivot::twice"),
        (&fifo, "a FIFO that gave nothing"),
        (Path::new("/dev/zero"), "not a regular file (a device)"),
        (&d.0, "not a regular file (a directory)"),
    ];
    for (plan, needle) in cases {
        let args: [&std::ffi::OsStr; 4] = [
            "apply".as_ref(),
            "--state-dir".as_ref(),
            state.as_os_str(),
            plan.as_os_str(),
        ];
        let r = run(&d, &args);
        clean(&r, APPLY_FAILED, needle);
        assert!(
            r.stderr.len() < 4 << 20,
            "{}: {} bytes of stderr",
            r.what,
            r.stderr.len()
        );
    }
}
