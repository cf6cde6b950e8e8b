//! The changeset: every file change for a plan (or for `remove`), computed in full from the
//! files as they are and the record, written by nobody here. Reading is IO at the edge; the
//! decisions are [`crate::sync`]'s, which is pure.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::change::FileChange;
use crate::error::UsageError;
use crate::merge::MergeError;
use crate::owned::{self, FileId, Format, Want};
use crate::plan::{Overrides, Plan};
use crate::project::Project;
use crate::record::{self, FileRecord, Record};
use crate::render::{self, Templates};
use crate::sync::{self, Event, Synced};

/// What a run does.
pub(crate) enum Goal<'a> {
    /// Bring every file to this plan.
    Plan(&'a Plan, Overrides),
    /// Give every file back (`memsafe remove`).
    Remove,
}

/// Every change a run makes, memsafe.toml first.
pub(crate) struct Changeset {
    pub changes: Vec<FileChange>,
    /// What happened, file by file, that the user should hear about.
    pub events: Vec<(String, Event)>,
}

impl Changeset {
    /// The changes that write something.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &FileChange> {
        self.changes.iter().filter(|c| !c.is_noop())
    }

    /// Whether a file of the user's (not memsafe.toml) changes.
    pub(crate) fn touches_user_files(&self) -> bool {
        self.pending().any(|c| !c.is_record)
    }
}

/// The CargoConfig file cargo reads: the legacy `.cargo/config` when it exists.
pub(crate) fn cargo_config_path(root: &Path) -> &'static str {
    if root.join(".cargo/config").is_file() {
        ".cargo/config"
    } else {
        ".cargo/config.toml"
    }
}

/// Computes the changeset. Reads files; writes nothing.
pub(crate) fn changeset(
    project: &Project,
    goal: &Goal<'_>,
    templates: &Templates,
    previous: Option<&Record>,
) -> Result<Changeset> {
    let root = &project.root;
    let wants = match goal {
        Goal::Plan(plan, _) => owned::wants(plan),
        Goal::Remove => owned::registry()
            .into_iter()
            .map(|key| (key, Want::Release))
            .collect(),
    };
    let recorded = previous.map(|r| r.files.as_slice()).unwrap_or_default();

    // The files to look at: each file's current path, and any other path a record names.
    // Each target: the file, its path, whether the plan applies to it, and the record entry
    // that describes it (its own, or the other name's when the user renamed the file).
    let mut targets: Vec<(FileId, String, bool, Option<&FileRecord>)> = Vec::new();
    for id in FileId::ALL {
        let current = if id == FileId::CargoConfig {
            cargo_config_path(root)
        } else {
            id.path()
        };
        let active = matches!(goal, Goal::Plan(..));
        let own = recorded.iter().find(|f| f.path == current);
        // `.cargo/config` renamed to `.cargo/config.toml` (as cargo's warning asks) or back:
        // the record of the old name, whose file is gone, describes the new one.
        let renamed = own.is_none().then(|| {
            recorded.iter().find(|f| {
                f.path != current && FileId::from_path(&f.path) == Some(id) && !root.join(&f.path).exists()
            })
        });
        let previous = own.or(renamed.flatten());
        if active || previous.is_some() {
            targets.push((id, current.to_string(), active, previous));
        }
        for other in recorded.iter().filter(|f| {
            f.path != current
                && FileId::from_path(&f.path) == Some(id)
                && previous.is_none_or(|p| p.path != f.path)
        }) {
            targets.push((id, other.path.clone(), false, Some(other)));
        }
    }
    // Members' configs: those a fix takes `build.jobs` out of, and those memsafe did before.
    let members_out: &[String] = match goal {
        Goal::Plan(plan, _) => &plan.members_out,
        Goal::Remove => &[],
    };
    for path in members_out {
        if FileId::from_path(path) == Some(FileId::MemberConfig) {
            targets.push((
                FileId::MemberConfig,
                path.clone(),
                true,
                recorded.iter().find(|f| f.path == *path),
            ));
        }
    }
    for file in recorded.iter().filter(|f| {
        FileId::from_path(&f.path) == Some(FileId::MemberConfig) && !members_out.contains(&f.path)
    }) {
        targets.push((FileId::MemberConfig, file.path.clone(), false, Some(file)));
    }
    // Two managed names that lead to one file (a link) would be edited twice.
    let mut seen: Vec<(PathBuf, String)> = Vec::new();
    for (_, path, _, _) in &targets {
        let full = root.join(path);
        if let Ok(canonical) = full.canonicalize() {
            if let Some((_, other)) = seen.iter().find(|(c, _)| *c == canonical) {
                return Err(UsageError::new(format!(
                    "`{other}` and `{path}` are the same file (a link): memsafe cannot manage it twice; \
                     nothing was written"
                ))
                .into());
            }
            seen.push((canonical, path.clone()));
        }
    }

    let mut changes = Vec::new();
    let mut events = Vec::new();
    let mut files: Vec<FileRecord> = Vec::new();
    for (id, path, active, previous_file) in targets {
        let (full, before) = read_inside(root, &path)?;
        let synced = match id.format() {
            Format::Script { .. } => {
                let wanted = match goal {
                    Goal::Plan(plan, _) if active && owned::script_wanted(plan, id) => {
                        Some(templates.render(
                            if id == FileId::TestSh {
                                render::TEST_SH
                            } else {
                                render::TEST_PS1
                            },
                            plan,
                        ))
                    }
                    _ => None,
                };
                sync::script(&path, before.as_deref(), previous_file, wanted.as_deref())
            }
            format => {
                let file_wants: Vec<(owned::Key, Want)> = wants
                    .iter()
                    .filter(|(key, _)| key.file == id)
                    .map(|(key, want)| {
                        let want = match (active, id) {
                            (false, _) => Want::Release,
                            // A member's config is only ever a fix's: take `build.jobs` out.
                            (true, FileId::MemberConfig) => Want::Delete,
                            (true, _) => want.clone(),
                        };
                        (key.clone(), want)
                    })
                    .collect();
                let preset = match goal {
                    Goal::Plan(plan, _) => plan.answers.preset.as_str(),
                    Goal::Remove => "",
                };
                let set: Vec<(Vec<String>, Value)> = file_wants
                    .iter()
                    .filter_map(|(key, want)| match want {
                        Want::Set(value) => Some((key.path.clone(), value.clone())),
                        _ => None,
                    })
                    .collect();
                let new_file = || match format {
                    Format::Jsonc => owned::json_text(&Value::Object(owned::nested(&set))),
                    _ => templates.render_toml(
                        if id == FileId::Helix {
                            render::HELIX_LANGUAGES
                        } else {
                            render::CARGO_CONFIG
                        },
                        preset,
                        &set,
                    ),
                };
                let header = match id {
                    FileId::CargoConfig => templates.render_toml(render::CARGO_CONFIG, preset, &[]),
                    FileId::Helix => templates.render_toml(render::HELIX_LANGUAGES, preset, &[]),
                    _ => String::new(),
                };
                let header = header
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n");
                let target = sync::Target {
                    file: id,
                    path: &path,
                    before: before.as_deref(),
                    previous: previous_file,
                    removing: matches!(goal, Goal::Remove),
                };
                sync::keyed(target, &file_wants, id == FileId::Vscode, &new_file, &header)
                    .map_err(|error| bad_file(&path, &error))?
            }
        };
        let Synced {
            after,
            record,
            events: file_events,
            diffs,
        } = synced;
        events.extend(file_events.into_iter().map(|e| (path.clone(), e)));
        // The fix took `jobs` out of Cargo.toml's `[build]` in this run, and other keys stay.
        let took_jobs = diffs
            .iter()
            .any(|d| d.key == "build.jobs" && d.before.is_some() && d.after.is_none());
        if id == FileId::Manifest
            && took_jobs
            && let Some(after) = &after
            && crate::merge::toml::TomlDoc::parse(after).is_ok_and(|d| d.table_exists(&["build".to_string()]))
        {
            events.push((
                path.clone(),
                Event::Note(
                    "a `[build]` table is still in Cargo.toml, where cargo ignores it; memsafe left its other \
                     keys alone (moving them to .cargo/config.toml would switch on settings that were never in \
                     effect)"
                        .into(),
                ),
            ));
        }
        if path == ".cargo/config" && active && before.is_some() && before != after {
            events.push((
                path.clone(),
                Event::Note(
                    "edited the legacy `.cargo/config`: cargo reads it instead of `config.toml`".into(),
                ),
            ));
        }
        // Folders: those a new file needs are created and recorded; those memsafe created go
        // with the file when empty.
        let mut create_dirs = Vec::new();
        let mut dirs: Vec<String> = previous_file.map(|f| f.dirs.clone()).unwrap_or_default();
        if before.is_none() && after.is_some() {
            for folder in owned::parent_dirs(&path) {
                if !root.join(&folder).exists() {
                    create_dirs.push(root.join(&folder));
                    if !dirs.contains(&folder) {
                        dirs.push(folder);
                    }
                }
            }
        }
        let remove_dirs = if after.is_none() && before.is_some() {
            dirs.iter().rev().map(|d| root.join(d)).collect()
        } else {
            Vec::new()
        };
        if let Some(mut record) = record {
            record.dirs = dirs;
            files.push(record);
        }
        let meta = crate::change::FileMeta::of(&full);
        changes.push(FileChange {
            path: full,
            display: path.clone(),
            before,
            after,
            executable: matches!(id.format(), Format::Script { executable: true }),
            is_record: false,
            create_dirs,
            remove_dirs,
            keys: diffs,
            meta,
        });
    }

    // memsafe.toml: first, so that the undo data is written before the files it undoes.
    let (record_full, record_before) = read_inside(root, record::FILE)?;
    let record = match goal {
        Goal::Plan(plan, overrides) => Some(Record::new(plan, *overrides, files)),
        Goal::Remove => None,
    };
    let record_after = record
        .as_ref()
        .map(|r| record::render(r, record_before.as_deref()));
    // An unchanged plan rewrites nothing, not even the record's formatting.
    let record_after = match (&record_before, &record_after, previous, &record) {
        (Some(text), Some(_), Some(old), Some(new)) if old == new => Some(text.clone()),
        _ => record_after,
    };
    let record_meta = crate::change::FileMeta::of(&record_full);
    changes.insert(
        0,
        FileChange {
            path: record_full,
            display: record::FILE.into(),
            before: record_before,
            after: record_after,
            executable: false,
            is_record: true,
            create_dirs: Vec::new(),
            remove_dirs: Vec::new(),
            keys: Vec::new(),
            meta: record_meta,
        },
    );
    Ok(Changeset { changes, events })
}

/// Reads memsafe.toml: `None` when there is none; a usage error naming the line and key when
/// it is broken or names anything memsafe does not own.
pub(crate) fn load_record(project: &Project) -> Result<Option<Record>> {
    let (_, text) = read_inside(&project.root, record::FILE)?;
    let Some(text) = text else {
        return Ok(None);
    };
    record::parse(&text).map(Some).map_err(|error| {
        UsageError::new(format!(
            "cannot read `{}`: {error}; nothing was written",
            record::FILE
        ))
        .with_help("fix it by hand, or restore it from version control")
        .into()
    })
}

fn bad_file(display: &str, error: &MergeError) -> anyhow::Error {
    let help = match error {
        MergeError::Syntax { .. } => {
            "fix the file (or restore it from version control), then run memsafe again"
        }
        MergeError::WrongType { .. } => "memsafe only edits files whose shape cargo and the editors accept",
    };
    UsageError::new(format!("cannot edit `{display}`: {error}; nothing was written"))
        .with_help(help)
        .into()
}

pub(crate) fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Where `relative` finally leads, checked to stay inside the project: a symlink is followed
/// only to a target inside the project; a dangling link, or one that leads out, is a usage
/// error. Returns the path to read and write, and the file's text (`None`: no file).
pub(crate) fn read_inside(root: &Path, relative: &str) -> Result<(PathBuf, Option<String>)> {
    let target = resolve_inside(root, relative)?;
    let text = crate::read::read_existing(relative, &target)?;
    Ok((target, text))
}

fn resolve_inside(root: &Path, relative: &str) -> Result<PathBuf> {
    let outside = |what: &str| -> anyhow::Error {
        UsageError::new(format!(
            "`{relative}` {what}; memsafe only writes inside the project, nothing was written"
        ))
        .with_help("replace the link with a file, or point it inside the project")
        .into()
    };
    let canonical_root = root
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", root.display()))?;
    let mut current = root.join(relative);
    for _ in 0..32 {
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)
                    .with_context(|| format!("cannot read the link `{relative}`"))?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(_) => {
                let canonical = current
                    .canonicalize()
                    .with_context(|| format!("cannot resolve `{relative}`"))?;
                if !canonical.starts_with(&canonical_root)
                    || canonical.starts_with(canonical_root.join(".git"))
                {
                    return Err(outside(&format!(
                        "leads to `{}`, outside the project's own files",
                        canonical.display()
                    )));
                }
                return Ok(canonical);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if current != root.join(relative) {
                    return Err(outside(&format!(
                        "is a link to `{}`, which does not exist",
                        current.display()
                    )));
                }
                // No file: its nearest existing folder must be inside the project (a folder
                // may itself be a link).
                let mut folder = current.parent().map(Path::to_path_buf).unwrap_or_default();
                while !folder.exists() {
                    if std::fs::symlink_metadata(&folder).is_ok() {
                        return Err(outside(&format!(
                            "is in `{}`, a link that leads nowhere",
                            folder.display()
                        )));
                    }
                    if !folder.pop() {
                        break;
                    }
                }
                let canonical = folder
                    .canonicalize()
                    .with_context(|| format!("cannot resolve `{}`", folder.display()))?;
                if !canonical.starts_with(&canonical_root) {
                    return Err(outside(&format!(
                        "is in `{}`, outside the project",
                        canonical.display()
                    )));
                }
                return Ok(current);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(UsageError::new(format!(
                    "cannot use `{relative}`: a file stands where memsafe expects a folder; nothing was written"
                ))
                .into());
            }
            Err(error) => return Err(error).with_context(|| format!("cannot read `{relative}`")),
        }
    }
    Err(outside("is a chain of more than 32 links"))
}
