//! `memsafe init`: detect -> ask -> plan -> changeset -> diff -> (confirm) -> write.

use anyhow::Result;

use crate::cli::InitArgs;
use crate::error::UsageError;
use crate::hardware::format_size;
use crate::session::{Flags, Inputs, Session, start_dir};
use crate::ui::Printer;
use crate::{prompt, record};

/// `memsafe init`.
pub(crate) fn init(args: &InitArgs, printer: Printer) -> Result<()> {
    // The folder first: a wrong `--dir` is the first thing to hear about.
    start_dir(args.dir.as_ref())?;
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
    let session = Session::open(args.dir.as_ref(), !args.dry_run)?;
    if let Some(member) = &session.project.member {
        printer.note(format!(
            "`{}` is a member of the workspace at `{}`: profiles only count at the workspace root, so memsafe configures that",
            member.display(),
            session.root().display()
        ));
    }
    let flags = Flags {
        preset: args.preset,
        editor: &args.editor,
        script: args.script,
        team: args.team,
        fix: args.fix,
        governor: args.governor.map(crate::answers::Switch::is_on),
    };
    let mut inputs = Inputs::resolve(
        flags,
        &args.hardware,
        session.record.as_ref(),
        Some(session.root()),
        printer,
    );
    // Before any question: a combination that cannot be written is refused at once.
    inputs.refuse_team_governor()?;
    if interactive {
        printer.line(format!("This machine: {}", inputs.hardware.describe()));
        if session.record.is_some() {
            printer.line(format!("{} found: its answers are the defaults.", record::FILE));
        }
        let given = prompt::Given {
            preset: args.preset.is_some(),
            editors: !args.editor.is_empty(),
            scripts: args.script.is_some(),
            // Team mode has no governor: not asked.
            governor: args.governor.is_some() || inputs.answers.team,
        };
        inputs.answers = prompt::ask(inputs.answers, given)?;
        // The answer decides what the plan reads (the wrapper on PATH, git).
        inputs.read_governor(session.root());
        if args.fix.is_none() {
            inputs.answers.fixes = prompt::ask_fixes(&inputs.current.findings)?;
        }
    }
    let plan = inputs.plan();
    printer.detail(format!("project root: {}", session.root().display()));
    printer.detail(format!(
        "the plan, with its reasons:\n{}",
        super::plan::plan_text(&plan)
    ));
    let changeset = super::plan_changeset(&session, &plan, inputs.overrides)?;
    // What the repo has next to the plan, when something is about to change.
    if changeset.touches_user_files() {
        super::print_findings(&plan, printer);
    }
    super::print_warnings_and_events(&plan, &changeset, printer);
    if !changeset.touches_user_files() {
        // Only memsafe's own record changes (its answers, this machine): written quietly.
        if !args.dry_run {
            crate::write::commit(session.root(), &changeset.changes)?;
        }
        printer.status(
            "Unchanged",
            format!(
                "every file already matches the plan ({})",
                crate::plan::count(plan.jobs, "build job")
            ),
        );
        return Ok(());
    }
    let pending: Vec<_> = changeset.pending().collect();
    if interactive || args.dry_run {
        crate::preview::show(printer, &pending, interactive && !args.dry_run, args.diff);
    }
    if interactive && !args.dry_run && !prompt::confirm_write()? {
        printer.line("Nothing was written.");
        return Ok(());
    }
    if args.dry_run {
        printer.status(
            "Dry run",
            format!(
                "{} would change; nothing was written",
                super::plural(pending.len(), "file", "files")
            ),
        );
        return Ok(());
    }
    super::finish(session.root(), &changeset, false, printer)?;
    printer.status(
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
