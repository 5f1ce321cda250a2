//! `chatcourse play` (not yet implemented).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("chatcourse play: not implemented yet");
    ExitCode::FAILURE
}
