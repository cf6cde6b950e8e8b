//! Renders the configuration from the tera templates embedded in the binary.
//!
//! Every template is loaded (and so parsed) by [`Templates::new`]: a broken template fails the
//! first unit test, not a user's run. Values reach the text only through the quoting filters
//! registered here (`toml`, `json`, `sh`, `ps`), so quoting is never left to a template.

use include_dir::{Dir, DirEntry, include_dir};
use serde::Serialize;
use tera::{Context, Kwargs, State, Tera, Value};

use crate::hardware::{MemorySource, format_size};
use crate::plan::{Plan, RustAnalyzer};

static TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The name of one embedded template (its path below `templates/`, without `.tera`).
pub type TemplateId = &'static str;

/// A new `.cargo/config.toml`: `[build] jobs` and `[env]`.
pub const CARGO_CONFIG: TemplateId = "cargo/config.toml";
/// A new `.helix/languages.toml`: rust-analyzer's settings.
pub const HELIX_LANGUAGES: TemplateId = "helix/languages.toml";
/// The POSIX test runner, written whole.
pub const TEST_SH: TemplateId = "scripts/test-safe.sh";
/// The PowerShell test runner, written whole.
pub const TEST_PS1: TemplateId = "scripts/test-safe.ps1";

/// The embedded templates, parsed.
pub struct Templates {
    tera: Tera,
}

/// What the templates see.
#[derive(Serialize)]
struct TemplateContext<'a> {
    hardware_words: String,
    preset: &'static str,
    jobs: u32,
    jobs_text: String,
    test_threads: u32,
    test_threads_text: String,
    profile: &'a crate::plan::Profile,
    rust_analyzer: Option<&'a RustAnalyzer>,
}

impl Templates {
    /// Loads every embedded template.
    ///
    /// # Panics
    /// When an embedded template does not parse: a bug caught by the unit tests.
    pub fn new() -> Templates {
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&'static str>::new());
        tera.register_filter("toml", toml_filter);
        tera.register_filter("json", json_filter);
        tera.register_filter("sh", sh_filter);
        tera.register_filter("ps", ps_filter);
        let mut files = Vec::new();
        collect(&TEMPLATES, &mut files);
        tera.add_raw_templates(files)
            .expect("the embedded templates parse");
        Templates { tera }
    }

    /// Renders one template for `plan`.
    ///
    /// # Panics
    /// When a template refers to a value the plan does not have: a bug caught by the tests.
    pub fn render(&self, id: TemplateId, plan: &Plan) -> String {
        let hardware = &plan.hardware;
        let memory = match hardware.memory_source {
            MemorySource::CgroupLimit => format!("a {} container limit", format_size(hardware.memory_bytes)),
            _ => format_size(hardware.memory_bytes),
        };
        let context = TemplateContext {
            hardware_words: format!("{memory}, {} CPUs, {}", hardware.logical_cpus, hardware.os),
            preset: plan.answers.preset.as_str(),
            jobs: plan.jobs,
            jobs_text: plan.jobs.to_string(),
            test_threads: plan.test_threads,
            test_threads_text: plan.test_threads.to_string(),
            profile: &plan.profile,
            rust_analyzer: plan.rust_analyzer.as_ref(),
        };
        self.render_context(id, &context)
    }

    /// Renders a new TOML file holding `wanted` (key paths and values, in the registry's
    /// order), grouped into one `[table]` per parent path.
    pub fn render_toml(
        &self,
        id: TemplateId,
        preset: &str,
        wanted: &[(Vec<String>, serde_json::Value)],
    ) -> String {
        #[derive(Serialize)]
        struct Entry {
            key: String,
            value: serde_json::Value,
        }
        #[derive(Serialize)]
        struct Table {
            header: String,
            entries: Vec<Entry>,
        }
        #[derive(Serialize)]
        struct Tables<'a> {
            preset: &'a str,
            tables: Vec<Table>,
        }
        let quote = |names: &[String]| -> String {
            names
                .iter()
                .map(|n| toml_edit::Key::new(n.as_str()).to_string())
                .collect::<Vec<_>>()
                .join(".")
        };
        let mut tables: Vec<Table> = Vec::new();
        for (path, value) in wanted {
            let Some((key, parents)) = path.split_last() else {
                continue;
            };
            let header = quote(parents);
            let entry = Entry {
                key: quote(std::slice::from_ref(key)),
                value: value.clone(),
            };
            match tables.iter_mut().find(|t| t.header == header) {
                Some(table) => table.entries.push(entry),
                None => tables.push(Table {
                    header,
                    entries: vec![entry],
                }),
            }
        }
        self.render_context(id, &Tables { preset, tables })
    }

    /// The values `plan` sets in `file`, as a TOML or JSON text of their own (what memsafe
    /// writes into a file of that kind; a new file gets this plus its header).
    pub fn fragment(&self, file: crate::owned::FileId, plan: &Plan) -> String {
        use crate::owned::{self, Format, Want};
        let set: Vec<(Vec<String>, serde_json::Value)> = owned::wants(plan)
            .into_iter()
            .filter(|(key, _)| key.file == file)
            .filter_map(|(key, want)| match want {
                Want::Set(value) => Some((key.path, value)),
                _ => None,
            })
            .collect();
        match file.format() {
            Format::Jsonc => owned::json_text(&serde_json::Value::Object(owned::nested(&set))),
            _ => {
                let template = if file == crate::owned::FileId::Helix {
                    HELIX_LANGUAGES
                } else {
                    CARGO_CONFIG
                };
                let text = self.render_toml(template, plan.answers.preset.as_str(), &set);
                if file == crate::owned::FileId::Manifest {
                    // Keys merged into the user's manifest: no header of memsafe's.
                    let body: Vec<&str> = text
                        .lines()
                        .skip_while(|l| l.starts_with('#') || l.is_empty())
                        .collect();
                    format!("{}\n", body.join("\n"))
                } else {
                    text
                }
            }
        }
    }

    /// Renders one template with a context of the caller's.
    ///
    /// # Panics
    /// When the template refers to a value the context does not have: a bug caught by the tests.
    pub fn render_context(&self, id: TemplateId, context: &impl Serialize) -> String {
        let context = Context::from_serialize(context).expect("the template context serializes");
        let text = self
            .tera
            .render(&format!("{id}.tera"), &context)
            .unwrap_or_else(|error| panic!("template `{id}` failed to render: {error:?}"));
        normalize(&text)
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

fn collect<'a>(dir: &'a Dir<'a>, out: &mut Vec<(String, &'a str)>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(sub) => collect(sub, out),
            DirEntry::File(file) => {
                let name = file.path().to_string_lossy().replace('\\', "/");
                let text = file.contents_utf8().expect("templates are UTF-8");
                out.push((name, text));
            }
        }
    }
}

/// LF only, no leading blank lines, exactly one trailing newline.
fn normalize(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let trimmed = text.trim_start_matches('\n').trim_end();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}\n")
    }
}

fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

fn toml_filter(value: Value, _: Kwargs, _: &State) -> String {
    crate::merge::toml::from_json(&to_json(&value))
        .to_string()
        .trim()
        .to_string()
}

fn json_filter(value: Value, _: Kwargs, _: &State) -> String {
    to_json(&value).to_string()
}

fn plain_text(value: &Value) -> String {
    match to_json(value) {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

/// POSIX sh single quotes: nothing inside is special; a `'` becomes `'\''`.
fn sh_filter(value: Value, _: Kwargs, _: &State) -> String {
    format!("'{}'", plain_text(&value).replace('\'', r"'\''"))
}

/// PowerShell single quotes: nothing inside is special; a `'` is doubled.
fn ps_filter(value: Value, _: Kwargs, _: &State) -> String {
    format!("'{}'", plain_text(&value).replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::Hardware;
    use crate::plan::{Answers, Preset};

    fn plan(preset: Preset) -> Plan {
        let hardware = Hardware::given(16, 8);
        Plan::compute(
            &hardware,
            &Answers {
                preset,
                ..Answers::default()
            },
        )
    }

    #[test]
    fn every_template_renders_and_parses() {
        let templates = Templates::new();
        for preset in [Preset::Safe, Preset::Balanced, Preset::Fast] {
            let plan = plan(preset);
            for file in [
                crate::owned::FileId::Manifest,
                crate::owned::FileId::CargoConfig,
                crate::owned::FileId::Helix,
            ] {
                let text = templates.fragment(file, &plan);
                text.parse::<toml_edit::DocumentMut>()
                    .unwrap_or_else(|e| panic!("{file:?}: {e}\n{text}"));
            }
            let json = templates.fragment(crate::owned::FileId::Vscode, &plan);
            serde_json::from_str::<serde_json::Value>(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
            assert!(templates.render(TEST_SH, &plan).starts_with("#!/bin/sh\n"));
            assert!(templates.render(TEST_PS1, &plan).contains("$jobs = '"));
        }
    }

    #[test]
    fn quoting_filters() {
        let value = Value::from("it's");
        let state_free = |f: fn(Value, Kwargs, &State) -> String| {
            let mut tera = Tera::new();
            tera.register_filter("q", f);
            tera.add_raw_template("t", "{{ v | q }}").unwrap();
            let mut context = Context::new();
            context.insert("v", &value);
            tera.render("t", &context).unwrap()
        };
        assert_eq!(state_free(sh_filter), r"'it'\''s'");
        assert_eq!(state_free(ps_filter), "'it''s'");
        assert_eq!(state_free(json_filter), r#""it's""#);
        assert_eq!(state_free(toml_filter), r#""it's""#);
    }
}
