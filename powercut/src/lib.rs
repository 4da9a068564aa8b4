//! A FUSE file system for tests in which a simulated power cut leaves only what was made
//! durable, in the spirit of Jepsen's LazyFS.
//!
//! [`PowerCutFs::mount`] serves the tree of a backing directory at a mount point. Everything
//! written through the mount lives in memory until the writer makes it durable:
//! - a file's data **and size** become durable only through `fsync`/`fdatasync` of that file
//!   (through any descriptor). `sync_file_range`, `close` and page-cache writeback make
//!   nothing durable;
//! - a directory's entries (files or directories created, unlinked or renamed in it) become
//!   durable only through `fsync` of that directory. An inode whose name became durable that
//!   way holds what it held at its own last fsync (nothing, if never synced). This is the
//!   strict POSIX reading: on ext4 an fsync of a new file usually carries its directory entry
//!   too, but nothing promises it, so this file system does not.
//!
//! [`Mount::power_cut`] throws away everything else: it freezes the file system (every further
//! change fails with EIO), unmounts it, writes the durable tree into the backing directory
//! (which then holds exactly what a disk would), and mounts that again at the same place.
//! [`Mount::fail_writes`] and [`Mount::fail_syncs`] inject errors such as EIO or ENOSPC.
//!
//! Mounting needs `/dev/fuse` and, without `fusermount3`, root (the pure-Rust mount of
//! `fuser` calls the mount syscall). [`mount_or_skip`] turns "not possible here" into a
//! skipped test, except under CI.

mod fs;
mod model;

pub use fs::Stats;
/// An error number to inject, e.g. `Errno::EIO` or `Errno::ENOSPC`.
pub use fuser::Errno;

use fs::{lock, Fs, Shared, State};
use model::Model;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file system; see the crate documentation for its durability rules.
pub struct PowerCutFs;

impl PowerCutFs {
    /// Serves the tree in `backing` at `mountpoint` (an existing, empty directory) until the
    /// returned [`Mount`] is dropped.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Mount> {
        let mut mount = Mount {
            backing: backing.to_owned(),
            mountpoint: mountpoint.to_owned(),
            shared: Arc::new(Mutex::new(State {
                model: Model::load(backing)?,
                frozen: false,
                fail_writes: None,
                fail_syncs: None,
                stats: Stats::default(),
            })),
            session: None,
        };
        mount.start()?;
        Ok(mount)
    }
}

/// A mounted [`PowerCutFs`]. Dropping it unmounts cleanly, like [`Mount::unmount`].
pub struct Mount {
    backing: PathBuf,
    mountpoint: PathBuf,
    shared: Shared,
    session: Option<fuser::BackgroundSession>,
}

impl Mount {
    fn start(&mut self) -> io::Result<()> {
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("powercut".into()),
            fuser::MountOption::Subtype("powercut".into()),
        ];
        let fs = Fs {
            shared: self.shared.clone(),
        };
        self.session = Some(fuser::spawn_mount(fs, &self.mountpoint, &config)?);
        Ok(())
    }

    /// Where the file system is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Makes every write fail with `errno` (data writes, truncation, fallocate), or stops
    /// failing with `None`.
    pub fn fail_writes(&self, errno: Option<Errno>) {
        lock(&self.shared).fail_writes = errno;
    }

    /// Makes every fsync/fdatasync (of files and directories) fail with `errno` and make
    /// nothing durable, or stops failing with `None`. As Linux does after a failed writeback,
    /// a failed file sync marks the file's unsynced data clean: it stays readable, but a later
    /// successful fsync does not write it, and a power cut loses it.
    pub fn fail_syncs(&self, errno: Option<Errno>) {
        lock(&self.shared).fail_syncs = errno;
    }

    /// What the file system was asked to do since it was mounted (or last cut).
    pub fn stats(&self) -> Stats {
        lock(&self.shared).stats
    }

    /// Cuts the power: everything not made durable is lost, and the mount then shows (and the
    /// backing directory holds) exactly the durable state. Injected errors are cleared, as by
    /// a reboot. Every process that had files open on the mount must have exited: a mount
    /// still in use is detached, and its users see EIO.
    pub fn power_cut(&mut self) -> io::Result<()> {
        lock(&self.shared).frozen = true;
        self.stop()?;
        let fresh = {
            let state = lock(&self.shared);
            state.model.dump_durable(&self.backing)?;
            Model::load(&self.backing)?
        };
        self.shared = Arc::new(Mutex::new(State {
            model: fresh,
            frozen: false,
            fail_writes: None,
            fail_syncs: None,
            stats: Stats::default(),
        }));
        self.start()
    }

    /// Unmounts after making everything durable (as unmounting a real file system writes
    /// everything back), leaving the whole tree in the backing directory.
    pub fn unmount(mut self) -> io::Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.session.is_none() {
            return Ok(());
        }
        {
            let mut state = lock(&self.shared);
            state.model.sync_everything();
            state.frozen = true;
        }
        self.stop()?;
        lock(&self.shared).model.dump_durable(&self.backing)
    }

    /// Unmounts; a mount still in use is detached instead (lazily unmounted).
    fn stop(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if session.umount_and_join().is_ok() {
            return Ok(());
        }
        // Busy: detach it, so the mount point is free for the next mount. The old session
        // thread serves whoever still holds files there, from the frozen state.
        let path = std::ffi::CString::new(self.mountpoint.as_os_str().as_encoded_bytes())
            .map_err(io::Error::other)?;
        // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
        if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } != 0 {
            let e = io::Error::last_os_error();
            // EINVAL: not a mount point any more, i.e. the failed unmount did happen.
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            eprintln!(
                "powercut: unmounting {} failed: {e}",
                self.mountpoint.display()
            );
        }
    }
}

/// Mounts as [`PowerCutFs::mount`] does, or, where FUSE cannot be mounted (no `/dev/fuse`,
/// no permission), prints one line saying so and returns `None` — unless the environment
/// variable `CI` is set, where a test that cannot run must fail rather than pass unseen.
pub fn mount_or_skip(backing: &Path, mountpoint: &Path) -> Option<Mount> {
    let unavailable = match PowerCutFs::mount(backing, mountpoint) {
        Ok(mount) => return Some(mount),
        Err(e) if !Path::new("/dev/fuse").exists() => format!("no /dev/fuse ({e})"),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound
            ) =>
        {
            format!("mounting FUSE is not permitted here ({e})")
        }
        Err(e) => panic!("mounting the power-cut file system failed: {e}"),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the power-cut tests, but {unavailable}"
    );
    eprintln!("skipped: power-cut test needs FUSE: {unavailable}");
    None
}
