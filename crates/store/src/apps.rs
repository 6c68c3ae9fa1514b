//! App integrations and what their checks imported (seats, assets, grants, partners). How a
//! check writes is in `sync.rs`; readers here see an app's rows only once its first check has
//! completed, since a first check writes its rows as they arrive.

use castellan_domain::apps::Platform;
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::snapshot::Table;
use castellan_domain::{AppId, AutomationAccountId, IdentityId, TaskId, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::append;
use crate::people::page_by_id;
use crate::{
    Page, Result, Scoped, StoreError, get_id, get_opt_id, get_opt_time, get_parsed, get_time, ms,
    unique_as,
};

/// SQL condition on `$2` (the app id): the app has a completed check, so its rows are visible.
const VISIBLE: &str =
    "EXISTS (SELECT 1 FROM apps v WHERE v.id = $2 AND v.last_check_at IS NOT NULL)";

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: AppId,
    pub platform: Platform,
    pub label: String,
    pub business_id: String,
    /// `sso` or `password`.
    pub login_method: String,
    pub automation_account_id: AutomationAccountId,
    pub api_base_url: Option<String>,
    /// `pending`, `connected` or `error`.
    pub status: String,
    pub status_message: Option<String>,
    /// When the last check for updates completed; `None` until the first one has (and until
    /// then the app shows no imported rows).
    pub last_check_at: Option<Timestamp>,
    pub next_check_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The directory version its seats were last matched against.
    pub matched_version: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewApp {
    pub platform: Platform,
    pub label: String,
    pub business_id: String,
    pub login_method: String,
    pub automation_account_id: AutomationAccountId,
    pub api_base_url: Option<String>,
    /// First automatic check for updates.
    pub next_check_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    pub user_id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub kind: String,
    /// `onboarded`, `unmatched`, `exempted`, `guest` or `invited`.
    pub state: String,
    pub identity_id: Option<IdentityId>,
    pub assets: i64,
    pub first_seen_at: Timestamp,
}

/// What one check changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckSummary {
    pub seats_new: u64,
    pub seats_changed: u64,
    pub seats_vanished: u64,
    pub assets_new: u64,
    pub assets_changed: u64,
    pub assets_vanished: u64,
    pub grants_new: u64,
    pub grants_changed: u64,
    pub grants_vanished: u64,
    pub partners_new: u64,
    pub partners_changed: u64,
    pub partners_vanished: u64,
    /// Seat, asset, grant and partner rows inserted or updated.
    pub rows_written: u64,
    /// Seats whose match (state or person) changed.
    pub rematched: u64,
}

impl CheckSummary {
    pub(crate) fn add(&mut self, t: Table, new: u64, changed: u64, vanished: u64) {
        let (n, c, v) = match t {
            Table::Seats => (
                &mut self.seats_new,
                &mut self.seats_changed,
                &mut self.seats_vanished,
            ),
            Table::Assets => (
                &mut self.assets_new,
                &mut self.assets_changed,
                &mut self.assets_vanished,
            ),
            Table::Grants => (
                &mut self.grants_new,
                &mut self.grants_changed,
                &mut self.grants_vanished,
            ),
            Table::Partners => (
                &mut self.partners_new,
                &mut self.partners_changed,
                &mut self.partners_vanished,
            ),
        };
        *n += new;
        *c += changed;
        *v += vanished;
    }
}

fn app_from_row(r: &AnyRow) -> Result<App> {
    Ok(App {
        id: get_id(r, "id")?,
        platform: get_parsed(r, "platform")?,
        label: r.try_get("label")?,
        business_id: r.try_get("business_id")?,
        login_method: r.try_get("login_method")?,
        automation_account_id: get_id(r, "automation_account_id")?,
        api_base_url: r.try_get("api_base_url")?,
        status: r.try_get("status")?,
        status_message: r.try_get("status_message")?,
        last_check_at: get_opt_time(r, "last_check_at")?,
        next_check_at: get_opt_time(r, "next_check_at")?,
        created_at: get_time(r, "created_at")?,
        matched_version: r.try_get("matched_version")?,
    })
}

impl Scoped<'_> {
    pub async fn create_app(&self, actor: &Actor, a: &NewApp) -> Result<App> {
        self.automation_account(a.automation_account_id).await?;
        let id = AppId::new(&self.store.env);
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO apps (id, workspace_id, platform, label, label_canonical, business_id, login_method, automation_account_id, api_base_url, status, next_check_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $11, $10, $10)",
        )
        .bind(id.to_string())
        .bind(self.ws_str())
        .bind(a.platform.as_str())
        .bind(&a.label)
        .bind(a.label.to_lowercase())
        .bind(&a.business_id)
        .bind(&a.login_method)
        .bind(a.automation_account_id.to_string())
        .bind(a.api_base_url.clone())
        .bind(now)
        .bind(a.next_check_at.map(ms))
        .execute(&mut *tx)
        .await
        .map_err(unique_as("label", "an app with this label already exists"))?;
        let details = serde_json::json!({ "platform": a.platform.as_str(), "label": a.label, "business_id": a.business_id });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "app.create", format!("app:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        self.app(id).await
    }

    pub async fn app(&self, id: AppId) -> Result<App> {
        let row = sqlx::query("SELECT * FROM apps WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("app"))?;
        app_from_row(&row)
    }

    pub async fn apps(&self, cursor: Option<AppId>, limit: i64) -> Result<Page<App>> {
        let rows = sqlx::query(
            "SELECT * FROM apps WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(self.ws_str())
        .bind(cursor.map(|c| c.to_string()).unwrap_or_default())
        .bind(limit + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let mut items = rows.iter().map(app_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_by_id(&mut items, limit, |a| a.id.to_string()))
    }

    pub async fn set_app_status(
        &self,
        id: AppId,
        status: &str,
        message: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE apps SET status = $3, status_message = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(status)
            .bind(message)
            .bind(ms(self.store.env.now()))
            .execute(&self.store.pool)
            .await?;
        Ok(())
    }

    /// Holds the app for `task` (a check, or a change pushed to the platform) so that no other
    /// task of the app runs beside it. The app is free when no task holds it or its holder no
    /// longer runs under a live lease (it finished, failed, or its worker died). Returns false
    /// when another task holds it.
    pub async fn acquire_app(&self, app: AppId, task: TaskId) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE apps SET busy_task = $3 WHERE workspace_id = $1 AND id = $2 AND (busy_task IS NULL OR busy_task = $3 OR NOT EXISTS \
             (SELECT 1 FROM tasks t WHERE t.id = apps.busy_task AND t.status = 'in_progress' AND t.lease_expires_at >= $4))",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(task.to_string())
        .bind(ms(self.store.env.now()))
        .execute(&self.store.pool)
        .await?
        .rows_affected();
        if n == 0 {
            self.app(app).await?;
        }
        Ok(n == 1)
    }

    /// Lets go of an app held by `task`.
    pub async fn release_app(&self, app: AppId, task: TaskId) -> Result<()> {
        sqlx::query("UPDATE apps SET busy_task = NULL WHERE workspace_id = $1 AND id = $2 AND busy_task = $3")
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(task.to_string())
            .execute(&self.store.pool)
            .await?;
        Ok(())
    }

    /// Seats of one tab (`onboarded`, `unmatched`, `exempted`, `guest`, `invited`), live only.
    pub async fn seats(
        &self,
        app: AppId,
        state: &str,
        query: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<Seat>> {
        let q = query.map(|q| format!("%{}%", q.to_lowercase().replace('%', "")));
        let rows = sqlx::query(&format!(
            "SELECT s.*, (SELECT COUNT(*) FROM app_grants g WHERE g.app_id = s.app_id AND g.holder = 'member:' || s.user_id AND g.vanished_at IS NULL) AS asset_count \
             FROM app_seats s WHERE s.workspace_id = $1 AND s.app_id = $2 AND s.state = $3 AND s.vanished_at IS NULL AND s.user_id > $4 AND {VISIBLE} \
             AND ($5 IS NULL OR LOWER(COALESCE(s.email, '')) LIKE $5 OR LOWER(COALESCE(s.username, '')) LIKE $5 OR LOWER(COALESCE(s.display_name, '')) LIKE $5) \
             ORDER BY s.user_id LIMIT $6"
        ).replace("{VISIBLE}", VISIBLE))
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(state)
        .bind(cursor.unwrap_or(""))
        .bind(q)
        .bind(limit + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(Seat {
                    user_id: r.try_get("user_id")?,
                    username: r.try_get("username")?,
                    email: r.try_get("email")?,
                    display_name: r.try_get("display_name")?,
                    roles: serde_json::from_str(&r.try_get::<String, _>("roles")?)
                        .unwrap_or_default(),
                    kind: r.try_get("kind")?,
                    state: r.try_get("state")?,
                    identity_id: get_opt_id(r, "identity_id")?,
                    assets: r.try_get("asset_count")?,
                    first_seen_at: get_time(r, "first_seen_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page_by_id(&mut items, limit, |s| s.user_id.clone()))
    }

    /// Live seats per state.
    pub async fn seat_counts(&self, app: AppId) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(&format!("SELECT state, COUNT(*) AS n FROM app_seats WHERE workspace_id = $1 AND app_id = $2 AND vanished_at IS NULL AND {VISIBLE} GROUP BY state ORDER BY state"))
            .bind(self.ws_str())
            .bind(app.to_string())
            .fetch_all(&self.store.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }

    /// The latest check reports of an app, newest first.
    pub async fn check_reports(
        &self,
        app: AppId,
        limit: i64,
    ) -> Result<Vec<(Timestamp, serde_json::Value, serde_json::Value)>> {
        let rows = sqlx::query("SELECT created_at, summary, changes FROM check_reports WHERE workspace_id = $1 AND app_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3")
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(limit)
            .fetch_all(&self.store.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_time(r, "created_at")?,
                    crate::get_json(r, "summary")?,
                    crate::get_json(r, "changes")?,
                ))
            })
            .collect()
    }
}

impl crate::Store {
    /// Enqueues a scheduled check for every app whose next check is due, moving its next check
    /// to `next(now)`. Each app is claimed with a conditional update, so several processes
    /// running the scheduler never enqueue the same check twice. Returns the tasks enqueued.
    pub async fn enqueue_due_checks(
        &self,
        mut next: impl FnMut() -> Timestamp,
    ) -> Result<Vec<TaskId>> {
        use castellan_domain::tasks::{TaskKind, TaskTrigger};
        let now = ms(self.env.now());
        let due = sqlx::query("SELECT id, workspace_id, next_check_at FROM apps WHERE next_check_at IS NOT NULL AND next_check_at <= $1 ORDER BY next_check_at LIMIT 100")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for row in due {
            let app: AppId = get_id(&row, "id")?;
            let ws: castellan_domain::WorkspaceId = get_id(&row, "workspace_id")?;
            let was: i64 = row.try_get("next_check_at")?;
            let mut tx = self.begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE apps SET next_check_at = $3 WHERE id = $1 AND next_check_at = $2",
            )
            .bind(app.to_string())
            .bind(was)
            .bind(ms(next()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                let mut t = crate::NewTask::new(
                    TaskKind::from_static("app.check"),
                    serde_json::json!({ "app_id": app.to_string() }),
                    TaskTrigger::Schedule,
                );
                t.app_id = Some(app);
                let actor = Actor::Automation {
                    name: "scheduler".into(),
                };
                out.push(crate::tasks::insert_task(&mut tx, &self.env, ws, &actor, t, now).await?);
            }
            tx.commit().await?;
        }
        Ok(out)
    }
}
