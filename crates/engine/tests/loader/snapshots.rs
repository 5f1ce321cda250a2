//! Every `tests/data/broken/*.yaml` is loaded and all its diagnostics are
//! rendered into the `.expected` file beside it. `BLESS=1` rewrites them.

use std::path::{Path, PathBuf};

use chatcourse_engine::diagnostics::render_all;
use chatcourse_engine::load_module;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn rendered(path: &str, source: &str) -> String {
    let result = load_module(source);
    let mut out = render_all(path, source, &result.diagnostics);
    out.push_str(&format!(
        "\n{} error(s), {} warning(s); module {}\n",
        result.diagnostics.iter().filter(|d| d.is_error()).count(),
        result.diagnostics.iter().filter(|d| !d.is_error()).count(),
        if result.module.is_some() {
            "loaded"
        } else {
            "not loaded"
        },
    ));
    out
}

#[test]
fn broken_modules_report_the_expected_diagnostics() {
    let dir = data_dir().join("broken");
    let bless = std::env::var_os("BLESS").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "expected at least 15 broken modules");
    let mut failures = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let name = format!("broken/{}", file.file_name().unwrap().to_string_lossy());
        let actual = rendered(&name, &source);
        let expected_path = file.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        for block in actual.split("\n\n") {
            let finding = block.starts_with("error[") || block.starts_with("warning[");
            assert!(
                !finding || block.contains("= hint: "),
                "{name}: a finding without a hint:\n{block}"
            );
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- {name}: expected\n{expected}\n--- actual\n{actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} snapshot(s) differ (run with BLESS=1 to accept):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn example_modules_load_without_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") || name.ends_with(".test.yaml") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let result = load_module(&source);
        let errors: Vec<_> = result.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(
            errors.is_empty(),
            "{name}:\n{}",
            render_all(&name, &source, &result.diagnostics)
        );
        assert!(result.module.is_some(), "{name} did not load");
        count += 1;
    }
    assert!(count > 0);
}

/// The codes in the "Diagnostics" table of docs/module-format.md.
fn documented_codes() -> Vec<String> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/module-format.md"),
    )
    .unwrap();
    let section = &doc[doc.find("## Diagnostics").expect("a Diagnostics section")..];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(code, _)| code.to_owned()))
        .collect()
}

#[test]
fn every_diagnostic_code_is_documented_and_exercised() {
    let documented = documented_codes();
    assert!(documented.len() > 40, "the table lists the codes");
    let mut expected = String::new();
    for entry in std::fs::read_dir(data_dir().join("broken")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected") {
            expected.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    // Codes seen in snapshots: `error[code]` / `warning[code]`.
    let seen: Vec<&str> = expected
        .lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("error[")
                .or_else(|| l.strip_prefix("warning["))?;
            rest.split_once(']').map(|(code, _)| code)
        })
        .collect();
    for code in &seen {
        assert!(
            documented.iter().any(|d| d == code),
            "`{code}` is not documented"
        );
    }
    // Covered by the syntax unit tests instead (inputs too large for a
    // file), and by `loader::compile` (a comparison with a previous version).
    let elsewhere = ["yaml-too-deep", "alias-limit", "correct-changed"];
    for code in &documented {
        assert!(
            seen.contains(&code.as_str()) || elsewhere.contains(&code.as_str()),
            "no broken module exercises `{code}`"
        );
    }
}
