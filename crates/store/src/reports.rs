//! Deprovisioning reports: reading them, a report's application (started and finished with
//! each seat's outcome), dismissal, and who hears of them.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{AppId, TaskId, Timestamp};
use sqlx::Row as _;

use crate::audit::append;
use crate::{Result, Scoped, StoreError, get_id, get_json, get_parsed, get_time};

/// A seat of someone deactivated in the directory, awaiting removal: what a report lists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PendingRemoval {
    /// The seat.
    pub user_id: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub roles: Vec<String>,
    /// The deactivated identity it is linked to (`guest:{person id}` for a revoked guest user
    /// it was invited as), and that person's name and e-mail.
    pub identity_id: String,
    pub person: String,
    pub person_email: String,
}

/// A check report, with its deprovisioning part.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub id: String,
    pub app_id: AppId,
    pub task_id: Option<String>,
    pub created_at: Timestamp,
    pub summary: castellan_domain::reports::ReportSummary,
    pub changes: castellan_domain::reports::ReportChanges,
    /// Seats of deactivated people: `{user_id, email, roles, identity_id, person}` each.
    pub pending_removal: Vec<PendingRemoval>,
    pub status: castellan_domain::reports::ReportStatus,
    pub resolution: Option<castellan_domain::reports::Resolution>,
    pub apply_task: Option<String>,
}

fn report_from_row(r: &sqlx::any::AnyRow) -> Result<Report> {
    let resolution: Option<String> = r.try_get("resolution")?;
    Ok(Report {
        id: r.try_get("id")?,
        app_id: get_id(r, "app_id")?,
        task_id: r.try_get("task_id")?,
        created_at: get_time(r, "created_at")?,
        summary: {
            let raw: String = r.try_get("summary")?;
            serde_json::from_str(&raw)
                .map_err(|e| StoreError::Corrupt(format!("report summary: {e}")))?
        },
        changes: {
            let raw: String = r.try_get("changes")?;
            serde_json::from_str(&raw)
                .map_err(|e| StoreError::Corrupt(format!("report changes: {e}")))?
        },
        pending_removal: serde_json::from_value(get_json(r, "pending_removal")?)
            .map_err(|e| StoreError::Corrupt(format!("pending removals: {e}")))?,
        status: get_parsed(r, "status")?,
        resolution: resolution
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("resolution: {e}")))?,
        apply_task: r.try_get("apply_task")?,
    })
}

/// Brings an app's open report up to date with the seats awaiting removal now: the newest
/// open report lists exactly `pending` (closed when that is empty), and any older open report
/// (from before one report per app) is closed. Returns the open report left, if any.
pub(crate) async fn refresh_open_reports(
    conn: &mut sqlx::AnyConnection,
    app: &str,
    pending: &[PendingRemoval],
) -> Result<Option<String>> {
    let open: Vec<String> = sqlx::query(
        "SELECT id FROM check_reports WHERE app_id = $1 AND status = 'open' ORDER BY created_at DESC, id DESC",
    )
    .bind(app)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect::<std::result::Result<_, _>>()?;
    let mut kept = None;
    for (i, id) in open.iter().enumerate() {
        if i == 0 && !pending.is_empty() {
            sqlx::query("UPDATE check_reports SET pending_removal = $2 WHERE id = $1")
                .bind(id)
                .bind(serde_json::to_string(pending).expect("pending removals serialise"))
                .execute(&mut *conn)
                .await?;
            kept = Some(id.clone());
        } else {
            sqlx::query(
                "UPDATE check_reports SET status = 'closed', pending_removal = '[]' WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(kept)
}

/// A seat is gone (removed, or exempted): it leaves the app's open report, which closes when
/// nothing is left in it.
pub(crate) async fn leave_open_report(
    conn: &mut sqlx::AnyConnection,
    app: &str,
    user_id: &str,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT id, pending_removal FROM check_reports WHERE app_id = $1 AND status = 'open'",
    )
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        let id: String = r.try_get("id")?;
        let mut list: Vec<PendingRemoval> = serde_json::from_value(get_json(r, "pending_removal")?)
            .map_err(|e| StoreError::Corrupt(format!("pending removals: {e}")))?;
        let before = list.len();
        list.retain(|p| p.user_id != user_id);
        if list.len() == before {
            continue;
        }
        sqlx::query("UPDATE check_reports SET pending_removal = $2, status = $3 WHERE id = $1")
            .bind(&id)
            .bind(serde_json::to_string(&list).expect("pending removals serialise"))
            .bind(if list.is_empty() { "closed" } else { "open" })
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Scoped<'_> {
    /// One report of an app.
    pub async fn report(&self, app: AppId, id: &str) -> Result<Report> {
        let r = sqlx::query(
            "SELECT * FROM check_reports WHERE workspace_id = $1 AND app_id = $2 AND id = $3",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(id)
        .fetch_optional(&self.store.pool)
        .await?
        .ok_or(StoreError::NotFound("report"))?;
        report_from_row(&r)
    }

    /// The latest reports of an app, newest first.
    pub async fn reports(&self, app: AppId, limit: i64) -> Result<Vec<Report>> {
        let rows = sqlx::query("SELECT * FROM check_reports WHERE workspace_id = $1 AND app_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3")
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(limit)
            .fetch_all(&self.store.pool)
            .await?;
        rows.iter().map(report_from_row).collect()
    }

    /// The app's open report, if it has one (there is at most one).
    pub async fn open_report(&self, app: AppId) -> Result<Option<Report>> {
        let r = sqlx::query("SELECT * FROM check_reports WHERE workspace_id = $1 AND app_id = $2 AND status = 'open' ORDER BY created_at DESC, id DESC LIMIT 1")
            .bind(self.ws_str())
            .bind(app.to_string())
            .fetch_optional(&self.store.pool)
            .await?;
        r.as_ref().map(report_from_row).transpose()
    }

    /// Marks an open report as being applied by `task`. Fails when it is not open (applied,
    /// dismissed, or already being applied), so applying twice does nothing.
    pub async fn start_report(
        &self,
        actor: &Actor,
        app: AppId,
        id: &str,
        task: TaskId,
        seats: &[String],
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query("UPDATE check_reports SET status = 'applying', apply_task = $4 WHERE workspace_id = $1 AND app_id = $2 AND id = $3 AND status = 'open'")
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(id)
            .bind(task.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::conflict(
                "status",
                "the report is not open: it was applied or dismissed already",
            ));
        }
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "report.apply",
                format!("app:{app}/report:{id}"),
                serde_json::json!({ "seats": seats, "task": task.to_string() }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the outcome of applying a report: `applied`, or `partially_applied` with each
    /// failure and its reason.
    pub async fn finish_report(
        &self,
        app: AppId,
        id: &str,
        outcomes: &[castellan_domain::changes::StepOutcome],
    ) -> Result<String> {
        let failed = outcomes
            .iter()
            .any(|o| o.outcome == castellan_domain::changes::OutcomeKind::Failed);
        let status = if failed {
            "partially_applied"
        } else {
            "applied"
        };
        sqlx::query("UPDATE check_reports SET status = $4, resolution = $5 WHERE workspace_id = $1 AND app_id = $2 AND id = $3")
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(id)
            .bind(status)
            .bind(
                serde_json::to_string(&castellan_domain::reports::Resolution::Applied {
                    outcomes: outcomes.to_vec(),
                    at: self.store.env.now(),
                })
                .expect("a resolution serialises"),
            )
            .execute(&self.store.pool)
            .await?;
        Ok(status.to_string())
    }

    /// Dismisses an open report with a reason.
    pub async fn dismiss_report(
        &self,
        actor: &Actor,
        by: &str,
        app: AppId,
        id: &str,
        reason: &str,
    ) -> Result<Report> {
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query("UPDATE check_reports SET status = 'dismissed', resolution = $4 WHERE workspace_id = $1 AND app_id = $2 AND id = $3 AND status = 'open'")
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(id)
            .bind(
                serde_json::to_string(&castellan_domain::reports::Resolution::Dismissed {
                    dismissed_by: by.to_string(),
                    reason: reason.to_string(),
                    at: self.store.env.now(),
                })
                .expect("a resolution serialises"),
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            self.report(app, id).await?;
            return Err(StoreError::conflict(
                "status",
                "only an open report can be dismissed",
            ));
        }
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "report.dismiss",
                format!("app:{app}/report:{id}"),
                serde_json::json!({ "reason": reason }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.report(app, id).await
    }

    /// Who hears of an app's deprovisioning reports: the workspace's Owners and Admins, and
    /// the app's Owners (people with an Owner account card on it).
    pub async fn report_recipients(&self, app: AppId) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT email FROM people WHERE workspace_id = $1 AND role IN ('owner', 'admin') AND disabled = 0 \
             UNION SELECT i.primary_email FROM account_cards c JOIN identities i ON i.id = c.identity_id \
             WHERE c.workspace_id = $1 AND c.app_id = $2 AND c.app_role = 'owner' AND i.active = 1",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .fetch_all(&self.store.pool)
        .await?;
        let mut out: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>("email"))
            .collect::<std::result::Result<_, _>>()?;
        out.sort_by_key(|e| e.to_lowercase());
        out.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Ok(out)
    }
}
