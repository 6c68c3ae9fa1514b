//! People in a workspace, their browser sessions and their API tokens.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::auth::ApiScope;
use castellan_domain::values::Email;
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{PersonId, SessionId, Timestamp, TokenId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::append;
use crate::{
    ApiToken, Credentials, Page, Person, Result, Scoped, Session, Store, StoreError, get_bool,
    get_id, get_opt_time, get_parsed, get_time, ms, unique_as,
};

const PERSON_COLS: &str = "p.id, p.workspace_id, p.email, p.display_name, p.role, p.must_change_password, p.disabled, p.created_at, p.updated_at";

fn person_from_row(row: &AnyRow) -> Result<Person> {
    Ok(Person {
        id: get_id(row, "id")?,
        workspace_id: get_id(row, "workspace_id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: get_parsed(row, "role")?,
        must_change_password: get_bool(row, "must_change_password")?,
        disabled: get_bool(row, "disabled")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: get_id(row, "id")?,
        workspace_id: get_id(row, "workspace_id")?,
        person_id: get_id(row, "person_id")?,
        name: row.try_get("name")?,
        scope: get_parsed(row, "scope")?,
        created_at: get_time(row, "created_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

/// Fields a caller may change on a person.
#[derive(Debug, Clone, Default)]
pub struct PersonUpdate {
    pub role: Option<WorkspaceRole>,
    pub display_name: Option<Option<String>>,
    pub disabled: Option<bool>,
}

impl Store {
    /// Sign-in happens before a workspace is known: every enabled person with this e-mail.
    pub async fn credentials_by_email(&self, email: &Email) -> Result<Vec<Credentials>> {
        let rows = sqlx::query(&format!(
            "SELECT {PERSON_COLS}, p.password_hash, w.name_canonical FROM people p JOIN workspaces w ON w.id = p.workspace_id \
             WHERE p.email_canonical = $1 ORDER BY w.name_canonical"
        ))
        .bind(email.canonical())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Credentials {
                    person: person_from_row(r)?,
                    password_hash: r.try_get("password_hash")?,
                })
            })
            .collect()
    }

    /// The live session whose token hashes to `token_hash`, with its (enabled) person.
    pub async fn session_by_token_hash(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLS}, s.id AS session_id, s.csrf_token, s.expires_at FROM sessions s JOIN people p ON p.id = s.person_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND p.disabled = 0"
        ))
        .bind(token_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let person = person_from_row(&r)?;
            Ok(Session {
                id: get_id(&r, "session_id")?,
                workspace_id: person.workspace_id,
                person,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: get_time(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    /// Failed sign-ins recorded for `key_hash` since `since`: how many, and the oldest.
    pub async fn signin_failures(
        &self,
        key_hash: &str,
        since: Timestamp,
    ) -> Result<(i64, Option<Timestamp>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM signin_failures WHERE key_hash = $1 AND at > $2",
        )
        .bind(key_hash)
        .bind(ms(since))
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, get_opt_time(&row, "oldest")?))
    }

    /// Records a failed sign-in, and prunes failures older than `prune_before` (any key).
    pub async fn record_signin_failure(
        &self,
        key_hash: &str,
        at: Timestamp,
        prune_before: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM signin_failures WHERE at <= $1")
            .bind(ms(prune_before))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO signin_failures (key_hash, at) VALUES ($1, $2)")
            .bind(key_hash)
            .bind(ms(at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets a key's failures (after a successful sign-in).
    pub async fn clear_signin_failures(&self, key_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM signin_failures WHERE key_hash = $1")
            .bind(key_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The unrevoked API token whose secret hashes to `token_hash`, with its enabled owner;
    /// records when it was last used.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<(ApiToken, Person)>> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLS}, t.id AS token_id, t.name AS token_name, t.scope, t.created_at AS token_created_at, \
             t.last_used_at, t.revoked_at FROM api_tokens t JOIN people p ON p.id = t.person_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND p.disabled = 0"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let person = person_from_row(&r)?;
        let token = ApiToken {
            id: get_id(&r, "token_id")?,
            workspace_id: person.workspace_id,
            person_id: person.id,
            name: r.try_get("token_name")?,
            scope: get_parsed(&r, "scope")?,
            created_at: get_time(&r, "token_created_at")?,
            last_used_at: get_opt_time(&r, "last_used_at")?,
            revoked_at: None,
        };
        // Best effort and coarse (once a minute) so reads do not turn into writes.
        let now = ms(self.env.now());
        if token.last_used_at.is_none_or(|t| now - ms(t) > 60_000) {
            let _ = sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(token.id.to_string())
                .bind(now)
                .execute(&self.pool)
                .await;
        }
        Ok(Some((token, person)))
    }
}

impl Scoped<'_> {
    pub async fn person(&self, id: PersonId) -> Result<Person> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLS} FROM people p WHERE p.workspace_id = $1 AND p.id = $2"
        ))
        .bind(self.ws_str())
        .bind(id.to_string())
        .fetch_optional(&self.store.pool)
        .await?
        .ok_or(StoreError::NotFound("person"))?;
        person_from_row(&row)
    }

    pub async fn person_by_email(&self, email: &Email) -> Result<Person> {
        let row = sqlx::query(&format!("SELECT {PERSON_COLS} FROM people p WHERE p.workspace_id = $1 AND p.email_canonical = $2"))
            .bind(self.ws_str())
            .bind(email.canonical())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("person"))?;
        person_from_row(&row)
    }

    pub async fn people(&self, cursor: Option<PersonId>, limit: i64) -> Result<Page<Person>> {
        let rows = sqlx::query(&format!(
            "SELECT {PERSON_COLS} FROM people p WHERE p.workspace_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3"
        ))
        .bind(self.ws_str())
        .bind(cursor.map(|c| c.to_string()).unwrap_or_default())
        .bind(limit + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(person_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_by_id(&mut items, limit, |p| p.id.to_string()))
    }

    pub async fn create_person(
        &self,
        actor: &Actor,
        email: &Email,
        display_name: Option<&str>,
        role: WorkspaceRole,
        password_hash: Option<&str>,
    ) -> Result<Person> {
        let id = PersonId::new(&self.store.env);
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO people (id, workspace_id, email, email_canonical, display_name, role, password_hash, must_change_password, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9)",
        )
        .bind(id.to_string())
        .bind(self.ws_str())
        .bind(email.as_str())
        .bind(email.canonical())
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(i64::from(password_hash.is_some()))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unique_as("email", "a person with this e-mail already exists in the workspace"))?;
        let details = serde_json::json!({ "email": email.as_str(), "role": role.as_str() });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "person.create", format!("person:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        self.person(id).await
    }

    pub async fn update_person(
        &self,
        actor: &Actor,
        id: PersonId,
        u: &PersonUpdate,
    ) -> Result<Person> {
        let before = self.person(id).await?;
        let mut tx = self.store.begin_write().await?;
        let now = ms(self.store.env.now());
        let role = u.role.unwrap_or(before.role);
        let display = u
            .display_name
            .clone()
            .unwrap_or(before.display_name.clone());
        let disabled = u.disabled.unwrap_or(before.disabled);
        if before.role == WorkspaceRole::Owner && (role != WorkspaceRole::Owner || disabled) {
            // Never leave a workspace without an enabled Owner.
            let owners: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM people WHERE workspace_id = $1 AND role = 'owner' AND disabled = 0 AND id <> $2",
            )
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if owners == 0 {
                return Err(StoreError::conflict(
                    "role",
                    "the workspace must keep at least one enabled Owner",
                ));
            }
        }
        sqlx::query("UPDATE people SET role = $3, display_name = $4, disabled = $5, updated_at = $6 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(role.as_str())
            .bind(display.clone())
            .bind(i64::from(disabled))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if disabled && !before.disabled {
            sqlx::query("DELETE FROM sessions WHERE person_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let details = serde_json::json!({
            "role": { "from": before.role.as_str(), "to": role.as_str() },
            "display_name": display,
            "disabled": disabled,
        });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "person.update", format!("person:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        self.person(id).await
    }

    pub async fn set_password(
        &self,
        actor: &Actor,
        id: PersonId,
        password_hash: &str,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query("UPDATE people SET password_hash = $3, must_change_password = 0, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(password_hash)
            .bind(ms(self.store.env.now()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("person"));
        }
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "person.password.change",
                format!("person:{id}"),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_session(
        &self,
        person: PersonId,
        token_hash: &str,
        csrf_token: &str,
        expires_at: Timestamp,
    ) -> Result<SessionId> {
        let id = SessionId::new(&self.store.env);
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO sessions (id, workspace_id, person_id, token_hash, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id.to_string())
            .bind(self.ws_str())
            .bind(person.to_string())
            .bind(token_hash)
            .bind(csrf_token)
            .bind(ms(self.store.env.now()))
            .bind(ms(expires_at))
            .execute(&mut *tx)
            .await?;
        let actor = Actor::Person { id: person };
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                &actor,
                "session.create",
                format!("person:{person}"),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn create_token(
        &self,
        actor: &Actor,
        person: PersonId,
        name: &str,
        scope: ApiScope,
        token_hash: &str,
    ) -> Result<ApiToken> {
        let id = TokenId::new(&self.store.env);
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO api_tokens (id, workspace_id, person_id, name, token_hash, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id.to_string())
            .bind(self.ws_str())
            .bind(person.to_string())
            .bind(name)
            .bind(token_hash)
            .bind(scope.as_str())
            .bind(ms(self.store.env.now()))
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "name": name, "scope": scope.as_str(), "person": person.to_string() });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(actor, "token.create", format!("token:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        self.token(person, id).await
    }

    pub async fn token(&self, person: PersonId, id: TokenId) -> Result<ApiToken> {
        let row = sqlx::query(
            "SELECT * FROM api_tokens WHERE workspace_id = $1 AND person_id = $2 AND id = $3",
        )
        .bind(self.ws_str())
        .bind(person.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.store.pool)
        .await?
        .ok_or(StoreError::NotFound("token"))?;
        token_from_row(&row)
    }

    /// `person`'s tokens, oldest first.
    pub async fn tokens(
        &self,
        person: PersonId,
        cursor: Option<TokenId>,
        limit: i64,
    ) -> Result<Page<ApiToken>> {
        let rows = sqlx::query("SELECT * FROM api_tokens WHERE workspace_id = $1 AND person_id = $2 AND id > $3 ORDER BY id LIMIT $4")
            .bind(self.ws_str())
            .bind(person.to_string())
            .bind(cursor.map(|c| c.to_string()).unwrap_or_default())
            .bind(limit + 1)
            .fetch_all(&self.store.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(token_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_by_id(&mut items, limit, |t| t.id.to_string()))
    }

    /// Revokes one of `person`'s tokens. Revoking twice is not an error (nothing changes).
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        person: PersonId,
        id: TokenId,
    ) -> Result<ApiToken> {
        let t = self.token(person, id).await?;
        if t.revoked_at.is_some() {
            return Ok(t);
        }
        let mut tx = self.store.begin_write().await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(ms(self.store.env.now()))
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "token.revoke",
                format!("token:{id}"),
                serde_json::json!({ "name": t.name }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.token(person, id).await
    }
}

/// Trims a `limit + 1` fetch to `limit` and derives the next cursor from the last item.
pub(crate) fn page_by_id<T>(items: &mut Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(key)
    } else {
        None
    };
    Page {
        items: std::mem::take(items),
        next_cursor,
    }
}
