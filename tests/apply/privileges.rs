//! What the command may do (issue 13, item 1): it runs with a bounded capability set,
//! no_new_privs, the caller's umask, and mountplan's own processes are out of its reach.
//! Each attack here is what a hostile root's code would try, and each succeeded before
//! `[process]` existed (the command had every capability and mountplan was dumpable):
//!
//! - through `/proc/PID/root` of a host process, read a host file (no pid namespace);
//! - through `/proc/$PPID/fd/N`, read a descriptor the caller leaked into mountplan;
//! - open `/proc/$PPID/exe`, hold it until mountplan exits, then write the binary through it
//!   (CVE-2019-5736; a copy of mountplan placed in the scratch directory is what runs);
//! - open `/proc/1/exe` of mountplan's init in a pid namespace;
//! - push input into the caller's terminal with TIOCSTI, with and without `--keep-terminal`.
//!
//! And what the command gets is what the plan says, seen from inside: `/proc/self/status`
//! (CapEff, CapPrm, CapBnd, CapInh, CapAmb, NoNewPrivs), the umask of the files it makes, `id`,
//! `pwd`, `hostname`, `env` and the PATH search; rootless as well.
//!
//! Attacks that need C (ioctl, holding a descriptor across mountplan's exit) use a small static
//! helper compiled here from the source below with `cc -static` (.ci/run installs
//! build-essential).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::*;

const HELPER_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e) {
    static char b[32];
    switch (e) {
    case 0: return "none";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ETXTBSY: return "ETXTBSY";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case ENOTTY: return "ENOTTY";
    }
    snprintf(b, sizeof b, "errno%d", e);
    return b;
}

/* Writes `text` to `path` at once (a temporary file renamed), so a reader never sees half. */
static void out(const char *path, const char *text) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(3);
    if (write(fd, text, strlen(text)) < 0) _exit(3);
    close(fd);
    rename(tmp, path);
}

int main(int argc, char **argv) {
    char buf[512];
    if (argc == 3 && !strcmp(argv[1], "tiocsti")) {
        /* tiocsti OUT: push a command line into the terminal on fd 0, byte by byte. */
        const char *s = "echo INJECTED\n";
        int ok = 0, err = 0;
        for (const char *p = s; *p; p++) {
            if (ioctl(0, TIOCSTI, p) == 0) ok++;
            else err = errno;
        }
        snprintf(buf, sizeof buf, "tiocsti_ok=%d\ntiocsti_err=%s\n", ok, ename(err));
        out(argv[2], buf);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "hold-exe")) {
        /* hold-exe PATH OUT: open PATH (/proc/PID/exe), let the command end, then write the
           file through /proc/self/fd/N once nothing executes it any more (CVE-2019-5736). */
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) {
            snprintf(buf, sizeof buf, "open=%s\n", ename(errno));
            out(argv[3], buf);
            return 0;
        }
        pid_t p = fork();
        if (p != 0) return 0;
        setsid();
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
        int w = -1, e = 0, tries;
        for (tries = 1; tries <= 1000; tries++) {
            w = open(self, O_WRONLY);
            if (w >= 0) break;
            e = errno;
            if (e != ETXTBSY) break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, 0);
        }
        if (w >= 0 && write(w, "pwned", 5) == 5)
            snprintf(buf, sizeof buf, "open=ok\nwrite=ok\ntries=%d\n", tries);
        else
            snprintf(buf, sizeof buf, "open=ok\nwrite=%s\ntries=%d\n", ename(e), tries);
        out(argv[3], buf);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "open")) {
        /* open PATH: print whether it opens for reading, and the first bytes. */
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) { printf("open=%s\n", ename(errno)); return 0; }
        char b[64] = {0};
        ssize_t n = read(fd, b, sizeof b - 1);
        printf("open=ok\nread=%zd\n", n);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "chroot-escape")) {
        /* chroot-escape DIR PATH: the classic way out of a plain chroot: chroot into DIR (a
           directory below the working directory), so the working directory is outside the
           new root; climb `..` from there, chroot at the top, and read PATH. */
        mkdir(argv[2], 0700);
        if (chroot(argv[2]) != 0) { printf("chroot=%s\n", ename(errno)); return 0; }
        for (int i = 0; i < 128; i++) if (chdir("..") != 0) break;
        if (chroot(".") != 0) { printf("chroot-top=%s\n", ename(errno)); return 0; }
        int fd = open(argv[3], O_RDONLY);
        if (fd < 0) { printf("chroot=ok\nopen=%s\n", ename(errno)); return 0; }
        char b[64] = {0};
        ssize_t n = read(fd, b, sizeof b - 1);
        printf("chroot=ok\nopen=ok\nread=%zd\n%s", n, b);
        return 0;
    }
    fprintf(stderr, "usage: helper tiocsti OUT | hold-exe PATH OUT | open PATH | chroot-escape DIR PATH\n");
    return 2;
}
"#;

/// The helper, compiled once per test process into cargo's scratch directory for tests
/// (`None`, with NOT RUN, when `cc -static` fails).
fn helper() -> Option<PathBuf> {
    static H: OnceLock<Option<PathBuf>> = OnceLock::new();
    H.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let src = dir.join(format!("privileges-helper-{}.c", std::process::id()));
        std::fs::write(&src, HELPER_C).ok()?;
        let bin = dir.join(format!("privileges-helper-{}", std::process::id()));
        let st = Command::new("cc")
            .args(["-static", "-O1", "-o"])
            .arg(&bin)
            .arg(&src)
            .status();
        let _ = std::fs::remove_file(&src);
        match st {
            Ok(s) if s.success() => {
                // One file, whatever the pid: the next run replaces it.
                let stable = dir.join("privileges-helper");
                std::fs::rename(&bin, &stable).ok()?;
                Some(stable)
            }
            _ => {
                eprintln!(
                    "\n!!!! privileges: NOT RUN: `cc -static` failed (apt-get install \
                     build-essential; .ci/run installs it)\n"
                );
                assert!(!ci(), "cc -static must work under CI=true");
                None
            }
        }
    })
    .clone()
}

/// A busybox root on disk with the helper at /bin/helper, and a secret outside it.
struct Sandbox {
    s: Scratch,
    root: PathBuf,
    secret: PathBuf,
}

fn sandbox(name: &str) -> Option<Sandbox> {
    let helper = helper()?;
    let s = Scratch::new(name);
    let root = s.path("root");
    busybox_root(&root);
    std::fs::copy(&helper, root.join("bin/helper")).unwrap();
    let secret = s.write("outside/host-secret", "the host's secret\n");
    Some(Sandbox { s, root, secret })
}

impl Sandbox {
    /// A plan on this root: `[namespaces]` and `[process]` bodies, proc mounted, then `pivot`
    /// (a strategy, and a fallback or none).
    fn plan(&self, ns: &str, process: &str, pivot: &str) -> PathBuf {
        self.s.write(
            "p.toml",
            &format!(
                "version = 1\nname = \"privileges\"\n[root]\npath = \"{}\"\n\
                 [namespaces]\nuser = false\n{ns}\n[process]\n{process}\n\
                 [[step]]\nkind = \"mount\"\nid = \"proc\"\ntype = \"proc\"\ntarget = \"/proc\"\n\
                 [[step]]\nkind = \"pivot\"\n{pivot}\n",
                self.root.display()
            ),
        )
    }
    fn apply(&self, plan: &Path) -> Run<'static> {
        Run::apply(plan, &self.s.state())
    }
}

const PIVOT: &str = "strategy = \"pivot-root\"";

/// A capability set from /proc/PID/status (`CapEff:\t000001ffffffffff`).
fn status_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
}

/// What this test process may give (its permitted ∩ bounding), which bounds what mountplan,
/// started by it, can give.
fn own_caps() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    status_field(&s, "CapPrm").unwrap() & status_field(&s, "CapBnd").unwrap()
}

/// Docker's default set, written out: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
/// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
const DOCKER: u64 = 0xa804_25fb;
const CAP_SYS_CHROOT: u64 = 1 << 18;
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// As root, with `pid = false` and proc mounted (the host's processes visible), the command
/// cannot read a host file through `/proc/PID/root` of any host process, nor follow or read
/// any descriptor of mountplan through `/proc/$PPID/fd/N` (those the caller leaked into it,
/// at 100 and 1000, are closed), nor open `/proc/$PPID/exe` (nor `environ`, with the default
/// capabilities).
///
/// Twice: with the default capabilities (the kernel refuses a process whose capabilities are
/// not a superset of its target's, and mountplan is not dumpable), and with `"all"` under a
/// caller without CAP_SYS_PTRACE (as in a container): the command then has every capability
/// mountplan has, and only mountplan being non-dumpable keeps it out.
#[test]
fn privileges_the_command_cannot_reach_the_host_through_host_processes() {
    let Some(_serial) =
        privileged("privileges_the_command_cannot_reach_the_host_through_host_processes")
    else {
        return;
    };
    let Some(sb) = sandbox("host-procs") else {
        return;
    };
    let secret = sb.secret.display().to_string();
    // Every host process's root, the parent's descriptors, the parent's binary.
    let probe = format!(
        "n=0; for d in /proc/[0-9]*; do \
           if cat $d/root{secret} >/dev/null 2>&1; then n=$((n+1)); echo via=$d; fi; \
         done; echo roots_read=$n; \
         echo pids=$(ls -d /proc/[0-9]* | wc -l); \
         fds=$(ls /proc/$PPID/fd 2>/dev/null | tr '\\n' ' '); echo parent_fds=$fds; \
         for n in $fds 100 1000; do [ $n -ge 3 ] || continue; \
           readlink /proc/$PPID/fd/$n >/dev/null 2>&1 && echo link_read=$n; \
           [ -f /proc/$PPID/fd/$n ] && grep -q secret /proc/$PPID/fd/$n && echo leaked_read=$n; \
         done; \
         /bin/helper open /proc/$PPID/exe | sed s/^/exe_/; \
         /bin/helper open /proc/$PPID/environ | sed s/^/environ_/; \
         grep CapEff /proc/self/status | tr -d '\\t' | tr : =; \
         echo end"
    );
    for (process, no_ptrace) in [("", false), ("capabilities = \"all\"", true)] {
        let plan = sb.plan("pid = false", process, PIVOT);
        let host = host_mounts();
        let r = sb.apply(&plan).cmd(&["/bin/sh", "-c", &probe]);
        let mut c = if no_ptrace {
            let mut c = Command::new("setpriv");
            c.arg("--bounding-set=-sys_ptrace").arg(BIN).args(&r.args);
            c.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c
        } else {
            r.command()
        };
        let leak = std::fs::File::open(&sb.secret).unwrap();
        let raw = leak.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe.
        unsafe {
            c.pre_exec(move || {
                // Without CLOEXEC: these reach mountplan, as a careless caller's would.
                for n in [100, 1000] {
                    if libc::dup2(raw, n) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
        drop(leak);
        assert_eq!(o.status, 0, "{process}: {}", o.stderr);
        let kv = kv(&o.stdout);
        eprintln!(
            "privileges: {process:?} no_ptrace={no_ptrace}: CapEff {}, host processes visible: \
             {}, roots read: {}, mountplan's descriptors: {}",
            kv["CapEff"], kv["pids"], kv["roots_read"], kv["parent_fds"]
        );
        if no_ptrace {
            // Every capability but CAP_SYS_PTRACE: what mountplan itself has.
            let eff = u64::from_str_radix(&kv["CapEff"], 16).unwrap();
            assert_eq!(eff, own_caps() & !(1 << 19), "{}", o.stdout);
        }
        // The probe saw the host's processes (a pid namespace would hide them): it ran.
        assert!(kv["pids"].parse::<u32>().unwrap() > 5, "{}", o.stdout);
        assert_eq!(
            kv["roots_read"], "0",
            "{process}: a host file read via /proc/PID/root:\n{}",
            o.stdout
        );
        assert!(!o.stdout.contains("the host's secret"), "{}", o.stdout);
        // The numbers of the parent's descriptors can be listed (the directory is root's,
        // like the command), but none can be followed or read, and the leaked ones are closed.
        assert!(!o.stdout.contains("leaked_read"), "{process}: {}", o.stdout);
        assert!(!o.stdout.contains("link_read"), "{process}: {}", o.stdout);
        let listed: Vec<&str> = kv["parent_fds"].split_whitespace().collect();
        assert!(
            !listed.contains(&"100") && !listed.contains(&"1000"),
            "the leaked descriptors are still open in mountplan: {listed:?}"
        );
        assert_eq!(kv["exe_open"], "EACCES", "{process}: {}", o.stdout);
        if no_ptrace {
            // Linux lets a process whose capabilities cover its target's read the target's
            // environ (and cmdline, auxv) even when it is not dumpable: here, the caller's
            // environment, which the command gets by default anyway.
            eprintln!("privileges: with \"all\": environ {}", kv["environ_open"]);
        } else {
            assert_eq!(kv["environ_open"], "EACCES", "{process}: {}", o.stdout);
        }
        assert!(o.stdout.contains("end"), "{}", o.stdout);
        assert_eq!(host, host_mounts());
    }
}

/// CVE-2019-5736: the command opens `/proc/$PPID/exe` (mountplan, in the host's pid
/// namespace), forks a process that outlives the apply, and once mountplan has exited
/// (ETXTBSY until then) opens the binary for writing through `/proc/self/fd/N`. What runs is
/// a copy of mountplan in the scratch directory; it must be unchanged afterwards.
#[test]
fn privileges_the_command_cannot_overwrite_the_mountplan_binary() {
    let Some(_serial) = privileged("privileges_the_command_cannot_overwrite_the_mountplan_binary")
    else {
        return;
    };
    let Some(sb) = sandbox("cve-2019-5736") else {
        return;
    };
    let copy = sb.s.path("mountplan-copy");
    std::fs::copy(BIN, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let plan = sb.plan("pid = false", "", PIVOT);
    let result = sb.root.join("tmp/result");
    let r = sb.apply(&plan).cmd(&[
        "/bin/sh",
        "-c",
        "exec /bin/helper hold-exe /proc/$PPID/exe /tmp/result",
    ]);
    let mut c = Command::new(&copy);
    c.args(&r.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
    assert_eq!(o.status, 0, "{}", o.stderr);
    // The helper writes its result at once when the open fails, or once mountplan has exited
    // when it holds the binary: wait for it (bounded; the verdict does not depend on how long
    // it takes).
    let t = Instant::now();
    while !result.exists() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&result).expect("the helper wrote no result");
    eprintln!("privileges: CVE-2019-5736: {}", text.replace('\n', " "));
    assert!(
        std::fs::read(&copy).unwrap() == before,
        "the mountplan binary was overwritten: {text}"
    );
    assert_eq!(kv(&text)["open"], "EACCES", "{text}");

    // In a pid namespace the command's parent is mountplan's init, pid 1: out of reach too.
    let plan = sb.plan("pid = true", "", PIVOT);
    let r = sb.apply(&plan).cmd(&[
        "/bin/sh",
        "-c",
        "/bin/helper open /proc/1/exe; echo ppid=$PPID",
    ]);
    let mut c = Command::new(&copy);
    c.args(&r.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
    assert_eq!(o.status, 0, "{}", o.stderr);
    let kv = kv(&o.stdout);
    assert_eq!(kv["ppid"], "1", "{}", o.stdout);
    assert_eq!(kv["open"], "EACCES", "{}", o.stdout);
    assert!(
        std::fs::read(&copy).unwrap() == before,
        "the binary changed"
    );
}

/// The pty the test owns: TIOCSTI into it must inject nothing, with `--keep-terminal` (the
/// command keeps the caller's controlling terminal: the seccomp filter stops it) and without
/// (a new session, no CAP_SYS_ADMIN; and the filter too), and even with CAP_SYS_ADMIN granted.
#[test]
fn privileges_the_command_cannot_push_input_into_the_terminal() {
    let Some(_serial) = privileged("privileges_the_command_cannot_push_input_into_the_terminal")
    else {
        return;
    };
    let Some(sb) = sandbox("tiocsti") else {
        return;
    };
    let mut injected = Vec::new();
    for (keep, caps) in [
        (true, ""),
        (false, ""),
        (false, "capabilities = [\"CAP_SYS_ADMIN\"]"),
    ] {
        let plan = sb.plan("pid = true", caps, PIVOT);
        let pty = nix::pty::openpty(None, None).unwrap();
        // Raw: every injected byte is readable at once, none echoed.
        let mut t = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
        let result = sb.root.join("tmp/result");
        let _ = std::fs::remove_file(&result);
        let mut r = sb.apply(&plan);
        if keep {
            r = r.arg("--keep-terminal");
        }
        let r = r.cmd(&["/bin/helper", "tiocsti", "/tmp/result"]);
        let mut c = r.command();
        let slave: OwnedFd = pty.slave.try_clone().unwrap();
        c.stdin(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                // mountplan leads a session whose controlling terminal is the pty, as a shell
                // would have it.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
        assert_eq!(
            o.status, 0,
            "keep={keep} {caps}: {:?}\n{}",
            r.args, o.stderr
        );
        let text = std::fs::read_to_string(&result).unwrap_or_default();
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCINQ writes an int.
        let rq = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCINQ, &mut queued) };
        assert_eq!(rq, 0);
        eprintln!(
            "privileges: TIOCSTI keep_terminal={keep} {caps}: {} bytes queued; {}",
            queued,
            text.replace('\n', " ")
        );
        let kv = kv(&text);
        // Every case runs before the verdict, so a failure shows all of them.
        let stopped = kv.get("tiocsti_ok").map(String::as_str) == Some("0")
            && kv.get("tiocsti_err").map(String::as_str) == Some("EPERM")
            && queued == 0;
        if !stopped {
            injected.push(format!(
                "keep_terminal={keep} {caps}: {queued} bytes; {text}"
            ));
        }
    }
    assert!(
        injected.is_empty(),
        "input was pushed into the terminal: {injected:#?}"
    );
}

/// The caller's umask 022 reaches the command (mountplan itself runs with 0): a file it makes
/// on the directory root lands on the host disk as 0644, not 0666; `umask = "0077"` gives 0600.
#[test]
fn privileges_the_command_gets_the_caller_s_umask() {
    let Some(_serial) = privileged("privileges_the_command_gets_the_caller_s_umask") else {
        return;
    };
    let s = Scratch::new("umask");
    let root = s.path("root");
    busybox_root(&root);
    use std::os::unix::fs::PermissionsExt;
    // The caller's umask is 022; the plan may set its own.
    for (process, name, umask) in [("", "f", 0o022), ("umask = \"0077\"", "g", 0o077)] {
        let plan = s.write(
            "u.toml",
            &format!(
                "version = 1\n[root]\npath = \"{}\"\n[namespaces]\nuser = false\n\
                 [process]\n{process}\n[[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
                root.display()
            ),
        );
        let mut c = Run::apply(&plan, &s.state())
            .cmd(&[
                "/bin/sh",
                "-c",
                &format!("echo x > /tmp/{name}; mkdir /tmp/{name}.d"),
            ])
            .command();
        // SAFETY: umask is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
        assert_eq!(o.status, 0, "{}", o.stderr);
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&format!("tmp/{name}")), 0o666 & !umask, "{process:?}");
        assert_eq!(
            mode(&format!("tmp/{name}.d")),
            0o777 & !umask,
            "{process:?}"
        );
    }
}

/// `/proc/self/status` of the command: CapEff, CapPrm, CapBnd and CapInh are exactly the set
/// the plan chose (Docker's by default; CAP_SYS_ADMIN when listed; everything with "all";
/// nothing with []; without CAP_SYS_CHROOT when the pivot falls back to chroot), CapAmb is
/// empty as uid 0, NoNewPrivs is 1 unless the plan says otherwise; with and without a pid
/// namespace.
#[test]
fn privileges_the_command_s_capabilities_are_exactly_the_chosen_set() {
    let Some(_serial) =
        privileged("privileges_the_command_s_capabilities_are_exactly_the_chosen_set")
    else {
        return;
    };
    let Some(sb) = sandbox("caps") else {
        return;
    };
    let own = own_caps();
    let cases: [(&str, &str, u64, u64); 6] = [
        ("", PIVOT, DOCKER & own, 1),
        (
            "capabilities = [\"CAP_SYS_ADMIN\"]",
            PIVOT,
            CAP_SYS_ADMIN,
            1,
        ),
        ("capabilities = \"all\"", PIVOT, own, 1),
        ("capabilities = []", PIVOT, 0, 1),
        (
            "",
            "strategy = \"pivot-root\"\nfallback = \"chroot\"",
            DOCKER & own & !CAP_SYS_CHROOT,
            1,
        ),
        ("no_new_privileges = false", PIVOT, DOCKER & own, 0),
    ];
    for pid in [true, false] {
        for (process, pivot, want, nnp) in cases {
            let plan = sb.plan(&format!("pid = {pid}"), process, pivot);
            let o = sb
                .apply(&plan)
                .cmd(&["/bin/cat", "/proc/self/status"])
                .run();
            assert_eq!(o.status, 0, "{process}: {}", o.stderr);
            let f = |k| status_field(&o.stdout, k).unwrap_or_else(|| panic!("no {k}"));
            for k in ["CapEff", "CapPrm", "CapBnd", "CapInh"] {
                assert_eq!(
                    f(k),
                    want,
                    "pid={pid} {process:?} {pivot:?}: {k} {:x}, want {want:x}",
                    f(k)
                );
            }
            assert_eq!(f("CapAmb"), 0, "{process}");
            let line = o
                .stdout
                .lines()
                .find(|l| l.starts_with("NoNewPrivs:"))
                .unwrap();
            assert_eq!(
                line.split_whitespace().nth(1),
                Some(nnp.to_string().as_str())
            );
        }
    }
}

/// cwd, the environment (kept or cleared, unset, set, and the PATH search in the result),
/// the hostname and the ids, seen from inside with `pwd`, `env`, `hostname` and `id`; a
/// non-root uid gets its listed capabilities as ambient ones.
#[test]
fn privileges_cwd_env_hostname_and_ids_are_what_the_plan_says() {
    let Some(_serial) = privileged("privileges_cwd_env_hostname_and_ids_are_what_the_plan_says")
    else {
        return;
    };
    let s = Scratch::new("process");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir_all(root.join("work")).unwrap();
    std::fs::create_dir_all(root.join("opt/bin")).unwrap();
    // Only in /opt/bin, which only the plan's PATH names.
    s.write(
        "root/opt/bin/probe",
        "#!/bin/sh\necho cwd=$(pwd)\necho host=$(hostname)\necho id=$(id)\n\
         grep -E '^Cap(Eff|Amb)' /proc/self/status | tr -d '\\t' | tr : =\nenv | sed s/^/env_/\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("opt/bin/probe"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for clear in [false, true] {
        let plan = s.write(
            "p.toml",
            &format!(
                "version = 1\n[root]\npath = \"{}\"\n[namespaces]\nuser = false\nuts = true\n\
                 [process]\ncwd = \"/work\"\nhostname = \"sandbox-{clear}\"\nuid = 1000\n\
                 gid = 1001\ngroups = [27, 5]\ncapabilities = [\"net_bind_service\"]\n\
                 [process.env]\nclear = {clear}\nunset = [\"MP_GONE\"]\n\
                 set = {{ PATH = \"/opt/bin:/bin\", MP_SET = \"x y\" }}\n\
                 [[step]]\nkind = \"mount\"\ntype = \"proc\"\ntarget = \"/proc\"\n\
                 [[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
                root.display()
            ),
        );
        let o = Run::apply(&plan, &s.state())
            .env("MP_KEPT", "kept")
            .env("MP_GONE", "gone")
            .env("PATH", "/usr/bin:/bin")
            .cmd(&["probe"])
            .run();
        assert_eq!(o.status, 0, "clear={clear}: {}", o.stderr);
        let kv = kv(&o.stdout);
        assert_eq!(kv["cwd"], "/work");
        assert_eq!(kv["host"], format!("sandbox-{clear}"));
        assert_eq!(kv["id"], "uid=1000 gid=1001 groups=5,27", "{}", o.stdout);
        assert_eq!(kv["CapEff"], "0000000000000400");
        assert_eq!(kv["CapAmb"], "0000000000000400");
        assert_eq!(kv["env_PATH"], "/opt/bin:/bin");
        assert_eq!(kv["env_MP_SET"], "x y");
        assert!(!kv.contains_key("env_MP_GONE"), "{}", o.stdout);
        assert_eq!(kv.contains_key("env_MP_KEPT"), !clear, "{}", o.stdout);
        // The host's name is untouched.
        assert_ne!(
            nix::unistd::gethostname().unwrap().to_string_lossy(),
            format!("sandbox-{clear}")
        );
    }
    // A cwd that does not exist: the command does not start, and says why.
    let plan = s.write(
        "bad.toml",
        &format!(
            "version = 1\n[root]\npath = \"{}\"\n[namespaces]\nuser = false\n\
             [process]\ncwd = \"/nowhere\"\n[[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
            root.display()
        ),
    );
    let o = Run::apply(&plan, &s.state()).cmd(&["/bin/true"]).run();
    assert_eq!(o.status, 126, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("chdir(\"/nowhere\") ([process] cwd) => ENOENT"),
        "{}",
        o.stderr
    );
}

/// Rootless (as uid 65534): the child is dumpable only while it writes its uid and gid maps
/// (the apply works), the command's capabilities are bounded the same way and its init's
/// `/proc/1/exe` is out of reach; a uid other than 0 is refused before anything starts.
#[test]
fn privileges_rootless_is_bounded_the_same_way() {
    let Some(_serial) = privileged("privileges_rootless_is_bounded_the_same_way") else {
        return;
    };
    if !rootless_possible("privileges_rootless_is_bounded_the_same_way") {
        return;
    }
    let Some(helper) = helper() else {
        return;
    };
    let s = Scratch::new("rootless-privileges");
    let bb = s.path("busybox");
    std::fs::copy(busybox(), &bb).unwrap();
    let hp = s.path("helper");
    std::fs::copy(&helper, &hp).unwrap();
    let state = s.path("state");
    std::fs::create_dir_all(&state).unwrap();
    let nobody = nix::unistd::Uid::from_raw(65534);
    nix::unistd::chown(
        &state,
        Some(nobody),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    let plan_text = |process: &str| {
        format!(
            "version = 1\n[root]\ntmpfs = {{ mode = \"0755\" }}\n[process]\n{process}\n\
             [[step]]\nkind = \"mkdir\"\npath = \"/bin\"\n\
             [[step]]\nkind = \"mount\"\ntype = \"bind\"\nsource = \"{}\"\ntarget = \"/bin/busybox\"\n\
             create = \"file\"\n\
             [[step]]\nkind = \"mount\"\ntype = \"bind\"\nsource = \"{}\"\ntarget = \"/bin/helper\"\n\
             create = \"file\"\n\
             [[step]]\nkind = \"mount\"\ntype = \"proc\"\ntarget = \"/proc\"\n\
             [[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
            bb.display(),
            hp.display()
        )
    };
    let plan = s.write("r.toml", &plan_text(""));
    let mut r = Run::apply(&plan, &state).cmd(&[
        "/bin/busybox",
        "sh",
        "-c",
        "/bin/busybox cat /proc/self/status; /bin/helper open /proc/1/exe | /bin/busybox sed s/^/exe_/",
    ]);
    r.nobody = true;
    let o = r.run();
    assert_eq!(o.status, 0, "rootless apply failed:\n{}", o.stderr);
    let own = own_caps();
    for k in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            status_field(&o.stdout, k),
            Some(DOCKER & own),
            "{k}:\n{}",
            o.stdout
        );
    }
    assert!(o.stdout.contains("NoNewPrivs:\t1"), "{}", o.stdout);
    assert_eq!(kv(&o.stdout)["exe_open"], "EACCES", "{}", o.stdout);

    // uid 1000 does not exist in a rootless user namespace: refused, nothing started.
    let plan = s.write("uid.toml", &plan_text("uid = 1000"));
    let mut r = Run::apply(&plan, &state).cmd(&["/bin/busybox", "sh", "-c", "echo ran"]);
    r.nobody = true;
    let o = r.run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(!o.stdout.contains("ran"));
    for w in [
        "mountplan::apply::rootless-ids",
        "uid.toml:5:7",
        "drop `uid` from [process]",
        "nothing was applied",
    ] {
        assert!(o.stderr.contains(w), "no {w:?} in:\n{}", o.stderr);
    }
    assert!(journals(&state).is_empty());
}

/// A pivot that ends in a plain `chroot` (the strategy, or the fallback taken when the kernel
/// refuses pivot_root of a root made shared) leaves the old root reachable from a process that
/// may chroot: the command chroots into a subdirectory, climbs `..` and reads a host file. The
/// command runs without CAP_SYS_CHROOT there, so its chroot fails: as root and rootless.
#[test]
fn privileges_a_plain_chroot_cannot_be_escaped() {
    let Some(_serial) = privileged("privileges_a_plain_chroot_cannot_be_escaped") else {
        return;
    };
    let Some(sb) = sandbox("chroot-escape") else {
        return;
    };
    let secret = sb.secret.display().to_string();
    let rootless = rootless_possible("privileges_a_plain_chroot_cannot_be_escaped");
    let mut tried = 0;
    for (name, ns, pivot) in [
        ("chroot", "pid = true", "strategy = \"chroot\""),
        (
            "forced-fallback",
            "pid = true",
            "strategy = \"pivot-root\"\nfallback = \"chroot\"",
        ),
    ] {
        for as_nobody in [false, true] {
            if as_nobody && !rootless {
                continue;
            }
            let plan = sb.plan(ns, "", pivot);
            let mut text = std::fs::read_to_string(&plan).unwrap();
            if name == "forced-fallback" {
                // Made shared, pivot_root(2) refuses the root (EINVAL): the fallback is taken.
                text = text.replace(
                    "[[step]]\nkind = \"pivot\"",
                    "[[step]]\nkind = \"propagation\"\ntarget = \"/\"\npropagation = \"shared\"\n\
                     [[step]]\nkind = \"pivot\"",
                );
            }
            // A state directory of the caller's own, as root or as 65534.
            let state = sb.s.path(&format!("state-{name}-{as_nobody}"));
            if as_nobody {
                text = text.replace("user = false", "user = true");
                std::fs::create_dir_all(&state).unwrap();
                for d in [&sb.root, &state] {
                    chown_tree(d);
                }
            }
            std::fs::write(&plan, text).unwrap();
            let mut r = Run::apply(&plan, &state).cmd(&[
                "/bin/helper",
                "chroot-escape",
                "/tmp/inner",
                &secret,
            ]);
            r.nobody = as_nobody;
            let o = r.run();
            let what = format!("{name} (rootless: {as_nobody})");
            assert_eq!(o.status, 0, "{what}: {}", o.stderr);
            eprintln!("privileges chroot escape, {what}: {}", o.stdout.trim());
            assert!(
                o.stdout.contains("chroot=EPERM"),
                "{what}: the command could chroot:\n{}",
                o.stdout
            );
            assert!(
                !o.stdout.contains("the host's secret"),
                "{what}: {}",
                o.stdout
            );
            tried += 1;
        }
    }
    assert!(tried >= 2);
}

/// `chown -R 65534:65534` without following symlinks.
fn chown_tree(p: &Path) {
    std::os::unix::fs::lchown(p, Some(65534), Some(65534)).unwrap();
    if std::fs::symlink_metadata(p).unwrap().is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path());
        }
    }
}
