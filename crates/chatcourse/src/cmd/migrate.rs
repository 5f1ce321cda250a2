//! `chatcourse migrate` (not yet implemented).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("chatcourse migrate: not implemented yet");
    ExitCode::FAILURE
}
