//! The only module that writes the user's files.
//!
//! Every write is atomic: a temporary file in the same folder, flushed to disk, then renamed
//! over the original, keeping the original's permissions. A symlink is written through: its
//! target changes, the link stays a link. Before writing anything every target is checked;
//! if a write still fails midway, the files already written are put back.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::change::{FileChange, Kind};

/// Checks that every change can be written: the folder exists or can be made, is writable,
/// and the target is not a folder or read-only.
pub fn preflight(changes: &[FileChange]) -> Result<()> {
    for change in changes.iter().filter(|c| !c.is_noop()) {
        let target = resolve(&change.path);
        if target.is_dir() {
            bail!("cannot write `{}`: it is a folder", change.display);
        }
        if let Ok(metadata) = fs::metadata(&target)
            && metadata.permissions().readonly()
        {
            bail!("cannot write `{}`: the file is read-only", change.display);
        }
        let mut dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
        while !dir.exists() {
            if !dir.pop() {
                break;
            }
        }
        // Checked by the mode bits too: root may create files in a read-only folder, and
        // memsafe should not write where the user said no.
        if fs::metadata(&dir).is_ok_and(|m| m.permissions().readonly()) {
            bail!(
                "cannot write `{}`: the folder `{}` is read-only",
                change.display,
                dir.display()
            );
        }
        tempfile::NamedTempFile::new_in(&dir).with_context(|| {
            format!(
                "cannot write `{}`: `{}` is not writable",
                change.display,
                dir.display()
            )
        })?;
    }
    Ok(())
}

/// Writes every change that is not a no-op; on failure, restores what was already written.
pub fn apply(changes: &[FileChange]) -> Result<()> {
    let mut done: Vec<&FileChange> = Vec::new();
    for change in changes.iter().filter(|c| !c.is_noop()) {
        if let Err(error) = write_one(change) {
            let mut restore_failures = Vec::new();
            for written in done.iter().rev() {
                let restored = match &written.before {
                    Some(before) => write_atomic(
                        &resolve(&written.path),
                        before.as_bytes(),
                        written.kind == Kind::Executable,
                    ),
                    None => fs::remove_file(&written.path).map_err(Into::into),
                };
                if restored.is_err() {
                    restore_failures.push(written.display.clone());
                }
            }
            let undone = if done.is_empty() {
                "no file was changed".to_string()
            } else if restore_failures.is_empty() {
                format!(
                    "the files already written were restored ({})",
                    done.iter()
                        .map(|c| format!("`{}`", c.display))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("could not restore {}", restore_failures.join(", "))
            };
            return Err(error.context(format!("failed to write `{}`; {undone}", change.display)));
        }
        done.push(change);
    }
    Ok(())
}

/// Fault injection for memsafe's own tests (never set by users): `MEMSAFE_FAULT_FAIL_WRITE`
/// names a file whose write fails; `MEMSAFE_FAULT_STOP_AT=K` makes the process print
/// `memsafe-fault: stop K` on stderr and stop itself (SIGSTOP) at the K-th step of writing
/// (before, inside and after each file's write), so a test can kill it there.
mod fault {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static STEP: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn fail_write(display: &str) -> bool {
        std::env::var_os("MEMSAFE_FAULT_FAIL_WRITE").is_some_and(|name| name == display)
    }

    pub(super) fn checkpoint() {
        let Some(stop_at) = std::env::var("MEMSAFE_FAULT_STOP_AT")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        else {
            return;
        };
        let step = STEP.fetch_add(1, Ordering::SeqCst) + 1;
        if step == stop_at {
            use std::io::Write;
            let mut stderr = std::io::stderr();
            let _ = writeln!(stderr, "memsafe-fault: stop {step}");
            let _ = stderr.flush();
            #[cfg(unix)]
            // SAFETY: raising a signal on this process; SIGSTOP cannot be caught.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
        }
    }
}

fn write_one(change: &FileChange) -> Result<()> {
    if fault::fail_write(&change.display) {
        bail!("injected failure (MEMSAFE_FAULT_FAIL_WRITE)");
    }
    let target = resolve(&change.path);
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    write_atomic(&target, change.after.as_bytes(), change.kind == Kind::Executable)
}

/// The file a path finally names: a symlink's target (relative targets resolved), or itself.
fn resolve(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    for _ in 0..32 {
        match fs::read_link(&current) {
            Ok(target) => {
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            Err(_) => break,
        }
    }
    current
}

fn write_atomic(target: &Path, bytes: &[u8], executable: bool) -> Result<()> {
    let dir = target.parent().context("a file path has a folder")?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".memsafe-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in `{}`", dir.display()))?;
    fault::checkpoint();
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    fault::checkpoint();
    let permissions = match fs::metadata(target) {
        Ok(metadata) => Some(metadata.permissions()),
        Err(_) => default_permissions(executable),
    };
    if let Some(permissions) = permissions {
        temporary.as_file().set_permissions(permissions)?;
    }
    temporary
        .persist(target)
        .map_err(|error| error.error)
        .with_context(|| format!("cannot replace `{}`", target.display()))?;
    fault::checkpoint();
    Ok(())
}

#[cfg(unix)]
fn default_permissions(executable: bool) -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    // What a new file gets from a usual umask (022); tempfile would make it 0600.
    Some(fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }))
}

#[cfg(not(unix))]
fn default_permissions(_executable: bool) -> Option<fs::Permissions> {
    None
}
