//! The changes a run would make, computed in full before anything is written.

use std::path::PathBuf;

use similar::TextDiff;

pub use crate::sync::KeyDiff;

/// One file's content before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// Where to write (a symlink's target, checked to be inside the project).
    pub path: PathBuf,
    /// The path as shown to the user (relative to the project root, `/`-separated).
    pub display: String,
    /// The current content; `None` when the file does not exist.
    pub before: Option<String>,
    /// The new content; `None` deletes the file.
    pub after: Option<String>,
    /// A new file gets the executable bit.
    pub executable: bool,
    /// memsafe's own record (memsafe.toml).
    pub is_record: bool,
    /// Folders to create for the file, outermost first (they do not exist yet).
    pub create_dirs: Vec<PathBuf>,
    /// Folders to delete after deleting the file, innermost first, when they are empty.
    pub remove_dirs: Vec<PathBuf>,
    /// The owned values that change.
    pub keys: Vec<KeyDiff>,
    /// The file's mode, owner and group before, to give a deleted file back as it was.
    pub meta: Option<FileMeta>,
}

/// A file's Unix mode, owner and group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl FileMeta {
    /// The mode, owner and group of the file at `path`, where the platform has them.
    pub fn of(path: &std::path::Path) -> Option<FileMeta> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let metadata = std::fs::metadata(path).ok()?;
            Some(FileMeta {
                mode: metadata.mode() & 0o7777,
                uid: metadata.uid(),
                gid: metadata.gid(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

impl FileChange {
    /// Nothing to write.
    pub fn is_noop(&self) -> bool {
        self.before == self.after
    }

    /// A file memsafe owns whole (a script) that changes, rather than keys in a user's file.
    pub fn is_whole_file(&self) -> bool {
        self.keys.iter().any(|key| key.key == crate::sync::WHOLE_FILE)
    }

    /// `create`, `update` or `delete`.
    pub fn verb(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, Some(_)) => "Created",
            (Some(_), None) => "Deleted",
            _ => "Updated",
        }
    }

    /// A unified diff, `a/` and `b/` style, with 3 lines of context.
    pub fn unified_diff(&self) -> String {
        let before = self.before.as_deref().unwrap_or("");
        let after = self.after.as_deref().unwrap_or("");
        let old_header = if self.before.is_some() {
            format!("a/{}", self.display)
        } else {
            "/dev/null".into()
        };
        let new_header = if self.after.is_some() {
            format!("b/{}", self.display)
        } else {
            "/dev/null".into()
        };
        TextDiff::from_lines(before, after)
            .unified_diff()
            .context_radius(3)
            .header(&old_header, &new_header)
            .missing_newline_hint(true)
            .to_string()
    }
}
