//! Invariants of ARCHITECTURE.md that no compiler checks, checked on the
//! workspace's own files.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The names of the dependencies declared in a manifest, in every
/// dependency table (normal, dev, build, per target).
fn declared_dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).expect("read manifest");
    let mut in_dependencies = false;
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line.trim_matches(['[', ']']).ends_with("dependencies");
            continue;
        }
        if in_dependencies && let Some((name, _)) = line.split_once('=') {
            // `name = ...`, `name.workspace = true`, `"name" = ...`
            let name = name
                .trim()
                .split('.')
                .next()
                .unwrap_or("")
                .trim_matches('"');
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn crate_manifests() -> Vec<(String, PathBuf)> {
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).expect("crates/") {
        let dir = entry.expect("entry").path();
        let manifest = dir.join("Cargo.toml");
        if manifest.is_file() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            manifests.push((name, manifest));
        }
    }
    manifests.push(("fuzz".to_owned(), root().join("fuzz/Cargo.toml")));
    manifests
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// "Only storage has SQL": no other crate depends on sqlx or names it.
#[test]
fn only_storage_depends_on_sqlx() {
    let manifests = crate_manifests();
    assert!(manifests.len() >= 5, "{manifests:?}");
    for (name, manifest) in &manifests {
        if name == "storage" {
            assert!(declared_dependencies(manifest).contains(&"sqlx".to_owned()));
            continue;
        }
        let deps = declared_dependencies(manifest);
        assert!(
            !deps.iter().any(|d| d.starts_with("sqlx")),
            "{} depends on sqlx: only storage may ({deps:?})",
            manifest.display()
        );
    }
    let mut files = Vec::new();
    for dir in ["crates/engine", "crates/api", "crates/chatcourse", "tests"] {
        sources(&root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        assert!(
            !text.contains(concat!("sqlx", "::")),
            "{} uses sqlx: only storage has SQL",
            file.display()
        );
    }
}

/// "The engine does no I/O": it depends on no crate that does (clippy's
/// `disallowed-methods` in crates/engine/clippy.toml covers std).
/// `chrono-tz` is allowed: it is the IANA time zone database compiled in
/// as data (no file, environment or clock is read), with which the engine
/// works out when a paced course's `wait` ends in the learner's zone,
/// given the time and the zone's name as input.
#[test]
fn the_engine_depends_on_no_io_crate() {
    let deps = declared_dependencies(&root().join("crates/engine/Cargo.toml"));
    assert!(deps.contains(&"regex".to_owned()), "{deps:?}");
    for io in [
        "tokio",
        "sqlx",
        "axum",
        "reqwest",
        "hyper",
        "rand",
        "getrandom",
        "tracing",
    ] {
        assert!(
            !deps.iter().any(|d| d == io),
            "the engine depends on {io}: it must do no I/O"
        );
    }
}

/// "No SQLite statement is prepared per execution": SQLite plans with the
/// value of a bare parameter in `LIMIT`, and then marks the statement to be
/// prepared again whenever that parameter is bound, so the statement cache
/// saves nothing (the live chat's message page was parsed on every turn).
/// A limit is bound as `CAST(? AS INTEGER)`, whose value the planner does
/// not read.
#[test]
fn sqlite_limits_are_not_bare_parameters() {
    let mut files = vec![root().join("crates/storage/src/sqlite.rs")];
    sources(&root().join("crates/storage/src/sqlite"), &mut files);
    let mut bare = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            if line
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains("LIMIT ?")
            {
                bare.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    assert!(bare.is_empty(), "a bare LIMIT parameter: {bare:?}");
}
