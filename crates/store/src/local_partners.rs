//! Local partners: organizations of guest users inside the workspace, their people with their
//! role in the partner, and the native partners of apps linked to them (the same
//! organization). Every change is audited in the same transaction.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::local_partners::PartnerRole;
use castellan_domain::{AppId, LocalPartnerId, PersonId, Timestamp};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::audit::append;
use crate::{
    Result, Scoped, StoreError, get_id, get_opt_time, get_parsed, get_time, ms, unique_as,
};

/// A local partner.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPartner {
    pub id: LocalPartnerId,
    pub name: String,
    /// E-mail domains it is known by (lower-case).
    pub domains: Vec<String>,
    pub created_at: Timestamp,
    /// When the partnership was ended (its guests revoked).
    pub ended_at: Option<Timestamp>,
}

/// A person of a local partner, with their role there.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerPerson {
    pub person_id: PersonId,
    pub email: String,
    pub display_name: Option<String>,
    pub role: PartnerRole,
    /// The person is disabled (a revoked guest).
    pub disabled: bool,
    /// A guest who has set a password through their link.
    pub joined: bool,
}

/// A native partner (of an app) linked to a local partner.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeLink {
    pub app_id: AppId,
    pub partner_id: String,
}

fn partner_from_row(r: &AnyRow) -> Result<LocalPartner> {
    Ok(LocalPartner {
        id: get_id(r, "id")?,
        name: r.try_get("name")?,
        domains: serde_json::from_str(&r.try_get::<String, _>("domains")?).unwrap_or_default(),
        created_at: get_time(r, "created_at")?,
        ended_at: get_opt_time(r, "ended_at")?,
    })
}

impl Scoped<'_> {
    /// Adds a local partner with its Host Admins (people of the workspace).
    pub async fn create_local_partner(
        &self,
        actor: &Actor,
        name: &str,
        domains: &[String],
        host_admins: &[PersonId],
    ) -> Result<LocalPartner> {
        let id = LocalPartnerId::new(&self.store.env);
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO local_partners (id, workspace_id, name, name_canonical, domains, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id.to_string())
            .bind(self.ws_str())
            .bind(name)
            .bind(name.to_lowercase())
            .bind(serde_json::to_string(domains).expect("strings serialise"))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(unique_as("name", "a partner with this name already exists"))?;
        for p in host_admins {
            sqlx::query("INSERT INTO local_partner_people (workspace_id, partner_id, person_id, role, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(self.ws_str())
                .bind(id.to_string())
                .bind(p.to_string())
                .bind(PartnerRole::HostAdmin.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "local_partner.create",
                format!("local_partner:{id}"),
                serde_json::json!({ "name": name, "domains": domains, "host_admins": host_admins.iter().map(|p| p.to_string()).collect::<Vec<_>>() }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.local_partner(id).await
    }

    pub async fn local_partner(&self, id: LocalPartnerId) -> Result<LocalPartner> {
        let row = sqlx::query("SELECT * FROM local_partners WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id.to_string())
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("local partner"))?;
        partner_from_row(&row)
    }

    /// Every local partner of the workspace, by name.
    pub async fn local_partners(&self) -> Result<Vec<LocalPartner>> {
        sqlx::query("SELECT * FROM local_partners WHERE workspace_id = $1 ORDER BY name_canonical")
            .bind(self.ws_str())
            .fetch_all(&self.store.pool)
            .await?
            .iter()
            .map(partner_from_row)
            .collect()
    }

    /// A partner's people: Host Admins first, then Guest Admins, then Guest Users.
    pub async fn partner_people(&self, id: LocalPartnerId) -> Result<Vec<PartnerPerson>> {
        let rows = sqlx::query(
            "SELECT lp.role, p.id, p.email, p.display_name, p.disabled, \
             CAST(CASE WHEN p.password_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) AS joined \
             FROM local_partner_people lp JOIN people p ON p.id = lp.person_id \
             WHERE lp.workspace_id = $1 AND lp.partner_id = $2 ORDER BY p.email_canonical",
        )
        .bind(self.ws_str())
        .bind(id.to_string())
        .fetch_all(&self.store.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(PartnerPerson {
                    person_id: get_id(r, "id")?,
                    email: r.try_get("email")?,
                    display_name: r.try_get("display_name")?,
                    role: get_parsed(r, "role")?,
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                    joined: r.try_get::<i64, _>("joined")? != 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|p| p.role);
        Ok(out)
    }

    /// The partners a person belongs to, with their role in each.
    pub async fn partner_roles(
        &self,
        person: PersonId,
    ) -> Result<Vec<(LocalPartnerId, PartnerRole)>> {
        sqlx::query("SELECT partner_id, role FROM local_partner_people WHERE workspace_id = $1 AND person_id = $2")
            .bind(self.ws_str())
            .bind(person.to_string())
            .fetch_all(&self.store.pool)
            .await?
            .iter()
            .map(|r| Ok((get_id(r, "partner_id")?, get_parsed(r, "role")?)))
            .collect()
    }

    /// Puts a person in a partner with `role` (or changes their role there); audited.
    pub async fn set_partner_person(
        &self,
        actor: &Actor,
        partner: LocalPartnerId,
        person: PersonId,
        role: PartnerRole,
    ) -> Result<()> {
        self.local_partner(partner).await?;
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO local_partner_people (workspace_id, partner_id, person_id, role, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (partner_id, person_id) DO UPDATE SET role = excluded.role",
        )
        .bind(self.ws_str())
        .bind(partner.to_string())
        .bind(person.to_string())
        .bind(role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "local_partner.set_person",
                format!("local_partner:{partner}"),
                serde_json::json!({ "person": person.to_string(), "role": role.as_str() }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a partnership: marked ended, the accounts shared with it unshared; audited. (Its
    /// guests are revoked by the caller, one by one, as any guest is.)
    pub async fn end_local_partner(&self, actor: &Actor, id: LocalPartnerId) -> Result<()> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        let n = sqlx::query("UPDATE local_partners SET ended_at = $3 WHERE workspace_id = $1 AND id = $2 AND ended_at IS NULL")
            .bind(self.ws_str())
            .bind(id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::conflict(
                "id",
                "the partnership has ended already",
            ));
        }
        let unshared =
            sqlx::query("DELETE FROM account_shares WHERE workspace_id = $1 AND partner_id = $2")
                .bind(self.ws_str())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "local_partner.end",
                format!("local_partner:{id}"),
                serde_json::json!({ "unshared": unshared }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Links the native partner `partner_id` of `app` to a local partner (the same
    /// organization), replacing an earlier link; audited.
    pub async fn link_native_partner(
        &self,
        actor: &Actor,
        local: LocalPartnerId,
        app: AppId,
        partner_id: &str,
    ) -> Result<()> {
        self.local_partner(local).await?;
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO native_partner_links (workspace_id, app_id, partner_id, local_partner_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (app_id, partner_id) DO UPDATE SET local_partner_id = excluded.local_partner_id",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(partner_id)
        .bind(local.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "local_partner.link_native",
                format!("local_partner:{local}"),
                serde_json::json!({ "app": app.to_string(), "partner_id": partner_id }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every native partner linked to a local partner: (app, native partner id, local partner).
    pub async fn all_native_links(&self) -> Result<Vec<(AppId, String, LocalPartnerId)>> {
        sqlx::query("SELECT app_id, partner_id, local_partner_id FROM native_partner_links WHERE workspace_id = $1")
            .bind(self.ws_str())
            .fetch_all(&self.store.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    get_id(r, "app_id")?,
                    r.try_get("partner_id")?,
                    get_id(r, "local_partner_id")?,
                ))
            })
            .collect()
    }

    /// The native partners linked to a local partner.
    pub async fn native_links(&self, local: LocalPartnerId) -> Result<Vec<NativeLink>> {
        sqlx::query("SELECT app_id, partner_id FROM native_partner_links WHERE workspace_id = $1 AND local_partner_id = $2 ORDER BY app_id, partner_id")
            .bind(self.ws_str())
            .bind(local.to_string())
            .fetch_all(&self.store.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(NativeLink {
                    app_id: get_id(r, "app_id")?,
                    partner_id: r.try_get("partner_id")?,
                })
            })
            .collect()
    }
}
