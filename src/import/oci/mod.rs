//! `import oci`: takes an OCI runtime `config.json` (read with the `oci-spec` crate) and the
//! bundle directory it is in; returns the plan that builds what runc builds from it.
//!
//! runc's order is followed, and what runc does without being asked is written out: the
//! mounts in order (a bind's flags by a bind remount of its top mount, `r*` flags by a
//! recursive `mount_setattr`, a propagation option after the mount), then, unless `/dev` is a
//! bind, the default devices (`/dev/null`, `zero`, `full`, `random`, `urandom`, `tty`, then
//! `linux.devices`; bound from the host in a user namespace, where mknod is refused), the
//! `/dev/ptmx` and `/dev/fd`, `stdin`, `stdout`, `stderr` links (and `/dev/core` where the
//! host has `/proc/kcore`), a read-only `/dev` remounted so, `readonlyPaths`, `maskedPaths`, a
//! read-only root, and `pivot_root`. Every key of the file the plan does not carry is a note.
//!
//! The files, by job: `options.rs` sorts a mount's runc options, `mounts.rs` writes each
//! entry of `mounts`, `devices.rs` the default and given devices, `process.rs` `[namespaces]`
//! and `[process]`, `leftovers.rs` the notes for the keys the plan does not carry; this file
//! holds the importer's state and the order runc follows.

mod devices;
mod leftovers;
mod mounts;
mod options;
mod process;

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::Value as Json;

use super::writer::{Plan, Step, Value};
use super::{Host, ImportError, Imported, absolute, id_for};
use devices::devices;
use leftovers::leftovers;
use mounts::{is_bind, mount};
use options::{Options, prop_name};
use process::{namespaces, process};

/// The importer's state: the plan so far, the notes, the step ids taken.
struct Out {
    plan: Plan,
    notes: Vec<String>,
    ids: BTreeSet<String>,
    /// The root's host directory.
    rootfs: String,
    /// The mounts the plan made so far, and whether each starts empty.
    made: Vec<(String, bool)>,
    /// Directories the plan made so far.
    dirs: BTreeSet<String>,
}

impl Out {
    fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }
    fn id(&mut self, path: &str, suffix: &str) -> String {
        id_for(&format!("{path}{suffix}"), &mut self.ids)
    }
    /// Makes the parent of `dest` when it may be missing, as runc's MkdirAll would: when the
    /// deepest mount of the plan it is on is an empty filesystem (tmpfs) and the plan did not
    /// make it, or it is on the root and not a directory of it on the host. On a mount with
    /// content of its own (proc, sysfs, a bind) it is taken to be there.
    fn parent(&mut self, dest: &str, host: &dyn Host) {
        let parent = match dest.rfind('/') {
            Some(0) | None => return,
            Some(i) => dest[..i].to_string(),
        };
        let on = self
            .made
            .iter()
            .filter(|(m, _)| parent == *m || parent.starts_with(&format!("{m}/")))
            .max_by_key(|(m, _)| m.len())
            .cloned();
        let there = match on {
            Some((m, empty)) => m == parent || !empty || self.dirs.contains(&parent),
            None => {
                self.dirs.contains(&parent)
                    || host.exists(&format!("{}{parent}", self.rootfs.trim_end_matches('/')))
            }
        };
        if !there {
            self.plan.step(
                Step::new("mkdir")
                    .s("path", parent.clone())
                    .set("parents", Value::Bool(true))
                    .comment(format!("runc makes the missing parents of {dest}")),
            );
        }
        let mut p = parent;
        while !p.is_empty() {
            self.dirs.insert(p.clone());
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => break,
            }
        }
    }
    /// Records a mount the plan makes at `dest` (`empty`: a filesystem that starts empty).
    fn mounted(&mut self, dest: &str, empty: bool) {
        self.made.retain(|(m, _)| m != dest);
        self.made.push((dest.to_string(), empty));
    }
}

/// Imports `text`, a `config.json` in the directory `bundle` (relative paths in it are
/// relative to the bundle, as for runc), into a plan whose `#:schema` comment names `schema`.
pub fn import(
    text: &str,
    bundle: &Path,
    schema: &str,
    host: &dyn Host,
) -> Result<Imported, ImportError> {
    let json: Json = serde_json::from_str(text).map_err(|e| {
        ImportError::new(
            format!(
                "the config is not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
            "give an OCI runtime config.json (`runc spec` writes one)",
        )
    })?;
    let spec: Spec = serde_json::from_value(json.clone()).map_err(|e| {
        ImportError::new(
            format!("the config is not an OCI runtime config: {e}"),
            "fix the key named (the OCI runtime spec, config.md, says what it takes)",
        )
    })?;
    let mut o = Out {
        plan: Plan::new(schema),
        notes: Vec::new(),
        ids: BTreeSet::new(),
        rootfs: String::new(),
        made: Vec::new(),
        dirs: BTreeSet::new(),
    };
    leftovers(&json, &mut o.notes);

    let root = spec.root().as_ref().ok_or_else(|| {
        ImportError::new(
            "the config has no `root`",
            "add \"root\": {\"path\": \"rootfs\"} (the root filesystem, relative to the bundle)",
        )
    })?;
    let rootfs = absolute(bundle, &root.path().to_string_lossy());
    o.rootfs = rootfs.clone();
    o.plan.vars.set("ROOTFS", Value::Var(rootfs.clone()));
    o.plan.header = vec![
        "Imported from an OCI runtime config by `mountplan import oci`: what runc builds from"
            .into(),
        "it, in runc's order. `mountplan apply` this plan `-- COMMAND` (process.args is".into(),
        "not part of a plan).".into(),
    ];
    o.plan.root.set("path", Value::Var("${ROOTFS}".into()));

    let linux = spec.linux().clone().unwrap_or_default();
    let userns = namespaces(&linux, &mut o);
    process(&spec, &rootfs, host, &mut o);

    let mounts = spec.mounts().clone().unwrap_or_default();
    let mut dev_ro: Option<Vec<String>> = None;
    for (i, m) in mounts.iter().enumerate() {
        mount(i, m, bundle, host, userns, &mut o, &mut dev_ro);
    }

    let dev_is_bind = mounts.iter().any(|m| {
        absolute(Path::new("/"), &m.destination().to_string_lossy()) == "/dev"
            && is_bind(
                m,
                &Options::parse(m.options().as_deref().unwrap_or_default()),
            )
    });
    if dev_is_bind {
        o.note(
            "/dev is a bind: runc then makes no device, /dev/ptmx or /dev/fd link, and \
             neither does the plan",
        );
    } else {
        devices(&linux, userns, &mut o);
        o.plan.step(
            Step::new("symlink")
                .s("path", "/dev/ptmx")
                .s("to", "pts/ptmx"),
        );
        let mut links = vec![
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
        ];
        if host.exists("/proc/kcore") {
            links.push(("/dev/core", "/proc/kcore"));
            o.note(
                "/dev/core -> /proc/kcore: runc makes this link because this machine has \
                 /proc/kcore; so does the plan",
            );
        }
        for (p, to) in links {
            o.plan.step(Step::new("symlink").s("path", p).s("to", to));
        }
    }
    if let Some(words) = dev_ro {
        let id = o.id("/dev", "-ro");
        o.plan.step(
            Step::new("remount")
                .s("id", id)
                .s("target", "/dev")
                .set("options", Value::Strs(words))
                .comment("runc mounts a read-only /dev read-write and remounts it once its nodes are made"),
        );
    }
    if let Some(p) = linux
        .rootfs_propagation()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let (kind, rec) = match p {
            "private" | "slave" | "shared" | "unbindable" => (prop_name(p), false),
            "rprivate" | "rslave" | "rshared" | "runbindable" => (prop_name(&p[1..]), true),
            other => {
                return Err(ImportError::new(
                    format!("linux.rootfsPropagation is `{other}`"),
                    "use one of private, rprivate, slave, rslave, shared, rshared, \
                     unbindable, runbindable",
                ));
            }
        };
        o.plan.step(
            Step::new("propagation")
                .s("id", "rootfs-propagation")
                .s("target", "/")
                .s("propagation", kind)
                .set("recursive", Value::Bool(rec)),
        );
    }
    for p in linux.readonly_paths().as_deref().unwrap_or_default() {
        o.plan.step(Step::new("readonly").s("path", p));
    }
    for p in linux.masked_paths().as_deref().unwrap_or_default() {
        o.plan.step(Step::new("mask").s("path", p));
    }
    if root.readonly() == Some(true) {
        o.plan.step(
            Step::new("remount")
                .s("id", "root-ro")
                .s("target", "/")
                .set("options", Value::Strs(vec!["ro".into()]))
                .comment("root.readonly: runc remounts the root read-only (its own mount only)"),
        );
    }
    o.plan.step(
        Step::new("pivot")
            .s("id", "pivot")
            .s("strategy", "pivot-root"),
    );
    Ok(Imported {
        text: o.plan.text(),
        notes: o.notes,
    })
}
