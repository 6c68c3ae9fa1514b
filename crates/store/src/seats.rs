//! Decisions about one seat, written: a manual match (with the person's card), a card shared
//! through Share access, unmatch, exemptions and their end (also when their time is up).

use castellan_domain::apps::AppRole;
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{AppId, IdentityId, Timestamp};
use sqlx::{AnyConnection, Row as _};

use crate::apps::{App, Seat};
use crate::audit::append;
use crate::{Result, Scoped, StoreError, get_id, ms};

impl Scoped<'_> {
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
        crate::reports::leave_open_report(&mut tx, &app.to_string(), user_id).await?;
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
