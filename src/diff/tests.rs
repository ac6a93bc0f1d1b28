//! Unit tests of the diff, on plans written as plan text ([`crate::test_plans`]).

use super::*;
use crate::test_plans::*;

fn changes(d: &Diff) -> Vec<String> {
    d.steps
        .iter()
        .filter(|s| s.is_change())
        .map(|s| match s {
            StepChange::Added { new } => format!("+{}", d.new.plan.steps[*new].id),
            StepChange::Removed { old } => format!("-{}", d.old.plan.steps[*old].id),
            StepChange::Matched {
                new, moved, fields, ..
            } => {
                let f: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}:{}->{}", f.field, f.old, f.new))
                    .collect();
                format!(
                    "~{}{}{}",
                    d.new.plan.steps[*new].id,
                    if *moved { " moved" } else { "" },
                    if f.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", f.join(" "))
                    }
                )
            }
        })
        .collect()
}

fn base() -> Vec<String> {
    vec![
        tmpfs("dev", "/dev"),
        mknod("null", "/dev/null"),
        mkdir("etc", "/etc"),
    ]
}

#[test]
fn the_same_plan_is_the_same() {
    let (a, b) = (dag(&on_tmpfs(&base())), dag(&on_tmpfs(&base())));
    let d = diff(&a, &b);
    assert!(d.is_same());
    assert_eq!(d.steps.len(), 3);
    assert!(text(&d, "a", "b", false).contains("no differences"));
}

#[test]
fn added_and_removed_steps_are_placed_where_they_were() {
    let a = dag(&on_tmpfs(&base()));
    let b = dag(&on_tmpfs(&[
        tmpfs("dev", "/dev"),
        mknod("zero", "/dev/zero"),
        mkdir("etc", "/etc"),
    ]));
    let d = diff(&a, &b);
    let order: Vec<&str> = d
        .steps
        .iter()
        .map(|s| match s {
            StepChange::Added { .. } => "added",
            StepChange::Removed { .. } => "removed",
            StepChange::Matched { .. } => "same",
        })
        .collect();
    // A removed step comes right after the step it followed; then what took its place.
    assert_eq!(order, ["same", "removed", "added", "same"]);
    assert_eq!(changes(&d), ["-null", "+zero"]);
    assert!(!d.is_same());
    // The final tree: /dev/null gone, /dev/zero new.
    let n: Vec<(ChangeKind, String)> = d
        .nodes
        .iter()
        .map(|n| {
            let p = n.new.as_ref().or(n.old.as_ref()).unwrap().path.to_string();
            (n.kind, p)
        })
        .collect();
    assert_eq!(
        n,
        [
            (ChangeKind::Removed, "/dev/null".to_string()),
            (ChangeKind::Added, "/dev/zero".to_string())
        ]
    );
}

#[test]
fn swapping_two_steps_moves_one() {
    let a = dag(&on_tmpfs(&base()));
    let b = dag(&on_tmpfs(&[
        tmpfs("dev", "/dev"),
        mkdir("etc", "/etc"),
        mknod("null", "/dev/null"),
    ]));
    let d = diff(&a, &b);
    // Either of the two could be called moved; exactly one is (the later one in the old plan
    // keeps its place relative to the first).
    assert_eq!(changes(&d), ["~etc moved"]);
}

#[test]
fn fields_are_compared_in_plan_words() {
    let a = dag(&on_tmpfs(&base()));
    let b = dag(&on_tmpfs(&[
        mount("dev", "proc", "/dev", &["nosuid", "nodev"]),
        mknod("null", "/dev/null"),
        // Of `/dev`: on the empty tmpfs root, a chmod of `/etc` would certainly fail.
        chmod("etc", "/dev", "0700"),
    ]));
    let d = diff(&a, &b);
    // `dev` is matched by id; the two `etc` steps differ in kind, so they are not.
    assert_eq!(
        changes(&d),
        [
            "~dev type:tmpfs->proc source:tmpfs->proc options:(none)->nosuid, nodev",
            "~etc kind:mkdir->chmod path:/etc->/dev mode:0755->0700 parents:false->(none) uid:(none)->0"
        ]
    );
    let m = &d.mounts[0];
    assert_eq!(m.kind, ChangeKind::Changed);
    let f: Vec<&str> = m.fields.iter().map(|f| f.field).collect();
    assert_eq!(f, ["fstype", "source", "options"]);
}

#[test]
fn steps_without_a_common_id_match_by_kind_and_path() {
    let a = dag(&on_tmpfs(&[mkdir("one", "/x")]));
    let b = dag(&on_tmpfs(&[mkdir("two", "/x")]));
    let d = diff(&a, &b);
    assert_eq!(changes(&d), ["~two id:one->two"]);
    let j: serde_json::Value = serde_json::from_str(&json(&d, "a", "b")).unwrap();
    assert_eq!(j["same"], false);
    assert_eq!(j["steps"][0]["change"], "changed");
    assert!(markdown(&d, "a", "b").contains("| changed |"));
}

#[test]
fn longest_increasing_subsequence() {
    assert_eq!(lis(&[0, 2, 1, 3]), [0, 2, 3]);
    assert_eq!(lis(&[3, 2, 1]).len(), 1);
    assert!(lis(&[]).is_empty());
}

#[test]
fn a_change_of_the_command_s_process_is_a_header_change() {
    let a = dag(&on_tmpfs(&base()));
    let b = dag(&format!(
        "{}[process]\nuid = 1000\ncapabilities = []\n",
        on_tmpfs(&base())
    ));
    let d = diff(&a, &b);
    assert!(!d.is_same());
    let f: Vec<(&str, &str, &str)> = d
        .plan
        .iter()
        .map(|f| (f.field, f.old.as_str(), f.new.as_str()))
        .collect();
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_eq!(
        f[0],
        (
            "process.user",
            "uid 0, gid 0, no supplementary groups",
            "uid 1000, gid 0, no supplementary groups"
        )
    );
    assert_eq!(f[1].0, "process.capabilities");
    assert_eq!(f[1].2, "none");
}

#[test]
fn a_console_is_a_field_of_its_own() {
    let steps = vec![
        tmpfs("dev", "/dev"),
        mount("pts", "devpts", "/dev/pts", &[]),
        step("pivot", "pivot", &[]),
    ];
    let a = dag(&on_tmpfs(&steps));
    let b = dag(&format!(
        "{}[process]\nconsole = \"pty\"\n",
        on_tmpfs(&steps)
    ));
    assert!(diff(&b, &b).is_same());
    let d = diff(&a, &b);
    let f: Vec<(&str, &str)> = d.plan.iter().map(|f| (f.field, f.old.as_str())).collect();
    assert_eq!(f, [("process.console", "(none)")], "{f:#?}");
}
