//! Unit tests of the state directory: the checked walk (made 0700, `..` through real parents,
//! refusals) and the lock files (one removed while another waits).

use super::*;
use crate::sys::linux::files::id_of;

/// A fresh directory of the caller's below the system's temporary directory (sticky,
/// root's: the walk accepts it, since what is in it is the caller's).
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mountplan-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    d
}

#[test]
fn the_state_directory_is_made_0700_and_dot_dot_is_walked_through_real_parents() {
    let d = scratch("walk");
    std::fs::create_dir(d.join("a")).unwrap();
    std::os::unix::fs::symlink("a", d.join("to-a")).unwrap();
    // `to-a/..` is `d` itself: `..` is taken from the directory the symlink led to.
    let state = d.join("to-a/../a/state");
    assert!(StateDir::open(&state, false).unwrap().is_none());
    let s = StateDir::open(&state, true).unwrap().unwrap();
    let st = fstat(s.fd()).unwrap();
    assert_eq!(st.st_mode & 0o7777, 0o700);
    assert_eq!(
        id_of(&st),
        id_of(&nix::sys::stat::stat(&d.join("a/state")).unwrap())
    );
    let j = s.subdir("journal", true).unwrap().unwrap();
    assert!(s.subdir("missing", false).unwrap().is_none());
    drop(j);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_relative_state_directory_or_a_file_on_the_way_is_refused() {
    let e = StateDir::open(Path::new("state"), true).unwrap_err();
    assert!(matches!(e, HostError::Refused(ref r) if r.code == "mountplan::state-dir::relative"));
    let d = scratch("file");
    std::fs::write(d.join("f"), "").unwrap();
    let e = StateDir::open(&d.join("f/state"), true).unwrap_err();
    assert!(
        matches!(e, HostError::Refused(ref r) if r.code == "mountplan::state-dir::not-a-directory"),
        "{e}"
    );
    let e = StateDir::open(&d.join("no/state"), true).unwrap_err();
    assert!(
        matches!(e, HostError::Refused(ref r) if r.code == "mountplan::state-dir::missing"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_group_writable_parent_is_refused_before_the_state_directory_is_made() {
    let d = scratch("group");
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o775)).unwrap();
    let e = StateDir::open(&d.join("state"), true).unwrap_err();
    let HostError::Refused(r) = e else {
        panic!("{e}")
    };
    assert!(
        r.message.contains("may be written by its group"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains(&format!("`{}`", d.display())),
        "{}",
        r.message
    );
    assert!(r.help.contains("chmod go-w"), "{}", r.help);
    assert!(!d.join("state").exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// The classic race of removing lock files: B opens the lock file while A holds it and
/// waits; A removes the file and releases; B's lock is then on a file no name leads to, and
/// C would create a new one and lock it too. B must see that and open the file again. B is
/// made to meet exactly that order (A releases from B's wait callback, before B blocks).
#[test]
fn a_lock_released_and_removed_while_another_waits_is_not_held_twice() {
    let d = scratch("lock");
    let dir = nix::fcntl::open(&d, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
    let a = lock(dir.as_fd(), &d, "k.lock", true, &mut || {})
        .unwrap()
        .unwrap();
    assert!(d.join("k.lock").exists());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (d2, dir2) = (d.clone(), resolve_dup(&dir));
    let b = std::thread::spawn(move || {
        let mut told = false;
        let l = lock(dir2.as_fd(), &d2, "k.lock", true, &mut || {
            told = true;
            tx.send(()).unwrap();
        })
        .unwrap()
        .unwrap();
        (l, told, dir2)
    });
    rx.recv().unwrap();
    a.release(dir.as_fd());
    let (b, told, dir2) = b.join().unwrap();
    assert!(told, "B never waited");
    // B holds the lock on the file the name leads to: C cannot take it.
    let c = lock(dir.as_fd(), &d, "k.lock", false, &mut || {}).unwrap();
    assert!(c.is_none(), "the lock was held twice");
    b.release(dir2.as_fd());
    assert!(!d.join("k.lock").exists(), "the lock file was left");
    let _ = std::fs::remove_dir_all(&d);
}

fn resolve_dup(fd: &OwnedFd) -> OwnedFd {
    crate::sys::linux::resolve::dup(fd.as_fd()).unwrap()
}
