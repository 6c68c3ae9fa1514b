//! Pinterest Business Access (API v5).
//!
//! Call pattern for a full picture with few requests: members and system users with
//! `assets_summary=true` (ad account and profile permissions come with each page of 250);
//! pending invites; assets per type; for asset types the summary lacks (catalogs, asset
//! groups), one paged call per asset for its members; partners of both directions with their
//! summaries. Writes are in the member-management issue. Token refresh: on a 401 the
//! connector exchanges the refresh token once (HTTP Basic with the app id and secret) and
//! reports the new tokens through `on_refresh` so they can be stored.

use std::collections::HashMap;
use std::sync::Arc;

use castellan_domain::platform::{
    AssetRecord, Batch, BoxFuture, ConnectorError, FetchStats, GrantRecord, Holder, PartnerRecord,
    PartnerRelation, SeatKind, SeatRecord, SharedAsset, SnapshotSink,
};
use futures_util::StreamExt;
use serde_json::Value;

use serde::de::DeserializeOwned;

use crate::http::{Attempt, Http, HttpConfig};
use crate::push;
use crate::wire::{TokenAnswer, decode_bytes};

mod connector;
mod wire;
use wire::{
    AdAccountRow, AssetMemberRow, AssetRow, AssetsSummary, InviteRow, MemberRow, Page, PartnerRow,
};

pub const DEFAULT_BASE_URL: &str = "https://api.pinterest.com/v5";

/// New tokens after a refresh: (access token, refresh token, access expiry in seconds).
pub type RefreshHook = Arc<dyn Fn(&str, &str, i64) + Send + Sync>;

#[derive(Clone)]
pub struct PinterestConfig {
    pub base_url: String,
    pub business_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// App id and secret, for refreshing tokens.
    pub app: Option<(String, String)>,
    pub http: HttpConfig,
    pub on_refresh: Option<RefreshHook>,
}

impl std::fmt::Debug for PinterestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinterestConfig")
            .field("base_url", &self.base_url)
            .field("business_id", &self.business_id)
            .finish_non_exhaustive()
    }
}

pub struct PinterestConnector {
    http: Http,
    cfg: PinterestConfig,
    tokens: tokio::sync::RwLock<(String, Option<String>)>,
}

fn read_json(
    status: reqwest::StatusCode,
    retry_after: Option<std::time::Duration>,
    body: Vec<u8>,
) -> Attempt<Vec<u8>> {
    let message = || crate::wire::error_message(&body);
    match status.as_u16() {
        // Read into its typed struct by the caller, straight from the bytes.
        200..=299 => Attempt::Done(body),
        401 => Attempt::Fail(ConnectorError::Unauthorized(message())),
        403 => Attempt::Fail(ConnectorError::Forbidden(message())),
        404 => Attempt::Fail(ConnectorError::NotFound(message())),
        429 => Attempt::Retry {
            reason: format!("429 {}", message()),
            after: retry_after,
        },
        500..=599 => Attempt::Retry {
            reason: format!("{} {}", status.as_u16(), message()),
            after: retry_after,
        },
        _ => Attempt::Fail(ConnectorError::Rejected(format!(
            "{} {}",
            status.as_u16(),
            message()
        ))),
    }
}

impl PinterestConnector {
    pub fn new(cfg: PinterestConfig) -> Result<Self, ConnectorError> {
        let tokens =
            tokio::sync::RwLock::new((cfg.access_token.clone(), cfg.refresh_token.clone()));
        Ok(Self {
            http: Http::new(cfg.http.clone())?,
            cfg,
            tokens,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url.trim_end_matches('/'))
    }

    async fn refresh(&self) -> Result<(), ConnectorError> {
        let (Some((id, secret)), Some(refresh)) =
            (self.cfg.app.clone(), self.tokens.read().await.1.clone())
        else {
            return Err(ConnectorError::Unauthorized("the access token was refused and no refresh token or app credentials are configured".into()));
        };
        let url = self.url("/oauth/token");
        let v = self
            .http
            .run(
                "token refresh",
                || {
                    self.http
                        .client
                        .post(&url)
                        .basic_auth(&id, Some(&secret))
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", refresh.as_str()),
                        ])
                },
                |s, r, b| async move {
                    match read_json(s, r, b) {
                        // A refused refresh is final.
                        Attempt::Fail(ConnectorError::Rejected(m)) => Attempt::Fail(
                            ConnectorError::Unauthorized(format!("refresh refused: {m}")),
                        ),
                        other => other,
                    }
                },
            )
            .await?;
        let answer: TokenAnswer = decode_bytes("/oauth/token", &v)?;
        let access = answer.access_token;
        let new_refresh = answer.refresh_token.unwrap_or(refresh);
        if let Some(hook) = &self.cfg.on_refresh {
            hook(&access, &new_refresh, answer.expires_in.unwrap_or(0));
        }
        *self.tokens.write().await = (access, Some(new_refresh));
        Ok(())
    }

    /// GET with the bearer token; refreshes once on 401.
    async fn get(&self, path: &str) -> Result<Vec<u8>, ConnectorError> {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// A call with the bearer token and an optional JSON body; refreshes once on 401.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, ConnectorError> {
        let url = self.url(path);
        for attempt in 0..2 {
            let token = self.tokens.read().await.0.clone();
            match self
                .http
                .run(
                    path,
                    || {
                        let r = self
                            .http
                            .client
                            .request(method.clone(), &url)
                            .bearer_auth(&token);
                        match body {
                            Some(b) => r.json(b),
                            None => r,
                        }
                    },
                    |s, r, b| async move { read_json(s, r, b) },
                )
                .await
            {
                Err(ConnectorError::Unauthorized(_)) if attempt == 0 && self.cfg.app.is_some() => {
                    self.refresh().await?
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Every item of a bookmark-paged list.
    ///
    /// Each page is handed to the sink while the next one is asked for: a list is one chain
    /// of requests (each needs the bookmark of the one before), so without this the platform
    /// would sit idle while Castellan writes a page, and Castellan while the platform builds
    /// the next (a first check's 400 pages of members took half again as long).
    async fn pages<T: DeserializeOwned>(
        &self,
        path: &str,
        stats: &mut FetchStats,
        mut each: impl FnMut(Vec<T>) -> Vec<Batch>,
        sink: &mut dyn SnapshotSink,
    ) -> Result<(), ConnectorError> {
        let mut pager = Bookmarks::new(self, path);
        let mut page = pager.next::<T>().await?;
        while let Some(p) = page {
            stats.pages += 1;
            let batches = each(p.items);
            let write = async {
                for batch in batches {
                    push(sink, stats, batch).await?;
                }
                Ok(())
            };
            (page, ()) = futures_util::try_join!(pager.next::<T>(), write)?;
        }
        Ok(())
    }

    /// Members, then system users, each page with its asset summaries.
    async fn fetch_members(
        &self,
        stats: &mut FetchStats,
        sink: &mut dyn SnapshotSink,
    ) -> Result<(), ConnectorError> {
        let b = self.business();
        for system in [false, true] {
            let path = format!(
                "/businesses/{b}/members?assets_summary=true{}",
                if system {
                    "&fetch_system_users=true"
                } else {
                    ""
                }
            );
            self.pages(
                &path,
                stats,
                |items: Vec<MemberRow>| {
                    let mut seats = Vec::new();
                    let mut grants = Vec::new();
                    for m in items {
                        grants.extend(summary_grants(
                            &Holder::Member(m.id.clone()),
                            m.assets_summary,
                        ));
                        seats.push(SeatRecord {
                            user_id: m.id,
                            username: m.user.username,
                            email: m.user.email,
                            display_name: None,
                            roles: m.business_roles,
                            kind: if system {
                                SeatKind::SystemUser
                            } else {
                                SeatKind::Member
                            },
                        });
                    }
                    vec![Batch::Seats(seats), Batch::Grants(grants)]
                },
                sink,
            )
            .await?;
        }
        Ok(())
    }

    /// Pending invites, as seats.
    async fn fetch_invites(
        &self,
        stats: &mut FetchStats,
        sink: &mut dyn SnapshotSink,
    ) -> Result<(), ConnectorError> {
        let b = self.business();
        self.pages(
            &format!("/businesses/{b}/invites?is_member=true"),
            stats,
            |items: Vec<InviteRow>| {
                let seats = items
                    .into_iter()
                    .map(|i| SeatRecord {
                        user_id: format!("invite:{}", i.id),
                        username: i.user.username,
                        email: i.user.email,
                        display_name: None,
                        roles: i.business_roles,
                        kind: SeatKind::Invite,
                    })
                    .collect();
                vec![Batch::Seats(seats)]
            },
            sink,
        )
        .await?;
        Ok(())
    }

    /// Names of ad accounts: they come from /ad_accounts (business assets carry none).
    async fn ad_account_names(
        &self,
        stats: &mut FetchStats,
    ) -> Result<HashMap<String, String>, ConnectorError> {
        let mut names: HashMap<String, String> = HashMap::new();
        let mut pager = Bookmarks::new(self, "/ad_accounts");
        while let Some(page) = pager.next::<AdAccountRow>().await? {
            stats.pages += 1;
            for a in page.items {
                if let Some(name) = a.name {
                    names.insert(a.id, name);
                }
            }
        }
        Ok(names)
    }

    /// Assets of every type; returns those whose holders the summaries do not cover.
    async fn fetch_assets(
        &self,
        names: &HashMap<String, String>,
        stats: &mut FetchStats,
        sink: &mut dyn SnapshotSink,
    ) -> Result<Vec<String>, ConnectorError> {
        let b = self.business();
        let mut per_asset = Vec::new();
        for kind in ["AD_ACCOUNT", "PROFILE", "CATALOG", "ASSET_GROUP"] {
            self.pages(
                &format!("/businesses/{b}/assets?asset_type={kind}"),
                stats,
                |items: Vec<AssetRow>| {
                    let assets = items
                        .into_iter()
                        .map(|a| {
                            let id = a.asset_id;
                            if kind == "CATALOG" || kind == "ASSET_GROUP" {
                                per_asset.push(id.clone());
                            }
                            let name = names
                                .get(&id)
                                .cloned()
                                .or_else(|| a.catalog_info.and_then(|c| c.name))
                                .or_else(|| a.asset_group_info.and_then(|g| g.asset_group_name));
                            AssetRecord {
                                id,
                                kind: kind.to_string(),
                                name,
                                owner_id: None,
                            }
                        })
                        .collect();
                    vec![Batch::Assets(assets)]
                },
                sink,
            )
            .await?;
        }
        Ok(per_asset)
    }

    /// Each asset's holders, pushed as they arrive: never the whole business at once.
    async fn fetch_holders(
        &self,
        per_asset: Vec<String>,
        stats: &mut FetchStats,
        sink: &mut dyn SnapshotSink,
    ) -> Result<(), ConnectorError> {
        let b = self.business().to_string();
        let mut fetched = futures_util::stream::iter(per_asset)
            .map(|asset| self.holders(b.clone(), asset))
            .buffer_unordered(self.cfg.http.concurrency.max(1));
        while let Some(r) = fetched.next().await {
            let (grants, pages) = r?;
            stats.pages += pages;
            let batch = Batch::Grants(grants);
            push(sink, stats, batch).await?;
        }
        Ok(())
    }

    /// Partners both ways; the ones using our assets bring their permissions.
    async fn fetch_partners(
        &self,
        stats: &mut FetchStats,
        sink: &mut dyn SnapshotSink,
    ) -> Result<(), ConnectorError> {
        let b = self.business();
        let mut partners: HashMap<String, PartnerRecord> = HashMap::new();
        for (kind, internal) in [("INTERNAL", true), ("EXTERNAL", false)] {
            let mut grants = Vec::new();
            let mut found = Vec::new();
            self.pages(
                &format!("/businesses/{b}/partners?partner_type={kind}&assets_summary=true"),
                stats,
                |items: Vec<PartnerRow>| {
                    for p in items {
                        if internal {
                            grants.extend(summary_grants(
                                &Holder::Partner(p.id.clone()),
                                p.assets_summary,
                            ));
                        }
                        found.push((p.id, p.user.username));
                    }
                    Vec::new()
                },
                sink,
            )
            .await?;
            for (id, name) in found {
                let rel = if internal {
                    PartnerRelation::UsesOurAssets
                } else {
                    PartnerRelation::SharesWithUs
                };
                partners
                    .entry(id.clone())
                    .and_modify(|p| {
                        if p.relation != rel {
                            p.relation = PartnerRelation::Both
                        }
                    })
                    .or_insert(PartnerRecord {
                        id,
                        name,
                        relation: rel,
                    });
            }
            if !grants.is_empty() {
                let batch = Batch::Grants(grants);
                push(sink, stats, batch).await?;
            }
        }
        let mut list: Vec<PartnerRecord> = partners.into_values().collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        let batch = Batch::Partners(list);
        push(sink, stats, batch).await?;
        Ok(())
    }

    fn business(&self) -> &str {
        &self.cfg.business_id
    }

    /// Members holding one asset, with their permissions.
    fn holders(
        &self,
        b: String,
        asset: String,
    ) -> BoxFuture<'_, Result<(Vec<GrantRecord>, u64), ConnectorError>> {
        Box::pin(async move {
            let (rows, pages) = self.asset_members(&b, &asset).await?;
            let grants = rows
                .into_iter()
                .filter_map(|m| {
                    Some(GrantRecord {
                        holder: Holder::Member(m.user.id?),
                        asset_id: asset.clone(),
                        permissions: m.permissions,
                    })
                })
                .collect();
            Ok((grants, pages))
        })
    }

    /// [`Self::asset_members`] as a boxed future, for fanning out.
    #[allow(clippy::type_complexity)]
    fn members_of(
        &self,
        b: String,
        asset: String,
    ) -> BoxFuture<'_, Result<(String, Vec<AssetMemberRow>, u64), ConnectorError>> {
        Box::pin(async move {
            let (rows, pages) = self.asset_members(&b, &asset).await?;
            Ok((asset, rows, pages))
        })
    }

    /// Every page of `/businesses/{b}/assets/{asset}/members`, and how many pages it took.
    async fn asset_members(
        &self,
        b: &str,
        asset: &str,
    ) -> Result<(Vec<AssetMemberRow>, u64), ConnectorError> {
        let mut rows = Vec::new();
        let mut pages = 0;
        let path = format!("/businesses/{b}/assets/{asset}/members");
        let mut pager = Bookmarks::new(self, &path);
        while let Some(page) = pager.next::<AssetMemberRow>().await? {
            pages += 1;
            rows.extend(page.items);
        }
        Ok((rows, pages))
    }

    /// The partner's users (this connector reads the partner's business with its monitor
    /// account) who hold one of `assets`: one paged walk of each shared asset's members, so
    /// nothing of the partner's other clients is asked for. Seats go out once all assets are
    /// read (a user holding several of them is one seat).
    pub(crate) async fn read_partner_users(
        &self,
        assets: &[SharedAsset],
        stats: &mut FetchStats,
        sink: &mut dyn SnapshotSink,
    ) -> Result<(), ConnectorError> {
        let b = self.business().to_string();
        let mut seats: std::collections::BTreeMap<String, SeatRecord> = Default::default();
        let ids: Vec<String> = assets.iter().map(|a| a.id.clone()).collect();
        let mut fetched = futures_util::stream::iter(ids)
            .map(|asset| self.members_of(b.clone(), asset))
            .buffer_unordered(self.cfg.http.concurrency.max(1));
        while let Some(r) = fetched.next().await {
            let (asset, rows, pages) = r?;
            stats.pages += pages;
            let mut grants = Vec::new();
            for m in rows {
                let Some(user) = m.user.id else { continue };
                seats.entry(user.clone()).or_insert_with(|| SeatRecord {
                    user_id: user.clone(),
                    username: m.user.username,
                    email: m.user.email,
                    display_name: None,
                    roles: Vec::new(),
                    kind: SeatKind::PartnerUser,
                });
                grants.push(GrantRecord {
                    holder: Holder::Member(user),
                    asset_id: asset.clone(),
                    permissions: m.permissions,
                });
            }
            if !grants.is_empty() {
                push(sink, stats, Batch::Grants(grants)).await?;
            }
        }
        drop(fetched);
        push(sink, stats, Batch::Seats(seats.into_values().collect())).await
    }
}

/// Pinterest's bookmark paging, the one loop over it: pages of 250 until a response carries
/// no bookmark (an empty one ends it too: sent back, it would start the list again).
pub(crate) struct Bookmarks<'a> {
    conn: &'a PinterestConnector,
    path: String,
    bookmark: Option<String>,
    done: bool,
}

impl<'a> Bookmarks<'a> {
    fn new(conn: &'a PinterestConnector, path: &str) -> Self {
        Self {
            conn,
            path: path.to_string(),
            bookmark: None,
            done: false,
        }
    }

    /// The next page, or `None` after the last.
    async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<Page<T>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let sep = if self.path.contains('?') { '&' } else { '?' };
        let p = match &self.bookmark {
            Some(b) => format!("{}{sep}page_size=250&bookmark={b}", self.path),
            None => format!("{}{sep}page_size=250", self.path),
        };
        let page: Page<T> = decode_bytes(&self.path, &self.conn.get(&p).await?)?;
        match &page.bookmark {
            Some(b) => self.bookmark = Some(b.clone()),
            None => self.done = true,
        }
        Ok(Some(page))
    }
}

fn summary_grants(holder: &Holder, summary: Option<AssetsSummary>) -> Vec<GrantRecord> {
    let summary = summary.unwrap_or_default();
    summary
        .ad_accounts
        .into_iter()
        .chain(summary.profiles)
        .map(|a| GrantRecord {
            holder: holder.clone(),
            asset_id: a.id,
            permissions: a.permissions,
        })
        .collect()
}
