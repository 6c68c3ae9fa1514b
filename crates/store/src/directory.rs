//! Directory identities and groups (CSV import is `directory_import.rs`).

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::directory::IdentityInput;
use castellan_domain::{GroupId, IdentityId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::audit::append;
use crate::people::page_by_id;
use crate::{
    Group, GroupRef, Identity, Page, Result, Scoped, StoreError, get_bool, get_id, get_json,
    get_opt_time, get_time, ms, unique_as,
};

pub(crate) fn identity_from_row(row: &AnyRow) -> Result<Identity> {
    let other: Vec<String> = serde_json::from_value(get_json(row, "other_emails")?)
        .map_err(|e| StoreError::Corrupt(format!("other_emails: {e}")))?;
    Ok(Identity {
        id: get_id(row, "id")?,
        workspace_id: get_id(row, "workspace_id")?,
        user_name: row.try_get("user_name")?,
        primary_email: row.try_get("primary_email")?,
        other_emails: other,
        given_name: row.try_get("given_name")?,
        family_name: row.try_get("family_name")?,
        display_name: row.try_get("display_name")?,
        active: get_bool(row, "active")?,
        deactivated_at: get_opt_time(row, "deactivated_at")?,
        external_id: row.try_get("external_id")?,
        department: row.try_get("department")?,
        manager: row.try_get("manager")?,
        source: row.try_get("source")?,
        scim_deleted_at: get_opt_time(row, "scim_deleted_at")?,
        scim_emails: row
            .try_get::<Option<String>, _>("scim_emails")?
            .and_then(|t| serde_json::from_str(&t).ok()),
        groups: Vec::new(),
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

pub(crate) fn group_from_row(row: &AnyRow) -> Result<Group> {
    Ok(Group {
        id: get_id(row, "id")?,
        workspace_id: get_id(row, "workspace_id")?,
        display_name: row.try_get("display_name")?,
        external_id: row.try_get("external_id")?,
        member_ids: Vec::new(),
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

/// The stored form of an input, for comparing before writing.
pub(crate) fn same_as(existing: &Identity, i: &IdentityInput) -> bool {
    existing.user_name == i.user_name
        && existing.primary_email == i.primary_email.as_str()
        && existing.other_emails
            == i.other_emails
                .iter()
                .map(|e| e.as_str().to_string())
                .collect::<Vec<_>>()
        && existing.given_name == i.given_name
        && existing.family_name == i.family_name
        && existing.display_name == i.display_name
        && existing.active == i.active
        && existing.external_id == i.external_id
        && existing.department == i.department
        && existing.manager == i.manager
}

#[derive(Debug, Clone, Default)]
pub struct IdentityFilter {
    /// Case-insensitive substring of userName, e-mail or names.
    pub query: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deactivated: u64,
    pub groups_created: u64,
}

const UNIQUE_MSG: &str = "is already used by another identity";

pub(crate) fn map_identity_unique(e: sqlx::Error) -> StoreError {
    let msg = e
        .as_database_error()
        .map(|d| d.message().to_lowercase())
        .unwrap_or_default();
    let field = if msg.contains("email") {
        "primary_email"
    } else if msg.contains("external") {
        "external_id"
    } else {
        "user_name"
    };
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::conflict(field, UNIQUE_MSG),
        _ => StoreError::Database(e),
    }
}

impl Scoped<'_> {
    pub async fn identity(&self, id: IdentityId) -> Result<Identity> {
        let row = sqlx::query("SELECT * FROM identities WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("identity"))?;
        let mut i = identity_from_row(&row)?;
        i.groups = self.groups_of(id).await?;
        Ok(i)
    }

    pub(crate) async fn groups_of(&self, id: IdentityId) -> Result<Vec<GroupRef>> {
        let rows = sqlx::query(
            "SELECT g.id, g.display_name FROM group_members m JOIN directory_groups g ON g.id = m.group_id \
             WHERE m.workspace_id = $1 AND m.identity_id = $2 ORDER BY g.display_name_canonical",
        )
        .bind(self.ws_str())
        .bind(id.to_string())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GroupRef {
                    id: get_id(r, "id")?,
                    display_name: r.try_get("display_name")?,
                })
            })
            .collect()
    }

    pub async fn identities(
        &self,
        f: &IdentityFilter,
        cursor: Option<IdentityId>,
        limit: i64,
    ) -> Result<Page<Identity>> {
        let mut sql = String::from("SELECT * FROM identities WHERE workspace_id = $1 AND id > $2");
        let mut n = 2;
        if f.query.is_some() {
            n += 1;
            sql.push_str(&format!(
                " AND (user_name_canonical LIKE ${n} OR primary_email_canonical LIKE ${n} OR LOWER(COALESCE(display_name, '')) LIKE ${n} \
                 OR LOWER(COALESCE(given_name, '') || ' ' || COALESCE(family_name, '')) LIKE ${n})"
            ));
        }
        if f.active.is_some() {
            n += 1;
            sql.push_str(&format!(" AND active = ${n}"));
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY id LIMIT ${n}"));
        let mut q = sqlx::query(&sql)
            .bind(self.ws_str())
            .bind(cursor.map(|c| c.to_string()).unwrap_or_default());
        if let Some(text) = &f.query {
            q = q.bind(format!("%{}%", text.to_lowercase().replace('%', "")));
        }
        if let Some(a) = f.active {
            q = q.bind(i64::from(a));
        }
        let rows = q.bind(limit + 1).fetch_all(&self.store.pool).await?;
        let mut items = rows
            .iter()
            .map(identity_from_row)
            .collect::<Result<Vec<_>>>()?;
        for i in &mut items {
            i.groups = self.groups_of(i.id).await?;
        }
        Ok(page_by_id(&mut items, limit, |i| i.id.to_string()))
    }

    pub async fn create_identity(
        &self,
        actor: &Actor,
        input: &IdentityInput,
        source: &str,
    ) -> Result<Identity> {
        let mut tx = self.store.begin_write().await?;
        let id = insert_identity(&mut tx, self, input, source, None).await?;
        let details = serde_json::json!({ "user_name": input.user_name, "email": input.primary_email.as_str(), "active": input.active, "source": source });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "directory.identity.create",
                format!("identity:{id}"),
                details,
            ),
        )
        .await?;
        tx.commit().await?;
        self.identity(id).await
    }

    /// Replaces every field of an identity. Turning `active` off records the deactivation
    /// time (the leaver signal) and its own audit event.
    pub async fn update_identity(
        &self,
        actor: &Actor,
        id: IdentityId,
        input: &IdentityInput,
    ) -> Result<Identity> {
        let before = self.identity(id).await?;
        if same_as(&before, input) {
            return Ok(before);
        }
        let mut tx = self.store.begin_write().await?;
        update_identity_row(&mut tx, self, &before, input).await?;
        let details = serde_json::json!({ "user_name": input.user_name, "email": input.primary_email.as_str(), "active": input.active });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "directory.identity.update",
                format!("identity:{id}"),
                details,
            ),
        )
        .await?;
        audit_activity_change(&mut tx, self, actor, &before, input.active).await?;
        tx.commit().await?;
        self.identity(id).await
    }

    /// Deactivates (or reactivates) an identity.
    pub async fn set_identity_active(
        &self,
        actor: &Actor,
        id: IdentityId,
        active: bool,
    ) -> Result<Identity> {
        let before = self.identity(id).await?;
        if before.active == active {
            return Ok(before);
        }
        let mut tx = self.store.begin_write().await?;
        let now = ms(self.store.env.now());
        sqlx::query("UPDATE identities SET active = $3, deactivated_at = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(i64::from(active))
            .bind(if active { None } else { Some(now) })
            .bind(now)
            .execute(&mut *tx)
            .await?;
        bump_directory_version(&mut tx, self.ws).await?;
        audit_activity_change(&mut tx, self, actor, &before, active).await?;
        tx.commit().await?;
        self.identity(id).await
    }

    pub async fn group(&self, id: GroupId) -> Result<Group> {
        let row = sqlx::query("SELECT * FROM directory_groups WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("group"))?;
        let mut g = group_from_row(&row)?;
        g.member_ids = member_ids(&self.store.pool, &self.ws_str(), id).await?;
        Ok(g)
    }

    pub async fn groups(&self, cursor: Option<GroupId>, limit: i64) -> Result<Page<Group>> {
        let rows = sqlx::query("SELECT * FROM directory_groups WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(self.ws_str())
            .bind(cursor.map(|c| c.to_string()).unwrap_or_default())
            .bind(limit + 1)
            .fetch_all(&self.store.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(group_from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut page = page_by_id(&mut items, limit, |g| g.id.to_string());
        for g in &mut page.items {
            g.member_ids = self.group(g.id).await?.member_ids;
        }
        Ok(page)
    }

    pub async fn create_group(
        &self,
        actor: &Actor,
        display_name: &str,
        external_id: Option<&str>,
        members: &[IdentityId],
    ) -> Result<Group> {
        let id = GroupId::new(&self.store.env);
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO directory_groups (id, workspace_id, display_name, display_name_canonical, external_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
            .bind(id.to_string())
            .bind(self.ws_str())
            .bind(display_name)
            .bind(display_name.to_lowercase())
            .bind(external_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(unique_as("display_name", "a group with this name already exists"))?;
        check_identities_exist(&mut tx, self, members).await?;
        set_group_members(&mut tx, self, id, members).await?;
        let details = serde_json::json!({ "display_name": display_name, "members": members.len() });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "directory.group.create",
                format!("group:{id}"),
                details,
            ),
        )
        .await?;
        tx.commit().await?;
        self.group(id).await
    }

    /// Renames a group and/or replaces its members.
    pub async fn update_group(
        &self,
        actor: &Actor,
        id: GroupId,
        display_name: Option<&str>,
        members: Option<&[IdentityId]>,
    ) -> Result<Group> {
        self.group(id).await?;
        self.change_group(actor, id, None, display_name, None, members)
            .await
    }

    /// As `update_group`, and its `externalId`, written only over the group as `expect` read
    /// it: another change in between is a `version` conflict (the caller reads again).
    pub async fn update_group_if_unchanged(
        &self,
        actor: &Actor,
        expect: &Group,
        display_name: Option<&str>,
        external_id: Option<Option<&str>>,
        members: Option<&[IdentityId]>,
    ) -> Result<Group> {
        self.change_group(
            actor,
            expect.id,
            Some(expect),
            display_name,
            external_id,
            members,
        )
        .await
    }

    async fn change_group(
        &self,
        actor: &Actor,
        id: GroupId,
        expect: Option<&Group>,
        display_name: Option<&str>,
        external_id: Option<Option<&str>>,
        members: Option<&[IdentityId]>,
    ) -> Result<Group> {
        let mut tx = self.store.begin_write().await?;
        if let Some(expect) = expect {
            // PostgreSQL writers run side by side: the group is locked until the commit.
            let lock = match self.store.backend {
                crate::Backend::Postgres => " FOR UPDATE",
                crate::Backend::Sqlite => "",
            };
            let row = sqlx::query(&format!(
                "SELECT * FROM directory_groups WHERE workspace_id = $1 AND id = $2{lock}"
            ))
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("group"))?;
            let mut now = group_from_row(&row)?;
            now.member_ids = member_ids(&mut *tx, &self.ws_str(), id).await?;
            if &now != expect {
                return Err(StoreError::conflict(
                    "version",
                    "the group changed while this change was made",
                ));
            }
        }
        if let Some(name) = display_name {
            sqlx::query("UPDATE directory_groups SET display_name = $3, display_name_canonical = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2")
                .bind(self.ws_str())
                .bind(id.to_string())
                .bind(name)
                .bind(name.to_lowercase())
                .bind(ms(self.store.env.now()))
                .execute(&mut *tx)
                .await
                .map_err(unique_as("display_name", "a group with this name already exists"))?;
        }
        if let Some(x) = external_id {
            sqlx::query(
                "UPDATE directory_groups SET external_id = $3 WHERE workspace_id = $1 AND id = $2",
            )
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(x)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(m) = members {
            check_identities_exist(&mut tx, self, m).await?;
            set_group_members(&mut tx, self, id, m).await?;
        }
        let details = serde_json::json!({ "display_name": display_name, "members": members.map(|m| m.len()) });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "directory.group.update",
                format!("group:{id}"),
                details,
            ),
        )
        .await?;
        tx.commit().await?;
        self.group(id).await
    }

    pub async fn delete_group(&self, actor: &Actor, id: GroupId) -> Result<()> {
        let g = self.group(id).await?;
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM group_members WHERE workspace_id = $1 AND group_id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM directory_groups WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "directory.group.delete",
                format!("group:{id}"),
                serde_json::json!({ "display_name": g.display_name }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A group's members, in id order.
async fn member_ids<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
    ws: &str,
    id: GroupId,
) -> Result<Vec<IdentityId>> {
    sqlx::query("SELECT identity_id FROM group_members WHERE workspace_id = $1 AND group_id = $2 ORDER BY identity_id")
        .bind(ws.to_string())
        .bind(id.to_string())
        .fetch_all(ex)
        .await?
        .iter()
        .map(|r| get_id(r, "identity_id"))
        .collect()
}

pub(crate) async fn insert_identity(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    i: &IdentityInput,
    source: &str,
    scim_emails: Option<&str>,
) -> Result<IdentityId> {
    let now = ms(s.store.env.now());
    let id = insert_identity_row(conn, s, i, source, scim_emails, now).await?;
    bump_directory_version(conn, s.ws).await?;
    Ok(id)
}

/// As `insert_identity`, made at `now` (ms) so a caller can describe the row without reading
/// it, and leaving the directory version to the caller: a CSV import or a SCIM batch bumps it
/// once for all its identities.
pub(crate) async fn insert_identity_row(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    i: &IdentityInput,
    source: &str,
    scim_emails: Option<&str>,
    now: i64,
) -> Result<IdentityId> {
    let id = IdentityId::new(&s.store.env);
    sqlx::query(
        "INSERT INTO identities (id, workspace_id, user_name, user_name_canonical, primary_email, primary_email_canonical, other_emails, \
         given_name, family_name, display_name, active, deactivated_at, external_id, department, manager, source, created_at, updated_at, scim_emails) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18)",
    )
    .bind(id.to_string())
    .bind(s.ws_str())
    .bind(&i.user_name)
    .bind(i.user_name.to_lowercase())
    .bind(i.primary_email.as_str())
    .bind(i.primary_email.canonical())
    .bind(serde_json::to_string(&i.other_emails).expect("emails serialise"))
    .bind(i.given_name.clone())
    .bind(i.family_name.clone())
    .bind(i.display_name.clone())
    .bind(i64::from(i.active))
    .bind(if i.active { None } else { Some(now) })
    .bind(i.external_id.clone())
    .bind(i.department.clone())
    .bind(i.manager.clone())
    .bind(source)
    .bind(now)
    .bind(scim_emails)
    .execute(&mut *conn)
    .await
    .map_err(map_identity_unique)?;
    Ok(id)
}

/// Every change to identities bumps the workspace's directory version, so the next check of
/// each app knows its seats need matching again.
pub(crate) async fn bump_directory_version(
    conn: &mut AnyConnection,
    ws: castellan_domain::WorkspaceId,
) -> Result<()> {
    sqlx::query("UPDATE workspaces SET directory_version = directory_version + 1 WHERE id = $1")
        .bind(ws.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(crate) async fn update_identity_row(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    before: &Identity,
    i: &IdentityInput,
) -> Result<()> {
    update_identity_fields(conn, s, before, i).await?;
    bump_directory_version(conn, s.ws).await
}

/// As `update_identity_row`, leaving the directory version to the caller (see
/// `insert_identity_row`).
pub(crate) async fn update_identity_fields(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    before: &Identity,
    i: &IdentityInput,
) -> Result<()> {
    let now = ms(s.store.env.now());
    let deactivated_at = match (before.active, i.active) {
        (true, false) => Some(now),
        (false, false) => before.deactivated_at.map(ms),
        (_, true) => None,
    };
    sqlx::query(
        "UPDATE identities SET user_name = $3, user_name_canonical = $4, primary_email = $5, primary_email_canonical = $6, other_emails = $7, \
         given_name = $8, family_name = $9, display_name = $10, active = $11, deactivated_at = $12, external_id = $13, department = $14, \
         manager = $15, updated_at = $16 WHERE workspace_id = $1 AND id = $2",
    )
    .bind(s.ws_str())
    .bind(before.id.to_string())
    .bind(&i.user_name)
    .bind(i.user_name.to_lowercase())
    .bind(i.primary_email.as_str())
    .bind(i.primary_email.canonical())
    .bind(serde_json::to_string(&i.other_emails).expect("emails serialise"))
    .bind(i.given_name.clone())
    .bind(i.family_name.clone())
    .bind(i.display_name.clone())
    .bind(i64::from(i.active))
    .bind(deactivated_at)
    .bind(i.external_id.clone())
    .bind(i.department.clone())
    .bind(i.manager.clone())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(map_identity_unique)?;
    Ok(())
}

pub(crate) async fn audit_activity_change(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    actor: &Actor,
    before: &Identity,
    active: bool,
) -> Result<()> {
    if before.active == active {
        return Ok(());
    }
    let action = if active {
        "directory.identity.reactivate"
    } else {
        "directory.identity.deactivate"
    };
    let details =
        serde_json::json!({ "user_name": before.user_name, "email": before.primary_email });
    append(
        conn,
        &s.store.env,
        s.ws,
        NewAuditEvent::success(actor, action, format!("identity:{}", before.id), details),
    )
    .await?;
    Ok(())
}

async fn check_identities_exist(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    ids: &[IdentityId],
) -> Result<()> {
    for id in ids {
        let found =
            sqlx::query("SELECT 1 AS one FROM identities WHERE workspace_id = $1 AND id = $2")
                .bind(s.ws_str())
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await?;
        if found.is_none() {
            // A well-formed id that names nobody here: the workspace's state, so a conflict.
            return Err(StoreError::conflict(
                "member_ids",
                format!("identity {id} does not exist"),
            ));
        }
    }
    Ok(())
}

async fn set_group_members(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    group: GroupId,
    ids: &[IdentityId],
) -> Result<()> {
    sqlx::query("DELETE FROM group_members WHERE workspace_id = $1 AND group_id = $2")
        .bind(s.ws_str())
        .bind(group.to_string())
        .execute(&mut *conn)
        .await?;
    let mut seen = std::collections::HashSet::new();
    for id in ids.iter().filter(|i| seen.insert(**i)) {
        sqlx::query(
            "INSERT INTO group_members (workspace_id, group_id, identity_id) VALUES ($1, $2, $3)",
        )
        .bind(s.ws_str())
        .bind(group.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Makes `identity`'s memberships exactly `groups`, touching only the rows that differ.
pub(crate) async fn set_memberships(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    identity: IdentityId,
    groups: &[GroupId],
) -> Result<()> {
    let current: Vec<GroupId> = sqlx::query(
        "SELECT group_id FROM group_members WHERE workspace_id = $1 AND identity_id = $2",
    )
    .bind(s.ws_str())
    .bind(identity.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| get_id(r, "group_id"))
    .collect::<Result<_>>()?;
    for g in current.iter().filter(|g| !groups.contains(g)) {
        sqlx::query("DELETE FROM group_members WHERE workspace_id = $1 AND group_id = $2 AND identity_id = $3")
            .bind(s.ws_str()).bind(g.to_string()).bind(identity.to_string()).execute(&mut *conn).await?;
    }
    let mut seen = std::collections::HashSet::new();
    for g in groups
        .iter()
        .filter(|g| !current.contains(g) && seen.insert(**g))
    {
        sqlx::query(
            "INSERT INTO group_members (workspace_id, group_id, identity_id) VALUES ($1, $2, $3)",
        )
        .bind(s.ws_str())
        .bind(g.to_string())
        .bind(identity.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
