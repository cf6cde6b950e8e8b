//! `memsafe init` and `memsafe plan`: the only code that knows the order of the steps.
//!
//! detect -> ask -> plan -> render -> merge -> diff -> (confirm) -> write

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::change::FileChange;
use crate::cli::{HardwareArgs, InitArgs, PlanArgs};
use crate::error::UsageError;
use crate::hardware::{self, Hardware, MemorySource, format_size};
use crate::plan::{Answers, Editors, Plan};
use crate::render::Templates;
use crate::{files, project, prompt, record, ui, write};

pub(crate) fn detect(args: &HardwareArgs) -> Hardware {
    let overrides = hardware::Overrides {
        memory_bytes: args.ram,
        logical_cpus: args.cpus,
        os: args.os,
    };
    let found = hardware::detect(overrides, &hardware::Sources::default());
    hardware::explain(&found, overrides);
    found
}

pub(crate) fn start_dir(dir: Option<&PathBuf>) -> Result<PathBuf> {
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
    // In a configured project the recorded answers and pins apply; outside one, the defaults.
    let record = match project::find(&start) {
        Ok(project) => files::load_record(&project)?,
        Err(_) => None,
    };
    let recorded = record.as_ref().map(|r| r.answers).unwrap_or_default();
    let answers = Answers {
        preset: args.preset.unwrap_or(recorded.preset),
        editors: if args.editor.is_empty() {
            recorded.editors
        } else {
            Editors::from_list(&args.editor)
        },
        ..recorded
    };
    let overrides = record.as_ref().map(|r| r.overrides).unwrap_or_default();
    let hardware = detect(&args.hardware);
    let calibration = record.as_ref().and_then(|r| r.calibration.as_ref());
    let plan = Plan::compute_full(&hardware, &answers, &overrides, calibration);
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
        "\nplan ({} preset, editors: {})",
        plan.answers.preset.as_str(),
        plan.answers.editors.words()
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
    project::check_start(&start)?;
    let interactive = !args.yes && prompt::can_ask();
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
    let _lock = if args.dry_run {
        None
    } else {
        Some(crate::lock::acquire(&project.root)?)
    };
    let record = files::load_record(&project)?;
    if let Some(member) = &project.member {
        ui::note(format!(
            "`{}` is a member of the workspace at `{}`: profiles only count at the workspace root, so memsafe configures that",
            member.display(),
            project.root.display()
        ));
    }
    // Recorded answers are the defaults of a second run; flags win over both.
    let recorded = record.as_ref().map(|r| r.answers).unwrap_or_default();
    // Editors: the flag, else the record, else the editor folders the project has, else VS Code.
    let editors = if !args.editor.is_empty() {
        Editors::from_list(&args.editor)
    } else if let Some(record) = &record {
        record.answers.editors
    } else {
        let found = detect_editors(&project.root);
        if found.any() { found } else { Editors::VSCODE }
    };
    let defaults = Answers {
        preset: args.preset.unwrap_or(recorded.preset),
        editors,
        scripts: args.script.unwrap_or(recorded.scripts),
        team: args.team || recorded.team,
    };
    let hardware = match &record {
        Some(record) if defaults.team => recorded_with_flags(&record.hardware, &args.hardware),
        _ => detect(&args.hardware),
    };
    let answers = if interactive {
        ui::line(format!("This machine: {}", hardware.describe()));
        if record.is_some() {
            ui::line(format!("{} found: its answers are the defaults.", record::FILE));
        }
        let given = prompt::Given {
            preset: args.preset.is_some(),
            editors: !args.editor.is_empty(),
            scripts: args.script.is_some(),
        };
        prompt::ask(defaults, given)?
    } else {
        defaults
    };
    let overrides = record.as_ref().map(|r| r.overrides).unwrap_or_default();
    let calibration = record.as_ref().and_then(|r| r.calibration.as_ref());
    let plan = Plan::compute_full(&hardware, &answers, &overrides, calibration);
    ui::detail(format!("project root: {}", project.root.display()));
    ui::detail(format!("the plan, with its reasons:\n{}", plan_text(&plan)));
    let changes = files::changes(&project, &plan, &Templates::new(), record.as_ref())?;

    for warning in &plan.warnings {
        ui::warn(warning);
    }
    print_notes(&changes);
    let pending: Vec<&FileChange> = changes.iter().filter(|c| !c.is_noop()).collect();
    if pending.is_empty() {
        ui::status(
            "Unchanged",
            format!(
                "every file already matches the plan ({})",
                crate::plan::count(plan.jobs, "build job")
            ),
        );
        return Ok(());
    }
    if args.dry_run || interactive {
        crate::preview::show(&pending, interactive && !args.dry_run, args.diff);
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
    apply(&changes)?;
    ui::status(
        "Done",
        format!(
            "{}, {} for {}; `memsafe plan` says why",
            crate::plan::count(plan.jobs, "build job"),
            crate::plan::count(plan.test_threads, "test thread"),
            format_size(plan.hardware.memory_bytes)
        ),
    );
    Ok(())
}

/// Prints the notes every change carries (renamed settings, misplaced keys).
pub(crate) fn print_notes(changes: &[FileChange]) {
    for change in changes {
        for note in &change.notes {
            ui::note(format!("{}: {note}", change.display));
        }
    }
}

/// Checks, writes and reports every change.
pub(crate) fn apply(changes: &[FileChange]) -> Result<()> {
    write::preflight(changes)?;
    write::apply(changes)?;
    for change in changes.iter().filter(|c| !c.is_noop()) {
        let verb = if change.before.is_some() {
            "Updated"
        } else {
            "Created"
        };
        ui::status(verb, &change.display);
    }
    Ok(())
}

/// The editors whose project folder exists: `.vscode/`, `.zed/`, `.helix/`.
fn detect_editors(root: &std::path::Path) -> Editors {
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
