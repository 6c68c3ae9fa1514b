//! Password rotation of account cards: claiming due rotations once, the per-app policy, the
//! pending (sealed) password and its confirmation, and earlier passwords kept sealed.

use crate::audit::append;
use crate::cards::{AccountCard, OWNER_CARD};
use crate::secrets::{SealedSecret, put_owned_secret};
use crate::{Result, Scoped, Store, StoreError, get_id, ms};
use castellan_domain::apps::CardStatus;
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{CardId, Timestamp};

/// A card whose password rotation fell due, claimed for one `account.rotate` task.
#[derive(Debug, Clone, PartialEq)]
pub struct DueRotation {
    pub workspace_id: castellan_domain::WorkspaceId,
    pub card: CardId,
}

impl Store {
    /// Claims the connected cards whose app's rotation policy says they are due at `now`: each
    /// is claimed once (`rotation_queued_at`), so several schedulers never queue it twice.
    pub async fn claim_due_rotations(&self, now: Timestamp) -> Result<Vec<DueRotation>> {
        let now = ms(now);
        let rows = sqlx::query(
            "SELECT c.id, c.workspace_id FROM account_cards c JOIN apps a ON a.id = c.app_id \
             WHERE c.status = 'connected' AND c.rotation_queued_at IS NULL AND a.rotation_days IS NOT NULL AND ( \
             (a.rotation_policy = 'after_reveal' AND c.last_revealed_at IS NOT NULL AND c.last_revealed_at + a.rotation_days * 86400000 <= $1) \
             OR (a.rotation_policy = 'schedule' AND COALESCE(c.password_set_at, c.connected_at) + a.rotation_days * 86400000 <= $1)) \
             ORDER BY c.id LIMIT 500",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: CardId = get_id(r, "id")?;
            let n = sqlx::query("UPDATE account_cards SET rotation_queued_at = $2 WHERE id = $1 AND rotation_queued_at IS NULL")
                .bind(id.to_string())
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
            if n == 1 {
                out.push(DueRotation {
                    workspace_id: get_id(r, "workspace_id")?,
                    card: id,
                });
            }
        }
        Ok(out)
    }
}

impl Scoped<'_> {
    /// Sets (or turns off) an app's rotation policy; audited.
    pub async fn set_rotation(
        &self,
        actor: &Actor,
        app: castellan_domain::AppId,
        rotation: Option<castellan_domain::passwords::Rotation>,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query("UPDATE apps SET rotation_policy = $3, rotation_days = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(rotation.map(|r| r.kind()))
            .bind(rotation.map(|r| i64::from(r.days())))
            .bind(ms(self.store.env.now()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("app"));
        }
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "app.rotation",
                format!("app:{app}"),
                serde_json::json!({ "policy": rotation.map(|r| r.kind()).unwrap_or("off"), "days": rotation.map(|r| r.days()) }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Seals a new password for a card as pending and marks it Rotation due; audited.
    pub async fn set_pending_password(
        &self,
        actor: &Actor,
        card: CardId,
        sealed: &SealedSecret,
    ) -> Result<AccountCard> {
        let before = self.account_card(card).await?;
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3 AND name = 'password_pending'")
            .bind(self.ws_str())
            .bind(OWNER_CARD)
            .bind(card.to_string())
            .execute(&mut *tx)
            .await?;
        put_owned_secret(&mut tx, self, OWNER_CARD, &card.to_string(), sealed).await?;
        sqlx::query("UPDATE account_cards SET status = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(card.to_string())
            .bind(CardStatus::RotationDue.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "account.rotate",
                format!("account_card:{card}"),
                serde_json::json!({ "label": before.label }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.account_card(card).await
    }

    /// An Owner confirms the platform has the new password: it becomes the password, the old
    /// one stays sealed as `password@<ms>`, the card is Connected again; audited.
    pub async fn confirm_rotation(&self, actor: &Actor, card: CardId) -> Result<AccountCard> {
        let before = self.account_card(card).await?;
        if before.status != CardStatus::RotationDue {
            return Err(StoreError::conflict(
                "card",
                "no new password is waiting for this account",
            ));
        }
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        for (from, to) in [
            ("password".to_string(), format!("password@{now}")),
            ("password_pending".to_string(), "password".to_string()),
        ] {
            sqlx::query("UPDATE vault_secrets SET name = $5, updated_at = $6 WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3 AND name = $4")
                .bind(self.ws_str())
                .bind(OWNER_CARD)
                .bind(card.to_string())
                .bind(from)
                .bind(to)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE account_cards SET status = $3, password_set_at = $4, rotation_queued_at = NULL, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(card.to_string())
            .bind(CardStatus::Connected.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "account.rotation.confirm",
                format!("account_card:{card}"),
                serde_json::json!({ "label": before.label }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.account_card(card).await
    }

    /// When each earlier password of a card was replaced (they stay sealed), newest first.
    pub async fn password_versions(&self, card: CardId) -> Result<Vec<Timestamp>> {
        let mut out: Vec<Timestamp> = self
            .card_secrets(card)
            .await?
            .iter()
            .filter_map(|s| s.name.strip_prefix("password@")?.parse::<i64>().ok())
            .filter_map(chrono::DateTime::from_timestamp_millis)
            .collect();
        out.sort_by(|a, b| b.cmp(a));
        Ok(out)
    }
}
