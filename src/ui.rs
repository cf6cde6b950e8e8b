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

/// How much to say, from `--quiet` and `--verbose`: passed down to every command and what it
/// calls, so that nothing reads a global to decide whether to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Printer {
    /// 0 quiet, 1 normal, 2 verbose.
    level: u8,
}

impl Printer {
    pub(crate) fn new(quiet: bool, verbose: bool) -> Printer {
        Printer {
            level: if quiet {
                0
            } else if verbose {
                2
            } else {
                1
            },
        }
    }

    /// `--quiet` was given.
    pub(crate) fn is_quiet(self) -> bool {
        self.level == 0
    }

    /// `--verbose` was given.
    pub(crate) fn is_verbose(self) -> bool {
        self.level == 2
    }

    /// `    Verb message`, cargo style, on stderr (not with `--quiet`).
    pub(crate) fn status(self, verb: &str, message: impl Display) {
        if self.is_quiet() {
            return;
        }
        stderr_line!("{:>12} {message}", style(verb).green().bold());
    }

    /// `note: message` on stderr (not with `--quiet`).
    pub(crate) fn note(self, message: impl Display) {
        if self.is_quiet() {
            return;
        }
        stderr_line!("{}: {message}", style("note").cyan().bold());
    }

    /// A plain line on stderr (not with `--quiet`).
    pub(crate) fn line(self, message: impl Display) {
        if self.is_quiet() {
            return;
        }
        stderr_line!("{message}");
    }

    /// A detail only `--verbose` shows, on stderr.
    pub(crate) fn detail(self, message: impl Display) {
        if self.is_verbose() {
            stderr_line!("{}: {message}", style("info").dim());
        }
    }
}

/// Sets the colours from `--color` and `NO_COLOR`, once, at start (the terminal library keeps
/// them).
pub(crate) fn configure_colors(color: ColorChoice, no_color_env: bool) {
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

/// `warning: message` on stderr.
pub(crate) fn warn(message: impl Display) {
    stderr_line!("{}: {message}", style("warning").yellow().bold());
}

/// The one line an interrupted prompt prints, on stderr, even with `--quiet`.
pub(crate) fn cancelled(message: impl Display) {
    stderr_line!("{message}");
}

/// A line of another program's output (cargo's warnings and errors), on stderr, always.
pub(crate) fn passthrough(line: impl Display) {
    stderr_line!("{line}");
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
