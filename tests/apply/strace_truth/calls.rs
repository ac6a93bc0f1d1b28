//! An apply of every plan on a merged-/usr root, traced: the calls it makes and the tree it leaves
//! are the dry run's.

use super::*;

// ---- the mount table ----

/// A line of mountinfo, the fields compared.
#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    parent: u64,
    mountpoint: String,
    fstype: String,
    flags: BTreeSet<String>,
    options: BTreeMap<String, String>,
    propagation: Propagated,
}

fn seen(text: &str) -> Vec<Seen> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(Seen {
                id: f.first()?.parse().ok()?,
                parent: f.get(1)?.parse().ok()?,
                mountpoint: f.get(4)?.to_string(),
                fstype: r.first()?.to_string(),
                flags: f.get(5)?.split(',').map(String::from).collect(),
                options: r
                    .get(2)
                    .unwrap_or(&"")
                    .split(',')
                    .map(|o| match o.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (o.to_string(), String::new()),
                    })
                    .collect(),
                propagation: Propagated::of_fields(f[6..].iter().copied()),
            })
        })
        .collect()
}

/// How the kernel shows a filesystem option the plan states (`None`: it shows nothing, a
/// default; `Some(None)`: not shown in a way this compares).
fn kernel_shows(fstype: &str, key: &str, value: &str) -> Option<Option<String>> {
    let oct = |v: &str| u32::from_str_radix(v, 8).unwrap();
    Some(Some(match (fstype, key) {
        ("tmpfs", "size") if value.ends_with('%') => return Some(None),
        ("tmpfs", "size") => format!("{}k", value.parse::<u64>().unwrap().div_ceil(4096) * 4),
        ("tmpfs", "mode") if oct(value) == 0o1777 => return None,
        ("tmpfs", "mode") => format!("{:o}", oct(value)),
        ("devpts", "mode" | "ptmxmode") => format!("{:03o}", oct(value)),
        (_, "uid" | "gid") if value == "0" => return None,
        ("devpts", "newinstance") => return None,
        _ => value.to_string(),
    }))
}

/// The flags a mount shows for the per-mount flags the tree states.
fn flag_words(f: MsFlags) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for (flag, w) in [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_RELATIME, "relatime"),
        (MsFlags::MS_NOATIME, "noatime"),
        (MsFlags::MS_NODIRATIME, "nodiratime"),
    ] {
        if f.contains(flag) {
            s.insert(w.to_string());
        }
    }
    s
}

/// Every difference between the predicted tree and the command's mountinfo.
pub fn compare_tree(dag: &Dag, mountinfo: &str) -> Vec<String> {
    let actual = seen(mountinfo);
    let mut bad = Vec::new();
    // The tree the dry run shows (the console included).
    let shown = mountplan::render::shown_tree(dag);
    let ms = &shown.mounts;
    // Each predicted mount's parent: the latest earlier mount on its mountpoint or above.
    let parent_of = |k: usize| -> Option<usize> {
        let p = ms[k].mountpoint.as_str();
        (0..k).rev().find(|&j| {
            let q = ms[j].mountpoint.as_str();
            q == "/" || q == p || p.starts_with(&format!("{q}/"))
        })
    };
    // The root: the mount on / whose parent is not in the table.
    let ids: BTreeSet<u64> = actual.iter().map(|e| e.id).collect();
    let mut claimed: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, m) in ms.iter().enumerate() {
        let want_parent = parent_of(k).and_then(|p| claimed.get(&p).map(|&a| actual[a].id));
        let found = actual.iter().enumerate().position(|(a, e)| {
            !claimed.values().any(|&c| c == a)
                && e.mountpoint == m.mountpoint.as_str()
                && match (k, want_parent) {
                    (0, _) => !ids.contains(&e.parent),
                    (_, Some(p)) => e.parent == p,
                    (_, None) => false,
                }
        });
        let Some(a) = found else {
            if !m.conditional {
                bad.push(format!(
                    "{}: predicted ({} on {}), not there, or not on the mount the tree puts it on",
                    m.mountpoint,
                    m.fstype,
                    parent_of(k).map_or("nothing".to_string(), |p| ms[p].mountpoint.to_string())
                ));
            }
            continue;
        };
        claimed.insert(k, a);
        bad.extend(compare_one(m, &actual[a]));
    }
    // What no predicted mount is: only what a recursive mount of the tree brought along.
    let by_id: BTreeMap<u64, &Seen> = actual.iter().map(|e| (e.id, e)).collect();
    for (a, e) in actual.iter().enumerate() {
        if claimed.values().any(|&c| c == a) {
            continue;
        }
        let mut up = e.parent;
        let mut brought = false;
        for _ in 0..actual.len() {
            if let Some((&k, _)) = claimed.iter().find(|(_, c)| actual[**c].id == up) {
                brought = ms[k].recursive;
                break;
            }
            match by_id.get(&up) {
                Some(p) => up = p.parent,
                None => break,
            }
        }
        if !brought {
            bad.push(format!(
                "{}: {} is mounted there, which the tree does not predict",
                e.mountpoint, e.fstype
            ));
        }
    }
    bad
}

fn compare_one(m: &TreeMount, e: &Seen) -> Vec<String> {
    let mut bad = Vec::new();
    let mp = m.mountpoint.as_str();
    if !m.propagation.contains(e.propagation) {
        bad.push(format!(
            "{mp}: propagation {} where the tree predicts {}",
            e.propagation.as_str(),
            m.propagation.words()
        ));
    }
    let want = flag_words(m.flags);
    let shown = ["ro", "nosuid", "nodev", "noexec"];
    let perm = |s: &BTreeSet<String>| -> BTreeSet<String> {
        s.iter()
            .filter(|w| shown.contains(&w.as_str()))
            .cloned()
            .collect()
    };
    match &m.kind {
        Mounted::Fs(_) => {
            if e.fstype != m.fstype {
                bad.push(format!(
                    "{mp}: {} where the tree predicts {}",
                    e.fstype, m.fstype
                ));
            }
            // Exactly the flags predicted, atime included.
            let have: BTreeSet<String> = e.flags.iter().filter(|w| *w != "rw").cloned().collect();
            if have != want {
                bad.push(format!(
                    "{mp}: flags {have:?} where the tree predicts {want:?}"
                ));
            }
            for o in m.data.iter().flat_map(|d| d.split(',')) {
                let (k, v) = o.split_once('=').unwrap_or((o, ""));
                match kernel_shows(&m.fstype, k, v) {
                    Some(None) => {}
                    None => {
                        if e.options.get(k).is_some_and(|h| h != v && h != "1777") {
                            bad.push(format!(
                                "{mp}: {k}={} where the tree says the default",
                                e.options[k]
                            ));
                        }
                    }
                    Some(Some(w)) => {
                        if e.options.get(k) != Some(&w) {
                            bad.push(format!(
                                "{mp}: {k}={} where the tree predicts {k}={v} (shown {w})",
                                e.options.get(k).map_or("(none)", String::as_str)
                            ));
                        }
                    }
                }
            }
        }
        // A bind keeps its source's flags but for those the plan sets.
        Mounted::Bind => {
            if !perm(&want).is_subset(&perm(&e.flags)) {
                bad.push(format!(
                    "{mp}: flags {:?} lack the predicted {want:?}",
                    e.flags
                ));
            }
        }
        Mounted::Mask => {
            if e.fstype == "tmpfs" && !e.flags.contains("ro") {
                bad.push(format!("{mp}: a mask's tmpfs that is not read-only"));
            }
        }
    }
    bad
}

// ---- the test ----

fn dag_of(plan: &Path, sets: &[(String, String)]) -> Dag {
    let c = mountplan::check(plan, sets, &mut |p: &Path| std::fs::read_to_string(p));
    assert!(!c.has_errors(), "{}: {:?}", plan.display(), c.diags);
    c.dag.expect("a DAG")
}

/// A program the command can run to print its mount table: the root's busybox, or the host's
/// `cat` where the plan binds the host's /usr and links /bin into it.
fn cat_inside(dag: &Dag) -> Option<&'static str> {
    let mounted = |p: &str| dag.tree.mounts.iter().any(|m| m.mountpoint.as_str() == p);
    let root_dir = matches!(dag.plan.root, mountplan::model::Root::Path(_));
    (root_dir || mounted("/usr")).then_some("/bin/cat")
}

#[test]
fn every_plan_on_a_merged_usr_root_makes_the_dry_runs_calls_and_tree() {
    let Some(_serial) =
        privileged("every_plan_on_a_merged_usr_root_makes_the_dry_runs_calls_and_tree")
    else {
        return;
    };
    let mut plans: Vec<_> = std::fs::read_dir(plans_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    plans.sort();
    let mut failures = Vec::new();
    let mut calls_seen = 0;
    let mut mounts_seen = 0;
    for plan in &plans {
        let name = plan.file_stem().unwrap().to_string_lossy().into_owned();
        let s = Scratch::new(&format!("truth-{name}"));
        let root = s.path("root");
        debian_root(&root);
        let sets: Vec<(String, String)> = if dag_of(plan, &[]).plan.vars.contains_key("ROOTFS") {
            vec![("ROOTFS".into(), root.display().to_string())]
        } else {
            Vec::new()
        };
        let dag = dag_of(plan, &sets);
        let items = dry_run_items(&dry_run_json(plan, &sets));
        // Without apply's own verify: what is judged here is the table the command sees, by
        // this test's comparison (plans.rs applies every plan with verify).
        let mut r = Run::apply(plan, &s.state()).arg("--no-verify");
        for (k, v) in &sets {
            r = r.set(k, Path::new(v));
        }
        let cat = cat_inside(&dag);
        if let Some(cat) = cat {
            r = r.cmd(&[cat, "/proc/self/mountinfo"]);
        }
        let trace = s.path("trace");
        let o = finish(
            r.traced(&trace, &["-e", TRACED]).spawn().unwrap(),
            Duration::from_secs(120),
        );
        // A plan without /proc inside: the command's cat fails, the apply did not.
        let mountinfo = o.stdout.clone();
        assert!(
            o.status == 0 || (cat.is_some() && !o.stderr.contains("mountplan:")),
            "{name}: the apply failed under strace:\n{}",
            o.stderr
        );
        let text = std::fs::read_to_string(&trace).unwrap();
        let made = plan_calls(&text, "mount(NULL, \"/\", NULL, MS_REC|MS_SLAVE, NULL)");
        assert!(!made.is_empty(), "{name}: nothing traced:\n{text}");
        calls_seen += made.len();
        if let Some(why) = compare_calls(&items, &made) {
            failures.push(format!("{name}: {why}"));
        }
        if cat.is_some() && mountinfo.contains(" - ") {
            mounts_seen += mountinfo.lines().count();
            for d in compare_tree(&dag, &mountinfo) {
                failures.push(format!("{name}: {d}\n{mountinfo}"));
            }
        }
        eprintln!("{name}: {} calls traced", made.len());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        calls_seen > 100 && mounts_seen > 20,
        "{calls_seen} calls, {mounts_seen} mounts"
    );
}
