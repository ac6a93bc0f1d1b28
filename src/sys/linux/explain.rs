//! Why a call inside the root failed, in words: [`Linux`]'s refusals (a symlink, `..` or
//! another mount on the way, a path that left its mount) and the errors of opening and
//! creating. Takes the call, its place and the errno; returns the [`SysError`] the report shows.

use super::*;

impl Linux {
    /// Why resolving `at` failed, in words, when it is a refusal rather than a plain error.
    pub(super) fn why(&self, at: &At, e: Errno, how: How) -> Option<String> {
        let p = in_root(&at.path);
        match e {
            Errno::EXDEV => {
                let on = if at.on == MountId::ROOT {
                    "the root".to_string()
                } else {
                    format!("{}, the plan's mount there", at.on)
                };
                let through = self
                    .held
                    .base(at)
                    .ok()
                    .and_then(|b| resolve::first_symlink(b.as_fd(), &b.rel))
                    .map(|(link, to)| {
                        format!(
                            "the symlink `{}` (-> `{to}`) in the way",
                            mountpoint(at).join(&link)
                        )
                    })
                    .unwrap_or_else(|| {
                        "a symlink, a `..` or a mount in the way, or a rename while apply ran"
                            .to_string()
                    });
                Some(format!(
                    "`{p}` leads off the mount the dry run puts it on ({on}), through {through}; \
                     mountplan changes a path only on the mount its dry run names: make the path \
                     a real directory there, or name the real path"
                ))
            }
            Errno::ENOENT => {
                let b = self.held.base(at).ok()?;
                let (link, to) = resolve::first_symlink(b.as_fd(), &b.rel)?;
                Some(format!(
                    "`{}` is a symlink to `{to}`; symlinks are resolved inside the root, \
                     where that path does not exist (a link cannot lead out of the root)",
                    in_root(&mountpoint(at).join(&link))
                ))
            }
            Errno::ELOOP if how.no_symlinks => Some(format!(
                "`{p}` is reached through a symlink; proc and sysfs are mounted only on real \
                 directories (CVE-2019-19921): make it a directory in the root"
            )),
            Errno::ENOTDIR if how.no_symlinks => Some(format!(
                "`{p}` is not a real directory (a symlink or another kind of file); proc and \
                 sysfs are mounted only on real directories (CVE-2019-19921)"
            )),
            Errno::ELOOP => Some(format!(
                "resolving `{p}` inside the root met a symlink loop, more than 40 symlinks, a \
                 magic link such as /proc/self/root, or a symlink to another mount, which are \
                 refused"
            )),
            Errno::ENOTDIR => Some(format!(
                "a component of `{p}` is not a directory (it may be a symlink, a file or a FIFO \
                 planted in the root)"
            )),
            _ => None,
        }
    }

    /// A failed resolution of `at` for `c`, with why.
    pub(super) fn refuse(&self, c: &Call, at: &At, e: Errno, how: How) -> SysError {
        match self.why(at, e, how) {
            Some(w) => SysError::refused(c, e, w),
            None => SysError::new(c, e),
        }
    }

    /// The error of making `at` (by `create` or `created`): what resolving it found, or a
    /// missing parent with the fix.
    pub(super) fn create_error(&self, c: &Call, at: &At, e: Errno) -> SysError {
        match self.why(at, e, How::DIR) {
            Some(w) if e != Errno::ENOENT || self.has_symlink(at) => SysError::refused(c, e, w),
            _ if e == Errno::ENOENT => SysError::refused(
                c,
                e,
                format!(
                    "its parent `{}` does not exist: make it first (a mkdir step, with \
                     `parents = true` for more than one level)",
                    in_root(&at.path.parent())
                ),
            ),
            Some(w) => SysError::refused(c, e, w),
            None => SysError::new(c, e),
        }
    }

    pub(super) fn has_symlink(&self, at: &At) -> bool {
        self.held
            .base(at)
            .ok()
            .and_then(|b| resolve::first_symlink(b.as_fd(), &b.rel))
            .is_some()
    }

    /// The error of opening the existing `at` for a change: what resolving it found, or that
    /// it is missing, with the fix.
    pub(super) fn open_error(&self, c: &Call, at: &At, e: Errno, how: How) -> SysError {
        match self.why(at, e, how) {
            Some(w) if e != Errno::ENOENT || self.has_symlink(at) => SysError::refused(c, e, w),
            _ if e == Errno::ENOENT => SysError::refused(
                c,
                e,
                format!(
                    "`{}` does not exist: make it in an earlier step (mkdir, mknod, symlink, or a \
                     mount with `create`), or fix the path",
                    in_root(&at.path)
                ),
            ),
            Some(w) => SysError::refused(c, e, w),
            None => SysError::new(c, e),
        }
    }
}
