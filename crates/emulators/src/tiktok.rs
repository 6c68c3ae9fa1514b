//! The TikTok API for Business v1.3 emulator (Business Center, advertiser, pixel, OAuth)
//! under `/open_api/v1.3`, following the per-endpoint OpenAPI files and the digest
//! `BUSINESS-CENTER.md`.
//!
//! Choices where the sources are silent or marked UNCONFIRMED:
//! - Every answer is HTTP 200 with `{code, message, request_id, data}`; errors carry a
//!   non-zero code: 40104 (no `Access-Token`), 40105 (unknown token), 40001 (not an ADMIN of
//!   the BC, or the object is not in it), 40002 (bad or missing parameter, invalid enum, naming
//!   the field), 40007 (unknown id), 40100 (rate limited). Injected faults answer 5xx.
//! - Page sizes: `/bc/asset/member/get/` and `/pixel/list/` allow 1–20; every other list 1–50.
//! - Pending invitees appear in `/bc/member/get/` with `relation_status` PENDING, their e-mail,
//!   and the `user_id` of the platform user with that e-mail when one exists (else null).
//! - `/bc/asset/assign/` on an asset the member already holds replaces the role.
//! - `/bc/member/invite/` does not require `asset_ids`; already-invited or member addresses are
//!   skipped.
//! - `/bc/partner/delete/` ends the relation both ways with every share between the two BCs.
//! - The consent page redirects with both `auth_code` and `code` (same value) and `state`.
//! - Unknown query or body parameters are rejected with 40002 naming them.
//! - A partner is a whole Business Center: its members hold roles on advertisers shared with it
//!   only as grants the partner gave; `/bc/asset/member/get/` with the partner's `bc_id` lists
//!   them for an asset shared to it. The partner's token comes from the consent page signed in
//!   as its Admin (or is seeded for the demo): it reads that BC and no BC its user is not a
//!   member of (40001), so a partner's other clients stay out of reach.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::common::{Query, parse_id};
use crate::paging::page_info;
use crate::tiktok_state::{
    ASSET_TYPES, AssetRole, BcRole, Pending, State as TState, Token, role_field,
};
use crate::world::World;

#[derive(Debug)]
pub struct TErr {
    pub code: i64,
    pub message: String,
}

fn err(code: i64, message: impl Into<String>) -> TErr {
    TErr {
        code,
        message: message.into(),
    }
}

fn bad(message: impl Into<String>) -> TErr {
    err(40002, message)
}

type R = Result<Value, TErr>;

pub fn envelope(w: &World, code: i64, message: &str, data: Value) -> Response {
    Json(json!({ "code": code, "message": message, "request_id": w.request_id(), "data": data }))
        .into_response()
}

/// Removes null members of every object (array items stay, in place): `bc/get/` leaves out a
/// Business Center's fields that have no value (`organization_type` of a business with none)
/// rather than sending them as null. The other endpoints' rules send their role fields as null
/// when they do not apply (BUSINESS-CENTER.md), so only `bc/get/` drops them.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

pub fn routes() -> Router<Arc<World>> {
    let p = "/open_api/v1.3";
    Router::new()
        .route(&format!("{p}/bc/get/"), get(bc_get))
        .route(&format!("{p}/bc/member/get/"), get(member_get))
        .route(&format!("{p}/bc/member/invite/"), post(member_invite))
        .route(&format!("{p}/bc/member/update/"), post(member_update))
        .route(&format!("{p}/bc/member/delete/"), post(member_delete))
        .route(&format!("{p}/bc/partner/get/"), get(partner_get))
        .route(&format!("{p}/bc/partner/add/"), post(partner_add))
        .route(&format!("{p}/bc/partner/delete/"), post(partner_delete))
        .route(
            &format!("{p}/bc/partner/asset/get/"),
            get(partner_asset_get),
        )
        .route(
            &format!("{p}/bc/partner/asset/delete/"),
            post(partner_asset_delete),
        )
        .route(&format!("{p}/bc/asset/get/"), get(asset_get))
        .route(&format!("{p}/bc/asset/admin/get/"), get(asset_admin_get))
        .route(&format!("{p}/bc/asset/member/get/"), get(asset_member_get))
        .route(
            &format!("{p}/bc/asset/partner/get/"),
            get(asset_partner_get),
        )
        .route(&format!("{p}/bc/asset/assign/"), post(asset_assign))
        .route(&format!("{p}/bc/asset/unassign/"), post(asset_unassign))
        .route(&format!("{p}/advertiser/info/"), get(advertiser_info))
        .route(&format!("{p}/pixel/list/"), get(pixel_list))
        .route(&format!("{p}/oauth2/access_token/"), post(access_token))
        .route(
            &format!("{p}/oauth2/advertiser/get/"),
            get(oauth_advertisers),
        )
        .route("/portal/auth", get(consent_page).post(consent_confirm))
}

// ---------------------------------------------------------------- plumbing

/// Parameters from the query string (GET; objects and arrays JSON-encoded) or the JSON body
/// (POST), as one JSON object.
fn params_from_query(q: &Query) -> Map<String, Value> {
    q.as_map()
        .into_iter()
        .map(|(k, v)| {
            let parsed = if v.starts_with('{') || v.starts_with('[') {
                serde_json::from_str(&v).unwrap_or(Value::String(v))
            } else {
                Value::String(v)
            };
            (k, parsed)
        })
        .collect()
}

struct P {
    m: Map<String, Value>,
}

impl P {
    fn known(&self, names: &[&str]) -> Result<(), TErr> {
        match self
            .m
            .keys()
            .find(|k| !names.contains(&k.as_str()) && k.as_str() != "Access-Token")
        {
            Some(k) => Err(bad(format!("Unknown parameter: {k}"))),
            None => Ok(()),
        }
    }
    fn str(&self, name: &str) -> Result<Option<String>, TErr> {
        match self.m.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(bad(format!("{name}: must be a string"))),
        }
    }
    fn id(&self, name: &str) -> Result<Option<u64>, TErr> {
        self.str(name)?
            .map(|s| {
                parse_id(&s, 20)
                    .ok_or_else(|| bad(format!("{name}: must be a numeric id, not {s}")))
            })
            .transpose()
    }
    fn req_id(&self, name: &str) -> Result<u64, TErr> {
        self.id(name)?
            .ok_or_else(|| bad(format!("{name}: this field is required")))
    }
    fn enum_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, TErr> {
        match self.str(name)? {
            None => Ok(None),
            Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
            Some(v) => Err(bad(format!(
                "{name}: invalid value {v}; allowed: {}",
                allowed.join(", ")
            ))),
        }
    }
    fn ids(&self, name: &str) -> Result<Option<Vec<u64>>, TErr> {
        match self.m.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => {
                        parse_id(s, 20).ok_or_else(|| bad(format!("{name}: invalid id {s}")))
                    }
                    Value::Number(n) => n
                        .as_u64()
                        .ok_or_else(|| bad(format!("{name}: invalid id {n}"))),
                    _ => Err(bad(format!("{name}: must be a list of ids"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(bad(format!("{name}: must be a list"))),
        }
    }
    fn filtering(&self, allowed: &[&str]) -> Result<Map<String, Value>, TErr> {
        match self.m.get("filtering") {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(o)) => {
                if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
                    return Err(bad(format!("filtering.{k}: unknown field")));
                }
                Ok(o.clone())
            }
            Some(_) => Err(bad("filtering: must be a JSON object")),
        }
    }
    /// (page, page_size) with the endpoint's limit.
    fn paging(&self, max: u64) -> Result<(u64, u64), TErr> {
        let num = |name: &str, default: u64| -> Result<u64, TErr> {
            match self.m.get(name) {
                None => Ok(default),
                Some(Value::String(s)) => s
                    .parse()
                    .map_err(|_| bad(format!("{name}: must be an integer"))),
                Some(Value::Number(n)) => n
                    .as_u64()
                    .ok_or_else(|| bad(format!("{name}: must be a positive integer"))),
                Some(_) => Err(bad(format!("{name}: must be an integer"))),
            }
        };
        let page = num("page", 1)?;
        let size = num("page_size", 10)?;
        if page < 1 {
            return Err(bad("page: must be at least 1"));
        }
        if !(1..=max).contains(&size) {
            return Err(bad(format!("page_size: must be between 1 and {max}")));
        }
        Ok((page, size))
    }
}

fn token_user(st: &TState, headers: &HeaderMap, q: &Query) -> Result<u64, TErr> {
    let t = headers
        .get("access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| q.get("Access-Token").map(str::to_string));
    let t = t.ok_or_else(|| err(40104, "Access token is missing."))?;
    st.tokens
        .get(&t)
        .map(|t| t.user)
        .ok_or_else(|| err(40105, "Access token is invalid."))
}

fn respond(w: &World, r: R) -> Response {
    match r {
        Ok(data) => envelope(w, 0, "OK", data),
        Err(e) => envelope(w, e.code, &e.message, json!({})),
    }
}

fn get_with<F>(w: &World, headers: &HeaderMap, uri: &Uri, f: F) -> Response
where
    F: FnOnce(&mut TState, u64, P) -> R,
{
    let q = Query::parse(uri.query());
    let mut st = w.tiktok.lock().expect("tiktok state");
    let r = token_user(&st, headers, &q).and_then(|u| {
        f(
            &mut st,
            u,
            P {
                m: params_from_query(&q),
            },
        )
    });
    respond(w, r)
}

fn post_with<F>(w: &World, headers: &HeaderMap, bytes: &Bytes, f: F) -> Response
where
    F: FnOnce(&mut TState, u64, P) -> R,
{
    let mut st = w.tiktok.lock().expect("tiktok state");
    let r = token_user(&st, headers, &Query::default())
        .and_then(|u| match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Ok((u, m)),
            _ => Err(bad("the body must be a JSON object")),
        })
        .and_then(|(u, m)| f(&mut st, u, P { m }));
    respond(w, r)
}

/// The BC, which the caller must administer.
fn admin_bc(st: &TState, caller: u64, bc: u64) -> Result<(), TErr> {
    if !st.bcs.contains_key(&bc) {
        return Err(err(40007, format!("Business Center {bc} does not exist.")));
    }
    match st.members.get(&(bc, caller)) {
        Some(m) if m.role == BcRole::Admin => Ok(()),
        _ => Err(err(40001, "No permission to operate this Business Center.")),
    }
}

/// A page of a list given as cheap items: all are counted, only the page's are rendered.
fn paged_lazy<T>(
    items: impl Iterator<Item = T>,
    page: u64,
    size: u64,
    render: impl Fn(T) -> Value,
) -> Value {
    let start = (page - 1) * size;
    let mut total = 0u64;
    let mut list = Vec::new();
    for item in items {
        if total >= start && total < start + size {
            list.push(render(item));
        }
        total += 1;
    }
    json!({ "list": list, "page_info": page_info(page, size, total) })
}

fn paged(items: Vec<Value>, page: u64, size: u64) -> Value {
    let total = items.len() as u64;
    let list: Vec<Value> = items
        .into_iter()
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .collect();
    json!({ "list": list, "page_info": page_info(page, size, total) })
}

fn role_json(kind: &str, role: &AssetRole) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some((field, _)) = role_field(kind) {
        if field == "tt_account_roles" {
            m.insert(field.into(), json!(role));
        } else {
            m.insert(field.into(), json!(role.first()));
        }
    }
    m
}

/// Reads the role for `kind` from a request, validating it.
fn role_from(p: &P, kind: &str, default: Option<&str>) -> Result<AssetRole, TErr> {
    let Some((field, allowed)) = role_field(kind) else {
        return Ok(Vec::new());
    };
    if field == "tt_account_roles" {
        let vals: Vec<String> = match p.m.get(field) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect(),
            None => return Err(bad(format!("{field}: this field is required for {kind}"))),
            Some(_) => return Err(bad(format!("{field}: must be a list"))),
        };
        if let Some(v) = vals.iter().find(|v| !allowed.contains(&v.as_str())) {
            return Err(bad(format!(
                "{field}: invalid value {v}; allowed: {}",
                allowed.join(", ")
            )));
        }
        return Ok(vals);
    }
    match p.enum_of(field, allowed)?.or(default.map(str::to_string)) {
        Some(v) => Ok(vec![v]),
        None => Err(bad(format!("{field}: this field is required for {kind}"))),
    }
}

// ---------------------------------------------------------------- Business Centers and members

async fn bc_get(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&["bc_id", "scene", "filtering", "page", "page_size"])?;
        p.enum_of("scene", &["SINGLE_ACCOUNT", "TIERED_ACCOUNT"])?;
        p.filtering(&["keyword", "keyword_type", "relation_type"])?;
        let only = p.id("bc_id")?;
        let (page, size) = p.paging(50)?;
        let items: Vec<Value> = st
            .members
            .iter()
            .filter(|((bc, u), _)| *u == caller && only.is_none_or(|o| o == *bc))
            .filter_map(|((bc, _), m)| st.bcs.get(bc).map(|b| (b, m)))
            .map(|(b, m)| json!({
                "bc_info": { "bc_id": b.id.to_string(), "name": b.name, "company": b.company, "currency": "USD", "registered_area": "US", "timezone": "Etc/GMT", "status": "ENABLE", "type": b.kind, "organization_type": null },
                "user_role": m.role.as_str(),
                "ext_user_role": { "finance_role": m.finance_role },
                "binding_status": "BOUND",
            }))
            .collect();
        let mut data = paged(items, page, size);
        drop_nulls(&mut data);
        Ok(data)
    })
}

async fn member_get(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&["bc_id", "child_bc_id", "filtering", "page", "page_size"])?;
        let bc = p.req_id("bc_id")?;
        p.id("child_bc_id")?;
        admin_bc(st, caller, bc)?;
        let f = p.filtering(&["keyword", "user_role", "relation_status"])?;
        let fp = P { m: f };
        let role = fp.enum_of("user_role", &["ADMIN", "STANDARD"])?;
        let status = fp.enum_of(
            "relation_status",
            &["BOUND", "PENDING", "REJECTED", "UNBOUND"],
        )?;
        let keyword = fp.str("keyword")?.map(|k| k.to_lowercase());
        let (page, size) = p.paging(50)?;
        // Members first, then invitees; counted in full, rendered only for this page.
        enum Row<'a> {
            Member(u64, &'a crate::tiktok_state::Member),
            Invite(&'a Pending),
        }
        let bound = status.as_deref().is_none_or(|s| s == "BOUND");
        // Every matching row is counted for page_info; users are looked up only when a
        // keyword needs them or the row is on this page.
        let members = st
            .members
            .range((bc, 0)..=(bc, u64::MAX))
            .filter(|_| bound)
            .filter(|(_, m)| role.as_deref().is_none_or(|r| r == m.role.as_str()))
            .filter(|((_, u), _)| {
                keyword.as_ref().is_none_or(|k| {
                    st.users.get(u).is_some_and(|user| {
                        user.name.to_lowercase().contains(k)
                            || user.email.to_lowercase().contains(k)
                    })
                })
            })
            .map(|((_, u), m)| Row::Member(*u, m));
        let invitees = st
            .pending
            .range((bc, String::new())..(bc + 1, String::new()))
            .map(|(_, inv)| inv)
            .filter(|inv| {
                status.as_deref().is_none_or(|s| s == inv.status)
                    && role.as_deref().is_none_or(|r| r == inv.role.as_str())
                    && keyword
                        .as_ref()
                        .is_none_or(|k| inv.email.to_lowercase().contains(k))
            })
            .map(Row::Invite);
        Ok(paged_lazy(
            members.chain(invitees),
            page,
            size,
            |row| match row {
                Row::Member(u, m) => {
                    let user = st.users.get(&u);
                    json!({ "user_id": u.to_string(), "user_name": user.map(|x| x.name.clone()), "user_email": user.map(|x| x.email.clone()), "user_role": m.role.as_str(), "relation_status": "BOUND", "ext_user_role": { "finance_role": m.finance_role } })
                }
                Row::Invite(inv) => {
                    let uid = st
                        .users
                        .values()
                        .find(|u| u.email.eq_ignore_ascii_case(&inv.email))
                        .map(|u| u.id.to_string());
                    json!({ "user_id": uid, "user_name": inv.email.split('@').next(), "user_email": inv.email, "user_role": inv.role.as_str(), "relation_status": inv.status, "ext_user_role": { "finance_role": inv.finance_role } })
                }
            },
        ))
    })
}

fn valid_email(s: &str) -> bool {
    let Some((l, d)) = s.split_once('@') else {
        return false;
    };
    !l.is_empty() && d.contains('.') && !s.contains(char::is_whitespace)
}

async fn member_invite(State(w): State<Arc<World>>, headers: HeaderMap, bytes: Bytes) -> Response {
    post_with(&w, &headers, &bytes, |st, caller, p| {
        p.known(&[
            "bc_id",
            "emails",
            "user_role",
            "asset_type",
            "asset_ids",
            "advertiser_role",
            "ext_user_role",
            "child_bc_id",
        ])?;
        let bc = p.req_id("bc_id")?;
        admin_bc(st, caller, bc)?;
        let emails: Vec<String> = match p.m.get("emails") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect(),
            _ => return Err(bad("emails: this field is required")),
        };
        if emails.is_empty() || emails.len() > 50 {
            return Err(bad("emails: must hold 1 to 50 addresses"));
        }
        if let Some(e) = emails.iter().find(|e| !valid_email(e)) {
            return Err(bad(format!("emails: invalid address {e}")));
        }
        let role = p
            .enum_of("user_role", &["ADMIN", "STANDARD"])?
            .and_then(|r| BcRole::parse(&r))
            .unwrap_or(BcRole::Standard);
        p.enum_of("asset_type", &["ADVERTISER"])?;
        let advertiser_role = p
            .enum_of("advertiser_role", &["ADMIN", "OPERATOR", "ANALYST"])?
            .unwrap_or_else(|| "ANALYST".into());
        // The invitation's finance role, given on accept (the spec's `ext_user_role`); an
        // unknown value is refused as `bc/member/update/` refuses it.
        let finance_role = match p.m.get("ext_user_role") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => {
                P { m: o.clone() }.enum_of("finance_role", &["MANAGER", "ANALYST"])?
            }
            Some(_) => return Err(bad("ext_user_role: must be an object")),
        };
        let asset_ids = p.ids("asset_ids")?.unwrap_or_default();
        if asset_ids.len() > 50 {
            return Err(err(40011, "asset_ids: at most 50 ids"));
        }
        for a in &asset_ids {
            if !st
                .assets
                .get(a)
                .is_some_and(|x| x.kind == "ADVERTISER" && st.reaches(bc, *a))
            {
                return Err(err(
                    40001,
                    format!("asset_ids: advertiser {a} is not in this Business Center"),
                ));
            }
        }
        for e in emails {
            let key = (bc, e.to_lowercase());
            let is_member = st
                .users
                .values()
                .any(|u| u.email.eq_ignore_ascii_case(&e) && st.members.contains_key(&(bc, u.id)));
            if is_member || st.pending.get(&key).is_some_and(|x| x.status == "PENDING") {
                continue;
            }
            st.pending.insert(
                key,
                Pending {
                    email: e,
                    role,
                    status: "PENDING",
                    asset_ids: asset_ids.clone(),
                    advertiser_role: advertiser_role.clone(),
                    finance_role: finance_role.clone(),
                },
            );
        }
        Ok(json!({}))
    })
}

async fn member_update(State(w): State<Arc<World>>, headers: HeaderMap, bytes: Bytes) -> Response {
    post_with(&w, &headers, &bytes, |st, caller, p| {
        p.known(&[
            "bc_id",
            "user_id",
            "child_bc_id",
            "user_name",
            "user_role",
            "ext_user_role",
        ])?;
        let bc = p.req_id("bc_id")?;
        let user = p.req_id("user_id")?;
        admin_bc(st, caller, bc)?;
        let role = p
            .enum_of("user_role", &["ADMIN", "STANDARD"])?
            .and_then(|r| BcRole::parse(&r));
        let finance = match p.m.get("ext_user_role") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => {
                Some(P { m: o.clone() }.enum_of("finance_role", &["MANAGER", "ANALYST"])?)
            }
            Some(_) => return Err(bad("ext_user_role: must be an object")),
        };
        let current = st
            .members
            .get(&(bc, user))
            .ok_or_else(|| {
                err(
                    40007,
                    format!("User {user} is not a member of this Business Center."),
                )
            })?
            .clone();
        if current.role == BcRole::Admin && role == Some(BcRole::Standard) && st.admins(bc) <= 1 {
            return Err(err(
                40002,
                "Cannot demote the last admin of the Business Center.",
            ));
        }
        let m = st.members.get_mut(&(bc, user)).expect("checked");
        if let Some(r) = role {
            m.role = r;
        }
        if let Some(f) = finance {
            m.finance_role = f;
        }
        if let Some(name) = p.str("user_name")? {
            if name.chars().count() > 250 {
                return Err(bad("user_name: at most 250 characters"));
            }
            if let Some(u) = st.users.get_mut(&user) {
                u.name = name;
            }
        }
        Ok(json!({}))
    })
}

async fn member_delete(State(w): State<Arc<World>>, headers: HeaderMap, bytes: Bytes) -> Response {
    post_with(&w, &headers, &bytes, |st, caller, p| {
        p.known(&["bc_id", "child_bc_id", "user_id", "user_email"])?;
        let bc = p.req_id("bc_id")?;
        admin_bc(st, caller, bc)?;
        match (p.id("user_id")?, p.str("user_email")?) {
            (Some(user), None) => {
                let m = st.members.get(&(bc, user)).ok_or_else(|| {
                    err(
                        40007,
                        format!("User {user} is not a member of this Business Center."),
                    )
                })?;
                if m.role == BcRole::Admin && st.admins(bc) <= 1 {
                    return Err(err(
                        40002,
                        "Cannot remove the last admin of the Business Center.",
                    ));
                }
                st.remove_member(bc, user);
                Ok(json!({}))
            }
            (None, Some(email)) => {
                let key = (bc, email.to_lowercase());
                match st.pending.get(&key) {
                    Some(p) if p.status == "PENDING" => {
                        st.pending.remove(&key);
                        Ok(json!({}))
                    }
                    _ => Err(err(40007, format!("No pending invitation for {email}."))),
                }
            }
            _ => Err(bad("exactly one of user_id and user_email is required")),
        }
    })
}

// ---------------------------------------------------------------- partners

async fn partner_get(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&["bc_id", "filtering", "page", "page_size"])?;
        let bc = p.req_id("bc_id")?;
        admin_bc(st, caller, bc)?;
        let name = P {
            m: p.filtering(&["name"])?,
        }
        .str("name")?
        .map(|n| n.to_lowercase());
        let (page, size) = p.paging(50)?;
        let items: Vec<Value> = st
            .partners
            .range((bc, 0)..=(bc, u64::MAX))
            .filter_map(|(_, partner)| st.bcs.get(partner))
            .filter(|b| {
                name.as_ref()
                    .is_none_or(|n| b.name.to_lowercase().contains(n))
            })
            .map(|b| json!({ "bc_id": b.id.to_string(), "bc_name": b.name }))
            .collect();
        Ok(paged(items, page, size))
    })
}

async fn partner_add(State(w): State<Arc<World>>, headers: HeaderMap, bytes: Bytes) -> Response {
    post_with(&w, &headers, &bytes, |st, caller, p| {
        p.known(&[
            "bc_id",
            "partner_id",
            "asset_type",
            "asset_ids",
            "advertiser_role",
            "catalog_role",
            "source_child_bc_id",
            "target_child_bc_id",
        ])?;
        let bc = p.req_id("bc_id")?;
        admin_bc(st, caller, bc)?;
        let partner = p.req_id("partner_id")?;
        if partner == bc || !st.bcs.contains_key(&partner) {
            return Err(err(
                40007,
                format!("partner_id: Business Center {partner} does not exist."),
            ));
        }
        let kind = p
            .enum_of("asset_type", &["ADVERTISER", "CATALOG"])?
            .ok_or_else(|| bad("asset_type: this field is required"))?;
        let ids = p
            .ids("asset_ids")?
            .ok_or_else(|| bad("asset_ids: this field is required"))?;
        if ids.len() > 50 {
            return Err(err(40011, "asset_ids: at most 50 ids"));
        }
        let role = role_from(
            &p,
            &kind,
            Some(if kind == "CATALOG" {
                "AD_PROMOTE"
            } else {
                "ANALYST"
            }),
        )?;
        for a in &ids {
            if !st
                .assets
                .get(a)
                .is_some_and(|x| x.owner == bc && x.kind == kind)
            {
                return Err(err(
                    40001,
                    format!("asset_ids: {a} is not a {kind} owned by this Business Center"),
                ));
            }
        }
        st.partners.insert((bc, partner));
        st.partners.insert((partner, bc));
        for a in ids {
            st.shares.insert((a, partner), role.clone());
        }
        Ok(json!({}))
    })
}

async fn partner_delete(State(w): State<Arc<World>>, headers: HeaderMap, bytes: Bytes) -> Response {
    post_with(&w, &headers, &bytes, |st, caller, p| {
        p.known(&["bc_id", "partner_id"])?;
        let bc = p.req_id("bc_id")?;
        admin_bc(st, caller, bc)?;
        let partner = p.req_id("partner_id")?;
        if !st.remove_partner(bc, partner) {
            return Err(err(
                40007,
                format!("partner_id: {partner} is not a partner of this Business Center."),
            ));
        }
        Ok(json!({}))
    })
}

/// An asset as the asset lists show it: every field of the spec's response rule is present,
/// null where it does not apply (the spec keeps null values: `pop_resp_nullvalue: false`).
fn asset_row(st: &TState, a: u64, role: Option<&AssetRole>) -> Value {
    let x = &st.assets[&a];
    let mut m = Map::new();
    m.insert("asset_id".into(), json!(a.to_string()));
    m.insert("asset_name".into(), json!(x.name));
    m.insert("asset_type".into(), json!(x.kind));
    for field in [
        "advertiser_role",
        "catalog_role",
        "store_role",
        "tt_account_roles",
    ] {
        m.insert(field.into(), Value::Null);
    }
    if let Some(r) = role {
        m.extend(role_json(x.kind, r));
    }
    m.insert(
        "advertiser_account_type".into(),
        if x.kind == "ADVERTISER" {
            json!("AUCTION")
        } else {
            Value::Null
        },
    );
    m.insert(
        "ad_creation_eligible".into(),
        if x.kind == "CATALOG" {
            json!("AVAILABLE")
        } else {
            Value::Null
        },
    );
    m.insert(
        "owner_bc_name".into(),
        json!(st.bcs.get(&x.owner).map(|b| b.name.clone())),
    );
    Value::Object(m)
}

async fn partner_asset_get(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&[
            "bc_id",
            "partner_id",
            "asset_type",
            "share_type",
            "filtering",
            "page",
            "page_size",
        ])?;
        let bc = p.req_id("bc_id")?;
        admin_bc(st, caller, bc)?;
        let partner = p.req_id("partner_id")?;
        let kind = p
            .enum_of("asset_type", &["ADVERTISER", "CATALOG", "DOMAIN"])?
            .ok_or_else(|| bad("asset_type: this field is required"))?;
        let share = p
            .enum_of("share_type", &["SHARING", "SHARED"])?
            .ok_or_else(|| bad("share_type: this field is required"))?;
        let keyword = P {
            m: p.filtering(&["keyword"])?,
        }
        .str("keyword")?
        .map(|k| k.to_lowercase());
        let (page, size) = p.paging(50)?;
        if !st.partners.contains(&(bc, partner)) {
            return Err(err(
                40007,
                format!("partner_id: {partner} is not a partner of this Business Center."),
            ));
        }
        let (owner, grantee) = if share == "SHARING" {
            (bc, partner)
        } else {
            (partner, bc)
        };
        let items: Vec<Value> = st
            .shares
            .iter()
            .filter(|((a, g), _)| {
                *g == grantee
                    && st
                        .assets
                        .get(a)
                        .is_some_and(|x| x.owner == owner && x.kind == kind)
            })
            .filter(|((a, _), _)| {
                keyword
                    .as_ref()
                    .is_none_or(|k| st.assets[a].name.to_lowercase().contains(k))
            })
            .map(|((a, _), role)| {
                let mut v = asset_row(st, *a, Some(role));
                if let Value::Object(m) = &mut v {
                    m.remove("owner_bc_name");
                }
                v
            })
            .collect();
        Ok(paged(items, page, size))
    })
}

async fn partner_asset_delete(
    State(w): State<Arc<World>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    post_with(&w, &headers, &bytes, |st, caller, p| {
        p.known(&["bc_id", "partner_id", "asset_type", "asset_ids"])?;
        let bc = p.req_id("bc_id")?;
        admin_bc(st, caller, bc)?;
        let partner = p.req_id("partner_id")?;
        let kind = p
            .enum_of("asset_type", &ASSET_TYPES)?
            .ok_or_else(|| bad("asset_type: this field is required"))?;
        let ids = p
            .ids("asset_ids")?
            .ok_or_else(|| bad("asset_ids: this field is required"))?;
        for a in &ids {
            if !st
                .assets
                .get(a)
                .is_some_and(|x| x.owner == bc && x.kind == kind)
                || !st.shares.contains_key(&(*a, partner))
            {
                return Err(err(
                    40001,
                    format!("asset_ids: {a} is not shared with partner {partner}"),
                ));
            }
        }
        for a in ids {
            st.unshare(a, partner);
        }
        Ok(json!({}))
    })
}

// ---------------------------------------------------------------- assets

fn asset_type_param(p: &P, allowed: &[&str]) -> Result<String, TErr> {
    p.enum_of("asset_type", allowed)?
        .ok_or_else(|| bad("asset_type: this field is required"))
}

async fn asset_get(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&[
            "bc_id",
            "asset_type",
            "child_bc_id",
            "filtering",
            "page",
            "page_size",
        ])?;
        let bc = p.req_id("bc_id")?;
        let kind = asset_type_param(
            &p,
            &[
                "ADVERTISER",
                "CATALOG",
                "PIXEL",
                "LEAD",
                "STOREFRONT",
                "TIKTOK_SHOP",
                "TT_ACCOUNT",
            ],
        )?;
        let f = P {
            m: p.filtering(&["keyword", "user_id", "user_email"])?,
        };
        let (page, size) = p.paging(50)?;
        if !st.bcs.contains_key(&bc) {
            return Err(err(40007, format!("Business Center {bc} does not exist.")));
        }
        let keyword = f.str("keyword")?.map(|k| k.to_lowercase());
        let target = match (f.id("user_id")?, f.str("user_email")?) {
            (Some(_), Some(_)) => {
                return Err(bad("filtering: give user_id or user_email, not both"));
            }
            (Some(u), None) => Some(Ok(u)),
            (None, Some(e)) => Some(Err(e)),
            (None, None) => None,
        };
        // Someone else's assets need an ADMIN; one's own, membership.
        match &target {
            Some(Ok(u)) if *u == caller => {}
            None => {}
            _ => admin_bc(st, caller, bc)?,
        }
        if !st.members.contains_key(&(bc, caller)) {
            return Err(err(40001, "No permission to operate this Business Center."));
        }
        let items: Vec<Value> = match target {
            Some(Err(email)) => {
                let inv = st
                    .pending
                    .get(&(bc, email.to_lowercase()))
                    .ok_or_else(|| err(40007, format!("No pending invitation for {email}.")))?;
                inv.asset_ids
                    .iter()
                    .filter(|a| st.assets.get(a).is_some_and(|x| x.kind == kind))
                    .map(|a| asset_row(st, *a, Some(&vec![inv.advertiser_role.clone()])))
                    .collect()
            }
            other => {
                let user = other.map(|r| r.unwrap_or(caller)).unwrap_or(caller);
                st.grants
                    .range((bc, user, 0)..=(bc, user, u64::MAX))
                    .filter(|((_, _, a), _)| st.assets.get(a).is_some_and(|x| x.kind == kind))
                    .map(|((_, _, a), role)| asset_row(st, *a, Some(role)))
                    .collect()
            }
        };
        let items = items
            .into_iter()
            .filter(|v| {
                keyword.as_ref().is_none_or(|k| {
                    v["asset_name"]
                        .as_str()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(k)
                })
            })
            .collect();
        Ok(paged(items, page, size))
    })
}

async fn asset_admin_get(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&[
            "bc_id",
            "asset_type",
            "child_bc_id",
            "filtering",
            "page",
            "page_size",
        ])?;
        let bc = p.req_id("bc_id")?;
        let kind = asset_type_param(
            &p,
            &[
                "ADVERTISER",
                "CATALOG",
                "PIXEL",
                "LEAD",
                "STOREFRONT",
                "TIKTOK_SHOP",
                "TT_ACCOUNT",
            ],
        )?;
        let f = P {
            m: p.filtering(&[
                "keyword",
                "advertiser_show_status",
                "relation_type",
                "relation_status",
            ])?,
        };
        f.enum_of(
            "advertiser_show_status",
            &[
                "SHOW_ACCOUNT_STATUS_NOT_APPROVED",
                "SHOW_ACCOUNT_STATUS_APPROVED",
                "SHOW_ACCOUNT_STATUS_IN_REVIEW",
                "SHOW_ACCOUNT_STATUS_PUNISHED",
            ],
        )?;
        let rel = f.enum_of(
            "relation_type",
            &["OWNER_BC", "OWNER_PARTNER", "OWNER_INDIVIDUAL"],
        )?;
        let status = f.enum_of(
            "relation_status",
            &["BOUND", "UNBOUND", "PENDING", "REJECTED"],
        )?;
        let keyword = f.str("keyword")?.map(|k| k.to_lowercase());
        let (page, size) = p.paging(50)?;
        admin_bc(st, caller, bc)?;
        let rows = st
            .assets
            .values()
            .filter(|a| a.kind == kind && st.reaches(bc, a.id))
            .filter(|a| {
                keyword
                    .as_ref()
                    .is_none_or(|k| a.name.to_lowercase().contains(k))
            })
            .filter(|a| {
                let relation = if a.owner == bc {
                    "OWNER_BC"
                } else {
                    "OWNER_PARTNER"
                };
                rel.as_deref().is_none_or(|r| r == relation)
                    && status.as_deref().is_none_or(|s| s == "BOUND")
            });
        Ok(paged_lazy(rows, page, size, |a| {
            let relation = if a.owner == bc {
                "OWNER_BC"
            } else {
                "OWNER_PARTNER"
            };
            let role = if a.owner == bc {
                None
            } else {
                st.shares.get(&(a.id, bc))
            };
            let mut v = asset_row(st, a.id, role);
            if let Value::Object(m) = &mut v {
                m.insert("relation_type".into(), json!(relation));
                m.insert("relation_status".into(), json!("BOUND"));
                m.insert(
                    "advertiser_status".into(),
                    if a.kind == "ADVERTISER" {
                        json!("STATUS_ENABLE")
                    } else {
                        Value::Null
                    },
                );
                m.insert("pixel_code".into(), json!(a.pixel_code));
            }
            v
        }))
    })
}

async fn asset_member_get(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&[
            "bc_id",
            "asset_id",
            "asset_type",
            "filtering",
            "page",
            "page_size",
        ])?;
        let bc = p.req_id("bc_id")?;
        let asset = p.req_id("asset_id")?;
        let kind = asset_type_param(&p, &["ADVERTISER", "CATALOG", "LEAD"])?;
        let f = P {
            m: p.filtering(&["keyword"])?,
        };
        let keyword = f.str("keyword")?.map(|k| k.to_lowercase());
        if keyword.as_ref().is_some_and(|k| k.chars().count() > 250) {
            return Err(bad("filtering.keyword: at most 250 characters"));
        }
        let (page, size) = p.paging(20)?;
        admin_bc(st, caller, bc)?;
        if st.assets.get(&asset).is_none_or(|x| x.kind != kind) || !st.reaches(bc, asset) {
            return Err(err(
                40007,
                format!("asset_id: {asset} is not a {kind} of this Business Center"),
            ));
        }
        let items: Vec<Value> = st
            .grants_by_asset
            .range((asset, bc, 0)..=(asset, bc, u64::MAX))
            .filter_map(|(_, _, u)| {
                st.users
                    .get(u)
                    .map(|user| (user, &st.grants[&(bc, *u, asset)]))
            })
            .filter(|(user, _)| {
                keyword.as_ref().is_none_or(|k| {
                    user.name.to_lowercase().contains(k) || user.email.to_lowercase().contains(k)
                })
            })
            .map(|(user, role)| {
                let mut m = Map::new();
                m.insert("user_id".into(), json!(user.id.to_string()));
                m.insert("user_name".into(), json!(user.name));
                m.insert("user_email".into(), json!(user.email));
                m.extend(role_json(&kind, role));
                Value::Object(m)
            })
            .collect();
        Ok(paged(items, page, size))
    })
}

async fn asset_partner_get(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&[
            "bc_id",
            "asset_type",
            "asset_id",
            "filtering",
            "page",
            "page_size",
        ])?;
        let bc = p.req_id("bc_id")?;
        let asset = p.req_id("asset_id")?;
        let kind = asset_type_param(&p, &ASSET_TYPES)?;
        let keyword = P {
            m: p.filtering(&["keyword"])?,
        }
        .str("keyword")?
        .map(|k| k.to_lowercase());
        let (page, size) = p.paging(50)?;
        admin_bc(st, caller, bc)?;
        if !st
            .assets
            .get(&asset)
            .is_some_and(|x| x.kind == kind && x.owner == bc)
        {
            return Err(err(
                40007,
                format!("asset_id: {asset} is not a {kind} owned by this Business Center"),
            ));
        }
        let items: Vec<Value> = st
            .shares
            .range((asset, 0)..=(asset, u64::MAX))
            .filter_map(|((_, partner), _)| st.bcs.get(partner))
            .filter(|b| {
                keyword
                    .as_ref()
                    .is_none_or(|k| b.name.to_lowercase().contains(k))
            })
            .map(|b| json!({ "bc_id": b.id.to_string(), "bc_name": b.name }))
            .collect();
        Ok(paged(items, page, size))
    })
}

async fn asset_assign(State(w): State<Arc<World>>, headers: HeaderMap, bytes: Bytes) -> Response {
    post_with(&w, &headers, &bytes, |st, caller, p| {
        p.known(&[
            "bc_id",
            "user_id",
            "asset_type",
            "asset_id",
            "advertiser_role",
            "catalog_role",
            "store_role",
            "tt_account_roles",
            "form_library_role",
            "child_bc_id",
        ])?;
        let bc = p.req_id("bc_id")?;
        let user = p.req_id("user_id")?;
        let asset = p.req_id("asset_id")?;
        let kind = asset_type_param(&p, &ASSET_TYPES)?;
        let role = role_from(&p, &kind, None)?;
        admin_bc(st, caller, bc)?;
        if !st.members.contains_key(&(bc, user)) {
            return Err(err(
                40007,
                format!("user_id: {user} is not a member of this Business Center."),
            ));
        }
        if st.assets.get(&asset).is_none_or(|x| x.kind != kind) || !st.reaches(bc, asset) {
            return Err(err(
                40001,
                format!("asset_id: {asset} is not a {kind} of this Business Center"),
            ));
        }
        st.grant(bc, user, asset, role);
        Ok(json!({}))
    })
}

async fn asset_unassign(State(w): State<Arc<World>>, headers: HeaderMap, bytes: Bytes) -> Response {
    post_with(&w, &headers, &bytes, |st, caller, p| {
        p.known(&["bc_id", "user_id", "asset_type", "asset_id", "child_bc_id"])?;
        let bc = p.req_id("bc_id")?;
        let user = p.req_id("user_id")?;
        let asset = p.req_id("asset_id")?;
        asset_type_param(&p, &ASSET_TYPES)?;
        admin_bc(st, caller, bc)?;
        if !st.revoke(bc, user, asset) {
            return Err(err(
                40007,
                format!("user {user} holds no permission on asset {asset}"),
            ));
        }
        Ok(json!({}))
    })
}

// ---------------------------------------------------------------- advertisers and pixels

fn user_reaches_advertiser(st: &TState, user: u64, adv: u64) -> bool {
    st.grants.keys().any(|(_, u, a)| *u == user && *a == adv)
        || st
            .members
            .iter()
            .any(|((bc, u), m)| *u == user && m.role == BcRole::Admin && st.reaches(*bc, adv))
}

async fn advertiser_info(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&["advertiser_ids", "fields"])?;
        let ids = p
            .ids("advertiser_ids")?
            .ok_or_else(|| bad("advertiser_ids: this field is required"))?;
        if ids.is_empty() || ids.len() > 100 {
            return Err(err(40011, "advertiser_ids: must hold 1 to 100 ids"));
        }
        let fields: Option<Vec<String>> = match p.m.get("fields") {
            None => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            Some(_) => return Err(bad("fields: must be a list")),
        };
        let mut list = Vec::new();
        for id in ids {
            let a = st
                .assets
                .get(&id)
                .filter(|a| a.kind == "ADVERTISER")
                .ok_or_else(|| err(40300, format!("Advertiser {id} does not exist.")))?;
            if !user_reaches_advertiser(st, caller, id) {
                return Err(err(40001, format!("No permission for advertiser {id}.")));
            }
            let full = json!({
                "advertiser_id": id.to_string(), "name": a.name, "company": st.bcs.get(&a.owner).map(|b| b.company.clone()),
                "status": "STATUS_ENABLE", "role": "ROLE_ADVERTISER", "currency": "USD", "timezone": "Etc/GMT", "display_timezone": "Etc/GMT",
                "country": "US", "industry": "290901", "address": null, "contacter": null, "email": null, "cellphone_number": null,
                "telephone_number": null, "language": "en", "license_no": null, "license_url": null, "description": null, "balance": 0.0,
                "create_time": 1_700_000_000, "rejection_reason": null, "owner_bc_id": a.owner.to_string(), "advertiser_account_type": "AUCTION",
            });
            let v = match &fields {
                None => full,
                Some(f) => Value::Object(
                    full.as_object()
                        .expect("object")
                        .iter()
                        .filter(|(k, _)| k.as_str() == "advertiser_id" || f.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
            };
            list.push(v);
        }
        Ok(json!({ "list": list }))
    })
}

async fn pixel_list(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    get_with(&w, &headers, &uri, |st, caller, p| {
        p.known(&[
            "advertiser_id",
            "pixel_id",
            "code",
            "name",
            "order_by",
            "filtering",
            "page",
            "page_size",
        ])?;
        let adv = p.req_id("advertiser_id")?;
        let pixel = p.id("pixel_id")?;
        let code = p.str("code")?;
        let name = p.str("name")?.map(|n| n.to_lowercase());
        let order = p.enum_of("order_by", &["EARLIEST_CREATE", "LATEST_CREATE"])?;
        p.filtering(&["available_for_catalog_only"])?;
        let (page, size) = p.paging(20)?;
        if st.assets.get(&adv).is_none_or(|a| a.kind != "ADVERTISER") {
            return Err(err(40300, format!("Advertiser {adv} does not exist.")));
        }
        if !user_reaches_advertiser(st, caller, adv) {
            return Err(err(40001, format!("No permission for advertiser {adv}.")));
        }
        let mut pixels: Vec<Value> = st
            .assets
            .values()
            .filter(|a| a.kind == "PIXEL" && a.advertiser == Some(adv))
            .filter(|a| pixel.is_none_or(|p| p == a.id) && code.as_ref().is_none_or(|c| a.pixel_code.as_ref() == Some(c)) && name.as_ref().is_none_or(|n| a.name.to_lowercase().contains(n)))
            .map(|a| json!({
                "pixel_id": a.id.to_string(), "pixel_code": a.pixel_code, "pixel_name": a.name, "pixel_category": "ONLINE_STORE",
                "pixel_script": format!("<script>ttq.load('{}')</script>", a.pixel_code.clone().unwrap_or_default()), "create_time": "2024-01-01 00:00:00",
                "pixel_setup_mode": "STANDARD", "partner_name": null, "advanced_matching_fields": { "phone_number": false, "email": false },
                "enable_first_party_cookies": true, "enable_expanded_data_sharing": false,
                "asset_ownership": { "asset_relation_status": null, "ownership_status": true, "owner_bc_id": a.owner.to_string() }, "events": [],
            }))
            .collect();
        if order.as_deref() == Some("LATEST_CREATE") {
            pixels.reverse();
        }
        let total = pixels.len() as u64;
        let pixels: Vec<Value> = pixels
            .into_iter()
            .skip(((page - 1) * size) as usize)
            .take(size as usize)
            .collect();
        Ok(json!({ "pixels": pixels, "page_info": page_info(page, size, total) }))
    })
}

// ---------------------------------------------------------------- OAuth

async fn access_token(State(w): State<Arc<World>>, bytes: Bytes) -> Response {
    let mut st = w.tiktok.lock().expect("state");
    let r = (|| {
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(bad("the body must be a JSON object"));
        };
        let p = P { m };
        p.known(&[
            "app_id",
            "secret",
            "auth_code",
            "return_advertiser_ids",
            "grant_type",
        ])?;
        let app = p
            .str("app_id")?
            .ok_or_else(|| bad("app_id: this field is required"))?;
        let secret = p
            .str("secret")?
            .ok_or_else(|| bad("secret: this field is required"))?;
        let code = p
            .str("auth_code")?
            .ok_or_else(|| bad("auth_code: this field is required"))?;
        if st.apps.get(&app) != Some(&secret) {
            return Err(err(40101, "The app_id and secret do not match."));
        }
        let (code_app, user) = st
            .codes
            .remove(&code)
            .ok_or_else(|| err(40110, "The auth_code is invalid, expired or used."))?;
        if code_app != app {
            return Err(err(40110, "The auth_code was issued to another app."));
        }
        let advertisers: Vec<u64> = st
            .assets
            .values()
            .filter(|a| a.kind == "ADVERTISER" && user_reaches_advertiser(&st, user, a.id))
            .map(|a| a.id)
            .collect();
        let token = w.random_hex(20);
        st.tokens.insert(
            token.clone(),
            Token {
                user,
                advertiser_ids: advertisers.clone(),
                app_id: app,
            },
        );
        let ids: Vec<String> = advertisers.iter().map(u64::to_string).collect();
        Ok(
            json!({ "access_token": token, "advertiser_ids": ids, "scope": [1, 2, 3, 4, 5, 6, 7, 8] }),
        )
    })();
    drop(st);
    respond(&w, r)
}

async fn oauth_advertisers(State(w): State<Arc<World>>, headers: HeaderMap, uri: Uri) -> Response {
    let q = Query::parse(uri.query());
    let st = w.tiktok.lock().expect("state");
    let r = (|| {
        let p = P {
            m: params_from_query(&q),
        };
        p.known(&["app_id", "secret"])?;
        let app = p
            .str("app_id")?
            .ok_or_else(|| bad("app_id: this field is required"))?;
        let secret = p
            .str("secret")?
            .ok_or_else(|| bad("secret: this field is required"))?;
        if st.apps.get(&app) != Some(&secret) {
            return Err(err(40101, "The app_id and secret do not match."));
        }
        let t = headers
            .get("access-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| err(40104, "Access token is missing."))?;
        let tok = st
            .tokens
            .get(t)
            .ok_or_else(|| err(40105, "Access token is invalid."))?;
        let list: Vec<Value> = tok
            .advertiser_ids
            .iter()
            .filter_map(|a| st.assets.get(a))
            .map(|a| json!({ "advertiser_id": a.id.to_string(), "advertiser_name": a.name }))
            .collect();
        Ok(json!({ "list": list }))
    })();
    drop(st);
    respond(&w, r)
}

/// The `portal/auth` consent page: pick the TikTok for Business user and confirm.
async fn consent_page(State(w): State<Arc<World>>, uri: Uri) -> Response {
    let q = Query::parse(uri.query());
    let st = w.tiktok.lock().expect("state");
    let (Some(app), Some(_)) = (
        q.get("app_id").filter(|a| st.apps.contains_key(*a)),
        q.get("redirect_uri"),
    ) else {
        return crate::pages::refusal("Unknown app_id or missing redirect_uri.");
    };
    let users = st
        .users
        .values()
        .take(500)
        .map(|u| (u.id.to_string(), format!("{} ({})", u.name, u.email)))
        .collect();
    let get = |k: &'static str| (k, q.get(k).unwrap_or(""));
    crate::pages::Consent {
        title: "App Authorization | TikTok For Business",
        heading: format!("Authorize app {app}"),
        app,
        asks: None,
        action: "/portal/auth",
        hidden: vec![get("app_id"), get("redirect_uri"), get("state")],
        pick: "Signed in as",
        users,
    }
    .into_response()
}

async fn consent_confirm(State(w): State<Arc<World>>, bytes: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&bytes).into_owned().collect();
    let mut st = w.tiktok.lock().expect("state");
    let (Some(app), Some(redirect), Some(user)) = (
        form.get("app_id"),
        form.get("redirect_uri"),
        form.get("user_id").and_then(|u| u.parse::<u64>().ok()),
    ) else {
        return crate::pages::refusal("Missing fields.");
    };
    if !st.apps.contains_key(app) || !st.users.contains_key(&user) {
        return crate::pages::refusal("Unknown app or user.");
    }
    let code = w.random_hex(16);
    st.codes.insert(code.clone(), (app.clone(), user));
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let state: String = form_urlencoded::byte_serialize(
        form.get("state").map(String::as_bytes).unwrap_or_default(),
    )
    .collect();
    Redirect::to(&format!(
        "{redirect}{sep}auth_code={code}&code={code}&state={state}"
    ))
    .into_response()
}
