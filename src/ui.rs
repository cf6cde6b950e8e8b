//! The only module that prints. Data (diffs, the plan, JSON) goes to stdout; status, notes,
//! warnings and errors go to stderr, so `memsafe plan --json | jq` and `init --dry-run > x.diff`
//! stay clean.
#![expect(clippy::print_stderr, reason = "this module is the printer")]

use std::fmt::Display;

use dialoguer::console::style;

use crate::error::{Interrupted, Reported, UsageError};

/// Data on stdout. A closed pipe (`memsafe plan | head`) is not an error: the reader has all
/// it wanted, as ripgrep and cargo treat it.
pub fn data(text: impl Display) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{text}").and_then(|()| stdout.flush());
}

/// `    Verb message`, cargo style, on stderr.
pub fn status(verb: &str, message: impl Display) {
    eprintln!("{:>12} {message}", style(verb).green().bold());
}

/// `warning: message` on stderr.
pub fn warn(message: impl Display) {
    eprintln!("{}: {message}", style("warning").yellow().bold());
}

/// `note: message` on stderr.
pub fn note(message: impl Display) {
    eprintln!("{}: {message}", style("note").cyan().bold());
}

/// A plain line on stderr.
pub fn line(message: impl Display) {
    eprintln!("{message}");
}

/// Prints an error once, cargo style: `error: ...`, its causes, and a `help:` line.
pub fn report(error: &anyhow::Error) {
    if error
        .chain()
        .any(|cause| cause.is::<Interrupted>() || cause.is::<Reported>())
    {
        return;
    }
    eprintln!("{}: {error}", style("error").red().bold());
    for cause in error.chain().skip(1) {
        eprintln!("\nCaused by:\n  {cause}");
    }
    if let Some(help) = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<UsageError>())
        .and_then(|e| e.help.as_ref())
    {
        eprintln!("\n{}: {help}", style("help").cyan().bold());
    }
}
