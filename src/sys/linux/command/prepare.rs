//! Everything the process that becomes the command needs, built before it starts.
//!
//! Takes the plan's [`Process`], the command line, the caller's umask and environment;
//! returns a [`Setup`] ([`Setup::prepare`]: C strings, the command's environment, the files
//! execvp would try on its `PATH`, the capabilities kept and those missing, the seccomp
//! program). Takes a [`Failed`]; returns its message ([`Setup::message`]), which for a
//! program not found says what is missing in the new root.

use std::ffi::CString;

use nix::errno::Errno;

use super::caps::{available, last_cap};
use super::{Failed, Setup, Stage, tiocsti_filter};
use crate::model::{CapSet, CapsAsked, Process};

/// `/bin:/usr/bin`, what execvp searches when there is no `PATH` (glibc's `_CS_PATH`).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

impl Setup {
    /// Prepares the command `args` (checked: no NUL) to run as `process` says. `caller_umask`
    /// is the umask mountplan was started with; `caller_env` the caller's environment;
    /// `keep_terminal` leaves the session as it is; `console` makes descriptor 0 (the
    /// console's pty) the controlling terminal of a new session; `userns` means a rootless apply (no
    /// setgroups: the kernel denies it there).
    pub fn prepare(
        process: &Process,
        args: &[CString],
        caller_umask: u32,
        caller_env: &[(Vec<u8>, Vec<u8>)],
        keep_terminal: bool,
        console: bool,
        userns: bool,
    ) -> Setup {
        let program = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let env: Vec<CString> = process
            .env
            .apply(caller_env.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
            .into_iter()
            .filter_map(|(k, v)| {
                let mut e = k.to_vec();
                e.push(b'=');
                e.extend_from_slice(v);
                CString::new(e).ok()
            })
            .collect();
        let path = env
            .iter()
            .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
            .unwrap_or(DEFAULT_PATH);
        let file = args.first().map(|a| a.as_bytes()).unwrap_or(b"");
        let candidates = candidates(file, path);
        let searched = (!file.contains(&b'/')).then(|| String::from_utf8_lossy(path).into_owned());
        let last_cap = last_cap();
        let kernel = if last_cap >= 63 {
            u64::MAX
        } else {
            (1u64 << (last_cap + 1)) - 1
        };
        // What this process can pass on: a capability it lacks (a caller whose bounding set
        // was narrowed) cannot be given, and asking for it by name is an error.
        let available = available(last_cap) & kernel;
        // The default set and "all" take what there is; a list must be given whole.
        let (caps, missing) = match process.asked {
            CapsAsked::All => (available, 0),
            CapsAsked::Default => (process.caps.bits() & available, 0),
            CapsAsked::Listed => {
                let want = process.caps.bits() & kernel;
                (want & available, want & !available)
            }
        };
        let argv: Vec<*const libc::c_char> = args
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let sh_argv: Vec<*const libc::c_char> = std::iter::once(c"/bin/sh".as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .chain(args.iter().skip(1).map(|a| a.as_ptr()))
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp: Vec<*const libc::c_char> = env
            .iter()
            .map(|e| e.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let sys_admin = CapSet::from_bits(caps).contains(crate::model::Cap::SYS_ADMIN);
        Setup {
            program,
            cwd_text: process.cwd.to_string(),
            ids: (process.uid, process.gid, process.groups.clone()),
            searched,
            setsid: !keep_terminal || console,
            console,
            umask: process.umask.map_or(caller_umask, |m| m.bits()) as libc::mode_t,
            _args: args.to_vec(),
            argv,
            sh_argv,
            _env: env,
            envp,
            candidates,
            cwd: CString::new(process.cwd.as_str()).unwrap_or_else(|_| c"/".to_owned()),
            set_groups: !userns,
            groups: process.groups.clone(),
            uid: process.uid,
            gid: process.gid,
            caps,
            missing,
            last_cap,
            no_new_privs: process.no_new_privs,
            seccomp: tiocsti_filter(),
            seccomp_required: keep_terminal || sys_admin,
        }
    }

    /// The message for a failure of [`super::become_command`].
    /// Called in the process whose exec failed (inside the new root): for ENOENT it says what
    /// is missing there, the program or its ELF or `#!` interpreter, found on the PATH execvp
    /// searched.
    pub fn message(&self, f: Failed) -> String {
        if f.stage == Stage::Exec && f.errno == libc::ENOENT {
            let path = self.searched.as_deref().unwrap_or("");
            if let Some(m) = crate::sys::linux::elf::why_not_found(&self.program, path.as_ref()) {
                return m;
            }
        }
        let (uid, gid, groups) = &self.ids;
        let call = match f.stage {
            Stage::Seccomp => "prctl(PR_SET_SECCOMP) of the filter that stops TIOCSTI \
                               (needed with --keep-terminal or CAP_SYS_ADMIN)"
                .to_string(),
            Stage::Terminal => {
                "ioctl(0, TIOCSCTTY) (the console's pty as controlling terminal)".to_string()
            }
            Stage::Bounding => "prctl(PR_CAPBSET_DROP)".to_string(),
            Stage::Groups => format!("setgroups({groups:?}) ([process] groups)"),
            Stage::Gid => format!("setresgid({gid}, {gid}, {gid}) ([process] gid)"),
            Stage::Uid => format!("setresuid({uid}, {uid}, {uid}) ([process] uid)"),
            Stage::Capset if self.missing != 0 => format!(
                "capset() ([process] capabilities): mountplan itself lacks {} (not in its \
                 permitted or bounding set), so it cannot give them",
                CapSet::from_bits(self.missing).names().join(", ")
            ),
            Stage::Capset => "capset() ([process] capabilities)".to_string(),
            Stage::Ambient => {
                "prctl(PR_CAP_AMBIENT_RAISE) ([process] capabilities, for a uid other than 0)"
                    .to_string()
            }
            Stage::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS, 1)".to_string(),
            Stage::Chdir => format!("chdir({:?}) ([process] cwd)", self.cwd_text),
            Stage::Exec => match &self.searched {
                Some(p) => format!("execve of each entry of the command's PATH {p:?}"),
                None => "execve".to_string(),
            },
        };
        format!(
            "cannot run `{}`: {call} => {}",
            self.program,
            crate::sys::errno_words(Errno::from_raw(f.errno))
        )
    }
}

/// The files execvp would try for `file` with `path`: `file` itself when it has a `/`, else
/// `DIR/file` for each entry (an empty entry is the working directory).
fn candidates(file: &[u8], path: &[u8]) -> Vec<CString> {
    if file.is_empty() {
        return Vec::new();
    }
    if file.contains(&b'/') {
        return CString::new(file).into_iter().collect();
    }
    path.split(|b| *b == b':')
        .filter_map(|dir| {
            let mut c = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            c.push(b'/');
            c.extend_from_slice(file);
            CString::new(c).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_search_tries_what_execvp_would() {
        let c = |f: &str, p: &str| -> Vec<String> {
            candidates(f.as_bytes(), p.as_bytes())
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(c("sh", "/usr/bin:/bin"), ["/usr/bin/sh", "/bin/sh"]);
        assert_eq!(c("sh", "/a::/b"), ["/a/sh", "./sh", "/b/sh"]);
        assert_eq!(c("./x", "/a"), ["./x"]);
        assert_eq!(c("/bin/sh", "/a"), ["/bin/sh"]);
        assert!(c("", "/a").is_empty());
    }
}
