//! What SCIM needs of the store: the workspace's SCIM bearer tokens (hashed; last use recorded
//! coarsely so lookups stay reads), identities and groups found by the keys IdPs look them up
//! by, stable offset pages for `startIndex`/`count`, and an IdP's delete (kept, deactivated).

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::directory::IdentityInput;
use castellan_domain::{GroupId, IdentityId, ScimTokenId, Timestamp, WorkspaceId};
use sqlx::Row as _;

use crate::audit::append;
use crate::directory::{
    audit_activity_change, bump_directory_version, group_from_row, identity_from_row,
    map_identity_unique, same_as, update_identity_row,
};
use crate::{
    Group, Identity, Result, Scoped, Store, StoreError, get_id, get_opt_time, get_time, ms,
};

/// A SCIM bearer token (its secret is never stored, only its hash).
#[derive(Debug, Clone, PartialEq)]
pub struct ScimToken {
    pub id: ScimTokenId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

fn token_from_row(r: &sqlx::any::AnyRow) -> Result<ScimToken> {
    Ok(ScimToken {
        id: get_id(r, "id")?,
        workspace_id: get_id(r, "workspace_id")?,
        name: r.try_get("name")?,
        created_at: get_time(r, "created_at")?,
        last_used_at: get_opt_time(r, "last_used_at")?,
        revoked_at: get_opt_time(r, "revoked_at")?,
    })
}

impl Store {
    /// The live token with this hash; its last use recorded at most once a minute.
    pub async fn scim_token_by_hash(&self, hash: &str) -> Result<Option<ScimToken>> {
        let Some(r) =
            sqlx::query("SELECT * FROM scim_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let t = token_from_row(&r)?;
        let now = ms(self.env.now());
        if t.last_used_at.is_none_or(|u| now - ms(u) > 60_000) {
            let _ = sqlx::query("UPDATE scim_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(t.id.to_string())
                .bind(now)
                .execute(&self.pool)
                .await;
        }
        Ok(Some(t))
    }
}

impl Scoped<'_> {
    pub async fn create_scim_token(
        &self,
        actor: &Actor,
        name: &str,
        hash: &str,
    ) -> Result<ScimToken> {
        let id = ScimTokenId::new(&self.store.env);
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO scim_tokens (id, workspace_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.to_string())
            .bind(self.ws_str())
            .bind(name)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "scim.token.create",
                format!("scim_token:{id}"),
                serde_json::json!({ "name": name }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.scim_tokens()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(StoreError::NotFound("SCIM token"))
    }

    /// Every token of the workspace, newest first (revoked ones too, marked).
    pub async fn scim_tokens(&self) -> Result<Vec<ScimToken>> {
        sqlx::query(
            "SELECT * FROM scim_tokens WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(self.ws_str())
        .fetch_all(&self.store.pool)
        .await?
        .iter()
        .map(token_from_row)
        .collect()
    }

    pub async fn revoke_scim_token(&self, actor: &Actor, id: ScimTokenId) -> Result<ScimToken> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query("UPDATE scim_tokens SET revoked_at = $3 WHERE workspace_id = $1 AND id = $2 AND revoked_at IS NULL")
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("SCIM token"));
        }
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "scim.token.revoke",
                format!("scim_token:{id}"),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.scim_tokens()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(StoreError::NotFound("SCIM token"))
    }

    /// An identity SCIM serves, by `userName` (without regard to case), with its groups.
    pub async fn scim_identity_by_user_name(&self, user_name: &str) -> Result<Option<Identity>> {
        self.scim_identity_where("user_name_canonical = $2", &user_name.to_lowercase())
            .await
    }

    /// An identity SCIM serves, by `externalId` (exact).
    pub async fn scim_identity_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<Identity>> {
        self.scim_identity_where("external_id = $2", external_id)
            .await
    }

    /// An identity SCIM serves, by id (an IdP-deleted one is not).
    pub async fn scim_identity(&self, id: IdentityId) -> Result<Option<Identity>> {
        self.scim_identity_where("id = $2", &id.to_string()).await
    }

    async fn scim_identity_where(&self, cond: &str, value: &str) -> Result<Option<Identity>> {
        let row = sqlx::query(&format!(
            "SELECT * FROM identities WHERE workspace_id = $1 AND {cond} AND scim_deleted_at IS NULL"
        ))
        .bind(self.ws_str())
        .bind(value)
        .fetch_optional(&self.store.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut i = identity_from_row(&row)?;
        i.groups = self.groups_of(i.id).await?;
        Ok(Some(i))
    }

    /// How many identities SCIM serves.
    pub async fn scim_identity_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM identities WHERE workspace_id = $1 AND scim_deleted_at IS NULL")
            .bind(self.ws_str())
            .fetch_one(&self.store.pool)
            .await?
            .try_get("n")?)
    }

    /// A page of the identities SCIM serves, in a stable order (by id, which sorts by creation),
    /// with their groups.
    pub async fn scim_identities(&self, offset: i64, limit: i64) -> Result<Vec<Identity>> {
        let rows = sqlx::query("SELECT * FROM identities WHERE workspace_id = $1 AND scim_deleted_at IS NULL ORDER BY id LIMIT $2 OFFSET $3")
            .bind(self.ws_str())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.store.pool)
            .await?;
        let mut out = rows
            .iter()
            .map(identity_from_row)
            .collect::<Result<Vec<_>>>()?;
        let (Some(first), Some(last)) = (out.first(), out.last()) else {
            return Ok(out);
        };
        // The page's memberships in one query: its ids are a range (the page is in id order).
        let memberships = sqlx::query(
            "SELECT m.identity_id, g.id, g.display_name FROM group_members m JOIN directory_groups g ON g.id = m.group_id \
             WHERE m.workspace_id = $1 AND m.identity_id >= $2 AND m.identity_id <= $3 ORDER BY g.display_name_canonical",
        )
        .bind(self.ws_str())
        .bind(first.id.to_string())
        .bind(last.id.to_string())
        .fetch_all(&self.store.pool)
        .await?;
        if !memberships.is_empty() {
            let mut by: std::collections::HashMap<String, Vec<crate::GroupRef>> =
                Default::default();
            for r in &memberships {
                by.entry(r.try_get("identity_id")?)
                    .or_default()
                    .push(crate::GroupRef {
                        id: get_id(r, "id")?,
                        display_name: r.try_get("display_name")?,
                    });
            }
            for i in &mut out {
                i.groups = by.remove(&i.id.to_string()).unwrap_or_default();
            }
        }
        Ok(out)
    }

    /// The IdP deleted the identity: deactivated (the leaver signal) and no longer served by
    /// SCIM; kept with its history. Audited.
    pub async fn scim_delete_identity(&self, actor: &Actor, id: IdentityId) -> Result<()> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query(
            "UPDATE identities SET scim_deleted_at = $3, active = 0, deactivated_at = COALESCE(deactivated_at, $3), updated_at = $3 \
             WHERE workspace_id = $1 AND id = $2 AND scim_deleted_at IS NULL",
        )
        .bind(self.ws_str())
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("identity"));
        }
        sqlx::query("DELETE FROM group_members WHERE workspace_id = $1 AND identity_id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        bump_directory_version(&mut tx, self.ws).await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "directory.identity.delete",
                format!("identity:{id}"),
                serde_json::json!({ "kept": "deactivated" }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An IdP replaces or patches a user: the identity and its e-mail entries in one write
    /// transaction (nothing written when nothing changed); audited, a deactivation too.
    pub async fn scim_update_identity(
        &self,
        actor: &Actor,
        before: &Identity,
        input: &IdentityInput,
        emails: Option<&serde_json::Value>,
    ) -> Result<()> {
        let emails_same = before.scim_emails.as_ref() == emails;
        if same_as(before, input) && emails_same && before.source == "scim" {
            return Ok(());
        }
        let mut tx = self.store.begin_write().await?;
        // Written over what was read: if another change landed in between, say so (the caller
        // answers 412 to an If-Match, or reads again and reapplies) rather than lose it.
        // PostgreSQL writers run side by side: the row is locked until the commit.
        let lock = match self.store.backend {
            crate::Backend::Postgres => " FOR UPDATE",
            crate::Backend::Sqlite => "",
        };
        let now_row = sqlx::query(&format!(
            "SELECT * FROM identities WHERE workspace_id = $1 AND id = $2{lock}"
        ))
        .bind(self.ws_str())
        .bind(before.id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("identity"))?;
        let mut read = before.clone();
        read.groups.clear();
        if identity_from_row(&now_row)? != read {
            return Err(StoreError::conflict(
                "version",
                "the user changed while this change was made",
            ));
        }
        if !same_as(before, input) {
            update_identity_row(&mut tx, self, before, input).await?;
            append(
                &mut tx,
                &self.store.env,
                self.ws,
                NewAuditEvent::success(actor, "directory.identity.update", format!("identity:{}", before.id),
                    serde_json::json!({ "user_name": input.user_name, "email": input.primary_email.as_str(), "active": input.active })),
            )
            .await?;
            audit_activity_change(&mut tx, self, actor, before, input.active).await?;
        }
        sqlx::query("UPDATE identities SET source = 'scim', scim_emails = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(before.id.to_string())
            .bind(emails.map(|e| e.to_string()))
            .execute(&mut *tx)
            .await
            .map_err(map_identity_unique)?;
        tx.commit().await?;
        Ok(())
    }

    /// A group by its display name (without regard to case).
    pub async fn group_by_display_name(&self, name: &str) -> Result<Option<Group>> {
        let row = sqlx::query("SELECT id FROM directory_groups WHERE workspace_id = $1 AND display_name_canonical = $2")
            .bind(self.ws_str())
            .bind(name.to_lowercase())
            .fetch_optional(&self.store.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(self.group(get_id::<GroupId>(&r, "id")?).await?)),
            None => Ok(None),
        }
    }

    /// Every group, in a stable order, with its members.
    pub async fn all_groups(&self) -> Result<Vec<Group>> {
        let rows =
            sqlx::query("SELECT * FROM directory_groups WHERE workspace_id = $1 ORDER BY id")
                .bind(self.ws_str())
                .fetch_all(&self.store.pool)
                .await?;
        let mut out = rows
            .iter()
            .map(group_from_row)
            .collect::<Result<Vec<_>>>()?;
        let members = sqlx::query("SELECT group_id, identity_id FROM group_members WHERE workspace_id = $1 ORDER BY identity_id")
            .bind(self.ws_str())
            .fetch_all(&self.store.pool)
            .await?;
        let mut by: std::collections::HashMap<String, Vec<IdentityId>> = Default::default();
        for r in &members {
            by.entry(r.try_get("group_id")?)
                .or_default()
                .push(get_id(r, "identity_id")?);
        }
        for g in &mut out {
            g.member_ids = by.remove(&g.id.to_string()).unwrap_or_default();
        }
        Ok(out)
    }
}
