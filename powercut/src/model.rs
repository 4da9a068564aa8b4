//! The file system's state, free of FUSE: a *volatile* view (what running processes see) and a
//! *durable* one (what the disk would hold if power failed now), both in memory. File contents
//! are kept in pages that the two views share until one of them changes a page, so an fsync
//! costs a copy of the changed pages' pointers, not of the data.

use fuser::{Errno, FileAttr, FileType, INodeNo};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// The unit in which contents are shared between the views and tracked as dirty.
const PAGE: usize = 4096;
type Page = Arc<[u8; PAGE]>;

/// An inode number; the root directory is 1, as FUSE requires.
pub(crate) type Ino = u64;
pub(crate) const ROOT: Ino = 1;

fn page_count(len: u64) -> u64 {
    len.div_ceil(PAGE as u64)
}

/// A file's bytes: pages by index (a missing page reads as zeros) and the length. Bytes past
/// `len` in the last page are always zero, so growing a file needs no clearing.
#[derive(Clone, Default)]
struct Content {
    pages: BTreeMap<u64, Page>,
    len: u64,
}

#[derive(Clone)]
enum Body {
    File(Content),
    Dir(BTreeMap<OsString, Ino>),
}

#[derive(Clone, Copy)]
struct Meta {
    perm: u16,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
}

/// A durable inode: what a disk holds for it.
#[derive(Clone)]
struct Durable {
    body: Body,
    meta: Meta,
}

/// A volatile inode.
struct Node {
    body: Body,
    meta: Meta,
    /// Directory entries naming this inode (directories: 2, for the usual `stat` answer).
    nlink: u32,
    /// A directory's parent, for `..`.
    parent: Ino,
    /// Pages changed since this file was last synced (including pages dropped by truncation).
    dirty: BTreeSet<u64>,
}

/// What one file system holds: the volatile view and, per inode, its durable state.
/// Durability rules (all per inode, as on a real disk):
/// - a file's data and size become durable only on fsync/fdatasync of that file;
/// - a directory's entries (create, unlink, rename, mkdir, rmdir) become durable only on
///   fsync of that directory; a newly named inode then exists durably, but with only the
///   content it had at its own last fsync (empty if none).
///
/// After a power cut only what is reachable from the root in the durable view is left.
pub(crate) struct Model {
    nodes: HashMap<Ino, Node>,
    durable: HashMap<Ino, Durable>,
    next_ino: Ino,
}

/// What one `fsync` made durable, for statistics.
pub(crate) struct Synced {
    pub(crate) pages: u64,
}

impl Model {
    /// The volatile and durable views both equal to the tree in `backing`.
    pub(crate) fn load(backing: &Path) -> io::Result<Model> {
        let meta = meta_of(&fs::metadata(backing)?);
        let mut model = Model {
            nodes: HashMap::new(),
            durable: HashMap::new(),
            next_ino: ROOT + 1,
        };
        model.nodes.insert(ROOT, dir_node(meta, ROOT));
        let mut hard_links = HashMap::new();
        model.load_dir(ROOT, backing, &mut hard_links)?;
        model.durable = model
            .nodes
            .iter()
            .map(|(&ino, n)| {
                let d = Durable {
                    body: n.body.clone(),
                    meta: n.meta,
                };
                (ino, d)
            })
            .collect();
        Ok(model)
    }

    fn load_dir(
        &mut self,
        dir: Ino,
        path: &Path,
        hard_links: &mut HashMap<(u64, u64), Ino>,
    ) -> io::Result<()> {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let md = entry.metadata()?;
            let name = entry.file_name();
            let ino = if md.is_dir() {
                let ino = self.new_ino();
                self.nodes.insert(ino, dir_node(meta_of(&md), dir));
                self.load_dir(ino, &entry.path(), hard_links)?;
                ino
            } else if md.is_file() {
                if let Some(&ino) = hard_links.get(&(md.dev(), md.ino())) {
                    ino
                } else {
                    let ino = self.new_ino();
                    let content = read_content(&entry.path())?;
                    self.nodes.insert(ino, file_node(meta_of(&md), content, 0));
                    hard_links.insert((md.dev(), md.ino()), ino);
                    ino
                }
            } else {
                // Symlinks, sockets, devices: nothing a test of ours needs.
                continue;
            };
            self.entries_mut(dir)
                .map_err(|e| io::Error::from_raw_os_error(e.code()))?
                .insert(name, ino);
            if let Some(n) = self.nodes.get_mut(&ino) {
                if matches!(n.body, Body::File(_)) {
                    n.nlink += 1;
                }
            }
        }
        Ok(())
    }

    /// Replaces whatever `backing` holds with the durable tree.
    pub(crate) fn dump_durable(&self, backing: &Path) -> io::Result<()> {
        for entry in fs::read_dir(backing)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        }
        let mut files = HashMap::new();
        let mut dirs = HashSet::from([ROOT]);
        self.dump_dir(ROOT, backing, &mut files, &mut dirs)
    }

    fn dump_dir(
        &self,
        dir: Ino,
        path: &Path,
        files: &mut HashMap<Ino, std::path::PathBuf>,
        dirs: &mut HashSet<Ino>,
    ) -> io::Result<()> {
        let Some(Durable {
            body: Body::Dir(entries),
            ..
        }) = self.durable.get(&dir)
        else {
            return Ok(());
        };
        for (name, &child) in entries {
            let Some(d) = self.durable.get(&child) else {
                continue;
            };
            let target = path.join(name);
            match &d.body {
                Body::File(content) => {
                    if let Some(first) = files.get(&child) {
                        fs::hard_link(first, &target)?;
                    } else {
                        write_content(&target, content)?;
                        fs::set_permissions(
                            &target,
                            fs::Permissions::from_mode(d.meta.perm.into()),
                        )?;
                        files.insert(child, target);
                    }
                }
                // Durable entries synced at different moments can name one directory twice (a
                // rename synced on one side only); a disk's fsck would keep one of them.
                Body::Dir(_) => {
                    if dirs.insert(child) {
                        fs::create_dir(&target)?;
                        self.dump_dir(child, &target, files, dirs)?;
                        fs::set_permissions(
                            &target,
                            fs::Permissions::from_mode(d.meta.perm.into()),
                        )?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes every inode durable as it is now (a clean unmount).
    pub(crate) fn sync_everything(&mut self) {
        let inos: Vec<Ino> = self.nodes.keys().copied().collect();
        for ino in inos {
            let _ = self.fsync(ino);
        }
    }

    fn new_ino(&mut self) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        ino
    }

    fn node(&self, ino: Ino) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: Ino) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn entries(&self, dir: Ino) -> Result<&BTreeMap<OsString, Ino>, Errno> {
        match &self.node(dir)?.body {
            Body::Dir(e) => Ok(e),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: Ino) -> Result<&mut BTreeMap<OsString, Ino>, Errno> {
        let node = self.node_mut(dir)?;
        node.meta.mtime = SystemTime::now();
        node.meta.ctime = node.meta.mtime;
        match &mut node.body {
            Body::Dir(e) => Ok(e),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn content_mut(&mut self, ino: Ino) -> Result<(&mut Content, &mut BTreeSet<u64>), Errno> {
        let node = self.node_mut(ino)?;
        node.meta.mtime = SystemTime::now();
        node.meta.ctime = node.meta.mtime;
        match &mut node.body {
            Body::File(c) => Ok((c, &mut node.dirty)),
            Body::Dir(_) => Err(Errno::EISDIR),
        }
    }

    pub(crate) fn attr(&self, ino: Ino) -> Result<FileAttr, Errno> {
        let n = self.node(ino)?;
        let (kind, size) = match &n.body {
            Body::File(c) => (FileType::RegularFile, c.len),
            Body::Dir(_) => (FileType::Directory, PAGE as u64),
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: n.meta.atime,
            mtime: n.meta.mtime,
            ctime: n.meta.ctime,
            crtime: n.meta.ctime,
            kind,
            perm: n.meta.perm,
            nlink: n.nlink,
            uid: n.meta.uid,
            gid: n.meta.gid,
            rdev: 0,
            blksize: PAGE as u32,
            flags: 0,
        })
    }

    pub(crate) fn lookup(&self, parent: Ino, name: &OsStr) -> Result<FileAttr, Errno> {
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        self.attr(ino)
    }

    /// Creates a file (`dir == false`) or a directory named `name` in `parent`.
    pub(crate) fn create(
        &mut self,
        parent: Ino,
        name: &OsStr,
        dir: bool,
        perm: u16,
        uid: u32,
        gid: u32,
    ) -> Result<FileAttr, Errno> {
        if self.entries(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let now = SystemTime::now();
        let meta = Meta {
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
        };
        let ino = self.new_ino();
        let node = if dir {
            dir_node(meta, parent)
        } else {
            file_node(meta, Content::default(), 1)
        };
        self.nodes.insert(ino, node);
        self.entries_mut(parent)?.insert(name.to_owned(), ino);
        self.attr(ino)
    }

    pub(crate) fn unlink(&mut self, parent: Ino, name: &OsStr) -> Result<(), Errno> {
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        if matches!(self.node(ino)?.body, Body::Dir(_)) {
            return Err(Errno::EISDIR);
        }
        self.entries_mut(parent)?.remove(name);
        self.drop_link(ino);
        Ok(())
    }

    pub(crate) fn rmdir(&mut self, parent: Ino, name: &OsStr) -> Result<(), Errno> {
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        if !self.entries(ino)?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.entries_mut(parent)?.remove(name);
        Ok(())
    }

    /// Moves `parent/name` to `new_parent/new_name`, replacing what is there unless `noreplace`.
    pub(crate) fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
        noreplace: bool,
    ) -> Result<(), Errno> {
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        let moving_dir = matches!(self.node(ino)?.body, Body::Dir(_));
        if let Some(&existing) = self.entries(new_parent)?.get(new_name) {
            if noreplace {
                return Err(Errno::EEXIST);
            }
            if existing == ino {
                return Ok(());
            }
            match (&self.node(existing)?.body, moving_dir) {
                (Body::Dir(_), false) => return Err(Errno::EISDIR),
                (Body::File(_), true) => return Err(Errno::ENOTDIR),
                (Body::Dir(e), true) if !e.is_empty() => return Err(Errno::ENOTEMPTY),
                (Body::File(_), false) => self.drop_link(existing),
                (Body::Dir(_), true) => {}
            }
        }
        self.entries_mut(parent)?.remove(name);
        self.entries_mut(new_parent)?
            .insert(new_name.to_owned(), ino);
        let node = self.node_mut(ino)?;
        node.meta.ctime = SystemTime::now();
        if moving_dir {
            node.parent = new_parent;
        }
        Ok(())
    }

    fn drop_link(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.nlink = n.nlink.saturating_sub(1);
            n.meta.ctime = SystemTime::now();
        }
    }

    /// `.` and `..` first, then the entries by name.
    pub(crate) fn readdir(&self, dir: Ino) -> Result<Vec<(Ino, FileType, OsString)>, Errno> {
        let entries = self.entries(dir)?;
        let mut out = vec![
            (dir, FileType::Directory, OsString::from(".")),
            (
                self.node(dir)?.parent,
                FileType::Directory,
                OsString::from(".."),
            ),
        ];
        for (name, &ino) in entries {
            let kind = match self.node(ino)?.body {
                Body::File(_) => FileType::RegularFile,
                Body::Dir(_) => FileType::Directory,
            };
            out.push((ino, kind, name.clone()));
        }
        Ok(out)
    }

    pub(crate) fn read(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let Body::File(c) = &self.node(ino)?.body else {
            return Err(Errno::EISDIR);
        };
        let end = c.len.min(offset.saturating_add(size.into()));
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let (index, within) = (at / PAGE as u64, (at % PAGE as u64) as usize);
            let take = (PAGE - within).min((end - at) as usize);
            match c.pages.get(&index) {
                Some(page) => out.extend_from_slice(&page[within..within + take]),
                None => out.resize(out.len() + take, 0),
            }
            at += take as u64;
        }
        Ok(out)
    }

    pub(crate) fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<(), Errno> {
        let (c, dirty) = self.content_mut(ino)?;
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let (index, within) = (at / PAGE as u64, (at % PAGE as u64) as usize);
            let take = (PAGE - within).min(rest.len());
            let page = c.pages.entry(index).or_insert_with(zero_page);
            // Copies the page first if the durable view still shares it.
            Arc::make_mut(page)[within..within + take].copy_from_slice(&rest[..take]);
            dirty.insert(index);
            at += take as u64;
            rest = &rest[take..];
        }
        c.len = c.len.max(at);
        Ok(())
    }

    pub(crate) fn set_len(&mut self, ino: Ino, len: u64) -> Result<(), Errno> {
        let (c, dirty) = self.content_mut(ino)?;
        if len < c.len {
            let kept = page_count(len);
            let dropped: Vec<u64> = c.pages.range(kept..).map(|(&i, _)| i).collect();
            for index in dropped {
                c.pages.remove(&index);
                dirty.insert(index);
            }
            let within = (len % PAGE as u64) as usize;
            if within != 0 {
                if let Some(page) = c.pages.get_mut(&(len / PAGE as u64)) {
                    Arc::make_mut(page)[within..].fill(0);
                    dirty.insert(len / PAGE as u64);
                }
            }
        }
        c.len = len;
        Ok(())
    }

    pub(crate) fn set_meta(
        &mut self,
        ino: Ino,
        perm: Option<u16>,
        uid: Option<u32>,
        gid: Option<u32>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Result<(), Errno> {
        let m = &mut self.node_mut(ino)?.meta;
        m.perm = perm.unwrap_or(m.perm);
        m.uid = uid.unwrap_or(m.uid);
        m.gid = gid.unwrap_or(m.gid);
        m.atime = atime.unwrap_or(m.atime);
        m.mtime = mtime.unwrap_or(m.mtime);
        m.ctime = SystemTime::now();
        Ok(())
    }

    /// Makes `ino` durable as it is now: a file's data and size, or a directory's entries.
    pub(crate) fn fsync(&mut self, ino: Ino) -> Result<Synced, Errno> {
        let node = self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?;
        match &node.body {
            Body::File(c) => {
                let durable = self.durable.entry(ino).or_insert_with(|| Durable {
                    body: Body::File(Content::default()),
                    meta: node.meta,
                });
                durable.meta = node.meta;
                let Body::File(d) = &mut durable.body else {
                    return Err(Errno::EIO);
                };
                let pages = node.dirty.len() as u64;
                for index in std::mem::take(&mut node.dirty) {
                    match c.pages.get(&index) {
                        Some(page) => d.pages.insert(index, page.clone()),
                        None => d.pages.remove(&index),
                    };
                }
                d.len = c.len;
                let kept = page_count(c.len);
                d.pages.retain(|&i, _| i < kept);
                Ok(Synced { pages })
            }
            Body::Dir(entries) => {
                let entries = entries.clone();
                self.durable.insert(
                    ino,
                    Durable {
                        body: Body::Dir(entries.clone()),
                        meta: node.meta,
                    },
                );
                // Newly named inodes exist durably from now on, with what they last synced.
                for child in entries.values() {
                    if !self.durable.contains_key(child) {
                        if let Some(n) = self.nodes.get(child) {
                            let body = match n.body {
                                Body::File(_) => Body::File(Content::default()),
                                Body::Dir(_) => Body::Dir(BTreeMap::new()),
                            };
                            self.durable.insert(*child, Durable { body, meta: n.meta });
                        }
                    }
                }
                Ok(Synced { pages: 0 })
            }
        }
    }

    /// What a failed fsync leaves on Linux: the file's pending changes are no longer dirty,
    /// so no later fsync writes them, though they stay readable until the power goes.
    pub(crate) fn write_back_failed(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.dirty.clear();
        }
    }

    /// Whether `ino` is a directory.
    pub(crate) fn is_dir(&self, ino: Ino) -> bool {
        self.nodes
            .get(&ino)
            .is_some_and(|n| matches!(n.body, Body::Dir(_)))
    }
}

fn zero_page() -> Page {
    Arc::new([0; PAGE])
}

fn dir_node(meta: Meta, parent: Ino) -> Node {
    Node {
        body: Body::Dir(BTreeMap::new()),
        meta,
        nlink: 2,
        parent,
        dirty: BTreeSet::new(),
    }
}

fn file_node(meta: Meta, content: Content, nlink: u32) -> Node {
    // Nothing dirty: a new file is empty, and a loaded file's pages are durable already.
    Node {
        body: Body::File(content),
        meta,
        nlink,
        parent: ROOT,
        dirty: BTreeSet::new(),
    }
}

fn meta_of(md: &fs::Metadata) -> Meta {
    let now = SystemTime::now();
    Meta {
        perm: (md.mode() & 0o7777) as u16,
        uid: md.uid(),
        gid: md.gid(),
        atime: md.accessed().unwrap_or(now),
        mtime: md.modified().unwrap_or(now),
        ctime: md.modified().unwrap_or(now),
    }
}

fn read_content(path: &Path) -> io::Result<Content> {
    let mut file = fs::File::open(path)?;
    let mut content = Content::default();
    let mut index = 0;
    loop {
        let mut page = [0u8; PAGE];
        let mut filled = 0;
        while filled < PAGE {
            match file.read(&mut page[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        content.len += filled as u64;
        // All-zero pages stay holes: they read the same and cost nothing.
        if page.iter().any(|&b| b != 0) {
            content.pages.insert(index, Arc::new(page));
        }
        if filled < PAGE {
            return Ok(content);
        }
        index += 1;
    }
}

fn write_content(path: &Path, content: &Content) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    for (&index, page) in &content.pages {
        let start = index * PAGE as u64;
        let take = (content.len - start).min(PAGE as u64) as usize;
        file.write_all_at(&page[..take], start)?;
    }
    file.set_len(content.len)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> (tempfile::TempDir, Model) {
        let dir = tempfile::tempdir().unwrap();
        let model = Model::load(dir.path()).unwrap();
        (dir, model)
    }

    fn file(m: &mut Model, parent: Ino, name: &str) -> Ino {
        m.create(parent, OsStr::new(name), false, 0o644, 0, 0)
            .unwrap()
            .ino
            .0
    }

    /// The durable view, as a fresh model would load it after a cut.
    fn after_cut(m: &Model, backing: &Path) -> Model {
        m.dump_durable(backing).unwrap();
        Model::load(backing).unwrap()
    }

    fn contents(m: &Model, parent: Ino, name: &str) -> Option<Vec<u8>> {
        let attr = m.lookup(parent, OsStr::new(name)).ok()?;
        Some(m.read(attr.ino.0, 0, u32::MAX).unwrap())
    }

    #[test]
    fn reads_see_writes_across_pages_and_holes() {
        let (_d, mut m) = model();
        let f = file(&mut m, ROOT, "f");
        m.write(f, 4090, b"0123456789").unwrap();
        m.write(f, 3 * PAGE as u64, b"x").unwrap();
        let all = m.read(f, 0, u32::MAX).unwrap();
        assert_eq!(all.len(), 3 * PAGE + 1);
        assert_eq!(&all[4090..4100], b"0123456789");
        assert!(all[4100..3 * PAGE].iter().all(|&b| b == 0));
        m.set_len(f, 4095).unwrap();
        m.set_len(f, 5000).unwrap();
        let all = m.read(f, 0, u32::MAX).unwrap();
        assert_eq!(&all[4090..4095], b"01234");
        assert!(
            all[4095..].iter().all(|&b| b == 0),
            "truncated bytes read as zeros"
        );
    }

    #[test]
    fn only_synced_data_and_size_survive() {
        let (d, mut m) = model();
        let f = file(&mut m, ROOT, "f");
        m.fsync(ROOT).unwrap();
        m.write(f, 0, &[7; 10_000]).unwrap();
        m.fsync(f).unwrap();
        m.write(f, 100, b"unsynced").unwrap();
        m.write(f, 10_000, b"appended").unwrap();
        let m = after_cut(&m, d.path());
        assert_eq!(contents(&m, ROOT, "f").unwrap(), vec![7; 10_000]);
    }

    #[test]
    fn data_whose_write_back_failed_is_lost_even_after_a_later_successful_sync() {
        let (d, mut m) = model();
        let f = file(&mut m, ROOT, "log");
        m.fsync(ROOT).unwrap();
        m.write(f, 0, b"first").unwrap();
        m.write_back_failed(f);
        // On another page: rewriting the same page would write it whole again, as Linux does.
        m.write(f, PAGE as u64, b"second").unwrap();
        m.fsync(f).unwrap();
        assert_eq!(&m.read(f, 0, 5).unwrap(), b"first");
        let after = contents(&after_cut(&m, d.path()), ROOT, "log").unwrap();
        assert_eq!(after.len(), PAGE + 6);
        assert!(
            after[..PAGE].iter().all(|&b| b == 0),
            "the failed page is lost"
        );
        assert_eq!(&after[PAGE..], b"second");
    }

    #[test]
    fn a_synced_truncation_survives_and_an_unsynced_one_does_not() {
        let (d, mut m) = model();
        let f = file(&mut m, ROOT, "f");
        m.fsync(ROOT).unwrap();
        m.write(f, 0, &[1; 9000]).unwrap();
        m.fsync(f).unwrap();
        m.set_len(f, 10).unwrap();
        let cut = after_cut(&m, d.path());
        assert_eq!(contents(&cut, ROOT, "f").unwrap(), vec![1; 9000]);
        m.fsync(f).unwrap();
        m.set_len(f, 9000).unwrap();
        let cut = after_cut(&m, d.path());
        assert_eq!(contents(&cut, ROOT, "f").unwrap(), vec![1; 10]);
    }

    #[test]
    fn names_need_a_sync_of_their_directory() {
        let (d, mut m) = model();
        let f = file(&mut m, ROOT, "new");
        m.write(f, 0, b"data").unwrap();
        m.fsync(f).unwrap();
        assert!(contents(&after_cut(&m, d.path()), ROOT, "new").is_none());
        m.fsync(ROOT).unwrap();
        assert_eq!(
            contents(&after_cut(&m, d.path()), ROOT, "new").unwrap(),
            b"data"
        );

        // A name synced before its file's data: the file is there, empty.
        file(&mut m, ROOT, "empty");
        let g = m.lookup(ROOT, OsStr::new("empty")).unwrap().ino.0;
        m.fsync(ROOT).unwrap();
        m.write(g, 0, b"lost").unwrap();
        assert_eq!(
            contents(&after_cut(&m, d.path()), ROOT, "empty").unwrap(),
            b""
        );
    }

    #[test]
    fn renames_and_unlinks_need_a_sync_of_their_directory() {
        let (d, mut m) = model();
        let sub = m
            .create(ROOT, OsStr::new("sub"), true, 0o755, 0, 0)
            .unwrap()
            .ino
            .0;
        let tmp = file(&mut m, sub, "snap.tmp");
        m.write(tmp, 0, b"new").unwrap();
        m.fsync(tmp).unwrap();
        let old = file(&mut m, sub, "snap.old");
        m.write(old, 0, b"old").unwrap();
        m.fsync(old).unwrap();
        m.fsync(sub).unwrap();
        m.fsync(ROOT).unwrap();

        m.rename(sub, OsStr::new("snap.tmp"), sub, OsStr::new("snap"), false)
            .unwrap();
        m.unlink(sub, OsStr::new("snap.old")).unwrap();
        let cut = after_cut(&m, d.path());
        let sub_cut = cut.lookup(ROOT, OsStr::new("sub")).unwrap().ino.0;
        assert_eq!(contents(&cut, sub_cut, "snap.tmp").unwrap(), b"new");
        assert_eq!(contents(&cut, sub_cut, "snap.old").unwrap(), b"old");
        assert!(contents(&cut, sub_cut, "snap").is_none());

        m.fsync(sub).unwrap();
        let cut = after_cut(&m, d.path());
        let sub_cut = cut.lookup(ROOT, OsStr::new("sub")).unwrap().ino.0;
        assert_eq!(contents(&cut, sub_cut, "snap").unwrap(), b"new");
        assert!(contents(&cut, sub_cut, "snap.tmp").is_none());
        assert!(contents(&cut, sub_cut, "snap.old").is_none());
    }

    #[test]
    fn a_new_directory_needs_its_parent_synced() {
        let (d, mut m) = model();
        let sub = m
            .create(ROOT, OsStr::new("sub"), true, 0o755, 0, 0)
            .unwrap()
            .ino
            .0;
        let f = file(&mut m, sub, "f");
        m.write(f, 0, b"x").unwrap();
        m.fsync(f).unwrap();
        m.fsync(sub).unwrap();
        assert!(after_cut(&m, d.path())
            .lookup(ROOT, OsStr::new("sub"))
            .is_err());
        m.fsync(ROOT).unwrap();
        let cut = after_cut(&m, d.path());
        let sub_cut = cut.lookup(ROOT, OsStr::new("sub")).unwrap().ino.0;
        assert_eq!(contents(&cut, sub_cut, "f").unwrap(), b"x");
    }

    #[test]
    fn namespace_errors_are_posix_ones() {
        let (_d, mut m) = model();
        let sub = m
            .create(ROOT, OsStr::new("sub"), true, 0o755, 0, 0)
            .unwrap()
            .ino
            .0;
        file(&mut m, sub, "f");
        file(&mut m, ROOT, "g");
        assert_eq!(m.rmdir(ROOT, OsStr::new("sub")), Err(Errno::ENOTEMPTY));
        assert_eq!(m.unlink(ROOT, OsStr::new("sub")), Err(Errno::EISDIR));
        assert_eq!(
            m.create(ROOT, OsStr::new("g"), false, 0o644, 0, 0).err(),
            Some(Errno::EEXIST)
        );
        assert_eq!(
            m.rename(ROOT, OsStr::new("g"), ROOT, OsStr::new("sub"), false),
            Err(Errno::EISDIR)
        );
        assert_eq!(
            m.rename(sub, OsStr::new("f"), ROOT, OsStr::new("g"), true),
            Err(Errno::EEXIST)
        );
        m.rename(sub, OsStr::new("f"), ROOT, OsStr::new("g"), false)
            .unwrap();
        assert!(m.lookup(sub, OsStr::new("f")).is_err());
        m.rmdir(ROOT, OsStr::new("sub")).unwrap();
    }
}
