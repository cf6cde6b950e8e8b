//! What `init` shows before it asks to write: a short list of the files and the keys that change
//! in each, then the diff, coloured when colours are on and, at the prompt, cut to the
//! terminal's height unless `--diff` asks for all of it.

use dialoguer::console::{self, style};

use crate::change::FileChange;
use crate::ui;

/// How many key names a file's summary line names before "and N more".
const KEYS_SHOWN: usize = 4;

/// Lines kept free below the diff for the list's last lines and the question.
const ROWS_FOR_THE_PROMPT: usize = 4;

/// The fewest diff lines shown at the prompt, however small the terminal.
const MIN_DIFF_LINES: usize = 10;

/// Shows `pending` (the files that change). `at_prompt`: the list first, the memsafe.toml
/// record as one line, and the diff cut to the terminal's height unless `whole`.
pub(crate) fn show(printer: crate::ui::Printer, pending: &[&FileChange], at_prompt: bool, whole: bool) {
    let mut diff = String::new();
    for change in pending {
        if at_prompt && change.is_record {
            // At the prompt, memsafe's own record is one line; `--dry-run` shows it whole.
            diff.push_str(&format!(
                "{} {}: memsafe's record of the answers, this machine and how to undo (`memsafe remove`)\n",
                verb(change),
                change.display
            ));
            continue;
        }
        diff.push_str(&change.unified_diff());
    }
    if at_prompt {
        printer.line(summary(pending));
    }
    let budget = if at_prompt && !whole {
        terminal_rows().map(|rows| rows.saturating_sub(ROWS_FOR_THE_PROMPT).max(MIN_DIFF_LINES))
    } else {
        None
    };
    let (shown, hidden) = match budget {
        Some(budget) => cut(&diff, budget),
        None => (diff.as_str(), 0),
    };
    ui::data(colour(shown, console::colors_enabled()));
    if hidden > 0 {
        printer.line(format!(
            "... {hidden} more diff {}: `memsafe init --diff` shows all of them, `--dry-run` writes nothing",
            if hidden == 1 { "line" } else { "lines" }
        ));
    }
}

/// `create`, `update` or `delete`.
fn verb(change: &FileChange) -> &'static str {
    match (&change.before, &change.after) {
        (None, _) => "create",
        (_, None) => "delete",
        _ => "update",
    }
}

/// The list: one line per file, with the keys that change in it.
pub(crate) fn summary(pending: &[&FileChange]) -> String {
    let width = pending
        .iter()
        .map(|change| change.display.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "{} {}:\n",
        pending.len(),
        if pending.len() == 1 {
            "file changes"
        } else {
            "files change"
        }
    );
    for change in pending {
        out.push_str(&format!(
            "  {} {:width$}  {}\n",
            verb(change),
            change.display,
            what_changes(change)
        ));
    }
    out.trim_end().to_string()
}

/// A few words on what changes in one file: its keys, or what the whole file is.
pub(crate) fn what_changes(change: &FileChange) -> String {
    if change.is_record {
        return "the answers, this machine and how to undo".into();
    }
    if change.is_whole_file() {
        return "the test-safe script".into();
    }
    let keys: Vec<String> = change
        .keys
        .iter()
        .map(|key| {
            if key.after.is_none() {
                format!("{} (removed)", key.key)
            } else {
                key.key.clone()
            }
        })
        .collect();
    match keys.len() {
        0 => "formatting only".into(),
        n if n <= KEYS_SHOWN => keys.join(", "),
        n => format!(
            "{} and {} more",
            keys[..KEYS_SHOWN - 1].join(", "),
            n - (KEYS_SHOWN - 1)
        ),
    }
}

/// The first `budget` lines of `diff`, and how many lines were left out.
pub(crate) fn cut(diff: &str, budget: usize) -> (&str, usize) {
    let total = diff.lines().count();
    if total <= budget {
        return (diff, 0);
    }
    // Keep one line of the budget for the "more lines" note.
    let keep = budget.saturating_sub(1).max(1);
    let end = diff
        .match_indices('\n')
        .nth(keep - 1)
        .map_or(diff.len(), |(index, _)| index + 1);
    (&diff[..end], total - keep)
}

/// The diff with added lines green, removed lines red and hunk headers cyan, when `on`.
pub(crate) fn colour(diff: &str, on: bool) -> String {
    if !on {
        return diff.to_string();
    }
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let styled = if body.starts_with("+++") || body.starts_with("---") {
            style(body).bold().force_styling(true).to_string()
        } else if body.starts_with('+') {
            style(body).green().force_styling(true).to_string()
        } else if body.starts_with('-') {
            style(body).red().force_styling(true).to_string()
        } else if body.starts_with("@@") {
            style(body).cyan().force_styling(true).to_string()
        } else {
            body.to_string()
        };
        out.push_str(&styled);
        out.push_str(end);
    }
    out
}

/// The height of the terminal the questions are asked on (stdout, else stderr).
fn terminal_rows() -> Option<usize> {
    console::Term::stdout()
        .size_checked()
        .or_else(|| console::Term::stderr().size_checked())
        .map(|(rows, _)| usize::from(rows))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn change(display: &str, before: Option<&str>, keys: &[&str]) -> FileChange {
        FileChange {
            path: PathBuf::from(display),
            display: display.into(),
            before: before.map(str::to_string),
            after: Some(String::new()),
            executable: false,
            is_record: false,
            create_dirs: vec![],
            remove_dirs: vec![],
            meta: None,
            keys: keys
                .iter()
                .map(|key| crate::change::KeyDiff {
                    key: (*key).into(),
                    before: None,
                    after: Some("1".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn the_list_names_the_files_and_their_keys() {
        let config = change(
            ".cargo/config.toml",
            None,
            &["build.jobs", "env.RUST_TEST_THREADS"],
        );
        let manifest = change("Cargo.toml", Some(""), &["profile.dev.debug"]);
        let script = change("test-safe.sh", None, &[crate::sync::WHOLE_FILE]);
        let list = summary(&[&config, &manifest, &script]);
        assert_eq!(
            list,
            "3 files change:\n  create .cargo/config.toml  build.jobs, env.RUST_TEST_THREADS\n  \
             update Cargo.toml          profile.dev.debug\n  create test-safe.sh        the test-safe script"
        );
        assert_eq!(summary(&[&script]).lines().next(), Some("1 file changes:"));
    }

    #[test]
    fn many_keys_are_counted() {
        let many = change("Cargo.toml", None, &["a.k1", "a.k2", "a.k3", "a.k4", "a.k5"]);
        assert_eq!(what_changes(&many), "a.k1, a.k2, a.k3 and 2 more");
    }

    #[test]
    fn the_diff_is_cut_to_the_budget() {
        let diff = "1\n2\n3\n4\n5\n";
        assert_eq!(cut(diff, 10), (diff, 0));
        assert_eq!(cut(diff, 5), (diff, 0));
        assert_eq!(cut(diff, 4), ("1\n2\n3\n", 2));
    }

    #[test]
    fn added_lines_are_green_and_removed_red() {
        let diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same\n";
        assert_eq!(colour(diff, false), diff);
        let coloured = colour(diff, true);
        assert!(coloured.contains("\u{1b}[31m-old\u{1b}[0m\n"), "{coloured:?}");
        assert!(coloured.contains("\u{1b}[32m+new\u{1b}[0m\n"), "{coloured:?}");
        assert!(coloured.ends_with("\n same\n"), "{coloured:?}");
    }
}
