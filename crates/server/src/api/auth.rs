//! Sign-in, sign-out, the caller's own profile and API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use castellan_domain::audit::NewAuditEvent;
use castellan_domain::policy::{Action, AuthMethod};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::people::PersonBody;
use super::workspace::WorkspaceBody;
use crate::auth::{CSRF_COOKIE, Caller, SESSION_COOKIE, session_cookie};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(schema_with = super::schema::email)]
    pub email: String,
    #[schema(schema_with = super::schema::secret_1024_any)]
    pub password: String,
    /// Needed only when the e-mail belongs to people in several workspaces.
    pub workspace: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub person: PersonBody,
    pub workspace: WorkspaceBody,
    /// Send this in the `X-CSRF-Token` header with every cookie-authenticated write.
    pub csrf_token: String,
    pub must_change_password: bool,
}

/// Sign in with e-mail and password; sets an HttpOnly session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let signed =
        crate::auth::sign_in(&s, &req.email, req.password, req.workspace.as_deref()).await?;
    let (person, token, csrf, ttl) = (signed.person, signed.token, signed.csrf, signed.ttl);
    let workspace = s.store.get_workspace(person.workspace_id).await?;
    let body = LoginResponse {
        must_change_password: person.must_change_password,
        person: person.into(),
        workspace: workspace.into(),
        csrf_token: csrf.clone(),
    };
    let max_age = ttl.num_seconds();
    let mut resp = Json(body).into_response();
    let secure = s.settings.secure_cookies;
    resp.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(SESSION_COOKIE, &token, true, max_age, secure),
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(CSRF_COOKIE, &csrf, false, max_age, secure),
    );
    Ok(resp)
}

/// Sign out: ends the browser session (no effect for API tokens).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Action::ReadSelf)?;
    if let Some(h) = &caller.session_hash {
        s.store.delete_session(h).await?;
        s.store
            .ws(caller.ws())
            .audit(NewAuditEvent::success(
                &caller.actor(),
                "session.delete",
                format!("person:{}", caller.principal.person_id),
                serde_json::json!({}),
            ))
            .await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let secure = s.settings.secure_cookies;
    resp.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(SESSION_COOKIE, "", true, 0, secure),
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(CSRF_COOKIE, "", false, 0, secure),
    );
    Ok(resp)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub person: PersonBody,
    pub workspace: WorkspaceBody,
    /// `session` or `token`.
    pub auth_method: String,
    /// For tokens: their scope.
    pub scope: Option<String>,
}

/// The caller's own profile.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn me(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<MeResponse>> {
    let p = caller.require(Action::ReadSelf)?;
    let person = s.store.ws(p.workspace_id).person(p.person_id).await?;
    let workspace = s.store.get_workspace(p.workspace_id).await?;
    let (auth_method, scope) = match p.method {
        AuthMethod::Session => ("session", None),
        AuthMethod::Token { scope, .. } => ("token", Some(scope.to_string())),
    };
    Ok(Json(MeResponse {
        person: person.into(),
        workspace: workspace.into(),
        auth_method: auth_method.into(),
        scope,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(schema_with = super::schema::new_password)]
    pub new_password: String,
}

/// Change one's own password (required after a one-time password).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = ChangePasswordRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "the current password is wrong", body = ErrorBody)))]
pub async fn change_password(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    crate::auth::change_password(&s, &caller, req.current_password, req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    pub id: String,
    pub name: String,
    /// `read`, `write` or `admin`.
    pub scope: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<castellan_store::ApiToken> for TokenBody {
    fn from(t: castellan_store::ApiToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            scope: t.scope.to_string(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    #[schema(schema_with = super::schema::text_100)]
    pub name: String,
    /// `read`, `write` or `admin`.
    #[schema(value_type = super::ScopeName)]
    pub scope: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenBody,
    /// The secret, shown this once. Send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// The caller's API tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", params(super::PageQuery),
    responses((status = 200, body = super::Page<TokenBody>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<super::PageQuery>,
) -> ApiResult<Json<super::Page<TokenBody>>> {
    let p = caller.require(Action::ManageOwnTokens)?;
    let page = s
        .store
        .ws(p.workspace_id)
        .tokens(
            p.person_id,
            super::cursor(&q.cursor)?,
            super::limit(q.limit)?,
        )
        .await?;
    Ok(Json(super::Page::from_store(page, Into::into)))
}

/// Create an API token for oneself; the secret is returned once and stored only hashed.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let (token, secret) = create_token_as(&s, &caller, &req.name, &req.scope).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: token.into(),
            secret,
        }),
    ))
}

/// Creates an API token for the caller; the secret is returned once. Shared by the API and
/// the web app.
pub async fn create_token_as(
    s: &AppState,
    caller: &Caller,
    name: &str,
    scope: &str,
) -> Result<(castellan_store::ApiToken, String), ApiError> {
    let p = *caller.require(Action::ManageOwnTokens)?;
    Ok(castellan_services::people::create_token(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        p.person_id,
        name,
        scope,
    )
    .await?)
}

/// Revoke one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", params(("id" = String, Path, description = "token id")),
    responses((status = 200, body = TokenBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::TokenId>,
) -> ApiResult<Json<TokenBody>> {
    let p = *caller.require(Action::ManageOwnTokens)?;
    Ok(Json(
        castellan_services::people::revoke_token(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            p.person_id,
            id,
        )
        .await?
        .into(),
    ))
}
