//! One memsafe at a time per project: the commands that write take an exclusive lock first.
//!
//! The lock file lives in the system's temporary folder, named after the project root, so the
//! user's repository gets no extra file. A second memsafe on the same project refuses at once
//! with a clear message instead of interleaving writes.

use std::fs::{File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::UsageError;

/// Where the lock for the project at `root` lives.
pub fn path_for(root: &Path) -> PathBuf {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut hasher = DefaultHasher::new();
    canonical.hash(&mut hasher);
    std::env::temp_dir().join(format!("memsafe-{:016x}.lock", hasher.finish()))
}

/// Held while memsafe writes; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
}

/// Takes the project's lock, or says who holds it.
pub fn acquire(root: &Path) -> Result<ProjectLock> {
    let path = path_for(root);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .or_else(|_| File::open(&path))
        .with_context(|| format!("cannot open the lock file `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(ProjectLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(UsageError::new(format!(
            "another memsafe is changing `{}` right now; nothing was written",
            root.display()
        ))
        .with_help("wait for it to finish, then run this again")
        .into()),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock `{}`", path.display()))
        }
    }
}
