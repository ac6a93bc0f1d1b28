//! Test fixtures: plans built directly as model values, with a known span for every key
//! (step `i`: `kind` at `100*i`, `id` at `100*i+5`, path at `100*i+10`, the `k`-th `after`
//! entry at `100*i+30+5*k`), so diagnostics can be pinned to the exact place. Used by the
//! graph's and the renderer's unit tests until plans can come from TOML.

use std::collections::BTreeMap;

use super::*;
use crate::model::*;
use crate::source::{Loc, SourceId};

pub(crate) fn loc(start: usize, len: usize) -> Loc {
    Loc::new(SourceId(0), start..start + len)
}
pub(crate) fn kind_loc(i: usize) -> Loc {
    loc(100 * i, 4)
}
pub(crate) fn id_at(i: usize) -> Loc {
    loc(100 * i + 5, 4)
}
pub(crate) fn path_at(i: usize) -> Loc {
    loc(100 * i + 10, 8)
}
pub(crate) fn after_at(i: usize, k: usize) -> Loc {
    loc(100 * i + 30 + 5 * k, 4)
}
pub(crate) fn rp(s: &str) -> RootPath {
    RootPath::new(s).unwrap()
}

/// A plan under construction.
pub(crate) struct B(pub(crate) Plan);

impl B {
    pub(crate) fn tmpfs() -> B {
        B(Plan {
            name: "t".into(),
            description: None,
            root: Root::Tmpfs(TmpfsOptions::default()),
            namespaces: Namespaces::default(),
            process: Default::default(),
            vars: BTreeMap::new(),
            includes: Vec::new(),
            root_loc: None,
            steps: Vec::new(),
        })
    }
    pub(crate) fn path_root(p: &str) -> B {
        let mut b = B::tmpfs();
        b.0.root = Root::Path(HostPath::new(p).unwrap());
        b
    }
    /// Adds a step with an explicit id and `after` list.
    pub(crate) fn s(mut self, id: &str, after: &[&str], mut action: Action) -> B {
        let i = self.0.steps.len();
        set_path_loc(&mut action, path_at(i));
        self.0.steps.push(Step {
            id: StepId::new(id),
            explicit_id: true,
            host_loc: None,
            loc: kind_loc(i),
            id_loc: Some(id_at(i)),
            after: after
                .iter()
                .enumerate()
                .map(|(k, a)| (StepId::new(*a), after_at(i, k)))
                .collect(),
            note: None,
            action,
        });
        self
    }
    pub(crate) fn build(self) -> Result<Dag, Vec<Diag>> {
        build(self.0)
    }
    pub(crate) fn dag(self) -> Dag {
        match self.build() {
            Ok(d) => d,
            Err(e) => panic!("expected a DAG, got {e:#?}"),
        }
    }
}

pub(crate) fn set_path_loc(a: &mut Action, l: Loc) {
    match a {
        Action::Mount(m) => m.target_loc = l,
        Action::Remount(m) => m.target_loc = l,
        Action::Propagation(m) => m.target_loc = l,
        Action::Umount(m) => m.target_loc = l,
        Action::Mkdir(m) => m.path_loc = l,
        Action::Mknod(m) => m.path_loc = l,
        Action::Symlink(m) => m.path_loc = l,
        Action::Chmod(m) => m.path_loc = l,
        Action::Mask(m) => m.path_loc = l,
        Action::Readonly(m) => m.path_loc = l,
        Action::Pivot(_) => {}
    }
}

pub(crate) fn mount(fs: FsKind, source: &str, target: &str, flags: MsFlags) -> Action {
    Action::Mount(Mount {
        fs,
        source: source.into(),
        target: rp(target),
        target_loc: Loc::default(),
        flags,
        data: None,
        create: Create::Dir,
    })
}
pub(crate) fn tmpfs(target: &str) -> Action {
    mount(
        FsKind::Tmpfs(TmpfsOptions::default()),
        "tmpfs",
        target,
        MsFlags::empty(),
    )
}
pub(crate) fn proc_(target: &str, flags: MsFlags) -> Action {
    mount(FsKind::Proc, "proc", target, flags)
}
pub(crate) fn bind(source: &str, target: &str, recursive: bool) -> Action {
    mount(
        FsKind::Bind {
            source: HostPath::new(source).unwrap(),
            recursive,
        },
        source,
        target,
        MsFlags::MS_RDONLY,
    )
}
pub(crate) fn mkdir(p: &str) -> Action {
    Action::Mkdir(Mkdir {
        path: rp(p),
        path_loc: Loc::default(),
        mode: Mode::from_bits(0o755),
        parents: false,
    })
}
pub(crate) fn mknod(p: &str) -> Action {
    Action::Mknod(Mknod {
        path: rp(p),
        path_loc: Loc::default(),
        spec: NodeSpec::Given {
            node: NodeType::Char,
            major: 1,
            minor: 3,
        },
        mode: Mode::from_bits(0o666),
        uid: None,
        gid: None,
    })
}
pub(crate) fn chmod(p: &str, mode: u32) -> Action {
    Action::Chmod(Chmod {
        path: rp(p),
        path_loc: Loc::default(),
        mode: Mode::from_bits(mode),
        uid: Some(0),
        gid: None,
    })
}
pub(crate) fn remount(t: &str, flags: MsFlags) -> Action {
    Action::Remount(Remount {
        target: rp(t),
        target_loc: Loc::default(),
        flags,
    })
}
pub(crate) fn umount(t: &str) -> Action {
    Action::Umount(Umount {
        target: rp(t),
        target_loc: Loc::default(),
    })
}
pub(crate) fn propagation(t: &str) -> Action {
    Action::Propagation(Propagation {
        target: rp(t),
        target_loc: Loc::default(),
        kind: PropagationKind::Private,
        recursive: false,
    })
}
pub(crate) fn mask(p: &str) -> Action {
    Action::Mask(Mask {
        path: rp(p),
        path_loc: Loc::default(),
    })
}
pub(crate) fn readonly(p: &str) -> Action {
    Action::Readonly(Readonly {
        path: rp(p),
        path_loc: Loc::default(),
    })
}
pub(crate) fn pivot() -> Action {
    Action::Pivot(Pivot {
        strategy: PivotStrategy::PivotRoot,
        fallback: None,
        put_old: rp("/.pivot_root"),
    })
}
