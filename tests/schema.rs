//! The checked-in JSON Schema must be what the raw types generate.

#[test]
fn checked_in_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/plan.schema.json");
    let want = mountplan::raw::schema_json();
    if std::env::var_os("MOUNTPLAN_BLESS").is_some() {
        std::fs::write(path, &want).expect("write schema");
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "schema/plan.schema.json is stale: run `MOUNTPLAN_BLESS=1 cargo test --test schema` \
         (or `cargo run -- schema > schema/plan.schema.json`) and commit it"
    );
}

#[test]
fn checked_in_format_reference_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/plan-format.md");
    let want = mountplan::reference::markdown();
    if std::env::var_os("MOUNTPLAN_BLESS").is_some() {
        std::fs::write(path, &want).expect("write reference");
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/plan-format.md is stale: run `MOUNTPLAN_BLESS=1 cargo test --test schema` and commit it"
    );
}

#[test]
fn every_plan_points_at_the_schema() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/plans");
    let mut n = 0;
    for dir in [root.to_string(), format!("{root}/base")] {
        for e in std::fs::read_dir(&dir).expect("plans/ exists") {
            let p = e.expect("dir entry").path();
            if p.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&p).expect("read plan");
                let first = text.lines().next().unwrap_or("");
                assert!(
                    first.starts_with("#:schema ") && first.ends_with("schema/plan.schema.json"),
                    "{} must start with a `#:schema .../schema/plan.schema.json` line",
                    p.display()
                );
                n += 1;
            }
        }
    }
    assert!(n >= 6, "expected the example plans, found {n}");
}

#[test]
fn schema_describes_every_step_kind() {
    let v = mountplan::raw::schema();
    let kinds = v["$defs"]["StepKind"]["oneOf"]
        .as_array()
        .expect("StepKind is a oneOf of consts");
    let names: Vec<&str> = kinds.iter().filter_map(|k| k["const"].as_str()).collect();
    for k in mountplan::raw::StepKind::ALL {
        assert!(
            names.contains(&k.as_str()),
            "schema lacks step kind {}",
            k.as_str()
        );
    }
    assert!(kinds.iter().all(|k| k["description"].is_string()));
}

/// `taplo` (the TOML toolkit behind Even Better TOML), as .ci/run installs it (npm
/// `@taplo/cli`), or `None` after saying NOT RUN (a failure under CI=true).
fn taplo(test: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("taplo"))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!(
            "\n!!!! {test}: NOT RUN: taplo is not installed (npm install -g @taplo/cli; .ci/run does)\n"
        );
        assert!(
            std::env::var("CI").ok().as_deref() != Some("true"),
            "{test} must run under CI=true, but taplo is not installed"
        );
    }
    found
}

/// `taplo lint FILES` with the checked-in schema: its exit status and what it printed.
fn lint(taplo: &std::path::Path, files: &[std::path::PathBuf]) -> (bool, String) {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/plan.schema.json");
    let o = std::process::Command::new(taplo)
        .args(["lint", "--no-auto-config", "--colors", "never", "--schema"])
        .arg(format!("file://{schema}"))
        .args(files)
        .output()
        .expect("run taplo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// What an editor sees through the schema: each mistake below is flagged by taplo, and the
/// same step without the mistake is not (so it is the mistake that is flagged). Every plan in
/// plans/, every fragment and every valid fixture passes.
#[test]
fn taplo_flags_a_wrong_value_a_foreign_key_and_a_missing_key() {
    let test = "taplo_flags_a_wrong_value_a_foreign_key_and_a_missing_key";
    let Some(taplo) = taplo(test) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mountplan-taplo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let head = "version = 1\n[root]\ntmpfs = {}\n\n[[step]]\n";
    let cases = [
        (
            "a wrong strategy",
            "kind = \"pivot\"\nstrategy = \"pivot_root\"\n",
            "kind = \"pivot\"\nstrategy = \"pivot-root\"\n",
        ),
        (
            "a key of another kind",
            "kind = \"mkdir\"\npath = \"/srv\"\nstrategy = \"chroot\"\n",
            "kind = \"mkdir\"\npath = \"/srv\"\n",
        ),
        (
            "a missing target",
            "kind = \"mount\"\ntype = \"tmpfs\"\n",
            "kind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/tmp\"\n",
        ),
        (
            "a wrong mount option",
            "kind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/tmp\"\noptions = [\"nosiud\"]\n",
            "kind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/tmp\"\noptions = [\"nosuid\"]\n",
        ),
        (
            "a wrong node type",
            "kind = \"mknod\"\npath = \"/p\"\nnode = \"pipe\"\n",
            "kind = \"mknod\"\npath = \"/p\"\nnode = \"fifo\"\n",
        ),
        (
            "a mknod with neither node nor from_host",
            "kind = \"mknod\"\npath = \"/p\"\n",
            "kind = \"mknod\"\npath = \"/p\"\nfrom_host = \"/dev/null\"\n",
        ),
        (
            "a wrong create",
            "kind = \"mount\"\ntype = \"bind\"\nsource = \"/f\"\ntarget = \"/f\"\ncreate = \"files\"\n",
            "kind = \"mount\"\ntype = \"bind\"\nsource = \"/f\"\ntarget = \"/f\"\ncreate = \"${C}\"\n",
        ),
    ];
    // Each mistake alone in a file, linted alone (each must fail by itself); the corrected
    // files and every valid plan together (one run: taplo takes a second to start).
    let mut valid = Vec::new();
    for (i, (what, bad, good)) in cases.iter().enumerate() {
        let b = dir.join(format!("bad-{i}.toml"));
        let g = dir.join(format!("good-{i}.toml"));
        std::fs::write(&b, format!("{head}{bad}")).expect("write");
        std::fs::write(&g, format!("{head}{good}")).expect("write");
        let (ok, out) = lint(&taplo, std::slice::from_ref(&b));
        assert!(!ok, "taplo does not flag {what}:\n{out}");
        assert!(out.contains("bad-"), "{what}: taplo names no file:\n{out}");
        valid.push(g);
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in [
        "plans",
        "plans/base",
        "src/fragments",
        "tests/fixtures/valid",
    ] {
        for e in std::fs::read_dir(root.join(sub)).expect("the directory") {
            let p = e.expect("an entry").path();
            if p.extension().is_some_and(|x| x == "toml") {
                valid.push(p);
            }
        }
    }
    let (ok, out) = lint(&taplo, &valid);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ok,
        "taplo flags a valid plan (or a corrected mistake):\n{out}"
    );
    eprintln!(
        "taplo: {} mistakes flagged, {} valid plans pass",
        cases.len(),
        valid.len()
    );
}
