//! Errors a user causes at apply time, which no check can see (the host's state): each names
//! the key of the plan it comes from, with its line and column, says what is wrong and how to
//! fix it, and changes nothing.

use crate::support::*;

/// One plan whose host path is missing: the key, its line and column, and the words expected.
struct Case {
    name: &'static str,
    plan: &'static str,
    at: &'static str,
    why: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "bind-source",
        plan: "version = 1\nname = \"e\"\n[root]\ntmpfs = {}\n[namespaces]\nuser = false\n\
               [[step]]\nkind = \"mount\"\ntype = \"bind\"\nsource = \"/nonexistent/src\"\n\
               target = \"/data\"\n",
        at: "p.toml:10:10",
        why: "the bind's source `/nonexistent/src` does not exist on the host: create it, or \
              fix the path",
    },
    Case {
        name: "from-host",
        plan: "version = 1\nname = \"e\"\n[root]\ntmpfs = {}\n[namespaces]\nuser = false\n\
               [[step]]\nkind = \"mknod\"\npath = \"/null\"\nfrom_host = \"/dev/nonexistent\"\n",
        at: "p.toml:10:13",
        why: "the host node `/dev/nonexistent` does not exist on the host",
    },
    Case {
        name: "root",
        plan: "version = 1\nname = \"e\"\n[root]\npath = \"/nonexistent/root\"\n[namespaces]\n\
               user = false\n[[step]]\nkind = \"mkdir\"\npath = \"/x\"\n",
        at: "p.toml:4:8",
        why: "the root directory `/nonexistent/root` does not exist on the host",
    },
    Case {
        name: "overlay-lower",
        plan: "version = 1\nname = \"e\"\n[root]\ntmpfs = {}\n[namespaces]\nuser = false\n\
               [[step]]\nkind = \"mount\"\ntype = \"overlay\"\ntarget = \"/o\"\n\
               lower = [\"/nonexistent/lower\", \"/\"]\n",
        at: "p.toml:11:10",
        why: "the overlay's lower layer `/nonexistent/lower` does not exist on the host",
    },
];

#[test]
fn a_missing_host_path_points_at_its_key_and_says_how_to_fix_it() {
    let Some(_serial) = privileged("a_missing_host_path_points_at_its_key_and_says_how_to_fix_it")
    else {
        return;
    };
    let host = host_mounts();
    for c in CASES {
        let s = Scratch::new(c.name);
        let plan = s.write("p.toml", c.plan);
        let o = Run::apply(&plan, &s.state()).cmd(&["/bin/true"]).run();
        assert_eq!(o.status, 125, "{}: {}", c.name, o.stderr);
        assert!(
            o.stderr.contains(&format!("{}]", c.at)),
            "{}: no `[{}]` in:\n{}",
            c.name,
            c.at,
            o.stderr
        );
        assert!(
            o.stderr.contains("this host path"),
            "{}: {}",
            c.name,
            o.stderr
        );
        assert!(o.stderr.contains(c.why), "{}: {}", c.name, o.stderr);
        assert_eq!(host, host_mounts(), "{}", c.name);
        assert!(journals(&s.state()).is_empty(), "{}", c.name);
    }
}

/// A umount or a remount of a path where nothing is mounted (the kernel's EINVAL, which a
/// check cannot foresee on a root from the host) says so, at the step's target.
#[test]
fn a_umount_or_remount_of_no_mountpoint_says_so() {
    let Some(_serial) = privileged("a_umount_or_remount_of_no_mountpoint_says_so") else {
        return;
    };
    for (name, step) in [
        ("umount", "kind = \"umount\"\ntarget = \"/etc\"\n"),
        (
            "remount",
            "kind = \"remount\"\ntarget = \"/etc\"\noptions = [\"ro\"]\n",
        ),
    ] {
        let s = Scratch::new(name);
        let root = s.path("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let plan = s.write(
            "p.toml",
            &format!(
                "version = 1\nname = \"e\"\n[root]\npath = \"{}\"\n[namespaces]\nuser = false\n\
                 [[step]]\n{step}",
                root.display()
            ),
        );
        let o = Run::apply(&plan, &s.state()).cmd(&["/bin/true"]).run();
        assert_eq!(o.status, 125, "{name}: {}", o.stderr);
        assert!(o.stderr.contains("p.toml:9:10"), "{name}: {}", o.stderr);
        assert!(o.stderr.contains("EINVAL"), "{name}: {}", o.stderr);
        assert!(
            o.stderr.contains("nothing is mounted on `<root>/etc`"),
            "{name}: {}",
            o.stderr
        );
    }
}

/// A filesystem type this kernel does not know (ENODEV) says so, with where to look.
#[test]
fn an_unknown_filesystem_type_says_so() {
    let Some(_serial) = privileged("an_unknown_filesystem_type_says_so") else {
        return;
    };
    let s = Scratch::new("nosuchfs");
    let plan = s.write(
        "p.toml",
        "version = 1\nname = \"e\"\n[root]\ntmpfs = {}\n[namespaces]\nuser = false\n\
         [[step]]\nkind = \"mount\"\ntype = \"nosuchfs\"\nsource = \"x\"\ntarget = \"/x\"\n",
    );
    let o = Run::apply(&plan, &s.state()).cmd(&["/bin/true"]).run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(o.stderr.contains("ENODEV"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("this kernel does not know the filesystem type `nosuchfs`"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("rmdir(\"<root>/x\")"), "{}", o.stderr);
}

/// A chmod of a path that is not in the root says it does not exist and how to make it.
#[test]
fn a_chmod_of_a_missing_path_says_how_to_make_it() {
    let Some(_serial) = privileged("a_chmod_of_a_missing_path_says_how_to_make_it") else {
        return;
    };
    let s = Scratch::new("chmod-missing");
    // A root directory, which check cannot see into: on an empty tmpfs root, check already
    // refuses the plan (`mountplan::graph::missing`) and apply never runs it.
    let root = s.path("root");
    std::fs::create_dir_all(&root).unwrap();
    let plan = s.write(
        "p.toml",
        "version = 1\nname = \"e\"\n[root]\npath = \"${ROOTFS}\"\n[namespaces]\nuser = false\n\
         [[step]]\nkind = \"chmod\"\npath = \"/missing\"\nmode = \"0700\"\n",
    );
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .cmd(&["/bin/true"])
        .run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(o.stderr.contains("p.toml:9:8"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("`<root>/missing` does not exist: make it in an earlier step"),
        "{}",
        o.stderr
    );
}
