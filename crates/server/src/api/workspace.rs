//! The caller's workspace.

use axum::Json;
use axum::extract::State;
use castellan_domain::policy::Action;
use castellan_domain::workspace::parse_workspace_name;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
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
    pub name: Option<String>,
    /// Replaces the settings object.
    #[schema(value_type = Option<Object>)]
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
    let name = req
        .name
        .as_deref()
        .map(parse_workspace_name)
        .transpose()
        .map_err(|e| ApiError::invalid("name", e.message))?;
    if req.settings.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(ApiError::invalid(
            "settings",
            "settings must be a JSON object",
        ));
    }
    if let Some(settings) = &req.settings {
        castellan_domain::matching::check_settings(settings)?;
        castellan_services::members::check_settings(settings)?;
    }
    Ok(Json(
        s.store
            .ws(p.workspace_id)
            .update_workspace(&caller.actor(), name.as_deref(), req.settings.as_ref())
            .await?
            .into(),
    ))
}
