//! `[namespaces]` and `[process]`: takes the config's `linux.namespaces`, its `process` and
//! `hostname`; sets the plan's namespaces, process and environment, with a note for what
//! differs from runc.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::Out;
use crate::import::writer::Value;
use crate::import::{Host, mode_str, shell_word};

/// `[namespaces]`; returns whether there is a user namespace.
pub(super) fn namespaces(linux: &oci_spec::runtime::Linux, o: &mut Out) -> bool {
    let list = linux.namespaces().clone().unwrap_or_default();
    let has = |t: LinuxNamespaceType| list.iter().any(|n| n.typ() == t);
    for n in &list {
        if let Some(p) = n.path() {
            o.note(format!(
                "linux.namespaces: joining the {} namespace at {} is not supported; the plan \
                 makes a new one",
                n.typ(),
                p.display()
            ));
        }
    }
    if !has(LinuxNamespaceType::Mount) {
        o.note(
            "linux.namespaces has no mount namespace: mountplan always makes one (runc would \
             change the host's mounts)",
        );
    }
    if has(LinuxNamespaceType::Time) {
        o.note("linux.namespaces: a time namespace is not supported; the plan has none");
    }
    let userns = has(LinuxNamespaceType::User);
    if userns {
        o.plan.namespaces.set("user", Value::Bool(true));
        for (key, maps) in [
            ("uidMappings", linux.uid_mappings()),
            ("gidMappings", linux.gid_mappings()),
        ] {
            let maps = maps.clone().unwrap_or_default();
            let one = maps.len() == 1 && maps[0].container_id() == 0 && maps[0].size() == 1;
            if one {
                o.note(format!(
                    "linux.{key}: 0 -> {} is what mountplan maps when id {} runs apply (it \
                     maps the caller to 0)",
                    maps[0].host_id(),
                    maps[0].host_id()
                ));
            } else {
                o.note(format!(
                    "linux.{key}: mountplan maps only the caller to 0; {} mapping(s) not \
                     imported",
                    maps.len()
                ));
            }
        }
    }
    for (key, t) in [
        ("pid", LinuxNamespaceType::Pid),
        ("ipc", LinuxNamespaceType::Ipc),
        ("uts", LinuxNamespaceType::Uts),
        ("net", LinuxNamespaceType::Network),
        ("cgroup", LinuxNamespaceType::Cgroup),
    ] {
        o.plan.namespaces.set(key, Value::Bool(has(t)));
    }
    userns
}

/// `[process]`.
pub(super) fn process(spec: &Spec, rootfs: &str, host: &dyn Host, o: &mut Out) {
    let uts = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::Uts));
    let Some(p) = spec.process() else {
        o.note("the config has no `process`: the plan's command runs as mountplan's defaults say");
        return;
    };
    if let Some(args) = p.args().as_ref().filter(|a| !a.is_empty()) {
        let line: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
        o.note(format!(
            "process.args: a plan has no command; run it as `mountplan apply PLAN -- {}`",
            line.join(" ")
        ));
    }
    if p.terminal() == Some(true) {
        // runc's console: a pty of the container's devpts, bound onto /dev/console.
        o.plan.process.set("console", Value::str("pty"));
    }
    let user = p.user();
    if user.uid() != 0 {
        o.plan.process.set("uid", Value::Int(i64::from(user.uid())));
    }
    if user.gid() != 0 {
        o.plan.process.set("gid", Value::Int(i64::from(user.gid())));
    }
    if let Some(g) = user.additional_gids().as_ref().filter(|g| !g.is_empty()) {
        o.plan.process.set(
            "groups",
            Value::Ints(g.iter().map(|g| i64::from(*g)).collect()),
        );
    }
    if let Some(m) = user.umask() {
        o.plan.process.set("umask", Value::str(mode_str(m)));
    }
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !cwd.is_empty() && cwd != "/" {
        o.plan.process.set("cwd", Value::str(cwd));
    }
    if let Some(caps) = p.capabilities() {
        let names = |s: &Option<oci_spec::runtime::Capabilities>| -> Option<Vec<String>> {
            let mut v: Vec<String> = s
                .as_ref()?
                .iter()
                .map(|c| {
                    let n = format!("{c}");
                    if n.starts_with("CAP_") {
                        n
                    } else {
                        format!("CAP_{n}")
                    }
                })
                .collect();
            v.sort();
            Some(v)
        };
        let bounding = names(caps.bounding()).unwrap_or_default();
        let effective = names(caps.effective());
        let permitted = names(caps.permitted());
        let ambient = names(caps.ambient());
        let inheritable = names(caps.inheritable());
        let ambient_list = ambient.clone().unwrap_or_default();
        // What the command holds after its exec under runc: as uid 0, its permitted set is
        // filled from the bounding set; as another uid, it keeps only its ambient set.
        let (set, from) = if user.uid() == 0 {
            (bounding.clone(), "bounding")
        } else {
            (
                ambient_list
                    .iter()
                    .filter(|c| bounding.contains(c))
                    .cloned()
                    .collect(),
                "ambient",
            )
        };
        let bounding = Some(bounding);
        let others = [
            ("bounding", &bounding),
            ("effective", &effective),
            ("permitted", &permitted),
            ("inheritable", &inheritable),
            ("ambient", &ambient),
        ];
        let differ: Vec<&str> = others
            .iter()
            .filter(|(_, v)| v.as_ref().is_some_and(|v| *v != set))
            .map(|(n, _)| *n)
            .collect();
        if !differ.is_empty() {
            o.note(format!(
                "process.capabilities: the plan gives the command one set, the {from} set \
                 (what it holds after exec under runc); {} differ and are not imported as such",
                differ.join(", ")
            ));
        }
        o.plan.process.set("capabilities", Value::Strs(set));
    } else {
        o.plan.process.set("capabilities", Value::Strs(Vec::new()));
    }
    if p.no_new_privileges() != Some(true) {
        o.plan.process.set("no_new_privileges", Value::Bool(false));
    }
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        if uts {
            o.plan.process.set("hostname", Value::str(h.clone()));
        } else {
            o.note(format!(
                "hostname `{h}` is not imported: it needs a uts namespace, which the config \
                 does not have (runc refuses it too)"
            ));
        }
    }
    if let Some(env) = p.env() {
        o.plan.env.set("clear", Value::Bool(true));
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            // runc sets HOME from the root's /etc/passwd entry of the uid, else to /.
            let passwd = host.read(&format!("{}/etc/passwd", rootfs.trim_end_matches('/')));
            let home = passwd
                .as_deref()
                .and_then(|t| {
                    t.lines().find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() > 5 && f[2] == user.uid().to_string()).then(|| f[5].to_string())
                    })
                })
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "/".into());
            o.note(format!(
                "process.env has no HOME: runc sets it to {home} (from the root's /etc/passwd, \
                 or /); so does the plan"
            ));
            o.plan.env_set.set("HOME", Value::str(home));
        }
        for e in env {
            match e.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    o.plan.env_set.set(k, Value::str(v));
                }
                _ => o.note(format!(
                    "process.env: `{e}` is not NAME=VALUE; not imported"
                )),
            }
        }
    }
}
