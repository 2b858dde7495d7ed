use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = budget::cli::Cli::parse();
    match budget::run(cli) {
        Ok(status) => ExitCode::from(status.code()),
        Err(error) => {
            budget::report::error(&error, &mut std::io::stderr().lock());
            ExitCode::from(error.exit_code())
        }
    }
}
