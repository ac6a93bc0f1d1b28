//! The calls of `api = "classic"`: mount(2) where the new API makes a detached mount and
//! attaches it.
//!
//! Takes what a mount step (or the setup) makes and where; returns its calls. A new filesystem
//! is one `mount(source, target, fstype, flags, data)` ([`Call::MountFs`]); a bind is
//! `MS_BIND[|MS_REC]` ([`Call::BindMount`]), then, for a single bind with flags,
//! `MS_REMOUNT|MS_BIND|flags` on the mount it made ([`Call::Remount`]). Recursive flags,
//! idmapped binds and read-only copies have no classic form: validation refuses them (see
//! validate/api.rs), so they never reach here with `classic`.

use super::{ATIME, AttrOn, Call, MountId, PERM, Target};
use crate::model::{FsKind, HostPath, MsFlags};

/// A new filesystem `fs` from `source` with `flags`, mounted on `to` as `mount`.
pub(super) fn new_fs(
    fs: &FsKind,
    source: &str,
    flags: MsFlags,
    mount: MountId,
    to: Target,
) -> Call {
    Call::MountFs {
        fs: fs.clone(),
        source: source.to_string(),
        flags,
        to,
        mount,
    }
}

/// A bind of `source` (with the mounts below it when `recursive`) on `to` as `mount`, then
/// the plan's per-mount `flags` on it as a bind remount: exactly the ones given (a single
/// bind; a recursive one takes none here, see the module's words).
pub(super) fn bind(
    source: &HostPath,
    recursive: bool,
    flags: MsFlags,
    mount: MountId,
    to: Target,
) -> Vec<Call> {
    let mut calls = vec![Call::BindMount {
        source: source.clone(),
        recursive,
        to,
        mount,
    }];
    let rest = flags & (PERM | ATIME);
    if !recursive && !(flags - MsFlags::MS_REC).is_empty() {
        calls.push(Call::Remount {
            on: AttrOn::Mount(mount),
            flags: rest,
        });
    }
    calls
}
