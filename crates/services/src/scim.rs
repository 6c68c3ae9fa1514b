//! SCIM's use cases that are not a resource's: the workspace's SCIM tokens (made by Admins and
//! Owners, shown once, revoked), a request's token checked, and what Users and Groups share —
//! store errors as SCIM errors, lists filtered, sorted and paged, `If-Match` checked.

use castellan_domain::audit::Actor;
use castellan_domain::auth::{generate_secret, hash_secret};
use castellan_domain::scim::filter::{self, Filter, get_ci};
use castellan_domain::scim::{self as rules, ScimError};
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{ScimTokenId, WorkspaceId};
use castellan_store::StoreError;
use castellan_store::scim::ScimToken;
use serde_json::Value;

use crate::Services;
use crate::error::ServiceError;
use crate::local_partners::Acting;

/// SCIM tokens start with this, so a leaked one is recognisable.
pub const SCIM_TOKEN_PREFIX: &str = "cscim_";

/// A request's SCIM caller: the token and the actor its changes are audited as.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    pub token: ScimToken,
}

impl ScimCaller {
    pub fn ws(&self) -> WorkspaceId {
        self.token.workspace_id
    }
    /// Audited as the token's name, so the trail says which IdP connection did it.
    pub fn actor(&self) -> Actor {
        Actor::Automation {
            name: format!("SCIM token {}", self.token.name),
        }
    }
}

fn admin(who: Acting) -> Result<(), ServiceError> {
    if who.role < WorkspaceRole::Admin {
        return Err(ServiceError::Forbidden(
            "SCIM tokens are managed by the workspace's Admins and Owners".into(),
        ));
    }
    Ok(())
}

/// A new token: the secret is returned once and only its hash is kept.
pub async fn create_token(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Acting,
    name: &str,
) -> Result<(ScimToken, String), ServiceError> {
    admin(who)?;
    let name = castellan_domain::values::required_text("name", name, 100)?;
    let secret = svc
        .store
        .env()
        .with_rng(|r| generate_secret(SCIM_TOKEN_PREFIX, r));
    let t = svc
        .store
        .ws(ws)
        .create_scim_token(actor, &name, &hash_secret(&secret))
        .await?;
    Ok((t, secret))
}

pub async fn tokens(
    svc: &Services,
    ws: WorkspaceId,
    who: Acting,
) -> Result<Vec<ScimToken>, ServiceError> {
    admin(who)?;
    Ok(svc.store.ws(ws).scim_tokens().await?)
}

pub async fn revoke_token(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Acting,
    id: ScimTokenId,
) -> Result<ScimToken, ServiceError> {
    admin(who)?;
    let t = svc
        .store
        .ws(ws)
        .revoke_scim_token(actor, id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => ServiceError::NotFound {
                field: "id",
                what: "SCIM token",
            },
            e => e.into(),
        });
    // After the row says revoked, so no request in between caches it again.
    svc.scim_tokens.clear();
    t
}

/// The caller of a SCIM request, from its bearer token.
pub async fn authenticate(svc: &Services, bearer: Option<&str>) -> Result<ScimCaller, ScimError> {
    let secret = bearer
        .filter(|b| b.starts_with(SCIM_TOKEN_PREFIX))
        .ok_or_else(|| ScimError::unauthorized("a SCIM bearer token is required"))?;
    let hash = hash_secret(secret);
    let now = svc.store.env().now().timestamp_millis();
    if let Some(token) = svc.scim_tokens.get(&hash, now) {
        return Ok(ScimCaller { token });
    }
    match svc.store.scim_token_by_hash(&hash).await {
        Ok(Some(token)) => {
            svc.scim_tokens.put(hash, token.clone(), now);
            Ok(ScimCaller { token })
        }
        Ok(None) => Err(ScimError::unauthorized("the SCIM token is not valid")),
        Err(e) => Err(internal(e)),
    }
}

/// A store failure as a SCIM error: a unique key is `uniqueness`, a missing row 404.
pub fn store_error(e: StoreError) -> ScimError {
    match e {
        StoreError::Conflict { field, message } => {
            let attr = match field.as_str() {
                "user_name" => "userName",
                "primary_email" => "emails",
                "external_id" => "externalId",
                "display_name" => "displayName",
                f => f,
            };
            ScimError::uniqueness(format!("{attr} {message}"))
        }
        StoreError::NotFound(what) => ScimError::not_found(format!("{what} not found")),
        StoreError::Invalid(v) => ScimError::invalid_value(v.to_string()),
        e => internal(e),
    }
}

pub fn internal(e: impl std::fmt::Display) -> ScimError {
    tracing::error!(error = %e, "SCIM request failed");
    ScimError {
        status: 500,
        scim_type: None,
        detail: "the server could not complete the request".into(),
    }
}

/// A list request: filter, sort and paging, as the query string gives them.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub descending: bool,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    /// Every match, unpaged (POST `/.search` pages Users and Groups together).
    pub unpaged: bool,
}

/// A list answer before it is framed as a ListResponse.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

pub fn parse_filter(q: &ListQuery) -> Result<Option<Filter>, ScimError> {
    q.filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(|f| filter::parse(f).map_err(|e| ScimError::invalid_filter(format!("filter: {e}"))))
        .transpose()
}

/// The sort key of a resource: the attribute's value (its first, for a multi-valued one).
fn sort_key(res: &Value, by: &str) -> String {
    let path = filter::parse_attr_path(by, 0).ok();
    let v = path.and_then(|p| {
        let top = get_ci(res, &p.name)?;
        let top = match top {
            Value::Array(a) => a.first()?,
            v => v,
        };
        match &p.sub {
            Some(s) => get_ci(top, s).cloned(),
            None if top.is_object() => get_ci(top, "value").cloned(),
            None => Some(top.clone()),
        }
    });
    match v {
        Some(Value::String(s)) => s.to_lowercase(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// Filters, sorts and pages resources already in their served form.
pub fn page(all: Vec<Value>, f: Option<&Filter>, q: &ListQuery) -> ListPage {
    let mut hits: Vec<Value> = match f {
        Some(f) => all.into_iter().filter(|r| f.matches(r)).collect(),
        None => all,
    };
    if let Some(by) = &q.sort_by {
        hits.sort_by_cached_key(|r| sort_key(r, by));
        if q.descending {
            hits.reverse();
        }
    }
    let (start, count) = if q.unpaged {
        (1, usize::MAX)
    } else {
        rules::paging(q.start_index, q.count)
    };
    let total = hits.len();
    let resources = hits.into_iter().skip(start - 1).take(count).collect();
    ListPage {
        total,
        start_index: start,
        resources,
    }
}

/// `If-Match` against the resource as served: `*` or its current ETag, else 412.
pub fn check_if_match(current: &Value, if_match: Option<&str>) -> Result<(), ScimError> {
    let Some(want) = if_match.map(str::trim).filter(|w| !w.is_empty()) else {
        return Ok(());
    };
    if want == "*" {
        return Ok(());
    }
    let have = rules::etag(current);
    let strip = |s: &str| s.trim_start_matches("W/").trim_matches('"').to_string();
    if want.split(',').any(|w| strip(w.trim()) == strip(&have)) {
        Ok(())
    } else {
        Err(ScimError::precondition(format!(
            "the resource has changed: its version is {have}"
        )))
    }
}

/// A time as SCIM's `meta` gives it (RFC 3339, milliseconds, UTC).
pub fn meta_time(t: castellan_domain::Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Puts `meta.version` on a resource (after everything else is in place).
pub fn versioned(mut res: Value) -> Value {
    let v = rules::etag(&res);
    if let Some(meta) = res.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("version".into(), Value::String(v));
    }
    res
}
