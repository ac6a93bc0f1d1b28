//! The importers and the bwrap exporter on a fake host: the plans they write (pinned), that
//! each passes `check`, the notes, the errors, and the bwrap round trip.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Host, bwrap, nspawn, oci};

/// A host with the given paths, files among them, and fds.
#[derive(Default)]
struct Fake {
    paths: BTreeSet<&'static str>,
    files: BTreeSet<&'static str>,
    root: bool,
}

impl Host for Fake {
    fn is_file(&self, p: &str) -> bool {
        self.files.contains(p)
    }
    fn exists(&self, p: &str) -> bool {
        self.paths.contains(p) || self.files.contains(p)
    }
    fn is_root(&self) -> bool {
        self.root
    }
    fn caps(&self) -> BTreeSet<String> {
        let mut all = crate::model::CapSet::known();
        all.remove(crate::model::Cap::parse("SYS_RESOURCE").unwrap());
        all.names().into_iter().collect()
    }
    fn fd_path(&self, fd: i32) -> Option<String> {
        (fd == 5).then(|| "/srv/data".to_string())
    }
    fn mount_options(&self, _: &str) -> Option<Vec<String>> {
        Some(vec!["rw".into(), "relatime".into()])
    }
    fn read(&self, _: &str) -> Option<String> {
        None
    }
}

/// Checks `text` as `mountplan check` would; returns the plan's DAG.
fn checked(text: &str) -> crate::graph::Dag {
    let c = crate::check(Path::new("t.toml"), &[], &mut |_| Ok(text.to_string()));
    assert!(!c.has_errors(), "{text}\n{:#?}", c.diags);
    c.dag.expect("a valid plan has a DAG")
}

/// The plan's lines from `version = 1` on, without comments, `name`, `description` and the
/// ROOTFS value.
fn body(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            !l.starts_with('#')
                && !l.starts_with("name = ")
                && !l.starts_with("description = ")
                && !l.starts_with("ROOTFS = ")
        })
        .collect()
}

#[test]
fn oci_default_is_the_import_of_runc_spec() {
    let spec = include_str!("../../tests/fixtures/oci/runc-spec.json");
    let i = oci::import(spec, Path::new("/b"), "x", &Fake::default()).unwrap();
    let plan = include_str!("../../plans/oci-default.toml");
    assert_eq!(body(&i.text), body(plan), "plans/oci-default.toml is stale");
    assert!(i.text.contains("ROOTFS = \"/b/rootfs\""), "{}", i.text);
    checked(&i.text);
    // runc spec's root is read-only; the plan says so last, before the pivot.
    let dag = checked(plan);
    let last: Vec<&str> = dag
        .plan
        .steps
        .iter()
        .rev()
        .take(2)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(last, ["pivot", "root-ro"]);
}

#[test]
fn oci_import_says_what_it_leaves_out_one_line_each() {
    let cfg = r#"{"ociVersion": "1.0.2", "root": {"path": "r"},
        "process": {"cwd": "/w", "user": {"uid": 0, "gid": 0, "additionalGids": [4]},
                    "args": ["sh", "-c", "echo hi"], "rlimits": [], "oomScoreAdj": 3,
                    "apparmorProfile": "p", "noNewPrivileges": false},
        "hooks": {}, "annotations": {"a": "b"}, "whatever": 1,
        "linux": {"namespaces": [{"type": "mount"}, {"type": "network", "path": "/run/netns/x"}],
                  "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}, "cgroupsPath": "/x",
                  "sysctl": {"a": "1"}}}"#;
    let i = oci::import(cfg, Path::new("/b"), "x", &Fake::default()).unwrap();
    let has = |s: &str| i.notes.iter().any(|n| n.starts_with(s));
    for key in [
        "process.rlimits: not imported",
        "process.oomScoreAdj: not imported",
        "process.apparmorProfile: not imported",
        "hooks: not imported",
        "annotations: not imported",
        "whatever: not imported: an unknown key",
        "linux.seccomp: not imported",
        "linux.cgroupsPath: not imported",
        "linux.sysctl: not imported",
        "linux.namespaces: joining the net namespace at /run/netns/x",
        "process.args: a plan has no command; run it as `mountplan apply PLAN -- sh -c 'echo hi'`",
    ] {
        assert!(has(key), "no note `{key}` in {:#?}", i.notes);
    }
    assert!(i.notes.iter().all(|n| !n.contains('\n')));
    assert!(i.text.contains("no_new_privileges = false"), "{}", i.text);
    assert!(i.text.contains("cwd = \"/w\"") && i.text.contains("groups = [4]"));
    assert!(i.text.contains("pid = false"), "{}", i.text);
    checked(&i.text);
}

#[test]
fn oci_bind_flags_follow_runc() {
    let cfg = r#"{"root": {"path": "/r"}, "linux": {"namespaces": [{"type": "mount"}]},
      "mounts": [
        {"destination": "/a", "type": "bind", "source": "/h", "options": ["bind", "ro"]},
        {"destination": "/b", "type": "bind", "source": "/h", "options": ["rbind", "ro", "nosuid"]},
        {"destination": "/c", "type": "bind", "source": "/h", "options": ["rbind", "rro", "rnodev"]},
        {"destination": "/d", "source": "/h", "options": ["bind", "rro", "private"]},
        {"destination": "/e", "type": "bind", "source": "f", "options": ["bind", "rrw", "idmap"]}
      ]}"#;
    let host = Fake {
        files: ["/b/f"].into(),
        paths: ["/r/a", "/r/b", "/r/c", "/r/d", "/r/e"].into(),
        ..Fake::default()
    };
    let i = oci::import(cfg, Path::new("/b"), "x", &host).unwrap();
    let t = &i.text;
    let want = [
        // A single bind gets exactly its flags.
        "id = \"a\"\ntype = \"bind\"\nsource = \"/h\"\ntarget = \"/a\"\noptions = [\"ro\"]\n",
        // A recursive bind: its top mount only, by a remount.
        "id = \"b\"\ntype = \"rbind\"\nsource = \"/h\"\ntarget = \"/b\"\n",
        "id = \"b-flags\"\ntarget = \"/b\"\noptions = [\"ro\", \"nosuid\"]\n",
        // r* options on a recursive bind: kept as OCI spells them (every mount gets them).
        "id = \"c\"\ntype = \"rbind\"\nsource = \"/h\"\ntarget = \"/c\"\noptions = [\"rro\", \"rnodev\"]\n",
        // r* options on a single bind: a recursive remount, after the propagation.
        "id = \"d-propagation\"\ntarget = \"/d\"\npropagation = \"private\"\nrecursive = false\n",
        "id = \"d-rec\"\ntarget = \"/d\"\noptions = [\"rro\"]\n",
        // `rrw` too: a recursive remount that clears read-only.
        "id = \"e-rec\"\ntarget = \"/e\"\noptions = [\"rrw\"]\n",
        // A relative source is the bundle's, a file needs a file mountpoint.
        "id = \"e\"\ntype = \"bind\"\nsource = \"/b/f\"\ntarget = \"/e\"\ncreate = \"file\"\n",
    ];
    for w in want {
        assert!(t.contains(w), "no\n{w}\nin\n{t}");
    }
    let notes = i.notes.join("\n");
    assert!(!notes.contains("`rrw`"), "{notes}");
    assert!(
        notes.contains("mounts[4] (/e): option `idmap` is not imported"),
        "{notes}"
    );
    checked(t);
}

/// OCI's idmapped mount: each `{containerID, hostID, size}` is the user namespace's map line
/// as runc writes it, so the plan's line is `[hostID, containerID, size]` (seen, on disk);
/// one map alone, or a mapping on a non-bind, is listed as not imported.
#[test]
fn oci_idmapped_binds_become_idmap_tables() {
    let cfg = r#"{"root": {"path": "/r"}, "linux": {"namespaces": [{"type": "mount"}]},
      "mounts": [
        {"destination": "/a", "type": "bind", "source": "/h", "options": ["rbind"],
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1},
                         {"containerID": 1, "hostID": 100000, "size": 65536}],
         "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
        {"destination": "/b", "type": "bind", "source": "/h", "options": ["bind"],
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
        {"destination": "/c", "type": "tmpfs", "source": "tmpfs",
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
         "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}
      ]}"#;
    let host = Fake {
        paths: ["/r/a", "/r/b", "/r/c"].into(),
        ..Fake::default()
    };
    let i = oci::import(cfg, Path::new("/b"), "x", &host).unwrap();
    let t = &i.text;
    let want = "id = \"a\"\ntype = \"rbind\"\nsource = \"/h\"\ntarget = \"/a\"\n\
                idmap = { uid = [[1000, 0, 1], [100000, 1, 65536]], gid = [[1000, 0, 1]] }\n";
    assert!(t.contains(want), "no\n{want}\nin\n{t}");
    assert_eq!(t.matches("idmap =").count(), 1, "{t}");
    let notes = i.notes.join("\n");
    assert!(
        notes.contains("mounts[1] (/b): an idmapped mount needs both uidMappings and gidMappings"),
        "{notes}"
    );
    assert!(
        notes.contains("mounts[2] (/c): uidMappings/gidMappings are not imported: only a bind"),
        "{notes}"
    );
    let dag = checked(t);
    let m = dag.plan.steps.iter().find_map(|s| match &s.action {
        crate::model::Action::Mount(m) if m.target.as_str() == "/a" => Some(m),
        _ => None,
    });
    let Some(crate::model::IdmapFrom::Maps(map)) = m.and_then(|m| m.idmap.as_ref()) else {
        panic!("no idmap on /a in\n{t}");
    };
    // What the kernel gets is runc's line: `containerID hostID size`.
    assert_eq!(
        crate::model::Idmap::map_text(&map.uid),
        "0 1000 1\n1 100000 65536\n"
    );
}

#[test]
fn oci_errors_say_where_and_how() {
    let e = oci::import("{\n  \"root\": ", Path::new("/"), "x", &Fake::default()).unwrap_err();
    assert!(e.message.contains("line 2"), "{e:?}");
    let e = oci::import("{\"mounts\": 3}", Path::new("/"), "x", &Fake::default()).unwrap_err();
    assert!(e.message.contains("not an OCI runtime config"), "{e:?}");
    let e = oci::import("{}", Path::new("/"), "x", &Fake::default()).unwrap_err();
    assert!(
        e.message.contains("no `root`") && e.help.contains("rootfs"),
        "{e:?}"
    );
    let e = oci::import(
        r#"{"root": {"path": "r"}, "linux": {"rootfsPropagation": "sideways"}}"#,
        Path::new("/"),
        "x",
        &Fake::default(),
    )
    .unwrap_err();
    assert!(
        e.message.contains("sideways") && e.help.contains("rslave"),
        "{e:?}"
    );
}

#[test]
fn oci_user_namespace_binds_the_hosts_devices() {
    let spec = include_str!("../../tests/fixtures/oci/runc-spec-rootless.json");
    let i = oci::import(spec, Path::new("/b"), "x", &Fake::default()).unwrap();
    assert!(i.text.contains("user = true"), "{}", i.text);
    assert!(!i.text.contains("kind = \"mknod\""), "{}", i.text);
    assert!(
        i.text.contains(
            "type = \"bind\"\nsource = \"/dev/null\"\ntarget = \"/dev/null\"\ncreate = \"file\""
        ),
        "{}",
        i.text
    );
    assert!(i.text.contains("source = \"/sys/fs/cgroup\""), "{}", i.text);
    checked(&i.text);
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// Import, check, export: bwrap's arguments back.
fn round(line: &str, host: &Fake) -> (Vec<String>, super::Imported) {
    let i = bwrap::import(&args(line), "x", host).unwrap();
    let dag = checked(&i.text);
    (crate::export::bwrap::export(&dag.plan).args, i)
}

#[test]
fn bwrap_round_trip_gives_the_same_arguments_normalised() {
    let host = Fake {
        root: true,
        paths: ["/usr", "/etc", "/r", "/r/usr", "/r/etc"].into(),
        files: ["/etc/hosts"].into(),
    };
    // Already in the normal order: comes back as it went in.
    let line = "--unshare-ipc --unshare-pid --unshare-uts --ro-bind /usr /usr --bind /etc/hosts \
                /etc/hosts --dev /dev --proc /proc --perms 0700 --size 1048576 --tmpfs /tmp \
                --mqueue /dev/mqueue --perms 0711 --dir /var/lib/x --symlink usr/lib /lib64 \
                --chmod 0750 /var --remount-ro /usr --hostname box --chdir /tmp --clearenv \
                --setenv A 1 --setenv B 2 --cap-drop ALL --cap-add CAP_CHOWN --new-session \
                --die-with-parent";
    let (back, i) = round(line, &host);
    assert_eq!(back.join(" "), args(line).join(" "), "\n{}", i.text);
    // Normalised: the namespace options first, -try forms of present sources as the plain
    // form, environment options as their net effect, the process options last.
    let (back, _) = round(
        "--setenv B 2 --bind /r / --unsetenv B --dev-bind-try /usr /usr --ro-bind-try /nope /x \
         --unshare-all --share-net --setenv Z 9 --chdir / --cap-drop CAP_CHOWN --cap-drop ALL \
         --cap-add CAP_KILL sh -c 'x'",
        &host,
    );
    assert_eq!(
        back.join(" "),
        "--unshare-ipc --unshare-pid --unshare-uts --unshare-cgroup --bind /r / --dev-bind /usr \
         /usr --chdir / --unsetenv B --setenv Z 9 --cap-drop ALL --cap-add CAP_KILL \
         --new-session --die-with-parent"
    );
}

#[test]
fn bwrap_import_writes_out_what_bwrap_does() {
    let host = Fake {
        root: true,
        ..Fake::default()
    };
    let i = bwrap::import(
        &args("--ro-bind /usr /usr/x/y --bind-fd 5 /data --uid 7 -- true"),
        "x",
        &host,
    )
    .unwrap();
    let t = &i.text;
    assert!(t.contains("[root.tmpfs]"), "{t}");
    assert!(
        t.contains("kind = \"mkdir\"\npath = \"/usr/x\"\nparents = true"),
        "the parents bwrap makes: {t}"
    );
    assert!(
        t.contains("type = \"rbind\"\nsource = \"/usr\"\ntarget = \"/usr/x/y\"\noptions = [\"ro\", \"nosuid\", \"nodev\"]"),
        "{t}"
    );
    assert!(t.contains("source = \"/srv/data\""), "{t}");
    assert!(
        t.contains("pid = false"),
        "bwrap makes no pid namespace by itself: {t}"
    );
    assert!(
        t.contains("capabilities = \"all\""),
        "root keeps every capability: {t}"
    );
    let notes = i.notes.join("\n");
    assert!(
        notes.contains("the command: run `mountplan apply PLAN -- true`"),
        "{notes}"
    );
    assert!(
        notes.contains("--bind-fd 5 /data: imported as a bind of /srv/data"),
        "{notes}"
    );
    for bad in [
        "--frobnicate",
        "--bind /a",
        "--size 10 --dir /x",
        "--perms 9 --dir /x",
        "--tmpfs rel",
        "--args 3",
        "--dir /x --bind /r /",
    ] {
        let e = bwrap::import(&args(bad), "x", &host).unwrap_err();
        assert!(!e.message.is_empty() && !e.help.is_empty(), "{bad}: {e:?}");
    }
}

#[test]
fn bwrap_export_says_what_bwrap_cannot_do() {
    let plan = include_str!("../../plans/oci-default.toml");
    let e = crate::export::bwrap::export(&checked(plan).plan);
    let notes = e.notes.join("\n");
    for w in [
        "journals what it makes in this host directory",
        "bwrap makes no device node",
        "bwrap cannot mask",
        "bwrap 0.8 cannot mount sysfs",
    ] {
        assert!(notes.contains(w), "no `{w}` in\n{notes}");
    }
    assert!(e.args.contains(&"--proc".to_string()), "{:?}", e.args);
}

#[test]
fn nspawn_files_and_exec_become_steps_and_process() {
    let text = "# a machine\n[Exec]\nWorkingDirectory=/srv\nEnvironment=A=1 B=2\nUser=7\n\
                Boot=yes\nPrivateUsers=pick\n[Files]\nBind=/srv/a:/a\nBindReadOnly=/srv/b:/b:norbind\n\
                TemporaryFileSystem=/tmp:mode=0700,size=1M\nOverlay=/l1:/l2:/up:/o\n\
                OverlayReadOnly=/l1:/l2:/ro\nInaccessible=/secret\nReadOnly=yes\n\
                [Network]\nPrivate=yes\nPort=80\n";
    let i = nspawn::import(text, "m.nspawn", "x", &Fake::default()).unwrap();
    let t = &i.text;
    for w in [
        "ROOTFS = \"/var/lib/machines/m\"",
        "user = true",
        "net = true",
        "cwd = \"/srv\"",
        "uid = 7",
        "A = \"1\"",
        "type = \"rbind\"\nsource = \"/srv/a\"\ntarget = \"/a\"",
        "type = \"bind\"\nsource = \"/srv/b\"\ntarget = \"/b\"\noptions = [\"ro\"]",
        "target = \"/tmp\"\noptions = [\"nosuid\", \"nodev\"]\nmode = \"0700\"\nsize = \"1M\"",
        "lower = [\"/l2\", \"/l1\"]\nupper = \"/up\"\nwork = \"/up.work\"",
        "target = \"/ro\"\nlower = [\"/l2\", \"/l1\"]",
        "kind = \"mask\"\npath = \"/secret\"",
        "target = \"/\"\noptions = [\"ro\"]",
    ] {
        assert!(t.contains(w), "no\n{w}\nin\n{t}");
    }
    let notes = i.notes.join("\n");
    assert!(
        notes.contains("m.nspawn:6: [Exec] Boot=yes: not imported"),
        "{notes}"
    );
    assert!(notes.contains("[Network] Port=80: not imported"), "{notes}");
    checked(t);
    let e = nspawn::import("Bind=/a\n", "m.nspawn", "x", &Fake::default()).unwrap_err();
    assert!(
        e.message.contains("m.nspawn:1") && e.help.contains("[Files]"),
        "{e:?}"
    );
    let e = nspawn::import("[Files]\nnonsense\n", "m.nspawn", "x", &Fake::default()).unwrap_err();
    assert!(e.message.contains("m.nspawn:2"), "{e:?}");
}
