//! IdP groups mapped to apps, as the store keeps them: the mappings, the members of an app's
//! mapped groups, the people's matched seats on it, and what the mappings gave each person.

use castellan_domain::apps::AppRole;
use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::changes::AssetPermissions;
use castellan_domain::group_mappings::Given;
use castellan_domain::{AppId, GroupId, GroupMappingId, IdentityId, Timestamp};
use sqlx::Row;

use crate::apps::{SEAT_COLUMNS, VISIBLE, seat_from_row};
use crate::audit::append;
use crate::{Result, Scoped, Seat, StoreError, get_id, get_time, ms, unique_as};

/// A directory group mapped to an app.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMapping {
    pub id: GroupMappingId,
    pub group_id: GroupId,
    pub group_name: String,
    pub app_id: AppId,
    pub app_label: String,
    pub app_role: AppRole,
    pub business_role: String,
    pub assets: Vec<AssetPermissions>,
    pub created_at: Timestamp,
}

/// A member of one of an app's mapped groups.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedMember {
    pub identity_id: IdentityId,
    pub email: String,
    pub active: bool,
    pub mapping: GroupMappingId,
}

fn mapping_from_row(r: &sqlx::any::AnyRow) -> Result<GroupMapping> {
    let role: String = r.try_get("app_role")?;
    Ok(GroupMapping {
        id: get_id(r, "id")?,
        group_id: get_id(r, "group_id")?,
        group_name: r.try_get("group_name")?,
        app_id: get_id(r, "app_id")?,
        app_label: r.try_get("app_label")?,
        app_role: AppRole::parse("app_role", &role)
            .map_err(|_| StoreError::Corrupt(format!("app role {role}")))?,
        business_role: r.try_get("business_role")?,
        assets: serde_json::from_str(&r.try_get::<String, _>("assets")?)
            .map_err(|e| StoreError::Corrupt(format!("mapping assets: {e}")))?,
        created_at: get_time(r, "created_at")?,
    })
}

const MAPPING_SELECT: &str = "SELECT m.*, g.display_name AS group_name, a.label AS app_label FROM group_mappings m \
     JOIN directory_groups g ON g.id = m.group_id JOIN apps a ON a.id = m.app_id WHERE m.workspace_id = $1";

impl Scoped<'_> {
    /// Every mapping of the workspace (of one app, or one group), by group then app.
    pub async fn group_mappings(
        &self,
        app: Option<AppId>,
        group: Option<GroupId>,
    ) -> Result<Vec<GroupMapping>> {
        let rows = sqlx::query(&format!(
            "{MAPPING_SELECT} AND ($2 IS NULL OR m.app_id = $2) AND ($3 IS NULL OR m.group_id = $3) \
             ORDER BY g.display_name_canonical, a.label, m.id"
        ))
        .bind(self.ws_str())
        .bind(app.map(|a| a.to_string()))
        .bind(group.map(|g| g.to_string()))
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(mapping_from_row).collect()
    }

    pub async fn group_mapping(&self, id: GroupMappingId) -> Result<GroupMapping> {
        let row = sqlx::query(&format!("{MAPPING_SELECT} AND m.id = $2"))
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("group mapping"))?;
        mapping_from_row(&row)
    }

    /// Maps a group to an app (one mapping per group and app). Audited.
    pub async fn create_group_mapping(
        &self,
        actor: &Actor,
        group: GroupId,
        app: AppId,
        app_role: AppRole,
        business_role: &str,
        assets: &[AssetPermissions],
    ) -> Result<GroupMapping> {
        let id = GroupMappingId::new(&self.store.env);
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO group_mappings (id, workspace_id, group_id, app_id, app_role, business_role, assets, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(self.ws_str())
        .bind(group.to_string())
        .bind(app.to_string())
        .bind(app_role.as_str())
        .bind(business_role)
        .bind(serde_json::to_string(assets).expect("assets serialise"))
        .bind(ms(self.store.env.now()))
        .execute(&mut *tx)
        .await
        .map_err(unique_as("group_id", "this group is mapped to this app already"))?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "directory.group.map",
                format!("group:{group}"),
                serde_json::json!({ "app_id": app, "app_role": app_role.as_str(), "business_role": business_role, "assets": assets.len() }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.group_mapping(id).await
    }

    pub async fn delete_group_mapping(
        &self,
        actor: &Actor,
        id: GroupMappingId,
    ) -> Result<GroupMapping> {
        let m = self.group_mapping(id).await?;
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM group_mappings WHERE workspace_id = $1 AND id = $2")
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
                "directory.group.unmap",
                format!("group:{}", m.group_id),
                serde_json::json!({ "app_id": m.app_id }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(m)
    }

    /// The members of an app's mapped groups: one row per (person, mapping).
    pub async fn mapped_members(&self, app: AppId) -> Result<Vec<MappedMember>> {
        let rows = sqlx::query(
            "SELECT i.id AS identity_id, i.primary_email, i.active, m.id AS mapping_id FROM group_mappings m \
             JOIN group_members gm ON gm.group_id = m.group_id JOIN identities i ON i.id = gm.identity_id \
             WHERE m.workspace_id = $1 AND m.app_id = $2 ORDER BY i.primary_email_canonical, m.id",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MappedMember {
                    identity_id: get_id(r, "identity_id")?,
                    email: r.try_get("primary_email")?,
                    active: crate::get_bool(r, "active")?,
                    mapping: get_id(r, "mapping_id")?,
                })
            })
            .collect()
    }

    /// The app's live member seats matched to people of the directory.
    pub async fn matched_member_seats(&self, app: AppId) -> Result<Vec<Seat>> {
        let rows = sqlx::query(&format!(
            "SELECT {SEAT_COLUMNS} FROM app_seats s LEFT JOIN identities i ON i.id = s.identity_id \
             WHERE s.workspace_id = $1 AND s.app_id = $2 AND s.identity_id IS NOT NULL AND s.vanished_at IS NULL \
             AND s.kind <> 'partner_user' AND {VISIBLE} ORDER BY s.user_id"
        ))
        .bind(self.ws_str())
        .bind(app.to_string())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(seat_from_row).collect()
    }

    /// What the mappings gave each person on the app.
    pub async fn group_grants(&self, app: AppId) -> Result<Vec<(IdentityId, Given)>> {
        let rows = sqlx::query(
            "SELECT identity_id, business_role, prior_role FROM group_grants WHERE workspace_id = $1 AND app_id = $2",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_id(r, "identity_id")?,
                    Given {
                        business_role: r.try_get("business_role")?,
                        prior_role: r.try_get("prior_role")?,
                    },
                ))
            })
            .collect()
    }

    /// Records (or, with `None`, forgets) what the mappings gave a person on the app.
    pub async fn set_group_grant(
        &self,
        app: AppId,
        identity: IdentityId,
        given: Option<&Given>,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM group_grants WHERE app_id = $1 AND identity_id = $2")
            .bind(app.to_string())
            .bind(identity.to_string())
            .execute(&mut *tx)
            .await?;
        if let Some(g) = given {
            sqlx::query(
                "INSERT INTO group_grants (workspace_id, app_id, identity_id, business_role, prior_role, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(self.ws_str())
            .bind(app.to_string())
            .bind(identity.to_string())
            .bind(&g.business_role)
            .bind(&g.prior_role)
            .bind(ms(self.store.env.now()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
