//! The few errors a caller branches on; everything else is `anyhow` with context.
//!
//! Exit codes (a contract): 0 done or nothing to change, 1 any other failure, 2 usage error or
//! bad input (nothing written), 130 interrupted (nothing written).

use std::fmt;

/// A usage error or bad input: exit 2, and nothing was written.
#[derive(Debug)]
pub(crate) struct UsageError {
    pub message: String,
    pub help: Option<String>,
}

impl UsageError {
    pub(crate) fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            help: None,
        }
    }

    /// Adds a `help:` line saying what to do.
    #[must_use]
    pub(crate) fn with_help(mut self, help: impl Into<String>) -> UsageError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// The user pressed Esc or Ctrl-C at a prompt, or declined to apply: exit 130, quietly.
#[derive(Debug)]
pub(crate) struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// A failure already reported on the output (`memsafe check` found differences): exit 1,
/// with no further message.
#[derive(Debug)]
pub(crate) struct Reported;

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reported")
    }
}

impl std::error::Error for Reported {}

/// The exit code for an error.
pub(crate) fn exit_code(error: &anyhow::Error) -> u8 {
    if error.chain().any(|cause| cause.is::<Interrupted>()) {
        130
    } else if error.chain().any(|cause| cause.is::<Reported>()) {
        1
    } else if error.chain().any(|cause| cause.is::<UsageError>()) {
        2
    } else {
        1
    }
}
