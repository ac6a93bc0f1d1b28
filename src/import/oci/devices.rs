//! The devices: takes `linux.devices` and whether there is a user namespace; adds runc's
//! default devices and the given ones to the plan as nodes (or binds of the host's).

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::LinuxDeviceType;

use super::Out;
use crate::import::writer::{Step, Value};
use crate::import::{absolute, mode_str};

/// runc's default devices (libcontainer/specconv `AllowedDevices` with a path): path,
/// major, minor; each char, 0666, owned by 0:0.
const DEFAULT_DEVICES: [(&str, i64, i64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/random", 1, 8),
    ("/dev/full", 1, 7),
    ("/dev/tty", 5, 0),
    ("/dev/zero", 1, 5),
    ("/dev/urandom", 1, 9),
];

/// runc's default devices, then `linux.devices`, as nodes (or binds of the host's in a user
/// namespace, as runc does).
pub(super) fn devices(linux: &oci_spec::runtime::Linux, userns: bool, o: &mut Out) {
    struct Dev {
        path: String,
        node: &'static str,
        major: i64,
        minor: i64,
        mode: u32,
        uid: u32,
        gid: u32,
    }
    let given = linux.devices().clone().unwrap_or_default();
    let mut all: Vec<Dev> = DEFAULT_DEVICES
        .iter()
        .filter(|(p, _, _)| !given.iter().any(|d| d.path().as_os_str() == *p))
        .map(|(p, major, minor)| Dev {
            path: p.to_string(),
            node: "char",
            major: *major,
            minor: *minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for d in &given {
        let node = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => "char",
            LinuxDeviceType::B => "block",
            LinuxDeviceType::P => "fifo",
            LinuxDeviceType::A => {
                o.note(format!(
                    "linux.devices: {} has type `a`, which is for cgroup rules only; not \
                     imported",
                    d.path().display()
                ));
                continue;
            }
        };
        all.push(Dev {
            path: absolute(Path::new("/"), &d.path().to_string_lossy()),
            node,
            major: d.major(),
            minor: d.minor(),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    let mut made = BTreeSet::new();
    for d in all {
        let parent = match d.path.rfind('/') {
            Some(0) | None => "/".to_string(),
            Some(i) => d.path[..i].to_string(),
        };
        if parent != "/" && parent != "/dev" && made.insert(parent.clone()) {
            o.plan.step(
                Step::new("mkdir")
                    .s("path", parent)
                    .set("parents", Value::Bool(true)),
            );
        }
        if userns && d.node != "fifo" {
            let id = o.id(&d.path, "");
            o.plan.step(
                Step::new("mount")
                    .s("id", id)
                    .s("type", "bind")
                    .s("source", d.path.clone())
                    .s("target", d.path)
                    .s("create", "file")
                    .comment("in a user namespace runc binds the host's node (mknod is refused)"),
            );
            continue;
        }
        let mut s = Step::new("mknod").s("path", d.path).s("node", d.node);
        if d.node != "fifo" {
            s = s
                .set("major", Value::Int(d.major))
                .set("minor", Value::Int(d.minor));
        }
        o.plan.step(
            s.s("mode", mode_str(d.mode))
                .set("uid", Value::Int(i64::from(d.uid)))
                .set("gid", Value::Int(i64::from(d.gid))),
        );
    }
}
