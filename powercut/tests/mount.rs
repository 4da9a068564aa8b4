//! The file system through a real mount: ordinary `std::fs` calls, then power cuts.

use powercut::{mount_or_skip, Errno, Mount};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;

struct Setup {
    mount: Mount,
    backing: tempfile::TempDir,
    // Dropped after `mount`, which unmounts first.
    _mountpoint: tempfile::TempDir,
}

fn setup() -> Option<Setup> {
    let backing = tempfile::tempdir().unwrap();
    let mountpoint = tempfile::tempdir().unwrap();
    let mount = mount_or_skip(backing.path(), mountpoint.path())?;
    Some(Setup {
        mount,
        backing,
        _mountpoint: mountpoint,
    })
}

impl Setup {
    fn at(&self, name: &str) -> PathBuf {
        self.mount.path().join(name)
    }

    fn sync_root(&self) {
        File::open(self.mount.path()).unwrap().sync_all().unwrap();
    }
}

#[test]
fn unsynced_writes_vanish_and_synced_ones_survive() {
    let Some(mut s) = setup() else { return };
    let mut f = File::create(s.at("f")).unwrap();
    s.sync_root();
    f.write_all(&[1; 10_000]).unwrap();
    f.sync_data().unwrap();
    f.write_all_at(b"unsynced", 50).unwrap();
    f.write_all(b"appended").unwrap();
    assert_eq!(fs::metadata(s.at("f")).unwrap().len(), 10_008);
    drop(f);
    s.mount.power_cut().unwrap();
    assert_eq!(fs::read(s.at("f")).unwrap(), vec![1; 10_000]);
    assert_eq!(
        fs::read(s.backing.path().join("f")).unwrap(),
        vec![1; 10_000],
        "the backing directory holds the durable state"
    );
}

#[test]
fn sync_file_range_and_close_make_nothing_durable() {
    let Some(mut s) = setup() else { return };
    let mut f = File::create(s.at("log")).unwrap();
    s.sync_root();
    f.write_all(b"flushed the way sled 0.34 flushes").unwrap();
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: a valid open descriptor; sync_file_range reads no memory of ours.
    assert_eq!(
        unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, flags) },
        0
    );
    drop(f);
    assert_eq!(s.mount.stats().file_syncs, 0);
    s.mount.power_cut().unwrap();
    assert_eq!(fs::read(s.at("log")).unwrap(), b"");
}

#[test]
fn creates_and_renames_vanish_until_their_directory_is_synced() {
    let Some(mut s) = setup() else { return };
    fs::create_dir(s.at("db")).unwrap();
    s.sync_root();
    fs::write(s.at("db/snap.1"), b"old").unwrap();
    File::open(s.at("db/snap.1")).unwrap().sync_all().unwrap();
    File::open(s.at("db")).unwrap().sync_all().unwrap();

    // The temp-file-and-rename pattern, with the file synced but not the directory.
    let mut tmp = File::create(s.at("db/snap.2.generating")).unwrap();
    tmp.write_all(b"new").unwrap();
    tmp.sync_all().unwrap();
    fs::rename(s.at("db/snap.2.generating"), s.at("db/snap.2")).unwrap();
    fs::remove_file(s.at("db/snap.1")).unwrap();
    File::create(s.at("db/conf")).unwrap().sync_all().unwrap();
    s.mount.power_cut().unwrap();
    let mut names: Vec<_> = fs::read_dir(s.at("db"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["snap.1"]);

    // Again, this time syncing the directory.
    fs::write(s.at("db/snap.2"), b"new").unwrap();
    File::open(s.at("db/snap.2")).unwrap().sync_all().unwrap();
    fs::remove_file(s.at("db/snap.1")).unwrap();
    File::open(s.at("db")).unwrap().sync_all().unwrap();
    s.mount.power_cut().unwrap();
    assert_eq!(fs::read(s.at("db/snap.2")).unwrap(), b"new");
    assert!(!s.at("db/snap.1").exists());
}

#[test]
fn an_unsynced_directory_vanishes_with_its_contents() {
    let Some(mut s) = setup() else { return };
    fs::create_dir_all(s.at("data/blobs")).unwrap();
    fs::write(s.at("data/db"), b"x").unwrap();
    File::open(s.at("data/db")).unwrap().sync_all().unwrap();
    File::open(s.at("data")).unwrap().sync_all().unwrap();
    s.mount.power_cut().unwrap();
    assert!(!s.at("data").exists(), "the root was never synced");
}

#[test]
fn injected_errors_surface_and_a_failed_sync_makes_nothing_durable() {
    let Some(mut s) = setup() else { return };
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(s.at("f"))
        .unwrap();
    s.sync_root();
    f.write_all(b"durable").unwrap();
    f.sync_data().unwrap();

    s.mount.fail_writes(Some(Errno::ENOSPC));
    let e = f.write_all_at(b"more", 7).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    s.mount.fail_writes(None);

    f.write_all_at(b"more", 7).unwrap();
    s.mount.fail_syncs(Some(Errno::EIO));
    assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(libc::EIO));
    assert_eq!(
        File::open(s.mount.path())
            .unwrap()
            .sync_all()
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EIO)
    );
    // As on Linux, the failed write-back is not retried: this sync succeeds, writing nothing.
    s.mount.fail_syncs(None);
    f.sync_data().unwrap();
    drop(f);
    s.mount.power_cut().unwrap();
    // The size did get synced (as ext4 may journal it), the lost bytes read as zeros.
    assert_eq!(fs::read(s.at("f")).unwrap(), b"durable\0\0\0\0");
    // A cut is a reboot: injected errors are gone.
    fs::write(s.at("f"), b"x").unwrap();
    File::open(s.at("f")).unwrap().sync_all().unwrap();
}

#[test]
fn flock_works_and_a_clean_unmount_keeps_everything() {
    let Some(s) = setup() else { return };
    let f = File::create(s.at("db")).unwrap();
    f.try_lock().unwrap();
    let again = File::open(s.at("db")).unwrap();
    assert!(matches!(
        again.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    drop((f, again));
    fs::create_dir(s.at("dir")).unwrap();
    fs::write(s.at("dir/never-synced"), b"kept").unwrap();
    let backing = s.backing.path().to_owned();
    let Setup {
        mount,
        backing: _keep,
        _mountpoint,
    } = s;
    mount.unmount().unwrap();
    assert_eq!(fs::read(backing.join("dir/never-synced")).unwrap(), b"kept");
}

#[test]
fn files_over_many_pages_read_back_after_a_cut() {
    let Some(mut s) = setup() else { return };
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut f = File::create(s.at("big")).unwrap();
    s.sync_root();
    f.write_all(&data).unwrap();
    f.sync_all().unwrap();
    // Rewrite a middle range without syncing: the old bytes come back.
    f.write_all_at(&[0; 100_000], 1_000_000).unwrap();
    drop(f);
    s.mount.power_cut().unwrap();
    assert!(fs::read(s.at("big")).unwrap() == data);
    let e = fs::read(s.at("missing")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}
