//! TikTok Business Center (API for Business v1.3).
//!
//! Call pattern: members (with pending invitees) 50 a page; assets of each type from
//! `/bc/asset/admin/get/`; permissions per asset from `/bc/asset/member/get/` (the endpoint
//! accepts advertisers, catalogs and lead forms; 20 a page), fanned out with bounded
//! concurrency; TikTok-account permissions, which have no per-asset endpoint, per member from
//! `/bc/asset/get/` only when the business has at most `per_member_limit` members (otherwise
//! they are skipped and said so in the log); partners with the assets shared each way.
//! Every answer is `{code, message, request_id, data}`: rate-limit and system codes are
//! retried, token codes are final.

use std::sync::Arc;

use castellan_domain::changes::Change;
use castellan_domain::coverage::{FetchScope, Kept};
use castellan_domain::partnership::PartnerChange;
use castellan_domain::platform::{
    Applied, AssetRecord, Batch, BoxFuture, Capabilities, Connectivity, Connector, ConnectorError,
    FetchStats, GrantRecord, Holder, PartnerRecord, PartnerRelation, SeatKind, SeatRecord,
    SharedAsset, SnapshotSink,
};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::http::{Attempt, Http, HttpConfig};
use crate::push;
use crate::wire::decode;

mod calls;
mod wire;
use calls::{calls, partner_calls};
use wire::{AssetMemberRow, AssetRow, BcList, MemberRow, Paged, PartnerRow};

pub const DEFAULT_BASE_URL: &str = "https://business-api.tiktok.com/open_api/v1.3";

#[derive(Clone)]
pub struct TiktokConfig {
    pub base_url: String,
    pub bc_id: String,
    pub access_token: String,
    pub http: HttpConfig,
    /// Fetch TikTok-account permissions member by member up to this many members.
    pub per_member_limit: usize,
}

impl std::fmt::Debug for TiktokConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiktokConfig")
            .field("base_url", &self.base_url)
            .field("bc_id", &self.bc_id)
            .finish_non_exhaustive()
    }
}

pub struct TiktokConnector {
    http: Http,
    cfg: TiktokConfig,
}

fn read(
    status: reqwest::StatusCode,
    retry_after: Option<std::time::Duration>,
    body: Vec<u8>,
) -> Attempt<Value> {
    if status.as_u16() == 429 || status.is_server_error() {
        return Attempt::Retry {
            reason: format!("HTTP {}", status.as_u16()),
            after: retry_after,
        };
    }
    let v: crate::wire::Envelope = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Attempt::Fail(ConnectorError::Protocol(format!(
                "HTTP {}: not TikTok's envelope: {e}",
                status.as_u16()
            )));
        }
    };
    let code = v.code;
    let msg = format!("{} (code {code})", v.message);
    match code {
        0 => Attempt::Done(v.data),
        40100 | 40132 | 61000 | 50000 | 50002 | 51060 | 60001 => Attempt::Retry {
            reason: msg,
            after: retry_after,
        },
        40102 | 40104 | 40105 | 40106 => Attempt::Fail(ConnectorError::Unauthorized(msg)),
        40001 | 40003 | 40130 => Attempt::Fail(ConnectorError::Forbidden(msg)),
        40007 | 40300 => Attempt::Fail(ConnectorError::NotFound(msg)),
        _ => Attempt::Fail(ConnectorError::Rejected(msg)),
    }
}

impl TiktokConnector {
    pub fn new(cfg: TiktokConfig) -> Result<Self, ConnectorError> {
        Ok(Self {
            http: Http::new(cfg.http.clone())?,
            cfg,
        })
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ConnectorError> {
        let url = format!("{}{path}", self.cfg.base_url.trim_end_matches('/'));
        let token = self.cfg.access_token.clone();
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self.http
            .run(
                path,
                || {
                    self.http
                        .client
                        .get(&url)
                        .query(&query)
                        .header("Access-Token", &token)
                },
                |s, r, b| async move { read(s, r, b) },
            )
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, ConnectorError> {
        let url = format!("{}{path}", self.cfg.base_url.trim_end_matches('/'));
        let token = self.cfg.access_token.clone();
        self.http
            .run(
                path,
                || {
                    self.http
                        .client
                        .post(&url)
                        .json(body)
                        .header("Access-Token", &token)
                },
                |s, r, b| async move { read(s, r, b) },
            )
            .await
    }

    /// One page of a page-numbered list, typed.
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        page: u64,
        page_size: u64,
    ) -> Result<Paged<T>, ConnectorError> {
        let mut q = query.to_vec();
        q.push(("page", page.to_string()));
        q.push(("page_size", page_size.to_string()));
        decode(path, self.get(path, &q).await?)
    }

    /// Every row of a page-numbered list.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        page_size: u64,
        stats: &mut FetchStats,
    ) -> Result<Vec<T>, ConnectorError> {
        let mut out = Vec::new();
        let mut page = 1u64;
        loop {
            let data: Paged<T> = self.page(path, query, page, page_size).await?;
            stats.pages += 1;
            out.extend(data.list);
            if page >= data.page_info.total_page {
                return Ok(out);
            }
            page += 1;
        }
    }

    fn bc(&self) -> String {
        self.cfg.bc_id.clone()
    }

    /// Members holding one asset, with their roles.
    fn holders(
        &self,
        bc: String,
        asset: String,
        kind: String,
    ) -> BoxFuture<'_, Result<(Vec<GrantRecord>, u64), ConnectorError>> {
        Box::pin(async move {
            let (_, rows, pages) = self.members_of(bc, asset.clone(), kind).await?;
            let grants = rows
                .into_iter()
                .map(|m| GrantRecord {
                    holder: Holder::Member(m.user_id),
                    asset_id: asset.clone(),
                    permissions: m.roles.all(),
                })
                .collect();
            Ok((grants, pages))
        })
    }

    /// Every page of `/bc/asset/member/get/` for one asset, and how many pages it took.
    #[allow(clippy::type_complexity)]
    fn members_of(
        &self,
        bc: String,
        asset: String,
        kind: String,
    ) -> BoxFuture<'_, Result<(String, Vec<AssetMemberRow>, u64), ConnectorError>> {
        Box::pin(async move {
            let mut s = FetchStats::default();
            let rows: Vec<AssetMemberRow> = self
                .all(
                    "/bc/asset/member/get/",
                    &[
                        ("bc_id", bc),
                        ("asset_id", asset.clone()),
                        ("asset_type", kind),
                    ],
                    20,
                    &mut s,
                )
                .await?;
            Ok((asset, rows, s.pages))
        })
    }

    /// The partner's users (this connector reads the partner's Business Center with the token
    /// it gave through the consent page) who hold one of `assets`: each shared advertiser,
    /// catalog or lead form's members, so nothing of the partner's other clients is asked
    /// for. Other asset types have no per-asset member list and are not read.
    async fn read_partner_users(
        &self,
        assets: &[SharedAsset],
        stats: &mut FetchStats,
        sink: &mut dyn SnapshotSink,
    ) -> Result<(), ConnectorError> {
        let bc = self.bc();
        let per_asset: Vec<(String, String)> = assets
            .iter()
            .filter(|a| matches!(a.kind.as_str(), "ADVERTISER" | "CATALOG" | "LEAD"))
            .map(|a| (a.id.clone(), a.kind.clone()))
            .collect();
        let mut seats: std::collections::BTreeMap<String, SeatRecord> = Default::default();
        let mut fetched = futures_util::stream::iter(per_asset)
            .map(|(asset, kind)| self.members_of(bc.clone(), asset, kind))
            .buffer_unordered(self.cfg.http.concurrency.max(1));
        while let Some(r) = fetched.next().await {
            let (asset, rows, pages) = r?;
            stats.pages += pages;
            let mut grants = Vec::new();
            for m in rows {
                seats
                    .entry(m.user_id.clone())
                    .or_insert_with(|| SeatRecord {
                        user_id: m.user_id.clone(),
                        username: m.user_name.clone(),
                        email: m.user_email.clone(),
                        display_name: m.user_name.clone(),
                        roles: Vec::new(),
                        kind: SeatKind::PartnerUser,
                    });
                grants.push(GrantRecord {
                    holder: Holder::Member(m.user_id),
                    asset_id: asset.clone(),
                    permissions: m.roles.all(),
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

impl TiktokConnector {
    /// Rows of `/bc/member/get/` matching a filter.
    async fn members_where(&self, filtering: Value) -> Result<Vec<MemberRow>, ConnectorError> {
        let mut s = FetchStats::default();
        self.all(
            "/bc/member/get/",
            &[("bc_id", self.bc()), ("filtering", filtering.to_string())],
            50,
            &mut s,
        )
        .await
    }

    /// A bound member as the platform shows it now (found by address when one is known).
    async fn member(
        &self,
        user_id: &str,
        email: Option<&str>,
    ) -> Result<Option<SeatRecord>, ConnectorError> {
        let mut f = json!({ "relation_status": "BOUND" });
        if let Some(e) = email {
            f["keyword"] = json!(e);
        }
        let rows = self.members_where(f).await?;
        Ok(rows
            .into_iter()
            .find(|m| m.user_id.as_deref() == Some(user_id))
            .map(|m| SeatRecord {
                user_id: user_id.to_string(),
                username: m.user_name.clone(),
                email: m.user_email,
                display_name: m.user_name,
                roles: m.user_role,
                kind: SeatKind::Member,
            }))
    }

    async fn pending_invite(&self, email: &str) -> Result<Option<SeatRecord>, ConnectorError> {
        let rows = self
            .members_where(json!({ "relation_status": "PENDING", "keyword": email }))
            .await?;
        Ok(rows
            .into_iter()
            .find(|m| {
                m.user_email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .map(|m| SeatRecord {
                user_id: format!("invite:{}", email.to_lowercase()),
                username: m.user_name.clone(),
                email: m.user_email,
                display_name: m.user_name,
                roles: m.user_role,
                kind: SeatKind::Invite,
            }))
    }

    async fn permission(
        &self,
        user_id: &str,
        asset_id: &str,
        kind: &str,
    ) -> Result<Option<GrantRecord>, ConnectorError> {
        let mut s = FetchStats::default();
        let rows: Vec<AssetRow> = self
            .all(
                "/bc/asset/get/",
                &[
                    ("bc_id", self.bc()),
                    ("asset_type", kind.to_string()),
                    ("filtering", json!({ "user_id": user_id }).to_string()),
                ],
                50,
                &mut s,
            )
            .await?;
        Ok(rows
            .into_iter()
            .find(|a| a.asset_id == asset_id)
            .map(|a| GrantRecord {
                holder: Holder::Member(user_id.to_string()),
                asset_id: asset_id.to_string(),
                permissions: a.roles.all(),
            }))
    }

    async fn observe(
        &self,
        change: &Change,
    ) -> Result<(bool, Option<SeatRecord>, Option<GrantRecord>), ConnectorError> {
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        Ok(match change {
            Change::RemoveMember { user_id, email } => {
                let m = self.member(user_id, email.as_deref()).await?;
                (m.is_none(), m, None)
            }
            Change::SetRole {
                user_id,
                email,
                role,
            } => {
                let m = self.member(user_id, email.as_deref()).await?;
                let done = m.as_ref().is_some_and(|m| m.roles == [role.clone()]);
                (done, m, None)
            }
            Change::Grant {
                user_id,
                asset_id,
                asset_kind,
                permissions,
            } => {
                let g = self.permission(user_id, asset_id, asset_kind).await?;
                let done = g
                    .as_ref()
                    .is_some_and(|g| sorted(g.permissions.clone()) == sorted(permissions.clone()));
                (done, None, g)
            }
            Change::Revoke {
                user_id,
                asset_id,
                asset_kind,
            } => {
                let g = self.permission(user_id, asset_id, asset_kind).await?;
                (g.is_none(), None, g)
            }
            Change::Invite { email, .. } => {
                let i = self.pending_invite(email).await?;
                (i.is_some(), i, None)
            }
            Change::CancelInvite { email, .. } => {
                let i = match email {
                    Some(e) => self.pending_invite(e).await?,
                    None => None,
                };
                (i.is_none(), i, None)
            }
        })
    }
}

impl Connector for TiktokConnector {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            members: true,
            roles: true,
            assets: true,
            asset_permissions: true,
            partners: true,
            invites: true,
            invite_member: true,
            remove_member: true,
            change_role: true,
        }
    }

    fn check(&self) -> BoxFuture<'_, Result<Connectivity, ConnectorError>> {
        Box::pin(async move {
            let data: BcList = decode(
                "/bc/get/",
                self.get("/bc/get/", &[("bc_id", self.bc())]).await?,
            )?;
            let Some(bc) = data
                .list
                .into_iter()
                .find(|b| b.bc_info.bc_id == self.cfg.bc_id)
            else {
                return Err(ConnectorError::NotFound(format!(
                    "the token's user is not in Business Center {}",
                    self.cfg.bc_id
                )));
            };
            Ok(Connectivity {
                account_id: self.cfg.bc_id.clone(),
                account_name: bc.bc_info.name,
                admin: bc.user_role.as_deref() == Some("ADMIN"),
                missing_scopes: Vec::new(),
            })
        })
    }

    fn fetch<'a>(
        &'a self,
        scope: &'a FetchScope,
        sink: &'a mut dyn SnapshotSink,
    ) -> BoxFuture<'a, Result<FetchStats, ConnectorError>> {
        Box::pin(async move {
            let bc = self.bc();
            let mut stats = FetchStats::default();
            // Members and pending invitees, page by page.
            let mut page = 1u64;
            let mut bound = Vec::new();
            loop {
                let data: Paged<MemberRow> = self
                    .page("/bc/member/get/", &[("bc_id", bc.clone())], page, 50)
                    .await?;
                stats.pages += 1;
                let total = data.page_info.total_page;
                let seats: Vec<SeatRecord> = data
                    .list
                    .into_iter()
                    .filter_map(|m| {
                        let status = m.relation_status.as_deref();
                        let pending = status != Some("BOUND");
                        if matches!(status, Some("UNBOUND" | "REJECTED")) {
                            return None;
                        }
                        let email = m.user_email;
                        let user_id = if pending {
                            format!(
                                "invite:{}",
                                email.clone().unwrap_or_default().to_lowercase()
                            )
                        } else {
                            m.user_id?
                        };
                        if !pending {
                            bound.push(user_id.clone());
                        }
                        Some(SeatRecord {
                            user_id,
                            username: m.user_name.clone(),
                            email,
                            display_name: m.user_name,
                            roles: m.user_role,
                            kind: if pending {
                                SeatKind::Invite
                            } else {
                                SeatKind::Member
                            },
                        })
                    })
                    .collect();
                let batch = Batch::Seats(seats);
                push(sink, &mut stats, batch).await?;
                if page >= total {
                    break;
                }
                page += 1;
            }
            // Assets of each type.
            let mut per_asset: Vec<(String, String)> = Vec::new();
            const KINDS: [&str; 6] = [
                "ADVERTISER",
                "CATALOG",
                "PIXEL",
                "TT_ACCOUNT",
                "LEAD",
                "TIKTOK_SHOP",
            ];
            for kind in KINDS {
                let rows: Vec<AssetRow> = self
                    .all(
                        "/bc/asset/admin/get/",
                        &[("bc_id", bc.clone()), ("asset_type", kind.into())],
                        50,
                        &mut stats,
                    )
                    .await?;
                let assets: Vec<AssetRecord> = rows
                    .into_iter()
                    .map(|a| {
                        if matches!(kind, "ADVERTISER" | "CATALOG" | "LEAD") {
                            per_asset.push((a.asset_id.clone(), kind.to_string()));
                        }
                        let owner = (a.relation_type.as_deref() == Some("OWNER_PARTNER"))
                            .then(|| a.owner_bc_name.unwrap_or_else(|| "partner".to_string()));
                        AssetRecord {
                            id: a.asset_id,
                            kind: kind.to_string(),
                            name: a.asset_name,
                            owner_id: owner,
                        }
                    })
                    .collect();
                let batch = Batch::Assets(assets);
                push(sink, &mut stats, batch).await?;
            }
            // Who holds each advertiser, catalog and lead form: those the coverage window picks
            // this check; the others' holders are kept as last read.
            let ids: Vec<String> = per_asset.iter().map(|(a, _)| a.clone()).collect();
            let (picked, kept) = scope.split(&ids, &scope.holders_read, Kept::Holders);
            stats.holders_kept = kept.len() as u64;
            stats.holders_read = (ids.len() - kept.len()) as u64;
            if !kept.is_empty() {
                push(sink, &mut stats, Batch::Kept(kept)).await?;
            }
            let mut picked = picked.into_iter();
            per_asset.retain(|_| picked.next().unwrap_or(true));
            // Push each asset's holders as they arrive: never the whole business at once.
            let mut results = futures_util::stream::iter(per_asset)
                .map(|(asset, kind)| self.holders(bc.clone(), asset, kind))
                .buffer_unordered(self.cfg.http.concurrency.max(1));
            while let Some(r) = results.next().await {
                let (grants, pages) = r?;
                stats.pages += pages;
                let batch = Batch::Grants(grants);
                push(sink, &mut stats, batch).await?;
            }
            // TikTok-account permissions: only per member.
            if bound.len() <= self.cfg.per_member_limit {
                for user in &bound {
                    let filtering = serde_json::json!({ "user_id": user }).to_string();
                    let rows: Vec<AssetRow> = self
                        .all(
                            "/bc/asset/get/",
                            &[
                                ("bc_id", bc.clone()),
                                ("asset_type", "TT_ACCOUNT".into()),
                                ("filtering", filtering),
                            ],
                            50,
                            &mut stats,
                        )
                        .await?;
                    let grants: Vec<GrantRecord> = rows
                        .into_iter()
                        .map(|a| GrantRecord {
                            holder: Holder::Member(user.clone()),
                            asset_id: a.asset_id,
                            permissions: a.roles.all(),
                        })
                        .collect();
                    if !grants.is_empty() {
                        let batch = Batch::Grants(grants);
                        push(sink, &mut stats, batch).await?;
                    }
                }
            } else {
                tracing::info!(
                    members = bound.len(),
                    limit = self.cfg.per_member_limit,
                    "skipping per-member TikTok-account permissions for a large Business Center"
                );
            }
            // Partners and what is shared each way.
            let partners: Vec<PartnerRow> = self
                .all("/bc/partner/get/", &[("bc_id", bc.clone())], 50, &mut stats)
                .await?;
            let ids: Vec<String> = partners.iter().map(|p| p.bc_id.clone()).collect();
            let (picked, kept) = scope.split(&ids, &scope.shares_read, Kept::Shares);
            stats.shares_kept = kept.len() as u64;
            if !kept.is_empty() {
                push(sink, &mut stats, Batch::Kept(kept)).await?;
            }
            let mut records = Vec::new();
            for (p, _) in partners.into_iter().zip(picked).filter(|(_, r)| *r) {
                let pid = p.bc_id.as_str();
                let mut sharing = false;
                let mut shared = false;
                let mut grants = Vec::new();
                for kind in ["ADVERTISER", "CATALOG"] {
                    let out: Vec<AssetRow> = self
                        .all(
                            "/bc/partner/asset/get/",
                            &[
                                ("bc_id", bc.clone()),
                                ("partner_id", pid.into()),
                                ("asset_type", kind.into()),
                                ("share_type", "SHARING".into()),
                            ],
                            50,
                            &mut stats,
                        )
                        .await?;
                    sharing |= !out.is_empty();
                    grants.extend(out.into_iter().map(|a| GrantRecord {
                        holder: Holder::Partner(pid.to_string()),
                        asset_id: a.asset_id,
                        permissions: a.roles.all(),
                    }));
                    let inbound: Vec<AssetRow> = self
                        .all(
                            "/bc/partner/asset/get/",
                            &[
                                ("bc_id", bc.clone()),
                                ("partner_id", pid.into()),
                                ("asset_type", kind.into()),
                                ("share_type", "SHARED".into()),
                            ],
                            50,
                            &mut stats,
                        )
                        .await?;
                    shared |= !inbound.is_empty();
                }
                let relation = match (sharing, shared) {
                    (true, true) => PartnerRelation::Both,
                    (false, true) => PartnerRelation::SharesWithUs,
                    _ => PartnerRelation::UsesOurAssets,
                };
                records.push(PartnerRecord {
                    id: pid.to_string(),
                    name: p.bc_name.clone(),
                    relation,
                });
                if !grants.is_empty() {
                    let batch = Batch::Grants(grants);
                    push(sink, &mut stats, batch).await?;
                }
            }
            let batch = Batch::Partners(records);
            push(sink, &mut stats, batch).await?;
            let (requests, retries) = self.http.counts();
            stats.requests = requests;
            stats.retries = retries;
            Ok(stats)
        })
    }
    fn fetch_partner_users<'a>(
        &'a self,
        assets: &'a [SharedAsset],
        sink: &'a mut dyn SnapshotSink,
    ) -> BoxFuture<'a, Result<FetchStats, ConnectorError>> {
        Box::pin(async move {
            let mut stats = FetchStats::default();
            self.read_partner_users(assets, &mut stats, sink).await?;
            let (requests, retries) = self.http.counts();
            stats.requests = requests;
            stats.retries = retries;
            Ok(stats)
        })
    }

    fn describe_partner(&self, change: &PartnerChange) -> Vec<String> {
        partner_calls(&self.cfg.bc_id, change)
            .into_iter()
            .map(|(path, body)| {
                format!(
                    "POST {}{path} {body}",
                    self.cfg.base_url.trim_end_matches('/')
                )
            })
            .collect()
    }

    fn apply_partner<'a>(
        &'a self,
        change: &'a PartnerChange,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            for (path, body) in partner_calls(&self.cfg.bc_id, change) {
                match self.post(path, &body).await {
                    // Already ended or no longer shared: the outcome wanted.
                    Ok(_) | Err(ConnectorError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }

    fn describe(&self, change: &Change) -> Vec<String> {
        calls(&self.cfg.bc_id, change)
            .into_iter()
            .map(|(path, body)| {
                format!(
                    "POST {}{path} {body}",
                    self.cfg.base_url.trim_end_matches('/')
                )
            })
            .collect()
    }

    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<Applied, ConnectorError>> {
        Box::pin(crate::apply_checked(
            move || Box::pin(self.observe(change)),
            move |_| async move {
                for (path, body) in calls(&self.cfg.bc_id, change) {
                    self.post(path, &body).await?;
                }
                Ok(())
            },
        ))
    }
}

/// Shared handle type for callers that keep connectors around.
pub type SharedConnector = Arc<dyn Connector>;
