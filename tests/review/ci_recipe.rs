//! The review-comment script of docs/ci-recipes.md, run as the workflow would run it.

use super::*;

// ---------------------------------------------------------------------------------------------
// docs/ci-recipes.md

/// The review-comment script of the GitHub Actions recipe, run in a scratch repository with
/// two commits: it lists the plans whose behaviour changed (an include's change counts), the
/// new and the removed ones, each with its dry run, and not the unchanged one.
#[test]
fn the_ci_recipe_writes_the_review_comment() {
    if !have_git() {
        return;
    }
    let doc = read("docs/ci-recipes.md");
    let begin = doc
        .find("# BEGIN review-comment")
        .expect("the BEGIN marker");
    let end = doc.find("# END review-comment").expect("the END marker");
    let script: String = doc[begin..end]
        .lines()
        .map(|l| l.strip_prefix("          ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let s = Scratch::new("recipe");
    let repo = s.path();
    git(repo, &["init", "-q"]);
    s.write("plans/x.toml", X_TOML);
    s.write("plans/base/tmp.toml", &tmp_toml("1M"));
    s.write(
        "plans/same.toml",
        &X_TOML
            .replace("base/tmp.toml\"]", "base/other.toml\"]")
            .replace("name = \"x\"", "name = \"same\""),
    );
    s.write("plans/base/other.toml", &tmp_toml("1M"));
    s.write(
        "plans/gone.toml",
        &X_TOML.replace("name = \"x\"", "name = \"gone\""),
    );
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "base"]);
    let base = Command::new("git")
        .current_dir(repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let base = String::from_utf8_lossy(&base.stdout).trim().to_string();
    s.write("plans/base/tmp.toml", &tmp_toml("2M"));
    s.write(
        "plans/new.toml",
        &X_TOML.replace("name = \"x\"", "name = \"new\""),
    );
    git(repo, &["rm", "-q", "plans/gone.toml"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "change"]);

    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("bash")
        .args(["-e", "-c", &script])
        .current_dir(repo)
        .env("PATH", path)
        .env("BASE", &base)
        .output()
        .expect("run the script");
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(repo.join("review.md")).expect("review.md");
    assert!(
        md.starts_with("# What this pull request changes in plans/\n"),
        "{md}"
    );
    let x_diff = md.find("## Plan diff: `x` → `x`").expect("the diff of x");
    assert!(
        md.contains(&format!(
            "- old: `{base}:plans/x.toml`\n- new: `plans/x.toml`\n"
        )),
        "{md}"
    );
    assert!(
        md[x_diff..].contains("data: `size=1048576` → `size=2097152`"),
        "{md}"
    );
    assert!(md.contains("<details><summary>The dry run of <code>plans/x.toml</code></summary>\n\n## Dry run of `x`\n"), "{md}");
    assert!(md.contains("## New plan `plans/new.toml`\n\n<details><summary>The dry run of <code>plans/new.toml</code></summary>\n\n## Dry run of `new`\n"), "{md}");
    assert!(md.contains("## Removed plan `plans/gone.toml`"), "{md}");
    assert!(
        !md.contains("plans/same.toml"),
        "an unchanged plan is listed: {md}"
    );
    assert!(!repo.join("diff.md").exists());
}
