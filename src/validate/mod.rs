//! Validation: raw plans -> a [`model::Plan`], collecting every problem.
//!
//! Takes the sources, the raw plans (includes first, the entry last) and `--set` overrides;
//! returns the typed plan when there is no error, and every diagnostic found (errors and
//! warnings) — never only the first. Single values are checked in `values`, one step in
//! `step`, and plan-wide rules (ids, the pivot, host paths after it) here; `api` the plan's
//! mount API and what a classic plan cannot do.

mod api;
pub(crate) mod idmap;
pub mod preflight;
mod process;
mod step;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::diag::Diag;
use crate::model::{self, Action, Namespaces, Root, StepId, TmpfsOptions, UserNs};
use crate::raw;
use crate::source::{Loc, SourceId, Sources};

use values::Ctx;

/// Validates the raw plans (includes first, entry last) with `--set` overrides. The steps are
/// taken out of the raw plans as they are checked (each raw step is freed once its model step
/// is made, so that the two are not all held at once); the rest of each plan is left.
pub fn validate(
    sources: &Sources,
    plans: &mut [(SourceId, raw::Plan)],
    set: &[(String, String)],
) -> (Option<model::Plan>, Vec<Diag>) {
    validate_api(sources, plans, set, None)
}

/// [`validate`] with the plan's `api` overridden (`--api`).
pub fn validate_api(
    sources: &Sources,
    plans: &mut [(SourceId, raw::Plan)],
    set: &[(String, String)],
    api_override: Option<model::Api>,
) -> (Option<model::Plan>, Vec<Diag>) {
    let mut diags = Vec::new();
    let Some(entry_id) = plans.last().map(|(i, _)| *i) else {
        return (None, diags);
    };
    let entry_id = &entry_id;
    // Variables: includes first, the entry overrides, then --set.
    let mut vars = BTreeMap::new();
    for (_, p) in plans.iter() {
        for (k, v) in p.vars.iter().flatten() {
            vars.insert(k.clone(), v.value.clone());
        }
    }
    for (k, v) in set {
        vars.insert(k.clone(), v.clone());
    }
    // A variable's value is used as written: `${` in it would stay as it is, which is never
    // what was meant. Refused where it is written, once; its uses are not checked further.
    for (src, p) in plans.iter() {
        for (k, v) in p.vars.iter().flatten() {
            if v.value.contains("${") {
                diags.push(
                    Diag::error(
                        "mountplan::var::not_substituted",
                        format!(
                            "no variable is substituted in the value of `{k}`: a variable's \
                             value is used as written"
                        ),
                        Loc::new(*src, v.span.clone()),
                    )
                    .label("`${` here would stay as it is")
                    .help("write the value in full, without `${...}`"),
                );
            }
        }
    }
    for (k, v) in set {
        if v.contains("${") {
            diags.push(
                Diag::error_nowhere(
                    "mountplan::var::not_substituted",
                    format!(
                        "no variable is substituted in `--set {k}=...`: a variable's value is \
                         used as written"
                    ),
                )
                .help("give the value in full, without `${...}`"),
            );
        }
    }
    let refused: BTreeSet<String> = vars
        .iter()
        .filter(|(_, v)| v.contains("${"))
        .map(|(k, _)| k.clone())
        .collect();
    let mut used = BTreeSet::new();
    let mut name = None;
    let mut description = None;
    let mut root: Option<Root> = None;
    let mut root_loc: Option<Loc> = None;
    let mut plan_api = model::Api::default();
    let mut api_loc: Option<Loc> = None;
    let mut needs_new: Vec<api::NeedsNew> = Vec::new();
    let mut ns = Namespaces::default();
    let mut process_parts = process::Parts::default();
    // Exactly as many as there are raw steps (at most): grown by doubling, a third is empty.
    let mut steps = Vec::with_capacity(plans.iter().map(|(_, p)| p.step.len()).sum());
    let mut ids: BTreeMap<String, Loc> = BTreeMap::new();
    let mut pivot: Option<Loc> = None;
    let mut n = 0usize;
    let mut expanded = 0;
    // A fragment (`mountplan:NAME`) included by the plan adds its steps and namespaces only:
    // its name, description and root are there to view it alone.
    let header = |src: &SourceId| {
        *src == *entry_id || !crate::fragments::is_fragment_name(&sources.get(*src).name)
    };
    for (src, p) in plans.iter_mut() {
        let src = &*src;
        let text = sources.get(*src).text.clone();
        let mut cx = Ctx {
            src: *src,
            text: &text,
            vars: &vars,
            refused: &refused,
            used: &mut used,
            diags: &mut diags,
            expanded: &mut expanded,
        };
        match &p.version {
            Some(v) if v.value == 1 => {}
            Some(v) => {
                let l = cx.loc(v);
                cx.err(
                    Diag::error(
                        "mountplan::version",
                        format!("unknown plan version `{}`", v.value),
                        l,
                    )
                    .help("this mountplan reads `version = 1`"),
                );
            }
            // A `version` parse already reported (of the wrong type, or misspelled) is not
            // missing as well.
            None if reported(p, "version") => {}
            None => cx.err(
                Diag::error(
                    "mountplan::version",
                    "the plan has no `version`",
                    Loc::new(*src, 0..0),
                )
                .help("add `version = 1` at the top"),
            ),
        }
        if let Some(v) = p.name.as_ref().filter(|_| header(src)) {
            name = cx.sub(v);
        }
        if let Some(v) = p.description.as_ref().filter(|_| header(src)) {
            description = cx.sub(v);
        }
        if let Some(v) = p.api.as_ref().filter(|_| header(src)) {
            if let Some(a) = api::word(&mut cx, v) {
                plan_api = a;
                api_loc = Some(cx.loc(v));
            }
        }
        if let Some(r) = p.root.as_ref().filter(|_| header(src)) {
            let l = cx.loc(r);
            match (&r.value.path, &r.value.tmpfs) {
                (Some(pa), None) => {
                    if let Some(h) = cx.host_path(pa) {
                        root = Some(Root::Path(h));
                        root_loc = Some(cx.loc(pa));
                    }
                }
                (None, Some(t)) => {
                    let mode = t.value.mode.as_ref().and_then(|m| cx.mode(m));
                    let size = t.value.size.as_ref().and_then(|s| cx.size(s));
                    let nr = t
                        .value
                        .nr_inodes
                        .as_ref()
                        .and_then(|x| cx.bounded(x, "nr_inodes", u64::MAX >> 1));
                    root = Some(Root::Tmpfs(TmpfsOptions {
                        size,
                        mode,
                        nr_inodes: nr,
                        uid: None,
                        gid: None,
                    }));
                }
                _ if reported(p, "root.path") || reported(p, "root.tmpfs") => {}
                _ => cx.err(
                    Diag::error(
                        "mountplan::root",
                        "`[root]` needs exactly one of `path` and `tmpfs`",
                        l,
                    )
                    .help("write `path = \"/srv/rootfs\"` or `tmpfs = {}`"),
                ),
            }
        }
        if let Some(x) = &p.namespaces {
            let x = &x.value;
            if let Some(u) = &x.user {
                ns.user = match u.value {
                    raw::UserNs::Bool(true) => UserNs::On,
                    raw::UserNs::Bool(false) => UserNs::Off,
                    raw::UserNs::Auto => UserNs::Auto,
                };
            }
            for (o, f) in [
                (&x.pid, &mut ns.pid),
                (&x.ipc, &mut ns.ipc),
                (&x.uts, &mut ns.uts),
                (&x.net, &mut ns.net),
                (&x.cgroup, &mut ns.cgroup),
            ] {
                if let Some(b) = o {
                    *f = b.value;
                }
            }
        }
        if let Some(pr) = &p.process {
            process::read(&mut cx, pr, &mut process_parts);
        }
        for s in p.step.take() {
            let s = &s;
            n += 1;
            let loc = cx.loc(&s.kind);
            let id = match &s.id {
                Some(i) => {
                    let v = cx.step_id(i);
                    if let Some(v) = &v {
                        if let Some(first) = ids.get(v) {
                            let d = Diag::error(
                                "mountplan::id::duplicate",
                                format!("two steps have the id `{v}`"),
                                cx.loc(i),
                            )
                            .label("second use")
                            .also(*first, "first used here")
                            .help("give each step its own id");
                            cx.err(d);
                        } else {
                            ids.insert(v.clone(), cx.loc(i));
                        }
                    }
                    v
                }
                None => Some(default_id(s.kind.value, n)),
            };
            let after: Vec<(StepId, Loc)> = s
                .after
                .iter()
                .flatten()
                .filter_map(|a| Some((StepId::new(cx.sub(a)?), cx.loc(a))))
                .collect();
            let note = s.note.as_ref().and_then(|v| cx.sub(v));
            let action = step::action(&mut cx, s);
            let Some(action) = action else {
                continue;
            };
            // Plan-wide rules that need the order.
            if let Action::Pivot(_) = &action {
                if let Some(first) = pivot {
                    cx.err(
                        Diag::error("mountplan::pivot::twice", "a plan has one pivot", loc)
                            .label("second pivot")
                            .also(first, "first pivot")
                            .help("remove one of the pivot steps"),
                    );
                    continue;
                }
                pivot = Some(loc);
            } else if let Some(pv) = pivot {
                if let Some(host) = host_field(s, &action) {
                    cx.err(
                        Diag::error(
                            "mountplan::host_after_pivot",
                            format!("host path in a step after the pivot (`{}`)", host.value),
                            cx.loc(host),
                        )
                        .label("the host is not visible after the pivot")
                        .also(pv, "the pivot")
                        .help("move this step above the pivot"),
                    );
                    continue;
                }
            }
            let Some(id) = id else {
                continue;
            };
            needs_new.extend(api::needs_new(&cx, s, &action, &id));
            steps.push(model::Step {
                id: StepId::new(id),
                explicit_id: s.id.is_some(),
                loc,
                id_loc: s.id.as_ref().map(|i| cx.loc(i)),
                host_loc: host_field(s, &action).map(|h| cx.loc(h)),
                after,
                note,
                action,
            });
        }
    }
    for (k, _) in set {
        let declared = plans
            .iter()
            .any(|(_, p)| p.vars.as_ref().is_some_and(|v| v.contains_key(k)));
        if !declared && !used.contains(k) {
            diags.push(
                Diag {
                    severity: crate::diag::Severity::Warning,
                    ..Diag::error_nowhere(
                        "mountplan::var::unused",
                        format!("`--set {k}` names no variable of the plan"),
                    )
                }
                .help("check the name against the plan's [vars]"),
            );
        }
    }
    let process = process::finish(process_parts, &ns, &steps, &mut diags);
    let (plan_api, api_loc) = match api_override {
        Some(a) => (a, None),
        None => (plan_api, api_loc),
    };
    api::refuse(plan_api, api_loc, &needs_new, &mut diags);
    // A `[root]` that is there but wrong has had its own diagnostic.
    let given = plans
        .iter()
        .filter(|(src, _)| header(src))
        .any(|(_, p)| p.root.is_some() || reported(p, "root"));
    if root.is_none() && !given {
        diags.push(
            Diag::error(
                "mountplan::root::missing",
                "the plan has no `[root]`",
                Loc::new(*entry_id, 0..0),
            )
            .help("add `[root]` with `path = \"/srv/rootfs\"` or `tmpfs = {}`"),
        );
    }
    let Some(root) = root.filter(|_| !diags.iter().any(Diag::is_error)) else {
        return (None, diags);
    };
    let entry_name = &sources.get(*entry_id).name;
    let plan = model::Plan {
        name: name.unwrap_or_else(|| {
            Path::new(entry_name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "plan".into())
        }),
        description,
        api: plan_api,
        api_loc,
        root,
        root_loc,
        namespaces: ns,
        process,
        vars,
        includes: plans[..plans.len() - 1]
            .iter()
            .map(|(i, _)| sources.get(*i).name.clone())
            .collect(),
        steps,
    };
    (Some(plan), diags)
}

/// True when parse reported a problem with `key` of the plan, or with a key below it
/// (`root` for `root.path`): validation does not report it missing as well.
fn reported(p: &raw::Plan, key: &str) -> bool {
    p.reported.iter().any(|r| {
        r.strip_prefix(key)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// `<kind>-<n>`, the id of the `n`th step (from 1) when it has none: built without the
/// formatting machinery, which is most of the cost of a step's id.
fn default_id(kind: raw::StepKind, n: usize) -> String {
    let kind = kind.as_str();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut id = String::with_capacity(kind.len() + 1 + digits.len() - at);
    id.push_str(kind);
    id.push('-');
    id.extend(digits[at..].iter().map(|&d| char::from(d)));
    id
}

/// The field of a step that names a host path: a bind's `source`, an overlay's first `lower`,
/// a node's `from_host`. Read from the checked action (its type may come from a variable),
/// so the message names the key its span points at.
fn host_field<'s>(s: &'s raw::Step, action: &Action) -> Option<&'s raw::Spanned<String>> {
    match action {
        Action::Mount(m) => match &m.fs {
            model::FsKind::Bind { .. } => s.source.as_ref(),
            model::FsKind::Overlay(_) => s.lower.as_ref().and_then(|l| l.first()),
            _ => None,
        },
        Action::Mknod(_) => s.from_host.as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
