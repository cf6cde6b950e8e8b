use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = memsafe::cli::Cli::parse();
    match memsafe::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            memsafe::ui::report(&error);
            ExitCode::from(memsafe::error::exit_code(&error))
        }
    }
}
