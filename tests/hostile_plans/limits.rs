//! Hostile plan text: deep nesting, a million steps, huge numbers, include and variable bombs
//! stop at their limits.

use super::*;

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let d = Scratch::new("deep");
    // 300 000 levels of `{a = ` fill 1.8 MB, under the 2 MiB file limit.
    for depth in [100usize, 10_000, 300_000] {
        let cases = [
            (
                "arrays",
                format!(
                    "version = 1\nx = {}{}\n",
                    "[".repeat(depth),
                    "]".repeat(depth)
                ),
            ),
            (
                "inline-tables",
                format!(
                    "version = 1\nx = {}1{}\n",
                    "{a = ".repeat(depth),
                    "}".repeat(depth)
                ),
            ),
            (
                "dotted-key",
                format!("version = 1\n{} = 1\n", vec!["a"; depth].join(".")),
            ),
            (
                "table-header",
                format!("version = 1\n[{}]\n", vec!["a"; depth].join(".")),
            ),
            (
                "step-field",
                format!(
                    "{HEAD}[[step]]\nkind = \"mkdir\"\npath = {}{}\n",
                    "[".repeat(depth),
                    "]".repeat(depth)
                ),
            ),
            (
                "unclosed",
                format!("version = 1\nx = {}\n", "[{a=".repeat(depth)),
            ),
        ];
        for (name, text) in cases {
            let f = d.write(&format!("{name}-{depth}.toml"), text);
            both(&d, &f, INVALID, "mountplan::");
        }
    }
}

#[test]
fn a_million_steps_is_refused_and_ten_thousand_run() {
    let d = Scratch::new("steps");
    // A million steps do not fit in a plan file: refused by size, before parsing.
    let million = fill(HEAD, "[[step]]\nkind = \"pivot\"\n", "", 0)
        + &"[[step]]\nkind = \"pivot\"\n".repeat(1_000_000);
    let f = d.write("million.toml", million);
    both(&d, &f, UNREADABLE, "larger than the limit");
    // As many as fit in 2 MiB, written inline: too many values to parse.
    let n = ((2 << 20) - 100) / "{kind=\"pivot\"},".len();
    let f = d.write(
        "inline.toml",
        format!(
            "version = 1\nstep = [{}]\n[root]\ntmpfs = {{}}\n",
            "{kind=\"pivot\"},".repeat(n)
        ),
    );
    both(&d, &f, INVALID, "mountplan::limit::values");
    // One past the step limit.
    let mk = |i: usize| format!("[[step]]\nkind = \"mkdir\"\npath = \"/d{i}\"\n");
    let f = d.write(
        "over.toml",
        format!("{HEAD}{}", (0..10_001).map(mk).collect::<String>()),
    );
    both(&d, &f, INVALID, "more than 10000 steps");
    // At the limit, valid: every format renders.
    let f = d.write(
        "ten-thousand.toml",
        format!("{HEAD}{}", (0..10_000).map(mk).collect::<String>()),
    );
    clean(
        &run(&d, &["check".as_ref(), f.as_os_str()]),
        OK,
        "ok (10000 steps)",
    );
    for format in ["text", "json", "markdown", "mermaid", "dot"] {
        let r = run(
            &d,
            &[
                "plan".as_ref(),
                "--format".as_ref(),
                format.as_ref(),
                f.as_os_str(),
            ],
        );
        clean(&r, OK, "");
        assert!(
            r.stdout_bytes > 10_000,
            "{format}: {} bytes",
            r.stdout_bytes
        );
    }
    // Ten thousand mounts stacked on one path: a warning each, a 10 000-deep mount tree.
    let f = d.write(
        "stacked.toml",
        format!(
            "{HEAD}{}",
            "[[step]]\nkind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/t\"\n".repeat(10_000)
        ),
    );
    clean(
        &run(&d, &["check".as_ref(), f.as_os_str()]),
        OK,
        "mountplan::graph::hides",
    );
    // Its dry run draws the tree 24 levels deep, then gives the depth: 8 MB, where indenting
    // every level made 207 MB.
    let r = run(&d, &["plan".as_ref(), f.as_os_str()]);
    clean(&r, OK, "");
    assert!(
        (1_000_000..20_000_000).contains(&r.stdout_bytes),
        "{} bytes",
        r.stdout_bytes
    );
}

#[test]
fn huge_numbers_are_diagnosed_or_accepted() {
    let d = Scratch::new("numbers");
    let step = |body: &str| format!("{HEAD}[[step]]\n{body}\n");
    let mknod = |f: &str| {
        step(&format!(
            "kind = \"mknod\"\npath = \"/n\"\nnode = \"char\"\n{f}"
        ))
    };
    let tmpfs = |f: &str| {
        step(&format!(
            "kind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/t\"\n{f}"
        ))
    };
    let cases = [
        (
            "version-overflow",
            "version = 99999999999999999999999999\n".to_string(),
        ),
        (
            "version-max",
            format!("version = {}\n[root]\ntmpfs = {{}}\n", i64::MAX),
        ),
        (
            "version-min",
            format!("version = {}\n[root]\ntmpfs = {{}}\n", i64::MIN),
        ),
        (
            "version-float",
            "version = 1e308\n[root]\ntmpfs = {}\n".to_string(),
        ),
        (
            "version-inf",
            "version = inf\n[root]\ntmpfs = {}\n".to_string(),
        ),
        (
            "version-nan",
            "version = nan\n[root]\ntmpfs = {}\n".to_string(),
        ),
        (
            "major-max",
            mknod(&format!("major = {}\nminor = 0", i64::MAX)),
        ),
        (
            "minor-min",
            mknod(&format!("major = 1\nminor = {}", i64::MIN)),
        ),
        ("size-max", tmpfs(&format!("size = {}", i64::MAX))),
        ("size-negative", tmpfs(&format!("size = {}", i64::MIN))),
        (
            "size-suffix-overflow",
            tmpfs("size = \"99999999999999999999g\""),
        ),
        ("size-g-overflow", tmpfs("size = \"17179869184g\"")),
        ("size-percent", tmpfs("size = \"99999999999999999999%\"")),
        ("nr-inodes", tmpfs(&format!("nr_inodes = {}", i64::MIN))),
        (
            "mode-long",
            tmpfs(&format!("mode = \"{}\"", "7".repeat(40))),
        ),
        ("uid-max", tmpfs(&format!("uid = {}", i64::MAX))),
        ("gid-min", tmpfs(&format!("gid = {}", i64::MIN))),
        (
            "root-size",
            format!(
                "version = 1\n[root]\ntmpfs = {{ size = {}, nr_inodes = {} }}\n",
                i64::MAX,
                i64::MAX
            ),
        ),
        ("digits", format!("version = 1{}\n", "0".repeat(1_000_000))),
    ];
    // Some are in range (a tmpfs may be as large as it likes): valid or not, the end is clean.
    let valid = ["size-max", "root-size"];
    for (name, text) in cases {
        let f = d.write(&format!("{name}.toml"), text);
        if valid.contains(&name) {
            both(&d, &f, OK, "");
        } else {
            both(&d, &f, INVALID, "mountplan::");
        }
    }
}

#[test]
fn include_and_variable_bombs_stop_at_the_limits() {
    let d = Scratch::new("bombs");
    // Each file includes the next one ten times, 12 deep: 10^12 reads without the limits.
    for i in 0..12 {
        let inc = format!("\"f{}.toml\", ", i + 1).repeat(10);
        d.write(
            &format!("f{i}.toml"),
            format!(
                "version = 1\ninclude = [{inc}]\n# {}\n",
                "x".repeat(1 << 20)
            ),
        );
    }
    d.write("f12.toml", "version = 1\n");
    let f0 = d.path("f0.toml");
    std::fs::write(
        &f0,
        std::fs::read_to_string(&f0).expect("f0") + "[root]\ntmpfs = {}\n",
    )
    .expect("f0");
    both(&d, &f0, INVALID, "mountplan::limit::bytes");
    // A 1 MiB variable used in every string of every step.
    let x = "a".repeat(1 << 20);
    let uses = "${X}".repeat(100);
    let f = d.write(
        "vars.toml",
        format!(
            "version = 1\n[vars]\nX = \"{x}\"\n[root]\ntmpfs = {{}}\n{}",
            format!("[[step]]\nkind = \"mkdir\"\npath = \"/{uses}\"\n").repeat(100)
        ),
    );
    both(&d, &f, INVALID, "mountplan::limit::expanded");
    // Many files, each included once.
    let n = 300;
    for i in 0..n {
        d.write(&format!("s{i}.toml"), "version = 1\n");
    }
    let list: String = (0..n).map(|i| format!("\"s{i}.toml\", ")).collect();
    let f = d.write(
        "many.toml",
        format!("version = 1\ninclude = [{list}]\n{}", &HEAD[12..]),
    );
    both(&d, &f, INVALID, "mountplan::limit::files");
}
