//! `diff` and `apply` of hostile plans: diff ends cleanly, apply refuses before doing anything.

use super::*;

/// `apply`: mountplan itself failed (here: the plan is invalid, nothing is applied).
const APPLY_FAILED: i32 = 125;

#[test]
fn diff_of_hostile_plans_ends_cleanly() {
    let d = Scratch::new("diff");
    let good = d.write(
        "good.toml",
        format!("{HEAD}[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n"),
    );
    let big = d.write("big.toml", fill(HEAD, "# padding\n", "", 3 << 20));
    let bad = d.write("bad.toml", b"version = 1\n\xff\n");
    for other in [&big, &bad, &d.0] {
        let args: [OsString; 3] = ["diff".into(), good.clone().into(), other.clone().into()];
        let a: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        clean(&run(&d, &a), UNREADABLE, "cannot read");
    }
}

#[test]
fn apply_refuses_hostile_plans_before_doing_anything() {
    let d = Scratch::new("apply");
    let state = d.path("state");
    let long_line = d.write(
        "pivots.toml",
        format!(
            "version = 1\nstep = [{}]\n[root]\ntmpfs = {{}}\n",
            "{kind=\"pivot\"},".repeat(9_000)
        ),
    );
    let fifo = d.path("fifo.toml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let cases: [(&Path, &str); 4] = [
        // 9 000 pivots on one 135 kB line, under every input limit: a diagnostic for each of
        // them, which printed the line each time (over a gigabyte of stderr); now 1.4 MB.
        (&long_line, "mountplan::pivot::twice"),
        (&fifo, "a FIFO that gave nothing"),
        (Path::new("/dev/zero"), "not a regular file (a device)"),
        (&d.0, "not a regular file (a directory)"),
    ];
    for (plan, needle) in cases {
        let args: [&std::ffi::OsStr; 4] = [
            "apply".as_ref(),
            "--state-dir".as_ref(),
            state.as_os_str(),
            plan.as_os_str(),
        ];
        let r = run(&d, &args);
        clean(&r, APPLY_FAILED, needle);
        assert!(
            r.stderr.len() < 4 << 20,
            "{}: {} bytes of stderr",
            r.what,
            r.stderr.len()
        );
    }
}
