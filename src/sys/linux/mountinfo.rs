//! `/proc/self/mountinfo`: text -> mount entries.
//!
//! Takes the file's text (read through the host /proc descriptor); returns, per line, the
//! fields verification and host proc/sysfs masking need: mountpoint, root inside the
//! filesystem, fstype and per-mount flags. Octal escapes (`\040` for a space) are decoded.
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

/// Parses the whole file.
pub fn parse(text: &str) -> Vec<RawMount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<RawMount> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let id = l.next()?.parse().ok()?;
    let parent = l.next()?.parse().ok()?;
    let _dev = l.next()?;
    let root = l.next()?;
    let mp = l.next()?;
    let opts = l.next()?;
    let propagation = Propagated::of_fields(l);
    let mut r = right.split(' ');
    let fstype = r.next()?;
    let _source = r.next();
    let options = r.next().unwrap_or("");
    Some(RawMount {
        id,
        parent,
        mountpoint: unescape(mp),
        fs_root: unescape(root),
        fstype: unescape(fstype),
        flags: flags_of(opts),
        options: unescape(options),
        propagation,
    })
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
        if let Some(e) = parse_line(line) {
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
