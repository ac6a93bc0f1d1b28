//! A command that cannot start because a file is missing from the new root: the message names
//! the file (the program, its ELF interpreter, the interpreter of its `#!` line) instead of
//! `execvp => ENOENT`, with and without a pid namespace, and the status stays 127.

use std::path::Path;

use crate::support::*;

/// A bound busybox root and pivot_root; `PID` is replaced by the pid namespace setting.
const PLAN: &str = r#"
version = 1
[root]
path = "${ROOTFS}"
[namespaces]
user = false
pid = PID
[[step]]
kind = "pivot"
strategy = "pivot-root"
"#;

/// The loader the host's dynamically linked programs name in PT_INTERP.
#[cfg(target_arch = "x86_64")]
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
#[cfg(target_arch = "aarch64")]
const LOADER: &str = "/lib/ld-linux-aarch64.so.1";

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn a_missing_program_or_interpreter_is_named() {
    let Some(_serial) = privileged("a_missing_program_or_interpreter_is_named") else {
        return;
    };
    for pid in [false, true] {
        let s = Scratch::new("not-found");
        let root = s.path("root");
        busybox_root(&root);
        // A dynamically linked host program, without its loader (the root has no /lib64 and
        // no /lib), a script whose interpreter is missing, and a loader link to nothing.
        std::fs::copy("/usr/bin/true", root.join("bin/dyn")).unwrap();
        s.write("root/bin/script", "#!/no/such/sh -e\necho hi\n");
        std::fs::set_permissions(
            root.join("bin/script"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let plan = s.write("p.toml", &PLAN.replace("PID", &pid.to_string()));
        let run = |cmd: &[&str]| {
            Run::apply(&plan, &s.state())
                .set("ROOTFS", &root)
                .env("PATH", "/usr/bin:/bin")
                .cmd(cmd)
                .run()
        };
        let says = |o: &Out, want: &str| {
            assert_eq!(o.status, 127, "pid={pid}: {}", o.stderr);
            assert!(
                o.stderr.contains(&format!("mountplan: {want}\n")),
                "pid={pid}: wanted {want:?} in:\n{}",
                o.stderr
            );
            assert!(!o.stderr.contains("execvp"), "{}", o.stderr);
        };
        let o = run(&["/bin/dyn"]);
        says(
            &o,
            &format!(
                "cannot run `/bin/dyn`: its ELF interpreter `{LOADER}` is not in the new root"
            ),
        );
        // Found through PATH, as execvp finds it (the first entry has no `dyn`).
        let o = run(&["dyn"]);
        says(
            &o,
            &format!(
                "cannot run `/bin/dyn`: its ELF interpreter `{LOADER}` is not in the new root"
            ),
        );
        let o = run(&["/bin/script"]);
        says(
            &o,
            "cannot run `/bin/script`: the interpreter of its `#!` line `/no/such/sh` is not in \
             the new root",
        );
        let o = run(&["/no/such/program"]);
        says(
            &o,
            "cannot run `/no/such/program`: it is not in the new root",
        );
        let o = run(&["no-such-program"]);
        says(
            &o,
            "cannot run `no-such-program`: it is in no directory of the command's PATH \
             `/usr/bin:/bin` in the new root",
        );
        // A loader that is a link to nothing says where the link points.
        let loader = root.join(LOADER.trim_start_matches('/'));
        std::fs::create_dir_all(loader.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/gone/ld.so", &loader).unwrap();
        let o = run(&["/bin/dyn"]);
        says(
            &o,
            &format!(
                "cannot run `/bin/dyn`: its ELF interpreter `{LOADER}` is not in the new root \
                 (it is a symbolic link to `/gone/ld.so`, which is missing)"
            ),
        );
        assert!(Path::new(&root).join("bin/busybox").exists());
        assert!(journals(&s.state()).is_empty());
    }
}
