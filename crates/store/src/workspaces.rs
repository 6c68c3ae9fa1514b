//! Workspaces, and bootstrapping one with its first Owner.

use castellan_domain::audit::{Actor, GENESIS_HASH, NewAuditEvent};
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{PersonId, WorkspaceId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::append;
use crate::{
    Person, Result, Store, StoreError, Workspace, get_id, get_json, get_time, ms, unique_as,
};

fn workspace_from_row(row: &AnyRow) -> Result<Workspace> {
    Ok(Workspace {
        id: get_id(row, "id")?,
        name: row.try_get("name")?,
        settings: get_json(row, "settings")?,
        created_at: get_time(row, "created_at")?,
    })
}

impl Store {
    /// Creates a workspace and its first Owner (with the given password hash) in one
    /// transaction, and records both in the new workspace's audit log.
    pub async fn create_workspace_with_owner(
        &self,
        name: &str,
        owner_email: &castellan_domain::values::Email,
        password_hash: &str,
        actor: &Actor,
    ) -> Result<(Workspace, Person)> {
        let now = self.env.now();
        let ws = WorkspaceId::new(&self.env);
        let person = PersonId::new(&self.env);
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO workspaces (id, name, name_canonical, settings, created_at) VALUES ($1, $2, $3, '{}', $4)")
            .bind(ws.to_string())
            .bind(name)
            .bind(name.to_lowercase())
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(unique_as("workspace", "a workspace with this name already exists"))?;
        sqlx::query("INSERT INTO audit_heads (workspace_id, seq, hash) VALUES ($1, 0, $2)")
            .bind(ws.to_string())
            .bind(GENESIS_HASH)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO people (id, workspace_id, email, email_canonical, display_name, role, password_hash, must_change_password, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6, 1, 0, $7, $7)",
        )
        .bind(person.to_string())
        .bind(ws.to_string())
        .bind(owner_email.as_str())
        .bind(owner_email.canonical())
        .bind(WorkspaceRole::Owner.as_str())
        .bind(password_hash)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "name": name });
        append(
            &mut tx,
            &self.env,
            ws,
            NewAuditEvent::success(
                actor,
                "workspace.create",
                format!("workspace:{ws}"),
                details,
            ),
        )
        .await?;
        let details = serde_json::json!({ "email": owner_email.as_str(), "role": "owner" });
        append(
            &mut tx,
            &self.env,
            ws,
            NewAuditEvent::success(actor, "person.create", format!("person:{person}"), details),
        )
        .await?;
        tx.commit().await?;
        let w = self.get_workspace(ws).await?;
        let p = self.ws(ws).person(person).await?;
        Ok((w, p))
    }

    pub async fn get_workspace(&self, id: WorkspaceId) -> Result<Workspace> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("workspace"))?;
        workspace_from_row(&row)
    }

    pub async fn workspace_by_name(&self, name: &str) -> Result<Workspace> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE name_canonical = $1")
            .bind(name.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("workspace"))?;
        workspace_from_row(&row)
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        let rows = sqlx::query("SELECT * FROM workspaces ORDER BY name_canonical")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(workspace_from_row).collect()
    }
}

impl crate::Scoped<'_> {
    pub async fn workspace(&self) -> Result<Workspace> {
        self.store.get_workspace(self.ws).await
    }

    /// Renames the workspace and/or replaces its settings object.
    pub async fn update_workspace(
        &self,
        actor: &Actor,
        name: Option<&str>,
        settings: Option<&serde_json::Value>,
    ) -> Result<Workspace> {
        let mut tx = self.store.begin_write().await?;
        if let Some(name) = name {
            sqlx::query("UPDATE workspaces SET name = $2, name_canonical = $3 WHERE id = $1")
                .bind(self.ws_str())
                .bind(name)
                .bind(name.to_lowercase())
                .execute(&mut *tx)
                .await
                .map_err(unique_as(
                    "name",
                    "a workspace with this name already exists",
                ))?;
        }
        if let Some(settings) = settings {
            // Settings hold the matching rules (e-mail domain aliases): re-match at next check.
            sqlx::query("UPDATE workspaces SET settings = $2, directory_version = directory_version + 1 WHERE id = $1")
                .bind(self.ws_str())
                .bind(settings.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let details = serde_json::json!({ "name": name, "settings_changed": settings.is_some() });
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "workspace.update",
                format!("workspace:{}", self.ws),
                details,
            ),
        )
        .await?;
        tx.commit().await?;
        self.workspace().await
    }
}
