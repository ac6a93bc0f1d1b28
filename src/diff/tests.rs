//! Unit tests of the diff, on plans from [`crate::graph::fixtures`].

use super::*;
use crate::graph::fixtures::*;
use crate::model::MsFlags;

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

fn base() -> B {
    B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .s("etc", &[], mkdir("/etc"))
}

#[test]
fn the_same_plan_is_the_same() {
    let (a, b) = (base().dag(), base().dag());
    let d = diff(&a, &b);
    assert!(d.is_same());
    assert_eq!(d.steps.len(), 3);
    assert!(text(&d, "a", "b", false).contains("no differences"));
}

#[test]
fn added_and_removed_steps_are_placed_where_they_were() {
    let a = base().dag();
    let b = B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s("zero", &[], mknod("/dev/zero"))
        .s("etc", &[], mkdir("/etc"))
        .dag();
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
    let a = base().dag();
    let b = B::tmpfs()
        .s("dev", &[], tmpfs("/dev"))
        .s("etc", &[], mkdir("/etc"))
        .s("null", &[], mknod("/dev/null"))
        .dag();
    let d = diff(&a, &b);
    // Either of the two could be called moved; exactly one is (the later one in the old plan
    // keeps its place relative to the first).
    assert_eq!(changes(&d), ["~etc moved"]);
}

#[test]
fn fields_are_compared_in_plan_words() {
    let a = base().dag();
    let b = B::tmpfs()
        .s(
            "dev",
            &[],
            proc_("/dev", MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
        )
        .s("null", &[], mknod("/dev/null"))
        // Of `/dev`: on the empty tmpfs root, a chmod of `/etc` would certainly fail.
        .s("etc", &[], chmod("/dev", 0o700))
        .dag();
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
    let a = B::tmpfs().s("one", &[], mkdir("/x")).dag();
    let b = B::tmpfs().s("two", &[], mkdir("/x")).dag();
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
    let a = base().dag();
    let mut b = base();
    b.0.process.uid = 1000;
    b.0.process.caps = crate::model::CapSet::EMPTY;
    let b = b.dag();
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
