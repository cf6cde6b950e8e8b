//! The changes a run would make, computed in full before anything is written.

use std::path::PathBuf;

use similar::TextDiff;

/// One file's content before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// Where to write.
    pub path: PathBuf,
    /// The path as shown to the user (relative to the project root).
    pub display: String,
    /// The current content; `None` when the file does not exist yet.
    pub before: Option<String>,
    pub after: String,
    /// Make the file executable (the sh script).
    pub executable: bool,
    /// Things memsafe did besides setting its own keys (a renamed setting), or warnings.
    pub notes: Vec<String>,
}

impl FileChange {
    /// Nothing to write.
    pub fn is_noop(&self) -> bool {
        self.before.as_deref() == Some(self.after.as_str())
    }

    /// A unified diff, `a/` and `b/` style, with 3 lines of context.
    pub fn unified_diff(&self) -> String {
        let before = self.before.as_deref().unwrap_or("");
        let old_header = if self.before.is_some() {
            format!("a/{}", self.display)
        } else {
            "/dev/null".into()
        };
        TextDiff::from_lines(before, self.after.as_str())
            .unified_diff()
            .context_radius(3)
            .header(&old_header, &format!("b/{}", self.display))
            .missing_newline_hint(true)
            .to_string()
    }
}
