//! What the command cannot reach: the host through host processes, the mountplan binary, the
//! terminal's input queue, and the host from a plain chroot.

use super::*;

/// As root, with `pid = false` and proc mounted (the host's processes visible), the command
/// cannot read a host file through `/proc/PID/root` of any host process, nor follow or read
/// any descriptor of mountplan through `/proc/$PPID/fd/N` (those the caller leaked into it,
/// at 100 and 1000, are closed), nor open `/proc/$PPID/exe` (nor `environ`, with the default
/// capabilities).
///
/// Twice: with the default capabilities (the kernel refuses a process whose capabilities are
/// not a superset of its target's, and mountplan is not dumpable), and with `"all"` under a
/// caller without CAP_SYS_PTRACE (as in a container): the command then has every capability
/// mountplan has, and only mountplan being non-dumpable keeps it out.
#[test]
fn privileges_the_command_cannot_reach_the_host_through_host_processes() {
    let Some(_serial) =
        privileged("privileges_the_command_cannot_reach_the_host_through_host_processes")
    else {
        return;
    };
    let Some(sb) = sandbox("host-procs") else {
        return;
    };
    let secret = sb.secret.display().to_string();
    // Every host process's root, the parent's descriptors, the parent's binary.
    let probe = format!(
        "n=0; for d in /proc/[0-9]*; do \
           if cat $d/root{secret} >/dev/null 2>&1; then n=$((n+1)); echo via=$d; fi; \
         done; echo roots_read=$n; \
         echo pids=$(ls -d /proc/[0-9]* | wc -l); \
         fds=$(ls /proc/$PPID/fd 2>/dev/null | tr '\\n' ' '); echo parent_fds=$fds; \
         for n in $fds 100 1000; do [ $n -ge 3 ] || continue; \
           readlink /proc/$PPID/fd/$n >/dev/null 2>&1 && echo link_read=$n; \
           [ -f /proc/$PPID/fd/$n ] && grep -q secret /proc/$PPID/fd/$n && echo leaked_read=$n; \
         done; \
         /bin/helper open /proc/$PPID/exe | sed s/^/exe_/; \
         /bin/helper open /proc/$PPID/environ | sed s/^/environ_/; \
         grep CapEff /proc/self/status | tr -d '\\t' | tr : =; \
         echo end"
    );
    for (process, no_ptrace) in [("", false), ("capabilities = \"all\"", true)] {
        let plan = sb.plan("pid = false", process, PIVOT);
        let host = host_mounts();
        let r = sb.apply(&plan).cmd(&["/bin/sh", "-c", &probe]);
        let mut c = if no_ptrace {
            let mut c = Command::new("setpriv");
            c.arg("--bounding-set=-sys_ptrace").arg(BIN).args(&r.args);
            c.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c
        } else {
            r.command()
        };
        let leak = std::fs::File::open(&sb.secret).unwrap();
        let raw = leak.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe.
        unsafe {
            c.pre_exec(move || {
                // Without CLOEXEC: these reach mountplan, as a careless caller's would.
                for n in [100, 1000] {
                    if libc::dup2(raw, n) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
        drop(leak);
        assert_eq!(o.status, 0, "{process}: {}", o.stderr);
        let kv = kv(&o.stdout);
        eprintln!(
            "privileges: {process:?} no_ptrace={no_ptrace}: CapEff {}, host processes visible: \
             {}, roots read: {}, mountplan's descriptors: {}",
            kv["CapEff"], kv["pids"], kv["roots_read"], kv["parent_fds"]
        );
        if no_ptrace {
            // Every capability but CAP_SYS_PTRACE: what mountplan itself has.
            let eff = u64::from_str_radix(&kv["CapEff"], 16).unwrap();
            assert_eq!(eff, own_caps() & !(1 << 19), "{}", o.stdout);
        }
        // The probe saw the host's processes (a pid namespace would hide them): it ran.
        assert!(kv["pids"].parse::<u32>().unwrap() > 5, "{}", o.stdout);
        assert_eq!(
            kv["roots_read"], "0",
            "{process}: a host file read via /proc/PID/root:\n{}",
            o.stdout
        );
        assert!(!o.stdout.contains("the host's secret"), "{}", o.stdout);
        // The numbers of the parent's descriptors can be listed (the directory is root's,
        // like the command), but none can be followed or read, and the leaked ones are closed.
        assert!(!o.stdout.contains("leaked_read"), "{process}: {}", o.stdout);
        assert!(!o.stdout.contains("link_read"), "{process}: {}", o.stdout);
        let listed: Vec<&str> = kv["parent_fds"].split_whitespace().collect();
        assert!(
            !listed.contains(&"100") && !listed.contains(&"1000"),
            "the leaked descriptors are still open in mountplan: {listed:?}"
        );
        assert_eq!(kv["exe_open"], "EACCES", "{process}: {}", o.stdout);
        if no_ptrace {
            // Linux lets a process whose capabilities cover its target's read the target's
            // environ (and cmdline, auxv) even when it is not dumpable: here, the caller's
            // environment, which the command gets by default anyway.
            eprintln!("privileges: with \"all\": environ {}", kv["environ_open"]);
        } else {
            assert_eq!(kv["environ_open"], "EACCES", "{process}: {}", o.stdout);
        }
        assert!(o.stdout.contains("end"), "{}", o.stdout);
        assert_eq!(host, host_mounts());
    }
}

/// CVE-2019-5736: the command opens `/proc/$PPID/exe` (mountplan, in the host's pid
/// namespace), forks a process that outlives the apply, and once mountplan has exited
/// (ETXTBSY until then) opens the binary for writing through `/proc/self/fd/N`. What runs is
/// a copy of mountplan in the scratch directory; it must be unchanged afterwards.
#[test]
fn privileges_the_command_cannot_overwrite_the_mountplan_binary() {
    let Some(_serial) = privileged("privileges_the_command_cannot_overwrite_the_mountplan_binary")
    else {
        return;
    };
    let Some(sb) = sandbox("cve-2019-5736") else {
        return;
    };
    let copy = sb.s.path("mountplan-copy");
    std::fs::copy(BIN, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let plan = sb.plan("pid = false", "", PIVOT);
    let result = sb.root.join("tmp/result");
    let r = sb.apply(&plan).cmd(&[
        "/bin/sh",
        "-c",
        "exec /bin/helper hold-exe /proc/$PPID/exe /tmp/result",
    ]);
    let mut c = Command::new(&copy);
    c.args(&r.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
    assert_eq!(o.status, 0, "{}", o.stderr);
    // The helper writes its result at once when the open fails, or once mountplan has exited
    // when it holds the binary: wait for it (bounded; the verdict does not depend on how long
    // it takes).
    let t = Instant::now();
    while !result.exists() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&result).expect("the helper wrote no result");
    eprintln!("privileges: CVE-2019-5736: {}", text.replace('\n', " "));
    assert!(
        std::fs::read(&copy).unwrap() == before,
        "the mountplan binary was overwritten: {text}"
    );
    assert_eq!(kv(&text)["open"], "EACCES", "{text}");

    // In a pid namespace the command's parent is mountplan's init, pid 1: out of reach too.
    let plan = sb.plan("pid = true", "", PIVOT);
    let r = sb.apply(&plan).cmd(&[
        "/bin/sh",
        "-c",
        "/bin/helper open /proc/1/exe; echo ppid=$PPID",
    ]);
    let mut c = Command::new(&copy);
    c.args(&r.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
    assert_eq!(o.status, 0, "{}", o.stderr);
    let kv = kv(&o.stdout);
    assert_eq!(kv["ppid"], "1", "{}", o.stdout);
    assert_eq!(kv["open"], "EACCES", "{}", o.stdout);
    assert!(
        std::fs::read(&copy).unwrap() == before,
        "the binary changed"
    );
}

/// The pty the test owns: TIOCSTI into it must inject nothing, with `--keep-terminal` (the
/// command keeps the caller's controlling terminal: the seccomp filter stops it) and without
/// (a new session, no CAP_SYS_ADMIN; and the filter too), and even with CAP_SYS_ADMIN granted.
#[test]
fn privileges_the_command_cannot_push_input_into_the_terminal() {
    let Some(_serial) = privileged("privileges_the_command_cannot_push_input_into_the_terminal")
    else {
        return;
    };
    let Some(sb) = sandbox("tiocsti") else {
        return;
    };
    let mut injected = Vec::new();
    for (keep, caps) in [
        (true, ""),
        (false, ""),
        (false, "capabilities = [\"CAP_SYS_ADMIN\"]"),
    ] {
        let plan = sb.plan("pid = true", caps, PIVOT);
        let pty = nix::pty::openpty(None, None).unwrap();
        // Raw: every injected byte is readable at once, none echoed.
        let mut t = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
        let result = sb.root.join("tmp/result");
        let _ = std::fs::remove_file(&result);
        let mut r = sb.apply(&plan);
        if keep {
            r = r.arg("--keep-terminal");
        }
        let r = r.cmd(&["/bin/helper", "tiocsti", "/tmp/result"]);
        let mut c = r.command();
        let slave: OwnedFd = pty.slave.try_clone().unwrap();
        c.stdin(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                // mountplan leads a session whose controlling terminal is the pty, as a shell
                // would have it.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
        assert_eq!(
            o.status, 0,
            "keep={keep} {caps}: {:?}\n{}",
            r.args, o.stderr
        );
        let text = std::fs::read_to_string(&result).unwrap_or_default();
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCINQ writes an int.
        let rq = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCINQ, &mut queued) };
        assert_eq!(rq, 0);
        eprintln!(
            "privileges: TIOCSTI keep_terminal={keep} {caps}: {} bytes queued; {}",
            queued,
            text.replace('\n', " ")
        );
        let kv = kv(&text);
        // Every case runs before the verdict, so a failure shows all of them.
        let stopped = kv.get("tiocsti_ok").map(String::as_str) == Some("0")
            && kv.get("tiocsti_err").map(String::as_str) == Some("EPERM")
            && queued == 0;
        if !stopped {
            injected.push(format!(
                "keep_terminal={keep} {caps}: {queued} bytes; {text}"
            ));
        }
    }
    assert!(
        injected.is_empty(),
        "input was pushed into the terminal: {injected:#?}"
    );
}

/// A pivot that ends in a plain `chroot` (the strategy, or the fallback taken when the kernel
/// refuses pivot_root of a root made shared) leaves the old root reachable from a process that
/// may chroot: the command chroots into a subdirectory, climbs `..` and reads a host file. The
/// command runs without CAP_SYS_CHROOT there, so its chroot fails: as root and rootless.
#[test]
fn privileges_a_plain_chroot_cannot_be_escaped() {
    let Some(_serial) = privileged("privileges_a_plain_chroot_cannot_be_escaped") else {
        return;
    };
    let Some(sb) = sandbox("chroot-escape") else {
        return;
    };
    let secret = sb.secret.display().to_string();
    let rootless = rootless_possible("privileges_a_plain_chroot_cannot_be_escaped");
    let mut tried = 0;
    for (name, ns, pivot) in [
        ("chroot", "pid = true", "strategy = \"chroot\""),
        (
            "forced-fallback",
            "pid = true",
            "strategy = \"pivot-root\"\nfallback = \"chroot\"",
        ),
    ] {
        for as_nobody in [false, true] {
            if as_nobody && !rootless {
                continue;
            }
            let plan = sb.plan(ns, "", pivot);
            let mut text = std::fs::read_to_string(&plan).unwrap();
            if name == "forced-fallback" {
                // Made shared, pivot_root(2) refuses the root (EINVAL): the fallback is taken.
                text = text.replace(
                    "[[step]]\nkind = \"pivot\"",
                    "[[step]]\nkind = \"propagation\"\ntarget = \"/\"\npropagation = \"shared\"\n\
                     [[step]]\nkind = \"pivot\"",
                );
            }
            // A state directory of the caller's own, as root or as 65534.
            let state = sb.s.path(&format!("state-{name}-{as_nobody}"));
            if as_nobody {
                text = text.replace("user = false", "user = true");
                std::fs::create_dir_all(&state).unwrap();
                for d in [&sb.root, &state] {
                    chown_tree(d);
                }
            }
            std::fs::write(&plan, text).unwrap();
            let mut r = Run::apply(&plan, &state).cmd(&[
                "/bin/helper",
                "chroot-escape",
                "/tmp/inner",
                &secret,
            ]);
            r.nobody = as_nobody;
            let o = r.run();
            let what = format!("{name} (rootless: {as_nobody})");
            assert_eq!(o.status, 0, "{what}: {}", o.stderr);
            eprintln!("privileges chroot escape, {what}: {}", o.stdout.trim());
            assert!(
                o.stdout.contains("chroot=EPERM"),
                "{what}: the command could chroot:\n{}",
                o.stdout
            );
            assert!(
                !o.stdout.contains("the host's secret"),
                "{what}: {}",
                o.stdout
            );
            tried += 1;
        }
    }
    assert!(tried >= 2);
}

/// `chown -R 65534:65534` without following symlinks.
fn chown_tree(p: &Path) {
    std::os::unix::fs::lchown(p, Some(65534), Some(65534)).unwrap();
    if std::fs::symlink_metadata(p).unwrap().is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path());
        }
    }
}
