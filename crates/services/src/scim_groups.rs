//! SCIM Groups: the directory's groups, created, renamed, filled and emptied by an IdP (Okta's
//! Push Groups, Entra's group provisioning). `displayName` is unique without regard to case
//! (Entra matches groups on it); members are users SCIM serves.

use castellan_domain::scim::{self as rules, GROUP, ScimError, patch};
use castellan_domain::{GroupId, IdentityId};
use castellan_store::Group;
use serde_json::{Value, json};

use crate::Services;
use crate::scim::{
    ListPage, ListQuery, ScimCaller, check_if_match, page, parse_filter, store_error, versioned,
};

/// A group as SCIM serves it.
fn group_json(g: &Group, base: &str) -> Value {
    let mut v = json!({
        "schemas": [GROUP],
        "id": g.id.to_string(),
        "displayName": g.display_name,
        // Value and $ref only: what the IdP sends is what it reads back.
        "members": g.member_ids.iter().map(|m| {
            json!({"value": m.to_string(), "$ref": format!("{base}/Users/{m}")})
        }).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Group",
            "created": crate::scim::meta_time(g.created_at),
            "lastModified": crate::scim::meta_time(g.updated_at),
            "location": format!("{base}/Groups/{}", g.id),
        },
    });
    if let Some(x) = &g.external_id {
        v["externalId"] = json!(x);
    }
    versioned(v)
}

async fn current(svc: &Services, c: &ScimCaller, id: &str) -> Result<Group, ScimError> {
    let gid: GroupId = id
        .parse()
        .map_err(|_| ScimError::not_found(format!("no group {id}")))?;
    svc.store
        .ws(c.ws())
        .group(gid)
        .await
        .map_err(|_| ScimError::not_found(format!("no group {id}")))
}

async fn served(svc: &Services, c: &ScimCaller, base: &str, g: &Group) -> Result<Value, ScimError> {
    let _ = (svc, c);
    Ok(group_json(g, base))
}

pub async fn get(svc: &Services, c: &ScimCaller, base: &str, id: &str) -> Result<Value, ScimError> {
    let g = current(svc, c, id).await?;
    served(svc, c, base, &g).await
}

/// Lists groups (Entra looks them up by `displayName`; with `excludedAttributes=members` the
/// server layer drops members).
pub async fn list(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    q: &ListQuery,
) -> Result<ListPage, ScimError> {
    let f = parse_filter(q)?;
    let scoped = svc.store.ws(c.ws());
    if let Some((attr, value)) = f.as_ref().and_then(|f| f.simple_eq())
        && attr.eq_ignore_ascii_case("displayName")
    {
        let hit = scoped
            .group_by_display_name(value)
            .await
            .map_err(store_error)?;
        let mut all = Vec::new();
        if let Some(g) = hit {
            all.push(served(svc, c, base, &g).await?);
        }
        return Ok(page(all, None, q));
    }
    let groups = scoped.all_groups().await.map_err(store_error)?;
    let all = groups.iter().map(|g| group_json(g, base)).collect();
    Ok(page(all, f.as_ref(), q))
}

/// The member ids of a body, each a user SCIM serves (else 400 `invalidValue` naming it).
async fn members(
    svc: &Services,
    c: &ScimCaller,
    raw: &[String],
) -> Result<Vec<IdentityId>, ScimError> {
    let mut out = Vec::new();
    for m in raw {
        match crate::scim_users::exists(svc, c, m).await? {
            Some(id) if !out.contains(&id) => out.push(id),
            Some(_) => {}
            None => {
                return Err(ScimError::invalid_value(format!(
                    "members: {m} is not a user of this directory"
                )));
            }
        }
    }
    Ok(out)
}

pub async fn create(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    body: &Value,
) -> Result<Value, ScimError> {
    let (name, external, raw) = rules::group_from_body(body)?;
    let ids = members(svc, c, &raw).await?;
    let g = svc
        .store
        .ws(c.ws())
        .create_group(&c.actor(), &name, external.as_deref(), &ids)
        .await
        .map_err(store_error)?;
    crate::group_mappings::nudge(svc, c.ws(), &c.actor()).await;
    served(svc, c, base, &g).await
}

/// Writes the group `doc` describes over the group as read, or `None` when another change
/// landed in between.
async fn write(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    before: &Group,
    doc: &Value,
) -> Result<Option<Value>, ScimError> {
    let (name, external, raw) = rules::group_from_body(doc)?;
    let ids = members(svc, c, &raw).await?;
    let rename = (name != before.display_name).then_some(name.as_str());
    let external = (external != before.external_id).then_some(external.as_deref());
    let same_members = {
        let mut a = ids.clone();
        let mut b = before.member_ids.clone();
        a.sort();
        b.sort();
        a == b
    };
    if rename.is_none() && external.is_none() && same_members {
        return Ok(Some(served(svc, c, base, before).await?));
    }
    match svc
        .store
        .ws(c.ws())
        .update_group_if_unchanged(
            &c.actor(),
            before,
            rename,
            external,
            (!same_members).then_some(ids.as_slice()),
        )
        .await
    {
        Ok(g) => Ok(Some(served(svc, c, base, &g).await?)),
        Err(castellan_store::StoreError::Conflict { field, .. }) if field == "version" => Ok(None),
        Err(e) => Err(store_error(e)),
    }
}

/// Computes the change from the group as read and writes it, reading again when another change
/// landed in between (one lands per round); with `If-Match`, a change in between is 412.
async fn change(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    id: &str,
    if_match: Option<&str>,
    compute: impl Fn(&Value) -> Result<Value, ScimError>,
) -> Result<Value, ScimError> {
    for _ in 0..50 {
        let before = current(svc, c, id).await?;
        let doc = served(svc, c, base, &before).await?;
        check_if_match(&doc, if_match)?;
        if let Some(done) = write(svc, c, base, &before, &compute(&doc)?).await? {
            return Ok(done);
        }
        if if_match.is_some_and(|m| !m.trim().is_empty() && m.trim() != "*") {
            return Err(ScimError::precondition(
                "the resource changed while this request was made",
            ));
        }
    }
    Err(ScimError {
        status: 409,
        scim_type: None,
        detail: "the group keeps changing; try again".into(),
    })
}

pub async fn replace(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Value, ScimError> {
    let out = change(svc, c, base, id, if_match, |_| Ok(body.clone())).await;
    if out.is_ok() {
        crate::group_mappings::nudge(svc, c.ws(), &c.actor()).await;
    }
    out
}

pub async fn patch(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Value, ScimError> {
    let ops = patch::parse(body)?;
    let out = change(svc, c, base, id, if_match, |doc| patch::apply(doc, &ops)).await;
    if out.is_ok() {
        crate::group_mappings::nudge(svc, c.ws(), &c.actor()).await;
    }
    out
}

pub async fn delete(
    svc: &Services,
    c: &ScimCaller,
    base: &str,
    id: &str,
    if_match: Option<&str>,
) -> Result<(), ScimError> {
    let before = current(svc, c, id).await?;
    check_if_match(&served(svc, c, base, &before).await?, if_match)?;
    svc.store
        .ws(c.ws())
        .delete_group(&c.actor(), before.id)
        .await
        .map_err(store_error)?;
    crate::group_mappings::nudge(svc, c.ws(), &c.actor()).await;
    Ok(())
}
