//! The plan's `api` and what `api = "classic"` cannot do.
//!
//! Takes the `api` word (and `--api`) and each step with its raw keys; returns the plan's
//! [`Api`] and, for a classic plan, an error at every key whose meaning only the new mount API
//! has: `idmap` (MOUNT_ATTR_IDMAP is a mount_setattr attribute), OCI's recursive spellings
//! (`rro`, ...) and flags on a recursive bind or remount (mount_setattr's AT_RECURSIVE: a
//! `MS_REMOUNT` changes one mount only), and a `readonly` step (a recursive read-only copy).
//! They are refused rather than lowered to a remount of each submount by path, which a rename
//! could race and which misses mounts made later.

use crate::diag::Diag;
use crate::model::{Action, Api, FsKind, MsFlags};
use crate::raw::{self, Spanned};
use crate::source::Loc;

use super::values::Ctx;

/// The API a word names (an error at it when it names none).
pub(super) fn word(cx: &mut Ctx, v: &Spanned<String>) -> Option<Api> {
    let w = cx.sub_ref(v)?;
    if let Some(a) = Api::from_word(&w) {
        return Some(a);
    }
    let mut d = Diag::error(
        "mountplan::api",
        format!("unknown mount API `{}`", w.escape_debug()),
        cx.loc(v),
    );
    d = match crate::parse::did_you_mean(&w, Api::WORDS.iter().copied()) {
        Some(n) => d.help(format!("did you mean `{n}`?")),
        None => d.help("use `auto`, `new` or `classic`"),
    };
    cx.err(d);
    None
}

/// A key of a step that only the new mount API can do: where, and what it asks.
#[derive(Debug, Clone)]
pub(super) struct NeedsNew {
    /// The key.
    pub loc: Loc,
    /// The step's id.
    pub step: String,
    /// What it asks, in words.
    pub what: &'static str,
}

/// The first key of step `s` (with its checked `action`) that needs the new mount API.
pub(super) fn needs_new(cx: &Ctx, s: &raw::Step, action: &Action, step: &str) -> Option<NeedsNew> {
    let at = |v: Option<Loc>, what| {
        Some(NeedsNew {
            loc: v.unwrap_or_else(|| cx.loc(&s.kind)),
            step: step.to_string(),
            what,
        })
    };
    // The options entry that makes it recursive or gives a flag (its span), else the key.
    let option = |pick: &dyn Fn(&str) -> bool| {
        s.options.as_ref().and_then(|o| {
            o.iter()
                .find(|x| pick(&x.value))
                .or(o.first())
                .map(|x| cx.loc(x))
        })
    };
    let rec_word = |w: &str| crate::model::rec_base(w).is_some();
    match action {
        Action::Mount(m) => {
            if m.idmap.is_some() {
                return at(s.idmap.as_ref().map(|v| cx.loc(v)), "an idmapped bind");
            }
            if !m.rec.is_empty() {
                return at(
                    option(&rec_word),
                    "a recursive flag (OCI's `r...` spelling)",
                );
            }
            let recursive = matches!(
                m.fs,
                FsKind::Bind {
                    recursive: true,
                    ..
                }
            );
            let per_mount = crate::lowering::PERM | crate::lowering::ATIME;
            if recursive && m.flags.intersects(per_mount) {
                return at(
                    option(&|w| w != "rbind" && w != "rec"),
                    "flags on every mount of a recursive bind",
                );
            }
            None
        }
        Action::Remount(r) if r.flags.contains(MsFlags::MS_REC) || !r.rec.is_empty() => at(
            option(&|w| w == "rec" || rec_word(w)),
            "a recursive remount",
        ),
        Action::Readonly(_) => at(None, "a recursive read-only copy (`readonly`)"),
        _ => None,
    }
}

/// The errors of a classic plan: one at each key that needs the new API.
pub(super) fn refuse(api: Api, api_loc: Option<Loc>, needs: &[NeedsNew], diags: &mut Vec<Diag>) {
    if !api.is_classic() {
        return;
    }
    for n in needs {
        let mut d = Diag::error(
            "mountplan::api::classic",
            format!(
                "step `{}` asks for {}, which only the new mount API (mount_setattr) makes, \
                 and the calls are classic (mount(2)){}",
                n.step,
                n.what,
                if api_loc.is_some() {
                    ""
                } else {
                    ": `--api classic`, or `auto` on a kernel without the new API"
                }
            ),
            n.loc,
        )
        .label("needs api = \"new\"");
        if let Some(l) = api_loc {
            d = d.also(l, "mount(2) and umount2(2) only");
        }
        diags.push(d.help(
            "set `api = \"new\"` (or \"auto\") on a kernel with mount_setattr (Linux 5.12), or \
             drop the key",
        ));
    }
}
