//! Changes pushed to a platform, as the store sees them: what planning a change reads (with the
//! app's admins by `roles::is_business_admin`'s rule), and recording what a change left (rows
//! and digests together, with its audit event) or why it was refused.

use castellan_domain::audit::{Actor, NewAuditEvent, Outcome};
use castellan_domain::changes::{AppFacts, Change, SeatView, Step};
use castellan_domain::platform::{Applied, Holder};
use castellan_domain::roles::admin_role;
use castellan_domain::snapshot::{Digests, Row, Table, holder_key};
use castellan_domain::{AppId, TaskId};
use sqlx::{AnyConnection, Row as _};

use crate::apps::App;
use crate::audit::append;
use crate::check::holders::insert_listed;
use crate::check::rows::{update_rows, vanish_rows};
use crate::sql::json_rows;
use crate::{Result, Scoped, get_parsed, ms};

pub use castellan_domain::apps::AppRole;

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
pub(crate) async fn adjust_digests(
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
        // The live member seats, and the business admins among them: `roles::is_business_admin`
        // in SQL (the stored roles, a JSON array of strings, hold the admin role as one
        // element, quoted; `_` is escaped, LIKE's one-character wildcard). Each predicate is
        // written as in the partial indexes of migration 0032, so the count reads an index
        // alone and the admins an index of admins only (one scan of 100,000 seats was most
        // of a Remove user plan on PostgreSQL). The pattern is inlined, not bound: a partial
        // index serves only a predicate the planner sees. It comes from `admin_role`, a
        // constant without quotes.
        let admin = format!(
            "%{}%",
            serde_json::to_string(admin_role(app.platform))
                .expect("role serialises")
                .replace('_', "\\_")
        );
        debug_assert!(!admin.contains('\''));
        const MEMBERS: &str =
            "app_id = $1 AND vanished_at IS NULL AND kind IN ('member', 'system_user')";
        let member_seats: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM app_seats WHERE {MEMBERS}"
        ))
        .bind(&a)
        .fetch_one(p)
        .await?;
        let admins: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT user_id FROM app_seats WHERE {MEMBERS} AND roles LIKE '{admin}' ESCAPE '\\' ORDER BY user_id"
        ))
        .bind(&a)
        .fetch_all(p)
        .await?;
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
                member_seats: member_seats as u64,
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
                    crate::reports::leave_open_report(&mut tx, &a, &seat_key[0]).await?;
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
}
