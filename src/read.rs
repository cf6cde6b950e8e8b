//! Reading a file memsafe will parse: its size, its encoding and its kind checked first.

use std::path::Path;

use anyhow::{Context, Result};

use crate::error::UsageError;
use crate::hardware::format_size;

/// Files larger than this are not a configuration file memsafe should parse.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads a file memsafe will edit: `None` when it does not exist; a usage error when it is a
/// folder, too large, or not UTF-8.
pub(crate) fn read_existing(shown: &str, path: &Path) -> Result<Option<String>> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(UsageError::new(format!(
                "cannot use `{shown}`: a file stands where memsafe expects a folder; nothing was written"
            ))
            .into());
        }
        Err(error) => return Err(error).with_context(|| format!("cannot read `{shown}`")),
    };
    if metadata.is_dir() {
        return Err(UsageError::new(format!("`{shown}` is a folder, where memsafe expects a file")).into());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(UsageError::new(format!(
            "`{shown}` is {}, too large for a configuration file; nothing was written",
            format_size(metadata.len())
        ))
        .into());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{shown}`"))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(error) => {
            let offset = error.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&error.as_bytes()[..offset]);
            let (line, column) = crate::merge::line_column(&valid, offset);
            Err(UsageError::new(format!(
                "`{shown}` is not UTF-8 text (line {line}, column {column}); nothing was written"
            ))
            .into())
        }
    }
}
