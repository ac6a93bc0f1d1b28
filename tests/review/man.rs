//! `man`: a page per subcommand printed, and all of them written.

use super::*;

// ---------------------------------------------------------------------------------------------
// man pages

const PAGES: [&str; 14] = [
    "mountplan.1",
    "mountplan-check.1",
    "mountplan-plan.1",
    "mountplan-diff.1",
    "mountplan-apply.1",
    "mountplan-recover.1",
    "mountplan-release.1",
    "mountplan-capture.1",
    "mountplan-doctor.1",
    "mountplan-schema.1",
    "mountplan-completions.1",
    "mountplan-man.1",
    "mountplan-import.1",
    "mountplan-export.1",
];

#[test]
fn man_prints_a_page_per_subcommand_and_writes_them_all() {
    let top = run(&["man"]);
    assert_eq!(top.status.code(), Some(0));
    assert!(
        stdout(&top).contains("\n.TH mountplan 1 "),
        "{}",
        stdout(&top)
    );
    let apply = run(&["man", "apply"]);
    assert_eq!(apply.status.code(), Some(0));
    let a = stdout(&apply);
    assert!(
        a.contains("\n.TH mountplan-apply 1  \"mountplan 0.1.0\""),
        "{a}"
    );
    assert!(a.contains("\\fBmountplan apply\\fR"), "{a}");
    assert!(a.contains("\\fB\\-\\-persist\\fR"), "{a}");
    assert!(a.contains("\\fB\\-\\-state\\-dir\\fR"), "{a}");
    let o = run(&["man", "no-such"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`no-such` is not a subcommand of mountplan"),
        "{}",
        stderr(&o)
    );

    let s = Scratch::new("man");
    let dir = s.path().join("man1");
    let o = run(&["man", "--dir", &dir.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let listed: Vec<String> = stdout(&o).lines().map(String::from).collect();
    let want: Vec<String> = PAGES
        .iter()
        .map(|p| dir.join(p).display().to_string())
        .collect();
    assert_eq!(listed, want);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut pages: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    pages.sort();
    assert_eq!(files, pages);
    // Each file is the page `man COMMAND` prints.
    assert_eq!(std::fs::read(dir.join("mountplan.1")).unwrap(), top.stdout);
    for p in &PAGES[1..] {
        let sub = p.trim_start_matches("mountplan-").trim_end_matches(".1");
        assert_eq!(
            std::fs::read(dir.join(p)).unwrap(),
            run(&["man", sub]).stdout,
            "{p}"
        );
    }
    // man(1) reads them, when it is installed.
    if let Ok(o) = Command::new("man")
        .arg("-l")
        .arg(dir.join("mountplan-diff.1"))
        .env("MANWIDTH", "100")
        .output()
    {
        if o.status.success() {
            let t = String::from_utf8_lossy(&o.stdout);
            assert!(t.contains("--rev <REV>"), "{t}");
        }
    }
}
