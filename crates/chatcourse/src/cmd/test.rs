//! `chatcourse test [PATH...]`: run the conversation tests
//! (`NAME.test.yaml` beside `NAME.yaml`), print pass/fail with a diff for
//! each failure and the steps no test reaches.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chatcourse_api::catalogue::is_test_file;
use chatcourse_engine::convtest::{parse_tests, run_tests};
use chatcourse_engine::diagnostics;

use super::validate::{collect, load_file};

#[derive(clap::Args)]
pub struct Args {
    /// Test files, module files (their `.test.yaml` is run) or folders.
    #[arg(default_value = "modules")]
    paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    let mut files = Vec::new();
    let mut broken = 0;
    for path in &args.paths {
        let found = if path.is_file() && !is_test_file(path) {
            // A module file: run its tests.
            let t = test_path_for(path);
            if t.is_file() {
                files.push(t);
            } else {
                eprintln!(
                    "error: {} has no tests ({} not found)",
                    path.display(),
                    t.display()
                );
                broken += 1;
            }
            Ok(())
        } else {
            collect(path, is_test_file, &mut files)
        };
        if let Err(e) = found {
            eprintln!("error: cannot read {}: {e}", path.display());
            broken += 1;
        }
    }
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        match run_file(file) {
            Some((p, f)) => {
                passed += p;
                failed += f;
            }
            None => broken += 1,
        }
    }
    if files.is_empty() && broken == 0 {
        println!("no conversation tests found (NAME.test.yaml beside NAME.yaml)");
    }
    let mut summary = format!("{passed} passed, {failed} failed");
    if broken > 0 {
        summary.push_str(&format!(", {broken} file(s) could not be run"));
    }
    println!("{summary}");
    if failed > 0 || broken > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `x/NAME.test.yaml` -> `x/NAME.yaml` (same extension).
fn module_path_for(test: &Path) -> PathBuf {
    let name = test.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let module = name
        .strip_suffix(".test.yaml")
        .map(|s| format!("{s}.yaml"))
        .or_else(|| name.strip_suffix(".test.yml").map(|s| format!("{s}.yml")))
        .unwrap_or_else(|| name.to_owned());
    test.with_file_name(module)
}

/// `x/NAME.yaml` -> `x/NAME.test.yaml`.
fn test_path_for(module: &Path) -> PathBuf {
    let name = module.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let test = match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.test.{ext}"),
        None => format!("{name}.test.yaml"),
    };
    module.with_file_name(test)
}

/// Runs one test file; `None` when it or its module cannot be loaded.
fn run_file(test_file: &Path) -> Option<(usize, usize)> {
    println!("{}", test_file.display());
    let module_file = module_path_for(test_file);
    let Some((_, module)) = load_file(&module_file, false) else {
        println!("  error: module {} does not load", module_file.display());
        return None;
    };
    let source = match fs::read_to_string(test_file) {
        Ok(s) => s,
        Err(e) => {
            println!("  error: cannot read: {e}");
            return None;
        }
    };
    let (tests, diags) = parse_tests(&source);
    if !diags.is_empty() {
        let shown = test_file.display().to_string();
        println!("{}", diagnostics::render_all(&shown, &source, &diags));
    }
    let tests = tests?;
    let report = run_tests(&module, &tests);
    for outcome in &report.outcomes {
        if outcome.passed() {
            println!("  ok    {}", outcome.name);
        } else {
            println!("  FAIL  {} (line {})", outcome.name, outcome.line);
            print!("{}", outcome.report());
        }
    }
    let unreached = report.unreached(&module);
    let total = module.steps.len();
    let reached = total - unreached.len();
    if unreached.is_empty() {
        println!("  coverage: {reached}/{total} steps");
    } else {
        let list: Vec<String> = unreached
            .iter()
            .map(|(id, line)| format!("{id} (line {line})"))
            .collect();
        println!(
            "  coverage: {reached}/{total} steps; unreached: {}",
            list.join(", ")
        );
    }
    Some((report.passed(), report.failed()))
}
