//! A `mknod` step: the node's kind, device numbers, mode and owner.

use crate::diag::Diag;
use crate::model::*;
use crate::raw::{self, StepKind};
use crate::source::Loc;

use super::{missing, opt_id, opt_mode, req};
use crate::validate::values::Ctx;

pub(super) fn mknod(cx: &mut Ctx, s: &raw::Step, at: Loc) -> Option<Action> {
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
