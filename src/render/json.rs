//! The dry run for scripts: a [`Review`] -> one JSON document, `"format_version": 1`.
//!
//! The fields are documented in docs/json.md; they only ever grow within a format version.
//! Field order is fixed (structs, not maps), so the bytes are stable.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Review, findmnt};
use crate::diag::Diag;
use crate::graph::{Dag, NodeKind};
use crate::lowering::Dev;
use crate::model::{CapsAsked, Process, UserNs, ms_flags_str};
use crate::source::Sources;

#[derive(Serialize)]
struct Doc<'a> {
    format_version: u32,
    plan: Header<'a>,
    warnings: Vec<JDiag>,
    setup: Setup,
    steps: Vec<JStep<'a>>,
    edges: Vec<JEdge<'a>>,
    #[serde(rename = "final")]
    final_: Final<'a>,
}

#[derive(Serialize)]
struct Header<'a> {
    name: &'a str,
    file: &'a str,
    description: Option<&'a str>,
    root: JRoot,
    api: JApi,
    namespaces: Namespaces,
    vars: &'a BTreeMap<String, String>,
    includes: &'a [String],
    process: JProcess<'a>,
}

#[derive(Serialize)]
struct JApi {
    word: &'static str,
    rule: String,
}

#[derive(Serialize)]
struct JProcess<'a> {
    capabilities: Vec<String>,
    capabilities_asked: &'static str,
    chroot_drop: bool,
    no_new_privs: bool,
    uid: u32,
    gid: u32,
    groups: &'a [u32],
    cwd: &'a str,
    env: JEnv<'a>,
    hostname: Option<&'a str>,
    umask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    console: Option<JConsole<'a>>,
}

#[derive(Serialize)]
struct JConsole<'a> {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    devpts: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    devpts_step: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    target: &'a str,
    calls: Vec<String>,
}

#[derive(Serialize)]
struct JEnv<'a> {
    clear: bool,
    unset: &'a [String],
    set: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum JRoot {
    Path { path: String },
    Tmpfs { data: Option<String> },
}

#[derive(Serialize)]
struct Namespaces {
    mount: bool,
    user: &'static str,
    pid: bool,
    ipc: bool,
    uts: bool,
    net: bool,
    cgroup: bool,
}

/// A diagnostic as the JSON formats write it (`plan` and `diff`; docs/json.md).
#[derive(Serialize)]
pub(crate) struct JDiag {
    code: &'static str,
    severity: &'static str,
    message: String,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    label: String,
    help: Option<String>,
}

#[derive(Serialize)]
struct Setup {
    calls: Vec<String>,
    undo: Vec<String>,
}

#[derive(Serialize)]
struct Dep<'a> {
    step: &'a str,
    index: usize,
    kind: &'static str,
}

#[derive(Serialize)]
struct JStep<'a> {
    index: usize,
    id: &'a str,
    kind: &'static str,
    summary: String,
    from: Option<JFrom<'a>>,
    note: Option<&'a str>,
    depends_on: Vec<Dep<'a>>,
    calls: Vec<String>,
    fallback: Option<Vec<String>>,
    undo: Vec<String>,
    warnings: Vec<JDiag>,
}

/// Where an included step is written.
#[derive(Serialize)]
struct JFrom<'a> {
    file: &'a str,
    line: usize,
}

#[derive(Serialize)]
struct JEdge<'a> {
    from: &'a str,
    to: &'a str,
    from_index: usize,
    to_index: usize,
    kind: &'static str,
}

#[derive(Serialize)]
struct Final<'a> {
    mounts: Vec<JMount<'a>>,
    nodes: Vec<JNode<'a>>,
}

#[derive(Serialize)]
struct JMount<'a> {
    mountpoint: &'a str,
    parent: Option<usize>,
    source: &'a str,
    fstype: &'a str,
    options: String,
    flags: String,
    data: Option<&'a str>,
    recursive: bool,
    step: Option<&'a str>,
    conditional: bool,
    propagation: Vec<&'static str>,
}

#[derive(Serialize)]
struct JNode<'a> {
    path: &'a str,
    kind: &'static str,
    major: Option<u32>,
    minor: Option<u32>,
    from_host: Option<&'a str>,
    target: Option<&'a str>,
    mode: Option<String>,
    uid: Option<u32>,
    gid: Option<u32>,
    step: &'a str,
    hidden_by: Option<&'a str>,
    if_missing: bool,
}

fn jdiag(r: &Review, d: &Diag) -> JDiag {
    diag_json(r.sources, d)
}

/// A diagnostic, placed in `sources`, as the JSON formats write it.
pub(crate) fn diag_json(sources: &Sources, d: &Diag) -> JDiag {
    let (file, line, column) = match d.loc {
        Some(l) if (l.src.0 as usize) < sources.len() => {
            let (line, col) = sources.line_col(l.src, l.span.start);
            (Some(sources.get(l.src).name.clone()), Some(line), Some(col))
        }
        _ => (None, None, None),
    };
    JDiag {
        code: d.code,
        severity: if d.is_error() { "error" } else { "warning" },
        message: d.message.clone(),
        file,
        line,
        column,
        label: d.label.clone(),
        help: d.help.clone(),
    }
}

fn jprocess(p: &Process) -> JProcess<'_> {
    JProcess {
        capabilities: p.caps.names(),
        capabilities_asked: match p.asked {
            CapsAsked::Default => "default",
            CapsAsked::All => "all",
            CapsAsked::Listed => "list",
        },
        chroot_drop: p.chroot_drop,
        no_new_privs: p.no_new_privs,
        uid: p.uid,
        gid: p.gid,
        groups: &p.groups,
        cwd: p.cwd.as_str(),
        env: JEnv {
            clear: p.env.clear,
            unset: &p.env.unset,
            set: p
                .env
                .set
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        },
        hostname: p.hostname.as_deref(),
        umask: p.umask.map(|m| format!("{:04o}", m.bits())),
        console: p.console.as_ref().map(jconsole),
    }
}

fn jconsole(c: &crate::model::Console) -> JConsole<'_> {
    let (kind, devpts, devpts_step, path) = match &c.source {
        crate::model::ConsoleSource::Pty { devpts, step } => {
            ("pty", Some(devpts.as_str()), Some(step.as_str()), None)
        }
        crate::model::ConsoleSource::Host(h) => ("host", None, None, Some(h.as_str())),
    };
    JConsole {
        kind,
        devpts,
        devpts_step,
        path,
        target: c.target.as_str(),
        calls: crate::render::process::console_calls(c),
    }
}

fn strings(calls: &[crate::lowering::Call]) -> Vec<String> {
    calls.iter().map(|c| c.to_string()).collect()
}

/// The JSON dry run of `dag` (see docs/json.md), with a trailing newline.
pub fn json(sources: &Sources, dag: &Dag, diags: &[Diag]) -> String {
    let r = Review::new(sources, dag, diags);
    let plan = &dag.plan;
    let ns = &plan.namespaces;
    let id = |i: usize| plan.steps.get(i).map(|s| s.id.as_str()).unwrap_or("?");
    // The final tree as the command sees it: with the console bound, when there is one.
    let tree = crate::render::process::with_console(&dag.tree, &plan.process);
    let parents = findmnt::parents(&tree.mounts);
    let doc = Doc {
        format_version: 1,
        plan: Header {
            name: &plan.name,
            file: &r.file,
            description: plan.description.as_deref(),
            root: match &plan.root {
                crate::model::Root::Path(p) => JRoot::Path {
                    path: p.to_string(),
                },
                root @ crate::model::Root::Tmpfs(_) => JRoot::Tmpfs {
                    data: crate::lowering::fsconfig::data(&root.fs()),
                },
            },
            api: JApi {
                word: plan.api.as_str(),
                rule: crate::render::api_rule(plan.api),
            },
            namespaces: Namespaces {
                mount: true,
                user: match ns.user {
                    UserNs::Off => "off",
                    UserNs::On => "on",
                    UserNs::Auto => "auto",
                },
                pid: ns.pid,
                ipc: ns.ipc,
                uts: ns.uts,
                net: ns.net,
                cgroup: ns.cgroup,
            },
            vars: &plan.vars,
            includes: &plan.includes,
            process: jprocess(&plan.process),
        },
        warnings: r.general.iter().map(|d| jdiag(&r, d)).collect(),
        setup: Setup {
            calls: strings(r.setup),
            undo: r.setup_undo.clone(),
        },
        steps: r
            .steps
            .iter()
            .map(|s| JStep {
                index: s.index,
                id: s.step.id.as_str(),
                kind: s.step.kind().as_str(),
                summary: s.summary.clone(),
                from: s.origin.map(|(file, line)| JFrom { file, line }),
                note: s.step.note.as_deref(),
                depends_on: s
                    .deps
                    .iter()
                    .flat_map(|(f, kinds)| {
                        kinds.iter().map(move |k| Dep {
                            step: id(*f),
                            index: *f,
                            kind: k.as_str(),
                        })
                    })
                    .collect(),
                calls: strings(&s.calls.calls),
                fallback: s.calls.fallback.as_deref().map(strings),
                undo: s.undo.clone(),
                warnings: s.diags.iter().map(|d| jdiag(&r, d)).collect(),
            })
            .collect(),
        edges: dag
            .edges
            .iter()
            .map(|e| JEdge {
                from: id(e.from),
                to: id(e.to),
                from_index: e.from,
                to_index: e.to,
                kind: e.kind.as_str(),
            })
            .collect(),
        final_: Final {
            mounts: tree
                .mounts
                .iter()
                .zip(parents)
                .map(|(m, parent)| JMount {
                    mountpoint: m.mountpoint.as_str(),
                    parent,
                    source: &m.source,
                    fstype: &m.fstype,
                    options: findmnt::options(m),
                    flags: ms_flags_str(m.flags),
                    data: m.data.as_deref(),
                    recursive: m.recursive,
                    step: m.step.map(id),
                    conditional: m.conditional,
                    propagation: m.propagation.iter().map(|p| p.as_str()).collect(),
                })
                .collect(),
            nodes: tree
                .nodes
                .iter()
                .map(|n| {
                    let (kind, dev, target) = match &n.kind {
                        NodeKind::Dir => ("dir", None, None),
                        NodeKind::File => ("file", None, None),
                        NodeKind::Char(d) => ("char", Some(d), None),
                        NodeKind::Block(d) => ("block", Some(d), None),
                        NodeKind::Fifo => ("fifo", None, None),
                        NodeKind::Symlink(t) => ("symlink", None, Some(t.as_str())),
                        NodeKind::Changed => ("existing", None, None),
                    };
                    let (major, minor, from_host) = match dev {
                        Some(Dev::Num(a, b)) => (Some(*a), Some(*b), None),
                        Some(Dev::FromHost(h)) => (None, None, Some(h.as_str())),
                        None => (None, None, None),
                    };
                    JNode {
                        path: n.path.as_str(),
                        kind,
                        major,
                        minor,
                        from_host,
                        target,
                        mode: n.mode.map(|m| m.to_string()),
                        uid: n.uid,
                        gid: n.gid,
                        step: id(n.step),
                        hidden_by: n.hidden_by.map(id),
                        if_missing: n.if_missing,
                    }
                })
                .collect(),
        },
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        // Serialising these plain structs cannot fail; say so in JSON if it ever does.
        serde_json::json!({ "format_version": 1, "error": e.to_string() }).to_string()
    });
    s.push('\n');
    s
}
