//! The one encoding of a filesystem's typed options for the kernel: a [`FsKind`] -> its
//! `fsconfig` parameters.
//!
//! Takes a filesystem of the model (tmpfs, devpts, overlay... with their typed options), and for
//! a whole new filesystem its source and superblock flags; returns [`FsParam`]s in the order
//! they are set. The executor passes exactly these to `fsconfig(2)`, the dry run prints them
//! (`fsconfig(source="tmpfs", size="65536", ro)`), and the predicted mount table shows a mount's
//! options as they join (`size=65536,mode=0755`): the three cannot disagree, and nothing parses
//! a parameter back out of a string (the executor reads an overlay's layers from its
//! [`crate::model::OverlayOptions`]).
//!
//! Validation keeps `,` out of every value and `:` and `=` out of every overlay layer, so each
//! option is one parameter and the joined text splits back into the same ones.

use super::FsParam;
use crate::model::{FsKind, MsFlags, Size, TmpfsOptions};

fn flag(key: &str) -> FsParam {
    FsParam {
        key: key.to_string(),
        value: None,
    }
}

fn string(key: &str, value: impl ToString) -> FsParam {
    FsParam {
        key: key.to_string(),
        value: Some(value.to_string()),
    }
}

/// The filesystem's own options, in a fixed order (none for a bind, proc, sysfs, mqueue and
/// cgroup2).
pub fn options(fs: &FsKind) -> Vec<FsParam> {
    let mut v = Vec::new();
    match fs {
        FsKind::Tmpfs(o) => {
            v.extend(o.mode.map(|m| string("mode", m)));
            match o.size {
                Some(Size::Bytes(b)) => v.push(string("size", b)),
                Some(Size::Percent(p)) => v.push(string("size", format!("{p}%"))),
                None => {}
            }
            v.extend(o.nr_inodes.map(|n| string("nr_inodes", n)));
            v.extend(o.uid.map(|u| string("uid", u)));
            v.extend(o.gid.map(|g| string("gid", g)));
        }
        FsKind::Devpts(o) => {
            if o.newinstance {
                v.push(flag("newinstance"));
            }
            v.extend(o.ptmxmode.map(|m| string("ptmxmode", m)));
            v.extend(o.mode.map(|m| string("mode", m)));
            v.extend(o.uid.map(|u| string("uid", u)));
            v.extend(o.gid.map(|g| string("gid", g)));
        }
        FsKind::Overlay(o) => {
            if !o.lower.is_empty() {
                let l: Vec<&str> = o.lower.iter().map(|p| p.as_str()).collect();
                v.push(string("lowerdir", l.join(":")));
            }
            v.extend(o.upper.as_ref().map(|u| string("upperdir", u)));
            v.extend(o.work.as_ref().map(|w| string("workdir", w)));
        }
        // As the plan wrote them: `key` or `key=value`.
        FsKind::Other { data, .. } => v.extend(data.iter().map(|d| match d.split_once('=') {
            Some((k, val)) => string(k, val),
            None => flag(d),
        })),
        FsKind::Bind { .. } | FsKind::Proc | FsKind::Sysfs | FsKind::Mqueue | FsKind::Cgroup2 => {}
    }
    v
}

/// The superblock flags of a new filesystem, as the `fsconfig` flags that set them.
fn sb_words(sb: MsFlags) -> Vec<&'static str> {
    [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_SYNCHRONOUS, "sync"),
        (MsFlags::MS_DIRSYNC, "dirsync"),
        (MsFlags::MS_LAZYTIME, "lazytime"),
    ]
    .into_iter()
    .filter(|(f, _)| sb.contains(*f))
    .map(|(_, w)| w)
    .collect()
}

/// Every parameter of a new filesystem `fs`, in the order the executor sets them: `source`,
/// the filesystem's options, then the superblock flags in `sb`.
pub fn params(fs: &FsKind, source: &str, sb: MsFlags) -> Vec<FsParam> {
    let mut v = vec![string("source", source)];
    v.extend(options(fs));
    v.extend(sb_words(sb).into_iter().map(flag));
    v
}

/// The filesystem a mask puts on a directory, with its source and flags (superblock and
/// per-mount): an empty read-only tmpfs.
pub fn mask_tmpfs() -> (FsKind, &'static str, MsFlags) {
    (
        FsKind::Tmpfs(TmpfsOptions::default()),
        "tmpfs",
        MsFlags::MS_RDONLY,
    )
}

/// The options as a mount table shows them: `key=value` or `key`, joined by commas (`None`
/// when there are none).
pub fn data(fs: &FsKind) -> Option<String> {
    let o: Vec<String> = options(fs)
        .into_iter()
        .map(|p| match p.value {
            Some(v) => format!("{}={v}", p.key),
            None => p.key,
        })
        .collect();
    (!o.is_empty()).then(|| o.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DevptsOptions, HostPath, Mode, OverlayOptions};

    /// `(key, value)` pairs, `None` for a flag.
    fn pairs(ps: &[FsParam]) -> Vec<(&str, Option<&str>)> {
        ps.iter()
            .map(|p| (p.key.as_str(), p.value.as_deref()))
            .collect()
    }

    fn h(p: &str) -> HostPath {
        HostPath::new(p).unwrap()
    }

    #[test]
    fn each_kind_gives_exactly_its_fsconfig_parameters() {
        let tmpfs = FsKind::Tmpfs(TmpfsOptions {
            size: Some(Size::Bytes(65536)),
            mode: Some(Mode::from_bits(0o1777)),
            nr_inodes: Some(100),
            uid: Some(1),
            gid: Some(2),
        });
        assert_eq!(
            pairs(&params(&tmpfs, "tmpfs", MsFlags::empty())),
            [
                ("source", Some("tmpfs")),
                ("mode", Some("01777")),
                ("size", Some("65536")),
                ("nr_inodes", Some("100")),
                ("uid", Some("1")),
                ("gid", Some("2")),
            ]
        );
        let half = FsKind::Tmpfs(TmpfsOptions {
            size: Some(Size::Percent(50)),
            ..TmpfsOptions::default()
        });
        assert_eq!(
            pairs(&params(
                &half,
                "shm",
                MsFlags::MS_RDONLY | MsFlags::MS_LAZYTIME
            )),
            [
                ("source", Some("shm")),
                ("size", Some("50%")),
                ("ro", None),
                ("lazytime", None),
            ]
        );
        let devpts = FsKind::Devpts(DevptsOptions {
            newinstance: true,
            ptmxmode: Some(Mode::from_bits(0o666)),
            mode: Some(Mode::from_bits(0o620)),
            uid: None,
            gid: Some(5),
        });
        assert_eq!(
            pairs(&params(&devpts, "devpts", MsFlags::empty())),
            [
                ("source", Some("devpts")),
                ("newinstance", None),
                ("ptmxmode", Some("0666")),
                ("mode", Some("0620")),
                ("gid", Some("5")),
            ]
        );
        let overlay = FsKind::Overlay(OverlayOptions {
            lower: vec![h("/l/top"), h("/l/bottom")],
            upper: Some(h("/u")),
            work: Some(h("/w")),
        });
        assert_eq!(
            pairs(&params(
                &overlay,
                "overlay",
                MsFlags::MS_SYNCHRONOUS | MsFlags::MS_DIRSYNC
            )),
            [
                ("source", Some("overlay")),
                ("lowerdir", Some("/l/top:/l/bottom")),
                ("upperdir", Some("/u")),
                ("workdir", Some("/w")),
                ("sync", None),
                ("dirsync", None),
            ]
        );
        let read_only_overlay = FsKind::Overlay(OverlayOptions {
            lower: vec![h("/l")],
            upper: None,
            work: None,
        });
        assert_eq!(
            pairs(&options(&read_only_overlay)),
            [("lowerdir", Some("/l"))]
        );
        let other = FsKind::Other {
            fstype: "ramfs".into(),
            data: vec!["mode=0700".into(), "noswap".into(), "a=b=c".into()],
        };
        assert_eq!(
            pairs(&params(&other, "none", MsFlags::empty())),
            [
                ("source", Some("none")),
                ("mode", Some("0700")),
                ("noswap", None),
                ("a", Some("b=c")),
            ]
        );
        for plain in [FsKind::Proc, FsKind::Sysfs, FsKind::Mqueue, FsKind::Cgroup2] {
            assert_eq!(
                pairs(&params(&plain, plain.fstype(), MsFlags::MS_RDONLY)),
                [("source", Some(plain.fstype())), ("ro", None)]
            );
        }
        assert!(options(&FsKind::Tmpfs(TmpfsOptions::default())).is_empty());
        let (fs, source, flags) = mask_tmpfs();
        assert_eq!(
            pairs(&params(&fs, source, flags)),
            [("source", Some("tmpfs")), ("ro", None)]
        );
    }

    #[test]
    fn the_mount_table_shows_the_options_joined() {
        let tmpfs = FsKind::Tmpfs(TmpfsOptions {
            size: Some(Size::Bytes(1 << 20)),
            mode: Some(Mode::from_bits(0o700)),
            ..TmpfsOptions::default()
        });
        assert_eq!(data(&tmpfs).as_deref(), Some("mode=0700,size=1048576"));
        let devpts = FsKind::Devpts(DevptsOptions {
            newinstance: true,
            ptmxmode: Some(Mode::from_bits(0o666)),
            mode: None,
            uid: None,
            gid: None,
        });
        assert_eq!(data(&devpts).as_deref(), Some("newinstance,ptmxmode=0666"));
        assert_eq!(data(&FsKind::Proc), None);
        assert_eq!(data(&FsKind::Tmpfs(TmpfsOptions::default())), None);
    }
}
