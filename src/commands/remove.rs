//! `memsafe remove`: every key memsafe owns goes back to the user's original entry (or away),
//! wherever it now sits; keys the user changed by hand keep the user's value and are named;
//! files and folders memsafe created go when nothing but memsafe's keys was in them; scripts go
//! while their bytes are memsafe's; memsafe.toml goes last of all in meaning, first in the
//! journal. Either every change is written, or none.

use anyhow::Result;

use crate::cli::RemoveArgs;
use crate::error::UsageError;
use crate::files::{self, Goal};
use crate::record;
use crate::render::Templates;
use crate::session::Session;
use crate::ui::Printer;

/// `memsafe remove`.
pub(crate) fn remove(args: &RemoveArgs, printer: Printer) -> Result<()> {
    let session = Session::open(args.dir.as_ref(), !args.dry_run)?;
    if session.record.is_none() {
        return Err(UsageError::new(format!(
            "no {} in `{}`: memsafe has nothing to undo here",
            record::FILE,
            session.root().display()
        ))
        .into());
    }
    let changeset = files::changeset(
        &session.project,
        &Goal::Remove,
        &Templates::new(),
        session.record.as_ref(),
    )?;
    super::print_events(&changeset, printer);
    super::finish(session.root(), &changeset, args.dry_run, printer)
}
