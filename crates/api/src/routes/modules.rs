//! Fetch Modules: the catalogue of modules this server teaches.

use axum::extract::State;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Org};
use crate::time::display;
use crate::wire::ModuleItem;

/// Fetch modules.
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
    Org(_): Org,
) -> Result<Envelope<Vec<ModuleItem>>, ApiError> {
    let items = state
        .catalogue
        .entries()
        .iter()
        .map(|e| ModuleItem {
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
        })
        .collect();
    Ok(ok("Modules successfully fetched", items))
}
