//! The FUSE side: each request is answered from the [`Model`] under one lock. No request ever
//! touches the backing directory; only a power cut or an unmount writes it.

use crate::model::{Ino, Model};
use fuser::{
    Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// How long the kernel may cache names and attributes. Only this process changes the tree,
/// and the kernel updates its caches on the changes it sends us, so this is only a bound.
const TTL: Duration = Duration::from_secs(1);

/// Counters of what the file system was asked to do since it was mounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `write` requests that succeeded.
    pub writes: u64,
    /// fsync/fdatasync requests on files that succeeded.
    pub file_syncs: u64,
    /// fsync requests on directories that succeeded.
    pub dir_syncs: u64,
    /// 4 KiB pages made durable by file syncs.
    pub pages_synced: u64,
}

/// Everything a mount shares between its FUSE thread and its [`crate::Mount`] handle.
pub(crate) struct State {
    pub(crate) model: Model,
    /// Set by a power cut: from then on nothing changes, and every change fails with EIO.
    pub(crate) frozen: bool,
    pub(crate) fail_writes: Option<Errno>,
    pub(crate) fail_syncs: Option<Errno>,
    pub(crate) stats: Stats,
}

pub(crate) type Shared = Arc<Mutex<State>>;

pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic in a request handler leaves the model as consistent as any single step does.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct Fs {
    pub(crate) shared: Shared,
}

impl Fs {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    /// The state, if it may still change.
    fn mutable(&self) -> Result<MutexGuard<'_, State>, Errno> {
        let state = self.state();
        if state.frozen {
            Err(Errno::EIO)
        } else {
            Ok(state)
        }
    }

    fn entry(&self, reply: ReplyEntry, attr: Result<fuser::FileAttr, Errno>) {
        match attr {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn empty(reply: ReplyEmpty, result: Result<(), Errno>) {
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn sync(&self, ino: INodeNo) -> Result<(), Errno> {
        let mut state = self.mutable()?;
        if let Some(e) = state.fail_syncs {
            state.model.write_back_failed(ino.0);
            return Err(e);
        }
        let dir = state.model.is_dir(ino.0);
        let synced = state.model.fsync(ino.0)?;
        if dir {
            state.stats.dir_syncs += 1;
        } else {
            state.stats.file_syncs += 1;
            state.stats.pages_synced += synced.pages;
        }
        Ok(())
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

fn perm(mode: u32, umask: u32) -> u16 {
    (mode & !umask & 0o7777) as u16
}

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let attr = self.state().model.lookup(parent.0, name);
        self.entry(reply, attr)
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.state().model.attr(ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = self.mutable().and_then(|mut state| {
            if let Some(size) = size {
                if let Some(e) = state.fail_writes {
                    return Err(e);
                }
                state.model.set_len(ino.0, size)?;
            }
            let perm = mode.map(|m| perm(m, 0));
            let (atime, mtime) = (atime.map(time), mtime.map(time));
            state.model.set_meta(ino.0, perm, uid, gid, atime, mtime)?;
            state.model.attr(ino.0)
        });
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        let attr = self.mutable().and_then(|mut s| {
            s.model.create(
                parent.0,
                name,
                false,
                perm(mode, umask),
                req.uid(),
                req.gid(),
            )
        });
        self.entry(reply, attr)
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let attr = self.mutable().and_then(|mut s| {
            s.model.create(
                parent.0,
                name,
                true,
                perm(mode, umask),
                req.uid(),
                req.gid(),
            )
        });
        self.entry(reply, attr)
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(
            reply,
            self.mutable()
                .and_then(|mut s| s.model.unlink(parent.0, name)),
        )
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(
            reply,
            self.mutable()
                .and_then(|mut s| s.model.rmdir(parent.0, name)),
        )
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        if !(flags - RenameFlags::RENAME_NOREPLACE).is_empty() {
            return reply.error(Errno::EINVAL);
        }
        Self::empty(
            reply,
            self.mutable().and_then(|mut s| {
                s.model
                    .rename(parent.0, name, newparent.0, newname, noreplace)
            }),
        )
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.state().model.attr(ino.0) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.state().model.read(ino.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = self.mutable().and_then(|mut state| {
            if let Some(e) = state.fail_writes {
                return Err(e);
            }
            state.model.write(ino.0, offset, data)?;
            state.stats.writes += 1;
            Ok(())
        });
        match result {
            // FUSE caps a write request far below 4 GiB.
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() is no durability point.
        reply.ok()
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // fdatasync must persist the size too (it is needed to read the data back), and the
        // model keeps no other metadata worth losing, so both calls do the same.
        Self::empty(reply, self.sync(ino))
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.state().model.readdir(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(e),
        };
        for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            let child: Ino = child;
            if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok()
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        Self::empty(reply, self.sync(ino))
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // Plenty of room: space problems are injected, not simulated.
        reply.statfs(1 << 30, 1 << 30, 1 << 30, 1 << 20, 1 << 20, 4096, 255, 4096)
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let attr = self.mutable().and_then(|mut s| {
            s.model.create(
                parent.0,
                name,
                false,
                perm(mode, umask),
                req.uid(),
                req.gid(),
            )
        });
        match attr {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let result = self.mutable().and_then(|mut state| {
            if let Some(e) = state.fail_writes {
                return Err(e);
            }
            match mode {
                // Reserving space only: nothing to model.
                libc::FALLOC_FL_KEEP_SIZE => Ok(()),
                0 => {
                    let len = state.model.attr(ino.0)?.size;
                    let end = offset.saturating_add(length);
                    if end > len {
                        state.model.set_len(ino.0, end)?;
                    }
                    Ok(())
                }
                _ => Err(Errno::EOPNOTSUPP),
            }
        });
        Self::empty(reply, result)
    }
}
