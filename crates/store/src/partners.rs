//! An app's native partners as the last check found them: each partner with the assets it
//! uses of ours (and its permissions on each) and the assets it shares with us.

use castellan_domain::apps::PartnerStatus;
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{AppId, AutomationAccountId, Timestamp};
use sqlx::Row as _;

use crate::audit::append;
use crate::{Result, Scoped, get_id, get_time, ms};

/// A partner of an app's business.
#[derive(Debug, Clone, PartialEq)]
pub struct Partner {
    pub partner_id: String,
    pub name: Option<String>,
    /// `uses_our_assets`, `shares_with_us` or `both`, as the platform states it.
    pub relation: String,
    /// Our assets it holds: (asset id, name, type, permissions).
    pub ours: Vec<PartnerAsset>,
    /// Its assets shared with us.
    pub theirs: Vec<PartnerAsset>,
    /// How Castellan reads the partner's business, once connected.
    pub connection: Option<PartnerConnection>,
}

/// A partner connected to Castellan.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerConnection {
    /// The automation account whose token reads the partner's business.
    pub account: AutomationAccountId,
    /// `connected`, or `error` with the reason.
    pub connected: bool,
    pub message: Option<String>,
    pub connected_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartnerAsset {
    pub asset_id: String,
    pub name: Option<String>,
    pub kind: String,
    pub permissions: Vec<String>,
}

impl Partner {
    /// A partner can be connected only when an asset is shared one way or the other (the
    /// seeds' IMPORTANT).
    pub fn eligible(&self) -> bool {
        !self.ours.is_empty() || !self.theirs.is_empty()
    }

    /// Where it stands: its connection's state once connected, else whether it can be.
    pub fn status(&self) -> PartnerStatus {
        match &self.connection {
            Some(c) if c.connected => PartnerStatus::Connected,
            Some(_) => PartnerStatus::ConnectionFailing,
            None if self.eligible() => PartnerStatus::PendingOnboarding,
            None => PartnerStatus::NotEligible,
        }
    }
}

/// An asset row of `partners` (its columns: `partner_id`, `asset_id`, `permissions`, `name`,
/// `kind`), with the partner it belongs to.
fn asset_row(r: &sqlx::any::AnyRow) -> Result<(String, PartnerAsset)> {
    Ok((
        r.try_get("partner_id")?,
        PartnerAsset {
            asset_id: r.try_get("asset_id")?,
            name: r.try_get("name")?,
            kind: r.try_get::<Option<String>, _>("kind")?.unwrap_or_default(),
            permissions: serde_json::from_str(&r.try_get::<String, _>("permissions")?)
                .unwrap_or_default(),
        },
    ))
}

impl Scoped<'_> {
    /// The app's live partners (visible once a check completed), by name, with their assets
    /// each way.
    pub async fn partners(&self, app: AppId) -> Result<Vec<Partner>> {
        let a = app.to_string();
        let rows = sqlx::query(
            "SELECT p.partner_id, p.name, p.relation FROM app_partners p JOIN apps v ON v.id = p.app_id \
             WHERE p.workspace_id = $1 AND p.app_id = $2 AND p.vanished_at IS NULL AND v.last_check_at IS NOT NULL \
             ORDER BY LOWER(COALESCE(p.name, p.partner_id)), p.partner_id",
        )
        .bind(self.ws_str())
        .bind(&a)
        .fetch_all(&self.store.pool)
        .await?;
        let mut out: Vec<Partner> = rows
            .iter()
            .map(|r| {
                Ok(Partner {
                    partner_id: r.try_get("partner_id")?,
                    name: r.try_get("name")?,
                    relation: r.try_get("relation")?,
                    ours: Vec::new(),
                    theirs: Vec::new(),
                    connection: None,
                })
            })
            .collect::<Result<_>>()?;
        if out.is_empty() {
            return Ok(out);
        }
        let index: std::collections::HashMap<String, usize> = out
            .iter()
            .enumerate()
            .map(|(i, p)| (p.partner_id.clone(), i))
            .collect();
        // What it uses of ours: its grants (the app's row says it is this workspace's).
        let grants = sqlx::query(&format!(
            "SELECT substr(g.holder, 9) AS partner_id, g.asset_id, g.permissions, a.name, a.kind FROM app_grants g \
             LEFT JOIN app_assets a ON a.app_id = g.app_id AND a.asset_id = g.asset_id \
             WHERE g.app_id = $2 AND {} AND g.vanished_at IS NULL \
             AND EXISTS (SELECT 1 FROM apps p WHERE p.id = $2 AND p.workspace_id = $1) \
             ORDER BY g.asset_id",
            crate::sql::partner_holders(self.store.backend, "g.holder")
        ))
        .bind(self.ws_str())
        .bind(&a)
        .fetch_all(&self.store.pool)
        .await?;
        for g in &grants {
            let (id, asset) = asset_row(g)?;
            if let Some(&i) = index.get(&id) {
                out[i].ours.push(asset);
            }
        }
        // What it shares with us: the assets it owns that the business sees.
        let theirs = sqlx::query(
            "SELECT owner_id AS partner_id, asset_id, '[]' AS permissions, name, kind FROM app_assets \
             WHERE workspace_id = $1 AND app_id = $2 AND vanished_at IS NULL AND owner_id IS NOT NULL ORDER BY asset_id",
        )
        .bind(self.ws_str())
        .bind(&a)
        .fetch_all(&self.store.pool)
        .await?;
        for t in &theirs {
            let (id, asset) = asset_row(t)?;
            if let Some(&i) = index.get(&id) {
                out[i].theirs.push(asset);
            }
        }
        let conns = sqlx::query(
            "SELECT * FROM partner_connections WHERE workspace_id = $1 AND app_id = $2",
        )
        .bind(self.ws_str())
        .bind(&a)
        .fetch_all(&self.store.pool)
        .await?;
        for c in &conns {
            let id: String = c.try_get("partner_id")?;
            if let Some(&i) = index.get(&id) {
                out[i].connection = Some(PartnerConnection {
                    account: get_id(c, "automation_account_id")?,
                    connected: c.try_get::<String, _>("status")? == "connected",
                    message: c.try_get("status_message")?,
                    connected_at: get_time(c, "connected_at")?,
                });
            }
        }
        Ok(out)
    }

    /// One partner of the app, if the last check found it.
    pub async fn partner(&self, app: AppId, partner_id: &str) -> Result<Option<Partner>> {
        Ok(self
            .partners(app)
            .await?
            .into_iter()
            .find(|p| p.partner_id == partner_id))
    }

    /// Records a partner as connected through `account` (replacing an earlier connection),
    /// audited.
    pub async fn connect_partner(
        &self,
        actor: &Actor,
        app: AppId,
        partner_id: &str,
        account: AutomationAccountId,
    ) -> Result<()> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO partner_connections (workspace_id, app_id, partner_id, automation_account_id, status, status_message, connected_at) \
             VALUES ($1, $2, $3, $4, 'connected', NULL, $5) \
             ON CONFLICT (app_id, partner_id) DO UPDATE SET automation_account_id = excluded.automation_account_id, \
             status = 'connected', status_message = NULL, connected_at = excluded.connected_at",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(partner_id)
        .bind(account.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "partner.connect",
                format!("app:{app}/partner:{partner_id}"),
                serde_json::json!({ "automation_account_id": account.to_string() }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stops reading a partner (its account stays); audited. Not connected: not found.
    pub async fn disconnect_partner(
        &self,
        actor: &Actor,
        app: AppId,
        partner_id: &str,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query(
            "DELETE FROM partner_connections WHERE workspace_id = $1 AND app_id = $2 AND partner_id = $3",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(partner_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(crate::StoreError::NotFound("partner connection"));
        }
        let deleted = crate::partner_users::delete_partner_users(
            &mut tx,
            self.store.backend,
            &self.ws_str(),
            &app.to_string(),
            partner_id,
        )
        .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "partner.disconnect",
                format!("app:{app}/partner:{partner_id}"),
                serde_json::json!({ "partner_users_deleted": deleted }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a connected partner as failing (or connected again), with the reason.
    pub async fn set_partner_status(
        &self,
        app: AppId,
        partner_id: &str,
        failure: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE partner_connections SET status = $4, status_message = $5 WHERE workspace_id = $1 AND app_id = $2 AND partner_id = $3",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(partner_id)
        .bind(if failure.is_some() { "error" } else { "connected" })
        .bind(failure)
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }
}
