//! `chatcourse validate [PATH...]`: check module files and report every
//! problem, rustc-style or as JSON lines. Also the module-file helpers that
//! `play` and `test` share.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chatcourse_api::catalogue::{files_under, is_module_file};
use chatcourse_engine::diagnostics::{self, Diagnostic};
use chatcourse_engine::{Module, load_module, load_module_after};

#[derive(clap::Args)]
pub struct Args {
    /// Module files or folders (every `*.yaml` but `*.test.yaml` in them).
    #[arg(default_value = "modules")]
    paths: Vec<PathBuf>,
    /// Output format: rustc-style text, or one JSON object per line per
    /// diagnostic (file, line, column, severity, code, message, hint).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The previous version of a module (the file learners were enrolled
    /// on so far): the file of the same `module:` id is compared with it,
    /// and a quiz question kept under the same `id` whose right answer
    /// changed is a `correct-changed` warning.
    #[arg(long, value_name = "FILE")]
    previous: Option<PathBuf>,
    /// Also check the texts for a channel: `sms` warns about texts over
    /// `--max-segments` SMS segments (docs/channels.md).
    #[arg(long, value_enum)]
    channel: Option<Channel>,
    /// With `--channel sms`: the most segments a text may cost.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=255))]
    max_segments: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Channel {
    Sms,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> ExitCode {
    let previous = match &args.previous {
        Some(path) => match load_file(path, false) {
            Some((_, module)) => Some(module),
            None => {
                eprintln!(
                    "error: the previous version {} does not load",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let mut files = Vec::new();
    let mut errors = 0;
    for path in &args.paths {
        if let Err(e) = collect(path, is_module_file, &mut files) {
            errors += 1;
            report_io(args.format, path, &e);
        }
    }
    let mut warnings = 0;
    for file in &files {
        let source = match fs::read_to_string(file) {
            Ok(s) => s,
            Err(e) => {
                errors += 1;
                report_io(args.format, file, &e);
                continue;
            }
        };
        let shown = file.display().to_string();
        let mut result = load_module(&source);
        if let Some(previous) = &previous
            && result.module.as_ref().is_some_and(|m| m.id == previous.id)
        {
            result = load_module_after(&source, previous);
        }
        if args.channel == Some(Channel::Sms) {
            result
                .diagnostics
                .extend(super::sms_check::check(&source, args.max_segments as usize));
        }
        errors += result.diagnostics.iter().filter(|d| d.is_error()).count();
        warnings += result.diagnostics.iter().filter(|d| !d.is_error()).count();
        match args.format {
            Format::Text => {
                if !result.diagnostics.is_empty() {
                    println!(
                        "{}",
                        diagnostics::render_all(&shown, &source, &result.diagnostics)
                    );
                }
            }
            Format::Json => {
                for d in &result.diagnostics {
                    println!("{}", diagnostics::to_json(&shown, d));
                }
            }
        }
    }
    if args.format == Format::Text {
        println!(
            "checked {} module{}: {} error{}, {} warning{}",
            files.len(),
            plural(files.len()),
            errors,
            plural(errors),
            warnings,
            plural(warnings),
        );
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn report_io(format: Format, path: &Path, e: &std::io::Error) {
    let shown = path.display().to_string();
    match format {
        Format::Text => println!("error[io]: cannot read {shown}: {e}\n"),
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "file": shown,
                "line": 0,
                "column": 0,
                "severity": "error",
                "code": "io",
                "message": format!("cannot read: {e}"),
                "hint": null,
            })
        ),
    }
}

/// Adds `path` (a file, taken as is) or the files under it that pass
/// `wanted` (a folder, listed as `serve` lists its modules folder).
pub(crate) fn collect(
    path: &Path,
    wanted: fn(&Path) -> bool,
    out: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    if path.is_dir() {
        out.extend(files_under(path, wanted)?);
    } else {
        fs::metadata(path)?;
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Reads and loads a module file. On failure, prints the reason (and the
/// rendered diagnostics) to stderr and returns `None`; warnings are printed
/// too when `show_warnings`.
pub(crate) fn load_file(path: &Path, show_warnings: bool) -> Option<(String, Module)> {
    let shown = path.display().to_string();
    let source = match fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error[io]: cannot read {shown}: {e}");
            return None;
        }
    };
    let result = load_module(&source);
    let shown_diags: Vec<Diagnostic> = result
        .diagnostics
        .iter()
        .filter(|d| show_warnings || d.is_error())
        .cloned()
        .collect();
    if !shown_diags.is_empty() {
        eprintln!("{}", diagnostics::render_all(&shown, &source, &shown_diags));
    }
    match result.module {
        Some(m) => Some((source, m)),
        None => {
            let n = result.diagnostics.iter().filter(|d| d.is_error()).count();
            eprintln!("error: {shown} does not load ({n} error{})", plural(n));
            None
        }
    }
}
