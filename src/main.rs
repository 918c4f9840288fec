//! The `recfound` command line: one subcommand per file under `cli/`.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // Training loops free and re-allocate multi-MiB activations every step; keep them in the heap
    // instead of returning them to the kernel (see `allocator`).
    recfound::allocator::retain_freed_memory();
    cli::init_logging(args.verbose);
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The whole context chain on one line ("reading X: line 3: ..."), leaving out a cause whose text
/// the message already shows (library errors print their source inline).
fn one_line(err: &anyhow::Error) -> String {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}
