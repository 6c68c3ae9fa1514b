//! Connecting an automation account through the platform's consent page: the workspace's
//! platform app (client id and sealed secret), the authorization start (a one-time state, 15
//! minutes), and the callback's use case: consume the state, exchange the code, seal the tokens
//! and connect the apps that waited for them.

use castellan_domain::apps::Platform;
use castellan_domain::audit::Actor;
use castellan_domain::auth::{generate_secret, hash_secret};
use castellan_domain::values::required_text;
use castellan_domain::{AppId, AutomationAccountId, FieldError, Timestamp, WorkspaceId};
use castellan_vault::Secret;

use crate::Services;
use crate::apps::{connect_waiting_apps, parse_http_url};
use crate::error::ServiceError;
use crate::vault::{open_sealed, seal_named};

/// A workspace's platform app as a person enters it.
#[derive(Debug, Clone, Copy)]
pub struct PlatformAppInput<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub authorize_url: &'a str,
    pub token_url: &'a str,
}

/// The stored platform app's public fields: client id, consent page and token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAppFields {
    pub client_id: String,
    pub authorize_url: String,
    pub token_url: String,
}

/// Stores the workspace's platform app, its secret sealed (write-only).
pub async fn put_platform_app(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    platform: Platform,
    input: PlatformAppInput<'_>,
) -> Result<PlatformAppFields, ServiceError> {
    let client_id = required_text("client_id", input.client_id, 200)?;
    if input.client_secret.is_empty() || input.client_secret.chars().count() > 1024 {
        return Err(FieldError::new(
            "client_secret",
            "client_secret must be 1 to 1024 characters",
        )
        .into());
    }
    let authorize_url = parse_http_url("authorize_url", input.authorize_url)?;
    let token_url = parse_http_url("token_url", input.token_url)?;
    let secret = seal_named(
        svc.store.env(),
        &svc.vault,
        ws,
        "client_secret",
        &Secret::new(input.client_secret),
    );
    svc.store
        .ws(ws)
        .put_platform_app(
            actor,
            platform,
            &client_id,
            &authorize_url,
            &token_url,
            &secret,
        )
        .await?;
    Ok(PlatformAppFields {
        client_id,
        authorize_url,
        token_url,
    })
}

const PINTEREST_SCOPES: &str = "biz_access:read,biz_access:write,ads:read,user_accounts:read";
/// A partner's monitor account only reads the partner's business: it is asked for no more.
const PINTEREST_READ_SCOPES: &str = "biz_access:read,ads:read,user_accounts:read";

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The path of the callback under the public URL.
pub const CALLBACK_PATH: &str = "/api/v1/oauth/callback";

/// Makes a one-use state for `id` (15 minutes) and the platform's authorization URL carrying
/// it; the platform sends the browser back to `public_url` + [`CALLBACK_PATH`].
pub async fn start_consent(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: AutomationAccountId,
    public_url: &str,
) -> Result<(String, Timestamp), ServiceError> {
    start_consent_for(svc, ws, actor, id, public_url, None).await
}

/// As [`start_consent`], and once the token is back, connects `partner` of `app` through
/// the account (TikTok's *Grant access*, or a Pinterest monitor account without a token).
pub(crate) async fn start_consent_for(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: AutomationAccountId,
    public_url: &str,
    partner: Option<(AppId, &str)>,
) -> Result<(String, Timestamp), ServiceError> {
    let env = svc.store.env();
    let scoped = svc.store.ws(ws);
    let account = scoped.automation_account(id).await?;
    let app = scoped.platform_app(account.platform).await.map_err(|_| {
        FieldError::new(
            "platform",
            format!(
                "set the workspace's {} app first (PUT /api/v1/platform-apps/{})",
                account.platform, account.platform
            ),
        )
    })?;
    let state = env.with_rng(|r| generate_secret("", r));
    let redirect = format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/'));
    let expires_at = env.now() + chrono::Duration::minutes(15);
    scoped
        .create_oauth_state(
            actor,
            id,
            account.platform,
            &hash_secret(&state),
            &redirect,
            expires_at,
            partner,
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
            enc(if partner.is_some() {
                PINTEREST_READ_SCOPES
            } else {
                PINTEREST_SCOPES
            })
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

/// What the platform put in the callback's query.
#[derive(Debug, Clone, Default)]
pub struct ConsentReply<'a> {
    pub state: Option<&'a str>,
    /// `code` (Pinterest) or `auth_code` (TikTok).
    pub code: Option<&'a str>,
    /// Why the platform refused, when it did.
    pub error: Option<&'a str>,
}

/// How a completed consent ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consented {
    /// Connected; no app was waiting for the token.
    Connected,
    /// Connected, and the apps that waited for the token are being connected.
    ConnectingApps,
    /// Connected, but the waiting apps could not be queued.
    AppsNotQueued,
    /// Connected, and through it the native partner the consent was started for.
    PartnerConnected {
        app: AppId,
        name: String,
        /// What the seeds recommend and was not found (no guest user).
        warning: Option<String>,
    },
}

/// Why a consent did not complete. Each says what the person sees.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("The platform sent no state.")]
    NoState,
    /// Unknown, expired or used: not found, like any id.
    #[error("This authorization expired or was already used; start again.")]
    Unknown,
    #[error("The platform sent no code ({0}).")]
    Refused(String),
    #[error("The code could not be exchanged: {0}")]
    Exchange(String),
    #[error("Castellan could not read its records.")]
    Read(#[source] ServiceError),
    #[error("Castellan could not store the tokens.")]
    Store(#[source] ServiceError),
    /// The token is stored, but the partner it was for could not be connected with it.
    #[error("The account is connected, but not the partner: {1}")]
    Partner(AppId, String),
}

/// The callback's use case: consume the one-time state, exchange the code with the workspace's
/// platform app, seal the tokens for the automation account, and connect the apps that waited
/// for them (the web app's wizard adds apps before the consent).
pub async fn complete_consent(
    svc: &Services,
    reply: ConsentReply<'_>,
) -> Result<Consented, ConsentError> {
    let state = reply.state.ok_or(ConsentError::NoState)?;
    let found = svc
        .store
        .consume_oauth_state(&hash_secret(state))
        .await
        .map_err(|e| ConsentError::Read(e.into()))?
        .ok_or(ConsentError::Unknown)?;
    let code = reply.code.ok_or_else(|| {
        ConsentError::Refused(reply.error.unwrap_or("no reason given").to_string())
    })?;
    let scoped = svc.store.ws(found.workspace_id);
    let exchange = async {
        let app = scoped
            .platform_app(found.platform)
            .await
            .map_err(|e| e.to_string())?;
        let secret = open_sealed(
            &svc.vault,
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
    };
    let tokens = exchange.await.map_err(ConsentError::Exchange)?;
    let env = svc.store.env();
    let mut secrets = Vec::new();
    for (name, value) in [
        ("access_token", Some(tokens.access_token.clone())),
        ("refresh_token", tokens.refresh_token.clone()),
    ] {
        if let Some(v) = value {
            secrets.push(seal_named(
                env,
                &svc.vault,
                found.workspace_id,
                name,
                &Secret::new(v),
            ));
        }
    }
    let expires_at = tokens
        .expires_in
        .map(|e| env.now() + chrono::Duration::seconds(e));
    let actor = Actor::Automation {
        name: "oauth".into(),
    };
    scoped
        .set_automation_tokens(
            &actor,
            found.automation_account_id,
            &secrets,
            expires_at,
            tokens.scope.as_deref(),
        )
        .await
        .map_err(|e| ConsentError::Store(e.into()))?;
    if let Some((app, partner)) = &found.partner {
        return match crate::partners::connect_partner(
            svc,
            found.workspace_id,
            &actor,
            *app,
            partner,
            found.automation_account_id,
        )
        .await
        {
            Ok(done) => Ok(Consented::PartnerConnected {
                app: *app,
                name: done.partner.name.clone().unwrap_or_else(|| partner.clone()),
                warning: done.warning,
            }),
            Err(e) => Err(ConsentError::Partner(*app, e.to_string())),
        };
    }
    match connect_waiting_apps(svc, found.workspace_id, &actor, found.automation_account_id).await {
        Ok(q) if !q.is_empty() => Ok(Consented::ConnectingApps),
        Ok(_) => Ok(Consented::Connected),
        Err(e) => {
            tracing::error!(error = %e, "queueing app.connect after consent");
            Ok(Consented::AppsNotQueued)
        }
    }
}
