//! Pure, key-by-key edits of a user's settings files (TOML and JSONC): `&str` in, `String`
//! out. [`crate::sync`] decides what to edit; this module knows how.
//!
//! Everything memsafe does not own comes out byte for byte as it went in: comments, order,
//! blank lines, quoting, a UTF-8 BOM and CRLF line endings (see [`text`]).

pub mod jsonc;
pub mod text;
pub mod toml;

use std::fmt;

/// Why a file could not be merged. The caller adds the file's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeError {
    /// The file does not parse.
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// A key memsafe must descend into holds something else than a table or object.
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
        line: Option<usize>,
    },
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Syntax {
                line,
                column,
                message,
            } => {
                write!(f, "line {line}, column {column}: {message}")
            }
            MergeError::WrongType {
                key,
                expected,
                found,
                line,
            } => {
                if let Some(line) = line {
                    write!(f, "line {line}: ")?;
                }
                write!(f, "`{key}` is {found}, expected {expected}")
            }
        }
    }
}

impl std::error::Error for MergeError {}

/// Which elements of rust-analyzer's `check.extraArgs` memsafe replaces: the job arguments
/// (`--jobs N`, `-j N`, `--jobs=N`, `-jN`); `None` when the array already ends with exactly
/// `ours` and holds no other job argument, so nothing needs to change. Elements that are not
/// strings are `None` in `existing` and never touched.
pub(crate) fn jobs_args_to_replace(existing: &[Option<&str>], ours: &[&str]) -> Option<Vec<bool>> {
    let mut remove = vec![false; existing.len()];
    let mut index = 0;
    while index < existing.len() {
        match existing[index] {
            Some("--jobs" | "-j") => {
                remove[index] = true;
                if index + 1 < existing.len() {
                    remove[index + 1] = true;
                }
                index += 1;
            }
            Some(text) if text.starts_with("--jobs=") || (text.starts_with("-j") && text.len() > 2) => {
                remove[index] = true;
            }
            _ => {}
        }
        index += 1;
    }
    let tail = existing.len().saturating_sub(ours.len());
    let already = remove.iter().filter(|r| **r).count() == ours.len()
        && remove[tail..].iter().all(|r| *r)
        && existing[tail..]
            .iter()
            .zip(ours)
            .all(|(have, want)| *have == Some(*want));
    (!already).then_some(remove)
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |rest| rest.chars().count()) + 1;
    (line, column)
}
