//! The `chatcourse` command. Each subcommand lives in its own file under
//! `cmd/`; this file only parses arguments and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// mimalloc rather than the system's allocator: it gives the memory of
/// freed objects back to the system, so a wave of connections that closed
/// does not leave the server at its peak size (glibc kept 224 MiB after
/// 19,000 WebSockets closed; docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "chatcourse", version, about = "A conversational course engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check module files for mistakes (files or folders; default: modules/).
    Validate(cmd::validate::Args),
    /// Play a module in the terminal: type the learner's replies.
    Play(cmd::play::Args),
    /// Run the conversation tests (*.test.yaml) and report step coverage.
    Test(cmd::test::Args),
    /// Print a module's flow as a Mermaid flowchart (default) or DOT.
    Graph(cmd::graph::Args),
    /// Print the JSON Schema of the module format (for editors).
    Schema(cmd::schema::Args),
    /// Apply database migrations.
    Migrate(cmd::migrate::Args),
    /// Manage organisations' API keys.
    #[command(subcommand)]
    Keys(cmd::keys::Command),
    /// Manage organisations' delivery channels (docs/channels.md).
    #[command(subcommand)]
    Channels(cmd::channels::Command),
    /// Run the HTTP/WebSocket server.
    Serve(cmd::serve::Args),
    /// Export a programme's messages, answers or scores from the database
    /// (CSV or NDJSON, as the HTTP exports).
    Export(cmd::export::Args),
    /// Print a programme's report (summary, paired gain, item analysis).
    Report(cmd::report::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Play(args) => cmd::play::run(args),
        Command::Test(args) => cmd::test::run(args),
        Command::Graph(args) => cmd::graph::run(args),
        Command::Schema(args) => cmd::schema::run(args),
        Command::Migrate(args) => cmd::migrate::run(args),
        Command::Keys(command) => cmd::keys::run(command),
        Command::Channels(command) => cmd::channels::run(command),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Report(args) => cmd::report::run(args),
    }
}
