//! The workspace's own record: renaming it and replacing its settings (checked as typed
//! settings, stored as sent so a client's own keys are kept).

use castellan_domain::FieldError;
use castellan_domain::WorkspaceId;
use castellan_domain::audit::Actor;
use castellan_domain::workspace::{WorkspaceSettings, parse_workspace_name};

use crate::Services;
use crate::error::ServiceError;

/// Renames the workspace and/or replaces its settings, each when given.
pub async fn update_workspace(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    name: Option<&str>,
    settings: Option<&serde_json::Value>,
) -> Result<castellan_store::Workspace, ServiceError> {
    let name = name
        .map(parse_workspace_name)
        .transpose()
        .map_err(|e| FieldError::new("name", e.message))?;
    if let Some(v) = settings {
        WorkspaceSettings::parse(v)?;
    }
    Ok(svc
        .store
        .ws(ws)
        .update_workspace(actor, name.as_deref(), settings)
        .await?)
}
