//! Building an app's connector: the platform's client with the automation account's token
//! from the vault (refreshed tokens sealed back), and the short budget of a connection check.

use std::sync::Arc;

use castellan_connectors::{
    HttpConfig, PinterestConfig, PinterestConnector, TiktokConfig, TiktokConnector,
};
use castellan_domain::WorkspaceId;
use castellan_domain::apps::Platform;
use castellan_domain::audit::Actor;
use castellan_domain::platform::Connector;
use castellan_domain::tasks::TaskFailure;
use castellan_store::{App, Store};
use castellan_vault::{Secret, SharedKeyring};

use crate::Services;
use crate::error::TaskResult;
use crate::vault::{open_sealed, seal_named};

/// Builds the connector of an app, with the automation account's token from the vault.
pub async fn connector_for(
    svc: &Services,
    ws: WorkspaceId,
    app: &App,
) -> Result<Box<dyn Connector>, TaskFailure> {
    let store = &svc.store;
    let scoped = store.ws(ws);
    let secret = scoped.automation_secret(app.automation_account_id, "access_token").await.map_err(|_| TaskFailure::Permanent("the automation account has no platform token yet: connect it through OAuth or paste a token".into()))?;
    let token = open_sealed(&svc.vault, ws, secret.id, &secret.sealed).task()?;
    let refresh = match scoped
        .automation_secret(app.automation_account_id, "refresh_token")
        .await
    {
        Ok(s) => open_sealed(&svc.vault, ws, s.id, &s.sealed)
            .ok()
            .map(|r| r.expose().to_string()),
        Err(_) => None,
    };
    // With the workspace's Pinterest app and a refresh token, an expired access token is
    // refreshed during the fetch and the new tokens are sealed back into the vault.
    let (pinterest_app, on_refresh) =
        match (app.platform, scoped.platform_app(Platform::Pinterest).await) {
            (Platform::Pinterest, Ok(pa)) => {
                let secret = open_sealed(&svc.vault, ws, pa.secret.id, &pa.secret.sealed).task()?;
                (
                    Some((pa.client_id.clone(), secret.expose().to_string())),
                    Some(refresh_hook(
                        store.clone(),
                        svc.vault.clone(),
                        ws,
                        app.automation_account_id,
                    )),
                )
            }
            _ => (None, None),
        };
    let http = HttpConfig {
        rate_per_sec: svc
            .rates
            .for_platform(app.platform)
            .unwrap_or(svc.http.rate_per_sec),
        ..svc.http.clone()
    };
    let c: Box<dyn Connector> = match app.platform {
        Platform::Pinterest => Box::new(
            PinterestConnector::new(PinterestConfig {
                base_url: app
                    .api_base_url
                    .clone()
                    .unwrap_or_else(|| castellan_connectors::pinterest::DEFAULT_BASE_URL.into()),
                business_id: app.business_id.clone(),
                access_token: token.expose().to_string(),
                refresh_token: refresh,
                app: pinterest_app,
                http: http.clone(),
                on_refresh,
            })
            .task()?,
        ),
        Platform::Tiktok => Box::new(
            TiktokConnector::new(TiktokConfig {
                base_url: app
                    .api_base_url
                    .clone()
                    .unwrap_or_else(|| castellan_connectors::tiktok::DEFAULT_BASE_URL.into()),
                bc_id: app.business_id.clone(),
                access_token: token.expose().to_string(),
                http,
                per_member_limit: 2000,
            })
            .task()?,
        ),
    };
    Ok(c)
}

/// Seals refreshed tokens into the vault (in the background: the hook is called mid-fetch).
fn refresh_hook(
    store: Store,
    vault: Arc<SharedKeyring>,
    ws: WorkspaceId,
    account: castellan_domain::AutomationAccountId,
) -> castellan_connectors::pinterest::RefreshHook {
    Arc::new(move |access: &str, refresh: &str, expires_in: i64| {
        let secrets: Vec<castellan_store::SealedSecret> =
            [("access_token", access), ("refresh_token", refresh)]
                .into_iter()
                .map(|(name, value)| seal_named(store.env(), &vault, ws, name, &Secret::new(value)))
                .collect();
        let expires =
            (expires_in > 0).then(|| store.env().now() + chrono::Duration::seconds(expires_in));
        let store = store.clone();
        tokio::spawn(async move {
            let actor = Actor::Automation {
                name: "token-refresh".into(),
            };
            if let Err(e) = store
                .ws(ws)
                .set_automation_tokens(&actor, account, &secrets, expires, None)
                .await
            {
                tracing::error!(error = %e, "storing refreshed tokens failed");
            }
        });
    })
}

/// The connection check asks once or twice and gives up within seconds: a wrong or unreachable
/// address shows as *Connection failing* with the reason, not as *Connecting* for minutes
/// (the checks for updates keep the patient retries).
pub(crate) fn connection_check_http(http: &HttpConfig) -> HttpConfig {
    HttpConfig {
        timeout: http.timeout.min(std::time::Duration::from_secs(10)),
        max_retries: http.max_retries.min(2),
        backoff_base: http.backoff_base.min(std::time::Duration::from_millis(500)),
        backoff_max: http.backoff_max.min(std::time::Duration::from_secs(2)),
        ..http.clone()
    }
}
