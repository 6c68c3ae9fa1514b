//! Changing TikTok's state behind Castellan's back: business centers, members, assets, grants,
//! partners and what they share, invitations answered.

use super::common::{AssetBody, PartnerBody, W, fail, ok};
use crate::tiktok_state::{self as ts, BcRole, role_field};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

// ---------------------------------------------------------------- TikTok

pub(crate) async fn t_bc(State(w): W, Path(id): Path<u64>) -> Response {
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
pub(crate) struct TMemberBody {
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

pub(crate) async fn t_member_add(State(w): W, Json(b): Json<TMemberBody>) -> Response {
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

pub(crate) async fn t_member_role(State(w): W, Json(b): Json<TMemberBody>) -> Response {
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

pub(crate) async fn t_member_remove(State(w): W, Json(b): Json<TMemberBody>) -> Response {
    let Some(u) = b.user else {
        return fail("user is required");
    };
    ok(json!({ "removed": w.tiktok.lock().expect("state").remove_member(b.bc, u) }))
}

pub(crate) async fn t_asset_add(State(w): W, Json(b): Json<AssetBody>) -> Response {
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

pub(crate) async fn t_asset_remove(State(w): W, Json(b): Json<AssetBody>) -> Response {
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
pub(crate) struct TGrantBody {
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

pub(crate) fn check_role(st: &ts::State, asset: u64, role: &[String]) -> Result<(), String> {
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

pub(crate) async fn t_grant(State(w): W, Json(b): Json<TGrantBody>) -> Response {
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

pub(crate) async fn t_revoke(State(w): W, Json(b): Json<TGrantBody>) -> Response {
    let (Some(bc), Some(u)) = (b.bc, b.user) else {
        return fail("bc and user are required");
    };
    ok(json!({ "revoked": w.tiktok.lock().expect("state").revoke(bc, u, b.asset) }))
}

pub(crate) async fn t_partner_add(State(w): W, Json(b): Json<PartnerBody>) -> Response {
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

pub(crate) async fn t_partner_remove(State(w): W, Json(b): Json<PartnerBody>) -> Response {
    let Some(p) = b.partner else {
        return fail("partner is required");
    };
    ok(json!({ "removed": w.tiktok.lock().expect("state").remove_partner(b.owner, p) }))
}

pub(crate) async fn t_share(State(w): W, Json(b): Json<TGrantBody>) -> Response {
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

pub(crate) async fn t_unshare(State(w): W, Json(b): Json<TGrantBody>) -> Response {
    let Some(p) = b.partner else {
        return fail("partner is required");
    };
    ok(json!({ "unshared": w.tiktok.lock().expect("state").unshare(b.asset, p) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TInviteBody {
    bc: u64,
    email: String,
}

pub(crate) async fn t_invite_respond(
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
                    finance_role: inv.finance_role.clone(),
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
