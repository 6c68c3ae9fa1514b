//! SCIM tokens: the bearer tokens an identity provider provisions the directory with at
//! `/scim/v2`. Made by Admins and Owners (with an admin-scoped API token), shown once, stored
//! hashed, named, revocable, their last use recorded.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::ScimTokenId;
use castellan_domain::policy::Action;
use castellan_services::local_partners::Acting;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ScimTokenBody {
    pub id: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<castellan_store::scim::ScimToken> for ScimTokenBody {
    fn from(t: castellan_store::scim::ScimToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScimTokenRequest {
    /// Which IdP connection uses it (say, "Okta production").
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedScimToken {
    pub token: ScimTokenBody,
    /// The bearer token, shown this once.
    pub secret: String,
    /// The SCIM base URL to give the IdP.
    pub base_url: String,
}

fn acting(caller: &Caller) -> Acting {
    Acting {
        person: caller.principal.person_id,
        role: caller.principal.role,
    }
}

/// The workspace's SCIM tokens, newest first (revoked ones marked).
#[utoipa::path(get, path = "/api/v1/scim/tokens", tag = "scim",
    responses((status = 200, body = Vec<ScimTokenBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ScimTokenBody>>> {
    let p = *caller.require(Action::ManageScimTokens)?;
    let all =
        castellan_services::scim::tokens(&s.services, p.workspace_id, acting(&caller)).await?;
    Ok(Json(all.into_iter().map(Into::into).collect()))
}

/// Make a SCIM token; its secret is returned once.
#[utoipa::path(post, path = "/api/v1/scim/tokens", tag = "scim", request_body = CreateScimTokenRequest,
    responses((status = 201, body = CreatedScimToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateScimTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedScimToken>)> {
    let p = *caller.require(Action::ManageScimTokens)?;
    let (token, secret) = castellan_services::scim::create_token(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        acting(&caller),
        &req.name,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedScimToken {
            token: token.into(),
            secret,
            base_url: scim_base(&s),
        }),
    ))
}

/// The SCIM base URL an IdP is given.
pub fn scim_base(s: &AppState) -> String {
    format!("{}/scim/v2", s.settings.public_url.trim_end_matches('/'))
}

/// Revoke a SCIM token: the IdP's next request with it is refused (401).
#[utoipa::path(delete, path = "/api/v1/scim/tokens/{id}", tag = "scim", params(("id" = String, Path, description = "SCIM token id")),
    responses((status = 200, body = ScimTokenBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<ScimTokenId>,
) -> ApiResult<Json<ScimTokenBody>> {
    let p = *caller.require(Action::ManageScimTokens)?;
    Ok(Json(
        castellan_services::scim::revoke_token(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            acting(&caller),
            id,
        )
        .await?
        .into(),
    ))
}
