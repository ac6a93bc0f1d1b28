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
