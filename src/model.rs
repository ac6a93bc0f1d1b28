//! The high-level plan: validated, typed values that cannot be wrong.
//!
//! Built only by [`crate::validate`] from a [`crate::raw::Plan`]; read by `graph`, `render`
//! and `exec`. Paths are [`RootPath`] (inside the new root) or [`HostPath`] (on the host),
//! both absolute and normalised; flags are [`MsFlags`], never strings. Every step keeps the
//! [`Loc`] of its `[[step]]` table and of its important keys so later stages can point back
//! into the file.

use std::collections::BTreeMap;
use std::fmt;

pub use nix::mount::MsFlags;

mod idmap;
pub use idmap::{IdRange, Idmap};
mod process;
pub use process::{CAP_NAMES, Cap, CapSet, CapsAsked, DEFAULT_CAPS, Env, Process, ProcessLocs};

use crate::raw::StepKind;
use crate::source::Loc;

/// The longest path accepted (bytes, without the NUL), as PATH_MAX - 1.
pub const MAX_PATH: usize = 4095;
/// The longest path component accepted (bytes), as NAME_MAX.
pub const MAX_COMPONENT: usize = 255;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The string is empty.
    Empty,
    /// It does not start with `/`.
    Relative,
    /// It contains a NUL byte.
    Nul,
    /// It contains a `..` component.
    DotDot,
    /// It is longer than [`MAX_PATH`] bytes.
    TooLong,
    /// A component is longer than [`MAX_COMPONENT`] bytes.
    ComponentTooLong,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Empty => "the path is empty",
            PathError::Relative => "the path is relative",
            PathError::Nul => "the path contains a NUL byte",
            PathError::DotDot => "the path contains a `..` component",
            PathError::TooLong => "the path is longer than 4095 bytes",
            PathError::ComponentTooLong => "a path component is longer than 255 bytes",
        })
    }
}

/// Checks and normalises an absolute path: collapses `//` and `.`, drops a trailing `/`.
fn normalise(s: &str) -> Result<String, PathError> {
    if s.is_empty() {
        return Err(PathError::Empty);
    }
    if s.as_bytes().contains(&0) {
        return Err(PathError::Nul);
    }
    if !s.starts_with('/') {
        return Err(PathError::Relative);
    }
    if s.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(PathError::DotDot),
            c if c.len() > MAX_COMPONENT => return Err(PathError::ComponentTooLong),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// An absolute, normalised path inside the new root (`/` is the root itself).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RootPath(String);

impl RootPath {
    /// Checks `s` (absolute, no `..`, no NUL, not too long) and normalises it.
    pub fn new(s: &str) -> Result<Self, PathError> {
        normalise(s).map(RootPath)
    }
    /// The root itself.
    pub fn root() -> Self {
        RootPath("/".into())
    }
    /// The path as a string, starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The path without the leading `/` (empty for the root): what is passed to `openat2`
    /// relative to the root descriptor.
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }
    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }
    /// The parent directory (`/` for `/`).
    pub fn parent(&self) -> RootPath {
        match self.0.rfind('/') {
            Some(0) | None => RootPath::root(),
            Some(i) => RootPath(self.0[..i].to_string()),
        }
    }
    /// A path already as [`RootPath::new`] leaves it (the text of a `RootPath`, or the part of
    /// one before a `/`), taken as it is.
    pub(crate) fn normalised(s: &str) -> RootPath {
        debug_assert_eq!(RootPath::new(s).as_ref().map(RootPath::as_str), Ok(s));
        RootPath(s.to_string())
    }
    /// The last component (empty for `/`).
    pub fn file_name(&self) -> &str {
        match self.0.rfind('/') {
            Some(i) => &self.0[i + 1..],
            None => "",
        }
    }
    /// True when `self` is `other` or below it.
    pub fn starts_with(&self, other: &RootPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
    /// `self` joined with a relative `rest` (which must be normalised: no `.`/`..`).
    pub fn join(&self, rest: &str) -> RootPath {
        let rest = rest.trim_matches('/');
        if rest.is_empty() {
            self.clone()
        } else if self.is_root() {
            RootPath(format!("/{rest}"))
        } else {
            RootPath(format!("{}/{rest}", self.0))
        }
    }
    /// Every ancestor from `/` down to the parent, then `self`.
    pub fn ancestors_and_self(&self) -> Vec<RootPath> {
        let mut v = vec![RootPath::root()];
        let mut cur = String::new();
        for c in self.relative().split('/').filter(|c| !c.is_empty()) {
            cur.push('/');
            cur.push_str(c);
            v.push(RootPath(cur.clone()));
        }
        v
    }
}

impl fmt::Display for RootPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute, normalised path on the host (bind sources, overlay layers, the root dir).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPath(String);

impl HostPath {
    /// Checks `s` (absolute, no `..`, no NUL, not too long) and normalises it.
    pub fn new(s: &str) -> Result<Self, PathError> {
        normalise(s).map(HostPath)
    }
    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A step's name: given as `id`, or `<kind>-<n>` (n counts steps from 1 across the plan).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepId(String);

impl StepId {
    /// Wraps a checked id (validate checks the characters).
    pub(crate) fn new(s: impl Into<String>) -> Self {
        StepId(s.into())
    }
    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file mode's permission bits (at most 0o7777).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(u32);

impl Mode {
    /// Parses an octal string such as `"0755"` or `"1777"`; `None` when not octal or over 0o7777.
    pub fn parse(s: &str) -> Option<Mode> {
        let t = s.strip_prefix("0o").unwrap_or(s);
        if t.is_empty() || t.len() > 6 || !t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        let v = u32::from_str_radix(t, 8).ok()?;
        (v <= 0o7777).then_some(Mode(v))
    }
    /// From bits (masked to 0o7777).
    pub fn from_bits(b: u32) -> Mode {
        Mode(b & 0o7777)
    }
    /// The bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0{:o}", self.0)
    }
}

/// The validated plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan's name.
    pub name: String,
    /// The plan's description.
    pub description: Option<String>,
    /// Where the root comes from.
    pub root: Root,
    /// Where `[root] path` is, for a root on a host directory.
    pub root_loc: Option<Loc>,
    /// Namespaces to create (mount always).
    pub namespaces: Namespaces,
    /// How the command runs (`[process]`).
    pub process: Process,
    /// Variables after command-line overrides, as substituted.
    pub vars: BTreeMap<String, String>,
    /// Included files, as named in the sources (in the order read).
    pub includes: Vec<String>,
    /// Steps in execution order (includes' steps first).
    pub steps: Vec<Step>,
}

/// Where the new root comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// An existing host directory, bound onto itself.
    Path(HostPath),
    /// An empty tmpfs.
    Tmpfs(TmpfsOptions),
}

impl Root {
    /// The root as a filesystem: a recursive bind of the host directory onto itself, or the
    /// tmpfs.
    pub fn fs(&self) -> FsKind {
        match self {
            Root::Path(p) => FsKind::Bind {
                source: p.clone(),
                recursive: true,
            },
            Root::Tmpfs(o) => FsKind::Tmpfs(o.clone()),
        }
    }
}

/// tmpfs options (for the root and for tmpfs mounts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TmpfsOptions {
    /// `size=`: bytes, or a percentage kept as written (`"50%"`).
    pub size: Option<Size>,
    /// `mode=`.
    pub mode: Option<Mode>,
    /// `nr_inodes=`.
    pub nr_inodes: Option<u64>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// A tmpfs size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Bytes.
    Bytes(u64),
    /// Percent of RAM.
    Percent(u8),
}

/// Whether to create a user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserNs {
    /// Never.
    Off,
    /// Always (the caller is mapped to root inside).
    On,
    /// Only when the caller is not root.
    Auto,
}

/// Namespaces to create besides the mount namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    /// User namespace.
    pub user: UserNs,
    /// PID namespace (with a minimal init). On by default.
    pub pid: bool,
    /// IPC namespace.
    pub ipc: bool,
    /// UTS namespace.
    pub uts: bool,
    /// Network namespace.
    pub net: bool,
    /// Cgroup namespace.
    pub cgroup: bool,
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces {
            user: UserNs::Auto,
            pid: true,
            ipc: false,
            uts: false,
            net: false,
            cgroup: false,
        }
    }
}

/// One validated step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its id (given or generated).
    pub id: StepId,
    /// True when the plan gave the id.
    pub explicit_id: bool,
    /// Where the `[[step]]` table is (its `kind` key and value).
    pub loc: Loc,
    /// Where the `id` value is, when given.
    pub id_loc: Option<Loc>,
    /// Where the step names a host path, when it does (a bind's `source`, an overlay's first
    /// `lower`, a node's `from_host`): an apply that cannot open it points there.
    pub host_loc: Option<Loc>,
    /// Explicit dependencies (`after`), each with the location of the name.
    pub after: Vec<(StepId, Loc)>,
    /// The reviewer's note.
    pub note: Option<String>,
    /// What it does.
    pub action: Action,
}

impl Step {
    /// Where the step names what it works on (its `target` or `path`), else its `kind`: the
    /// place a diagnostic about the step points at.
    pub fn key_loc(&self) -> Loc {
        match &self.action {
            Action::Mount(m) => m.target_loc,
            Action::Remount(m) => m.target_loc,
            Action::Propagation(m) => m.target_loc,
            Action::Umount(m) => m.target_loc,
            Action::Mkdir(m) => m.path_loc,
            Action::Mknod(m) => m.path_loc,
            Action::Symlink(m) => m.path_loc,
            Action::Chmod(m) => m.path_loc,
            Action::Mask(m) => m.path_loc,
            Action::Readonly(m) => m.path_loc,
            Action::Pivot(_) => self.loc,
        }
    }
}

impl Step {
    /// The step's kind.
    pub fn kind(&self) -> StepKind {
        self.action.kind()
    }
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Mount a filesystem.
    Mount(Mount),
    /// Change flags of an existing mount.
    Remount(Remount),
    /// Change propagation.
    Propagation(Propagation),
    /// Unmount (detached).
    Umount(Umount),
    /// Create a directory.
    Mkdir(Mkdir),
    /// Create a device node or FIFO.
    Mknod(Mknod),
    /// Create a symlink.
    Symlink(Symlink),
    /// Change mode and owner.
    Chmod(Chmod),
    /// Hide a path.
    Mask(Mask),
    /// Make a path read-only.
    Readonly(Readonly),
    /// Switch to the new root.
    Pivot(Pivot),
}

impl Action {
    /// The step kind this action came from.
    pub fn kind(&self) -> StepKind {
        match self {
            Action::Mount(_) => StepKind::Mount,
            Action::Remount(_) => StepKind::Remount,
            Action::Propagation(_) => StepKind::Propagation,
            Action::Umount(_) => StepKind::Umount,
            Action::Mkdir(_) => StepKind::Mkdir,
            Action::Mknod(_) => StepKind::Mknod,
            Action::Symlink(_) => StepKind::Symlink,
            Action::Chmod(_) => StepKind::Chmod,
            Action::Mask(_) => StepKind::Mask,
            Action::Readonly(_) => StepKind::Readonly,
            Action::Pivot(_) => StepKind::Pivot,
        }
    }
    /// The path inside the root the step works on (`None` for pivot).
    pub fn path(&self) -> Option<&RootPath> {
        match self {
            Action::Mount(m) => Some(&m.target),
            Action::Remount(m) => Some(&m.target),
            Action::Propagation(m) => Some(&m.target),
            Action::Umount(m) => Some(&m.target),
            Action::Mkdir(m) => Some(&m.path),
            Action::Mknod(m) => Some(&m.path),
            Action::Symlink(m) => Some(&m.path),
            Action::Chmod(m) => Some(&m.path),
            Action::Mask(m) => Some(&m.path),
            Action::Readonly(m) => Some(&m.path),
            Action::Pivot(_) => None,
        }
    }
}

/// The filesystem of a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsKind {
    /// A bind of a host path (`rbind` or the `rec` option makes it recursive).
    Bind {
        /// The host path.
        source: HostPath,
        /// MS_REC.
        recursive: bool,
    },
    /// tmpfs.
    Tmpfs(TmpfsOptions),
    /// proc.
    Proc,
    /// sysfs.
    Sysfs,
    /// devpts.
    Devpts(DevptsOptions),
    /// mqueue.
    Mqueue,
    /// overlay.
    Overlay(OverlayOptions),
    /// cgroup2.
    Cgroup2,
    /// Any other filesystem by name, with its options as given.
    Other {
        /// The fstype passed to mount(2).
        fstype: String,
        /// `key` or `key=value` entries (checked: no commas).
        data: Vec<String>,
    },
}

impl FsKind {
    /// The fstype as shown in the mount table (`bind` for binds, whose real fstype is the source's).
    pub fn fstype(&self) -> &str {
        match self {
            FsKind::Bind { .. } => "bind",
            FsKind::Tmpfs(_) => "tmpfs",
            FsKind::Proc => "proc",
            FsKind::Sysfs => "sysfs",
            FsKind::Devpts(_) => "devpts",
            FsKind::Mqueue => "mqueue",
            FsKind::Overlay(_) => "overlay",
            FsKind::Cgroup2 => "cgroup2",
            FsKind::Other { fstype, .. } => fstype,
        }
    }
}

/// devpts options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevptsOptions {
    /// `newinstance` (default true).
    pub newinstance: bool,
    /// `ptmxmode=`.
    pub ptmxmode: Option<Mode>,
    /// `mode=`.
    pub mode: Option<Mode>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// overlay options (host paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayOptions {
    /// `lowerdir=`, topmost first.
    pub lower: Vec<HostPath>,
    /// `upperdir=`.
    pub upper: Option<HostPath>,
    /// `workdir=`.
    pub work: Option<HostPath>,
}

/// What to create when a mountpoint is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644), for binds of files.
    File,
    /// Nothing: a missing mountpoint is an error.
    None,
}

/// A mount step.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The filesystem, with its typed options: encoded for the kernel and for the dry run only
    /// by [`crate::calls::fsconfig`].
    pub fs: FsKind,
    /// The `source` the plan gave a filesystem (not a bind, whose source is its host path):
    /// what the kernel gets instead of the type's name. See [`Mount::source`].
    pub given_source: Option<String>,
    /// The mountpoint inside the root.
    pub target: RootPath,
    /// Where `target` is written.
    pub target_loc: Loc,
    /// Flags (MS_RDONLY, MS_NOSUID, ..., MS_REC for binds). Never MS_BIND/MS_REMOUNT: those
    /// are added by the executor where the kernel needs them.
    pub flags: MsFlags,
    /// The flags given with OCI's recursive spellings (`rro`, `rnosuid`, `rrw`, ...).
    pub rec: RecAttrs,
    /// A bind's id mapping (`MOUNT_ATTR_IDMAP`).
    pub idmap: Option<Idmap>,
    /// What to create when the target is missing.
    pub create: Create,
}

impl Mount {
    /// The source the kernel gets: a bind's host path, else the plan's `source` or the type's
    /// name.
    pub fn source(&self) -> &str {
        match (&self.fs, &self.given_source) {
            (FsKind::Bind { source, .. }, _) => source.as_str(),
            (_, Some(s)) => s,
            (fs, None) => fs.fstype(),
        }
    }
}

/// A remount step.
#[derive(Debug, Clone)]
pub struct Remount {
    /// The mountpoint.
    pub target: RootPath,
    /// Where `target` is written.
    pub target_loc: Loc,
    /// The new flags (MS_RDONLY etc.; MS_REC applies them below too).
    pub flags: MsFlags,
    /// The flags given with OCI's recursive spellings (`rro`, `rnosuid`, `rrw`, ...).
    pub rec: RecAttrs,
}

/// Per-mount flags given with OCI's recursive spellings (`rro`, `rnosuid`, `rrw`, `rnoatime`,
/// ...): set and cleared with `mount_setattr(AT_RECURSIVE)` on the mount and every mount below
/// it, after the plain flags. Only added or removed: a flag not named keeps its value on each
/// mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecAttrs {
    /// The flags set (MS_RDONLY, ..., an atime mode).
    pub set: MsFlags,
    /// The flags cleared (`rrw`: MS_RDONLY, ...).
    pub clear: MsFlags,
}

impl Default for RecAttrs {
    fn default() -> RecAttrs {
        RecAttrs {
            set: MsFlags::empty(),
            clear: MsFlags::empty(),
        }
    }
}

impl RecAttrs {
    /// Whether no recursive flag was given.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.clear.is_empty()
    }
}

/// Mount propagation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagationKind {
    /// MS_PRIVATE.
    Private,
    /// MS_SLAVE.
    Slave,
    /// MS_SHARED.
    Shared,
    /// MS_UNBINDABLE.
    Unbindable,
}

impl PropagationKind {
    /// The MS_ flag.
    pub fn flag(self) -> MsFlags {
        match self {
            PropagationKind::Private => MsFlags::MS_PRIVATE,
            PropagationKind::Slave => MsFlags::MS_SLAVE,
            PropagationKind::Shared => MsFlags::MS_SHARED,
            PropagationKind::Unbindable => MsFlags::MS_UNBINDABLE,
        }
    }
    /// The name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            PropagationKind::Private => "private",
            PropagationKind::Slave => "slave",
            PropagationKind::Shared => "shared",
            PropagationKind::Unbindable => "unbindable",
        }
    }
}

/// A propagation step.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// The mountpoint.
    pub target: RootPath,
    /// Where `target` is written.
    pub target_loc: Loc,
    /// The propagation type.
    pub kind: PropagationKind,
    /// MS_REC.
    pub recursive: bool,
}

/// An umount step (always MNT_DETACH).
#[derive(Debug, Clone)]
pub struct Umount {
    /// The mountpoint.
    pub target: RootPath,
    /// Where `target` is written.
    pub target_loc: Loc,
}

/// A mkdir step.
#[derive(Debug, Clone)]
pub struct Mkdir {
    /// The directory.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
    /// Its mode (default 0755).
    pub mode: Mode,
    /// Create missing parents (mode 0755).
    pub parents: bool,
}

/// The type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    /// S_IFCHR.
    Char,
    /// S_IFBLK.
    Block,
    /// S_IFIFO.
    Fifo,
}

impl NodeType {
    /// The name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Char => "char",
            NodeType::Block => "block",
            NodeType::Fifo => "fifo",
        }
    }
}

/// Where a node's type and number come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeSpec {
    /// Given in the plan.
    Given {
        /// char, block or fifo.
        node: NodeType,
        /// Major number (0 for a FIFO).
        major: u32,
        /// Minor number (0 for a FIFO).
        minor: u32,
    },
    /// Copied from a host node at apply time (checked to be a char or block device).
    FromHost(HostPath),
}

/// A mknod step.
#[derive(Debug, Clone)]
pub struct Mknod {
    /// The node.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
    /// Its type and number.
    pub spec: NodeSpec,
    /// Its mode (default 0666).
    pub mode: Mode,
    /// Owner uid, when given.
    pub uid: Option<u32>,
    /// Owner gid, when given.
    pub gid: Option<u32>,
}

/// A symlink step.
#[derive(Debug, Clone)]
pub struct Symlink {
    /// The link.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
    /// What it points to, as written (not resolved).
    pub to: String,
}

/// A chmod step.
#[derive(Debug, Clone)]
pub struct Chmod {
    /// The file.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
    /// The new mode.
    pub mode: Mode,
    /// New owner uid, when given.
    pub uid: Option<u32>,
    /// New owner gid, when given.
    pub gid: Option<u32>,
}

/// A mask step.
#[derive(Debug, Clone)]
pub struct Mask {
    /// The path to hide.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
}

/// A readonly step (runc's readonlyPaths).
#[derive(Debug, Clone)]
pub struct Readonly {
    /// The path to make read-only.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
}

/// How to switch to the new root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PivotStrategy {
    /// pivot_root(".", ".") then umount2(".", MNT_DETACH).
    PivotRoot,
    /// pivot_root(".", put_old), then make put_old private, detach it and remove the directory.
    PutOld,
    /// Mask the host's full proc and sysfs mounts, MS_MOVE the root onto `/`, chroot(".").
    Move,
    /// chroot(".").
    Chroot,
}

impl PivotStrategy {
    /// The name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            PivotStrategy::PivotRoot => "pivot-root",
            PivotStrategy::PutOld => "put-old",
            PivotStrategy::Move => "move",
            PivotStrategy::Chroot => "chroot",
        }
    }
}

/// A pivot step.
#[derive(Debug, Clone)]
pub struct Pivot {
    /// The strategy to try first.
    pub strategy: PivotStrategy,
    /// The strategy to try when the first fails.
    pub fallback: Option<PivotStrategy>,
    /// The put_old directory for `put-old` (default `/.pivot_root`).
    pub put_old: RootPath,
    /// `strategy = "auto"`: `pivot-root`, with `move` taken only when pivot_root fails with
    /// EINVAL.
    pub auto: bool,
}

impl Pivot {
    /// When the fallback is taken, in words (the dry run's heading of its calls).
    pub fn fallback_rule(&self) -> &'static str {
        if self.auto {
            "auto: instead, when pivot_root fails with EINVAL (the root is on an initramfs or \
             ramfs, or a mount involved is shared)"
        } else {
            "fallback, when the kernel refuses the switch to the new root"
        }
    }
}

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
    fn root_path_normalises_and_refuses() {
        assert_eq!(RootPath::new("/a//b/./c/").unwrap().as_str(), "/a/b/c");
        assert_eq!(RootPath::new("/").unwrap().as_str(), "/");
        assert_eq!(RootPath::new("a"), Err(PathError::Relative));
        assert_eq!(RootPath::new("/a/../b"), Err(PathError::DotDot));
        assert_eq!(RootPath::new("/a\0"), Err(PathError::Nul));
        assert_eq!(RootPath::new(""), Err(PathError::Empty));
        assert_eq!(
            RootPath::new(&format!("/{}", "x".repeat(256))),
            Err(PathError::ComponentTooLong)
        );
        assert_eq!(RootPath::new(&"/xx".repeat(1400)), Err(PathError::TooLong));
    }

    #[test]
    fn root_path_relations() {
        let p = RootPath::new("/dev/pts").unwrap();
        assert_eq!(p.parent().as_str(), "/dev");
        assert_eq!(p.file_name(), "pts");
        assert_eq!(p.relative(), "dev/pts");
        assert!(p.starts_with(&RootPath::new("/dev").unwrap()));
        assert!(
            !RootPath::new("/devx")
                .unwrap()
                .starts_with(&RootPath::new("/dev").unwrap())
        );
        assert!(p.starts_with(&RootPath::root()));
        let a: Vec<_> = p
            .ancestors_and_self()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(a, ["/", "/dev", "/dev/pts"]);
    }

    #[test]
    fn modes_are_octal_and_bounded() {
        assert_eq!(Mode::parse("0755"), Some(Mode(0o755)));
        assert_eq!(Mode::parse("1777"), Some(Mode(0o1777)));
        assert_eq!(Mode::parse("07777"), Some(Mode(0o7777)));
        assert_eq!(Mode::parse("10000"), None);
        assert_eq!(Mode::parse("0789"), None);
        assert_eq!(Mode::parse(""), None);
        assert_eq!(Mode(0o755).to_string(), "0755");
    }

    #[test]
    fn flags_print_like_strace() {
        assert_eq!(
            ms_flags_str(MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC),
            "MS_NOSUID|MS_NODEV|MS_NOEXEC"
        );
        assert_eq!(ms_flags_str(MsFlags::empty()), "0");
    }
}
