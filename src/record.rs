//! `memsafe.toml`: the answers, the machine the plan was made for, the planned values, the
//! user's pins, the calibration, and what memsafe owns in which file with what to put back.
//! Pure: text in, text out, through one serde model.
//!
//! The record is untrusted input (teams commit it, so a cloned repo brings one): reading is
//! strict, and every path, key, value and count in it is checked before memsafe acts on it.
//! A problem is an error that names the line and the key.

use serde::{Deserialize, Serialize};
use toml_edit::{DocumentMut, Item};

use crate::calibrate::Calibration;
use crate::hardware::{Hardware, MemorySource, Os};
use crate::merge::line_column;
use crate::owned::{self, COUNT_MAX, FileId, Format};
use crate::plan::{Answers, Overrides, Plan};

/// The record's file name, at the project root.
pub const FILE: &str = "memsafe.toml";

/// The largest valueless file memsafe keeps whole in the record.
pub const BLANK_MAX: usize = 4096;

/// The record format this memsafe reads and writes.
pub const FORMAT: i64 = 2;

/// What memsafe.toml holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub memsafe: Meta,
    pub answers: Answers,
    pub hardware: MachineRecord,
    pub plan: Planned,
    #[serde(default)]
    pub overrides: Overrides,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// What memsafe owns, file by file.
    #[serde(default, rename = "file", skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub version: String,
    pub format: i64,
    /// A hash of the `[[file]]` entries: a record cut short or edited there is an error, never
    /// a smaller undo.
    pub owned: String,
}

/// The machine the plan was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineRecord {
    pub memory_bytes: u64,
    pub memory_source: MemorySource,
    pub logical_cpus: u32,
    pub physical_cpus: u32,
    pub os: Os,
}

/// The planned values, for people and for `regen`'s summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Planned {
    pub budget_bytes: u64,
    pub jobs: u32,
    pub test_threads: u32,
}

/// What memsafe owns in one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// From the project root, `/`-separated.
    pub path: String,
    /// memsafe created the file: it goes when nothing but memsafe's keys is left in it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    /// Folders memsafe created for it, outermost first: each goes when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
    /// Tables (TOML) or objects (JSON) memsafe created: each goes when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<Vec<String>>,
    /// The whole file as it was when it held no value at all (blank, `{}`, only comments):
    /// what `remove` gives back when memsafe's keys were all it held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blank: Option<String>,
    /// A script: the hash of the bytes memsafe last wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, rename = "key", skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyRecord>,
}

/// What memsafe did to one key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// memsafe sets the value; `original` is the user's value text before (none: absent).
    #[default]
    Set,
    /// memsafe took the user's entry out; `original` is the entry, `anchor` the key before it.
    Delete,
    /// memsafe renamed an old setting `from` to `path`; `original` is the whole old property.
    Rename,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub path: Vec<String>,
    pub change: Change,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// What memsafe wrote, as JSON text (a `set` or `rename`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A `set` that added the key to an inline table or object of the user's: that
    /// container's text before, given back when the key goes and nothing else changed in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// A `delete` that took the emptied `[table]` out too: its position among the tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_position: Option<i64>,
    /// ... and the blank and comment lines above its header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_prefix: Option<String>,
    /// A `delete` of a whole dotted entry (`build.jobs = 2`) of the table above the key's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dotted: bool,
}

impl KeyRecord {
    /// The value memsafe wrote, parsed (validated when the record was read).
    pub fn written_value(&self) -> Option<serde_json::Value> {
        self.written
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
    }
}

impl Record {
    /// The record for `plan`, owning `files`.
    pub fn new(plan: &Plan, overrides: Overrides, files: Vec<FileRecord>) -> Record {
        let hardware = &plan.hardware;
        Record {
            memsafe: Meta {
                version: env!("CARGO_PKG_VERSION").into(),
                format: FORMAT,
                owned: owned_digest(&files),
            },
            answers: plan.answers,
            hardware: MachineRecord {
                memory_bytes: hardware.memory_bytes,
                memory_source: hardware.memory_source,
                logical_cpus: hardware.logical_cpus,
                physical_cpus: hardware.physical_cpus,
                os: hardware.os,
            },
            plan: Planned {
                budget_bytes: plan.budget_bytes,
                jobs: plan.jobs,
                test_threads: plan.test_threads,
            },
            overrides,
            // A summary of a governed build is the plan's to use, never the record's: the
            // record keeps what `memsafe calibrate` measured.
            calibration: plan.calibration.clone().filter(|c| !c.governed),
            files,
        }
    }

    /// The recorded machine.
    pub fn hardware(&self) -> Hardware {
        Hardware {
            memory_bytes: self.hardware.memory_bytes,
            memory_source: self.hardware.memory_source,
            logical_cpus: self.hardware.logical_cpus,
            physical_cpus: self.hardware.physical_cpus,
            os: self.hardware.os,
            wsl: false,
            notes: Vec::new(),
        }
    }

    pub fn calibration(&self) -> Option<Calibration> {
        self.calibration.clone()
    }

    pub fn file(&self, path: &str) -> Option<&FileRecord> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// A problem in memsafe.toml, with the line and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}` {}", self.key, self.message)
        }
    }
}

impl std::error::Error for RecordError {}

const HEADER: &str = "\
# memsafe's record for this project: the answers given to `memsafe init`, the machine the
# plan was made for, the planned values, and what memsafe owns in which file.
#   memsafe regen   re-plan after a hardware change, from these answers, without questions
#   memsafe check   exit 1 when this machine or an owned key no longer matches the plan
#   memsafe remove  put every file back as it was before memsafe
# Edit [answers] or [overrides] by hand if you like; memsafe rewrites the rest.
";

const OVERRIDES_HELP: &str = "\
# Pin a value here and every plan keeps it (1 to 1024), e.g.:
# jobs = 3
# test_threads = 2
";

const FILES_HELP: &str = "\
# What memsafe owns in each file, and what `memsafe remove` puts back. Do not edit.
";

/// Renders the record; `existing` is the current file, whose `[overrides]` table (with its
/// comments) is carried over when it says the same.
pub fn render(record: &Record, existing: Option<&str>) -> String {
    let mut document = toml_edit::ser::to_document(record).expect("the record serializes");
    // Every section as a [table], even an empty one.
    let inline: Vec<String> = document
        .iter()
        .filter(|(_, item)| item.is_inline_table())
        .map(|(key, _)| key.to_string())
        .collect();
    for key in inline {
        if let Some(Item::Value(toml_edit::Value::InlineTable(table))) = document.remove(&key) {
            document.insert(&key, Item::Table(table.into_table()));
        }
    }
    // `[[file]]` and `[[file.key]]` tables, not one long inline array.
    if let Some(Item::Value(toml_edit::Value::Array(files))) = document.remove("file") {
        let mut tables = toml_edit::ArrayOfTables::new();
        for file in files {
            let toml_edit::Value::InlineTable(file) = file else {
                continue;
            };
            let mut table = file.into_table();
            if let Some(Item::Value(toml_edit::Value::Array(keys))) = table.remove("key") {
                let mut key_tables = toml_edit::ArrayOfTables::new();
                for key in keys {
                    if let toml_edit::Value::InlineTable(key) = key {
                        key_tables.push(key.into_table());
                    }
                }
                table.insert("key", Item::ArrayOfTables(key_tables));
            }
            tables.push(table);
        }
        document.insert("file", Item::ArrayOfTables(tables));
    }
    if !document.contains_key("overrides") {
        document.insert("overrides", Item::Table(toml_edit::Table::new()));
    }
    // The sections in the record's order: the user's first, memsafe's bookkeeping last.
    for (position, name) in [
        "memsafe",
        "answers",
        "hardware",
        "plan",
        "overrides",
        "calibration",
    ]
    .iter()
    .enumerate()
    {
        if let Some(table) = document.get_mut(name).and_then(Item::as_table_mut) {
            table.set_position(Some(isize::try_from(position).unwrap_or(0)));
        }
    }
    if let Some(table) = document.get_mut("calibration").and_then(Item::as_table_mut) {
        table
            .decor_mut()
            .set_prefix("\n# what `memsafe calibrate` measured\n");
    }
    if let Some(Item::Table(memsafe)) = document.get_mut("memsafe") {
        memsafe.decor_mut().set_prefix(HEADER.to_string() + "\n");
    }
    if let Some(mut team) = document
        .get_mut("answers")
        .and_then(Item::as_table_mut)
        .and_then(|t| t.key_mut("team"))
    {
        team.leaf_decor_mut().set_prefix(
            "# true: plan for the machine recorded below (the team's smallest), whoever runs memsafe\n",
        );
    }
    if let Some(mut governor) = document
        .get_mut("answers")
        .and_then(Item::as_table_mut)
        .and_then(|t| t.key_mut("governor"))
    {
        governor.leaf_decor_mut().set_prefix(
            "# true: memsafe is cargo's rustc-wrapper on this machine (the governor, experimental)\n",
        );
    }
    if let Some(hardware) = document.get_mut("hardware").and_then(Item::as_table_mut)
        && let Some(mut first) = hardware.key_mut("memory_bytes")
    {
        first
            .leaf_decor_mut()
            .set_prefix(format!("# {}\n", record.hardware().describe()));
    }
    let overrides_table = document
        .get_mut("overrides")
        .and_then(Item::as_table_mut)
        .expect("overrides serialize as a table");
    overrides_table.set_implicit(false);
    overrides_table.decor_mut().set_prefix("\n");
    if overrides_table.is_empty() {
        overrides_table
            .decor_mut()
            .set_suffix(format!("\n{}", OVERRIDES_HELP.trim_end()));
    }
    // The user's [overrides] table, comments and all, when it says what the record says. The
    // comment lines after its last key are, for toml_edit, the start of the next header's
    // prefix: they are kept too.
    let old = existing.and_then(|text| text.parse::<DocumentMut>().ok());
    let mut overrides_tail = "\n".to_string();
    if let Some(old_overrides) = old
        .as_ref()
        .and_then(|d| d.get("overrides"))
        .and_then(Item::as_table)
    {
        let new = document["overrides"].as_table().expect("a table");
        let same = new.len() == old_overrides.len()
            && new
                .iter()
                .all(|(k, v)| old_overrides.get(k).and_then(Item::as_integer) == v.as_integer());
        if same {
            let mut kept = old_overrides.clone();
            kept.set_position(new.position());
            document["overrides"] = Item::Table(kept);
            if let Some(tail) = old
                .as_ref()
                .and_then(|d| d.get("file"))
                .and_then(Item::as_array_of_tables)
                .and_then(|files| files.get(0))
                .and_then(|first| first.decor().prefix())
                .and_then(|prefix| prefix.as_str())
                .and_then(|prefix| prefix.strip_suffix(FILES_HELP))
            {
                overrides_tail = tail.to_string();
            }
        }
    }
    if let Some(files) = document.get_mut("file").and_then(Item::as_array_of_tables_mut) {
        for (index, table) in files.iter_mut().enumerate() {
            table.decor_mut().set_prefix(if index == 0 {
                format!("{overrides_tail}{FILES_HELP}")
            } else {
                "\n".into()
            });
        }
    }
    for (_, item) in document.as_table_mut().iter_mut() {
        if let Item::Table(table) = item
            && table.decor().prefix().is_none()
        {
            table.decor_mut().set_prefix("\n");
        }
    }
    let text = document.to_string();
    text.trim_start_matches('\n').to_string()
}

/// Reads memsafe.toml, checking everything in it.
pub fn parse(text: &str) -> Result<Record, RecordError> {
    let (_, body) = crate::merge::text::Shape::of(text);
    let document = toml_edit::Document::parse(body.as_str()).map_err(|error| {
        let (line, _) = line_column(&body, error.span().map_or(0, |s| s.start));
        RecordError {
            line: Some(line),
            key: String::new(),
            message: error.message().trim().to_string(),
        }
    })?;
    // The format first: an older or newer record gets its own words, not a field error.
    let format = document
        .get("memsafe")
        .and_then(|m| m.get("format"))
        .and_then(Item::as_integer);
    let version = document
        .get("memsafe")
        .and_then(|m| m.get("version"))
        .and_then(Item::as_str)
        .unwrap_or("?");
    let line_of = |table: &str, key: &str| -> Option<usize> {
        let item = document.get(table)?;
        let span = item.get(key).and_then(Item::span).or_else(|| item.span())?;
        Some(line_column(&body, span.start).0)
    };
    if format != Some(FORMAT) || newer(version, env!("CARGO_PKG_VERSION")) {
        let error = |key: &str, message: String| RecordError {
            line: line_of("memsafe", key),
            key: String::new(),
            message,
        };
        return Err(match format {
            // The same format from a newer memsafe, or a newer format: the line that says so.
            Some(shown) if shown >= FORMAT => error(
                if shown == FORMAT { "version" } else { "format" },
                format!(
                    "written by memsafe {version} (record format {shown}), newer than this memsafe {}: \
                     update memsafe",
                    env!("CARGO_PKG_VERSION")
                ),
            ),
            Some(older) => error(
                "format",
                format!(
                    "written by memsafe {version} (record format {older}), which this memsafe cannot \
                     undo: run `memsafe remove` with memsafe {version}, or restore the files from \
                     version control and delete memsafe.toml"
                ),
            ),
            None => RecordError {
                key: "memsafe.format".into(),
                ..error("format", "is missing or not an integer".into())
            },
        });
    }
    let record: Record = toml_edit::de::from_str(body.as_str()).map_err(|error| {
        let line = error.span().map(|span| line_column(&body, span.start).0);
        RecordError {
            line,
            key: error
                .span()
                .and_then(|span| key_at(&document, span.start))
                .unwrap_or_default(),
            message: format!("is wrong: {}", error.message().trim()),
        }
    })?;
    if record.memsafe.owned != owned_digest(&record.files) {
        return Err(RecordError {
            line: line_of("memsafe", "owned"),
            key: "memsafe.owned".into(),
            message: "does not match the [[file]] entries: they were edited or cut short, and memsafe \
                      cannot trust them to undo its changes"
                .into(),
        });
    }
    validate(
        &record,
        &|index, key| {
            let files = document.get("file").and_then(Item::as_array_of_tables)?;
            let table = files.get(index)?;
            let span = table.get(key).and_then(Item::span).or_else(|| table.span())?;
            Some(line_column(&body, span.start).0)
        },
        &line_of,
    )?;
    Ok(record)
}

type FileLine<'a> = dyn Fn(usize, &str) -> Option<usize> + 'a;
type TableLine<'a> = dyn Fn(&str, &str) -> Option<usize> + 'a;

/// Everything serde cannot check: ranges, and that every path and key is one memsafe owns.
fn validate(
    record: &Record,
    file_line: &FileLine<'_>,
    table_line: &TableLine<'_>,
) -> Result<(), RecordError> {
    let count = |table: &str, key: &str, value: Option<u32>| -> Result<(), RecordError> {
        match value {
            Some(n) if !(1..=COUNT_MAX).contains(&i64::from(n)) => Err(RecordError {
                line: table_line(table, key),
                key: format!("{table}.{key}"),
                message: format!("is {n}: it must be 1 to {COUNT_MAX}"),
            }),
            _ => Ok(()),
        }
    };
    count("overrides", "jobs", record.overrides.jobs)?;
    count("overrides", "test_threads", record.overrides.test_threads)?;
    count("plan", "jobs", Some(record.plan.jobs))?;
    count("plan", "test_threads", Some(record.plan.test_threads))?;
    // The bounds `--ram` and `--cpus` have: a machine, not an overflow.
    let memory = record.hardware.memory_bytes;
    if memory == 0 || memory > crate::hardware::MAX_MEMORY_BYTES {
        return Err(RecordError {
            line: table_line("hardware", "memory_bytes"),
            key: "hardware.memory_bytes".into(),
            message: format!("is {memory}: it must be a machine's memory in bytes, 1 to 2^50"),
        });
    }
    for (key, cpus) in [
        ("logical_cpus", record.hardware.logical_cpus),
        ("physical_cpus", record.hardware.physical_cpus),
    ] {
        if !(1..=4096).contains(&cpus) {
            return Err(RecordError {
                line: table_line("hardware", key),
                key: format!("hardware.{key}"),
                message: format!("is {cpus}: it must be 1 to 4096"),
            });
        }
    }
    let registry = owned::registry();
    // One entry per file: per name for members' configs, per file otherwise (the two names of
    // the cargo config are one file).
    let mut seen: Vec<(FileId, &str)> = Vec::new();
    for (index, file) in record.files.iter().enumerate() {
        let bad = |key: &str, message: String| RecordError {
            line: file_line(index, key),
            key: format!("file.{key}"),
            message,
        };
        let Some(id) = FileId::from_path(&file.path) else {
            return Err(bad(
                "path",
                format!(
                    "is `{}`: memsafe.toml may only name the files memsafe manages ({})",
                    file.path,
                    FileId::ALL
                        .iter()
                        .flat_map(|id| id.paths())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let twice = seen
            .iter()
            .any(|(other, path)| *other == id && (id != FileId::MemberConfig || *path == file.path));
        if twice {
            return Err(bad("path", format!("names `{}` twice", file.path)));
        }
        seen.push((id, file.path.as_str()));
        let expected_dirs = owned::parent_dirs(&file.path);
        if let Some(dir) = file.dirs.iter().find(|d| !expected_dirs.contains(d)) {
            return Err(bad(
                "dirs",
                format!("names `{dir}`, which is not a folder of `{}`", file.path),
            ));
        }
        let format = id.format();
        match (format, &file.hash) {
            (Format::Script { .. }, Some(hash)) if !is_hash(hash) => {
                return Err(bad("hash", format!("is `{hash}`, not a hash memsafe writes")));
            }
            (Format::Script { .. }, None) => {
                return Err(bad(
                    "hash",
                    "is missing: memsafe owns a script only with the hash of its bytes".into(),
                ));
            }
            (Format::Script { .. }, _) if !file.keys.is_empty() || !file.tables.is_empty() => {
                return Err(bad("key", "lists keys for a script memsafe owns whole".into()));
            }
            (Format::Toml | Format::Jsonc, Some(_)) => {
                return Err(bad("hash", "is only for scripts".into()));
            }
            _ => {}
        }
        if let Some(blank) = &file.blank {
            let valueless = match format {
                Format::Toml => crate::merge::toml::TomlDoc::parse(blank).is_ok_and(|d| d.has_no_values()),
                Format::Jsonc => crate::merge::jsonc::JsonDoc::parse(blank).is_ok_and(|d| d.has_no_values()),
                Format::Script { .. } => false,
            };
            if !valueless || blank.len() > BLANK_MAX {
                return Err(bad("blank", "is not a file without values".into()));
            }
        }
        let keys: Vec<&owned::Key> = registry.iter().filter(|k| k.file == id).collect();
        for table in &file.tables {
            if table.is_empty()
                || !keys
                    .iter()
                    .any(|k| k.path.len() > table.len() && k.path.starts_with(table))
            {
                return Err(bad(
                    "tables",
                    format!("names `{}`, which memsafe never creates", table.join(".")),
                ));
            }
        }
        for key in &file.keys {
            check_key(id, format, key, &keys).map_err(|message| RecordError {
                line: file_line(index, "key"),
                key: format!("file.key `{}`", owned::display_path(id, &key.path)),
                message,
            })?;
        }
    }
    Ok(())
}

fn check_key(id: FileId, format: Format, key: &KeyRecord, keys: &[&owned::Key]) -> Result<(), String> {
    let registered = keys.iter().find(|k| k.path == key.path);
    let written = match &key.written {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|_| format!("has `written = {text:?}`, which is not JSON"))?,
        ),
        None => None,
    };
    match key.change {
        Change::Set => {
            let registered = registered.ok_or("is not a key memsafe owns in this file")?;
            let written = written.ok_or("has no `written` value")?;
            registered.value_type.check(&written)?;
            for (name, raw) in [("original", &key.original), ("container", &key.container)] {
                let Some(raw) = raw else { continue };
                let parses = match format {
                    Format::Toml => format!("k = {raw}")
                        .parse::<DocumentMut>()
                        .is_ok_and(|d| d.len() == 1),
                    _ => crate::merge::jsonc::JsonDoc::parse(&format!("{{\"k\": {raw}}}"))
                        .is_ok_and(|d| d.property_count() == 1 && d.get(&["k".to_string()]).is_some()),
                };
                if !parses {
                    return Err(format!("has a `{name}` that is not one value"));
                }
            }
        }
        Change::Delete => {
            if registered.is_none() || format != Format::Toml {
                return Err("is not a key memsafe takes out".into());
            }
            let original = key.original.as_deref().ok_or("has no `original` entry")?;
            let last = key.path.last().map(String::as_str).unwrap_or_default();
            // The entry names the key, or (a dotted entry) the table above it.
            let name = if key.dotted && key.path.len() > 1 {
                key.path[key.path.len() - 2].as_str()
            } else {
                last
            };
            let ok = original
                .parse::<DocumentMut>()
                .is_ok_and(|d| d.len() == 1 && d.contains_key(name));
            if !ok {
                return Err(format!("has an `original` that is not one `{last}` entry"));
            }
            let comment_or_blank = |line: &str| line.trim().is_empty() || line.trim_start().starts_with('#');
            if key
                .table_prefix
                .as_deref()
                .is_some_and(|p| !p.lines().all(comment_or_blank))
            {
                return Err("has a `table_prefix` that is not blank or comment lines".into());
            }
        }
        Change::Rename => {
            let from = key.from.as_deref().ok_or("has no `from`")?;
            if id != FileId::Vscode
                || key.path.len() != 1
                || !crate::merge::jsonc::is_rename(from, &key.path[0])
            {
                return Err(format!("renames `{from}`, which is not a rename memsafe makes"));
            }
            if written.is_none() {
                return Err("has no `written` value".into());
            }
            let original = key.original.as_deref().ok_or("has no `original` entry")?;
            let ok = crate::merge::jsonc::JsonDoc::parse(&format!("{{{original}}}"))
                .is_ok_and(|d| d.property_count() == 1 && d.get(&[from.to_string()]).is_some());
            if !ok
                || !original
                    .trim_start()
                    .starts_with(&serde_json::Value::String(from.into()).to_string())
            {
                return Err(format!("has an `original` that is not one `{from}` property"));
            }
        }
    }
    Ok(())
}

/// The hash that `[memsafe] owned` holds: of the `[[file]]` entries, as JSON.
fn owned_digest(files: &[FileRecord]) -> String {
    hash(
        serde_json::to_string(files)
            .expect("the entries serialize")
            .as_bytes(),
    )
}

/// The dotted key whose value holds byte `offset` of the record, for error messages.
fn key_at(document: &toml_edit::Document<&str>, offset: usize) -> Option<String> {
    fn walk(table: &dyn toml_edit::TableLike, offset: usize, path: &mut Vec<String>) -> bool {
        for (key, item) in table.iter() {
            let inside = item.span().is_some_and(|span| span.contains(&offset));
            path.push(key.to_string());
            match item {
                Item::Table(child) if walk(child, offset, path) => return true,
                Item::ArrayOfTables(array) => {
                    for child in array.iter() {
                        if walk(child, offset, path) {
                            return true;
                        }
                    }
                }
                Item::Value(toml_edit::Value::InlineTable(child)) if walk(child, offset, path) => {
                    return true;
                }
                _ => {}
            }
            if inside && !item.is_table() {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    walk(document.as_table(), offset, &mut path).then(|| path.join("."))
}

/// Whether dotted version `a` is newer than `b` (numeric parts, missing parts are 0).
fn newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split(['.', '-']).map_while(|p| p.parse().ok()).collect() };
    let (a, b) = (parts(a), parts(b));
    for index in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(index).copied().unwrap_or(0),
            b.get(index).copied().unwrap_or(0),
        );
        if x != y {
            return x > y;
        }
    }
    false
}

/// `fnv1a64:` and 16 hex digits.
fn is_hash(text: &str) -> bool {
    text.strip_prefix("fnv1a64:")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The hash memsafe records for a script's bytes: FNV-1a, 64 bits (stable across Rust
/// versions, unlike std's hasher; it tells memsafe's own bytes from an edit, not an attacker's
/// forgery, which needs no forgery since the record is plain text).
pub fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}
