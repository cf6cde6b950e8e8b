//! The changes a run would make, computed in full before anything is written.

use std::path::PathBuf;

use similar::TextDiff;

/// What a file is, as far as comparing and writing go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Cargo.toml or `.cargo/config.toml`: compared key by key.
    Toml,
    /// `.vscode/settings.json`: compared key by key.
    Jsonc,
    /// memsafe.toml, memsafe's own record.
    Record,
    /// A script memsafe owns whole.
    Whole,
    /// A script memsafe owns whole, written executable.
    Executable,
}

/// One managed value that differs between a file and the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyChange {
    pub key: String,
    /// The value in the file; `None` when the key is not there.
    pub before: Option<String>,
    /// The value the plan gives; `None` when memsafe takes the key out.
    pub after: Option<String>,
}

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
    /// What the file is: how to compare it key by key, and whether to make it executable.
    pub kind: Kind,
    /// Things memsafe did besides setting its own keys (a renamed setting), or warnings.
    pub notes: Vec<String>,
}

impl FileChange {
    /// Nothing to write.
    pub fn is_noop(&self) -> bool {
        self.before.as_deref() == Some(self.after.as_str())
    }

    /// The values that differ, key by key (a whole-file change for scripts).
    pub fn key_changes(&self) -> Vec<KeyChange> {
        if self.is_noop() {
            return Vec::new();
        }
        let values = |text: Option<&str>| -> Vec<(String, String)> {
            let Some(text) = text else { return Vec::new() };
            match self.kind {
                Kind::Toml | Kind::Record => crate::merge::toml::leaves(text),
                Kind::Jsonc => crate::merge::jsonc::values(text),
                Kind::Whole | Kind::Executable => Vec::new(),
            }
        };
        if matches!(self.kind, Kind::Whole | Kind::Executable) {
            let before = self.before.as_ref().map(|_| "differs from the plan".to_string());
            return vec![KeyChange {
                key: "(whole file)".into(),
                before,
                after: Some("memsafe's script".into()),
            }];
        }
        let before = values(self.before.as_deref());
        let after = values(Some(&self.after));
        let mut out = Vec::new();
        for (key, value) in &after {
            let old = before.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            if old.as_ref() != Some(value) {
                out.push(KeyChange {
                    key: key.clone(),
                    before: old,
                    after: Some(value.clone()),
                });
            }
        }
        for (key, value) in &before {
            if !after.iter().any(|(k, _)| k == key) {
                out.push(KeyChange {
                    key: key.clone(),
                    before: Some(value.clone()),
                    after: None,
                });
            }
        }
        out
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
