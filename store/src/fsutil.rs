//! Small filesystem helpers shared by adding, roots, gc and verify. Every error names its path.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StoreError;

/// Prefix of every temporary entry. Store names cannot start with `.`, so a temporary entry
/// can never be mistaken for a store path.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// Mode of a store file that is not executable.
pub(crate) const MODE_FILE: u32 = 0o444;
/// Mode of an executable store file and of every store directory.
pub(crate) const MODE_EXEC: u32 = 0o555;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Longest part of a name kept in a temporary name, in bytes: with the prefix, pid and
/// counter, a temporary name stays under the 255 bytes filesystems allow even for the
/// longest store path (`<digest>-<211-character name>`).
const TEMP_HINT_MAX: usize = 200;

/// `<dir>/.tmp-<pid>-<counter>-<name>`: unique within this process and across processes.
/// `name` is only a hint for humans; it is cut to [`TEMP_HINT_MAX`] bytes.
pub(crate) fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut end = name.len().min(TEMP_HINT_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let hint = &name[..end];
    dir.join(format!("{TEMP_PREFIX}{}-{n}-{hint}", process::id()))
}

pub(crate) fn is_temp(file_name: &str) -> bool {
    file_name.starts_with(TEMP_PREFIX)
}

/// The temporary entries in `dir` (names starting with [`TEMP_PREFIX`], UTF-8 or not),
/// unsorted. Cheap on a large store: one pass over the listing, no sort, nothing kept
/// for other names.
pub(crate) fn temporaries(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut found = Vec::new();
    for item in fs::read_dir(dir).map_err(StoreError::io("list", dir))? {
        let item = item.map_err(StoreError::io("list", dir))?;
        if item
            .file_name()
            .as_encoded_bytes()
            .starts_with(TEMP_PREFIX.as_bytes())
        {
            found.push(item.path());
        }
    }
    Ok(found)
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(StoreError::io("set permissions on", path))
}

/// Makes a directory's own metadata and entry list durable.
pub(crate) fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(StoreError::io("sync directory", path))
}

/// When a freshly written temporary entry becomes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// fsync every file and directory as it is sealed (single adds).
    Fsync,
    /// Leave it to the caller, which makes a whole batch durable at once (see `batch.rs`).
    Deferred,
}

/// Creates `path` (which must not exist) with `bytes`, makes it read-only and, with
/// [`Durability::Fsync`], fsyncs it.
pub(crate) fn write_store_file(
    path: &Path,
    bytes: &[u8],
    executable: bool,
    durability: Durability,
) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(StoreError::io("create", path))?;
    file.write_all(bytes)
        .map_err(StoreError::io("write", path))?;
    seal_file(&file, path, executable, durability)
}

/// Makes an open store file read-only and, with [`Durability::Fsync`], fsyncs it.
pub(crate) fn seal_file(
    file: &File,
    path: &Path,
    executable: bool,
    durability: Durability,
) -> Result<(), StoreError> {
    let mode = if executable { MODE_EXEC } else { MODE_FILE };
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(StoreError::io("set permissions on", path))?;
    match durability {
        Durability::Fsync => file.sync_all().map_err(StoreError::io("sync", path)),
        Durability::Deferred => Ok(()),
    }
}

/// Makes a fully written directory read-only and, with [`Durability::Fsync`], fsyncs it.
pub(crate) fn seal_dir(path: &Path, durability: Durability) -> Result<(), StoreError> {
    set_mode(path, MODE_EXEC)?;
    match durability {
        Durability::Fsync => sync_dir(path),
        Durability::Deferred => Ok(()),
    }
}

/// Creates `path` (which must not exist) with `contents`, without fsync (batches).
pub(crate) fn write_new(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let mut file = File::create_new(path).map_err(StoreError::io("create", path))?;
    file.write_all(contents)
        .map_err(StoreError::io("write", path))
}

/// Makes everything written so far to the filesystems holding `dirs` durable: file
/// contents, modes and directory entries alike, with one `syncfs(2)` per filesystem.
/// Since Linux 5.8 `syncfs` reports writeback errors that happened since the last call,
/// so an error here means some staged data may not be on disk.
#[cfg(target_os = "linux")]
pub(crate) fn sync_filesystems(dirs: &[&Path]) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let mut synced = Vec::new();
    for dir in dirs {
        let handle = File::open(dir).map_err(StoreError::io("open", *dir))?;
        let device = handle
            .metadata()
            .map_err(StoreError::io("inspect", *dir))?
            .dev();
        if synced.contains(&device) {
            continue;
        }
        rustix::fs::syncfs(&handle)
            .map_err(|errno| StoreError::io("sync the filesystem of", *dir)(errno.into()))?;
        synced.push(device);
    }
    Ok(())
}

/// Without `syncfs(2)`: fsyncs every file and directory under each of `entries`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sync_entries(entries: &[&Path]) -> Result<(), StoreError> {
    fn sync_tree(path: &Path) -> Result<(), StoreError> {
        let meta = fs::symlink_metadata(path).map_err(StoreError::io("inspect", path))?;
        if meta.is_dir() {
            for item in fs::read_dir(path).map_err(StoreError::io("list", path))? {
                let item = item.map_err(StoreError::io("list", path))?;
                sync_tree(&item.path())?;
            }
            return sync_dir(path);
        }
        File::open(path)
            .and_then(|file| file.sync_all())
            .map_err(StoreError::io("sync", path))
    }
    entries.iter().try_for_each(|entry| sync_tree(entry))
}

/// Replaces `dir/file_name` with `contents` atomically (temp file, fsync, rename, fsync dir).
pub(crate) fn write_atomic(dir: &Path, file_name: &str, contents: &[u8]) -> Result<(), StoreError> {
    let tmp = temp_path(dir, file_name);
    let target = dir.join(file_name);
    let result = (|| {
        let mut file = File::create_new(&tmp).map_err(StoreError::io("create", &tmp))?;
        file.write_all(contents)
            .map_err(StoreError::io("write", &tmp))?;
        file.sync_all().map_err(StoreError::io("sync", &tmp))?;
        fs::rename(&tmp, &target).map_err(StoreError::io("rename into place", &target))
    })();
    if result.is_err() {
        discard(&tmp);
    }
    result?;
    sync_dir(dir)
}

/// Removes a file, or a directory tree after making its directories writable again.
/// A missing path is not an error.
pub(crate) fn remove_tree(path: &Path) -> Result<(), StoreError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(StoreError::io("inspect", path)(err)),
    };
    if !meta.is_dir() {
        return fs::remove_file(path).map_err(StoreError::io("remove", path));
    }
    make_dirs_writable(path)?;
    fs::remove_dir_all(path).map_err(StoreError::io("remove", path))
}

fn make_dirs_writable(dir: &Path) -> Result<(), StoreError> {
    set_mode(dir, 0o755)?;
    for item in fs::read_dir(dir).map_err(StoreError::io("list", dir))? {
        let item = item.map_err(StoreError::io("list", dir))?;
        let is_dir = item
            .file_type()
            .map_err(StoreError::io("inspect", item.path()))?
            .is_dir();
        if is_dir {
            make_dirs_writable(&item.path())?;
        }
    }
    Ok(())
}

/// Best-effort removal of a temporary entry after another error. If it fails, the entry is
/// left behind for `verify` to report and the next sweep to remove; the original error
/// matters more.
pub(crate) fn discard(path: &Path) {
    let _ = remove_tree(path);
}

/// Sum of the lengths of the regular files under `path` (apparent size, not disk blocks).
pub(crate) fn disk_size(path: &Path) -> Result<u64, StoreError> {
    let meta = fs::symlink_metadata(path).map_err(StoreError::io("inspect", path))?;
    if !meta.is_dir() {
        return Ok(if meta.is_file() { meta.len() } else { 0 });
    }
    let mut total = 0;
    for item in fs::read_dir(path).map_err(StoreError::io("list", path))? {
        let item = item.map_err(StoreError::io("list", path))?;
        total += disk_size(&item.path())?;
    }
    Ok(total)
}

/// The names in `dir`, sorted bytewise; names that are not UTF-8 are returned as `Err(path)`.
pub(crate) fn sorted_names(dir: &Path) -> Result<Vec<Result<String, PathBuf>>, StoreError> {
    let mut names = Vec::new();
    for item in fs::read_dir(dir).map_err(StoreError::io("list", dir))? {
        let item = item.map_err(StoreError::io("list", dir))?;
        names.push(item.file_name().into_string().map_err(|_| item.path()));
    }
    names.sort();
    Ok(names)
}

/// A directory to inspect entries of by name: on Linux through an open descriptor
/// (`fstatat`), so each look-up walks one path component, not the whole path.
pub(crate) struct StatDir {
    #[cfg(target_os = "linux")]
    fd: rustix::fd::OwnedFd,
    #[cfg(not(target_os = "linux"))]
    path: PathBuf,
}

/// The metadata a fingerprint covers, as numbers: device, inode, mode, size, then the
/// modification and change times (seconds, nanoseconds).
pub(crate) type Meta = [u64; 8];

/// Whether a [`Meta`]'s mode is a directory's.
pub(crate) fn meta_is_dir(meta: &Meta) -> bool {
    meta[2] & 0o170_000 == 0o040_000
}

/// [`Meta`] from `std` metadata.
pub(crate) fn meta_of(m: &fs::Metadata) -> Meta {
    use std::os::unix::fs::MetadataExt;
    [
        m.dev(),
        m.ino(),
        u64::from(m.mode()),
        m.size(),
        m.mtime() as u64,
        m.mtime_nsec() as u64,
        m.ctime() as u64,
        m.ctime_nsec() as u64,
    ]
}

impl StatDir {
    #[cfg(target_os = "linux")]
    pub(crate) fn open(path: &Path) -> io::Result<StatDir> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(io::Error::from)?;
        Ok(StatDir { fd })
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn open(path: &Path) -> io::Result<StatDir> {
        Ok(StatDir {
            path: path.to_owned(),
        })
    }

    /// The metadata of `name` in this directory, not following a link.
    #[cfg(target_os = "linux")]
    pub(crate) fn stat(&self, name: &str) -> io::Result<Meta> {
        use rustix::fs::AtFlags;
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(io::Error::from)?;
        Ok([
            st.st_dev as u64,
            st.st_ino as u64,
            u64::from(st.st_mode),
            st.st_size as u64,
            st.st_mtime as u64,
            st.st_mtime_nsec as u64,
            st.st_ctime as u64,
            st.st_ctime_nsec as u64,
        ])
    }

    /// The metadata of `name` in this directory, not following a link.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn stat(&self, name: &str) -> io::Result<Meta> {
        Ok(meta_of(&fs::symlink_metadata(self.path.join(name))?))
    }
}
