//! The grammar of structured plans: random plans built from the plan format's kinds, keys, words
//! and paths (many of them valid), and the test that enough are.

use super::*;

// ---- the grammar -----------------------------------------------------------------------

pub(super) const KINDS: &[&str] = &[
    "mount",
    "remount",
    "propagation",
    "umount",
    "mkdir",
    "mknod",
    "symlink",
    "chmod",
    "mask",
    "readonly",
    "pivot",
];

/// Words the values are made of: every enumerated value of a step, and near misses.
pub(super) const WORDS: &[&str] = &[
    "bind",
    "rbind",
    "tmpfs",
    "proc",
    "sysfs",
    "devpts",
    "mqueue",
    "overlay",
    "cgroup2",
    "ext4",
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "relatime",
    "noatime",
    "strictatime",
    "rec",
    "sync",
    "private",
    "slave",
    "shared",
    "unbindable",
    "dir",
    "file",
    "char",
    "block",
    "fifo",
    "pivot-root",
    "put-old",
    "move",
    "chroot",
    "auto",
    "0755",
    "1777",
    "0666",
    "16M",
    "64k",
    "1g",
    "50%",
    "size=1M",
    "mode=0700",
    "",
    " ",
    "a,b",
    "x=y",
];

pub(super) const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/b",
    "/a/b/c",
    "/dev",
    "/dev/null",
    "/dev/pts",
    "/dev/shm",
    "/proc",
    "/proc/sys",
    "/sys",
    "/tmp",
    "/usr",
    "/etc",
    "/oldroot",
    "/t",
    "/a/../b",
    "/a/./b",
    "//a",
    "/a/",
    "a",
    "",
    "/${FUZZ}",
    "${FUZZ}/x",
    "/$${x}",
    "/${NOPE}",
    "/${",
    "/é/😀",
    "/a\u{0}b",
    "/a\nb",
];

/// A TOML value, as text, that a step key might hold.
pub(super) fn value() -> BoxedStrategy<String> {
    let word = prop::sample::select(WORDS).prop_map(|w| format!("{w:?}"));
    let path = prop::sample::select(PATHS).prop_map(|p| format!("{p:?}"));
    let kind = prop::sample::select(KINDS).prop_map(|k| format!("{k:?}"));
    let int = prop_oneof![
        Just(0i64),
        Just(-1),
        Just(1),
        Just(4095),
        Just(4096),
        Just(1 << 20),
        Just(i64::MAX),
        Just(i64::MIN),
        any::<i64>(),
        0i64..70000,
    ]
    .prop_map(|n| n.to_string());
    let scalar = prop_oneof![
        3 => word,
        3 => path,
        1 => kind,
        2 => int,
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => prop::sample::select(&["1.5", "inf", "nan", "1979-05-27", "\"\"\"\na\"\"\"", "'lit'"][..])
            .prop_map(str::to_string),
        1 => "[a-z/${}$.]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    scalar
        .prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec(
                    (
                        prop::sample::select(&["size", "mode", "path", "tmpfs", "x"][..]),
                        inner
                    ),
                    0..3
                )
                .prop_map(|v| format!(
                    "{{ {} }}",
                    v.into_iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ]
        })
        .boxed()
}

/// A `key = value` line for a step.
pub(super) fn field() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            9 => prop::sample::select(STEP_KEYS).prop_map(str::to_string),
            1 => "[a-z_]{1,8}",
        ],
        value(),
    )
        .prop_map(|(k, v)| format!("{k} = {v}\n"))
}

/// Fields that make a step of `kind` likely valid, so structured plans get past validation.
pub(super) fn typical(kind: &'static str) -> BoxedStrategy<Vec<String>> {
    let p = || prop::sample::select(&PATHS[1..16]).prop_map(|p| p.to_string());
    match kind {
        "mount" => (
            prop::sample::select(
                &[
                    "bind", "rbind", "tmpfs", "proc", "devpts", "mqueue", "sysfs",
                ][..],
            ),
            p(),
            p(),
            prop::collection::vec(prop::sample::select(&WORDS[10..22]), 0..3),
        )
            .prop_map(|(t, s, d, o)| {
                let mut v = vec![format!("type = {t:?}\n"), format!("target = {d:?}\n")];
                if t.ends_with("bind") {
                    v.push(format!("source = {s:?}\n"));
                }
                v.push(format!("options = {o:?}\n"));
                v
            })
            .boxed(),
        "umount" => p().prop_map(|d| vec![format!("target = {d:?}\n")]).boxed(),
        "remount" => (p(), prop::sample::select(&WORDS[10..16]))
            .prop_map(|(d, o)| vec![format!("target = {d:?}\n"), format!("options = [{o:?}]\n")])
            .boxed(),
        "propagation" => (p(), prop::sample::select(&WORDS[23..27]))
            .prop_map(|(d, w)| {
                vec![
                    format!("target = {d:?}\n"),
                    format!("propagation = {w:?}\n"),
                ]
            })
            .boxed(),
        "mkdir" | "mask" | "readonly" => (p(), any::<bool>())
            .prop_map(move |(d, b)| {
                let mut v = vec![format!("path = {d:?}\n")];
                if b && kind == "mkdir" {
                    v.push("parents = true\n".into());
                }
                v
            })
            .boxed(),
        "mknod" => (p(), 0i64..300, 0i64..300)
            .prop_map(|(d, a, b)| {
                vec![
                    format!("path = {d:?}\n"),
                    "node = \"char\"\n".into(),
                    format!("major = {a}\nminor = {b}\n"),
                ]
            })
            .boxed(),
        "symlink" => (p(), p())
            .prop_map(|(d, t)| vec![format!("path = {d:?}\n"), format!("to = {t:?}\n")])
            .boxed(),
        "chmod" => (p(), prop::sample::select(&WORDS[37..40]))
            .prop_map(|(d, m)| vec![format!("path = {d:?}\n"), format!("mode = {m:?}\n")])
            .boxed(),
        _ => prop::sample::select(&WORDS[32..36])
            .prop_map(|s| vec![format!("strategy = {s:?}\n")])
            .boxed(),
    }
}

/// A random plan from the grammar: a head, then steps with typical fields, some random
/// fields, ids and `after` references.
pub(super) fn structured() -> impl Strategy<Value = String> {
    let extra = prop_oneof![
        6 => Just(Vec::new()),
        1 => prop::collection::vec(field(), 1..3),
    ];
    let kind = prop_oneof![
        12 => prop::sample::select(&KINDS[..10]),
        1 => Just("pivot"),
    ];
    let step = (kind, 0u8..4, extra, 0usize..12)
        .prop_flat_map(|(kind, id, extra, after)| (typical(kind), Just((kind, id, extra, after))))
        .prop_map(|(mut fields, (kind, id, extra, after))| {
            fields.extend(extra);
            (kind, id, fields, after)
        });
    (
        prop::sample::select(
            &[
                "[root]\ntmpfs = {}\n",
                "[root]\ntmpfs = { size = \"16M\", mode = \"0755\" }\n",
                "[root]\npath = \"/srv/root\"\n",
                "[root]\npath = \"${FUZZ}\"\n",
            ][..],
        ),
        prop::sample::select(
            &[
                "",
                "[namespaces]\npid = true\n",
                "[namespaces]\nuser = \"auto\"\nipc = true\n",
                "[vars]\nA = \"/a\"\n",
            ][..],
        ),
        prop::collection::vec(step, 0..14),
    )
        .prop_map(|(root, ns, steps)| {
            // Ids are unique; `after` mostly names an earlier step.
            let mut text = String::new();
            for (i, (kind, id, fields, after)) in steps.into_iter().enumerate() {
                text.push_str(&format!("[[step]]\nkind = {kind:?}\n"));
                if id > 0 {
                    text.push_str(&format!("id = \"s{i}\"\n"));
                }
                if id == 3 && i > 0 {
                    // Mostly an earlier step; sometimes a later one or an unknown one.
                    text.push_str(&format!("after = [\"s{}\"]\n", after % (i + 2)));
                }
                text.extend(fields);
            }
            let steps = text;
            format!("version = 1\n{root}{ns}{steps}")
        })
}

/// Enough structured plans are valid (a fifth; a third when written) for the back half of
/// the pipeline to be fuzzed.
#[test]
pub(super) fn structured_plans_are_often_valid() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let s = structured();
    let (mut valid, n) = (0, 300);
    for _ in 0..n {
        let text = s.new_tree(&mut runner).expect("plan").current();
        let c = check(Path::new("plans/fuzz.toml"), &text);
        valid += usize::from(c.dag.is_some() && !c.has_errors());
    }
    println!("{valid} of {n} structured plans are valid");
    assert!(
        valid * 5 >= n,
        "only {valid} of {n} structured plans are valid"
    );
}
