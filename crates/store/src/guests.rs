//! Guest users: people with the workspace role Guest, invited by e-mail with a single-use
//! sign-in link. Only the link token's hash is stored; the e-mail carrying the link keeps its
//! full body sealed in the vault and a body without the link in the outbox.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::values::Email as EmailAddress;
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{GuestInviteId, PersonId, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::append;
use crate::secrets::{SealedSecret, put_owned_secret, sealed_from_row};
use crate::{
    Person, Result, Scoped, Store, StoreError, get_id, get_opt_time, get_time, ms, unique_as,
};

const OWNER_EMAIL: &str = "email";

/// Where a guest's latest invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    /// The link works until `expires_at`.
    Pending,
    Expired,
    /// The guest set a password with it.
    Accepted,
    Revoked,
}

impl InviteState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GuestInvite {
    pub id: GuestInviteId,
    pub person_id: PersonId,
    /// The outbox e-mail that carries the link.
    pub email_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl GuestInvite {
    pub fn state(&self, now: Timestamp) -> InviteState {
        if self.revoked_at.is_some() {
            InviteState::Revoked
        } else if self.used_at.is_some() {
            InviteState::Accepted
        } else if self.expires_at <= now {
            InviteState::Expired
        } else {
            InviteState::Pending
        }
    }
}

/// A guest user and their latest invitation.
#[derive(Debug, Clone, PartialEq)]
pub struct Guest {
    pub person: Person,
    pub invite: Option<GuestInvite>,
}

/// A new invitation: the link token's hash, when it expires, and the e-mail that carries it
/// (its body without the link, and its full body sealed by the vault).
pub struct NewInvite<'a> {
    pub token_hash: &'a str,
    pub expires_at: Timestamp,
    pub subject: &'a str,
    pub redacted_body: &'a str,
    pub sealed_body: &'a SealedSecret,
    /// `pending` when SMTP will send it, else `kept` in the outbox.
    pub send: bool,
    pub email_id: &'a str,
}

fn invite_from_row(r: &AnyRow) -> Result<GuestInvite> {
    Ok(GuestInvite {
        id: get_id(r, "id")?,
        person_id: get_id(r, "person_id")?,
        email_id: r.try_get("email_id")?,
        created_at: get_time(r, "created_at")?,
        expires_at: get_time(r, "expires_at")?,
        used_at: get_opt_time(r, "used_at")?,
        revoked_at: get_opt_time(r, "revoked_at")?,
    })
}

impl Store {
    /// The invitation a link token names, in whichever workspace it is (the guest is not
    /// signed in yet), with the guest.
    pub async fn guest_invite_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(GuestInvite, Person)>> {
        let Some(r) = sqlx::query("SELECT * FROM guest_invites WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let inv = invite_from_row(&r)?;
        let ws: castellan_domain::WorkspaceId = get_id(&r, "workspace_id")?;
        let person = self.ws(ws).person(inv.person_id).await?;
        Ok(Some((inv, person)))
    }
}

impl Scoped<'_> {
    /// Adds a guest user (role Guest, no password yet) and their first invitation, in one
    /// transaction; audited. An e-mail already in the workspace is a conflict.
    pub async fn invite_guest(
        &self,
        actor: &Actor,
        email: &EmailAddress,
        display_name: Option<&str>,
        new: &NewInvite<'_>,
    ) -> Result<(Person, GuestInvite)> {
        let id = PersonId::new(&self.store.env);
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO people (id, workspace_id, email, email_canonical, display_name, role, password_hash, must_change_password, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, 0, $7, $7)",
        )
        .bind(id.to_string())
        .bind(self.ws_str())
        .bind(email.as_str())
        .bind(email.canonical())
        .bind(display_name)
        .bind(WorkspaceRole::Guest.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unique_as("email", "a person with this e-mail already exists in the workspace"))?;
        let invite = self
            .insert_invite(&mut tx, actor, id, email.as_str(), new)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "guest.invite",
                format!("person:{id}"),
                serde_json::json!({ "email": email.as_str(), "expires_at": ms(new.expires_at), "email_id": new.email_id }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok((self.person(id).await?, invite))
    }

    /// A new link for a guest who has not set a password yet; earlier links stop working.
    pub async fn resend_guest_invite(
        &self,
        actor: &Actor,
        person: PersonId,
        new: &NewInvite<'_>,
    ) -> Result<GuestInvite> {
        let guest = self.guest(person).await?;
        if matches!(
            guest.invite.as_ref().map(|i| i.state(self.store.env.now())),
            Some(InviteState::Accepted)
        ) {
            return Err(StoreError::conflict(
                "id",
                "this guest has already set a password: there is nothing to resend",
            ));
        }
        if guest.person.disabled {
            return Err(StoreError::conflict("id", "this guest's access is revoked"));
        }
        let mut tx = self.store.begin_write().await?;
        sqlx::query("UPDATE guest_invites SET revoked_at = $3 WHERE workspace_id = $1 AND person_id = $2 AND used_at IS NULL AND revoked_at IS NULL")
            .bind(self.ws_str())
            .bind(person.to_string())
            .bind(ms(self.store.env.now()))
            .execute(&mut *tx)
            .await?;
        let invite = self
            .insert_invite(&mut tx, actor, person, &guest.person.email, new)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "guest.invite.resend",
                format!("person:{person}"),
                serde_json::json!({ "expires_at": ms(new.expires_at), "email_id": new.email_id }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(invite)
    }

    async fn insert_invite(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        actor: &Actor,
        person: PersonId,
        to: &str,
        new: &NewInvite<'_>,
    ) -> Result<GuestInvite> {
        let now = ms(self.store.env.now());
        crate::outbox::insert_email(
            tx,
            self,
            new.email_id,
            &[to.to_string()],
            (new.subject, new.redacted_body),
            Some(&format!("guest:{person}")),
            new.send,
        )
        .await?;
        put_owned_secret(tx, self, OWNER_EMAIL, new.email_id, new.sealed_body).await?;
        let id = GuestInviteId::new(&self.store.env);
        let created_by = match actor {
            Actor::Person { id } | Actor::Token { person_id: id, .. } => Some(id.to_string()),
            Actor::Automation { .. } => None,
        };
        sqlx::query(
            "INSERT INTO guest_invites (id, workspace_id, person_id, token_hash, email_id, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(self.ws_str())
        .bind(person.to_string())
        .bind(new.token_hash)
        .bind(new.email_id)
        .bind(created_by)
        .bind(now)
        .bind(ms(new.expires_at))
        .execute(&mut **tx)
        .await?;
        Ok(GuestInvite {
            id,
            person_id: person,
            email_id: Some(new.email_id.to_string()),
            created_at: self.store.env.now(),
            expires_at: new.expires_at,
            used_at: None,
            revoked_at: None,
        })
    }

    /// One guest user (a person with the role Guest) and their latest invitation.
    pub async fn guest(&self, person: PersonId) -> Result<Guest> {
        let p = self.person(person).await?;
        if p.role != WorkspaceRole::Guest {
            return Err(StoreError::NotFound("guest"));
        }
        let invite = sqlx::query("SELECT * FROM guest_invites WHERE workspace_id = $1 AND person_id = $2 ORDER BY id DESC LIMIT 1")
            .bind(self.ws_str())
            .bind(person.to_string())
            .fetch_optional(&self.store.pool)
            .await?
            .as_ref()
            .map(invite_from_row)
            .transpose()?;
        Ok(Guest { person: p, invite })
    }

    /// Every guest user, by e-mail, each with their latest invitation.
    pub async fn guests(&self) -> Result<Vec<Guest>> {
        let rows = sqlx::query(
            "SELECT id FROM people WHERE workspace_id = $1 AND role = 'guest' ORDER BY email_canonical LIMIT 1000",
        )
        .bind(self.ws_str())
        .fetch_all(&self.store.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.guest(get_id(r, "id")?).await?);
        }
        Ok(out)
    }

    /// Ends a guest's access: open links stop working, the person is disabled and signed out.
    pub async fn revoke_guest(&self, actor: &Actor, person: PersonId) -> Result<Guest> {
        self.guest(person).await?;
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("UPDATE guest_invites SET revoked_at = $3 WHERE workspace_id = $1 AND person_id = $2 AND used_at IS NULL AND revoked_at IS NULL")
            .bind(self.ws_str())
            .bind(person.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE people SET disabled = 1, updated_at = $3 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(self.ws_str())
        .bind(person.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for table in ["sessions", "api_tokens"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE person_id = $1"))
                .bind(person.to_string())
                .execute(&mut *tx)
                .await?;
        }
        // The accounts shared with them are unshared; their seats wait for the next report.
        let unshared =
            sqlx::query("DELETE FROM account_shares WHERE workspace_id = $1 AND person_id = $2")
                .bind(self.ws_str())
                .bind(person.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        crate::directory::bump_directory_version(&mut tx, self.ws).await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "guest.revoke",
                format!("person:{person}"),
                serde_json::json!({ "unshared": unshared }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.guest(person).await
    }

    /// Uses a sign-in link: exactly once, before it expires, and only while the guest's
    /// access stands; sets their password in the same transaction. `None` when the link does
    /// not work (used, expired, revoked or unknown), so a second use never succeeds.
    pub async fn accept_guest_invite(
        &self,
        token_hash: &str,
        password_hash: &str,
    ) -> Result<Option<Person>> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        let Some(r) = sqlx::query(
            "UPDATE guest_invites SET used_at = $3 WHERE workspace_id = $1 AND token_hash = $2 AND used_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $3 RETURNING person_id",
        )
        .bind(self.ws_str())
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let person: PersonId = get_id(&r, "person_id")?;
        let n = sqlx::query("UPDATE people SET password_hash = $3, must_change_password = 0, updated_at = $4 WHERE workspace_id = $1 AND id = $2 AND disabled = 0")
            .bind(self.ws_str())
            .bind(person.to_string())
            .bind(password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        // A seat invited as this guest is theirs from the next check.
        crate::directory::bump_directory_version(&mut tx, self.ws).await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                &Actor::Person { id: person },
                "guest.accept",
                format!("person:{person}"),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(self.person(person).await?))
    }

    /// The sealed full body of an outbox e-mail that carries a secret (a sign-in link), for
    /// the SMTP sender and for an audited reveal.
    pub async fn sealed_email_body(&self, email_id: &str) -> Result<Option<SealedSecret>> {
        let r = sqlx::query("SELECT id, name, sealed, key_version FROM vault_secrets WHERE workspace_id = $1 AND owner_kind = $2 AND owner_id = $3 AND name = 'body'")
            .bind(self.ws_str())
            .bind(OWNER_EMAIL)
            .bind(email_id)
            .fetch_optional(&self.store.pool)
            .await?;
        r.as_ref().map(sealed_from_row).transpose()
    }
}
