//! The raw `[[step]]`: one flat table whatever its kind.
//!
//! Takes a `[[step]]` table as TOML; returns a [`Step`] with a [`StepKind`] and every field
//! optional, spanned. The keys each kind takes and requires ([`StepKind::keys`],
//! [`StepKind::required`]), the words of the keys that take one of a few ([`words`]) and every
//! key a step may have ([`STEP_KEYS`]) are here too: validation and the schema both read them.

use std::ops::Range;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{SizeValue, Spanned};

/// Every key a `[[step]]` table may have, whatever its kind (for "did you mean"; a test
/// holds it to [`StepKind::keys`], which validation and the schema use).
pub const STEP_KEYS: &[&str] = &[
    "kind",
    "id",
    "after",
    "note",
    "type",
    "source",
    "target",
    "options",
    "create",
    "size",
    "nr_inodes",
    "mode",
    "uid",
    "gid",
    "newinstance",
    "ptmxmode",
    "lower",
    "upper",
    "work",
    "data",
    "idmap",
    "propagation",
    "recursive",
    "path",
    "parents",
    "node",
    "major",
    "minor",
    "from_host",
    "to",
    "strategy",
    "fallback",
    "put_old",
];

/// The id mapping of an idmapped bind: `uid_map` and `gid_map` lines of a user namespace
/// mountplan makes, or a user namespace that exists (`userns`), whose mapping the bind gets.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Idmap {
    /// `[inside, outside, count]`: uids `outside` .. `outside + count - 1` on the filesystem
    /// are seen as `inside` .. through the bind. At most 340 lines, none overlapping.
    pub uid: Option<Vec<Spanned<[i64; 3]>>>,
    /// `[inside, outside, count]`, for gids, as `uid`.
    pub gid: Option<Vec<Spanned<[i64; 3]>>>,
    /// Instead of `uid` and `gid`: borrow the mapping of a user namespace that exists, by its
    /// file on the host (`/proc/PID/ns/user` of a running process, or a file a namespace is
    /// pinned on, as `unshare --user=FILE` makes). A file owned by `k` on the filesystem is
    /// seen through the bind as the id `k` of that namespace is outside it, as runc's and
    /// nspawn's idmapped mounts with an existing user namespace. `${NAME}` is substituted.
    pub userns: Option<Spanned<String>>,
}

/// The kinds of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Mount a filesystem (`type`: bind, rbind, tmpfs, proc, sysfs, devpts, mqueue, overlay,
    /// cgroup2, or any other fstype) on `target`.
    Mount,
    /// Change the flags of an existing mount at `target` (e.g. make a bind read-only, or the
    /// finished root `/` read-only).
    Remount,
    /// Change the propagation of the mount at `target` (`propagation`, `recursive`).
    Propagation,
    /// Unmount `target` (detached, lazily).
    Umount,
    /// Create a directory at `path`.
    Mkdir,
    /// Create a device node or FIFO at `path`.
    Mknod,
    /// Create a symlink at `path` pointing `to`.
    Symlink,
    /// Change the mode (and optionally owner) of `path`.
    Chmod,
    /// Hide `path` as runc's maskedPaths does: a file is covered by the host's `/dev/null`, a
    /// directory by an empty read-only tmpfs.
    Mask,
    /// Make `path` read-only as runc's readonlyPaths does: bind it onto itself and make the
    /// bind (and every mount below it) read-only. A missing path is left alone.
    Readonly,
    /// Make the new root the process root (`strategy`, `fallback`).
    Pivot,
}

impl StepKind {
    /// Every kind, in declaration order.
    pub const ALL: [StepKind; 11] = [
        StepKind::Mount,
        StepKind::Remount,
        StepKind::Propagation,
        StepKind::Umount,
        StepKind::Mkdir,
        StepKind::Mknod,
        StepKind::Symlink,
        StepKind::Chmod,
        StepKind::Mask,
        StepKind::Readonly,
        StepKind::Pivot,
    ];
    /// The name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Mount => "mount",
            StepKind::Remount => "remount",
            StepKind::Propagation => "propagation",
            StepKind::Umount => "umount",
            StepKind::Mkdir => "mkdir",
            StepKind::Mknod => "mknod",
            StepKind::Symlink => "symlink",
            StepKind::Chmod => "chmod",
            StepKind::Mask => "mask",
            StepKind::Readonly => "readonly",
            StepKind::Pivot => "pivot",
        }
    }
}

/// One `[[step]]` table. `kind` says which other fields belong; `validate` rejects the rest.
///
/// Paths in `target` and `path` always name a place inside the new root (absolute, as seen
/// from inside it). `source` of a bind names a host path and may not appear after the pivot.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the step does.
    pub kind: Spanned<StepKind>,
    /// A name for the step, unique in the plan, so `after` can name it. Letters, digits, `-`,
    /// `_` and `.`. Defaults to `<kind>-<n>`, n counting from 1 in the whole plan.
    pub id: Option<Spanned<String>>,
    /// Steps (by id) that must run before this one. They must be declared earlier: the declared
    /// order is the execution order.
    pub after: Option<Vec<Spanned<String>>>,
    /// A note for reviewers, shown in the dry run.
    pub note: Option<Spanned<String>>,

    // ---- mount, remount, propagation, umount ----
    /// mount: the filesystem type: `bind`, `rbind` (recursive bind), `tmpfs`, `proc`, `sysfs`,
    /// `devpts`, `mqueue`, `overlay`, `cgroup2`, or another fstype by name.
    #[serde(rename = "type")]
    pub fstype: Option<Spanned<String>>,
    /// mount: for a bind, the host path to bind (absolute); for other types, the source name
    /// shown in the mount table (defaults to the type).
    pub source: Option<Spanned<String>>,
    /// mount, remount, propagation, umount: the mountpoint inside the new root.
    pub target: Option<Spanned<String>>,
    /// mount, remount: mount flags: `ro`, `rw`, `nosuid`, `suid`, `nodev`, `dev`, `noexec`,
    /// `exec`, `relatime`, `norelatime`, `noatime`, `strictatime`, `nodiratime`, `sync`,
    /// `dirsync`, `silent`, and `rec` (recursive, for binds and remounts). OCI's recursive
    /// spellings, as runc takes them: `rro`, `rrw`, `rnosuid`, `rsuid`, `rnodev`, `rdev`,
    /// `rnoexec`, `rexec`, `rrelatime`, `rnorelatime`, `rnoatime`, `rstrictatime`,
    /// `rnodiratime` add or clear the flag on the mount and every mount below it
    /// (`mount_setattr(AT_RECURSIVE)`, after the plain flags), keeping the other flags each
    /// mount has; on a new filesystem (no mount below it yet) `rro` is `ro`.
    pub options: Option<Vec<Spanned<String>>>,
    /// mount: what to create when the mountpoint is missing: `dir` (default), `file` (needed to
    /// bind a file), or `none` (fail instead).
    pub create: Option<Spanned<String>>,
    /// mount (tmpfs): maximum size, bytes or `"64k"`, `"16M"`, `"1g"`, `"50%"`.
    pub size: Option<Spanned<SizeValue>>,
    /// mount (tmpfs): maximum number of inodes.
    pub nr_inodes: Option<Spanned<i64>>,
    /// mkdir, mknod, chmod: the mode; mount (tmpfs, devpts): the `mode=` option. An octal
    /// string such as `"0755"`, at most `"07777"`.
    pub mode: Option<Spanned<String>>,
    /// mknod, chmod: owner uid; mount (tmpfs, devpts): the `uid=` option.
    pub uid: Option<Spanned<i64>>,
    /// mknod, chmod: owner gid; mount (tmpfs, devpts): the `gid=` option.
    pub gid: Option<Spanned<i64>>,
    /// mount (devpts): a private devpts instance (`newinstance`). Default true.
    pub newinstance: Option<Spanned<bool>>,
    /// mount (devpts): mode of the `ptmx` node, octal string, e.g. `"0666"`.
    pub ptmxmode: Option<Spanned<String>>,
    /// mount (overlay): lower layers, host paths, topmost first.
    pub lower: Option<Vec<Spanned<String>>>,
    /// mount (overlay): the writable upper layer, a host path. What later steps make or change on
    /// the overlay lands here; a rollback (or `mountplan recover` after a kill) undoes it here,
    /// with what the kernel copied up for it, once the overlay is unmounted.
    pub upper: Option<Spanned<String>>,
    /// mount (overlay): the overlay work directory, a host path on the same filesystem as `upper`.
    /// The `work` directory the mount makes in it is removed again by a rollback.
    pub work: Option<Spanned<String>>,
    /// mount (other fstypes): filesystem options as `key` or `key=value` strings, one per entry.
    /// Commas are not allowed inside an entry.
    pub data: Option<Vec<Spanned<String>>>,
    /// mount (`bind`, `rbind`): an idmapped bind (`MOUNT_ATTR_IDMAP`, Linux 5.12): owners of
    /// files seen through the bind are mapped by ranges `[inside, outside, count]`: an id
    /// `outside` on the filesystem is seen as `inside` through the bind (`uid = [[0, 1000, 1]]`:
    /// uid 1000's files appear owned by root, and a file root creates there is owned by 1000),
    /// and an id no range maps is seen as 65534. Both `uid` and `gid` are needed. mountplan
    /// makes a user namespace with that mapping for it (the dry run shows its maps); or
    /// `idmap = { userns = "/proc/PID/ns/user" }` borrows the maps of a user namespace that
    /// exists (a process's, or one pinned on a file), instead of `uid` and `gid`. The
    /// filesystem of the source must allow idmapped mounts (`mountplan doctor` says which do):
    /// the apply refuses it otherwise, with why.
    pub idmap: Option<Spanned<Idmap>>,
    /// propagation: `private`, `slave`, `shared` or `unbindable`.
    pub propagation: Option<Spanned<String>>,
    /// propagation: apply to every mount below `target` too. Default false.
    pub recursive: Option<Spanned<bool>>,

    // ---- mkdir, mknod, symlink, chmod, mask ----
    /// mkdir, mknod, symlink, chmod, mask, readonly: the path inside the new root.
    pub path: Option<Spanned<String>>,
    /// mkdir: create missing parents too. Default false.
    pub parents: Option<Spanned<bool>>,
    /// mknod: `char`, `block` or `fifo`.
    pub node: Option<Spanned<String>>,
    /// mknod: the device's major number.
    pub major: Option<Spanned<i64>>,
    /// mknod: the device's minor number.
    pub minor: Option<Spanned<i64>>,
    /// mknod: a host device node whose type and number are copied (instead of `node`,
    /// `major`, `minor`), as libcontainer copies /dev/null and friends.
    pub from_host: Option<Spanned<String>>,
    /// symlink: what the link points to (stored as written; not resolved).
    pub to: Option<Spanned<String>>,

    // ---- pivot ----
    /// pivot: `pivot-root` (pivot_root(".", ".") then detach the old root), `put-old` (a
    /// temporary put_old directory, removed after), `move` (MS_MOVE the root onto `/` and
    /// chroot, after masking the host's full proc and sysfs mounts), `chroot`, or `auto`:
    /// `pivot-root`, and where the kernel refuses it with EINVAL (the root is on an
    /// initramfs or ramfs, or a mount involved is shared) `move` instead; the apply's report
    /// says which was taken and why. `auto` takes no `fallback`.
    pub strategy: Option<Spanned<String>>,
    /// pivot: the strategy to use when the kernel refuses the first one's switch to the new
    /// root (`pivot_root` fails on an initramfs or a shared root; docker falls back to chroot).
    /// Any other failure of the first strategy (a call the root's content makes fail) fails the
    /// step: the root cannot force the fallback.
    pub fallback: Option<Spanned<String>>,
    /// pivot (`put-old`): where the put_old directory is made inside the new root, as a prefix:
    /// the directory gets six random characters after it (a fresh name, as docker's
    /// `TempDir`), is held by its descriptor for `pivot_root`, and is removed after. Default
    /// `/.pivot_root`.
    pub put_old: Option<Spanned<String>>,
    /// Not in the file: the keys of this step `parse` already reported (see [`super::Plan::reported`]).
    #[serde(skip)]
    pub reported: Vec<String>,
}

impl Step {
    /// The names and spans of every optional field that is set, in declaration order.
    /// `validate` uses it to reject fields that do not belong to the step's kind.
    pub fn set_fields(&self) -> Vec<(&'static str, Range<usize>)> {
        fn sp<T>(
            name: &'static str,
            v: &Option<Spanned<T>>,
            out: &mut Vec<(&'static str, Range<usize>)>,
        ) {
            if let Some(v) = v {
                out.push((name, v.span.clone()));
            }
        }
        fn vs<T>(
            name: &'static str,
            v: &Option<Vec<Spanned<T>>>,
            out: &mut Vec<(&'static str, Range<usize>)>,
        ) {
            if let Some(v) = v {
                let span = match (v.first(), v.last()) {
                    (Some(a), Some(b)) => a.span.start..b.span.end,
                    _ => 0..0,
                };
                out.push((name, span));
            }
        }
        let mut o = Vec::new();
        sp("type", &self.fstype, &mut o);
        sp("source", &self.source, &mut o);
        sp("target", &self.target, &mut o);
        vs("options", &self.options, &mut o);
        sp("create", &self.create, &mut o);
        sp("size", &self.size, &mut o);
        sp("nr_inodes", &self.nr_inodes, &mut o);
        sp("mode", &self.mode, &mut o);
        sp("uid", &self.uid, &mut o);
        sp("gid", &self.gid, &mut o);
        sp("newinstance", &self.newinstance, &mut o);
        sp("ptmxmode", &self.ptmxmode, &mut o);
        vs("lower", &self.lower, &mut o);
        sp("upper", &self.upper, &mut o);
        sp("work", &self.work, &mut o);
        vs("data", &self.data, &mut o);
        sp("idmap", &self.idmap, &mut o);
        sp("propagation", &self.propagation, &mut o);
        sp("recursive", &self.recursive, &mut o);
        sp("path", &self.path, &mut o);
        sp("parents", &self.parents, &mut o);
        sp("node", &self.node, &mut o);
        sp("major", &self.major, &mut o);
        sp("minor", &self.minor, &mut o);
        sp("from_host", &self.from_host, &mut o);
        sp("to", &self.to, &mut o);
        sp("strategy", &self.strategy, &mut o);
        sp("fallback", &self.fallback, &mut o);
        sp("put_old", &self.put_old, &mut o);
        o
    }
}

impl StepKind {
    /// The keys a step of this kind takes besides `kind`, `id`, `after` and `note`: validation
    /// rejects any other, and the schema lists exactly these for the kind.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            StepKind::Mount => &[
                "type",
                "source",
                "target",
                "options",
                "create",
                "size",
                "nr_inodes",
                "mode",
                "uid",
                "gid",
                "newinstance",
                "ptmxmode",
                "lower",
                "upper",
                "work",
                "data",
                "idmap",
            ],
            StepKind::Remount => &["target", "options"],
            StepKind::Propagation => &["target", "propagation", "recursive"],
            StepKind::Umount => &["target"],
            StepKind::Mkdir => &["path", "mode", "parents"],
            StepKind::Mknod => &[
                "path",
                "node",
                "major",
                "minor",
                "from_host",
                "mode",
                "uid",
                "gid",
            ],
            StepKind::Symlink => &["path", "to"],
            StepKind::Chmod => &["path", "mode", "uid", "gid"],
            StepKind::Mask | StepKind::Readonly => &["path"],
            StepKind::Pivot => &["strategy", "fallback", "put_old"],
        }
    }

    /// The keys a step of this kind must have, whatever else it says (validation reports each
    /// one missing; the schema requires them). A `mknod` also needs `node` or `from_host`, and
    /// a mount's `type` may need more (`source` for a bind): validation says so.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            StepKind::Mount => &["type", "target"],
            StepKind::Remount => &["target", "options"],
            StepKind::Propagation => &["target", "propagation"],
            StepKind::Umount => &["target"],
            StepKind::Mkdir | StepKind::Mknod | StepKind::Mask | StepKind::Readonly => &["path"],
            StepKind::Symlink => &["path", "to"],
            StepKind::Chmod => &["path", "mode"],
            StepKind::Pivot => &[],
        }
    }
}

/// The words of the keys that take one of a few (`strategy`, `fallback`, `node`,
/// `propagation`, `create`; the words of `options` are [`crate::model::FLAG_WORDS`]):
/// validation takes exactly these, and the schema lists them as enums.
pub fn words(key: &str) -> Option<&'static [&'static str]> {
    Some(match key {
        "strategy" => &["pivot-root", "put-old", "move", "chroot", "auto"],
        "fallback" => &["pivot-root", "put-old", "move", "chroot"],
        "node" => &["char", "block", "fifo"],
        "propagation" => &["private", "slave", "shared", "unbindable"],
        "create" => &["dir", "file", "none"],
        _ => return None,
    })
}
