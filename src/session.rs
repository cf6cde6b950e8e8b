//! What every command starts from: the project, its record and, for the commands that write,
//! the lock and the recovery of an interrupted run. And the one place where the answers, the
//! machine and the pins are resolved from the flags and the record.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::calibrate::Calibration;
use crate::cli::HardwareArgs;
use crate::current::Current;
use crate::error::UsageError;
use crate::hardware::{self, Hardware, MemorySource};
use crate::lock::ProjectLock;
use crate::plan::{Answers, Editor, Editors, Fixes, Overrides, Preset, Scripts};
use crate::project::{self, Project};
use crate::record::{self, Record};
use crate::{files, lock, ui, write};

/// An open project.
pub(crate) struct Session {
    pub project: Project,
    pub record: Option<Record>,
    _lock: Option<ProjectLock>,
}

/// The folder memsafe starts from: `--dir`, else the current folder; checked to be a folder
/// before anything else is looked at.
pub(crate) fn start_dir(dir: Option<&PathBuf>) -> Result<PathBuf> {
    let start = match dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    project::check_start(&start)?;
    Ok(start)
}

impl Session {
    /// Finds the project; for a command that writes (`writes`), takes the lock and rolls back
    /// a run that was interrupted; then reads the record.
    pub(crate) fn open(dir: Option<&PathBuf>, writes: bool) -> Result<Session> {
        let project = project::find(&start_dir(dir)?)?;
        let lock = if writes {
            let lock = lock::acquire(&project.root)?;
            if let Some(words) = write::recover(&project.root)? {
                ui::warn(words);
            }
            Some(lock)
        } else {
            if write::journal_exists(&project.root) {
                ui::warn(format!(
                    "an earlier memsafe run was interrupted (`{}` is there); the next `memsafe init`, \
                     `regen` or `remove` rolls it back",
                    write::JOURNAL
                ));
            }
            None
        };
        let record = files::load_record(&project)?;
        Ok(Session {
            project,
            record,
            _lock: lock,
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.project.root
    }

    /// What `regen` and `calibrate` plan from: the recorded answers (but the governor's, when
    /// `governor` is given), with `hardware` flags.
    pub(crate) fn recorded_inputs(
        &self,
        hardware: &HardwareArgs,
        governor: Option<bool>,
        printer: crate::ui::Printer,
    ) -> Result<Inputs> {
        let record = self.require_record()?;
        let inputs = Inputs::resolve(
            Flags {
                governor,
                ..Flags::default()
            },
            hardware,
            Some(record),
            Some(self.root()),
            printer,
        );
        inputs.refuse_team_governor()?;
        Ok(inputs)
    }

    /// The record, or the error that says to run `memsafe init` first.
    pub(crate) fn require_record(&self) -> Result<&Record> {
        self.record.as_ref().ok_or_else(|| {
            UsageError::new(format!(
                "no {} in `{}`",
                record::FILE,
                self.project.root.display()
            ))
            .with_help("run `memsafe init` first: it asks the questions and records the answers")
            .into()
        })
    }
}

/// The answers given as flags (each `None` or empty when not given).
#[derive(Clone, Copy, Default)]
pub(crate) struct Flags<'a> {
    pub preset: Option<Preset>,
    pub editor: &'a [Editor],
    pub script: Option<Scripts>,
    pub team: bool,
    pub fix: Option<Fixes>,
    pub governor: Option<bool>,
}

/// Everything a plan is computed from.
pub(crate) struct Inputs {
    pub answers: Answers,
    pub hardware: Hardware,
    pub overrides: Overrides,
    pub calibration: Option<Calibration>,
    /// What the repo already has (nothing outside a project).
    pub current: Current,
}

impl Inputs {
    /// Flags win over the record, the record over what the project shows, that over the
    /// defaults. In team mode the plan is for the recorded machine (flags replace its fields);
    /// otherwise for this machine (flags replace detection).
    pub(crate) fn resolve(
        flags: Flags<'_>,
        hardware_flags: &HardwareArgs,
        record: Option<&Record>,
        root: Option<&Path>,
        printer: crate::ui::Printer,
    ) -> Inputs {
        let recorded = record.map(|r| r.answers).unwrap_or_default();
        let editors = if !flags.editor.is_empty() {
            Editors::from_list(flags.editor)
        } else if record.is_some() {
            recorded.editors
        } else {
            let found = root.map(detect_editors).unwrap_or_default();
            if found.any() { found } else { Editors::VSCODE }
        };
        let answers = Answers {
            preset: flags.preset.unwrap_or(recorded.preset),
            editors,
            scripts: flags.script.unwrap_or(recorded.scripts),
            team: flags.team || recorded.team,
            fixes: flags.fix.unwrap_or(recorded.fixes),
            governor: flags.governor.unwrap_or(recorded.governor),
        };
        let hardware = match record {
            Some(record) if answers.team => recorded_with_flags(&record.hardware(), hardware_flags),
            _ => detect(hardware_flags, printer),
        };
        let current = root
            .map(|root| Current::read(root, record, hardware.os == crate::hardware::Os::Windows))
            .unwrap_or_default();
        let mut inputs = Inputs {
            answers,
            hardware,
            overrides: record.map(|r| r.overrides).unwrap_or_default(),
            calibration: record.and_then(Record::calibration),
            current,
        };
        if let Some(root) = root {
            inputs.read_governor(root);
            // Team mode plans for the recorded machine, never from this machine's builds.
            if inputs.calibration.is_none() && !inputs.answers.team {
                inputs.calibration = governed_build(root);
            }
        }
        inputs
    }

    /// What the governor's keys depend on, read only when it is on: how cargo can run this
    /// memsafe, and whether git tracks the cargo config (a teammate without memsafe would get
    /// a config naming it).
    pub(crate) fn read_governor(&mut self, root: &Path) {
        let current = &mut self.current;
        if !self.answers.governor {
            current.memsafe_program = None;
            current.config_tracked = None;
            return;
        }
        current.memsafe_program = std::env::current_exe().ok().map(|exe| {
            crate::current::wrapper_program(
                &exe,
                std::env::var_os("PATH").as_deref(),
                cfg!(windows),
                |path| path.canonicalize().ok().filter(|p| p.is_file()),
            )
        });
        let config = crate::files::cargo_config_path(root);
        current.config_tracked =
            (!self.answers.team && crate::gitmode::is_tracked(root, config)).then(|| config.to_string());
    }

    /// The governor is per machine: `.cargo/config.toml` would name a program teammates may not
    /// have, so team mode refuses it (exit 2).
    pub(crate) fn refuse_team_governor(&self) -> Result<()> {
        if self.answers.team && self.answers.governor {
            return Err(UsageError::new(
                "the governor cannot be turned on in team mode: it is per machine, because \
                 .cargo/config.toml would name a program (memsafe) that teammates may not have; \
                 nothing was written",
            )
            .with_help(
                "each teammate can turn it on for themselves with `RUSTC_WRAPPER=memsafe` in their own \
                 environment (e.g. their shell's profile)",
            )
            .into());
        }
        Ok(())
    }

    pub(crate) fn plan(&self) -> crate::plan::Plan {
        crate::plan::Plan::compute_full(
            &self.hardware,
            &self.answers,
            &self.overrides,
            self.calibration.as_ref(),
        )
        .with_current(&self.current)
    }
}

/// The project's last governed build (the governor's history, [`crate::governor::history`]),
/// summarized as a calibration, for a project `memsafe calibrate` has not measured; `None`
/// without one.
fn governed_build(root: &Path) -> Option<Calibration> {
    use crate::governor::history;
    let build = last_build(root)?;
    let last = build.iter().map(|r| r.at_ms).max()?;
    let first = build
        .iter()
        .map(|r| r.at_ms.saturating_sub(r.duration_ms))
        .min()?;
    let date = crate::calibrate::civil_from_days(i64::try_from(last / 86_400_000).ok()?);
    let mut calibration = crate::calibrate::summarize(
        &history::invocations(&build),
        None,
        &build[0].key.rustc,
        &date,
        "governed",
        (last - first) / 1000,
    );
    calibration.governed = true;
    Some(calibration)
}

/// The project's last measured build in the governor's history (governed, or `memsafe
/// calibrate`'s, which the governor learns from), [`crate::governor::history::last_build`],
/// in the project's target folder ([`target_dir`]); `None` without one. An unreadable
/// history is none.
pub(crate) fn last_build(root: &Path) -> Option<Vec<crate::governor::history::Record>> {
    use crate::governor::history;
    let paths = crate::governor::Paths::from_env().ok()?;
    let cwd = std::env::current_dir().ok()?;
    // cargo reads the config files of the folder it runs in and of those above: in a member,
    // the member's own `.cargo/config.toml` too.
    let from = if cwd.starts_with(root) { &cwd } else { root };
    let configs: Vec<(PathBuf, String)> = crate::current::config_files(from)
        .into_iter()
        .filter_map(|(path, _)| std::fs::read_to_string(&path).ok().map(|text| (path, text)))
        .collect();
    let target = target_dir(root, &cwd, |name| std::env::var(name).ok(), &configs);
    let records = history::History::load_in(&paths.history, &target).ok()?.records;
    // A package is the project's when it belongs to this workspace, not to one nested in it.
    let ours = |dir: &Path| {
        crate::project::find(dir)
            .is_ok_and(|project| crate::project::normalize(&project.root) == crate::project::normalize(root))
    };
    Some(history::last_build(&records, &target, ours)).filter(|build| !build.is_empty())
}

/// Where the project's compilations write, as cargo finds it: its build folder, which is its
/// target folder unless `build.build-dir` says otherwise.
///
/// The target folder: `CARGO_TARGET_DIR`, else `CARGO_BUILD_TARGET_DIR` (`env`; relative to
/// the current folder `cwd`), else the `build.target-dir` of the last of `configs` (the config
/// files' paths and texts, lowest first) that sets one, relative to the folder holding that
/// file's `.cargo`; else `target` in the project. The build folder, set the same ways
/// (`CARGO_BUILD_BUILD_DIR`, `build.build-dir`), may hold cargo's templates:
/// `{workspace-root}` (`root`) and `{cargo-cache-home}` are filled in; from any other (a hash
/// of the workspace's path, which only cargo computes) on, the folder is cut, and the
/// governed builds found below what is left are told apart by their packages
/// ([`crate::governor::history::last_build`]). A config file that does not parse, or sets an
/// empty folder, is passed over (cargo would stop on it). The folder is normalized (`.`, `..`
/// and doubled separators resolved without touching the disk), as the governor records where
/// compilations write.
pub(crate) fn target_dir(
    root: &Path,
    cwd: &Path,
    env: impl Fn(&str) -> Option<String>,
    configs: &[(PathBuf, String)],
) -> PathBuf {
    let cargo_home = crate::current::cargo_home(&env);
    // cargo's templates filled in, and the folder cut where only cargo can fill one: up to
    // the last whole folder before it (none when that leaves nothing: the folder is not known).
    let fill = |dir: String| -> Option<String> {
        let mut filled = dir.replace("{workspace-root}", &root.to_string_lossy());
        if let Some(home) = &cargo_home {
            filled = filled.replace("{cargo-cache-home}", &home.to_string_lossy());
        }
        let kept = match filled.find('{').map(|at| &filled[..at]) {
            Some(cut) if cut.ends_with(['/', '\\']) => cut.to_string(),
            Some(cut) => Path::new(cut)
                .parent()
                .map_or_else(String::new, |p| p.to_string_lossy().into_owned()),
            None => filled,
        };
        (!kept.is_empty()).then_some(kept)
    };
    let set = |variables: &[&str], key: &str| {
        variables
            .iter()
            .find_map(|name| env(name).filter(|dir| !dir.is_empty()))
            .and_then(|dir| fill(dir).map(|dir| cwd.join(dir)))
            .or_else(|| {
                configs.iter().rev().find_map(|(path, text)| {
                    let doc = text.parse::<toml_edit::DocumentMut>().ok()?;
                    let dir = doc.get("build")?.get(key)?.as_str()?.to_owned();
                    let base = path.parent()?.parent()?;
                    fill(dir).map(|dir| base.join(dir))
                })
            })
    };
    let build = set(&["CARGO_BUILD_BUILD_DIR"], "build-dir");
    let found = build
        .or_else(|| set(&["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"], "target-dir"))
        .unwrap_or_else(|| root.join("target"));
    crate::project::normalize(&found)
}

/// This machine, with the fields given as flags replaced.
pub(crate) fn detect(args: &HardwareArgs, printer: crate::ui::Printer) -> Hardware {
    let overrides = hardware::Overrides {
        memory_bytes: args.ram,
        logical_cpus: args.cpus,
        os: args.os,
    };
    let found = hardware::detect(overrides, &hardware::Sources::default());
    hardware::explain(&found, overrides, printer);
    found
}

/// The editors whose project folder exists: `.vscode/`, `.zed/`, `.helix/`.
fn detect_editors(root: &Path) -> Editors {
    Editors {
        vscode: root.join(".vscode").is_dir(),
        zed: root.join(".zed").is_dir(),
        helix: root.join(".helix").is_dir(),
    }
}

/// The recorded (team) hardware, with the fields given as flags replaced.
pub(crate) fn recorded_with_flags(recorded: &Hardware, args: &HardwareArgs) -> Hardware {
    let mut hardware = recorded.clone();
    if let Some(bytes) = args.ram {
        hardware.memory_bytes = bytes;
        hardware.memory_source = MemorySource::Flag;
    }
    if let Some(cpus) = args.cpus {
        hardware.logical_cpus = cpus;
        hardware.physical_cpus = cpus;
    }
    if let Some(os) = args.os {
        hardware.os = os;
    }
    hardware
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_folder_is_found_as_cargo_finds_it() {
        let root = Path::new("/w/project");
        let cwd = Path::new("/w/project/sub");
        let no_env = |_: &str| None;
        let config =
            |folder: &str, text: &str| (Path::new(folder).join(".cargo/config.toml"), text.to_owned());
        assert_eq!(target_dir(root, cwd, no_env, &[]), Path::new("/w/project/target"));
        // A config above the project: relative to the folder that holds its `.cargo`.
        let above = config("/w", "[build]\ntarget-dir = \"shared-target\"\n");
        assert_eq!(
            target_dir(root, cwd, no_env, std::slice::from_ref(&above)),
            Path::new("/w/shared-target")
        );
        // The project's own (a dotted key here) comes later, and wins; one without the key, or
        // one that does not parse, is passed over.
        let own = config("/w/project", "build.target-dir = \"out\"\n");
        let silent = config("/w/project/x", "[build]\njobs = 2\n");
        let broken = config("/w/project/y", "[build\n");
        assert_eq!(
            target_dir(root, cwd, no_env, &[above.clone(), own.clone(), silent, broken]),
            Path::new("/w/project/out")
        );
        // The environment beats every file, relative to the current folder;
        // CARGO_TARGET_DIR beats CARGO_BUILD_TARGET_DIR.
        let build_env = |name: &str| (name == "CARGO_BUILD_TARGET_DIR").then(|| "t".to_owned());
        assert_eq!(
            target_dir(root, cwd, build_env, std::slice::from_ref(&own)),
            Path::new("/w/project/sub/t")
        );
        let both = |name: &str| match name {
            "CARGO_TARGET_DIR" => Some("/abs".to_owned()),
            "CARGO_BUILD_TARGET_DIR" => Some("t".to_owned()),
            _ => None,
        };
        assert_eq!(
            target_dir(root, cwd, both, std::slice::from_ref(&own)),
            Path::new("/abs")
        );
        // An empty folder, which cargo refuses, is passed over for the next config down.
        let empty = config("/w/project/m", "[build]\ntarget-dir = \"\"\n");
        assert_eq!(
            target_dir(root, cwd, no_env, &[own.clone(), empty]),
            Path::new("/w/project/out")
        );
        // Spelled with `.`, `..` or doubled separators, it is the same folder, written once
        // (compared as text, since `Path`'s equality already ignores `.` and `//`).
        let dotted = config("/w/project", "build.target-dir = \"./a//b/../out\"\n");
        assert_eq!(
            target_dir(root, cwd, no_env, &[dotted]).as_os_str(),
            "/w/project/a/out"
        );
        let env_dotted = |name: &str| (name == "CARGO_TARGET_DIR").then(|| "../t/.".to_owned());
        assert_eq!(
            target_dir(root, cwd, env_dotted, std::slice::from_ref(&own)).as_os_str(),
            "/w/project/t"
        );
        // `build.build-dir` is where the compilations write, over any target folder, with
        // cargo's templates filled in, and cut where only cargo can fill one.
        let build_dir = |dir: &str| config("/w/project", &format!("[build]\nbuild-dir = \"{dir}\"\n"));
        let home = |name: &str| (name == "CARGO_HOME").then(|| "/h/.cargo".to_owned());
        for (dir, expected) in [
            ("bd", "/w/project/bd"),
            ("{workspace-root}/b", "/w/project/b"),
            (
                "{cargo-cache-home}/build/{workspace-path-hash}",
                "/h/.cargo/build",
            ),
            (
                "{cargo-cache-home}/build/x{workspace-path-hash}",
                "/h/.cargo/build",
            ),
        ] {
            assert_eq!(
                target_dir(root, cwd, home, &[own.clone(), build_dir(dir)]).as_os_str(),
                expected,
                "{dir}"
            );
        }
        // A home that cannot be told leaves nothing before the template: the build folder is
        // not known, and the target folder is looked in.
        let no_home = |_: &str| None;
        assert_eq!(
            target_dir(
                root,
                cwd,
                no_home,
                &[own.clone(), build_dir("{cargo-cache-home}/b")]
            ),
            Path::new("/w/project/out")
        );
        let build_env = |name: &str| (name == "CARGO_BUILD_BUILD_DIR").then(|| "/abs/bd".to_owned());
        assert_eq!(target_dir(root, cwd, build_env, &[own]), Path::new("/abs/bd"));
    }
}
