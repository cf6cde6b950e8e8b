//! `memsafe regen`, `memsafe check` and `memsafe calibrate`: keep the configuration right
//! after the machine (or what the project is measured to need) changes, from the answers
//! recorded in memsafe.toml, without a question.
//!
//! In team mode (`team = true` in memsafe.toml) the plan is for the recorded machine, the
//! team's smallest: every teammate's `regen` writes the same files, and `check` warns a
//! teammate whose machine is smaller than that.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::change::{FileChange, Kind};
use crate::cli::{CheckArgs, HardwareArgs, RegenArgs};
use crate::error::{Reported, UsageError};
use crate::hardware::{Hardware, format_size};
use crate::init::{apply, detect, print_notes, recorded_with_flags, start_dir};
use crate::plan::Plan;
use crate::project::{self, Project};
use crate::record::{self, Record};
use crate::render::Templates;
use crate::{calibrate, files, ui};

/// Two memory figures closer than this (1%) are the same machine: firmware and kernels
/// reserve slightly different amounts across boots and updates.
const MEMORY_TOLERANCE_PERCENT: u64 = 1;

fn load(dir: Option<&std::path::PathBuf>) -> Result<(Project, Record)> {
    let project = project::find(&start_dir(dir)?)?;
    let Some(record) = files::load_record(&project)? else {
        return Err(
            UsageError::new(format!("no {} in `{}`", record::FILE, project.root.display()))
                .with_help("run `memsafe init` first: it asks the questions and records the answers")
                .into(),
        );
    };
    Ok((project, record))
}

/// The hardware to plan for: in team mode the recorded machine (flags replace its fields);
/// otherwise this machine (flags replace detection).
fn planned_hardware(record: &Record, args: &HardwareArgs) -> Hardware {
    if record.answers.team {
        recorded_with_flags(&record.hardware, args)
    } else {
        detect(args)
    }
}

fn same_memory(a: u64, b: u64) -> bool {
    a.abs_diff(b) * 100 <= a.max(b) * MEMORY_TOLERANCE_PERCENT
}

/// `memory 16 GiB -> 32 GiB, logical CPUs 8 -> 16`, or `None` when nothing changed.
fn hardware_change(old: &Hardware, new: &Hardware) -> Option<String> {
    let mut parts = Vec::new();
    if !same_memory(old.memory_bytes, new.memory_bytes) {
        parts.push(format!(
            "memory {} -> {}",
            format_size(old.memory_bytes),
            format_size(new.memory_bytes)
        ));
    }
    if old.logical_cpus != new.logical_cpus {
        parts.push(format!(
            "logical CPUs {} -> {}",
            old.logical_cpus, new.logical_cpus
        ));
    }
    if old.physical_cpus != new.physical_cpus && old.logical_cpus == new.logical_cpus {
        parts.push(format!(
            "physical CPUs {} -> {}",
            old.physical_cpus, new.physical_cpus
        ));
    }
    if old.os != new.os {
        parts.push(format!("os {} -> {}", old.os, new.os));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn describe(value: Option<&String>) -> String {
    value.map_or_else(|| "(absent)".to_string(), Clone::clone)
}

/// `memsafe regen`.
pub fn regen(args: &RegenArgs) -> Result<()> {
    let (project, record) = load(args.dir.as_ref())?;
    let _lock = if args.dry_run {
        None
    } else {
        Some(crate::lock::acquire(&project.root)?)
    };
    // Read again under the lock: another memsafe may have just rewritten it.
    let record = files::load_record(&project)?.unwrap_or(record);
    let hardware = planned_hardware(&record, &args.hardware);
    let templates = Templates::new();
    let plan = Plan::compute_full(
        &hardware,
        &record.answers,
        &record.overrides,
        record.calibration.as_ref(),
    );
    ui::detail(format!(
        "the plan, with its reasons:\n{}",
        crate::init::plan_text(&plan)
    ));
    let changes = files::changes(&project, &plan, &templates, Some(&record))?;
    for warning in &plan.warnings {
        ui::warn(warning);
    }
    print_notes(&changes);

    // What the recorded plan would write now: a difference from it is a hand edit.
    // The recorded values, exactly as they were written (pins may have changed since).
    let recorded_values = crate::plan::Overrides {
        jobs: Some(record.jobs),
        test_threads: Some(record.test_threads),
    };
    let recorded_plan = Plan::compute_full(
        &record.hardware,
        &record.answers,
        &recorded_values,
        record.calibration.as_ref(),
    );
    let hand_edited: Vec<(String, String)> =
        files::changes(&project, &recorded_plan, &templates, Some(&record))?
            .iter()
            .filter(|c| c.kind != Kind::Record)
            .flat_map(|c| c.key_changes().into_iter().map(|k| (c.display.clone(), k.key)))
            .collect();

    let pending: Vec<&FileChange> = changes.iter().filter(|c| !c.is_noop()).collect();
    let user_facing: Vec<&&FileChange> = pending.iter().filter(|c| c.kind != Kind::Record).collect();
    if user_facing.is_empty() {
        if !pending.is_empty() && !args.dry_run {
            apply(&changes)?;
        }
        ui::status(
            "Unchanged",
            format!(
                "the plan for {} is what the files hold ({})",
                format_size(plan.hardware.memory_bytes),
                crate::plan::count(plan.jobs, "build job")
            ),
        );
        return Ok(());
    }

    let mut summary = String::new();
    if let Some(change) = hardware_change(&record.hardware, &plan.hardware) {
        summary.push_str(&change);
        let mut values = Vec::new();
        if record.jobs != plan.jobs {
            values.push(format!("build.jobs {} -> {}", record.jobs, plan.jobs));
        }
        if record.test_threads != plan.test_threads {
            values.push(format!(
                "test threads {} -> {}",
                record.test_threads, plan.test_threads
            ));
        }
        if !values.is_empty() {
            let _ = write!(summary, ": {}", values.join(", "));
        }
        ui::line(&summary);
    }
    let mut restored = false;
    for change in &user_facing {
        if change.before.is_none() {
            ui::line(format!("  {}: missing, written again", change.display));
            continue;
        }
        if matches!(change.kind, Kind::Whole | Kind::Executable) {
            ui::line(format!(
                "  {}: rewritten (build jobs and test threads are written in it)",
                change.display
            ));
            continue;
        }
        for key in change.key_changes() {
            let edited = hand_edited
                .iter()
                .any(|(file, k)| *file == change.display && *k == key.key);
            let why = if edited {
                restored = true;
                " (edited by hand: restored)"
            } else {
                ""
            };
            ui::line(format!(
                "  {}: {} {} -> {}{why}",
                change.display,
                key.key,
                describe(key.before.as_ref()),
                describe(key.after.as_ref())
            ));
        }
    }
    if restored {
        ui::note(
            "to keep a value of your own, pin `jobs` or `test_threads` under [overrides] in memsafe.toml, \
             or choose another preset there; memsafe restores hand edits of the keys it manages",
        );
    }
    if args.dry_run {
        for change in &pending {
            ui::data(change.unified_diff());
        }
        ui::status(
            "Dry run",
            format!("{} file(s) would change; nothing was written", pending.len()),
        );
        return Ok(());
    }
    apply(&changes)
}

/// `memsafe calibrate`: measure, record, and re-plan from the measurements.
pub fn calibrate(args: &crate::cli::CalibrateArgs) -> Result<()> {
    let (project, record) = load(args.dir.as_ref())?;
    let _lock = if args.dry_run {
        None
    } else {
        Some(crate::lock::acquire(&project.root)?)
    };
    let hardware = planned_hardware(&record, &args.hardware);
    let before_plan = Plan::compute_full(
        &hardware,
        &record.answers,
        &record.overrides,
        record.calibration.as_ref(),
    );
    let target = calibrate::target_dir(&project.root);
    // A measurement needs every crate compiled: start from an empty target folder (memsafe's
    // own, never the user's).
    if target.exists() {
        std::fs::remove_dir_all(&target).with_context(|| format!("cannot empty `{}`", target.display()))?;
    }
    std::fs::create_dir_all(&target).with_context(|| format!("cannot create `{}`", target.display()))?;
    let log = target.join("rustc-log.jsonl");
    let _ = std::fs::remove_file(&log);

    ui::status(
        "Calibrating",
        format!(
            "{} with {} jobs in {} (your own target folder stays as it is)",
            if args.profile == "test" {
                "cargo test --no-run"
            } else {
                "cargo build"
            },
            before_plan.jobs,
            files::display(&project.root, &target)
        ),
    );
    let expected = record.calibration.as_ref().map_or(0, |c| c.crates);
    let bar = if ui::is_quiet() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(expected)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} crates  {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = CalibrationProgress {
        bar,
        log: log.clone(),
        heaviest: std::sync::Mutex::default(),
    };
    let color = dialoguer::console::colors_enabled_stderr();
    let total_seconds = calibrate::build(
        &project.root,
        &target,
        &log,
        &args.profile,
        before_plan.jobs,
        &args.cargo_args,
        color,
        &progress,
    );
    let bar = progress.bar;
    bar.finish_and_clear();
    let total_seconds = total_seconds?;
    let invocations = calibrate::read_log(&std::fs::read_to_string(&log).unwrap_or_default());
    if invocations.is_empty() || invocations.iter().all(|i| i.peak_bytes == 0) {
        return Err(anyhow::anyhow!(
            "the build recorded no compilation with a measured peak; nothing was recorded"
        ));
    }
    let rustc = calibrate::rustc_version(&project.root).unwrap_or_else(|| "rustc (unknown version)".into());
    let date = calibrate::civil_from_days(calibrate::today());
    let calibration = calibrate::summarize(&invocations, &rustc, &date, &args.profile, total_seconds);
    ui::line(format!(
        "{} compilations in {}s: median {}, p90 {}, largest {} ({}), links up to {}",
        calibration.crates,
        calibration.total_seconds,
        format_size(calibration.median_peak_bytes),
        format_size(calibration.p90_peak_bytes),
        format_size(calibration.max_peak_bytes),
        calibration.heaviest.first().map_or("?", |h| h.0.as_str()),
        format_size(calibration.link_peak_bytes)
    ));

    let plan = Plan::compute_full(&hardware, &record.answers, &record.overrides, Some(&calibration));
    let mut updated = record.clone();
    updated.calibration = Some(calibration);
    let changes = files::changes(&project, &plan, &Templates::new(), Some(&updated))?;
    if before_plan.jobs != plan.jobs {
        ui::line(format!(
            "measured: build.jobs {} -> {}",
            before_plan.jobs, plan.jobs
        ));
    } else {
        ui::line(format!("measured: build.jobs stays {}", plan.jobs));
    }
    if args.dry_run {
        for change in changes.iter().filter(|c| !c.is_noop()) {
            ui::data(change.unified_diff());
        }
        ui::status("Dry run", "nothing was written");
        return Ok(());
    }
    apply(&changes)
}

/// The progress bar of `calibrate`: units built, the heaviest compilation so far; cargo's own
/// lines are printed above it.
struct CalibrationProgress {
    bar: indicatif::ProgressBar,
    log: std::path::PathBuf,
    /// The heaviest compilation so far, and how much of the log has been read.
    heaviest: std::sync::Mutex<(String, u64, usize)>,
}

impl calibrate::Progress for CalibrationProgress {
    fn unit(&self, name: &str) {
        self.bar.inc(1);
        if self.bar.position() > self.bar.length().unwrap_or(0) {
            self.bar.set_length(self.bar.position());
        }
        let Ok(mut heaviest) = self.heaviest.lock() else {
            return;
        };
        // The wrapper's new lines since the last unit.
        if let Ok(text) = std::fs::read_to_string(&self.log) {
            for invocation in calibrate::read_log(text.get(heaviest.2..).unwrap_or_default()) {
                if invocation.peak_bytes > heaviest.1 {
                    (heaviest.0, heaviest.1) = (invocation.krate, invocation.peak_bytes);
                }
            }
            heaviest.2 = text.len();
        }
        self.bar.set_message(format!(
            "{name} built; heaviest so far {} ({})",
            heaviest.0,
            format_size(heaviest.1)
        ));
    }

    fn line(&self, line: &str) {
        if self.bar.is_hidden() {
            ui::passthrough(line);
        } else {
            self.bar.println(line);
        }
    }
}

/// Days after which `check` calls a calibration stale.
const STALE_DAYS: i64 = 90;

/// Why the recorded calibration no longer describes this project's builds, if it does not.
fn stale_calibration(project: &Project, calibration: &calibrate::Calibration) -> Option<String> {
    let current = calibrate::rustc_version(&project.root);
    if let Some(current) = current
        && current != calibration.rustc
    {
        return Some(format!(
            "the calibration was measured with {}, this is {current}: run `memsafe calibrate` again",
            calibration.rustc
        ));
    }
    let age = calibrate::parse_date(&calibration.date).map(|day| calibrate::today() - day);
    match age {
        Some(days) if days > STALE_DAYS => Some(format!(
            "the calibration is {days} days old (more than {STALE_DAYS}): run `memsafe calibrate` again"
        )),
        None => Some(format!(
            "the calibration's date `{}` is not YYYY-MM-DD",
            calibration.date
        )),
        _ => None,
    }
}

/// `memsafe check`.
pub fn check(args: &CheckArgs) -> Result<()> {
    let (project, record) = load(args.dir.as_ref())?;
    let mut differences = Vec::new();
    let mut notes = Vec::new();
    let this_machine = detect(&args.hardware);
    let hardware = if record.answers.team {
        let baseline = &record.hardware;
        let smaller_memory = this_machine.memory_bytes < baseline.memory_bytes
            && !same_memory(this_machine.memory_bytes, baseline.memory_bytes);
        if smaller_memory || this_machine.logical_cpus < baseline.logical_cpus {
            differences.push(format!(
                "this machine ({}, {} CPUs) is smaller than the team plan's ({}, {} CPUs): builds may run out \
                 of memory here; run `memsafe plan` for this machine's values and set CARGO_BUILD_JOBS for \
                 yourself, or lower the team's machine with `memsafe regen --ram SIZE --cpus N`",
                format_size(this_machine.memory_bytes),
                this_machine.logical_cpus,
                format_size(baseline.memory_bytes),
                baseline.logical_cpus
            ));
        } else if hardware_change(baseline, &this_machine).is_some() {
            notes.push(format!(
                "team plan for {} and {} CPUs; this machine has {} and {} CPUs",
                format_size(baseline.memory_bytes),
                baseline.logical_cpus,
                format_size(this_machine.memory_bytes),
                this_machine.logical_cpus
            ));
        }
        baseline.clone()
    } else {
        if let Some(change) = hardware_change(&record.hardware, &this_machine) {
            differences.push(format!(
                "hardware changed since memsafe.toml was written: {change}"
            ));
        }
        this_machine
    };
    if let Some(stale) = record
        .calibration
        .as_ref()
        .and_then(|c| stale_calibration(&project, c))
    {
        differences.push(stale);
    }
    let plan = Plan::compute_full(
        &hardware,
        &record.answers,
        &record.overrides,
        record.calibration.as_ref(),
    );
    let changes = files::changes(&project, &plan, &Templates::new(), Some(&record))?;
    for change in changes.iter().filter(|c| c.kind != Kind::Record && !c.is_noop()) {
        if change.before.is_none() {
            differences.push(format!("{} is missing", change.display));
            continue;
        }
        if matches!(change.kind, Kind::Whole | Kind::Executable) {
            differences.push(format!("{} differs from the plan's script", change.display));
            continue;
        }
        for key in change.key_changes() {
            differences.push(match (&key.before, &key.after) {
                (Some(have), Some(want)) => {
                    format!("{}: {} is {have}, the plan says {want}", change.display, key.key)
                }
                (None, Some(want)) => {
                    format!("{}: {} is missing, the plan says {want}", change.display, key.key)
                }
                (Some(have), None) => {
                    format!("{}: {} = {have} should not be there", change.display, key.key)
                }
                (None, None) => continue,
            });
        }
    }

    if crate::ui::is_quiet() {
        return if differences.is_empty() {
            Ok(())
        } else {
            Err(Reported.into())
        };
    }
    for note in &notes {
        ui::note(note);
    }
    if differences.is_empty() {
        ui::data(format!(
            "memsafe check: everything matches the plan ({}, {} for {})\n",
            crate::plan::count(plan.jobs, "build job"),
            crate::plan::count(plan.test_threads, "test thread"),
            format_size(plan.hardware.memory_bytes)
        ));
        return Ok(());
    }
    let mut out = format!("memsafe check: {} difference(s)\n", differences.len());
    for difference in &differences {
        let _ = writeln!(out, "  {difference}");
    }
    out.push_str("help: `memsafe regen` updates the files (`--dry-run` shows how)\n");
    ui::data(out);
    Err(Reported.into())
}
