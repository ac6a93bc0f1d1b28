//! Importers: takes another tool's configuration (an OCI runtime `config.json`, a bubblewrap
//! command line, a systemd-nspawn `.nspawn` file) as text or arguments; returns a plan as TOML
//! text (built with [`writer`]) and a note for everything of it the plan does not carry.
//!
//! Pure: what an importer needs to know about the machine (is a bind source a file? does
//! `/proc/kcore` exist, which makes runc link `/dev/core`?) it is told by its caller through
//! [`Host`], so the importers are tested without a machine. The caller checks the text with
//! the same pipeline as `mountplan check` before printing it.

pub mod bwrap;
pub mod nspawn;
pub mod oci;
pub mod writer;

/// A plan built by an importer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The plan as TOML text, starting with its `#:schema` comment.
    pub text: String,
    /// What of the input the plan does not carry, or carries differently: one line each, for
    /// standard error.
    pub notes: Vec<String>,
}

/// An input an importer cannot read: what is wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// What is wrong, with where (a JSON path, a line, an argument).
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl ImportError {
    /// An error with its fix.
    pub fn new(message: impl Into<String>, help: impl Into<String>) -> ImportError {
        ImportError {
            message: message.into(),
            help: help.into(),
        }
    }
}

/// What an importer may ask about the machine it runs on.
pub trait Host {
    /// Whether `path` on the host is something other than a directory (a bind of it then needs
    /// `create = "file"`). `false` when it is a directory or cannot be seen.
    fn is_file(&self, path: &str) -> bool;
    /// Whether `path` exists on the host.
    fn exists(&self, path: &str) -> bool;
    /// Whether the importer runs as root (bwrap then keeps the caller's capabilities).
    fn is_root(&self) -> bool;
    /// The importer's effective capabilities, by name (`CAP_CHOWN`).
    fn caps(&self) -> std::collections::BTreeSet<String>;
    /// The path the caller's descriptor `fd` is open on (`--bind-fd`).
    fn fd_path(&self, fd: i32) -> Option<String>;
    /// The per-mount options (`rw,nosuid,relatime`) of the host mount `path` is on.
    fn mount_options(&self, path: &str) -> Option<Vec<String>>;
    /// The text of the host file at `path` (small files: `/etc/passwd` of a root).
    fn read(&self, path: &str) -> Option<String>;
}

/// The real machine, through `std::fs` (only the command-line side uses it).
pub struct RealHost;

impl Host for RealHost {
    fn is_file(&self, path: &str) -> bool {
        std::fs::metadata(path).is_ok_and(|m| !m.is_dir())
    }
    fn exists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }
    fn is_root(&self) -> bool {
        crate::sys::linux::host::euid() == 0
    }
    fn caps(&self) -> std::collections::BTreeSet<String> {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let bits = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
            .unwrap_or(0);
        crate::model::CapSet::from_bits(bits)
            .names()
            .into_iter()
            .collect()
    }
    fn fd_path(&self, fd: i32) -> Option<String> {
        std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }
    fn mount_options(&self, path: &str) -> Option<Vec<String>> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let path = std::fs::canonicalize(path).ok()?;
        let mut best: Option<(usize, Vec<String>)> = None;
        for l in text.lines() {
            let f: Vec<&str> = l.split(' ').collect();
            let (Some(mp), Some(opts)) = (f.get(4), f.get(5)) else {
                continue;
            };
            let mp = mp.replace("\\040", " ");
            let under = mp == "/" || path.starts_with(&mp);
            if under && best.as_ref().is_none_or(|(n, _)| mp.len() >= *n) {
                best = Some((mp.len(), opts.split(',').map(String::from).collect()));
            }
        }
        best.map(|(_, o)| o)
    }
    fn read(&self, path: &str) -> Option<String> {
        use std::io::Read;
        let mut s = String::new();
        std::fs::File::open(path)
            .ok()?
            .take(1 << 20)
            .read_to_string(&mut s)
            .ok()?;
        Some(s)
    }
}

/// Where the `#:schema` comment of an imported plan points by default: the schema of a
/// checkout, seen from its `plans/` directory.
pub const DEFAULT_SCHEMA: &str = "../schema/plan.schema.json";

/// A step id from a path: `/dev/pts` -> `dev-pts`, `/` -> `root`; made unique in `taken`.
pub(crate) fn id_for(path: &str, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut base: String = path
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if base.is_empty() || base.starts_with(['.', '-']) {
        base = format!("root{base}");
    }
    base.truncate(60);
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// A path made absolute against `dir` and normalised (`.` and `..` folded, textually).
pub(crate) fn absolute(dir: &std::path::Path, p: &str) -> String {
    let joined = if p.starts_with('/') {
        std::path::PathBuf::from(p)
    } else {
        dir.join(p)
    };
    let mut parts: Vec<String> = Vec::new();
    for c in joined.components() {
        match c {
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// A mode as the plan writes it, four octal digits.
pub(crate) fn mode_str(m: u32) -> String {
    format!("{:04o}", m & 0o7777)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn ids_are_valid_and_unique() {
        let mut t = Default::default();
        assert_eq!(id_for("/dev/pts", &mut t), "dev-pts");
        assert_eq!(id_for("/dev/pts", &mut t), "dev-pts-2");
        assert_eq!(id_for("/", &mut t), "root");
        assert_eq!(id_for("/a b/.c", &mut t), "a-b-.c");
        assert_eq!(id_for("/.x", &mut t), "root.x");
    }

    #[test]
    fn paths_are_made_absolute() {
        let d = std::path::Path::new("/b/u");
        assert_eq!(absolute(d, "rootfs"), "/b/u/rootfs");
        assert_eq!(absolute(d, "../r/./x/"), "/b/r/x");
        assert_eq!(absolute(d, "/abs//p"), "/abs/p");
    }
}

#[cfg(test)]
mod tests;
