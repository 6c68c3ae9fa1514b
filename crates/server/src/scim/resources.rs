//! The Users and Groups endpoints: list (filter, sort, page), create, read, replace, patch and
//! delete, each through `services::scim_users` / `services::scim_groups`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use castellan_services::{scim_groups as groups, scim_users as users};

use super::wire::{
    Failure, Params, Scim, ScimResult, base, body, fetched, if_match, list, resource,
};
use crate::state::AppState;

/// Runs a change to completion even when the IdP hangs up mid-request (its timeout, a
/// restart): a write is never cut off inside its transaction, and a retry finds it done.
async fn detached<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T, castellan_domain::scim::ScimError>> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::spawn(f).await {
        Ok(r) => r.map_err(Failure),
        Err(e) => Err(Failure(castellan_services::scim::internal(e))),
    }
}

pub async fn list_users(State(s): State<AppState>, Scim(c): Scim, p: Params) -> ScimResult {
    let page = users::list(&s.services, &c, &base(&s), &p.list()?).await?;
    Ok(list(page, &p))
}

pub async fn create_user(
    State(s): State<AppState>,
    Scim(c): Scim,
    p: Params,
    b: Bytes,
) -> ScimResult {
    let (svc, base, doc) = (s.services.clone(), base(&s), body(&b)?);
    let v = detached(async move { users::create(&svc, &c, &base, &doc).await }).await?;
    Ok(resource(StatusCode::CREATED, &v, &p))
}

pub async fn get_user(
    State(s): State<AppState>,
    Scim(c): Scim,
    Path(id): Path<String>,
    p: Params,
    h: HeaderMap,
) -> ScimResult {
    let v = users::get(&s.services, &c, &base(&s), &id).await?;
    Ok(fetched(&v, &p, &h))
}

pub async fn put_user(
    State(s): State<AppState>,
    Scim(c): Scim,
    Path(id): Path<String>,
    p: Params,
    h: HeaderMap,
    b: Bytes,
) -> ScimResult {
    let (svc, base, doc, m) = (s.services.clone(), base(&s), body(&b)?, if_match(&h));
    let v = detached(async move { users::replace(&svc, &c, &base, &id, &doc, m.as_deref()).await })
        .await?;
    Ok(resource(StatusCode::OK, &v, &p))
}

pub async fn patch_user(
    State(s): State<AppState>,
    Scim(c): Scim,
    Path(id): Path<String>,
    p: Params,
    h: HeaderMap,
    b: Bytes,
) -> ScimResult {
    let (svc, base, doc, m) = (s.services.clone(), base(&s), body(&b)?, if_match(&h));
    let v = detached(async move { users::patch(&svc, &c, &base, &id, &doc, m.as_deref()).await })
        .await?;
    Ok(resource(StatusCode::OK, &v, &p))
}

pub async fn delete_user(
    State(s): State<AppState>,
    Scim(c): Scim,
    Path(id): Path<String>,
    h: HeaderMap,
) -> ScimResult {
    let (svc, base, m) = (s.services.clone(), base(&s), if_match(&h));
    detached(async move { users::delete(&svc, &c, &base, &id, m.as_deref()).await }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_groups(State(s): State<AppState>, Scim(c): Scim, p: Params) -> ScimResult {
    let page = groups::list(&s.services, &c, &base(&s), &p.list()?).await?;
    Ok(list(page, &p))
}

pub async fn create_group(
    State(s): State<AppState>,
    Scim(c): Scim,
    p: Params,
    b: Bytes,
) -> ScimResult {
    let (svc, base, doc) = (s.services.clone(), base(&s), body(&b)?);
    let v = detached(async move { groups::create(&svc, &c, &base, &doc).await }).await?;
    Ok(resource(StatusCode::CREATED, &v, &p))
}

pub async fn get_group(
    State(s): State<AppState>,
    Scim(c): Scim,
    Path(id): Path<String>,
    p: Params,
    h: HeaderMap,
) -> ScimResult {
    let v = groups::get(&s.services, &c, &base(&s), &id).await?;
    Ok(fetched(&v, &p, &h))
}

pub async fn put_group(
    State(s): State<AppState>,
    Scim(c): Scim,
    Path(id): Path<String>,
    p: Params,
    h: HeaderMap,
    b: Bytes,
) -> ScimResult {
    let (svc, base, doc, m) = (s.services.clone(), base(&s), body(&b)?, if_match(&h));
    let v =
        detached(async move { groups::replace(&svc, &c, &base, &id, &doc, m.as_deref()).await })
            .await?;
    Ok(resource(StatusCode::OK, &v, &p))
}

/// 200 with the group (RFC 7644 §3.5.2 allows it; Okta and Entra accept it).
pub async fn patch_group(
    State(s): State<AppState>,
    Scim(c): Scim,
    Path(id): Path<String>,
    p: Params,
    h: HeaderMap,
    b: Bytes,
) -> ScimResult {
    let (svc, base, doc, m) = (s.services.clone(), base(&s), body(&b)?, if_match(&h));
    let v = detached(async move { groups::patch(&svc, &c, &base, &id, &doc, m.as_deref()).await })
        .await?;
    Ok(resource(StatusCode::OK, &v, &p))
}

pub async fn delete_group(
    State(s): State<AppState>,
    Scim(c): Scim,
    Path(id): Path<String>,
    h: HeaderMap,
) -> ScimResult {
    let (svc, base, m) = (s.services.clone(), base(&s), if_match(&h));
    detached(async move { groups::delete(&svc, &c, &base, &id, m.as_deref()).await }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST `/Users/.search`: the query in the body.
pub async fn search_users(State(s): State<AppState>, Scim(c): Scim, b: Bytes) -> ScimResult {
    let p = Params::from_search(&body(&b)?)?;
    let page = users::list(&s.services, &c, &base(&s), &p.list()?).await?;
    Ok(list(page, &p))
}

/// POST `/Groups/.search`.
pub async fn search_groups(State(s): State<AppState>, Scim(c): Scim, b: Bytes) -> ScimResult {
    let p = Params::from_search(&body(&b)?)?;
    let page = groups::list(&s.services, &c, &base(&s), &p.list()?).await?;
    Ok(list(page, &p))
}

/// POST `/.search`: Users then Groups, filtered, sorted and paged as one list.
pub async fn search_all(State(s): State<AppState>, Scim(c): Scim, b: Bytes) -> ScimResult {
    let p = Params::from_search(&body(&b)?)?;
    let q = p.list()?;
    let everything = castellan_services::scim::ListQuery {
        unpaged: true,
        ..q.clone()
    };
    let base = base(&s);
    let mut all = users::list(&s.services, &c, &base, &everything)
        .await?
        .resources;
    all.extend(
        groups::list(&s.services, &c, &base, &everything)
            .await?
            .resources,
    );
    let unpaged = castellan_services::scim::ListQuery { filter: None, ..q };
    Ok(list(
        castellan_services::scim::page(all, None, &unpaged),
        &p,
    ))
}
