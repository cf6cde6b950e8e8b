//! `memsafe init` and `memsafe plan`: the only code that knows the order of the steps.
//!
//! detect -> ask -> plan -> render -> merge -> diff -> (confirm) -> write

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::change::FileChange;
use crate::cli::{HardwareArgs, InitArgs, PlanArgs};
use crate::error::UsageError;
use crate::hardware::{self, Hardware, MemorySource, format_size};
use crate::merge::{self, MergeError};
use crate::plan::{Answers, Editor, Plan};
use crate::project::{self, Project};
use crate::render::{self, Templates};
use crate::{prompt, ui, write};

/// Files larger than this are not a config file memsafe should parse.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// The first line(s) that mark a script as memsafe's own, safe to overwrite.
const SCRIPT_MARK: &str = "# Written by memsafe";

fn detect(args: &HardwareArgs) -> Hardware {
    hardware::detect(
        hardware::Overrides {
            memory_bytes: args.ram,
            logical_cpus: args.cpus,
            os: args.os,
        },
        &hardware::Sources::default(),
    )
}

fn start_dir(dir: Option<&PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(dir) => Ok(dir.clone()),
        None => std::env::current_dir().context("cannot read the current folder"),
    }
}

/// `memsafe plan`.
pub fn plan(args: &PlanArgs) -> Result<()> {
    let start = start_dir(args.dir.as_ref())?;
    if !start.is_dir() {
        return Err(UsageError::new(format!("`{}` is not a folder", start.display())).into());
    }
    let hardware = detect(&args.hardware);
    let answers = Answers {
        preset: args.preset,
        editor: args.editor,
        ..Answers::default()
    };
    let plan = Plan::compute(&hardware, &answers);
    if args.json {
        ui::data(format!(
            "{}\n",
            serde_json::to_string_pretty(&plan).context("cannot print the plan")?
        ));
    } else {
        ui::data(plan_text(&plan));
    }
    Ok(())
}

/// The plan in words: hardware, then every value with its reason.
pub fn plan_text(plan: &Plan) -> String {
    use std::fmt::Write;
    let hardware = &plan.hardware;
    let mut out = String::new();
    let source = match hardware.memory_source {
        MemorySource::Ram => "RAM",
        MemorySource::CgroupLimit => "container limit",
        MemorySource::Flag => "from --ram",
    };
    let _ = writeln!(out, "hardware");
    let _ = writeln!(out, "  memory  {} ({source})", format_size(hardware.memory_bytes));
    let _ = writeln!(
        out,
        "  cpus    {} logical, {} physical",
        hardware.logical_cpus, hardware.physical_cpus
    );
    let _ = writeln!(out, "  os      {}", hardware.os);
    let _ = writeln!(
        out,
        "\nplan ({} preset, editor: {})",
        plan.answers.preset.as_str(),
        plan.answers.editor.as_str()
    );
    for reason in &plan.reasons {
        let _ = writeln!(out, "  {} = {}", reason.setting, reason.value);
        let _ = writeln!(out, "      {}", reason.why);
    }
    for warning in &plan.warnings {
        let _ = writeln!(out, "\nwarning: {warning}");
    }
    out
}

/// `memsafe init`.
pub fn init(args: &InitArgs) -> Result<()> {
    let start = start_dir(args.dir.as_ref())?;
    let interactive = !args.yes && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if !args.yes && !interactive && !args.dry_run {
        return Err(
            UsageError::new("no terminal to ask the questions on, and no `--yes`")
                .with_help(
                    "pass `--yes` to take the defaults, with `--preset`, `--editor` and `--script` for \
                 other answers (and `--dry-run` to see the changes first)",
                )
                .into(),
        );
    }
    let project = project::find(&start)?;
    let hardware = detect(&args.hardware);
    let defaults = Answers {
        preset: args.preset.unwrap_or(Answers::default().preset),
        editor: args.editor.unwrap_or(Answers::default().editor),
        scripts: args.script.unwrap_or(Answers::default().scripts),
    };
    if let Some(member) = &project.member {
        ui::note(format!(
            "`{}` is a member of the workspace at `{}`: profiles only count at the workspace root, so memsafe configures that",
            member.display(),
            project.root.display()
        ));
    }
    let answers = if interactive {
        ui::line(hardware_line(&hardware));
        let given = prompt::Given {
            preset: args.preset.is_some(),
            editor: args.editor.is_some(),
            scripts: args.script.is_some(),
        };
        prompt::ask(defaults, given)?
    } else {
        defaults
    };
    let plan = Plan::compute(&hardware, &answers);
    let changes = changes(&project, &plan, &Templates::new())?;

    for warning in &plan.warnings {
        ui::warn(warning);
    }
    for change in &changes {
        for note in &change.notes {
            ui::note(format!("{}: {note}", change.display));
        }
    }
    let pending: Vec<&FileChange> = changes.iter().filter(|c| !c.is_noop()).collect();
    if pending.is_empty() {
        ui::status(
            "Unchanged",
            format!("every file already matches the plan ({} build jobs)", plan.jobs),
        );
        return Ok(());
    }
    if args.dry_run || interactive {
        for change in &pending {
            ui::data(change.unified_diff());
        }
    }
    if args.dry_run {
        ui::status(
            "Dry run",
            format!("{} file(s) would change; nothing was written", pending.len()),
        );
        return Ok(());
    }
    if interactive && !prompt::confirm_write()? {
        ui::line("Nothing was written.");
        return Ok(());
    }
    write::preflight(&changes)?;
    write::apply(&changes)?;
    for change in &pending {
        let verb = if change.before.is_some() {
            "Updated"
        } else {
            "Created"
        };
        ui::status(verb, &change.display);
    }
    ui::status(
        "Done",
        format!(
            "{} build jobs, {} test threads for {}; `memsafe plan` says why",
            plan.jobs,
            plan.test_threads,
            format_size(plan.hardware.memory_bytes)
        ),
    );
    Ok(())
}

fn hardware_line(hardware: &Hardware) -> String {
    let memory = match hardware.memory_source {
        MemorySource::CgroupLimit => format!("{} (container limit)", format_size(hardware.memory_bytes)),
        _ => format_size(hardware.memory_bytes),
    };
    format!(
        "This machine: {memory} of memory, {} logical CPUs ({} physical), {}",
        hardware.logical_cpus, hardware.physical_cpus, hardware.os
    )
}

/// Every file change for `plan` in `project`. Reads the files; writes nothing.
pub fn changes(project: &Project, plan: &Plan, templates: &Templates) -> Result<Vec<FileChange>> {
    let root = &project.root;
    let mut changes = Vec::new();

    // Cargo.toml: the profile keys, and a misplaced `[build] jobs` taken out.
    let manifest = root.join("Cargo.toml");
    let before = read_existing(root, &manifest)?.context("the root Cargo.toml disappeared")?;
    let mut after = merge_toml(
        root,
        &manifest,
        &before,
        &templates.render(render::CARGO_PROFILE, plan),
    )?;
    let mut notes = Vec::new();
    if let Some(removed) =
        merge::toml::remove(&after, &["build", "jobs"]).map_err(|e| bad_file(root, &manifest, &e))?
    {
        after = removed;
        notes.push(
            "took out `[build] jobs`: cargo ignores a `[build]` table in Cargo.toml (\"unused manifest key\"); \
             the job count now lives in .cargo/config.toml"
                .to_string(),
        );
    }
    if let Ok(document) = merge::toml::parse(&merge::text::Shape::of(&after).1)
        && document.get("build").is_some()
    {
        notes.push(
            "a `[build]` table is still in Cargo.toml, where cargo ignores it; memsafe left its other keys \
             alone (moving them to .cargo/config.toml would switch on settings that were never in effect)"
                .to_string(),
        );
    }
    changes.push(change(root, manifest, Some(before), after, false, notes));

    // .cargo/config.toml, or the legacy .cargo/config that cargo reads first (REFERENCE.md A1).
    let legacy = root.join(".cargo/config");
    let (config, mut notes) = if legacy.is_file() {
        (
            legacy,
            vec!["edited the legacy `.cargo/config`: cargo reads it instead of `config.toml`".to_string()],
        )
    } else {
        (root.join(".cargo/config.toml"), Vec::new())
    };
    let rendered = templates.render(render::CARGO_CONFIG, plan);
    let config_before = read_existing(root, &config)?;
    let config_after = match &config_before {
        Some(text) => merge_toml(root, &config, text, &rendered)?,
        None => rendered,
    };
    if config_before.is_none() {
        notes.clear();
    }
    changes.push(change(root, config, config_before, config_after, false, notes));

    if plan.answers.editor == Editor::Vscode {
        let settings = root.join(".vscode/settings.json");
        let rendered = templates.render(render::VSCODE_SETTINGS, plan);
        let before = read_existing(root, &settings)?;
        let (after, notes) = match &before {
            Some(text) => {
                let merged =
                    merge::jsonc::merge(text, &rendered).map_err(|e| bad_file(root, &settings, &e))?;
                (merged.text, merged.notes)
            }
            None => (rendered, Vec::new()),
        };
        changes.push(change(root, settings, before, after, false, notes));
    }

    let scripts = [
        (plan.answers.scripts.sh(), "test-safe.sh", render::TEST_SH, true),
        (
            plan.answers.scripts.ps1(),
            "test-safe.ps1",
            render::TEST_PS1,
            false,
        ),
    ];
    for (wanted, name, template, executable) in scripts {
        if !wanted {
            continue;
        }
        let path = root.join(name);
        let before = read_existing(root, &path)?;
        let after = templates.render(template, plan);
        if let Some(text) = &before
            && !text.lines().take(3).any(|line| line.starts_with(SCRIPT_MARK))
        {
            let mut kept = change(root, path, before.clone(), text.clone(), executable, Vec::new());
            kept.notes
                .push("left alone: this file was not written by memsafe".into());
            changes.push(kept);
            continue;
        }
        changes.push(change(root, path, before, after, executable, Vec::new()));
    }
    Ok(changes)
}

fn change(
    root: &Path,
    path: PathBuf,
    before: Option<String>,
    after: String,
    executable: bool,
    notes: Vec<String>,
) -> FileChange {
    FileChange {
        display: display(root, &path),
        path,
        before,
        after,
        executable,
        notes,
    }
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn merge_toml(root: &Path, path: &Path, before: &str, generated: &str) -> Result<String> {
    merge::toml::merge(before, generated).map_err(|error| bad_file(root, path, &error))
}

fn bad_file(root: &Path, path: &Path, error: &MergeError) -> anyhow::Error {
    let help = match error {
        MergeError::Syntax { .. } => {
            "fix the file (or restore it from version control), then run memsafe again"
        }
        MergeError::WrongType { .. } => "memsafe only edits files whose shape cargo and VS Code accept",
    };
    UsageError::new(format!(
        "cannot edit `{}`: {error}; nothing was written",
        display(root, path)
    ))
    .with_help(help)
    .into()
}

/// Reads a file memsafe will edit: `None` when it does not exist; a usage error when it is a
/// folder, too large, or not UTF-8.
fn read_existing(root: &Path, path: &Path) -> Result<Option<String>> {
    let shown = display(root, path);
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read `{shown}`")),
    };
    if metadata.is_dir() {
        return Err(UsageError::new(format!("`{shown}` is a folder, where memsafe expects a file")).into());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(UsageError::new(format!(
            "`{shown}` is {}, too large for a configuration file; nothing was written",
            format_size(metadata.len())
        ))
        .into());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{shown}`"))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(error) => {
            let offset = error.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&error.as_bytes()[..offset]);
            let (line, column) = merge::line_column(&valid, offset);
            Err(UsageError::new(format!(
                "`{shown}` is not UTF-8 text (line {line}, column {column}); nothing was written"
            ))
            .into())
        }
    }
}
