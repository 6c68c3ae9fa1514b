//! Account cards: a person's (or the automation account's) login to an app, the cards a person
//! holds with their role and how (their seat, a share, a group), shares, cards added by hand,
//! and a card's sealed fields.

use crate::audit::append;
use crate::people::page_by_id;
use crate::secrets::{SealedSecret, put_owned_secret, sealed_from_row};
use crate::{Page, Result, Scoped, StoreError, get_id, get_opt_id, get_parsed, get_time, ms};
use castellan_domain::apps::{CardStatus, Platform};
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{AutomationAccountId, CardId, PersonId, Timestamp, WorkspaceId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A card someone holds: their role on it (the highest of their paths) and each path.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldCard {
    pub card: AccountCard,
    pub role: castellan_domain::apps::AppRole,
    /// `own`, `automation` (the automation accounts' cards, held by the workspace's Owners, who
    /// may reveal an automation account's secrets), `person` (shared with them), or `group:<name>`, each with the
    /// role it gives (on
    /// their own seat's card, the role they were matched with on the app; on a card they
    /// added, Owner).
    pub paths: Vec<(String, castellan_domain::apps::AppRole)>,
}

/// Whom a card is shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareTarget {
    Person(PersonId),
    Group(castellan_domain::GroupId),
    /// A local partner: every guest of it (its Guest Admins and Guest Users) holds the card.
    Partner(castellan_domain::LocalPartnerId),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub id: castellan_domain::ShareId,
    pub card: CardId,
    pub to: ShareTarget,
    /// The person's e-mail, the group's or the partner's name.
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

pub(crate) fn card_from_row(row: &AnyRow) -> Result<AccountCard> {
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

pub(crate) const OWNER_CARD: &str = "card";

impl Scoped<'_> {
    /// The account cards a person holds (a card shared with a local partner reaches its guests:
    /// as shared for its Guest Admins, as Collaborator for its Guest Users), each with their
    /// role on it and how they got it:
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

    /// The cards a person holds: their own first, then those shared with them, then the
    /// automation accounts' (for Owners).
    pub async fn held_cards(&self, person: PersonId, email: &str) -> Result<Vec<HeldCard>> {
        let rows = sqlx::query(
            "SELECT c.*, COALESCE(c.app_role, 'owner') AS via_role, 'own' AS via, 0 AS holder_rank FROM account_cards c LEFT JOIN identities i ON i.id = c.identity_id \
             WHERE c.workspace_id = $1 AND c.automation_account_id IS NULL AND (c.person_id = $2 OR LOWER(i.primary_email) = LOWER($3)) \
             UNION ALL SELECT c.*, 'owner' AS via_role, 'automation' AS via, 2 AS holder_rank FROM account_cards c JOIN people p ON p.id = $2 AND p.workspace_id = c.workspace_id \
             WHERE c.workspace_id = $1 AND c.automation_account_id IS NOT NULL AND p.role = 'owner' AND p.disabled = 0 \
             UNION ALL SELECT c.*, sh.role AS via_role, 'person' AS via, 1 AS holder_rank FROM account_shares sh JOIN account_cards c ON c.id = sh.card_id \
             WHERE sh.workspace_id = $1 AND sh.person_id = $2 \
             UNION ALL SELECT c.*, sh.role AS via_role, 'group:' || g.display_name AS via, 1 AS holder_rank FROM account_shares sh JOIN account_cards c ON c.id = sh.card_id \
             JOIN directory_groups g ON g.id = sh.group_id JOIN group_members gm ON gm.group_id = sh.group_id \
             JOIN identities i ON i.id = gm.identity_id \
             WHERE sh.workspace_id = $1 AND LOWER(i.primary_email) = LOWER($3) AND i.active = 1 \
             UNION ALL SELECT c.*, CASE WHEN pp.role = 'guest_admin' THEN sh.role ELSE 'collaborator' END AS via_role, 'partner:' || lp.name AS via, 1 AS holder_rank FROM account_shares sh JOIN account_cards c ON c.id = sh.card_id \
             JOIN local_partners lp ON lp.id = sh.partner_id JOIN local_partner_people pp ON pp.partner_id = sh.partner_id \
             WHERE sh.workspace_id = $1 AND pp.person_id = $2 AND pp.role <> 'host_admin' AND lp.ended_at IS NULL \
             ORDER BY holder_rank, id LIMIT 2000",
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
        let (person, group, partner, label) = match &to {
            ShareTarget::Person(p) => (Some(p.to_string()), None, None, format!("person:{p}")),
            ShareTarget::Group(g) => (None, Some(g.to_string()), None, format!("group:{g}")),
            ShareTarget::Partner(l) => (None, None, Some(l.to_string()), format!("partner:{l}")),
        };
        let env = &self.store.env;
        let id = castellan_domain::ShareId::new(env);
        let now = ms(env.now());
        let mut tx = self.store.begin_write().await?;
        let column = if person.is_some() {
            "person_id"
        } else if group.is_some() {
            "group_id"
        } else {
            "partner_id"
        };
        sqlx::query(&format!(
            "DELETE FROM account_shares WHERE workspace_id = $1 AND card_id = $2 AND {column} = $3"
        ))
        .bind(self.ws_str())
        .bind(card.to_string())
        .bind(person.clone().or(group.clone()).or(partner.clone()))
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO account_shares (id, workspace_id, card_id, person_id, group_id, role, created_by, created_at, partner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(id.to_string())
            .bind(self.ws_str())
            .bind(card.to_string())
            .bind(person)
            .bind(group)
            .bind(role.as_str())
            .bind(actor.person().map(|p| p.to_string()))
            .bind(now)
            .bind(partner)
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
            "SELECT sh.id, sh.person_id, sh.group_id, sh.partner_id, sh.role, sh.created_at, p.email AS person_email, g.display_name AS group_name, lp.name AS partner_name \
             FROM account_shares sh LEFT JOIN people p ON p.id = sh.person_id LEFT JOIN directory_groups g ON g.id = sh.group_id \
             LEFT JOIN local_partners lp ON lp.id = sh.partner_id \
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
                    to: match (
                        get_opt_id::<PersonId>(r, "person_id")?,
                        get_opt_id(r, "partner_id")?,
                    ) {
                        (Some(p), _) => ShareTarget::Person(p),
                        (None, Some(l)) => ShareTarget::Partner(l),
                        (None, None) => ShareTarget::Group(
                            get_opt_id(r, "group_id")?
                                .ok_or(StoreError::Corrupt("share".into()))?,
                        ),
                    },
                    with: r
                        .try_get::<Option<String>, _>("person_email")?
                        .or(r.try_get::<Option<String>, _>("group_name")?)
                        .or(r.try_get::<Option<String>, _>("partner_name")?)
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

impl Scoped<'_> {
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
