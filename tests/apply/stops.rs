//! Stops inside one call of the executor. The binary's test pauses stop between two calls
//! (`MOUNTPLAN_TEST_PAUSE_AT_CALL`); some windows lie inside one call, between two system calls
//! of the same step (a `mkdir` with set-id bits makes the directory, then opens it again to
//! set them). A small ptrace tracer, compiled here from the C below with `cc`, runs the
//! command and follows every process it starts. It finds an *anchor*: the `nth` system call
//! numbered `nr` (whose argument `arg` is a given string, or starts with it when the string
//! ends in `*`). In the process that made it, it counts the system calls from there (the
//! anchor is 0) and stops that process right after call `skip` has run, before it returns to
//! the program: it prints `mountplan: test pause before ...` on stderr, as the binary's own
//! pauses do, and waits on the FIFO, so [`crate::support::run_paused`] drives both the same
//! way. With `until`, no stop is made past the first call numbered `until` (the window is
//! over): a sweep over `skip` = 0.. ends when a run does not pause. Nothing depends on
//! timing: the traced process cannot run on while the tracer waits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::*;

const TRACER_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* struct ptrace_syscall_info (Linux 5.3), spelled out to need no kernel headers. */
struct info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t ip;
    uint64_t sp;
    union {
        struct { uint64_t nr; uint64_t args[6]; } entry;
        struct { int64_t rval; uint8_t is_error; } exit;
        struct { uint64_t nr; uint64_t args[6]; uint32_t ret; } seccomp;
    } u;
};
#define GET_SYSCALL_INFO 0x420e
#define OP_ENTRY 1
#define OP_EXIT 2

struct tracee { pid_t pid; int started; long nr; };
static struct tracee t[4096];
static int nt;

static struct tracee *find(pid_t p) {
    for (int i = 0; i < nt; i++)
        if (t[i].pid == p) return &t[i];
    if (nt == 4096) { fprintf(stderr, "stopat: too many processes\n"); exit(126); }
    t[nt].pid = p; t[nt].started = 0; t[nt].nr = -1;
    return &t[nt++];
}

static long num(const char *k, long dflt) {
    const char *v = getenv(k);
    return v && *v ? strtol(v, 0, 10) : dflt;
}

/* Whether the NUL-terminated string at addr in p is s (or starts with s without its '*'). */
static int matches(pid_t p, uint64_t addr, const char *s) {
    size_t n = strlen(s);
    int prefix = n > 0 && s[n - 1] == '*';
    if (prefix) n--;
    char buf[4104];
    size_t got = 0;
    while (got < 4096) {
        errno = 0;
        long w = ptrace(PTRACE_PEEKDATA, p, (void *)(addr + got), 0);
        if (errno) return 0;
        memcpy(buf + got, &w, sizeof w);
        got += sizeof w;
        if (memchr(buf + got - sizeof w, 0, sizeof w)) break;
    }
    buf[got] = 0;
    return prefix ? strncmp(buf, s, n) == 0 : strcmp(buf, s) == 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || strcmp(argv[1], "--") != 0) {
        fprintf(stderr, "usage: STOPAT_NR=N [STOPAT_ARG=I STOPAT_STR=S] [STOPAT_NTH=N] "
                        "[STOPAT_SKIP=K] [STOPAT_UNTIL=NR] STOPAT_RESUME=FIFO stopat -- CMD...\n");
        return 126;
    }
    long anchor = num("STOPAT_NR", -1), arg = num("STOPAT_ARG", -1), nth = num("STOPAT_NTH", 1);
    long skip = num("STOPAT_SKIP", 0), until = num("STOPAT_UNTIL", -1);
    const char *str = getenv("STOPAT_STR"), *resume = getenv("STOPAT_RESUME");
    if (anchor < 0 || !resume || (arg >= 0 && !str)) {
        fprintf(stderr, "stopat: STOPAT_NR and STOPAT_RESUME are needed\n");
        return 126;
    }
    pid_t child = fork();
    if (child < 0) { perror("stopat: fork"); return 126; }
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        execvp(argv[2], argv + 2);
        perror("stopat: execvp");
        _exit(127);
    }
    int st;
    if (waitpid(child, &st, 0) != child || !WIFSTOPPED(st)) { perror("stopat: wait"); return 126; }
    if (ptrace(PTRACE_SETOPTIONS, child, 0,
               PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
               PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL) != 0) {
        perror("stopat: PTRACE_SETOPTIONS");
        return 126;
    }
    find(child)->started = 1;
    ptrace(PTRACE_SYSCALL, child, 0, 0);
    long seen = 0, index = -1;
    pid_t anchored = 0;
    int done = 0, result = 126;
    for (;;) {
        pid_t p = waitpid(-1, &st, __WALL);
        if (p < 0) {
            if (errno == EINTR) continue;
            break; /* ECHILD: every tracee is gone */
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            if (p == child) result = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            continue;
        }
        if (!WIFSTOPPED(st)) continue;
        struct tracee *tr = find(p);
        int sig = WSTOPSIG(st), event = st >> 16, give = 0;
        if (sig == (SIGTRAP | 0x80)) {
            struct info si;
            memset(&si, 0, sizeof si);
            if (ptrace(GET_SYSCALL_INFO, p, (void *)sizeof si, &si) <= 0) {
                perror("stopat: PTRACE_GET_SYSCALL_INFO");
                return 126;
            }
            if (si.op == OP_ENTRY) {
                tr->nr = (long)si.u.entry.nr;
                if (anchored == p) {
                    index++;
                } else if (!anchored && tr->nr == anchor &&
                           (arg < 0 || (arg < 6 && matches(p, si.u.entry.args[arg], str))) &&
                           ++seen == nth) {
                    anchored = p;
                    index = 0;
                }
            } else if (si.op == OP_EXIT && anchored == p && !done) {
                if (index == skip) {
                    done = 1;
                    fprintf(stderr, "mountplan: test pause before the return of system call %ld "
                                    "(number %ld) from the anchor in process %d\n",
                            index, tr->nr, (int)p);
                    int fd = open(resume, O_RDONLY | O_CLOEXEC);
                    if (fd < 0) {
                        perror("stopat: open the FIFO");
                    } else {
                        char b[256];
                        while (read(fd, b, sizeof b) > 0) {}
                        close(fd);
                    }
                } else if (tr->nr == until) {
                    done = 1;
                }
            }
        } else if (event) {
            /* fork, clone, exec: the new process is found at its first stop */
        } else if (!tr->started) {
            tr->started = 1;
            if (sig != SIGSTOP) give = sig;
        } else {
            siginfo_t info;
            /* A group-stop (no siginfo) is left; a signal is passed on. */
            if (ptrace(PTRACE_GETSIGINFO, p, 0, &info) == 0) give = sig;
        }
        ptrace(PTRACE_SYSCALL, p, 0, give);
    }
    return result;
}
"#;

/// The tracer, compiled once per test process into cargo's scratch directory for tests
/// (`None`, with NOT RUN, when `cc` fails; a failure under CI=true).
pub fn tracer() -> Option<PathBuf> {
    static T: OnceLock<Option<PathBuf>> = OnceLock::new();
    T.get_or_init(|| compile_c("stopat", TRACER_C, &["-O1", "-Wall"], "stops"))
        .clone()
}

/// Where to stop: right after system call `skip` counted from the anchor.
#[derive(Debug, Clone)]
pub struct Stop {
    /// The anchor's system call number (`libc::SYS_*`).
    pub nr: libc::c_long,
    /// The anchor's argument `.0` (from 0) is the string `.1` (a prefix when it ends in `*`).
    pub arg: Option<(usize, &'static str)>,
    /// The anchor is the `nth` matching call (from 1), in whichever process.
    pub nth: u32,
    /// The call to stop after, from the anchor (0: the anchor itself).
    pub skip: usize,
    /// No stop past the first call with this number after the anchor.
    pub until: Option<libc::c_long>,
}

impl Stop {
    /// The first call `nr` whose argument `arg` is `s`, then `skip` calls on, until `until`.
    pub fn after(nr: libc::c_long, arg: usize, s: &'static str, until: libc::c_long) -> Stop {
        Stop {
            nr,
            arg: Some((arg, s)),
            nth: 1,
            skip: 0,
            until: Some(until),
        }
    }
    /// The same anchor, `skip` calls on.
    pub fn skip(&self, skip: usize) -> Stop {
        Stop {
            skip,
            ..self.clone()
        }
    }
}

/// `cmd` under the tracer (`tracer`), stopping at `stop` and waiting on `resume`.
pub fn stopped_at(tracer: &Path, cmd: &Command, stop: &Stop, resume: &Resume) -> Command {
    let mut c = Command::new(tracer);
    c.arg("--").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.env("STOPAT_NR", stop.nr.to_string())
        .env("STOPAT_NTH", stop.nth.to_string())
        .env("STOPAT_SKIP", stop.skip.to_string())
        .env("STOPAT_RESUME", &resume.0);
    if let Some((i, s)) = stop.arg {
        c.env("STOPAT_ARG", i.to_string()).env("STOPAT_STR", s);
    }
    if let Some(u) = stop.until {
        c.env("STOPAT_UNTIL", u.to_string());
    }
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// The system call number a stop was made after, from the tracer's message in `stderr`.
pub fn stopped_after(stderr: &str) -> Option<libc::c_long> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("mountplan: test pause before the return of system call"))?;
    let rest = line.split("(number ").nth(1)?;
    rest.split(')').next()?.parse().ok()
}
