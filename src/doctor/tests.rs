//! The plan's findings from written-out facts: which steps fail here, and why.

use std::collections::BTreeMap;
use std::path::Path;

use nix::errno::Errno;

use super::*;
use crate::diag::Severity;

#[derive(Default)]
struct FakeHost {
    paths: BTreeMap<String, HostPathFacts>,
    below: BTreeMap<String, Vec<String>>,
    modules: Option<bool>,
    asked: Vec<String>,
    /// Sources whose bind cannot be idmapped (the probe's failure).
    no_idmap: BTreeMap<String, Errno>,
}

impl HostFacts for FakeHost {
    fn path(&mut self, p: &Path) -> HostPathFacts {
        let p = p.display().to_string();
        self.asked.push(p.clone());
        self.paths.get(&p).cloned().unwrap_or(HostPathFacts {
            dir: Err(Errno::ENOENT),
            mount: None,
        })
    }
    fn idmap(&mut self, p: &Path, _: bool) -> Answer {
        let p = p.display().to_string();
        match self.no_idmap.get(&p) {
            Some(e) => Answer::No {
                call: format!("mount_setattr(<copy of {p}>, MOUNT_ATTR_IDMAP)"),
                errno: *e,
            },
            None => Answer::Yes,
        }
    }
    fn fs_module(&mut self, _: &str) -> Option<bool> {
        self.modules
    }
    fn mounts_below(&mut self, p: &str) -> Vec<String> {
        self.below.get(p).cloned().unwrap_or_default()
    }
}

fn on(mountpoint: &str, fstype: &str, opts: &str) -> HostPathFacts {
    HostPathFacts {
        dir: Ok(true),
        mount: Some((mountpoint.into(), fstype.into(), opts.into())),
    }
}

fn facts(rootless: bool) -> Facts {
    Facts {
        kernel: ("6.18.0".into(), "x86_64".into()),
        uid: if rootless { 1000 } else { 0 },
        initial_userns: true,
        openat2: Answer::Yes,
        mount_api: vec![("fsopen", Answer::Yes), ("fsmount", Answer::Yes)],
        mount_api_here: Answer::Yes,
        rootless,
        statmount: Answer::Yes,
        listmount: Answer::Yes,
        userns: Answer::Yes,
        sysctls: vec![("dev.tty.legacy_tiocsti", Some("0".into()))],
        filesystems: ["tmpfs", "proc", "mqueue", "overlay", "cgroup2", "sysfs"]
            .map(String::from)
            .to_vec(),
        cgroup2_options: None,
        idmap_root: None,
    }
}

fn dag(text: &str) -> (crate::Checked, String) {
    let t = text.to_string();
    let c = crate::check(Path::new("p.toml"), &[], &mut |_| Ok(t.clone()));
    assert!(!c.has_errors(), "{:?}", c.diags);
    (c, text.to_string())
}

const HEAD: &str = "version = 1\nname = \"p\"\n[root]\ntmpfs = {}\n";

fn report(steps: &str, f: Facts, host: &mut FakeHost) -> (Report, String) {
    let text = format!("{HEAD}{steps}");
    let (c, text) = dag(&text);
    (plan_report(f, c.dag.as_ref().unwrap(), host), text)
}

/// (code, severity, the text the diagnostic points at).
fn found(r: &Report, text: &str) -> Vec<(&'static str, Severity, String)> {
    r.plan
        .as_ref()
        .unwrap()
        .diags
        .iter()
        .map(|d| {
            let at = d
                .loc
                .map(|l| text[l.span.start..l.span.end].to_string())
                .unwrap_or_default();
            (d.code, d.severity, at)
        })
        .collect()
}

const BIND: &str = "[[step]]\nkind = \"mount\"\nid = \"b\"\ntype = \"bind\"\nsource = \"/src\"\n\
                    target = \"/t\"\n";

#[test]
fn a_missing_bind_source_certainly_fails_at_its_key() {
    let mut host = FakeHost::default();
    let (r, text) = report(BIND, facts(false), &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::missing-host-path",
            Severity::Error,
            "\"/src\"".to_string()
        )]
    );
    let d = &r.plan.as_ref().unwrap().diags[0];
    assert_eq!(
        d.message,
        "step `b`: the bind source `/src` does not exist on this host: the step fails"
    );
    assert!(!r.can_apply());
    host.paths
        .insert("/src".into(), on("/", "ext4", "rw,relatime"));
    let (r, _) = report(BIND, facts(false), &mut host);
    assert!(r.can_apply(), "{:?}", r.plan.unwrap().diags);
}

#[test]
fn rootless_binds_find_the_host_flags_locked() {
    let mut host = FakeHost::default();
    host.paths.insert(
        "/src".into(),
        on("/src", "tmpfs", "rw,nosuid,nodev,relatime"),
    );
    // Clearing nosuid and nodev (a bind with options gets exactly them): kept, a warning.
    let ro = format!("{BIND}options = [\"ro\"]\n");
    let (r, text) = report(&ro, facts(true), &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::locked-kept",
            Severity::Warning,
            "\"/t\"".to_string()
        )]
    );
    let d = &r.plan.as_ref().unwrap().diags[0];
    assert!(
        d.message
            .contains("clears `nosuid`, `nodev` on its mount of `/src`"),
        "{}",
        d.message
    );
    assert!(r.can_apply());
    assert_eq!(
        r.plan.as_ref().unwrap().paths[0].locked,
        ["nosuid", "nodev", "relatime"]
    );
    // Another atime mode: EPERM for certain.
    let st = format!("{BIND}options = [\"nosuid\", \"nodev\", \"strictatime\"]\n");
    let (r, text) = report(&st, facts(true), &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::locked-atime",
            Severity::Error,
            "\"/t\"".to_string()
        )]
    );
    assert!(!r.can_apply());
    // The same atime mode, or none: nothing to say.
    let same = format!("{BIND}options = [\"nosuid\", \"nodev\", \"relatime\"]\n");
    assert_eq!(found(&report(&same, facts(true), &mut host).0, ""), []);
    // As root in the initial user namespace nothing is locked.
    assert_eq!(found(&report(&st, facts(false), &mut host).0, ""), []);
    // ... but as root in a container's user namespace it is.
    let mut f = facts(false);
    f.initial_userns = false;
    let (r, text) = report(&st, f, &mut host);
    assert_eq!(found(&r, &text)[0].0, "mountplan::doctor::locked-atime");
}

#[test]
fn a_remount_of_a_bind_is_judged_against_the_bind_source() {
    let mut host = FakeHost::default();
    host.paths
        .insert("/src".into(), on("/src", "tmpfs", "rw,noatime"));
    let steps = format!(
        "{BIND}[[step]]\nkind = \"remount\"\nid = \"r\"\ntarget = \"/t\"\n\
         options = [\"ro\", \"relatime\"]\n"
    );
    let (r, text) = report(&steps, facts(true), &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::locked-atime",
            Severity::Error,
            "\"/t\"".to_string()
        )]
    );
    assert!(
        r.plan.unwrap().diags[0]
            .message
            .starts_with("step `r` changes the atime mode")
    );
}

#[test]
fn rootless_a_single_bind_of_a_source_with_mounts_below_fails() {
    let mut host = FakeHost::default();
    host.paths
        .insert("/src".into(), on("/", "ext4", "rw,relatime"));
    host.below.insert("/src".into(), vec!["/src/a".into()]);
    let (r, text) = report(BIND, facts(true), &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::locked-children",
            Severity::Error,
            "\"/src\"".to_string()
        )]
    );
    let rec = BIND.replace("\"bind\"", "\"rbind\"");
    assert_eq!(found(&report(&rec, facts(true), &mut host).0, ""), []);
    assert_eq!(found(&report(BIND, facts(false), &mut host).0, ""), []);
}

#[test]
fn unknown_filesystem_types_fail_unless_a_module_loads() {
    let steps = "[[step]]\nkind = \"mount\"\nid = \"z\"\ntype = \"zfs\"\ntarget = \"/z\"\n";
    let mut host = FakeHost::default();
    let (r, text) = report(steps, facts(false), &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::fstype-unknown",
            Severity::Error,
            "\"/z\"".to_string()
        )]
    );
    assert!(
        r.plan.unwrap().diags[0]
            .message
            .contains("it has no modules to load")
    );
    host.modules = Some(true);
    let (r, text) = report(steps, facts(false), &mut host);
    assert_eq!(found(&r, &text)[0].0, "mountplan::doctor::fstype-module");
    assert!(r.can_apply());
}

#[test]
fn rootless_mqueue_and_cgroup2_need_their_namespaces() {
    let steps = "[[step]]\nkind = \"mount\"\nid = \"mq\"\ntype = \"mqueue\"\ntarget = \"/mq\"\n\
                 [[step]]\nkind = \"mount\"\nid = \"cg\"\ntype = \"cgroup2\"\ntarget = \"/cg\"\n";
    let mut host = FakeHost::default();
    let (r, text) = report(steps, facts(true), &mut host);
    assert_eq!(
        found(&r, &text),
        [
            (
                "mountplan::doctor::rootless-namespace",
                Severity::Error,
                "\"/mq\"".to_string()
            ),
            (
                "mountplan::doctor::rootless-namespace",
                Severity::Error,
                "\"/cg\"".to_string()
            )
        ]
    );
    let with = format!(
        "version = 1\nname = \"p\"\n[root]\ntmpfs = {{}}\n[namespaces]\nipc = true\ncgroup = true\n{steps}"
    );
    let (c, _) = dag(&with);
    let r = plan_report(facts(true), c.dag.as_ref().unwrap(), &mut host);
    assert!(r.plan.unwrap().diags.is_empty());
    // As root, cgroup2 in the host's cgroup namespace resets the host's options.
    let mut f = facts(false);
    f.cgroup2_options = Some(vec!["rw".into(), "nsdelegate".into()]);
    let (r, text) = report(steps, f, &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::cgroup2-host-options",
            Severity::Warning,
            "\"/cg\"".to_string()
        )]
    );
    assert!(
        r.plan.unwrap().diags[0]
            .message
            .contains("the host loses `nsdelegate`")
    );
}

#[test]
fn an_overlay_with_upper_and_work_on_two_mounts_fails() {
    let steps = "[[step]]\nkind = \"mount\"\nid = \"o\"\ntype = \"overlay\"\ntarget = \"/o\"\n\
                 lower = [\"/l\"]\nupper = \"/u\"\nwork = \"/w\"\n";
    let mut host = FakeHost::default();
    host.paths.insert("/l".into(), on("/", "ext4", "rw"));
    host.paths.insert("/u".into(), on("/", "ext4", "rw"));
    host.paths.insert("/w".into(), on("/w", "tmpfs", "rw"));
    let (r, text) = report(steps, facts(false), &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::overlay-work",
            Severity::Error,
            "\"/o\"".to_string()
        )]
    );
    // Each host path asked once, in plan order; a missing lower layer points at `lower`.
    assert_eq!(host.asked, ["/l", "/u", "/w"]);
    host.paths.remove("/l");
    host.paths.insert("/w".into(), on("/", "ext4", "rw"));
    let (r, text) = report(steps, facts(false), &mut host);
    assert_eq!(
        found(&r, &text),
        [(
            "mountplan::doctor::missing-host-path",
            Severity::Error,
            "\"/l\"".to_string()
        )]
    );
}

#[test]
fn a_kernel_without_the_mount_api_can_apply_nothing() {
    let mut f = facts(false);
    f.mount_api[0].1 = Answer::No {
        call: "fsopen(\"tmpfs\", FSOPEN_CLOEXEC)".into(),
        errno: Errno::ENOSYS,
    };
    let r = host_report(f);
    assert!(!r.can_apply());
    assert_eq!(r.host_errors.len(), 1);
    assert!(
        r.host_errors[0].starts_with("the kernel has no `fsopen`"),
        "{:?}",
        r.host_errors
    );
    let t = text(&r, None, "");
    assert!(
        t.contains("new mount API                  no: fsopen"),
        "{t}"
    );
    assert!(t.ends_with("verdict: no plan can apply here\n"), "{t}");
    let j = json(&r, None, serde_json::json!({}));
    assert_eq!(j["can_apply"], false);
    assert_eq!(j["checks"][1]["name"], "fsopen");
    assert_eq!(j["checks"][1]["errno"], "ENOSYS");
    assert_eq!(j["plan"], serde_json::Value::Null);
}

/// A bind step with `idmap` whose source the probe cannot idmap certainly fails, at the step;
/// the same bind without `idmap`, or on a source that can be idmapped, is not reported.
#[test]
fn an_idmapped_bind_of_a_source_without_idmap_certainly_fails() {
    let idmapped = format!("{BIND}idmap = {{ uid = [[0, 1000, 1]], gid = [[0, 1000, 1]] }}\n");
    let mut host = FakeHost::default();
    host.paths.insert("/src".into(), on("/", "ramfs", "rw"));
    host.no_idmap.insert("/src".into(), Errno::EINVAL);
    let (r, text) = report(&idmapped, facts(false), &mut host);
    let f = found(&r, &text);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].0, f[0].1),
        ("mountplan::doctor::idmap", Severity::Error)
    );
    let d = &r.plan.as_ref().unwrap().diags[0];
    assert!(
        d.message.contains("(ramfs)") && d.message.contains("MOUNT_ATTR_IDMAP"),
        "{}",
        d.message
    );
    assert!(!r.can_apply());
    let (r, text) = report(BIND, facts(false), &mut host);
    assert!(found(&r, &text).is_empty());
    host.no_idmap.clear();
    let (r, text) = report(&idmapped, facts(false), &mut host);
    assert!(found(&r, &text).is_empty());
}
