//! `memsafe check`: exit 1 when this machine or an owned key no longer matches the plan.
//! Every registered key is compared, absence included: a key the plan no longer sets must be
//! back to the user's original.

use std::fmt::Write as _;

use anyhow::Result;

use super::regen::{hardware_change, same_memory};
use crate::cli::CheckArgs;
use crate::error::Reported;
use crate::hardware::format_size;
use crate::session::{Flags, Inputs, Session, detect};
use crate::sync::Event;
use crate::ui::{self, Printer};

/// A `takes_out` key (`profile.test.opt-level`) as a key diff names it.
fn owned_name(dotted: &str) -> String {
    let path: Vec<String> = dotted.split('.').map(String::from).collect();
    crate::owned::display_path(crate::owned::FileId::Manifest, &path)
}

/// `memsafe check`.
pub(crate) fn check(args: &CheckArgs, printer: Printer) -> Result<()> {
    let session = Session::open(args.dir.as_ref(), false)?;
    let record = session.require_record()?;
    let mut differences = Vec::new();
    let mut notes = Vec::new();
    // Whether `memsafe regen` fixes what is found (not so for a smaller machine in team mode).
    let mut regen_fixes = false;
    if crate::write::journal_exists(session.root()) {
        differences.push(format!(
            "an earlier memsafe run was interrupted (`{}` is there): the next `memsafe regen`, `init` or \
             `remove` rolls it back",
            crate::write::JOURNAL
        ));
        regen_fixes = true;
    }
    // In team mode the plan is the recorded machine's; the flags describe this machine.
    let plan_flags = if record.answers.team {
        crate::cli::HardwareArgs::default()
    } else {
        args.hardware.clone()
    };
    let inputs = Inputs::resolve(
        Flags::default(),
        &plan_flags,
        Some(record),
        Some(session.root()),
        printer,
    );
    // As plan and regen: a record with both team mode and the governor is refused.
    inputs.refuse_team_governor()?;
    // Detected once: outside team mode the plan's machine is this one.
    let this_machine = if record.answers.team {
        detect(&args.hardware, printer)
    } else {
        inputs.hardware.clone()
    };
    if record.answers.team {
        let baseline = record.hardware();
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
        } else if hardware_change(&baseline, &this_machine).is_some() {
            notes.push(format!(
                "team plan for {} and {} CPUs; this machine has {} and {} CPUs",
                format_size(baseline.memory_bytes),
                baseline.logical_cpus,
                format_size(this_machine.memory_bytes),
                this_machine.logical_cpus
            ));
        }
    } else if let Some(change) = hardware_change(&record.hardware(), &this_machine) {
        differences.push(format!(
            "hardware changed since memsafe.toml was written: {change}"
        ));
        regen_fixes = true;
    }
    if let Some(stale) = inputs
        .calibration
        .as_ref()
        .and_then(|c| super::calibrate::stale_calibration(&session.project, c))
    {
        differences.push(stale);
    }
    let plan = inputs.plan();
    let changeset = super::plan_changeset(&session, &plan, inputs.overrides)?;
    for change in changeset.pending().filter(|c| !c.is_record) {
        regen_fixes = true;
        if change.before.is_none() {
            differences.push(format!("{} is missing", change.display));
            continue;
        }
        if change.after.is_none() {
            differences.push(format!(
                "{} holds only keys the plan no longer sets: memsafe would delete it",
                change.display
            ));
            continue;
        }
        if change.is_whole_file() {
            differences.push(format!("{} differs from the plan's script", change.display));
            continue;
        }
        let edited: Vec<&String> = changeset
            .events
            .iter()
            .filter(|(file, _)| *file == change.display)
            .filter_map(|(_, event)| match event {
                Event::Overwrote { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        for key in &change.keys {
            let by_hand = if edited.contains(&&key.key) {
                " (changed by hand)"
            } else {
                ""
            };
            differences.push(match (&key.before, &key.after) {
                (Some(have), Some(want)) => {
                    format!(
                        "{}: {} is {have}{by_hand}, the plan says {want}",
                        change.display, key.key
                    )
                }
                (None, Some(want)) => {
                    format!("{}: {} is missing, the plan says {want}", change.display, key.key)
                }
                (Some(have), None) if plan.takes_out.iter().any(|k| owned_name(k) == key.key) => format!(
                    "{}: {} = {have} should not be there (a fix chosen in memsafe.toml takes it out)",
                    change.display, key.key
                ),
                (Some(have), None) => format!(
                    "{}: {} = {have} should not be there (the plan no longer sets it)",
                    change.display, key.key
                ),
                (None, None) => continue,
            });
        }
        if change.keys.is_empty() {
            differences.push(format!("{} differs from the plan", change.display));
        }
    }

    // With the governor on, a wrapper cargo cannot start fails every build here.
    if plan.governor.is_some() {
        let config = crate::files::cargo_config_path(session.root());
        let text = std::fs::read_to_string(session.root().join(config)).unwrap_or_default();
        let doc = crate::merge::toml::TomlDoc::parse(&text).ok();
        let chain = format!("env.{}", crate::governor::CHAIN_ENV);
        for key in ["build.rustc-wrapper", chain.as_str()] {
            let path: Vec<String> = key.split('.').map(String::from).collect();
            let Some(serde_json::Value::String(program)) =
                doc.as_ref().and_then(|d| d.get(&path)).map(|found| found.value)
            else {
                continue;
            };
            if let Some(why) = crate::current::missing_program(
                &program,
                session.root(),
                std::env::var_os("PATH").as_deref(),
                cfg!(windows),
                std::path::Path::is_file,
            ) {
                let what = if key == chain {
                    "memsafe runs it for every rustc, so every compilation here fails; install it, or take it \
                     out (`memsafe regen --governor off` puts the original wrapper back)"
                } else {
                    regen_fixes = true;
                    "cargo cannot start any rustc here; `memsafe regen` writes this memsafe's path (or \
                     `memsafe regen --governor off`)"
                };
                differences.push(format!(
                    "{config}: {key} = \"{program}\" cannot be found ({why}): {what}"
                ));
            }
        }
    }

    if printer.is_quiet() {
        return if differences.is_empty() {
            Ok(())
        } else {
            Err(Reported.into())
        };
    }
    for note in &notes {
        printer.note(note);
    }
    // The plan's warnings, as init and regen print them: a value that beats memsafe's (an
    // environment variable, a member's config), a pin beyond the budget, a budget below one job.
    for warning in &plan.warnings {
        ui::warn(warning);
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
    let mut out = format!(
        "memsafe check: {}\n",
        super::plural(differences.len(), "difference", "differences")
    );
    for difference in &differences {
        let _ = writeln!(out, "  {difference}");
    }
    if regen_fixes {
        out.push_str("help: `memsafe regen` updates the files (`--dry-run` shows how)\n");
    }
    ui::data(out);
    Err(Reported.into())
}
