//! Pure merges of generated settings into a user's files: `&str` in, `String` out.
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

/// 1-based line and column of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |rest| rest.chars().count()) + 1;
    (line, column)
}
