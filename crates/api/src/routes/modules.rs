//! Fetch Modules: the catalogue of modules this server teaches (the modules
//! folder's, shared by every organisation, and the caller's own), and
//! module upload.

use axum::extract::State;

use crate::catalogue::CatalogueEntry;
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::{AppState, Org};
use crate::time::display;
use crate::wire::{ModuleItem, ModuleUpload, ModuleUploaded};

fn item(state: &AppState, e: &CatalogueEntry, owner: &'static str) -> ModuleItem {
    ModuleItem {
        module_uuid: e.uuid.to_string(),
        module_id: e.module.id.clone(),
        module_name: e.module.name.clone(),
        goal: e.module.goal.clone(),
        version: e.module.version.clone(),
        version_hash: e.module.content_hash.clone(),
        languages: e.module.languages.iter().map(|l| l.0.clone()).collect(),
        pre_quiz_questions: e.module.pre_quiz_total,
        post_quiz_questions: e.module.post_quiz_total,
        date_registered: display(e.version.registered_at, state.timezone),
        owner,
    }
}

/// Fetch modules: the shared modules of the server's modules folder, then
/// the modules the caller's organisation uploaded (`owner`).
#[utoipa::path(
    get,
    path = "/api/v1/fe/modules",
    tag = "modules",
    responses(
        (status = 200, description = "Modules successfully fetched", body = Envelope<Vec<ModuleItem>>),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Org(org): Org,
) -> Result<Envelope<Vec<ModuleItem>>, ApiError> {
    let mut items: Vec<ModuleItem> = state
        .catalogue
        .entries()
        .iter()
        .map(|e| item(&state, e, "shared"))
        .collect();
    let owned = state
        .catalogue
        .owned_entries(state.store.as_ref(), org)
        .await?;
    items.extend(owned.iter().map(|e| item(&state, e, "organisation")));
    Ok(ok("Modules successfully fetched", items))
}

/// Upload a module: the YAML text of a module the caller's organisation
/// owns. A module that loads is registered as the new version of that
/// organisation's module (new enrolments get it; sessions stay on theirs);
/// one with errors is refused with every diagnostic.
#[utoipa::path(
    post,
    path = "/api/v1/fe/modules",
    tag = "modules",
    request_body = ModuleUpload,
    responses(
        (status = 200, description = "Module registered", body = Envelope<ModuleUploaded>),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 422, description = "The module has errors (module_invalid): every diagnostic", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    Org(org): Org,
    JsonBody(body): JsonBody<ModuleUpload>,
) -> Result<Envelope<ModuleUploaded>, ApiError> {
    if body.source.contains('\0') {
        return Err(ApiError::Validation(vec![
            "source: must not contain NUL characters".to_owned(),
        ]));
    }
    let mut result = chatcourse_engine::load_module(&body.source);
    // Compared with the organisation's current version of the module.
    if let Some(m) = &result.module
        && let Some(previous) = state
            .catalogue
            .owned_current(state.store.as_ref(), org, &m.id)
            .await?
    {
        result = chatcourse_engine::load_module_after(&body.source, &previous);
    }
    let path = "module.yaml";
    let diagnostics: Vec<serde_json::Value> = result
        .diagnostics
        .iter()
        .map(|d| chatcourse_engine::diagnostics::to_json(path, d))
        .collect();
    let Some(module) = result.module else {
        let errors = result
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| {
                format!(
                    "line {}, column {}: {} ({})",
                    d.line, d.column, d.message, d.code
                )
            })
            .collect();
        return Err(ApiError::ModuleInvalid {
            diagnostics,
            errors,
        });
    };
    let entry = state
        .catalogue
        .register_owned(state.store.as_ref(), org, body.source, module)
        .await?;
    Ok(ok(
        "Module registered",
        ModuleUploaded {
            module: item(&state, &entry, "organisation"),
            warnings: diagnostics,
        },
    ))
}
