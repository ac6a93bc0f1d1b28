//! The kernel's binary view of a mount table: `listmount(2)` and `statmount(2)` (Linux 6.8).
//!
//! Takes a mount namespace (or the caller's) and, for verification, the new root's path from
//! this process's root; returns [`StatMount`]s (what `capture` reads) or the
//! [`MountEntry`]s at or below the root (what verification compares), one `statmount` per
//! mount, binary fields and three strings (mountpoint, fstype, the superblock's options), no
//! text table to parse. Only reads. A kernel without these calls (or without the options
//! string, Linux 6.10) answers ENOSYS or EINVAL: the caller then reads
//! `/proc/self/mountinfo` instead ([`super::mountinfo`]).

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use super::mountinfo::{is_below, unescape};
use crate::model::MsFlags;
use crate::sys::MountEntry;

/// `statmount(2)`, `listmount(2)` (Linux 6.8): the same number on every architecture that
/// uses the common system call table.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
const SYS_STATMOUNT: libc::c_long = 457;
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
const SYS_LISTMOUNT: libc::c_long = 458;
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
const SYS_STATMOUNT: libc::c_long = -1;
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
const SYS_LISTMOUNT: libc::c_long = -1;

/// `NS_GET_MNTNS_ID`: `_IOR(0xb7, 0x5, __u64)` (Linux 6.9).
const NS_GET_MNTNS_ID: libc::c_ulong = 0x8008_b705;
/// `LSMT_ROOT`: list from the namespace's root.
pub const LSMT_ROOT: u64 = u64::MAX;
/// `MNT_ID_REQ_SIZE_VER1`: with `mnt_ns_id` (Linux 6.11).
const MNT_ID_REQ_SIZE_VER1: u32 = 32;
const STATMOUNT_SB_BASIC: u64 = 0x1;
const STATMOUNT_MNT_BASIC: u64 = 0x2;
const STATMOUNT_PROPAGATE_FROM: u64 = 0x4;
/// The mountpoint, relative to the caller's root (a string, not escaped).
const STATMOUNT_MNT_POINT: u64 = 0x10;
/// The filesystem type (a string).
const STATMOUNT_FS_TYPE: u64 = 0x20;
/// The superblock's options, comma separated and escaped as in mountinfo (Linux 6.10).
const STATMOUNT_MNT_OPTS: u64 = 0x80;
/// `SB_RDONLY`, `SB_SYNCHRONOUS`, `SB_DIRSYNC`, `SB_LAZYTIME` in `sb_flags`.
const SB_RDONLY: u32 = 1;
const SB_SYNCHRONOUS: u32 = 16;
const SB_DIRSYNC: u32 = 128;
const SB_LAZYTIME: u32 = 1 << 25;
/// Where `struct statmount`'s strings start (`str[]`, after the fixed fields).
const STRINGS: usize = 512;

/// `MOUNT_ATTR_RDONLY` ... as `statmount` gives them in `mnt_attr`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID`.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NODEV`.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `MOUNT_ATTR_NOEXEC`.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// `MOUNT_ATTR__ATIME` (the mask of the atime mode).
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
/// `MOUNT_ATTR_NOATIME`.
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
/// `MOUNT_ATTR_STRICTATIME`.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
/// `MOUNT_ATTR_NODIRATIME`.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
/// `MOUNT_ATTR_IDMAP`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// `MOUNT_ATTR_NOSYMFOLLOW`.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
    mnt_ns_id: u64,
}

/// One mount as `statmount(STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC |
/// STATMOUNT_PROPAGATE_FROM)` gives it: binary fields, no text to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatMount {
    /// The 64-bit unique mount id: never reused, and larger for a mount made later.
    pub id: u64,
    /// The parent's unique id (its own for a namespace's root).
    pub parent: u64,
    /// The id mountinfo shows (reused after a mount is gone).
    pub id_old: u32,
    /// The parent's id as mountinfo shows it.
    pub parent_old: u32,
    /// `MOUNT_ATTR_*` bits.
    pub attr: u64,
    /// `MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE` bits.
    pub propagation: u64,
    /// The peer group (0: none).
    pub peer_group: u64,
    /// The peer group it is a slave of (0: none).
    pub master: u64,
    /// The nearest dominant peer group in this namespace (0: none).
    pub propagate_from: u64,
    /// The superblock's device.
    pub dev: (u32, u32),
}

/// `ioctl(ns, NS_GET_MNTNS_ID)`: the 64-bit id of the mount namespace `ns` names.
pub fn mnt_ns_id(ns: BorrowedFd<'_>) -> Result<u64, Errno> {
    let mut id: u64 = 0;
    // SAFETY: NS_GET_MNTNS_ID writes one u64 through the pointer, which outlives the call.
    let r = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_MNTNS_ID as _, &mut id as *mut u64) };
    Errno::result(r).map(|_| id)
}

fn req(mnt_id: u64, param: u64, ns: u64) -> MntIdReq {
    MntIdReq {
        size: MNT_ID_REQ_SIZE_VER1,
        spare: 0,
        mnt_id,
        param,
        mnt_ns_id: ns,
    }
}

/// `listmount` of every mount of namespace `ns` (0: the caller's), in unique-id order.
pub fn listmount(ns: u64) -> Result<Vec<u64>, Errno> {
    if SYS_LISTMOUNT < 0 {
        return Err(Errno::ENOSYS);
    }
    let mut out = Vec::new();
    let mut last = 0u64;
    let mut buf = vec![0u64; 512];
    loop {
        let r = req(LSMT_ROOT, last, ns);
        // SAFETY: the request and the buffer (its length in elements passed) outlive the call.
        let n = unsafe {
            libc::syscall(
                SYS_LISTMOUNT,
                &r as *const MntIdReq,
                buf.as_mut_ptr(),
                buf.len(),
                0 as libc::c_uint,
            )
        };
        if n < 0 {
            return Err(Errno::last());
        }
        let n = n as usize;
        out.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            return Ok(out);
        }
        last = buf[n - 1];
        if out.len() > 1_000_000 {
            return Err(Errno::E2BIG);
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

/// `statmount` of the mount with unique id `id` in namespace `ns` (0: the caller's).
pub fn statmount(id: u64, ns: u64) -> Result<StatMount, Errno> {
    if SYS_STATMOUNT < 0 {
        return Err(Errno::ENOSYS);
    }
    let r = req(
        id,
        STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC | STATMOUNT_PROPAGATE_FROM,
        ns,
    );
    // struct statmount is 512 bytes before its strings; no string is asked for.
    let mut buf = vec![0u64; 128];
    let size = buf.len() * 8;
    // SAFETY: the request and the buffer (its size in bytes passed) outlive the call.
    let n = unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            &r as *const MntIdReq,
            buf.as_mut_ptr(),
            size,
            0 as libc::c_uint,
        )
    };
    if n < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a u64 buffer read as its bytes (same length, no padding in u64).
    let b: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), size) };
    let mask = u64_at(b, 8);
    if mask & (STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC) != STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC
    {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(StatMount {
        dev: (u32_at(b, 16), u32_at(b, 20)),
        id: u64_at(b, 40),
        parent: u64_at(b, 48),
        id_old: u32_at(b, 56),
        parent_old: u32_at(b, 60),
        attr: u64_at(b, 64),
        propagation: u64_at(b, 72),
        peer_group: u64_at(b, 80),
        master: u64_at(b, 88),
        propagate_from: if mask & STATMOUNT_PROPAGATE_FROM != 0 {
            u64_at(b, 96)
        } else {
            0
        },
    })
}

/// Every mount of the mount namespace `ns` (a `/proc/PID/ns/mnt` descriptor; `None`: the
/// caller's), through `listmount` and `statmount`, in unique-id order.
pub fn stat_table(ns: Option<BorrowedFd<'_>>) -> Result<Vec<StatMount>, Errno> {
    let id = match ns {
        Some(fd) => mnt_ns_id(fd)?,
        None => 0,
    };
    let ids = listmount(id)?;
    let mut out = Vec::with_capacity(ids.len());
    for m in ids {
        match statmount(m, id) {
            Ok(s) => out.push(s),
            // Gone between the two calls.
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Reads `statmount`s with strings into one buffer, reused from mount to mount.
struct Reader {
    buf: Vec<u64>,
}

/// One mount's entry as `statmount` gives it, its strings borrowed from the reader's buffer.
struct Raw<'a> {
    id_old: u32,
    parent_old: u32,
    attr: u64,
    /// `mnt_propagation` (MS_SHARED, MS_SLAVE, MS_UNBINDABLE bits), `mnt_peer_group` and
    /// `mnt_master` (0: none).
    propagation: u64,
    peer_group: u64,
    master: u64,
    sb_flags: u32,
    mountpoint: &'a [u8],
    fstype: &'a [u8],
    opts: &'a [u8],
}

/// The NUL-terminated string at `off` of `struct statmount`'s strings.
fn string_at(b: &[u8], off: u32) -> Result<&[u8], Errno> {
    let from = STRINGS.checked_add(off as usize).ok_or(Errno::EIO)?;
    let rest = b.get(from..).ok_or(Errno::EIO)?;
    let len = rest.iter().position(|c| *c == 0).ok_or(Errno::EIO)?;
    Ok(&rest[..len])
}

impl Reader {
    fn new() -> Reader {
        // The fixed part and 512 bytes of strings, grown on EOVERFLOW (and kept grown): the
        // kernel allocates (and charges) a buffer of the size passed on every call, so a
        // large one costs each statmount a page or two it does not need.
        Reader {
            buf: vec![0u64; (STRINGS + 512) / 8],
        }
    }

    /// `statmount` of mount `id` of the caller's namespace, with its mountpoint, fstype and
    /// options; `None` when it is gone, or not reachable from the caller's root (so not below
    /// it).
    fn entry(&mut self, id: u64) -> Result<Option<Raw<'_>>, Errno> {
        let want =
            STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC | STATMOUNT_MNT_POINT | STATMOUNT_FS_TYPE;
        let r = req(id, want | STATMOUNT_MNT_OPTS, 0);
        loop {
            let size = self.buf.len() * 8;
            // SAFETY: the request and the buffer (its size in bytes passed) outlive the call.
            let n = unsafe {
                libc::syscall(
                    SYS_STATMOUNT,
                    &r as *const MntIdReq,
                    self.buf.as_mut_ptr(),
                    size,
                    0 as libc::c_uint,
                )
            };
            if n >= 0 {
                break;
            }
            match Errno::last() {
                Errno::EOVERFLOW if size < (1 << 20) => {
                    let more = self.buf.len();
                    self.buf.resize(more * 2, 0);
                }
                Errno::ENOENT | Errno::EPERM => return Ok(None),
                e => return Err(e),
            }
        }
        let size = self.buf.len() * 8;
        // SAFETY: a u64 buffer read as its bytes (same length, no padding in u64).
        let b: &[u8] = unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), size) };
        let mask = u64_at(b, 8);
        if mask & want != want {
            return Err(Errno::EOPNOTSUPP);
        }
        // A filesystem that shows no options may leave the options string out.
        let opts = if mask & STATMOUNT_MNT_OPTS != 0 {
            string_at(b, u32_at(b, 4))?
        } else {
            &[]
        };
        Ok(Some(Raw {
            id_old: u32_at(b, 56),
            parent_old: u32_at(b, 60),
            attr: u64_at(b, 64),
            propagation: u64_at(b, 72),
            peer_group: u64_at(b, 80),
            master: u64_at(b, 88),
            sb_flags: u32_at(b, 32),
            fstype: string_at(b, u32_at(b, 36))?,
            mountpoint: string_at(b, u32_at(b, 108))?,
            opts,
        }))
    }
}

/// `MOUNT_ATTR_*` as the flags mountinfo's per-mount options give (`relatime` is the atime
/// mode 0).
fn flags_of_attr(attr: u64) -> MsFlags {
    let mut f = MsFlags::empty();
    for (bit, flag) in [
        (MOUNT_ATTR_RDONLY, MsFlags::MS_RDONLY),
        (MOUNT_ATTR_NOSUID, MsFlags::MS_NOSUID),
        (MOUNT_ATTR_NODEV, MsFlags::MS_NODEV),
        (MOUNT_ATTR_NOEXEC, MsFlags::MS_NOEXEC),
        (MOUNT_ATTR_NODIRATIME, MsFlags::MS_NODIRATIME),
    ] {
        if attr & bit != 0 {
            f |= flag;
        }
    }
    match attr & MOUNT_ATTR_ATIME_MASK {
        0 => f |= MsFlags::MS_RELATIME,
        MOUNT_ATTR_NOATIME => f |= MsFlags::MS_NOATIME,
        _ => {}
    }
    f
}

/// The superblock's options as mountinfo's last field shows them: `rw` or `ro`, the
/// superblock flags, then the filesystem's own options (escaped there, decoded here).
fn options_of(sb_flags: u32, opts: &[u8]) -> String {
    let mut s = String::with_capacity(opts.len() + 3);
    s.push_str(if sb_flags & SB_RDONLY != 0 {
        "ro"
    } else {
        "rw"
    });
    for (bit, word) in [
        (SB_SYNCHRONOUS, ",sync"),
        (SB_DIRSYNC, ",dirsync"),
        (SB_LAZYTIME, ",lazytime"),
    ] {
        if sb_flags & bit != 0 {
            s.push_str(word);
        }
    }
    if !opts.is_empty() {
        s.push(',');
        s.push_str(&unescape(&String::from_utf8_lossy(opts)));
    }
    s
}

/// The mounts of the caller's namespace whose mountpoint is `prefix` or below it (a path from
/// the caller's root, as `/proc/self/fd/N` of the root shows it), mountpoints made relative to
/// it (`/` for `prefix`), in the mount table's order (unique ids, the order of
/// `/proc/self/mountinfo`): the entries [`super::mountinfo::below_text`] gives, read with one
/// `listmount` per 512 mounts and one `statmount` per mount.
pub fn below(prefix: &str) -> Result<Vec<MountEntry>, Errno> {
    let ids = listmount(0)?;
    let mut reader = Reader::new();
    let mut out = Vec::new();
    for id in ids {
        let Some(e) = reader.entry(id)? else {
            continue;
        };
        let mp = String::from_utf8_lossy(e.mountpoint);
        if !is_below(&mp, prefix) {
            continue;
        }
        let mountpoint = if prefix == "/" {
            mp.into_owned()
        } else {
            match &mp[prefix.len()..] {
                "" => "/".to_string(),
                r => r.to_string(),
            }
        };
        out.push(MountEntry {
            id: u64::from(e.id_old),
            parent: u64::from(e.parent_old),
            mountpoint,
            fstype: String::from_utf8_lossy(e.fstype).into_owned(),
            flags: flags_of_attr(e.attr),
            options: options_of(e.sb_flags, e.opts),
            // As mountinfo's optional fields show it: `shared:N` for a peer group,
            // `master:N` for a master, `unbindable`.
            propagation: crate::model::Propagated::of_state(
                e.peer_group != 0,
                e.master != 0,
                e.propagation & libc::MS_UNBINDABLE != 0,
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_gives_mountinfo_flags() {
        assert_eq!(
            flags_of_attr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_RELATIME
        );
        assert_eq!(
            flags_of_attr(MOUNT_ATTR_NOATIME | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC),
            MsFlags::MS_NOATIME | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
        );
        assert_eq!(flags_of_attr(MOUNT_ATTR_STRICTATIME), MsFlags::empty());
    }

    #[test]
    fn options_read_as_mountinfo_shows_them() {
        assert_eq!(options_of(0, b""), "rw");
        assert_eq!(
            options_of(SB_RDONLY, b"size=64k,mode=755"),
            "ro,size=64k,mode=755"
        );
        assert_eq!(
            options_of(SB_LAZYTIME, b"lowerdir=/a\\040b"),
            "rw,lazytime,lowerdir=/a b"
        );
    }

    #[test]
    fn a_string_past_the_buffer_is_an_error() {
        let mut b = vec![0u8; STRINGS + 4];
        b[STRINGS..].copy_from_slice(b"ab\0c");
        assert_eq!(string_at(&b, 0), Ok(&b"ab"[..]));
        assert_eq!(string_at(&b, 3), Err(Errno::EIO));
        assert_eq!(string_at(&b, 9), Err(Errno::EIO));
    }

    /// The same entries as mountinfo's, for this test process's mount table (the host's): every
    /// fstype, flag and option string mounted here, read both ways. A mount made or removed by
    /// another process between the reads would differ: the comparison is made when mountinfo
    /// read before and after the statmounts is the same.
    #[test]
    fn the_same_entries_as_mountinfo() {
        let text = || std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        for _ in 0..10 {
            let before = text();
            let got = match below("/") {
                Ok(v) => v,
                Err(e @ (Errno::ENOSYS | Errno::EINVAL | Errno::EOPNOTSUPP)) => {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "statmount with options (Linux 6.10) is needed under CI: {e}"
                    );
                    eprintln!("NOT RUN: this kernel has no statmount with options: {e}");
                    return;
                }
                Err(e) => panic!("listmount/statmount: {e}"),
            };
            if text() != before {
                continue;
            }
            let want = super::super::mountinfo::below_text(&before, "/");
            assert!(!want.is_empty());
            assert_eq!(got, want);
            let mp = &want.last().unwrap().mountpoint;
            assert_eq!(
                below(mp).unwrap(),
                super::super::mountinfo::below_text(&before, mp)
            );
            return;
        }
        panic!("the mount table kept changing while it was read");
    }
}
