//! The command's process, validated: capabilities, ids, no_new_privs, working directory,
//! environment, hostname, umask and console (`[process]` of a plan).
//!
//! Built only by `validate` from `raw::Process`; read by `render` (what the dry run says the
//! command gets) and `exec` (what it sets up before the exec). Capabilities are a [`CapSet`]
//! of kernel numbers, never names past validation.

use std::fmt;

use super::{HostPath, Mode, RootPath};
use crate::source::Loc;

/// The capabilities the kernel knows, by number (`CAP_CHOWN` is 0), as `capability.h` names
/// them without the `CAP_` prefix. The last is 40 (`CAP_CHECKPOINT_RESTORE`, Linux 5.9).
pub const CAP_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// A capability by its kernel number (0 to 40).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cap(u8);

impl Cap {
    /// `CAP_SYS_CHROOT` (18): what leaves a plain chroot.
    pub const SYS_CHROOT: Cap = Cap(18);
    /// `CAP_SYS_ADMIN` (21).
    pub const SYS_ADMIN: Cap = Cap(21);

    /// A name as a plan may write it: `CAP_SYS_ADMIN` or `sys_admin`, in any case.
    pub fn parse(name: &str) -> Option<Cap> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        CAP_NAMES
            .iter()
            .position(|n| *n == bare)
            .map(|i| Cap(i as u8))
    }
    /// The kernel's number.
    pub fn number(self) -> u8 {
        self.0
    }
    /// The name with its prefix, `CAP_SYS_ADMIN`.
    pub fn name(self) -> String {
        format!("CAP_{}", CAP_NAMES[usize::from(self.0)])
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CAP_{}", CAP_NAMES[usize::from(self.0)])
    }
}

/// A set of capabilities: bit N is capability N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(u64);

/// Docker's default capabilities (moby's `oci/caps/defaults.go`: what `docker run` gives a
/// container; containerd's default spec has the same fourteen), in kernel order.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SYS_CHROOT",
    "MKNOD",
    "AUDIT_WRITE",
    "SETFCAP",
];

impl CapSet {
    /// No capability.
    pub const EMPTY: CapSet = CapSet(0);

    /// Every capability mountplan knows (0 to 40).
    pub fn known() -> CapSet {
        CapSet((1u64 << CAP_NAMES.len()) - 1)
    }
    /// [`DEFAULT_CAPS`].
    pub fn docker_default() -> CapSet {
        let mut s = CapSet::EMPTY;
        for n in DEFAULT_CAPS {
            if let Some(c) = Cap::parse(n) {
                s.insert(c);
            }
        }
        s
    }
    /// From bits (bit N is capability N).
    pub fn from_bits(bits: u64) -> CapSet {
        CapSet(bits)
    }
    /// The bits.
    pub fn bits(self) -> u64 {
        self.0
    }
    /// Adds `c`.
    pub fn insert(&mut self, c: Cap) {
        self.0 |= 1 << c.0;
    }
    /// Removes `c`.
    pub fn remove(&mut self, c: Cap) {
        self.0 &= !(1 << c.0);
    }
    /// True when `c` is in the set.
    pub fn contains(self, c: Cap) -> bool {
        self.0 & (1 << c.0) != 0
    }
    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The capabilities mountplan knows in the set, in kernel order.
    pub fn iter(self) -> impl Iterator<Item = Cap> {
        (0..CAP_NAMES.len() as u8)
            .map(Cap)
            .filter(move |c| self.contains(*c))
    }
    /// The names, `CAP_CHOWN`, ..., in kernel order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(Cap::name).collect()
    }
}

/// What the plan asked for in `capabilities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapsAsked {
    /// Nothing: Docker's default set as uid 0, no capability as any other uid.
    Default,
    /// `"all"`: every capability mountplan itself has (as root: every one the kernel has).
    All,
    /// A list (`[]` for none).
    Listed,
}

/// The environment of the command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// Start from an empty environment instead of the caller's.
    pub clear: bool,
    /// Names removed (after `clear`, before `set`), sorted.
    pub unset: Vec<String>,
    /// Names set (last), sorted by name.
    pub set: Vec<(String, String)>,
}

impl Env {
    /// The command's environment, given the caller's `(name, value)` pairs (bytes: the
    /// caller's environment need not be UTF-8): kept or cleared, then `unset` removed, then
    /// `set` added (replacing what is there). A name the caller has twice is passed on once,
    /// the first (as getenv(3) finds it).
    pub fn apply<'a>(
        &'a self,
        caller: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Vec<(&'a [u8], &'a [u8])> {
        let mut out: Vec<(&[u8], &[u8])> = Vec::new();
        if !self.clear {
            for (k, v) in caller {
                let gone = self.unset.iter().any(|u| u.as_bytes() == k)
                    || self.set.iter().any(|(s, _)| s.as_bytes() == k)
                    || out.iter().any(|(o, _)| *o == k);
                if !gone {
                    out.push((k, v));
                }
            }
        }
        for (k, v) in &self.set {
            out.push((k.as_bytes(), v.as_bytes()));
        }
        out
    }
}

/// A console for the command: a terminal bound onto `/dev/console`, the command's standard
/// descriptors and controlling terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    /// Which terminal.
    pub source: ConsoleSource,
    /// Where it is bound: `/dev/console`.
    pub target: RootPath,
    /// Where `console` is written.
    pub loc: Loc,
}

/// The terminal of a [`Console`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleSource {
    /// `"pty"`: a new pseudo-terminal of the plan's devpts, its slave made 0600 and 0:0;
    /// mountplan relays between the caller and its master.
    Pty {
        /// The devpts mountpoint whose `ptmx` is opened (after the pivot), such as `/dev/pts`.
        devpts: RootPath,
        /// The id of the step that mounts it.
        step: String,
    },
    /// A terminal of the host's, by its path (`console = "${CONSOLE}"` with `--set
    /// CONSOLE=/dev/pts/N`: a pty whose master the caller holds), opened in the new mount
    /// namespace before the steps; its mode and owner on the host are left as they are.
    Host(HostPath),
}

/// Where the keys of `[process]` are written (for diagnostics of apply time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessLocs {
    /// `capabilities`.
    pub caps: Option<Loc>,
    /// `uid`.
    pub uid: Option<Loc>,
    /// `gid`.
    pub gid: Option<Loc>,
    /// `groups`.
    pub groups: Option<Loc>,
    /// `cwd`.
    pub cwd: Option<Loc>,
}

/// How the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// What the plan asked for.
    pub asked: CapsAsked,
    /// The capabilities the command gets (effective, permitted, inheritable, bounding, and
    /// ambient for a uid other than 0), after `CAP_SYS_CHROOT` is dropped for a plain chroot.
    /// For [`CapsAsked::All`] these are the capabilities mountplan knows; the executor takes
    /// every one it has itself (as root: every one the kernel has).
    pub caps: CapSet,
    /// `CAP_SYS_CHROOT` was taken out because the pivot can end in a plain chroot.
    pub chroot_drop: bool,
    /// `PR_SET_NO_NEW_PRIVS` (default true).
    pub no_new_privs: bool,
    /// The working directory, in the command's root (default `/`).
    pub cwd: RootPath,
    /// The environment changes.
    pub env: Env,
    /// The hostname of the new UTS namespace.
    pub hostname: Option<String>,
    /// The uid the command runs as (default 0).
    pub uid: u32,
    /// The gid the command runs as (default 0).
    pub gid: u32,
    /// Supplementary groups (default none).
    pub groups: Vec<u32>,
    /// The umask; `None` (the default) is the caller's, read when apply starts.
    pub umask: Option<Mode>,
    /// The console the command gets (default none: the caller's descriptors 0, 1 and 2).
    pub console: Option<Console>,
    /// Where the keys are written.
    pub locs: ProcessLocs,
}

impl Default for Process {
    fn default() -> Self {
        Process {
            asked: CapsAsked::Default,
            caps: CapSet::docker_default(),
            chroot_drop: false,
            no_new_privs: true,
            cwd: RootPath::root(),
            env: Env::default(),
            hostname: None,
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            umask: None,
            console: None,
            locs: ProcessLocs::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_parse_with_and_without_the_prefix_in_any_case() {
        assert_eq!(Cap::parse("CAP_SYS_ADMIN"), Some(Cap::SYS_ADMIN));
        assert_eq!(Cap::parse("sys_admin"), Some(Cap::SYS_ADMIN));
        assert_eq!(Cap::parse("Cap_Sys_Chroot"), Some(Cap::SYS_CHROOT));
        assert_eq!(
            Cap::parse("CAP_CHECKPOINT_RESTORE").map(Cap::number),
            Some(40)
        );
        assert_eq!(Cap::parse("CAP_SYS_ADMN"), None);
        assert_eq!(Cap::parse(""), None);
        assert_eq!(Cap::SYS_ADMIN.to_string(), "CAP_SYS_ADMIN");
    }

    #[test]
    fn the_default_set_is_docker_s_fourteen() {
        let d = CapSet::docker_default();
        // Written out, not computed with the code under test: the bits of moby's list.
        let want: u64 = (1 << 0)
            | (1 << 1)
            | (1 << 3)
            | (1 << 4)
            | (1 << 5)
            | (1 << 6)
            | (1 << 7)
            | (1 << 8)
            | (1 << 10)
            | (1 << 13)
            | (1 << 18)
            | (1 << 27)
            | (1 << 29)
            | (1 << 31);
        assert_eq!(d.bits(), want);
        assert_eq!(d.bits(), 0xa80425fb);
        assert!(!d.contains(Cap::SYS_ADMIN));
        assert_eq!(CapSet::known().bits(), 0x1ff_ffff_ffff);
    }

    #[test]
    fn the_environment_is_cleared_or_kept_then_unset_then_set() {
        let e = Env {
            clear: false,
            unset: vec!["HOME".into()],
            set: vec![("PATH".into(), "/bin".into()), ("X".into(), "1".into())],
        };
        let b = |v: &[(&'static str, &'static str)]| -> Vec<(&'static [u8], &'static [u8])> {
            v.iter()
                .map(|(k, x)| (k.as_bytes(), x.as_bytes()))
                .collect()
        };
        let caller = b(&[("HOME", "/root"), ("PATH", "/usr/bin"), ("TERM", "xterm")]);
        assert_eq!(
            e.apply(caller.iter().copied()),
            b(&[("TERM", "xterm"), ("PATH", "/bin"), ("X", "1")])
        );
        let cleared = Env {
            clear: true,
            ..e.clone()
        };
        assert_eq!(
            cleared.apply(caller.iter().copied()),
            b(&[("PATH", "/bin"), ("X", "1")])
        );
        // A name twice in the caller's environment is passed on once (the first, as getenv).
        let dup = b(&[("A", "1"), ("A", "2")]);
        assert_eq!(Env::default().apply(dup.iter().copied()), b(&[("A", "1")]));
    }
}
