//! Checking `[process]`: capability names, ids, the working directory, the environment, the
//! hostname and the umask.
//!
//! Takes each file's raw `[process]` table ([`read`], includes first: a key a later file gives
//! replaces the earlier one; `env.set` and `env.unset` merge by name) and then the plan-wide
//! facts ([`finish`]: the namespaces and the pivot); returns the [`Process`] the command runs
//! with, pushing a diagnostic at the value for every problem.
//!
//! Plan-wide rules: `hostname` needs a UTS namespace; a pivot that can end in a plain `chroot`
//! takes `CAP_SYS_CHROOT` away from the default set, and a plan that asks for it (by name or
//! with `"all"`) together with such a pivot is an error, since a process with
//! `CAP_SYS_CHROOT` leaves a plain chroot.

use std::collections::BTreeMap;

use super::values::Ctx;
use crate::diag::Diag;
use crate::model::{
    self, Action, CAP_NAMES, Cap, CapSet, CapsAsked, Env, Mode, Namespaces, PivotStrategy, Process,
    ProcessLocs, RootPath,
};
use crate::parse::did_you_mean;
use crate::raw::{self, Spanned};
use crate::source::Loc;

/// The keys of `[process]` given so far, each with where it is written.
#[derive(Debug, Default)]
pub(super) struct Parts {
    caps: Option<Caps>,
    no_new_privs: Option<bool>,
    cwd: Option<(RootPath, Loc)>,
    clear: Option<bool>,
    set: BTreeMap<String, (String, Loc)>,
    unset: BTreeMap<String, Loc>,
    hostname: Option<(String, Loc)>,
    uid: Option<(u32, Loc)>,
    gid: Option<(u32, Loc)>,
    groups: Option<(Vec<u32>, Loc)>,
    umask: Option<Mode>,
}

#[derive(Debug)]
struct Caps {
    asked: CapsAsked,
    set: CapSet,
    /// The value.
    loc: Loc,
    /// Where `CAP_SYS_CHROOT` is named (or `"all"` written), when it is.
    chroot: Option<Loc>,
}

/// Reads one file's `[process]` into `parts`.
pub(super) fn read(cx: &mut Ctx, p: &Spanned<raw::Process>, parts: &mut Parts) {
    let p = &p.value;
    if let Some(c) = &p.capabilities {
        if let Some(caps) = capabilities(cx, c) {
            parts.caps = Some(caps);
        }
    }
    if let Some(b) = &p.no_new_privileges {
        parts.no_new_privs = Some(b.value);
    }
    if let Some(c) = &p.cwd {
        if let Some(path) = cx.root_path(c) {
            parts.cwd = Some((path, cx.loc(c)));
        }
    }
    if let Some(e) = &p.env {
        env(cx, &e.value, parts);
    }
    if let Some(h) = &p.hostname {
        if let Some(name) = cx.sub(h) {
            if hostname_ok(&name) {
                parts.hostname = Some((name, cx.loc(h)));
            } else {
                let d = Diag::error(
                    "mountplan::process::hostname",
                    format!("`{}` is not a hostname", name.escape_debug()),
                    cx.loc(h),
                )
                .label("not a hostname")
                .help("use 1 to 64 letters, digits, `-`, `.` and `_`");
                cx.err(d);
            }
        }
    }
    for (v, what, slot) in [
        (&p.uid, "uid", &mut parts.uid),
        (&p.gid, "gid", &mut parts.gid),
    ] {
        if let Some(v) = v {
            if let Some(n) = cx.id_num(v, what) {
                *slot = Some((n, cx.loc(v)));
            }
        }
    }
    if let Some(g) = &p.groups {
        let ids: Vec<Option<u32>> = g.iter().map(|x| cx.id_num(x, "group")).collect();
        if let Some(mut ids) = ids.into_iter().collect::<Option<Vec<u32>>>() {
            ids.sort_unstable();
            ids.dedup();
            let loc = match (g.first(), g.last()) {
                (Some(a), Some(b)) => Loc::new(cx.src, a.span.start..b.span.end),
                _ => Loc::new(cx.src, 0..0),
            };
            parts.groups = Some((ids, loc));
        }
    }
    if let Some(u) = &p.umask {
        if let Some(m) = cx.mode(u) {
            if m.bits() > 0o777 {
                let d = Diag::error(
                    "mountplan::process::umask",
                    format!("`{m}` is not a umask"),
                    cx.loc(u),
                )
                .label("a umask has permission bits only, at most 0777")
                .help("write the bits to clear from new files' modes, such as \"0022\"");
                cx.err(d);
            } else {
                parts.umask = Some(m);
            }
        }
    }
}

/// Letters, digits, `-`, `.` and `_`, 1 to 64 bytes (HOST_NAME_MAX).
fn hostname_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

fn capabilities(cx: &mut Ctx, c: &Spanned<raw::Capabilities>) -> Option<Caps> {
    let loc = cx.loc(c);
    match &c.value {
        raw::Capabilities::Word(w) if w == "all" => Some(Caps {
            asked: CapsAsked::All,
            set: CapSet::known(),
            loc,
            chroot: Some(loc),
        }),
        raw::Capabilities::Word(w) => {
            let d = Diag::error(
                "mountplan::process::capabilities",
                format!("`{}` is not a capability list", w.escape_debug()),
                loc,
            )
            .label("not `\"all\"` nor an array")
            .help("write `\"all\"`, `[]` for none, or an array of names such as [\"CAP_CHOWN\"]");
            cx.err(d);
            None
        }
        raw::Capabilities::List(names) => {
            let mut set = CapSet::EMPTY;
            let mut chroot = None;
            let mut ok = true;
            for n in names {
                match Cap::parse(&n.value) {
                    Some(cap) => {
                        set.insert(cap);
                        if cap == Cap::SYS_CHROOT && chroot.is_none() {
                            chroot = Some(cx.loc(n));
                        }
                    }
                    None => {
                        ok = false;
                        let upper = n.value.to_ascii_uppercase();
                        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
                        let mut d = Diag::error(
                            "mountplan::process::capability",
                            format!("unknown capability `{}`", n.value.escape_debug()),
                            cx.loc(n),
                        )
                        .label("not a Linux capability");
                        d = match did_you_mean(bare, CAP_NAMES.iter().copied()) {
                            Some(s) => d.help(format!("did you mean `CAP_{s}`?")),
                            None => {
                                d.help("see capabilities(7) for the names (`CAP_` may be left out)")
                            }
                        };
                        cx.err(d);
                    }
                }
            }
            ok.then_some(Caps {
                asked: CapsAsked::Listed,
                set,
                loc,
                chroot,
            })
        }
    }
}

/// A variable name the environment can hold: not empty, no `=`, no NUL.
fn env_name(cx: &mut Ctx, name: &str, loc: Loc) -> bool {
    let why = if name.is_empty() {
        Some("the name is empty")
    } else if name.contains('=') {
        Some("`=` ends a name in the environment")
    } else if name.contains('\0') {
        Some("the name contains a NUL byte")
    } else {
        None
    };
    if let Some(why) = why {
        cx.err(
            Diag::error(
                "mountplan::process::env",
                format!("`{}` is not a variable name", name.escape_debug()),
                loc,
            )
            .label(why)
            .help("name variables with letters, digits and `_`"),
        );
    }
    why.is_none()
}

fn env(cx: &mut Ctx, e: &raw::ProcessEnv, parts: &mut Parts) {
    if let Some(c) = &e.clear {
        parts.clear = Some(c.value);
    }
    for (k, v) in e.set.iter().flatten() {
        let kloc = cx.loc(k);
        if !env_name(cx, &k.value, kloc) {
            continue;
        }
        let Some(value) = cx.sub(v) else {
            continue;
        };
        if value.contains('\0') {
            let d = Diag::error(
                "mountplan::process::env",
                format!("the value of `{}` contains a NUL byte", k.value),
                cx.loc(v),
            )
            .label("a NUL byte ends a string in the environment")
            .help("remove the NUL byte");
            cx.err(d);
            continue;
        }
        parts.set.insert(k.value.clone(), (value, kloc));
    }
    for u in e.unset.iter().flatten() {
        let loc = cx.loc(u);
        if env_name(cx, &u.value, loc) {
            parts.unset.insert(u.value.clone(), loc);
        }
    }
}

/// The command's process, from every file's parts and the plan's namespaces and steps.
pub(super) fn finish(
    parts: Parts,
    ns: &Namespaces,
    steps: &[model::Step],
    diags: &mut Vec<Diag>,
) -> Process {
    let uid = parts.uid.as_ref().map_or(0, |u| u.0);
    let chroot_pivot = steps.iter().find_map(|s| match &s.action {
        Action::Pivot(p)
            if p.strategy == PivotStrategy::Chroot || p.fallback == Some(PivotStrategy::Chroot) =>
        {
            Some(s.loc)
        }
        _ => None,
    });
    let (asked, mut caps) = match &parts.caps {
        Some(c) => (c.asked.clone(), c.set),
        None if uid == 0 => (CapsAsked::Default, CapSet::docker_default()),
        None => (CapsAsked::Default, CapSet::EMPTY),
    };
    let mut chroot_drop = false;
    if let Some(pivot) = chroot_pivot {
        match parts.caps.as_ref().and_then(|c| c.chroot.map(|l| (c, l))) {
            Some((c, at)) => {
                let what = if c.asked == CapsAsked::All {
                    "`\"all\"` gives the command CAP_SYS_CHROOT"
                } else {
                    "the command asks for CAP_SYS_CHROOT"
                };
                diags.push(
                    Diag::error(
                        "mountplan::process::chroot",
                        format!(
                            "{what}, and the pivot can end in a plain `chroot`, which a \
                             process with CAP_SYS_CHROOT can leave (chroot into a \
                             subdirectory, then walk `..`)"
                        ),
                        at,
                    )
                    .label("CAP_SYS_CHROOT asked for here")
                    .also(pivot, "this pivot can end in a plain chroot")
                    .help(
                        "enter the root with `strategy = \"pivot-root\"` or `\"move\"` and no \
                         `fallback = \"chroot\"`, or leave CAP_SYS_CHROOT out of `capabilities`",
                    ),
                );
            }
            None if caps.contains(Cap::SYS_CHROOT) => {
                caps.remove(Cap::SYS_CHROOT);
                chroot_drop = true;
            }
            None => {}
        }
    }
    if let Some((_, at)) = &parts.hostname {
        if !ns.uts {
            diags.push(
                Diag::error(
                    "mountplan::process::needs-uts",
                    "`hostname` needs a UTS namespace, and the plan makes none",
                    *at,
                )
                .label("the host's name would change")
                .help("set `uts = true` in [namespaces]"),
            );
        }
    }
    for (name, at) in &parts.unset {
        if let Some((_, set_at)) = parts.set.get(name) {
            diags.push(
                Diag::error(
                    "mountplan::process::env",
                    format!("`{name}` is both unset and set"),
                    *at,
                )
                .label("unset here")
                .also(*set_at, "set here")
                .help("keep one of them (`set` alone replaces the caller's value)"),
            );
        }
    }
    Process {
        asked,
        caps,
        chroot_drop,
        no_new_privs: parts.no_new_privs.unwrap_or(true),
        cwd: parts
            .cwd
            .as_ref()
            .map_or_else(RootPath::root, |c| c.0.clone()),
        env: Env {
            clear: parts.clear.unwrap_or(false),
            unset: parts.unset.keys().cloned().collect(),
            set: parts
                .set
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect(),
        },
        hostname: parts.hostname.as_ref().map(|h| h.0.clone()),
        uid,
        gid: parts.gid.as_ref().map_or(0, |g| g.0),
        groups: parts
            .groups
            .as_ref()
            .map(|g| g.0.clone())
            .unwrap_or_default(),
        umask: parts.umask,
        locs: ProcessLocs {
            caps: parts.caps.as_ref().map(|c| c.loc),
            uid: parts.uid.map(|u| u.1),
            gid: parts.gid.map(|g| g.1),
            groups: parts.groups.map(|g| g.1),
            cwd: parts.cwd.map(|c| c.1),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::diag::Diag;
    use crate::model::{Cap, CapSet, CapsAsked, Plan};

    const HEAD: &str = "version = 1\n[root]\ntmpfs = {}\n";

    fn check(body: &str) -> (Option<Plan>, Vec<Diag>, String) {
        let text = format!("{HEAD}{body}");
        let t = text.clone();
        let l = crate::load::load(Path::new("t.toml"), &mut |_| Ok(t.clone()));
        let (p, d) = super::super::validate(&l.sources, &l.plans, &[]);
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
        let pivot =
            "[[step]]\nkind = \"pivot\"\nstrategy = \"pivot-root\"\nfallback = \"chroot\"\n";
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
        let l = crate::load::load(Path::new("t.toml"), &mut |p: &Path| {
            Ok(files[p.to_str().unwrap()].to_string())
        });
        assert!(l.diags.is_empty(), "{:#?}", l.diags);
        let (p, d) = super::super::validate(&l.sources, &l.plans, &[]);
        assert!(d.is_empty(), "{d:#?}");
        let pr = p.unwrap().process;
        assert_eq!(pr.uid, 5);
        assert_eq!(pr.cwd.as_str(), "/b");
        assert_eq!(
            pr.env.set,
            [("A".into(), "1".into()), ("B".into(), "3".into())]
        );
    }
}
