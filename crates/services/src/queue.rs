//! Tasks as people act on them: cancelling one (a running task stops at its next step, a
//! pending one never starts). Queueing is each use case's own; running is the worker's.

use castellan_domain::audit::Actor;
use castellan_domain::{TaskId, WorkspaceId};

use crate::Services;
use crate::error::ServiceError;

/// Cancels a task of the workspace.
pub async fn cancel_task(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: TaskId,
) -> Result<castellan_store::Task, ServiceError> {
    Ok(svc.store.ws(ws).cancel_task(actor, id).await?)
}
