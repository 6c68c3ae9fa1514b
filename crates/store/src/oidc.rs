//! OIDC sign-in as the store keeps it: a workspace's IdP settings with the client secret sealed
//! in the vault (owned by the settings row, so master-key rotation re-wraps it), the workspaces
//! offering IdP sign-in, and the IdP subject an identity is linked to at first sign-in.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::oidc::OidcSettings;
use castellan_domain::{IdentityId, Timestamp, WorkspaceId};
use sqlx::Row;

use crate::audit::append;
use crate::directory::identity_from_row;
use crate::secrets::{SealedSecret, put_owned_secret, sealed_from_row};
use crate::{Identity, Result, Scoped, Store, StoreError, get_bool, get_id, get_time, ms};

pub(crate) const OWNER_OIDC: &str = "oidc_config";

/// A workspace's IdP settings and its sealed client secret.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub workspace_id: WorkspaceId,
    pub settings: OidcSettings,
    pub secret: Option<SealedSecret>,
    pub updated_at: Timestamp,
}

/// A workspace offering IdP sign-in, for the sign-in page's buttons.
#[derive(Debug, Clone)]
pub struct OidcOption {
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub display_name: String,
}

fn settings_from_row(r: &sqlx::any::AnyRow) -> Result<OidcSettings> {
    let domains: String = r.try_get("allowed_domains")?;
    Ok(OidcSettings {
        display_name: r.try_get("display_name")?,
        issuer: r.try_get("issuer")?,
        client_id: r.try_get("client_id")?,
        allowed_domains: serde_json::from_str(&domains)
            .map_err(|e| StoreError::Corrupt(format!("allowed_domains: {e}")))?,
        groups_claim: r.try_get("groups_claim")?,
        passwords_owners_only: get_bool(r, "passwords_owners_only")?,
        enabled: get_bool(r, "enabled")?,
    })
}

impl Store {
    /// Every workspace with IdP sign-in turned on, by workspace name.
    pub async fn oidc_options(&self) -> Result<Vec<OidcOption>> {
        let rows = sqlx::query(
            "SELECT o.workspace_id, o.display_name, w.name FROM oidc_configs o JOIN workspaces w ON w.id = o.workspace_id \
             WHERE o.enabled = 1 ORDER BY w.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OidcOption {
                    workspace_id: get_id(r, "workspace_id")?,
                    workspace_name: r.try_get("name")?,
                    display_name: r.try_get("display_name")?,
                })
            })
            .collect()
    }
}

impl Scoped<'_> {
    pub async fn oidc_config(&self) -> Result<Option<OidcConfig>> {
        let Some(row) = sqlx::query("SELECT * FROM oidc_configs WHERE workspace_id = $1")
            .bind(self.ws_str())
            .fetch_optional(&self.store.pool)
            .await?
        else {
            return Ok(None);
        };
        let secret = sqlx::query(
            "SELECT id, name, sealed, key_version FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3",
        )
        .bind(self.ws_str())
        .bind(OWNER_OIDC)
        .bind(self.ws_str())
        .fetch_optional(&self.store.pool)
        .await?
        .map(|r| sealed_from_row(&r))
        .transpose()?;
        Ok(Some(OidcConfig {
            workspace_id: self.ws,
            settings: settings_from_row(&row)?,
            secret,
            updated_at: get_time(&row, "updated_at")?,
        }))
    }

    /// Sets the workspace's IdP settings; `secret` replaces the sealed client secret, `None`
    /// keeps the one held. Audited without the secret.
    pub async fn put_oidc_config(
        &self,
        actor: &Actor,
        s: &OidcSettings,
        secret: Option<&SealedSecret>,
    ) -> Result<()> {
        let now = ms(self.store.env.now());
        let domains = serde_json::to_string(&s.allowed_domains).expect("strings serialise");
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO oidc_configs (workspace_id, display_name, issuer, client_id, allowed_domains, groups_claim, passwords_owners_only, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (workspace_id) DO UPDATE SET display_name = $2, issuer = $3, client_id = $4, allowed_domains = $5, \
             groups_claim = $6, passwords_owners_only = $7, enabled = $8, updated_at = $9",
        )
        .bind(self.ws_str())
        .bind(&s.display_name)
        .bind(&s.issuer)
        .bind(&s.client_id)
        .bind(domains)
        .bind(&s.groups_claim)
        .bind(i64::from(s.passwords_owners_only))
        .bind(i64::from(s.enabled))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(secret) = secret {
            sqlx::query(
                "DELETE FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3",
            )
            .bind(self.ws_str())
            .bind(OWNER_OIDC)
            .bind(self.ws_str())
            .execute(&mut *tx)
            .await?;
            put_owned_secret(&mut tx, self, OWNER_OIDC, &self.ws_str(), secret).await?;
        }
        let details = serde_json::json!({
            "display_name": s.display_name, "issuer": s.issuer, "client_id": s.client_id,
            "allowed_domains": s.allowed_domains, "groups_claim": s.groups_claim,
            "passwords_owners_only": s.passwords_owners_only, "enabled": s.enabled,
            "client_secret_changed": secret.is_some(),
        });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "oidc.configure", "oidc", details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes IdP sign-in (settings and secret); identities keep their linked subjects, so
    /// configuring the same IdP again signs the same people in.
    pub async fn delete_oidc_config(&self, actor: &Actor) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query("DELETE FROM oidc_configs WHERE workspace_id = $1")
            .bind(self.ws_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("OIDC configuration"));
        }
        sqlx::query(
            "DELETE FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3",
        )
        .bind(self.ws_str())
        .bind(OWNER_OIDC)
        .bind(self.ws_str())
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "oidc.delete", "oidc", serde_json::json!({})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The identity linked to this IdP subject.
    pub async fn identity_by_oidc_subject(&self, sub: &str) -> Result<Option<Identity>> {
        let row =
            sqlx::query("SELECT * FROM identities WHERE workspace_id = $1 AND oidc_subject = $2")
                .bind(self.ws_str())
                .bind(sub)
                .fetch_optional(&self.store.pool)
                .await?;
        row.map(|r| identity_from_row(&r)).transpose()
    }

    /// The identity whose primary e-mail or userName is `email` (canonical), with the subject
    /// it is linked to. Other addresses are not used: a secondary address is not proof of who
    /// the directory says a person is.
    pub async fn identity_by_sign_in_email(
        &self,
        email_canonical: &str,
    ) -> Result<Option<(Identity, Option<String>)>> {
        let row = sqlx::query(
            "SELECT * FROM identities WHERE workspace_id = $1 AND (primary_email_canonical = $2 OR user_name_canonical = $2) \
             ORDER BY CASE WHEN primary_email_canonical = $2 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(self.ws_str())
        .bind(email_canonical)
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(|r| Ok((identity_from_row(&r)?, r.try_get("oidc_subject")?)))
            .transpose()
    }

    /// Links an identity to the IdP subject that signed in as it (once; audited).
    pub async fn link_oidc_subject(&self, actor: &Actor, id: IdentityId, sub: &str) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query(
            "UPDATE identities SET oidc_subject = $3 WHERE workspace_id = $1 AND id = $2 AND oidc_subject IS NULL",
        )
        .bind(self.ws_str())
        .bind(id.to_string())
        .bind(sub)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::conflict(
                "oidc_subject",
                "the identity is already linked to another IdP subject",
            ));
        }
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "directory.identity.oidc_link",
                format!("identity:{id}"),
                serde_json::json!({ "subject": sub }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Voids a one-time password nobody chose yet when its holder signs in with the IdP: the
    /// IdP proved who they are, and a forced password change would ask for a password they
    /// never received. Returns whether there was one.
    pub async fn void_one_time_password(&self, person: castellan_domain::PersonId) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE people SET password_hash = NULL, must_change_password = 0 WHERE workspace_id = $1 AND id = $2 AND must_change_password = 1",
        )
        .bind(self.ws_str())
        .bind(person.to_string())
        .execute(&self.store.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }
}
