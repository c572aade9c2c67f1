//! The FUSE glue: a passthrough to the backing directory that asks
//! [`crate::rules`] before each change.
//!
//! Nothing about the tree is kept between requests but the inode table
//! (inode number to the path it was last seen at) and the open files: every
//! lookup, listing and VMID check reads the backing directory afresh, so
//! several instances can share one. Inode numbers are the backing ones plus
//! [`INO_OFFSET`]; 1 is the root, 2 to 5 are the links. As on pmxcfs the
//! kernel caches no attributes or entries (TTL 0) and files are opened with
//! direct I/O, so each instance sees what another wrote at once.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, FileTimes, Metadata, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, DirEntryExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::rules::{self, VmConfig};

/// Added to a backing inode number to make the FUSE one.
pub const INO_OFFSET: u64 = 8;
const LINK_INO: u64 = 2;
const TTL: Duration = Duration::ZERO;

/// What the file system needs to know at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// The directory holding the files (canonical).
    pub backing: PathBuf,
    /// This instance's node name, the target of `local`, `lxc`, ...
    pub node: String,
    /// While this file exists, the cluster has no quorum.
    pub quorum_file: Option<PathBuf>,
    /// The gid of `www-data`, the group of every file.
    pub www_data_gid: u32,
}

/// The pmxcfs look-alike; mount it with [`fuser::Session::new`].
pub struct PveFs {
    cfg: Config,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Inode number to the path (relative to the backing dir) last seen.
    paths: BTreeMap<u64, PathBuf>,
    /// File handle to inode number and backing file.
    files: BTreeMap<u64, (u64, Arc<File>)>,
    next_fh: u64,
}

/// What an inode number stands for.
enum Node {
    Root,
    /// An index into [`rules::LINKS`].
    Link(usize),
    Path(PathBuf),
}

type Res<T> = Result<T, Errno>;

fn fuse_ino(ino: u64) -> Res<u64> {
    ino.checked_add(INO_OFFSET).ok_or(Errno::EOVERFLOW)
}

fn kind_of(md: &Metadata) -> Res<FileType> {
    match md.file_type() {
        t if t.is_file() => Ok(FileType::RegularFile),
        t if t.is_dir() => Ok(FileType::Directory),
        // pmxcfs holds files and directories only; hide anything else.
        _ => Err(Errno::ENOENT),
    }
}

// `touch` means "now": unlike the compiler, a file system needs the clock.
#[allow(clippy::disallowed_methods)]
fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

/// The replies' common `error`, so that [`answer`] can send either.
trait Fail {
    fn fail(self, e: Errno);
}

macro_rules! impl_fail {
    ($($reply:ty),*) => {$(impl Fail for $reply { fn fail(self, e: Errno) { self.error(e) } })*};
}
impl_fail!(ReplyAttr, ReplyCreate, ReplyData, ReplyEmpty);
impl_fail!(ReplyEntry, ReplyOpen, ReplyWrite);

fn answer<R: Fail, T>(reply: R, res: Res<T>, ok: impl FnOnce(R, T)) {
    match res {
        Ok(v) => ok(reply, v),
        Err(e) => reply.fail(e),
    }
}

impl PveFs {
    /// A file system over `cfg.backing`.
    pub fn new(cfg: Config) -> Self {
        let state = Mutex::default();
        PveFs { cfg, state }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn quorate(&self) -> bool {
        self.cfg.quorum_file.as_ref().is_none_or(|f| !f.exists())
    }

    fn real(&self, rel: &Path) -> PathBuf {
        self.cfg.backing.join(rel)
    }

    fn node(&self, ino: INodeNo) -> Res<Node> {
        if ino == INodeNo::ROOT {
            return Ok(Node::Root);
        }
        match ino.0.checked_sub(LINK_INO).map(|i| i as usize) {
            Some(i) if i < rules::LINKS.len() => Ok(Node::Link(i)),
            _ => self
                .state()
                .paths
                .get(&ino.0)
                .cloned()
                .map(Node::Path)
                .ok_or(Errno::ENOENT),
        }
    }

    /// The path of `name` in directory `parent`; the root's link names are
    /// `EACCES`, as no directory of pmxcfs holds them.
    fn child(&self, parent: INodeNo, name: &OsStr) -> Res<PathBuf> {
        match self.node(parent)? {
            Node::Root if rules::LINKS.iter().any(|l| OsStr::new(l) == name) => Err(Errno::EACCES),
            Node::Root => Ok(PathBuf::from(name)),
            Node::Path(p) => Ok(p.join(name)),
            Node::Link(_) => Err(Errno::ENOTDIR),
        }
    }

    fn attr(&self, ino: u64, kind: FileType, size: u64, mtime: SystemTime, perm: u16) -> FileAttr {
        let nlink = if kind == FileType::Directory { 2 } else { 1 };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: mtime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: self.cfg.www_data_gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn file_attr(&self, rel: &Path, md: &Metadata) -> Res<FileAttr> {
        let kind = kind_of(md)?;
        let mtime = md.modified().unwrap_or(UNIX_EPOCH);
        let is_dir = kind == FileType::Directory;
        Ok(if rel.as_os_str().is_empty() {
            // The root is no memdb entry: always 0777 & 0755.
            self.attr(INodeNo::ROOT.0, kind, md.len(), mtime, 0o755)
        } else {
            let perm = rules::stat_perm(rel, is_dir, self.quorate());
            self.attr(fuse_ino(md.ino())?, kind, md.len(), mtime, perm)
        })
    }

    fn link_attr(&self, i: usize) -> FileAttr {
        let name = rules::LINKS.get(i).copied().unwrap_or_default();
        let len = rules::link_target(name, &self.cfg.node).map_or(0, |t| t.len());
        let perm = rules::stat_perm(Path::new(name), true, self.quorate());
        let ino = LINK_INO + i as u64;
        self.attr(ino, FileType::Symlink, len as u64, UNIX_EPOCH, perm)
    }

    /// Stats `rel` in the backing dir and records its inode's path.
    fn stat(&self, rel: &Path) -> Res<FileAttr> {
        let attr = self.file_attr(rel, &fs::symlink_metadata(self.real(rel))?)?;
        self.state().paths.insert(attr.ino.0, rel.to_owned());
        Ok(attr)
    }

    fn open_file(&self, ino: INodeNo, fh: Option<FileHandle>) -> Option<Arc<File>> {
        let state = self.state();
        let by_handle = fh.and_then(|fh| state.files.get(&fh.0));
        // No handle given (as for fstat): any open file of that inode.
        let found = by_handle.or_else(|| state.files.values().find(|(i, _)| *i == ino.0));
        found.map(|(_, f)| f.clone())
    }

    fn getattr_res(&self, ino: INodeNo, fh: Option<FileHandle>) -> Res<FileAttr> {
        let rel = match self.node(ino)? {
            Node::Root => PathBuf::new(),
            Node::Link(i) => return Ok(self.link_attr(i)),
            Node::Path(p) => p,
        };
        if let Some(f) = self.open_file(ino, fh) {
            return self.file_attr(&rel, &f.metadata()?);
        }
        let attr = self.stat(&rel)?;
        // Another file at the path now: this inode is gone.
        if attr.ino == ino {
            Ok(attr)
        } else {
            Err(Errno::ENOENT)
        }
    }

    /// Every `nodes/*/<kind>/<vmid>.conf` in the backing directory.
    fn vm_locations(&self, vmid: u32) -> Vec<VmConfig> {
        let nodes = fs::read_dir(self.cfg.backing.join("nodes"));
        let mut found = Vec::new();
        for node in nodes.into_iter().flatten().flatten() {
            for kind in rules::VM_KINDS {
                if node
                    .path()
                    .join(kind)
                    .join(format!("{vmid}.conf"))
                    .is_file()
                {
                    let node = node.file_name().to_string_lossy().into_owned();
                    let kind = kind.to_owned();
                    found.push(VmConfig { node, kind, vmid });
                }
            }
        }
        found
    }

    fn check_vm(&self, target: &Path, renamed_from: Option<&Path>) -> Res<()> {
        let Some(t) = rules::vm_config(target) else {
            return Ok(());
        };
        let from = renamed_from.and_then(rules::vm_config);
        rules::check_vm_unique(&t, &self.vm_locations(t.vmid), from.as_ref())
    }

    fn new_fh(&self, ino: u64, file: File) -> FileHandle {
        let mut state = self.state();
        state.next_fh += 1;
        let fh = state.next_fh;
        state.files.insert(fh, (ino, Arc::new(file)));
        FileHandle(fh)
    }

    fn create_res(&self, parent: INodeNo, name: &OsStr, flags: i32) -> Res<(FileAttr, FileHandle)> {
        rules::check_quorum(self.quorate())?;
        let rel = self.child(parent, name)?;
        self.check_vm(&rel, None)?;
        // The requested mode is ignored, as pmxcfs does.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .create_new(flags & libc::O_EXCL != 0)
            .mode(0o640)
            .open(self.real(&rel))?;
        let attr = self.file_attr(&rel, &file.metadata()?)?;
        self.state().paths.insert(attr.ino.0, rel);
        Ok((attr, self.new_fh(attr.ino.0, file)))
    }

    fn open_res(&self, ino: INodeNo, flags: OpenFlags) -> Res<FileHandle> {
        let rel = match self.node(ino)? {
            Node::Path(rel) => rel,
            Node::Root => return Err(Errno::EISDIR),
            Node::Link(_) => return Err(Errno::ELOOP),
        };
        let acc = flags.0 & libc::O_ACCMODE;
        let file = OpenOptions::new()
            .read(acc != libc::O_WRONLY)
            .write(acc != libc::O_RDONLY)
            .open(self.real(&rel))?;
        let md = file.metadata()?;
        if kind_of(&md)? == FileType::Directory {
            Err(Errno::EISDIR)
        } else if fuse_ino(md.ino())? != ino.0 {
            Err(Errno::ENOENT)
        } else {
            Ok(self.new_fh(ino.0, file))
        }
    }

    /// The entries of directory `ino`, `.` and `..` first, then by name:
    /// read afresh for each `readdir`, whose offsets are indexes.
    fn listing(&self, ino: INodeNo) -> Res<Vec<(u64, FileType, OsString)>> {
        let (rel, root) = match self.node(ino)? {
            Node::Root => (PathBuf::new(), true),
            Node::Path(p) => (p, false),
            Node::Link(_) => return Err(Errno::ENOTDIR),
        };
        let mut named = BTreeMap::new();
        for entry in fs::read_dir(self.real(&rel))?.flatten() {
            let kind = match entry.file_type() {
                Ok(t) if t.is_file() => FileType::RegularFile,
                Ok(t) if t.is_dir() => FileType::Directory,
                _ => continue,
            };
            named.insert(entry.file_name(), (fuse_ino(entry.ino())?, kind));
        }
        if root {
            // The links hide backing entries of their names.
            for (i, l) in rules::LINKS.iter().enumerate() {
                named.insert(l.into(), (LINK_INO + i as u64, FileType::Symlink));
            }
        }
        let mut items = vec![
            (ino.0, FileType::Directory, ".".into()),
            (INodeNo::ROOT.0, FileType::Directory, "..".into()),
        ];
        items.extend(named.into_iter().map(|(name, (i, kind))| (i, kind, name)));
        Ok(items)
    }

    #[allow(clippy::too_many_arguments)]
    fn setattr_res(
        &self,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        mtime: Option<TimeOrNow>,
        fh: Option<FileHandle>,
    ) -> Res<FileAttr> {
        let rel = match self.node(ino)? {
            Node::Path(p) => p,
            Node::Root => PathBuf::new(),
            Node::Link(_) => return Err(Errno::EACCES),
        };
        // In the order in which libfuse's high-level API calls pmxcfs.
        if let Some(mode) = mode {
            rules::check_chmod(&rel, mode)?;
        }
        if uid.is_some() || gid.is_some() {
            rules::check_chown(uid, gid, self.cfg.www_data_gid)?;
        }
        if size.is_some() || mtime.is_some() {
            rules::check_quorum(self.quorate())?;
            if rel.as_os_str().is_empty() {
                return Err(Errno::EACCES);
            }
            let file = match self.open_file(ino, fh) {
                Some(f) => f,
                None => {
                    let mut opts = OpenOptions::new();
                    Arc::new(
                        opts.write(size.is_some())
                            .read(size.is_none())
                            .open(self.real(&rel))?,
                    )
                }
            };
            if let Some(size) = size {
                rules::check_size(size)?;
                self.check_vm(&rel, None)?;
                file.set_len(size)?;
            }
            if let Some(t) = mtime {
                // memdb keeps an mtime only.
                file.set_times(FileTimes::new().set_modified(time(t)))?;
            }
        }
        self.getattr_res(ino, fh)
    }

    fn rename_res(&self, from: Res<PathBuf>, to: Res<PathBuf>, flags: RenameFlags) -> Res<()> {
        // pmxcfs speaks FUSE through libfuse 2: no renameat2 flags.
        if !flags.is_empty() {
            return Err(Errno::EINVAL);
        }
        rules::check_quorum(self.quorate())?;
        let (from, to) = (from?, to?);
        let md = fs::symlink_metadata(self.real(&from))?;
        if kind_of(&md)? == FileType::Directory {
            if rules::is_lockdir(&from) {
                return Err(Errno::EACCES);
            }
            // memdb moves empty directories only.
            if fs::read_dir(self.real(&from))?.next().is_some() {
                return Err(Errno::ENOTEMPTY);
            }
        } else {
            self.check_vm(&to, Some(&from))?;
        }
        fs::rename(self.real(&from), self.real(&to))?;
        self.state().paths.insert(fuse_ino(md.ino())?, to);
        Ok(())
    }

    fn write_res(&self, ino: INodeNo, fh: FileHandle, offset: u64, data: &[u8]) -> Res<u32> {
        rules::check_quorum(self.quorate())?;
        let len = u32::try_from(data.len()).map_err(|_| Errno::EFBIG)?;
        rules::check_size(offset.saturating_add(u64::from(len)))?;
        if let Node::Path(rel) = self.node(ino)? {
            self.check_vm(&rel, None)?;
        }
        let file = self.open_file(ino, Some(fh)).ok_or(Errno::EBADF)?;
        file.write_all_at(data, offset)?;
        Ok(len)
    }

    fn read_res(&self, ino: INodeNo, fh: FileHandle, offset: u64, size: u32) -> Res<Vec<u8>> {
        let file = self.open_file(ino, Some(fh)).ok_or(Errno::EBADF)?;
        let mut buf = vec![0; size as usize];
        // With direct I/O a short read is what read(2) returns, as on pmxcfs.
        let n = file.read_at(&mut buf, offset)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool) -> Res<()> {
        rules::check_quorum(self.quorate())?;
        let real = self.real(&self.child(parent, name)?);
        let is_dir = kind_of(&fs::symlink_metadata(&real)?)? == FileType::Directory;
        match (is_dir, dir) {
            (true, true) => Ok(fs::remove_dir(real)?),
            (false, false) => Ok(fs::remove_file(real)?),
            (true, false) => Err(Errno::EISDIR),
            (false, true) => Err(Errno::ENOTDIR),
        }
    }

    fn mkdir_res(&self, parent: INodeNo, name: &OsStr) -> Res<FileAttr> {
        rules::check_quorum(self.quorate())?;
        let rel = self.child(parent, name)?;
        fs::DirBuilder::new().mode(0o755).create(self.real(&rel))?;
        self.stat(&rel)
    }
}

impl Filesystem for PveFs {
    fn lookup(&self, _: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let link = rules::LINKS.iter().position(|l| OsStr::new(l) == name);
        let res = match link {
            Some(i) if parent == INodeNo::ROOT => Ok(self.link_attr(i)),
            _ => self.child(parent, name).and_then(|rel| self.stat(&rel)),
        };
        answer(reply, res, |r, attr| r.entry(&TTL, &attr, Generation(0)));
    }

    fn getattr(&self, _: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let res = self.getattr_res(ino, fh);
        answer(reply, res, |r, attr| r.attr(&TTL, &attr));
    }

    fn setattr(
        &self,
        _: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let res = self.setattr_res(ino, mode, uid, gid, size, mtime, fh);
        answer(reply, res, |r, attr| r.attr(&TTL, &attr));
    }

    fn readlink(&self, _: &Request, ino: INodeNo, reply: ReplyData) {
        let target = match self.node(ino) {
            Ok(Node::Link(i)) => rules::link_target(rules::LINKS[i], &self.cfg.node),
            _ => None,
        };
        let res = target.ok_or(Errno::EINVAL);
        answer(reply, res, |r, t| r.data(t.as_bytes()));
    }

    fn mkdir(&self, _: &Request, parent: INodeNo, name: &OsStr, _: u32, _: u32, reply: ReplyEntry) {
        let res = self.mkdir_res(parent, name);
        answer(reply, res, |r, attr| r.entry(&TTL, &attr, Generation(0)));
    }

    fn unlink(&self, _: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        answer(reply, self.remove(parent, name, false), |r, ()| r.ok());
    }

    fn rmdir(&self, _: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        answer(reply, self.remove(parent, name, true), |r, ()| r.ok());
    }

    fn mknod(
        &self,
        _: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _: u32,
        _: u32,
        reply: ReplyEntry,
    ) {
        // pmxcfs has no mknod: libfuse makes a regular one a create, and
        // answers any other with ENOSYS.
        let res = if mode & 0o170000 == 0o100000 {
            let created = self.create_res(parent, name, libc::O_EXCL);
            created.map(|(attr, fh)| {
                self.state().files.remove(&fh.0);
                attr
            })
        } else {
            Err(Errno::ENOSYS)
        };
        answer(reply, res, |r, attr| r.entry(&TTL, &attr, Generation(0)));
    }

    fn symlink(&self, _: &Request, _: INodeNo, _: &OsStr, _: &Path, reply: ReplyEntry) {
        // pmxcfs has no symlink operation, so libfuse answers ENOSYS. (For
        // link, fuser's default answers EPERM, as Linux 6.9+ does for ENOSYS.)
        reply.error(Errno::ENOSYS);
    }

    fn rename(
        &self,
        _: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (from, to) = (self.child(parent, name), self.child(newparent, newname));
        answer(reply, self.rename_res(from, to, flags), |r, ()| r.ok());
    }

    fn open(&self, _: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let res = self.open_res(ino, flags);
        answer(reply, res, |r, fh| {
            r.opened(fh, FopenFlags::FOPEN_DIRECT_IO)
        });
    }

    fn read(
        &self,
        _: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _: OpenFlags,
        _: Option<LockOwner>,
        reply: ReplyData,
    ) {
        answer(reply, self.read_res(ino, fh, offset, size), |r, d| {
            r.data(&d)
        });
    }

    fn write(
        &self,
        _: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _: WriteFlags,
        _: OpenFlags,
        _: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        answer(reply, self.write_res(ino, fh, offset, data), |r, n| {
            r.written(n)
        });
    }

    fn release(
        &self,
        _: &Request,
        _: INodeNo,
        fh: FileHandle,
        _: OpenFlags,
        _: Option<LockOwner>,
        _: bool,
        reply: ReplyEmpty,
    ) {
        self.state().files.remove(&fh.0);
        reply.ok();
    }

    fn readdir(
        &self,
        _: &Request,
        ino: INodeNo,
        _: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let items = match self.listing(ino) {
            Ok(items) => items,
            Err(e) => return reply.error(e),
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (ino, kind, name)) in items.iter().enumerate().skip(start) {
            if reply.add(INodeNo(*ino), i as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _: &Request, _: INodeNo, reply: ReplyStatfs) {
        match nix::sys::statvfs::statvfs(&self.cfg.backing) {
            Ok(s) => reply.statfs(
                s.blocks(),
                s.blocks_free(),
                s.blocks_available(),
                s.files(),
                s.files_free(),
                u32::try_from(s.block_size()).unwrap_or(4096),
                u32::try_from(s.name_max()).unwrap_or(255),
                u32::try_from(s.fragment_size()).unwrap_or(4096),
            ),
            Err(e) => reply.error(Errno::from_i32(e as i32)),
        }
    }

    fn create(
        &self,
        _: &Request,
        parent: INodeNo,
        name: &OsStr,
        _: u32,
        _: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        answer(
            reply,
            self.create_res(parent, name, flags),
            |r, (attr, fh)| {
                r.created(&TTL, &attr, Generation(0), fh, FopenFlags::FOPEN_DIRECT_IO);
            },
        );
    }
}
