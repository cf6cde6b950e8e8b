//! Everything memsafe can own, declared once: every file, and in each file every key with its
//! value type and range. Pure.
//!
//! A plan gives every registered key a [`Want`]: a value, or [`Want::Release`] (the key goes
//! back to what the user had, or away if the user had nothing), or [`Want::Delete`] (memsafe
//! takes a misplaced key of the user's out; `remove` puts it back). Keys of an editor the user
//! did not choose are released, so that switching presets, machines or editors never leaves a
//! key behind. `check`, `regen` and `remove` all walk this one list.

use serde_json::{Value, json};

use crate::plan::{Plan, RustAnalyzer};

/// How memsafe edits a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Key by key, through toml_edit.
    Toml,
    /// Key by key, through a JSONC syntax tree.
    Jsonc,
    /// Whole: memsafe writes every byte, and rewrites or deletes it only while its bytes are
    /// what memsafe last wrote.
    Script { executable: bool },
}

/// A file memsafe may own keys in, or own whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileId {
    Manifest,
    CargoConfig,
    Vscode,
    Zed,
    Helix,
    TestSh,
    TestPs1,
    /// A workspace member's own `.cargo/config.toml` (`MEMBER/.cargo/config.toml`), whose
    /// `build.jobs` beats the root's when cargo runs there: the `member-jobs` fix takes it out.
    MemberConfig,
}

impl FileId {
    pub const ALL: [FileId; 7] = [
        FileId::Manifest,
        FileId::CargoConfig,
        FileId::Vscode,
        FileId::Zed,
        FileId::Helix,
        FileId::TestSh,
        FileId::TestPs1,
    ];

    pub fn format(self) -> Format {
        match self {
            FileId::Manifest | FileId::CargoConfig | FileId::Helix | FileId::MemberConfig => Format::Toml,
            FileId::Vscode | FileId::Zed => Format::Jsonc,
            FileId::TestSh => Format::Script { executable: true },
            FileId::TestPs1 => Format::Script { executable: false },
        }
    }

    /// The file's usual path from the project root. `.cargo/config` (legacy, which cargo reads
    /// instead of `config.toml` when both exist) is the other name of [`FileId::CargoConfig`].
    pub fn path(self) -> &'static str {
        match self {
            FileId::Manifest => "Cargo.toml",
            FileId::CargoConfig => ".cargo/config.toml",
            FileId::Vscode => ".vscode/settings.json",
            FileId::Zed => ".zed/settings.json",
            FileId::Helix => ".helix/languages.toml",
            FileId::TestSh => "test-safe.sh",
            FileId::TestPs1 => "test-safe.ps1",
            FileId::MemberConfig => ".cargo/config.toml",
        }
    }

    /// The paths a record may name for this file.
    pub fn paths(self) -> &'static [&'static str] {
        match self {
            FileId::CargoConfig => &[".cargo/config.toml", ".cargo/config"],
            FileId::Manifest => &["Cargo.toml"],
            FileId::Vscode => &[".vscode/settings.json"],
            FileId::Zed => &[".zed/settings.json"],
            FileId::Helix => &[".helix/languages.toml"],
            FileId::TestSh => &["test-safe.sh"],
            FileId::TestPs1 => &["test-safe.ps1"],
            FileId::MemberConfig => &[],
        }
    }

    /// The file a record's path names, if it is one memsafe manages: one of the fixed names,
    /// or `MEMBER/.cargo/config.toml` with a plain relative member folder (no `.` or `..`
    /// part, nothing under `.git`).
    pub fn from_path(path: &str) -> Option<FileId> {
        if let Some(id) = FileId::ALL.into_iter().find(|id| id.paths().contains(&path)) {
            return Some(id);
        }
        let member = path.strip_suffix("/.cargo/config.toml")?;
        let plain = !member.is_empty()
            && !member.starts_with('/')
            && !member.contains(['\\', ':'])
            && member
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != ".." && part != ".git");
        plain.then_some(FileId::MemberConfig)
    }
}

/// What a key's value may be. A value out of range is an error in memsafe.toml and a
/// difference in `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Bool,
    /// An integer in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// An integer written as a string (environment variables), in `min..=max`.
    IntText {
        min: i64,
        max: i64,
    },
    /// Cargo's `debug`: `true`/`false`, 0 to 2, or `"none"`, `"line-directives-only"`,
    /// `"line-tables-only"`, `"limited"`, `"full"`.
    DebugLevel,
    /// rust-analyzer's `check.extraArgs`: a list of strings.
    Args,
    /// Always `true` (an entry of VS Code's `files.watcherExclude`).
    True,
    /// A program for cargo to run (`build.rustc-wrapper`): a name or a path, not empty.
    Program,
    /// A key memsafe only ever takes out (a fix): any value.
    Any,
}

/// The counts cargo and the test harness accept, within reason.
pub const COUNT_MAX: i64 = 1024;

impl ValueType {
    /// Whether `value` is one this key may hold.
    pub fn check(self, value: &Value) -> Result<(), String> {
        let in_range = |n: i64, min: i64, max: i64| {
            if (min..=max).contains(&n) {
                Ok(())
            } else {
                Err(format!("{n} is outside {min} to {max}"))
            }
        };
        match (self, value) {
            (ValueType::Bool, Value::Bool(_)) => Ok(()),
            (ValueType::True, Value::Bool(true)) => Ok(()),
            (ValueType::Int { min, max }, Value::Number(n)) => {
                in_range(n.as_i64().ok_or("not an integer")?, min, max)
            }
            (ValueType::IntText { min, max }, Value::String(text)) => in_range(
                text.parse::<i64>()
                    .map_err(|_| format!("`{text}` is not a whole number"))?,
                min,
                max,
            ),
            (ValueType::DebugLevel, Value::Bool(_)) => Ok(()),
            (ValueType::DebugLevel, Value::Number(n)) => in_range(n.as_i64().ok_or("not an integer")?, 0, 2),
            (ValueType::DebugLevel, Value::String(level))
                if matches!(
                    level.as_str(),
                    "none" | "line-directives-only" | "line-tables-only" | "limited" | "full"
                ) =>
            {
                Ok(())
            }
            (ValueType::Args, Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
            (ValueType::Program, Value::String(program)) if program.trim().is_empty() => {
                Err("an empty program is not one cargo can run".into())
            }
            (ValueType::Program, Value::String(_)) => Ok(()),
            (ValueType::Any, _) => Ok(()),
            (_, other) => Err(format!("`{other}` is not a valid value here")),
        }
    }
}

/// One key memsafe can own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub file: FileId,
    /// The key's names from the top of the file, e.g. `["profile", "dev", "debug"]`.
    pub path: Vec<String>,
    pub value_type: ValueType,
}

impl Key {
    /// The key as people write it: `profile.dev.debug`, `rust-analyzer.numThreads`,
    /// `files.watcherExclude["**/target/**"]`.
    pub fn display(&self) -> String {
        display_path(self.file, &self.path)
    }
}

/// A key path as people write it in that kind of file.
pub fn display_path(file: FileId, path: &[String]) -> String {
    match file.format() {
        Format::Jsonc => {
            let mut out = path.first().cloned().unwrap_or_default();
            for name in &path[1.min(path.len())..] {
                out.push_str(&format!("[{}]", Value::String(name.clone())));
            }
            out
        }
        _ => crate::merge::toml::dotted(path),
    }
}

/// One rust-analyzer setting: its name (dotted, as in rust-analyzer's docs) and the plan's
/// value. Each editor writes it where it reads it: VS Code flat as `rust-analyzer.NAME`, Zed
/// under `lsp.rust-analyzer.initialization_options`, Helix under
/// `[language-server.rust-analyzer.config]`. A new setting is one line here.
pub struct RaSetting {
    pub name: &'static str,
    pub value_type: ValueType,
    pub value: fn(&RustAnalyzer) -> Option<Value>,
}

/// The rust-analyzer settings memsafe owns.
pub const RUST_ANALYZER: &[RaSetting] = &[
    RaSetting {
        name: "numThreads",
        value_type: ValueType::Int {
            min: 1,
            max: COUNT_MAX,
        },
        value: |ra| Some(json!(ra.num_threads)),
    },
    RaSetting {
        name: "cachePriming.numThreads",
        value_type: ValueType::Int {
            min: 1,
            max: COUNT_MAX,
        },
        value: |ra| Some(json!(ra.cache_priming_threads)),
    },
    RaSetting {
        name: "cachePriming.enable",
        value_type: ValueType::Bool,
        value: |ra| ra.cache_priming_enable.map(Value::Bool),
    },
    RaSetting {
        name: "procMacro.enable",
        value_type: ValueType::Bool,
        value: |ra| ra.proc_macro_enable.map(Value::Bool),
    },
    RaSetting {
        name: "check.extraArgs",
        value_type: ValueType::Args,
        value: |ra| Some(json!(["--jobs", ra.check_jobs.to_string()])),
    },
];

/// Where an editor keeps rust-analyzer's settings.
fn ra_path(file: FileId, name: &str) -> Vec<String> {
    let mut path: Vec<String> = match file {
        FileId::Vscode => return vec![format!("rust-analyzer.{name}")],
        FileId::Zed => ["lsp", "rust-analyzer", "initialization_options"]
            .map(String::from)
            .to_vec(),
        FileId::Helix => ["language-server", "rust-analyzer", "config"]
            .map(String::from)
            .to_vec(),
        _ => unreachable!("only editors hold rust-analyzer settings"),
    };
    path.extend(name.split('.').map(String::from));
    path
}

fn path(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_string()).collect()
}

/// Every key memsafe can own, in the order it writes them.
pub fn registry() -> Vec<Key> {
    let count = ValueType::Int {
        min: 1,
        max: COUNT_MAX,
    };
    let key = |file, names: &[&str], value_type| Key {
        file,
        path: path(names),
        value_type,
    };
    let text_count = ValueType::IntText {
        min: 1,
        max: COUNT_MAX,
    };
    let mut keys = vec![
        key(
            FileId::Manifest,
            &["profile", "dev", "debug"],
            ValueType::DebugLevel,
        ),
        key(
            FileId::Manifest,
            &["profile", "dev", "incremental"],
            ValueType::Bool,
        ),
        key(
            FileId::Manifest,
            &["profile", "dev", "package", "*", "debug"],
            ValueType::DebugLevel,
        ),
        // Cargo ignores `[build]` in Cargo.toml ("unused manifest key"): the fix takes a `jobs`
        // there out, since memsafe's lives in .cargo/config.toml. The fixes' other keys follow.
        key(FileId::Manifest, &["build", "jobs"], count),
        key(
            FileId::Manifest,
            &["profile", "dev", "split-debuginfo"],
            ValueType::Any,
        ),
        key(
            FileId::Manifest,
            &["profile", "test", "split-debuginfo"],
            ValueType::Any,
        ),
        key(
            FileId::Manifest,
            &["profile", "test", "opt-level"],
            ValueType::Any,
        ),
        key(
            FileId::Manifest,
            &["profile", "test", "codegen-units"],
            ValueType::Any,
        ),
        key(FileId::CargoConfig, &["build", "jobs"], count),
        // The governor: memsafe as cargo's wrapper, and the user's own wrapper it runs.
        key(
            FileId::CargoConfig,
            &["build", "rustc-wrapper"],
            ValueType::Program,
        ),
        key(FileId::CargoConfig, &["env", "RUST_TEST_THREADS"], text_count),
        key(
            FileId::CargoConfig,
            &["env", crate::governor::CHAIN_ENV],
            ValueType::Program,
        ),
        key(FileId::MemberConfig, &["build", "jobs"], ValueType::Any),
    ];
    for file in [FileId::Vscode, FileId::Zed, FileId::Helix] {
        for setting in RUST_ANALYZER {
            keys.push(Key {
                file,
                path: ra_path(file, setting.name),
                value_type: setting.value_type,
            });
        }
    }
    keys.push(key(
        FileId::Vscode,
        &["files.watcherExclude", "**/target/**"],
        ValueType::True,
    ));
    keys
}

/// What a plan wants for one key.
#[derive(Clone, Debug, PartialEq)]
pub enum Want {
    /// memsafe's value.
    Set(Value),
    /// Not memsafe's: the user's own entry as it was before memsafe, or nothing.
    Release,
    /// Taken out (a misplaced key of the user's); `remove` puts it back.
    Delete,
}

/// The plan's want for every registered key, in registry order.
pub fn wants(plan: &Plan) -> Vec<(Key, Want)> {
    let editors = plan.answers.editors;
    registry()
        .into_iter()
        .map(|key| {
            let want = match key.file {
                FileId::Manifest => match key.path.join(".").as_str() {
                    "profile.dev.debug" => plan.profile.dev_debug.clone().map(Value::String).into(),
                    "profile.dev.incremental" => plan.profile.dev_incremental.map(Value::Bool).into(),
                    "profile.dev.package.*.debug" => plan.profile.dependencies_debug.map(Value::Bool).into(),
                    taken if plan.takes_out.iter().any(|k| k == taken) => Want::Delete,
                    _ => Want::Release,
                },
                FileId::CargoConfig => match key.path.join(".").as_str() {
                    "build.jobs" => Want::Set(json!(plan.jobs)),
                    "env.RUST_TEST_THREADS" => Want::Set(json!(plan.test_threads.to_string())),
                    "build.rustc-wrapper" => plan
                        .governor
                        .as_ref()
                        .map(|g| Value::String(g.program.clone()))
                        .into(),
                    chain if chain == format!("env.{}", crate::governor::CHAIN_ENV) => plan
                        .governor
                        .as_ref()
                        .and_then(|g| g.chain.clone())
                        .map(Value::String)
                        .into(),
                    other => unreachable!("a registered key has a want: {other}"),
                },
                FileId::Vscode | FileId::Zed | FileId::Helix => {
                    let chosen = match key.file {
                        FileId::Vscode => editors.vscode,
                        FileId::Zed => editors.zed,
                        _ => editors.helix,
                    };
                    match (&plan.rust_analyzer, chosen) {
                        (Some(ra), true) => editor_value(key.file, &key.path, ra).into(),
                        _ => Want::Release,
                    }
                }
                // Per member: the changeset decides from the plan's `members_out`.
                FileId::TestSh | FileId::TestPs1 | FileId::MemberConfig => Want::Release,
            };
            (key, want)
        })
        .collect()
}

impl From<Option<Value>> for Want {
    fn from(value: Option<Value>) -> Want {
        value.map_or(Want::Release, Want::Set)
    }
}

fn editor_value(file: FileId, path: &[String], ra: &RustAnalyzer) -> Option<Value> {
    if file == FileId::Vscode && path.first().is_some_and(|p| p == "files.watcherExclude") {
        return Some(Value::Bool(true));
    }
    RUST_ANALYZER
        .iter()
        .find(|setting| ra_path(file, setting.name) == path)
        .and_then(|setting| (setting.value)(ra))
}

/// Whether the plan wants the script `file` written.
pub fn script_wanted(plan: &Plan, file: FileId) -> bool {
    match file {
        FileId::TestSh => plan.answers.scripts.sh(),
        FileId::TestPs1 => plan.answers.scripts.ps1(),
        _ => false,
    }
}

/// The folders above a `/`-separated path, outermost first: `.vscode/settings.json` has
/// `.vscode`.
pub fn parent_dirs(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..parts.len()).map(|n| parts[..n].join("/")).collect()
}

/// The values a new file starts with, nested as the file nests them (for the templates).
pub fn nested(wanted: &[(Vec<String>, Value)]) -> serde_json::Map<String, Value> {
    let mut root = serde_json::Map::new();
    for (path, value) in wanted {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut object = &mut root;
        for name in parents {
            object = object
                .entry(name.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new()))
                .as_object_mut()
                .expect("registered paths never put a value where a table is");
        }
        object.insert(last.clone(), value.clone());
    }
    root
}

/// A new settings file's JSON: one key per line, two spaces, lists of plain values on one line
/// (`["--jobs", "4"]`), as people write settings.json.
pub fn json_text(value: &Value) -> String {
    fn write(value: &Value, indent: usize, out: &mut String) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                out.push_str("{\n");
                for (index, (key, value)) in map.iter().enumerate() {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push_str(": ");
                    write(value, indent + 2, out);
                    if index + 1 < map.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&" ".repeat(indent));
                out.push('}');
            }
            Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                let parts: Vec<String> = items.iter().map(Value::to_string).collect();
                out.push_str(&format!("[{}]", parts.join(", ")));
            }
            other => out.push_str(&serde_json::to_string_pretty(other).unwrap_or_default()),
        }
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::Hardware;
    use crate::plan::{Answers, Editors, Preset};

    #[test]
    fn every_key_has_a_want_and_planned_values_are_in_range() {
        let hardware = Hardware::given(16, 8);
        for preset in [Preset::Safe, Preset::Balanced, Preset::Fast] {
            let answers = Answers {
                preset,
                editors: Editors {
                    vscode: true,
                    zed: true,
                    helix: true,
                },
                governor: preset != Preset::Safe,
                ..Answers::default()
            };
            let plan = Plan::compute(&hardware, &answers);
            let wants = wants(&plan);
            assert_eq!(wants.len(), registry().len());
            for (key, want) in &wants {
                if let Want::Set(value) = want {
                    key.value_type
                        .check(value)
                        .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
                }
            }
        }
    }

    #[test]
    fn an_editor_not_chosen_releases_its_keys() {
        let hardware = Hardware::given(16, 8);
        let plan = Plan::compute(&hardware, &Answers::default());
        for (key, want) in wants(&plan) {
            if matches!(key.file, FileId::Zed | FileId::Helix) {
                assert_eq!(want, Want::Release, "{}", key.display());
            }
        }
    }

    #[test]
    fn ranges() {
        let count = ValueType::Int {
            min: 1,
            max: COUNT_MAX,
        };
        assert!(count.check(&json!(4)).is_ok());
        assert!(count.check(&json!(0)).is_err());
        assert!(count.check(&json!(4_294_967_295_i64)).is_err());
        assert!(ValueType::DebugLevel.check(&json!("line-tables-only")).is_ok());
        assert!(ValueType::DebugLevel.check(&json!(3)).is_err());
        assert_eq!(
            display_path(FileId::Vscode, &path(&["files.watcherExclude", "**/target/**"])),
            r#"files.watcherExclude["**/target/**"]"#
        );
        assert_eq!(
            display_path(
                FileId::Manifest,
                &path(&["profile", "dev", "package", "*", "debug"])
            ),
            r#"profile.dev.package."*".debug"#
        );
    }
}
