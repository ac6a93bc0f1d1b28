//! What a mount is, asked of the kernel through a resolved descriptor: the per-mount flags
//! it has (`fstatvfs`), the locked flags a remount must keep, whether the descriptor is a
//! mountpoint (statx), and whether a bind brought no submount along (listmount).
//!
//! Takes `O_PATH` descriptors (and statx results); returns flags or yes/no, with why.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use crate::model::MsFlags;

const ST_RELATIME: u64 = 4096;

/// The per-mount flags of the mount `fd` is on, from `fstatvfs` (works on `O_PATH`).
pub fn flags_of_fd(fd: BorrowedFd<'_>) -> Result<MsFlags, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `st` is writable and large enough for a statvfs; `fd` is open.
    let r = unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) };
    Errno::result(r)?;
    // SAFETY: fstatvfs succeeded, so the kernel filled `st`.
    let st = unsafe { st.assume_init() };
    let f = st.f_flag;
    let mut out = MsFlags::empty();
    for (st_bit, ms) in [
        (libc::ST_RDONLY, MsFlags::MS_RDONLY),
        (libc::ST_NOSUID, MsFlags::MS_NOSUID),
        (libc::ST_NODEV, MsFlags::MS_NODEV),
        (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (libc::ST_NOATIME, MsFlags::MS_NOATIME),
        (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
    ] {
        if f & st_bit != 0 {
            out |= ms;
        }
    }
    if f & ST_RELATIME != 0 {
        out |= MsFlags::MS_RELATIME;
    }
    Ok(out)
}

/// The flags a bind remount in a user namespace must keep, because the kernel locked them
/// when the mount was copied from a more privileged namespace: every one of ro, nosuid,
/// nodev, noexec the mount has, and its atime mode unless `asked` sets one.
pub fn locked_to_keep(current: MsFlags, asked: MsFlags) -> MsFlags {
    let mut keep = current
        & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let atime = MsFlags::MS_NOATIME | MsFlags::MS_RELATIME | MsFlags::MS_STRICTATIME;
    if !asked.intersects(atime) {
        keep |= if current.contains(MsFlags::MS_NOATIME) {
            MsFlags::MS_NOATIME
        } else if current.contains(MsFlags::MS_RELATIME) {
            MsFlags::MS_RELATIME
        } else {
            MsFlags::MS_STRICTATIME
        };
    }
    if current.contains(MsFlags::MS_NODIRATIME) {
        keep |= MsFlags::MS_NODIRATIME;
    }
    keep
}

/// listmount(2) (Linux 6.8; the same number on every architecture).
const SYS_LISTMOUNT: libc::c_long = 458;

/// `struct mnt_id_req`, first version.
#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// Whether `fd` is known not to be the root of a mount (statx's mount-root attribute; `false`
/// when the kernel cannot say).
pub fn surely_not_a_mountpoint(fd: BorrowedFd<'_>) -> bool {
    let mount_root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    super::files::statx(fd, 0).is_ok_and(|st| {
        st.stx_attributes_mask & mount_root != 0 && st.stx_attributes & mount_root == 0
    })
}

/// Why a umount or a remount of `path` got EINVAL, when its target is no mountpoint.
pub fn not_a_mountpoint_why(fd: BorrowedFd<'_>, path: &str) -> Option<String> {
    surely_not_a_mountpoint(fd).then(|| {
        format!(
            "nothing is mounted on `{path}`: umount and remount work on a mountpoint (one the plan \
             mounted, or one the root brought along); mount something there first, or fix the \
             path"
        )
    })
}

/// Whether the bind of a root directory brought no other mount along: `dir` (the statx of the
/// directory, opened before the bind) is not the root of a mount, so nothing was mounted on it
/// and no mount is stacked below the bind, and `bind` (the bind's root) has no child mount.
/// Asked of statx (the mount-root attribute, the unique mount id) and listmount; `false`
/// whenever a kernel cannot say (before 6.8), so that the mount table is read instead.
pub fn bind_is_alone(d: &libc::statx, bind: BorrowedFd<'_>) -> bool {
    let mount_root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if d.stx_attributes_mask & mount_root == 0 || d.stx_attributes & mount_root != 0 {
        return false;
    }
    let Ok(b) = super::files::statx(bind, libc::STATX_MNT_ID_UNIQUE) else {
        return false;
    };
    if b.stx_mask & libc::STATX_MNT_ID_UNIQUE == 0 {
        return false;
    }
    let req = MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id: b.stx_mnt_id,
        param: 0,
    };
    let mut child = 0u64;
    // SAFETY: `req` is a valid mnt_id_req of the size it states, and the kernel writes at most
    // one id into `child`.
    let n = unsafe { libc::syscall(SYS_LISTMOUNT, &raw const req, &raw mut child, 1usize, 0u32) };
    n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_flags_keep_what_the_mount_has() {
        let cur = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME;
        assert_eq!(
            locked_to_keep(cur, MsFlags::MS_RDONLY),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME
        );
        assert_eq!(
            locked_to_keep(cur, MsFlags::MS_NOATIME),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV
        );
        assert_eq!(
            locked_to_keep(MsFlags::empty(), MsFlags::empty()),
            MsFlags::MS_STRICTATIME
        );
    }
}
