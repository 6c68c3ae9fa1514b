//! App integrations and their checks for updates. A check stages what it fetched (in
//! `staging_*` tables, keyed by the check) and then applies the difference to the app's
//! seats, assets, grants and partners in one transaction: readers see the previous complete
//! state until then, a check that dies leaves only staging rows (cleared by the next check),
//! and rows that did not change are not written.

use castellan_domain::apps::Platform;
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::platform::{Batch, Holder, PartnerRelation, SeatKind};
use castellan_domain::{AppId, AutomationAccountId, IdentityId, TaskId, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::audit::append;
use crate::people::page_by_id;
use crate::{
    Page, Result, Scoped, StoreError, get_id, get_opt_id, get_opt_time, get_parsed, get_time, ms,
    unique_as,
};

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
    pub last_check_at: Option<Timestamp>,
    pub next_check_at: Option<Timestamp>,
    pub created_at: Timestamp,
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
    pub partners_vanished: u64,
    pub rows_written: u64,
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
    })
}

/// (user id, username, e-mail, kind, state, matched identity) of a seat being re-matched.
type SeatRow = (
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<IdentityId>,
);

fn holder_key(h: &Holder) -> String {
    match h {
        Holder::Member(u) => format!("member:{u}"),
        Holder::Partner(p) => format!("partner:{p}"),
    }
}

fn sorted_json(mut v: Vec<String>) -> String {
    v.sort();
    v.dedup();
    serde_json::to_string(&v).expect("strings serialise")
}

fn kind_str(k: &SeatKind) -> &'static str {
    match k {
        SeatKind::Member => "member",
        SeatKind::SystemUser => "system_user",
        SeatKind::Invite => "invite",
        SeatKind::PartnerUser { .. } => "partner_user",
    }
}

fn relation_str(r: PartnerRelation) -> &'static str {
    match r {
        PartnerRelation::UsesOurAssets => "uses_our_assets",
        PartnerRelation::SharesWithUs => "shares_with_us",
        PartnerRelation::Both => "both",
    }
}

/// Inserts rows `n` columns wide in chunks (one statement per chunk).
async fn insert_rows(
    conn: &mut AnyConnection,
    table_and_cols: &str,
    n: usize,
    rows: Vec<Vec<Option<String>>>,
    conflict: &str,
) -> Result<()> {
    for chunk in rows.chunks(100) {
        let mut sql = format!("INSERT INTO {table_and_cols} VALUES ");
        let mut k = 0;
        for (i, _) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..n {
                if c > 0 {
                    sql.push(',');
                }
                k += 1;
                sql.push_str(&format!("${k}"));
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(conflict);
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for v in row {
                q = q.bind(v.clone());
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
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

    /// Drops what earlier, unfinished checks of this app left in staging.
    pub async fn clear_staging(&self, app: AppId) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        for t in [
            "staging_seats",
            "staging_assets",
            "staging_grants",
            "staging_partners",
        ] {
            sqlx::query(&format!("DELETE FROM {t} WHERE app_id = $1"))
                .bind(app.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stages one fetched batch for `check`.
    pub async fn stage(&self, app: AppId, check: TaskId, batch: &Batch) -> Result<()> {
        let (a, c) = (Some(app.to_string()), Some(check.to_string()));
        let mut tx = self.store.begin_write().await?;
        match batch {
            Batch::Seats(seats) => {
                let rows = seats
                    .iter()
                    .map(|s| {
                        vec![
                            a.clone(),
                            c.clone(),
                            Some(s.user_id.clone()),
                            s.username.clone(),
                            s.email.clone(),
                            s.display_name.clone(),
                            Some(sorted_json(s.roles.clone())),
                            Some(kind_str(&s.kind).into()),
                        ]
                    })
                    .collect();
                insert_rows(&mut tx, "staging_seats (app_id, check_id, user_id, username, email, display_name, roles, kind)", 8, rows, "ON CONFLICT (check_id, user_id) DO NOTHING").await?;
            }
            Batch::Assets(assets) => {
                let rows = assets
                    .iter()
                    .map(|x| {
                        vec![
                            a.clone(),
                            c.clone(),
                            Some(x.id.clone()),
                            Some(x.kind.clone()),
                            x.name.clone(),
                            x.owner_id.clone(),
                        ]
                    })
                    .collect();
                insert_rows(
                    &mut tx,
                    "staging_assets (app_id, check_id, asset_id, kind, name, owner_id)",
                    6,
                    rows,
                    "ON CONFLICT (check_id, asset_id) DO NOTHING",
                )
                .await?;
            }
            Batch::Grants(grants) => {
                let rows = grants
                    .iter()
                    .map(|g| {
                        vec![
                            a.clone(),
                            c.clone(),
                            Some(holder_key(&g.holder)),
                            Some(g.asset_id.clone()),
                            Some(sorted_json(g.permissions.clone())),
                        ]
                    })
                    .collect();
                insert_rows(
                    &mut tx,
                    "staging_grants (app_id, check_id, holder, asset_id, permissions)",
                    5,
                    rows,
                    "ON CONFLICT (check_id, holder, asset_id) DO NOTHING",
                )
                .await?;
            }
            Batch::Partners(partners) => {
                let rows = partners
                    .iter()
                    .map(|p| {
                        vec![
                            a.clone(),
                            c.clone(),
                            Some(p.id.clone()),
                            p.name.clone(),
                            Some(relation_str(p.relation).into()),
                        ]
                    })
                    .collect();
                insert_rows(
                    &mut tx,
                    "staging_partners (app_id, check_id, partner_id, name, relation)",
                    5,
                    rows,
                    "ON CONFLICT (check_id, partner_id) DO NOTHING",
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies a fully staged check in one transaction; returns what changed.
    pub async fn apply_check(
        &self,
        actor: &Actor,
        app: AppId,
        check: TaskId,
        stats: serde_json::Value,
    ) -> Result<CheckSummary> {
        let now = ms(self.store.env.now());
        let (a, c, w) = (app.to_string(), check.to_string(), self.ws_str());
        let mut tx = self.store.begin_write().await?;
        let mut s = CheckSummary::default();
        // Seats.
        let mut changes = serde_json::Map::new();
        let list = |rows: Vec<AnyRow>, col: &str| -> Vec<String> {
            rows.iter()
                .filter_map(|r| r.try_get::<String, _>(col).ok())
                .collect()
        };
        let new_seats = sqlx::query("SELECT s.user_id FROM staging_seats s WHERE s.check_id = $1 AND NOT EXISTS (SELECT 1 FROM app_seats x WHERE x.app_id = $2 AND x.user_id = s.user_id) ORDER BY s.user_id LIMIT 1000")
            .bind(&c).bind(&a).fetch_all(&mut *tx).await?;
        changes.insert(
            "new_seats".into(),
            serde_json::json!(list(new_seats, "user_id")),
        );
        let changed_roles = sqlx::query(
            "SELECT x.user_id, x.roles AS old_roles, s.roles AS new_roles FROM app_seats x JOIN staging_seats s ON s.check_id = $1 AND s.user_id = x.user_id \
             WHERE x.app_id = $2 AND x.vanished_at IS NULL AND x.roles <> s.roles ORDER BY x.user_id LIMIT 1000",
        )
        .bind(&c).bind(&a).fetch_all(&mut *tx).await?;
        let role_changes: Vec<serde_json::Value> = changed_roles.iter().map(|r| serde_json::json!({ "user_id": r.try_get::<String, _>("user_id").ok(), "from": r.try_get::<String, _>("old_roles").ok(), "to": r.try_get::<String, _>("new_roles").ok() })).collect();
        changes.insert("role_changes".into(), serde_json::json!(role_changes));
        let vanished = sqlx::query("SELECT x.user_id FROM app_seats x WHERE x.app_id = $1 AND x.vanished_at IS NULL AND NOT EXISTS (SELECT 1 FROM staging_seats s WHERE s.check_id = $2 AND s.user_id = x.user_id) ORDER BY x.user_id LIMIT 1000")
            .bind(&a).bind(&c).fetch_all(&mut *tx).await?;
        changes.insert(
            "vanished_seats".into(),
            serde_json::json!(list(vanished, "user_id")),
        );
        let new_partners = sqlx::query("SELECT s.partner_id FROM staging_partners s WHERE s.check_id = $1 AND NOT EXISTS (SELECT 1 FROM app_partners x WHERE x.app_id = $2 AND x.partner_id = s.partner_id AND x.vanished_at IS NULL) ORDER BY s.partner_id")
            .bind(&c).bind(&a).fetch_all(&mut *tx).await?;
        changes.insert(
            "new_partners".into(),
            serde_json::json!(list(new_partners, "partner_id")),
        );
        let gone_partners = sqlx::query("SELECT x.partner_id FROM app_partners x WHERE x.app_id = $1 AND x.vanished_at IS NULL AND NOT EXISTS (SELECT 1 FROM staging_partners s WHERE s.check_id = $2 AND s.partner_id = x.partner_id) ORDER BY x.partner_id")
            .bind(&a).bind(&c).fetch_all(&mut *tx).await?;
        changes.insert(
            "vanished_partners".into(),
            serde_json::json!(list(gone_partners, "partner_id")),
        );
        let perm_changes = sqlx::query(
            "SELECT x.holder, x.asset_id, x.permissions AS old_p, s.permissions AS new_p FROM app_grants x JOIN staging_grants s ON s.check_id = $1 AND s.holder = x.holder AND s.asset_id = x.asset_id \
             WHERE x.app_id = $2 AND x.vanished_at IS NULL AND x.permissions <> s.permissions ORDER BY x.holder, x.asset_id LIMIT 1000",
        )
        .bind(&c).bind(&a).fetch_all(&mut *tx).await?;
        let perm_changes: Vec<serde_json::Value> = perm_changes.iter().map(|r| serde_json::json!({ "holder": r.try_get::<String, _>("holder").ok(), "asset_id": r.try_get::<String, _>("asset_id").ok(), "from": r.try_get::<String, _>("old_p").ok(), "to": r.try_get::<String, _>("new_p").ok() })).collect();
        changes.insert("permission_changes".into(), serde_json::json!(perm_changes));

        // Apply: for each kind, insert new, update changed (or reappeared), mark vanished.
        struct Kind<'k> {
            current: &'k str,
            staging: &'k str,
            keys: &'k [&'k str],
            fields: &'k [&'k str],
        }
        let kinds = [
            Kind {
                current: "app_seats",
                staging: "staging_seats",
                keys: &["user_id"],
                fields: &["username", "email", "display_name", "roles", "kind"],
            },
            Kind {
                current: "app_assets",
                staging: "staging_assets",
                keys: &["asset_id"],
                fields: &["kind", "name", "owner_id"],
            },
            Kind {
                current: "app_grants",
                staging: "staging_grants",
                keys: &["holder", "asset_id"],
                fields: &["permissions"],
            },
            Kind {
                current: "app_partners",
                staging: "staging_partners",
                keys: &["partner_id"],
                fields: &["name", "relation"],
            },
        ];
        let mut counts = Vec::new();
        for k in &kinds {
            let key_match = k
                .keys
                .iter()
                .map(|key| format!("x.{key} = s.{key}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let cols: Vec<&str> = k.keys.iter().chain(k.fields.iter()).copied().collect();
            let extra_cols = if k.current == "app_seats" {
                ", state"
            } else {
                ""
            };
            let extra_vals = if k.current == "app_seats" {
                ", CASE s.kind WHEN 'invite' THEN 'invited' WHEN 'partner_user' THEN 'guest' ELSE 'unmatched' END"
            } else {
                ""
            };
            let inserted = sqlx::query(&format!(
                "INSERT INTO {cur} (workspace_id, app_id, {cols}, first_seen_at{extra_cols}) SELECT $1, $2, {scols}, $3{extra_vals} FROM {stg} s WHERE s.check_id = $4 \
                 AND NOT EXISTS (SELECT 1 FROM {cur} x WHERE x.app_id = $2 AND {key_match})",
                cur = k.current,
                stg = k.staging,
                cols = cols.join(", "),
                scols = cols.iter().map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", "),
            ))
            .bind(&w).bind(&a).bind(now).bind(&c)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let differs = k
                .fields
                .iter()
                .map(|f| format!("COALESCE(x.{f}, '') <> COALESCE(s.{f}, '')"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sets = k
                .fields
                .iter()
                .map(|f| {
                    format!(
                        "{f} = (SELECT s.{f} FROM {stg} s WHERE s.check_id = $2 AND {km})",
                        stg = k.staging,
                        km = key_match.replace("x.", &format!("{}.", k.current))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let updated = sqlx::query(&format!(
                "UPDATE {cur} SET {sets}, vanished_at = NULL WHERE app_id = $1 AND EXISTS (SELECT 1 FROM {stg} s WHERE s.check_id = $2 AND {km} AND ({cur}.vanished_at IS NOT NULL OR {diff}))",
                cur = k.current,
                stg = k.staging,
                km = key_match.replace("x.", &format!("{}.", k.current)),
                diff = differs.replace("x.", &format!("{}.", k.current)),
            ))
            .bind(&a).bind(&c)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let vanished = sqlx::query(&format!(
                "UPDATE {cur} SET vanished_at = $3 WHERE app_id = $1 AND vanished_at IS NULL AND NOT EXISTS (SELECT 1 FROM {stg} s WHERE s.check_id = $2 AND {km})",
                cur = k.current,
                stg = k.staging,
                km = key_match.replace("x.", &format!("{}.", k.current)),
            ))
            .bind(&a).bind(&c).bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            counts.push((inserted, updated, vanished));
            sqlx::query(&format!("DELETE FROM {} WHERE check_id = $1", k.staging))
                .bind(&c)
                .execute(&mut *tx)
                .await?;
        }
        (s.seats_new, s.seats_changed, s.seats_vanished) = counts[0];
        (s.assets_new, s.assets_changed, s.assets_vanished) = counts[1];
        (s.grants_new, s.grants_changed, s.grants_vanished) = counts[2];
        (s.partners_new, _, s.partners_vanished) = counts[3];
        s.rows_written = counts.iter().map(|(i, u, v)| i + u + v).sum();
        let report_id = self.store.env.new_uuid();
        sqlx::query("INSERT INTO check_reports (id, workspace_id, app_id, task_id, created_at, summary, changes) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(report_id.to_string())
            .bind(&w)
            .bind(&a)
            .bind(&c)
            .bind(now)
            .bind(serde_json::json!({ "counts": s, "fetch": stats }).to_string())
            .bind(serde_json::Value::Object(changes).to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE apps SET status = 'connected', status_message = NULL, last_check_at = $3, updated_at = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(&w).bind(&a).bind(now)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "app.check",
                format!("app:{app}"),
                serde_json::to_value(&s).expect("summary serialises"),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Re-matches the app's live, non-sticky seats to active identities; writes only the
    /// seats whose state or person changed. Returns how many changed.
    pub async fn rematch(
        &self,
        app: AppId,
        cfg: &castellan_domain::matching::MatchConfig,
    ) -> Result<u64> {
        use castellan_domain::matching::{Candidate, Outcome, SeatKey, match_all};
        let seats = sqlx::query("SELECT user_id, username, email, kind, state, identity_id FROM app_seats WHERE app_id = $1 AND vanished_at IS NULL AND (match_source IS NULL OR match_source = 'auto') AND state <> 'exempted'")
            .bind(app.to_string())
            .fetch_all(&self.store.pool)
            .await?;
        let idents = sqlx::query("SELECT id, user_name, primary_email, other_emails FROM identities WHERE workspace_id = $1 AND active = 1").bind(self.ws_str()).fetch_all(&self.store.pool).await?;
        let mut owned = Vec::with_capacity(idents.len());
        for r in &idents {
            let other: Vec<String> =
                serde_json::from_str(&r.try_get::<String, _>("other_emails")?).unwrap_or_default();
            let mut emails = vec![r.try_get::<String, _>("primary_email")?];
            emails.extend(other);
            owned.push((
                get_id::<IdentityId>(r, "id")?,
                r.try_get::<String, _>("user_name")?,
                emails,
            ));
        }
        let rows: Vec<SeatRow> = seats
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("user_id")?,
                    r.try_get("username")?,
                    r.try_get("email")?,
                    r.try_get("kind")?,
                    r.try_get("state")?,
                    get_opt_id(r, "identity_id")?,
                ))
            })
            .collect::<Result<_>>()?;
        let keys: Vec<SeatKey> = rows
            .iter()
            .map(|(_, u, e, k, _, _)| SeatKey {
                email: e.as_deref(),
                username: u.as_deref(),
                partner: k == "partner_user",
            })
            .collect();
        let outcomes = match_all(
            cfg,
            &keys,
            owned.iter().map(|(id, u, e)| Candidate {
                id: *id,
                user_name: u,
                emails: e.iter().map(String::as_str).collect(),
            }),
        );
        let mut tx = self.store.begin_write().await?;
        let mut changed = 0;
        for ((user_id, _, _, kind, state, identity), outcome) in rows.iter().zip(outcomes) {
            let (new_state, new_identity) = match (kind.as_str(), outcome) {
                ("invite", _) => ("invited", None),
                (_, Outcome::Guest) => ("guest", None),
                (_, Outcome::Matched(id, _)) => ("onboarded", Some(id)),
                (_, Outcome::Unmatched) => ("unmatched", None),
            };
            if new_state != state || new_identity != *identity {
                sqlx::query("UPDATE app_seats SET state = $3, identity_id = $4, match_source = 'auto' WHERE app_id = $1 AND user_id = $2")
                    .bind(app.to_string())
                    .bind(user_id)
                    .bind(new_state)
                    .bind(new_identity.map(|i| i.to_string()))
                    .execute(&mut *tx)
                    .await?;
                changed += 1;
            }
        }
        tx.commit().await?;
        Ok(changed)
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
        let rows = sqlx::query(
            "SELECT s.*, (SELECT COUNT(*) FROM app_grants g WHERE g.app_id = s.app_id AND g.holder = 'member:' || s.user_id AND g.vanished_at IS NULL) AS asset_count \
             FROM app_seats s WHERE s.workspace_id = $1 AND s.app_id = $2 AND s.state = $3 AND s.vanished_at IS NULL AND s.user_id > $4 \
             AND ($5 IS NULL OR LOWER(COALESCE(s.email, '')) LIKE $5 OR LOWER(COALESCE(s.username, '')) LIKE $5 OR LOWER(COALESCE(s.display_name, '')) LIKE $5) \
             ORDER BY s.user_id LIMIT $6",
        )
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
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM app_seats WHERE workspace_id = $1 AND app_id = $2 AND vanished_at IS NULL GROUP BY state ORDER BY state")
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
        let rows = sqlx::query("SELECT created_at, summary, changes FROM check_reports WHERE workspace_id = $1 AND app_id = $2 ORDER BY id DESC LIMIT $3")
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
