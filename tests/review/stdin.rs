//! `check -` and `plan -`: a plan read on standard input, with the limits of a plan file.

use super::*;

/// Runs mountplan with `input` on its standard input (written from another thread, so a
/// mountplan that stops reading early does not hang the test).
fn run_stdin(dir: &Path, args: &[&str], input: Vec<u8>) -> Output {
    let mut child = cmd(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mountplan");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        // EPIPE when mountplan stops reading at its limit: expected.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for mountplan");
    writer.join().expect("the writer thread");
    out
}

// ---------------------------------------------------------------------------------------------
// standard input

#[test]
fn check_and_plan_read_a_plan_on_standard_input() {
    let root = Path::new(ROOT);
    let text = read("plans/host-sandbox.toml");
    let o = run_stdin(root, &["check", "-"], text.clone().into_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Its own steps and its fragments', as the checked-in dry run numbers them; then how the
    // command will run.
    let steps = read("plans/host-sandbox.plan.txt")
        .lines()
        .filter(|l| l.starts_with("step "))
        .count();
    let first = stderr(&o).lines().next().unwrap_or("").to_string();
    assert_eq!(first, format!("<stdin>: ok ({steps} steps)"));
    // The dry run is the checked-in one but for the file's name.
    let o = run_stdin(root, &["plan", "-"], text.into_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want = read("plans/host-sandbox.plan.txt").replacen(
        "\nfile: plans/host-sandbox.toml\n",
        "\nfile: <stdin>\n",
        1,
    );
    assert_eq!(stdout(&o), want);

    // Includes are relative to the current directory.
    let lib = read("plans/libcontainer-rootfs.toml").into_bytes();
    let o = run_stdin(&root.join("plans"), &["plan", "-"], lib.clone());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("\nincludes: base/libcontainer-mounts.toml\n"),
        "{}",
        stdout(&o)
    );
    let o = run_stdin(root, &["check", "-"], lib);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read included file `base/libcontainer-mounts.toml`"),
        "{}",
        stderr(&o)
    );
    assert!(
        flat(&stderr(&o)).contains("current directory for a plan read from standard input"),
        "{}",
        stderr(&o)
    );

    // diff takes one side on standard input.
    let o = run_stdin(
        root,
        &["diff", "-", "plans/host-sandbox.toml"],
        read("plans/host-sandbox.toml").into_bytes(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("--- old: <stdin> (plan host-sandbox)\n+++ new: plans/host-sandbox.toml (plan host-sandbox)\n"), "{}", stdout(&o));
    let o = run_stdin(root, &["diff", "-", "-"], b"version = 1\n".to_vec());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("OLD and NEW cannot both be `-`"),
        "{}",
        stderr(&o)
    );
    // Given twice, refused.
    let o = run_stdin(root, &["check", "-", "-"], b"version = 1\n".to_vec());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`-` is given more than once"),
        "{}",
        stderr(&o)
    );
    // --help says so.
    for sub in ["check", "plan"] {
        let h = stdout(&run(&[sub, "--help"]));
        let flat = h.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("`-` reads"), "{sub}: {h}");
        assert!(
            flat.contains("its includes are relative to the current directory"),
            "{sub}: {h}"
        );
    }
}

/// Standard input is held to the limits of a plan file: 2 MiB (exactly 2 MiB is read), UTF-8,
/// not a device, not empty.
#[test]
fn standard_input_has_the_limits_of_a_plan_file() {
    let root = Path::new(ROOT);
    let max = 2 << 20;
    // `version = 1`, then a comment up to the size; no [root], so the plan itself has errors.
    let sized = |n: usize| {
        let mut t = b"version = 1\n#".to_vec();
        t.resize(n - 1, b'x');
        t.push(b'\n');
        assert_eq!(t.len(), n);
        t
    };
    let o = run_stdin(root, &["check", "-"], sized(max));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("mountplan::root::missing"),
        "{}",
        stderr(&o)
    );
    let o = run_stdin(root, &["check", "-"], sized(max + 1));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("larger than the limit of 2 MiB"),
        "{}",
        stderr(&o)
    );
    // Far past it: mountplan stops reading, it does not take it all in.
    let o = run_stdin(root, &["plan", "-"], vec![b'#'; 64 << 20]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("larger than the limit"),
        "{}",
        stderr(&o)
    );

    let o = run_stdin(root, &["check", "-"], b"version = 1\n# \xff\n".to_vec());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not UTF-8 text (bad byte at offset 14)"),
        "{}",
        stderr(&o)
    );
    let o = run_stdin(root, &["check", "-"], Vec::new());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("standard input is empty"),
        "{}",
        stderr(&o)
    );
    let o = cmd(root, &["check", "-"])
        .stdin(std::fs::File::open("/dev/null").unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a regular file (a device)"),
        "{}",
        stderr(&o)
    );
    // A redirected regular file is read like a pipe.
    let o = cmd(root, &["check", "-"])
        .stdin(std::fs::File::open(root.join("plans/host-sandbox.toml")).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
