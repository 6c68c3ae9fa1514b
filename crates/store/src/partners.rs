//! An app's native partners as the last check found them: each partner with the assets it
//! uses of ours (and its permissions on each) and the assets it shares with us.

use castellan_domain::AppId;
use sqlx::Row as _;

use crate::{Result, Scoped};

/// A partner of an app's business.
#[derive(Debug, Clone, PartialEq)]
pub struct Partner {
    pub partner_id: String,
    pub name: Option<String>,
    /// `uses_our_assets`, `shares_with_us` or `both`, as the platform states it.
    pub relation: String,
    /// Our assets it holds: (asset id, name, type, permissions).
    pub ours: Vec<PartnerAsset>,
    /// Its assets shared with us.
    pub theirs: Vec<PartnerAsset>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartnerAsset {
    pub asset_id: String,
    pub name: Option<String>,
    pub kind: String,
    pub permissions: Vec<String>,
}

impl Partner {
    /// A partner can be connected only when an asset is shared one way or the other (the
    /// seeds' IMPORTANT).
    pub fn eligible(&self) -> bool {
        !self.ours.is_empty() || !self.theirs.is_empty()
    }
}

impl Scoped<'_> {
    /// The app's live partners (visible once a check completed), by name, with their assets
    /// each way.
    pub async fn partners(&self, app: AppId) -> Result<Vec<Partner>> {
        let a = app.to_string();
        let rows = sqlx::query(
            "SELECT p.partner_id, p.name, p.relation FROM app_partners p JOIN apps v ON v.id = p.app_id \
             WHERE p.workspace_id = $1 AND p.app_id = $2 AND p.vanished_at IS NULL AND v.last_check_at IS NOT NULL \
             ORDER BY LOWER(COALESCE(p.name, p.partner_id)), p.partner_id",
        )
        .bind(self.ws_str())
        .bind(&a)
        .fetch_all(&self.store.pool)
        .await?;
        let mut out: Vec<Partner> = rows
            .iter()
            .map(|r| {
                Ok(Partner {
                    partner_id: r.try_get("partner_id")?,
                    name: r.try_get("name")?,
                    relation: r.try_get("relation")?,
                    ours: Vec::new(),
                    theirs: Vec::new(),
                })
            })
            .collect::<Result<_>>()?;
        if out.is_empty() {
            return Ok(out);
        }
        let index: std::collections::HashMap<String, usize> = out
            .iter()
            .enumerate()
            .map(|(i, p)| (p.partner_id.clone(), i))
            .collect();
        // What it uses of ours: its grants.
        let grants = sqlx::query(
            "SELECT substr(g.holder, 9) AS partner_id, g.asset_id, g.permissions, a.name, a.kind FROM app_grants g \
             LEFT JOIN app_assets a ON a.app_id = g.app_id AND a.asset_id = g.asset_id \
             WHERE g.workspace_id = $1 AND g.app_id = $2 AND g.holder LIKE 'partner:%' AND g.vanished_at IS NULL \
             ORDER BY g.asset_id",
        )
        .bind(self.ws_str())
        .bind(&a)
        .fetch_all(&self.store.pool)
        .await?;
        for g in &grants {
            let id: String = g.try_get("partner_id")?;
            if let Some(&i) = index.get(&id) {
                out[i].ours.push(PartnerAsset {
                    asset_id: g.try_get("asset_id")?,
                    name: g.try_get("name")?,
                    kind: g.try_get::<Option<String>, _>("kind")?.unwrap_or_default(),
                    permissions: serde_json::from_str(&g.try_get::<String, _>("permissions")?)
                        .unwrap_or_default(),
                });
            }
        }
        // What it shares with us: the assets it owns that the business sees.
        let theirs = sqlx::query(
            "SELECT owner_id, asset_id, name, kind FROM app_assets \
             WHERE workspace_id = $1 AND app_id = $2 AND vanished_at IS NULL AND owner_id IS NOT NULL ORDER BY asset_id",
        )
        .bind(self.ws_str())
        .bind(&a)
        .fetch_all(&self.store.pool)
        .await?;
        for t in &theirs {
            let owner: String = t.try_get("owner_id")?;
            if let Some(&i) = index.get(&owner) {
                out[i].theirs.push(PartnerAsset {
                    asset_id: t.try_get("asset_id")?,
                    name: t.try_get("name")?,
                    kind: t.try_get("kind")?,
                    permissions: Vec::new(),
                });
            }
        }
        Ok(out)
    }
}
