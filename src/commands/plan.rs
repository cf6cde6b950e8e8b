//! `memsafe plan`: the plan for this machine, with the reason for every value. Writes nothing.

use anyhow::{Context, Result};

use crate::cli::PlanArgs;
use crate::hardware::{MemorySource, format_size};
use crate::plan::Plan;
use crate::project;
use crate::session::{Flags, Inputs, Session, start_dir};
use crate::ui::{self, Printer};

/// `memsafe plan`.
pub(crate) fn plan(args: &PlanArgs, printer: Printer) -> Result<()> {
    let start = start_dir(args.dir.as_ref())?;
    // In a configured project the recorded answers and pins apply; outside one, the defaults.
    let session = match project::find(&start) {
        Ok(_) => Some(Session::open(Some(&start), false)?),
        Err(_) => {
            printer.note(format!(
                "no Rust project in `{}` or above: this is the plan for this machine only",
                start.display()
            ));
            None
        }
    };
    let flags = Flags {
        preset: args.preset,
        editor: &args.editor,
        fix: args.fix,
        governor: args.governor.map(crate::answers::Switch::is_on),
        ..Flags::default()
    };
    let inputs = Inputs::resolve(
        flags,
        &args.hardware,
        session.as_ref().and_then(|s| s.record.as_ref()),
        session.as_ref().map(Session::root),
        printer,
    );
    inputs.refuse_team_governor()?;
    let plan = inputs.plan();
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
pub(crate) fn plan_text(plan: &Plan) -> String {
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
        "\nplan ({} preset, editors: {}{})",
        plan.answers.preset.as_str(),
        plan.answers.editors.words(),
        if plan.governor.is_some() {
            ", governor: on"
        } else {
            ""
        }
    );
    for reason in &plan.reasons {
        let _ = writeln!(out, "  {} = {}", reason.setting, reason.value);
        let _ = writeln!(out, "      {}", reason.why);
        if let Some(current) = &reason.current {
            let _ = writeln!(out, "      now: {current}");
        }
    }
    if !plan.findings.is_empty() {
        let _ = writeln!(out, "\nfound in the repo");
        for finding in &plan.findings {
            let action = match (plan.fix_for(finding), finding.fix) {
                (Some(fix), _) => {
                    format!("fixed (--fix {}): taken out", fix.as_str())
                }
                (None, Some(fix)) => format!("left as it is; `--fix {}` takes it out", fix.as_str()),
                (None, None) => "memsafe only says so".into(),
            };
            let status = serde_json::to_value(finding.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let _ = writeln!(out, "  {status}: {} ({})", finding.what, finding.place);
            let _ = writeln!(out, "      {}", finding.cost);
            let _ = writeln!(out, "      {action}");
        }
    }
    for warning in &plan.warnings {
        let _ = writeln!(out, "\nwarning: {warning}");
    }
    out
}
