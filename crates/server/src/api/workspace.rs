//! The caller's workspace.

use axum::Json;
use axum::extract::State;
use castellan_domain::policy::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceBody {
    pub id: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<castellan_store::Workspace> for WorkspaceBody {
    fn from(w: castellan_store::Workspace) -> Self {
        Self {
            id: w.id.to_string(),
            name: w.name,
            settings: w.settings,
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspaceRequest {
    #[schema(schema_with = super::schema::optional_required_text_100)]
    pub name: Option<String>,
    /// Replaces the settings object.
    /// Replaces the settings: the keys below are checked; other keys are kept as sent.
    #[schema(schema_with = super::schema::workspace_settings)]
    pub settings: Option<serde_json::Value>,
}

/// The caller's workspace.
#[utoipa::path(get, path = "/api/v1/workspace", tag = "workspace", responses((status = 200, body = WorkspaceBody), (status = 401, body = ErrorBody)))]
pub async fn get_workspace(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<WorkspaceBody>> {
    let p = caller.require(Action::ReadWorkspace)?;
    Ok(Json(s.store.get_workspace(p.workspace_id).await?.into()))
}

/// Rename the workspace or replace its settings (Owner).
#[utoipa::path(patch, path = "/api/v1/workspace", tag = "workspace", request_body = UpdateWorkspaceRequest,
    responses((status = 200, body = WorkspaceBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn update_workspace(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<UpdateWorkspaceRequest>,
) -> ApiResult<Json<WorkspaceBody>> {
    let p = *caller.require(Action::UpdateWorkspace)?;
    Ok(Json(
        castellan_services::workspace::update_workspace(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            req.name.as_deref(),
            req.settings.as_ref(),
        )
        .await?
        .into(),
    ))
}
