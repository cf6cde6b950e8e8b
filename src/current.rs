//! What the repo already has: the memory settings cargo would use today, and the well-known bad
//! recipes among them. Reading is IO at the edge ([`Current::read`]); the findings are pure
//! ([`Current::from_texts`]), so tests feed them texts.
//!
//! Where cargo reads them (docs/measurements.md M4, M5): the root manifest's profiles; the
//! `.cargo/config.toml` (or legacy `.cargo/config`) files of the root and every folder above
//! it, then `$CARGO_HOME/config.toml`, the deeper winning; the environment, which beats all
//! files. A member folder's config wins when cargo runs from that folder. For a key memsafe
//! already owns, the user's own value is the original recorded in memsafe.toml, not memsafe's.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::merge::toml::TomlDoc;
use crate::owned::FileId;
use crate::record::{Change, Record};

/// Where a value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Source {
    /// A file (relative to the project root when inside it) and the 1-based line.
    File { file: String, line: usize },
    /// An environment variable.
    Env { variable: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File { file, line } => write!(f, "{file} line {line}"),
            Source::Env { variable } => write!(f, "the environment ({variable})"),
        }
    }
}

/// One setting as it is now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setting {
    /// As the plan names it: `profile.dev.debug`, `build.jobs`, `test threads`.
    pub setting: String,
    pub value: Value,
    pub source: Source,
}

/// How bad a finding is, and so whether its fix is on by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Plainly wrong: fixed by default, `--yes` included.
    Wrong,
    /// Costs time for nothing: fixed by default at the prompt, not with `--yes` alone.
    Slow,
    /// A matter of taste: reported, left as it is.
    Taste,
    /// A rust-analyzer key that no longer exists.
    Stale,
    /// Beats memsafe's value.
    Overrides,
}

/// A fix memsafe can make, by name (`--fix NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fix {
    /// `[build] jobs` in Cargo.toml, which cargo ignores: taken out
    BuildInManifest,
    /// `split-debuginfo = "off"` or `"unpacked"` on Windows MSVC, which does not support them: taken out
    SplitDebuginfo,
    /// `opt-level > 0` or `codegen-units = 1` in `[profile.test]`: taken out
    TestProfile,
}

impl Fix {
    pub const ALL: [Fix; 3] = [Fix::BuildInManifest, Fix::SplitDebuginfo, Fix::TestProfile];

    pub fn as_str(self) -> &'static str {
        match self {
            Fix::BuildInManifest => "build-in-manifest",
            Fix::SplitDebuginfo => "split-debuginfo",
            Fix::TestProfile => "test-profile",
        }
    }

    /// The Cargo.toml keys the fix takes out.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Fix::BuildInManifest => &["build.jobs"],
            Fix::SplitDebuginfo => &["profile.dev.split-debuginfo", "profile.test.split-debuginfo"],
            Fix::TestProfile => &["profile.test.opt-level", "profile.test.codegen-units"],
        }
    }
}

/// A well-known bad recipe (or a value that beats memsafe's), with what it costs and the fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub status: Status,
    /// Where: `Cargo.toml line 7`, `the environment (CARGO_BUILD_JOBS)`.
    pub place: String,
    pub what: String,
    /// What it costs, with the source of the figure.
    pub cost: String,
    /// The fix memsafe can make; `None`: memsafe only says so.
    pub fix: Option<Fix>,
}

/// The repo's settings and findings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Current {
    pub settings: Vec<Setting>,
    pub findings: Vec<Finding>,
}

/// The texts [`Current::from_texts`] reads, each with the name it is shown by.
#[derive(Default)]
pub struct Texts<'a> {
    pub manifest: Option<&'a str>,
    /// Config files, lowest precedence first ($CARGO_HOME, then outer folders, then the root).
    pub configs: Vec<(String, &'a str)>,
    /// Members' own config files, which win when cargo runs from there.
    pub member_configs: Vec<(String, &'a str)>,
    pub vscode: Option<&'a str>,
    /// Scripts of the user's (not memsafe's) at the root.
    pub scripts: Vec<(String, &'a str)>,
    pub env: Vec<(String, String)>,
    pub record: Option<&'a Record>,
    pub windows: bool,
}

/// The profile keys whose current value the plan reports.
const PROFILE_KEYS: &[&str] = &[
    "profile.dev.debug",
    "profile.dev.incremental",
    "profile.dev.codegen-units",
    "profile.dev.opt-level",
    "profile.dev.split-debuginfo",
    "profile.dev.package.*.debug",
    "profile.test.debug",
    "profile.test.opt-level",
    "profile.test.codegen-units",
    "profile.test.split-debuginfo",
    "profile.release.codegen-units",
];

fn path_of(dotted: &str) -> Vec<String> {
    dotted.split('.').map(String::from).collect()
}

/// The value of `dotted` in `text`, and its line; memsafe's own value gives way to the
/// original it recorded.
fn lookup(text: &str, dotted: &str, owned: Option<&crate::record::FileRecord>) -> Option<(Value, usize)> {
    let path = path_of(dotted);
    let doc = TomlDoc::parse(text).ok()?;
    let line = line_of(text, path.last()?)?;
    if let Some(key) = owned.and_then(|f| f.keys.iter().find(|k| k.path == path)) {
        let original = key.original.as_deref()?;
        return match key.change {
            // memsafe's value: the user's is the original it recorded.
            Change::Set => {
                let parsed = TomlDoc::parse(&format!("k = {original}")).ok()?;
                parsed.get(&["k".to_string()]).map(|found| (found.value, line))
            }
            // Taken out by a fix: the user's entry is still theirs.
            Change::Delete => {
                let parsed = TomlDoc::parse(original).ok()?;
                let from = if key.dotted { 2 } else { 1 };
                parsed
                    .get(&path[path.len().saturating_sub(from)..])
                    .map(|found| (found.value, line))
            }
            Change::Rename => None,
        };
    }
    doc.get(&path).map(|found| (found.value, line))
}

/// The first line that sets `key` (`key =`, `key=`), for messages.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let trimmed = line.trim_start().trim_start_matches('"');
            trimmed.starts_with(key)
                && trimmed[key.len()..]
                    .trim_start_matches('"')
                    .trim_start()
                    .starts_with('=')
        })
        .map(|i| i + 1)
        .or(Some(1))
}

/// The debug level as a number that orders them: 0 none ... 4 full.
pub fn debug_rank(value: &Value) -> Option<u8> {
    match value {
        Value::Bool(false) => Some(0),
        Value::Bool(true) => Some(4),
        Value::Number(n) => match n.as_i64()? {
            0 => Some(0),
            1 => Some(3),
            2 => Some(4),
            _ => None,
        },
        Value::String(level) => match level.as_str() {
            "none" => Some(0),
            "line-directives-only" => Some(1),
            "line-tables-only" => Some(2),
            "limited" => Some(3),
            "full" => Some(4),
            _ => None,
        },
        _ => None,
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

impl Current {
    /// The value cargo uses for `setting`, if the repo sets one.
    pub fn get(&self, setting: &str) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| s.setting == setting)
    }

    /// Reads the settings and finds the bad recipes. Pure.
    pub fn from_texts(texts: &Texts<'_>) -> Current {
        let mut current = Current::default();
        let owned = |file: FileId| {
            texts
                .record
                .and_then(|r| r.files.iter().find(|f| FileId::from_path(&f.path) == Some(file)))
        };
        if let Some(manifest) = texts.manifest {
            for key in PROFILE_KEYS {
                if let Some((value, line)) = lookup(manifest, key, owned(FileId::Manifest)) {
                    current.settings.push(Setting {
                        setting: (*key).to_string(),
                        value,
                        source: Source::File {
                            file: "Cargo.toml".into(),
                            line,
                        },
                    });
                }
            }
            // `[build] jobs` in Cargo.toml: ignored by cargo, so not a setting, but a finding.
            if lookup(manifest, "build.jobs", owned(FileId::Manifest)).is_some() {
                current.findings.push(Finding {
                    status: Status::Wrong,
                    place: format!("Cargo.toml line {}", line_of(manifest, "jobs").unwrap_or(1)),
                    what: "`[build] jobs` in Cargo.toml".into(),
                    cost: "cargo ignores it and warns \"unused manifest key: build\" on every command; the \
                           build runs with cargo's default job count (docs/measurements.md M5)"
                        .into(),
                    fix: Some(Fix::BuildInManifest),
                });
            }
        }
        for (name, text) in &texts.configs {
            let file = if name.starts_with(".cargo/") {
                owned(FileId::CargoConfig)
            } else {
                None
            };
            for (key, setting) in [
                ("build.jobs", "build.jobs"),
                ("env.RUST_TEST_THREADS", "test threads"),
            ] {
                if let Some((value, line)) = lookup(text, key, file) {
                    current.settings.push(Setting {
                        setting: setting.into(),
                        value,
                        source: Source::File {
                            file: name.clone(),
                            line,
                        },
                    });
                }
            }
            for key in PROFILE_KEYS {
                if let Some((value, line)) = lookup(text, key, None) {
                    current.settings.push(Setting {
                        setting: (*key).to_string(),
                        value,
                        source: Source::File {
                            file: name.clone(),
                            line,
                        },
                    });
                }
            }
        }
        for (variable, setting) in [
            ("CARGO_BUILD_JOBS", "build.jobs"),
            ("RUST_TEST_THREADS", "test threads"),
            ("CARGO_INCREMENTAL", "profile.dev.incremental"),
            ("CARGO_PROFILE_DEV_DEBUG", "profile.dev.debug"),
            ("CARGO_PROFILE_DEV_INCREMENTAL", "profile.dev.incremental"),
            ("CARGO_PROFILE_DEV_CODEGEN_UNITS", "profile.dev.codegen-units"),
            ("CARGO_PROFILE_TEST_OPT_LEVEL", "profile.test.opt-level"),
            ("CARGO_PROFILE_TEST_CODEGEN_UNITS", "profile.test.codegen-units"),
        ] {
            let Some((_, text)) = texts.env.iter().find(|(name, _)| name == variable) else {
                continue;
            };
            let value = text
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| text.parse::<bool>().map(Value::Bool))
                .unwrap_or_else(|_| Value::String(text.clone()));
            let value = match (variable, &value) {
                ("CARGO_INCREMENTAL", Value::Number(n)) => Value::Bool(n.as_i64() != Some(0)),
                _ => value,
            };
            current.settings.push(Setting {
                setting: setting.into(),
                value: value.clone(),
                source: Source::Env {
                    variable: variable.into(),
                },
            });
            if matches!(variable, "CARGO_BUILD_JOBS" | "RUST_TEST_THREADS") {
                current.findings.push(Finding {
                    status: Status::Overrides,
                    place: format!("the environment ({variable})"),
                    what: format!("{variable}={text}"),
                    cost: format!(
                        "it beats .cargo/config.toml: builds and tests in this shell use {text}, not memsafe's \
                         value (docs/measurements.md M5)"
                    ),
                    fix: None,
                });
            }
        }
        for (name, text) in &texts.member_configs {
            if let Some((value, line)) = lookup(text, "build.jobs", None) {
                current.findings.push(Finding {
                    status: Status::Overrides,
                    place: format!("{name} line {line}"),
                    what: format!("`build.jobs = {}` in a member's config", show(&value)),
                    cost: "cargo run from that folder uses it instead of the root's: the plan's job count \
                           does not apply there; take it out, or let it be the root's"
                        .into(),
                    fix: None,
                });
            }
        }
        current.recipes(texts);
        current
    }

    /// The findings on the profile settings, the scripts and the editor.
    fn recipes(&mut self, texts: &Texts<'_>) {
        let place = |setting: &Setting| setting.source.to_string();
        for profile in ["dev", "test"] {
            if let Some(split) = self.get(&format!("profile.{profile}.split-debuginfo")).cloned()
                && texts.windows
                && matches!(split.value.as_str(), Some("off" | "unpacked"))
                && matches!(split.source, Source::File { .. })
            {
                self.findings.push(Finding {
                    status: Status::Wrong,
                    place: place(&split),
                    what: format!(
                        "`split-debuginfo = {}` in [profile.{profile}]",
                        show(&split.value)
                    ),
                    cost:
                        "Windows MSVC supports only `packed` (rustc's default there): cargo drops the value \
                           without a word (docs/measurements.md M6)"
                            .into(),
                    fix: Some(Fix::SplitDebuginfo),
                });
            }
        }
        let opt = self
            .get("profile.test.opt-level")
            .filter(|s| s.value.as_i64().is_some_and(|n| n > 0) || s.value.is_string())
            .cloned();
        let units = self
            .get("profile.test.codegen-units")
            .filter(|s| s.value.as_i64() == Some(1))
            .cloned();
        if let Some(first) = opt.as_ref().or(units.as_ref())
            && matches!(first.source, Source::File { .. })
        {
            let mut what = Vec::new();
            if let Some(opt) = &opt {
                what.push(format!("opt-level = {}", show(&opt.value)));
            }
            if units.is_some() {
                what.push("codegen-units = 1".into());
            }
            self.findings.push(Finding {
                status: Status::Slow,
                place: place(first),
                what: format!("`{}` in [profile.test]", what.join("`, `")),
                cost: "measured: opt-level 1 with codegen-units 1 took 77% more build time and saved no \
                       memory (docs/measurements.md M2)"
                    .into(),
                fix: Some(Fix::TestProfile),
            });
        }
        if let Some(incremental) = self.get("profile.dev.incremental").cloned()
            && incremental.value == Value::Bool(false)
        {
            self.findings.push(Finding {
                status: Status::Taste,
                place: place(&incremental),
                what: "`incremental = false` in [profile.dev]".into(),
                cost: "kept: incremental compilation moves disk use and rebuild time, not a build's peak \
                       memory (docs/measurements.md M2); without it every edit rebuilds more"
                    .into(),
                fix: None,
            });
        }
        for (name, text) in &texts.scripts {
            if let Some(line) = text.lines().position(|l| l.contains("cargo clean")) {
                self.findings.push(Finding {
                    status: Status::Slow,
                    place: format!("{name} line {}", line + 1),
                    what: "`cargo clean` before the tests".into(),
                    cost: "every run rebuilds every dependency: a clean build instead of an incremental one \
                           (docs/measurements.md M2: mdBook's clean build takes 70 to 121 s on 2 cores); \
                           memsafe's test-safe scripts run it only when asked (--clean)"
                        .into(),
                    fix: None,
                });
            }
        }
        if let Some(settings) = texts.vscode {
            for (name, line) in stale_rust_analyzer_keys(settings) {
                self.findings.push(Finding {
                    status: Status::Stale,
                    place: format!(".vscode/settings.json line {line}"),
                    what: format!("`{name}`"),
                    cost: "rust-analyzer has no such setting (not in its settings schema, nor an old name \
                           it renamed): it does nothing"
                        .into(),
                    fix: None,
                });
            }
        }
    }

    /// Reads the repo and the environment.
    pub fn read(root: &Path, record: Option<&Record>, windows: bool) -> Current {
        let read = |path: &Path| std::fs::read_to_string(path).ok();
        let manifest = read(&root.join("Cargo.toml"));
        // Config files: $CARGO_HOME first (lowest), then the folders above, then the root.
        let mut config_paths = Vec::new();
        if let Some(home) = std::env::var_os("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        {
            config_paths.push((home.join("config.toml"), "$CARGO_HOME/config.toml".to_string()));
        }
        let mut folders: Vec<&Path> = root.ancestors().collect();
        folders.reverse();
        for folder in folders {
            for name in ["config", "config.toml"] {
                let path = folder.join(".cargo").join(name);
                if path.is_file() {
                    let shown = if folder == root {
                        format!(".cargo/{name}")
                    } else {
                        path.display().to_string()
                    };
                    config_paths.push((path, shown));
                    break;
                }
            }
        }
        let configs: Vec<(String, String)> = config_paths
            .into_iter()
            .filter_map(|(path, shown)| read(&path).map(|text| (shown, text)))
            .collect();
        let member_configs: Vec<(String, String)> = member_folders(root)
            .into_iter()
            .filter_map(|folder| {
                let path = root.join(&folder).join(".cargo/config.toml");
                read(&path).map(|text| (format!("{folder}/.cargo/config.toml"), text))
            })
            .collect();
        let own_scripts: Vec<&str> = record
            .map(|r| {
                r.files
                    .iter()
                    .filter(|f| f.hash.is_some())
                    .map(|f| f.path.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let scripts: Vec<(String, String)> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let script = name.ends_with(".sh") || name.ends_with(".ps1");
                (script && !own_scripts.contains(&name.as_str()))
                    .then(|| read(&entry.path()).map(|text| (name, text)))
                    .flatten()
            })
            .collect();
        let vscode = read(&root.join(".vscode/settings.json"));
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(name, _)| name.starts_with("CARGO_") || name == "RUST_TEST_THREADS")
            .collect();
        let texts = Texts {
            manifest: manifest.as_deref(),
            configs: configs.iter().map(|(n, t)| (n.clone(), t.as_str())).collect(),
            member_configs: member_configs
                .iter()
                .map(|(n, t)| (n.clone(), t.as_str()))
                .collect(),
            vscode: vscode.as_deref(),
            scripts: scripts.iter().map(|(n, t)| (n.clone(), t.as_str())).collect(),
            env,
            record,
            windows,
        };
        Current::from_texts(&texts)
    }
}

/// The workspace's member folders (plain paths and one-level globs), relative to the root.
fn member_folders(root: &Path) -> Vec<String> {
    let Some(manifest) = std::fs::read_to_string(root.join("Cargo.toml")).ok() else {
        return Vec::new();
    };
    let Ok(doc) = manifest.parse::<toml_edit::DocumentMut>() else {
        return Vec::new();
    };
    let members: Vec<String> = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml_edit::Item::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for member in members {
        match member.strip_suffix("/*") {
            Some(parent) => {
                for entry in std::fs::read_dir(root.join(parent))
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if entry.path().is_dir() {
                        out.push(format!("{parent}/{}", entry.file_name().to_string_lossy()));
                    }
                }
            }
            None if !member.contains(['*', '?', '[']) => out.push(member.trim_end_matches('/').to_string()),
            None => {}
        }
    }
    out
}

/// rust-analyzer's current setting names (its settings schema).
static SETTING_NAMES: &str = include_str!("data/rust-analyzer-setting-names.txt");

/// The `rust-analyzer.*` keys of a settings file that rust-analyzer does not know and that are
/// not old names memsafe renames, with their lines.
pub fn stale_rust_analyzer_keys(settings: &str) -> Vec<(String, usize)> {
    let Ok(doc) = crate::merge::jsonc::JsonDoc::parse(settings) else {
        return Vec::new();
    };
    let known: Vec<&str> = SETTING_NAMES.lines().collect();
    doc.top_level_names()
        .into_iter()
        .filter(|name| name.starts_with("rust-analyzer."))
        .filter(|name| !known.contains(&name.as_str()) && !crate::merge::jsonc::is_old_name(name))
        .map(|name| {
            let line = settings
                .lines()
                .position(|l| l.contains(&format!("\"{name}\"")))
                .map_or(1, |i| i + 1);
            (name, line)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_setting_names_are_non_empty_and_sorted() {
        let names: Vec<&str> = SETTING_NAMES.lines().collect();
        assert!(names.len() > 200);
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        assert!(names.contains(&"rust-analyzer.numThreads"));
    }

    #[test]
    fn debug_levels_order() {
        let rank = |v: Value| debug_rank(&v).unwrap();
        assert!(rank(Value::from(0)) < rank(Value::from("line-tables-only")));
        assert!(rank(Value::from("line-tables-only")) < rank(Value::from(1)));
        assert!(rank(Value::from(1)) < rank(Value::Bool(true)));
        assert_eq!(rank(Value::Bool(false)), rank(Value::from("none")));
    }
}
