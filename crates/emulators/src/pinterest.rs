//! The Pinterest API v5 emulator (Business Access, ad accounts, conversion tags, OAuth), under
//! `/v5`, following `openapi.json` 5.23.0 and the digest `BUSINESS-ACCESS.md`.
//!
//! Choices where the spec is silent or marked UNCONFIRMED:
//! - `business_id` is the id of the business account; `GET /user_account` of a business
//!   member returns the member's own account.
//! - `start_index` is accepted and skips that many items of the first page; `bookmark` wins
//!   when both are given.
//! - `GET …/partners` without `partner_type` lists INTERNAL partners.
//! - Member asset PATCH replaces the permissions on that asset (as partners do).
//! - Not every permission fits every asset type: only `PROFILE_PUBLISHER` (PROFILE only) and
//!   `CATALOGS_*` (CATALOG only) are checked.
//! - Only a `BIZ_ADMIN` may list a business's members, partners, assets and invites or change
//!   them; an `EMPLOYEE` may read only its own asset permissions (403 otherwise).
//! - Error bodies are `{code, message}` with code 2 (401), 29 (403), 8 (429), and the HTTP
//!   status as code for 400 and 404.
//! - Unknown query parameters are rejected with 400 naming them.
//! - A partner is a whole business: its members hold permissions on assets that another
//!   business shared with it only as grants the partner gave (`member_grants` keyed by the
//!   partner); `GET /businesses/{partner}/assets/{asset}/members` lists them for an asset
//!   shared to the partner, as for its own assets. Ending a partnership takes those grants too.
//! - A monitor account is a member of the partner's business with `BIZ_ADMIN` (the seeds'
//!   Manager): its token reads that business as any admin's does, and nothing of a business it
//!   is not a member of (403), so a partner's other clients stay out of reach.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::common::{Query, now_ms, parse_id};
use crate::paging::{decode_bookmark, encode_bookmark};
use crate::pinterest_state::{
    AssetType, Grant, Invite, InviteStatus, Role, State as PState, Token, perm_bits, perm_names,
};
use crate::world::World;

#[derive(Debug)]
pub struct PErr {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
}

impl PErr {
    pub fn bad(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: 400,
            message: message.into(),
        }
    }
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: 2,
            message: "Authentication failed.".into(),
        }
    }
    pub fn forbidden() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: 29,
            message: "You are not permitted to access that resource.".into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: 404,
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: 409,
            message: message.into(),
        }
    }
}

impl IntoResponse for PErr {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

type R = Result<Value, PErr>;

/// The rate-limit category of each route (`x-ratelimit-category`).
pub fn category(method: &str, path: &str) -> &'static str {
    if path.starts_with("/v5/oauth") || path.starts_with("/v5/user_account") {
        "org_read"
    } else if method == "GET" {
        "ads_read"
    } else {
        "ads_write"
    }
}

/// Every operation served under `/v5`, as (method, path in the spec).
pub const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/user_account"),
    ("get", "/user_account/businesses"),
    ("get", "/businesses/employers"),
    ("get", "/businesses/{business_id}/members"),
    ("patch", "/businesses/{business_id}/members"),
    ("delete", "/businesses/{business_id}/members"),
    (
        "get",
        "/businesses/{business_id}/members/{member_id}/assets",
    ),
    ("patch", "/businesses/{business_id}/members/assets/access"),
    ("delete", "/businesses/{business_id}/members/assets/access"),
    ("get", "/businesses/{business_id}/partners"),
    ("delete", "/businesses/{business_id}/partners"),
    (
        "get",
        "/businesses/{business_id}/partners/{partner_id}/assets",
    ),
    ("patch", "/businesses/{business_id}/partners/assets"),
    ("delete", "/businesses/{business_id}/partners/assets"),
    ("get", "/businesses/{business_id}/assets"),
    ("get", "/businesses/{business_id}/assets/{asset_id}/members"),
    (
        "get",
        "/businesses/{business_id}/assets/{asset_id}/partners",
    ),
    ("get", "/businesses/{business_id}/invites"),
    ("post", "/businesses/{business_id}/invites"),
    ("delete", "/businesses/{business_id}/invites"),
    ("post", "/businesses/{business_id}/invites/assets/access"),
    ("get", "/ad_accounts"),
    ("get", "/ad_accounts/{ad_account_id}/conversion_tags"),
];

pub fn routes() -> Router<Arc<World>> {
    Router::new()
        .route("/v5/user_account", get(user_account))
        .route("/v5/user_account/businesses", get(linked_businesses))
        .route("/v5/businesses/employers", get(employers))
        .route(
            "/v5/businesses/{business_id}/members",
            get(members_list)
                .patch(members_update)
                .delete(members_delete),
        )
        .route(
            "/v5/businesses/{business_id}/members/{member_id}/assets",
            get(member_assets),
        )
        .route(
            "/v5/businesses/{business_id}/members/assets/access",
            axum::routing::patch(member_access_update).delete(member_access_delete),
        )
        .route(
            "/v5/businesses/{business_id}/partners",
            get(partners_list).delete(partners_delete),
        )
        .route(
            "/v5/businesses/{business_id}/partners/{partner_id}/assets",
            get(partner_assets),
        )
        .route(
            "/v5/businesses/{business_id}/partners/assets",
            axum::routing::patch(partner_access_update).delete(partner_access_delete),
        )
        .route("/v5/businesses/{business_id}/assets", get(assets_list))
        .route(
            "/v5/businesses/{business_id}/assets/{asset_id}/members",
            get(asset_members),
        )
        .route(
            "/v5/businesses/{business_id}/assets/{asset_id}/partners",
            get(asset_partners),
        )
        .route(
            "/v5/businesses/{business_id}/invites",
            get(invites_list)
                .post(invites_create)
                .delete(invites_cancel),
        )
        .route(
            "/v5/businesses/{business_id}/invites/assets/access",
            post(invite_assets),
        )
        .route("/v5/ad_accounts", get(ad_accounts))
        .route(
            "/v5/ad_accounts/{ad_account_id}/conversion_tags",
            get(conversion_tags),
        )
        .route("/v5/oauth/token", post(oauth_token))
        .route("/oauth/", get(consent_page).post(consent_confirm))
}

// ---------------------------------------------------------------- request plumbing

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The token's user, when the token is valid, unexpired and holds every scope in `scopes`.
fn authenticate(st: &PState, headers: &HeaderMap, scopes: &[&str]) -> Result<u64, PErr> {
    let token = bearer(headers).ok_or_else(PErr::unauthorized)?;
    let t = st.tokens.get(token).ok_or_else(PErr::unauthorized)?;
    if t.expires_ms.is_some_and(|e| e <= now_ms()) {
        return Err(PErr::unauthorized());
    }
    if !scopes.iter().all(|s| t.scopes.contains(*s)) {
        return Err(PErr::forbidden());
    }
    Ok(t.user)
}

fn business_id(raw: &str, max: usize) -> Result<u64, PErr> {
    parse_id(raw, max).ok_or_else(|| PErr::bad(format!("Invalid business_id: {raw}")))
}

/// The business, which the caller must administer.
fn admin_of(st: &PState, caller: u64, raw: &str) -> Result<u64, PErr> {
    let b = business_id(raw, 20)?;
    if !st.businesses.contains_key(&b) {
        return Err(PErr::not_found("Business not found."));
    }
    match st.member(b, caller) {
        Some(m) if m.role == Role::BizAdmin => Ok(b),
        _ => Err(PErr::forbidden()),
    }
}

fn known(q: &Query, names: &[&str]) -> Result<(), PErr> {
    match q.unknown(names) {
        Some(k) => Err(PErr::bad(format!(
            "Invalid parameters: unknown parameter {k}"
        ))),
        None => Ok(()),
    }
}

/// A query boolean. Pinterest's official Python SDK sends Python's `True`/`False` (it formats
/// booleans with `str()`), and the real API takes them; anything else is refused.
fn flag(q: &Query, name: &str, default: bool) -> Result<bool, PErr> {
    match q.get(name) {
        None => Ok(default),
        Some("true" | "True") => Ok(true),
        Some("false" | "False") => Ok(false),
        Some(v) => Err(PErr::bad(format!(
            "Invalid parameters: {name} must be true or false, not {v}"
        ))),
    }
}

/// (page size, key to start after, items to skip) from `page_size`, `bookmark`, `start_index`.
fn paging(q: &Query, kind: &str) -> Result<(usize, Option<u64>, usize), PErr> {
    let size = match q.get("page_size") {
        None => 25,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=250).contains(&n) => n,
            _ => {
                return Err(PErr::bad(format!(
                    "Invalid parameters: page_size must be between 1 and 250, not {s}"
                )));
            }
        },
    };
    let after = match q.get("bookmark").filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(
            decode_bookmark(kind, b)
                .ok_or_else(|| PErr::bad("Invalid parameters: bookmark is not valid"))?,
        ),
    };
    let skip = match q.get("start_index") {
        None => 0,
        Some(s) => s.parse::<usize>().map_err(|_| {
            PErr::bad(format!(
                "Invalid parameters: start_index must be a non-negative integer, not {s}"
            ))
        })?,
    };
    Ok((size, after, if after.is_some() { 0 } else { skip }))
}

/// Drops null-valued fields: the spec marks few fields nullable and none required, so an
/// absent field is the faithful rendering of "no value".
pub fn compact(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, compact(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(compact).collect()),
        other => other,
    }
}

/// Builds `{items, bookmark}` from items sorted by key; the bookmark is the last key served.
fn page<T>(
    items: impl Iterator<Item = (u64, T)>,
    size: usize,
    after: Option<u64>,
    skip: usize,
    kind: &str,
    render: impl Fn(T) -> Value,
) -> Value {
    let mut out = Vec::with_capacity(size);
    let mut last = None;
    let mut more = false;
    for (key, item) in items
        .filter(|(k, _)| after.is_none_or(|a| *k > a))
        .skip(skip)
    {
        if out.len() == size {
            more = true;
            break;
        }
        last = Some(key);
        out.push(compact(render(item)));
    }
    let bookmark = if more {
        last.map(|l| Value::String(encode_bookmark(kind, l)))
    } else {
        None
    };
    json!({ "items": out, "bookmark": bookmark })
}

/// A decimal id from a request body (at most 25 digits).
fn body_id(field: &str, v: &str) -> Result<u64, PErr> {
    parse_id(v, 25).ok_or_else(|| PErr::bad(format!("Invalid parameters: {field} {v}")))
}

/// The size rule of batch bodies: 1 to `max` items.
fn batch(field: &str, len: usize, max: usize) -> Result<(), PErr> {
    if len == 0 || len > max {
        return Err(PErr::bad(format!(
            "Invalid parameters: {field} must hold 1 to {max} items"
        )));
    }
    Ok(())
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, PErr> {
    serde_json::from_slice(bytes).map_err(|e| PErr::bad(format!("Invalid parameters: {e}")))
}

fn with<F>(w: &World, headers: &HeaderMap, scopes: &[&str], f: F) -> Response
where
    F: FnOnce(&mut PState, u64) -> R,
{
    let mut st = w.pinterest.lock().expect("pinterest state");
    let result = authenticate(&st, headers, scopes).and_then(|caller| f(&mut st, caller));
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn summary(st: &PState, id: u64) -> Value {
    match st.users.get(&id) {
        Some(u) => json!({ "id": u.id.to_string(), "username": u.username, "email": u.email }),
        None => match st.businesses.get(&id) {
            Some(b) => json!({ "id": b.id.to_string(), "username": b.name, "email": null }),
            None => Value::Null,
        },
    }
}

fn asset_summary(st: &PState, grants: impl Iterator<Item = (u64, u16)>) -> Value {
    let mut ad = Vec::new();
    let mut prof = Vec::new();
    for (asset, bits) in grants {
        let Some(a) = st.assets.get(&asset) else {
            continue;
        };
        let entry = json!({ "id": asset.to_string(), "permissions": perm_names(bits) });
        match a.kind {
            AssetType::AdAccount => ad.push(entry),
            AssetType::Profile => prof.push(entry),
            _ => {}
        }
    }
    json!({ "ad_accounts": ad, "profiles": prof })
}

// ---------------------------------------------------------------- accounts

async fn user_account(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    with(&w, &headers, &["user_accounts:read"], |st, caller| {
        let q = Query::parse(uri.query());
        known(&q, &["ad_account_id"])?;
        let u = st
            .users
            .get(&caller)
            .ok_or_else(|| PErr::not_found("User not found."))?;
        Ok(json!({
            "id": u.id.to_string(), "username": u.username,
            "account_type": if u.business { "BUSINESS" } else { "PINNER" },
            "business_name": if u.business { Value::String(u.username.clone()) } else { Value::Null },
            "profile_image": format!("https://i.pinimg.com/75x75_RS/{}.jpg", u.id),
            "website_url": null, "about": null, "board_count": 0, "pin_count": 0,
            "follower_count": 0, "following_count": 0, "monthly_views": 0,
        }))
        .map(compact)
    })
}

async fn linked_businesses(State(w): State<Arc<World>>, headers: HeaderMap) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let caller = match authenticate(&st, &headers, &["user_accounts:read"]) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let st = &mut *st;
    let list: Vec<Value> = st
        .members
        .iter()
        .filter(|((_, u), _)| *u == caller)
        .filter_map(|((b, _), _)| st.businesses.get(b))
        .map(|b| {
            let img = |s: &str| format!("https://i.pinimg.com/{s}/{}.jpg", b.id);
            json!({ "username": b.name, "image_small_url": img("30x30"), "image_medium_url": img("60x60"), "image_large_url": img("140x140"), "image_xlarge_url": img("280x280") })
        })
        .collect();
    Json(Value::Array(list)).into_response()
}

async fn employers(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let q = Query::parse(uri.query());
        known(&q, &["page_size", "bookmark"])?;
        let (size, after, skip) = paging(&q, "employers")?;
        let rows: Vec<(u64, (u64, Role, i64))> = st
            .members
            .iter()
            .filter(|((_, u), _)| *u == caller)
            .map(|((b, _), m)| (*b, (*b, m.role, m.created_ms)))
            .collect();
        Ok(page(
            rows.into_iter(),
            size,
            after,
            skip,
            "employers",
            |(b, role, created)| json!({ "id": b.to_string(), "business_roles": [role.as_str()], "user": summary(st, b), "created_by_business": null, "created_by_user": null, "created_time": created, "is_shared_partner": null, "assets_summary": null }),
        ))
    })
}

// ---------------------------------------------------------------- members

async fn members_list(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let q = Query::parse(uri.query());
        known(
            &q,
            &[
                "fetch_system_users",
                "assets_summary",
                "business_roles",
                "member_ids",
                "start_index",
                "bookmark",
                "page_size",
            ],
        )?;
        let system = flag(&q, "fetch_system_users", false)?;
        let with_assets = flag(&q, "assets_summary", false)?;
        let mut roles = Vec::new();
        for r in q.all("business_roles") {
            roles.push(Role::parse(r).ok_or_else(|| {
                PErr::bad(format!(
                    "Invalid parameters: business_roles has invalid value {r}"
                ))
            })?);
        }
        let ids: Option<BTreeSet<u64>> = match q.get("member_ids") {
            None => None,
            Some(s) if s.len() > 500 => {
                return Err(PErr::bad(
                    "Invalid parameters: member_ids is longer than 500 characters",
                ));
            }
            Some(s) => Some(
                s.split(',')
                    .map(|i| {
                        i.trim().parse().map_err(|_| {
                            PErr::bad(format!("Invalid parameters: member_ids has invalid id {i}"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let (size, after, skip) = paging(&q, "members")?;
        // Keyset paging: start the scan right after the bookmark.
        let from = after.map(|a| a.saturating_add(1)).unwrap_or(0);
        let rows = st
            .members
            .range((b, from)..=(b, u64::MAX))
            .filter(|(_, m)| m.system_user == system)
            .filter(|(_, m)| roles.is_empty() || roles.contains(&m.role))
            .filter(|((_, u), _)| ids.as_ref().is_none_or(|s| s.contains(u)))
            .map(|((_, u), m)| (*u, (*u, m.clone())));
        Ok(page(rows, size, after, skip, "members", |(u, m)| {
            let assets = with_assets.then(|| {
                asset_summary(
                    st,
                    st.member_grants
                        .range((b, u, 0)..=(b, u, u64::MAX))
                        .map(|((_, _, a), bits)| (*a, *bits)),
                )
            });
            json!({ "id": u.to_string(), "business_roles": [m.role.as_str()], "user": summary(st, u), "created_by_business": null, "created_by_user": null, "created_time": m.created_ms, "is_shared_partner": null, "assets_summary": assets })
        }))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberRole {
    member_id: String,
    business_role: String,
}

async fn members_update(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(&w, &headers, &["biz_access:write"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let changes: Vec<MemberRole> = body(&bytes)?;
        if changes.is_empty() {
            return Err(PErr::bad(
                "Invalid parameters: at least one member is required",
            ));
        }
        let mut parsed = Vec::new();
        for c in &changes {
            let role = Role::parse(&c.business_role).ok_or_else(|| {
                PErr::bad(format!(
                    "Invalid parameters: business_role has invalid value {}",
                    c.business_role
                ))
            })?;
            let id = body_id("member_id", &c.member_id)?;
            if st.member(b, id).is_none_or(|m| m.system_user) {
                return Err(PErr::not_found(format!("Member {id} not found.")));
            }
            parsed.push((id, role));
        }
        let demoted = parsed
            .iter()
            .filter(|(id, r)| {
                *r == Role::Employee && st.member(b, *id).is_some_and(|m| m.role == Role::BizAdmin)
            })
            .count();
        if demoted > 0 && st.admins(b) <= demoted {
            return Err(PErr::conflict(
                "Cannot demote the last admin of the business.",
            ));
        }
        let mut items = Vec::new();
        for (id, role) in parsed {
            if let Some(m) = st.members.get_mut(&(b, id)) {
                m.role = role;
            }
            items.push(json!({ "member_id": id.to_string(), "business_role": role.as_str() }));
        }
        Ok(json!({ "items": items }))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersToDelete {
    members: Vec<MemberRole>,
}

async fn members_delete(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(
        &w,
        &headers,
        &["biz_access:read", "biz_access:write"],
        |st, caller| {
            let b = admin_of(st, caller, &biz)?;
            let req: MembersToDelete = body(&bytes)?;
            batch("members", req.members.len(), 50)?;
            let mut ids = Vec::new();
            for m in &req.members {
                Role::parse(&m.business_role).ok_or_else(|| {
                    PErr::bad(format!(
                        "Invalid parameters: business_role has invalid value {}",
                        m.business_role
                    ))
                })?;
                let id = body_id("member_id", &m.member_id)?;
                if st.member(b, id).is_none() {
                    return Err(PErr::not_found(format!("Member {id} not found.")));
                }
                ids.push(id);
            }
            let admins_removed = ids
                .iter()
                .filter(|id| {
                    st.member(b, **id)
                        .is_some_and(|m| m.role == Role::BizAdmin && !m.system_user)
                })
                .count();
            if admins_removed > 0 && st.admins(b) <= admins_removed {
                return Err(PErr::conflict(
                    "Cannot remove the last admin of the business.",
                ));
            }
            let deleted: Vec<String> = ids
                .into_iter()
                .filter(|id| st.remove_member(b, *id))
                .map(|id| id.to_string())
                .collect();
            Ok(json!({ "deleted_members": deleted }))
        },
    )
}

fn asset_type(q: &Query) -> Result<AssetType, PErr> {
    match q.get("asset_type") {
        None => Ok(AssetType::AdAccount),
        Some(t) => AssetType::parse(t).ok_or_else(|| {
            PErr::bad(format!(
                "Invalid parameters: asset_type has invalid value {t}"
            ))
        }),
    }
}

async fn member_assets(
    State(w): State<Arc<World>>,
    Path((biz, member)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let b = business_id(&biz, 20)?;
        let m = parse_id(&member, 20)
            .ok_or_else(|| PErr::bad(format!("Invalid member_id: {member}")))?;
        // Admins read anyone's; an employee only their own.
        match st.member(b, caller) {
            Some(c) if c.role == Role::BizAdmin || caller == m => {}
            _ => return Err(PErr::forbidden()),
        }
        if st.member(b, m).is_none() {
            return Err(PErr::not_found(format!("Member {m} not found.")));
        }
        let q = Query::parse(uri.query());
        known(&q, &["asset_type", "start_index", "bookmark", "page_size"])?;
        let kind = asset_type(&q)?;
        let (size, after, skip) = paging(&q, "member_assets")?;
        let rows = st
            .member_grants
            .range((b, m, 0)..=(b, m, u64::MAX))
            .filter(|((_, _, a), _)| st.assets.get(a).is_some_and(|x| x.kind == kind))
            .map(|((_, _, a), bits)| (*a, (*a, *bits)));
        Ok(page(
            rows,
            size,
            after,
            skip,
            "member_assets",
            |(a, bits)| json!({ "asset_id": a.to_string(), "asset_type": kind.as_str(), "permissions": perm_names(bits), "asset_group_info": null }),
        ))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Accesses<T> {
    accesses: Vec<T>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberAccess {
    member_id: String,
    asset_id: String,
    permissions: Vec<String>,
}

fn check_fits(kind: AssetType, bits: u16) -> Result<(), PErr> {
    let names = perm_names(bits);
    if names.contains(&"PROFILE_PUBLISHER") && kind != AssetType::Profile {
        return Err(PErr::bad(
            "Invalid parameters: PROFILE_PUBLISHER applies only to PROFILE assets",
        ));
    }
    if (names.contains(&"CATALOGS_MANAGER") || names.contains(&"CATALOGS_VIEWER"))
        && kind != AssetType::Catalog
    {
        return Err(PErr::bad(
            "Invalid parameters: CATALOGS_* permissions apply only to CATALOG assets",
        ));
    }
    Ok(())
}

async fn member_access_update(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(&w, &headers, &["biz_access:write"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let req: Accesses<MemberAccess> = body(&bytes)?;
        batch("accesses", req.accesses.len(), 50)?;
        let mut plan = Vec::new();
        for a in &req.accesses {
            if a.permissions.is_empty() || a.permissions.len() > 50 {
                return Err(PErr::bad(
                    "Invalid parameters: permissions must hold 1 to 50 items",
                ));
            }
            let bits = perm_bits(&a.permissions)
                .map_err(|e| PErr::bad(format!("Invalid parameters: {e}")))?;
            let m = body_id("member_id", &a.member_id)?;
            let asset = body_id("asset_id", &a.asset_id)?;
            if st.member(b, m).is_none() {
                return Err(PErr::not_found(format!("Member {m} not found.")));
            }
            if !st.business_reaches(b, asset) {
                return Err(PErr::not_found(format!("Asset {asset} not found.")));
            }
            check_fits(st.assets[&asset].kind, bits)?;
            plan.push((m, asset, bits));
        }
        let items: Vec<Value> = plan
            .into_iter()
            .map(|(m, asset, bits)| {
                st.grant(b, m, asset, bits);
                json!({ "response": { "asset_id": asset.to_string(), "member_id": m.to_string(), "permissions": perm_names(bits) } })
            })
            .collect();
        Ok(json!({ "items": items }))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberAccessKey {
    asset_id: String,
    member_id: String,
}

async fn member_access_delete(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(&w, &headers, &["biz_access:write"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let req: Accesses<MemberAccessKey> = body(&bytes)?;
        batch("accesses", req.accesses.len(), 100)?;
        let mut items = Vec::new();
        for a in &req.accesses {
            let m = body_id("member_id", &a.member_id)?;
            let asset = body_id("asset_id", &a.asset_id)?;
            if st.revoke(b, m, asset) {
                items.push(json!({ "asset_id": asset.to_string(), "member_id": m.to_string() }));
            }
        }
        Ok(json!({ "items": items }))
    })
}

// ---------------------------------------------------------------- partners

fn partner_type(q: &Query, default: bool) -> Result<bool, PErr> {
    // true = INTERNAL (the partner uses our assets)
    match q.get("partner_type") {
        None => Ok(default),
        Some("INTERNAL") => Ok(true),
        Some("EXTERNAL") => Ok(false),
        Some(v) => Err(PErr::bad(format!(
            "Invalid parameters: partner_type has invalid value {v}"
        ))),
    }
}

async fn partners_list(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let q = Query::parse(uri.query());
        known(
            &q,
            &[
                "assets_summary",
                "partner_type",
                "partner_ids",
                "start_index",
                "page_size",
                "bookmark",
            ],
        )?;
        let internal = partner_type(&q, true)?;
        let with_assets = flag(&q, "assets_summary", false)?;
        let ids: Option<BTreeSet<u64>> = match q.get("partner_ids") {
            None => None,
            Some(s) if s.len() > 500 => {
                return Err(PErr::bad(
                    "Invalid parameters: partner_ids is longer than 500 characters",
                ));
            }
            Some(s) => Some(
                s.split(',')
                    .map(|i| {
                        i.trim().parse().map_err(|_| {
                            PErr::bad(format!(
                                "Invalid parameters: partner_ids has invalid id {i}"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let (size, after, skip) = paging(&q, "partners")?;
        let partners: BTreeSet<u64> = st
            .partnerships
            .iter()
            .filter_map(|(owner, partner)| {
                if internal {
                    (*owner == b).then_some(*partner)
                } else {
                    (*partner == b).then_some(*owner)
                }
            })
            .filter(|p| ids.as_ref().is_none_or(|s| s.contains(p)))
            .collect();
        Ok(page(
            partners.into_iter().map(|p| (p, p)),
            size,
            after,
            skip,
            "partners",
            |p| {
                let assets = with_assets.then(|| {
                    let (owner, grantee) = if internal { (b, p) } else { (p, b) };
                    asset_summary(
                        st,
                        st.partner_grants
                            .iter()
                            .filter(|((a, g), _)| {
                                *g == grantee && st.assets.get(a).is_some_and(|x| x.owner == owner)
                            })
                            .map(|((a, _), bits)| (*a, *bits)),
                    )
                });
                let created = st.businesses.get(&p).map(|x| x.created_ms);
                json!({ "id": p.to_string(), "business_roles": ["PARTNER"], "user": summary(st, p), "created_by_business": null, "created_by_user": null, "created_time": created, "is_shared_partner": !internal, "assets_summary": assets })
            },
        ))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletePartners {
    partner_ids: Vec<String>,
    #[serde(default)]
    partner_type: Option<String>,
}

async fn partners_delete(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(&w, &headers, &["biz_access:write"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let req: DeletePartners = body(&bytes)?;
        batch("partner_ids", req.partner_ids.len(), 50)?;
        let internal = match req.partner_type.as_deref() {
            None | Some("INTERNAL") => true,
            Some("EXTERNAL") => false,
            Some(v) => {
                return Err(PErr::bad(format!(
                    "Invalid parameters: partner_type has invalid value {v}"
                )));
            }
        };
        let mut ids = Vec::new();
        for p in &req.partner_ids {
            let id = parse_id(p, 22)
                .ok_or_else(|| PErr::bad(format!("Invalid parameters: partner id {p}")))?;
            let key = if internal { (b, id) } else { (id, b) };
            if !st.partnerships.contains(&key) {
                return Err(PErr::not_found(format!(
                    "A supplied partner id doesn't exist: {id}"
                )));
            }
            ids.push(key);
        }
        let deleted: Vec<String> = ids
            .into_iter()
            .filter(|(o, p)| st.remove_partnership(*o, *p))
            .map(|(o, p)| if internal { p } else { o }.to_string())
            .collect();
        Ok(json!({ "deleted_partners": deleted }))
    })
}

async fn partner_assets(
    State(w): State<Arc<World>>,
    Path((biz, partner)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let p = parse_id(&partner, 20)
            .ok_or_else(|| PErr::bad(format!("Invalid partner_id: {partner}")))?;
        let q = Query::parse(uri.query());
        known(
            &q,
            &[
                "partner_type",
                "asset_type",
                "start_index",
                "page_size",
                "bookmark",
            ],
        )?;
        let internal = partner_type(&q, true)?;
        let kind = asset_type(&q)?;
        let (owner, grantee) = if internal { (b, p) } else { (p, b) };
        if !st.partnerships.contains(&(owner, grantee)) {
            return Err(PErr::not_found("Partner not found."));
        }
        let (size, after, skip) = paging(&q, "partner_assets")?;
        let rows: Vec<(u64, u16)> = st
            .partner_grants
            .iter()
            .filter(|((a, g), _)| {
                *g == grantee
                    && st
                        .assets
                        .get(a)
                        .is_some_and(|x| x.owner == owner && x.kind == kind)
            })
            .map(|((a, _), bits)| (*a, *bits))
            .collect();
        Ok(page(
            rows.into_iter().map(|(a, bits)| (a, (a, bits))),
            size,
            after,
            skip,
            "partner_assets",
            |(a, bits)| json!({ "asset_id": a.to_string(), "asset_type": kind.as_str(), "permissions": perm_names(bits), "asset_group_info": null }),
        ))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerAccess {
    partner_id: String,
    asset_id: String,
    permissions: Vec<String>,
}

async fn partner_access_update(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(&w, &headers, &["biz_access:write"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let req: Accesses<PartnerAccess> = body(&bytes)?;
        batch("accesses", req.accesses.len(), 50)?;
        let mut plan = Vec::new();
        for a in &req.accesses {
            let bits = perm_bits(&a.permissions)
                .map_err(|e| PErr::bad(format!("Invalid parameters: {e}")))?;
            if a.permissions.is_empty() {
                return Err(PErr::bad(
                    "Invalid parameters: permissions must hold 1 to 50 items",
                ));
            }
            let p = body_id("partner_id", &a.partner_id)?;
            let asset = body_id("asset_id", &a.asset_id)?;
            if !st.businesses.contains_key(&p) {
                return Err(PErr::not_found(format!("Partner {p} not found.")));
            }
            match st.assets.get(&asset) {
                Some(x) if x.owner == b => check_fits(x.kind, bits)?,
                _ => return Err(PErr::not_found(format!("Asset {asset} not found."))),
            }
            plan.push((p, asset, bits));
        }
        let items: Vec<Value> = plan
            .into_iter()
            .map(|(p, asset, bits)| {
                st.partnerships.insert((b, p));
                st.partner_grants.insert((asset, p), bits);
                json!({ "asset_id": asset.to_string(), "asset_type": st.assets[&asset].kind.as_str(), "partner_id": p.to_string(), "permissions": perm_names(bits) })
            })
            .collect();
        Ok(json!({ "items": items }))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerAccessKey {
    partner_id: String,
    asset_id: String,
    #[serde(default)]
    partner_type: Option<String>,
}

async fn partner_access_delete(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(&w, &headers, &["biz_access:write"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let req: Accesses<PartnerAccessKey> = body(&bytes)?;
        batch("accesses", req.accesses.len(), 50)?;
        let mut items = Vec::new();
        for a in &req.accesses {
            let p = body_id("partner_id", &a.partner_id)?;
            let asset = body_id("asset_id", &a.asset_id)?;
            let internal = match a.partner_type.as_deref() {
                None | Some("INTERNAL") => true,
                Some("EXTERNAL") => false,
                Some(v) => {
                    return Err(PErr::bad(format!(
                        "Invalid parameters: partner_type has invalid value {v}"
                    )));
                }
            };
            let grantee = if internal { p } else { b };
            if let Some(bits) = st.partner_grants.remove(&(asset, grantee)) {
                let users: Vec<u64> = st
                    .grants_by_asset
                    .range((asset, grantee, 0)..=(asset, grantee, u64::MAX))
                    .map(|(_, _, u)| *u)
                    .collect();
                for u in users {
                    st.revoke(grantee, u, asset);
                }
                let kind = st
                    .assets
                    .get(&asset)
                    .map(|x| x.kind.as_str())
                    .unwrap_or("AD_ACCOUNT");
                items.push(json!({ "asset_id": asset.to_string(), "asset_type": kind, "partner_id": p.to_string(), "permissions": perm_names(bits), "is_shared_partner": !internal }));
            }
        }
        Ok(json!({ "items": items }))
    })
}

// ---------------------------------------------------------------- assets

async fn assets_list(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let q = Query::parse(uri.query());
        known(
            &q,
            &[
                "permissions",
                "child_asset_id",
                "asset_group_id",
                "asset_type",
                "start_index",
                "bookmark",
                "page_size",
            ],
        )?;
        let kind = asset_type(&q)?;
        for p in q.all("permissions") {
            if p != "OWNER" && !crate::pinterest_state::PERMISSIONS.contains(&p) {
                return Err(PErr::bad(format!(
                    "Invalid parameters: permissions has invalid value {p}"
                )));
            }
        }
        let (size, after, skip) = paging(&q, "assets")?;
        let rows = st
            .assets
            .values()
            .filter(|a| a.kind == kind && st.business_reaches(b, a.id))
            .map(|a| (a.id, a.clone()));
        Ok(page(rows, size, after, skip, "assets", |a| {
            let catalog = (a.kind == AssetType::Catalog).then(
                || json!({ "id": a.id.to_string(), "name": a.name, "catalog_type": "PRODUCT" }),
            );
            json!({ "asset_id": a.id.to_string(), "asset_type": a.kind.as_str(), "asset_group_info": null, "catalog_info": catalog })
        }))
    })
}

fn asset_of(st: &PState, b: u64, raw: &str) -> Result<u64, PErr> {
    let a = parse_id(raw, 20).ok_or_else(|| PErr::bad(format!("Invalid asset_id: {raw}")))?;
    if !st.business_reaches(b, a) {
        return Err(PErr::not_found("Asset not found."));
    }
    Ok(a)
}

async fn asset_members(
    State(w): State<Arc<World>>,
    Path((biz, asset)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let a = asset_of(st, b, &asset)?;
        let q = Query::parse(uri.query());
        known(
            &q,
            &["fetch_system_users", "bookmark", "page_size", "start_index"],
        )?;
        let system = flag(&q, "fetch_system_users", false)?;
        let (size, after, skip) = paging(&q, "asset_members")?;
        let rows = st
            .grants_by_asset
            .range((a, b, 0)..=(a, b, u64::MAX))
            .filter(|(_, _, u)| st.member(b, *u).is_some_and(|m| m.system_user == system))
            .map(|(_, _, u)| (*u, *u));
        Ok(page(rows, size, after, skip, "asset_members", |u| {
            let bits = st.member_grants.get(&(b, u, a)).copied().unwrap_or(0);
            json!({ "user": summary(st, u), "permissions": perm_names(bits) })
        }))
    })
}

async fn asset_partners(
    State(w): State<Arc<World>>,
    Path((biz, asset)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let b = admin_of(st, caller, &biz)?;
        let a = asset_of(st, b, &asset)?;
        let q = Query::parse(uri.query());
        known(&q, &["start_index", "bookmark", "page_size"])?;
        let (size, after, skip) = paging(&q, "asset_partners")?;
        // A shared-in asset cannot be re-shared: the list is empty for it.
        let owned = st.assets.get(&a).is_some_and(|x| x.owner == b);
        let rows: Vec<(u64, u16)> = if owned {
            st.partner_grants
                .range((a, 0)..=(a, u64::MAX))
                .map(|((_, p), bits)| (*p, *bits))
                .collect()
        } else {
            Vec::new()
        };
        Ok(page(
            rows.into_iter().map(|(p, bits)| (p, (p, bits))),
            size,
            after,
            skip,
            "asset_partners",
            |(p, bits)| json!({ "user": summary(st, p), "permissions": perm_names(bits) }),
        ))
    })
}

// ---------------------------------------------------------------- invites

fn invite_json(st: &PState, i: &Invite) -> Value {
    json!({
        "id": i.id.to_string(),
        "is_received_invite": false,
        "user": st.user_by_login(&i.invitee).map(|u| summary(st, u.id)).unwrap_or_else(|| json!({ "id": null, "username": null, "email": i.invitee })),
        "invite_data": { "invite_type": "MEMBER_INVITE", "invite_status": i.status.as_str(), "sent_at": i.sent_ms, "last_updated_time": i.updated_ms, "invite_expiration": i.sent_ms + 30 * 86_400_000 },
        "business_roles": [i.role.as_str()],
        "created_by_business": summary(st, i.business),
        "created_by_user": summary(st, i.created_by),
        "created_time": i.sent_ms,
        "assets_summary": asset_summary(st, i.assets.iter().map(|(a, b)| (*a, *b))),
    })
}

async fn invites_list(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["biz_access:read"], |st, caller| {
        let b = business_id(&biz, usize::MAX)?;
        let b = admin_of(st, caller, &b.to_string())?;
        let q = Query::parse(uri.query());
        known(
            &q,
            &[
                "is_member",
                "invite_status",
                "invite_type",
                "bookmark",
                "page_size",
            ],
        )?;
        let is_member = flag(&q, "is_member", true)?;
        let mut statuses = Vec::new();
        for s in q.all("invite_status") {
            statuses.push(match s {
                "PENDING" => InviteStatus::Pending,
                "EXPIRED" => InviteStatus::Expired,
                _ => {
                    return Err(PErr::bad(format!(
                        "Invalid parameters: invite_status has invalid value {s}"
                    )));
                }
            });
        }
        if let Some(t) = q.get("invite_type")
            && !["MEMBER_INVITE", "PARTNER_INVITE", "PARTNER_REQUEST"].contains(&t)
        {
            return Err(PErr::bad(format!(
                "Invalid parameters: invite_type has invalid value {t}"
            )));
        }
        let (size, after, _) = paging(&q, "invites")?;
        // Membership invites only: partnership invites are not emulated (none exist).
        let rows: Vec<(u64, Invite)> =
            if is_member && q.get("invite_type").is_none_or(|t| t == "MEMBER_INVITE") {
                st.invites
                    .values()
                    .filter(|i| i.business == b)
                    .filter(|i| {
                        if statuses.is_empty() {
                            i.status == InviteStatus::Pending
                        } else {
                            statuses.contains(&i.status)
                        }
                    })
                    .map(|i| (i.id, i.clone()))
                    .collect()
            } else {
                Vec::new()
            };
        Ok(page(rows.into_iter(), size, after, 0, "invites", |i| {
            invite_json(st, &i)
        }))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInvites {
    business_role: String,
    invite_type: String,
    #[serde(default)]
    members: Option<Vec<String>>,
    #[serde(default)]
    partners: Option<Vec<String>>,
}

async fn invites_create(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(&w, &headers, &["biz_access:write"], |st, caller| {
        let b = business_id(&biz, usize::MAX)?;
        let b = admin_of(st, caller, &b.to_string())?;
        let req: CreateInvites = body(&bytes)?;
        if !["MEMBER_INVITE", "PARTNER_INVITE", "PARTNER_REQUEST"]
            .contains(&req.invite_type.as_str())
        {
            return Err(PErr::bad(format!(
                "Invalid parameters: invite_type has invalid value {}",
                req.invite_type
            )));
        }
        if !["EMPLOYEE", "BIZ_ADMIN", "PARTNER"].contains(&req.business_role.as_str()) {
            return Err(PErr::bad(format!(
                "Invalid parameters: business_role has invalid value {}",
                req.business_role
            )));
        }
        if req.invite_type != "MEMBER_INVITE" || req.partners.is_some() {
            return Err(PErr::bad(
                "Invalid parameters: only MEMBER_INVITE with members is supported by this emulator",
            ));
        }
        let role = Role::parse(&req.business_role).ok_or_else(|| {
            PErr::bad("Invalid parameters: MEMBER_INVITE needs business_role EMPLOYEE or BIZ_ADMIN")
        })?;
        let members = req.members.unwrap_or_default();
        if members.is_empty() || members.len() > 50 {
            return Err(PErr::bad(
                "Invalid parameters: members must hold 1 to 50 items",
            ));
        }
        let now = now_ms();
        let mut items = Vec::new();
        for who in members {
            let existing_member = st
                .user_by_login(&who)
                .is_some_and(|u| st.member(b, u.id).is_some());
            let pending = st.invites.values().any(|i| {
                i.business == b
                    && i.status == InviteStatus::Pending
                    && i.invitee.eq_ignore_ascii_case(&who)
            });
            if existing_member || pending {
                let msg = if existing_member {
                    "The user is already a member of the business."
                } else {
                    "An invite is already pending for this user."
                };
                items.push(json!({ "invite": null, "exception": { "code": 409, "message": msg, "invite_or_request_id": null, "users_or_partner_ids": [who] } }));
                continue;
            }
            let id = st.id();
            let inv = Invite {
                id,
                business: b,
                invitee: who.clone(),
                role,
                status: InviteStatus::Pending,
                sent_ms: now,
                updated_ms: now,
                created_by: caller,
                assets: Default::default(),
            };
            st.invites.insert(id, inv);
            let user = st
                .user_by_login(&who)
                .map(|u| summary(st, u.id))
                .unwrap_or_else(|| json!({ "id": null, "username": null, "email": who }));
            items.push(
                json!({ "invite": { "id": id.to_string(), "user": user }, "exception": null }),
            );
        }
        Ok(json!({ "items": items }))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelInvites {
    invite_ids: Vec<String>,
}

async fn invites_cancel(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(&w, &headers, &["biz_access:write"], |st, caller| {
        let b = business_id(&biz, usize::MAX)?;
        let b = admin_of(st, caller, &b.to_string())?;
        let req: CancelInvites = body(&bytes)?;
        batch("invite_ids", req.invite_ids.len(), 50)?;
        let mut items = Vec::new();
        for raw in &req.invite_ids {
            let id = parse_id(raw, 25)
                .ok_or_else(|| PErr::bad(format!("Invalid parameters: invite id {raw}")))?;
            match st.invites.get_mut(&id).filter(|i| i.business == b) {
                Some(i) if i.status == InviteStatus::Pending => {
                    i.status = InviteStatus::Cancelled;
                    i.updated_ms = now_ms();
                    let i = i.clone();
                    let mut v = invite_json(st, &i);
                    if let Value::Object(m) = &mut v {
                        for k in ["business_roles", "created_by_business", "created_by_user", "created_time", "assets_summary"] {
                            m.remove(k);
                        }
                    }
                    items.push(json!({ "invite": v, "exception": null }));
                }
                _ => items.push(json!({ "invite": null, "exception": { "invite_id": raw, "message": "Business Invite request cannot be performed on current invitation status." } })),
            }
        }
        Ok(json!({ "items": items }))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteAssets {
    invites: Vec<InviteAsset>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteAsset {
    invite_id: String,
    invite_type: String,
    asset_id_to_permissions: std::collections::BTreeMap<String, Vec<String>>,
}

/// Attaches asset permissions to pending member invites; accepting the invite grants them.
async fn invite_assets(
    State(w): State<Arc<World>>,
    Path(biz): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    with(
        &w,
        &headers,
        &["biz_access:read", "biz_access:write"],
        |st, caller| {
            let b = business_id(&biz, usize::MAX)?;
            let b = admin_of(st, caller, &b.to_string())?;
            let req: InviteAssets = body(&bytes)?;
            batch("invites", req.invites.len(), 50)?;
            let mut plan = Vec::new();
            for i in &req.invites {
                if !["MEMBER_INVITE", "PARTNER_INVITE", "PARTNER_REQUEST"]
                    .contains(&i.invite_type.as_str())
                {
                    return Err(PErr::bad(format!(
                        "Invalid parameters: invite_type has invalid value {}",
                        i.invite_type
                    )));
                }
                if i.asset_id_to_permissions.is_empty() {
                    return Err(PErr::bad(
                        "Invalid parameters: asset_id_to_permissions must name at least one asset",
                    ));
                }
                let id = parse_id(&i.invite_id, 25).ok_or_else(|| {
                    PErr::bad(format!("Invalid parameters: invite id {}", i.invite_id))
                })?;
                let mut grants = Vec::new();
                for (asset, perms) in &i.asset_id_to_permissions {
                    if perms.is_empty() || perms.len() > 50 {
                        return Err(PErr::bad(
                            "Invalid parameters: permissions must hold 1 to 50 items",
                        ));
                    }
                    let bits = perm_bits(perms)
                        .map_err(|e| PErr::bad(format!("Invalid parameters: {e}")))?;
                    let a = body_id("asset_id", asset)?;
                    if !st.business_reaches(b, a) {
                        return Err(PErr::not_found(format!("Asset {a} not found.")));
                    }
                    check_fits(st.assets[&a].kind, bits)?;
                    grants.push((a, bits));
                }
                plan.push((i.invite_id.clone(), id, grants));
            }
            let mut items = Vec::new();
            for (raw, id, grants) in plan {
                match st.invites.get_mut(&id).filter(|i| i.business == b) {
                    Some(inv) if inv.status == InviteStatus::Pending => {
                        inv.assets.extend(grants);
                        inv.updated_ms = now_ms();
                        let inv = inv.clone();
                        let mut v = invite_json(st, &inv);
                        if let Value::Object(m) = &mut v {
                            for k in ["business_roles", "created_by_business", "created_by_user", "created_time", "assets_summary"] {
                                m.remove(k);
                            }
                            m.insert("created_by_business_id".into(), json!(inv.business.to_string()));
                            m.insert("created_by_user_id".into(), json!(inv.created_by.to_string()));
                        }
                        items.push(json!({ "invite": v, "exception": null }));
                    }
                    _ => items.push(json!({ "invite": null, "exception": { "code": 404, "message": "No pending invite with this id.", "invite_or_request_id": raw, "users_or_partner_ids": null } })),
                }
            }
            Ok(json!({ "items": items }))
        },
    )
}

// ---------------------------------------------------------------- ad accounts and tags

async fn ad_accounts(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    with(&w, &headers, &["ads:read"], |st, caller| {
        let q = Query::parse(uri.query());
        known(&q, &["include_shared_accounts", "bookmark", "page_size"])?;
        let shared = flag(&q, "include_shared_accounts", true)?;
        let (size, after, _) = paging(&q, "ad_accounts")?;
        // The caller reaches an ad account through a permission given in some business
        // (shared accounts come from partners), or by administering the owning business.
        let mut reach: std::collections::BTreeMap<u64, (u16, bool)> = Default::default();
        for ((b, u, a), bits) in st.member_grants.iter() {
            let owned_here = st.assets.get(a).is_some_and(|x| x.owner == *b);
            if *u == caller && (shared || owned_here) {
                reach.entry(*a).or_default().0 |= *bits;
            }
        }
        for ((b, u), m) in st.members.iter() {
            if *u == caller && m.role == Role::BizAdmin {
                for a in st.assets.values().filter(|a| a.owner == *b) {
                    reach.entry(a.id).or_default().1 = true;
                }
            }
        }
        let rows = reach.into_iter().filter(|(a, _)| {
            st.assets
                .get(a)
                .is_some_and(|x| x.kind == AssetType::AdAccount)
        });
        Ok(page(
            rows.map(|(a, r)| (a, (a, r))),
            size,
            after,
            0,
            "ad_accounts",
            |(a, (bits, owner))| {
                let x = &st.assets[&a];
                let mut perms: Vec<&str> = Vec::new();
                if owner {
                    perms.push("OWNER");
                }
                perms.extend(
                    perm_names(bits)
                        .into_iter()
                        .filter(|p| *p != "CONSUMER_USER" && *p != "CATALOGS_VIEWER"),
                );
                json!({ "id": a.to_string(), "name": x.name, "owner": { "id": x.owner.to_string(), "username": st.businesses.get(&x.owner).map(|b| b.name.clone()) }, "country": "US", "currency": "USD", "permissions": perms, "created_time": x.created_ms / 1000, "updated_time": x.created_ms / 1000 })
            },
        ))
    })
}

async fn conversion_tags(
    State(w): State<Arc<World>>,
    Path(ad): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    with(&w, &headers, &["ads:read"], |st, caller| {
        let a =
            parse_id(&ad, 18).ok_or_else(|| PErr::bad(format!("Invalid ad_account_id: {ad}")))?;
        let q = Query::parse(uri.query());
        known(&q, &["filter_deleted"])?;
        flag(&q, "filter_deleted", false)?;
        let asset = st
            .assets
            .get(&a)
            .filter(|x| x.kind == AssetType::AdAccount)
            .ok_or_else(|| PErr::not_found("Ad account not found."))?;
        let allowed = st
            .member(asset.owner, caller)
            .is_some_and(|m| m.role == Role::BizAdmin)
            || st
                .member_grants
                .iter()
                .any(|((_, u, x), _)| *u == caller && *x == a);
        if !allowed {
            return Err(PErr::forbidden());
        }
        let items: Vec<Value> = st
            .tags
            .values()
            .filter(|t| t.ad_account == a)
            .map(|t| json!({
                "id": t.id.to_string(), "name": t.name, "ad_account_id": a.to_string(), "status": "ACTIVE",
                "code_snippet": format!("<script>pintrk('load', '{}')</script>", t.id), "version": "3",
                "last_fired_time_ms": null, "enhanced_match_status": "NOT_VALIDATED",
                "configs": { "aem_enabled": false, "md_frequency": 1.0, "aem_fnln_enabled": false, "aem_ph_enabled": false, "aem_ge_enabled": false, "aem_db_enabled": false, "aem_loc_enabled": false }
            }))
            .collect();
        Ok(json!({ "items": items }))
    })
}

// ---------------------------------------------------------------- OAuth

fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn issue_tokens(
    w: &World,
    st: &mut PState,
    user: u64,
    scopes: BTreeSet<String>,
    response_type: &str,
) -> Value {
    let ttl = w.faults.lock().expect("faults").pinterest_token_ttl_secs as i64;
    let access = format!("pina_{}", w.random_hex(24));
    let refresh = format!("pinr_{}", w.random_hex(24));
    st.tokens.insert(
        access.clone(),
        Token {
            user,
            scopes: scopes.clone(),
            expires_ms: Some(now_ms() + ttl * 1000),
        },
    );
    st.refresh_tokens.insert(
        refresh.clone(),
        Token {
            user,
            scopes: scopes.clone(),
            expires_ms: Some(now_ms() + 60 * 86_400_000),
        },
    );
    let scope: Vec<&str> = scopes.iter().map(String::as_str).collect();
    json!({
        "access_token": access, "token_type": "bearer", "expires_in": ttl, "scope": scope.join(","),
        "response_type": response_type, "refresh_token": refresh, "refresh_token_expires_in": 60 * 86_400,
        "refresh_token_expires_at": now_ms() / 1000 + 60 * 86_400,
    })
}

async fn oauth_token(State(w): State<Arc<World>>, headers: HeaderMap, bytes: Bytes) -> Response {
    let Some((client_id, secret)) = basic_client(&headers) else {
        return PErr::unauthorized().into_response();
    };
    let mut st = w.pinterest.lock().expect("state");
    if st.apps.get(&client_id).is_none_or(|a| a.secret != secret) {
        return PErr::unauthorized().into_response();
    }
    let form: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(&bytes).into_owned().collect();
    let result = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let (Some(code), Some(redirect)) = (form.get("code"), form.get("redirect_uri")) else {
                return PErr::bad("Invalid parameters: code and redirect_uri are required")
                    .into_response();
            };
            match st.codes.remove(code) {
                Some(g) if g.client_id == client_id && &g.redirect_uri == redirect => {
                    let st = &mut *st;
                    Ok(issue_tokens(&w, st, g.user, g.scopes, "authorization_code"))
                }
                _ => Err(PErr::bad(
                    "Invalid parameters: the authorization code is invalid, used or expired",
                )),
            }
        }
        Some("refresh_token") => {
            let Some(rt) = form.get("refresh_token") else {
                return PErr::bad("Invalid parameters: refresh_token is required").into_response();
            };
            match st.refresh_tokens.get(rt).cloned() {
                Some(t) if t.expires_ms.is_none_or(|e| e > now_ms()) => {
                    let scopes = match form.get("scope") {
                        Some(s) => s
                            .split([',', ' '])
                            .filter(|x| !x.is_empty())
                            .map(str::to_string)
                            .filter(|x| t.scopes.contains(x))
                            .collect(),
                        None => t.scopes.clone(),
                    };
                    let mut v = issue_tokens(&w, &mut st, t.user, scopes, "refresh_token");
                    // Continuous refresh: the refresh token stays the same.
                    if let Value::Object(m) = &mut v {
                        m.insert("refresh_token".into(), Value::String(rt.clone()));
                    }
                    Ok(v)
                }
                _ => Err(PErr::bad(
                    "Invalid parameters: the refresh token is invalid or expired",
                )),
            }
        }
        Some("client_credentials") => Err(PErr::bad(
            "Invalid parameters: client_credentials is not supported by this emulator",
        )),
        Some(other) => Err(PErr::bad(format!(
            "Invalid parameters: grant_type has invalid value {other}"
        ))),
        None => Err(PErr::bad("Invalid parameters: grant_type is required")),
    };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The consent page (`https://www.pinterest.com/oauth/` in production): the emulated user
/// picks the account to sign in as and confirms.
async fn consent_page(State(w): State<Arc<World>>, uri: Uri) -> Response {
    let q = Query::parse(uri.query());
    let st = w.pinterest.lock().expect("state");
    let Some(client) = q.get("client_id").filter(|c| st.apps.contains_key(*c)) else {
        return crate::pages::refusal("Unknown client_id.");
    };
    if q.get("redirect_uri").is_none() {
        return crate::pages::refusal("redirect_uri is required.");
    }
    if q.get("response_type") != Some("code") {
        return crate::pages::refusal("response_type must be code.");
    }
    let users = st
        .users
        .values()
        .filter(|u| !u.business)
        .take(500)
        .map(|u| (u.id.to_string(), format!("{} ({})", u.username, u.email)))
        .collect();
    let get = |k: &'static str| (k, q.get(k).unwrap_or(""));
    crate::pages::Consent {
        title: "Pinterest – authorize app",
        heading: "Give access to your Pinterest account".into(),
        app: client,
        asks: Some(q.get("scope").unwrap_or("")),
        action: "/oauth/",
        hidden: vec![
            get("client_id"),
            get("redirect_uri"),
            get("scope"),
            get("state"),
        ],
        pick: "Sign in as",
        users,
    }
    .into_response()
}

async fn consent_confirm(State(w): State<Arc<World>>, bytes: Bytes) -> Response {
    let form: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(&bytes).into_owned().collect();
    let mut st = w.pinterest.lock().expect("state");
    let (Some(client), Some(redirect), Some(user)) = (
        form.get("client_id"),
        form.get("redirect_uri"),
        form.get("user_id").and_then(|u| u.parse::<u64>().ok()),
    ) else {
        return crate::pages::refusal("Missing fields.");
    };
    if !st.apps.contains_key(client) || !st.users.contains_key(&user) {
        return crate::pages::refusal("Unknown app or user.");
    }
    let scopes: BTreeSet<String> = form
        .get("scope")
        .map(|s| {
            s.split([',', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let code = w.random_hex(16);
    st.codes.insert(
        code.clone(),
        Grant {
            user,
            client_id: client.clone(),
            redirect_uri: redirect.clone(),
            scopes,
        },
    );
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let state = form.get("state").cloned().unwrap_or_default();
    let target = format!(
        "{redirect}{sep}code={code}&state={}",
        form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    );
    Redirect::to(&target).into_response()
}
