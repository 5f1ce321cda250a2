//! `chatcourse graph MODULE [--format mermaid|dot]`: print a module's flow
//! (steps, branches, retries, quizzes, unreachable steps) as a Mermaid
//! flowchart or a Graphviz digraph. The graph is built by the engine
//! (`chatcourse_engine::flow`); this command only loads and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use chatcourse_engine::flow::Flow;

#[derive(clap::Args)]
pub struct Args {
    /// The module file.
    module: PathBuf,
    /// Output format: a Mermaid flowchart (renders on GitHub in a
    /// ```mermaid block) or Graphviz DOT (`| dot -Tsvg > flow.svg`).
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Mermaid,
    Dot,
}

pub fn run(args: Args) -> ExitCode {
    // Errors stop here (with their diagnostics on stderr); warnings such
    // as unreachable steps show in the graph instead.
    let Some((_, module)) = super::validate::load_file(&args.module, false) else {
        return ExitCode::FAILURE;
    };
    let flow = Flow::build(&module);
    match args.format {
        Format::Mermaid => print!("{}", flow.mermaid()),
        Format::Dot => print!("{}", flow.dot()),
    }
    ExitCode::SUCCESS
}
