//! memsafe: sizes Rust builds, tests and rust-analyzer to the machine's memory.
//!
//! The library exists for the `memsafe` binary and its tests; its API carries no semver
//! promise. The core (`plan`, `render`, `merge`, `change`) is pure; detection (`hardware`,
//! `project`), prompts (`prompt`), printing (`ui`) and writing (`write`) sit at the edges.

pub mod answers;
pub mod calibrate;
pub mod change;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod current;
pub(crate) mod error;
pub(crate) mod files;
pub(crate) mod findings;
pub(crate) mod gitmode;
pub(crate) mod governor;
pub mod hardware;
pub mod lock;
pub(crate) mod measure;
pub mod merge;
pub mod owned;
pub mod plan;
pub(crate) mod preview;
#[cfg_attr(
    not(target_os = "linux"),
    allow(
        dead_code,
        reason = "the /proc reader serves Linux only; the sampler and profiles every system"
    )
)]
pub(crate) mod procmem;
pub(crate) mod project;
pub(crate) mod prompt;
pub(crate) mod read;
pub mod record;
pub mod render;
pub(crate) mod session;
pub mod sync;
pub(crate) mod ui;
#[cfg(windows)]
pub(crate) mod windows;
pub(crate) mod write;

use cli::{Cli, Command};

/// Runs one command. Errors come back to `main`, which prints them once.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    ui::configure_colors(cli.output.color, no_color);
    let printer = ui::Printer::new(cli.output.quiet, cli.output.verbose);
    check_editors(&cli.command)?;
    let result = match &cli.command {
        Command::Init(args) => commands::init::init(args, printer),
        Command::Plan(args) => commands::plan::plan(args, printer),
        Command::Regen(args) => commands::regen::regen(args, printer),
        Command::Check(args) => commands::check::check(args, printer),
        Command::Remove(args) => commands::remove::remove(args, printer),
        Command::Calibrate(args) => commands::calibrate::calibrate(args, printer),
        Command::Governor(command) => commands::governor::governor(command, printer),
        Command::Completions { shell } => {
            ui::data(completions(*shell));
            Ok(())
        }
    };
    // Output that could not be written is a failure, unless the command failed first.
    result.and_then(|()| ui::data_written())
}

/// `--editor none` means no editor: with another editor it contradicts itself (exit 2).
fn check_editors(command: &Command) -> anyhow::Result<()> {
    let editors = match command {
        Command::Init(args) => &args.editor,
        Command::Plan(args) => &args.editor,
        _ => return Ok(()),
    };
    if editors.len() > 1 && editors.contains(&plan::Editor::None) {
        return Err(
            error::UsageError::new("`--editor none` cannot be combined with another editor")
                .with_help("pass `--editor none` alone for no editor, or only the editors to configure")
                .into(),
        );
    }
    Ok(())
}

/// The completion script for `shell`.
pub fn completions(shell: cli::Shell) -> String {
    use clap::CommandFactory;
    use clap_complete::Shell as Target;
    let target = match shell {
        cli::Shell::Bash => Target::Bash,
        cli::Shell::Zsh => Target::Zsh,
        cli::Shell::Fish => Target::Fish,
        cli::Shell::Powershell => Target::PowerShell,
    };
    let mut out = Vec::new();
    clap_complete::generate(target, &mut Cli::command(), "memsafe", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// memsafe's commands and their aliases, and `help`: a first argument that is one of them is
/// never taken for a rustc (a test checks the list against clap's).
#[doc(hidden)]
pub const COMMANDS: &[&str] = &[
    "init",
    "plan",
    "regen",
    "check",
    "remove",
    "calibrate",
    "governor",
    "completions",
    "help",
];

/// The whole program: parse the arguments, run, print an error once, return the exit code.
/// `cargo-memsafe` calls it too: cargo runs it as `cargo-memsafe memsafe ARGS`, so a first
/// argument `memsafe` is dropped there.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> std::process::ExitCode {
    measure::mark_start();
    // Under `memsafe calibrate`, cargo runs memsafe as RUSTC_WRAPPER: `memsafe <rustc> ARGS`.
    if let Some(log) = std::env::var_os(calibrate::LOG_ENV)
        && args.len() >= 2
    {
        return calibrate::wrap(&args[1..], std::path::Path::new(&log));
    }
    // cargo runs memsafe as RUSTC_WRAPPER (the governor): `memsafe <rustc> ARGS`, once per
    // compilation, so clap's command is not even built then.
    if governor::is_wrapper_call(&args, COMMANDS, std::path::Path::is_file, governor::on_path) {
        return governor::wrap(&args[1..]);
    }
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut args = args;
    if args.len() > 1 && args[1] == "memsafe" && is_cargo_subcommand(&args[0]) {
        args.remove(1);
        // Help and usage errors say `Usage: cargo memsafe ...`, as the user typed it.
        command = command.bin_name("cargo memsafe");
    }
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|matches| <Cli as clap::FromArgMatches>::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version to stdout and usage errors to stderr, with exit 0 or 2.
            let _ = error.print();
            return std::process::ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    match run(&cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            ui::report(&error);
            std::process::ExitCode::from(error::exit_code(&error))
        }
    }
}

fn is_cargo_subcommand(program: &std::ffi::OsStr) -> bool {
    std::path::Path::new(program)
        .file_stem()
        .is_some_and(|stem| stem.to_string_lossy().starts_with("cargo-memsafe"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wrapper_test_knows_every_command() {
        let command = <super::Cli as clap::CommandFactory>::command();
        let mut from_clap: Vec<&str> = command
            .get_subcommands()
            .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_all_aliases()))
            .chain(["help"])
            .collect();
        let mut listed = super::COMMANDS.to_vec();
        from_clap.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, from_clap);
    }
}
