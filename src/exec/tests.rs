//! Unit tests of the executor with the recording fake: ordering, rollback, fallback, journal
//! protocol, verification. Plans come from TOML text, through the same check as the CLI's;
//! expected calls are written out.

use std::cell::RefCell;
use std::rc::Rc;

use nix::errno::Errno;

use super::journal::Log;
use super::report::Status;
use super::run::{Options, Point, run};
use super::verify;
use crate::graph::Dag;
use crate::lowering::{Call, HostPlace};
use crate::model::*;
use crate::sys::fake::{Fake, Rec};
use crate::sys::{Before, Effect, MountEntry, Node, Sys, SysError, Undo};

mod order;
mod pivot;
mod undo;
mod verification;

/// The DAG of a valid plan given as text.
fn dag_of(text: &str) -> Dag {
    let c = crate::check_with(
        std::path::Path::new("t.toml"),
        &[],
        &mut |_| Ok(text.to_string()),
        &crate::load::Limits::default(),
    );
    let errors: Vec<&str> = c
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    c.dag.expect("the plan is valid")
}

/// The header of the test plans: a root directory on the host (so changes there are
/// journaled) or an empty tmpfs.
fn header(root: &str) -> String {
    format!("version = 1\nname = \"test\"\n[root]\n{root}\n[namespaces]\nuser = false\n")
}

const BOUND: &str = "path = \"/srv/root\"";

/// A plan using every kind of step.
const EVERY_KIND: &str = r#"
[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"
options = ["nosuid"]
[[step]]
kind = "mount"
id = "usr"
type = "rbind"
source = "/usr"
target = "/usr"
options = ["ro"]
[[step]]
kind = "mkdir"
id = "etc"
path = "/etc/app/conf"
mode = "0700"
parents = true
[[step]]
kind = "mknod"
id = "null"
path = "/etc/null"
node = "char"
major = 1
minor = 3
uid = 0
[[step]]
kind = "symlink"
id = "link"
path = "/etc/fd"
to = "/proc/self/fd"
[[step]]
kind = "chmod"
id = "mode"
path = "/etc/app"
mode = "0750"
[[step]]
kind = "remount"
id = "ro"
target = "/usr"
options = ["ro", "rec"]
[[step]]
kind = "mask"
id = "mask"
path = "/proc/kcore"
"#;

const PIVOT: &str = "[[step]]\nkind = \"pivot\"\nid = \"pivot\"\nstrategy = \"pivot-root\"\n";

/// The every-kind plan on `root`, with a pivot (and its fallback).
fn every_kind(root: &str, fallback: Option<&str>) -> Dag {
    let fb = fallback
        .map(|f| format!("fallback = \"{f}\"\n"))
        .unwrap_or_default();
    dag_of(&format!("{}{EVERY_KIND}{PIVOT}{fb}", header(root)))
}

fn no_verify() -> Options {
    Options {
        verify: false,
        userns: false,
    }
}

/// Every call of the DAG, setup first, in order.
fn all_calls(d: &Dag) -> Vec<Call> {
    let mut v = d.calls.setup.clone();
    for sc in &d.calls.steps {
        v.extend(sc.calls.iter().cloned());
    }
    v
}

const OVERLAY: &str = r#"
[[step]]
kind = "mount"
id = "ovl"
type = "overlay"
target = "/app"
lower = ["/srv/l"]
upper = "/srv/u"
work = "/srv/w"
"#;

/// A log that records its events, shared with the test.
#[derive(Clone, Default)]
struct Events(Rc<RefCell<Vec<String>>>);

impl Log for Events {
    fn intent(&mut self, seq: u64, p: &HostPlace, u: &Undo) -> Result<(), String> {
        self.0
            .borrow_mut()
            .push(format!("I{seq} {}:{} {u}", p.base, p.rel));
        Ok(())
    }
    fn done(&mut self, seq: u64, _: &Undo) -> Result<(), String> {
        self.0.borrow_mut().push(format!("D{seq}"));
        Ok(())
    }
    fn undone(&mut self, seq: u64) -> Result<(), String> {
        self.0.borrow_mut().push(format!("U{seq}"));
        Ok(())
    }
}
