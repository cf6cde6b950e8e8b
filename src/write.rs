//! The only module that writes the user's files, with one commit protocol for every command
//! that writes (init, regen, calibrate, remove):
//!
//! 1. every target is checked (folder writable, file not read-only);
//! 2. a journal, `.memsafe-journal` at the project root, is written and flushed to disk: each
//!    file's bytes before the run and a hash of its bytes after. From here on, a run that dies
//!    is rolled back by the next memsafe command that writes ([`recover`]);
//! 3. each file is written atomically (a temporary file in the same folder, flushed, renamed
//!    over the original, with the original's mode, owner and group), memsafe.toml first. Right
//!    before each rename the target is read again: if it changed since memsafe read it, the run
//!    rolls back, names the file and fails;
//! 4. the journal is deleted: the run is committed.
//!
//! A failure or Ctrl-C during step 3 rolls back what was written, so exit 130 still means
//! nothing was written. A symlink is written through (to its target, which [`crate::files`]
//! checked to be inside the project). The rename replaces the file with a new one: a hardlink
//! to the old file keeps the old content.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::change::{FileChange, FileMeta};
use crate::error::{Interrupted, UsageError};
use crate::owned::FileId;
use crate::record::{self, hash};

/// The journal's file name, at the project root.
pub(crate) const JOURNAL: &str = ".memsafe-journal";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    files: Vec<JournalEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalEntry {
    /// From the project root.
    path: String,
    /// The bytes before the run; `None`: there was no file.
    before: Option<String>,
    /// The hash of the bytes the run writes; `None`: the run deletes the file.
    after: Option<String>,
    /// Folders the run creates for the file, outermost first.
    dirs: Vec<String>,
    /// The file's mode, owner and group before, to give a deleted file back as it was.
    #[serde(default)]
    meta: Option<FileMeta>,
}

/// Checks that every change can be written: the folder exists or can be made, is writable,
/// and the target is not a folder or read-only.
pub(crate) fn preflight(changes: &[&FileChange]) -> Result<()> {
    for change in changes {
        let target = &change.path;
        if target.is_dir() {
            bail!(UsageError::new(format!(
                "cannot write `{}`: it is a folder",
                change.display
            )));
        }
        if change.after.is_some()
            && let Ok(metadata) = fs::metadata(target)
            && metadata.permissions().readonly()
        {
            bail!(
                "cannot write `{}`: the file is read-only; nothing was written",
                change.display
            );
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
                "cannot write `{}`: the folder `{}` is read-only; nothing was written",
                change.display,
                dir.display()
            );
        }
        tempfile::NamedTempFile::new_in(&dir).with_context(|| {
            format!(
                "cannot write `{}`: `{}` is not writable; nothing was written",
                change.display,
                dir.display()
            )
        })?;
    }
    Ok(())
}

/// Set by Ctrl-C while files are being written.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// While alive, Ctrl-C sets [`INTERRUPTED`] instead of ending the process.
struct SigintGuard {
    #[cfg(unix)]
    previous: libc::sighandler_t,
}

impl SigintGuard {
    fn install() -> SigintGuard {
        INTERRUPTED.store(false, Ordering::SeqCst);
        #[cfg(unix)]
        {
            // SAFETY: installs an async-signal-safe handler (one atomic store).
            let previous =
                unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
            SigintGuard { previous }
        }
        #[cfg(not(unix))]
        SigintGuard {}
    }
}

impl Drop for SigintGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: puts back the handler that was there before.
        unsafe {
            libc::signal(libc::SIGINT, self.previous);
        }
    }
}

/// Writes every change that is not a no-op, under the commit protocol above.
pub(crate) fn commit(root: &Path, changes: &[FileChange]) -> Result<()> {
    let pending: Vec<&FileChange> = changes.iter().filter(|c| !c.is_noop()).collect();
    if pending.is_empty() {
        return Ok(());
    }
    preflight(&pending)?;
    let journal = Journal {
        files: pending
            .iter()
            .map(|c| JournalEntry {
                path: c.display.clone(),
                before: c.before.clone(),
                after: c.after.as_deref().map(|a| hash(a.as_bytes())),
                dirs: c
                    .create_dirs
                    .iter()
                    .map(|d| crate::files::display(root, d))
                    .collect(),
                meta: c.meta,
            })
            .collect(),
    };
    let journal_path = root.join(JOURNAL);
    // Ctrl-C from here on is a rollback, the journal's own write included.
    let guard = SigintGuard::install();
    write_atomic(
        &journal_path,
        serde_json::to_string(&journal)
            .context("cannot write the journal")?
            .as_bytes(),
        false,
    )
    .context("cannot write memsafe's journal; nothing was written")?;
    let mut done: Vec<&FileChange> = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    for change in &pending {
        fault::checkpoint();
        if INTERRUPTED.load(Ordering::SeqCst) {
            failure = Some(Interrupted.into());
            break;
        }
        done.push(change);
        if let Err(error) = write_one(change) {
            failure = Some(error);
            break;
        }
    }
    if failure.is_none() && INTERRUPTED.load(Ordering::SeqCst) {
        failure = Some(Interrupted.into());
    }
    let result = match failure {
        None => Ok(()),
        Some(error) => {
            let failed = rollback(&done);
            // The last one is the write that failed.
            let written: Vec<String> = done
                .iter()
                .take(done.len().saturating_sub(1))
                .map(|c| format!("`{}`", c.display))
                .collect();
            let failing = done.last().map_or_else(String::new, |c| c.display.clone());
            if !failed.is_empty() {
                // The journal stays: the next memsafe command finishes the rollback. Files stay
                // written, so this is no "interrupted, nothing written" (130) either.
                drop(guard);
                let error = if error.is::<Interrupted>() {
                    anyhow::anyhow!("interrupted")
                } else {
                    error
                };
                return Err(error.context(format!(
                    "failed to write `{failing}`, and could not put back {}; run memsafe again to finish \
                     putting them back",
                    failed.join(", ")
                )));
            }
            if error.is::<Interrupted>() {
                Err(error)
            } else {
                let words = if written.is_empty() {
                    "no file was changed".to_string()
                } else {
                    format!("the files already written were restored ({})", written.join(", "))
                };
                Err(error.context(format!("failed to write `{failing}`; {words}")))
            }
        }
    };
    let _ = fs::remove_file(&journal_path);
    sync_dir(root);
    drop(guard);
    result
}

/// Puts the files in `done` back as they were, newest first; returns those it could not.
fn rollback(done: &[&FileChange]) -> Vec<String> {
    let mut failed = Vec::new();
    for change in done.iter().rev() {
        let current = fs::read(&change.path).ok();
        let ours = change.after.as_ref().map(|a| a.as_bytes().to_vec());
        // Put back only what memsafe wrote (not a write that never happened, nor another
        // program's).
        if current != change.before.as_ref().map(|b| b.as_bytes().to_vec()) && current == ours {
            let restored = match &change.before {
                Some(before) => restore(&change.path, before, change.meta, change.executable),
                None => fs::remove_file(&change.path).map_err(Into::into),
            };
            if restored.is_err() {
                failed.push(format!("`{}`", change.display));
            }
        }
        for dir in change.create_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
    failed
}

/// Rolls back a run that died between its journal and its commit. Returns what it did, for
/// the user; `None` when there was no journal.
pub(crate) fn recover(root: &Path) -> Result<Option<String>> {
    // The temporary files of a write that was cut short, journal or not (the lock is held).
    for folder in std::iter::once(root.to_path_buf()).chain(
        FileId::ALL
            .iter()
            .flat_map(|id| id.paths())
            .flat_map(|path| crate::owned::parent_dirs(path))
            .map(|dir| root.join(dir)),
    ) {
        if !std::fs::symlink_metadata(&folder).is_ok_and(|m| m.file_type().is_symlink()) {
            sweep_temporary_files(&folder);
        }
    }
    let path = root.join(JOURNAL);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read `{JOURNAL}`")),
    };
    let journal: Journal = serde_json::from_str(&text).map_err(|error| {
        UsageError::new(format!("cannot read `{JOURNAL}`: {error}; nothing was written")).with_help(format!(
            "an interrupted memsafe run left it; check the files it names, then delete `{JOURNAL}`"
        ))
    })?;
    // Untrusted like the record: only the files memsafe manages, and their own folders.
    for entry in &journal.files {
        let managed = entry.path == record::FILE || FileId::from_path(&entry.path).is_some();
        let parents = crate::owned::parent_dirs(&entry.path);
        if !managed || entry.dirs.iter().any(|d| !parents.contains(d)) {
            return Err(UsageError::new(format!(
                "`{JOURNAL}` names `{}`, which is not a file memsafe manages; nothing was written",
                entry.path
            ))
            .with_help(format!("delete `{JOURNAL}`"))
            .into());
        }
    }
    let mut restored = Vec::new();
    let mut left = Vec::new();
    let mut kept_record = false;
    for entry in journal.files.iter().rev() {
        // Files may have been written already: a failure from here on is not "bad input".
        let (full, current) = crate::files::read_inside(root, &entry.path)
            .map_err(|error| anyhow::anyhow!("{error:#}"))
            .with_context(|| format!("cannot roll back `{}`", entry.path))?;
        // The temporary files of a write that was cut short.
        if let Some(folder) = full.parent() {
            sweep_temporary_files(folder);
        }
        let ours = match (&current, &entry.after) {
            (Some(text), Some(after)) => hash(text.as_bytes()) == *after,
            (None, None) => true,
            _ => false,
        };
        if current != entry.before && !ours {
            left.push(format!("`{}`", entry.path));
            continue;
        }
        // A file of the run's that was changed since stays as it is: so does the run's record
        // (written first, put back last), so that `memsafe remove` can still undo that file.
        if entry.path == record::FILE && !left.is_empty() {
            kept_record = true;
            continue;
        }
        if current != entry.before {
            match &entry.before {
                // The journal is untrusted: no mode beyond rwxr-xr-x, and the folder's owner.
                Some(before) => restore(&full, before, entry.meta.map(|m| sanitized(m, &full)), false)?,
                None => fs::remove_file(&full).with_context(|| format!("cannot delete `{}`", entry.path))?,
            }
            restored.push(format!("`{}`", entry.path));
        }
        // Folders the run created go when empty, whether or not its file was written.
        for dir in entry.dirs.iter().rev() {
            let _ = fs::remove_dir(root.join(dir));
        }
    }
    fs::remove_file(&path).with_context(|| format!("cannot delete `{JOURNAL}`"))?;
    let mut words = "an earlier memsafe run was interrupted; it is rolled back".to_string();
    if !restored.is_empty() {
        words.push_str(&format!(": put back {}", restored.join(", ")));
    }
    if !left.is_empty() {
        words.push_str(&format!("; left {} as they are (changed since)", left.join(", ")));
    }
    if kept_record {
        words.push_str(&format!(
            "; kept the run's {}, so that `memsafe remove` can still undo them",
            record::FILE
        ));
    }
    Ok(Some(words))
}

/// Whether a journal waits for [`recover`].
pub(crate) fn journal_exists(root: &Path) -> bool {
    root.join(JOURNAL).exists()
}

/// Fault injection for memsafe's own tests (never set by users): `MEMSAFE_FAULT_FAIL_WRITE`
/// names a file whose write fails; `MEMSAFE_FAULT_STOP_AT=K` makes the process print
/// `memsafe-fault: stop K` on stderr and stop itself (SIGSTOP) at the K-th step of writing
/// (before, inside and after each file's write), so a test can kill it there, or send it
/// Ctrl-C.
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
    for dir in &change.create_dirs {
        fs::create_dir(dir)
            .or_else(|e| if dir.is_dir() { Ok(()) } else { Err(e) })
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        #[cfg(unix)]
        if let Some(parent) = dir.parent()
            && let Ok(owner) = fs::metadata(parent)
        {
            use std::os::unix::fs::MetadataExt;
            let _ = std::os::unix::fs::chown(dir, Some(owner.uid()), Some(owner.gid()));
        }
    }
    let unchanged = || -> Result<()> {
        let current = match fs::read(&change.path) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error).with_context(|| format!("cannot read `{}`", change.display)),
        };
        if current.as_deref() != change.before.as_deref().map(str::as_bytes) {
            bail!(
                "`{}` changed while memsafe was working (another program wrote it); run memsafe again",
                change.display
            );
        }
        Ok(())
    };
    match &change.after {
        Some(after) => write_checked(&change.path, after.as_bytes(), change.executable, &unchanged),
        None => {
            fault::checkpoint();
            unchanged()?;
            fs::remove_file(&change.path).with_context(|| format!("cannot delete `{}`", change.display))?;
            for dir in &change.remove_dirs {
                // Only an empty folder goes: remove_dir fails on one with files in it.
                let _ = fs::remove_dir(dir);
            }
            fault::checkpoint();
            Ok(())
        }
    }
}

/// Gives a file back its bytes and, when it was deleted, its folder, mode, owner and group.
fn restore(path: &Path, text: &str, meta: Option<FileMeta>, executable: bool) -> Result<()> {
    let existed = path.exists();
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    write_atomic(path, text.as_bytes(), executable)?;
    #[cfg(unix)]
    if !existed && let Some(meta) = meta {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode))?;
        let _ = std::os::unix::fs::chown(path, Some(meta.uid), Some(meta.gid));
    }
    #[cfg(not(unix))]
    let _ = (existed, meta);
    Ok(())
}

/// A mode and owner from the journal, made safe: at most rwxr-xr-x, owned like the folder.
fn sanitized(meta: FileMeta, path: &Path) -> FileMeta {
    #[cfg(unix)]
    let (uid, gid) = {
        use std::os::unix::fs::MetadataExt;
        path.parent()
            .and_then(|dir| fs::metadata(dir).ok())
            .map_or((meta.uid, meta.gid), |m| (m.uid(), m.gid()))
    };
    #[cfg(not(unix))]
    let (uid, gid) = {
        let _ = path;
        (meta.uid, meta.gid)
    };
    FileMeta {
        mode: meta.mode & 0o755,
        uid,
        gid,
    }
}

/// Deletes what an interrupted write leaves in `folder`: `.memsafe-XXXXXX` temporary files.
fn sweep_temporary_files(folder: &Path) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let temporary = name
            .strip_prefix(".memsafe-")
            .is_some_and(|rest| rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric()));
        if temporary && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn write_atomic(target: &Path, bytes: &[u8], executable: bool) -> Result<()> {
    write_checked(target, bytes, executable, &|| Ok(()))
}

/// Writes `bytes` to a temporary file next to `target`, then, if `still_ok` agrees, renames it
/// over `target`, keeping the target's mode, owner and group.
fn write_checked(
    target: &Path,
    bytes: &[u8],
    executable: bool,
    still_ok: &dyn Fn() -> Result<()>,
) -> Result<()> {
    let dir = target.parent().context("a file path has a folder")?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".memsafe-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in `{}`", dir.display()))?;
    fault::checkpoint();
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    fault::checkpoint();
    match fs::metadata(target) {
        Ok(metadata) => {
            temporary.as_file().set_permissions(metadata.permissions())?;
            keep_owner(temporary.as_file(), &metadata);
        }
        Err(_) => {
            if let Some(permissions) = default_permissions(executable) {
                temporary.as_file().set_permissions(permissions)?;
            }
            // A new file belongs to whoever owns its folder (root writing in a user's repo).
            if let Ok(folder) = fs::metadata(dir) {
                keep_owner(temporary.as_file(), &folder);
            }
        }
    }
    still_ok()?;
    temporary
        .persist(target)
        .map_err(|error| error.error)
        .with_context(|| format!("cannot replace `{}`", target.display()))?;
    sync_dir(dir);
    fault::checkpoint();
    Ok(())
}

#[cfg(unix)]
fn keep_owner(file: &fs::File, metadata: &fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    // Only root can give a file away; for anyone else this is a no-op or fails harmlessly.
    let _ = std::os::unix::fs::fchown(file, Some(metadata.uid()), Some(metadata.gid()));
}

#[cfg(not(unix))]
fn keep_owner(_: &fs::File, _: &fs::Metadata) {}

/// Flushes a folder's entries (the rename) to disk, where the platform can.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
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
