//! `/proc/self/mountinfo`: text -> mount entries.
//!
//! Takes the file's text (read through the host /proc descriptor, or a captured process's);
//! returns, per line, every field decoded ([`Line`], which `capture` reads), or the fields
//! verification and host proc/sysfs masking need ([`RawMount`]: mountpoint, root inside the
//! filesystem, fstype and per-mount flags). Octal escapes (`\040` for a space) are decoded.
//! Lines that do not parse are skipped: the kernel writes this file, and a mount with a
//! strange name must not make the parse fail.

use crate::model::{MsFlags, Propagated};
use crate::sys::MountEntry;

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMount {
    /// Field 1: the mount id.
    pub id: u64,
    /// Field 2: the parent mount's id.
    pub parent: u64,
    /// Field 5, decoded: the mountpoint relative to the process root.
    pub mountpoint: String,
    /// Field 4, decoded: the path in the filesystem that is mounted.
    pub fs_root: String,
    /// The fstype, after the ` - ` separator.
    pub fstype: String,
    /// Per-mount options (field 6) as flags.
    pub flags: MsFlags,
    /// The superblock's options (the last field).
    pub options: String,
    /// The optional fields (before ` - `): the propagation.
    pub propagation: Propagated,
}

/// Decodes the kernel's `\ooo` escapes.
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The per-mount options (`rw,nosuid,nodev,relatime`) as flags.
pub fn flags_of(opts: &str) -> MsFlags {
    let mut f = MsFlags::empty();
    for o in opts.split(',') {
        f |= match o {
            "ro" => MsFlags::MS_RDONLY,
            "nosuid" => MsFlags::MS_NOSUID,
            "nodev" => MsFlags::MS_NODEV,
            "noexec" => MsFlags::MS_NOEXEC,
            "noatime" => MsFlags::MS_NOATIME,
            "nodiratime" => MsFlags::MS_NODIRATIME,
            "relatime" => MsFlags::MS_RELATIME,
            _ => MsFlags::empty(),
        };
    }
    f
}

/// One line of a mountinfo file, every field decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Field 1: the mount id (reused once the mount is gone).
    pub id: u64,
    /// Field 2: the parent's id.
    pub parent: u64,
    /// Field 3: the superblock's device, `major:minor`.
    pub dev: (u32, u32),
    /// Field 4: the path inside the filesystem that is mounted.
    pub root: String,
    /// Field 5: the mountpoint, relative to the reading process's root.
    pub mountpoint: String,
    /// Field 6: the per-mount options.
    pub opts: Vec<String>,
    /// `shared:N`.
    pub shared: Option<u64>,
    /// `master:N`.
    pub master: Option<u64>,
    /// `unbindable`.
    pub unbindable: bool,
    /// The fstype.
    pub fstype: String,
    /// The mount source.
    pub source: String,
    /// The superblock options, one per entry (`rw`/`ro` first).
    pub super_opts: Vec<String>,
}

/// Every line of a mountinfo text, every field decoded; lines that do not parse are skipped.
pub fn lines(text: &str) -> Vec<Line> {
    text.lines().filter_map(line).collect()
}

fn line(l: &str) -> Option<Line> {
    let (left, right) = l.split_once(" - ")?;
    let mut f = left.split(' ');
    let id = f.next()?.parse().ok()?;
    let parent = f.next()?.parse().ok()?;
    let (ma, mi) = f.next()?.split_once(':')?;
    let dev = (ma.parse().ok()?, mi.parse().ok()?);
    let root = unescape(f.next()?);
    let mountpoint = unescape(f.next()?);
    let opts = f.next()?.split(',').map(str::to_string).collect();
    let (mut shared, mut master, mut unbindable) = (None, None, false);
    for o in f {
        if let Some(n) = o.strip_prefix("shared:") {
            shared = n.parse().ok();
        } else if let Some(n) = o.strip_prefix("master:") {
            master = n.parse().ok();
        } else if o == "unbindable" {
            unbindable = true;
        }
    }
    let mut r = right.splitn(3, ' ');
    let fstype = unescape(r.next()?);
    let source = unescape(r.next().unwrap_or(""));
    let super_opts = r
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|o| !o.is_empty())
        .map(unescape)
        .collect();
    Some(Line {
        id,
        parent,
        dev,
        root,
        mountpoint,
        opts,
        shared,
        master,
        unbindable,
        fstype,
        source,
        super_opts,
    })
}

/// Parses the whole file, each line as verification and the masking need it.
pub fn parse(text: &str) -> Vec<RawMount> {
    text.lines().filter_map(line).map(RawMount::from).collect()
}

impl From<Line> for RawMount {
    fn from(l: Line) -> RawMount {
        RawMount {
            id: l.id,
            parent: l.parent,
            mountpoint: l.mountpoint,
            fs_root: l.root,
            fstype: l.fstype,
            flags: flags_of(&l.opts.join(",")),
            options: l.super_opts.join(","),
            propagation: Propagated::of_fields(
                [
                    l.shared.map(|_| "shared:"),
                    l.master.map(|_| "master:"),
                    l.unbindable.then_some("unbindable"),
                ]
                .into_iter()
                .flatten(),
            ),
        }
    }
}

/// True when `path` is `prefix` or below it (`/` contains everything).
pub fn is_below(path: &str, prefix: &str) -> bool {
    prefix == "/"
        || path == prefix
        || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

/// The entries at or below `prefix` in the file's text, with mountpoints made relative to it
/// (`/` for `prefix`): the same as `below(parse(text), prefix)`, but a line is decoded only
/// when its mountpoint is at or below `prefix` (the host's own mounts, which can be thousands,
/// are skipped after finding their fifth field).
pub fn below_text(text: &str, prefix: &str) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(6, ' ');
        let (Some(_id), Some(_parent), Some(_dev), Some(_root), Some(mp)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        // An escaped mountpoint (a space, tab, newline or backslash in it) is decoded first.
        let wanted = if mp.contains('\\') {
            is_below(&unescape(mp), prefix)
        } else {
            is_below(mp, prefix)
        };
        if !wanted {
            continue;
        }
        if let Some(e) = self::line(line).map(RawMount::from) {
            out.push(relative(e, prefix));
        }
    }
    out
}

fn relative(e: RawMount, prefix: &str) -> MountEntry {
    let rel = if prefix == "/" {
        e.mountpoint
    } else {
        let r = &e.mountpoint[prefix.len()..];
        if r.is_empty() {
            "/".to_string()
        } else {
            r.to_string()
        }
    };
    MountEntry {
        id: e.id,
        parent: e.parent,
        mountpoint: rel,
        fstype: e.fstype,
        flags: e.flags,
        options: e.options,
        propagation: e.propagation,
    }
}

/// The entries at or below `prefix`, with mountpoints made relative to it (`/` for `prefix`).
pub fn below(entries: Vec<RawMount>, prefix: &str) -> Vec<MountEntry> {
    entries
        .into_iter()
        .filter(|e| is_below(&e.mountpoint, prefix))
        .map(|e| relative(e, prefix))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
25 22 0:5 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
40 22 259:1 /srv/my\\040root /srv/my\\040root ro,nosuid master:1 - ext4 /dev/root rw
41 40 0:50 / /srv/my\\040root/dev rw,nosuid - tmpfs tmpfs rw,mode=755
42 22 0:51 / /srv/my\\040rootx rw - tmpfs tmpfs rw
garbage line
";

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 5);
        assert_eq!(m[1].fstype, "proc");
        assert_eq!(
            m[1].flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME
        );
        assert_eq!(m[2].mountpoint, "/srv/my root");
        assert_eq!(m[2].fs_root, "/srv/my root");
        assert_eq!(m[2].flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(m[3].options, "rw,mode=755");
        assert_eq!((m[3].id, m[3].parent), (41, 40));
    }

    #[test]
    fn lines_decode_every_field() {
        let l = lines(SAMPLE);
        assert_eq!(l.len(), 5);
        assert_eq!(l[0].shared, Some(1));
        assert_eq!(l[2].master, Some(1));
        assert_eq!(l[2].dev, (259, 1));
        assert_eq!(l[2].root, "/srv/my root");
        assert_eq!(l[3].source, "tmpfs");
        assert_eq!(l[3].super_opts, ["rw", "mode=755"]);
        assert_eq!(l[3].opts, ["rw", "nosuid"]);
    }

    #[test]
    fn below_makes_mountpoints_relative_and_respects_components() {
        let m = below(parse(SAMPLE), "/srv/my root");
        let mps: Vec<&str> = m.iter().map(|e| e.mountpoint.as_str()).collect();
        assert_eq!(mps, ["/", "/dev"]);
        assert_eq!(below(parse(SAMPLE), "/").len(), 5);
    }

    #[test]
    fn below_text_is_below_of_the_whole_parse() {
        for prefix in ["/", "/srv/my root", "/srv/my rootx", "/proc", "/nowhere"] {
            assert_eq!(
                below_text(SAMPLE, prefix),
                below(parse(SAMPLE), prefix),
                "{prefix}"
            );
        }
    }

    #[test]
    fn unescape_leaves_odd_backslashes() {
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("a\\9"), "a\\9");
        assert_eq!(unescape("a\\01"), "a\\01");
    }
}
