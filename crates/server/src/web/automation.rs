//! Automation: the tasks with their live status (the rows block polled by htmx while any task
//! is unfinished), and a task's page with its log, error and result, and Cancel.

use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::TaskId;
use castellan_domain::policy::Action;
use castellan_domain::tasks::{TaskStatus, TaskTrigger};
use castellan_store::{Task, TaskFilter};

use super::apps::StatusView;
use super::{
    Chrome, Flash, Nav, Query, Web, WebError, WebResult, done, page, when, when_opt, with_query,
};
use crate::state::AppState;

pub struct TaskRow {
    pub id: String,
    pub kind: String,
    pub app: String,
    pub app_id: String,
    pub trigger: &'static str,
    pub status: StatusView,
    pub progress: String,
    pub started: String,
    pub duration: String,
}

fn trigger_word(t: TaskTrigger) -> &'static str {
    match t {
        TaskTrigger::Person => "Person",
        TaskTrigger::Schedule => "Schedule",
        TaskTrigger::System => "System",
    }
}

fn kind_word(k: &str) -> String {
    castellan_domain::tasks::kind_title(k).to_string()
}

fn row(t: &Task, apps: &std::collections::HashMap<String, String>) -> TaskRow {
    let duration = match (t.started_at, t.finished_at) {
        (Some(a), Some(b)) => format!("{:.1} s", (b - a).num_milliseconds() as f64 / 1000.0),
        (Some(_), None) => "running".into(),
        _ => String::new(),
    };
    let progress = match t.progress_total {
        Some(total) if total > 0 => format!("{} of {}", t.progress_done, total),
        _ if t.progress_done > 0 => format!("{} done", t.progress_done),
        _ => String::new(),
    };
    let app_id = t.app_id.map(|a| a.to_string()).unwrap_or_default();
    TaskRow {
        id: t.id.to_string(),
        kind: kind_word(t.kind.as_str()),
        app: apps.get(&app_id).cloned().unwrap_or_default(),
        app_id,
        trigger: trigger_word(t.trigger),
        status: StatusView::of_task(t.status),
        progress,
        started: when_opt(&t.started_at),
        duration,
    }
}

async fn app_labels(
    s: &AppState,
    web: &Web,
) -> Result<std::collections::HashMap<String, String>, WebError> {
    Ok(s.store
        .ws(web.ws())
        .apps(None, 500)
        .await?
        .items
        .into_iter()
        .map(|a| (a.id.to_string(), a.label))
        .collect())
}

#[derive(Template)]
#[template(path = "web/automation.html", blocks = ["rows"])]
pub struct AutomationPage {
    chrome: Chrome,
    rows: Vec<TaskRow>,
    status: String,
    kind: String,
    app: String,
    apps: Vec<(String, String)>,
    next: Option<String>,
    live: bool,
    poll: String,
}

pub async fn list(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    web.require(Action::ReadTasks)?;
    let labels = app_labels(&s, &web).await?;
    let f = TaskFilter {
        status: q.get("status").parse::<TaskStatus>().ok(),
        kind: Some(q.get("kind").to_string()).filter(|k| !k.is_empty()),
        app_id: q.get("app").parse().ok(),
    };
    let tasks = s
        .store
        .ws(web.ws())
        .tasks(&f, q.get("cursor").parse().ok(), 50)
        .await?;
    let live = tasks.items.iter().any(|t| !t.status.is_final());
    let params = [
        ("status", q.get("status")),
        ("kind", q.get("kind")),
        ("app", q.get("app")),
    ];
    let next = tasks.next_cursor.as_ref().map(|c| {
        let mut p = params.to_vec();
        p.push(("cursor", c));
        with_query("/automation", &p)
    });
    let mut poll_p = params.to_vec();
    poll_p.push(("cursor", q.get("cursor")));
    poll_p.push(("fragment", "rows"));
    let mut apps: Vec<(String, String)> =
        labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    apps.sort_by(|a, b| a.1.cmp(&b.1));
    let view = AutomationPage {
        chrome: web.chrome(Nav::Automation, "Automation"),
        rows: tasks.items.iter().map(|t| row(t, &labels)).collect(),
        status: q.get("status").to_string(),
        kind: q.get("kind").to_string(),
        app: q.get("app").to_string(),
        apps,
        next,
        live,
        poll: with_query("/automation", &poll_p),
    };
    if web.htmx && q.get("fragment") == "rows" {
        return page(&web, &view.as_rows());
    }
    page(&web, &view)
}

pub struct LogView {
    pub at: String,
    pub level: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "web/task.html", blocks = ["live"])]
pub struct TaskPage {
    chrome: Chrome,
    task: TaskRow,
    live: bool,
    error: String,
    result: String,
    logs: Vec<LogView>,
    created: String,
    finished: String,
    attempts: String,
    may_cancel: bool,
}

fn task_id(raw: &str) -> Result<TaskId, WebError> {
    raw.parse().map_err(|_| {
        WebError::NotFound("This task does not exist, or is not in your workspace.".into())
    })
}

pub async fn task(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ReadTasks)?;
    let id = task_id(&id)?;
    let scoped = s.store.ws(web.ws());
    let t = scoped.task(id).await?;
    let logs = scoped
        .task_logs(id)
        .await?
        .into_iter()
        .map(|l| LogView {
            at: when(&l.at),
            level: l.level.to_string(),
            message: l.message,
        })
        .collect();
    let labels = app_labels(&s, &web).await?;
    let view = TaskPage {
        chrome: web.chrome(
            Nav::Automation,
            format!("Task {}", kind_word(t.kind.as_str())),
        ),
        task: row(&t, &labels),
        live: !t.status.is_final(),
        error: t.error.clone().unwrap_or_default(),
        result: t
            .result
            .as_ref()
            .map(|r| serde_json::to_string_pretty(r).unwrap_or_default())
            .unwrap_or_default(),
        logs,
        created: when(&t.created_at),
        finished: when_opt(&t.finished_at),
        attempts: format!("{} of {}", t.attempts, t.max_attempts),
        may_cancel: !t.status.is_final() && web.require(Action::ManageTasks).is_ok(),
    };
    if web.htmx && q.get("fragment") == "live" {
        return page(&web, &view.as_live());
    }
    page(&web, &view)
}

pub async fn cancel(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageTasks)?;
    let id = task_id(&id)?;
    let back = format!("/automation/{id}");
    match castellan_services::queue::cancel_task(&s.services, web.ws(), &web.caller.actor(), id)
        .await
    {
        Ok(t) if t.status == TaskStatus::Cancelled => {
            Ok(done(&web, &back, Flash::success("The task was cancelled.")))
        }
        Ok(_) => Ok(done(
            &web,
            &back,
            Flash::info("The task was asked to stop; it ends at its next step."),
        )),
        Err(e) => Ok(done(
            &web,
            &back,
            Flash::error(
                super::Errors::from_api(e.into(), &[])?
                    .general
                    .unwrap_or_default(),
            ),
        )),
    }
}
