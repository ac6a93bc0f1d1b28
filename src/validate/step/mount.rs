//! A `mount` step: its type, source and target, flags, and the typed fields of its type.

use std::ops::Range;

use crate::diag::Diag;
use crate::model::*;
use crate::raw::{self, Spanned, StepKind};
use crate::source::Loc;

use super::{missing, opt_id, opt_mode, req};
use crate::validate::values::{Ctx, flags};

/// Mount types and the typed fields each takes; any other type takes `source` and `data`.
const FIELDS: &[(&[&str], &[&str])] = &[
    (&["bind", "rbind"], &["source"]),
    (
        &["tmpfs"],
        &["source", "size", "nr_inodes", "mode", "uid", "gid"],
    ),
    (
        &["devpts"],
        &["source", "newinstance", "ptmxmode", "mode", "uid", "gid"],
    ),
    (&["overlay"], &["source", "lower", "upper", "work"]),
    (&["proc", "sysfs", "mqueue", "cgroup2"], &["source"]),
];
const OTHER_FIELDS: &[&str] = &["source", "data"];

/// The typed fields mount type `ty` takes.
pub(super) fn mount_fields(ty: &str) -> &'static [&'static str] {
    FIELDS
        .iter()
        .find(|(types, _)| types.contains(&ty))
        .map_or(OTHER_FIELDS, |(_, fields)| fields)
}

/// Whether `name` is a typed field of some mount type.
fn typed(name: &str) -> bool {
    OTHER_FIELDS.contains(&name) || FIELDS.iter().any(|(_, f)| f.contains(&name))
}

/// A mount step; `fields` are its [`raw::Step::set_fields`].
pub(super) fn mount(
    cx: &mut Ctx,
    s: &raw::Step,
    at: Loc,
    fields: &[(&'static str, Range<usize>)],
) -> Option<Action> {
    let kind = StepKind::Mount;
    let ty = req(cx, s, at, kind, &s.fstype, "type", "\"tmpfs\"");
    let t = req(cx, s, at, kind, &s.target, "target", "\"/tmp\"");
    let (ty, t) = (ty?, t?);
    let target = cx.root_path(t);
    let tyv = cx.sub_ref(ty)?;
    let tyv: &str = &tyv;
    if tyv.is_empty()
        || !tyv
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        cx.err(
            Diag::error(
                "mountplan::mount::type",
                format!("`{}` is not a filesystem type", tyv.escape_debug()),
                cx.loc(ty),
            )
            .help(
                "e.g. `bind`, `tmpfs`, `proc`, `sysfs`, `devpts`, `mqueue`, `overlay`, `cgroup2`",
            ),
        );
        return None;
    }
    // Typed options that the type does not take.
    let takes = mount_fields(tyv);
    for (name, span) in fields {
        let (name, span) = (*name, span.clone());
        if typed(name) && !takes.contains(&name) {
            cx.err(
                Diag::error(
                    "mountplan::mount::option",
                    format!("a `{tyv}` mount does not take `{name}`"),
                    Loc::new(cx.src, span),
                )
                .also(cx.loc(ty), "the mount type")
                .help(format!("remove `{name}`")),
            );
        }
    }
    let is_bind = tyv == "bind" || tyv == "rbind";
    let (mut fl, mut rec) = flags(cx, &s.options, is_bind);
    if !is_bind && !rec.is_empty() {
        // A new filesystem has no mount below it when its flags are set: `rro` is `ro`.
        if rec
            .set
            .intersects(crate::lowering::ATIME - MsFlags::MS_NODIRATIME)
        {
            fl -= crate::lowering::ATIME - MsFlags::MS_NODIRATIME;
        }
        fl = (fl | rec.set) - rec.clear;
        rec = Default::default();
    }
    let create = match &s.create {
        None => Create::Dir,
        Some(c) => match cx.sub_ref(c)?.as_ref() {
            "dir" => Create::Dir,
            "file" => Create::File,
            "none" => Create::None,
            other => {
                cx.err(
                    Diag::error(
                        "mountplan::mount::create",
                        format!("unknown `create` value `{}`", other.escape_debug()),
                        cx.loc(c),
                    )
                    .help("use `dir`, `file` or `none`"),
                );
                return None;
            }
        },
    };
    let uid = opt_id(cx, &s.uid, "uid");
    let gid = opt_id(cx, &s.gid, "gid");
    let mode = opt_mode(cx, &s.mode);
    // The plan's `source` of a filesystem (`None` inside: not given).
    let given_source = |cx: &mut Ctx| -> Option<Option<String>> {
        match &s.source {
            Some(v) => cx.data_value(v, true).map(Some),
            None => Some(None),
        }
    };
    let (fs, given_source) = match tyv {
        "bind" | "rbind" => {
            let src = req(cx, s, at, kind, &s.source, "source", "\"/usr\"")?;
            let h = cx.host_path(src)?;
            let rec = tyv == "rbind" || fl.contains(MsFlags::MS_REC);
            if rec {
                fl |= MsFlags::MS_REC;
            }
            (
                FsKind::Bind {
                    source: h,
                    recursive: rec,
                },
                None,
            )
        }
        "tmpfs" => {
            let o = TmpfsOptions {
                size: s.size.as_ref().and_then(|x| cx.size(x)),
                mode,
                nr_inodes: s
                    .nr_inodes
                    .as_ref()
                    .and_then(|x| cx.bounded(x, "nr_inodes", u64::MAX >> 1)),
                uid,
                gid,
            };
            (FsKind::Tmpfs(o), given_source(cx)?)
        }
        "devpts" => {
            let o = DevptsOptions {
                newinstance: s.newinstance.as_ref().is_none_or(|x| x.value),
                ptmxmode: opt_mode(cx, &s.ptmxmode),
                mode,
                uid,
                gid,
            };
            (FsKind::Devpts(o), given_source(cx)?)
        }
        "overlay" => {
            // Each layer goes into the data string: none may end its option or start another
            // (`upper = "/u,lowerdir=/etc"`).
            let layer = |cx: &mut Ctx, u: &Spanned<String>| {
                let h = cx.host_path(u)?;
                cx.data_value(&Spanned::new(h.to_string(), u.span.clone()), true)
                    .map(|_| h)
            };
            let Some(lower) = s.lower.as_ref().filter(|l| !l.is_empty()) else {
                missing(cx, s, at, kind, "lower", "[\"/srv/lower\"]");
                return None;
            };
            if lower.len() == 1 && s.upper.is_none() {
                cx.err(
                    Diag::error(
                        "mountplan::mount::overlay_one_layer",
                        "a read-only overlay (no `upper`) needs at least two lower layers: \
                         the kernel refuses one (EINVAL; its log says `at least 2 lowerdir are \
                         needed while upperdir nonexistent`)",
                        cx.loc(&lower[0]),
                    )
                    .label("the only lower layer")
                    .help(
                        "add a second lower layer, give `upper` and `work`, or bind the one \
                         layer instead (type = \"bind\", options = [\"ro\"])",
                    ),
                );
                return None;
            }
            let lower: Vec<_> = lower.iter().map(|l| layer(cx, l)).collect();
            let upper = s.upper.as_ref().map(|u| layer(cx, u));
            let work = s.work.as_ref().map(|u| layer(cx, u));
            if upper.is_some() != work.is_some() {
                missing(cx, s, at, kind, "upper` and `work", "\"/srv/upper\"");
                return None;
            }
            let o = OverlayOptions {
                lower: lower.into_iter().collect::<Option<Vec<_>>>()?,
                upper: upper.flatten(),
                work: work.flatten(),
            };
            (FsKind::Overlay(o), given_source(cx)?)
        }
        "proc" | "sysfs" | "mqueue" | "cgroup2" => {
            let fs = match tyv {
                "proc" => FsKind::Proc,
                "sysfs" => FsKind::Sysfs,
                "mqueue" => FsKind::Mqueue,
                _ => FsKind::Cgroup2,
            };
            if matches!(fs, FsKind::Proc | FsKind::Sysfs) {
                if create == Create::File {
                    cx.err(
                        Diag::error(
                            "mountplan::mount::proc_file",
                            format!("`{tyv}` can only be mounted on a directory"),
                            s.create.as_ref().map(|c| cx.loc(c)).unwrap_or(at),
                        )
                        .help("remove `create = \"file\"`"),
                    );
                }
                if let Some(tp) = &target {
                    let proc = RootPath::new("/proc").ok()?;
                    if tp.starts_with(&proc) && *tp != proc {
                        cx.err(
                            Diag::error(
                                "mountplan::mount::under_proc",
                                format!("`{tyv}` mounted under /proc"),
                                cx.loc(t),
                            )
                            .label("inside procfs")
                            .help("mount it outside /proc (e.g. /proc itself or /sys)"),
                        );
                    }
                }
            }
            (fs, given_source(cx)?)
        }
        other => {
            let data: Vec<String> = s
                .data
                .iter()
                .flatten()
                .filter_map(|d| cx.data_value(d, false))
                .collect();
            (
                FsKind::Other {
                    fstype: other.to_string(),
                    data,
                },
                given_source(cx)?,
            )
        }
    };
    let idmap = match &s.idmap {
        Some(v) => Some(crate::validate::idmap::idmap(cx, v, is_bind)?),
        None => None,
    };
    Some(Action::Mount(Box::new(Mount {
        fs,
        given_source,
        target: target?,
        target_loc: cx.loc(t),
        flags: fl,
        rec,
        idmap,
        create,
    })))
}
