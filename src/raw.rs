//! The low-level plan: a serde + schemars mirror of the TOML file, as written.
//!
//! Takes nothing but TOML; gives structs whose user values carry their byte spans
//! ([`Sp`]). Nothing here is checked beyond TOML types and known keys: a `raw` plan may be
//! wrong in every other way. [`crate::validate`] turns it into a [`crate::model::Plan`] or
//! into diagnostics.
//!
//! Steps are one flat struct ([`Step`]) with a `kind` and optional fields, not a tagged enum:
//! toml loses spans inside `#[serde(tag = ...)]` enums, and a flat struct keeps the order of
//! steps across kinds. `validate` rejects fields that do not belong to a kind.
//!
//! The doc comments on these types are the descriptions in `schema/plan.schema.json`.

use std::collections::BTreeMap;
use std::ops::Range;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// A value with the byte span it came from in its file.
///
/// Serde-transparent over `toml::Spanned<T>`; its JSON Schema is `T`'s, so the schema shows
/// the value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sp<T> {
    /// The value.
    pub value: T,
    /// Byte range of the value in its file.
    pub span: Range<usize>,
}

impl<T> Sp<T> {
    /// A value with a span (used by tests and by code that synthesises values).
    pub fn new(value: T, span: Range<usize>) -> Self {
        Sp { value, span }
    }
}

/// Ordered by value, then span (as `Eq` compares both), so spanned names can key a map.
impl<T: Ord> Ord for Sp<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value
            .cmp(&other.value)
            .then(self.span.start.cmp(&other.span.start))
            .then(self.span.end.cmp(&other.span.end))
    }
}

impl<T: Ord> PartialOrd for Sp<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sp<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = toml::Spanned::<T>::deserialize(d)?;
        let span = s.span();
        Ok(Sp {
            value: s.into_inner(),
            span,
        })
    }
}

impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(g)
    }
}

/// A mountplan plan file.
///
/// A plan is an ordered list of steps that assemble a new root filesystem in a fresh mount
/// namespace. Every plan starts with `version = 1`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mountplan plan", extend("$id" = "https://mountplan.invalid/schema/plan.schema.json"))]
pub struct Plan {
    /// The plan format version. Only `1` exists.
    pub version: Option<Sp<i64>>,
    /// A short name for the plan, shown in the dry run. Defaults to the file name without `.toml`.
    pub name: Option<Sp<String>>,
    /// What the plan builds, in a sentence or two.
    pub description: Option<Sp<String>>,
    /// Plans to read first, relative to this file (written as they are: no `${NAME}`). Their
    /// steps come before this file's steps; this file's `root`, `namespaces`, `vars` and each
    /// key of `process` override theirs. `mountplan:NAME` (`mountplan:dev`) includes a fragment
    /// shipped inside mountplan, listed under "Fragments" in docs/plan-format.md: its steps and
    /// namespaces, not its name or root.
    pub include: Option<Vec<Sp<String>>>,
    /// Where the new root comes from: an existing directory or an empty tmpfs.
    pub root: Option<Sp<Root>>,
    /// Which namespaces to create besides the mount namespace (always created).
    pub namespaces: Option<Sp<Namespaces>>,
    /// How the command runs: its capabilities, user, working directory, environment,
    /// hostname and umask. Without it the command runs as uid 0 with Docker's default
    /// capabilities, no_new_privs, in `/`, with the caller's environment and umask.
    pub process: Option<Sp<Process>>,
    /// Variables for `${NAME}` substitution in every string value of the plan (names, paths,
    /// types, options, sizes, modes, ids, strategies...), but for three: `kind`, `include`
    /// (read before the variables are known) and `[namespaces] user`, and the values of the
    /// variables themselves (used as written), where `${` is refused. A string is substituted
    /// first, then checked as the same value written literally would be. Overridable from the
    /// command line with `--set NAME=VALUE`. `$$` is a literal `$`.
    pub vars: Option<BTreeMap<String, Sp<String>>>,
    /// The steps, in execution order.
    #[serde(default)]
    pub step: Vec<Step>,
    /// Not in the file: the keys `parse` already reported (a value of the wrong type, or an
    /// unknown key taken for this one), dotted below the top (`root.path`), so that `validate`
    /// does not report them missing as well.
    #[serde(skip)]
    pub reported: Vec<String>,
}

/// Where the new root comes from. Give exactly one of `path` and `tmpfs`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Root {
    /// An existing directory on the host (absolute, `${VAR}` allowed). It is bound onto itself
    /// in the new namespace so it can be pivoted into.
    pub path: Option<Sp<String>>,
    /// An empty tmpfs as the root. `{}` takes the defaults.
    pub tmpfs: Option<Sp<TmpfsRoot>>,
}

/// Options of an empty tmpfs root.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TmpfsRoot {
    /// Maximum size: bytes, or a number with a `k`, `m` or `g` suffix, or a percentage of RAM (`"50%"`).
    pub size: Option<Sp<SizeValue>>,
    /// Mode of the root directory, an octal string such as `"0755"`.
    pub mode: Option<Sp<String>>,
    /// Maximum number of inodes.
    pub nr_inodes: Option<Sp<i64>>,
}

/// A size: an integer number of bytes, or a string like `"16M"`, `"512k"`, `"1g"`, `"50%"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SizeValue {
    /// A number of bytes.
    Bytes(i64),
    /// A number with a `k`, `m` or `g` suffix (powers of 1024), or a percentage.
    Text(String),
}

/// Namespaces to create. The mount namespace is always created.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Namespaces {
    /// A user namespace: `true`, `false`, or `"auto"` (create one, mapping the caller to root
    /// inside, only when not running as root). Default `"auto"`.
    pub user: Option<Sp<UserNs>>,
    /// A pid namespace, with a minimal init that reaps and passes the command's status through.
    /// Default true: with `false` and proc mounted, the command sees every host process.
    pub pid: Option<Sp<bool>>,
    /// An IPC namespace (needed for a private mqueue mount).
    pub ipc: Option<Sp<bool>>,
    /// A UTS namespace (hostname).
    pub uts: Option<Sp<bool>>,
    /// A network namespace (loopback only, down).
    pub net: Option<Sp<bool>>,
    /// A cgroup namespace.
    pub cgroup: Option<Sp<bool>>,
}

/// `true`, `false` or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum UserNs {
    /// `true` or `false`.
    Bool(bool),
    /// `"auto"`: only when not running as root.
    #[schemars(schema_with = "auto_schema")]
    Auto,
}

fn auto_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "const": "auto" })
}

impl<'de> Deserialize<'de> for UserNs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = UserNs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`true`, `false` or `\"auto\"`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<UserNs, E> {
                Ok(UserNs::Bool(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<UserNs, E> {
                if v == "auto" {
                    Ok(UserNs::Auto)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// How the command runs. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// The capabilities the command keeps: an array of names (`"CAP_NET_ADMIN"` or
    /// `"net_admin"`, in any case), `[]` for none, or `"all"`. They are its effective,
    /// permitted, inheritable and bounding sets (and ambient for a uid other than 0).
    /// Default: Docker's set for uid 0 (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID,
    /// SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP:
    /// enough to build and install software as root, without SYS_ADMIN, SYS_PTRACE,
    /// SYS_MODULE, DAC_READ_SEARCH, SYS_RAWIO or NET_ADMIN), none for another uid. A pivot that
    /// can end in a plain `chroot` takes CAP_SYS_CHROOT away.
    pub capabilities: Option<Sp<Capabilities>>,
    /// Set `no_new_privs` for the command, so set-id programs and file capabilities give it
    /// nothing more. Default true.
    pub no_new_privileges: Option<Sp<bool>>,
    /// The command's working directory, an absolute path in its root. Default `/`.
    pub cwd: Option<Sp<String>>,
    /// The command's environment: the caller's by default.
    pub env: Option<Sp<ProcessEnv>>,
    /// The hostname of the new UTS namespace (needs `uts = true` in `[namespaces]`): letters,
    /// digits, `-`, `.` and `_`, at most 64 bytes.
    pub hostname: Option<Sp<String>>,
    /// The uid the command runs as. Default 0. A rootless apply maps only 0.
    pub uid: Option<Sp<i64>>,
    /// The gid the command runs as. Default 0. A rootless apply maps only 0.
    pub gid: Option<Sp<i64>>,
    /// Supplementary groups of the command. Default none. Not in a rootless apply.
    pub groups: Option<Vec<Sp<i64>>>,
    /// The command's umask, an octal string such as `"0022"`. Default: the caller's umask
    /// (mountplan itself works with umask 0 so the plan's modes are exact).
    pub umask: Option<Sp<String>>,
}

/// The command's environment, changed in this order: `clear`, `unset`, `set`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessEnv {
    /// Start from an empty environment instead of the caller's. Default false.
    pub clear: Option<Sp<bool>>,
    /// Variables to set, `NAME = "value"` (`${VAR}` allowed in values). The command is looked
    /// up in the resulting `PATH`.
    pub set: Option<BTreeMap<Sp<String>, Sp<String>>>,
    /// Names of variables to remove from the caller's environment.
    pub unset: Option<Vec<Sp<String>>>,
}

/// `"all"`, or an array of capability names.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum Capabilities {
    /// `"all"`: every capability mountplan itself has (as root: every one the kernel has).
    #[schemars(schema_with = "all_schema")]
    Word(String),
    /// Capability names, `CAP_` optional, in any case; `[]` for none.
    List(Vec<Sp<String>>),
}

fn all_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "const": "all" })
}

impl<'de> Deserialize<'de> for Capabilities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Capabilities;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`\"all\"` or an array of capability names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Capabilities, E> {
                Ok(Capabilities::Word(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Capabilities, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element::<Sp<String>>()? {
                    v.push(x);
                }
                Ok(Capabilities::List(v))
            }
        }
        d.deserialize_any(V)
    }
}

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
    pub kind: Sp<StepKind>,
    /// A name for the step, unique in the plan, so `after` can name it. Letters, digits, `-`,
    /// `_` and `.`. Defaults to `<kind>-<n>`, n counting from 1 in the whole plan.
    pub id: Option<Sp<String>>,
    /// Steps (by id) that must run before this one. They must be declared earlier: the declared
    /// order is the execution order.
    pub after: Option<Vec<Sp<String>>>,
    /// A note for reviewers, shown in the dry run.
    pub note: Option<Sp<String>>,

    // ---- mount, remount, propagation, umount ----
    /// mount: the filesystem type: `bind`, `rbind` (recursive bind), `tmpfs`, `proc`, `sysfs`,
    /// `devpts`, `mqueue`, `overlay`, `cgroup2`, or another fstype by name.
    #[serde(rename = "type")]
    pub fstype: Option<Sp<String>>,
    /// mount: for a bind, the host path to bind (absolute); for other types, the source name
    /// shown in the mount table (defaults to the type).
    pub source: Option<Sp<String>>,
    /// mount, remount, propagation, umount: the mountpoint inside the new root.
    pub target: Option<Sp<String>>,
    /// mount, remount: mount flags: `ro`, `rw`, `nosuid`, `suid`, `nodev`, `dev`, `noexec`,
    /// `exec`, `relatime`, `norelatime`, `noatime`, `strictatime`, `nodiratime`, `sync`,
    /// `dirsync`, `silent`, and `rec` (recursive, for binds and remounts).
    pub options: Option<Vec<Sp<String>>>,
    /// mount: what to create when the mountpoint is missing: `dir` (default), `file` (needed to
    /// bind a file), or `none` (fail instead).
    pub create: Option<Sp<String>>,
    /// mount (tmpfs): maximum size, bytes or `"64k"`, `"16M"`, `"1g"`, `"50%"`.
    pub size: Option<Sp<SizeValue>>,
    /// mount (tmpfs): maximum number of inodes.
    pub nr_inodes: Option<Sp<i64>>,
    /// mkdir, mknod, chmod: the mode; mount (tmpfs, devpts): the `mode=` option. An octal
    /// string such as `"0755"`, at most `"07777"`.
    pub mode: Option<Sp<String>>,
    /// mknod, chmod: owner uid; mount (tmpfs, devpts): the `uid=` option.
    pub uid: Option<Sp<i64>>,
    /// mknod, chmod: owner gid; mount (tmpfs, devpts): the `gid=` option.
    pub gid: Option<Sp<i64>>,
    /// mount (devpts): a private devpts instance (`newinstance`). Default true.
    pub newinstance: Option<Sp<bool>>,
    /// mount (devpts): mode of the `ptmx` node, octal string, e.g. `"0666"`.
    pub ptmxmode: Option<Sp<String>>,
    /// mount (overlay): lower layers, host paths, topmost first.
    pub lower: Option<Vec<Sp<String>>>,
    /// mount (overlay): the writable upper layer, a host path. What later steps make or change on
    /// the overlay lands here; a rollback (or `mountplan recover` after a kill) undoes it here,
    /// with what the kernel copied up for it, once the overlay is unmounted.
    pub upper: Option<Sp<String>>,
    /// mount (overlay): the overlay work directory, a host path on the same filesystem as `upper`.
    /// The `work` directory the mount makes in it is removed again by a rollback.
    pub work: Option<Sp<String>>,
    /// mount (other fstypes): filesystem options as `key` or `key=value` strings, one per entry.
    /// Commas are not allowed inside an entry.
    pub data: Option<Vec<Sp<String>>>,
    /// propagation: `private`, `slave`, `shared` or `unbindable`.
    pub propagation: Option<Sp<String>>,
    /// propagation: apply to every mount below `target` too. Default false.
    pub recursive: Option<Sp<bool>>,

    // ---- mkdir, mknod, symlink, chmod, mask ----
    /// mkdir, mknod, symlink, chmod, mask, readonly: the path inside the new root.
    pub path: Option<Sp<String>>,
    /// mkdir: create missing parents too. Default false.
    pub parents: Option<Sp<bool>>,
    /// mknod: `char`, `block` or `fifo`.
    pub node: Option<Sp<String>>,
    /// mknod: the device's major number.
    pub major: Option<Sp<i64>>,
    /// mknod: the device's minor number.
    pub minor: Option<Sp<i64>>,
    /// mknod: a host device node whose type and number are copied (instead of `node`,
    /// `major`, `minor`), as libcontainer copies /dev/null and friends.
    pub from_host: Option<Sp<String>>,
    /// symlink: what the link points to (stored as written; not resolved).
    pub to: Option<Sp<String>>,

    // ---- pivot ----
    /// pivot: `pivot-root` (pivot_root(".", ".") then detach the old root), `put-old` (a
    /// temporary put_old directory, removed after), `move` (MS_MOVE the root onto `/` and
    /// chroot, after masking the host's full proc and sysfs mounts), or `chroot`.
    pub strategy: Option<Sp<String>>,
    /// pivot: the strategy to use when the kernel refuses the first one's switch to the new
    /// root (`pivot_root` fails on an initramfs or a shared root; docker falls back to chroot).
    /// Any other failure of the first strategy (a call the root's content makes fail) fails the
    /// step: the root cannot force the fallback.
    pub fallback: Option<Sp<String>>,
    /// pivot (`put-old`): where the put_old directory is made inside the new root, as a prefix:
    /// the directory gets six random characters after it (a fresh name, as docker's
    /// `TempDir`), is held by its descriptor for `pivot_root`, and is removed after. Default
    /// `/.pivot_root`.
    pub put_old: Option<Sp<String>>,
    /// Not in the file: the keys of this step `parse` already reported (see [`Plan::reported`]).
    #[serde(skip)]
    pub reported: Vec<String>,
}

impl Step {
    /// The names and spans of every optional field that is set, in declaration order.
    /// `validate` uses it to reject fields that do not belong to the step's kind.
    pub fn set_fields(&self) -> Vec<(&'static str, Range<usize>)> {
        fn sp<T>(
            name: &'static str,
            v: &Option<Sp<T>>,
            out: &mut Vec<(&'static str, Range<usize>)>,
        ) {
            if let Some(v) = v {
                out.push((name, v.span.clone()));
            }
        }
        fn vs<T>(
            name: &'static str,
            v: &Option<Vec<Sp<T>>>,
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
        "strategy" | "fallback" => &["pivot-root", "put-old", "move", "chroot"],
        "node" => &["char", "block", "fifo"],
        "propagation" => &["private", "slave", "shared", "unbindable"],
        "create" => &["dir", "file", "none"],
        _ => return None,
    })
}

/// The JSON Schema of a plan file, as checked in at `schema/plan.schema.json`.
///
/// The raw [`Step`] is one flat struct (spans survive only there); its schema is rewritten
/// here into one branch per kind (a `oneOf` on `kind`), each listing exactly the keys of
/// [`StepKind::keys`] with [`StepKind::required`] and `additionalProperties: false`, and the
/// words of [`words`] and the mount options as enums, so that an editor completes them and
/// flags a wrong value, a key of another kind and a missing key. A string may also hold a
/// `${NAME}` (checked once substituted).
pub fn schema() -> serde_json::Value {
    let mut v = serde_json::to_value(schemars::schema_for!(Plan)).unwrap_or_default();
    drop_null(&mut v);
    let defs = &mut v["$defs"];
    let kinds = defs["StepKind"].clone();
    let flat = defs["Step"].clone();
    defs["Step"] = step_schema(&flat, &kinds);
    defs["Variable"] = serde_json::json!({
        "description": "A string with `${NAME}` in it, checked once the variables are substituted.",
        "type": "string",
        "pattern": "\\$\\{",
    });
    v
}

/// The schema of a `[[step]]`: `kind` required, then one branch per kind.
fn step_schema(flat: &serde_json::Value, kinds: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let props = flat["properties"].as_object().cloned().unwrap_or_default();
    let kind_doc = |k: StepKind| {
        kinds["oneOf"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["const"] == k.as_str()))
            .and_then(|x| x["description"].as_str())
            .unwrap_or("")
            .to_string()
    };
    // A key's schema, with its words as an enum (or a `${NAME}`).
    let typed = |key: &str| -> Value {
        let mut s = props.get(key).cloned().unwrap_or_else(|| json!({}));
        let one_of = |words: Vec<&str>| {
            json!({ "anyOf": [
                { "enum": words },
                { "$ref": "#/$defs/Variable" },
            ]})
        };
        if let Some(w) = words(key) {
            if let Value::Object(m) = &mut s {
                m.remove("type");
                if let Value::Object(e) = one_of(w.to_vec()) {
                    m.extend(e);
                }
            }
        } else if key == "options" {
            let w: Vec<&str> = crate::model::FLAG_WORDS
                .iter()
                .map(|(n, _, _)| *n)
                .collect();
            s["items"] = one_of(w);
        }
        s
    };
    let branches: Vec<Value> = StepKind::ALL
        .iter()
        .map(|&k| {
            let mut p = Map::new();
            p.insert(
                "kind".into(),
                json!({ "const": k.as_str(), "description": kind_doc(k) }),
            );
            for key in ["id", "after", "note"].iter().chain(k.keys()) {
                p.insert((*key).into(), typed(key));
            }
            let mut required = vec!["kind"];
            required.extend(k.required());
            let mut b = json!({
                "title": format!("{} step", k.as_str()),
                "type": "object",
                "properties": p,
                "required": required,
                "additionalProperties": false,
            });
            if k == StepKind::Mknod {
                b["anyOf"] = json!([{ "required": ["node"] }, { "required": ["from_host"] }]);
            }
            b
        })
        .collect();
    json!({
        "description": flat["description"],
        "type": "object",
        "properties": { "kind": { "$ref": "#/$defs/StepKind" } },
        "required": ["kind"],
        "oneOf": branches,
    })
}

/// TOML has no null: an optional key is simply absent. schemars writes `Option<T>` as
/// "T or null"; this removes the null alternative everywhere.
fn drop_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(types)) = m.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    m.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(alts)) = m.get_mut("anyOf") {
                alts.retain(|a| a.get("type").is_none_or(|t| t != "null"));
                if alts.len() == 1 {
                    if let Some(Value::Object(only)) = alts.pop() {
                        m.remove("anyOf");
                        for (k, val) in only {
                            m.entry(k).or_insert(val);
                        }
                    }
                }
            }
            for (_, x) in m.iter_mut() {
                drop_null(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// The schema as pretty JSON with a trailing newline (the checked-in bytes).
pub fn schema_json() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    s.push('\n');
    s
}
