//! Unit tests of `[process]`: each key read, each rule pinned at its span.

use std::path::Path;

use crate::diag::Diag;
use crate::model::{Cap, CapSet, CapsAsked, ConsoleSource, HostPath, Plan, RootPath};

const HEAD: &str = "version = 1\n[root]\ntmpfs = {}\n";

fn check(body: &str) -> (Option<Plan>, Vec<Diag>, String) {
    let text = format!("{HEAD}{body}");
    let t = text.clone();
    let mut l = crate::load::load(Path::new("t.toml"), &mut |_| Ok(t.clone()));
    let (p, d) = super::super::validate(&l.sources, &mut l.plans, &[]);
    let mut all = l.diags;
    all.extend(d);
    (p, all, text)
}

fn valid(body: &str) -> Plan {
    let (p, d, _) = check(body);
    assert!(d.is_empty(), "{d:#?}");
    p.expect("valid")
}

/// The one error, and the text its span covers.
fn one(body: &str) -> (Diag, String) {
    let (p, d, text) = check(body);
    assert!(p.is_none(), "expected an error for {body}");
    let errs: Vec<_> = d.into_iter().filter(Diag::is_error).collect();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let l = errs[0].loc.expect("a place");
    (errs[0].clone(), text[l.span.start..l.span.end].to_string())
}

#[test]
fn without_process_the_command_gets_docker_s_set_as_root_in_slash() {
    let p = valid("");
    let pr = &p.process;
    assert_eq!(pr.asked, CapsAsked::Default);
    assert_eq!(pr.caps.bits(), 0xa80425fb);
    assert!(pr.no_new_privs && !pr.chroot_drop);
    assert_eq!(pr.cwd.as_str(), "/");
    assert_eq!((pr.uid, pr.gid, pr.groups.len()), (0, 0, 0));
    assert_eq!(pr.umask, None);
    assert!(!pr.env.clear && pr.env.set.is_empty() && pr.env.unset.is_empty());
}

#[test]
fn every_key_is_read() {
    let p = valid(
        "[namespaces]\nuts = true\n[process]\ncapabilities = [\"CAP_SYS_ADMIN\", \
         \"net_admin\", \"Chown\"]\nno_new_privileges = false\ncwd = \"/work//x/\"\n\
         hostname = \"box-1.test\"\nuid = 1000\ngid = 100\ngroups = [27, 5, 27]\n\
         umask = \"0027\"\n[process.env]\nclear = true\nset = { PATH = \"/bin\", A = \"b\" }\n\
         unset = [\"HOME\"]\n",
    );
    let pr = &p.process;
    assert_eq!(pr.asked, CapsAsked::Listed);
    assert_eq!(
        pr.caps.names(),
        ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
    );
    assert!(!pr.no_new_privs);
    assert_eq!(pr.cwd.as_str(), "/work/x");
    assert_eq!(pr.hostname.as_deref(), Some("box-1.test"));
    assert_eq!((pr.uid, pr.gid), (1000, 100));
    assert_eq!(pr.groups, [5, 27]);
    assert_eq!(pr.umask.map(|m| m.bits()), Some(0o027));
    assert!(pr.env.clear);
    assert_eq!(
        pr.env.set,
        [("A".into(), "b".into()), ("PATH".into(), "/bin".into())]
    );
    assert_eq!(pr.env.unset, ["HOME"]);
}

#[test]
fn all_none_and_a_non_root_default() {
    let p = valid("[process]\ncapabilities = \"all\"\n");
    assert_eq!(p.process.asked, CapsAsked::All);
    assert_eq!(p.process.caps, CapSet::known());
    let p = valid("[process]\ncapabilities = []\n");
    assert!(p.process.caps.is_empty());
    // As another uid the default is no capability at all, as docker gives a non-root user.
    let p = valid("[process]\nuid = 1000\n");
    assert_eq!(p.process.asked, CapsAsked::Default);
    assert!(p.process.caps.is_empty());
}

#[test]
fn an_unknown_capability_points_at_the_name_and_suggests() {
    let (d, s) = one("[process]\ncapabilities = [\"CAP_CHOWN\", \"sys_admn\"]\n");
    assert_eq!(d.code, "mountplan::process::capability");
    assert_eq!(s, "\"sys_admn\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `CAP_SYS_ADMIN`?"));
    let (d, s) = one("[process]\ncapabilities = \"everything\"\n");
    assert_eq!(d.code, "mountplan::process::capabilities");
    assert_eq!(s, "\"everything\"");
}

#[test]
fn a_plain_chroot_takes_cap_sys_chroot_from_the_default_set() {
    for pivot in [
        "strategy = \"chroot\"",
        "strategy = \"pivot-root\"\nfallback = \"chroot\"",
    ] {
        let p = valid(&format!("[[step]]\nkind = \"pivot\"\n{pivot}\n"));
        assert!(p.process.chroot_drop, "{pivot}");
        assert!(!p.process.caps.contains(Cap::SYS_CHROOT));
        assert_eq!(p.process.caps.bits(), 0xa80425fb & !(1 << 18));
    }
    let p = valid("[[step]]\nkind = \"pivot\"\nstrategy = \"move\"\n");
    assert!(!p.process.chroot_drop);
    assert!(p.process.caps.contains(Cap::SYS_CHROOT));
}

#[test]
fn asking_for_cap_sys_chroot_with_a_plain_chroot_is_an_error_at_the_name() {
    let pivot = "[[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\nfallback = \"chroot\"\n";
    let (d, s) = one(&format!(
        "[process]\ncapabilities = [\"chown\", \"SYS_CHROOT\"]\n{pivot}"
    ));
    assert_eq!(d.code, "mountplan::process::chroot");
    assert_eq!(s, "\"SYS_CHROOT\"");
    assert_eq!(d.secondary.len(), 1);
    assert!(d.help.unwrap().contains("pivot-root"));
    let (d, s) = one(&format!("[process]\ncapabilities = \"all\"\n{pivot}"));
    assert_eq!(d.code, "mountplan::process::chroot");
    assert_eq!(s, "\"all\"");
    // Without the chroot it is fine.
    let p = valid("[process]\ncapabilities = [\"SYS_CHROOT\"]\n");
    assert!(p.process.caps.contains(Cap::SYS_CHROOT));
}

#[test]
fn hostname_needs_a_uts_namespace_and_a_valid_name() {
    let (d, s) = one("[process]\nhostname = \"box\"\n");
    assert_eq!(d.code, "mountplan::process::needs-uts");
    assert_eq!(s, "\"box\"");
    assert_eq!(d.help.as_deref(), Some("set `uts = true` in [namespaces]"));
    let (d, s) = one("[namespaces]\nuts = true\n[process]\nhostname = \"a b\"\n");
    assert_eq!(d.code, "mountplan::process::hostname");
    assert_eq!(s, "\"a b\"");
    let long = "x".repeat(65);
    let (d, _) = one(&format!(
        "[namespaces]\nuts = true\n[process]\nhostname = \"{long}\"\n"
    ));
    assert_eq!(d.code, "mountplan::process::hostname");
}

#[test]
fn ids_umask_and_cwd_are_checked_at_their_values() {
    let (d, s) = one("[process]\nuid = -1\n");
    assert_eq!(d.code, "mountplan::number::range");
    assert_eq!(s, "-1");
    let (d, s) = one("[process]\ngroups = [1, 4294967295]\n");
    assert_eq!(d.code, "mountplan::number::range");
    assert_eq!(s, "4294967295");
    let (d, s) = one("[process]\numask = \"1022\"\n");
    assert_eq!(d.code, "mountplan::process::umask");
    assert_eq!(s, "\"1022\"");
    let (d, s) = one("[process]\numask = \"22x\"\n");
    assert_eq!(d.code, "mountplan::mode");
    assert_eq!(s, "\"22x\"");
    let (d, s) = one("[process]\ncwd = \"work\"\n");
    assert_eq!(d.code, "mountplan::path::invalid");
    assert_eq!(s, "\"work\"");
}

#[test]
fn environment_names_and_conflicts() {
    let (d, s) = one("[process.env]\nset = { \"A=B\" = \"x\" }\n");
    assert_eq!(d.code, "mountplan::process::env");
    assert_eq!(s, "\"A=B\"");
    let (d, s) = one("[process.env]\nunset = [\"\"]\n");
    assert_eq!(d.code, "mountplan::process::env");
    assert_eq!(s, "\"\"");
    let (d, s) = one("[process.env]\nset = { HOME = \"/h\" }\nunset = [\"HOME\"]\n");
    assert_eq!(d.code, "mountplan::process::env");
    assert_eq!(s, "\"HOME\"");
    assert_eq!(d.label, "unset here");
    let (_, d, text) = check("[process.env]\nset = { HOME = \"/h\" }\nunset = [\"HOME\"]\n");
    let set_at = &d[0].secondary[0].0;
    assert_eq!(&text[set_at.span.start..set_at.span.end], "HOME");
}

/// The unknown-key error of a table outside `[[step]]`, the only problem reported (the
/// rest of the plan is still read).
fn unknown_key(body: &str) -> (Diag, String) {
    let (_, d, text) = check(body);
    assert_eq!(d.iter().filter(|d| d.is_error()).count(), 1, "{d:#?}");
    let d = d
        .into_iter()
        .find(|d| d.code == "mountplan::unknown_key")
        .expect("an unknown-key error");
    let l = d.loc.expect("a place");
    let s = text[l.span.start..l.span.end].to_string();
    (d, s)
}

#[test]
fn unknown_keys_of_process_get_a_suggestion() {
    let (d, s) = unknown_key("[process]\ncapabilites = []\n");
    assert_eq!(s, "capabilites");
    assert_eq!(d.help.as_deref(), Some("did you mean `capabilities`?"));
    let (d, s) = unknown_key("[process.env]\nunsett = []\n");
    assert_eq!(s, "unsett");
    assert_eq!(d.help.as_deref(), Some("did you mean `unset`?"));
}

#[test]
fn a_later_file_replaces_keys_and_merges_the_environment() {
    let mut files = std::collections::BTreeMap::new();
    files.insert(
        "base.toml",
        "version = 1\n[root]\ntmpfs = {}\n[process]\nuid = 5\ncwd = \"/a\"\n\
         [process.env]\nset = { A = \"1\", B = \"2\" }\n",
    );
    files.insert(
        "t.toml",
        "version = 1\ninclude = [\"base.toml\"]\n[process]\ncwd = \"/b\"\n\
         [process.env]\nset = { B = \"3\" }\n",
    );
    let mut l = crate::load::load(Path::new("t.toml"), &mut |p: &Path| {
        Ok(files[p.to_str().unwrap()].to_string())
    });
    assert!(l.diags.is_empty(), "{:#?}", l.diags);
    let (p, d) = super::super::validate(&l.sources, &mut l.plans, &[]);
    assert!(d.is_empty(), "{d:#?}");
    let pr = p.unwrap().process;
    assert_eq!(pr.uid, 5);
    assert_eq!(pr.cwd.as_str(), "/b");
    assert_eq!(
        pr.env.set,
        [("A".into(), "1".into()), ("B".into(), "3".into())]
    );
}

/// The steps a console needs: a tmpfs /dev, a devpts below it, a pivot.
const CONSOLE_STEPS: &str = "[[step]]\nkind = \"mount\"\nid = \"dev\"\ntype = \"tmpfs\"\n\
    target = \"/dev\"\n\n[[step]]\nkind = \"mount\"\nid = \"pts\"\ntype = \"devpts\"\n\
    target = \"/dev/pts\"\n\n[[step]]\nkind = \"pivot\"\n";

#[test]
fn a_console_is_the_plan_s_devpts_bound_onto_dev_console() {
    let p = valid(&format!("[process]\nconsole = \"pty\"\n{CONSOLE_STEPS}"));
    let c = p.process.console.expect("a console");
    assert_eq!(
        c.source,
        ConsoleSource::Pty {
            devpts: RootPath::new("/dev/pts").unwrap(),
            step: "pts".into()
        }
    );
    assert_eq!(c.target.as_str(), "/dev/console");
    assert!(valid(CONSOLE_STEPS).process.console.is_none());
}

#[test]
fn a_console_path_is_a_host_terminal_and_needs_no_devpts() {
    let no_devpts = CONSOLE_STEPS.replace(
        "[[step]]\nkind = \"mount\"\nid = \"pts\"\ntype = \"devpts\"\ntarget = \"/dev/pts\"\n\n",
        "",
    );
    assert_ne!(no_devpts, CONSOLE_STEPS);
    let p = valid(&format!(
        "[vars]\nCONSOLE = \"/dev/pts/7\"\n[process]\nconsole = \"${{CONSOLE}}\"\n{no_devpts}"
    ));
    let c = p.process.console.expect("a console");
    assert_eq!(
        c.source,
        ConsoleSource::Host(HostPath::new("/dev/pts/7").unwrap())
    );
    // A relative path is neither.
    let (d, s) = one(&format!("[process]\nconsole = \"pts/7\"\n{no_devpts}"));
    assert_eq!(d.code, "mountplan::process::console");
    assert_eq!(s, "\"pts/7\"");
    // It still needs the tmpfs on /dev and the pivot.
    let (d, _) = one(&format!(
        "[process]\nconsole = \"/dev/pts/7\"\n{}",
        no_devpts.replace("[[step]]\nkind = \"pivot\"\n", "")
    ));
    assert_eq!(d.code, "mountplan::process::console-pivot");
}

#[test]
fn a_console_other_than_pty_is_an_error_at_the_value() {
    let (d, s) = one(&format!("[process]\nconsole = \"tty\"\n{CONSOLE_STEPS}"));
    assert_eq!(d.code, "mountplan::process::console");
    assert_eq!(s, "\"tty\"");
    assert!(
        d.help
            .as_deref()
            .unwrap_or("")
            .contains("console = \"pty\"")
    );
}

#[test]
fn a_console_without_its_mounts_or_a_pivot_is_an_error_at_the_value() {
    let without = |drop: &str| CONSOLE_STEPS.replace(drop, "");
    for (steps, code) in [
        (
            without(
                "[[step]]\nkind = \"mount\"\nid = \"pts\"\ntype = \"devpts\"\ntarget = \"/dev/pts\"\n\n",
            ),
            "mountplan::process::console-devpts",
        ),
        (
            without(
                "[[step]]\nkind = \"mount\"\nid = \"dev\"\ntype = \"tmpfs\"\ntarget = \"/dev\"\n\n",
            ),
            "mountplan::process::console-dev",
        ),
        (
            without("[[step]]\nkind = \"pivot\"\n"),
            "mountplan::process::console-pivot",
        ),
        // A devpts elsewhere is not one below /dev.
        (
            CONSOLE_STEPS.replace("target = \"/dev/pts\"", "target = \"/pts\""),
            "mountplan::process::console-devpts",
        ),
    ] {
        assert_ne!(steps, CONSOLE_STEPS, "the step to drop is not in the plan");
        let (d, s) = one(&format!("[process]\nconsole = \"pty\"\n{steps}"));
        assert_eq!(d.code, code, "{steps}");
        assert_eq!(s, "\"pty\"", "{code}");
        assert!(d.help.is_some(), "{code}");
    }
}
