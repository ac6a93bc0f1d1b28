//! Reading `capabilities` of `[process]`: `"all"`, or a list of names.
//!
//! Takes the raw value; returns the [`Caps`] asked for (the set, and where `CAP_SYS_CHROOT` is
//! asked for, which [`super::finish`] checks against the pivot), pushing a diagnostic at each
//! name that is not a capability, with the nearest name as a suggestion.

use super::super::values::Ctx;
use super::Caps;
use crate::diag::Diag;
use crate::model::{CAP_NAMES, Cap, CapSet, CapsAsked};
use crate::parse::did_you_mean;
use crate::raw::{self, Sp};

/// The capabilities `c` asks for, or `None` (with a diagnostic) when it names an unknown one.
pub(super) fn capabilities(cx: &mut Ctx, c: &Sp<raw::Capabilities>) -> Option<Caps> {
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
