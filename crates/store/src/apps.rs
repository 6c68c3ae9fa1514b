//! App integrations and what their checks imported (seats, assets, grants, partners). How a
//! check writes is in `sync.rs`; readers here see an app's rows only once its first check has
//! completed, since a first check writes its rows as they arrive.

use castellan_domain::apps::Platform;
use castellan_domain::audit::{Actor, NewAuditEvent};
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
pub(crate) const VISIBLE: &str =
    "EXISTS (SELECT 1 FROM apps v WHERE v.id = $2 AND v.last_check_at IS NOT NULL)";
/// [`VISIBLE`], and the app `$2` is of workspace `$1`: for reads that leave out the row's own
/// `workspace_id` (to be answered from an index without it).
const VISIBLE_IN_WS: &str = "EXISTS (SELECT 1 FROM apps v WHERE v.id = $2 AND v.workspace_id = $1 AND v.last_check_at IS NOT NULL)";

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: AppId,
    pub platform: Platform,
    pub label: String,
    pub business_id: String,
    /// `sso` or `password`.
    pub login_method: castellan_domain::apps::LoginMethod,
    pub automation_account_id: AutomationAccountId,
    pub api_base_url: Option<String>,
    pub status: castellan_domain::apps::AppStatus,
    pub status_message: Option<String>,
    /// When the last check for updates completed; `None` until the first one has (and until
    /// then the app shows no imported rows).
    pub last_check_at: Option<Timestamp>,
    pub next_check_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The directory version its seats were last matched against.
    pub matched_version: Option<i64>,
    /// The platform user the automation account acts as (its own seat), once connected.
    pub automation_user_id: Option<String>,
    /// When people's saved passwords for it are rotated (none: never).
    pub rotation: Option<castellan_domain::passwords::Rotation>,
}

#[derive(Debug, Clone)]
pub struct NewApp {
    pub platform: Platform,
    pub label: String,
    pub business_id: String,
    pub login_method: castellan_domain::apps::LoginMethod,
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
    pub kind: castellan_domain::platform::SeatKind,
    pub state: castellan_domain::apps::SeatState,
    pub identity_id: Option<IdentityId>,
    pub assets: i64,
    pub first_seen_at: Timestamp,
    /// `auto` or `manual` (a manual match, unmatch or exemption: checks leave it alone).
    pub match_source: Option<castellan_domain::apps::MatchSource>,
    pub exemption: Option<Exemption>,
    /// When Castellan removed it (and the platform confirmed).
    pub removed_at: Option<Timestamp>,
    /// The person it belongs to is deactivated in the directory: it awaits removal.
    pub deprovisioned: bool,
    /// A partner's user: the partner business it belongs to.
    pub partner_id: Option<String>,
    /// A partner's user matched by e-mail to a guest user of the workspace: their e-mail.
    pub guest_user: Option<String>,
}

impl Seat {
    /// What people call the seat: its display name, else e-mail, else platform username;
    /// the bare platform id only when the platform gives nothing else.
    pub fn name(&self) -> String {
        self.display_name
            .clone()
            .or_else(|| self.email.clone())
            .or_else(|| self.username.clone())
            .unwrap_or_else(|| self.user_id.clone())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exemption {
    pub reason: String,
    pub by: Option<String>,
    pub at: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

pub(crate) fn seat_from_row(r: &AnyRow) -> Result<Seat> {
    let reason: Option<String> = r.try_get("exempt_reason")?;
    let user_id: String = r.try_get("user_id")?;
    Ok(Seat {
        username: r.try_get("username")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        roles: serde_json::from_str(&r.try_get::<String, _>("roles")?).unwrap_or_default(),
        kind: get_parsed(r, "kind")?,
        state: {
            let raw: String = r.try_get("state")?;
            raw.parse()
                .map_err(|_| StoreError::Corrupt(format!("seat state {raw}")))?
        },
        identity_id: get_opt_id(r, "identity_id")?,
        assets: r.try_get("asset_count")?,
        first_seen_at: get_time(r, "first_seen_at")?,
        match_source: r
            .try_get::<Option<String>, _>("match_source")?
            .map(|m| {
                m.parse()
                    .map_err(|_| StoreError::Corrupt(format!("match source {m}")))
            })
            .transpose()?,
        exemption: match reason {
            Some(reason) => Some(Exemption {
                reason,
                by: r.try_get("exempt_by")?,
                at: get_opt_time(r, "exempt_at")?,
                until: get_opt_time(r, "exempt_until")?,
            }),
            None => None,
        },
        removed_at: get_opt_time(r, "removed_at")?,
        deprovisioned: r.try_get::<Option<i64>, _>("identity_active")? == Some(0),
        partner_id: castellan_domain::apps::split_partner_user_key(&user_id)
            .map(|(p, _)| p.to_string()),
        guest_user: r.try_get("guest_email")?,
        user_id,
    })
}

/// The columns of a seat as `seat_from_row` reads them (`s` the seat, `i` its identity). A
/// partner's user is matched to a guest user by e-mail as it is read, so inviting or revoking
/// a guest changes the match at once and a check writes nothing for it. A native partner
/// linked to a local partner (the same organization) matches only that partner's guests: the
/// same address among another partner's guests is someone else's seat to explain.
pub(crate) const SEAT_COLUMNS: &str = "s.*, i.active AS identity_active, \
    (SELECT COUNT(*) FROM app_grants g WHERE g.app_id = s.app_id AND g.holder = 'member:' || s.user_id AND g.vanished_at IS NULL) AS asset_count, \
    COALESCE((SELECT MIN(p.email) FROM seat_guests sg JOIN people p ON p.id = sg.person_id WHERE sg.app_id = s.app_id AND sg.user_id = s.user_id), \
    (SELECT MIN(p.email) FROM people p WHERE s.kind = 'partner_user' AND p.workspace_id = s.workspace_id AND p.role = 'guest' \
     AND p.disabled = 0 AND p.email_canonical = LOWER(s.email) \
     AND (NOT EXISTS (SELECT 1 FROM native_partner_links l WHERE l.app_id = s.app_id AND s.user_id LIKE 'partner:' || l.partner_id || ':%') \
          OR EXISTS (SELECT 1 FROM native_partner_links l JOIN local_partner_people lp ON lp.partner_id = l.local_partner_id \
                     WHERE l.app_id = s.app_id AND s.user_id LIKE 'partner:' || l.partner_id || ':%' AND lp.person_id = p.id AND lp.role <> 'host_admin')))) AS guest_email";

/// Seat, asset and partner totals of an app, per tab for seats (for app cards).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppCounts {
    pub tabs: Vec<(String, i64)>,
    pub assets: i64,
    pub partners: i64,
}

fn app_from_row(r: &AnyRow) -> Result<App> {
    Ok(App {
        id: get_id(r, "id")?,
        platform: get_parsed(r, "platform")?,
        label: r.try_get("label")?,
        business_id: r.try_get("business_id")?,
        login_method: get_parsed(r, "login_method")?,
        automation_account_id: get_id(r, "automation_account_id")?,
        api_base_url: r.try_get("api_base_url")?,
        status: {
            let raw: String = r.try_get("status")?;
            raw.parse()
                .map_err(|_| StoreError::Corrupt(format!("app status {raw}")))?
        },
        status_message: r.try_get("status_message")?,
        last_check_at: get_opt_time(r, "last_check_at")?,
        next_check_at: get_opt_time(r, "next_check_at")?,
        created_at: get_time(r, "created_at")?,
        matched_version: r.try_get("matched_version")?,
        automation_user_id: r.try_get("automation_user_id")?,
        rotation: {
            let policy: Option<String> = r.try_get("rotation_policy")?;
            let days: Option<i64> = r.try_get("rotation_days")?;
            match policy {
                Some(p) => castellan_domain::passwords::Rotation::parse(&p, days)
                    .map_err(|_| StoreError::Corrupt(format!("rotation policy {p}")))?,
                None => None,
            }
        },
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
        .bind(a.login_method.as_str())
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
        status: castellan_domain::apps::AppStatus,
        message: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE apps SET status = $3, status_message = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(status.as_str())
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

    /// Seats of one tab (`onboarded`, `unmatched`, `exempted`, `partner_users`, `invited`: live
    /// seats in that state; `removed`: seats Castellan removed).
    pub async fn seats(
        &self,
        app: AppId,
        tab: castellan_domain::apps::Tab,
        query: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<Seat>> {
        // One LIKE over `search`, the three fields lower-cased and joined by newlines (a query
        // never holds one; migration 0027): a search matching few of 100,000 seats reads all.
        let q = query.map(|q| format!("%{}%", q.to_lowercase().replace(['%', '\n'], "")));
        let (which, state) = match tab {
            castellan_domain::apps::Tab::Removed => (
                "s.removed_at IS NOT NULL AND s.vanished_at IS NOT NULL AND $3 = $3",
                "",
            ),
            castellan_domain::apps::Tab::Seats(st) => {
                ("s.state = $3 AND s.vanished_at IS NULL", st.as_str())
            }
        };
        // On SQLite, whose LIKE and lower() both fold ASCII only, three LIKEs on the fields
        // match what one on `search` does without computing the virtual column a row (a
        // search matching none of 100,000 seats: 42 -> 27 ms p95 for the page).
        let matches = match self.store.backend {
            crate::Backend::Sqlite => {
                "(s.email LIKE $5 OR s.username LIKE $5 OR s.display_name LIKE $5)"
            }
            crate::Backend::Postgres => "s.search LIKE $5",
        };
        let rows = sqlx::query(&format!(
            "SELECT {SEAT_COLUMNS} FROM app_seats s LEFT JOIN identities i ON i.id = s.identity_id \
             WHERE s.workspace_id = $1 AND s.app_id = $2 AND {which} AND s.user_id > $4 AND {VISIBLE} \
             AND ($5 IS NULL OR {matches}) \
             ORDER BY s.user_id LIMIT $6"
        ))
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(state)
        .bind(cursor.unwrap_or(""))
        .bind(q)
        .bind(limit + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let mut items = rows.iter().map(seat_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_by_id(&mut items, limit, |s| s.user_id.clone()))
    }

    /// One live seat.
    pub async fn seat_by_id(&self, app: AppId, user_id: &str) -> Result<Option<Seat>> {
        let row = sqlx::query(&format!(
            "SELECT {SEAT_COLUMNS} FROM app_seats s LEFT JOIN identities i ON i.id = s.identity_id \
             WHERE s.workspace_id = $1 AND s.app_id = $2 AND s.user_id = $3 AND s.vanished_at IS NULL AND {VISIBLE}"
        ))
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(user_id)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(seat_from_row).transpose()
    }

    /// Seat counts per tab, and asset and partner counts, of several apps at once.
    pub async fn app_counts(
        &self,
        apps: &[AppId],
    ) -> Result<std::collections::HashMap<AppId, AppCounts>> {
        let mut out: std::collections::HashMap<AppId, AppCounts> = Default::default();
        if apps.is_empty() {
            return Ok(out);
        }
        // One query per app, each answered from indexes on `app_id` (the number of apps is
        // a page of app cards, not a number of rows). Removed seats are counted as the Removed
        // tab lists them (vanished, with `removed_at`), so each tab's count is its rows.
        // Seats per tab from the counters triggers keep (`app_seat_counts`, migration 0026):
        // counting 100,000 seats took 20–55 ms on PostgreSQL, on every App details page. The
        // app's workspace is checked on the app's row.
        let sql = format!(
            "SELECT tab AS state, n FROM app_seat_counts WHERE app_id = $2 AND n > 0 AND {VISIBLE_IN_WS} \
             UNION ALL SELECT '#assets', COUNT(*) FROM app_assets WHERE workspace_id = $1 AND app_id = $2 AND vanished_at IS NULL AND {VISIBLE} \
             UNION ALL SELECT '#partners', COUNT(*) FROM app_partners WHERE workspace_id = $1 AND app_id = $2 AND vanished_at IS NULL AND {VISIBLE}"
        );
        for app in apps {
            let rows = sqlx::query(&sql)
                .bind(self.ws_str())
                .bind(app.to_string())
                .fetch_all(&self.store.pool)
                .await?;
            let c = out.entry(*app).or_default();
            for r in &rows {
                let state: String = r.try_get("state")?;
                let n: i64 = r.try_get("n")?;
                match state.as_str() {
                    "#assets" => c.assets = n,
                    "#partners" => c.partners = n,
                    _ => c.tabs.push((state, n)),
                }
            }
            c.tabs.sort();
        }
        Ok(out)
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
}

impl crate::Store {
    /// Enqueues a scheduled check for every app whose next check is due, moving its next check
    /// to `next(now)`. Each app is claimed with a conditional update, so several processes
    /// running the scheduler never enqueue the same check twice. Returns the tasks enqueued.
    pub async fn enqueue_due_checks(
        &self,
        mut next: impl FnMut() -> Timestamp,
    ) -> Result<Vec<TaskId>> {
        use castellan_domain::tasks::TaskTrigger;
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
                let mut t = crate::NewTask::of(
                    &castellan_domain::tasks::AppCheck {
                        app_id: app,
                        full: false,
                    },
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

/// What removing an app deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RemovedApp {
    pub seats: u64,
    pub assets: u64,
    pub grants: u64,
    pub partners: u64,
    pub reports: u64,
    /// Pending tasks of the app, cancelled.
    pub tasks_cancelled: u64,
}

impl Scoped<'_> {
    /// Removes an app integration and everything its checks imported, in one transaction. The
    /// platform is not called; the automation account stays, and people's account cards stay
    /// (unlinked from the app). Refused while a task of the app is running: removing under a
    /// check would race its writes. Pending tasks of the app are cancelled.
    pub async fn remove_app(&self, actor: &Actor, id: AppId, reason: &str) -> Result<RemovedApp> {
        let app = self.app(id).await?;
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        let running: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE workspace_id = $1 AND app_id = $2 AND status = 'in_progress'",
        )
        .bind(self.ws_str())
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if running > 0 {
            return Err(StoreError::conflict(
                "app",
                "a task of this app is running; wait until it ends (see Automation), then remove the app",
            ));
        }
        let mut removed = RemovedApp::default();
        let app_str = id.to_string();
        for table in [
            "app_seats",
            "app_assets",
            "app_grants",
            "app_partners",
            "check_reports",
        ] {
            // Grants carry no workspace (migration 0030): the app's row says whose they are.
            let ws = if table == "app_grants" {
                "EXISTS (SELECT 1 FROM apps WHERE id = $2 AND workspace_id = $1)"
            } else {
                "workspace_id = $1"
            };
            let n = sqlx::query(&format!("DELETE FROM {table} WHERE {ws} AND app_id = $2"))
                .bind(self.ws_str())
                .bind(&app_str)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            match table {
                "app_seats" => removed.seats = n,
                "app_assets" => removed.assets = n,
                "app_grants" => removed.grants = n,
                "app_partners" => removed.partners = n,
                _ => removed.reports = n,
            }
        }
        for table in ["app_asset_holders", "app_digests", "app_seat_counts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE app_id = $1"))
                .bind(&app_str)
                .execute(&mut *tx)
                .await?;
        }
        // People's cards outlive the app: they hold the person's own credentials.
        sqlx::query(
            "UPDATE account_cards SET app_id = NULL, updated_at = $3 WHERE workspace_id = $1 AND app_id = $2",
        )
        .bind(self.ws_str())
        .bind(&app_str)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        removed.tasks_cancelled = sqlx::query(
            "UPDATE tasks SET status = 'cancelled', error = 'the app was removed', finished_at = $3, updated_at = $3 \
             WHERE workspace_id = $1 AND app_id = $2 AND status = 'pending'",
        )
        .bind(self.ws_str())
        .bind(&app_str)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // The snapshot tables have no foreign key on PostgreSQL (migration 0028: checks write
        // them in bulk), so their rows go here rather than by cascade.
        for t in [
            "app_grants",
            "app_asset_holders",
            "app_assets",
            "app_partners",
            "app_seats",
        ] {
            sqlx::query(&format!("DELETE FROM {t} WHERE app_id = $1"))
                .bind(&app_str)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM apps WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(&app_str)
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({
            "platform": app.platform.as_str(),
            "label": app.label,
            "business_id": app.business_id,
            "reason": reason,
            "removed": removed,
        });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "app.delete", format!("app:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        Ok(removed)
    }
}
