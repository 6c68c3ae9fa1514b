//! The workspace's platform apps (client id and sealed secret), the one-time states of the
//! consent page, and the tokens an authorization brings.

use crate::accounts::OWNER_AUTOMATION;
use crate::accounts::put_secret;
use crate::audit::append;
use crate::secrets::SealedSecret;
use crate::{Result, Scoped, Store, StoreError, get_id, get_opt_id, get_parsed, ms};
use castellan_domain::apps::Platform;
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{AppId, AutomationAccountId, Timestamp, WorkspaceId};
use sqlx::Row;

/// A workspace's OAuth app on one platform.
#[derive(Debug, Clone)]
pub struct PlatformApp {
    pub platform: Platform,
    pub client_id: String,
    pub authorize_url: String,
    pub token_url: String,
    pub secret: SealedSecret,
}

/// An authorization in progress, found by its state.
#[derive(Debug, Clone)]
pub struct OauthState {
    pub workspace_id: WorkspaceId,
    pub automation_account_id: AutomationAccountId,
    pub platform: Platform,
    pub redirect_uri: String,
    /// The native partner (of an app) to connect through the account once it holds a token.
    pub partner: Option<(AppId, String)>,
}

pub(crate) const OWNER_PLATFORM_APP: &str = "platform_app";

impl Scoped<'_> {
    /// Sets the platform app (client id, URLs, sealed secret), replacing any previous one.
    pub async fn put_platform_app(
        &self,
        actor: &Actor,
        platform: Platform,
        client_id: &str,
        authorize_url: &str,
        token_url: &str,
        secret: &SealedSecret,
    ) -> Result<()> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM platform_apps WHERE workspace_id = $1 AND platform = $2")
            .bind(self.ws_str())
            .bind(platform.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO platform_apps (workspace_id, platform, client_id, authorize_url, token_url, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(self.ws_str())
            .bind(platform.as_str())
            .bind(client_id)
            .bind(authorize_url)
            .bind(token_url)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3").bind(self.ws_str()).bind(OWNER_PLATFORM_APP).bind(platform.as_str()).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO vault_secrets (id, workspace_id, owner_kind, owner_id, name, sealed, key_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
            .bind(secret.id.to_string())
            .bind(self.ws_str())
            .bind(OWNER_PLATFORM_APP)
            .bind(platform.as_str())
            .bind(&secret.name)
            .bind(&secret.sealed)
            .bind(secret.key_version)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "platform": platform.as_str(), "client_id": client_id, "authorize_url": authorize_url, "token_url": token_url });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "platform_app.set",
                format!("platform_app:{platform}"),
                details,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn platform_app(&self, platform: Platform) -> Result<PlatformApp> {
        let row =
            sqlx::query("SELECT * FROM platform_apps WHERE workspace_id = $1 AND platform = $2")
                .bind(self.ws_str())
                .bind(platform.as_str())
                .fetch_optional(&self.store.pool)
                .await?
                .ok_or(StoreError::NotFound("platform app"))?;
        let s = sqlx::query("SELECT id, name, sealed, key_version FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3")
            .bind(self.ws_str())
            .bind(OWNER_PLATFORM_APP)
            .bind(platform.as_str())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("platform app secret"))?;
        Ok(PlatformApp {
            platform,
            client_id: row.try_get("client_id")?,
            authorize_url: row.try_get("authorize_url")?,
            token_url: row.try_get("token_url")?,
            secret: SealedSecret {
                id: get_id(&s, "id")?,
                name: s.try_get("name")?,
                sealed: s.try_get("sealed")?,
                key_version: s.try_get("key_version")?,
            },
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn create_oauth_state(
        &self,
        actor: &Actor,
        account: AutomationAccountId,
        platform: Platform,
        state_hash: &str,
        redirect_uri: &str,
        expires_at: Timestamp,
        partner: Option<(AppId, &str)>,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO oauth_states (state_hash, workspace_id, automation_account_id, platform, redirect_uri, created_by, expires_at, partner_app_id, partner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(state_hash)
            .bind(self.ws_str())
            .bind(account.to_string())
            .bind(platform.as_str())
            .bind(redirect_uri)
            .bind(actor.person().map(|p| p.to_string()))
            .bind(ms(expires_at))
            .bind(partner.map(|(a, _)| a.to_string()))
            .bind(partner.map(|(_, p)| p.to_string()))
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "automation_account.oauth.start",
                format!("automation_account:{account}"),
                serde_json::json!({ "platform": platform.as_str() }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the account's platform tokens (sealed) after an authorization.
    pub async fn set_automation_tokens(
        &self,
        actor: &Actor,
        account: AutomationAccountId,
        secrets: &[SealedSecret],
        expires_at: Option<Timestamp>,
        scopes: Option<&str>,
    ) -> Result<()> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        for s in secrets {
            sqlx::query("DELETE FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3 AND name = $4")
                .bind(self.ws_str())
                .bind(OWNER_AUTOMATION)
                .bind(account.to_string())
                .bind(&s.name)
                .execute(&mut *tx)
                .await?;
            put_secret(&mut tx, self, &account.to_string(), s).await?;
        }
        sqlx::query("UPDATE automation_accounts SET token_expires_at = $3, token_scopes = COALESCE($4, token_scopes), updated_at = $5 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(account.to_string())
            .bind(expires_at.map(ms))
            .bind(scopes)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "automation_account.tokens.update",
                format!("automation_account:{account}"),
                serde_json::json!({ "secrets": names }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Consumes an authorization's state once (unexpired, unused).
    pub async fn consume_oauth_state(&self, state_hash: &str) -> Result<Option<OauthState>> {
        let now = ms(self.env.now());
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("UPDATE oauth_states SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING workspace_id, automation_account_id, platform, redirect_uri, partner_app_id, partner_id")
            .bind(state_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(OauthState {
                workspace_id: get_id(&r, "workspace_id")?,
                automation_account_id: get_id(&r, "automation_account_id")?,
                platform: get_parsed(&r, "platform")?,
                redirect_uri: r.try_get("redirect_uri")?,
                partner: match (
                    get_opt_id::<AppId>(&r, "partner_app_id")?,
                    r.try_get::<Option<String>, _>("partner_id")?,
                ) {
                    (Some(a), Some(p)) => Some((a, p)),
                    _ => None,
                },
            })
        })
        .transpose()
    }
}
