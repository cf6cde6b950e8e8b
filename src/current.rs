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

pub(crate) use crate::findings::{Finding, Fix, Status, debug_rank};
use crate::merge::toml::TomlDoc;
use crate::owned::FileId;
use crate::record::{Change, Record};

/// Where a value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Source {
    /// A file (relative to the project root when inside it) and the 1-based line, where the
    /// key is in it now.
    File { file: String, line: Option<usize> },
    /// An environment variable.
    Env { variable: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File {
                file,
                line: Some(line),
            } => write!(f, "{file} line {line}"),
            Source::File { file, line: None } => write!(f, "{file}, taken out by memsafe"),
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
    /// In the repo's own files (Cargo.toml, the root's `.cargo/config.toml`), which memsafe
    /// plans from; not the environment, `$CARGO_HOME` or a folder above the project, which only
    /// differ from machine to machine and get a warning.
    #[serde(skip)]
    pub in_repo: bool,
    /// Added back by hand after a fix of memsafe's took it out: the user's, left alone.
    #[serde(skip)]
    pub readded: bool,
    /// Taken out by a fix of memsafe's (the value is the recorded original).
    #[serde(skip)]
    pub taken_out: bool,
}

/// What [`lookup`] finds.
struct Found {
    value: Value,
    line: Option<usize>,
    readded: bool,
    taken_out: bool,
}

/// The repo's settings and findings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Current {
    pub settings: Vec<Setting>,
    pub findings: Vec<Finding>,
    /// The project root, against which cargo resolves a relative program path in the repo's
    /// config (`./tools/wrap`).
    #[serde(skip)]
    pub root: Option<std::path::PathBuf>,
    /// How cargo can run this memsafe ([`wrapper_program`]); read only with the governor on.
    #[serde(skip)]
    pub memsafe_program: Option<String>,
    /// The repo's cargo config, when git tracks it; read only with the governor on, solo.
    #[serde(skip)]
    pub config_tracked: Option<String>,
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
fn lookup(text: &str, dotted: &str, owned: Option<&crate::record::FileRecord>) -> Option<Found> {
    let path = path_of(dotted);
    let doc = TomlDoc::parse(text).ok()?;
    let line = line_at(text, &path);
    let here = doc.get(&path).map(|found| found.value);
    if let Some(key) = owned.and_then(|f| f.keys.iter().find(|k| k.path == path)) {
        // Changed by hand since memsafe wrote it (or added back after a fix): that is the
        // user's choice now.
        let hand_edit = match key.change {
            Change::Set => here.is_some() && here != key.written_value(),
            Change::Delete => here.is_some(),
            Change::Rename => false,
        };
        if hand_edit {
            return here.map(|value| Found {
                value,
                line,
                readded: key.change == Change::Delete,
                taken_out: false,
            });
        }
        let original = key.original.as_deref()?;
        let value = match key.change {
            // memsafe's value: the user's is the original it recorded.
            Change::Set => TomlDoc::parse(&format!("k = {original}"))
                .ok()?
                .get(&["k".to_string()])
                .map(|found| found.value),
            // Taken out by a fix: the user's entry is still theirs (it is not in the file now).
            Change::Delete => {
                let from = if key.dotted { 2 } else { 1 };
                TomlDoc::parse(original)
                    .ok()?
                    .get(&path[path.len().saturating_sub(from)..])
                    .map(|found| found.value)
            }
            Change::Rename => None,
        }?;
        let taken_out = key.change == Change::Delete;
        let line = if taken_out { None } else { line };
        return Some(Found {
            value,
            line,
            readded: false,
            taken_out,
        });
    }
    here.map(|value| Found {
        value,
        line,
        readded: false,
        taken_out: false,
    })
}

/// A value as TOML shows it: strings quoted.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// The line of the value at `path` in `text`, for messages (from the parser's spans, so a
/// `debug` under `[profile.release]` is never taken for `[profile.dev]`'s).
fn line_at(text: &str, path: &[String]) -> Option<usize> {
    let (_, body) = crate::merge::text::Shape::of(text);
    let document = toml_edit::Document::parse(body.as_str()).ok()?;
    let mut table: &dyn toml_edit::TableLike = document.as_table();
    let (key, parents) = path.split_last()?;
    for name in parents {
        table = match table.get(name)? {
            toml_edit::Item::Table(child) => child,
            toml_edit::Item::Value(toml_edit::Value::InlineTable(child)) => child,
            _ => return None,
        };
    }
    let span = table.get(key)?.span()?;
    Some(crate::merge::line_column(&body, span.start).0)
}

impl Current {
    /// The value cargo uses for `setting` here, from any source, if one sets it.
    pub fn get(&self, setting: &str) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| s.setting == setting)
    }

    /// The value the repo's own files set for `setting` (what memsafe plans from).
    pub fn repo(&self, setting: &str) -> Option<&Setting> {
        self.settings
            .iter()
            .rev()
            .find(|s| s.setting == setting && s.in_repo)
    }

    /// The value Cargo.toml sets for `setting`, the one file memsafe's fixes edit.
    pub fn manifest(&self, setting: &str) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| {
            s.setting == setting && matches!(&s.source, Source::File { file, .. } if file == "Cargo.toml")
        })
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
                if let Some(found) = lookup(manifest, key, owned(FileId::Manifest)) {
                    current.settings.push(Setting {
                        setting: (*key).to_string(),
                        value: found.value,
                        source: Source::File {
                            file: "Cargo.toml".into(),
                            line: found.line,
                        },
                        in_repo: true,
                        readded: found.readded,
                        taken_out: found.taken_out,
                    });
                }
            }
            // `[build] jobs` in Cargo.toml: ignored by cargo, so not a setting, but a finding.
            if let Some(found) = lookup(manifest, "build.jobs", owned(FileId::Manifest)) {
                current.findings.push(Finding {
                    status: Status::Wrong,
                    place: Source::File {
                        file: "Cargo.toml".into(),
                        line: found.line,
                    }
                    .to_string(),
                    what: "`[build] jobs` in Cargo.toml".into(),
                    cost: if found.readded {
                        "cargo ignores it and warns \"unused manifest key: build\" on every command \
                         (docs/measurements.md M5); added back by hand after memsafe took it out, so memsafe \
                         leaves it"
                            .into()
                    } else {
                        "cargo ignores it and warns \"unused manifest key: build\" on every command; the \
                         build runs with cargo's default job count (docs/measurements.md M5)"
                            .into()
                    },
                    fix: (!found.readded).then_some(Fix::BuildInManifest),
                    file: None,
                    taken_out: found.taken_out,
                });
            }
        }
        for (name, text) in &texts.configs {
            // The root's config is the repo's; a folder above the project and $CARGO_HOME differ
            // from machine to machine.
            let root_config = name.starts_with(".cargo/");
            let file = if root_config {
                owned(FileId::CargoConfig)
            } else {
                None
            };
            let keys = [
                ("build.jobs", "build.jobs"),
                ("env.RUST_TEST_THREADS", "test threads"),
                ("build.rustc-wrapper", "build.rustc-wrapper"),
                (CHAIN_KEY, CHAIN_KEY),
            ]
            .into_iter()
            .chain(PROFILE_KEYS.iter().map(|k| (*k, *k)));
            for (key, setting) in keys {
                let owner = if key.starts_with("profile.") { None } else { file };
                if let Some(found) = lookup(text, key, owner) {
                    let source = Source::File {
                        file: name.clone(),
                        line: found.line,
                    };
                    if key.starts_with("profile.") {
                        // cargo's config files beat Cargo.toml's profiles.
                        current.findings.push(Finding {
                            status: Status::Overrides,
                            place: source.to_string(),
                            what: format!("`{key} = {}`", show(&found.value)),
                            cost: "a config file's profile beats Cargo.toml's: memsafe plans Cargo.toml, so \
                                   this value wins where this file is read"
                                .into(),
                            fix: None,
                            file: None,
                            taken_out: false,
                        });
                    }
                    current.settings.push(Setting {
                        setting: setting.into(),
                        value: found.value,
                        source,
                        in_repo: root_config,
                        readded: false,
                        taken_out: false,
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
                value,
                source: Source::Env {
                    variable: variable.into(),
                },
                in_repo: false,
                readded: false,
                taken_out: false,
            });
            current.findings.push(Finding {
                status: Status::Overrides,
                place: format!("the environment ({variable})"),
                what: format!("{variable}={text}"),
                cost: "it beats the files: builds and tests in this shell use it, not what memsafe writes \
                       (docs/measurements.md M5); memsafe plans from the files, not from this shell"
                    .into(),
                fix: None,
                file: None,
                taken_out: false,
            });
        }
        // The wrapper: only the governor cares (with_current), so no finding of its own.
        for variable in ["CARGO_BUILD_RUSTC_WRAPPER", "RUSTC_WRAPPER"] {
            if let Some((_, text)) = texts.env.iter().find(|(name, _)| name == variable) {
                current.settings.push(Setting {
                    setting: "build.rustc-wrapper".into(),
                    value: Value::String(text.clone()),
                    source: Source::Env {
                        variable: variable.into(),
                    },
                    in_repo: false,
                    readded: false,
                    taken_out: false,
                });
            }
        }
        let mut seen = Vec::new();
        for (name, text) in &texts.member_configs {
            if seen.contains(name) {
                continue;
            }
            seen.push(name.clone());
            let record = texts.record.and_then(|r| r.file(name));
            if let Some(found) = lookup(text, "build.jobs", record) {
                current.findings.push(Finding {
                    status: Status::Overrides,
                    place: Source::File {
                        file: name.clone(),
                        line: found.line,
                    }
                    .to_string(),
                    what: format!("`build.jobs = {}` in a member's config", show(&found.value)),
                    cost: if found.readded {
                        "cargo run from that folder uses it instead of the root's; added back by hand \
                         after memsafe took it out, so memsafe leaves it"
                            .into()
                    } else {
                        "cargo run from that folder uses it instead of the root's: the plan's job count \
                         does not apply there (`--fix member-jobs` takes it out)"
                            .into()
                    },
                    fix: (!found.readded).then_some(Fix::MemberJobs),
                    file: Some(name.clone()),
                    taken_out: found.taken_out,
                });
            }
        }
        current.recipes(texts);
        current
    }

    /// The findings on the profile settings, the scripts and the editor.
    fn recipes(&mut self, texts: &Texts<'_>) {
        let place = |setting: &Setting| setting.source.to_string();
        // memsafe fixes Cargo.toml's own entries; one elsewhere (a config file), or added back by
        // hand after a fix, is the user's to take out.
        let fixable = |setting: &Setting, fix: Fix| -> (Option<Fix>, &'static str) {
            match &setting.source {
                Source::File { file, .. } if file == "Cargo.toml" && !setting.readded => (Some(fix), ""),
                Source::File { file, .. } if file == "Cargo.toml" => (
                    None,
                    "; added back by hand after memsafe took it out, so memsafe leaves it",
                ),
                _ => (
                    None,
                    "; memsafe's fixes edit Cargo.toml only: take it out by hand",
                ),
            }
        };
        for profile in ["dev", "test"] {
            // Once taken out, it stays out whatever OS the next run is on, so that a committed
            // Cargo.toml does not change with the teammate who runs memsafe.
            if let Some(split) = self.repo(&format!("profile.{profile}.split-debuginfo")).cloned()
                && (texts.windows || split.taken_out)
                && matches!(split.value.as_str(), Some("off" | "unpacked"))
            {
                let (fix, why) = fixable(&split, Fix::SplitDebuginfo);
                self.findings.push(Finding {
                    status: Status::Wrong,
                    place: place(&split),
                    what: format!(
                        "`split-debuginfo = {}` in [profile.{profile}]",
                        show(&split.value)
                    ),
                    cost: format!(
                        "Windows MSVC supports only `packed` (rustc's default there): cargo drops the value \
                         without a word (docs/measurements.md M6){why}"
                    ),
                    fix,
                    file: None,
                    taken_out: split.taken_out,
                });
            }
        }
        let opt = self
            .repo("profile.test.opt-level")
            .filter(|s| s.value.as_i64().is_some_and(|n| n > 0) || s.value.is_string())
            .cloned();
        let units = self
            .repo("profile.test.codegen-units")
            .filter(|s| s.value.as_i64() == Some(1))
            .cloned();
        if let Some(first) = opt.as_ref().or(units.as_ref()).cloned() {
            let mut what = Vec::new();
            if let Some(opt) = &opt {
                what.push(format!("opt-level = {}", show(&opt.value)));
            }
            if units.is_some() {
                what.push("codegen-units = 1".into());
            }
            let (fix, why) = fixable(&first, Fix::TestProfile);
            self.findings.push(Finding {
                status: Status::Slow,
                place: place(&first),
                what: format!("`{}` in [profile.test]", what.join("`, `")),
                cost: format!(
                    "measured: opt-level 1 with codegen-units 1 took 77% more build time and saved no \
                     memory (docs/measurements.md M2){why}"
                ),
                fix,
                file: None,
                taken_out: first.taken_out,
            });
        }
        if let Some(incremental) = self.repo("profile.dev.incremental").cloned()
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
                file: None,
                taken_out: false,
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
                    file: None,
                    taken_out: false,
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
                    file: None,
                    taken_out: false,
                });
            }
        }
    }

    /// Reads the repo and the environment.
    pub fn read(root: &Path, record: Option<&Record>, windows: bool) -> Current {
        let read = |path: &Path| std::fs::read_to_string(path).ok();
        let manifest = read(&root.join("Cargo.toml"));
        let configs: Vec<(String, String)> = config_files(root)
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
            .filter(|(name, _)| {
                name.starts_with("CARGO_") || name == "RUST_TEST_THREADS" || name == "RUSTC_WRAPPER"
            })
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
        let mut current = Current::from_texts(&texts);
        current.root = Some(root.to_path_buf());
        current
    }
}

/// cargo's home folder from the environment `env` gives: `CARGO_HOME`, else `.cargo` in the
/// user's home (`HOME`, or `USERPROFILE` on Windows); `None` when none is set.
pub(crate) fn cargo_home(env: impl Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    let set = |name: &str| env(name).filter(|value| !value.is_empty());
    set("CARGO_HOME").map(std::path::PathBuf::from).or_else(|| {
        ["HOME", "USERPROFILE"]
            .into_iter()
            .find_map(set)
            .map(|home| Path::new(&home).join(".cargo"))
    })
}

/// The cargo config files that apply in `root`, lowest first, each with its name as shown to
/// the user: `$CARGO_HOME/config.toml`, then `.cargo/config.toml` (or `.cargo/config`) in
/// each folder from the top down to `root`.
pub(crate) fn config_files(root: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut config_paths = Vec::new();
    if let Some(home) = cargo_home(|name| std::env::var(name).ok()) {
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
    config_paths
}

/// The `build.rustc-wrapper` that runs this memsafe (`exe`): `memsafe` when the `memsafe` that
/// `path_var` (PATH) finds first is this same file, else `exe`'s absolute path. Run as
/// `cargo-memsafe`, the `memsafe` installed next to it stands for it. `canonical` resolves a
/// path, `None` when nothing is there (a fake in tests); `windows` looks for `memsafe.exe`.
pub(crate) fn wrapper_program(
    exe: &Path,
    path_var: Option<&std::ffi::OsStr>,
    windows: bool,
    canonical: impl Fn(&Path) -> Option<std::path::PathBuf>,
) -> String {
    let name = if windows { "memsafe.exe" } else { "memsafe" };
    let cargo_subcommand = exe
        .file_stem()
        .is_some_and(|stem| stem.to_string_lossy().starts_with("cargo-memsafe"));
    let sibling = exe.with_file_name(name);
    let exe = if cargo_subcommand && canonical(&sibling).is_some() {
        sibling.as_path()
    } else {
        exe
    };
    let ours = canonical(exe);
    let on_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| !dir.as_os_str().is_empty())
        .find_map(|dir| canonical(&dir.join(name)));
    if ours.is_some() && on_path == ours {
        crate::plan::GOVERNOR_PROGRAM.into()
    } else {
        exe.display().to_string()
    }
}

/// Whether cargo can start `program` (a cargo config value): a path (with a separator; a
/// relative one from `root`, as cargo resolves it) must be a file, a bare name must be one in a
/// folder of `path_var` (PATH). `None` when it can; else why not. `is_file` is the file test
/// (a fake in tests); `windows` also tries `.exe`.
pub(crate) fn missing_program(
    program: &str,
    root: &Path,
    path_var: Option<&std::ffi::OsStr>,
    windows: bool,
    is_file: impl Fn(&Path) -> bool,
) -> Option<&'static str> {
    let found = |path: &Path| is_file(path) || (windows && is_file(&path.with_extension("exe")));
    if program.contains('/') || (windows && program.contains('\\')) {
        let path = Path::new(program);
        let path = if path.is_relative() {
            root.join(path)
        } else {
            path.to_path_buf()
        };
        return (!found(&path)).then_some("no such file");
    }
    let on_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| !dir.as_os_str().is_empty())
        .any(|dir| found(&dir.join(program)));
    (!on_path).then_some("not on PATH")
}

/// The governor's chained wrapper in `.cargo/config.toml`, as a dotted key.
const CHAIN_KEY: &str = "env.MEMSAFE_RUSTC_WRAPPER";

/// Whether a wrapper setting names memsafe (by name or path), which memsafe never chains to.
pub(crate) fn is_memsafe(program: &str, ours: &str) -> bool {
    let stem = Path::new(program)
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase());
    program == ours || matches!(stem.as_deref(), Some("memsafe" | "cargo-memsafe"))
}

impl crate::plan::Plan {
    /// The plan next to what the repo already has (`memsafe plan` shows both): a value of the
    /// user's that is as strict as the preset's or stricter stays theirs (memsafe only lowers),
    /// every reason says what is there now, the findings are listed, and the chosen fixes take
    /// their keys out. Pure.
    pub fn with_current(mut self, current: &Current) -> crate::plan::Plan {
        let yours =
            |setting: &crate::current::Setting| format!("{} ({})", show(&setting.value), setting.source);

        // debug: memsafe's level only where it lowers the user's.
        if let Some(user) = current.repo("profile.dev.debug").cloned() {
            let theirs = debug_rank(&user.value);
            let ours = self
                .profile
                .dev_debug
                .as_ref()
                .and_then(|level| debug_rank(&serde_json::Value::String(level.clone())));
            let kept = match (theirs, ours) {
                (Some(t), Some(o)) if t <= o => {
                    self.profile.dev_debug = None;
                    true
                }
                (_, Some(_)) => false,
                _ => true,
            };
            if let Some(reason) = self.reason_mut("profile.dev.debug") {
                if kept {
                    reason.value = show(&user.value);
                    reason.why = "not written: yours stays, as little debug info as the preset's or less \
                                  (memsafe only lowers; the dependencies' debug info is what costs memory)"
                        .into();
                    reason.current = Some(format!("yours: {}, kept", yours(&user)));
                } else {
                    reason.current = Some(format!("was {}: the preset lowers it", yours(&user)));
                }
            }
        }
        if let Some(user) = current.repo("profile.dev.incremental").cloned() {
            let off = user.value == serde_json::Value::Bool(false);
            if off {
                self.profile.dev_incremental = None;
            }
            if let Some(reason) = self.reason_mut("profile.dev.incremental") {
                if off {
                    reason.value = "false".into();
                    reason.why =
                        "not written: yours stays (incremental moves disk use and rebuild time, not \
                                  peak memory: docs/measurements.md M2)"
                            .into();
                    reason.current = Some(format!("yours: {}, kept", yours(&user)));
                } else if reason.value == "false" {
                    reason.current = Some(format!("was {}: the safe preset turns it off", yours(&user)));
                } else {
                    reason.current = Some(format!("yours: {}", yours(&user)));
                }
            }
        }
        if let Some(user) = current.repo("profile.dev.package.*.debug").cloned() {
            let none = debug_rank(&user.value) == Some(0);
            if none {
                self.profile.dependencies_debug = None;
            }
            if let Some(reason) = self.reason_mut("profile.dev.package.\"*\".debug") {
                reason.current = Some(if none {
                    format!(
                        "yours: {}, kept: no debug info for dependencies already",
                        yours(&user)
                    )
                } else {
                    format!("was {}: memsafe lowers it", yours(&user))
                });
            }
        }
        // codegen-units: memsafe's choice for every profile, next to the repo's.
        let units: Vec<String> = ["dev", "test", "release"]
            .into_iter()
            .filter_map(|profile| {
                current
                    .repo(&format!("profile.{profile}.codegen-units"))
                    .map(|s| format!("{profile}: {}", yours(s)))
            })
            .collect();
        if let Some(reason) = self.reason_mut("profile.dev.codegen-units") {
            reason.setting = "codegen-units (dev, test, release)".into();
            if !units.is_empty() {
                reason.current = Some(format!("yours: {}; left as they are", units.join("; ")));
            }
        }
        for setting in ["build.jobs", "test threads"] {
            if let Some(user) = current.repo(setting).cloned()
                && let Some(reason) = self.reason_mut(setting)
            {
                reason.current = Some(if show(&user.value).trim_matches('"') == reason.value {
                    format!("already {}", yours(&user))
                } else {
                    format!(
                        "was {}: memsafe replaces it; `memsafe remove` puts it back",
                        yours(&user)
                    )
                });
            }
        }
        let fixing_split = current
            .findings
            .iter()
            .any(|f| self.fix_for(f) == Some(Fix::SplitDebuginfo));
        if let Some(user) = current.repo("profile.dev.split-debuginfo").cloned()
            && let Some(reason) = self.reason_mut("profile.dev.split-debuginfo")
        {
            reason.current = Some(if fixing_split {
                format!(
                    "was {}: memsafe takes it out; `memsafe remove` puts it back",
                    yours(&user)
                )
            } else {
                format!("yours: {}", yours(&user))
            });
        }
        let test: Vec<String> = ["opt-level", "codegen-units", "debug"]
            .into_iter()
            .filter_map(|key| {
                current
                    .repo(&format!("profile.test.{key}"))
                    .map(|s| format!("{key} = {}", yours(s)))
            })
            .collect();
        if !test.is_empty()
            && let Some(reason) = self.reason_mut("profile.test")
        {
            reason.value = "its own values".into();
            reason.why = "cargo's test profile inherits dev; your values here win over it under `cargo \
                          test` (`memsafe plan` lists what they cost)"
                .into();
            reason.current = Some(format!("yours: {}", test.join("; ")));
        }
        for finding in &current.findings {
            if self.is_override(finding) {
                self.warnings
                    .push(format!("{} ({}): {}", finding.what, finding.place, finding.cost));
            }
            if let Some(fix) = self.fix_for(finding) {
                for key in fix.keys() {
                    if *key == "build.jobs" || current.manifest(key).is_some_and(|s| !s.readded) {
                        self.takes_out.push((*key).to_string());
                    }
                }
                if fix == Fix::TestProfile
                    && let Some(reason) = self.reason_mut("profile.test")
                {
                    reason.value = "inherits profile.dev".into();
                    reason.current = Some(format!(
                        "was {}: memsafe takes them out (`memsafe remove` puts them back)",
                        test.join("; ")
                    ));
                }
                if fix == Fix::MemberJobs
                    && let Some(file) = &finding.file
                {
                    self.members_out.push(file.clone());
                }
            }
        }
        self.takes_out.dedup();
        self.findings = current.findings.clone();
        self.with_current_wrapper(current);
        self
    }

    /// The governor's keys next to the wrappers there are: memsafe takes the place of the
    /// wrapper the config files set and runs it after admitting each rustc; one set in the
    /// environment beats every file, so it gets a warning; a tracked config gets one too.
    fn with_current_wrapper(&mut self, current: &Current) {
        let Some(mut governor) = self.governor.take() else {
            return;
        };
        if let Some(program) = &current.memsafe_program {
            governor.program.clone_from(program);
        }
        // The wrapper cargo would run without memsafe's: the repo's (its recorded original when
        // memsafe owns the key), else a folder's above it, else $CARGO_HOME's.
        let file_wrapper = current
            .settings
            .iter()
            .rev()
            .find(|s| s.setting == "build.rustc-wrapper" && matches!(s.source, Source::File { .. }));
        let mut current_words = None;
        if let Some(setting) = file_wrapper
            && let Value::String(program) = &setting.value
        {
            if program.is_empty() || is_memsafe(program, &governor.program) {
                current_words = Some(format!("was {}: memsafe already", show(&setting.value)));
            } else {
                // cargo resolves a relative path with a `/` against the project folder; the
                // governor runs it from wherever cargo runs rustc.
                let relative = Path::new(program);
                let chain = match &current.root {
                    Some(root)
                        if setting.in_repo && relative.is_relative() && program.contains(['/', '\\']) =>
                    {
                        crate::project::normalize(&root.join(relative))
                            .display()
                            .to_string()
                    }
                    _ => program.clone(),
                };
                let place = if setting.in_repo {
                    "memsafe runs it after admitting each rustc; `memsafe remove` puts it back here"
                } else {
                    "the repo's file wins over that one, so memsafe runs it after admitting each rustc"
                };
                current_words = Some(format!(
                    "was {} ({}): {place}",
                    show(&setting.value),
                    setting.source
                ));
                governor.chain = Some(chain);
                governor.chain_in_repo = setting.in_repo;
            }
        }
        // A chained wrapper the user wrote in the repo's config, or changed there by hand since
        // memsafe wrote it, is the user's choice: the governor runs it, `regen` keeps it, and
        // `remove` puts it in `build.rustc-wrapper`.
        if let Some(setting) = current
            .settings
            .iter()
            .rev()
            .find(|s| s.setting == CHAIN_KEY && s.in_repo)
            && let Value::String(program) = &setting.value
            && !program.trim().is_empty()
            && !is_memsafe(program, &governor.program)
        {
            governor.chain = Some(program.clone());
            governor.chain_in_repo = true;
        }
        if let Some(reason) = self.reason_mut("build.rustc-wrapper") {
            reason.value.clone_from(&governor.program);
            reason.why = crate::plan::wrapper_why(&governor);
            reason.current = current_words;
        }
        if let Some(chain) = &governor.chain
            && let Some(index) = self
                .reasons
                .iter()
                .position(|r| r.setting == "build.rustc-wrapper")
        {
            self.reasons.insert(
                index + 1,
                crate::plan::Reason {
                    setting: "env.MEMSAFE_RUSTC_WRAPPER".into(),
                    value: chain.clone(),
                    why: format!(
                        "cargo passes [env] to memsafe, which runs {chain} after admitting each rustc \
                         (deleted again when the governor is turned off)"
                    ),
                    current: None,
                },
            );
        }
        // RUSTC_WRAPPER (or CARGO_BUILD_RUSTC_WRAPPER) beats every config file.
        if let Some(setting) = current
            .settings
            .iter()
            .rev()
            .find(|s| s.setting == "build.rustc-wrapper" && matches!(s.source, Source::Env { .. }))
            && let (Source::Env { variable }, Value::String(program)) = (&setting.source, &setting.value)
            && !is_memsafe(program, &governor.program)
        {
            let advice = if program.is_empty() {
                format!("`unset {variable}`")
            } else if governor.chain.as_deref() == Some(program.as_str()) {
                format!(
                    "`unset {variable}`: memsafe already runs {program} after admitting each rustc \
                     (MEMSAFE_RUSTC_WRAPPER under [env] in .cargo/config.toml)"
                )
            } else {
                format!(
                    "replace it with `MEMSAFE_RUSTC_WRAPPER={program}` (memsafe then runs {program} after \
                     admitting each rustc), or `unset {variable}`"
                )
            };
            let runs = if program.is_empty() {
                "no wrapper".to_string()
            } else {
                program.clone()
            };
            self.warnings.push(format!(
                "`{variable}={program}` in the environment beats .cargo/config.toml's build.rustc-wrapper: \
                 cargo runs {runs}, not memsafe, so the governor is off in this shell; {advice}"
            ));
        }
        if let Some(config) = &current.config_tracked {
            self.warnings.push(format!(
                "`{config}` is tracked by git and now names memsafe as cargo's rustc-wrapper: committing it \
                 breaks every teammate who does not have memsafe (cargo cannot start the wrapper); keep this \
                 change out of git (`git update-index --skip-worktree {config}`), or turn the governor off \
                 and use team mode"
            ));
        }
        self.governor = Some(governor);
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
pub(crate) fn stale_rust_analyzer_keys(settings: &str) -> Vec<(String, usize)> {
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

    use std::path::PathBuf;

    /// A file system with these files, each its own canonical path but `link`, which leads to
    /// `target`.
    fn files(paths: &'static [&'static str]) -> impl Fn(&Path) -> Option<PathBuf> {
        move |path: &Path| {
            if path == Path::new("/usr/local/bin/memsafe") {
                return Some(PathBuf::from("/opt/memsafe/memsafe"));
            }
            paths
                .iter()
                .any(|p| Path::new(p) == path)
                .then(|| path.to_path_buf())
        }
    }

    #[test]
    fn the_wrapper_is_memsafe_by_name_only_when_path_finds_this_one() {
        let exe = Path::new("/home/u/.cargo/bin/memsafe");
        let path = |dirs: &str| Some(std::ffi::OsString::from(dirs));
        let fs = files(&["/home/u/.cargo/bin/memsafe", "/usr/bin/memsafe"]);
        // First on PATH is this one.
        let found = wrapper_program(
            exe,
            path("/bin:/home/u/.cargo/bin:/usr/bin").as_deref(),
            false,
            &fs,
        );
        assert_eq!(found, "memsafe");
        // Another memsafe comes first: the absolute path.
        let other = wrapper_program(exe, path("/usr/bin:/home/u/.cargo/bin").as_deref(), false, &fs);
        assert_eq!(other, "/home/u/.cargo/bin/memsafe");
        // None on PATH, or no PATH.
        assert_eq!(
            wrapper_program(exe, path("/bin").as_deref(), false, &fs),
            "/home/u/.cargo/bin/memsafe"
        );
        assert_eq!(
            wrapper_program(exe, None, false, &fs),
            "/home/u/.cargo/bin/memsafe"
        );
        // A link on PATH to this very file counts as this one.
        let linked = files(&["/opt/memsafe/memsafe"]);
        assert_eq!(
            wrapper_program(
                Path::new("/opt/memsafe/memsafe"),
                path("/usr/local/bin").as_deref(),
                false,
                &linked
            ),
            "memsafe"
        );
        // cargo-memsafe stands for the memsafe next to it.
        let cargo = Path::new("/home/u/.cargo/bin/cargo-memsafe");
        let fs = files(&["/home/u/.cargo/bin/memsafe", "/home/u/.cargo/bin/cargo-memsafe"]);
        assert_eq!(
            wrapper_program(cargo, path("/home/u/.cargo/bin").as_deref(), false, &fs),
            "memsafe"
        );
        assert_eq!(
            wrapper_program(cargo, path("/bin").as_deref(), false, &fs),
            "/home/u/.cargo/bin/memsafe"
        );
    }

    #[test]
    fn a_missing_program_is_told_from_one_cargo_finds() {
        let is_file = |p: &Path| p == Path::new("/usr/bin/sccache") || p == Path::new("/repo/tools/wrap");
        let path = Some(std::ffi::OsString::from("/bin:/usr/bin"));
        let missing =
            |program: &str| missing_program(program, Path::new("/repo"), path.as_deref(), false, is_file);
        assert_eq!(missing("sccache"), None);
        assert_eq!(missing("/usr/bin/sccache"), None);
        assert_eq!(missing("tools/wrap"), None, "relative to the project");
        assert_eq!(missing("cachepot"), Some("not on PATH"));
        assert_eq!(missing("/old/memsafe"), Some("no such file"));
    }

    #[test]
    fn memsafe_is_known_by_name_or_path() {
        assert!(is_memsafe("memsafe", "memsafe"));
        assert!(is_memsafe("/x/y/memsafe", "memsafe"));
        assert!(is_memsafe("C:/bin/memsafe.exe", "memsafe"));
        assert!(is_memsafe("/x/renamed", "/x/renamed"));
        assert!(!is_memsafe("sccache", "memsafe"));
    }

    fn governed_plan(texts: &Texts<'_>) -> crate::plan::Plan {
        let hardware = crate::hardware::Hardware::given(16, 8);
        let answers = crate::plan::Answers {
            governor: true,
            ..crate::plan::Answers::default()
        };
        let mut current = Current::from_texts(texts);
        current.root = Some(PathBuf::from("/repo"));
        current.memsafe_program = Some("memsafe".into());
        crate::plan::Plan::compute(&hardware, &answers).with_current(&current)
    }

    #[test]
    fn the_governor_chains_the_wrapper_the_files_set() {
        let plan = governed_plan(&Texts {
            configs: vec![
                (
                    "$CARGO_HOME/config.toml".into(),
                    "[build]\nrustc-wrapper = \"sccache\"\n",
                ),
                (
                    ".cargo/config.toml".into(),
                    "[build]\nrustc-wrapper = \"tools/wrap\"\n",
                ),
            ],
            ..Texts::default()
        });
        let governor = plan.governor.as_ref().unwrap();
        assert_eq!(governor.program, "memsafe");
        // The repo's wins, resolved against the project as cargo resolves it.
        assert_eq!(governor.chain.as_deref(), Some("/repo/tools/wrap"));
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        // Only $CARGO_HOME's: chained too, and the reason says the repo's file wins.
        let plan = governed_plan(&Texts {
            configs: vec![(
                "$CARGO_HOME/config.toml".into(),
                "[build]\nrustc-wrapper = \"sccache\"\n",
            )],
            ..Texts::default()
        });
        assert_eq!(plan.governor.as_ref().unwrap().chain.as_deref(), Some("sccache"));
        let reason = plan.reason("build.rustc-wrapper").unwrap();
        assert!(
            reason
                .current
                .as_deref()
                .unwrap()
                .contains("the repo's file wins over that one"),
            "{reason:?}"
        );
        // Nothing of it is in the repo's file: `remove` takes memsafe's key out, it does not
        // put sccache "back here".
        assert!(
            reason
                .why
                .contains("cargo runs sccache again from the config file that names it")
                && !reason.why.contains("back here"),
            "{reason:?}"
        );
        assert_eq!(plan.reason("env.MEMSAFE_RUSTC_WRAPPER").unwrap().value, "sccache");
        // memsafe itself is never chained.
        let plan = governed_plan(&Texts {
            configs: vec![(
                ".cargo/config.toml".into(),
                "[build]\nrustc-wrapper = \"memsafe\"\n",
            )],
            ..Texts::default()
        });
        assert_eq!(plan.governor.as_ref().unwrap().chain, None);
        assert!(plan.reason("env.MEMSAFE_RUSTC_WRAPPER").is_none());
    }

    #[test]
    fn a_wrapper_in_the_environment_is_a_warning_with_advice() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        let plan = governed_plan(&Texts {
            configs: vec![(
                ".cargo/config.toml".into(),
                "[build]\nrustc-wrapper = \"sccache\"\n",
            )],
            env: env(&[("RUSTC_WRAPPER", "sccache")]),
            ..Texts::default()
        });
        assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
        assert!(
            plan.warnings[0].contains("`unset RUSTC_WRAPPER`: memsafe already runs sccache"),
            "{}",
            plan.warnings[0]
        );
        let plan = governed_plan(&Texts {
            env: env(&[("RUSTC_WRAPPER", "")]),
            ..Texts::default()
        });
        assert!(
            plan.warnings[0].contains("cargo runs no wrapper"),
            "{:?}",
            plan.warnings
        );
        let plan = governed_plan(&Texts {
            env: env(&[("RUSTC_WRAPPER", "/home/u/.cargo/bin/memsafe")]),
            ..Texts::default()
        });
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
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
