//! What `memsafe remove` needs to give a file back as it was: the lines memsafe changed, with
//! the original lines and a little context, recorded in memsafe.toml. Pure.
//!
//! A [`Hunk`] is computed between the original text (before memsafe first touched the file)
//! and memsafe's latest output, on the LF-only text without BOM ([`crate::merge::text::Shape`]
//! puts those back), so a hunk holds whole lines, each with its `\n` (the file's last line may
//! lack one). [`unpatch`] finds memsafe's lines again, near where they were, by their context,
//! and puts the original lines back: byte for byte, even after the user edited other parts.

use serde::{Deserialize, Serialize};
use similar::{DiffOp, TextDiff};

/// One place where memsafe's output differs from the original.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunk {
    /// The 1-based line in memsafe's output where `before` starts.
    pub line: usize,
    /// Unchanged lines just above the change.
    pub before: Vec<String>,
    /// The original lines memsafe replaced (none when it only added lines).
    pub removed: Vec<String>,
    /// The lines memsafe wrote in their place.
    pub added: Vec<String>,
    /// Unchanged lines just below the change.
    pub after: Vec<String>,
}

/// Lines of context kept on each side of a change.
const CONTEXT: usize = 2;

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The hunks that turn `original` into `current`.
pub fn hunks(original: &str, current: &str) -> Vec<Hunk> {
    let old = lines(original);
    let new = lines(current);
    let diff = TextDiff::from_slices(&old, &new);
    let mut out = Vec::new();
    for op in diff.ops() {
        let (old_range, new_range) = match *op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            } => (old_index..old_index + old_len, new_index..new_index),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index..old_index, new_index..new_index + new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (old_index..old_index + old_len, new_index..new_index + new_len),
        };
        let before_start = new_range.start.saturating_sub(CONTEXT);
        let after_end = (new_range.end + CONTEXT).min(new.len());
        out.push(Hunk {
            line: before_start + 1,
            before: new[before_start..new_range.start]
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            removed: old[old_range].iter().map(|s| (*s).to_string()).collect(),
            added: new[new_range.clone()].iter().map(|s| (*s).to_string()).collect(),
            after: new[new_range.end..after_end]
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
        });
    }
    out
}

/// A hunk whose lines are no longer in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmatched {
    /// Where memsafe's lines were.
    pub line: usize,
    /// Memsafe's lines, as it wrote them.
    pub added: Vec<String>,
}

/// Puts the original lines back in `current`. Every hunk must still be found; otherwise the
/// ones that are not are returned and nothing is undone.
pub fn unpatch(current: &str, hunks: &[Hunk]) -> Result<String, Vec<Unmatched>> {
    let mut text: Vec<String> = lines(current).into_iter().map(str::to_string).collect();
    let mut unmatched = Vec::new();
    // Later hunks first, so the line numbers of earlier ones stay right.
    let mut order: Vec<&Hunk> = hunks.iter().collect();
    order.sort_by_key(|hunk| std::cmp::Reverse(hunk.line));
    for hunk in order {
        match locate(&text, hunk) {
            Some(start) => {
                text.splice(start..start + hunk.added.len(), hunk.removed.iter().cloned());
            }
            None => unmatched.push(Unmatched {
                line: hunk.line + hunk.before.len(),
                added: hunk.added.clone(),
            }),
        }
    }
    if unmatched.is_empty() {
        Ok(text.concat())
    } else {
        Err(unmatched)
    }
}

/// Where `hunk.added` starts in `text`: with its full context if possible, else with the
/// context on one side, else alone; the candidate nearest the recorded line wins.
fn locate(text: &[String], hunk: &Hunk) -> Option<usize> {
    let expected = hunk.line - 1 + hunk.before.len();
    let attempts: [(&[String], &[String]); 4] = [
        (&hunk.before, &hunk.after),
        (&hunk.before, &[]),
        (&[], &hunk.after),
        (&[], &[]),
    ];
    for (before, after) in attempts {
        // Memsafe's lines alone are enough only when they say something (not a blank line).
        if before.is_empty() && after.is_empty() && hunk.added.iter().all(|l| l.trim().is_empty()) {
            continue;
        }
        let needle: Vec<&String> = before.iter().chain(&hunk.added).chain(after).collect();
        let best = (0..=text.len().saturating_sub(needle.len()))
            .filter(|&start| {
                needle
                    .iter()
                    .enumerate()
                    .all(|(i, line)| text.get(start + i) == Some(*line))
            })
            .map(|start| start + before.len())
            .min_by_key(|&start| start.abs_diff(expected));
        if best.is_some() {
            return best;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(original: &str, current: &str) {
        let recorded = hunks(original, current);
        assert_eq!(unpatch(current, &recorded).unwrap(), original, "{recorded:#?}");
    }

    #[test]
    fn additions_replacements_and_a_missing_final_newline() {
        round_trip("[a]\nx = 1\n", "[a]\nx = 1\ny = 2\n");
        round_trip("[a]\nx = 1 # c\n\n[b]\n", "[a]\nx = 2 # c\n\n[b]\nz = 3\n");
        round_trip(
            "[workspace]\nmembers = []",
            "[workspace]\nmembers = []\n\n[profile.dev]\ndebug = 0\n",
        );
        round_trip("", "[build]\njobs = 2\n");
        round_trip("same\n", "same\n");
    }

    #[test]
    fn survives_edits_elsewhere_and_moves() {
        let original = "[package]\nname = \"x\"\n\n[profile.release]\ndebug = 1\n";
        let ours = "[package]\nname = \"x\"\n\n[profile.release]\ndebug = 1\n\n[profile.dev.package.\"*\"]\ndebug = false\n";
        let recorded = hunks(original, ours);
        // The user added dependencies above memsafe's lines since.
        let edited = ours.replace(
            "name = \"x\"\n",
            "name = \"x\"\n\n[dependencies]\nserde = \"1\"\nanyhow = \"1\"\n",
        );
        let expected = original.replace(
            "name = \"x\"\n",
            "name = \"x\"\n\n[dependencies]\nserde = \"1\"\nanyhow = \"1\"\n",
        );
        assert_eq!(unpatch(&edited, &recorded).unwrap(), expected);
    }

    #[test]
    fn edited_lines_are_reported_and_nothing_is_undone() {
        let recorded = hunks("[build]\n", "[build]\njobs = 3\n");
        let edited = "[build]\njobs = 5\n";
        let unmatched = unpatch(edited, &recorded).unwrap_err();
        assert_eq!(
            unmatched,
            vec![Unmatched {
                line: 2,
                added: vec!["jobs = 3\n".into()]
            }]
        );
    }

    #[test]
    fn the_nearest_of_two_equal_places_wins() {
        let original = "[a]\nk = 1\n[b]\nk = 1\n";
        let ours = "[a]\nk = 1\n[b]\nk = 1\nnew = true\n";
        let recorded = hunks(original, ours);
        assert_eq!(unpatch(ours, &recorded).unwrap(), original);
    }
}
