//! Changing Pinterest's state behind Castellan's back: businesses, members, assets, grants,
//! partners, invitations answered, tokens expired.

use super::common::{AssetBody, PartnerBody, W, fail, ok};
use crate::common::now_ms;
use crate::pinterest_state::{self as ps, AssetType, Role, perm_bits, perm_names};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

// ---------------------------------------------------------------- Pinterest

pub(crate) fn p_user_json(st: &ps::State, id: u64) -> Value {
    st.users
        .get(&id)
        .map(|u| json!({ "id": u.id.to_string(), "username": u.username, "email": u.email }))
        .unwrap_or(Value::Null)
}

pub(crate) async fn p_business(State(w): W, Path(id): Path<u64>) -> Response {
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
pub(crate) struct PMemberBody {
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

pub(crate) async fn p_member_add(State(w): W, Json(b): Json<PMemberBody>) -> Response {
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
pub(crate) struct PKey {
    business: u64,
    user: u64,
    #[serde(default)]
    role: Option<String>,
}

pub(crate) async fn p_member_role(State(w): W, Json(b): Json<PKey>) -> Response {
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

pub(crate) async fn p_member_remove(State(w): W, Json(b): Json<PKey>) -> Response {
    let removed = w
        .pinterest
        .lock()
        .expect("state")
        .remove_member(b.business, b.user);
    ok(json!({ "removed": removed }))
}

pub(crate) async fn p_asset_add(State(w): W, Json(b): Json<AssetBody>) -> Response {
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

pub(crate) async fn p_asset_remove(State(w): W, Json(b): Json<AssetBody>) -> Response {
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
pub(crate) struct PGrantBody {
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

pub(crate) async fn p_grant(State(w): W, Json(b): Json<PGrantBody>) -> Response {
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

pub(crate) async fn p_revoke(State(w): W, Json(b): Json<PGrantBody>) -> Response {
    let (Some(biz), Some(user)) = (b.business, b.user) else {
        return fail("business and user are required");
    };
    ok(json!({ "revoked": w.pinterest.lock().expect("state").revoke(biz, user, b.asset) }))
}

pub(crate) async fn p_partner_add(State(w): W, Json(b): Json<PartnerBody>) -> Response {
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

pub(crate) async fn p_partner_remove(State(w): W, Json(b): Json<PartnerBody>) -> Response {
    let Some(p) = b.partner else {
        return fail("partner is required");
    };
    ok(json!({ "removed": w.pinterest.lock().expect("state").remove_partnership(b.owner, p) }))
}

pub(crate) async fn p_partner_grant(State(w): W, Json(b): Json<PGrantBody>) -> Response {
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

pub(crate) async fn p_partner_revoke(State(w): W, Json(b): Json<PGrantBody>) -> Response {
    let Some(p) = b.partner else {
        return fail("partner is required");
    };
    ok(
        json!({ "revoked": w.pinterest.lock().expect("state").partner_grants.remove(&(b.asset, p)).is_some() }),
    )
}

/// Accepting turns the invite into a membership (creating the platform user when the invitee
/// has none); declining marks it declined.
pub(crate) async fn p_invite_respond(
    State(w): W,
    Path((id, action)): Path<(u64, String)>,
) -> Response {
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
pub(crate) async fn p_expire_tokens(State(w): W) -> Response {
    let mut st = w.pinterest.lock().expect("state");
    let now = now_ms();
    for t in st.tokens.values_mut() {
        t.expires_ms = Some(now - 1);
    }
    ok(json!({ "expired": st.tokens.len() }))
}
