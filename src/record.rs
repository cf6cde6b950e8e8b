//! `memsafe.toml`: the answers, the machine the plan was made for, the planned values, the
//! user's pins and the keys memsafe manages. Pure: text in, text out.
//!
//! Reading is strict, because `regen` acts on it without asking: a missing, mistyped or
//! unknown value is an error that names the line and the key.

use serde::Serialize;
use toml_edit::{DocumentMut, Item, TableLike};

use crate::hardware::{Hardware, MemorySource, Os, format_size};
use crate::merge::line_column;
use crate::plan::{Answers, Editor, Overrides, Plan, Preset, Scripts};

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
    editor: &'static str,
    scripts: &'static str,
    team: bool,
    hardware_words: String,
    hardware: &'a Hardware,
    budget_bytes: u64,
    jobs: u32,
    test_threads: u32,
    managed: &'a [Managed],
}

/// Renders the record for `plan`; `existing` is the current file, whose `[overrides]` table
/// (with its comments) is carried over as it is.
pub fn render(
    templates: &crate::render::Templates,
    plan: &Plan,
    managed: &[Managed],
    existing: Option<&str>,
) -> String {
    let hardware = &plan.hardware;
    let source = match hardware.memory_source {
        MemorySource::Ram => "of RAM",
        MemorySource::CgroupLimit => "(a container limit)",
        MemorySource::Flag => "(given with --ram)",
    };
    let context = RecordContext {
        version: env!("CARGO_PKG_VERSION"),
        format: FORMAT,
        preset: plan.answers.preset.as_str(),
        editor: plan.answers.editor.as_str(),
        scripts: plan.answers.scripts.as_str(),
        team: plan.answers.team,
        hardware_words: format!(
            "{} {source}, {} logical CPUs ({} physical), {}",
            format_size(hardware.memory_bytes),
            hardware.logical_cpus,
            hardware.physical_cpus,
            hardware.os
        ),
        hardware,
        budget_bytes: plan.budget_bytes,
        jobs: plan.jobs,
        test_threads: plan.test_threads,
        managed,
    };
    let rendered = templates.render_context(crate::render::MEMSAFE_TOML, &context);
    let Some(existing) = existing else { return rendered };
    let Ok(old) = existing.parse::<DocumentMut>() else {
        return rendered;
    };
    let Some(old_overrides) = old.get("overrides").and_then(Item::as_table) else {
        return rendered;
    };
    let mut document: DocumentMut = rendered.parse().expect("the rendered record parses");
    let position = document["overrides"]
        .as_table()
        .and_then(toml_edit::Table::position);
    let mut kept = old_overrides.clone();
    kept.set_position(position);
    document["overrides"] = Item::Table(kept);
    // Comments after the last pin belong, in TOML, to the next table's header: keep them too.
    if let (Some(old_next), Some(next)) = (
        old.get("managed").and_then(Item::as_table),
        document.get_mut("managed").and_then(Item::as_table_mut),
    ) {
        *next.decor_mut() = old_next.decor().clone();
    }
    document.to_string()
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
    let editor = match reader.string("answers", "editor")?.as_str() {
        "vscode" => Editor::Vscode,
        "none" => Editor::None,
        other => return Err(reader.invalid("answers", "editor", other, "vscode or none")),
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

    Ok(Record {
        version,
        answers: Answers {
            preset,
            editor,
            scripts,
            team,
        },
        hardware,
        budget_bytes: reader.positive("plan", "budget_bytes").unwrap_or(0),
        jobs: reader.count("plan", "jobs")?,
        test_threads: reader.count("plan", "test_threads")?,
        overrides,
        managed,
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
