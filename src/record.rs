//! `memsafe.toml`: the answers, the machine the plan was made for, the planned values, the
//! user's pins and the keys memsafe manages. Pure: text in, text out.
//!
//! Reading is strict, because `regen` acts on it without asking: a missing, mistyped or
//! unknown value is an error that names the line and the key.

use serde::Serialize;
use toml_edit::{DocumentMut, Item, TableLike};

use crate::calibrate::Calibration;
use crate::hardware::{Hardware, MemorySource, Os};
use crate::merge::line_column;
use crate::plan::{Answers, Editor, Editors, Overrides, Plan, Preset, Scripts};
use crate::undo::Hunk;

/// The record's file name, at the project root.
pub const FILE: &str = "memsafe.toml";

/// The record format this memsafe reads and writes.
pub const FORMAT: i64 = 1;

/// The keys memsafe manages in one file (`"(whole file)"` for a script).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Managed {
    pub name: String,
    pub keys: Vec<String>,
}

/// What `memsafe remove` needs for one file: whether memsafe created it, or the lines it
/// changed (with the original lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileUndo {
    pub file: String,
    pub created: bool,
    pub hunks: Vec<Hunk>,
}

/// What memsafe.toml holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub version: String,
    pub answers: Answers,
    pub hardware: Hardware,
    pub budget_bytes: u64,
    pub jobs: u32,
    pub test_threads: u32,
    pub overrides: Overrides,
    pub managed: Vec<Managed>,
    pub undo: Vec<FileUndo>,
    /// What `memsafe calibrate` measured, if it ran.
    pub calibration: Option<Calibration>,
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

#[derive(Serialize)]
struct RecordContext<'a> {
    version: &'a str,
    format: i64,
    preset: &'static str,
    editors: Vec<&'static str>,
    scripts: &'static str,
    team: bool,
    hardware_words: String,
    hardware: &'a Hardware,
    budget_bytes: u64,
    jobs: u32,
    test_threads: u32,
    managed: &'a [Managed],
    undo_count: usize,
}

/// Renders the record for `plan`; `existing` is the current file, whose `[overrides]` table
/// (with its comments) is carried over as it is.
pub fn render(
    templates: &crate::render::Templates,
    plan: &Plan,
    managed: &[Managed],
    undo: &[FileUndo],
    existing: Option<&str>,
) -> String {
    let hardware = &plan.hardware;
    let context = RecordContext {
        version: env!("CARGO_PKG_VERSION"),
        format: FORMAT,
        preset: plan.answers.preset.as_str(),
        editors: plan.answers.editors.list().iter().map(|e| e.as_str()).collect(),
        scripts: plan.answers.scripts.as_str(),
        team: plan.answers.team,
        hardware_words: hardware.describe(),
        hardware,
        budget_bytes: plan.budget_bytes,
        jobs: plan.jobs,
        test_threads: plan.test_threads,
        managed,
        undo_count: undo.len(),
    };
    let rendered = templates.render_context(crate::render::MEMSAFE_TOML, &context);
    let mut document: DocumentMut = rendered.parse().expect("the rendered record parses");
    if let Some(calibration) = &plan.calibration {
        append_calibration(&mut document, calibration);
    }
    append_undo(&mut document, undo);
    let old = existing.and_then(|text| text.parse::<DocumentMut>().ok());
    if let Some(old_overrides) = old
        .as_ref()
        .and_then(|old| old.get("overrides"))
        .and_then(Item::as_table)
    {
        let position = document["overrides"]
            .as_table()
            .and_then(toml_edit::Table::position);
        let mut kept = old_overrides.clone();
        kept.set_position(position);
        document["overrides"] = Item::Table(kept);
        // Comments after the last pin belong, in TOML, to the next table's header: keep them too.
        if let (Some(old_next), Some(next)) = (
            old.as_ref()
                .and_then(|old| old.get("managed"))
                .and_then(Item::as_table),
            document.get_mut("managed").and_then(Item::as_table_mut),
        ) {
            *next.decor_mut() = old_next.decor().clone();
        }
    }
    document.to_string()
}

/// Lines are stored without their `\n`, which every line has but the file's last one may lack:
/// the lists whose last line lacks it are named in `no_newline_at_end`.
fn string_array(lines: &[String]) -> Item {
    let mut array = toml_edit::Array::new();
    for line in lines {
        array.push(line.strip_suffix('\n').unwrap_or(line));
    }
    Item::Value(toml_edit::Value::Array(array))
}

fn unterminated(lines: &[String]) -> bool {
    lines.last().is_some_and(|line| !line.ends_with('\n'))
}

fn integer(value: u64) -> Item {
    toml_edit::value(i64::try_from(value).unwrap_or(i64::MAX))
}

/// `[calibration]`: what `memsafe calibrate` measured.
fn append_calibration(document: &mut DocumentMut, calibration: &Calibration) {
    let mut table = toml_edit::Table::new();
    table.decor_mut().set_prefix(
        "\n# What `memsafe calibrate` measured: peak memory per rustc of this project. The plan uses\n\
         # it instead of the preset's estimate; `memsafe check` says when it is stale.\n",
    );
    table.insert("rustc", toml_edit::value(calibration.rustc.as_str()));
    table.insert("date", toml_edit::value(calibration.date.as_str()));
    table.insert("profile", toml_edit::value(calibration.profile.as_str()));
    table.insert("crates", integer(calibration.crates));
    table.insert("total_seconds", integer(calibration.total_seconds));
    table.insert("median_peak_bytes", integer(calibration.median_peak_bytes));
    table.insert("p90_peak_bytes", integer(calibration.p90_peak_bytes));
    table.insert("max_peak_bytes", integer(calibration.max_peak_bytes));
    table.insert("link_peak_bytes", integer(calibration.link_peak_bytes));
    let mut heaviest = toml_edit::Array::new();
    for (krate, kind, peak) in &calibration.heaviest {
        let mut entry = toml_edit::InlineTable::new();
        entry.insert("crate", krate.as_str().into());
        entry.insert("kind", kind.as_str().into());
        entry.insert("peak_bytes", i64::try_from(*peak).unwrap_or(i64::MAX).into());
        let mut value = toml_edit::Value::InlineTable(entry);
        value.decor_mut().set_prefix("\n  ");
        heaviest.push_formatted(value);
    }
    heaviest.set_trailing("\n");
    heaviest.set_trailing_comma(true);
    table.insert("heaviest", Item::Value(toml_edit::Value::Array(heaviest)));
    let mut peaks = toml_edit::Array::new();
    for peak in &calibration.peak_by_jobs {
        peaks.push(i64::try_from(*peak).unwrap_or(i64::MAX));
    }
    table.insert("peak_by_jobs", Item::Value(toml_edit::Value::Array(peaks)));
    document.insert("calibration", Item::Table(table));
}

fn parse_calibration(reader: &Reader<'_>) -> Result<Option<Calibration>, RecordError> {
    if reader.root.get("calibration").is_none() {
        return Ok(None);
    }
    let bytes = |key: &str| {
        reader
            .integer("calibration", key)
            .and_then(|v| u64::try_from(v).map_err(|_| reader.wrong("calibration", key, "a size in bytes")))
    };
    let list = |key: &str| -> Result<&toml_edit::Array, RecordError> {
        reader
            .item("calibration", key)
            .and_then(Item::as_array)
            .ok_or_else(|| reader.wrong("calibration", key, "a list"))
    };
    let mut heaviest = Vec::new();
    for entry in list("heaviest")? {
        let table = entry.as_inline_table().ok_or_else(|| {
            reader.wrong("calibration", "heaviest", "a list of { crate, kind, peak_bytes }")
        })?;
        let text = |key: &str| {
            table
                .get(key)
                .and_then(toml_edit::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let peak = table
            .get("peak_bytes")
            .and_then(toml_edit::Value::as_integer)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0);
        heaviest.push((text("crate"), text("kind"), peak));
    }
    let peak_by_jobs: Vec<u64> = list("peak_by_jobs")?
        .iter()
        .filter_map(|v| v.as_integer().and_then(|v| u64::try_from(v).ok()))
        .collect();
    if peak_by_jobs.is_empty() {
        return Err(reader.wrong("calibration", "peak_by_jobs", "a non-empty list of sizes"));
    }
    Ok(Some(Calibration {
        rustc: reader.string("calibration", "rustc")?,
        date: reader.string("calibration", "date")?,
        profile: reader.string("calibration", "profile")?,
        crates: bytes("crates")?,
        total_seconds: bytes("total_seconds")?,
        median_peak_bytes: bytes("median_peak_bytes")?,
        p90_peak_bytes: bytes("p90_peak_bytes")?,
        max_peak_bytes: bytes("max_peak_bytes")?,
        link_peak_bytes: bytes("link_peak_bytes")?,
        heaviest,
        peak_by_jobs,
    }))
}

/// `[[undo]]` tables, one per file, each with its `[[undo.hunk]]` tables.
fn append_undo(document: &mut DocumentMut, undo: &[FileUndo]) {
    if undo.is_empty() {
        return;
    }
    let mut files = toml_edit::ArrayOfTables::new();
    for (index, entry) in undo.iter().enumerate() {
        let mut table = toml_edit::Table::new();
        if index == 0 {
            table.decor_mut().set_prefix(
                "\n# What `memsafe remove` puts back: for each file, whether memsafe created it, or the\n\
                 # lines it changed with the original lines. Do not edit.\n",
            );
        }
        table.insert("file", toml_edit::value(entry.file.as_str()));
        table.insert("created", toml_edit::value(entry.created));
        // A count, so that a truncated file is an error rather than a silently shorter undo.
        table.insert(
            "hunks",
            toml_edit::value(i64::try_from(entry.hunks.len()).unwrap_or(i64::MAX)),
        );
        let mut hunks = toml_edit::ArrayOfTables::new();
        for hunk in &entry.hunks {
            let mut item = toml_edit::Table::new();
            item.insert(
                "line",
                toml_edit::value(i64::try_from(hunk.line).unwrap_or(i64::MAX)),
            );
            // Before the line lists, so that a file cut short loses a required key, not this.
            let open_ended: Vec<&str> = [
                ("removed", &hunk.removed),
                ("added", &hunk.added),
                ("after", &hunk.after),
            ]
            .into_iter()
            .filter(|(_, lines)| unterminated(lines))
            .map(|(name, _)| name)
            .collect();
            if !open_ended.is_empty() {
                let mut names = toml_edit::Array::new();
                names.extend(open_ended);
                item.insert("no_newline_at_end", toml_edit::value(names));
            }
            item.insert("before", string_array(&hunk.before));
            item.insert("removed", string_array(&hunk.removed));
            item.insert("added", string_array(&hunk.added));
            item.insert("after", string_array(&hunk.after));
            hunks.push(item);
        }
        if !hunks.is_empty() {
            table.insert("hunk", Item::ArrayOfTables(hunks));
        }
        files.push(table);
    }
    document.insert("undo", Item::ArrayOfTables(files));
}

fn parse_undo(reader: &Reader<'_>) -> Result<Vec<FileUndo>, RecordError> {
    let Some(item) = reader.root.get("undo") else {
        return Ok(Vec::new());
    };
    let bad = |message: &str| RecordError {
        line: item.span().map(|s| line_column(reader.body, s.start).0),
        key: "undo".into(),
        message: message.into(),
    };
    let files = item
        .as_array_of_tables()
        .ok_or_else(|| bad("must be [[undo]] tables"))?;
    let lines = |table: &toml_edit::Table, key: &str| -> Result<Vec<String>, RecordError> {
        let open_ended = table
            .get("no_newline_at_end")
            .and_then(Item::as_array)
            .is_some_and(|names| names.iter().any(|name| name.as_str() == Some(key)));
        let array = table
            .get(key)
            .and_then(Item::as_array)
            .ok_or_else(|| bad(&format!("has a hunk without `{key}`")))?;
        let count = array.len();
        Ok(array
            .iter()
            .enumerate()
            .filter_map(|(index, value)| {
                let line = value.as_str()?;
                Some(if open_ended && index + 1 == count {
                    line.to_string()
                } else {
                    format!("{line}\n")
                })
            })
            .collect())
    };
    let mut out = Vec::new();
    for table in files {
        let file = table
            .get("file")
            .and_then(Item::as_str)
            .ok_or_else(|| bad("has an entry without `file`"))?;
        let created = table
            .get("created")
            .and_then(Item::as_bool)
            .ok_or_else(|| bad("has an entry without `created`"))?;
        let mut hunks = Vec::new();
        if let Some(list) = table.get("hunk").and_then(Item::as_array_of_tables) {
            for hunk in list {
                let line = hunk
                    .get("line")
                    .and_then(Item::as_integer)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("has a hunk without a positive `line`"))?;
                hunks.push(Hunk {
                    line,
                    before: lines(hunk, "before")?,
                    removed: lines(hunk, "removed")?,
                    added: lines(hunk, "added")?,
                    after: lines(hunk, "after")?,
                });
            }
        }
        let expected = table
            .get("hunks")
            .and_then(Item::as_integer)
            .ok_or_else(|| bad("has an entry without `hunks`"))?;
        if usize::try_from(expected).ok() != Some(hunks.len()) {
            return Err(bad(&format!(
                "lists {} of {expected} changes for `{file}`: the file looks truncated",
                hunks.len()
            )));
        }
        out.push(FileUndo {
            file: file.to_string(),
            created,
            hunks,
        });
    }
    Ok(out)
}

/// Reads memsafe.toml.
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
    let reader = Reader {
        body: &body,
        root: document.as_table(),
    };

    let format = reader.integer("memsafe", "format")?;
    let version = reader.string("memsafe", "version")?;
    if format > FORMAT || newer(&version, env!("CARGO_PKG_VERSION")) {
        return Err(RecordError {
            line: reader.line("memsafe", "version"),
            key: String::new(),
            message: format!(
                "written by memsafe {version} (record format {format}), newer than this memsafe {}: \
                 update memsafe",
                env!("CARGO_PKG_VERSION")
            ),
        });
    }

    let preset = match reader.string("answers", "preset")?.as_str() {
        "safe" => Preset::Safe,
        "balanced" => Preset::Balanced,
        "fast" => Preset::Fast,
        other => return Err(reader.invalid("answers", "preset", other, "safe, balanced or fast")),
    };
    let editors = match reader.item("answers", "editors") {
        Some(item) => {
            let names = item
                .as_array()
                .ok_or_else(|| reader.wrong("answers", "editors", "a list of editors"))?;
            let mut list = Vec::new();
            for name in names {
                list.push(match name.as_str() {
                    Some("vscode") => Editor::Vscode,
                    Some("zed") => Editor::Zed,
                    Some("helix") => Editor::Helix,
                    Some("none") => Editor::None,
                    other => {
                        return Err(reader.invalid(
                            "answers",
                            "editors",
                            other.unwrap_or("(not a string)"),
                            "a list of vscode, zed, helix",
                        ));
                    }
                });
            }
            Editors::from_list(&list)
        }
        None => return Err(reader.missing("answers", "editors")),
    };
    let scripts = match reader.string("answers", "scripts")?.as_str() {
        "sh" => Scripts::Sh,
        "ps1" => Scripts::Ps1,
        "both" => Scripts::Both,
        "none" => Scripts::None,
        other => return Err(reader.invalid("answers", "scripts", other, "sh, ps1, both or none")),
    };
    let team = reader.optional_bool("answers", "team")?.unwrap_or(false);

    let os = match reader.string("hardware", "os")?.as_str() {
        "linux" => Os::Linux,
        "macos" => Os::Macos,
        "windows" => Os::Windows,
        other => return Err(reader.invalid("hardware", "os", other, "linux, macos or windows")),
    };
    let memory_source = match reader.string("hardware", "memory_source")?.as_str() {
        "ram" => MemorySource::Ram,
        "cgroup-limit" => MemorySource::CgroupLimit,
        "flag" => MemorySource::Flag,
        other => return Err(reader.invalid("hardware", "memory_source", other, "ram, cgroup-limit or flag")),
    };
    let hardware = Hardware {
        memory_bytes: reader.positive("hardware", "memory_bytes")?,
        memory_source,
        logical_cpus: reader.count("hardware", "logical_cpus")?,
        physical_cpus: reader.count("hardware", "physical_cpus")?,
        os,
        wsl: false,
        notes: Vec::new(),
    };

    let overrides = Overrides {
        jobs: reader.optional_count("overrides", "jobs")?,
        test_threads: reader.optional_count("overrides", "test_threads")?,
    };
    if let Some(table) = reader.root.get("overrides").and_then(Item::as_table_like) {
        for (key, _) in table.iter() {
            if !matches!(key, "jobs" | "test_threads") {
                return Err(RecordError {
                    line: reader.line("overrides", key),
                    key: format!("overrides.{key}"),
                    message: "is not a value memsafe can pin: use `jobs` or `test_threads`".into(),
                });
            }
        }
    }

    // The counts at the top catch a file cut short after them.
    let count_of = |key: &str| reader.item("memsafe", key).and_then(Item::as_integer);
    let truncated = |what: &str, found: usize, expected: i64| RecordError {
        line: reader.line("memsafe", what),
        key: format!("memsafe.{what}"),
        message: format!("says {expected}, but the file lists {found}: it looks truncated"),
    };
    let mut managed = Vec::new();
    if let Some(table) = reader.root.get("managed").and_then(Item::as_table_like) {
        for (name, item) in table.iter() {
            let keys = item
                .as_array()
                .map(|array| {
                    array
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            managed.push(Managed {
                name: name.to_string(),
                keys,
            });
        }
    }

    if let Some(expected) = count_of("managed")
        && usize::try_from(expected).ok() != Some(managed.len())
    {
        return Err(truncated("managed", managed.len(), expected));
    }
    let undo = parse_undo(&reader)?;
    if let Some(expected) = count_of("undo")
        && usize::try_from(expected).ok() != Some(undo.len())
    {
        return Err(truncated("undo", undo.len(), expected));
    }

    Ok(Record {
        version,
        answers: Answers {
            preset,
            editors,
            scripts,
            team,
        },
        hardware,
        budget_bytes: reader.positive("plan", "budget_bytes").unwrap_or(0),
        jobs: reader.count("plan", "jobs")?,
        test_threads: reader.count("plan", "test_threads")?,
        overrides,
        managed,
        undo,
        calibration: parse_calibration(&reader)?,
    })
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

struct Reader<'a> {
    body: &'a str,
    root: &'a toml_edit::Table,
}

impl Reader<'_> {
    fn table(&self, table: &str) -> Option<&dyn TableLike> {
        self.root.get(table).and_then(Item::as_table_like)
    }

    fn item(&self, table: &str, key: &str) -> Option<&Item> {
        self.table(table).and_then(|t| t.get(key))
    }

    fn line(&self, table: &str, key: &str) -> Option<usize> {
        let span = self
            .item(table, key)
            .and_then(Item::span)
            .or_else(|| self.root.get(table).and_then(Item::span))?;
        Some(line_column(self.body, span.start).0)
    }

    fn missing(&self, table: &str, key: &str) -> RecordError {
        RecordError {
            line: self
                .root
                .get(table)
                .and_then(Item::span)
                .map(|s| line_column(self.body, s.start).0),
            key: format!("{table}.{key}"),
            message: "is missing".into(),
        }
    }

    fn wrong(&self, table: &str, key: &str, expected: &str) -> RecordError {
        RecordError {
            line: self.line(table, key),
            key: format!("{table}.{key}"),
            message: format!("must be {expected}"),
        }
    }

    fn invalid(&self, table: &str, key: &str, value: &str, expected: &str) -> RecordError {
        RecordError {
            line: self.line(table, key),
            key: format!("{table}.{key}"),
            message: format!("is `{value}`: expected {expected}"),
        }
    }

    fn string(&self, table: &str, key: &str) -> Result<String, RecordError> {
        let item = self.item(table, key).ok_or_else(|| self.missing(table, key))?;
        item.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.wrong(table, key, "a string"))
    }

    fn integer(&self, table: &str, key: &str) -> Result<i64, RecordError> {
        let item = self.item(table, key).ok_or_else(|| self.missing(table, key))?;
        item.as_integer()
            .ok_or_else(|| self.wrong(table, key, "an integer"))
    }

    fn positive(&self, table: &str, key: &str) -> Result<u64, RecordError> {
        let value = self.integer(table, key)?;
        u64::try_from(value)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| self.wrong(table, key, "a positive integer"))
    }

    fn count(&self, table: &str, key: &str) -> Result<u32, RecordError> {
        let value = self.positive(table, key)?;
        u32::try_from(value).map_err(|_| self.wrong(table, key, "a positive integer below 2^32"))
    }

    fn optional_count(&self, table: &str, key: &str) -> Result<Option<u32>, RecordError> {
        if self.item(table, key).is_none() {
            return Ok(None);
        }
        self.count(table, key).map(Some)
    }

    fn optional_bool(&self, table: &str, key: &str) -> Result<Option<bool>, RecordError> {
        match self.item(table, key) {
            None => Ok(None),
            Some(item) => item
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.wrong(table, key, "true or false")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(newer("0.2.0", "0.1.9"));
        assert!(newer("1.0", "0.99.99"));
        assert!(!newer("0.1.0", "0.1.0"));
        assert!(!newer("0.1", "0.1.0"));
    }
}
