//! The interactive questions: the only module that uses dialoguer.
//!
//! Each question shows the detected or flag-given default first. Esc or `q` at a prompt is an
//! interruption (exit 130, nothing written); so is Ctrl-C, whose SIGINT handler shows the
//! cursor again (dialoguer hides it while a menu is open) before exiting.

use anyhow::Result;
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, MultiSelect, Select};

use crate::error::Interrupted;
use crate::plan::{Answers, Editor, Editors, Preset, Scripts};

/// Which answers came from flags, and so are not asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Given {
    pub preset: bool,
    pub editors: bool,
    pub scripts: bool,
}

/// Asks every question that no flag answered.
pub fn ask(defaults: Answers, given: Given) -> Result<Answers> {
    restore_cursor_on_ctrl_c();
    let theme = ColorfulTheme::default();
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
    Ok(answers)
}

/// Asks whether to write the changes shown.
pub fn confirm_write() -> Result<bool> {
    let theme = ColorfulTheme::default();
    answered(
        Confirm::with_theme(&theme)
            .with_prompt("Write these changes?")
            .default(true)
            .interact_opt(),
    )
}

fn select(theme: &ColorfulTheme, prompt: &str, items: &[&str], default: usize) -> Result<usize> {
    answered(
        Select::with_theme(theme)
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact_opt(),
    )
}

/// A prompt's answer; Esc, `q` and an interrupted read are [`Interrupted`].
fn answered<T>(result: dialoguer::Result<Option<T>>) -> Result<T> {
    match result {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) => Err(Interrupted.into()),
        Err(dialoguer::Error::IO(error)) if error.kind() == std::io::ErrorKind::Interrupted => {
            Err(Interrupted.into())
        }
        Err(error) => Err(error.into()),
    }
}

fn index_of<T: PartialEq>(items: &[T], item: T) -> usize {
    items.iter().position(|candidate| *candidate == item).unwrap_or(0)
}

#[cfg(unix)]
fn restore_cursor_on_ctrl_c() {
    extern "C" fn on_sigint(_: libc::c_int) {
        // Only async-signal-safe calls: write(2) and _exit(2).
        const SHOW_CURSOR: &[u8] = b"\x1b[?25h\n";
        unsafe {
            libc::write(2, SHOW_CURSOR.as_ptr().cast(), SHOW_CURSOR.len());
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
