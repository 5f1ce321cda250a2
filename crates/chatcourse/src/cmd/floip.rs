//! `chatcourse export floip`: one FLOIP Flow Results package per module of
//! a programme, in a folder of its own under `-o DIR`: the descriptor
//! (`datapackage.json`, with the questions of every version of the module
//! the programme's sessions used) and the response rows (`responses.json`,
//! a JSON array of six-column rows), streamed from the answers.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chatcourse_api::floip::{self, DATA_FILE, DESCRIPTOR_FILE, ModuleQuestions};
use chatcourse_storage::{ExportFilter, OrgId, Store};
use futures::StreamExt;
use uuid::Uuid;

use super::export::{BATCH, Progress};

/// One module's package being written.
struct Package {
    dir: PathBuf,
    name: String,
    title: String,
    questions: ModuleQuestions,
    out: Option<BufWriter<std::fs::File>>,
    rows: u64,
    /// Replies to a choice question that picked no choice.
    left_out: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

pub(super) async fn export(
    store: &dyn Store,
    org: OrgId,
    filter: ExportFilter,
    dir: &Path,
    progress: Progress,
) -> Result<(), String> {
    let identifier = filter.programme.unwrap_or_default();
    let versions = store
        .programme_answer_counts(org, identifier)
        .await
        .map_err(|e| e.to_string())?
        .map(|c| c.versions)
        .unwrap_or_default();
    // The modules of the programme's sessions, oldest version first.
    let mut packages: BTreeMap<Uuid, Package> = BTreeMap::new();
    for version in versions {
        let Some(stored) = store
            .get_module_version(version)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let Some(module) = chatcourse_engine::load_module(&stored.source).module else {
            eprintln!(
                "floip: module version {} of {} no longer compiles; its answers are left out",
                stored.content_hash, stored.module_id
            );
            continue;
        };
        let name = floip::package_name(&format!("{}-program-{identifier}", stored.module_id));
        let package = packages
            .entry(stored.module_uuid)
            .or_insert_with(|| Package {
                dir: dir.join(&name),
                name,
                title: String::new(),
                questions: ModuleQuestions::default(),
                out: None,
                rows: 0,
                left_out: 0,
            });
        package.title = format!("{} (programme {identifier})", stored.name);
        package.questions.add_version(
            &stored.content_hash,
            chatcourse_engine::quiz_questions(&module),
        );
    }
    for package in packages.values_mut() {
        std::fs::create_dir_all(&package.dir).map_err(io(&package.dir))?;
        let path = package.dir.join(DATA_FILE);
        let mut out = BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
        out.write_all(b"[").map_err(io(&path))?;
        package.out = Some(out);
    }
    let mut progress = progress;
    let mut answers = store.export_answers(org, filter);
    let mut read = 0;
    while let Some(row) = answers.next().await {
        let row = row.map_err(|e| format!("the export failed part-way: {e}"))?;
        read += 1;
        if read % BATCH == 0 {
            progress.at(read);
        }
        let Some(package) = packages.get_mut(&row.module_uuid) else {
            continue;
        };
        let Some(line) = floip::row(&row, &package.questions) else {
            package.left_out += 1;
            continue;
        };
        let path = package.dir.join(DATA_FILE);
        if let Some(out) = package.out.as_mut() {
            out.write_all(if package.rows == 0 { b"\n" } else { b",\n" })
                .map_err(io(&path))?;
            serde_json::to_writer(&mut *out, &line).map_err(|e| e.to_string())?;
        }
        package.rows += 1;
    }
    progress.done(read);
    let now = chrono::Utc::now();
    for package in packages.values_mut() {
        let path = package.dir.join(DATA_FILE);
        if let Some(mut out) = package.out.take() {
            out.write_all(b"\n]\n").map_err(io(&path))?;
            out.flush().map_err(io(&path))?;
        }
        let descriptor = floip::descriptor(&package.name, &package.title, &package.questions, now);
        let path = package.dir.join(DESCRIPTOR_FILE);
        let text = serde_json::to_string_pretty(&descriptor).map_err(|e| e.to_string())?;
        std::fs::write(&path, text + "\n").map_err(io(&path))?;
        eprintln!(
            "floip: {} responses written to {} ({} replies that picked no choice left out)",
            package.rows,
            package.dir.display(),
            package.left_out
        );
    }
    if packages.is_empty() {
        eprintln!("floip: no answers in this programme, no package written");
    }
    Ok(())
}
