//! The `recfound` command line: one subcommand per file under `cli/`.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "reading X: line 3: ...".
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
