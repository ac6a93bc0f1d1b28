//! A mount's flags and filesystem options as plan keys: takes a walked [`Mount`]; returns the
//! plan words of its flags and the typed keys of its filesystem (the rest as `data`).

use crate::capture::table::Mount;
use crate::model::MsFlags;
use crate::quote::plan_string;

/// The plan words of per-mount flags, the atime mode always named.
pub fn words(f: MsFlags) -> Vec<String> {
    let mut v = Vec::new();
    for (flag, w) in [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
    ] {
        if f.contains(flag) {
            v.push(w.to_string());
        }
    }
    v.push(
        if f.contains(MsFlags::MS_NOATIME) {
            "noatime"
        } else if f.contains(MsFlags::MS_RELATIME) {
            "relatime"
        } else {
            "strictatime"
        }
        .to_string(),
    );
    if f.contains(MsFlags::MS_NODIRATIME) {
        v.push("nodiratime".into());
    }
    v
}

/// `key=value` options of a superblock, without `rw`/`ro`.
pub(super) fn fs_options(m: &Mount) -> Vec<(String, Option<String>)> {
    m.line
        .super_opts
        .iter()
        .filter(|o| *o != "rw" && *o != "ro")
        .map(|o| match o.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (o.to_string(), None),
        })
        .collect()
}

pub(super) fn super_ro(m: &Mount) -> bool {
    m.line.super_opts.first().is_some_and(|o| o == "ro")
}

/// A source name a plan accepts for a non-bind mount (it goes into the data string).
pub(super) fn plain_source(s: &str) -> bool {
    !s.is_empty() && !s.contains([',', '=', ':', '\0'])
}

/// An octal mode as the kernel prints it (`755`, `1777`) in a plan's form (`0755`).
pub(super) fn mode(v: &str) -> Option<String> {
    let n = u32::from_str_radix(v, 8).ok()?;
    (n <= 0o7777).then(|| format!("0{n:o}"))
}

/// The typed keys of a fresh filesystem of `m`'s type and the options left over (which a
/// plan cannot give).
pub(super) fn typed(m: &Mount) -> (Vec<(&'static str, String)>, Vec<String>) {
    let mut keys = Vec::new();
    let mut rest = Vec::new();
    let fstype = m.line.fstype.as_str();
    for (k, v) in fs_options(m) {
        let shown = match &v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        };
        let key: Option<(&'static str, String)> = match (fstype, k.as_str(), v.as_deref()) {
            ("tmpfs", "size", Some(v)) => Some(("size", plan_string(v))),
            ("tmpfs", "nr_inodes", Some(v)) if v.parse::<u64>().is_ok() => {
                Some(("nr_inodes", v.to_string()))
            }
            ("tmpfs" | "devpts", "mode", Some(v)) => mode(v).map(|m| ("mode", plan_string(&m))),
            ("devpts", "ptmxmode", Some(v)) => mode(v).map(|m| ("ptmxmode", plan_string(&m))),
            ("tmpfs" | "devpts", "uid", Some(v)) if v.parse::<u32>().is_ok() => {
                Some(("uid", v.to_string()))
            }
            ("tmpfs" | "devpts", "gid", Some(v)) if v.parse::<u32>().is_ok() => {
                Some(("gid", v.to_string()))
            }
            _ => None,
        };
        match key {
            Some(kv) => keys.push(kv),
            None => rest.push(shown),
        }
    }
    (keys, rest)
}
