//! Reading a hostile file: too big (refused unread), at the size limit (bounded time and memory),
//! invalid UTF-8, not a regular file.

use super::*;

#[test]
fn a_50_mb_file_is_refused_unread() {
    let d = Scratch::new("50mb");
    for (name, unit) in [
        ("comment", "# padding\n"),
        ("steps", "[[step]]\nkind = \"pivot\"\n"),
    ] {
        let f = d.write(&format!("{name}.toml"), fill(HEAD, unit, "", 50_000_000));
        both(&d, &f, UNREADABLE, "larger than the limit of 2 MiB");
    }
}

/// Just under `load::MAX_VALUE_MARKS`, with room for the plan's head.
const MARKS: usize = mountplan::load::MAX_VALUE_MARKS - 100;

#[test]
fn files_at_the_size_limit_cost_bounded_time_and_memory() {
    let d = Scratch::new("limit");
    let size = (2 << 20) - 64;
    let shapes = [
        (
            "inline-tables",
            fill("version = 1\nx = [", "{a=1},", "]\n", size),
            "mountplan::limit::values",
        ),
        (
            "int-array",
            fill("version = 1\nx = [", "1,", "]\n", size),
            "mountplan::limit::values",
        ),
        (
            "empty-arrays",
            fill("version = 1\nx = [", "[],", "]\n", size),
            "mountplan::limit::values",
        ),
        (
            "array-of-tables",
            fill("version = 1\n", "[[a]]\n", "", size),
            "mountplan::limit::values",
        ),
        (
            // Distinct dotted keys: 17 tables a line; 2 MiB of them took 920 MB to parse.
            "dotted-keys",
            (0..)
                .map(|i| format!("k{i}.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o = 1\n"))
                .scan(0usize, |n, l| {
                    *n += l.len();
                    (*n < size).then_some(l)
                })
                .collect::<String>(),
            "mountplan::limit::values",
        ),
        (
            // Just under the value limit: what the parser may still be made to build.
            "dotted-keys-at-the-value-limit",
            (0..MARKS / 17)
                .map(|i| format!("k{i}.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o = 1\n"))
                .collect::<String>(),
            "unknown key `k0`",
        ),
        (
            "inline-tables-at-the-value-limit",
            fill("version = 1\nx = [", "{a=1},", "]\n", MARKS / 3 * 6),
            "unknown key `x`",
        ),
        ("comment-lines", fill(HEAD, "#\n", "", size), "ok (0 steps)"),
        ("blank-lines", fill(HEAD, "\n", "", size), "ok (0 steps)"),
        (
            "one-long-string",
            fill(
                "version = 1\nname = \"",
                "x",
                "\"\n[root]\ntmpfs = {}\n",
                size,
            ),
            "ok (0 steps)",
        ),
        (
            "one-long-comment",
            fill(HEAD, "x", "", size).replacen("x", "#", 1),
            "ok (0 steps)",
        ),
        (
            "binary-ish",
            fill("version = 1\n", "@\n", "", size),
            "more syntax errors",
        ),
        (
            "long-bad-line",
            fill("version = 1\n", "@", "\n", size),
            "too long to show",
        ),
    ];
    for (name, text, needle) in shapes {
        assert!(text.len() <= 2 << 20, "{name}: {} bytes", text.len());
        let f = d.write(&format!("{name}.toml"), text);
        let code = if needle.starts_with("ok") {
            OK
        } else {
            INVALID
        };
        let r = run(&d, &["check".as_ref(), f.as_os_str()]);
        clean(&r, code, needle);
        // `plan` reports an invalid plan as `check` does.
        let r = run(&d, &["plan".as_ref(), f.as_os_str()]);
        clean(&r, code, if code == OK { "" } else { needle });
    }
}

#[test]
fn invalid_utf8_is_unreadable_with_the_offset() {
    let d = Scratch::new("utf8");
    let cases: [(&str, Vec<u8>, usize); 6] = [
        ("first-byte", b"\xffversion = 1\n".to_vec(), 0),
        (
            "in-a-string",
            b"version = 1\nname = \"a\xc3\x28\"\n".to_vec(),
            21,
        ),
        (
            "in-a-comment",
            b"version = 1\n# \xed\xa0\x80 surrogate\n".to_vec(),
            14,
        ),
        ("truncated-at-end", b"version = 1\n# \xe2\x82".to_vec(), 14),
        ("utf16", b"\xff\xfev\x00e\x00r\x00".to_vec(), 0),
        ("overlong", b"version = 1\n# \xc0\xaf\n".to_vec(), 14),
    ];
    for (name, bytes, at) in cases {
        let f = d.write(&format!("{name}.toml"), bytes);
        both(
            &d,
            &f,
            UNREADABLE,
            &format!("not UTF-8 text (bad byte at offset {at})"),
        );
    }
    // Random bytes, a megabyte.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let f = d.write("noise.toml", noise);
    both(&d, &f, UNREADABLE, "not UTF-8 text");
}

#[test]
fn non_regular_files_are_refused_without_hanging() {
    let d = Scratch::new("special");
    both(&d, &d.0, UNREADABLE, "not a regular file (a directory)");
    both(
        &d,
        Path::new("/dev/zero"),
        UNREADABLE,
        "not a regular file (a device)",
    );
    both(
        &d,
        Path::new("/dev/null"),
        UNREADABLE,
        "not a regular file (a device)",
    );
    // A FIFO nobody writes to: the open must not wait for a writer.
    let fifo = d.path("fifo.toml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    both(&d, &fifo, UNREADABLE, "a FIFO that gave nothing");
    // A pipe is read (`mountplan diff a.toml <(git show ...)` passes `/dev/fd/63`): here one
    // whose writer wrote the plan and closed, inherited by the child as `/dev/fd/N`.
    let mut fds = [0; 2];
    // SAFETY: pipe2 with a valid array; the ends are closed below. Both are close-on-exec
    // (children of other tests must not hold the write end open); the read end is then
    // made inheritable.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        assert_eq!(libc::fcntl(fds[0], libc::F_SETFD, 0), 0, "fcntl");
    }
    let plan = format!("{HEAD}[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n");
    // SAFETY: writing a buffer smaller than the pipe's to its write end, then closing it.
    unsafe {
        assert_eq!(
            libc::write(fds[1], plan.as_ptr().cast(), plan.len()),
            plan.len() as isize
        );
        libc::close(fds[1]);
    }
    let via = format!("/dev/fd/{}", fds[0]);
    let r = run(&d, &["check".as_ref(), via.as_ref()]);
    // SAFETY: closing the read end this test opened.
    unsafe { libc::close(fds[0]) };
    clean(&r, OK, "ok (1 steps)");
    // An include that is a directory, or a device, is an error at the include, and an
    // unreadable file (exit 2) like the plan itself would be.
    let f = d.write(
        "inc.toml",
        format!(
            "version = 1\ninclude = [\".\", \"/dev/zero\"]\n{}",
            &HEAD[12..]
        ),
    );
    let r = run(&d, &["check".as_ref(), f.as_os_str()]);
    clean(&r, UNREADABLE, "not a regular file (a directory)");
    assert!(
        r.stderr.contains("not a regular file (a device)"),
        "{}",
        r.stderr
    );
}
