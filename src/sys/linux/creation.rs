//! What [`Linux`] makes and changes inside the root: the place of a change proved for the
//! journal (`placed`), creation on the resolved parent descriptor with the final name, the
//! identity of what was made or changed, chmod and chown. Takes the call and its place;
//! returns the [`Effect`] and its reversal, or the error.

use super::*;

impl Linux {
    /// Where `fd` really is below the mount `at` is on, and the directory it is in, for the
    /// record of a change to a persistent filesystem: `at` with that path (as the kernel names
    /// it: symlinks resolved, a rename at that instant seen), the directory's identity and the
    /// path as planned, so that rollback and recovery find exactly what was changed, in either
    /// place. `fd` is the directory a new node `name` is made in, or (`name` `None`) the file
    /// changed. No proof for a change that needs none (on an overlay, whose changes are undone
    /// in its upper layer).
    pub(super) fn placed(
        &self,
        c: &Call,
        at: &At,
        fd: BorrowedFd<'_>,
        name: Option<&str>,
    ) -> Result<(At, Option<Parent>), SysError> {
        if c.host_place().is_none_or(|h| h.overlay.is_some()) {
            return Ok((at.clone(), None));
        }
        let err = |e: Errno| SysError::new(c, e);
        let b = self.held.base(at).map_err(err)?;
        let moved = || {
            SysError::refused(
                c,
                Errno::EXDEV,
                format!(
                    "`{}` is not below the mount it was resolved on any more (moved while apply \
                     ran)",
                    in_root(&at.path)
                ),
            )
        };
        let real = files::rel_below(self.proc.as_fd(), b.as_fd(), fd)
            .map_err(err)?
            .ok_or_else(moved)?;
        let dir_of = |d: BorrowedFd<'_>| -> Result<(FileId, Option<crate::sys::Handle>), SysError> {
            Ok((files::id_of(&fstat(d).map_err(err)?), files::handle_of(d)))
        };
        let (rel, dir) = match name {
            Some(n) => {
                let rel = if real.is_empty() {
                    n.to_string()
                } else {
                    format!("{real}/{n}")
                };
                (rel, Some(dir_of(fd)?))
            }
            // The base itself: no directory to prove.
            None if real.is_empty() => (real, None),
            None => {
                let (d, _) = files::split(&real);
                let dfd = resolve::resolve(b.as_fd(), d, How::EXACT.dir()).map_err(|_| moved())?;
                let found = dir_of(dfd.as_fd())?;
                (real, Some(found))
            }
        };
        let planned = (b.rel.as_ref() != rel).then(|| b.rel.to_string());
        let parent = dir.map(|(id, handle)| Parent {
            id,
            planned,
            handle,
        });
        Ok((self.with_rel(at, b.on, rel), parent))
    }

    pub(super) fn with_rel(&self, at: &At, on: MountId, rel: String) -> At {
        At {
            path: at.path.clone(),
            on,
            rel,
        }
    }

    /// Creates `node` at `at` unless the same node is there already.
    pub(super) fn create(
        &mut self,
        c: &Call,
        at: &At,
        node: Node,
        mode: u32,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let (dir, name) = match self.held.parent(at) {
            Ok(x) => x,
            // The mount's root itself.
            Err(Errno::EEXIST) if node == Node::Dir => return Ok(Effect::Unchanged),
            Err(e) => return Err(self.create_error(c, at, e)),
        };
        let mut r = self.create_in(c, at, dir.as_fd(), name, &node, mode, before);
        // A directory made right below a mount's root on the plan's own filesystem: a mount
        // attached on it by the next call goes through that root's descriptor and the name.
        if node == Node::Dir
            && c.is_private()
            && matches!(dir, below::Fd::Held(_))
            && matches!(r, Ok(Effect::Changed(_)))
        {
            self.fresh_dir = Some(at.clone());
        }
        if let (Ok(Effect::Changed(Undo::Remove { id, .. })), Some(place)) =
            (&mut r, self.overlay_place(c))
        {
            // Made through the overlay, it lives in the upper layer: the identity rollback and
            // recovery check is the upper layer's inode, not the overlay's.
            *id = self
                .layers
                .id_of(place)
                .map_err(|e| SysError::new(c, e))?
                .or(*id);
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_in(
        &self,
        c: &Call,
        at: &At,
        dir: BorrowedFd<'_>,
        name: &str,
        node: &Node,
        mode: u32,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| self.create_error(c, at, e);
        let private = c.is_private();
        let (placed, parent) = self.placed(c, at, dir, Some(name))?;
        let u = Undo::Remove {
            at: placed,
            node: node.clone(),
            id: None,
            parent,
        };
        // A change that is not journaled (on a filesystem that goes away with the namespace)
        // is tried first, and what is there looked at only when something is. On a private
        // filesystem, where nothing else can make, rename or replace a file, its undo record
        // needs no identity either: no `fstatat` at all for a new node (unless set-id bits
        // are to be put on a new directory). A journaled change keeps its order: intent on
        // disk, then the change, then its identity.
        if c.host_place().is_none() {
            before(&u)?;
            let made = if private && !(*node == Node::Dir && mode & 0o6000 != 0) {
                files::make(dir, name, node, mode).map(|()| None)
            } else {
                files::create(dir, name, node, mode).map(Some)
            };
            match made {
                Ok(None) => return Ok(Effect::Changed(u)),
                Ok(Some(st)) => return self.created(c, at, dir, name, node, mode, u, &st),
                Err(Errno::EEXIST) => {}
                Err(e) => return Err(err(e)),
            }
        }
        match files::lstat_at(dir, name) {
            Ok(st) => {
                if files::matches(dir, name, &st, node) {
                    return Ok(Effect::Unchanged);
                }
                // A symlink where a directory or a file mountpoint is wanted is accepted when
                // it leads, on the same mount, to one: the mount follows it the same way.
                if kind(&st) == SFlag::S_IFLNK && matches!(node, Node::Dir | Node::File) {
                    if let Ok(fd) = self.held.file(at, How::FOLLOW) {
                        let t = fstat(fd.as_fd()).map_err(err)?;
                        if (*node == Node::Dir) == (kind(&t) == SFlag::S_IFDIR) {
                            return Ok(Effect::Unchanged);
                        }
                    }
                }
                if *node == Node::File && kind(&st) != SFlag::S_IFDIR {
                    // Any existing non-directory will do as a file mountpoint.
                    return Ok(Effect::Unchanged);
                }
                Err(SysError::refused(
                    c,
                    Errno::EEXIST,
                    format!(
                        "`{}` exists and is {}, not the {} the plan makes",
                        in_root(&at.path),
                        kind_word(&st),
                        node.word()
                    ),
                ))
            }
            Err(Errno::ENOENT) => {
                before(&u)?;
                let st = files::create(dir, name, node, mode).map_err(err)?;
                self.created(c, at, dir, name, node, mode, u, &st)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// After `create` made `node`: the undo record gets the new inode's identity, and a new
    /// directory its set-id bits (mkdir ignores them).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn created(
        &self,
        c: &Call,
        at: &At,
        dir: BorrowedFd<'_>,
        name: &str,
        node: &Node,
        mode: u32,
        mut u: Undo,
        st: &nix::sys::stat::FileStat,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| self.create_error(c, at, e);
        if let Undo::Remove { id, .. } = &mut u {
            *id = Some(files::id_of(st));
        }
        // mkdir ignores the set-id bits: set them on the new directory itself, which is
        // opened again by name, so check it is the inode just made and, since `st` was read
        // by name too, that it is as fresh as one (a rename in the root in between must not
        // put them on another directory).
        if *node == Node::Dir && mode & 0o6000 != 0 {
            let fd = files::open_for_chown(dir, name).map_err(err)?;
            let now = fstat(fd.as_fd()).map_err(err)?;
            if files::id_of(&now) != files::id_of(st)
                || !files::is_fresh_dir(fd.as_fd(), &now, mode).map_err(err)?
            {
                return Err(SysError::refused(
                    c,
                    Errno::EXDEV,
                    format!(
                        "`{}` was moved or replaced right after it was made (a rename in the \
                         root): its set-id bits are not put on another directory",
                        in_root(&at.path)
                    ),
                ));
            }
            files::chmod_fd(self.proc.as_fd(), fd.as_fd(), mode).map_err(err)?;
        }
        Ok(Effect::Changed(u))
    }

    /// The call's host place when it is below an overlay's upper layer.
    pub(super) fn overlay_place<'c>(&self, c: &'c Call) -> Option<&'c HostPlace> {
        c.host_place().filter(|p| p.overlay.is_some())
    }

    /// The identity a chmod or chown's undo record checks: on an overlay, the upper layer's
    /// inode (`None` when the file is only in a lower layer: the call copies it up, and
    /// removing the copy undoes it); elsewhere the inode itself.
    pub(super) fn changed_id(
        &self,
        c: &Call,
        st: &nix::sys::stat::FileStat,
    ) -> Result<Option<FileId>, Errno> {
        match self.overlay_place(c) {
            Some(place) => self.layers.id_of(place),
            None => Ok(Some(files::id_of(st))),
        }
    }

    pub(super) fn node_of(&self, c: &Call, node: NodeType, dev: &Dev) -> Result<Node, SysError> {
        let rdev = match dev {
            Dev::Num(a, b) => nix::sys::stat::makedev(u64::from(*a), u64::from(*b)),
            Dev::FromHost(h) => {
                let st = nix::sys::stat::stat(h.as_str())
                    .map_err(|e| SysError::host_path(c, e, "the host node", h.as_str()))?;
                return match kind(&st) {
                    SFlag::S_IFCHR => Ok(Node::Char(st.st_rdev)),
                    SFlag::S_IFBLK => Ok(Node::Block(st.st_rdev)),
                    _ => Err(SysError::refused(
                        c,
                        Errno::EINVAL,
                        format!("the host's `{h}` is {}, not a device", kind_word(&st)),
                    )),
                };
            }
        };
        Ok(match node {
            NodeType::Char => Node::Char(rdev),
            NodeType::Block => Node::Block(rdev),
            NodeType::Fifo => Node::Fifo,
        })
    }

    pub(super) fn chmod(
        &mut self,
        c: &Call,
        at: &At,
        mode: u32,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let fd = self
            .held
            .file(at, How::FOLLOW)
            .map_err(|e| self.open_error(c, at, e, How::FOLLOW))?;
        let st = fstat(fd.as_fd()).map_err(err)?;
        let old = st.st_mode & 0o7777;
        if old == mode {
            return Ok(Effect::Unchanged);
        }
        let Some(id) = self.changed_id(c, &st).map_err(err)? else {
            files::chmod_fd(self.proc.as_fd(), fd.as_fd(), mode).map_err(err)?;
            return Ok(Effect::CopiedUp);
        };
        let (placed, parent) = self.placed(c, at, fd.as_fd(), None)?;
        let u = Undo::Chmod {
            at: placed,
            id,
            mode: old,
            parent,
        };
        before(&u)?;
        files::chmod_fd(self.proc.as_fd(), fd.as_fd(), mode).map_err(err)?;
        Ok(Effect::Changed(u))
    }

    pub(super) fn chown(
        &mut self,
        c: &Call,
        at: &At,
        uid: Option<u32>,
        gid: Option<u32>,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let fd = self
            .held
            .file(at, How::NOFOLLOW)
            .map_err(|e| self.open_error(c, at, e, How::NOFOLLOW))?;
        let st = fstat(fd.as_fd()).map_err(err)?;
        if uid.is_none_or(|u| u == st.st_uid) && gid.is_none_or(|g| g == st.st_gid) {
            return Ok(Effect::Unchanged);
        }
        let Some(id) = self.changed_id(c, &st).map_err(err)? else {
            files::chown_fd(fd.as_fd(), uid, gid).map_err(err)?;
            return Ok(Effect::CopiedUp);
        };
        let (placed, parent) = self.placed(c, at, fd.as_fd(), None)?;
        let u = Undo::Chown {
            at: placed,
            id,
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
            parent,
        };
        before(&u)?;
        files::chown_fd(fd.as_fd(), uid, gid).map_err(err)?;
        Ok(Effect::Changed(u))
    }
}
