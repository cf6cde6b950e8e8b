//! One module per command, each a short function over the shared pieces:
//! [`Session::open`](crate::session::Session::open), [`Inputs::resolve`](crate::session::Inputs::resolve),
//! [`Plan::compute_full`](crate::plan::Plan::compute_full), the changeset
//! ([`crate::files::changeset`]) and [`finish`].

pub(crate) mod calibrate;
pub(crate) mod check;
pub(crate) mod governor;
pub(crate) mod init;
pub(crate) mod plan;
pub(crate) mod regen;
pub(crate) mod remove;

use anyhow::Result;

use crate::files::{self, Changeset, Goal};
use crate::plan::{Overrides, Plan};
use crate::render::Templates;
use crate::session::Session;
use crate::sync::Event;
use crate::ui::{self, Printer};
use crate::write;

/// The changeset that brings the session's project to `plan`.
pub(crate) fn plan_changeset(session: &Session, plan: &Plan, overrides: Overrides) -> Result<Changeset> {
    files::changeset(
        &session.project,
        &Goal::Plan(plan, overrides),
        &Templates::new(),
        session.record.as_ref(),
    )
}

/// What the repo already has that memsafe found, one line each, with what memsafe does; and
/// each value of the repo's that the plan changes or keeps, next to the plan's.
pub(crate) fn print_findings(plan: &Plan, printer: Printer) {
    for reason in &plan.reasons {
        if let Some(current) = &reason.current {
            printer.note(format!("{} = {}: {current}", reason.setting, reason.value));
        }
    }
    // A value that beats memsafe's is a warning (`print_warnings_and_events`), not a finding.
    for finding in plan.findings.iter().filter(|f| !plan.is_override(f)) {
        let action = match (plan.fix_for(finding), finding.fix) {
            // Taken out by an earlier run and staying out: nothing new to say.
            (Some(_), _) if finding.taken_out => continue,
            (Some(_), _) => "taken out".to_string(),
            (None, Some(fix)) if finding.taken_out => {
                format!("put back (`--fix {}` takes it out)", fix.as_str())
            }
            (None, Some(fix)) => format!("left as it is (`--fix {}` takes it out)", fix.as_str()),
            (None, None) => "left as it is".into(),
        };
        printer.note(format!(
            "{} ({}): {action}; `memsafe plan` says why",
            finding.what, finding.place
        ));
    }
}

/// The plan's warnings, then what happened to the files that the user should hear about.
pub(crate) fn print_warnings_and_events(plan: &Plan, changeset: &Changeset, printer: Printer) {
    for warning in &plan.warnings {
        ui::warn(warning);
    }
    print_events(changeset, printer);
}

/// Prints what happened to the files that the user should hear about.
pub(crate) fn print_events(changeset: &Changeset, printer: Printer) {
    for (file, event) in &changeset.events {
        match event {
            Event::Note(note) => printer.note(format!("{file}: {note}")),
            Event::KeptEdit { key, value } => printer.note(format!(
                "{file}: kept your `{key} = {value}`: you changed memsafe's value by hand, so it is yours now"
            )),
            Event::Overwrote { key, was } => {
                let keep = if key.contains("rustc-wrapper") || key.contains(crate::governor::CHAIN_ENV) {
                    "memsafe runs the wrapper you wrote there after admitting each rustc (MEMSAFE_RUSTC_WRAPPER \
                     under [env]); `memsafe regen --governor off` turns the governor off"
                } else if key.contains("jobs")
                    || key.contains("RUST_TEST_THREADS")
                    || key.contains("extraArgs")
                {
                    "to keep a value of your own, pin `jobs` or `test_threads` under [overrides] in memsafe.toml"
                } else {
                    "to keep a value of your own, choose another preset (or no editor) under [answers] in \
                     memsafe.toml; a stricter value of yours is kept"
                };
                printer.note(format!(
                    "{file}: `{key}` was {was}, changed by hand: set back to the plan's value; {keep}"
                ));
            }
        }
    }
}

/// How a run ends: with `dry_run`, the diffs; otherwise the changes written under the commit
/// protocol, and one status line per file.
pub(crate) fn finish(
    root: &std::path::Path,
    changeset: &Changeset,
    dry_run: bool,
    printer: Printer,
) -> Result<()> {
    let pending: Vec<_> = changeset.pending().collect();
    if dry_run {
        for change in &pending {
            ui::data(change.unified_diff());
        }
        printer.status(
            "Dry run",
            format!(
                "{} would change; nothing was written",
                plural(pending.len(), "file", "files")
            ),
        );
        return Ok(());
    }
    write::commit(root, &changeset.changes)?;
    for change in pending {
        printer.status(change.verb(), &change.display);
        // A script written on Windows has no run bit for git to carry to Linux teammates.
        if change.executable
            && change.after.is_some()
            && let (Some(dir), Some(name)) = (change.path.parent(), change.path.file_name())
            && let Some(note) = crate::gitmode::after_writing_script(dir, name.as_ref())
        {
            printer.note(note);
        }
    }
    Ok(())
}

/// `1 file`, `2 files`.
pub(crate) fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}
