//! Validation unit tests: each pins the code and the exact span of a diagnostic.

use std::path::Path;

use crate::diag::Diag;

mod schema;
mod unknown_keys;
mod variables;

fn check(text: &str) -> (Option<crate::model::Plan>, Vec<Diag>, String) {
    check_set(text, &[])
}

fn check_set(text: &str, set: &[(&str, &str)]) -> (Option<crate::model::Plan>, Vec<Diag>, String) {
    let t = text.to_string();
    let mut l = crate::load::load(Path::new("t.toml"), &mut |_| Ok(t.clone()));
    let set: Vec<(String, String)> = set
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let (p, mut d) = super::validate(&l.sources, &mut l.plans, &set);
    let mut all = l.diags;
    all.append(&mut d);
    (p, all, text.to_string())
}

fn at(text: &str, d: &Diag) -> String {
    let l = d.loc.expect("has a place");
    text[l.span.start..l.span.end].to_string()
}

const HEAD: &str = "version = 1\n[root]\ntmpfs = {}\n";

fn one(body: &str) -> (Diag, String) {
    let text = format!("{HEAD}{body}");
    let (p, d, t) = check(&text);
    assert!(p.is_none(), "expected an error for {body}");
    let errs: Vec<_> = d.into_iter().filter(Diag::is_error).collect();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let s = at(&t, &errs[0]);
    (errs[0].clone(), s)
}

#[test]
fn valid_plan_gets_defaults() {
    let (p, d, _) = check(&format!(
        "{HEAD}[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n[[step]]\nkind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/a\"\nsize = \"1M\"\nmode = \"0700\"\n"
    ));
    assert!(d.is_empty(), "{d:?}");
    let p = p.unwrap();
    assert_eq!(p.name, "t");
    assert_eq!(p.steps[0].id.as_str(), "mkdir-1");
    assert_eq!(p.steps[1].id.as_str(), "mount-2");
    match &p.steps[1].action {
        crate::model::Action::Mount(m) => {
            use crate::model::{FsKind, Mode, Size, TmpfsOptions};
            assert_eq!(
                m.fs,
                FsKind::Tmpfs(TmpfsOptions {
                    size: Some(Size::Bytes(1 << 20)),
                    mode: Some(Mode::from_bits(0o700)),
                    ..TmpfsOptions::default()
                })
            );
            assert_eq!((m.given_source.as_deref(), m.source()), (None, "tmpfs"));
        }
        _ => panic!(),
    }
}

#[test]
fn relative_path_points_at_the_value() {
    let (d, s) = one("[[step]]\nkind = \"mkdir\"\npath = \"a/b\"\n");
    assert_eq!(d.code, "mountplan::path::invalid");
    assert_eq!(s, "\"a/b\"");
}

#[test]
fn dotdot_is_refused() {
    let (d, _) = one("[[step]]\nkind = \"mkdir\"\npath = \"/a/../b\"\n");
    assert!(d.message.contains("`..`"));
}

#[test]
fn foreign_key_names_the_kinds_that_take_it() {
    let (d, s) = one("[[step]]\nkind = \"mkdir\"\npath = \"/a\"\nto = \"/b\"\n");
    assert_eq!(d.code, "mountplan::step::foreign_key");
    assert_eq!(s, "\"/b\"");
    assert!(d.help.unwrap().contains("symlink"));
}

#[test]
fn missing_field_points_at_kind() {
    let (d, s) = one("[[step]]\nkind = \"symlink\"\npath = \"/a\"\n");
    assert_eq!(d.code, "mountplan::step::missing");
    assert_eq!(s, "\"symlink\"");
}

#[test]
fn mode_over_07777() {
    let (d, s) = one("[[step]]\nkind = \"mkdir\"\npath = \"/a\"\nmode = \"17777\"\n");
    assert_eq!(d.code, "mountplan::mode");
    assert_eq!(s, "\"17777\"");
}

#[test]
fn duplicate_id_has_both_places() {
    let text = format!(
        "{HEAD}[[step]]\nkind = \"mask\"\nid = \"x\"\npath = \"/a\"\n[[step]]\nkind = \"mask\"\nid = \"x\"\npath = \"/b\"\n"
    );
    let (_, d, t) = check(&text);
    assert_eq!(d[0].code, "mountplan::id::duplicate");
    let first = d[0].secondary[0].0;
    assert!(first.span.start < d[0].loc.unwrap().span.start);
    assert_eq!(at(&t, &d[0]), "\"x\"");
}

#[test]
fn unknown_flag_suggests() {
    let (d, s) = one(
        "[[step]]\nkind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/t\"\noptions = [\"nosiud\"]\n",
    );
    assert_eq!(d.code, "mountplan::option::unknown");
    assert_eq!(s, "\"nosiud\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `nosuid`?"));
}

#[test]
fn ro_with_rw_conflicts() {
    let (d, s) = one("[[step]]\nkind = \"remount\"\ntarget = \"/\"\noptions = [\"ro\", \"rw\"]\n");
    assert_eq!(d.code, "mountplan::option::conflict");
    assert_eq!(s, "\"rw\"");
    assert_eq!(d.secondary.len(), 1);
}

#[test]
fn comma_in_data_is_refused() {
    let (d, s) = one(
        "[[step]]\nkind = \"mount\"\ntype = \"ext4\"\nsource = \"/dev/sda1\"\ntarget = \"/t\"\ndata = [\"errors=remount-ro,dax\"]\n",
    );
    assert_eq!(d.code, "mountplan::option::smuggle");
    assert_eq!(s, "\"errors=remount-ro,dax\"");
}

/// An overlay's upper and work directories go into its data string like its lower layers: a
/// comma in one would smuggle in another option.
#[test]
fn a_comma_in_an_overlay_layer_is_refused() {
    let layers = [
        ("\"/l\"", "\"/u,lowerdir=/etc\"", "\"/w\""),
        ("\"/l\"", "\"/u\"", "\"/w,index=on\""),
    ];
    for (lower, upper, work) in layers {
        let (d, s) = one(&format!(
            "[[step]]\nkind = \"mount\"\ntype = \"overlay\"\ntarget = \"/t\"\nlower = [{lower}]\nupper = {upper}\nwork = {work}\n"
        ));
        assert_eq!(d.code, "mountplan::option::smuggle");
        assert!(s.contains(','), "{s}");
    }
}

#[test]
fn device_number_range() {
    let (d, s) = one(
        "[[step]]\nkind = \"mknod\"\npath = \"/n\"\nnode = \"char\"\nmajor = 1\nminor = 2000000\n",
    );
    assert_eq!(d.code, "mountplan::number::range");
    assert_eq!(s, "2000000");
}

#[test]
fn proc_under_proc() {
    let (d, s) = one("[[step]]\nkind = \"mount\"\ntype = \"sysfs\"\ntarget = \"/proc/sys\"\n");
    assert_eq!(d.code, "mountplan::mount::under_proc");
    assert_eq!(s, "\"/proc/sys\"");
}

#[test]
fn second_pivot_and_host_source_after_pivot() {
    let text = format!(
        "{HEAD}[[step]]\nkind = \"pivot\"\n[[step]]\nkind = \"mount\"\ntype = \"bind\"\nsource = \"/usr\"\ntarget = \"/usr\"\n[[step]]\nkind = \"pivot\"\n"
    );
    let (_, d, t) = check(&text);
    let codes: Vec<_> = d.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        ["mountplan::host_after_pivot", "mountplan::pivot::twice"]
    );
    assert_eq!(at(&t, &d[0]), "\"/usr\"");
}

/// An overlay after the pivot: the message names its first lower layer, and the span points
/// at that value, not at its `source` (the two once picked their field in different orders).
#[test]
fn an_overlay_after_the_pivot_points_at_its_lower_layer() {
    let text = format!(
        "{HEAD}[[step]]\nkind = \"pivot\"\n[[step]]\nkind = \"mount\"\ntype = \"overlay\"\nsource = \"ovl\"\ntarget = \"/o\"\nlower = [\"/srv/l\", \"/srv/m\"]\n"
    );
    let (_, d, t) = check(&text);
    let d = d
        .iter()
        .find(|d| d.code == "mountplan::host_after_pivot")
        .expect("host_after_pivot");
    assert!(d.message.contains("`/srv/l`"), "{}", d.message);
    assert_eq!(at(&t, d), "\"/srv/l\"");
}

#[test]
fn every_problem_is_collected() {
    let text = format!(
        "{HEAD}[[step]]\nkind = \"mkdir\"\npath = \"rel\"\n[[step]]\nkind = \"chmod\"\npath = \"/a\"\nmode = \"9\"\n[[step]]\nkind = \"mknod\"\npath = \"/n\"\nnode = \"pipe\"\n"
    );
    let (_, d, _) = check(&text);
    assert_eq!(d.iter().filter(|d| d.is_error()).count(), 3, "{d:#?}");
}

/// A `[root]` whose path is wrong is one problem: the plan does not also "have no [root]".
#[test]
fn a_bad_root_path_is_not_a_missing_root() {
    let t = "version = 1\n[root]\npath = \"rel\"\n";
    let (_, d, _) = check(t);
    assert_eq!(
        listed(t, &d),
        ["mountplan::path::invalid at \"\\\"rel\\\"\""]
    );
}

#[test]
fn missing_root_and_version() {
    let (_, d, _) = check("[[step]]\nkind = \"mask\"\npath = \"/a\"\n");
    let codes: Vec<_> = d.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["mountplan::version", "mountplan::root::missing"]);
}

#[test]
fn default_ids_are_kind_dash_number() {
    for n in [1, 9, 10, 99, 100, 12_345, usize::MAX] {
        assert_eq!(
            super::default_id(crate::raw::StepKind::Mount, n),
            format!("mount-{n}")
        );
    }
    assert_eq!(super::default_id(crate::raw::StepKind::Pivot, 7), "pivot-7");
}

// ---- every problem once (issue 14, item 9) ----

/// Each diagnostic as `code at "text"` (or `code nowhere`), in order.
fn listed(t: &str, d: &[Diag]) -> Vec<String> {
    d.iter()
        .map(|d| match d.loc {
            Some(l) => format!("{} at {:?}", d.code, &t[l.span.start..l.span.end]),
            None => format!("{} nowhere", d.code),
        })
        .collect()
}

/// A read-only overlay of one lower layer is refused (the kernel's EINVAL), at that layer,
/// with the fixes; two layers, or an upper layer, are fine.
#[test]
fn a_read_only_overlay_of_one_layer_is_an_error_at_the_layer() {
    let ovl = |layers: &str| {
        format!(
            "{HEAD}[[step]]\nkind = \"mount\"\ntype = \"overlay\"\ntarget = \"/o\"\nlower = [{layers}]\n"
        )
    };
    let (_, d, t) = check(&ovl("\"/srv/l\""));
    let d = d
        .iter()
        .find(|d| d.code == "mountplan::mount::overlay_one_layer")
        .expect("overlay_one_layer");
    assert_eq!(at(&t, d), "\"/srv/l\"");
    assert!(d.help.as_deref().unwrap().contains("second lower layer"));
    let (_, d, _) = check(&ovl("\"/srv/l\", \"/srv/m\""));
    assert!(
        d.iter()
            .all(|d| d.code != "mountplan::mount::overlay_one_layer"),
        "{d:?}"
    );
}

/// `strategy = "auto"` is `pivot-root` with `move` on EINVAL; it takes no `fallback` and no
/// `put_old`, each refused at its key.
#[test]
fn auto_pivot_is_pivot_root_then_move_and_takes_no_fallback() {
    use crate::model::{Action, PivotStrategy};
    use crate::test_plans::*;
    let t = on_tmpfs(&[step("pivot", "p", &[kv("strategy", "auto")])]);
    let d = dag(&t);
    let Action::Pivot(p) = &d.plan.steps[0].action else {
        panic!("not a pivot");
    };
    assert!(p.auto);
    assert_eq!(
        (p.strategy, p.fallback),
        (PivotStrategy::PivotRoot, Some(PivotStrategy::Move))
    );
    for (key, value, code) in [
        ("fallback", "chroot", "mountplan::pivot::fallback"),
        ("put_old", "/old", "mountplan::pivot::put_old"),
    ] {
        let t = on_tmpfs(&[step(
            "pivot",
            "p",
            &[kv("strategy", "auto"), kv(key, value)],
        )]);
        let e = try_dag(&t).unwrap_err();
        assert_eq!(e[0].code, code);
        let quoted = format!("\"{value}\"");
        assert_eq!(spot(&t, e[0].loc.unwrap()), (0, key, quoted.as_str()));
    }
}
