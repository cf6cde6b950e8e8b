//! The command line, as data: clap derive types and nothing else.
//!
//! Resolution (defaults, detection, conflicts) happens in the command modules, so that this
//! file stays a readable contract of every flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::answers::Switch;
use crate::current::Fix;
use crate::hardware::Os;
use crate::plan::{Editor, Fixes, Preset, Scripts};

/// Size Rust builds, tests and rust-analyzer to this machine's memory.
#[derive(Debug, Parser)]
#[command(
    name = "memsafe",
    version,
    propagate_version = true,
    disable_help_subcommand = false
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How much memsafe says, and in which colours; every command takes these.
#[derive(Debug, Clone, Copy, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// When to colour the output (`NO_COLOR` in the environment means never, unless `always`)
    #[arg(long, value_name = "WHEN", default_value = "auto", global = true)]
    pub color: ColorChoice,
    /// Say nothing but warnings and errors (`check`: nothing at all; the exit code says it)
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: the plan's reasons during `init` and `regen`, and what detection found
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

pub use crate::ui::ColorChoice;

/// The shells `memsafe completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Detect this machine, ask a few questions, and write a memory-safe configuration
    Init(InitArgs),
    /// Print the plan for this machine, with the reason for every value; writes nothing
    Plan(PlanArgs),
    /// Re-plan from memsafe.toml's answers after a hardware change, without questions
    Regen(RegenArgs),
    /// Exit 1 when this machine or a managed value no longer matches the plan (for hooks and CI)
    Check(CheckArgs),
    /// Undo memsafe: put every file back as it was before memsafe first touched it
    Remove(RemoveArgs),
    /// Measure the memory of every rustc of this project, then re-plan from the measurements
    Calibrate(CalibrateArgs),
    /// The governor (experimental): memsafe as a RUSTC_WRAPPER that starts each rustc when its
    /// memory fits
    #[command(subcommand)]
    Governor(GovernorCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell)
    ///
    /// For bash: `memsafe completions bash > ~/.local/share/bash-completion/completions/memsafe`
    Completions {
        /// The shell to complete for
        #[arg(value_name = "SHELL")]
        shell: Shell,
    },
}

/// `memsafe governor ...`.
#[derive(Debug, Subcommand)]
pub enum GovernorCommand {
    /// Show the governor's budget, the memory available, and the compilations running and
    /// waiting
    ///
    /// Environment: MEMSAFE_GOVERNOR_BUDGET replaces the budget (a size as --ram takes it, such
    /// as `1.5GiB`, from 1MiB); MEMSAFE_GOVERNOR_DIR puts the ledger and the history in that folder;
    /// MEMSAFE_RUSTC_WRAPPER names a wrapper (e.g. sccache) the governor runs rustc through.
    Status(GovernorStatusArgs),
    /// Replay this project's last measured build on other machines: fixed job counts against
    /// the governor, under memory caps (a benchmark's tool)
    ///
    /// The build is the last one in the governor's history for this project's target folder:
    /// `memsafe calibrate`'s, or a governed build's. Each compilation replays its CPU time,
    /// its memory over that time and its place in cargo's graph; a build that goes over the cap
    /// is killed, as in a memory cgroup without swap. The governor is simulated with a history
    /// that knows the project. Figures are estimates: time outside the CPU (disk) is not
    /// modelled.
    Simulate(GovernorSimulateArgs),
}

/// `memsafe governor simulate`.
#[derive(Debug, Args)]
pub struct GovernorSimulateArgs {
    /// The CPUs of each machine (cargo's jobs under the governor)
    #[arg(long, value_name = "N,...", value_delimiter = ',', default_value = "8,16,32",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub cpus: Vec<u32>,
    /// The memory caps to try on each (sizes as --ram takes them)
    #[arg(long, value_name = "SIZE,...", value_delimiter = ',', default_value = "4GiB,8GiB,16GiB",
          value_parser = crate::hardware::parse_size)]
    pub memory: Vec<u64>,
    /// The fixed job counts to compare (default: 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, up to the CPUs)
    #[arg(long, value_name = "N,...", value_delimiter = ',',
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Vec<u32>,
    /// cargo's jobs under the governor (default: the CPUs)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub governor_jobs: Option<u32>,
    /// cargo's own memory during the build
    #[arg(long, value_name = "SIZE", default_value = "100MiB", value_parser = crate::governor::live::parse_budget)]
    pub cargo_memory: u64,
    /// Print one JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

/// `memsafe governor status`.
#[derive(Debug, Args)]
pub struct GovernorStatusArgs {
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// Flags that replace hardware detection, shared by every command that plans.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Hardware (instead of detecting it)")]
pub struct HardwareArgs {
    /// Plan for this much memory instead of detecting it (`8GiB`, `8G`, `7.5GiB`, `6144MiB`;
    /// a bare number means GiB). GB and GiB are both read as powers of 1024 (8GB = 8GiB), as
    /// RAM is sold and reported
    #[arg(long, value_name = "SIZE", value_parser = crate::hardware::parse_size)]
    pub ram: Option<u64>,
    /// Plan for this many logical CPUs instead of detecting them
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub cpus: Option<u32>,
    /// Plan for this operating system instead of the one memsafe runs on
    #[arg(long, value_name = "OS")]
    pub os: Option<Os>,
}

/// `memsafe init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Start looking for the project here (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Take every answer from the flags and defaults; never prompt
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print a diff of every file that would change, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Show the whole diff before asking to write, not only what fits in the terminal
    #[arg(long)]
    pub diff: bool,
    /// How to trade memory for speed [default: memsafe.toml's answer, or balanced]
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<Preset>,
    /// Which editors to configure rust-analyzer for, comma-separated or repeated [default:
    /// memsafe.toml's answer, or the editors whose folder (.vscode, .zed, .helix) the project
    /// has, else vscode]
    #[arg(long, value_name = "EDITOR", value_delimiter = ',')]
    pub editor: Vec<Editor>,
    /// Which test-safe script(s) to write [default: memsafe.toml's answer, or both]
    #[arg(long, value_name = "KIND")]
    pub script: Option<Scripts>,
    /// Plan for the machine given here (the team's smallest) whoever runs memsafe later, so
    /// that teammates' runs write the same files
    #[arg(long)]
    pub team: bool,
    /// Which fixes of well-known bad recipes to make: `all`, `none`, or a list of
    /// build-in-manifest, split-debuginfo, test-profile, member-jobs [default: the prompt's choice; with
    /// `--yes`, memsafe.toml's, or the plainly wrong ones: build-in-manifest, split-debuginfo]
    #[arg(long, value_name = "FIXES", value_parser = parse_fixes)]
    pub fix: Option<Fixes>,
    /// The governor (experimental): memsafe as cargo's rustc-wrapper, starting each rustc when
    /// its memory fits, with build.jobs at the CPU count. Per machine: refused with `--team`
    /// [default: memsafe.toml's answer, or off]
    #[arg(long, value_name = "ON_OFF")]
    pub governor: Option<Switch>,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// `memsafe regen`.
#[derive(Debug, Args)]
pub struct RegenArgs {
    /// Start looking for the project here (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print a diff of every file that would change, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Turn the governor (experimental) on or off; the other answers stay memsafe.toml's
    /// [default: memsafe.toml's answer]
    #[arg(long, value_name = "ON_OFF")]
    pub governor: Option<Switch>,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// `memsafe remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Start looking for the project here (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print a diff of every file that would change or go, and write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `memsafe calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Start looking for the project here (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// What to build: `test` is `cargo test --no-run` (tests and their dependencies), `dev` is
    /// `cargo build`
    #[arg(long, value_name = "PROFILE", default_value = "test", value_parser = ["test", "dev"])]
    pub profile: String,
    /// Print what would change in the files after measuring, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Keep the calibration build (`target/memsafe-calibrate`, as large as a build of the
    /// project) and its log; by default it is deleted after measuring
    #[arg(long)]
    pub keep: bool,
    /// Extra arguments for cargo (after `--`), e.g. `-- --workspace --all-features`
    #[arg(last = true, value_name = "CARGO_ARGS")]
    pub cargo_args: Vec<String>,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// `memsafe check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Start looking for the project here (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// `memsafe plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Start looking for the project here (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How to trade memory for speed [default: memsafe.toml's answer, or balanced]
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<Preset>,
    /// Which fixes of well-known bad recipes the plan makes: `all`, `none`, or a list [default:
    /// memsafe.toml's, or build-in-manifest, split-debuginfo]
    #[arg(long, value_name = "FIXES", value_parser = parse_fixes)]
    pub fix: Option<Fixes>,
    /// Which editors the plan reserves memory for [default: memsafe.toml's answer, or vscode]
    #[arg(long, value_name = "EDITOR", value_delimiter = ',')]
    pub editor: Vec<Editor>,
    /// Plan with the governor (experimental) on or off [default: memsafe.toml's answer, or off]
    #[arg(long, value_name = "ON_OFF")]
    pub governor: Option<Switch>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// `--fix all`, `--fix none`, or `--fix build-in-manifest,test-profile`.
fn parse_fixes(text: &str) -> Result<Fixes, String> {
    match text {
        "all" => return Ok(Fixes::ALL),
        "none" => return Ok(Fixes::NONE),
        _ => {}
    }
    let mut list = Vec::new();
    for name in text.split(',') {
        let fix = Fix::from_str(name.trim(), false).map_err(|_| {
            format!(
                "`{name}` is not a fix: use all, none, or a list of {}",
                Fix::ALL.map(Fix::as_str).join(", ")
            )
        })?;
        list.push(fix);
    }
    Ok(Fixes::from_list(&list))
}

impl ValueEnum for Os {
    fn value_variants<'a>() -> &'a [Self] {
        &[Os::Linux, Os::Macos, Os::Windows]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
