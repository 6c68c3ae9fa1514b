//! Automation accounts, their sealed secrets, and account cards. The store never sees
//! plaintext: secrets arrive sealed by the vault and leave sealed.

use castellan_domain::apps::{CardStatus, Platform};
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{AutomationAccountId, CardId, PersonId, SecretId, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::audit::append;
use crate::people::page_by_id;
use crate::{
    Page, Result, Scoped, Store, StoreError, get_id, get_opt_id, get_opt_time, get_parsed,
    get_time, ms, unique_as,
};

/// A secret sealed by the vault, bound to (workspace, `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub id: SecretId,
    /// What it is for its owner: `password`, `access_token`, `refresh_token`, …
    pub name: String,
    pub sealed: String,
    pub key_version: i64,
}

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

/// A card someone holds: their role on it (the highest of their paths) and each path.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldCard {
    pub card: AccountCard,
    pub role: castellan_domain::apps::AppRole,
    /// `own`, `person` (shared with them), or `group:<name>`, each with the role it gives.
    pub paths: Vec<(String, castellan_domain::apps::AppRole)>,
}

/// Whom a card is shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareTarget {
    Person(PersonId),
    Group(castellan_domain::GroupId),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub id: castellan_domain::ShareId,
    pub card: CardId,
    pub to: ShareTarget,
    /// The person's e-mail or the group's name.
    pub with: String,
    pub role: castellan_domain::apps::AppRole,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountCard {
    pub id: CardId,
    pub workspace_id: WorkspaceId,
    pub automation_account_id: Option<AutomationAccountId>,
    pub label: String,
    pub platform: Platform,
    pub status: CardStatus,
    pub created_at: Timestamp,
    /// A person's card on an app: the app, the person, and their role there.
    pub app_id: Option<castellan_domain::AppId>,
    pub identity_id: Option<castellan_domain::IdentityId>,
    pub app_role: Option<castellan_domain::apps::AppRole>,
}

/// A stored secret with its place, for key rotation.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    pub id: SecretId,
    pub workspace_id: WorkspaceId,
    pub sealed: String,
    pub key_version: i64,
}

const OWNER_AUTOMATION: &str = "automation_account";

fn account_from_row(row: &AnyRow) -> Result<AutomationAccount> {
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

fn card_from_row(row: &AnyRow) -> Result<AccountCard> {
    Ok(AccountCard {
        id: get_id(row, "id")?,
        workspace_id: get_id(row, "workspace_id")?,
        automation_account_id: get_opt_id(row, "automation_account_id")?,
        label: row.try_get("label")?,
        platform: get_parsed(row, "platform")?,
        status: get_parsed(row, "status")?,
        created_at: get_time(row, "created_at")?,
        app_id: get_opt_id(row, "app_id")?,
        identity_id: get_opt_id(row, "identity_id")?,
        app_role: {
            let raw: Option<String> = row.try_get("app_role")?;
            raw.map(|r| {
                castellan_domain::apps::AppRole::parse("app_role", &r)
                    .map_err(|_| StoreError::Corrupt(format!("app role {r}")))
            })
            .transpose()?
        },
    })
}

const OWNER_CARD: &str = "card";

async fn put_secret(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    owner_id: &str,
    secret: &SealedSecret,
) -> Result<()> {
    put_owned_secret(conn, s, OWNER_AUTOMATION, owner_id, secret).await
}

/// A `vault_secrets` row (`id, name, sealed, key_version`) as a sealed secret.
pub(crate) fn sealed_from_row(r: &AnyRow) -> Result<SealedSecret> {
    Ok(SealedSecret {
        id: get_id(r, "id")?,
        name: r.try_get("name")?,
        sealed: r.try_get("sealed")?,
        key_version: r.try_get("key_version")?,
    })
}

pub(crate) async fn put_owned_secret(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    owner_kind: &str,
    owner_id: &str,
    secret: &SealedSecret,
) -> Result<()> {
    let now = ms(s.store.env.now());
    sqlx::query(
        "INSERT INTO vault_secrets (id, workspace_id, owner_kind, owner_id, name, sealed, key_version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(secret.id.to_string())
    .bind(s.ws_str())
    .bind(owner_kind)
    .bind(owner_id)
    .bind(&secret.name)
    .bind(&secret.sealed)
    .bind(secret.key_version)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Scoped<'_> {
    /// Creates the account, stores its sealed secrets, and creates its account card with the
    /// status "Connect your account", in one transaction.
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
            .bind(CardStatus::ConnectYourAccount.as_str())
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

    pub async fn account_card(&self, id: CardId) -> Result<AccountCard> {
        let row = sqlx::query("SELECT * FROM account_cards WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("account card"))?;
        card_from_row(&row)
    }

    pub async fn account_cards(
        &self,
        cursor: Option<CardId>,
        limit: i64,
    ) -> Result<Page<AccountCard>> {
        let rows = sqlx::query(
            "SELECT * FROM account_cards WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(self.ws_str())
        .bind(cursor.map(|c| c.to_string()).unwrap_or_default())
        .bind(limit + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let mut items = rows.iter().map(card_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_by_id(&mut items, limit, |c| c.id.to_string()))
    }
}

impl Store {
    /// Secrets of every workspace sealed with a key version other than `current`, oldest
    /// first, for re-wrapping after a key rotation.
    pub async fn secrets_to_rewrap(&self, current: i64, limit: i64) -> Result<Vec<StoredSecret>> {
        let rows = sqlx::query("SELECT id, workspace_id, sealed, key_version FROM vault_secrets WHERE key_version <> $1 ORDER BY id LIMIT $2")
            .bind(current)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredSecret {
                    id: get_id(r, "id")?,
                    workspace_id: get_id(r, "workspace_id")?,
                    sealed: r.try_get("sealed")?,
                    key_version: r.try_get("key_version")?,
                })
            })
            .collect()
    }

    /// Replaces a secret's sealed form if it is still the one that was read (so a concurrent
    /// change is never overwritten); returns whether it was replaced.
    pub async fn replace_sealed(
        &self,
        s: &StoredSecret,
        sealed: &str,
        key_version: i64,
    ) -> Result<bool> {
        let n = sqlx::query("UPDATE vault_secrets SET sealed = $3, key_version = $4, updated_at = $5 WHERE id = $1 AND sealed = $2")
            .bind(s.id.to_string())
            .bind(&s.sealed)
            .bind(sealed)
            .bind(key_version)
            .bind(ms(self.env.now()))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}

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
}

const OWNER_PLATFORM_APP: &str = "platform_app";

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

    pub async fn create_oauth_state(
        &self,
        actor: &Actor,
        account: AutomationAccountId,
        platform: Platform,
        state_hash: &str,
        redirect_uri: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO oauth_states (state_hash, workspace_id, automation_account_id, platform, redirect_uri, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(state_hash)
            .bind(self.ws_str())
            .bind(account.to_string())
            .bind(platform.as_str())
            .bind(redirect_uri)
            .bind(actor.person().map(|p| p.to_string()))
            .bind(ms(expires_at))
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
        let row = sqlx::query("UPDATE oauth_states SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING workspace_id, automation_account_id, platform, redirect_uri")
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
            })
        })
        .transpose()
    }
}

impl Scoped<'_> {
    /// The account cards a person holds, each with their role on it and how they got it:
    /// their own (and those of seats matched to the directory identity with their e-mail) as
    /// Owner, and those shared with them or with a directory group they belong to. Where
    /// several paths give different roles, the highest wins; all paths are listed.
    pub async fn cards_held_by(&self, person: PersonId, email: &str) -> Result<Vec<AccountCard>> {
        Ok(self
            .held_cards(person, email)
            .await?
            .into_iter()
            .map(|h| h.card)
            .collect())
    }

    pub async fn held_cards(&self, person: PersonId, email: &str) -> Result<Vec<HeldCard>> {
        let rows = sqlx::query(
            "SELECT c.*, 'owner' AS via_role, 'own' AS via FROM account_cards c LEFT JOIN identities i ON i.id = c.identity_id \
             WHERE c.workspace_id = $1 AND c.automation_account_id IS NULL AND (c.person_id = $2 OR LOWER(i.primary_email) = LOWER($3)) \
             UNION ALL SELECT c.*, sh.role AS via_role, 'person' AS via FROM account_shares sh JOIN account_cards c ON c.id = sh.card_id \
             WHERE sh.workspace_id = $1 AND sh.person_id = $2 \
             UNION ALL SELECT c.*, sh.role AS via_role, 'group:' || g.display_name AS via FROM account_shares sh JOIN account_cards c ON c.id = sh.card_id \
             JOIN directory_groups g ON g.id = sh.group_id JOIN group_members gm ON gm.group_id = sh.group_id \
             JOIN identities i ON i.id = gm.identity_id \
             WHERE sh.workspace_id = $1 AND LOWER(i.primary_email) = LOWER($3) AND i.active = 1 \
             ORDER BY id LIMIT 2000",
        )
        .bind(self.ws_str())
        .bind(person.to_string())
        .bind(email)
        .fetch_all(&self.store.pool)
        .await?;
        let mut out: Vec<HeldCard> = Vec::new();
        for r in &rows {
            let card = card_from_row(r)?;
            let role = castellan_domain::apps::AppRole::parse(
                "role",
                &r.try_get::<String, _>("via_role")?,
            )
            .map_err(|_| StoreError::Corrupt("share role".into()))?;
            let via: String = r.try_get("via")?;
            match out.iter_mut().find(|h| h.card.id == card.id) {
                Some(h) => {
                    if role == castellan_domain::apps::AppRole::Owner {
                        h.role = role;
                    }
                    h.paths.push((via, role));
                }
                None => out.push(HeldCard {
                    card,
                    role,
                    paths: vec![(via, role)],
                }),
            }
        }
        Ok(out)
    }

    /// Shares a card with a person or a group (exactly one), or changes the role of an
    /// existing share; audited.
    pub async fn share_card(
        &self,
        actor: &Actor,
        card: CardId,
        to: ShareTarget,
        role: castellan_domain::apps::AppRole,
    ) -> Result<Share> {
        self.account_card(card).await?;
        let (person, group, label) = match &to {
            ShareTarget::Person(p) => (Some(p.to_string()), None, format!("person:{p}")),
            ShareTarget::Group(g) => (None, Some(g.to_string()), format!("group:{g}")),
        };
        let env = &self.store.env;
        let id = castellan_domain::ShareId::new(env);
        let now = ms(env.now());
        let mut tx = self.store.begin_write().await?;
        let column = if person.is_some() {
            "person_id"
        } else {
            "group_id"
        };
        sqlx::query(&format!(
            "DELETE FROM account_shares WHERE workspace_id = $1 AND card_id = $2 AND {column} = $3"
        ))
        .bind(self.ws_str())
        .bind(card.to_string())
        .bind(person.clone().or(group.clone()))
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO account_shares (id, workspace_id, card_id, person_id, group_id, role, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(id.to_string())
            .bind(self.ws_str())
            .bind(card.to_string())
            .bind(person)
            .bind(group)
            .bind(role.as_str())
            .bind(actor.person().map(|p| p.to_string()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "account.share",
                format!("account_card:{card}"),
                serde_json::json!({ "with": label, "role": role.as_str() }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.shares(card)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(StoreError::NotFound("share"))
    }

    /// A card's shares, with whom they are with (a person's e-mail or a group's name).
    pub async fn shares(&self, card: CardId) -> Result<Vec<Share>> {
        let rows = sqlx::query(
            "SELECT sh.id, sh.person_id, sh.group_id, sh.role, sh.created_at, p.email AS person_email, g.display_name AS group_name \
             FROM account_shares sh LEFT JOIN people p ON p.id = sh.person_id LEFT JOIN directory_groups g ON g.id = sh.group_id \
             WHERE sh.workspace_id = $1 AND sh.card_id = $2 ORDER BY sh.id",
        )
        .bind(self.ws_str())
        .bind(card.to_string())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok(Share {
                    id: get_id(r, "id")?,
                    card,
                    to: match get_opt_id::<PersonId>(r, "person_id")? {
                        Some(p) => ShareTarget::Person(p),
                        None => ShareTarget::Group(
                            get_opt_id(r, "group_id")?
                                .ok_or(StoreError::Corrupt("share".into()))?,
                        ),
                    },
                    with: r
                        .try_get::<Option<String>, _>("person_email")?
                        .or(r.try_get::<Option<String>, _>("group_name")?)
                        .unwrap_or_default(),
                    role: castellan_domain::apps::AppRole::parse("role", &role)
                        .map_err(|_| StoreError::Corrupt("share role".into()))?,
                    created_at: get_time(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Removes a share; audited.
    pub async fn unshare_card(
        &self,
        actor: &Actor,
        card: CardId,
        share: castellan_domain::ShareId,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query(
            "DELETE FROM account_shares WHERE workspace_id = $1 AND card_id = $2 AND id = $3",
        )
        .bind(self.ws_str())
        .bind(card.to_string())
        .bind(share.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("share"));
        }
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "account.unshare",
                format!("account_card:{card}"),
                serde_json::json!({ "share": share.to_string() }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A card a person adds by hand for an account of their own (no app): they hold it as
    /// its Owner. Audited.
    pub async fn add_card(
        &self,
        actor: &Actor,
        person: PersonId,
        platform: Platform,
        label: &str,
    ) -> Result<AccountCard> {
        let id = CardId::new(&self.store.env);
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO account_cards (id, workspace_id, automation_account_id, person_id, label, platform, status, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $7)")
            .bind(id.to_string())
            .bind(self.ws_str())
            .bind(person.to_string())
            .bind(label)
            .bind(platform.as_str())
            .bind(CardStatus::ConnectYourAccount.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "account.add",
                format!("account_card:{id}"),
                serde_json::json!({ "label": label, "platform": platform.as_str(), "person_id": person.to_string() }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.account_card(id).await
    }

    /// Saves a person's own credentials for their card (each field sealed by the caller),
    /// replacing what was saved before, and marks it Connected; audited without the values.
    pub async fn connect_card(
        &self,
        actor: &Actor,
        card: CardId,
        secrets: &[SealedSecret],
    ) -> Result<AccountCard> {
        let before = self.account_card(card).await?;
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3")
            .bind(self.ws_str())
            .bind(OWNER_CARD)
            .bind(card.to_string())
            .execute(&mut *tx)
            .await?;
        for s in secrets {
            put_owned_secret(&mut tx, self, OWNER_CARD, &card.to_string(), s).await?;
        }
        sqlx::query("UPDATE account_cards SET status = $3, connected_at = $4, password_set_at = $4, rotation_queued_at = NULL, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(card.to_string())
            .bind(CardStatus::Connected.as_str())
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
                "account.connect",
                format!("account_card:{card}"),
                serde_json::json!({ "label": before.label, "fields": names }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.account_card(card).await
    }

    /// The sealed fields saved for a card.
    pub async fn card_secrets(&self, card: CardId) -> Result<Vec<SealedSecret>> {
        let rows = sqlx::query("SELECT id, name, sealed, key_version FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3 ORDER BY name")
            .bind(self.ws_str())
            .bind(OWNER_CARD)
            .bind(card.to_string())
            .fetch_all(&self.store.pool)
            .await?;
        rows.iter().map(sealed_from_row).collect()
    }

    /// Records a reveal of a card's credentials: who, when (the event's time), from where.
    pub async fn audit_card_reveal(
        &self,
        actor: &Actor,
        card: CardId,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE account_cards SET last_revealed_at = $3 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(self.ws_str())
        .bind(card.to_string())
        .bind(ms(self.store.env.now()))
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "account.reveal",
                format!("account_card:{card}"),
                serde_json::json!({ "ip": ip, "user_agent": user_agent }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

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

impl Scoped<'_> {
    /// Everyone who holds a card: its own holder (the seat's person or whoever added it), the
    /// people it is shared with, and the active members of the groups it is shared with.
    pub async fn card_holder_emails(&self, card: CardId) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT i.primary_email AS email FROM account_cards c JOIN identities i ON i.id = c.identity_id WHERE c.workspace_id = $1 AND c.id = $2 \
             UNION SELECT p.email FROM account_cards c JOIN people p ON p.id = c.person_id WHERE c.workspace_id = $1 AND c.id = $2 \
             UNION SELECT p.email FROM account_shares sh JOIN people p ON p.id = sh.person_id WHERE sh.workspace_id = $1 AND sh.card_id = $2 \
             UNION SELECT i.primary_email FROM account_shares sh JOIN group_members gm ON gm.group_id = sh.group_id \
             JOIN identities i ON i.id = gm.identity_id WHERE sh.workspace_id = $1 AND sh.card_id = $2 AND i.active = 1",
        )
        .bind(self.ws_str())
        .bind(card.to_string())
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
}
