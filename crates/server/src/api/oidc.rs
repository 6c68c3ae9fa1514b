//! OIDC sign-in settings: the workspace's identity provider (issuer, client, allowed e-mail
//! domains, groups claim, passwords for Owners only). Owners set them (an admin-scoped token);
//! Admins read them. The client secret is write-only: answers say only whether one is held.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::policy::Action;
use castellan_services::oidc::{OidcInput, OidcView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct OidcBody {
    /// The IdP's name on the sign-in page's button ("Sign in with Okta").
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    /// Whether a client secret is held (it is never returned).
    pub client_secret_set: bool,
    /// E-mail domains admitted; empty admits every domain of the directory.
    pub allowed_domains: Vec<String>,
    pub groups_claim: Option<String>,
    /// Local passwords refused for everyone but Owners and guest users.
    pub passwords_owners_only: bool,
    pub enabled: bool,
    /// The redirect URI to register at the IdP.
    pub redirect_uri: String,
}

impl From<OidcView> for OidcBody {
    fn from(v: OidcView) -> Self {
        Self {
            display_name: v.settings.display_name,
            issuer: v.settings.issuer,
            client_id: v.settings.client_id,
            client_secret_set: v.client_secret_set,
            allowed_domains: v.settings.allowed_domains,
            groups_claim: v.settings.groups_claim,
            passwords_owners_only: v.settings.passwords_owners_only,
            enabled: v.settings.enabled,
            redirect_uri: v.redirect_uri,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOidcRequest {
    pub display_name: String,
    /// `https://…` (or `http://` on loopback), exactly as the IdP's discovery document says.
    pub issuer: String,
    pub client_id: String,
    /// Required the first time; omitted or empty keeps the one held.
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    #[serde(default)]
    pub groups_claim: Option<String>,
    #[serde(default)]
    pub passwords_owners_only: bool,
    /// Defaults to true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The workspace's OIDC sign-in settings (404 when none).
#[utoipa::path(get, path = "/api/v1/oidc", tag = "oidc",
    responses((status = 200, body = OidcBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<OidcBody>> {
    let p = *caller.require(Action::ReadSignIn)?;
    castellan_services::oidc::settings(&s.services, p.workspace_id, p.role)
        .await?
        .map(|v| Json(v.into()))
        .ok_or(ApiError::NotFound("OIDC configuration".into()))
}

/// Set the workspace's OIDC sign-in (Owners).
#[utoipa::path(put, path = "/api/v1/oidc", tag = "oidc", request_body = PutOidcRequest,
    responses((status = 200, body = OidcBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PutOidcRequest>,
) -> ApiResult<Json<OidcBody>> {
    let p = *caller.require(Action::ConfigureSignIn)?;
    let input = OidcInput {
        display_name: req.display_name,
        issuer: req.issuer,
        client_id: req.client_id,
        client_secret: req.client_secret,
        allowed_domains: req.allowed_domains.join(","),
        groups_claim: req.groups_claim.unwrap_or_default(),
        passwords_owners_only: req.passwords_owners_only,
        enabled: req.enabled.unwrap_or(true),
    };
    let v = castellan_services::oidc::configure(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        p.role,
        &input,
    )
    .await?;
    Ok(Json(v.into()))
}

/// Remove OIDC sign-in (Owners); passwords work again for everyone.
#[utoipa::path(delete, path = "/api/v1/oidc", tag = "oidc",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(State(s): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    let p = *caller.require(Action::ConfigureSignIn)?;
    castellan_services::oidc::remove(&s.services, p.workspace_id, &caller.actor(), p.role).await?;
    Ok(StatusCode::NO_CONTENT)
}
