//! One memsafe at a time per project: the commands that write take an exclusive lock first.
//!
//! The lock is on the project's root folder itself (an advisory `flock`, released when the
//! process ends, even by SIGKILL): it depends on no environment variable and adds no file to
//! the repository. Where a folder cannot be locked (Windows), it is a lock file in the system's
//! temporary folder, named after the project root.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};

use crate::error::UsageError;

/// Held while memsafe writes; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
}

#[cfg(unix)]
fn lock_file(root: &Path) -> Result<File> {
    File::open(root).with_context(|| format!("cannot open `{}` to lock it", root.display()))
}

#[cfg(not(unix))]
fn lock_file(root: &Path) -> Result<File> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut hasher = DefaultHasher::new();
    canonical.hash(&mut hasher);
    let path = std::env::temp_dir().join(format!("memsafe-{:016x}.lock", hasher.finish()));
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file `{}`", path.display()))
}

/// Takes the project's lock, or says that another memsafe holds it.
pub fn acquire(root: &Path) -> Result<ProjectLock> {
    let file = lock_file(root)?;
    match file.try_lock() {
        Ok(()) => Ok(ProjectLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(UsageError::new(format!(
            "another memsafe is changing `{}` right now; nothing was written",
            root.display()
        ))
        .with_help("wait for it to finish, then run this again")
        .into()),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock `{}`", root.display()))
        }
    }
}
