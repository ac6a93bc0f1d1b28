//! What the command is given, exactly: the caller's umask, the chosen capabilities, the plan's
//! cwd, environment, hostname and ids; and rootless is bounded the same way.

use super::*;

/// Docker's default set, written out: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
/// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
const DOCKER: u64 = 0xa804_25fb;

const CAP_SYS_CHROOT: u64 = 1 << 18;

const CAP_SYS_ADMIN: u64 = 1 << 21;

/// The caller's umask 022 reaches the command (mountplan itself runs with 0): a file it makes
/// on the directory root lands on the host disk as 0644, not 0666; `umask = "0077"` gives 0600.
#[test]
fn privileges_the_command_gets_the_caller_s_umask() {
    let Some(_serial) = privileged("privileges_the_command_gets_the_caller_s_umask") else {
        return;
    };
    let s = Scratch::new("umask");
    let root = s.path("root");
    busybox_root(&root);
    use std::os::unix::fs::PermissionsExt;
    // The caller's umask is 022; the plan may set its own.
    for (process, name, umask) in [("", "f", 0o022), ("umask = \"0077\"", "g", 0o077)] {
        let plan = s.write(
            "u.toml",
            &format!(
                "version = 1\n[root]\npath = \"{}\"\n[namespaces]\nuser = false\n\
                 [process]\n{process}\n[[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
                root.display()
            ),
        );
        let mut c = Run::apply(&plan, &s.state())
            .cmd(&[
                "/bin/sh",
                "-c",
                &format!("echo x > /tmp/{name}; mkdir /tmp/{name}.d"),
            ])
            .command();
        // SAFETY: umask is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
        assert_eq!(o.status, 0, "{}", o.stderr);
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&format!("tmp/{name}")), 0o666 & !umask, "{process:?}");
        assert_eq!(
            mode(&format!("tmp/{name}.d")),
            0o777 & !umask,
            "{process:?}"
        );
    }
}

/// `/proc/self/status` of the command: CapEff, CapPrm, CapBnd and CapInh are exactly the set
/// the plan chose (Docker's by default; CAP_SYS_ADMIN when listed; everything with "all";
/// nothing with []; without CAP_SYS_CHROOT when the pivot falls back to chroot), CapAmb is
/// empty as uid 0, NoNewPrivs is 1 unless the plan says otherwise; with and without a pid
/// namespace.
#[test]
fn privileges_the_command_s_capabilities_are_exactly_the_chosen_set() {
    let Some(_serial) =
        privileged("privileges_the_command_s_capabilities_are_exactly_the_chosen_set")
    else {
        return;
    };
    let Some(sb) = sandbox("caps") else {
        return;
    };
    let own = own_caps();
    let cases: [(&str, &str, u64, u64); 6] = [
        ("", PIVOT, DOCKER & own, 1),
        (
            "capabilities = [\"CAP_SYS_ADMIN\"]",
            PIVOT,
            CAP_SYS_ADMIN,
            1,
        ),
        ("capabilities = \"all\"", PIVOT, own, 1),
        ("capabilities = []", PIVOT, 0, 1),
        (
            "",
            "strategy = \"pivot-root\"\nfallback = \"chroot\"",
            DOCKER & own & !CAP_SYS_CHROOT,
            1,
        ),
        ("no_new_privileges = false", PIVOT, DOCKER & own, 0),
    ];
    for pid in [true, false] {
        for (process, pivot, want, nnp) in cases {
            let plan = sb.plan(&format!("pid = {pid}"), process, pivot);
            let o = sb
                .apply(&plan)
                .cmd(&["/bin/cat", "/proc/self/status"])
                .run();
            assert_eq!(o.status, 0, "{process}: {}", o.stderr);
            let f = |k| status_field(&o.stdout, k).unwrap_or_else(|| panic!("no {k}"));
            for k in ["CapEff", "CapPrm", "CapBnd", "CapInh"] {
                assert_eq!(
                    f(k),
                    want,
                    "pid={pid} {process:?} {pivot:?}: {k} {:x}, want {want:x}",
                    f(k)
                );
            }
            assert_eq!(f("CapAmb"), 0, "{process}");
            let line = o
                .stdout
                .lines()
                .find(|l| l.starts_with("NoNewPrivs:"))
                .unwrap();
            assert_eq!(
                line.split_whitespace().nth(1),
                Some(nnp.to_string().as_str())
            );
        }
    }
}

/// cwd, the environment (kept or cleared, unset, set, and the PATH search in the result),
/// the hostname and the ids, seen from inside with `pwd`, `env`, `hostname` and `id`; a
/// non-root uid gets its listed capabilities as ambient ones.
#[test]
fn privileges_cwd_env_hostname_and_ids_are_what_the_plan_says() {
    let Some(_serial) = privileged("privileges_cwd_env_hostname_and_ids_are_what_the_plan_says")
    else {
        return;
    };
    let s = Scratch::new("process");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir_all(root.join("work")).unwrap();
    std::fs::create_dir_all(root.join("opt/bin")).unwrap();
    // Only in /opt/bin, which only the plan's PATH names.
    s.write(
        "root/opt/bin/probe",
        "#!/bin/sh\necho cwd=$(pwd)\necho host=$(hostname)\necho id=$(id)\n\
         grep -E '^Cap(Eff|Amb)' /proc/self/status | tr -d '\\t' | tr : =\nenv | sed s/^/env_/\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("opt/bin/probe"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for clear in [false, true] {
        let plan = s.write(
            "p.toml",
            &format!(
                "version = 1\n[root]\npath = \"{}\"\n[namespaces]\nuser = false\nuts = true\n\
                 [process]\ncwd = \"/work\"\nhostname = \"sandbox-{clear}\"\nuid = 1000\n\
                 gid = 1001\ngroups = [27, 5]\ncapabilities = [\"net_bind_service\"]\n\
                 [process.env]\nclear = {clear}\nunset = [\"MP_GONE\"]\n\
                 set = {{ PATH = \"/opt/bin:/bin\", MP_SET = \"x y\" }}\n\
                 [[step]]\nkind = \"mount\"\ntype = \"proc\"\ntarget = \"/proc\"\n\
                 [[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
                root.display()
            ),
        );
        let o = Run::apply(&plan, &s.state())
            .env("MP_KEPT", "kept")
            .env("MP_GONE", "gone")
            .env("PATH", "/usr/bin:/bin")
            .cmd(&["probe"])
            .run();
        assert_eq!(o.status, 0, "clear={clear}: {}", o.stderr);
        let kv = kv(&o.stdout);
        assert_eq!(kv["cwd"], "/work");
        assert_eq!(kv["host"], format!("sandbox-{clear}"));
        assert_eq!(kv["id"], "uid=1000 gid=1001 groups=5,27", "{}", o.stdout);
        assert_eq!(kv["CapEff"], "0000000000000400");
        assert_eq!(kv["CapAmb"], "0000000000000400");
        assert_eq!(kv["env_PATH"], "/opt/bin:/bin");
        assert_eq!(kv["env_MP_SET"], "x y");
        assert!(!kv.contains_key("env_MP_GONE"), "{}", o.stdout);
        assert_eq!(kv.contains_key("env_MP_KEPT"), !clear, "{}", o.stdout);
        // The host's name is untouched.
        assert_ne!(
            nix::unistd::gethostname().unwrap().to_string_lossy(),
            format!("sandbox-{clear}")
        );
    }
    // A cwd that does not exist: the command does not start, and says why.
    let plan = s.write(
        "bad.toml",
        &format!(
            "version = 1\n[root]\npath = \"{}\"\n[namespaces]\nuser = false\n\
             [process]\ncwd = \"/nowhere\"\n[[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
            root.display()
        ),
    );
    let o = Run::apply(&plan, &s.state()).cmd(&["/bin/true"]).run();
    assert_eq!(o.status, 126, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("chdir(\"/nowhere\") ([process] cwd) => ENOENT"),
        "{}",
        o.stderr
    );
}

/// Rootless (as uid 65534): the child is dumpable only while it writes its uid and gid maps
/// (the apply works), the command's capabilities are bounded the same way and its init's
/// `/proc/1/exe` is out of reach; a uid other than 0 is refused before anything starts.
#[test]
fn privileges_rootless_is_bounded_the_same_way() {
    let Some(_serial) = privileged("privileges_rootless_is_bounded_the_same_way") else {
        return;
    };
    if !rootless_possible("privileges_rootless_is_bounded_the_same_way") {
        return;
    }
    let Some(helper) = helper() else {
        return;
    };
    let s = Scratch::new("rootless-privileges");
    let bb = s.path("busybox");
    std::fs::copy(busybox(), &bb).unwrap();
    let hp = s.path("helper");
    std::fs::copy(&helper, &hp).unwrap();
    let state = s.path("state");
    std::fs::create_dir_all(&state).unwrap();
    let nobody = nix::unistd::Uid::from_raw(65534);
    nix::unistd::chown(
        &state,
        Some(nobody),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    let plan_text = |process: &str| {
        format!(
            "version = 1\n[root]\ntmpfs = {{ mode = \"0755\" }}\n[process]\n{process}\n\
             [[step]]\nkind = \"mkdir\"\npath = \"/bin\"\n\
             [[step]]\nkind = \"mount\"\ntype = \"bind\"\nsource = \"{}\"\ntarget = \"/bin/busybox\"\n\
             create = \"file\"\n\
             [[step]]\nkind = \"mount\"\ntype = \"bind\"\nsource = \"{}\"\ntarget = \"/bin/helper\"\n\
             create = \"file\"\n\
             [[step]]\nkind = \"mount\"\ntype = \"proc\"\ntarget = \"/proc\"\n\
             [[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\n",
            bb.display(),
            hp.display()
        )
    };
    let plan = s.write("r.toml", &plan_text(""));
    let mut r = Run::apply(&plan, &state).cmd(&[
        "/bin/busybox",
        "sh",
        "-c",
        "/bin/busybox cat /proc/self/status; /bin/helper open /proc/1/exe | /bin/busybox sed s/^/exe_/",
    ]);
    r.nobody = true;
    let o = r.run();
    assert_eq!(o.status, 0, "rootless apply failed:\n{}", o.stderr);
    let own = own_caps();
    for k in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            status_field(&o.stdout, k),
            Some(DOCKER & own),
            "{k}:\n{}",
            o.stdout
        );
    }
    assert!(o.stdout.contains("NoNewPrivs:\t1"), "{}", o.stdout);
    assert_eq!(kv(&o.stdout)["exe_open"], "EACCES", "{}", o.stdout);

    // uid 1000 does not exist in a rootless user namespace: refused, nothing started.
    let plan = s.write("uid.toml", &plan_text("uid = 1000"));
    let mut r = Run::apply(&plan, &state).cmd(&["/bin/busybox", "sh", "-c", "echo ran"]);
    r.nobody = true;
    let o = r.run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(!o.stdout.contains("ran"));
    for w in [
        "mountplan::apply::rootless-ids",
        "uid.toml:5:7",
        "drop `uid` from [process]",
        "nothing was applied",
    ] {
        assert!(o.stderr.contains(w), "no {w:?} in:\n{}", o.stderr);
    }
    assert!(journals(&state).is_empty());
}
