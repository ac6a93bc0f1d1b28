//! Variables: where they work, their values checked like literal ones, `--set` overrides and
//! unused warnings, the expansion limit, and where none is substituted.

use super::*;

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
