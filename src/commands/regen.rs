//! `memsafe regen`: re-plan from memsafe.toml's answers after the machine (or what the project
//! is measured to need) changed, without a question.
//!
//! In team mode (`team = true` in memsafe.toml) the plan is for the recorded machine, the
//! team's smallest: every teammate's `regen` writes the same files.

use std::fmt::Write as _;

use anyhow::Result;

use crate::cli::RegenArgs;
use crate::hardware::{Hardware, format_size};
use crate::session::Session;
use crate::sync::Event;
use crate::ui::Printer;

/// Two memory figures closer than this (1%) are the same machine: firmware and kernels
/// reserve slightly different amounts across boots and updates.
const MEMORY_TOLERANCE_PERCENT: u64 = 1;

pub(crate) fn same_memory(a: u64, b: u64) -> bool {
    a.abs_diff(b) * 100 <= a.max(b) * MEMORY_TOLERANCE_PERCENT
}

/// `memory 16 GiB -> 32 GiB, logical CPUs 8 -> 16`, or `None` when nothing changed.
pub(crate) fn hardware_change(old: &Hardware, new: &Hardware) -> Option<String> {
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
pub(crate) fn regen(args: &RegenArgs, printer: Printer) -> Result<()> {
    let session = Session::open(args.dir.as_ref(), !args.dry_run)?;
    let record = session.require_record()?;
    let inputs = session.recorded_inputs(
        &args.hardware,
        args.governor.map(crate::answers::Switch::is_on),
        printer,
    )?;
    let plan = inputs.plan();
    printer.detail(format!(
        "the plan, with its reasons:\n{}",
        super::plan::plan_text(&plan)
    ));
    let changeset = super::plan_changeset(&session, &plan, inputs.overrides)?;
    super::print_warnings_and_events(&plan, &changeset, printer);
    if !changeset.touches_user_files() {
        // Only memsafe's own record changes (its answers, this machine): written quietly.
        if !args.dry_run {
            crate::write::commit(session.root(), &changeset.changes)?;
        }
        let team = if plan.answers.team {
            " (team mode: the plan is for the machine recorded in memsafe.toml)"
        } else {
            ""
        };
        printer.status(
            "Unchanged",
            format!(
                "the plan for {} is what the files hold ({}){team}",
                format_size(plan.hardware.memory_bytes),
                crate::plan::count(plan.jobs, "build job")
            ),
        );
        return Ok(());
    }
    if let Some(change) = hardware_change(&record.hardware(), &plan.hardware) {
        let mut summary = change;
        let mut values = Vec::new();
        if record.plan.jobs != plan.jobs {
            values.push(format!("build.jobs {} -> {}", record.plan.jobs, plan.jobs));
        }
        if record.plan.test_threads != plan.test_threads {
            values.push(format!(
                "test threads {} -> {}",
                record.plan.test_threads, plan.test_threads
            ));
        }
        if !values.is_empty() {
            let _ = write!(summary, ": {}", values.join(", "));
        }
        printer.line(&summary);
    }
    for change in changeset.pending().filter(|c| !c.is_record) {
        match (&change.before, &change.after) {
            (None, _) => printer.line(format!("  {}: missing, written again", change.display)),
            (_, None) => printer.line(format!(
                "  {}: deleted (only memsafe's keys were in it)",
                change.display
            )),
            _ if change.is_whole_file() => printer.line(format!(
                "  {}: rewritten (build jobs and test threads are written in it)",
                change.display
            )),
            _ => {
                for key in &change.keys {
                    let by_hand = changeset.events.iter().any(|(file, event)| {
                        *file == change.display
                            && matches!(event, Event::Overwrote { key: k, .. } if *k == key.key)
                    });
                    printer.line(format!(
                        "  {}: {} {} -> {}{}",
                        change.display,
                        key.key,
                        describe(key.before.as_ref()),
                        describe(key.after.as_ref()),
                        if by_hand {
                            " (edited by hand: restored)"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
    }
    super::finish(session.root(), &changeset, args.dry_run, printer)
}
