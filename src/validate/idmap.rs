//! Checking a bind's `idmap` table.
//!
//! Takes the raw `idmap = { uid = [[inside, outside, count], ...], gid = [...] }` (or `idmap =
//! { userns = "PATH" }`) of a mount step, and whether the mount is a bind; returns the typed
//! [`IdmapFrom`], or `None` after pushing a diagnostic at the offending line: not a bind, a map
//! missing or empty, an id out of range, a count of zero, ranges that overlap inside or
//! outside (the kernel refuses such a `uid_map` with EINVAL), more than [`Idmap::MAX_LINES`]
//! lines, `userns` beside `uid` or `gid`, a `userns` that is not an absolute host path.

use super::values::Ctx;
use crate::diag::Diag;
use crate::model::{IdRange, Idmap, IdmapFrom};
use crate::raw::{self, Spanned};

/// The typed mapping of `v`; `bind` says whether the step is a bind.
pub fn idmap(cx: &mut Ctx, v: &Spanned<raw::Idmap>, bind: bool) -> Option<IdmapFrom> {
    if !bind {
        cx.err(
            Diag::error(
                "mountplan::idmap::not-bind",
                "`idmap` applies only to binds",
                cx.loc(v),
            )
            .label("an id mapping")
            .help("use `type = \"bind\"` or `\"rbind\"`, or remove `idmap`"),
        );
        return None;
    }
    if let Some(ns) = &v.value.userns {
        let beside = [("uid", &v.value.uid), ("gid", &v.value.gid)]
            .into_iter()
            .find_map(|(k, l)| l.as_ref().map(|l| (k, l)));
        if let Some((key, lines)) = beside {
            let at = lines.first().map_or_else(|| cx.loc(v), |l| cx.loc(l));
            cx.err(
                Diag::error(
                    "mountplan::idmap::userns-and-maps",
                    format!("`idmap` has both `userns` and `{key}`"),
                    at,
                )
                .label("a map of its own")
                .also(cx.loc(ns), "a user namespace to borrow")
                .help(
                    "the borrowed namespace's maps are the bind's: remove `uid` and `gid`, or \
                     remove `userns` to have mountplan make a namespace with these maps",
                ),
            );
            return None;
        }
        return cx.host_path(ns).map(IdmapFrom::Userns);
    }
    let uid = ranges(cx, v, &v.value.uid, "uid");
    let gid = ranges(cx, v, &v.value.gid, "gid");
    Some(IdmapFrom::Maps(Idmap {
        uid: uid?,
        gid: gid?,
    }))
}

fn ranges(
    cx: &mut Ctx,
    whole: &Spanned<raw::Idmap>,
    lines: &Option<Vec<Spanned<[i64; 3]>>>,
    what: &str,
) -> Option<Vec<IdRange>> {
    let Some(lines) = lines.as_ref().filter(|l| !l.is_empty()) else {
        cx.err(
            Diag::error(
                "mountplan::idmap::missing",
                format!("`idmap` has no `{what}` lines"),
                cx.loc(whole),
            )
            .label("this mapping")
            .help(format!(
                "add `{what} = [[0, 1000, 1]]` (inside, outside, count): an id no line maps is \
                 seen as 65534, and files cannot be created through the bind; or borrow an \
                 existing user namespace's maps with `userns = \"/proc/PID/ns/user\"`"
            )),
        );
        return None;
    };
    if lines.len() > Idmap::MAX_LINES {
        cx.err(
            Diag::error(
                "mountplan::idmap::too-many",
                format!(
                    "`{what}` has {} lines; the kernel takes at most {}",
                    lines.len(),
                    Idmap::MAX_LINES
                ),
                cx.loc(&lines[Idmap::MAX_LINES]),
            )
            .help("merge adjacent ranges"),
        );
        return None;
    }
    let mut out: Vec<(IdRange, &Spanned<[i64; 3]>)> = Vec::new();
    let mut ok = true;
    for l in lines {
        let [inside, outside, count] = l.value;
        let max = i64::from(u32::MAX);
        let bad = if count < 1 {
            Some("a count of at least 1".to_string())
        } else if !(0..max).contains(&inside) || !(0..max).contains(&outside) {
            Some(format!("ids from 0 to {}", max - 1))
        } else if inside + count > max || outside + count > max {
            Some(format!("ranges that end below {max}"))
        } else {
            None
        };
        if let Some(want) = bad {
            cx.err(
                Diag::error(
                    "mountplan::idmap::range",
                    format!("`{what}` line `[{inside}, {outside}, {count}]` is out of range"),
                    cx.loc(l),
                )
                .label("[inside, outside, count]")
                .help(format!("a user namespace's map takes {want}")),
            );
            ok = false;
            continue;
        }
        let r = IdRange {
            inside: inside as u32,
            outside: outside as u32,
            count: count as u32,
        };
        let meets = |a: u32, b: u32, n: u32, m: u32| {
            u64::from(a) < u64::from(b) + u64::from(m) && u64::from(b) < u64::from(a) + u64::from(n)
        };
        if let Some((o, osp)) = out.iter().find(|(o, _)| {
            meets(r.inside, o.inside, r.count, o.count)
                || meets(r.outside, o.outside, r.count, o.count)
        }) {
            let side = if meets(r.inside, o.inside, r.count, o.count) {
                "inside"
            } else {
                "outside"
            };
            cx.err(
                Diag::error(
                    "mountplan::idmap::overlap",
                    format!("`{what}` line `{r}` overlaps `{o}` {side}"),
                    cx.loc(l),
                )
                .label("overlapping range")
                .also(cx.loc(osp), "the range it overlaps")
                .help(
                    "the kernel refuses a map whose ranges overlap (EINVAL): split or merge them",
                ),
            );
            ok = false;
            continue;
        }
        out.push((r, l));
    }
    ok.then(|| out.into_iter().map(|(r, _)| r).collect())
}

#[cfg(test)]
mod tests {
    use crate::test_plans::*;

    fn bind_with(ty: &str, idmap: &str) -> String {
        on_tmpfs(&[step(
            "mount",
            "b",
            &[
                kv("type", ty),
                kv("source", "/srv/data"),
                kv("target", "/data"),
                format!("idmap = {idmap}"),
            ],
        )])
    }

    /// Each refusal has its code and points at the line (or the table) at fault.
    #[test]
    fn bad_maps_are_refused_at_their_line() {
        for (ty, idmap, code, at) in [
            (
                "tmpfs",
                "{ uid = [[0, 1000, 1]], gid = [[0, 1000, 1]] }",
                "mountplan::idmap::not-bind",
                "{ uid = [[0, 1000, 1]], gid = [[0, 1000, 1]] }",
            ),
            (
                "bind",
                "{ uid = [[0, 1000, 1]] }",
                "mountplan::idmap::missing",
                "{ uid = [[0, 1000, 1]] }",
            ),
            (
                "bind",
                "{ uid = [[0, 1000, 0]], gid = [[0, 1000, 1]] }",
                "mountplan::idmap::range",
                "[0, 1000, 0]",
            ),
            (
                "bind",
                "{ uid = [[0, 4294967295, 1]], gid = [[0, 1, 1]] }",
                "mountplan::idmap::range",
                "[0, 4294967295, 1]",
            ),
            (
                "rbind",
                "{ uid = [[0, 1000, 10], [5, 3000, 1]], gid = [[0, 1, 1]] }",
                "mountplan::idmap::overlap",
                "[5, 3000, 1]",
            ),
            (
                "bind",
                "{ uid = [[0, 1000, 1], [1, 1000, 1]], gid = [[0, 1, 1]] }",
                "mountplan::idmap::overlap",
                "[1, 1000, 1]",
            ),
            (
                "bind",
                "{ userns = \"/proc/1/ns/user\", gid = [[0, 1000, 1]] }",
                "mountplan::idmap::userns-and-maps",
                "[0, 1000, 1]",
            ),
            (
                "bind",
                "{ userns = \"proc/1/ns/user\" }",
                "mountplan::path::invalid",
                "\"proc/1/ns/user\"",
            ),
            (
                "tmpfs",
                "{ userns = \"/proc/1/ns/user\" }",
                "mountplan::idmap::not-bind",
                "{ userns = \"/proc/1/ns/user\" }",
            ),
        ] {
            let t = bind_with(ty, idmap);
            let e = try_dag(&t).unwrap_err();
            assert_eq!(e[0].code, code, "{idmap}: {}", e[0].message);
            assert_eq!(spot(&t, e[0].loc.unwrap()), (0, "idmap", at), "{idmap}");
        }
        let t = bind_with(
            "rbind",
            "{ uid = [[0, 1000, 1], [1, 2000, 65535]], gid = [[0, 1000, 1]] }",
        );
        assert!(try_dag(&t).is_ok());
    }

    /// `userns` borrows a namespace by its host path, `${NAME}` substituted; the lowering's
    /// call says it opens that file instead of making a namespace.
    #[test]
    fn a_borrowed_user_namespace_is_opened_by_its_host_path() {
        let t = bind_with("bind", "{ userns = \"/proc/${PID}/ns/user\" }");
        let c = crate::check_with(
            std::path::Path::new("plans/t.toml"),
            &[("PID".to_string(), "4242".to_string())],
            &mut |_| Ok(t.clone()),
            &crate::load::Limits::default(),
        );
        let dag = c.dag.expect("a valid plan");
        let m = match &dag.plan.steps[0].action {
            crate::model::Action::Mount(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            m.idmap,
            Some(crate::model::IdmapFrom::Userns(
                crate::model::HostPath::new("/proc/4242/ns/user").unwrap()
            ))
        );
        let text: String = (dag.calls.steps.iter())
            .flat_map(|s| &s.calls)
            .map(|c| format!("{c}\n"))
            .collect();
        assert!(
            text.contains(
                "open(\"/proc/4242/ns/user\", O_RDONLY|O_CLOEXEC) = U; ioctl(U, NS_GET_NSTYPE) \
                 == CLONE_NEWUSER; mount_setattr("
            ),
            "{text}"
        );
    }
}
