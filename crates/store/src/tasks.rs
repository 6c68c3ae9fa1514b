//! The durable task queue. A worker claims a runnable task by taking a lease (owner + expiry);
//! it heartbeats to keep it, and every later write checks it still holds it. A task whose
//! lease expired (its worker died) is runnable again. PostgreSQL claims with
//! `FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on or take the same row; SQLite
//! claims with a single `UPDATE … RETURNING` under its one-writer lock.

use castellan_domain::audit::{Actor, NewAuditEvent, Outcome};
use castellan_domain::tasks::{TaskKind, TaskStatus, TaskTrigger};
use castellan_domain::{AppId, PersonId, TaskId, Timestamp, WorkspaceId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::append;
use crate::{
    Backend, Page, Result, Scoped, Store, StoreError, Task, TaskLogLine, get_bool, get_id,
    get_opt_id, get_opt_time, get_parsed, get_time, ms,
};

fn task_from_row(row: &AnyRow) -> Result<Task> {
    let kind: String = row.try_get("kind")?;
    let opt_json = |col: &str| -> Result<Option<serde_json::Value>> {
        let s: Option<String> = row.try_get(col)?;
        s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}"))))
            .transpose()
    };
    Ok(Task {
        id: get_id(row, "id")?,
        workspace_id: get_id(row, "workspace_id")?,
        kind: TaskKind::new(&kind).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        payload: opt_json("payload")?.unwrap_or(serde_json::Value::Null),
        status: get_parsed(row, "status")?,
        trigger: get_parsed(row, "trigger_kind")?,
        created_by: get_opt_id(row, "created_by")?,
        app_id: get_opt_id(row, "app_id")?,
        parent_id: get_opt_id(row, "parent_id")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        run_at: get_time(row, "run_at")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: get_opt_time(row, "lease_expires_at")?,
        cancel_requested: get_bool(row, "cancel_requested")?,
        progress_done: row.try_get("progress_done")?,
        progress_total: row.try_get("progress_total")?,
        progress_message: row.try_get("progress_message")?,
        result: opt_json("result")?,
        error: row.try_get("error")?,
        created_at: get_time(row, "created_at")?,
        started_at: get_opt_time(row, "started_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: TaskKind,
    pub payload: serde_json::Value,
    pub trigger: TaskTrigger,
    pub created_by: Option<PersonId>,
    pub app_id: Option<AppId>,
    pub parent_id: Option<TaskId>,
    pub max_attempts: i64,
    /// Not before this time (default: now).
    pub run_at: Option<Timestamp>,
}

impl NewTask {
    /// A task of the kind `P` names, carrying `payload`.
    pub fn of<P: castellan_domain::tasks::TaskPayload>(payload: &P, trigger: TaskTrigger) -> Self {
        Self::new(P::kind(), payload.to_json(), trigger)
    }

    pub fn new(kind: TaskKind, payload: serde_json::Value, trigger: TaskTrigger) -> Self {
        Self {
            kind,
            payload,
            trigger,
            created_by: None,
            app_id: None,
            parent_id: None,
            max_attempts: 5,
            run_at: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub kind: Option<String>,
    pub app_id: Option<AppId>,
}

/// A task this worker holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub task: Task,
    pub owner: String,
}

/// The lease was lost (expired and taken by another worker, or the task was cancelled).
pub const LEASE_LOST: &str = "lease lost";

/// Inserts one pending task and its audit event inside the caller's transaction.
pub(crate) async fn insert_task(
    conn: &mut sqlx::AnyConnection,
    env: &castellan_domain::Env,
    ws: WorkspaceId,
    actor: &Actor,
    t: NewTask,
    now: i64,
) -> Result<TaskId> {
    let id = TaskId::new(env);
    sqlx::query(
        "INSERT INTO tasks (id, workspace_id, kind, payload, status, trigger_kind, created_by, app_id, parent_id, attempts, max_attempts, \
         run_at, cancel_requested, progress_done, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, 0, $9, $10, 0, 0, $11, $11)",
    )
    .bind(id.to_string())
    .bind(ws.to_string())
    .bind(t.kind.as_str())
    .bind(t.payload.to_string())
    .bind(t.trigger.as_str())
    .bind(t.created_by.map(|p| p.to_string()))
    .bind(t.app_id.map(|a| a.to_string()))
    .bind(t.parent_id.map(|p| p.to_string()))
    .bind(t.max_attempts.max(1))
    .bind(t.run_at.map(ms).unwrap_or(now))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let details = serde_json::json!({ "kind": t.kind.as_str(), "trigger": t.trigger.as_str() });
    append(
        conn,
        env,
        ws,
        NewAuditEvent::success(actor, "task.create", format!("task:{id}"), details),
    )
    .await?;
    Ok(id)
}

impl Scoped<'_> {
    pub async fn enqueue(&self, actor: &Actor, t: NewTask) -> Result<Task> {
        let ids = self.enqueue_many(actor, vec![t]).await?;
        self.task(ids[0]).await
    }

    /// Enqueues several tasks in one transaction (one audit event each).
    pub async fn enqueue_many(&self, actor: &Actor, tasks: Vec<NewTask>) -> Result<Vec<TaskId>> {
        let env = &self.store.env;
        let now = ms(env.now());
        let mut tx = self.store.begin_write().await?;
        let mut ids = Vec::with_capacity(tasks.len());
        for t in tasks {
            ids.push(insert_task(&mut tx, env, self.ws, actor, t, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn task(&self, id: TaskId) -> Result<Task> {
        let row = sqlx::query("SELECT * FROM tasks WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("task"))?;
        task_from_row(&row)
    }

    pub async fn task_logs(&self, id: TaskId) -> Result<Vec<TaskLogLine>> {
        let rows = sqlx::query("SELECT at, level, message FROM task_logs WHERE workspace_id = $1 AND task_id = $2 ORDER BY id")
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_all(&self.store.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TaskLogLine {
                    at: get_time(r, "at")?,
                    level: get_parsed(r, "level")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// Tasks, newest first. The cursor is the id to continue below.
    pub async fn tasks(
        &self,
        f: &TaskFilter,
        cursor: Option<TaskId>,
        limit: i64,
    ) -> Result<Page<Task>> {
        let mut sql = String::from("SELECT * FROM tasks WHERE workspace_id = $1");
        let mut n = 1;
        let mut add = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('?', &format!("${n}")));
        };
        if cursor.is_some() {
            add(&mut sql, " AND id < ?");
        }
        if f.status.is_some() {
            add(&mut sql, " AND status = ?");
        }
        if f.kind.is_some() {
            add(&mut sql, " AND kind = ?");
        }
        if f.app_id.is_some() {
            add(&mut sql, " AND app_id = ?");
        }
        add(&mut sql, " ORDER BY id DESC LIMIT ?");
        let mut q = sqlx::query(&sql).bind(self.ws_str());
        if let Some(c) = cursor {
            q = q.bind(c.to_string());
        }
        if let Some(s) = f.status {
            q = q.bind(s.as_str());
        }
        if let Some(k) = &f.kind {
            q = q.bind(k.clone());
        }
        if let Some(a) = f.app_id {
            q = q.bind(a.to_string());
        }
        let rows = q.bind(limit + 1).fetch_all(&self.store.pool).await?;
        let mut items = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        Ok(crate::people::page_by_id(&mut items, limit, |t| {
            t.id.to_string()
        }))
    }

    /// Cancels a task: a pending one at once; a running one is asked to stop (its worker sees
    /// the request at its next heartbeat). A finished task cannot be cancelled.
    pub async fn cancel_task(&self, actor: &Actor, id: TaskId) -> Result<Task> {
        let t = self.task(id).await?;
        if t.status.is_final() {
            return Err(StoreError::conflict(
                "status",
                format!("the task is already {}", t.status),
            ));
        }
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query(
            "UPDATE tasks SET status = 'cancelled', finished_at = $3, updated_at = $3, lease_owner = NULL, lease_expires_at = NULL \
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending'",
        )
        .bind(self.ws_str())
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            sqlx::query("UPDATE tasks SET cancel_requested = 1, updated_at = $3 WHERE workspace_id = $1 AND id = $2 AND status = 'in_progress'")
                .bind(self.ws_str())
                .bind(id.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let details = serde_json::json!({ "kind": t.kind.as_str(), "was": t.status.as_str() });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "task.cancel", format!("task:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        self.task(id).await
    }
}

impl Store {
    /// Claims the next runnable task of one of `kinds` for `owner`, leasing it until
    /// `now + lease`. Runnable: pending and due, or in progress with an expired lease.
    pub async fn claim_task(
        &self,
        owner: &str,
        kinds: &[&str],
        lease: std::time::Duration,
    ) -> Result<Option<ClaimedTask>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let now = ms(self.env.now());
        let until = now + lease.as_millis() as i64;
        let kind_params: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 4)).collect();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE tasks SET status = 'in_progress', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, \
             started_at = COALESCE(started_at, $3), updated_at = $3 \
             WHERE id = (SELECT id FROM tasks WHERE ((status = 'pending' AND run_at <= $3) OR (status = 'in_progress' AND lease_expires_at < $3)) \
             AND kind IN ({}) ORDER BY run_at, id LIMIT 1{lock}) RETURNING *",
            kind_params.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(owner).bind(until).bind(now);
        for k in kinds {
            q = q.bind(*k);
        }
        let row = match self.backend {
            Backend::Sqlite => {
                let mut tx = self.begin_write().await?;
                let row = q.fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                row
            }
            Backend::Postgres => q.fetch_optional(&self.pool).await?,
        };
        row.map(|r| {
            Ok(ClaimedTask {
                task: task_from_row(&r)?,
                owner: owner.to_string(),
            })
        })
        .transpose()
    }

    /// Extends the lease. Returns whether cancellation was requested; `Err(Conflict)` when
    /// the lease is no longer ours.
    pub async fn heartbeat(&self, c: &ClaimedTask, lease: std::time::Duration) -> Result<bool> {
        let now = ms(self.env.now());
        let row = sqlx::query(
            "UPDATE tasks SET lease_expires_at = $3, updated_at = $4 WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress' RETURNING cancel_requested",
        )
        .bind(c.task.id.to_string())
        .bind(&c.owner)
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::conflict("lease", LEASE_LOST))?;
        Ok(row.try_get::<i64, _>("cancel_requested")? != 0)
    }

    pub async fn task_progress(
        &self,
        c: &ClaimedTask,
        done: i64,
        total: Option<i64>,
        message: Option<&str>,
    ) -> Result<()> {
        let n = sqlx::query(
            "UPDATE tasks SET progress_done = $3, progress_total = $4, progress_message = $5, updated_at = $6 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'",
        )
        .bind(c.task.id.to_string())
        .bind(&c.owner)
        .bind(done)
        .bind(total)
        .bind(message)
        .bind(ms(self.env.now()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::conflict("lease", LEASE_LOST));
        }
        Ok(())
    }

    pub async fn task_log(
        &self,
        task: &Task,
        level: castellan_domain::tasks::LogLevel,
        message: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO task_logs (workspace_id, task_id, at, level, message) VALUES ($1, $2, $3, $4, $5)")
            .bind(task.workspace_id.to_string())
            .bind(task.id.to_string())
            .bind(ms(self.env.now()))
            .bind(level.as_str())
            .bind(message)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves a held task to a final status (or back to pending for a retry at `retry_at`),
    /// and records the outcome in the audit log, in one transaction. Fails with a conflict
    /// when the lease is no longer ours, so a task is finished by one worker only.
    pub async fn finish_task(&self, c: &ClaimedTask, end: TaskEnd) -> Result<()> {
        let now = ms(self.env.now());
        let t = &c.task;
        let mut tx = self.begin_write().await?;
        let (status, result, error, run_at, finished, attempts_delta) = match &end {
            TaskEnd::Completed(r) => ("completed", Some(r.to_string()), None, None, Some(now), 0),
            TaskEnd::Failed(e) => ("failed", None, Some(e.clone()), None, Some(now), 0),
            TaskEnd::Cancelled => ("cancelled", None, None, None, Some(now), 0),
            TaskEnd::Retry { error, at } => {
                ("pending", None, Some(error.clone()), Some(ms(*at)), None, 0)
            }
            // Shutdown hands the task back without counting the interrupted attempt.
            TaskEnd::Released => ("pending", None, None, Some(now), None, 1),
            // Waiting for another task does not use an attempt either.
            TaskEnd::Deferred { at } => ("pending", None, None, Some(ms(*at)), None, 1),
        };
        let n = sqlx::query(
            "UPDATE tasks SET status = $3, result = COALESCE($4, result), error = $5, run_at = COALESCE($6, run_at), finished_at = $7, \
             attempts = attempts - $8, lease_owner = NULL, lease_expires_at = NULL, updated_at = $9 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'",
        )
        .bind(t.id.to_string())
        .bind(&c.owner)
        .bind(status)
        .bind(result)
        .bind(error.clone())
        .bind(run_at)
        .bind(finished)
        .bind(attempts_delta)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::conflict("lease", LEASE_LOST));
        }
        if matches!(
            end,
            TaskEnd::Completed(_) | TaskEnd::Failed(_) | TaskEnd::Cancelled
        ) {
            let actor = Actor::Automation {
                name: "worker".into(),
            };
            let ev = NewAuditEvent {
                actor,
                action: format!("task.{status}"),
                target: format!("task:{}", t.id),
                outcome: if status == "failed" {
                    Outcome::Failure
                } else {
                    Outcome::Success
                },
                details: serde_json::json!({ "kind": t.kind.as_str(), "attempts": t.attempts, "error": error }),
            };
            append(&mut tx, &self.env, t.workspace_id, ev).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Counts tasks by status across all workspaces (for metrics).
    pub async fn task_counts(&self) -> Result<Vec<(TaskStatus, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((get_parsed(r, "status")?, r.try_get("n")?)))
            .collect()
    }

    /// Looks a task up in any workspace; for the worker and operator CLI only.
    pub async fn task_any_workspace(&self, id: TaskId) -> Result<Task> {
        let row = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("task"))?;
        task_from_row(&row)
    }

    pub fn ws_of(&self, t: &Task) -> WorkspaceId {
        t.workspace_id
    }
}

/// How a held task ends.
#[derive(Debug, Clone)]
pub enum TaskEnd {
    Completed(serde_json::Value),
    Failed(String),
    Cancelled,
    Retry {
        error: String,
        at: Timestamp,
    },
    Released,
    /// Run again at `at` without counting this attempt (what it needs is busy).
    Deferred {
        at: Timestamp,
    },
}
