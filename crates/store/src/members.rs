//! Managing an app's seats: what planning a change reads, recording a change the platform
//! confirmed (rows and digests together, with its audit event), manual matches, exemptions,
//! deprovisioning reports and the outbox.

use castellan_domain::audit::{Actor, NewAuditEvent, Outcome};
use castellan_domain::changes::{AppFacts, Change, SeatView, Step};
use castellan_domain::platform::{Applied, Holder};
use castellan_domain::roles::admin_role;
use castellan_domain::snapshot::{Digests, Row, Table, holder_key};
use castellan_domain::{AppId, IdentityId, TaskId, Timestamp};
use sqlx::{AnyConnection, Row as _};

use crate::apps::{App, Seat};
use crate::audit::append;
use crate::check::holders::insert_listed;
use crate::check::rows::{update_rows, vanish_rows};
use crate::sql::json_rows;
use crate::{
    Page, Result, Scoped, StoreError, get_id, get_json, get_opt_time, get_parsed, get_time, ms,
};

pub use castellan_domain::apps::AppRole;

/// A seat of someone deactivated in the directory, awaiting removal: what a report lists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PendingRemoval {
    /// The seat.
    pub user_id: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub roles: Vec<String>,
    /// The deactivated identity it is linked to, and that person's name and e-mail.
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
    pub changes: serde_json::Value,
    /// Seats of deactivated people: `{user_id, email, roles, identity_id, person}` each.
    pub pending_removal: Vec<PendingRemoval>,
    pub status: castellan_domain::reports::ReportStatus,
    pub resolution: Option<serde_json::Value>,
    pub apply_task: Option<String>,
}

/// An e-mail in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub id: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub related: Option<String>,
    pub status: castellan_domain::outbox::EmailStatus,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
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
        changes: get_json(r, "changes")?,
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

fn email_from_row(r: &sqlx::any::AnyRow) -> Result<Email> {
    Ok(Email {
        id: r.try_get("id")?,
        recipients: serde_json::from_str(&r.try_get::<String, _>("recipients")?)
            .unwrap_or_default(),
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        related: r.try_get("related")?,
        status: get_parsed(r, "status")?,
        error: r.try_get("error")?,
        created_at: get_time(r, "created_at")?,
        sent_at: get_opt_time(r, "sent_at")?,
    })
}

/// The stored (platform) row of a seat or grant, live or not.
async fn stored_row(
    conn: &mut AnyConnection,
    t: Table,
    app: &str,
    key: &[String],
) -> Result<Option<(Row, bool)>> {
    let (keys, fields) = (t.key_columns(), t.field_columns());
    let cond = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ${}", i + 2))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!(
        "SELECT {}, vanished_at FROM {} WHERE app_id = $1 AND {cond}",
        fields.join(", "),
        crate::check::rows::table_name(t)
    );
    let mut q = sqlx::query(&sql).bind(app.to_string());
    for k in key {
        q = q.bind(k.clone());
    }
    let Some(r) = q.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let mut f = Vec::with_capacity(fields.len());
    for c in fields {
        f.push(r.try_get::<Option<String>, _>(*c)?);
    }
    let live = r.try_get::<Option<i64>, _>("vanished_at")?.is_none();
    Ok(Some((
        Row {
            table: t,
            key: key.to_vec(),
            fields: f,
        },
        live,
    )))
}

/// Applies `remove` and `add` to a table's stored digests, keeping them true to the live
/// rows. Missing digests stay missing (the next check diffs that table in full).
async fn adjust_digests(
    conn: &mut AnyConnection,
    app: &str,
    t: Table,
    remove: &[Row],
    add: &[Row],
) -> Result<()> {
    if remove.is_empty() && add.is_empty() {
        return Ok(());
    }
    let row = sqlx::query("SELECT digests FROM app_digests WHERE app_id = $1 AND tbl = $2")
        .bind(app)
        .bind(t.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(mut d) = row
        .map(|r| r.try_get::<String, _>("digests"))
        .transpose()?
        .and_then(|s| Digests::decode(&s))
    else {
        return Ok(());
    };
    remove.iter().for_each(|r| d.remove(r));
    add.iter().for_each(|r| d.add(r));
    sqlx::query("UPDATE app_digests SET digests = $3 WHERE app_id = $1 AND tbl = $2")
        .bind(app)
        .bind(t.as_str())
        .bind(d.encode())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes one platform row as a check would: an update of the held row (live again), or a
/// new row first seen `now`.
async fn put_row(
    conn: &mut AnyConnection,
    backend: crate::Backend,
    ws: &str,
    app: &str,
    now: i64,
    held: bool,
    row: &Row,
) -> Result<()> {
    let rows = std::slice::from_ref(row);
    if held {
        update_rows(conn, backend, app, rows).await?;
    } else {
        insert_listed(conn, backend, ws, app, now, rows).await?;
    }
    Ok(())
}

fn audit_action(c: &Change) -> &'static str {
    match c {
        Change::RemoveMember { .. } => "member.remove",
        Change::SetRole { .. } => "member.set_role",
        Change::Grant { .. } => "member.grant",
        Change::Revoke { .. } => "member.revoke",
        Change::Invite { .. } => "member.invite",
        Change::CancelInvite { .. } => "member.cancel_invite",
    }
}

impl Scoped<'_> {
    /// What planning a change on `app` reads: the live seats named (by id or e-mail), with
    /// their permissions, and the app's facts for the guards.
    pub async fn plan_inputs(
        &self,
        app: &App,
        automation_email: &str,
        seat_ids: &[String],
        emails: &[String],
        asset_ids: &[String],
    ) -> Result<(Vec<SeatView>, AppFacts)> {
        let a = app.id.to_string();
        let p = &self.store.pool;
        let ids = serde_json::to_string(&seat_ids.iter().map(|s| [s]).collect::<Vec<_>>())
            .expect("ids serialise");
        let mails = serde_json::to_string(
            &emails
                .iter()
                .map(|s| [s.trim().to_lowercase()])
                .collect::<Vec<_>>(),
        )
        .expect("emails serialise");
        // By id through the primary key; by e-mail (invites only) with a scan, so the two are
        // asked apart: an OR of both would scan every seat for every plan.
        let by_id = sqlx::query(&format!(
            "SELECT s.user_id, s.email, s.username, s.roles, s.kind, s.state FROM app_seats s \
             WHERE s.app_id = $1 AND s.user_id IN (SELECT j.value->>0 FROM {}) AND s.workspace_id = $3 AND s.vanished_at IS NULL",
            json_rows(self.store.backend, 2),
        ))
        .bind(&a)
        .bind(ids)
        .bind(self.ws_str())
        .fetch_all(p)
        .await?;
        let by_mail = if emails.is_empty() {
            Vec::new()
        } else {
            sqlx::query(&format!(
                "SELECT s.user_id, s.email, s.username, s.roles, s.kind, s.state FROM app_seats s WHERE s.app_id = $1 AND s.workspace_id = $3 \
                 AND s.vanished_at IS NULL AND LOWER(s.email) IN (SELECT k.value->>0 FROM {})",
                crate::sql::json_rows_as(self.store.backend, 2, "k"),
            ))
            .bind(&a)
            .bind(mails)
            .bind(self.ws_str())
            .fetch_all(p)
            .await?
        };
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<_> = by_id
            .into_iter()
            .chain(by_mail)
            .filter(|r| seen.insert(r.try_get::<String, _>("user_id").unwrap_or_default()))
            .collect();
        let mut seats = Vec::new();
        for r in &rows {
            seats.push(SeatView {
                user_id: r.try_get("user_id")?,
                email: r.try_get("email")?,
                username: r.try_get("username")?,
                roles: serde_json::from_str(&r.try_get::<String, _>("roles")?).unwrap_or_default(),
                kind: get_parsed(r, "kind")?,
                state: get_parsed(r, "state")?,
                grants: Vec::new(),
            });
        }
        let users: Vec<String> = seats.iter().map(|s| s.user_id.clone()).collect();
        let mut perms = self.seat_permissions(app.id, &users).await?;
        for s in &mut seats {
            s.grants = perms
                .remove(&s.user_id)
                .unwrap_or_default()
                .into_iter()
                .map(|h| (h.asset_id, h.asset_kind.unwrap_or_default(), h.permissions))
                .collect();
        }
        // `roles::is_business_admin` in SQL: the stored roles (a JSON array of strings) hold
        // the admin role as one element, quoted; `_` is escaped, LIKE's one-character wildcard.
        let admin = format!(
            "%{}%",
            serde_json::to_string(admin_role(app.platform))
                .expect("role serialises")
                .replace('_', "\\_")
        );
        let counts = sqlx::query(
            "SELECT COUNT(*) AS n FROM app_seats WHERE app_id = $1 AND vanished_at IS NULL AND kind IN ('member', 'system_user')",
        )
        .bind(&a)
        .fetch_one(p)
        .await?;
        let admins = sqlx::query(
            "SELECT user_id FROM app_seats WHERE app_id = $1 AND vanished_at IS NULL AND kind IN ('member', 'system_user') AND roles LIKE $2 ESCAPE '\\'",
        )
        .bind(&a)
        .bind(&admin)
        .fetch_all(p)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("user_id"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
        let asset_list = serde_json::to_string(&asset_ids.iter().map(|s| [s]).collect::<Vec<_>>())
            .expect("ids serialise");
        let assets = sqlx::query(&format!(
            "SELECT a.asset_id, a.kind FROM app_assets a JOIN {} ON a.asset_id = j.value->>0 WHERE a.app_id = $1 AND a.vanished_at IS NULL",
            json_rows(self.store.backend, 2)
        ))
        .bind(&a)
        .bind(asset_list)
        .fetch_all(p)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("asset_id")?, r.try_get("kind")?)))
        .collect::<Result<Vec<(String, String)>>>()?;
        let auto: Option<String> = sqlx::query("SELECT automation_user_id FROM apps WHERE id = $1")
            .bind(&a)
            .fetch_one(p)
            .await?
            .try_get("automation_user_id")?;
        Ok((
            seats,
            AppFacts {
                platform: app.platform,
                member_seats: counts.try_get::<i64, _>("n")? as u64,
                admins,
                automation_user_id: auto,
                automation_email: automation_email.to_string(),
                assets,
            },
        ))
    }

    /// Records the platform user the automation account acts as.
    pub async fn set_automation_user(&self, app: AppId, user_id: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE apps SET automation_user_id = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(user_id)
            .execute(&self.store.pool)
            .await?;
        Ok(())
    }

    /// Records what a change left on the platform (as read back): the seat and grant rows
    /// and the digests, with an audit event, in one transaction. Nothing is written when the
    /// platform already showed the change and the rows agree.
    pub async fn record_applied(
        &self,
        actor: &Actor,
        app: AppId,
        task: Option<TaskId>,
        step: &Step,
        applied: &Applied,
    ) -> Result<()> {
        let (a, w, backend) = (app.to_string(), self.ws_str(), self.store.backend);
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        let mut writes = 0;
        // The seat.
        let seat_key = vec![match (&step.change, &applied.seat) {
            (_, Some(s)) => s.user_id.clone(),
            _ => step.seat.clone(),
        }];
        let before = stored_row(&mut tx, Table::Seats, &a, &seat_key).await?;
        match (&applied.seat, &step.change) {
            (None, Change::RemoveMember { .. } | Change::CancelInvite { .. }) => {
                if let Some((row, true)) = &before {
                    sqlx::query(
                        "UPDATE app_seats SET vanished_at = $3, last_seen_at = $3, removed_at = $3, \
                         state = CASE WHEN kind = 'invite' THEN state ELSE 'removed' END WHERE app_id = $1 AND user_id = $2",
                    )
                    .bind(&a)
                    .bind(&seat_key[0])
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    adjust_digests(&mut tx, &a, Table::Seats, std::slice::from_ref(row), &[])
                        .await?;
                    // Its permissions went with it.
                    let holder = holder_key(&Holder::Member(seat_key[0].clone()));
                    let grants = sqlx::query(
                        "SELECT asset_id, permissions FROM app_grants WHERE app_id = $1 AND holder = $2 AND vanished_at IS NULL",
                    )
                    .bind(&a)
                    .bind(&holder)
                    .fetch_all(&mut *tx)
                    .await?;
                    let rows = grants
                        .iter()
                        .map(|g| {
                            Ok(Row {
                                table: Table::Grants,
                                key: vec![holder.clone(), g.try_get("asset_id")?],
                                fields: vec![Some(g.try_get("permissions")?)],
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    vanish_rows(&mut tx, backend, &a, now, Some(now), &rows).await?;
                    adjust_digests(&mut tx, &a, Table::Grants, &rows, &[]).await?;
                    writes += 1 + rows.len();
                }
            }
            (Some(s), _) => {
                let row = Row::seat(s);
                let same = matches!(&before, Some((r, true)) if r.fields == row.fields);
                if !same {
                    put_row(&mut tx, backend, &w, &a, now, before.is_some(), &row).await?;
                    let old: Vec<Row> =
                        before.iter().filter(|b| b.1).map(|b| b.0.clone()).collect();
                    adjust_digests(&mut tx, &a, Table::Seats, &old, std::slice::from_ref(&row))
                        .await?;
                    writes += 1;
                }
            }
            (None, _) => {}
        }
        // The grant the change named.
        if let Change::Grant {
            user_id, asset_id, ..
        }
        | Change::Revoke {
            user_id, asset_id, ..
        } = &step.change
        {
            let key = vec![
                holder_key(&Holder::Member(user_id.clone())),
                asset_id.clone(),
            ];
            let before = stored_row(&mut tx, Table::Grants, &a, &key).await?;
            let old: Vec<Row> = before.iter().filter(|b| b.1).map(|b| b.0.clone()).collect();
            match &applied.grant {
                Some(g) => {
                    let row = Row::grant(g);
                    if old.first().map(|r| &r.fields) != Some(&row.fields) {
                        put_row(&mut tx, backend, &w, &a, now, before.is_some(), &row).await?;
                        adjust_digests(
                            &mut tx,
                            &a,
                            Table::Grants,
                            &old,
                            std::slice::from_ref(&row),
                        )
                        .await?;
                        writes += 1;
                    }
                }
                None => {
                    if !old.is_empty() {
                        vanish_rows(&mut tx, backend, &a, now, Some(now), &old).await?;
                        adjust_digests(&mut tx, &a, Table::Grants, &old, &[]).await?;
                        writes += 1;
                    }
                }
            }
        }
        if writes > 0 || !applied.already {
            let details = serde_json::json!({
                "seat": step.seat, "summary": step.summary, "change": step.change,
                "already_on_platform": applied.already, "task": task.map(|t| t.to_string()),
            });
            append(
                &mut tx,
                &self.store.env,
                self.ws,
                NewAuditEvent::success(
                    actor,
                    audit_action(&step.change),
                    format!("app:{app}/seat:{}", step.seat),
                    details,
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a change the platform refused, for the activity log.
    pub async fn record_refused(
        &self,
        actor: &Actor,
        app: AppId,
        task: Option<TaskId>,
        step: &Step,
        error: &str,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent {
                actor: actor.clone(),
                action: audit_action(&step.change).into(),
                target: format!("app:{app}/seat:{}", step.seat),
                outcome: Outcome::Failure,
                details: serde_json::json!({ "summary": step.summary, "error": error, "task": task.map(|t| t.to_string()) }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn live_seat(&self, app: AppId, user_id: &str) -> Result<Seat> {
        let page = self.seat_by_id(app, user_id).await?;
        page.ok_or(StoreError::NotFound("seat"))
    }

    /// Writes a *Match and invite* (`services::seats` checks the seat and the person first):
    /// the seat belongs to `identity`, who gets the app with `role` and an account card to
    /// connect. Sticky: checks never change it. Matching a seat that already has a person
    /// re-assigns it.
    pub async fn match_seat(
        &self,
        actor: &Actor,
        app: &App,
        user_id: &str,
        identity: IdentityId,
        role: AppRole,
    ) -> Result<Seat> {
        let seat = self.live_seat(app.id, user_id).await?;
        let person = self.identity(identity).await?;
        let now = ms(self.store.env.now());
        let a = app.id.to_string();
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE app_seats SET state = 'onboarded', identity_id = $3, match_source = 'manual', exempt_reason = NULL, exempt_by = NULL, \
             exempt_at = NULL, exempt_until = NULL WHERE app_id = $1 AND user_id = $2",
        )
        .bind(&a)
        .bind(user_id)
        .bind(identity.to_string())
        .execute(&mut *tx)
        .await?;
        let card = castellan_domain::CardId::new(&self.store.env);
        sqlx::query(
            "INSERT INTO account_cards (id, workspace_id, label, platform, status, created_at, updated_at, app_id, identity_id, app_role) \
             VALUES ($1, $2, $3, $4, $9, $5, $5, $6, $7, $8) \
             ON CONFLICT (app_id, identity_id) DO UPDATE SET app_role = excluded.app_role, updated_at = excluded.updated_at",
        )
        .bind(card.to_string())
        .bind(self.ws_str())
        .bind(&app.label)
        .bind(app.platform.as_str())
        .bind(now)
        .bind(&a)
        .bind(identity.to_string())
        .bind(role.as_str())
        .bind(card_status_for(app).as_str())
        .execute(&mut *tx)
        .await?;
        let action = match seat.identity_id {
            Some(prev) if prev != identity => "member.reassign",
            _ => "member.match",
        };
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                action,
                format!("app:{}/seat:{user_id}", app.id),
                serde_json::json!({ "identity_id": identity.to_string(), "user_name": person.user_name, "app_role": role.as_str(),
                    "previous_identity_id": seat.identity_id.map(|i| i.to_string()) }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.live_seat(app.id, user_id).await
    }

    /// *Share access to the app*: `identity` gets an account card on `app` with `role`
    /// (before they have a seat: the next check links the seat to it by their e-mail), with
    /// what the invitation carries; audited as `app.share`.
    pub async fn share_app_card(
        &self,
        actor: &Actor,
        app: &App,
        identity: IdentityId,
        role: AppRole,
        details: serde_json::Value,
    ) -> Result<crate::AccountCard> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO account_cards (id, workspace_id, label, platform, status, created_at, updated_at, app_id, identity_id, app_role) \
             VALUES ($1, $2, $3, $4, $9, $5, $5, $6, $7, $8) \
             ON CONFLICT (app_id, identity_id) DO UPDATE SET app_role = excluded.app_role, updated_at = excluded.updated_at",
        )
        .bind(castellan_domain::CardId::new(&self.store.env).to_string())
        .bind(self.ws_str())
        .bind(&app.label)
        .bind(app.platform.as_str())
        .bind(now)
        .bind(app.id.to_string())
        .bind(identity.to_string())
        .bind(role.as_str())
        .bind(card_status_for(app).as_str())
        .execute(&mut *tx)
        .await?;
        let card = sqlx::query("SELECT id FROM account_cards WHERE workspace_id = $1 AND app_id = $2 AND identity_id = $3")
            .bind(self.ws_str())
            .bind(app.id.to_string())
            .bind(identity.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let card: castellan_domain::CardId = crate::get_id(&card, "id")?;
        let mut details = details;
        details["identity_id"] = serde_json::json!(identity.to_string());
        details["app_role"] = serde_json::json!(role.as_str());
        details["card_id"] = serde_json::json!(card.to_string());
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "app.share", format!("app:{}", app.id), details),
        )
        .await?;
        tx.commit().await?;
        self.account_card(card).await
    }

    /// Unmatches a seat: Unmatched, and sticky (checks do not match it again).
    pub async fn unmatch_seat(&self, actor: &Actor, app: AppId, user_id: &str) -> Result<Seat> {
        let seat = self.live_seat(app, user_id).await?;
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE app_seats SET state = 'unmatched', identity_id = NULL, match_source = 'manual', exempt_reason = NULL, exempt_by = NULL, \
             exempt_at = NULL, exempt_until = NULL WHERE app_id = $1 AND user_id = $2",
        )
        .bind(app.to_string())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "member.unmatch",
                format!("app:{app}/seat:{user_id}"),
                serde_json::json!({ "previous_identity_id": seat.identity_id.map(|i| i.to_string()) }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.live_seat(app, user_id).await
    }

    /// Exempts a seat with a reason (and an optional end): it stays on the platform, is not
    /// managed or flagged, and returns to Unmatched after `until`.
    pub async fn exempt_seat(
        &self,
        actor: &Actor,
        by: &str,
        app: AppId,
        user_id: &str,
        reason: &str,
        until: Option<Timestamp>,
    ) -> Result<Seat> {
        self.live_seat(app, user_id).await?;
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE app_seats SET state = 'exempted', match_source = 'manual', exempt_reason = $3, exempt_by = $4, exempt_at = $5, exempt_until = $6 \
             WHERE app_id = $1 AND user_id = $2",
        )
        .bind(app.to_string())
        .bind(user_id)
        .bind(reason)
        .bind(by)
        .bind(now)
        .bind(until.map(ms))
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "member.exempt",
                format!("app:{app}/seat:{user_id}"),
                serde_json::json!({ "reason": reason, "until": until }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.live_seat(app, user_id).await
    }

    /// Ends an exemption: the seat is matched again at the next check.
    pub async fn unexempt_seat(&self, actor: &Actor, app: AppId, user_id: &str) -> Result<Seat> {
        let mut tx = self.store.begin_write().await?;
        release_exemption(&mut tx, &app.to_string(), Some(user_id), None).await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "member.unexempt",
                format!("app:{app}/seat:{user_id}"),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.live_seat(app, user_id).await
    }

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
            .bind(serde_json::json!({ "outcomes": outcomes, "at": self.store.env.now() }).to_string())
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
            .bind(serde_json::json!({ "dismissed_by": by, "reason": reason, "at": self.store.env.now() }).to_string())
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

    /// Puts an e-mail in the outbox: `pending` to be sent, or `kept` when there is no SMTP.
    pub async fn put_email(
        &self,
        recipients: &[String],
        subject: &str,
        body: &str,
        related: Option<&str>,
        send: bool,
    ) -> Result<Email> {
        let id = self.store.env.new_uuid().to_string();
        let mut conn = self.store.pool.acquire().await?;
        insert_email(
            &mut conn,
            self,
            &id,
            recipients,
            (subject, body),
            related,
            send,
        )
        .await?;
        drop(conn);
        self.email(&id).await
    }

    pub async fn email(&self, id: &str) -> Result<Email> {
        let r = sqlx::query("SELECT * FROM outbox WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id)
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("email"))?;
        email_from_row(&r)
    }

    /// The outbox, newest first.
    pub async fn outbox(&self, cursor: Option<&str>, limit: i64) -> Result<Page<Email>> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE workspace_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3")
            .bind(self.ws_str())
            .bind(cursor)
            .bind(limit + 1)
            .fetch_all(&self.store.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(email_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::people::page_by_id(&mut items, limit, |e| {
            e.id.clone()
        }))
    }

    /// Marks an e-mail sent, or failed with why.
    pub async fn mark_email(&self, id: &str, error: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = $3, error = $4, sent_at = $5 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id)
            .bind(if error.is_some() { "failed" } else { "sent" })
            .bind(error)
            .bind(error.is_none().then(|| ms(self.store.env.now())))
            .execute(&self.store.pool)
            .await?;
        Ok(())
    }
}

/// Ends exemptions of an app: one seat's (`user_id`), or those whose end is at or before
/// `ended_by`. The seats return to Unmatched and the next check matches them again.
async fn release_exemption(
    conn: &mut AnyConnection,
    app: &str,
    user_id: Option<&str>,
    ended_by: Option<i64>,
) -> Result<u64> {
    let n = sqlx::query(
        "UPDATE app_seats SET state = 'unmatched', identity_id = NULL, match_source = NULL, exempt_reason = NULL, exempt_by = NULL, \
         exempt_at = NULL, exempt_until = NULL WHERE app_id = $1 AND state = 'exempted' AND ($2 IS NULL OR user_id = $2) \
         AND ($3 IS NULL OR (exempt_until IS NOT NULL AND exempt_until <= $3))",
    )
    .bind(app)
    .bind(user_id)
    .bind(ended_by)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("UPDATE apps SET matched_version = NULL WHERE id = $1")
        .bind(app)
        .execute(&mut *conn)
        .await?;
    Ok(n)
}

impl crate::Store {
    /// Ends the exemptions whose time is up (every workspace); their seats return to
    /// Unmatched and are matched again at the next check. Returns how many ended.
    pub async fn release_expired_exemptions(&self) -> Result<u64> {
        let now = ms(self.env.now());
        let due = sqlx::query("SELECT DISTINCT app_id, workspace_id FROM app_seats WHERE state = 'exempted' AND exempt_until IS NOT NULL AND exempt_until <= $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut total = 0;
        for r in due {
            let app: String = r.try_get("app_id")?;
            let ws: castellan_domain::WorkspaceId = get_id(&r, "workspace_id")?;
            let mut tx = self.begin_write().await?;
            let n = release_exemption(&mut tx, &app, None, Some(now)).await?;
            append(
                &mut tx,
                &self.env,
                ws,
                NewAuditEvent::success(
                    &Actor::Automation {
                        name: "scheduler".into(),
                    },
                    "member.exemption_expired",
                    format!("app:{app}"),
                    serde_json::json!({ "seats": n }),
                ),
            )
            .await?;
            tx.commit().await?;
            total += n;
        }
        Ok(total)
    }
}

/// A new seat card's status: an app whose people sign in with SSO has nothing to connect.
pub fn card_status_for(app: &App) -> castellan_domain::apps::CardStatus {
    if app.login_method == castellan_domain::apps::LoginMethod::Sso {
        castellan_domain::apps::CardStatus::SignsInWithSso
    } else {
        castellan_domain::apps::CardStatus::ConnectYourAccount
    }
}

/// Writes one outbox row on `conn` (a transaction's, when the e-mail must land with other
/// rows): `pending` to be sent, or `kept` when there is no SMTP.
pub(crate) async fn insert_email(
    conn: &mut sqlx::AnyConnection,
    s: &Scoped<'_>,
    id: &str,
    recipients: &[String],
    (subject, body): (&str, &str),
    related: Option<&str>,
    send: bool,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (id, workspace_id, recipients, subject, body, related, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(id)
        .bind(s.ws_str())
        .bind(serde_json::to_string(recipients).expect("strings serialise"))
        .bind(subject)
        .bind(body)
        .bind(related)
        .bind(if send { "pending" } else { "kept" })
        .bind(ms(s.store.env.now()))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
