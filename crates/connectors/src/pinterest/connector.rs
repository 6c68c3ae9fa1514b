//! Pinterest as a `Connector`: the connectivity check, the fetch (in the parent module), and
//! changes: the calls each makes, what the platform shows before and after, and the calls
//! made in order (an invitation's permissions attached to the invitation it just made).

use super::wire::{AssetRow, BulkAnswer, EmployerRow, InviteRow, MemberRow, Page, UserAccount};
use super::{Bookmarks, PinterestConnector};
use crate::wire::decode_bytes;
use castellan_domain::changes::Change;
use castellan_domain::partnership::PartnerChange;
use castellan_domain::platform::{
    Applied, BoxFuture, Capabilities, Connectivity, Connector, ConnectorError, FetchStats,
    GrantRecord, Holder, SeatKind, SeatRecord, SharedAsset, SnapshotSink,
};
use serde_json::{Value, json};

/// The calls of a change: (method, path under the base URL, body).
fn calls(b: &str, change: &Change) -> Vec<(reqwest::Method, String, Value)> {
    use reqwest::Method;
    match change {
        Change::RemoveMember { user_id, .. } => vec![(
            Method::DELETE,
            format!("/businesses/{b}/members"),
            // The role is required by the API and read first; "EMPLOYEE" stands in here.
            json!({ "members": [{ "member_id": user_id, "business_role": "EMPLOYEE" }] }),
        )],
        Change::SetRole { user_id, role, .. } => vec![(
            Method::PATCH,
            format!("/businesses/{b}/members"),
            json!([{ "member_id": user_id, "business_role": role }]),
        )],
        Change::Grant {
            user_id,
            asset_id,
            permissions,
            ..
        } => vec![(
            Method::PATCH,
            format!("/businesses/{b}/members/assets/access"),
            json!({ "accesses": [{ "member_id": user_id, "asset_id": asset_id, "permissions": permissions }] }),
        )],
        Change::Revoke {
            user_id, asset_id, ..
        } => vec![(
            Method::DELETE,
            format!("/businesses/{b}/members/assets/access"),
            json!({ "accesses": [{ "member_id": user_id, "asset_id": asset_id }] }),
        )],
        Change::Invite {
            email,
            role,
            assets,
        } => {
            let mut out = vec![(
                Method::POST,
                format!("/businesses/{b}/invites"),
                json!({ "invite_type": "MEMBER_INVITE", "business_role": role, "members": [email] }),
            )];
            if !assets.is_empty() {
                let map: serde_json::Map<String, Value> = assets
                    .iter()
                    .map(|(a, _, p)| (a.clone(), json!(p)))
                    .collect();
                out.push((
                    Method::POST,
                    format!("/businesses/{b}/invites/assets/access"),
                    json!({ "invites": [{ "invite_id": "{invite id}", "invite_type": "MEMBER_INVITE", "asset_id_to_permissions": map }] }),
                ));
            }
            out
        }
        Change::CancelInvite { seat, .. } => vec![(
            Method::DELETE,
            format!("/businesses/{b}/invites"),
            json!({ "invite_ids": [seat.trim_start_matches("invite:")] }),
        )],
    }
}

/// Pinterest's asset type names (`/members/{id}/assets?asset_type=`).
fn pinterest_kind(kind: &str) -> &str {
    match kind {
        "AD_ACCOUNT" | "PROFILE" | "CATALOG" | "ASSET_GROUP" => kind,
        _ => "AD_ACCOUNT",
    }
}

impl PinterestConnector {
    /// A member (or system user) as the platform shows it now.
    async fn member(&self, user_id: &str) -> Result<Option<SeatRecord>, ConnectorError> {
        let b = self.business();
        for system in [false, true] {
            let path = format!("/businesses/{b}/members");
            let v = self
                .get(&format!(
                    "{path}?member_ids={user_id}&fetch_system_users={system}&page_size=1"
                ))
                .await?;
            let page: Page<MemberRow> = decode_bytes(&path, &v)?;
            if let Some(m) = page.items.into_iter().next() {
                return Ok(Some(SeatRecord {
                    user_id: user_id.to_string(),
                    username: m.user.username,
                    email: m.user.email,
                    display_name: None,
                    roles: m.business_roles,
                    kind: if system {
                        SeatKind::SystemUser
                    } else {
                        SeatKind::Member
                    },
                }));
            }
        }
        Ok(None)
    }

    /// A member's permissions on one asset now.
    async fn permission(
        &self,
        user_id: &str,
        asset_id: &str,
        kind: &str,
    ) -> Result<Option<GrantRecord>, ConnectorError> {
        let b = self.business();
        let path = format!(
            "/businesses/{b}/members/{user_id}/assets?asset_type={}",
            pinterest_kind(kind)
        );
        let mut pager = Bookmarks::new(self, &path);
        loop {
            let page = match pager.next::<AssetRow>().await {
                Err(ConnectorError::NotFound(_)) | Ok(None) => return Ok(None),
                Err(e) => return Err(e),
                Ok(Some(p)) => p,
            };
            if let Some(a) = page.items.into_iter().find(|a| a.asset_id == asset_id) {
                return Ok(Some(GrantRecord {
                    holder: Holder::Member(user_id.to_string()),
                    asset_id: asset_id.to_string(),
                    permissions: a.permissions,
                }));
            }
        }
    }

    /// The pending invite with this id, or of this address.
    async fn pending_invite(
        &self,
        id: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<SeatRecord>, ConnectorError> {
        let b = self.business();
        let path = format!("/businesses/{b}/invites?is_member=true&invite_status=PENDING");
        let mut pager = Bookmarks::new(self, &path);
        while let Some(page) = pager.next::<InviteRow>().await? {
            for i in page.items {
                let mail = i.user.email.as_deref();
                if id == Some(i.id.as_str())
                    || (email.is_some()
                        && mail.map(str::to_lowercase) == email.map(str::to_lowercase))
                {
                    return Ok(Some(SeatRecord {
                        user_id: format!("invite:{}", i.id),
                        username: i.user.username,
                        email: i.user.email,
                        display_name: None,
                        roles: i.business_roles,
                        kind: SeatKind::Invite,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// What `change` looks like on the platform now: `(seat, grant)`, and whether that is
    /// already the change's outcome.
    async fn observe(
        &self,
        change: &Change,
    ) -> Result<(bool, Option<SeatRecord>, Option<GrantRecord>), ConnectorError> {
        Ok(match change {
            Change::RemoveMember { user_id, .. } => {
                let m = self.member(user_id).await?;
                (m.is_none(), m, None)
            }
            Change::SetRole { user_id, role, .. } => {
                let m = self.member(user_id).await?;
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
                let mut want = permissions.clone();
                want.sort();
                let done = g.as_ref().is_some_and(|g| {
                    let mut have = g.permissions.clone();
                    have.sort();
                    have == want
                });
                (done, self.member(user_id).await?, g)
            }
            Change::Revoke {
                user_id,
                asset_id,
                asset_kind,
            } => {
                let g = self.permission(user_id, asset_id, asset_kind).await?;
                (g.is_none(), self.member(user_id).await?, g)
            }
            Change::Invite { email, .. } => {
                let i = self.pending_invite(None, Some(email)).await?;
                (i.is_some(), i, None)
            }
            Change::CancelInvite { seat, .. } => {
                let i = self
                    .pending_invite(Some(seat.trim_start_matches("invite:")), None)
                    .await?;
                (i.is_none(), i, None)
            }
        })
    }
}

impl PinterestConnector {
    /// Makes the calls of `change` (`seat`: the member as seen before, for its role).
    /// An invitation's asset permissions are attached to the invitation it just made.
    async fn call(&self, change: &Change, seat: Option<SeatRecord>) -> Result<(), ConnectorError> {
        let b = self.business().to_string();
        let mut steps = calls(&b, change);
        if let (Change::RemoveMember { user_id, .. }, Some(m)) = (change, &seat) {
            // The API wants the member's current role with the id.
            let role = m
                .roles
                .first()
                .cloned()
                .unwrap_or_else(|| "EMPLOYEE".into());
            steps[0].2 = json!({ "members": [{ "member_id": user_id, "business_role": role }] });
        }
        let mut invite_id: Option<String> = None;
        for (i, (method, path, mut body)) in steps.into_iter().enumerate() {
            if i == 1 {
                let id = invite_id.clone().ok_or_else(|| {
                    ConnectorError::Protocol("the invite answer named no invite".into())
                })?;
                body["invites"][0]["invite_id"] = json!(id);
            }
            let answer: BulkAnswer =
                decode_bytes(&path, &self.send(method, &path, Some(&body)).await?)?;
            if let Some(item) = answer.items.into_iter().next() {
                if let Some(ex) = item.exception {
                    let msg = ex.message.unwrap_or_else(|| "refused".to_string());
                    // An invite already pending for the address is the outcome we wanted.
                    if !(matches!(change, Change::Invite { .. }) && ex.code == Some(409)) {
                        return Err(ConnectorError::Rejected(msg));
                    }
                }
                if let Some(id) = item.invite.and_then(|i| i.id) {
                    invite_id = Some(id);
                }
            }
            if invite_id.is_none()
                && let Change::Invite { email, .. } = change
            {
                invite_id = self
                    .pending_invite(None, Some(email))
                    .await?
                    .map(|s| s.user_id.trim_start_matches("invite:").to_string());
            }
        }
        Ok(())
    }
}

/// The calls of a partnership change: revoking the partner's access to our assets (50 a call,
/// `INTERNAL`), or ending the partnership once per side it runs (one type per call).
fn partner_calls(b: &str, change: &PartnerChange) -> Vec<(reqwest::Method, String, Value)> {
    use reqwest::Method;
    match change {
        PartnerChange::StopSharing { partner_id, assets } => assets
            .chunks(50)
            .map(|chunk| {
                let accesses: Vec<Value> = chunk
                    .iter()
                    .map(|(a, _)| json!({ "partner_id": partner_id, "asset_id": a, "partner_type": "INTERNAL" }))
                    .collect();
                (
                    Method::DELETE,
                    format!("/businesses/{b}/partners/assets"),
                    json!({ "accesses": accesses }),
                )
            })
            .collect(),
        PartnerChange::RemovePartner {
            partner_id,
            uses_our_assets,
            shares_with_us,
        } => {
            let mut types = Vec::new();
            // A partnership with nothing shared is ended on its internal side.
            if *uses_our_assets || !*shares_with_us {
                types.push("INTERNAL");
            }
            if *shares_with_us {
                types.push("EXTERNAL");
            }
            types
                .into_iter()
                .map(|t| {
                    (
                        Method::DELETE,
                        format!("/businesses/{b}/partners"),
                        json!({ "partner_ids": [partner_id], "partner_type": t }),
                    )
                })
                .collect()
        }
    }
}

impl Connector for PinterestConnector {
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
            let me: UserAccount = decode_bytes("/user_account", &self.get("/user_account").await?)?;
            let account_id = me.id.unwrap_or_default();
            let employers = self.get("/businesses/employers?page_size=250").await;
            let mut missing = Vec::new();
            let admin = match employers {
                Ok(v) => decode_bytes::<Page<EmployerRow>>("/businesses/employers", &v)?
                    .items
                    .iter()
                    .any(|b| {
                        b.id == self.business() && b.business_roles.iter().any(|r| r == "BIZ_ADMIN")
                    }),
                Err(ConnectorError::Forbidden(_)) => {
                    missing.push("biz_access:read".to_string());
                    false
                }
                Err(e) => return Err(e),
            };
            Ok(Connectivity {
                account_id,
                account_name: me.username,
                admin,
                missing_scopes: missing,
            })
        })
    }

    fn fetch<'a>(
        &'a self,
        // Pinterest lists holders per member in few requests: every check reads everything.
        _scope: &'a castellan_domain::coverage::FetchScope,
        sink: &'a mut dyn SnapshotSink,
    ) -> BoxFuture<'a, Result<FetchStats, ConnectorError>> {
        Box::pin(async move {
            let mut stats = FetchStats::default();
            // The lists read per asset (catalogs, asset groups) come in asset order, the
            // members' summaries in holder order, and grants are stored by holder: read first,
            // a first check writes the per-asset grants into a small table and then the
            // members' in one sweep along it. Read last, each of those grants landed on a page
            // of its own in a table of a million rows (3 s of a 100k-member first check).
            let t0 = std::time::Instant::now();
            let names = self.ad_account_names(&mut stats).await?;
            let per_asset = self.fetch_assets(&names, &mut stats, sink).await?;
            let assets_secs = t0.elapsed().as_secs_f64();
            self.fetch_holders(per_asset, &mut stats, sink).await?;
            let holders_secs = t0.elapsed().as_secs_f64();
            self.fetch_members(&mut stats, sink).await?;
            let members_secs = t0.elapsed().as_secs_f64();
            self.fetch_invites(&mut stats, sink).await?;
            self.fetch_partners(&mut stats, sink).await?;
            // Where a fetch goes (seconds since it began, each step's end): the asset lists
            // are chains of requests the platform answers one at a time, the members' pages
            // carry nine grants in ten.
            tracing::debug!(
                assets_secs,
                holders_secs,
                members_secs,
                total_secs = t0.elapsed().as_secs_f64(),
                "pinterest fetch"
            );
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
        partner_calls(self.business(), change)
            .into_iter()
            .map(|(m, path, body)| {
                format!(
                    "{m} {}{path} {body}",
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
            for (method, path, body) in partner_calls(self.business(), change) {
                match self.send(method, &path, Some(&body)).await {
                    // "A supplied partner id doesn't exist": already ended.
                    Ok(_) | Err(ConnectorError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }

    fn describe(&self, change: &Change) -> Vec<String> {
        calls(self.business(), change)
            .into_iter()
            .map(|(m, path, body)| {
                format!(
                    "{m} {}{path} {body}",
                    self.cfg.base_url.trim_end_matches('/')
                )
            })
            .collect()
    }

    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<Applied, ConnectorError>> {
        Box::pin(crate::apply_checked(
            move || Box::pin(self.observe(change)),
            move |seat| self.call(change, seat),
        ))
    }
}
