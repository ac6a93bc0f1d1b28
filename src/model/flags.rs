//! Mount flags: their symbolic names as strace prints them ([`ms_flags_str`]) and the words a
//! plan writes them with ([`FLAG_WORDS`], [`option_words`]).

use super::MsFlags;

/// The symbolic names of mount flags, in the order they are printed.
pub const MS_NAMES: &[(MsFlags, &str)] = &[
    (MsFlags::MS_RDONLY, "MS_RDONLY"),
    (MsFlags::MS_NOSUID, "MS_NOSUID"),
    (MsFlags::MS_NODEV, "MS_NODEV"),
    (MsFlags::MS_NOEXEC, "MS_NOEXEC"),
    (MsFlags::MS_SYNCHRONOUS, "MS_SYNCHRONOUS"),
    (MsFlags::MS_REMOUNT, "MS_REMOUNT"),
    (MsFlags::MS_MANDLOCK, "MS_MANDLOCK"),
    (MsFlags::MS_DIRSYNC, "MS_DIRSYNC"),
    (MsFlags::MS_NOATIME, "MS_NOATIME"),
    (MsFlags::MS_NODIRATIME, "MS_NODIRATIME"),
    (MsFlags::MS_BIND, "MS_BIND"),
    (MsFlags::MS_MOVE, "MS_MOVE"),
    (MsFlags::MS_REC, "MS_REC"),
    (MsFlags::MS_SILENT, "MS_SILENT"),
    (MsFlags::MS_UNBINDABLE, "MS_UNBINDABLE"),
    (MsFlags::MS_PRIVATE, "MS_PRIVATE"),
    (MsFlags::MS_SLAVE, "MS_SLAVE"),
    (MsFlags::MS_SHARED, "MS_SHARED"),
    (MsFlags::MS_RELATIME, "MS_RELATIME"),
    (MsFlags::MS_STRICTATIME, "MS_STRICTATIME"),
    (MsFlags::MS_LAZYTIME, "MS_LAZYTIME"),
];

/// Mount flags as strace prints them: `MS_NOSUID|MS_NODEV`, or `0`.
pub fn ms_flags_str(flags: MsFlags) -> String {
    let mut out = String::new();
    let mut left = flags;
    for (f, name) in MS_NAMES {
        if flags.contains(*f) {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            left.remove(*f);
        }
    }
    if !left.is_empty() {
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(&format!("{:#x}", left.bits()));
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// The mount flag words, and what they set (`true`) or clear (`false`).
pub const FLAG_WORDS: &[(&str, MsFlags, bool)] = &[
    ("ro", MsFlags::MS_RDONLY, true),
    ("rw", MsFlags::MS_RDONLY, false),
    ("nosuid", MsFlags::MS_NOSUID, true),
    ("suid", MsFlags::MS_NOSUID, false),
    ("nodev", MsFlags::MS_NODEV, true),
    ("dev", MsFlags::MS_NODEV, false),
    ("noexec", MsFlags::MS_NOEXEC, true),
    ("exec", MsFlags::MS_NOEXEC, false),
    ("relatime", MsFlags::MS_RELATIME, true),
    ("norelatime", MsFlags::MS_RELATIME, false),
    ("noatime", MsFlags::MS_NOATIME, true),
    ("strictatime", MsFlags::MS_STRICTATIME, true),
    ("nodiratime", MsFlags::MS_NODIRATIME, true),
    ("sync", MsFlags::MS_SYNCHRONOUS, true),
    ("dirsync", MsFlags::MS_DIRSYNC, true),
    ("silent", MsFlags::MS_SILENT, true),
    ("rec", MsFlags::MS_REC, true),
];

/// The per-mount flag words that also have a recursive spelling with an `r` in front, as OCI
/// and runc write them (`rro`, `rrw`, `rnosuid`, ..., `rnodiratime`).
pub const REC_WORDS: &[&str] = &[
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "relatime",
    "norelatime",
    "noatime",
    "strictatime",
    "nodiratime",
];

/// The flag word of an OCI recursive spelling (`rro` -> `ro`), or `None` for any other word.
pub fn rec_base(w: &str) -> Option<&str> {
    w.strip_prefix('r').filter(|b| REC_WORDS.contains(b))
}

/// The words a plan's `options` set (in this order), as the plan writes them: `ro`,
/// `nosuid`, …, `rec`. Words that clear a flag (`rw`, `exec`) are left out.
pub fn option_words(flags: MsFlags) -> impl Iterator<Item = &'static str> {
    FLAG_WORDS
        .iter()
        .filter(move |(_, f, set)| *set && flags.contains(*f))
        .map(|(w, _, _)| *w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_like_strace() {
        assert_eq!(
            ms_flags_str(MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC),
            "MS_NOSUID|MS_NODEV|MS_NOEXEC"
        );
        assert_eq!(ms_flags_str(MsFlags::empty()), "0");
    }
}
