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

/// The invariants every edit keeps, checked on arbitrary text as Cargo.toml, as
/// `.cargo/config.toml` and as `.vscode/settings.json` (the cargo-fuzz target calls this): no
/// panic; an edit that succeeds is idempotent, and releasing every key gives the text back.
///
/// # Panics
/// When an invariant does not hold: that is the bug the fuzzer looks for.
pub fn check_round_trip(text: &str) {
    use crate::hardware::{Hardware, MemorySource, Os};
    use crate::owned::FileId;
    use crate::plan::{Answers, Plan, Preset};

    let hardware = Hardware {
        memory_bytes: 16 << 30,
        memory_source: MemorySource::Flag,
        logical_cpus: 8,
        physical_cpus: 8,
        os: Os::Linux,
        wsl: false,
        notes: Vec::new(),
    };
    let plan = Plan::compute(
        &hardware,
        &Answers {
            preset: Preset::Safe,
            ..Answers::default()
        },
    );
    for file in [FileId::Manifest, FileId::CargoConfig, FileId::Vscode] {
        let Ok(first) = crate::sync::plan_file(file, text, None, &plan) else {
            continue;
        };
        let after = first.after.clone().expect("an existing file stays");
        let second = crate::sync::plan_file(file, &after, first.record.as_ref(), &plan)
            .expect("memsafe's own output parses");
        assert_eq!(second.after.as_deref(), Some(after.as_str()), "not idempotent");
        let undone = crate::sync::release_file(file, &after, first.record.as_ref())
            .expect("memsafe's own output parses");
        assert_eq!(
            undone.after.as_deref(),
            Some(text),
            "releasing did not give the input back"
        );
    }
}
