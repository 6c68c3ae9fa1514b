//! An app's assets with who holds each (the Assets page and its API list), and the asset
//! permissions of some seats.

use std::collections::{BTreeSet, HashMap, HashSet};

use castellan_domain::{AppId, Timestamp};
use sqlx::Row;

use crate::apps::VISIBLE;
use crate::check::holders::{lists_of, live_grants_of, vanished_of};
use crate::people::page_by_id;
use crate::{Page, Result, Scoped, get_opt_time, get_time};

/// An asset of an app, with the members and partners holding it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetHolders {
    pub asset_id: String,
    pub kind: String,
    pub name: Option<String>,
    pub owner_id: Option<String>,
    pub first_seen_at: Timestamp,
    /// When its holders were last read, if before the app's last check (the coverage window
    /// kept them since); `None` when the last check read them.
    pub holders_as_of: Option<Timestamp>,
    /// How many hold it.
    pub holders_total: i64,
    /// The first holders (by holder key), at most the caller's cap.
    pub holders: Vec<Holding>,
}

/// One holder's permissions on one asset, with what is known of the holder or the asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    /// `member:{user id}` or `partner:{business id}`.
    pub holder: String,
    pub asset_id: String,
    pub permissions: Vec<String>,
    /// The holder's e-mail (member) or name (partner); for a seat's own permissions, the
    /// asset's name.
    pub label: Option<String>,
    /// The asset's type (for a seat's own permissions).
    pub asset_kind: Option<String>,
}

impl Scoped<'_> {
    /// Live assets of an app (optionally of one type), each with its first `cap` holders.
    pub async fn assets_with_holders(
        &self,
        app: AppId,
        kind: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
        cap: usize,
    ) -> Result<Page<AssetHolders>> {
        let page = self.asset_page(app, kind, cursor, limit).await?;
        self.with_holders(app, page, cap).await
    }

    /// A page of the app's live assets in id order, their holders not read (`holders_total`
    /// 0, `holders` empty): what the member dialogs' asset choices need, without the 20,000
    /// grant lookups reading 200 assets' holders would take.
    pub async fn asset_page(
        &self,
        app: AppId,
        kind: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<AssetHolders>> {
        let rows = sqlx::query(&format!(
            "SELECT a.asset_id, a.kind, a.name, a.owner_id, a.first_seen_at, a.holders_as_of FROM app_assets a WHERE a.workspace_id = $1 AND a.app_id = $2 \
             AND a.vanished_at IS NULL AND a.asset_id > $3 AND ($4 IS NULL OR a.kind = $4) AND {VISIBLE} ORDER BY a.asset_id LIMIT $5"
        ))
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(cursor.unwrap_or(""))
        .bind(kind)
        .bind(limit + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(AssetHolders {
                    asset_id: r.try_get("asset_id")?,
                    kind: r.try_get("kind")?,
                    name: r.try_get("name")?,
                    owner_id: r.try_get("owner_id")?,
                    first_seen_at: get_time(r, "first_seen_at")?,
                    holders_as_of: get_opt_time(r, "holders_as_of")?,
                    holders_total: 0,
                    holders: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page_by_id(&mut items, limit, |a| a.asset_id.clone()))
    }

    /// Fills in the holders of a page of assets: the total and the first `cap` of each.
    async fn with_holders(
        &self,
        app: AppId,
        mut page: Page<AssetHolders>,
        cap: usize,
    ) -> Result<Page<AssetHolders>> {
        if page.items.is_empty() {
            return Ok(page);
        }
        let ids: Vec<&str> = page.items.iter().map(|a| a.asset_id.as_str()).collect();
        // An asset's live holders are its list (`app_asset_holders`, migration 0014, naming
        // exactly its grants' keys) less its vanished grants (a small partial index, 0029):
        // its total needs no lookup per holder, and only the `cap` shown are looked up, for
        // their permissions, by key from a JSON parameter the planners take for about 100
        // rows (so both use the primary key). Looking every listed holder up (5,000 a page)
        // was two thirds of the page's time on PostgreSQL.
        let backend = self.store.backend;
        let app_s = app.to_string();
        let mut conn = self.store.pool.acquire().await?;
        let lists = lists_of(&mut conn, backend, &app_s, &ids).await?;
        let gone = vanished_of(&mut conn, backend, &app_s, &ids).await?;
        let mut vanished: HashMap<&str, HashSet<&str>> = Default::default();
        for (asset, holder) in &gone {
            vanished.entry(asset).or_default().insert(holder);
        }
        let mut by_asset: HashMap<String, (i64, Vec<Holding>)> = HashMap::new();
        let mut shown_keys: Vec<[&str; 2]> = Vec::new();
        for (asset, holders) in &lists {
            // The lists are in byte order, so the first live ones are the first shown.
            let gone = vanished.get(asset.as_str());
            let mut total = 0i64;
            for h in holders {
                if gone.is_some_and(|g| g.contains(h.as_str())) {
                    continue;
                }
                total += 1;
                if (total as usize) <= cap {
                    shown_keys.push([h.as_str(), asset.as_str()]);
                }
            }
            by_asset.insert(asset.clone(), (total, Vec::new()));
        }
        for chunk in shown_keys.chunks(crate::sql::CHUNK) {
            for (holder, asset, permissions) in
                live_grants_of(&mut conn, backend, &app_s, chunk).await?
            {
                if let Some((_, hs)) = by_asset.get_mut(&asset) {
                    hs.push(Holding {
                        holder,
                        asset_id: asset,
                        permissions: serde_json::from_str(&permissions).unwrap_or_default(),
                        label: None,
                        asset_kind: None,
                    });
                }
            }
        }
        for (_, hs) in by_asset.values_mut() {
            hs.sort_unstable_by(|a, b| a.holder.cmp(&b.holder));
        }
        let shown: Vec<[&str; 1]> = by_asset
            .values()
            .flat_map(|(_, hs)| hs.iter().map(|h| [h.holder.as_str()]))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut labels: HashMap<String, String> = Default::default();
        for chunk in shown.chunks(crate::sql::CHUNK) {
            let rows = sqlx::query(&format!(
                "{} SELECT j.value->>0 AS holder, COALESCE(s.email, s.username, p.name) AS label FROM j \
                 LEFT JOIN app_seats s ON s.app_id = $1 AND s.user_id = substr(j.value->>0, 8) AND j.value->>0 LIKE 'member:%' \
                 LEFT JOIN app_partners p ON p.app_id = $1 AND p.partner_id = substr(j.value->>0, 9) AND j.value->>0 LIKE 'partner:%'",
                crate::sql::json_cte(backend, 2)
            ))
            .bind(app.to_string())
            .bind(serde_json::to_string(chunk).expect("keys serialise"))
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                if let Some(label) = r.try_get::<Option<String>, _>("label")? {
                    labels.insert(r.try_get("holder")?, label);
                }
            }
        }
        for (_, hs) in by_asset.values_mut() {
            for h in hs {
                h.label = labels.get(&h.holder).cloned();
            }
        }
        for a in &mut page.items {
            if let Some((n, h)) = by_asset.remove(&a.asset_id) {
                a.holders_total = n;
                a.holders = h;
            }
        }
        Ok(page)
    }

    /// The asset permissions of some seats (by user id), with each asset's name and type.
    pub async fn seat_permissions(
        &self,
        app: AppId,
        user_ids: &[String],
    ) -> Result<HashMap<String, Vec<Holding>>> {
        let mut out: HashMap<String, Vec<Holding>> = Default::default();
        if user_ids.is_empty() {
            return Ok(out);
        }
        let keys: Vec<[String; 1]> = user_ids.iter().map(|u| [format!("member:{u}")]).collect();
        let rows = sqlx::query(&format!(
            // `IN (SELECT …)`, not a join: SQLite's planner then looks each holder up in the
            // primary key instead of scanning every grant of the app. Grants carry no
            // workspace (migration 0030): the app's row says it is this workspace's.
            "SELECT g.holder, g.asset_id, g.permissions, a.name, a.kind FROM app_grants g \
             LEFT JOIN app_assets a ON a.app_id = g.app_id AND a.asset_id = g.asset_id \
             WHERE g.app_id = $1 AND g.holder IN (SELECT j.value->>0 FROM {src}) AND g.vanished_at IS NULL \
             AND EXISTS (SELECT 1 FROM apps p WHERE p.id = $1 AND p.workspace_id = $3) ORDER BY g.holder, g.asset_id",
            src = crate::sql::json_rows(self.store.backend, 2),
        ))
        .bind(app.to_string())
        .bind(serde_json::to_string(&keys).expect("keys serialise"))
        .bind(self.ws_str())
        .fetch_all(&self.store.pool)
        .await?;
        for r in &rows {
            let holder: String = r.try_get("holder")?;
            let user = holder.trim_start_matches("member:").to_string();
            out.entry(user).or_default().push(Holding {
                holder,
                asset_id: r.try_get("asset_id")?,
                permissions: serde_json::from_str(&r.try_get::<String, _>("permissions")?)
                    .unwrap_or_default(),
                label: r.try_get("name")?,
                asset_kind: r.try_get("kind")?,
            });
        }
        Ok(out)
    }
}
