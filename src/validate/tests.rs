//! Validation unit tests: each pins the code and the exact span of a diagnostic.

use std::path::Path;

use crate::diag::Diag;

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
fn unknown_variable_points_inside_the_string() {
    let text = "version = 1\n[vars]\nROOTFS = \"/r\"\n[root]\npath = \"${ROOTF}/x\"\n".to_string();
    let (_, d, t) = check(&text);
    assert_eq!(d[0].code, "mountplan::var::unknown");
    assert_eq!(at(&t, &d[0]), "${ROOTF}");
    assert_eq!(d[0].help.as_deref(), Some("did you mean `ROOTFS`?"));
}

#[test]
fn set_overrides_and_unused_set_warns() {
    let text = "version = 1\n[vars]\nR = \"/a\"\n[root]\npath = \"${R}\"\n";
    let (p, d, _) = check_set(text, &[("R", "/b"), ("NOPE", "1")]);
    assert_eq!(
        p.unwrap().root,
        crate::model::Root::Path(crate::model::HostPath::new("/b").unwrap())
    );
    assert_eq!(d.len(), 1);
    assert!(!d[0].is_error());
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
fn a_variable_bomb_stops_at_the_expansion_limit() {
    // 64 KiB used 512 times per string, in many strings: gigabytes without the limit.
    let x = "a".repeat(64 << 10);
    let uses = "${X}".repeat(512);
    let steps = format!("[[step]]\nkind = \"mkdir\"\npath = \"/{uses}\"\n").repeat(64);
    let (p, d, t) = check(&format!(
        "version = 1\n[vars]\nX = \"{x}\"\n[root]\ntmpfs = {{}}\n{steps}"
    ));
    assert!(p.is_none());
    let lim: Vec<_> = d
        .iter()
        .filter(|d| d.code == "mountplan::limit::expanded")
        .collect();
    assert_eq!(
        lim.len(),
        1,
        "{:?}",
        d.iter().map(|d| d.code).collect::<Vec<_>>()
    );
    assert_eq!(at(&t, lim[0]), "${X}");
}

#[test]
fn the_step_keys_are_the_kinds_fields_and_the_schema_s() {
    use std::collections::BTreeSet;
    let listed: BTreeSet<&str> = crate::raw::STEP_KEYS.iter().copied().collect();
    let mut allowed: BTreeSet<&str> = ["kind", "id", "after", "note"].into();
    for k in crate::raw::StepKind::ALL {
        allowed.extend(super::step::allowed(k).iter().copied());
    }
    assert_eq!(
        listed, allowed,
        "raw::STEP_KEYS against the fields validation allows"
    );
    let schema = crate::raw::schema();
    let branches = schema["$defs"]["Step"]["oneOf"]
        .as_array()
        .expect("the schema describes each kind of step");
    let mut in_schema: BTreeSet<String> = BTreeSet::new();
    for (b, k) in branches.iter().zip(crate::raw::StepKind::ALL) {
        assert_eq!(b["properties"]["kind"]["const"], k.as_str());
        let keys: BTreeSet<&str> = b["properties"]
            .as_object()
            .expect("a branch lists its keys")
            .keys()
            .map(String::as_str)
            .collect();
        let mut want: BTreeSet<&str> = ["kind", "id", "after", "note"].into();
        want.extend(super::step::allowed(k).iter().copied());
        assert_eq!(keys, want, "the schema's keys of a `{}` step", k.as_str());
        in_schema.extend(keys.iter().map(|s| s.to_string()));
    }
    let in_schema: BTreeSet<&str> = in_schema.iter().map(String::as_str).collect();
    assert_eq!(listed, in_schema, "raw::STEP_KEYS against the schema");
}

/// A valid value for each key the kinds require, for the tests below.
fn sample(key: &str) -> &'static str {
    match key {
        "type" => "\"tmpfs\"",
        "target" => "\"/mnt\"",
        "options" => "[\"ro\"]",
        "propagation" => "\"private\"",
        "path" => "\"/x\"",
        "to" => "\"/y\"",
        "mode" => "\"0755\"",
        other => panic!("no sample value for `{other}`"),
    }
}

/// raw::StepKind::required (what the schema requires) is what validation reports missing:
/// each required key left out, the others given, is reported; all given, none is.
#[test]
fn the_required_keys_are_those_validation_reports_missing() {
    use crate::raw::StepKind;
    let missing = |k: StepKind, given: &[&str]| -> Vec<String> {
        let mut body = format!("[[step]]\nkind = \"{}\"\n", k.as_str());
        for g in given {
            body.push_str(&format!("{g} = {}\n", sample(g)));
        }
        if k == StepKind::Mknod {
            body.push_str("node = \"fifo\"\n");
        }
        let (_, d, _) = check(&format!("{HEAD}{body}"));
        d.iter()
            .filter(|d| d.code == "mountplan::step::missing")
            .map(|d| d.message.clone())
            .collect()
    };
    for k in StepKind::ALL {
        let req = k.required();
        assert_eq!(missing(k, req), Vec::<String>::new(), "`{}`", k.as_str());
        for r in req {
            let others: Vec<&str> = req.iter().copied().filter(|x| x != r).collect();
            assert_eq!(
                missing(k, &others),
                [format!("a `{}` step needs `{r}`", k.as_str())],
                "`{}` without `{r}`",
                k.as_str()
            );
        }
    }
}

/// Validation takes exactly the words the schema lists as enums (raw::words), and refuses
/// another.
#[test]
fn the_schema_s_words_are_those_validation_takes() {
    let step = |key: &str, w: &str| -> String {
        match key {
            "strategy" => format!("kind = \"pivot\"\nstrategy = \"{w}\""),
            "fallback" => {
                let first = if w == "chroot" {
                    "pivot-root"
                } else {
                    "chroot"
                };
                format!("kind = \"pivot\"\nstrategy = \"{first}\"\nfallback = \"{w}\"")
            }
            "node" => format!(
                "kind = \"mknod\"\npath = \"/x\"\nnode = \"{w}\"{}",
                if w == "fifo" {
                    ""
                } else {
                    "\nmajor = 1\nminor = 3"
                }
            ),
            "propagation" => {
                format!("kind = \"propagation\"\ntarget = \"/\"\npropagation = \"{w}\"")
            }
            "create" => {
                format!("kind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/m\"\ncreate = \"{w}\"")
            }
            other => panic!("{other}"),
        }
    };
    for key in ["strategy", "fallback", "node", "propagation", "create"] {
        let words = crate::raw::words(key).expect("the key has words");
        for w in words.iter().chain(&["no-such-word"]) {
            let (p, d, _) = check(&format!("{HEAD}[[step]]\n{}\n", step(key, w)));
            let errors: Vec<_> = d.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
            if *w == "no-such-word" {
                assert!(p.is_none() && errors.len() == 1, "{key} = {w}: {errors:?}");
            } else {
                assert!(p.is_some(), "{key} = {w}: {errors:?}");
            }
        }
    }
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

#[test]
fn an_unknown_top_level_key_is_the_only_problem() {
    let t = "version = 1\nnmae = \"x\"\n[namespace]\npid = true\n[root]\ntmpfs = {}\n";
    let (_, d, _) = check(t);
    assert_eq!(
        listed(t, &d),
        [
            "mountplan::unknown_key at \"nmae\"",
            "mountplan::unknown_key at \"namespace\""
        ]
    );
    assert_eq!(d[0].help.as_deref(), Some("did you mean `name`?"));
    assert_eq!(d[1].help.as_deref(), Some("did you mean `namespaces`?"));
}

#[test]
fn every_unknown_key_of_a_step_is_reported_and_its_typo_is_not_missing_too() {
    let t = format!(
        "{HEAD}[[step]]\nkind = \"mount\"\ntyp = \"bind\"\nsource = \"/usr\"\ntarget = \"/usr\"\noptoins = [\"ro\"]\n"
    );
    let (_, d, _) = check(&t);
    assert_eq!(
        listed(&t, &d),
        [
            "mountplan::unknown_key at \"typ\"",
            "mountplan::unknown_key at \"optoins\""
        ]
    );
    assert_eq!(d[0].help.as_deref(), Some("did you mean `type`?"));
    assert_eq!(d[1].help.as_deref(), Some("did you mean `options`?"));
}

/// A key that is not a typo of a missing one leaves that one missing: both are reported.
#[test]
fn an_unknown_key_that_is_no_typo_leaves_the_missing_key_reported() {
    let t = format!("{HEAD}[[step]]\nkind = \"mount\"\nxyzzy = 1\ntarget = \"/a\"\n");
    let (_, d, _) = check(&t);
    assert_eq!(
        listed(&t, &d),
        [
            "mountplan::unknown_key at \"xyzzy\"",
            "mountplan::step::missing at \"\\\"mount\\\"\""
        ]
    );
}

/// A value of the wrong type is one problem: its key is not then reported missing, and the
/// rest of the file is still read (no "no version", no "no [root]").
#[test]
fn a_wrong_type_is_one_problem_and_the_rest_is_read() {
    let t = "version = \"1\"\n[root]\npath = 7\n[[step]]\nkind = \"mkdir\"\npath = \"rel\"\nmode = 755\n";
    let (_, d, _) = check(t);
    assert_eq!(
        listed(t, &d),
        [
            "mountplan::syntax at \"\\\"1\\\"\"",
            "mountplan::syntax at \"7\"",
            "mountplan::syntax at \"755\"",
            "mountplan::path::invalid at \"\\\"rel\\\"\""
        ]
    );
}

/// A typo of a required key at the top (`verison`, `[rot]`) and in `[root]` (`pth`) is the
/// only problem reported: not also "no version", "no [root]" or "needs `path` or `tmpfs`".
#[test]
fn a_typo_of_a_required_key_is_not_also_missing() {
    let t = "verison = 1\n[rot]\npath = \"/r\"\n";
    let (_, d, _) = check(t);
    assert_eq!(
        listed(t, &d),
        [
            "mountplan::unknown_key at \"verison\"",
            "mountplan::unknown_key at \"rot\""
        ]
    );
    let t = "version = 1\n[root]\npth = \"/r\"\n";
    let (_, d, _) = check(t);
    assert_eq!(listed(t, &d), ["mountplan::unknown_key at \"pth\""]);
    assert_eq!(d[0].help.as_deref(), Some("did you mean `path`?"));
}

/// A bad kind is one problem, not also "missing key `kind`".
#[test]
fn a_bad_kind_is_one_problem() {
    let t = format!(
        "{HEAD}[[step]]\nkind = \"mkdr\"\npath = \"/a\"\n[[step]]\nknid = \"mkdir\"\npath = \"/b\"\n"
    );
    let (_, d, _) = check(&t);
    assert_eq!(
        listed(&t, &d),
        [
            "mountplan::unknown_value at \"\\\"mkdr\\\"\"",
            "mountplan::unknown_key at \"knid\""
        ]
    );
}

// ---- `${NAME}` in every string (issue 14, item 8) ----

/// A plan written with a variable in every string key, and the same plan written literally,
/// validate to the same steps: the same ids, `after` lists, and calls.
#[test]
fn a_variable_works_in_every_string_of_a_step() {
    let steps = |v: &dyn Fn(&str, &str) -> String| {
        format!(
            "version = 1\n[root]\ntmpfs = {{ size = {}, mode = {} }}\n\
             [[step]]\nkind = \"mkdir\"\nid = {}\npath = \"/dev\"\nmode = {}\n\
             [[step]]\nkind = \"mount\"\nafter = [{}]\ntype = {}\ntarget = {}\noptions = [{}, \"nosuid\"]\ncreate = {}\nsize = {}\nmode = {}\n\
             [[step]]\nkind = \"mount\"\ntype = \"devpts\"\ntarget = \"/dev/pts\"\nptmxmode = {}\n\
             [[step]]\nkind = \"propagation\"\ntarget = \"/\"\npropagation = {}\n\
             [[step]]\nkind = \"mknod\"\npath = \"/dev/null\"\nnode = {}\nmajor = 1\nminor = 3\n\
             [[step]]\nkind = \"remount\"\ntarget = \"/dev\"\noptions = [{}]\n\
             [[step]]\nkind = \"pivot\"\nstrategy = {}\nfallback = {}\nput_old = {}\n",
            v("RSIZE", "16M"),
            v("RMODE", "0755"),
            v("ID", "devdir"),
            v("MODE", "0750"),
            v("ID", "devdir"),
            v("TY", "tmpfs"),
            v("DEV", "/dev"),
            v("OPT", "noexec"),
            v("CREATE", "dir"),
            v("SIZE", "64k"),
            v("MODE", "0750"),
            v("PTMX", "0666"),
            v("PROP", "private"),
            v("NODE", "char"),
            v("RO", "ro"),
            v("STRATEGY", "put-old"),
            v("FALLBACK", "chroot"),
            v("PUT_OLD", "/.old"),
        )
    };
    let vars = std::cell::RefCell::new(String::from("[vars]\n"));
    let with_vars = steps(&|name, value| {
        let mut v = vars.borrow_mut();
        if !v.contains(&format!("\n{name} =")) {
            v.push_str(&format!("{name} = \"{value}\"\n"));
        }
        format!("\"${{{name}}}\"")
    });
    let vars = vars.into_inner();
    let with_vars = format!("{with_vars}{vars}");
    let literal = steps(&|_, value| format!("\"{value}\""));
    let (a, da, _) = check(&with_vars);
    let (b, db, _) = check(&literal);
    assert!(da.is_empty(), "{da:#?}");
    assert!(db.is_empty(), "{db:#?}");
    let (a, b) = (a.expect("valid"), b.expect("valid"));
    let names = |p: &crate::model::Plan| -> Vec<(String, Vec<String>)> {
        p.steps
            .iter()
            .map(|s| {
                let after = s.after.iter().map(|(i, _)| i.to_string()).collect();
                (s.id.to_string(), after)
            })
            .collect()
    };
    assert_eq!(names(&a), names(&b));
    assert_eq!(names(&a)[1].1, ["devdir"]);
    assert_eq!(format!("{:?}", a.root), format!("{:?}", b.root));
    let calls = |p: crate::model::Plan| crate::graph::build(p).map(|d| d.calls).ok();
    assert_eq!(calls(a), calls(b));
}

/// A substituted value is checked as a literal one would be, at the span of its string; an
/// unknown variable is pointed at inside the string, whatever the key.
#[test]
fn a_substituted_value_is_checked_like_a_literal_one() {
    let t = "version = 1\n[vars]\nO = \"rox\"\nS = \"lots\"\nP = \"public\"\n[root]\ntmpfs = { size = \"${S}\" }\n\
             [[step]]\nkind = \"mount\"\ntype = \"${TY}\"\ntarget = \"/a\"\n\
             [[step]]\nkind = \"remount\"\ntarget = \"/\"\noptions = [\"${O}\"]\n\
             [[step]]\nkind = \"propagation\"\ntarget = \"/\"\npropagation = \"${P}\"\n";
    let (_, d, _) = check(t);
    assert_eq!(
        listed(t, &d),
        [
            "mountplan::size at \"\\\"${S}\\\"\"",
            "mountplan::var::unknown at \"${TY}\"",
            "mountplan::option::unknown at \"\\\"${O}\\\"\"",
            "mountplan::propagation at \"\\\"${P}\\\"\""
        ]
    );
    assert_eq!(d[2].message, "unknown mount option `rox`");
    assert_eq!(d[3].message, "unknown propagation `public`");
}

/// Where `${` cannot be substituted it is refused, at the string, with the reason: `kind`
/// (it decides the step's keys), `include` (read before the variables are known), `user`,
/// and the values of variables themselves (used as written), `--set` ones included.
#[test]
fn a_variable_where_none_is_substituted_is_refused() {
    let t = "version = 1\ninclude = [\"${BASE}/a.toml\"]\n[vars]\nA = \"/x\"\nB = \"${A}/y\"\n\
             [namespaces]\nuser = \"${U}\"\n[root]\npath = \"${B}\"\n\
             [[step]]\nkind = \"${K}\"\npath = \"/a\"\n";
    let (_, d, _) = check_set(t, &[("A", "${Z}")]);
    assert_eq!(
        listed(t, &d),
        [
            "mountplan::var::not_substituted at \"\\\"${BASE}/a.toml\\\"\"",
            "mountplan::var::not_substituted at \"\\\"${U}\\\"\"",
            "mountplan::var::not_substituted at \"\\\"${K}\\\"\"",
            "mountplan::var::not_substituted at \"\\\"${A}/y\\\"\"",
            "mountplan::var::not_substituted nowhere",
        ]
    );
    assert!(d[0].message.contains("`include`"), "{}", d[0].message);
    assert!(d[4].message.contains("--set A"), "{}", d[4].message);
    assert!(d.iter().all(|d| d.help.is_some()));
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
