//! The Automation view: tasks and their logs.

use axum::Json;
use axum::extract::State;
use castellan_domain::AppId;
use castellan_domain::policy::Action;
use castellan_domain::tasks::TaskStatus;
use castellan_store::TaskFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::TaskStatusName;
use super::{Page, cursor, limit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::extract::PathId;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressBody {
    pub done: i64,
    pub total: Option<i64>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskBody {
    pub id: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `pending`, `in_progress`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// `person`, `schedule` or `system`.
    pub trigger: String,
    pub created_by: Option<String>,
    pub app_id: Option<String>,
    pub parent_id: Option<String>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: chrono::DateTime<chrono::Utc>,
    pub lease_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub cancel_requested: bool,
    pub progress: ProgressBody,
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<castellan_store::Task> for TaskBody {
    fn from(t: castellan_store::Task) -> Self {
        Self {
            id: t.id.to_string(),
            kind: t.kind.to_string(),
            payload: t.payload,
            status: t.status.to_string(),
            trigger: t.trigger.as_str().into(),
            created_by: t.created_by.map(|p| p.to_string()),
            app_id: t.app_id.map(|a| a.to_string()),
            parent_id: t.parent_id.map(|p| p.to_string()),
            attempts: t.attempts,
            max_attempts: t.max_attempts,
            run_at: t.run_at,
            lease_expires_at: t.lease_expires_at,
            cancel_requested: t.cancel_requested,
            progress: ProgressBody {
                done: t.progress_done,
                total: t.progress_total,
                message: t.progress_message,
            },
            result: t.result,
            error: t.error,
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogLineBody {
    pub at: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = super::LogLevelName)]
    pub level: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: TaskBody,
    pub log: Vec<LogLineBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// `pending`, `in_progress`, `completed`, `failed` or `cancelled`.
    #[param(value_type = Option<TaskStatusName>)]
    pub status: Option<String>,
    pub kind: Option<String>,
    /// App integration id.
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub app: Option<String>,
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Tasks, newest first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskQuery),
    responses((status = 200, body = Page<TaskBody>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tasks(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> ApiResult<Json<Page<TaskBody>>> {
    let p = caller.require(Action::ReadTasks)?;
    let status = q
        .status
        .as_deref()
        .map(|v| TaskStatus::parse("status", v))
        .transpose()?;
    let app_id = q
        .app
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<AppId>()
                .map_err(|_| ApiError::invalid("app", "app must be an app integration id"))
        })
        .transpose()?;
    let filter = TaskFilter {
        status,
        kind: q.kind,
        app_id,
    };
    let page = s
        .store
        .ws(p.workspace_id)
        .tasks(&filter, cursor(&q.cursor)?, limit(q.limit)?)
        .await?;
    Ok(Json(Page::from_store(page, Into::into)))
}

/// One task with its log.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path, description = "task id")),
    responses((status = 200, body = TaskDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_task(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::TaskId>,
) -> ApiResult<Json<TaskDetail>> {
    let p = caller.require(Action::ReadTasks)?;
    let scoped = s.store.ws(p.workspace_id);
    let task = scoped.task(id).await?;
    let log = scoped
        .task_logs(id)
        .await?
        .into_iter()
        .map(|l| LogLineBody {
            at: l.at,
            level: l.level.to_string(),
            message: l.message,
        })
        .collect();
    Ok(Json(TaskDetail {
        task: task.into(),
        log,
    }))
}

/// Cancel a task: a pending one at once, a running one at its next heartbeat.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = String, Path, description = "task id")),
    responses((status = 200, body = TaskBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_task(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::TaskId>,
) -> ApiResult<Json<TaskBody>> {
    let p = *caller.require(Action::ManageTasks)?;
    Ok(Json(
        castellan_services::queue::cancel_task(&s.services, p.workspace_id, &caller.actor(), id)
            .await?
            .into(),
    ))
}
