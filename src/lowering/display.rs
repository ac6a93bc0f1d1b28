//! How a call reads in the dry run: [`Call`] -> text, as strace would print it, with `<root>`
//! for the new root and `M<n>` for the descriptor of the plan's mount number n.
//!
//! Takes calls; returns strings (through `Display`), strings quoted and paths in the root
//! written by [`crate::quote`]. The one encoding of `mount_setattr`'s attributes
//! ([`mount_attr`], also what the executor passes to the kernel) lives here.

use std::fmt;

use super::{At, AttrOn, Call, Dev, FsParam, Source, Target};
use crate::model::{FsKind, MsFlags, NodeType, ms_flags_str};
use crate::quote::{in_root, quote, quoted_in_root};

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quoted_in_root(&self.path))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::InRoot(a) => a.fmt(f),
            Target::Host(p) => f.write_str(&quote(p.as_str())),
            Target::TmpRoot => f.write_str(&quote("<tmproot>")),
            Target::Cwd => f.write_str(&quote(".")),
            Target::AfterPivot(p) => f.write_str(&quote(p.as_str())),
            Target::OldRoot => f.write_str(&quote("<old root>")),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::None => f.write_str("NULL"),
            Source::Host(p) => f.write_str(&quote(p.as_str())),
            Source::Cwd => f.write_str(&quote(".")),
        }
    }
}

/// `MOUNT_ATTR_*` bits.
pub mod attr {
    /// MOUNT_ATTR_RDONLY.
    pub const RDONLY: u64 = 0x1;
    /// MOUNT_ATTR_NOSUID.
    pub const NOSUID: u64 = 0x2;
    /// MOUNT_ATTR_NODEV.
    pub const NODEV: u64 = 0x4;
    /// MOUNT_ATTR_NOEXEC.
    pub const NOEXEC: u64 = 0x8;
    /// MOUNT_ATTR__ATIME: the atime field, to clear before setting a mode.
    pub const ATIME: u64 = 0x70;
    /// MOUNT_ATTR_NOATIME.
    pub const NOATIME: u64 = 0x10;
    /// MOUNT_ATTR_STRICTATIME.
    pub const STRICTATIME: u64 = 0x20;
    /// MOUNT_ATTR_NODIRATIME.
    pub const NODIRATIME: u64 = 0x80;
}

/// `mount_setattr`'s `attr_set` and `attr_clr` (or `fsmount`'s attributes, `set` alone) for
/// MS_* flags to set and clear: an atime mode to set clears the whole atime field first, as the
/// kernel wants; clearing any atime flag clears the field (back to relatime).
pub fn mount_attr(set: MsFlags, clear: MsFlags) -> (u64, u64) {
    let bits = |f: MsFlags| {
        let mut a = 0;
        for (ms, at) in [
            (MsFlags::MS_RDONLY, attr::RDONLY),
            (MsFlags::MS_NOSUID, attr::NOSUID),
            (MsFlags::MS_NODEV, attr::NODEV),
            (MsFlags::MS_NOEXEC, attr::NOEXEC),
            (MsFlags::MS_NODIRATIME, attr::NODIRATIME),
        ] {
            if f.contains(ms) {
                a |= at;
            }
        }
        a
    };
    let (mut s, mut c) = (bits(set), bits(clear));
    let modes = MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_RELATIME;
    if set.contains(MsFlags::MS_NOATIME) {
        s |= attr::NOATIME;
    } else if set.contains(MsFlags::MS_STRICTATIME) {
        s |= attr::STRICTATIME;
    }
    if set.intersects(modes) || clear.intersects(modes) {
        c |= attr::ATIME;
    }
    (s, c)
}

/// The names of `MOUNT_ATTR_*` bits (`0` for none). `relatime` names MOUNT_ATTR_RELATIME,
/// whose value is zero, when an atime mode is being set.
fn attr_names(bits: u64, relatime: bool) -> String {
    let names = [
        (attr::RDONLY, "MOUNT_ATTR_RDONLY"),
        (attr::NOSUID, "MOUNT_ATTR_NOSUID"),
        (attr::NODEV, "MOUNT_ATTR_NODEV"),
        (attr::NOEXEC, "MOUNT_ATTR_NOEXEC"),
        (attr::NODIRATIME, "MOUNT_ATTR_NODIRATIME"),
    ];
    let mut v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    match bits & attr::ATIME {
        attr::ATIME => v.push("MOUNT_ATTR__ATIME"),
        attr::NOATIME => v.push("MOUNT_ATTR_NOATIME"),
        attr::STRICTATIME => v.push("MOUNT_ATTR_STRICTATIME"),
        _ if relatime => v.push("MOUNT_ATTR_RELATIME"),
        _ => {}
    }
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

/// `{attr_set=..., attr_clr=...}`, each only when not empty.
fn attr_struct(set: MsFlags, clear: MsFlags) -> String {
    let (s, c) = mount_attr(set, clear);
    let mut parts = Vec::new();
    if s != 0 || set.contains(MsFlags::MS_RELATIME) {
        parts.push(format!(
            "attr_set={}",
            attr_names(s, set.contains(MsFlags::MS_RELATIME))
        ));
    }
    if c != 0 {
        parts.push(format!("attr_clr={}", attr_names(c, false)));
    }
    format!("{{{}}}", parts.join(", "))
}

impl fmt::Display for FsParam {
    /// `key="value"` for a string, `key` alone for a flag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}", self.key, quote(v)),
            None => f.write_str(&self.key),
        }
    }
}

/// `fsopen(...) + fsconfig(...) + fsmount(...)` of a new filesystem `fs` with `source`,
/// superblock flags `sb` and per-mount attributes `attr`: its parameters from
/// [`fsconfig::params`](super::fsconfig::params), as the executor sets them.
fn new_fs_text(fs: &FsKind, source: &str, sb: MsFlags, attr: MsFlags) -> String {
    let all: Vec<String> = super::fsconfig::params(fs, source, sb)
        .iter()
        .map(FsParam::to_string)
        .collect();
    let (bits, _) = mount_attr(attr, MsFlags::empty());
    format!(
        "fsopen({}) + fsconfig({}) + fsmount({})",
        quote(fs.fstype()),
        all.join(", "),
        attr_names(bits, false)
    )
}

/// `mount_setattr(ON, AT_RECURSIVE or 0, {attr_set=..., attr_clr=...})`, `on` as written.
pub fn setattr_text(on: &str, recursive: bool, set: MsFlags, clear: MsFlags) -> String {
    format!(
        "mount_setattr({on}, {}, {})",
        if recursive { "AT_RECURSIVE" } else { "0" },
        attr_struct(set, clear)
    )
}

fn id(v: Option<u32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-1".into())
}

impl fmt::Display for Call {
    /// The call as strace would print it, with `<root>` for the new root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Mount {
                source,
                target,
                flags,
            } => write!(
                f,
                "mount({source}, {target}, NULL, {}, NULL)",
                ms_flags_str(*flags)
            ),
            Call::NewFs {
                fs,
                source,
                sb,
                attr: a,
                mount,
            } => write!(f, "{} = {mount}", new_fs_text(fs, source, *sb, *a)),
            Call::CloneTree {
                source,
                recursive,
                mount,
            } => write!(
                f,
                "open_tree({}, OPEN_TREE_CLONE{}) = {mount}",
                quote(source.as_str()),
                if *recursive { "|AT_RECURSIVE" } else { "" }
            ),
            Call::SetAttr {
                on,
                recursive,
                set,
                clear,
            } => {
                let on = match on {
                    AttrOn::Mount(m) => m.to_string(),
                    AttrOn::Path(t) => t.to_string(),
                };
                f.write_str(&setattr_text(&on, *recursive, *set, *clear))
            }
            Call::Idmap {
                mount,
                recursive,
                map,
                ..
            } => {
                let lines = |r: &[crate::model::IdRange]| {
                    r.iter()
                        .map(|r| r.userns_line())
                        .collect::<Vec<_>>()
                        .join("\\n")
                };
                match map {
                    crate::model::IdmapFrom::Maps(map) => write!(
                        f,
                        "clone(CLONE_NEWUSER) + uid_map \"{}\" + gid_map \"{}\" + \
                         open(\"/proc/CHILD/ns/user\") = U; ",
                        lines(&map.uid),
                        lines(&map.gid),
                    )?,
                    crate::model::IdmapFrom::Userns(p) => write!(
                        f,
                        "open({}, O_RDONLY|O_CLOEXEC) = U; ioctl(U, NS_GET_NSTYPE) == \
                         CLONE_NEWUSER; ",
                        crate::quote::quote(p.as_str())
                    )?,
                }
                write!(
                    f,
                    "mount_setattr({mount}, {}, {{attr_set=MOUNT_ATTR_IDMAP, userns_fd=U}})",
                    if *recursive { "AT_RECURSIVE" } else { "0" }
                )
            }
            Call::Attach { mount, to } => write!(f, "move_mount({mount}, {to})"),
            Call::MountFs {
                fs,
                source,
                flags,
                to,
                mount,
            } => write!(
                f,
                "mount({}, {to}, {}, {}, {}) = {mount}",
                quote(source),
                quote(fs.fstype()),
                ms_flags_str(*flags),
                super::fsconfig::data(fs)
                    .map(|d| quote(&d))
                    .unwrap_or_else(|| "NULL".into())
            ),
            Call::BindMount {
                source,
                recursive,
                to,
                mount,
            } => write!(
                f,
                "mount({}, {to}, NULL, MS_BIND{}, NULL) = {mount}",
                quote(source.as_str()),
                if *recursive { "|MS_REC" } else { "" }
            ),
            Call::Remount { on, flags } => {
                let on = match on {
                    AttrOn::Mount(m) => m.to_string(),
                    AttrOn::Path(t) => t.to_string(),
                };
                write!(
                    f,
                    "mount(NULL, {on}, NULL, {}, NULL)",
                    ms_flags_str(MsFlags::MS_REMOUNT | MsFlags::MS_BIND | *flags)
                )
            }
            Call::MaskClassic { at, mount } => write!(
                f,
                "mask {at} when it exists: a directory gets mount(\"tmpfs\", {at}, \"tmpfs\", \
                 MS_RDONLY, NULL) = {mount}, anything else mount(\"/dev/null\", {at}, NULL, \
                 MS_BIND, NULL) = {mount}"
            ),
            Call::Umount(t) => write!(f, "umount2({t}, MNT_DETACH)"),
            Call::Mkdir {
                at,
                mode,
                if_missing,
                ..
            } => {
                write!(f, "mkdir({at}, {mode})")?;
                if *if_missing {
                    f.write_str(" unless it is a directory")?;
                }
                Ok(())
            }
            Call::CreateFile { at, mode, .. } => write!(
                f,
                "openat({at}, O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW|O_NOCTTY|O_CLOEXEC, {mode}) \
                 unless it exists"
            ),
            Call::Mknod {
                at,
                node,
                mode,
                dev,
                ..
            } => {
                let t = match node {
                    NodeType::Char => "S_IFCHR",
                    NodeType::Block => "S_IFBLK",
                    NodeType::Fifo => "S_IFIFO",
                };
                let d = match dev {
                    Dev::Num(ma, mi) => format!("makedev({ma:#x}, {mi:#x})"),
                    Dev::FromHost(p) => format!("<st_rdev of {p}>"),
                };
                if *node == NodeType::Fifo {
                    write!(f, "mknod({at}, {t}|{mode})")?;
                } else {
                    write!(f, "mknod({at}, {t}|{mode}, {d})")?;
                }
                f.write_str(" unless that node is there")
            }
            Call::Symlink { to, at, .. } => {
                write!(f, "symlink({}, {at}) unless that link is there", quote(to))
            }
            Call::Chmod { at, mode, .. } => {
                write!(f, "chmod({at}, {mode}) unless it has that mode")
            }
            Call::Chown { at, uid, gid, .. } => write!(
                f,
                "lchown({at}, {}, {}) unless it has that owner",
                id(*uid),
                id(*gid)
            ),
            Call::Mask { at, mount } => {
                let (fs, source, flags) = super::fsconfig::mask_tmpfs();
                write!(
                    f,
                    "mask {at} when it exists: a directory gets {} = {mount}, anything else \
                     open_tree(\"/dev/null\", OPEN_TREE_CLONE) = {mount}; move_mount({mount}, \
                     {at})",
                    new_fs_text(&fs, source, flags, flags)
                )
            }
            Call::Readonly { at, mount } => write!(
                f,
                "readonly {at} when it exists: open_tree({at}, OPEN_TREE_CLONE|AT_RECURSIVE) = \
                 {mount}; mount_setattr({mount}, AT_RECURSIVE, {{attr_set=MOUNT_ATTR_RDONLY}}); \
                 move_mount({mount}, {at})"
            ),
            Call::MaskHostProcSys => f.write_str(
                "for each full proc or sysfs mount P outside <root>: \
                 mount(NULL, P, NULL, MS_SLAVE|MS_REC, NULL); umount2(P, MNT_DETACH) \
                 (or mount(\"tmpfs\", P, \"tmpfs\", 0, NULL) when refused)",
            ),
            Call::Chdir(t) => write!(f, "chdir({t})"),
            Call::MakePutOld { at, .. } => write!(
                f,
                "mkdir({}, 0700), XXXXXX six random characters (another name if it exists)",
                quote(&format!("{}XXXXXX", in_root(&at.path)))
            ),
            Call::PivotRoot { put_old: false } => f.write_str("pivot_root(\".\", \".\")"),
            Call::PivotRoot { put_old: true } => {
                f.write_str("pivot_root(\".\", <the put_old directory made above>)")
            }
            Call::Chroot => f.write_str("chroot(\".\")"),
            Call::RemovePutOld => f.write_str(
                "rmdir(<the put_old directory made above>) if it is still that directory",
            ),
        }
    }
}
