//! Runs mountplan paused at a debug hook (MOUNTPLAN_TEST_*) so a test can act at that instant,
//! then lets it go on; and whether this build has the hooks.

use super::*;

/// A FIFO that lets a paused apply go on (`MOUNTPLAN_TEST_RESUME`), for attacks made at an
/// exact point of an apply or a recovery instead of by racing for it.
pub struct Resume(pub PathBuf);

impl Resume {
    /// Makes the FIFO `name` in `dir` (mode 0666, so a rootless apply can open it).
    pub fn new(dir: &Path, name: &str) -> Resume {
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
        Resume(p)
    }
}

/// Runs `cmd` (whose environment names `resume` and a pause point); when it says it paused,
/// calls `attack`, then lets it go on. Returns its output and whether it paused (it does not
/// when the point is past its last call or undo). A later pause of the same run (another
/// process reaching its own point of that number, e.g. the parent recovering a journal the
/// rollback kept) is let go on without an attack. Nothing here depends on timing: the apply
/// waits for the test, the test for the apply's message or its end.
pub fn run_paused(mut cmd: Command, resume: &Resume, attack: impl FnOnce()) -> (Out, bool) {
    let mut child = cmd.spawn().unwrap();
    let mut so = child.stdout.take().unwrap();
    let ho = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let mut se = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let he = std::thread::spawn(move || {
        let mut all = String::new();
        let mut buf = [0u8; 512];
        let mut told = 0;
        while let Ok(n) = se.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            let seen = all.matches("mountplan: test pause before ").count();
            while told < seen {
                told += 1;
                let _ = tx.send(());
            }
        }
        all
    });
    // A message, or the end of stderr (the sender dropped): whichever comes first.
    let paused = rx.recv_timeout(Duration::from_secs(60)).is_ok();
    if paused {
        attack();
        if let Err(e) = let_go_on(&mut child, resume) {
            panic!("{e}:\n{}", he.join().unwrap());
        }
    }
    let t = Instant::now();
    let status = loop {
        if rx.try_recv().is_ok() {
            if let Err(e) = let_go_on(&mut child, resume) {
                panic!("{e}:\n{}", he.join().unwrap());
            }
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mountplan hung after the pause");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    use std::os::unix::process::ExitStatusExt;
    let status = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    let out = Out {
        status,
        stdout: ho.join().unwrap(),
        stderr: he.join().unwrap(),
    };
    (out, paused)
}

/// Lets a paused run go on: opens `resume` for writing, which succeeds once the paused
/// process has opened it for reading, and closes it, which ends its read. Not blocking, so a
/// run that never opens it (it said why on stderr) fails the test instead of hanging it.
fn let_go_on(child: &mut Child, resume: &Resume) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let t = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&resume.0)
        {
            Ok(f) => {
                drop(f);
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => return Err(format!("{}: {e}", resume.0.display())),
        }
        if child.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "it paused but never waited on {}",
                resume.0.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// True when the `MOUNTPLAN_TEST_*` hooks exist (debug builds); else says the test did not
/// run, which under `CI=true` is a failure.
pub fn debug_hooks(test: &str) -> bool {
    if !cfg!(debug_assertions) {
        eprintln!(
            "\n!!!! {test}: NOT RUN: the MOUNTPLAN_TEST_* hooks exist only in debug builds\n"
        );
        assert!(
            !ci(),
            "{test} must run under CI=true: run the tests in a debug build"
        );
    }
    cfg!(debug_assertions)
}
