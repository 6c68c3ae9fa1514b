//! The control API under `/_emulator`, for tests and the demo: read a business's whole state,
//! change members, partners, assets and grants behind Castellan's back, accept or decline
//! invites, set faults and limits, reset to a scenario, and count requests per endpoint.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::now_ms;
use crate::faults::Faults;
use crate::pinterest_state::{self as ps, AssetType, Role, perm_bits, perm_names};
use crate::scenario::{self, Scale, Scenario, ScenarioSource};
use crate::tiktok_state::{self as ts, BcRole, role_field};
use crate::world::World;

type W = State<Arc<World>>;

fn fail(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.into() })),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    Json(v).into_response()
}

pub fn routes() -> Router<Arc<World>> {
    Router::new()
        .route("/_emulator/info", get(info))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/requests", get(requests).delete(clear_requests))
        .route("/_emulator/pinterest/businesses/{id}", get(p_business))
        .route(
            "/_emulator/pinterest/members",
            post(p_member_add)
                .patch(p_member_role)
                .delete(p_member_remove),
        )
        .route(
            "/_emulator/pinterest/assets",
            post(p_asset_add).delete(p_asset_remove),
        )
        .route(
            "/_emulator/pinterest/grants",
            post(p_grant).delete(p_revoke),
        )
        .route(
            "/_emulator/pinterest/partners",
            post(p_partner_add).delete(p_partner_remove),
        )
        .route(
            "/_emulator/pinterest/partner_grants",
            post(p_partner_grant).delete(p_partner_revoke),
        )
        .route(
            "/_emulator/pinterest/invites/{id}/{action}",
            post(p_invite_respond),
        )
        .route("/_emulator/pinterest/tokens/expire", post(p_expire_tokens))
        .route("/_emulator/tiktok/bcs/{id}", get(t_bc))
        .route(
            "/_emulator/tiktok/members",
            post(t_member_add)
                .patch(t_member_role)
                .delete(t_member_remove),
        )
        .route(
            "/_emulator/tiktok/assets",
            post(t_asset_add).delete(t_asset_remove),
        )
        .route("/_emulator/tiktok/grants", post(t_grant).delete(t_revoke))
        .route(
            "/_emulator/tiktok/partners",
            post(t_partner_add).delete(t_partner_remove),
        )
        .route("/_emulator/tiktok/shares", post(t_share).delete(t_unshare))
        .route("/_emulator/tiktok/invites/{action}", post(t_invite_respond))
}

async fn info(State(w): W) -> Response {
    let kind = match &*w.source.lock().expect("source") {
        ScenarioSource::Demo => "demo".to_string(),
        ScenarioSource::Generated(s) => format!("generated ({} members)", s.members),
        ScenarioSource::GeneratedOne { scale, platform } => {
            format!("generated ({} members, {platform:?} only)", scale.members)
        }
        ScenarioSource::Json(_) => "file".to_string(),
    };
    ok(json!({
        "scenario": kind,
        "seed": w.seed,
        "pinterest": {
            "api": "/v5", "consent_page": "/oauth/", "business_id": scenario::PINTEREST_BRAND.to_string(),
            "automation_token": scenario::PINTEREST_AUTOMATION_TOKEN, "client_id": scenario::PINTEREST_CLIENT_ID, "client_secret": scenario::PINTEREST_CLIENT_SECRET,
        },
        "tiktok": {
            "api": "/open_api/v1.3", "consent_page": "/portal/auth", "bc_id": scenario::TIKTOK_BRAND.to_string(),
            "automation_token": scenario::TIKTOK_AUTOMATION_TOKEN, "app_id": scenario::TIKTOK_APP_ID, "app_secret": scenario::TIKTOK_APP_SECRET,
        },
    }))
}

async fn get_faults(State(w): W) -> Response {
    ok(serde_json::to_value(&*w.faults.lock().expect("faults")).expect("faults serialise"))
}

async fn put_faults(State(w): W, Json(f): Json<Faults>) -> Response {
    if let Err(e) = f.validate() {
        return fail(e);
    }
    *w.faults.lock().expect("faults") = f.clone();
    w.limiter.lock().expect("limiter").reset();
    ok(serde_json::to_value(f).expect("faults serialise"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    demo: bool,
    #[serde(default)]
    generate: Option<Scale>,
    #[serde(default)]
    scenario: Option<Box<Scenario>>,
}

async fn reset(State(w): W, Json(b): Json<ResetBody>) -> Response {
    let source = match (b.demo, b.generate, b.scenario) {
        (true, None, None) => ScenarioSource::Demo,
        (false, Some(s), None) => ScenarioSource::Generated(s),
        (false, None, Some(s)) => ScenarioSource::Json(s),
        (false, None, None) => w.source.lock().expect("source").clone(),
        _ => {
            return fail(
                "give one of demo, generate, scenario (or none to rebuild the current one)",
            );
        }
    };
    match w.reset(source) {
        Ok(()) => ok(json!({ "reset": true })),
        Err(e) => fail(e),
    }
}

async fn requests(State(w): W) -> Response {
    let counts = w.counts();
    let total: u64 = counts.values().sum();
    ok(json!({ "total": total, "by_endpoint": counts }))
}

async fn clear_requests(State(w): W) -> Response {
    w.clear_counts();
    ok(json!({ "cleared": true }))
}

// ---------------------------------------------------------------- Pinterest

fn p_user_json(st: &ps::State, id: u64) -> Value {
    st.users
        .get(&id)
        .map(|u| json!({ "id": u.id.to_string(), "username": u.username, "email": u.email }))
        .unwrap_or(Value::Null)
}

async fn p_business(State(w): W, Path(id): Path<u64>) -> Response {
    let st = w.pinterest.lock().expect("state");
    let Some(b) = st.businesses.get(&id) else {
        return fail(format!("no business {id}"));
    };
    let members: Vec<Value> = st
        .members
        .range((id, 0)..=(id, u64::MAX))
        .map(|((_, u), m)| {
            let assets: Vec<Value> = st.member_grants.range((id, *u, 0)..=(id, *u, u64::MAX)).map(|((_, _, a), bits)| json!({ "asset_id": a.to_string(), "asset_type": st.assets.get(a).map(|x| x.kind.as_str()), "permissions": perm_names(*bits) })).collect();
            json!({ "user": p_user_json(&st, *u), "role": m.role.as_str(), "system_user": m.system_user, "assets": assets })
        })
        .collect();
    let assets: Vec<Value> = st
        .assets
        .values()
        .filter(|a| a.owner == id)
        .map(|a| json!({ "id": a.id.to_string(), "type": a.kind.as_str(), "name": a.name }))
        .collect();
    let partner_view = |internal: bool| -> Vec<Value> {
        st.partnerships
            .iter()
            .filter_map(|(o, p)| if internal { (*o == id).then_some((*o, *p)) } else { (*p == id).then_some((*o, *p)) })
            .map(|(o, p)| {
                let other = if internal { p } else { o };
                let shared: Vec<Value> = st.partner_grants.iter().filter(|((a, g), _)| *g == p && st.assets.get(a).is_some_and(|x| x.owner == o)).map(|((a, _), bits)| json!({ "asset_id": a.to_string(), "permissions": perm_names(*bits) })).collect();
                json!({ "business_id": other.to_string(), "name": st.businesses.get(&other).map(|b| b.name.clone()), "assets": shared })
            })
            .collect()
    };
    let invites: Vec<Value> = st.invites.values().filter(|i| i.business == id).map(|i| json!({ "id": i.id.to_string(), "invitee": i.invitee, "role": i.role.as_str(), "status": i.status.as_str() })).collect();
    ok(
        json!({ "id": id.to_string(), "name": b.name, "members": members, "assets": assets, "partners": { "internal": partner_view(true), "external": partner_view(false) }, "invites": invites }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PMemberBody {
    business: u64,
    #[serde(default)]
    user: Option<u64>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    system_user: bool,
}

async fn p_member_add(State(w): W, Json(b): Json<PMemberBody>) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    if !st.businesses.contains_key(&b.business) {
        return fail(format!("no business {}", b.business));
    }
    let Some(role) = Role::parse(b.role.as_deref().unwrap_or("EMPLOYEE")) else {
        return fail("role must be EMPLOYEE or BIZ_ADMIN");
    };
    let user = match b.user {
        Some(u) if st.users.contains_key(&u) => u,
        Some(u) => return fail(format!("no user {u}")),
        None => {
            let email = b.email.clone().unwrap_or_default();
            match st.user_by_login(&email).map(|u| u.id) {
                Some(u) if !email.is_empty() => u,
                _ => {
                    let id = st.id();
                    let username = b.username.clone().unwrap_or_else(|| {
                        email.split('@').next().unwrap_or("user").replace('.', "_")
                    });
                    st.users.insert(
                        id,
                        ps::User {
                            id,
                            username,
                            email,
                            business: false,
                        },
                    );
                    id
                }
            }
        }
    };
    st.members.insert(
        (b.business, user),
        ps::Member {
            role,
            system_user: b.system_user,
            created_ms: now_ms(),
        },
    );
    ok(json!({ "user_id": user.to_string() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PKey {
    business: u64,
    user: u64,
    #[serde(default)]
    role: Option<String>,
}

async fn p_member_role(State(w): W, Json(b): Json<PKey>) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let Some(role) = b.role.as_deref().and_then(Role::parse) else {
        return fail("role must be EMPLOYEE or BIZ_ADMIN");
    };
    match st.members.get_mut(&(b.business, b.user)) {
        Some(m) => {
            m.role = role;
            ok(json!({ "updated": true }))
        }
        None => fail("no such member"),
    }
}

async fn p_member_remove(State(w): W, Json(b): Json<PKey>) -> Response {
    let removed = w
        .pinterest
        .lock()
        .expect("state")
        .remove_member(b.business, b.user);
    ok(json!({ "removed": removed }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetBody {
    #[serde(default)]
    business: Option<u64>,
    #[serde(default)]
    bc: Option<u64>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    asset: Option<u64>,
    #[serde(default)]
    advertiser: Option<u64>,
}

async fn p_asset_add(State(w): W, Json(b): Json<AssetBody>) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let Some(biz) = b.business.filter(|x| st.businesses.contains_key(x)) else {
        return fail("business is required and must exist");
    };
    let Some(kind) = b.kind.as_deref().and_then(AssetType::parse) else {
        return fail("type must be a Pinterest asset type");
    };
    let id = st.id();
    st.assets.insert(
        id,
        ps::Asset {
            id,
            kind,
            owner: biz,
            name: b.name.unwrap_or_else(|| format!("Asset {id}")),
            created_ms: now_ms(),
        },
    );
    ok(json!({ "asset_id": id.to_string() }))
}

async fn p_asset_remove(State(w): W, Json(b): Json<AssetBody>) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let Some(a) = b.asset else {
        return fail("asset is required");
    };
    let holders: Vec<(u64, u64, u64)> = st
        .grants_by_asset
        .range((a, 0, 0)..=(a, u64::MAX, u64::MAX))
        .copied()
        .collect();
    for (_, biz, u) in holders {
        st.revoke(biz, u, a);
    }
    st.partner_grants.retain(|(x, _), _| *x != a);
    ok(json!({ "removed": st.assets.remove(&a).is_some() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PGrantBody {
    #[serde(default)]
    business: Option<u64>,
    #[serde(default)]
    user: Option<u64>,
    asset: u64,
    #[serde(default)]
    partner: Option<u64>,
    #[serde(default)]
    permissions: Vec<String>,
}

async fn p_grant(State(w): W, Json(b): Json<PGrantBody>) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let (Some(biz), Some(user)) = (b.business, b.user) else {
        return fail("business and user are required");
    };
    let bits = match perm_bits(&b.permissions) {
        Ok(bits) if bits != 0 => bits,
        Ok(_) => return fail("permissions is required"),
        Err(e) => return fail(e),
    };
    if st.member(biz, user).is_none() || !st.business_reaches(biz, b.asset) {
        return fail("the user must be a member and the business must reach the asset");
    }
    st.grant(biz, user, b.asset, bits);
    ok(json!({ "granted": true }))
}

async fn p_revoke(State(w): W, Json(b): Json<PGrantBody>) -> Response {
    let (Some(biz), Some(user)) = (b.business, b.user) else {
        return fail("business and user are required");
    };
    ok(json!({ "revoked": w.pinterest.lock().expect("state").revoke(biz, user, b.asset) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerBody {
    owner: u64,
    #[serde(default)]
    partner: Option<u64>,
    #[serde(default)]
    partner_name: Option<String>,
}

async fn p_partner_add(State(w): W, Json(b): Json<PartnerBody>) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    if !st.businesses.contains_key(&b.owner) {
        return fail("owner must exist");
    }
    let partner = match (b.partner, b.partner_name) {
        (Some(p), _) if st.businesses.contains_key(&p) => p,
        (None, Some(name)) => {
            let id = st.id();
            st.businesses.insert(
                id,
                ps::Business {
                    id,
                    name: name.clone(),
                    created_ms: now_ms(),
                },
            );
            st.users.insert(
                id,
                ps::User {
                    id,
                    username: name,
                    email: String::new(),
                    business: true,
                },
            );
            id
        }
        _ => return fail("give an existing partner id or a partner_name to create one"),
    };
    st.partnerships.insert((b.owner, partner));
    ok(json!({ "partner_id": partner.to_string() }))
}

async fn p_partner_remove(State(w): W, Json(b): Json<PartnerBody>) -> Response {
    let Some(p) = b.partner else {
        return fail("partner is required");
    };
    ok(json!({ "removed": w.pinterest.lock().expect("state").remove_partnership(b.owner, p) }))
}

async fn p_partner_grant(State(w): W, Json(b): Json<PGrantBody>) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let Some(p) = b.partner.filter(|p| st.businesses.contains_key(p)) else {
        return fail("partner is required and must exist");
    };
    let Some(owner) = st.assets.get(&b.asset).map(|a| a.owner) else {
        return fail("no such asset");
    };
    let bits = match perm_bits(&b.permissions) {
        Ok(bits) if bits != 0 => bits,
        Ok(_) => return fail("permissions is required"),
        Err(e) => return fail(e),
    };
    st.partnerships.insert((owner, p));
    st.partner_grants.insert((b.asset, p), bits);
    ok(json!({ "granted": true }))
}

async fn p_partner_revoke(State(w): W, Json(b): Json<PGrantBody>) -> Response {
    let Some(p) = b.partner else {
        return fail("partner is required");
    };
    ok(
        json!({ "revoked": w.pinterest.lock().expect("state").partner_grants.remove(&(b.asset, p)).is_some() }),
    )
}

/// Accepting turns the invite into a membership (creating the platform user when the invitee
/// has none); declining marks it declined.
async fn p_invite_respond(State(w): W, Path((id, action)): Path<(u64, String)>) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let Some(inv) = st.invites.get(&id).cloned() else {
        return fail(format!("no invite {id}"));
    };
    if inv.status != ps::InviteStatus::Pending {
        return fail(format!("invite {id} is {}", inv.status.as_str()));
    }
    match action.as_str() {
        "accept" => {
            let user = match st.user_by_login(&inv.invitee).map(|u| u.id) {
                Some(u) => u,
                None => {
                    let u = st.id();
                    let username = inv
                        .invitee
                        .split('@')
                        .next()
                        .unwrap_or("user")
                        .replace('.', "_");
                    st.users.insert(
                        u,
                        ps::User {
                            id: u,
                            username,
                            email: inv.invitee.clone(),
                            business: false,
                        },
                    );
                    u
                }
            };
            st.members.insert(
                (inv.business, user),
                ps::Member {
                    role: inv.role,
                    system_user: false,
                    created_ms: now_ms(),
                },
            );
            for (a, bits) in &inv.assets {
                st.grant(inv.business, user, *a, *bits);
            }
            let i = st.invites.get_mut(&id).expect("exists");
            i.status = ps::InviteStatus::Accepted;
            i.updated_ms = now_ms();
            ok(json!({ "user_id": user.to_string() }))
        }
        "decline" => {
            let i = st.invites.get_mut(&id).expect("exists");
            i.status = ps::InviteStatus::Declined;
            i.updated_ms = now_ms();
            ok(json!({ "declined": true }))
        }
        _ => fail("action must be accept or decline"),
    }
}

/// Expires every Pinterest access token now (refresh tokens stay valid).
async fn p_expire_tokens(State(w): W) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let now = now_ms();
    for t in st.tokens.values_mut() {
        t.expires_ms = Some(now - 1);
    }
    ok(json!({ "expired": st.tokens.len() }))
}

// ---------------------------------------------------------------- TikTok

async fn t_bc(State(w): W, Path(id): Path<u64>) -> Response {
    let st = w.tiktok.lock().expect("state");
    let Some(b) = st.bcs.get(&id) else {
        return fail(format!("no BC {id}"));
    };
    let members: Vec<Value> = st
        .members
        .range((id, 0)..=(id, u64::MAX))
        .map(|((_, u), m)| {
            let user = st.users.get(u);
            let assets: Vec<Value> = st.grants.range((id, *u, 0)..=(id, *u, u64::MAX)).map(|((_, _, a), r)| json!({ "asset_id": a.to_string(), "asset_type": st.assets.get(a).map(|x| x.kind), "role": r })).collect();
            json!({ "user": { "id": u.to_string(), "name": user.map(|x| x.name.clone()), "email": user.map(|x| x.email.clone()) }, "role": m.role.as_str(), "finance_role": m.finance_role, "assets": assets })
        })
        .collect();
    let pending: Vec<Value> = st
        .pending
        .range((id, String::new())..(id + 1, String::new()))
        .map(|(_, p)| json!({ "email": p.email, "role": p.role.as_str(), "status": p.status }))
        .collect();
    let assets: Vec<Value> = st
        .assets
        .values()
        .filter(|a| a.owner == id)
        .map(|a| json!({ "id": a.id.to_string(), "type": a.kind, "name": a.name }))
        .collect();
    let partners: Vec<Value> = st
        .partners
        .range((id, 0)..=(id, u64::MAX))
        .map(|(_, p)| {
            let sharing: Vec<Value> = st.shares.iter().filter(|((a, g), _)| *g == *p && st.assets.get(a).is_some_and(|x| x.owner == id)).map(|((a, _), r)| json!({ "asset_id": a.to_string(), "role": r })).collect();
            let shared: Vec<Value> = st.shares.iter().filter(|((a, g), _)| *g == id && st.assets.get(a).is_some_and(|x| x.owner == *p)).map(|((a, _), r)| json!({ "asset_id": a.to_string(), "role": r })).collect();
            json!({ "bc_id": p.to_string(), "name": st.bcs.get(p).map(|b| b.name.clone()), "sharing": sharing, "shared": shared })
        })
        .collect();
    ok(
        json!({ "id": id.to_string(), "name": b.name, "members": members, "pending": pending, "assets": assets, "partners": partners }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TMemberBody {
    bc: u64,
    #[serde(default)]
    user: Option<u64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

async fn t_member_add(State(w): W, Json(b): Json<TMemberBody>) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    if !st.bcs.contains_key(&b.bc) {
        return fail(format!("no BC {}", b.bc));
    }
    let Some(role) = BcRole::parse(b.role.as_deref().unwrap_or("STANDARD")) else {
        return fail("role must be ADMIN or STANDARD");
    };
    let user = match b.user {
        Some(u) if st.users.contains_key(&u) => u,
        Some(u) => return fail(format!("no user {u}")),
        None => {
            let email = b.email.clone().unwrap_or_default();
            match st
                .users
                .values()
                .find(|u| !email.is_empty() && u.email.eq_ignore_ascii_case(&email))
                .map(|u| u.id)
            {
                Some(u) => u,
                None => {
                    let id = st.id();
                    st.users.insert(
                        id,
                        ts::User {
                            id,
                            name: b.name.clone().unwrap_or_else(|| email.clone()),
                            email,
                        },
                    );
                    id
                }
            }
        }
    };
    st.members.insert(
        (b.bc, user),
        ts::Member {
            role,
            finance_role: None,
        },
    );
    ok(json!({ "user_id": user.to_string() }))
}

async fn t_member_role(State(w): W, Json(b): Json<TMemberBody>) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    let (Some(u), Some(role)) = (b.user, b.role.as_deref().and_then(BcRole::parse)) else {
        return fail("user and role (ADMIN or STANDARD) are required");
    };
    match st.members.get_mut(&(b.bc, u)) {
        Some(m) => {
            m.role = role;
            ok(json!({ "updated": true }))
        }
        None => fail("no such member"),
    }
}

async fn t_member_remove(State(w): W, Json(b): Json<TMemberBody>) -> Response {
    let Some(u) = b.user else {
        return fail("user is required");
    };
    ok(json!({ "removed": w.tiktok.lock().expect("state").remove_member(b.bc, u) }))
}

async fn t_asset_add(State(w): W, Json(b): Json<AssetBody>) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    let Some(bc) = b.bc.filter(|x| st.bcs.contains_key(x)) else {
        return fail("bc is required and must exist");
    };
    let Some(kind) = b
        .kind
        .as_deref()
        .and_then(|k| ts::ASSET_TYPES.iter().copied().find(|t| *t == k))
    else {
        return fail("type must be a TikTok asset type");
    };
    let id = st.id();
    let pixel_code = (kind == "PIXEL").then(|| format!("C{id:X}"));
    st.assets.insert(
        id,
        ts::Asset {
            id,
            kind,
            owner: bc,
            name: b.name.unwrap_or_else(|| format!("Asset {id}")),
            pixel_code,
            advertiser: b.advertiser,
        },
    );
    ok(json!({ "asset_id": id.to_string() }))
}

async fn t_asset_remove(State(w): W, Json(b): Json<AssetBody>) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    let Some(a) = b.asset else {
        return fail("asset is required");
    };
    let holders: Vec<(u64, u64, u64)> = st
        .grants_by_asset
        .range((a, 0, 0)..=(a, u64::MAX, u64::MAX))
        .copied()
        .collect();
    for (_, bc, u) in holders {
        st.revoke(bc, u, a);
    }
    st.shares.retain(|(x, _), _| *x != a);
    ok(json!({ "removed": st.assets.remove(&a).is_some() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TGrantBody {
    #[serde(default)]
    bc: Option<u64>,
    #[serde(default)]
    user: Option<u64>,
    asset: u64,
    #[serde(default)]
    partner: Option<u64>,
    #[serde(default)]
    role: Vec<String>,
}

fn check_role(st: &ts::State, asset: u64, role: &[String]) -> Result<(), String> {
    let kind = st.assets.get(&asset).ok_or("no such asset")?.kind;
    if let Some((_, allowed)) = role_field(kind) {
        if role.is_empty() {
            return Err(format!("role is required for a {kind}"));
        }
        if let Some(r) = role.iter().find(|r| !allowed.contains(&r.as_str())) {
            return Err(format!("role {r} does not fit a {kind}"));
        }
    }
    Ok(())
}

async fn t_grant(State(w): W, Json(b): Json<TGrantBody>) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    let (Some(bc), Some(u)) = (b.bc, b.user) else {
        return fail("bc and user are required");
    };
    if let Err(e) = check_role(&st, b.asset, &b.role) {
        return fail(e);
    }
    if !st.members.contains_key(&(bc, u)) || !st.reaches(bc, b.asset) {
        return fail("the user must be a member and the BC must reach the asset");
    }
    st.grant(bc, u, b.asset, b.role);
    ok(json!({ "granted": true }))
}

async fn t_revoke(State(w): W, Json(b): Json<TGrantBody>) -> Response {
    let (Some(bc), Some(u)) = (b.bc, b.user) else {
        return fail("bc and user are required");
    };
    ok(json!({ "revoked": w.tiktok.lock().expect("state").revoke(bc, u, b.asset) }))
}

async fn t_partner_add(State(w): W, Json(b): Json<PartnerBody>) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    if !st.bcs.contains_key(&b.owner) {
        return fail("owner must exist");
    }
    let partner = match (b.partner, b.partner_name) {
        (Some(p), _) if st.bcs.contains_key(&p) => p,
        (None, Some(name)) => {
            let id = st.id();
            st.bcs.insert(
                id,
                ts::Bc {
                    id,
                    name: name.clone(),
                    company: name,
                    kind: "AGENCY".into(),
                },
            );
            id
        }
        _ => return fail("give an existing partner id or a partner_name to create one"),
    };
    st.partners.insert((b.owner, partner));
    st.partners.insert((partner, b.owner));
    ok(json!({ "partner_id": partner.to_string() }))
}

async fn t_partner_remove(State(w): W, Json(b): Json<PartnerBody>) -> Response {
    let Some(p) = b.partner else {
        return fail("partner is required");
    };
    ok(json!({ "removed": w.tiktok.lock().expect("state").remove_partner(b.owner, p) }))
}

async fn t_share(State(w): W, Json(b): Json<TGrantBody>) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    let Some(p) = b.partner.filter(|p| st.bcs.contains_key(p)) else {
        return fail("partner is required and must exist");
    };
    if let Err(e) = check_role(&st, b.asset, &b.role) {
        return fail(e);
    }
    let owner = st.assets[&b.asset].owner;
    st.partners.insert((owner, p));
    st.partners.insert((p, owner));
    st.shares.insert((b.asset, p), b.role);
    ok(json!({ "shared": true }))
}

async fn t_unshare(State(w): W, Json(b): Json<TGrantBody>) -> Response {
    let Some(p) = b.partner else {
        return fail("partner is required");
    };
    ok(json!({ "unshared": w.tiktok.lock().expect("state").unshare(b.asset, p) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TInviteBody {
    bc: u64,
    email: String,
}

async fn t_invite_respond(
    State(w): W,
    Path(action): Path<String>,
    Json(b): Json<TInviteBody>,
) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    let key = (b.bc, b.email.to_lowercase());
    let Some(inv) = st
        .pending
        .get(&key)
        .cloned()
        .filter(|p| p.status == "PENDING")
    else {
        return fail("no pending invitation for that e-mail");
    };
    match action.as_str() {
        "accept" => {
            st.pending.remove(&key);
            let user = match st
                .users
                .values()
                .find(|u| u.email.eq_ignore_ascii_case(&inv.email))
                .map(|u| u.id)
            {
                Some(u) => u,
                None => {
                    let id = st.id();
                    st.users.insert(
                        id,
                        ts::User {
                            id,
                            name: inv.email.split('@').next().unwrap_or("user").to_string(),
                            email: inv.email.clone(),
                        },
                    );
                    id
                }
            };
            st.members.insert(
                (b.bc, user),
                ts::Member {
                    role: inv.role,
                    finance_role: None,
                },
            );
            for a in &inv.asset_ids {
                st.grant(b.bc, user, *a, vec![inv.advertiser_role.clone()]);
            }
            ok(json!({ "user_id": user.to_string() }))
        }
        "decline" => {
            if let Some(p) = st.pending.get_mut(&key) {
                p.status = "REJECTED";
            }
            ok(json!({ "declined": true }))
        }
        _ => fail("action must be accept or decline"),
    }
}
