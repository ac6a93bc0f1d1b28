//! The command line, as clap derive structs. The doc comments are the `--help` text.
//!
//! `quick.rs` reads the common `apply` command lines without clap (held to clap by a test).

mod quick;

pub use self::quick::quick_apply;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A declarative, TOML-driven mount-plan executor for Linux.
///
/// A plan file lists ordered steps that assemble a root filesystem (mount, remount,
/// propagation, umount, mkdir, mknod, symlink, chmod, mask, readonly, pivot). mountplan checks it,
/// prints a byte-stable dry run for review, and applies it in a fresh mount namespace,
/// rolling back everything it changed when a step fails.
///
/// Exit status: 0 success; 1 a plan has errors (check, plan), a checked-in dry run is stale
/// (plan --check) or two plans differ (diff); 2 usage error or (check, plan, diff) unreadable
/// file. apply exits with the command's status
/// (128+N when the command is killed by signal N), 0 without a command, 125 when mountplan
/// itself fails (unreadable or invalid plan, failed step — after rollback), 126 when the
/// command cannot be executed,
/// 127 when it is not found. recover exits 1 when something could not be undone, 2 when the
/// state directory cannot be used; release 1 when FILE is not a pinned namespace. capture exits
/// 1 when its plan cannot rebuild the tree exactly, 2 when the namespace cannot be read;
/// doctor 1 when a step of PLAN will certainly fail here.
#[derive(Debug, Parser)]
#[command(
    name = "mountplan",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate plans: report every problem with the place in the file, then how each valid
    /// plan's command will run (user, capabilities, cwd, environment...). Exit 0 when all are
    /// valid.
    Check(CheckArgs),
    /// Print the dry run: every system call apply will make, in order, and the final mount tree.
    ///
    /// The dry run names files relative to the root of the git work tree the plan is in (the
    /// nearest directory above it holding `.git`), or to the plan's own directory outside one:
    /// `plans/x.toml`, `./plans/x.toml`, an absolute path or `../plans/x.toml` from a
    /// subdirectory all print the same bytes. With --check FILE it prints nothing but compares
    /// the dry run with FILE (checked in beside the plan, say) and exits 1 with a unified diff
    /// when FILE is stale.
    Plan(PlanArgs),
    /// Compare two plans: steps added, removed, moved and changed, the change in the final
    /// mount tree, and the warnings NEW has that OLD has not. Exit 0 when the same, 1 when
    /// different, 2 on error.
    ///
    /// With --rev REV, OLD is read as it is at git revision REV, its includes too:
    /// `mountplan diff --rev main plans/x.toml` shows what a branch changes in plans/x.toml.
    /// Files are named as `plan` names them (relative to the git work tree's root).
    Diff(DiffArgs),
    /// Apply a plan in a fresh namespace, then run COMMAND in the new root (or verify and exit).
    Apply(ApplyArgs),
    /// Undo the host-side changes of an apply that was killed (run automatically by apply).
    Recover(RecoverArgs),
    /// Undo `apply --persist FILE`: unmount the pinned namespace from FILE and remove it.
    Release(ReleaseArgs),
    /// Print a plan that rebuilds the mount tree of a live mount namespace: this process's, or
    /// PID's. Exit 0 when the plan rebuilds it exactly, 1 when it printed a plan that cannot
    /// (what differs is on stderr and in the plan's comments), 2 when the namespace cannot
    /// be read.
    ///
    /// The plan binds what is on the host (a mount whose filesystem is mounted in mountplan's
    /// namespace becomes a bind of the host path its root is at, checked to be the same inode
    /// where the mount can be seen), makes new what only the namespace has (tmpfs with its
    /// size, mode, nr_inodes, uid and gid; devpts; overlay with its layers; other types with
    /// their options as `data`) and what the kernel gives every mount of a type (proc, sysfs,
    /// cgroup2, mqueue...), gives each mount its per-mount flags and its propagation, and makes
    /// the namespaces the process does not share with mountplan. Each step's comment says
    /// where it came from. `mountplan plan` of the result predicts the captured tree; capture
    /// checks that itself before it exits.
    Capture(CaptureArgs),
    /// Report what this kernel and host offer an apply (openat2, the new mount API,
    /// statmount/listmount, idmapped binds, user namespaces and their limits,
    /// dev.tty.legacy_tiocsti) and, with PLAN, which of its steps will fail here and why,
    /// before anything is changed. Exit 0 when the plan (or, without one, any plan) can apply
    /// here, 1 when a step will certainly fail (or the plan is invalid), 2 on usage errors
    /// and unreadable files.
    ///
    /// Nothing on the host is changed: calls are tried on bad descriptors or on detached
    /// mounts that are dropped at once, and what needs a namespace (an unprivileged user
    /// namespace, a throwaway user namespace for an idmapped bind, the mount API as a rootless
    /// apply uses it) is tried in a child process that exits after.
    Doctor(DoctorArgs),
    /// Print the JSON Schema of the plan format (or, with --markdown, the format reference).
    Schema(SchemaArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print a man page (roff): mountplan's own, or a subcommand's (`mountplan man apply`);
    /// with --dir DIR, write every page into DIR.
    Man(ManArgs),
    /// Print a plan built from another tool's configuration: an OCI runtime config.json, a
    /// bubblewrap command line or a systemd-nspawn .nspawn file. The plan is checked as
    /// `check` would before it is printed; everything of the input it does not carry is
    /// listed on stderr, one line each. Exit 0 with a plan, 1 when the input cannot be
    /// imported, 2 when it cannot be read.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print another tool's configuration built from a plan (`export bwrap PLAN`: a bubblewrap
    /// command line). What the tool cannot do is listed on stderr, one line each. Exit 0, 1
    /// when the plan has errors, 2 when it cannot be read.
    #[command(subcommand)]
    Export(ExportCommand),
}

/// Variables given on the command line.
#[derive(Debug, Clone, Args, Default)]
pub struct VarArgs {
    /// Set a plan variable, overriding the plan's `[vars]`: `--set ROOTFS=/srv/rootfs`. The value is
    /// used as written (`${` in it is refused).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub set: Vec<(String, String)>,
    /// The kernel mount API, overriding the plan's `api`: `new` (fsopen, open_tree,
    /// move_mount, mount_setattr), `classic` (mount(2) and umount2(2) on descriptors) or
    /// `auto` (new where the kernel has it).
    #[arg(long = "api", value_name = "API")]
    pub api: Option<ApiArg>,
}

/// `--api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiArg {
    /// The new API where the kernel has it, classic otherwise.
    Auto,
    /// fsopen/fsconfig/fsmount, open_tree, move_mount, mount_setattr.
    New,
    /// mount(2) and umount2(2) only.
    Classic,
}

impl ApiArg {
    /// The model's value.
    pub fn api(self) -> mountplan::model::Api {
        match self {
            ApiArg::Auto => mountplan::model::Api::Auto,
            ApiArg::New => mountplan::model::Api::New,
            ApiArg::Classic => mountplan::model::Api::Classic,
        }
    }
}

pub(super) fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` has no `=`: write NAME=VALUE"))?;
    if k.is_empty()
        || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || k.as_bytes()[0].is_ascii_digit()
    {
        return Err(format!(
            "`{k}` is not a variable name: use letters, digits and `_`, not starting with a digit"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set to a non-empty value.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `mountplan check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Plan files to check. `-` reads one plan from standard input (a pipe or a redirected
    /// file, at most 2 MiB; its includes are relative to the current directory, and it is
    /// named `<stdin>`); `mountplan:NAME` is a fragment shipped inside mountplan.
    #[arg(required = true, value_name = "PLAN")]
    pub plans: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    pub deny_warnings: bool,
    /// When to use colour in diagnostics.
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
}

/// Output of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Diagnostics with source snippets.
    Human,
    /// One JSON document: every diagnostic with code, severity, message, file, line, column,
    /// byte span and help.
    Json,
}

/// `mountplan plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The plan file. `-` reads it from standard input (a pipe or a redirected file, at most
    /// 2 MiB; its includes are relative to the current directory, and it is named `<stdin>`).
    /// `mountplan:NAME` shows a fragment shipped inside mountplan (`mountplan:dev`; a plan
    /// includes one as `include = ["mountplan:dev"]`; docs/plan-format.md lists them, and an
    /// unknown name is told the list).
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Print nothing; compare the dry run (in the --format given, without colour) with FILE,
    /// a checked-in dry run. Exit 0 when FILE is current; 1 when it is stale or missing, with a
    /// unified diff from FILE to the dry run now on stdout and the command that refreshes it on
    /// stderr.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
    /// When to use colour: the text dry run, and diagnostics on stderr (the other formats never have colour).
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
}

/// Output of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For people: header, steps with their system calls and undo, final tree.
    Text,
    /// For scripts: one JSON document (see docs/json.md).
    Json,
    /// For a pull-request comment.
    Markdown,
    /// The DAG as a Mermaid flowchart.
    Mermaid,
    /// The DAG in Graphviz dot.
    Dot,
}

/// `mountplan diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old plan (`-`: standard input). With --rev, the old plan's path in the work tree.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The new plan (`-`: standard input). With --rev it may be left out: then it is OLD, as it
    /// is in the work tree now.
    #[arg(value_name = "NEW", required_unless_present = "rev")]
    pub new: Option<PathBuf>,
    /// Read OLD, and every file it includes, as it is at git revision REV (`HEAD~1`, `main`,
    /// `origin/main`, a commit id) of the repository it is in, with `git ls-tree` and `git
    /// cat-file`. A file missing at REV is an error (exit 2).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// When to use colour: the text diff, and diagnostics on stderr.
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
}

/// Output of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people.
    Text,
    /// For scripts.
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// `mountplan apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Pin the new mount namespace on FILE so `nsenter --mount=FILE` enters it; `mountplan
    /// release FILE` undoes it. Not with a COMMAND. FILE is created (never through a symlink),
    /// or must be an empty regular file you own that does not pin a namespace already; the
    /// namespace is bound onto the file opened, so a symlink planted at FILE cannot redirect
    /// it. Refused for a plan with a pid namespace that mounts its proc (that proc dies with
    /// the apply): set `pid = false` or drop the proc mount.
    #[arg(long, value_name = "FILE", conflicts_with = "command")]
    pub persist: Option<PathBuf>,
    /// Skip comparing /proc/self/mountinfo with the predicted mount tree after the last step.
    #[arg(long)]
    pub no_verify: bool,
    /// Keep the controlling terminal for an interactive COMMAND (by default the command runs in
    /// a new session). Either way a seccomp filter refuses TIOCSTI, so it cannot push input
    /// into the caller's terminal. Not with a plan whose `[process]` has a `console` (the
    /// command then gets a pty of its own, and mountplan relays to the caller's terminal).
    #[arg(long)]
    pub keep_terminal: bool,
    /// Print the plan's warnings before, and the step table (a line per step with its status
    /// and time, and the verification with its notes) on stderr after the steps, also when the
    /// apply succeeds. Without it an apply that succeeds prints nothing of its own (as bwrap,
    /// runc and unshare; `check` shows the warnings); a failed one prints the table and the
    /// failure either way.
    #[arg(short = 'v', long = "report")]
    pub report: bool,
    /// Report format. `json`: one JSON document when the apply ends (after the command exits),
    /// on stderr, or on descriptor N with --report-fd (see docs/json.md).
    #[arg(long, value_enum, default_value_t = ApplyFormat::Text)]
    pub format: ApplyFormat,
    /// Write the JSON report (as --format json, which it implies) to descriptor N, which the
    /// caller opened for writing (`3>report.json`), instead of stderr: stderr then says only
    /// what text mode says (nothing on success, unless -v), so the report is never mixed with
    /// the command's own output. mountplan keeps N open for itself (close-on-exec): the
    /// command does not get it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    pub report_fd: Option<i32>,
    /// Where journals and locks live. Default /run/mountplan as root, else
    /// $XDG_RUNTIME_DIR/mountplan. Created 0700 if missing; it must be yours and writable
    /// only by you, and every directory on the way to it owned by root or you and not
    /// writable by others (unless sticky, like /tmp, with what is in it root's or yours):
    /// otherwise it is refused before anything is done.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The command to run in the new root, after `--`, as the plan's [process] says: by
    /// default in `/`, as uid 0 with Docker's default capabilities and no_new_privs, with the
    /// caller's environment and umask. It is looked up in its own PATH. Every signal is at
    /// its default, except those the caller ignored (under `nohup`, SIGHUP stays ignored);
    /// SIGTERM, SIGINT and SIGHUP sent to mountplan are passed on to it.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Report of `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplyFormat {
    /// The step table on stderr, with -v or when the apply fails.
    Text,
    /// One JSON document (per-step result and timing, the command's status) on stderr, or on
    /// --report-fd N.
    Json,
}

/// `mountplan recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Where journals and locks live (as for apply, and checked the same way). Only journals
    /// you own and only you can write are acted on; lock files no apply holds are removed.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Remove a journal even when some of its records cannot be proved to act on what the
    /// apply changed (listed as `kept`: a directory on their path was moved or replaced since).
    /// Without it such a journal stays, and applies on that root wait for it: check the listed
    /// paths by hand first.
    #[arg(long)]
    pub forget: bool,
}

/// `mountplan release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The file given to `apply --persist` (never followed if it is a symlink). Exit 1 when
    /// it is not a pinned namespace.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `mountplan capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Capture the mount namespace of process PID, as PID sees it (/proc/PID/mountinfo,
    /// mountpoints relative to its root). Without it, mountplan's own.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Capture the tree below PATH (a mountpoint, as the process sees it), which becomes the
    /// plan's root. Without it, the process's root; a foreign namespace's whole tree then ends
    /// with a pivot into it.
    #[arg(long, value_name = "PATH")]
    pub root: Option<PathBuf>,
}

/// `mountplan doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A plan to judge: its host paths (missing ones, their mounts, the flags a rootless apply
    /// finds locked on them, whether a bind of them can be idmapped) and every step that will
    /// fail here.
    #[arg(value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format (json: see docs/json.md).
    #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
    /// When to use colour in the plan's diagnostics.
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
}

/// Output of `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// For people.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// `mountplan completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `mountplan man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (`apply` prints mountplan-apply(1)); without it,
    /// mountplan(1).
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Option<String>,
    /// Write every page into DIR (mountplan.1, mountplan-check.1, mountplan-plan.1, ...),
    /// creating DIR if it is missing, and print the path of each file written.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `mountplan import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An OCI runtime config (`runc spec` writes one): root, mounts, devices, masked and
    /// read-only paths, rootfs propagation, namespaces and the process, built as runc builds
    /// them (its default devices and /dev links included).
    Oci(ImportOciArgs),
    /// A bubblewrap command line, given after `--` (`mountplan import bwrap -- --ro-bind /usr
    /// /usr --proc /proc sh`): every mount, /dev, directory, link and mode option, the
    /// `--unshare-*` options and the process options; the command after the options is a
    /// note.
    Bwrap(ImportBwrapArgs),
    /// A systemd-nspawn settings file: the [Files] section (Bind=, BindReadOnly=,
    /// TemporaryFileSystem=, Overlay=, OverlayReadOnly=, Inaccessible=, ReadOnly=,
    /// PrivateUsers=) and the [Exec] keys a plan's [process] has.
    Nspawn(ImportNspawnArgs),
}

/// Options every importer takes.
#[derive(Debug, Args)]
pub struct ImportCommon {
    /// What the plan's `#:schema` comment points at (a path relative to where the plan will be
    /// kept, or a URL).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "../schema/plan.schema.json"
    )]
    pub schema: String,
}

/// `mountplan import oci`.
#[derive(Debug, Args)]
pub struct ImportOciArgs {
    /// The config.json. Relative paths in it (root.path, bind sources) are relative to its
    /// directory, the bundle, as for `runc run -b`.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub common: ImportCommon,
}

/// `mountplan import bwrap`.
#[derive(Debug, Args)]
pub struct ImportBwrapArgs {
    #[command(flatten)]
    pub common: ImportCommon,
    /// bwrap's arguments, after `--`, as they would follow `bwrap`.
    #[arg(last = true, value_name = "ARGS", allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `mountplan import nspawn`.
#[derive(Debug, Args)]
pub struct ImportNspawnArgs {
    /// The .nspawn file. Its root is the machine directory: give it with --set ROOTFS=DIR
    /// when applying the plan.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub common: ImportCommon,
}

/// `mountplan export ...`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A bubblewrap command line, shell-quoted and starting with `bwrap`, that builds what the
    /// plan builds; `-- CMD` is left for you to add.
    Bwrap(ExportBwrapArgs),
}

/// `mountplan export bwrap`.
#[derive(Debug, Args)]
pub struct ExportBwrapArgs {
    /// The plan.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Print the arguments NUL-separated (for `xargs -0`), instead of one shell-quoted line.
    #[arg(long)]
    pub null: bool,
}

/// `mountplan schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print the plan format reference as Markdown (docs/plan-format.md) instead.
    #[arg(long)]
    pub markdown: bool,
}
