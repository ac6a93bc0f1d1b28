//! The low-level plan: a serde + schemars mirror of the TOML file, as written.
//!
//! Takes nothing but TOML; gives structs whose user values carry their byte spans
//! ([`Spanned`]). Nothing here is checked beyond TOML types and known keys: a `raw` plan may be
//! wrong in every other way. [`crate::validate`] turns it into a [`crate::model::Plan`] or
//! into diagnostics.
//!
//! Steps are one flat struct ([`Step`]) with a `kind` and optional fields, not a tagged enum:
//! toml loses spans inside `#[serde(tag = ...)]` enums, and a flat struct keeps the order of
//! steps across kinds. `validate` rejects fields that do not belong to a kind.
//!
//! The doc comments on these types are the descriptions in `schema/plan.schema.json`.
//!
//! The files: this one is the plan and its tables (`[root]`, `[namespaces]`, `[process]`);
//! `step.rs` the flat `[[step]]`, its kinds and the keys and words of each; `packed.rs` the
//! steps as a plan holds them, only the fields set ([`Steps`]); `spanned.rs` the spanned value
//! [`Spanned`]; `json_schema.rs` the JSON Schema made from these types ([`schema`]).

mod json_schema;
mod packed;
mod spanned;
mod step;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

pub use self::json_schema::{schema, schema_json};
pub use self::packed::{Packed, Steps};
pub use self::spanned::{Spanned, with_base};
pub use self::step::{Idmap, STEP_KEYS, Step, StepKind, words};

/// A mountplan plan file.
///
/// A plan is an ordered list of steps that assemble a new root filesystem in a fresh mount
/// namespace. Every plan starts with `version = 1`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mountplan plan", extend("$id" = "https://mountplan.invalid/schema/plan.schema.json"))]
pub struct Plan {
    /// The plan format version. Only `1` exists.
    pub version: Option<Spanned<i64>>,
    /// A short name for the plan, shown in the dry run. Defaults to the file name without `.toml`.
    pub name: Option<Spanned<String>>,
    /// What the plan builds, in a sentence or two.
    pub description: Option<Spanned<String>>,
    /// Plans to read first, relative to this file (written as they are: no `${NAME}`). Their
    /// steps come before this file's steps; this file's `root`, `namespaces`, `vars` and each
    /// key of `process` override theirs. `mountplan:NAME` (`mountplan:dev`) includes a fragment
    /// shipped inside mountplan, listed under "Fragments" in docs/plan-format.md: its steps and
    /// namespaces, not its name or root.
    pub include: Option<Vec<Spanned<String>>>,
    /// Which kernel mount API apply uses: `"new"` (fsopen, fsmount, open_tree, move_mount,
    /// mount_setattr: every mount held by its descriptor from the moment it is made),
    /// `"classic"` (mount(2) and umount2(2) only, each target a descriptor resolved in the
    /// root and passed as `self/fd/N` of the host `/proc`; no idmapped binds, no recursive
    /// flags, no `readonly` step), or `"auto"` (the default: the new API where the kernel has
    /// it, classic otherwise). The entry plan's value wins over its includes'; `--api`
    /// overrides both.
    pub api: Option<Spanned<String>>,
    /// Where the new root comes from: an existing directory or an empty tmpfs.
    pub root: Option<Spanned<Root>>,
    /// Which namespaces to create besides the mount namespace (always created).
    pub namespaces: Option<Spanned<Namespaces>>,
    /// How the command runs: its capabilities, user, working directory, environment,
    /// hostname and umask. Without it the command runs as uid 0 with Docker's default
    /// capabilities, no_new_privs, in `/`, with the caller's environment and umask.
    pub process: Option<Spanned<Process>>,
    /// Variables for `${NAME}` substitution in every string value of the plan (names, paths,
    /// types, options, sizes, modes, ids, strategies...), but for three: `kind`, `include`
    /// (read before the variables are known) and `[namespaces] user`, and the values of the
    /// variables themselves (used as written), where `${` is refused. A string is substituted
    /// first, then checked as the same value written literally would be. Overridable from the
    /// command line with `--set NAME=VALUE`. `$$` is a literal `$`.
    pub vars: Option<BTreeMap<String, Spanned<String>>>,
    /// The steps, in execution order.
    #[serde(default)]
    pub step: Steps,
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
    pub path: Option<Spanned<String>>,
    /// An empty tmpfs as the root. `{}` takes the defaults.
    pub tmpfs: Option<Spanned<TmpfsRoot>>,
}

/// Options of an empty tmpfs root.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TmpfsRoot {
    /// Maximum size: bytes, or a number with a `k`, `m` or `g` suffix, or a percentage of RAM (`"50%"`).
    pub size: Option<Spanned<SizeValue>>,
    /// Mode of the root directory, an octal string such as `"0755"`.
    pub mode: Option<Spanned<String>>,
    /// Maximum number of inodes.
    pub nr_inodes: Option<Spanned<i64>>,
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
    pub user: Option<Spanned<UserNs>>,
    /// A pid namespace, with a minimal init that reaps and passes the command's status through.
    /// Default true: with `false` and proc mounted, the command sees every host process.
    pub pid: Option<Spanned<bool>>,
    /// An IPC namespace (needed for a private mqueue mount).
    pub ipc: Option<Spanned<bool>>,
    /// A UTS namespace (hostname).
    pub uts: Option<Spanned<bool>>,
    /// A network namespace (loopback only, down).
    pub net: Option<Spanned<bool>>,
    /// A cgroup namespace.
    pub cgroup: Option<Spanned<bool>>,
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
    pub capabilities: Option<Spanned<Capabilities>>,
    /// Set `no_new_privs` for the command, so set-id programs and file capabilities give it
    /// nothing more. Default true.
    pub no_new_privileges: Option<Spanned<bool>>,
    /// The command's working directory, an absolute path in its root. Default `/`.
    pub cwd: Option<Spanned<String>>,
    /// The command's environment: the caller's by default.
    pub env: Option<Spanned<ProcessEnv>>,
    /// The hostname of the new UTS namespace (needs `uts = true` in `[namespaces]`): letters,
    /// digits, `-`, `.` and `_`, at most 64 bytes.
    pub hostname: Option<Spanned<String>>,
    /// The uid the command runs as. Default 0. A rootless apply maps only 0.
    pub uid: Option<Spanned<i64>>,
    /// The gid the command runs as. Default 0. A rootless apply maps only 0.
    pub gid: Option<Spanned<i64>>,
    /// Supplementary groups of the command. Default none. Not in a rootless apply.
    pub groups: Option<Vec<Spanned<i64>>>,
    /// The command's umask, an octal string such as `"0022"`. Default: the caller's umask
    /// (mountplan itself works with umask 0 so the plan's modes are exact).
    pub umask: Option<Spanned<String>>,
    /// A console for the command, bound onto `/dev/console` (a file created on the plan's
    /// `/dev` mount) and given to it as its standard input, output and error and its
    /// controlling terminal (the command leads a new session). `"pty"`: mountplan opens a new
    /// pseudo-terminal in the plan's devpts (its `ptmx`, after the pivot), makes its slave mode
    /// 0600 and owner 0:0, and relays between its own standard input and output and the pty's
    /// master (the caller's terminal, if it is one, in raw mode until the command ends, then
    /// restored), so the command holds no descriptor on the caller's terminal; needs a devpts
    /// mount below `/dev`. An absolute path (usually `"${CONSOLE}"` with `--set
    /// CONSOLE=/dev/pts/N`, a pty whose master the caller holds): that terminal of the host's,
    /// opened before the steps, its mode and owner on the host left as they are. Either needs
    /// a tmpfs mounted on `/dev` and a pivot step; not with `--keep-terminal`. Default: no
    /// console (the command gets the caller's descriptors 0, 1 and 2).
    #[schemars(extend("examples" = ["pty", "${CONSOLE}"]))]
    pub console: Option<Spanned<String>>,
}

/// The command's environment, changed in this order: `clear`, `unset`, `set`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessEnv {
    /// Start from an empty environment instead of the caller's. Default false.
    pub clear: Option<Spanned<bool>>,
    /// Variables to set, `NAME = "value"` (`${VAR}` allowed in values). The command is looked
    /// up in the resulting `PATH`.
    pub set: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Names of variables to remove from the caller's environment.
    pub unset: Option<Vec<Spanned<String>>>,
}

/// `"all"`, or an array of capability names.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum Capabilities {
    /// `"all"`: every capability mountplan itself has (as root: every one the kernel has).
    #[schemars(schema_with = "all_schema")]
    Word(String),
    /// Capability names, `CAP_` optional, in any case; `[]` for none.
    List(Vec<Spanned<String>>),
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
                while let Some(x) = seq.next_element::<Spanned<String>>()? {
                    v.push(x);
                }
                Ok(Capabilities::List(v))
            }
        }
        d.deserialize_any(V)
    }
}
