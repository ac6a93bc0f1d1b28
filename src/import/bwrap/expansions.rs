//! The steps bwrap's composite options expand to: takes a destination (and whether there is
//! a pid namespace); returns the steps of `--dev` and `--proc` in bwrap's order, and the
//! flags each kind of bind adds. `export bwrap` recognises these same expansions.

use crate::import::writer::{Step, Value};

/// The six nodes `--dev` binds from the host's `/dev`.
pub const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// What `--proc` makes read-only, when it exists and bwrap may write it.
pub const PROC_COVERED: [&str; 3] = ["sysrq-trigger", "irq", "bus"];

pub(super) fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The steps of `--dev DEST`, in bwrap's order.
pub fn dev_steps(dest: &str) -> Vec<Step> {
    let mut v = vec![
        Step::new("mount")
            .s("type", "tmpfs")
            .s("target", dest)
            .set(
                "options",
                Value::Strs(vec!["nosuid".into(), "nodev".into()]),
            )
            .s("mode", "0755")
            .comment(format!("--dev {dest}")),
    ];
    for n in DEV_NODES {
        v.push(
            Step::new("mount")
                .s("type", "rbind")
                .s("source", format!("/dev/{n}"))
                .s("target", join(dest, n))
                .set("options", Value::Strs(vec!["nosuid".into()]))
                .s("create", "file"),
        );
    }
    for (i, n) in ["stdin", "stdout", "stderr"].iter().enumerate() {
        v.push(
            Step::new("symlink")
                .s("path", join(dest, n))
                .s("to", format!("/proc/self/fd/{i}")),
        );
    }
    v.push(
        Step::new("symlink")
            .s("path", join(dest, "fd"))
            .s("to", "/proc/self/fd"),
    );
    v.push(
        Step::new("symlink")
            .s("path", join(dest, "core"))
            .s("to", "/proc/kcore"),
    );
    for d in ["shm", "pts"] {
        v.push(
            Step::new("mkdir")
                .s("path", join(dest, d))
                .s("mode", "0755"),
        );
    }
    v.push(
        Step::new("mount")
            .s("type", "devpts")
            .s("target", join(dest, "pts"))
            .set(
                "options",
                Value::Strs(vec!["nosuid".into(), "noexec".into()]),
            )
            .s("ptmxmode", "0666")
            .s("mode", "0620"),
    );
    v.push(
        Step::new("symlink")
            .s("path", join(dest, "ptmx"))
            .s("to", "pts/ptmx"),
    );
    v
}

/// The steps of `--proc DEST`: a proc of the pid namespace (or, without one, a bind of the
/// host's), then its covered paths read-only.
pub fn proc_steps(dest: &str, pidns: bool) -> Vec<Step> {
    let mut v = vec![
        if pidns {
            Step::new("mount").s("type", "proc").s("target", dest).set(
                "options",
                Value::Strs(vec!["nosuid".into(), "nodev".into(), "noexec".into()]),
            )
        } else {
            Step::new("mount")
                .s("type", "rbind")
                .s("source", "/proc")
                .s("target", dest)
                .set(
                    "options",
                    Value::Strs(vec!["nosuid".into(), "nodev".into()]),
                )
        }
        .comment(format!("--proc {dest}")),
    ];
    for c in PROC_COVERED {
        v.push(Step::new("readonly").s("path", join(dest, c)));
    }
    v
}

/// The flags bwrap's bind of each kind adds, in the plan's words.
pub fn bind_words(kind: &str) -> Vec<String> {
    match kind {
        "--ro-bind" => vec!["ro".into(), "nosuid".into(), "nodev".into()],
        "--dev-bind" => vec!["nosuid".into()],
        _ => vec!["nosuid".into(), "nodev".into()],
    }
}
