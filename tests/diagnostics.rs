//! Every plan in tests/fixtures/invalid/ gives diagnostics, rendered colourless at 80 columns
//! exactly as its checked-in `.stderr` snapshot; `MOUNTPLAN_BLESS=1` rewrites the snapshots.

use std::path::{Path, PathBuf};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(manifest().join("tests/fixtures/invalid"))
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.strip_prefix(manifest()).expect("inside").to_path_buf())
        .collect();
    v.sort();
    v
}

fn render(rel: &Path) -> (String, usize) {
    let c = mountplan::check(rel, &[], &mut |p: &Path| {
        std::fs::read_to_string(manifest().join(p))
    });
    assert!(!c.diags.is_empty(), "{}: no diagnostic", rel.display());
    (
        mountplan::diag::render_human(&c.sources, &c.diags, 80, false),
        c.diags.len(),
    )
}

#[test]
fn every_invalid_fixture_renders_as_its_snapshot() {
    let bless = std::env::var_os("MOUNTPLAN_BLESS").is_some();
    let mut stale = Vec::new();
    let all = fixtures();
    assert!(
        all.len() >= 20,
        "expected the fixtures, found {}",
        all.len()
    );
    for rel in all {
        let (text, _) = render(&rel);
        let snap = manifest().join(rel.with_extension("stderr"));
        if bless {
            std::fs::write(&snap, &text).expect("write snapshot");
        } else if std::fs::read_to_string(&snap).unwrap_or_default() != text {
            stale.push(format!("{}:\n{text}", rel.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "stale diagnostics snapshots (review, then MOUNTPLAN_BLESS=1 cargo test --test diagnostics):\n{}",
        stale.join("\n")
    );
}

#[test]
fn each_fixture_has_its_code() {
    let expect = [
        ("syntax-error", "mountplan::syntax"),
        ("unknown-key", "mountplan::unknown_key"),
        ("unknown-kind", "mountplan::unknown_value"),
        ("foreign-key", "mountplan::step::foreign_key"),
        ("missing-field", "mountplan::step::missing"),
        ("relative-path", "mountplan::path::invalid"),
        ("duplicate-id", "mountplan::id::duplicate"),
        ("bad-mode", "mountplan::mode"),
        ("device-range", "mountplan::number::range"),
        ("unknown-flag", "mountplan::option::unknown"),
        ("conflicting-flags", "mountplan::option::conflict"),
        ("smuggled-option", "mountplan::option::smuggle"),
        ("proc-under-proc", "mountplan::mount::under_proc"),
        ("two-pivots", "mountplan::pivot::twice"),
        ("bind-after-pivot", "mountplan::host_after_pivot"),
        ("unknown-variable", "mountplan::var::unknown"),
        ("include-cycle", "mountplan::include::cycle"),
        ("fallback-same", "mountplan::pivot::fallback"),
        ("unknown-top-key", "mountplan::unknown_key"),
        ("unknown-step-keys", "mountplan::unknown_key"),
        ("var-not-substituted", "mountplan::var::not_substituted"),
        ("missing-parent", "mountplan::graph::missing"),
        ("read-only-mkdir", "mountplan::graph::read-only"),
        ("nodev-node", "mountplan::graph::nodev"),
        ("nodev-node", "mountplan::graph::shared-root"),
        ("unknown-capability", "mountplan::process::capability"),
        ("chroot-capability", "mountplan::process::chroot"),
        ("hostname-without-uts", "mountplan::process::needs-uts"),
    ];
    for (name, code) in expect {
        let rel = PathBuf::from(format!("tests/fixtures/invalid/{name}.toml"));
        let c = mountplan::check(&rel, &[], &mut |p: &Path| {
            std::fs::read_to_string(manifest().join(p))
        });
        assert!(
            c.diags.iter().any(|d| d.code == code),
            "{name}: expected {code}, got {:?}",
            c.diags.iter().map(|d| d.code).collect::<Vec<_>>()
        );
        assert!(c.dag.is_none(), "{name} must not validate");
    }
}
