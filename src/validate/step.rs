//! One `[[step]]` -> a [`model::Action`](crate::model::Action): the fields its kind allows,
//! the fields it requires, and the values checked and typed.

use std::ops::Range;

use crate::diag::Diag;
use crate::model::*;
use crate::raw::{self, Sp, StepKind};
use crate::source::Loc;

use super::values::{Ctx, flags};

/// The fields each kind takes (besides kind, id, after, note): [`StepKind::keys`], which the
/// schema lists too.
pub fn allowed(kind: StepKind) -> &'static [&'static str] {
    kind.keys()
}

/// Mount types and the typed fields each takes.
fn mount_fields(ty: &str) -> &'static [&'static str] {
    match ty {
        "bind" | "rbind" => &["source"],
        "tmpfs" => &["source", "size", "nr_inodes", "mode", "uid", "gid"],
        "devpts" => &["source", "newinstance", "ptmxmode", "mode", "uid", "gid"],
        "overlay" => &["source", "lower", "upper", "work"],
        "proc" | "sysfs" | "mqueue" | "cgroup2" => &["source"],
        _ => &["source", "data"],
    }
}

const TYPED: &[&str] = &[
    "size",
    "nr_inodes",
    "mode",
    "uid",
    "gid",
    "newinstance",
    "ptmxmode",
    "lower",
    "upper",
    "work",
    "data",
    "source",
];

/// Reports that step `s` lacks `field` (or each of "`a` and `b`"), unless parse already
/// reported a key taken for it (`typ` for `type`) or a value of it of the wrong type.
fn missing(cx: &mut Ctx, s: &raw::Step, at: Loc, kind: StepKind, field: &str, example: &str) {
    if field
        .split("` and `")
        .any(|f| s.reported.iter().any(|r| r == f))
    {
        return;
    }
    let d = Diag::error(
        "mountplan::step::missing",
        format!("a `{}` step needs `{field}`", kind.as_str()),
        at,
    )
    .label(format!("this step has no `{field}`"))
    .help(format!("add `{field} = {example}`"));
    cx.err(d);
}

fn req<'s>(
    cx: &mut Ctx,
    s: &raw::Step,
    at: Loc,
    kind: StepKind,
    f: &'s Option<Sp<String>>,
    name: &str,
    ex: &str,
) -> Option<&'s Sp<String>> {
    if f.is_none() {
        missing(cx, s, at, kind, name, ex);
    }
    f.as_ref()
}

fn opt_mode(cx: &mut Ctx, m: &Option<Sp<String>>) -> Option<Mode> {
    m.as_ref().and_then(|m| cx.mode(m))
}

fn opt_id(cx: &mut Ctx, v: &Option<Sp<i64>>, what: &str) -> Option<u32> {
    v.as_ref().and_then(|v| cx.id_num(v, what))
}

/// Checks one step and builds its action (`None` when it has errors).
pub fn action(cx: &mut Ctx, s: &raw::Step) -> Option<Action> {
    let kind = s.kind.value;
    let at = cx.loc(&s.kind);
    let before = cx.diags.len();
    // Fields that do not belong to this kind.
    let allowed = allowed(kind);
    let fields = s.set_fields();
    for (name, span) in &fields {
        let (name, span) = (*name, span.clone());
        if !allowed.contains(&name) {
            let takers: Vec<&str> = StepKind::ALL
                .iter()
                .filter(|k| allowed_for(**k, name))
                .map(|k| k.as_str())
                .collect();
            let d = Diag::error(
                "mountplan::step::foreign_key",
                format!("`{name}` does not belong to a `{}` step", kind.as_str()),
                Loc::new(cx.src, span),
            )
            .label(format!("not a key of `{}`", kind.as_str()))
            .also(at, "the step's kind")
            .help(format!(
                "`{name}` belongs to {} steps; remove it here",
                takers.join(", ")
            ));
            cx.err(d);
        }
    }
    let a = match kind {
        StepKind::Mount => mount(cx, s, at, &fields),
        StepKind::Remount => {
            let t = req(cx, s, at, kind, &s.target, "target", "\"/\"")?;
            let target = cx.root_path(t);
            let (mut fl, mut rec) = flags(cx, &s.options, true);
            // Only recursive spellings (`rro`, `rnosuid`): one recursive remount, no plain
            // one (which would clear every flag not named).
            let plain = s.options.iter().flatten().any(|o| {
                let w = o.value.as_str();
                !w.strip_prefix('r')
                    .is_some_and(|w| crate::model::REC_WORDS.contains(&w))
            });
            if !plain && !rec.is_empty() {
                fl |= MsFlags::MS_REC | rec.set;
                rec.set = MsFlags::empty();
            }
            if s.options.as_ref().is_none_or(|o| o.is_empty()) {
                missing(cx, s, at, kind, "options", "[\"ro\"]");
            }
            Some(Action::Remount(Remount {
                target: target?,
                target_loc: cx.loc(t),
                flags: fl,
                rec,
            }))
        }
        StepKind::Propagation => {
            let t = req(cx, s, at, kind, &s.target, "target", "\"/\"")?;
            let target = cx.root_path(t);
            let p = req(
                cx,
                s,
                at,
                kind,
                &s.propagation,
                "propagation",
                "\"private\"",
            )?;
            let pv = cx.sub_ref(p)?;
            let pk = match pv.as_ref() {
                "private" => Some(PropagationKind::Private),
                "slave" => Some(PropagationKind::Slave),
                "shared" => Some(PropagationKind::Shared),
                "unbindable" => Some(PropagationKind::Unbindable),
                other => {
                    let mut d = Diag::error(
                        "mountplan::propagation",
                        format!("unknown propagation `{}`", other.escape_debug()),
                        cx.loc(p),
                    );
                    let names = crate::raw::words("propagation").unwrap_or_default();
                    d = match crate::parse::did_you_mean(other, names.iter().copied()) {
                        Some(n) => d.help(format!("did you mean `{n}`?")),
                        None => d.help("use `private`, `slave`, `shared` or `unbindable`"),
                    };
                    cx.err(d);
                    None
                }
            };
            Some(Action::Propagation(Propagation {
                target: target?,
                target_loc: cx.loc(t),
                kind: pk?,
                recursive: s.recursive.as_ref().is_some_and(|r| r.value),
            }))
        }
        StepKind::Umount => {
            let t = req(cx, s, at, kind, &s.target, "target", "\"/mnt\"")?;
            let target = cx.root_path(t)?;
            if target.is_root() {
                cx.err(
                    Diag::error(
                        "mountplan::umount::root",
                        "cannot unmount the new root",
                        cx.loc(t),
                    )
                    .help("unmount a mount inside the root"),
                );
                return None;
            }
            Some(Action::Umount(Umount {
                target,
                target_loc: cx.loc(t),
            }))
        }
        StepKind::Mkdir => {
            let p = req(cx, s, at, kind, &s.path, "path", "\"/dir\"")?;
            let path = cx.root_path(p);
            let mode = opt_mode(cx, &s.mode).unwrap_or(Mode::from_bits(0o755));
            Some(Action::Mkdir(Mkdir {
                path: path?,
                path_loc: cx.loc(p),
                mode,
                parents: s.parents.as_ref().is_some_and(|x| x.value),
            }))
        }
        StepKind::Mknod => mknod(cx, s, at),
        StepKind::Symlink => {
            let p = req(cx, s, at, kind, &s.path, "path", "\"/dev/fd\"");
            let t = req(cx, s, at, kind, &s.to, "to", "\"/proc/self/fd\"");
            let (p, t) = (p?, t?);
            let path = cx.root_path(p);
            let to = cx.sub(t)?;
            if to.is_empty() || to.contains('\0') || to.len() > MAX_PATH {
                cx.err(
                    Diag::error("mountplan::symlink::to", "bad symlink target", cx.loc(t))
                        .label("empty, too long, or contains a NUL byte"),
                );
                return None;
            }
            Some(Action::Symlink(Symlink {
                path: path?,
                path_loc: cx.loc(p),
                to,
            }))
        }
        StepKind::Chmod => {
            let p = req(cx, s, at, kind, &s.path, "path", "\"/tmp\"")?;
            let path = cx.root_path(p);
            let m = req(cx, s, at, kind, &s.mode, "mode", "\"0755\"")?;
            let mode = cx.mode(m);
            let uid = opt_id(cx, &s.uid, "uid");
            let gid = opt_id(cx, &s.gid, "gid");
            Some(Action::Chmod(Chmod {
                path: path?,
                path_loc: cx.loc(p),
                mode: mode?,
                uid,
                gid,
            }))
        }
        StepKind::Mask | StepKind::Readonly => {
            let p = req(cx, s, at, kind, &s.path, "path", "\"/proc/kcore\"")?;
            let path = cx.root_path(p)?;
            if path.is_root() {
                cx.err(Diag::error(
                    "mountplan::path::root",
                    format!("a `{}` step cannot work on the root itself", kind.as_str()),
                    cx.loc(p),
                ));
                return None;
            }
            let path_loc = cx.loc(p);
            Some(if kind == StepKind::Mask {
                Action::Mask(Mask { path, path_loc })
            } else {
                Action::Readonly(Readonly { path, path_loc })
            })
        }
        StepKind::Pivot => pivot(cx, s),
    };
    if cx.diags.len() > before { None } else { a }
}

fn allowed_for(kind: StepKind, field: &str) -> bool {
    allowed(kind).contains(&field)
}

fn strategy(cx: &mut Ctx, v: &Sp<String>) -> Option<PivotStrategy> {
    let all = [
        PivotStrategy::PivotRoot,
        PivotStrategy::PutOld,
        PivotStrategy::Move,
        PivotStrategy::Chroot,
    ];
    let name = cx.sub_ref(v)?;
    match all.iter().find(|s| s.as_str() == name) {
        Some(s) => Some(*s),
        None => {
            let mut d = Diag::error(
                "mountplan::pivot::strategy",
                format!("unknown pivot strategy `{}`", name.escape_debug()),
                cx.loc(v),
            );
            d = match crate::parse::did_you_mean(&name, all.iter().map(|s| s.as_str())) {
                Some(n) => d.help(format!("did you mean `{n}`?")),
                None => d.help("use `pivot-root`, `put-old`, `move`, `chroot` or `auto`"),
            };
            cx.err(d);
            None
        }
    }
}

fn pivot(cx: &mut Ctx, s: &raw::Step) -> Option<Action> {
    let auto = s
        .strategy
        .as_ref()
        .is_some_and(|v| cx.sub_ref(v).is_some_and(|n| n == "auto"));
    if auto {
        if let Some(f) = &s.fallback {
            cx.err(
                Diag::error(
                    "mountplan::pivot::fallback",
                    "`strategy = \"auto\"` has its own fallback (`move`, when pivot_root fails \
                     with EINVAL)",
                    cx.loc(f),
                )
                .help("remove `fallback`, or name the strategy (`pivot-root`) to choose one"),
            );
            return None;
        }
        if let Some(p) = &s.put_old {
            cx.err(
                Diag::error(
                    "mountplan::pivot::put_old",
                    "`put_old` is used only by the `put-old` strategy, which `auto` is not",
                    cx.loc(p),
                )
                .help("remove `put_old`, or set `strategy = \"put-old\"`"),
            );
            return None;
        }
        return Some(Action::Pivot(Pivot {
            strategy: PivotStrategy::PivotRoot,
            fallback: Some(PivotStrategy::Move),
            put_old: RootPath::new("/.pivot_root").ok()?,
            auto: true,
        }));
    }
    let st = match &s.strategy {
        Some(v) => strategy(cx, v)?,
        None => PivotStrategy::PivotRoot,
    };
    let fb = match &s.fallback {
        Some(v) => {
            let f = strategy(cx, v)?;
            if f == st {
                cx.err(
                    Diag::error(
                        "mountplan::pivot::fallback",
                        format!("the fallback is the strategy itself (`{}`)", st.as_str()),
                        cx.loc(v),
                    )
                    .help("choose another strategy, e.g. `chroot`, or remove `fallback`"),
                );
                return None;
            }
            Some(f)
        }
        None => None,
    };
    let put_old = match &s.put_old {
        Some(p) => {
            if st != PivotStrategy::PutOld && fb != Some(PivotStrategy::PutOld) {
                cx.err(
                    Diag::error(
                        "mountplan::pivot::put_old",
                        "`put_old` is used only by the `put-old` strategy",
                        cx.loc(p),
                    )
                    .help("remove `put_old`, or set `strategy = \"put-old\"`"),
                );
                return None;
            }
            let r = cx.root_path(p)?;
            if r.is_root() {
                cx.err(Diag::error(
                    "mountplan::pivot::put_old",
                    "`put_old` must be a directory below the root",
                    cx.loc(p),
                ));
                return None;
            }
            r
        }
        None => RootPath::new("/.pivot_root").ok()?,
    };
    Some(Action::Pivot(Pivot {
        strategy: st,
        fallback: fb,
        put_old,
        auto: false,
    }))
}

fn mknod(cx: &mut Ctx, s: &raw::Step, at: Loc) -> Option<Action> {
    let kind = StepKind::Mknod;
    let p = req(cx, s, at, kind, &s.path, "path", "\"/dev/null\"")?;
    let path = cx.root_path(p);
    let mode = opt_mode(cx, &s.mode).unwrap_or(Mode::from_bits(0o666));
    let uid = opt_id(cx, &s.uid, "uid");
    let gid = opt_id(cx, &s.gid, "gid");
    let spec = if let Some(h) = &s.from_host {
        for (f, span) in [
            ("node", s.node.as_ref().map(|v| v.span.clone())),
            ("major", s.major.as_ref().map(|v| v.span.clone())),
            ("minor", s.minor.as_ref().map(|v| v.span.clone())),
        ] {
            if let Some(span) = span {
                cx.err(
                    Diag::error(
                        "mountplan::mknod::both",
                        format!("`{f}` and `from_host` both given"),
                        Loc::new(cx.src, span),
                    )
                    .also(cx.loc(h), "the node is copied from here")
                    .help(format!(
                        "remove `{f}`: `from_host` copies the type and number"
                    )),
                );
            }
        }
        NodeSpec::FromHost(cx.host_path(h)?)
    } else {
        let Some(n) = &s.node else {
            missing(
                cx,
                s,
                at,
                kind,
                "node",
                "\"char\" (or from_host = \"/dev/null\")",
            );
            return None;
        };
        let nv = cx.sub_ref(n)?;
        let node = match nv.as_ref() {
            "char" => NodeType::Char,
            "block" => NodeType::Block,
            "fifo" => NodeType::Fifo,
            other => {
                cx.err(
                    Diag::error(
                        "mountplan::mknod::node",
                        format!("unknown node type `{}`", other.escape_debug()),
                        cx.loc(n),
                    )
                    .help("use `char`, `block` or `fifo`"),
                );
                return None;
            }
        };
        if node == NodeType::Fifo {
            for v in [&s.major, &s.minor].into_iter().flatten() {
                cx.err(
                    Diag::error(
                        "mountplan::mknod::fifo",
                        "a FIFO has no device number",
                        cx.loc(v),
                    )
                    .help("remove `major` and `minor`"),
                );
            }
            NodeSpec::Given {
                node,
                major: 0,
                minor: 0,
            }
        } else {
            let (Some(ma), Some(mi)) = (&s.major, &s.minor) else {
                missing(cx, s, at, kind, "major` and `minor", "1");
                return None;
            };
            let major = cx.bounded(ma, "major", (1 << 12) - 1);
            let minor = cx.bounded(mi, "minor", (1 << 20) - 1);
            NodeSpec::Given {
                node,
                major: major? as u32,
                minor: minor? as u32,
            }
        }
    };
    Some(Action::Mknod(Mknod {
        path: path?,
        path_loc: cx.loc(p),
        spec,
        mode,
        uid,
        gid,
    }))
}

/// A mount step; `fields` are its [`raw::Step::set_fields`].
fn mount(
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
        if TYPED.contains(&name) && !takes.contains(&name) {
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
            .intersects(crate::calls::ATIME - MsFlags::MS_NODIRATIME)
        {
            fl -= crate::calls::ATIME - MsFlags::MS_NODIRATIME;
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
            let layer = |cx: &mut Ctx, u: &Sp<String>| {
                let h = cx.host_path(u)?;
                cx.data_value(&Sp::new(h.to_string(), u.span.clone()), true)
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
        Some(v) => Some(super::idmap::idmap(cx, v, is_bind)?),
        None => None,
    };
    Some(Action::Mount(Mount {
        fs,
        given_source,
        target: target?,
        target_loc: cx.loc(t),
        flags: fl,
        rec,
        idmap,
        create,
    }))
}
