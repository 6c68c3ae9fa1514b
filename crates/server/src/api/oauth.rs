//! Connecting an automation account through the platform's consent page: the workspace's
//! platform app (client id and sealed secret), the authorization start (a one-time state), and
//! the callback that exchanges the code and seals the tokens in the vault.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use castellan_domain::AutomationAccountId;
use castellan_domain::apps::Platform;
use castellan_domain::audit::Actor;
use castellan_domain::auth::{generate_secret, hash_secret};
use castellan_domain::policy::Action;
use castellan_domain::values::required_text;
use castellan_services::vault::{open_sealed, seal_named};
use castellan_vault::Secret;
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

fn url_field(field: &str, v: &str) -> Result<String, ApiError> {
    Ok(castellan_services::apps::parse_http_url(field, v)?)
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
    let (client_id, authorize_url, token_url) = put(
        &s,
        &caller,
        platform,
        &req.client_id,
        &req.client_secret,
        &req.authorize_url,
        &req.token_url,
    )
    .await?;
    Ok(Json(PlatformAppBody {
        platform: platform.to_string(),
        client_id,
        authorize_url,
        token_url,
    }))
}

/// Stores the workspace's platform app (its secret sealed, write-only). Shared by the API and
/// the web app.
pub async fn put(
    s: &AppState,
    caller: &Caller,
    platform: Platform,
    client_id: &str,
    client_secret: &str,
    authorize_url: &str,
    token_url: &str,
) -> Result<(String, String, String), ApiError> {
    let p = *caller.require(Action::ManageApps)?;
    let client_id = required_text("client_id", client_id, 200)?;
    if client_secret.is_empty() || client_secret.chars().count() > 1024 {
        return Err(ApiError::invalid(
            "client_secret",
            "client_secret must be 1 to 1024 characters",
        ));
    }
    let authorize_url = url_field("authorize_url", authorize_url)?;
    let token_url = url_field("token_url", token_url)?;
    let secret = seal_named(
        &s.env,
        &s.services.vault,
        p.workspace_id,
        "client_secret",
        &Secret::new(client_secret),
    );
    s.store
        .ws(p.workspace_id)
        .put_platform_app(
            &caller.actor(),
            platform,
            &client_id,
            &authorize_url,
            &token_url,
            &secret,
        )
        .await?;
    Ok((client_id, authorize_url, token_url))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OauthStart {
    /// Send the browser here: the platform's consent page.
    pub authorize_url: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

const PINTEREST_SCOPES: &str = "biz_access:read,biz_access:write,ads:read,user_accounts:read";

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Makes a one-use state for `account` (15 minutes) and the platform's authorization URL
/// carrying it. Shared by the API and the web app's wizard.
pub async fn start_consent(
    s: &AppState,
    ws: castellan_domain::WorkspaceId,
    actor: &Actor,
    id: AutomationAccountId,
) -> Result<(String, castellan_domain::Timestamp), ApiError> {
    let scoped = s.store.ws(ws);
    let account = scoped.automation_account(id).await?;
    let app = scoped.platform_app(account.platform).await.map_err(|_| {
        ApiError::invalid(
            "platform",
            format!(
                "set the workspace's {} app first (PUT /api/v1/platform-apps/{})",
                account.platform, account.platform
            ),
        )
    })?;
    let state = s.env.with_rng(|r| generate_secret("", r));
    let redirect = format!(
        "{}/api/v1/oauth/callback",
        s.settings.public_url.trim_end_matches('/')
    );
    let expires_at = s.env.now() + chrono::Duration::minutes(15);
    scoped
        .create_oauth_state(
            actor,
            id,
            account.platform,
            &hash_secret(&state),
            &redirect,
            expires_at,
        )
        .await?;
    let sep = if app.authorize_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let authorize_url = match account.platform {
        Platform::Pinterest => format!(
            "{}{sep}client_id={}&redirect_uri={}&response_type=code&scope={}&state={state}",
            app.authorize_url,
            enc(&app.client_id),
            enc(&redirect),
            enc(PINTEREST_SCOPES)
        ),
        Platform::Tiktok => format!(
            "{}{sep}app_id={}&state={state}&redirect_uri={}",
            app.authorize_url,
            enc(&app.client_id),
            enc(&redirect)
        ),
    };
    Ok((authorize_url, expires_at))
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
}

impl CallbackPage<'_> {
    /// Where to go on: the web app's Apps view.
    fn continue_url(&self) -> &'static str {
        "/apps"
    }
}

fn page(status: axum::http::StatusCode, title: &str, text: &str) -> Response {
    (status, CallbackPage { title, text }).into_response()
}

/// Where the consent page sends the browser back (`code` or `auth_code`, and `state`).
#[utoipa::path(get, path = "/api/v1/oauth/callback", tag = "accounts",
    params(
        ("state" = String, Query, description = "the state Castellan put in the authorization URL"),
        ("code" = Option<String>, Query, description = "Pinterest's authorization code"),
        ("auth_code" = Option<String>, Query, description = "TikTok's authorization code"),
        ("error" = Option<String>, Query, description = "why the platform refused (shown on the page)"),
    ),
    responses((status = 200, description = "HTML: connected"), (status = 400, description = "HTML: the authorization failed"), (status = 404, description = "HTML: no such authorization (unknown, expired or already used)"), (status = 500, description = "HTML: Castellan could not read or store its records")))]
pub async fn oauth_callback(
    State(s): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    use axum::http::StatusCode;
    let Some(state) = q.get("state") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            "The platform sent no state.",
        );
    };
    let found = match s.store.consume_oauth_state(&hash_secret(state)).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            // No such authorization (unknown, expired or used): not found, like any id.
            return page(
                StatusCode::NOT_FOUND,
                "Authorization failed",
                "This authorization expired or was already used; start again.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "oauth callback");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Authorization failed",
                "Castellan could not read its records.",
            );
        }
    };
    let Some(code) = q.get("auth_code").or_else(|| q.get("code")) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Authorization refused",
            &format!(
                "The platform sent no code ({}).",
                q.get("error")
                    .map(String::as_str)
                    .unwrap_or("no reason given")
            ),
        );
    };
    let scoped = s.store.ws(found.workspace_id);
    let tokens = async {
        let app = scoped
            .platform_app(found.platform)
            .await
            .map_err(|e| e.to_string())?;
        let secret = open_sealed(
            &s.services.vault,
            found.workspace_id,
            app.secret.id,
            &app.secret.sealed,
        )
        .map_err(|e| e.to_string())?;
        match found.platform {
            Platform::Pinterest => {
                castellan_connectors::oauth::pinterest_exchange(
                    &app.token_url,
                    &app.client_id,
                    secret.expose(),
                    code,
                    &found.redirect_uri,
                )
                .await
            }
            Platform::Tiktok => {
                castellan_connectors::oauth::tiktok_exchange(
                    &app.token_url,
                    &app.client_id,
                    secret.expose(),
                    code,
                )
                .await
            }
        }
        .map_err(|e| e.to_string())
    }
    .await;
    let tokens = match tokens {
        Ok(t) => t,
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Authorization failed",
                &format!("The code could not be exchanged: {e}"),
            );
        }
    };
    let mut secrets = Vec::new();
    for (name, value) in [
        ("access_token", Some(tokens.access_token.clone())),
        ("refresh_token", tokens.refresh_token.clone()),
    ] {
        if let Some(v) = value {
            secrets.push(seal_named(
                &s.env,
                &s.services.vault,
                found.workspace_id,
                name,
                &Secret::new(v),
            ));
        }
    }
    let expires_at = tokens
        .expires_in
        .map(|e| s.env.now() + chrono::Duration::seconds(e));
    let actor = Actor::Automation {
        name: "oauth".into(),
    };
    if let Err(e) = scoped
        .set_automation_tokens(
            &actor,
            found.automation_account_id,
            &secrets,
            expires_at,
            tokens.scope.as_deref(),
        )
        .await
    {
        tracing::error!(error = %e, "storing tokens");
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Authorization failed",
            "Castellan could not store the tokens.",
        );
    }
    // Apps added in the web app's wizard wait for this token: connect them now.
    let queued = castellan_services::apps::connect_waiting_apps(
        &s.services,
        found.workspace_id,
        &actor,
        found.automation_account_id,
    )
    .await;
    let text = match queued {
        Ok(q) if !q.is_empty() => {
            "The automation account is connected, and Castellan is now connecting its app."
        }
        Ok(_) => "The automation account is connected.",
        Err(e) => {
            tracing::error!(error = %e, "queueing app.connect after consent");
            "The automation account is connected, but its app could not be queued for connecting: run Check for updates on it."
        }
    };
    page(StatusCode::OK, "Connected", text)
}
