//! Crash-safe file placement shared by the blob and secret stores: a file appears under its
//! final name whole or not at all, after a `kill -9` and (thanks to the fsyncs) after a power
//! loss too.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// A collision-free name for a temporary file (128 random bits).
pub(crate) fn unique_name(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Makes a directory's entries (a rename, a new file) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files elsewhere; renames are still atomic.
        let _ = dir;
        Ok(())
    }
}

/// Creates `dir` (which lies under `root`) and any missing parents, syncing each parent
/// that gained an entry, so a file later renamed into `dir` cannot vanish with its folder.
pub(crate) fn ensure_dir(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let relative = dir.strip_prefix(root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "directory outside the store root",
        )
    })?;
    let mut current = root.to_path_buf();
    for part in relative.components() {
        let parent = current.clone();
        current.push(part);
        match fs::create_dir(&current) {
            Ok(()) => sync_dir(&parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves a fully written and synced temporary file to `dest` (replacing any file there) and
/// makes the rename durable.
pub(crate) fn rename_into_place(tmp: &Path, root: &Path, dest: &Path) -> io::Result<()> {
    let parent = dest
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "destination has no parent"))?;
    ensure_dir(root, parent)?;
    fs::rename(tmp, dest)?;
    sync_dir(parent)
}

/// Removes a temporary file when dropped, unless [`TempFile::keep`] was called: error paths
/// and handlers cancelled mid-upload (client gone) leave nothing behind.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path: Some(path) }
    }

    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or_else(|| Path::new(""))
    }

    /// The file has been renamed away; nothing to remove any more.
    pub(crate) fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Best effort: a leftover is removed at the next start anyway.
            let _ = fs::remove_file(path);
        }
    }
}

/// Removes every file left in a temporary directory by a process that died mid-write.
pub(crate) fn clear_dir(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
