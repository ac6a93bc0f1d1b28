//! A `pivot` step: its strategy, fallback and `put_old`.

use crate::diag::Diag;
use crate::model::*;
use crate::raw::{self, Spanned};

use crate::validate::values::Ctx;

pub(super) fn strategy(cx: &mut Ctx, v: &Spanned<String>) -> Option<PivotStrategy> {
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

pub(super) fn pivot(cx: &mut Ctx, s: &raw::Step) -> Option<Action> {
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
