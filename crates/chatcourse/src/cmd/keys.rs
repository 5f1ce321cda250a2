//! `chatcourse keys` (not yet implemented).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create an API key for an organisation (printed once).
    Create,
}

pub fn run(_command: Command) -> ExitCode {
    eprintln!("chatcourse keys: not implemented yet");
    ExitCode::FAILURE
}
