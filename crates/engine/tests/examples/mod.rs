//! The example courses in `modules/`: each has conversation tests
//! (`NAME.test.yaml`) that pass and reach every step, and the transcripts of
//! those conversations are kept in `tests/data/transcripts/NAME.txt`
//! (`BLESS=1` rewrites them), so any change to what a learner sees shows up
//! in review.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chatcourse_engine::convtest::{parse_tests, run_tests};
use chatcourse_engine::load_module;

fn modules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules")
}

fn example_modules() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(modules_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".yaml") && !name.ends_with(".test.yaml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_module_is_fully_covered_by_passing_conversation_tests() {
    let modules = example_modules();
    assert!(modules.len() >= 4, "expected at least four example modules");
    let bless = std::env::var_os("BLESS").is_some();
    let mut problems = Vec::new();
    for path in modules {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let module = load_module(&source)
            .module
            .unwrap_or_else(|| panic!("{stem}.yaml does not load"));
        let test_path = path.with_file_name(format!("{stem}.test.yaml"));
        let Ok(test_source) = std::fs::read_to_string(&test_path) else {
            problems.push(format!("{stem}: no {stem}.test.yaml"));
            continue;
        };
        let (file, diagnostics) = parse_tests(&test_source);
        let file = file.unwrap_or_else(|| panic!("{stem}.test.yaml: {diagnostics:?}"));
        let report = run_tests(&module, &file);
        for outcome in report.outcomes.iter().filter(|o| !o.passed()) {
            problems.push(format!("{stem}: {}", outcome.report()));
        }
        let unreached = report.unreached(&module);
        if !unreached.is_empty() {
            problems.push(format!("{stem}: steps no test reaches: {unreached:?}"));
        }

        let mut transcript = String::new();
        for outcome in &report.outcomes {
            writeln!(transcript, "## {}", outcome.name).unwrap();
            for said in &outcome.transcript {
                writeln!(transcript, "{said}").unwrap();
            }
            writeln!(transcript).unwrap();
        }
        let snapshot = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/transcripts")
            .join(format!("{stem}.txt"));
        if bless {
            std::fs::write(&snapshot, &transcript).unwrap();
        } else if std::fs::read_to_string(&snapshot).ok().as_deref() != Some(transcript.as_str()) {
            problems.push(format!(
                "{stem}: transcript differs from {} (run with BLESS=1 to accept):\n{transcript}",
                snapshot.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
