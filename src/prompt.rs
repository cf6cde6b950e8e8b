//! The interactive questions: the only module that uses dialoguer.
//!
//! Each question shows the detected or flag-given default first. Esc or `q` at a prompt is an
//! interruption: it says [`CANCELLED`] and exits 130, nothing written; so is Ctrl-C, whose
//! SIGINT handler also shows the cursor again (dialoguer hides it while a menu is open).

use std::fmt;

use anyhow::Result;
use dialoguer::console::style;
use dialoguer::theme::{ColorfulTheme, Theme};
use dialoguer::{Confirm, MultiSelect, Select};

use crate::error::Interrupted;
use crate::ui;

/// What an interrupted prompt says.
pub(crate) const CANCELLED: &str = "Cancelled; nothing was written.";
use crate::plan::{Answers, Editor, Editors, Preset, Scripts};

/// Whether there is someone to ask: the answers are read from stdin and the questions drawn
/// on stderr, so stdout may be a pipe or a file (`memsafe init | tee log` asks).
pub(crate) fn can_ask() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Which answers came from flags, and so are not asked.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Given {
    pub preset: bool,
    pub editors: bool,
    pub scripts: bool,
    pub governor: bool,
}

/// Asks every question that no flag answered.
pub(crate) fn ask(defaults: Answers, given: Given) -> Result<Answers> {
    restore_cursor_on_ctrl_c();
    let theme = Look::default();
    let mut answers = defaults;
    if !given.preset {
        let presets = [Preset::Safe, Preset::Balanced, Preset::Fast];
        let items = [
            "safe      the least memory: fewer jobs, line tables only, lean rust-analyzer (no proc macros)",
            "balanced  safe for most projects, close to full speed",
            "fast      more memory for speed: for light projects or roomy machines",
        ];
        answers.preset = presets[select(
            &theme,
            "How should builds trade memory for speed?",
            &items,
            index_of(&presets, defaults.preset),
        )?];
    }
    if !given.editors {
        let choices = [Editor::Vscode, Editor::Zed, Editor::Helix];
        let items = [
            "VS Code   .vscode/settings.json",
            "Zed       .zed/settings.json",
            "Helix     .helix/languages.toml",
        ];
        let chosen = defaults.editors.list();
        let checked: Vec<bool> = choices.iter().map(|c| chosen.contains(c)).collect();
        let picked = answered(
            MultiSelect::with_theme(&theme)
                .with_prompt(
                    "Which editors run rust-analyzer here? (space toggles, enter accepts; none is fine)",
                )
                .items(items)
                .defaults(&checked)
                .interact_opt(),
        )?;
        answers.editors = Editors::from_list(&picked.iter().map(|&i| choices[i]).collect::<Vec<_>>());
    }
    if !given.scripts {
        let scripts = [Scripts::Both, Scripts::Sh, Scripts::Ps1, Scripts::None];
        let items = [
            "both   test-safe.sh and test-safe.ps1",
            "sh     test-safe.sh (Linux, macOS, Git Bash)",
            "ps1    test-safe.ps1 (PowerShell)",
            "none   no script",
        ];
        answers.scripts = scripts[select(
            &theme,
            "Which test-safe script should memsafe write?",
            &items,
            index_of(&scripts, defaults.scripts),
        )?];
    }
    if !given.governor {
        let items = [
            "off  build.jobs limits every build (the usual)",
            "on   memsafe starts each rustc when its memory fits (experimental; this machine only)",
        ];
        answers.governor = select(
            &theme,
            "Turn on the governor? memsafe becomes cargo's rustc-wrapper and holds each rustc back until it fits",
            &items,
            usize::from(defaults.governor),
        )? == 1;
    }
    Ok(answers)
}

/// Asks which fixes to make, one row per finding memsafe can fix; on by default: the plainly
/// wrong and the slow ones, off: matters of taste.
pub(crate) fn ask_fixes(findings: &[crate::current::Finding]) -> Result<crate::plan::Fixes> {
    use crate::current::Status;
    let fixable: Vec<&crate::current::Finding> = findings.iter().filter(|f| f.fix.is_some()).collect();
    if fixable.is_empty() {
        return Ok(crate::plan::Fixes::NONE);
    }
    restore_cursor_on_ctrl_c();
    let theme = Look::default();
    let items: Vec<String> = fixable
        .iter()
        .map(|f| format!("{} ({}): take it out", f.what, f.place))
        .collect();
    let checked: Vec<bool> = fixable
        .iter()
        .map(|f| matches!(f.status, Status::Wrong | Status::Slow))
        .collect();
    let picked = answered(
        MultiSelect::with_theme(&theme)
            .with_prompt(
                "Fix these well-known bad recipes? (space toggles, enter accepts; `memsafe plan` says why)",
            )
            .items(&items)
            .defaults(&checked)
            .interact_opt(),
    )?;
    Ok(crate::plan::Fixes::from_list(
        &picked.iter().filter_map(|&i| fixable[i].fix).collect::<Vec<_>>(),
    ))
}

/// Asks whether to write the changes shown.
pub(crate) fn confirm_write() -> Result<bool> {
    let theme = Look::default();
    let answer = answered(
        Confirm::with_theme(&theme)
            .with_prompt("Write these changes?")
            .default(true)
            .interact_opt(),
    );
    // From here on files are written: Ctrl-C must not claim that nothing was.
    default_ctrl_c();
    answer
}

fn select(theme: &Look, prompt: &str, items: &[&str], default: usize) -> Result<usize> {
    answered(
        Select::with_theme(theme)
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact_opt(),
    )
}

/// A prompt's answer; Esc, `q` and an interrupted read (Ctrl-C in raw mode) are
/// [`Interrupted`], after saying [`CANCELLED`].
fn answered<T>(result: dialoguer::Result<Option<T>>) -> Result<T> {
    match result {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) => Err(cancelled()),
        Err(dialoguer::Error::IO(error)) if error.kind() == std::io::ErrorKind::Interrupted => {
            Err(cancelled())
        }
        Err(error) => Err(error.into()),
    }
}

fn cancelled() -> anyhow::Error {
    ui::cancelled(CANCELLED);
    Interrupted.into()
}

/// dialoguer's colourful theme, readable without colours too: the multi-select's cursor is a
/// `❯` (not only a colour) and its rows are `[x]` or `[ ]`, unlike the `✔` of an answered
/// question; a confirmation left with Esc shows `✘ ... cancelled`, not a `✔` and no answer.
#[derive(Default)]
struct Look(ColorfulTheme);

impl Theme for Look {
    fn format_prompt(&self, f: &mut dyn fmt::Write, prompt: &str) -> fmt::Result {
        self.0.format_prompt(f, prompt)
    }

    fn format_error(&self, f: &mut dyn fmt::Write, err: &str) -> fmt::Result {
        self.0.format_error(f, err)
    }

    fn format_confirm_prompt(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        default: Option<bool>,
    ) -> fmt::Result {
        self.0.format_confirm_prompt(f, prompt, default)
    }

    fn format_confirm_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        selection: Option<bool>,
    ) -> fmt::Result {
        match selection {
            Some(_) => self.0.format_confirm_prompt_selection(f, prompt, selection),
            None => write!(
                f,
                "{} {} {} {}",
                self.0.error_prefix,
                self.0.prompt_style.apply_to(prompt),
                self.0.success_suffix,
                self.0.error_style.apply_to("cancelled")
            ),
        }
    }

    fn format_select_prompt(&self, f: &mut dyn fmt::Write, prompt: &str) -> fmt::Result {
        self.0.format_select_prompt(f, prompt)
    }

    fn format_select_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        selection: &str,
    ) -> fmt::Result {
        self.0.format_select_prompt_selection(f, prompt, selection)
    }

    fn format_select_prompt_item(&self, f: &mut dyn fmt::Write, text: &str, active: bool) -> fmt::Result {
        self.0.format_select_prompt_item(f, text, active)
    }

    fn format_multi_select_prompt(&self, f: &mut dyn fmt::Write, prompt: &str) -> fmt::Result {
        self.0.format_multi_select_prompt(f, prompt)
    }

    fn format_multi_select_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        selections: &[&str],
    ) -> fmt::Result {
        self.0.format_multi_select_prompt_selection(f, prompt, selections)
    }

    fn format_multi_select_prompt_item(
        &self,
        f: &mut dyn fmt::Write,
        text: &str,
        checked: bool,
        active: bool,
    ) -> fmt::Result {
        let cursor = if active {
            &self.0.active_item_prefix
        } else {
            &self.0.inactive_item_prefix
        };
        let mark = if checked {
            style("[x]").for_stderr().green()
        } else {
            style("[ ]").for_stderr()
        };
        let text = if active {
            self.0.active_item_style.apply_to(text)
        } else {
            self.0.inactive_item_style.apply_to(text)
        };
        write!(f, "{cursor} {mark} {text}")
    }
}

fn index_of<T: PartialEq>(items: &[T], item: T) -> usize {
    items.iter().position(|candidate| *candidate == item).unwrap_or(0)
}

/// What Ctrl-C between prompts prints: the cursor shown again, and [`CANCELLED`].
#[cfg_attr(not(unix), allow(dead_code))]
const ON_SIGINT: &str = "\x1b[?25h\nCancelled; nothing was written.\n";

#[cfg(unix)]
fn restore_cursor_on_ctrl_c() {
    extern "C" fn on_sigint(_: libc::c_int) {
        // Only async-signal-safe calls: write(2) and _exit(2).
        unsafe {
            libc::write(2, ON_SIGINT.as_ptr().cast(), ON_SIGINT.len());
            libc::_exit(130);
        }
    }
    // SAFETY: the handler only makes async-signal-safe calls.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

#[cfg(not(unix))]
fn restore_cursor_on_ctrl_c() {}

/// Ctrl-C kills memsafe as it does without prompts (the handler above would say that nothing
/// was written).
#[cfg(unix)]
fn default_ctrl_c() {
    // SAFETY: restores the default action; no handler runs.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn default_ctrl_c() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sigint_message_is_the_cancelled_message() {
        assert!(ON_SIGINT.contains(CANCELLED) && ON_SIGINT.starts_with("\x1b[?25h"));
    }

    #[test]
    fn rows_show_cursor_and_marks_without_colour() {
        dialoguer::console::set_colors_enabled_stderr(false);
        let look = Look::default();
        let row = |checked, active| {
            let mut out = String::new();
            look.format_multi_select_prompt_item(&mut out, "Zed", checked, active)
                .unwrap();
            out
        };
        assert_eq!(row(true, true), "❯ [x] Zed");
        assert_eq!(row(false, true), "❯ [ ] Zed");
        assert_eq!(row(true, false), "  [x] Zed");
        assert_eq!(row(false, false), "  [ ] Zed");
        let mut cancelled = String::new();
        look.format_confirm_prompt_selection(&mut cancelled, "Write these changes?", None)
            .unwrap();
        assert_eq!(cancelled, "✘ Write these changes? · cancelled");
    }
}
