//! Automation accounts and their sealed secrets (one writer of sealed rows, `put_secret`, and
//! one reader, `sealed_from_row`). The store never sees plaintext: secrets arrive sealed by the
//! vault and leave sealed. Cards, platform apps and rotation have their own modules.

use castellan_domain::apps::{CardStatus, Platform};
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{AutomationAccountId, CardId, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::audit::append;
use crate::cards::AccountCard;
use crate::people::page_by_id;
use crate::secrets::{SealedSecret, put_owned_secret, sealed_from_row};
use crate::{
    Page, Result, Scoped, StoreError, get_id, get_opt_time, get_parsed, get_time, ms, unique_as,
};

#[derive(Debug, Clone, PartialEq)]
pub struct AutomationAccount {
    pub id: AutomationAccountId,
    pub workspace_id: WorkspaceId,
    pub platform: Platform,
    pub label: String,
    pub email: String,
    pub phone: Option<String>,
    pub token_scopes: Option<String>,
    pub token_expires_at: Option<Timestamp>,
    /// Names of the secrets held (`password`, `access_token`, …), never their values.
    pub secrets: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewAutomationAccount {
    pub platform: Platform,
    pub label: String,
    pub email: String,
    pub phone: Option<String>,
    pub token_scopes: Option<String>,
    pub token_expires_at: Option<Timestamp>,
    pub secrets: Vec<SealedSecret>,
}

pub(crate) const OWNER_AUTOMATION: &str = "automation_account";

pub(crate) fn account_from_row(row: &AnyRow) -> Result<AutomationAccount> {
    Ok(AutomationAccount {
        id: get_id(row, "id")?,
        workspace_id: get_id(row, "workspace_id")?,
        platform: get_parsed(row, "platform")?,
        label: row.try_get("label")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        token_scopes: row.try_get("token_scopes")?,
        token_expires_at: get_opt_time(row, "token_expires_at")?,
        secrets: Vec::new(),
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

impl Scoped<'_> {
    /// Creates the account, stores its sealed secrets, and creates its account card (Connected
    /// when its password is among them, else "Connect your account"), in one transaction.
    pub async fn create_automation_account(
        &self,
        actor: &Actor,
        a: &NewAutomationAccount,
    ) -> Result<(AutomationAccount, AccountCard)> {
        let env = &self.store.env;
        let id = AutomationAccountId::new(env);
        let card = CardId::new(env);
        let now = ms(env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO automation_accounts (id, workspace_id, platform, label, label_canonical, email, phone, token_scopes, token_expires_at, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(id.to_string())
        .bind(self.ws_str())
        .bind(a.platform.as_str())
        .bind(&a.label)
        .bind(a.label.to_lowercase())
        .bind(&a.email)
        .bind(a.phone.clone())
        .bind(a.token_scopes.clone())
        .bind(a.token_expires_at.map(ms))
        .bind(actor.person().map(|p| p.to_string()))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unique_as("label", "an automation account with this label already exists"))?;
        for s in &a.secrets {
            put_secret(&mut tx, self, &id.to_string(), s).await?;
        }
        sqlx::query("INSERT INTO account_cards (id, workspace_id, automation_account_id, person_id, label, platform, status, created_at, updated_at) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $7)")
            .bind(card.to_string())
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(&a.label)
            .bind(a.platform.as_str())
            .bind(
                // Saved with its password (as the wizard does): its holders can log in now.
                if a.secrets.iter().any(|s| s.name == "password") {
                    CardStatus::Connected
                } else {
                    CardStatus::ConnectYourAccount
                }
                .as_str(),
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let names: Vec<&str> = a.secrets.iter().map(|s| s.name.as_str()).collect();
        let details = serde_json::json!({ "platform": a.platform.as_str(), "label": a.label, "email": a.email, "secrets": names });
        append(
            &mut tx,
            env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "automation_account.create",
                format!("automation_account:{id}"),
                details,
            ),
        )
        .await?;
        tx.commit().await?;
        let account = self.automation_account(id).await?;
        let card = self.account_card(card).await?;
        Ok((account, card))
    }

    async fn secret_names(&self, id: AutomationAccountId) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3 ORDER BY name")
            .bind(self.ws_str())
            .bind(OWNER_AUTOMATION)
            .bind(id.to_string())
            .fetch_all(&self.store.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    pub async fn automation_account(&self, id: AutomationAccountId) -> Result<AutomationAccount> {
        let row =
            sqlx::query("SELECT * FROM automation_accounts WHERE workspace_id = $1 AND id = $2")
                .bind(self.ws_str())
                .bind(id.to_string())
                .fetch_optional(&self.store.pool)
                .await?
                .ok_or(StoreError::NotFound("automation account"))?;
        let mut a = account_from_row(&row)?;
        a.secrets = self.secret_names(id).await?;
        Ok(a)
    }

    pub async fn automation_accounts(
        &self,
        cursor: Option<AutomationAccountId>,
        limit: i64,
    ) -> Result<Page<AutomationAccount>> {
        let rows = sqlx::query("SELECT * FROM automation_accounts WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(self.ws_str())
            .bind(cursor.map(|c| c.to_string()).unwrap_or_default())
            .bind(limit + 1)
            .fetch_all(&self.store.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(account_from_row)
            .collect::<Result<Vec<_>>>()?;
        for a in &mut items {
            a.secrets = self.secret_names(a.id).await?;
        }
        Ok(page_by_id(&mut items, limit, |a| a.id.to_string()))
    }

    /// One sealed secret of an automation account.
    pub async fn automation_secret(
        &self,
        id: AutomationAccountId,
        name: &str,
    ) -> Result<SealedSecret> {
        let row = sqlx::query("SELECT id, name, sealed, key_version FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3 AND name = $4")
            .bind(self.ws_str())
            .bind(OWNER_AUTOMATION)
            .bind(id.to_string())
            .bind(name)
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("secret"))?;
        sealed_from_row(&row)
    }

    /// Records that a secret was revealed to someone (the only way plaintext leaves Castellan).
    pub async fn audit_reveal(
        &self,
        actor: &Actor,
        id: AutomationAccountId,
        name: &str,
    ) -> Result<()> {
        let details = serde_json::json!({ "secret": name });
        self.audit(NewAuditEvent::success(
            actor,
            "automation_account.reveal",
            format!("automation_account:{id}"),
            details,
        ))
        .await?;
        Ok(())
    }
}

pub(crate) async fn put_secret(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    owner_id: &str,
    secret: &SealedSecret,
) -> Result<()> {
    put_owned_secret(conn, s, OWNER_AUTOMATION, owner_id, secret).await
}
