//! The only module that prints. Data (diffs, the plan, JSON) goes to stdout; status, notes,
//! warnings and errors go to stderr, so `memsafe plan --json | jq` and `init --dry-run > x.diff`
//! stay clean.

use std::fmt::Display;

/// A line on stderr. A stderr that cannot be written (closed by the reader) is not a reason to
/// stop halfway through writing files: the line is dropped, as ripgrep and cargo drop it.
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
use std::sync::atomic::{AtomicU8, Ordering};

use dialoguer::console::{self, style};

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

/// 0 quiet, 1 normal, 2 verbose.
static LEVEL: AtomicU8 = AtomicU8::new(1);

/// Sets the output level and colours from the global flags and `NO_COLOR`, once, at start.
pub(crate) fn configure(quiet: bool, verbose: bool, color: ColorChoice, no_color_env: bool) {
    LEVEL.store(
        if quiet {
            0
        } else if verbose {
            2
        } else {
            1
        },
        Ordering::Relaxed,
    );
    match color {
        ColorChoice::Always => {
            console::set_colors_enabled(true);
            console::set_colors_enabled_stderr(true);
        }
        ColorChoice::Never => {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        // console already colours only terminals; NO_COLOR (any non-empty value) turns it off.
        ColorChoice::Auto if no_color_env => {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        ColorChoice::Auto => {}
    }
}

/// `--quiet` was given.
pub(crate) fn is_quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) == 0
}

/// `--verbose` was given.
pub(crate) fn is_verbose() -> bool {
    LEVEL.load(Ordering::Relaxed) == 2
}

use crate::error::{Interrupted, Reported, UsageError};

/// The first error writing data to stdout, other than a closed pipe.
static DATA_ERROR: std::sync::OnceLock<std::io::Error> = std::sync::OnceLock::new();

/// Data on stdout. A closed pipe (`memsafe plan | head`) is not an error: the reader has all
/// it wanted, as ripgrep and cargo treat it. Any other failure (a full disk, `> /dev/full`) is
/// kept, and [`data_written`] turns it into the command's error at the end.
pub(crate) fn data(text: impl Display) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = write!(stdout, "{text}").and_then(|()| stdout.flush())
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        let _ = DATA_ERROR.set(error);
    }
}

/// An error (exit 1) when some data could not be written to stdout.
pub(crate) fn data_written() -> anyhow::Result<()> {
    match DATA_ERROR.get() {
        Some(error) => Err(anyhow::anyhow!("cannot write the output: {error}")),
        None => Ok(()),
    }
}

/// `    Verb message`, cargo style, on stderr (not with `--quiet`).
pub(crate) fn status(verb: &str, message: impl Display) {
    if is_quiet() {
        return;
    }
    stderr_line!("{:>12} {message}", style(verb).green().bold());
}

/// `warning: message` on stderr.
pub(crate) fn warn(message: impl Display) {
    stderr_line!("{}: {message}", style("warning").yellow().bold());
}

/// `note: message` on stderr (not with `--quiet`).
pub(crate) fn note(message: impl Display) {
    if is_quiet() {
        return;
    }
    stderr_line!("{}: {message}", style("note").cyan().bold());
}

/// A plain line on stderr (not with `--quiet`).
pub(crate) fn line(message: impl Display) {
    if is_quiet() {
        return;
    }
    stderr_line!("{message}");
}

/// The one line an interrupted prompt prints, on stderr, even with `--quiet`.
pub(crate) fn cancelled(message: impl Display) {
    stderr_line!("{message}");
}

/// A line of another program's output (cargo's warnings and errors), on stderr, always.
pub(crate) fn passthrough(line: impl Display) {
    stderr_line!("{line}");
}

/// A detail only `--verbose` shows, on stderr.
pub(crate) fn detail(message: impl Display) {
    if is_verbose() {
        stderr_line!("{}: {message}", style("info").dim());
    }
}

/// Prints an error once, cargo style: `error: ...`, its causes, and a `help:` line.
pub(crate) fn report(error: &anyhow::Error) {
    if error
        .chain()
        .any(|cause| cause.is::<Interrupted>() || cause.is::<Reported>())
    {
        return;
    }
    stderr_line!("{}: {error}", style("error").red().bold());
    for cause in error.chain().skip(1) {
        stderr_line!("\nCaused by:\n  {cause}");
    }
    if let Some(help) = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<UsageError>())
        .and_then(|e| e.help.as_ref())
    {
        stderr_line!("\n{}: {help}", style("help").cyan().bold());
    }
}
