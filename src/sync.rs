//! Brings one file to what the plan wants, key by key, and says what memsafe owns in it
//! afterwards. Pure: text and record in, text and record out.
//!
//! The rules, for every registered key (see [`crate::owned`]):
//! - a key the plan sets gets memsafe's value; the first time, the user's entry (its value
//!   text, or "absent") is recorded as the original;
//! - a key the plan releases goes back to its original, wherever the key now sits, unless the
//!   user changed memsafe's value by hand since: then the user's value stays, and is named;
//! - a key the plan deletes (a misplaced key of the user's) is taken out, the whole entry
//!   recorded, and put back after the key that was before it when released.
//!
//! Tables and objects memsafe created go when they are empty; a file memsafe created goes when
//! nothing but memsafe's keys was in it. A script is rewritten or deleted only while its bytes
//! are exactly what memsafe last wrote.

use serde_json::Value;

use crate::merge::MergeError;
use crate::merge::jsonc::JsonDoc;
use crate::merge::toml::{Deleted, TomlDoc};
use crate::owned::{FileId, Format, Key, Want, display_path};
use crate::record::{Change, FileRecord, KeyRecord, hash};

/// What happened to a key that the user should hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The user had changed memsafe's value by hand; the plan's value is back.
    Overwrote { key: String, was: String },
    /// Released, but the user had changed memsafe's value by hand: theirs stays.
    KeptEdit { key: String, value: String },
    /// A note about the file (a renamed setting, a script left alone).
    Note(String),
}

/// The [`KeyDiff::key`] of a file memsafe owns whole (a script).
pub const WHOLE_FILE: &str = "(whole file)";

/// One value that differs between the file and the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDiff {
    pub key: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The result for one file.
#[derive(Clone, Debug, PartialEq)]
pub struct Synced {
    /// The new content; `None` when the file is (or stays) gone.
    pub after: Option<String>,
    /// What memsafe owns in it now; `None` when nothing.
    pub record: Option<FileRecord>,
    pub events: Vec<Event>,
    pub diffs: Vec<KeyDiff>,
}

enum Doc {
    Toml(TomlDoc),
    Json(JsonDoc),
}

impl Doc {
    fn parse(format: Format, text: &str) -> Result<Doc, MergeError> {
        Ok(match format {
            Format::Jsonc => Doc::Json(JsonDoc::parse(text)?),
            _ => Doc::Toml(TomlDoc::parse(text)?),
        })
    }

    fn get(&self, path: &[String]) -> Option<(Value, String)> {
        match self {
            Doc::Toml(doc) => doc.get(path).map(|f| (f.value, f.raw)),
            Doc::Json(doc) => doc.get(path).map(|f| (f.value, f.raw)),
        }
    }

    fn set(
        &mut self,
        path: &[String],
        value: &Value,
        created: &mut Vec<Vec<String>>,
    ) -> Result<bool, MergeError> {
        match self {
            Doc::Toml(doc) => doc.set(path, value, created),
            Doc::Json(doc) => doc.set(path, value, created),
        }
    }

    fn restore(&mut self, path: &[String], raw: &str) -> Result<(), MergeError> {
        match self {
            Doc::Toml(doc) => doc.restore(path, raw),
            Doc::Json(doc) => doc.restore(path, raw),
        }
    }

    /// Takes the key at `path` out; the user's comments on its lines stay, memsafe's own
    /// (lines of `own`, its header in a file it created) go with it.
    fn remove(&mut self, path: &[String], own: &str) {
        match self {
            Doc::Toml(doc) => {
                doc.remove_key(path, own);
            }
            Doc::Json(doc) => {
                doc.remove(path);
            }
        }
    }

    fn remove_empty(&mut self, tables: &[Vec<String>], own: &str) {
        match self {
            Doc::Toml(doc) => doc.remove_empty_tables(tables, own),
            Doc::Json(doc) => doc.remove_empty_objects(tables),
        }
    }

    fn has_no_values(&self) -> bool {
        match self {
            Doc::Toml(doc) => doc.has_no_values(),
            Doc::Json(doc) => doc.has_no_values(),
        }
    }

    fn finish(self) -> String {
        match self {
            Doc::Toml(doc) => doc.finish(),
            Doc::Json(doc) => doc.finish(),
        }
    }
}

/// cargo's wrapper in `.cargo/config.toml`, where memsafe stands with the governor on.
fn wrapper_path() -> Vec<String> {
    ["build", "rustc-wrapper"].map(String::from).to_vec()
}

/// The governor's chained wrapper in `.cargo/config.toml`.
fn chain_path() -> Vec<String> {
    ["env", crate::governor::CHAIN_ENV].map(String::from).to_vec()
}

/// With the governor on, the wrapper a repo had (sccache, say) is moved to the governor's
/// chained wrapper, and memsafe stands in `build.rustc-wrapper`. When the governor goes (`remove`,
/// `--governor off`) after the user changed that chained wrapper by hand, the wrapper they
/// changed it to is the one they want cargo to run: it goes to `build.rustc-wrapper`, where
/// the older original would otherwise come back, and the chained key goes with memsafe.
/// The user's wrapper's TOML text, as they wrote it; `None` unless both keys are released,
/// memsafe's wrapper is still memsafe's, and the chained one is a string of the user's (not
/// empty, not memsafe).
fn moved_wrapper(file: FileId, wants: &[(Key, Want)], old_keys: &[KeyRecord], doc: &Doc) -> Option<String> {
    if file != FileId::CargoConfig {
        return None;
    }
    let from = chain_path();
    let to = wrapper_path();
    let released_set = |path: &[String]| {
        let released = wants.iter().any(|(k, w)| k.path == path && *w == Want::Release);
        let record = old_keys
            .iter()
            .find(|k| k.path == path && k.change == Change::Set);
        released.then_some(record).flatten()
    };
    let (wrapper, chain) = (released_set(&to)?, released_set(&from)?);
    let (wrapper_now, _) = doc.get(&to)?;
    let (chain_now, raw) = doc.get(&from)?;
    let theirs = match (chain_now.as_str(), wrapper.written_value()) {
        // Empty, or memsafe itself, which must not stay cargo's wrapper once it is gone.
        (Some(now), Some(Value::String(ours)))
            if now.trim().is_empty() || crate::current::is_memsafe(now, &ours) =>
        {
            false
        }
        // Changed by hand since memsafe wrote it (a `regen` that kept it keeps it so: see
        // `keyed`).
        (Some(_), _) => Some(&chain_now) != chain.written_value().as_ref(),
        (None, _) => false,
    };
    (theirs && Some(wrapper_now) == wrapper.written_value()).then_some(raw)
}

/// Whether anything but comments that memsafe wrote itself is in `text`: a comment of the
/// user's keeps a file memsafe created.
fn has_user_comments(text: &str, own_header: &str) -> bool {
    text.lines()
        .filter(|line| !own_header.lines().any(|own| own == *line))
        .any(|line| {
            let line = line.trim_start();
            line.starts_with('#') || line.contains("//") || line.contains("/*")
        })
}

/// One file as memsafe finds it.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub file: FileId,
    /// From the project root.
    pub path: &'a str,
    /// The file's text; `None`: it does not exist.
    pub before: Option<&'a str>,
    /// What memsafe owned in it.
    pub previous: Option<&'a FileRecord>,
    /// `memsafe remove`: memsafe gives up everything, the keys a user added back included.
    pub removing: bool,
}

/// Brings a TOML or JSONC file to `wants` (the keys of this file only). `before` is the file
/// (`None`: it does not exist); `previous` what memsafe owned in it; `new_file` renders the
/// file memsafe creates, with every set value in it; `header` is memsafe's own comment in such
/// a file. `migrate` renames old rust-analyzer settings (VS Code).
pub fn keyed(
    target: Target<'_>,
    wants: &[(Key, Want)],
    migrate: bool,
    new_file: &dyn Fn() -> String,
    header: &str,
) -> Result<Synced, MergeError> {
    let Target {
        file,
        path,
        before,
        previous,
        removing,
    } = target;
    let format = file.format();
    let any_set = wants.iter().any(|(_, want)| matches!(want, Want::Set(_)));
    let mut events = Vec::new();
    let Some(before) = before else {
        if !any_set {
            return Ok(Synced {
                after: None,
                record: None,
                events,
                diffs: Vec::new(),
            });
        }
        // A file memsafe creates: every value in it is memsafe's, every table too.
        let text = new_file();
        let doc = Doc::parse(format, &text)?;
        let mut keys = Vec::new();
        let mut tables: Vec<Vec<String>> = Vec::new();
        let mut diffs = Vec::new();
        for (key, want) in wants {
            if let Want::Set(value) = want {
                let written = doc.get(&key.path).map_or_else(|| value.clone(), |(v, _)| v);
                for len in 1..key.path.len() {
                    let prefix = key.path[..len].to_vec();
                    if !tables.contains(&prefix) {
                        tables.push(prefix);
                    }
                }
                diffs.push(KeyDiff {
                    key: key.display(),
                    before: None,
                    after: Some(text_of(&written)),
                });
                keys.push(KeyRecord {
                    path: key.path.clone(),
                    change: Change::Set,
                    original: None,
                    written: Some(text_of(&written)),
                    ..KeyRecord::default()
                });
            }
        }
        return Ok(Synced {
            after: Some(text),
            record: Some(FileRecord {
                path: path.into(),
                created: true,
                dirs: Vec::new(),
                tables,
                blank: None,
                hash: None,
                keys,
            }),
            events,
            diffs,
        });
    };

    let mut doc = Doc::parse(format, before)?;
    // The file as it was, for the containers of keys memsafe adds (before its own edits).
    let pristine = Doc::parse(format, before)?;
    // A file without a single value comes back whole, blank lines and all.
    let blank = match previous {
        Some(p) => p.blank.clone(),
        None => (doc.has_no_values() && before.len() <= crate::record::BLANK_MAX).then(|| before.to_string()),
    };
    let old_keys: &[KeyRecord] = previous.map_or(&[], |p| p.keys.as_slice());
    let releasing_all = wants.iter().all(|(_, w)| *w == Want::Release);
    let mut keys: Vec<KeyRecord> = Vec::new();
    let mut tables: Vec<Vec<String>> = previous.map(|p| p.tables.clone()).unwrap_or_default();
    let mut diffs = Vec::new();

    // Old rust-analyzer names, renamed in place (VS Code only).
    let renames: Vec<&KeyRecord> = old_keys.iter().filter(|k| k.change == Change::Rename).collect();
    if migrate
        && !releasing_all
        && let Doc::Json(json) = &mut doc
    {
        let (renamed, notes) = json.migrate_renamed();
        for rename in renamed {
            events.push(Event::Note(rename.note.clone()));
            diffs.push(KeyDiff {
                key: rename.to.clone(),
                before: Some(format!("{} (as `{}`)", text_of(&rename.value), rename.from)),
                after: Some(text_of(&rename.value)),
            });
            keys.push(KeyRecord {
                path: vec![rename.to],
                change: Change::Rename,
                original: Some(rename.original),
                written: Some(text_of(&rename.value)),
                from: Some(rename.from),
                ..KeyRecord::default()
            });
        }
        events.extend(notes.into_iter().map(Event::Note));
    }
    if !releasing_all {
        keys.extend(renames.iter().map(|r| (*r).clone()));
    }

    let moved = moved_wrapper(file, wants, old_keys, &doc);
    let mut to_reinsert: Vec<(Vec<String>, KeyRecord)> = Vec::new();
    for (key, want) in wants {
        let shown = key.display();
        let previous = old_keys
            .iter()
            .find(|k| k.path == key.path && k.change != Change::Rename);
        let current = doc.get(&key.path);
        let current_value = current.as_ref().map(|(v, _)| v.clone());
        match want {
            Want::Set(value) => {
                let original = match previous {
                    // A wrapper the user wrote in memsafe's place is theirs from now on: memsafe
                    // chains it, and `remove` puts it back, not the one it first took over.
                    Some(p)
                        if p.change == Change::Set
                            && key.path == wrapper_path()
                            && current_value != p.written_value()
                            && current_value.as_ref().and_then(Value::as_str).is_some_and(|now| {
                                !now.trim().is_empty()
                                    && !value
                                        .as_str()
                                        .is_some_and(|ours| crate::current::is_memsafe(now, ours))
                            }) =>
                    {
                        current.as_ref().map(|(_, raw)| raw.clone())
                    }
                    Some(p) if p.change == Change::Set => p.original.clone(),
                    _ => current.as_ref().map(|(_, raw)| raw.clone()),
                };
                // A key added to an inline table or object of the user's: the container's text,
                // to give back as it was (an added key can reflow it).
                let container = match previous {
                    Some(p) if p.change == Change::Set => p.container.clone(),
                    _ if current.is_none() => {
                        pristine.get(&key.path[..key.path.len() - 1]).map(|(_, raw)| raw)
                    }
                    _ => None,
                };
                if let Some(p) = previous
                    && p.change == Change::Set
                    && current_value != p.written_value()
                    && current_value.as_ref() != Some(value)
                {
                    events.push(Event::Overwrote {
                        key: shown.clone(),
                        was: current_value.as_ref().map_or_else(|| "(absent)".into(), text_of),
                    });
                }
                doc.set(&key.path, value, &mut tables)?;
                let written = doc.get(&key.path).map_or_else(|| value.clone(), |(v, _)| v);
                // The plan took a hand edit of the user's for its own (`Plan::with_current`
                // keeps a stricter value of theirs, and a chained wrapper they changed): it
                // stays recorded as an edit, so that every later run, and `remove`, still know
                // it is the user's.
                let adopted = previous.is_some_and(|p| p.change == Change::Set)
                    && current_value.is_some()
                    && current_value == Some(written.clone())
                    && current_value != previous.and_then(KeyRecord::written_value);
                let written = match previous {
                    Some(p) if adopted => p.written.clone(),
                    _ => Some(text_of(&written)),
                };
                keys.push(KeyRecord {
                    path: key.path.clone(),
                    change: Change::Set,
                    original,
                    written,
                    container,
                    ..KeyRecord::default()
                });
            }
            Want::Release => {
                let Some(previous) = previous else { continue };
                match previous.change {
                    Change::Set => {
                        if let Some(moved) = &moved
                            && key.path == wrapper_path()
                        {
                            doc.restore(&key.path, moved)?;
                        } else if let Some(moved) = moved.as_ref().filter(|_| key.path == chain_path()) {
                            doc.remove(&key.path, header);
                            events.push(Event::Note(format!(
                                "your `{shown} = {moved}` goes back to `{}`, where cargo runs it itself",
                                display_path(file, &wrapper_path())
                            )));
                        } else if current_value.is_some() && current_value == previous.written_value() {
                            match &previous.original {
                                Some(raw) => doc.restore(&key.path, raw)?,
                                None => doc.remove(&key.path, header),
                            }
                            let parent = &key.path[..key.path.len() - 1];
                            if let Some(container) = &previous.container
                                && let Some((now, _)) = doc.get(parent)
                                && container_value(format, container).as_ref() == Some(&now)
                            {
                                doc.restore(parent, container)?;
                            }
                        } else if let Some(value) = &current_value {
                            events.push(Event::KeptEdit {
                                key: shown.clone(),
                                value: text_of(value),
                            });
                        }
                    }
                    Change::Delete => {
                        // Put back after the loop, last taken out first, so that each goes back
                        // next to the neighbour it had.
                        if current.is_none() {
                            to_reinsert.push((key.path.clone(), previous.clone()));
                        } else if !removing {
                            // Added back by hand: the user's. The record stays, so that memsafe
                            // goes on leaving it alone (and `remove` leaves it too).
                            keys.push(previous.clone());
                        } else if let Some(value) = &current_value {
                            events.push(Event::KeptEdit {
                                key: shown.clone(),
                                value: text_of(value),
                            });
                        }
                    }
                    Change::Rename => {}
                }
            }
            Want::Delete => {
                if let Some(previous) = previous.filter(|p| p.change == Change::Delete) {
                    // Added back by hand since memsafe took it out: the user's, left alone.
                    keys.push(previous.clone());
                } else if current.is_some()
                    && let Doc::Toml(toml) = &mut doc
                    && let Some(deleted) = toml.delete(&key.path, file == FileId::Manifest)
                {
                    keys.push(KeyRecord {
                        path: key.path.clone(),
                        change: Change::Delete,
                        original: Some(deleted.entry),
                        written: None,
                        anchor: deleted.anchor,
                        table_position: deleted.table.as_ref().map(|t| t.0),
                        table_prefix: deleted.table.map(|t| t.1),
                        dotted: deleted.dotted,
                        ..KeyRecord::default()
                    });
                }
            }
        }
        let after = doc.get(&key.path).map(|(v, _)| v);
        if after != current_value {
            diffs.push(KeyDiff {
                key: shown,
                before: current_value.as_ref().map(text_of),
                after: after.as_ref().map(text_of),
            });
        }
    }

    for (path, previous) in to_reinsert.iter().rev() {
        if let (Doc::Toml(toml), Some(entry)) = (&mut doc, &previous.original) {
            let deleted = Deleted {
                entry: entry.clone(),
                anchor: previous.anchor.clone(),
                table: previous
                    .table_position
                    .map(|p| (p, previous.table_prefix.clone().unwrap_or_default())),
                dotted: previous.dotted,
            };
            toml.reinsert(path, &deleted)?;
            diffs.push(KeyDiff {
                key: display_path(file, path),
                before: None,
                after: doc.get(path).map(|(v, _)| text_of(&v)),
            });
        }
    }

    if releasing_all {
        // Old names back, newest first, once memsafe's values under the new names are gone.
        for rename in renames.iter().rev() {
            let Doc::Json(json) = &mut doc else { break };
            let shown = display_path(file, &rename.path);
            match json.get(&rename.path) {
                Some(found) if Some(&found.value) == rename.written_value().as_ref() => {
                    json.restore_property(&rename.path, rename.original.as_deref().unwrap_or_default());
                    diffs.push(KeyDiff {
                        key: shown,
                        before: Some(text_of(&found.value)),
                        after: Some(format!("(as `{}` again)", rename.from.as_deref().unwrap_or("?"))),
                    });
                }
                Some(found) => events.push(Event::KeptEdit {
                    key: shown,
                    value: text_of(&found.value),
                }),
                None => {}
            }
        }
    }

    // Tables memsafe created that hold nothing now go; those still standing stay memsafe's.
    doc.remove_empty(&tables, header);
    let created = previous.is_some_and(|p| p.created);
    let empty = doc.has_no_values();
    let after = doc.finish();
    // What memsafe writes must read back: a bad raw text from a record is caught here.
    let reparsed = Doc::parse(format, &after)?;
    let tables: Vec<Vec<String>> = if keys.is_empty() {
        Vec::new()
    } else {
        tables
            .into_iter()
            .filter(|t| table_exists(&reparsed, t))
            .collect()
    };
    if keys.is_empty() {
        if let Some(blank) = &blank
            && empty
            && !created
            && after
                .lines()
                .filter(|l| l.contains('#') || l.contains("//") || l.contains("/*"))
                .all(|l| blank.lines().any(|b| b == l))
        {
            return Ok(Synced {
                after: Some(blank.clone()),
                record: None,
                events,
                diffs,
            });
        }
        if created && empty && !has_user_comments(&after, header) {
            return Ok(Synced {
                after: None,
                record: None,
                events,
                diffs,
            });
        }
        let mut after = after;
        if created && !empty {
            events.push(Event::Note(
                "kept: memsafe created this file, but other settings are in it now".into(),
            ));
            after = without_header(&after, header);
        }
        return Ok(Synced {
            after: Some(after),
            record: None,
            events,
            diffs,
        });
    }
    Ok(Synced {
        after: Some(after),
        record: Some(FileRecord {
            path: path.into(),
            created,
            // The folders are the changeset's to record (files.rs).
            dirs: Vec::new(),
            tables,
            blank,
            hash: None,
            keys,
        }),
        events,
        diffs,
    })
}

/// `text` without memsafe's header comment at its top (and the blank lines after it).
fn without_header(text: &str, header: &str) -> String {
    let (shape, body) = crate::merge::text::Shape::of(text);
    let ours: Vec<&str> = header.lines().filter(|h| !h.is_empty()).collect();
    let mut lines = body.split_inclusive('\n');
    let mut kept = String::new();
    let mut at_top = true;
    for line in lines.by_ref() {
        let trimmed = line.trim_end();
        if at_top && (ours.contains(&trimmed) || trimmed.is_empty()) {
            continue;
        }
        at_top = false;
        kept.push_str(line);
    }
    shape.restore(&kept)
}

/// The value of a container's raw text (an inline table or a JSON object).
fn container_value(format: Format, raw: &str) -> Option<Value> {
    let doc = Doc::parse(
        format,
        &match format {
            Format::Jsonc => format!("{{\"k\": {raw}}}"),
            _ => format!("k = {raw}"),
        },
    )
    .ok()?;
    doc.get(&["k".to_string()]).map(|(value, _)| value)
}

fn table_exists(doc: &Doc, path: &[String]) -> bool {
    match doc {
        Doc::Toml(toml) => toml.table_exists(path),
        Doc::Json(json) => json.object_exists(path),
    }
}

/// A value as people read it: strings quoted, the rest as JSON.
pub fn text_of(value: &Value) -> String {
    value.to_string()
}

/// Brings a script to `wanted` (`None`: memsafe does not want it).
pub fn script(
    path: &str,
    before: Option<&str>,
    previous: Option<&FileRecord>,
    wanted: Option<&str>,
) -> Synced {
    let whole = WHOLE_FILE.to_string();
    let owned = previous.filter(|p| p.hash.is_some());
    let record = |text: &str, created: bool| FileRecord {
        path: path.into(),
        created,
        dirs: Vec::new(),
        tables: Vec::new(),
        blank: None,
        hash: Some(hash(text.as_bytes())),
        keys: Vec::new(),
    };
    let diff = |after: Option<&str>| KeyDiff {
        key: whole.clone(),
        before: before.map(|_| "as it is".into()),
        after: after.map(|_| "memsafe's script".into()),
    };
    match (before, owned, wanted) {
        (None, _, Some(text)) => Synced {
            after: Some(text.into()),
            record: Some(record(text, true)),
            events: Vec::new(),
            diffs: vec![diff(Some(text))],
        },
        (None, _, None) => Synced {
            after: None,
            record: None,
            events: Vec::new(),
            diffs: Vec::new(),
        },
        (Some(current), Some(p), _) if p.hash.as_deref() != Some(hash(current.as_bytes()).as_str()) => {
            Synced {
                after: Some(current.into()),
                record: None,
                events: vec![Event::Note(
                    "left as it is: it was edited since memsafe wrote it, so it is yours now (delete it and \
                 run memsafe again for memsafe's)"
                        .into(),
                )],
                diffs: Vec::new(),
            }
        }
        (Some(current), Some(p), Some(text)) => Synced {
            after: Some(text.into()),
            record: Some(record(text, p.created)),
            events: Vec::new(),
            diffs: if current == text {
                Vec::new()
            } else {
                vec![diff(Some(text))]
            },
        },
        (Some(_), Some(p), None) => {
            if p.created {
                Synced {
                    after: None,
                    record: None,
                    events: Vec::new(),
                    diffs: vec![diff(None)],
                }
            } else {
                Synced {
                    after: before.map(String::from),
                    record: None,
                    events: Vec::new(),
                    diffs: Vec::new(),
                }
            }
        }
        (Some(current), None, wanted) => Synced {
            after: Some(current.into()),
            record: None,
            events: if wanted.is_some() {
                vec![Event::Note(
                    "left alone: this file was not written by memsafe".into(),
                )]
            } else {
                Vec::new()
            },
            diffs: Vec::new(),
        },
    }
}

/// [`keyed`] for one file with the plan's wants and no header: what memsafe does to an
/// existing file (for tests, benchmarks and the fuzzer).
pub fn plan_file(
    file: FileId,
    before: &str,
    previous: Option<&FileRecord>,
    plan: &crate::plan::Plan,
) -> Result<Synced, MergeError> {
    let wants: Vec<(Key, Want)> = crate::owned::wants(plan)
        .into_iter()
        .filter(|(key, _)| key.file == file)
        .collect();
    existing_file(file, before, previous, &wants, false)
}

/// [`keyed`] releasing every key of one file: what `memsafe remove` does to it.
pub fn release_file(file: FileId, before: &str, previous: Option<&FileRecord>) -> Result<Synced, MergeError> {
    let wants: Vec<(Key, Want)> = crate::owned::registry()
        .into_iter()
        .filter(|key| key.file == file)
        .map(|key| (key, Want::Release))
        .collect();
    existing_file(file, before, previous, &wants, true)
}

/// [`keyed`] on an existing file, as the changeset calls it (`removing` for `memsafe remove`
/// only, not for a plan that happens to release every key of the file).
fn existing_file(
    file: FileId,
    before: &str,
    previous: Option<&FileRecord>,
    wants: &[(Key, Want)],
    removing: bool,
) -> Result<Synced, MergeError> {
    let target = Target {
        file,
        path: file.path(),
        before: Some(before),
        previous,
        removing,
    };
    keyed(target, wants, file == FileId::Vscode, &String::new, "")
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
        let Ok(first) = plan_file(file, text, None, &plan) else {
            continue;
        };
        let after = first.after.clone().expect("an existing file stays");
        let second =
            plan_file(file, &after, first.record.as_ref(), &plan).expect("memsafe's own output parses");
        assert_eq!(second.after.as_deref(), Some(after.as_str()), "not idempotent");
        let undone = release_file(file, &after, first.record.as_ref()).expect("memsafe's own output parses");
        assert_eq!(
            undone.after.as_deref(),
            Some(text),
            "releasing did not give the input back"
        );
    }
}
