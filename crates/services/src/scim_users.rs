//! SCIM Users: the directory's identities as RFC 7643 Users (with the enterprise extension),
//! created, read, replaced, patched and deleted by an IdP. They land in the same identities as
//! CSV and the API, owned by the IdP (`source` scim); `active=false` is the leaver signal the
//! deprovisioning reports act on; a delete keeps the identity, deactivated.

use castellan_domain::IdentityId;
use castellan_domain::scim::{self as rules, ENTERPRISE_USER, ScimError, USER, patch};
use castellan_store::Identity;
use serde_json::{Map, Value, json};

use crate::Services;
use crate::scim::{
    ListPage, ListQuery, ScimCaller, check_if_match, internal, page, parse_filter, store_error,
    versioned,
};

/// An identity as the User SCIM serves (`base` is the SCIM base URL, for `meta.location`).
pub fn user_json(i: &Identity, base: &str) -> Value {
    let mut u = Map::new();
    let schemas = if i.department.is_some() || i.manager.is_some() {
        json!([USER, ENTERPRISE_USER])
    } else {
        json!([USER])
    };
    u.insert("schemas".into(), schemas);
    u.insert("id".into(), json!(i.id.to_string()));
    if let Some(x) = &i.external_id {
        u.insert("externalId".into(), json!(x));
    }
    u.insert("userName".into(), json!(i.user_name));
    let mut name = Map::new();
    if let Some(g) = &i.given_name {
        name.insert("givenName".into(), json!(g));
    }
    if let Some(f) = &i.family_name {
        name.insert("familyName".into(), json!(f));
    }
    if !name.is_empty() {
        u.insert("name".into(), Value::Object(name));
    }
    if let Some(d) = &i.display_name {
        u.insert("displayName".into(), json!(d));
    }
    u.insert("emails".into(), Value::Array(emails(i)));
    u.insert("active".into(), json!(i.active));
    if !i.groups.is_empty() {
        u.insert(
            "groups".into(),
            Value::Array(
                i.groups
                    .iter()
                    .map(|g| json!({"value": g.id.to_string(), "display": g.display_name, "$ref": format!("{base}/Groups/{}", g.id), "type": "direct"}))
                    .collect(),
            ),
        );
    }
    if i.department.is_some() || i.manager.is_some() {
        let mut ent = Map::new();
        if let Some(d) = &i.department {
            ent.insert("department".into(), json!(d));
        }
        if let Some(m) = &i.manager {
            // Always the RFC's object form, whatever shape it arrived in.
            ent.insert("manager".into(), json!({"value": m}));
        }
        u.insert(ENTERPRISE_USER.into(), Value::Object(ent));
    }
    u.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": crate::scim::meta_time(i.created_at),
            "lastModified": crate::scim::meta_time(i.updated_at),
            "location": format!("{base}/Users/{}", i.id),
        }),
    );
    versioned(Value::Object(u))
}

/// The e-mail entries as the IdP sent them, while they still name exactly the identity's
/// addresses (a CSV import or the API may have changed them since); otherwise the work
/// address first, then the others.
fn emails(i: &Identity) -> Vec<Value> {
    let mut have: Vec<String> = std::iter::once(&i.primary_email)
        .chain(&i.other_emails)
        .map(|e| e.to_lowercase())
        .collect();
    have.sort();
    if let Some(Value::Array(sent)) = &i.scim_emails {
        let mut named: Vec<String> = sent
            .iter()
            .filter_map(|e| e.get("value").and_then(Value::as_str))
            .map(str::to_lowercase)
            .collect();
        named.sort();
        named.dedup();
        if named == have {
            return sent.clone();
        }
    }
    let mut out = vec![json!({"value": i.primary_email, "type": "work", "primary": true})];
    out.extend(
        i.other_emails
            .iter()
            .map(|e| json!({"value": e, "type": "other", "primary": false})),
    );
    out
}

/// The e-mail entries of a body, kept as sent: value, type and primary (a boolean).
fn sent_emails(doc: &Value) -> Option<Value> {
    let list = rules::filter::get_ci(doc, "emails")?.as_array()?;
    let kept: Vec<Value> = list
        .iter()
        .filter_map(|e| {
            let value = rules::filter::get_ci(e, "value")?.as_str()?;
            let mut o = serde_json::Map::new();
            o.insert("value".into(), json!(value));
            if let Some(Value::String(t)) = rules::filter::get_ci(e, "type") {
                o.insert("type".into(), json!(t));
            }
            match rules::filter::get_ci(e, "primary") {
                Some(Value::Bool(b)) => {
                    o.insert("primary".into(), json!(b));
                }
                Some(Value::String(b))
                    if b.eq_ignore_ascii_case("true") || b.eq_ignore_ascii_case("false") =>
                {
                    o.insert("primary".into(), json!(b.eq_ignore_ascii_case("true")));
                }
                _ => {}
            }
            Some(Value::Object(o))
        })
        .collect();
    Some(Value::Array(kept))
}

fn parse_id(id: &str) -> Result<IdentityId, ScimError> {
    id.parse()
        .map_err(|_| ScimError::not_found(format!("no user {id}")))
}

async fn current(svc: &Services, c: &ScimCaller, id: &str) -> Result<Identity, ScimError> {
    svc.store
        .ws(c.ws())
        .scim_identity(parse_id(id)?)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("no user {id}")))
}

pub async fn get(svc: &Services, c: &ScimCaller, base: &str, id: &str) -> Result<Value, ScimError> {
    Ok(user_json(&current(svc, c, id).await?, base))
}

/// Lists users. `userName eq` and `externalId eq` (Okta's and Entra's lookups) are answered by
/// an index; any other filter is evaluated over every user of the workspace.
pub async fn list(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    q: &ListQuery,
) -> Result<ListPage, ScimError> {
    let f = parse_filter(q)?;
    let scoped = svc.store.ws(c.ws());
    if let Some((attr, value)) = f.as_ref().and_then(|f| f.simple_eq()) {
        let hit = if attr.eq_ignore_ascii_case("userName") {
            Some(
                scoped
                    .scim_identity_by_user_name(value)
                    .await
                    .map_err(store_error)?,
            )
        } else if attr.eq_ignore_ascii_case("externalId") {
            Some(
                scoped
                    .scim_identity_by_external_id(value)
                    .await
                    .map_err(store_error)?,
            )
        } else {
            None
        };
        if let Some(hit) = hit {
            let all = hit.iter().map(|i| user_json(i, base)).collect();
            return Ok(page(all, None, q));
        }
    }
    // Without a filter, only the page asked for is read.
    if f.is_none() && q.sort_by.is_none() && !q.unpaged {
        let (start, count) = rules::paging(q.start_index, q.count);
        let total = scoped.scim_identity_count().await.map_err(store_error)? as usize;
        let items = if count == 0 {
            Vec::new()
        } else {
            scoped
                .scim_identities(start as i64 - 1, count as i64)
                .await
                .map_err(store_error)?
        };
        return Ok(ListPage {
            total,
            start_index: start,
            resources: items.iter().map(|i| user_json(i, base)).collect(),
        });
    }
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let batch = scoped
            .scim_identities(offset, 5000)
            .await
            .map_err(store_error)?;
        let n = batch.len();
        all.extend(batch.iter().map(|i| user_json(i, base)));
        if n < 5000 {
            break;
        }
        offset += 5000;
    }
    Ok(page(all, f.as_ref(), q))
}

/// Creates a user (201). A `userName` taken by another identity is 409 `uniqueness`; one the
/// IdP deleted before is brought back with the new values.
pub async fn create(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    body: &Value,
) -> Result<Value, ScimError> {
    let input = rules::identity_from_user(body)?;
    let made = svc
        .store
        .ws(c.ws())
        .scim_create_identity(&c.actor(), &input, sent_emails(body).as_ref())
        .await
        .map_err(store_error)?;
    Ok(user_json(&made, base))
}

/// Writes a change computed from the user as read, reading again and recomputing when another
/// change landed in between; with `If-Match`, a change in between is 412 instead.
async fn change(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    id: &str,
    if_match: Option<&str>,
    compute: impl Fn(&Identity, &Value) -> Result<Value, ScimError>,
) -> Result<Value, ScimError> {
    // Each round one of the racing changes lands, so this many rounds cover as many changes
    // of one user at once — far more than an IdP sends.
    for _ in 0..50 {
        let before = current(svc, c, id).await?;
        let served = user_json(&before, base);
        check_if_match(&served, if_match)?;
        let doc = compute(&before, &served)?;
        let input = rules::identity_from_user(&doc)?;
        match svc
            .store
            .ws(c.ws())
            .scim_update_identity(&c.actor(), &before, &input, sent_emails(&doc).as_ref())
            .await
        {
            Ok(()) => return get(svc, c, base, &before.id.to_string()).await,
            Err(castellan_store::StoreError::Conflict { field, .. }) if field == "version" => {
                if if_match.is_some_and(|m| !m.trim().is_empty() && m.trim() != "*") {
                    return Err(ScimError::precondition(
                        "the resource changed while this request was made",
                    ));
                }
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ScimError {
        status: 409,
        scim_type: None,
        detail: "the user keeps changing; try again".into(),
    })
}

/// Replaces a user (Okta's GET → change → PUT): every attribute as sent; what is left out is
/// cleared, except `active`, which stays as it was when the body leaves it out.
pub async fn replace(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Value, ScimError> {
    change(svc, c, base, id, if_match, |before, _| {
        let mut doc = body.clone();
        if rules::filter::get_ci(&doc, "active").is_none()
            && let Some(o) = doc.as_object_mut()
        {
            o.insert("active".into(), json!(before.active));
        }
        Ok(doc)
    })
    .await
}

/// Patches a user: the operations applied to the user as served, then stored as a whole.
pub async fn patch(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Value, ScimError> {
    let ops = patch::parse(body)?;
    change(svc, c, base, id, if_match, |_, served| {
        patch::apply(served, &ops)
    })
    .await
}

/// The IdP deleted the user: deactivated and kept (never hard-deleted), no longer served.
pub async fn delete(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    id: &str,
    if_match: Option<&str>,
) -> Result<(), ScimError> {
    let before = current(svc, c, id).await?;
    check_if_match(&user_json(&before, base), if_match)?;
    svc.store
        .ws(c.ws())
        .scim_delete_identity(&c.actor(), before.id)
        .await
        .map_err(store_error)
}

/// Whether an id names a user SCIM serves (for group members).
pub async fn exists(
    svc: &Services,
    c: &ScimCaller,
    id: &str,
) -> Result<Option<IdentityId>, ScimError> {
    let Ok(iid) = id.parse::<IdentityId>() else {
        return Ok(None);
    };
    Ok(svc
        .store
        .ws(c.ws())
        .scim_identity(iid)
        .await
        .map_err(internal)?
        .map(|i| i.id))
}
