//! memsafe: sizes Rust builds, tests and rust-analyzer to the machine's memory.
//!
//! The library exists for the `memsafe` binary and its tests; its API carries no semver
//! promise. The core (`plan`, `render`, `merge`, `change`) is pure; detection (`hardware`,
//! `project`), prompts (`prompt`), printing (`ui`) and writing (`write`) sit at the edges.

pub mod change;
pub mod cli;
pub mod error;
pub mod files;
pub mod hardware;
pub mod init;
pub mod lock;
pub mod merge;
pub mod plan;
pub mod project;
pub mod prompt;
pub mod record;
pub mod regen;
pub mod remove;
pub mod render;
pub mod ui;
pub mod undo;
pub mod write;

use cli::{Cli, Command};

/// Runs one command. Errors come back to `main`, which prints them once.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Init(args) => init::init(args),
        Command::Plan(args) => init::plan(args),
        Command::Regen(args) => regen::regen(args),
        Command::Check(args) => regen::check(args),
        Command::Remove(args) => remove::remove(args),
    }
}
