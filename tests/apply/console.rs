//! `[process] console = "pty"`: the command gets a pty of the new root's devpts, bound onto
//! /dev/console (0600, 0:0), as its standard descriptors and controlling terminal; mountplan
//! relays between the caller and the pty's master. Checked from inside (tty, stat, mountinfo,
//! the descriptors the command holds) and from outside (the output relayed, the exit status,
//! the caller's terminal mode after, the host's mount table unchanged).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Stdio;

use crate::support::*;

/// A busybox root with proc, a tmpfs /dev (NODES), a new devpts and a pivot_root.
const CONSOLE: &str = r#"
version = 1
name = "console"

[root]
path = "${ROOTFS}"

[namespaces]
user = USER
pid = PID

[process]
console = "pty"

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"
options = ["nosuid", "nodev", "noexec"]

[[step]]
kind = "mount"
id = "dev"
type = "tmpfs"
target = "/dev"
options = ["nosuid"]
mode = "0755"
NODES
[[step]]
kind = "mount"
id = "pts"
type = "devpts"
target = "/dev/pts"
options = ["nosuid", "noexec"]
ptmxmode = "0666"
mode = "0620"

[[step]]
kind = "pivot"
id = "pivot"
strategy = "pivot-root"
"#;

/// /dev/null and /dev/tty (5:0: the controlling terminal, whatever it is).
const NODES: &str = r#"
[[step]]
kind = "mknod"
path = "/dev/null"
node = "char"
major = 1
minor = 3
mode = "0666"

[[step]]
kind = "mknod"
path = "/dev/tty"
node = "char"
major = 5
minor = 0
mode = "0666"
"#;

struct Sandbox {
    s: Scratch,
    plan: PathBuf,
    root: PathBuf,
}

fn sandbox(name: &str, pid: bool, rootless: bool) -> Sandbox {
    let s = Scratch::new(name);
    let root = s.path("root");
    busybox_root(&root);
    let text = CONSOLE
        .replace("USER", &rootless.to_string())
        .replace("PID", &pid.to_string())
        .replace("NODES", if rootless { "" } else { NODES });
    let plan = s.write("console.toml", &text);
    Sandbox { s, plan, root }
}

impl Sandbox {
    fn apply(&self) -> Run<'static> {
        Run::apply(&self.plan, &self.s.state()).set("ROOTFS", &self.root)
    }
}

/// The output as lines, without the carriage returns the pty's line discipline adds.
fn lines(out: &str) -> Vec<String> {
    out.replace('\r', "").lines().map(str::to_string).collect()
}

const INSIDE: &str = "tty; stat -c '%a %u %g' /dev/console; \
                      grep ' /dev/console ' /proc/self/mountinfo; exit 7";

/// What INSIDE printed is the pty of the new devpts, bound onto /dev/console, 0600 0:0.
fn check_inside(what: &str, o: &Out) {
    assert_eq!(o.status, 7, "{what}: the exit status passes through: {o:?}");
    let l = lines(&o.stdout);
    assert_eq!(l.len(), 3, "{what}: {o:?}");
    // The first pty of a new devpts instance is number 0.
    assert_eq!(l[0], "/dev/pts/0", "{what}: tty names the console's pty");
    assert_eq!(
        l[1], "600 0 0",
        "{what}: /dev/console is 0600, owned by 0:0"
    );
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPER
    let f: Vec<&str> = l[2].split_whitespace().collect();
    let dash = f.iter().position(|x| *x == "-").expect("a mountinfo line");
    assert_eq!(
        f[3], "/0",
        "{what}: the bind's root is the pty slave: {}",
        l[2]
    );
    assert_eq!(f[4], "/dev/console", "{what}: {}", l[2]);
    assert_eq!(f[dash + 1], "devpts", "{what}: {}", l[2]);
}

#[test]
fn the_command_gets_a_pty_of_the_new_devpts_bound_onto_dev_console() {
    let Some(_serial) =
        privileged("the_command_gets_a_pty_of_the_new_devpts_bound_onto_dev_console")
    else {
        return;
    };
    for pid in [false, true] {
        let sb = sandbox("console", pid, false);
        let host = host_mounts();
        // Its stdout is the pty: what it prints reaches mountplan's stdout through the relay.
        let o = sb.apply().cmd(&["/bin/sh", "-c", INSIDE]).run();
        check_inside(&format!("pid={pid}"), &o);
        assert_eq!(
            host,
            host_mounts(),
            "pid={pid}: the host's mount table changed"
        );
    }
}

#[test]
fn the_caller_s_input_reaches_the_command_through_the_pty() {
    let Some(_serial) = privileged("the_caller_s_input_reaches_the_command_through_the_pty") else {
        return;
    };
    let sb = sandbox("console-input", true, false);
    let mut c = sb
        .apply()
        .cmd(&[
            "/bin/sh",
            "-c",
            "read l; echo \"got:$l\"; read m || echo eof",
        ])
        .command();
    c.stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut i = child.stdin.take().unwrap();
    i.write_all(b"hello\n").unwrap();
    // The end of the caller's input is the end of the command's (the pty's VEOF).
    drop(i);
    let o = finish(child, std::time::Duration::from_secs(60));
    assert_eq!(o.status, 0, "{o:?}");
    let l = lines(&o.stdout);
    assert!(l.contains(&"got:hello".to_string()), "{o:?}");
    assert_eq!(l.last().map(String::as_str), Some("eof"), "{o:?}");
}

#[test]
fn a_rootless_apply_gets_its_console_too() {
    let Some(_serial) = privileged("a_rootless_apply_gets_its_console_too") else {
        return;
    };
    if !rootless_possible("a_rootless_apply_gets_its_console_too") {
        return;
    }
    let sb = sandbox("console-rootless", true, true);
    let state = sb.s.state();
    std::fs::create_dir_all(&state).unwrap();
    nix::unistd::chown(
        &state,
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    let mut r = sb.apply().cmd(&["/bin/sh", "-c", INSIDE]);
    r.nobody = true;
    check_inside("rootless", &r.run());
}

/// Inside: the devpts's device, then each character device the shell holds (descriptor,
/// device of its filesystem, its own major:minor in hex), then its controlling terminal (`tty_nr` of /proc/PID/stat, once
/// /dev/tty, 5:0, opened: it fails without one) and the device number of /dev/pts/0.
const DESCRIPTORS: &str = "p=$$; stat -c 'pts %d' /dev/pts/ptmx; \
    for n in $(ls /proc/$p/fd); do \
      [ -c /proc/$p/fd/$n ] && stat -L -c \"fd $n %d %t:%T\" /proc/$p/fd/$n; \
    done; \
    exec 3</dev/tty && set -- $(cat /proc/$p/stat) && echo \"ctty $7\"; \
    stat -c 'pty0 %t %T' /dev/pts/0; exit 5";

#[test]
fn the_command_holds_no_descriptor_of_the_caller_s_terminal() {
    let Some(_serial) = privileged("the_command_holds_no_descriptor_of_the_caller_s_terminal")
    else {
        return;
    };
    for pid in [false, true] {
        let sb = sandbox("console-fds", pid, false);
        let host = host_mounts();
        let (status, out, before, after) =
            on_a_terminal(sb.apply().cmd(&["/bin/sh", "-c", DESCRIPTORS]).command());
        let what = format!("pid={pid}");
        assert_eq!(status, 5, "{what}: {out}");
        let l = lines(&out);
        let field = |p: &str| -> String {
            l.iter()
                .find_map(|x| x.strip_prefix(p))
                .unwrap_or_else(|| panic!("{what}: no `{p}` line: {out}"))
                .to_string()
        };
        let pts = field("pts ");
        let fds: Vec<&String> = l.iter().filter(|x| x.starts_with("fd ")).collect();
        // 0, 1 and 2 at least, every one the console's pty slave (136:0 of the new root's
        // devpts): none on the caller's terminal, and not the master (5:2) either.
        assert!(fds.len() >= 3, "{what}: {out}");
        for f in &fds {
            assert!(
                f.ends_with(&format!(" {pts} 88:0")),
                "{what}: {f} is not the console: {out}"
            );
        }
        // The controlling terminal is the console's pty: its device number is /dev/pts/0's
        // of the new devpts (the caller's pty is not number 0, see `on_a_terminal`).
        let ctty: u64 = field("ctty ").parse().unwrap();
        let dev = field("pty0 ");
        let mut mm = dev.split(' ').map(|h| u64::from_str_radix(h, 16).unwrap());
        let (major, minor) = (mm.next().unwrap(), mm.next().unwrap());
        let nr = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
        assert_eq!(
            ctty, nr,
            "{what}: the controlling terminal is not the console: {out}"
        );
        // The caller's terminal is back in the mode it was in (the relay made it raw).
        assert_eq!(
            before, after,
            "{what}: the caller's terminal mode was not restored"
        );
        assert_eq!(
            host,
            host_mounts(),
            "{what}: the host's mount table changed"
        );
    }
}

#[test]
fn a_console_with_keep_terminal_is_refused_at_the_key() {
    let sb = sandbox("console-keep", true, false);
    let o = sb.apply().arg("--keep-terminal").cmd(&["/bin/true"]).run();
    assert_eq!(o.status, 125, "{o:?}");
    assert!(
        o.stderr.contains("mountplan::apply::keep-terminal-console"),
        "{o:?}"
    );
    assert!(o.stderr.contains("console = \"pty\""), "{o:?}");
}

#[test]
fn a_host_terminal_given_with_set_is_the_console_and_keeps_its_host_mode() {
    let Some(_serial) =
        privileged("a_host_terminal_given_with_set_is_the_console_and_keeps_its_host_mode")
    else {
        return;
    };
    use std::os::unix::fs::MetadataExt;
    let sb = sandbox("console-host", true, false);
    let plan = std::fs::read_to_string(&sb.plan)
        .unwrap()
        .replace("console = \"pty\"", "console = \"${CONSOLE}\"");
    std::fs::write(&sb.plan, plan).unwrap();
    // The caller's side: a pty whose master the test holds, its slave given by path.
    let (master, slave) = openpty();
    let path = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).unwrap();
    let before = std::fs::metadata(&path).unwrap();
    let host = host_mounts();
    let mut c = sb
        .apply()
        .set("CONSOLE", &path)
        .cmd(&[
            "/bin/sh",
            "-c",
            "stat -c '%a %u %g %t %T' /dev/console; grep ' /dev/console ' /proc/self/mountinfo; \
             exec 3</dev/tty && echo ctty; exit 6",
        ])
        .command();
    c.stdout(Stdio::piped());
    let o = finish(c.spawn().unwrap(), std::time::Duration::from_secs(60));
    assert_eq!(o.status, 6, "{o:?}");
    // mountplan's own stdout got nothing: the command wrote to the console.
    assert_eq!(o.stdout, "", "{o:?}");
    // Everything the command wrote is on the terminal: read to the end once the test's own
    // slave is closed too (EIO).
    drop(slave);
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut f, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("read the terminal: {e}"),
        }
    }
    let l = lines(&String::from_utf8_lossy(&out));
    let rdev = before.rdev();
    let want = format!(
        "{:o} {} {} {:x} {:x}",
        before.mode() & 0o7777,
        before.uid(),
        before.gid(),
        libc::major(rdev),
        libc::minor(rdev)
    );
    assert_eq!(
        l.first(),
        Some(&want),
        "/dev/console is the host terminal: {l:?}"
    );
    let f: Vec<&str> = l[1].split_whitespace().collect();
    let dash = f.iter().position(|x| *x == "-").expect("a mountinfo line");
    assert_eq!(f[4], "/dev/console", "{l:?}");
    assert_eq!(f[dash + 1], "devpts", "{l:?}");
    assert_eq!(
        l[2], "ctty",
        "the console is the controlling terminal: {l:?}"
    );
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (before.mode(), before.uid(), before.gid()),
        (after.mode(), after.uid(), after.gid()),
        "the host terminal's mode and owner changed"
    );
    assert_eq!(host, host_mounts(), "the host's mount table changed");
}

#[test]
fn a_console_path_that_is_not_a_terminal_is_refused_before_any_step() {
    let Some(_serial) =
        privileged("a_console_path_that_is_not_a_terminal_is_refused_before_any_step")
    else {
        return;
    };
    let sb = sandbox("console-notty", true, false);
    let plan = std::fs::read_to_string(&sb.plan)
        .unwrap()
        .replace("console = \"pty\"", "console = \"${CONSOLE}\"");
    std::fs::write(&sb.plan, plan).unwrap();
    let host = host_mounts();
    let o = sb
        .apply()
        .set("CONSOLE", std::path::Path::new("/dev/null"))
        .cmd(&["/bin/true"])
        .run();
    assert_eq!(o.status, 125, "{o:?}");
    assert!(o.stderr.contains("is not a terminal"), "{o:?}");
    assert_eq!(host, host_mounts(), "the host's mount table changed");
}
