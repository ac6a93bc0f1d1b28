//! A failed apply, traced: its undo calls are the dry run's undo lines.

use super::*;

// ---- what rollback does (issue 14, item 6) ----

/// The system calls of one of the dry run's undo lines (none for the namespace's own).
fn undo_item(line: &str) -> Option<Item> {
    let src = line.to_string();
    let name = &line[..line.find('(').unwrap_or(0)];
    let a = split_args(args(line));
    let (w, optional) = match name {
        "umount2" => (
            Want::new(&["umount2"]).word("MNT_DETACH"),
            line.contains(" if it mounted anything"),
        ),
        "mount_setattr" => {
            let mut w = Want::new(&["mount_setattr"]);
            let rec = a.get(1).map_or("", String::as_str);
            w.sets.push((Sel::Arg(2), flags_of(rec)));
            (w, false)
        }
        "rmdir" => (Want::new(&["unlinkat", "rmdir"]).word("AT_REMOVEDIR"), true),
        "unlink" => (
            Want::new(&["unlinkat"]).word(base(&a[0])).word(", 0)"),
            true,
        ),
        "chmod" => (Want::new(&["fchmodat", "fchmod"]), true),
        "lchown" => (Want::new(&["fchownat", "fchown"]), true),
        _ if line.starts_with("nothing") || line.starts_with("the rest") => return None,
        _ => panic!("an undo line this test does not know: {line:?}"),
    };
    Some(Item::Calls {
        calls: vec![w],
        optional,
        src,
    })
}

/// A failed apply undoes exactly what the dry run's undo lines say, in their order (the last
/// step done first): the remount of `remount / ro` put back, a read-only bind's remount put
/// back before the bind is detached, the device node made on a tmpfs unlinked, the tmpfs
/// detached. Seen in the system calls (strace), after the step's own calls.
#[test]
fn a_failed_applys_undo_calls_are_the_dry_runs_undo_lines() {
    let Some(_serial) = privileged("a_failed_applys_undo_calls_are_the_dry_runs_undo_lines") else {
        return;
    };
    let s = Scratch::new("truth-undo");
    let root = s.path("root");
    debian_root(&root);
    let plan = s.write(
        "undo.toml",
        r#"version = 1
name = "undo"
[root]
path = "${ROOTFS}"
[namespaces]
user = false
[[step]]
kind = "mount"
id = "dev"
type = "tmpfs"
target = "/dev"
[[step]]
kind = "mknod"
id = "null"
path = "/dev/null"
node = "char"
major = 1
minor = 3
mode = "0666"
[[step]]
kind = "mount"
id = "usr"
type = "bind"
source = "/usr"
target = "/mnt"
options = ["ro"]
[[step]]
kind = "remount"
id = "usr-ro"
target = "/mnt"
options = ["ro", "nosuid"]
[[step]]
kind = "remount"
id = "root-ro"
target = "/"
options = ["ro"]
[[step]]
kind = "mknod"
id = "fails"
path = "/nowhere/x"
node = "fifo"
mode = "0600"
"#,
    );
    let sets = vec![("ROOTFS".to_string(), root.display().to_string())];
    let json = dry_run_json(&plan, &sets);
    let steps = json["steps"].as_array().unwrap();
    let failing = steps.len() - 1;
    // What the dry run says: the calls up to the failing step's, then each done step's undo
    // lines, the last step first.
    let mut items = dry_run_items(&json);
    items.pop(); // the command's cwd: no command runs
    let mut undo = Vec::new();
    for st in steps[..failing].iter().rev() {
        for l in st["undo"].as_array().unwrap() {
            undo.extend(undo_item(l.as_str().unwrap()));
        }
    }
    assert!(
        undo.len() >= 5,
        "the dry run undoes two remounts, a bind, a node and a tmpfs: {undo:?}"
    );
    items.extend(undo);
    let before = manifest(&[&root]);
    let trace = s.path("trace");
    let r = Run::apply(&plan, &s.state()).set("ROOTFS", &root);
    let o = finish(
        r.traced(&trace, &["-e", TRACED]).spawn().unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("step 6 `fails` (mknod) failed"),
        "{}",
        o.stderr
    );
    assert_same("the root", &before, &manifest(&[&root]));
    let made = plan_calls(
        &std::fs::read_to_string(&trace).unwrap(),
        "mount(NULL, \"/\", NULL, MS_REC|MS_SLAVE, NULL)",
    );
    let undone: Vec<&str> = made.iter().rev().take(5).map(|t| t.name.as_str()).collect();
    assert_eq!(
        undone,
        [
            "umount2",
            "unlinkat",
            "umount2",
            "mount_setattr",
            "mount_setattr"
        ],
        "{made:#?}"
    );
    if let Some(why) = compare_calls(&items, &made) {
        panic!("{why}");
    }
}
