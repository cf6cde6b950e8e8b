//! The files memsafe reads and would write for a plan: computed in full, written by nobody
//! here. Reading is IO; the merges it calls are pure.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::change::{FileChange, Kind};
use crate::error::UsageError;
use crate::hardware::format_size;
use crate::merge::text::Shape;
use crate::merge::{self, MergeError};
use crate::plan::Plan;
use crate::project::Project;
use crate::record::{self, FileUndo, Managed, Record};
use crate::render::{self, Templates};
use crate::undo;

/// Files larger than this are not a configuration file memsafe should parse.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// The note on a script of the user's that has memsafe's file name.
const LEFT_ALONE: &str = "left alone: this file was not written by memsafe";

/// The first line(s) that mark a script as memsafe's own, safe to overwrite.
const SCRIPT_MARK: &str = "# Written by memsafe";

/// Every file change for `plan` in `project`, memsafe.toml last. Reads the files; writes nothing.
/// `previous` is the current record, whose undo information is carried forward.
pub fn changes(
    project: &Project,
    plan: &Plan,
    templates: &Templates,
    previous: Option<&Record>,
) -> Result<Vec<FileChange>> {
    let root = &project.root;
    let mut changes = Vec::new();
    let mut managed = Vec::new();

    // Cargo.toml: the profile keys, and a misplaced `[build] jobs` taken out.
    let manifest = root.join("Cargo.toml");
    let before = read_existing(root, &manifest)?.context("the root Cargo.toml disappeared")?;
    let generated = templates.render(render::CARGO_PROFILE, plan);
    let mut after = merge_toml(root, &manifest, &before, &generated)?;
    let mut notes = Vec::new();
    if let Some(removed) =
        merge::toml::remove(&after, &["build", "jobs"]).map_err(|e| bad_file(root, &manifest, &e))?
    {
        after = removed;
        notes.push(
            "took out `[build] jobs`: cargo ignores a `[build]` table in Cargo.toml (\"unused manifest key\"); \
             the job count now lives in .cargo/config.toml"
                .to_string(),
        );
    }
    if let Ok(document) = merge::toml::parse(&merge::text::Shape::of(&after).1)
        && document.get("build").is_some()
    {
        notes.push(
            "a `[build]` table is still in Cargo.toml, where cargo ignores it; memsafe left its other keys \
             alone (moving them to .cargo/config.toml would switch on settings that were never in effect)"
                .to_string(),
        );
    }
    managed.push(Managed {
        name: "Cargo.toml".into(),
        keys: merge::toml::leaf_paths(&generated),
    });
    changes.push(change(root, manifest, Some(before), after, Kind::Toml, notes));

    // .cargo/config.toml, or the legacy .cargo/config that cargo reads first (REFERENCE.md A1).
    let legacy = root.join(".cargo/config");
    let config = if legacy.is_file() {
        legacy
    } else {
        root.join(".cargo/config.toml")
    };
    let generated = templates.render(render::CARGO_CONFIG, plan);
    let config_before = read_existing(root, &config)?;
    let (config_after, notes) = match &config_before {
        Some(text) => {
            let notes = if config.ends_with("config") {
                vec!["edited the legacy `.cargo/config`: cargo reads it instead of `config.toml`".to_string()]
            } else {
                Vec::new()
            };
            (merge_toml(root, &config, text, &generated)?, notes)
        }
        None => (generated.clone(), Vec::new()),
    };
    managed.push(Managed {
        name: display(root, &config),
        keys: merge::toml::leaf_paths(&generated),
    });
    changes.push(change(
        root,
        config,
        config_before,
        config_after,
        Kind::Toml,
        notes,
    ));

    // No editor-neutral `rust-analyzer.toml`: rust-analyzer's docs call it "work in progress,
    // many configuration options aren't supported yet" (rust-lang/rust-analyzer#20799,
    // docs/book/src/configuration.md), and its config.rs puts numThreads and cachePriming.*
    // in the `client` section, "Configs that only make sense when they are set by a client",
    // so that file could not carry the limits that matter here.
    let editors = plan.answers.editors;
    let editor_files = [
        (
            editors.vscode,
            ".vscode/settings.json",
            render::VSCODE_SETTINGS,
            Some(merge::jsonc::Style::Vscode),
        ),
        (
            editors.zed,
            ".zed/settings.json",
            render::ZED_SETTINGS,
            Some(merge::jsonc::Style::Nested),
        ),
        (
            editors.helix,
            ".helix/languages.toml",
            render::HELIX_LANGUAGES,
            None,
        ),
    ];
    for (wanted, name, template, json_style) in editor_files {
        if !wanted {
            continue;
        }
        let path = root.join(name);
        let generated = templates.render(template, plan);
        let before = read_existing(root, &path)?;
        let (after, notes, kind, keys) = match json_style {
            Some(style) => {
                let (after, notes) = match &before {
                    Some(text) => {
                        let merged = merge::jsonc::merge_styled(text, &generated, style)
                            .map_err(|e| bad_file(root, &path, &e))?;
                        (merged.text, merged.notes)
                    }
                    None => (generated.clone(), Vec::new()),
                };
                (after, notes, Kind::Jsonc, merge::jsonc::key_paths(&generated))
            }
            None => {
                let after = match &before {
                    Some(text) => merge_toml(root, &path, text, &generated)?,
                    None => generated.clone(),
                };
                (after, Vec::new(), Kind::Toml, merge::toml::leaf_paths(&generated))
            }
        };
        managed.push(Managed {
            name: name.into(),
            keys,
        });
        changes.push(change(root, path, before, after, kind, notes));
    }

    let scripts = [
        (
            plan.answers.scripts.sh(),
            "test-safe.sh",
            render::TEST_SH,
            Kind::Executable,
        ),
        (
            plan.answers.scripts.ps1(),
            "test-safe.ps1",
            render::TEST_PS1,
            Kind::Whole,
        ),
    ];
    for (wanted, name, template, kind) in scripts {
        if !wanted {
            continue;
        }
        let path = root.join(name);
        let before = read_existing(root, &path)?;
        if let Some(text) = &before
            && !text.lines().take(3).any(|line| line.starts_with(SCRIPT_MARK))
        {
            let note = LEFT_ALONE.to_string();
            changes.push(change(root, path, before.clone(), text.clone(), kind, vec![note]));
            continue;
        }
        managed.push(Managed {
            name: name.into(),
            keys: vec![WHOLE_FILE.into()],
        });
        changes.push(change(
            root,
            path,
            before,
            templates.render(template, plan),
            kind,
            Vec::new(),
        ));
    }

    let undo = undo_entries(&mut changes, previous);
    let record_path = root.join(record::FILE);
    let before = read_existing(root, &record_path)?;
    let after = record::render(templates, plan, &managed, &undo, before.as_deref());
    changes.push(change(root, record_path, before, after, Kind::Record, Vec::new()));
    Ok(changes)
}

/// What `memsafe remove` will need after these changes: for each file memsafe touches, the
/// hunks between the original (before memsafe first touched it) and the new content. Files
/// touched before but not now keep their entry.
fn undo_entries(changes: &mut [FileChange], previous: Option<&Record>) -> Vec<FileUndo> {
    let previous_undo = previous.map(|r| r.undo.as_slice()).unwrap_or_default();
    let mut out = Vec::new();
    for change in changes.iter_mut() {
        let earlier = previous_undo.iter().find(|u| u.file == change.display);
        // A file of the user's that memsafe did not touch has nothing to undo, even where an
        // earlier run had created a file of that name.
        let left_alone = change.notes.iter().any(|n| n == LEFT_ALONE);
        if left_alone {
            continue;
        }
        let original: Option<String> = match (earlier, &change.before) {
            (Some(entry), _) if entry.created => None,
            (_, None) => None,
            (Some(entry), Some(before)) => {
                let (shape, body) = Shape::of(before);
                match undo::unpatch(&body, &entry.hunks) {
                    Ok(original) => Some(shape.restore(&original)),
                    Err(_) => {
                        change.notes.push(
                            "memsafe's earlier lines were edited by hand: `memsafe remove` will now restore \
                             this file as it is before this run"
                                .into(),
                        );
                        Some(before.clone())
                    }
                }
            }
            (None, Some(before)) => Some(before.clone()),
        };
        let entry = match original {
            None => FileUndo {
                file: change.display.clone(),
                created: true,
                hunks: Vec::new(),
            },
            Some(original) => {
                let hunks = undo::hunks(&Shape::of(&original).1, &Shape::of(&change.after).1);
                if hunks.is_empty() {
                    continue;
                }
                FileUndo {
                    file: change.display.clone(),
                    created: false,
                    hunks,
                }
            }
        };
        out.push(entry);
    }
    for entry in previous_undo {
        if !out.iter().any(|u| u.file == entry.file) && !changes.iter().any(|c| c.display == entry.file) {
            out.push(entry.clone());
        }
    }
    out
}

/// How a managed script is named in memsafe.toml: memsafe owns the whole file.
pub const WHOLE_FILE: &str = "(whole file)";

/// Reads memsafe.toml: `None` when there is none; a usage error naming the line and key when
/// it is broken.
pub fn load_record(project: &Project) -> Result<Option<Record>> {
    let path = project.root.join(record::FILE);
    let Some(text) = read_existing(&project.root, &path)? else {
        return Ok(None);
    };
    record::parse(&text).map(Some).map_err(|error| {
        UsageError::new(format!(
            "cannot read `{}`: {error}; nothing was written",
            record::FILE
        ))
        .with_help("fix it by hand, or delete it and run `memsafe init` again")
        .into()
    })
}

fn change(
    root: &Path,
    path: PathBuf,
    before: Option<String>,
    after: String,
    kind: Kind,
    notes: Vec<String>,
) -> FileChange {
    FileChange {
        display: display(root, &path),
        path,
        before,
        after,
        kind,
        notes,
    }
}

pub fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn merge_toml(root: &Path, path: &Path, before: &str, generated: &str) -> Result<String> {
    merge::toml::merge(before, generated).map_err(|error| bad_file(root, path, &error))
}

fn bad_file(root: &Path, path: &Path, error: &MergeError) -> anyhow::Error {
    let help = match error {
        MergeError::Syntax { .. } => {
            "fix the file (or restore it from version control), then run memsafe again"
        }
        MergeError::WrongType { .. } => "memsafe only edits files whose shape cargo and VS Code accept",
    };
    UsageError::new(format!(
        "cannot edit `{}`: {error}; nothing was written",
        display(root, path)
    ))
    .with_help(help)
    .into()
}

/// Reads a file memsafe will edit: `None` when it does not exist; a usage error when it is a
/// folder, too large, or not UTF-8.
pub fn read_existing(root: &Path, path: &Path) -> Result<Option<String>> {
    let shown = display(root, path);
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read `{shown}`")),
    };
    if metadata.is_dir() {
        return Err(UsageError::new(format!("`{shown}` is a folder, where memsafe expects a file")).into());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(UsageError::new(format!(
            "`{shown}` is {}, too large for a configuration file; nothing was written",
            format_size(metadata.len())
        ))
        .into());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{shown}`"))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(error) => {
            let offset = error.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&error.as_bytes()[..offset]);
            let (line, column) = merge::line_column(&valid, offset);
            Err(UsageError::new(format!(
                "`{shown}` is not UTF-8 text (line {line}, column {column}); nothing was written"
            ))
            .into())
        }
    }
}
