//! A captured plan's predicted tree against the tree it was captured from.
//!
//! Takes the [`FinalTree`] of the plan's dry run and the captured mounts ([`Expect`]);
//! returns every difference in words: a mount missing or extra, another mountpoint, fstype or
//! bind source, other per-mount flags, a filesystem option the kernel showed that the plan
//! does not give, or gives otherwise.
//! Options are compared as values: `mode=755` is `mode=0755`, `size=16384k` is
//! `size=16777216`.

use std::collections::BTreeMap;

use super::Expect;
use crate::graph::FinalTree;
use crate::model::MsFlags;

const COMPARED: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME)
    .union(MsFlags::MS_NODIRATIME);

/// An option's value in a form that compares: octal modes as numbers, sizes in bytes.
fn norm(key: &str, v: &str) -> String {
    match key {
        "mode" | "ptmxmode" => u32::from_str_radix(v, 8)
            .map(|n| format!("{n:o}"))
            .unwrap_or_else(|_| v.to_string()),
        "size" if !v.ends_with('%') => {
            let (num, mul) = match v.as_bytes().last() {
                Some(b'k' | b'K') => (&v[..v.len() - 1], 1u64 << 10),
                Some(b'm' | b'M') => (&v[..v.len() - 1], 1 << 20),
                Some(b'g' | b'G') => (&v[..v.len() - 1], 1 << 30),
                _ => (v, 1),
            };
            num.parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(mul))
                .map(|n| n.to_string())
                .unwrap_or_else(|| v.to_string())
        }
        _ => v.to_string(),
    }
}

fn options<'a>(it: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    it.filter(|o| !o.is_empty() && *o != "rw" && *o != "ro")
        .map(|o| match o.split_once('=') {
            Some((k, v)) => (k.to_string(), norm(k, v)),
            None => (o.to_string(), String::new()),
        })
        .collect()
}

fn show(f: MsFlags) -> String {
    super::write::words(f).join(",")
}

/// Every difference between the predicted tree and the captured mounts, in words.
pub fn differences(tree: &FinalTree, expected: &[Expect]) -> Vec<String> {
    let mut out = Vec::new();
    if tree.mounts.len() != expected.len() {
        out.push(format!(
            "the plan predicts {} mounts, the namespace has {}",
            tree.mounts.len(),
            expected.len()
        ));
    }
    for (i, (p, e)) in tree.mounts.iter().zip(expected).enumerate() {
        if p.mountpoint != e.at {
            out.push(format!(
                "mount {}: the plan predicts `{}`, the namespace has `{}`",
                i + 1,
                p.mountpoint,
                e.at
            ));
            continue;
        }
        let at = &e.at;
        match &e.bind {
            Some(src) => {
                if p.fstype != "bind" || p.source != *src {
                    out.push(format!(
                        "`{at}`: the plan predicts {} from `{}`, the namespace has a bind of \
                         `{src}`",
                        p.fstype, p.source
                    ));
                }
            }
            None => {
                if p.fstype != e.fstype {
                    out.push(format!(
                        "`{at}`: the plan predicts {}, the namespace has {}",
                        p.fstype, e.fstype
                    ));
                    continue;
                }
                let want = options(e.options.iter().map(String::as_str));
                let have = options(p.data.iter().flat_map(|d| d.split(',')));
                for (k, v) in &want {
                    let shown = if v.is_empty() {
                        k.clone()
                    } else {
                        format!("{k}={v}")
                    };
                    match have.get(k) {
                        Some(h) if h == v => {}
                        Some(h) => out.push(format!(
                            "`{at}`: the plan gives `{k}={h}`, the namespace has `{shown}`"
                        )),
                        None => out.push(format!(
                            "`{at}`: the namespace has `{shown}`, which the plan does not give"
                        )),
                    }
                }
                // devpts is always a new instance: the kernel does not show `newinstance`.
                let unshown = |k: &str| e.fstype == "devpts" && k == "newinstance";
                for k in have
                    .keys()
                    .filter(|k| !want.contains_key(*k) && !unshown(k))
                {
                    out.push(format!(
                        "`{at}`: the plan gives `{k}`, which the namespace does not have"
                    ));
                }
            }
        }
        // A bind without flags keeps its source's (a bound root): nothing to compare.
        let pf = p.flags & COMPARED;
        if !(pf.is_empty() && e.bind.is_some()) && pf != e.flags & COMPARED {
            out.push(format!(
                "`{at}`: the plan predicts the flags {}, the namespace has {}",
                show(pf),
                show(e.flags)
            ));
        }
    }
    out
}
