//! The modules this server teaches: loaded and validated from the modules
//! folder at start, registered as versions in the store, and compiled on
//! demand for sessions pinned to older versions.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chatcourse_engine::{Module, Severity};
use chatcourse_storage::{ModuleVersion, ModuleVersionId, NewModuleVersion, OrgId, Store};
use uuid::Uuid;

use crate::error::ApiError;

/// Namespace of module uuids: `module_uuid = UUIDv5(NAMESPACE, module id)`.
/// Never change it: integrators store module uuids.
pub const MODULE_NAMESPACE: Uuid = Uuid::from_u128(0x1f6c09ab_7b3d_459d_8c34_a0021f5a27dd);

/// The API's uuid of a module: stable across versions of the module.
pub fn module_uuid(module_id: &str) -> Uuid {
    Uuid::new_v5(&MODULE_NAMESPACE, module_id.as_bytes())
}

/// The stored `module_id` of a module an organisation owns: its `module:`
/// id, namespaced by the owner, so that two organisations (and the shared
/// folder) may use the same id. Its API uuid is [`module_uuid`] of this.
pub fn owned_id(org: OrgId, module_id: &str) -> String {
    format!("org/{org}/{module_id}")
}

/// A module file as found in the folder, compiled.
#[derive(Debug, Clone)]
pub struct LoadedModule {
    pub path: PathBuf,
    pub source: String,
    pub module: Arc<Module>,
}

/// Why the modules folder cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read modules folder {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Rendered diagnostics of every invalid file, ready to print.
    #[error("{report}")]
    Invalid { report: String },
    #[error("no module files (*.yaml) in {0}")]
    Empty(PathBuf),
}

/// `NAME.yaml` (or `.yml`) that is not a conversation test.
pub fn is_module_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !is_test_file(path)
}

/// A conversation test: `NAME.test.yaml` (or `.test.yml`).
pub fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

/// The files under the folder `dir` that pass `wanted`, searched
/// recursively, sorted by path. Entries whose names begin with `.` are
/// skipped, and symbolic links to folders are not followed (no loops).
/// `serve`, `validate` and `test` all list a folder through this one
/// function, so they always see the same files.
pub fn files_under(dir: &Path, wanted: fn(&Path) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if wanted(&path) && path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The module files of `dir` and its sub-folders: `*.yaml` and `*.yml`,
/// except conversation tests (`*.test.yaml`), sorted by path.
pub fn module_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    files_under(dir, is_module_file).map_err(|error| LoadError::Io {
        path: dir.to_owned(),
        error,
    })
}

/// Loads and validates every module of `dir`. Any error diagnostic in any
/// file (or two files with the same `module:` id) fails the whole load,
/// with every problem rendered in the report.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedModule>, LoadError> {
    let files = module_files(dir)?;
    if files.is_empty() {
        return Err(LoadError::Empty(dir.to_owned()));
    }
    let mut report = String::new();
    let mut loaded = Vec::new();
    for path in files {
        let source = std::fs::read_to_string(&path).map_err(|error| LoadError::Io {
            path: path.clone(),
            error,
        })?;
        let result = chatcourse_engine::load_module(&source);
        let shown = path.display().to_string();
        for d in &result.diagnostics {
            if d.severity == Severity::Error {
                report.push_str(&chatcourse_engine::diagnostics::render(&shown, &source, d));
                report.push('\n');
            }
        }
        if let Some(module) = result.module {
            loaded.push(LoadedModule {
                path,
                source,
                module: Arc::new(module),
            });
        }
    }
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for m in &loaded {
        if let Some(first) = seen.insert(&m.module.id, &m.path) {
            report.push_str(&format!(
                "error: module id `{}` is used by both {} and {}\n",
                m.module.id,
                first.display(),
                m.path.display()
            ));
        }
    }
    if report.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadError::Invalid { report })
    }
}

/// One module as the server offers it: its current (file) version.
#[derive(Debug, Clone)]
pub struct CatalogueEntry {
    pub uuid: Uuid,
    pub version: ModuleVersion,
    pub module: Arc<Module>,
}

/// The current versions, in module-name order for listing, with their
/// indexes. Replaced whole when a file changes (readers keep the snapshot
/// they took).
#[derive(Default)]
struct Current {
    entries: Vec<Arc<CatalogueEntry>>,
    by_uuid: HashMap<Uuid, usize>,
    by_id: HashMap<String, usize>,
}

impl Current {
    fn new(mut entries: Vec<Arc<CatalogueEntry>>) -> Current {
        entries.sort_by(|a, b| a.module.name.cmp(&b.module.name));
        let by_uuid = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.uuid, i))
            .collect();
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.module.id.clone(), i))
            .collect();
        Current {
            entries,
            by_uuid,
            by_id,
        }
    }
}

/// What the catalogue knows of the modules folder's files, to notice
/// changes: the source last read from each file (valid or not), and which
/// file provides each module id.
#[derive(Default)]
struct Files {
    seen: HashMap<PathBuf, String>,
    owner: HashMap<String, PathBuf>,
}

/// The modules served, and a cache of compiled versions by version id.
pub struct Catalogue {
    current: RwLock<Arc<Current>>,
    compiled: RwLock<HashMap<ModuleVersionId, Arc<Module>>>,
    files: tokio::sync::Mutex<Files>,
}

/// What one look at the modules folder found ([`Catalogue::refresh`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// Module ids that got a new version (new or changed files).
    pub registered: Vec<String>,
    /// Files refused (invalid, or a module id another file provides); their
    /// previous version, if any, keeps serving.
    pub refused: Vec<PathBuf>,
}

impl Catalogue {
    /// Registers every loaded module's version in the store (idempotent).
    pub async fn register(
        store: &dyn Store,
        modules: Vec<LoadedModule>,
    ) -> Result<Catalogue, chatcourse_storage::StoreError> {
        let mut current = Vec::with_capacity(modules.len());
        let mut files = Files::default();
        for loaded in modules {
            // The version served before this start, if the file changed.
            let uuid = module_uuid(&loaded.module.id);
            if let Some(before) = store.find_module(uuid).await?
                && before.content_hash != loaded.module.content_hash
                && let Some(previous) = chatcourse_engine::load_module(&before.source).module
            {
                let result = chatcourse_engine::load_module_after(&loaded.source, &previous);
                log_version_warnings(&loaded.path.display().to_string(), &result.diagnostics);
            }
            let entry = register_version(store, &loaded).await?;
            files.seen.insert(loaded.path.clone(), loaded.source);
            files.owner.insert(entry.module.id.clone(), loaded.path);
            current.push(Arc::new(entry));
        }
        let compiled = current
            .iter()
            .map(|e| (e.version.id, Arc::clone(&e.module)))
            .collect();
        Ok(Catalogue {
            current: RwLock::new(Arc::new(Current::new(current))),
            compiled: RwLock::new(compiled),
            files: tokio::sync::Mutex::new(files),
        })
    }

    fn snapshot(&self) -> Arc<Current> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The current version of every module, in name order.
    pub fn entries(&self) -> Vec<Arc<CatalogueEntry>> {
        self.snapshot().entries.clone()
    }

    /// The current version of a module, named by its uuid or (a
    /// convenience for people typing curl commands) its `module:` id.
    pub fn find(&self, name: &str) -> Option<Arc<CatalogueEntry>> {
        let name = name.trim();
        let current = self.snapshot();
        let index = match Uuid::try_parse(name) {
            Ok(uuid) => current.by_uuid.get(&uuid),
            Err(_) => current.by_id.get(name),
        }?;
        current.entries.get(*index).cloned()
    }

    /// Loads `source`, compared with the current version of the module of
    /// the same id, if there is one ([`chatcourse_engine::load_module_after`]).
    fn load_after_current(&self, source: &str) -> chatcourse_engine::LoadResult {
        let result = chatcourse_engine::load_module(source);
        let previous = result.module.as_ref().and_then(|m| self.find(&m.id));
        match previous {
            Some(previous) => chatcourse_engine::load_module_after(source, &previous.module),
            None => result,
        }
    }

    /// The current version of the module `module_id` that `org` owns.
    pub async fn owned_current(
        &self,
        store: &dyn Store,
        org: OrgId,
        module_id: &str,
    ) -> Result<Option<Arc<Module>>, ApiError> {
        let uuid = module_uuid(&owned_id(org, module_id));
        match store
            .find_org_module(org, uuid)
            .await
            .map_err(ApiError::internal)?
        {
            Some(v) => Ok(Some(self.version(store, v.id).await?)),
            None => Ok(None),
        }
    }

    /// Registers `source` (which compiled to `module`) as a new version of
    /// a module `org` owns; idempotent on the text. The version is stored,
    /// so every server process on the database sees it.
    pub async fn register_owned(
        &self,
        store: &dyn Store,
        org: OrgId,
        source: String,
        module: Module,
    ) -> Result<CatalogueEntry, ApiError> {
        let loaded = LoadedModule {
            path: PathBuf::from(format!("(uploaded by organisation {org})")),
            source,
            module: Arc::new(module),
        };
        let entry = register(store, &loaded, Some(org))
            .await
            .map_err(ApiError::internal)?;
        self.compiled
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.version.id, Arc::clone(&entry.module));
        Ok(entry)
    }

    /// The current version of the module `name` (a uuid or a `module:` id)
    /// for `org`: a module it owns first, else a shared one. Another
    /// organisation's modules do not exist for it.
    pub async fn find_for(
        &self,
        store: &dyn Store,
        org: OrgId,
        name: &str,
    ) -> Result<Option<Arc<CatalogueEntry>>, ApiError> {
        let name = name.trim();
        let uuid = Uuid::try_parse(name).unwrap_or_else(|_| module_uuid(&owned_id(org, name)));
        let owned = store
            .find_org_module(org, uuid)
            .await
            .map_err(ApiError::internal)?;
        if let Some(version) = owned {
            let module = self.version(store, version.id).await?;
            return Ok(Some(Arc::new(CatalogueEntry {
                uuid,
                version,
                module,
            })));
        }
        Ok(self.find(name))
    }

    /// The current version of every module `org` owns, by name.
    pub async fn owned_entries(
        &self,
        store: &dyn Store,
        org: OrgId,
    ) -> Result<Vec<CatalogueEntry>, ApiError> {
        let versions = store
            .list_org_modules(org)
            .await
            .map_err(ApiError::internal)?;
        let mut out = Vec::with_capacity(versions.len());
        for version in versions {
            let module = self.version(store, version.id).await?;
            out.push(CatalogueEntry {
                uuid: version.module_uuid,
                version,
                module,
            });
        }
        Ok(out)
    }

    /// Reads the modules folder `dir` again and registers a new version of
    /// every module whose file is new or changed, for new enrolments
    /// (sessions stay on the version they started on). A file that does not
    /// load is refused with its diagnostics in the log, and the module's
    /// previous version keeps serving; so is a file whose module id another
    /// file provides. A removed file's module keeps serving until restart.
    /// Each change is looked at once: a refused file is reported again only
    /// when it changes again.
    pub async fn refresh(&self, store: &dyn Store, dir: &Path) -> Refresh {
        let mut out = Refresh::default();
        // One refresh at a time: the file table is held throughout.
        let mut files = self.files.lock().await;
        let paths = match module_files(dir) {
            Ok(paths) => paths,
            Err(e) => {
                tracing::warn!(error = %e, "modules folder not read; the current modules keep serving");
                return out;
            }
        };
        for path in paths {
            let source = match std::fs::read_to_string(&path) {
                Ok(source) => source,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "module file not read");
                    continue;
                }
            };
            if files.seen.get(&path) == Some(&source) {
                continue;
            }
            files.seen.insert(path.clone(), source.clone());
            let result = self.load_after_current(&source);
            let shown = path.display().to_string();
            let Some(module) = result.module else {
                let report: String = result
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .map(|d| chatcourse_engine::diagnostics::render(&shown, &source, d))
                    .collect::<Vec<_>>()
                    .join("\n");
                tracing::warn!(
                    path = %shown,
                    "module file refused; its previous version keeps serving:\n{report}"
                );
                out.refused.push(path);
                continue;
            };
            if let Some(other) = files.owner.get(&module.id).filter(|p| **p != path) {
                tracing::warn!(
                    path = %shown,
                    module = %module.id,
                    other = %other.display(),
                    "module file refused: another file provides this module id"
                );
                out.refused.push(path);
                continue;
            }
            log_version_warnings(&shown, &result.diagnostics);
            let loaded = LoadedModule {
                path: path.clone(),
                source,
                module: Arc::new(module),
            };
            let entry = match register_version(store, &loaded).await {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::error!(path = %shown, error = %e, "module version not registered");
                    // Try again at the next look.
                    files.seen.remove(&path);
                    continue;
                }
            };
            files.owner.insert(entry.module.id.clone(), path);
            out.registered.push(entry.module.id.clone());
            self.compiled
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(entry.version.id, Arc::clone(&entry.module));
            let mut entries: Vec<Arc<CatalogueEntry>> = self
                .snapshot()
                .entries
                .iter()
                .filter(|e| e.module.id != entry.module.id)
                .cloned()
                .collect();
            entries.push(Arc::new(entry));
            *self.current.write().unwrap_or_else(|p| p.into_inner()) =
                Arc::new(Current::new(entries));
        }
        out
    }

    /// The compiled module of a stored version (a session's pinned version),
    /// compiled from its stored source on first use.
    pub async fn version(
        &self,
        store: &dyn Store,
        id: ModuleVersionId,
    ) -> Result<Arc<Module>, ApiError> {
        if let Some(m) = self.read_cache().get(&id) {
            return Ok(Arc::clone(m));
        }
        let version = store
            .get_module_version(id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal(format!("module version {id} is not stored")))?;
        let module = chatcourse_engine::load_module(&version.source)
            .module
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "stored module version {id} ({}) no longer compiles",
                    version.module_id
                ))
            })?;
        let module = Arc::new(module);
        self.compiled
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Arc::clone(&module));
        Ok(module)
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ModuleVersionId, Arc<Module>>> {
        self.compiled.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Logs the findings that compare a module with its previous version
/// (`correct-changed`): its results will not compare with earlier ones.
fn log_version_warnings(path: &str, diagnostics: &[chatcourse_engine::Diagnostic]) {
    for d in diagnostics.iter().filter(|d| d.code == "correct-changed") {
        tracing::warn!(
            path,
            line = d.line,
            code = d.code,
            hint = d.hint.as_deref().unwrap_or(""),
            "{}",
            d.message
        );
    }
}

/// Registers `loaded` as a shared version in the store (idempotent) and
/// logs it.
async fn register_version(
    store: &dyn Store,
    loaded: &LoadedModule,
) -> Result<CatalogueEntry, chatcourse_storage::StoreError> {
    register(store, loaded, None).await
}

/// Registers `loaded` as a version, shared or owned by `org`.
async fn register(
    store: &dyn Store,
    loaded: &LoadedModule,
    org: Option<OrgId>,
) -> Result<CatalogueEntry, chatcourse_storage::StoreError> {
    let m = &loaded.module;
    let stored_id = match org {
        Some(org) => owned_id(org, &m.id),
        None => m.id.clone(),
    };
    let uuid = module_uuid(&stored_id);
    let version = store
        .register_module_version(&NewModuleVersion {
            module_id: stored_id,
            module_uuid: uuid,
            name: m.name.clone(),
            goal: m.goal.clone(),
            content_hash: m.content_hash.clone(),
            source: loaded.source.clone(),
            languages: m.languages.iter().map(|l| l.0.clone()).collect(),
            pre_quiz_total: i32::try_from(m.pre_quiz_total).unwrap_or(i32::MAX),
            post_quiz_total: i32::try_from(m.post_quiz_total).unwrap_or(i32::MAX),
            registered_at: store.clock().now(),
            org,
        })
        .await?;
    tracing::info!(
        module = %m.id,
        %uuid,
        hash = %m.content_hash,
        path = %loaded.path.display(),
        "module registered"
    );
    Ok(CatalogueEntry {
        uuid,
        version,
        module: Arc::clone(&loaded.module),
    })
}

/// Looks at the modules folder every `every` until shutdown
/// ([`Catalogue::refresh`]).
pub(crate) async fn watch(state: crate::state::AppState, dir: PathBuf, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: the folder was just read.
    tick.tick().await;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        state.catalogue.refresh(state.store.as_ref(), &dir).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = "module: m1\nname: M\ngoal: g\nversion: \"1\"\nlanguage: en\nsteps:\n  - id: a\n    ask: Reply 1.\n    choices: [Go]\n  - id: b\n    end: Bye.\n";

    struct Dir(PathBuf);

    impl Dir {
        fn new(files: &[(&str, &str)]) -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "chatcourse-api-catalogue-{}-{n}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                std::fs::write(dir.join(name), text).unwrap();
            }
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn loads_modules_and_skips_conversation_tests_and_other_files() {
        let dir = Dir::new(&[
            ("m1.yaml", MODULE),
            ("m1.test.yaml", "tests: not a module"),
            ("notes.txt", "not yaml"),
        ]);
        let loaded = load_dir(&dir.0).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].module.id, "m1");
        assert_eq!(loaded[0].source, MODULE);
    }

    #[test]
    fn one_invalid_module_fails_the_whole_folder_with_every_diagnostic() {
        let dir = Dir::new(&[
            ("a.yaml", MODULE),
            ("b.yaml", "module: b\nname: B\n"),
            ("c.yml", "steps: [oops"),
        ]);
        let Err(LoadError::Invalid { report }) = load_dir(&dir.0) else {
            panic!("expected invalid");
        };
        assert!(report.contains("b.yaml"), "{report}");
        assert!(report.contains("c.yml"), "{report}");
        assert!(!report.contains("a.yaml"), "{report}");
    }

    #[test]
    fn duplicate_module_ids_and_empty_folders_are_refused() {
        let dir = Dir::new(&[("a.yaml", MODULE), ("b.yaml", MODULE)]);
        let Err(LoadError::Invalid { report }) = load_dir(&dir.0) else {
            panic!("expected invalid");
        };
        assert!(
            report.contains("module id `m1` is used by both"),
            "{report}"
        );
        let empty = Dir::new(&[]);
        assert!(matches!(load_dir(&empty.0), Err(LoadError::Empty(_))));
        assert!(matches!(
            load_dir(&empty.0.join("missing")),
            Err(LoadError::Io { .. })
        ));
    }

    #[test]
    fn module_uuid_is_stable() {
        assert_eq!(
            module_uuid("test-module-updated"),
            module_uuid("test-module-updated")
        );
        assert_ne!(module_uuid("a"), module_uuid("b"));
        assert_eq!(module_uuid("a").get_version_num(), 5);
        // Integrators store these; docs/api.md shows this one.
        assert_eq!(
            module_uuid("test-module-updated").to_string(),
            "5f2d773d-479b-5d8a-94e4-ed6e79e040a9"
        );
    }
}
