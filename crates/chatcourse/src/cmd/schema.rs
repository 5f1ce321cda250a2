//! `chatcourse schema`: print the JSON Schema of the module format (the
//! same text as `docs/module.schema.json`), for editors.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    print!("{}", chatcourse_engine::load::json_schema_text());
    ExitCode::SUCCESS
}
