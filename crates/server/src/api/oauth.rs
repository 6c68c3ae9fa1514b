//! Connecting an automation account through the platform's consent page: the workspace's
//! platform app (client id and sealed secret), the authorization start (a one-time state), and
//! the callback's page; the use cases are `castellan_services::oauth`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use castellan_domain::AutomationAccountId;
use castellan_domain::apps::Platform;
use castellan_domain::audit::Actor;
use castellan_domain::policy::Action;
use castellan_services::oauth::{PlatformAppFields, PlatformAppInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::PlatformName;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::extract::PathId;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformAppRequest {
    /// Pinterest app id, or TikTok app_id.
    #[schema(schema_with = super::schema::text_200)]
    pub client_id: String,
    #[schema(schema_with = super::schema::secret_1024)]
    pub client_secret: String,
    /// The consent page, e.g. `https://www.pinterest.com/oauth/` or `https://business-api.tiktok.com/portal/auth`.
    #[schema(schema_with = super::schema::http_url)]
    pub authorize_url: String,
    /// The token endpoint, e.g. `https://api.pinterest.com/v5/oauth/token`.
    #[schema(schema_with = super::schema::http_url)]
    pub token_url: String,
}

impl std::fmt::Debug for PlatformAppRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformAppRequest")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformAppBody {
    pub platform: String,
    pub client_id: String,
    pub authorize_url: String,
    pub token_url: String,
}

/// Set the workspace's OAuth app for a platform (the secret is sealed in the vault).
#[utoipa::path(put, path = "/api/v1/platform-apps/{platform}", tag = "apps", params(("platform" = PlatformName, Path, description = "pinterest or tiktok")), request_body = PlatformAppRequest,
    responses((status = 200, body = PlatformAppBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_platform_app(
    State(s): State<AppState>,
    caller: Caller,
    Path(platform): Path<String>,
    ApiJson(req): ApiJson<PlatformAppRequest>,
) -> ApiResult<Json<PlatformAppBody>> {
    let platform = Platform::parse("platform", &platform)?;
    let saved = put(
        &s,
        &caller,
        platform,
        PlatformAppInput {
            client_id: &req.client_id,
            client_secret: &req.client_secret,
            authorize_url: &req.authorize_url,
            token_url: &req.token_url,
        },
    )
    .await?;
    Ok(Json(PlatformAppBody {
        platform: platform.to_string(),
        client_id: saved.client_id,
        authorize_url: saved.authorize_url,
        token_url: saved.token_url,
    }))
}

/// Stores the workspace's platform app (its secret sealed, write-only). Shared by the API and
/// the web app.
pub async fn put(
    s: &AppState,
    caller: &Caller,
    platform: Platform,
    input: PlatformAppInput<'_>,
) -> Result<PlatformAppFields, ApiError> {
    let p = *caller.require(Action::ManageApps)?;
    Ok(castellan_services::oauth::put_platform_app(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        platform,
        input,
    )
    .await?)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OauthStart {
    /// Send the browser here: the platform's consent page.
    pub authorize_url: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Makes a one-use state for `account` and the platform's authorization URL carrying it.
/// Shared by the API and the web app's wizard.
pub async fn start_consent(
    s: &AppState,
    ws: castellan_domain::WorkspaceId,
    actor: &Actor,
    id: AutomationAccountId,
) -> Result<(String, castellan_domain::Timestamp), ApiError> {
    Ok(
        castellan_services::oauth::start_consent(
            &s.services,
            ws,
            actor,
            id,
            &s.settings.public_url,
        )
        .await?,
    )
}

/// The authorization URL alone (the web app links to it).
pub async fn authorize_url(
    s: &AppState,
    ws: castellan_domain::WorkspaceId,
    actor: &Actor,
    id: AutomationAccountId,
) -> Result<String, ApiError> {
    Ok(start_consent(s, ws, actor, id).await?.0)
}

/// Start connecting an automation account through the platform's consent page.
#[utoipa::path(post, path = "/api/v1/automation-accounts/{id}/oauth/start", tag = "accounts", params(("id" = String, Path, description = "automation account id")),
    responses((status = 200, body = OauthStart), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn oauth_start(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AutomationAccountId>,
) -> ApiResult<Json<OauthStart>> {
    let p = *caller.require(Action::ManageAutomationAccounts)?;
    let (authorize_url, expires_at) =
        start_consent(&s, p.workspace_id, &caller.actor(), id).await?;
    Ok(Json(OauthStart {
        authorize_url,
        expires_at,
    }))
}

/// The page the browser lands on after the platform's consent page. Everything in it is
/// escaped by the template engine: `text` can carry what the platform put in the query.
#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "oauth_callback.html")]
struct CallbackPage<'a> {
    title: &'a str,
    text: &'a str,
    /// Where to go on: the web app's Apps view, or the Partners tab of a partner's app.
    next: String,
}

impl CallbackPage<'_> {
    fn continue_url(&self) -> &str {
        &self.next
    }
}

fn page(status: axum::http::StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        CallbackPage {
            title,
            text,
            next: "/apps".into(),
        },
    )
        .into_response()
}

/// Where the consent page sends the browser back (`code` or `auth_code`, and `state`).
#[utoipa::path(get, path = "/api/v1/oauth/callback", tag = "accounts",
    params(
        ("state" = String, Query, description = "the state Castellan put in the authorization URL"),
        ("code" = Option<String>, Query, description = "Pinterest's authorization code"),
        ("auth_code" = Option<String>, Query, description = "TikTok's authorization code"),
        ("error" = Option<String>, Query, description = "why the platform refused (shown on the page)"),
    ),
    responses((status = 200, description = "HTML: connected"), (status = 303, description = "a native partner connected: to its app's Partners tab"), (status = 409, description = "HTML: the account is connected, but the partner it was for could not be"), (status = 400, description = "HTML: the authorization failed"), (status = 404, description = "HTML: no such authorization (unknown, expired or already used)"), (status = 500, description = "HTML: Castellan could not read or store its records")))]
pub async fn oauth_callback(
    State(s): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    use axum::http::StatusCode;
    use castellan_services::oauth::{ConsentError, ConsentReply, Consented};
    let reply = ConsentReply {
        state: q.get("state").map(String::as_str),
        code: q
            .get("auth_code")
            .or_else(|| q.get("code"))
            .map(String::as_str),
        error: q.get("error").map(String::as_str),
    };
    match castellan_services::oauth::complete_consent(&s.services, reply).await {
        // A partner connected through the consent page: back to its app's Partners tab, with
        // the success message, as the seeds tell it.
        Ok(Consented::PartnerConnected { app, name, warning }) => crate::web::with_flash(
            axum::response::Redirect::to(&format!("/apps/{app}/partners")).into_response(),
            crate::web::apps::partners::connected_flash(&name, warning),
        ),
        Ok(done) => {
            let text = match done {
                Consented::ConnectingApps => {
                    "The automation account is connected, and Castellan is now connecting its app."
                }
                Consented::Connected => "The automation account is connected.",
                Consented::AppsNotQueued => {
                    "The automation account is connected, but its app could not be queued for connecting: run Check for updates on it."
                }
                Consented::PartnerConnected { .. } => unreachable!("answered above"),
            };
            page(StatusCode::OK, "Connected", text)
        }
        Err(ConsentError::Partner(app, why)) => (
            StatusCode::CONFLICT,
            CallbackPage {
                title: "Partner not connected",
                text: &format!("The account is connected, but not the partner: {why}"),
                next: format!("/apps/{app}/partners"),
            },
        )
            .into_response(),
        Err(e) => {
            let (status, title) = match &e {
                ConsentError::NoState | ConsentError::Exchange(_) => {
                    (StatusCode::BAD_REQUEST, "Authorization failed")
                }
                ConsentError::Refused(_) => (StatusCode::BAD_REQUEST, "Authorization refused"),
                ConsentError::Unknown => (StatusCode::NOT_FOUND, "Authorization failed"),
                ConsentError::Partner(..) => unreachable!("answered above"),
                ConsentError::Read(inner) | ConsentError::Store(inner) => {
                    tracing::error!(error = %inner, "oauth callback");
                    (StatusCode::INTERNAL_SERVER_ERROR, "Authorization failed")
                }
            };
            page(status, title, &e.to_string())
        }
    }
}
