//! `memsafe remove`: undo memsafe. Every file memsafe changed gets its original lines back
//! (recorded in memsafe.toml's `[[undo]]`); files memsafe created lose memsafe's keys and are
//! deleted when nothing else is left in them; scripts memsafe wrote are deleted; memsafe.toml
//! goes last. Either everything can be undone, or nothing is written.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::change::{FileChange, Kind};
use crate::cli::RemoveArgs;
use crate::error::UsageError;
use crate::files::{self, WHOLE_FILE};
use crate::init::start_dir;
use crate::merge::text::Shape;
use crate::record::{self, Record};
use crate::{merge, project, ui, undo, write};

/// What `remove` will do to one file.
enum Step {
    /// Write this content back.
    Restore(FileChange),
    /// Delete the file (and its folder when memsafe's file was all it held).
    Delete {
        path: PathBuf,
        display: String,
        before: String,
    },
}

/// `memsafe remove`.
pub fn remove(args: &RemoveArgs) -> Result<()> {
    let project = project::find(&start_dir(args.dir.as_ref())?)?;
    let _lock = if args.dry_run {
        None
    } else {
        Some(crate::lock::acquire(&project.root)?)
    };
    let Some(record) = files::load_record(&project)? else {
        return Err(UsageError::new(format!(
            "no {} in `{}`: memsafe has nothing to undo here",
            record::FILE,
            project.root.display()
        ))
        .into());
    };
    let root = &project.root;
    let mut steps = Vec::new();
    let mut unmatched = Vec::new();
    for entry in &record.undo {
        let path = root.join(&entry.file);
        let Some(current) = files::read_existing(root, &path)? else {
            ui::note(format!("{}: already gone", entry.file));
            continue;
        };
        if entry.created {
            steps.push(strip_created(&record, &entry.file, path, current)?);
            continue;
        }
        let (shape, body) = Shape::of(&current);
        match undo::unpatch(&body, &entry.hunks) {
            Ok(original) => steps.push(Step::Restore(FileChange {
                path,
                display: entry.file.clone(),
                before: Some(current.clone()),
                after: shape.restore(&original),
                kind: Kind::Whole,
                notes: Vec::new(),
            })),
            Err(missing) => {
                for hunk in missing {
                    let lines: Vec<String> = hunk
                        .added
                        .iter()
                        .map(|line| line.trim_end())
                        .filter(|line| !line.is_empty())
                        .map(|line| format!("`{line}`"))
                        .collect();
                    unmatched.push(format!(
                        "{}: memsafe's lines near line {} were changed since it wrote them: {}",
                        entry.file,
                        hunk.line,
                        lines.join(", ")
                    ));
                }
            }
        }
    }
    if !unmatched.is_empty() {
        return Err(UsageError::new(format!(
            "cannot undo everything memsafe did; nothing was written:\n  {}",
            unmatched.join("\n  ")
        ))
        .with_help(
            "put those lines back as memsafe wrote them (or undo them by hand and delete memsafe.toml)",
        )
        .into());
    }
    let record_path = root.join(record::FILE);
    let record_text = files::read_existing(root, &record_path)?.unwrap_or_default();
    steps.push(Step::Delete {
        path: record_path,
        display: record::FILE.into(),
        before: record_text,
    });

    if args.dry_run {
        for step in &steps {
            ui::data(match step {
                Step::Restore(change) => change.unified_diff(),
                Step::Delete { display, before, .. } => deletion_diff(display, before),
            });
        }
        ui::status("Dry run", "nothing was written");
        return Ok(());
    }

    let restores: Vec<FileChange> = steps
        .iter()
        .filter_map(|s| {
            if let Step::Restore(c) = s {
                Some(c.clone())
            } else {
                None
            }
        })
        .collect();
    write::preflight(&restores)?;
    write::apply(&restores)?;
    for change in restores.iter().filter(|c| !c.is_noop()) {
        ui::status("Restored", &change.display);
    }
    for step in &steps {
        if let Step::Delete { path, display, .. } = step {
            std::fs::remove_file(path).with_context(|| format!("cannot delete `{display}`"))?;
            // A folder memsafe's file was the only thing in (.cargo, .vscode) goes too.
            if let Some(parent) = path.parent()
                && parent != root.as_path()
                && std::fs::read_dir(parent).is_ok_and(|mut d| d.next().is_none())
            {
                let _ = std::fs::remove_dir(parent);
            }
            ui::status("Deleted", display);
        }
    }
    Ok(())
}

/// A file memsafe created: memsafe's keys go; the file goes when nothing else is left in it.
fn strip_created(record: &Record, file: &str, path: PathBuf, current: String) -> Result<Step> {
    let keys: Vec<String> = record
        .managed
        .iter()
        .filter(|m| m.name == file)
        .flat_map(|m| m.keys.clone())
        .collect();
    if keys.iter().any(|k| k == WHOLE_FILE) || keys.is_empty() {
        return Ok(Step::Delete {
            path,
            display: file.into(),
            before: current,
        });
    }
    let bad = |error: merge::MergeError| -> anyhow::Error {
        UsageError::new(format!("cannot edit `{file}`: {error}; nothing was written")).into()
    };
    let json = file.ends_with(".json");
    let stripped = if json {
        merge::jsonc::remove_keys(&current, &keys).map_err(bad)?
    } else {
        let mut text = current.clone();
        for key in &keys {
            let segments: Vec<String> = toml_edit::Key::parse(key)
                .map(|parts| parts.iter().map(|k| k.get().to_string()).collect())
                .unwrap_or_else(|_| vec![key.clone()]);
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            if let Some(next) = merge::toml::remove(&text, &segments).map_err(bad)? {
                text = next;
            }
        }
        text
    };
    if is_empty_config(&stripped, json) {
        return Ok(Step::Delete {
            path,
            display: file.into(),
            before: current,
        });
    }
    Ok(Step::Restore(FileChange {
        path,
        display: file.into(),
        before: Some(current),
        after: stripped,
        kind: Kind::Whole,
        notes: Vec::new(),
    }))
}

/// Nothing but comments, blank lines, `{}` or empty tables is left.
fn is_empty_config(text: &str, json: bool) -> bool {
    if json {
        merge::jsonc::values(text).is_empty()
    } else {
        merge::toml::leaves(text).is_empty()
    }
}

fn deletion_diff(display: &str, before: &str) -> String {
    let change = FileChange {
        path: PathBuf::from(display),
        display: display.into(),
        before: Some(before.into()),
        after: String::new(),
        kind: Kind::Whole,
        notes: Vec::new(),
    };
    change
        .unified_diff()
        .replacen(&format!("+++ b/{display}"), "+++ /dev/null", 1)
}
