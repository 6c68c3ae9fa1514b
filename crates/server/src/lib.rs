//! Castellan's HTTP surface: the JSON API under `/api/v1` (with its OpenAPI document), health
//! and metrics endpoints. Only this crate knows HTTP; the use cases it serves live in
//! `castellan-services`, held in [`AppState`].

pub mod api;
pub mod auth;
pub mod contract;
pub mod error;
pub mod extract;
pub mod scim;
pub mod state;
pub mod web;

use castellan_services::metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use state::{AppState, ServerSettings};

/// Largest JSON body accepted.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// Largest directory import accepted.
pub const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Castellan API", description = "Access governance for paid-social business managers.", license(name = "Apache-2.0")),
    tags(
        (name = "auth", description = "Sign-in, the caller, API tokens"),
        (name = "workspace", description = "The caller's workspace"),
        (name = "people", description = "People of the workspace"),
        (name = "directory", description = "Directory identities and groups"),
        (name = "tasks", description = "Automation tasks"),
        (name = "audit", description = "The activity log"),
        (name = "accounts", description = "Automation accounts and account cards"),
        (name = "apps", description = "App integrations, checks for updates, User Overview"),
        (name = "oidc", description = "Sign-in with the workspace's identity provider (OIDC)"),
        (name = "members", description = "Changing seats on the platform, matches, exemptions, deprovisioning reports, the outbox"),
    ),
    components(schemas(
        error::ErrorBody,
        api::PlatformName,
        api::TabName,
        api::TaskStatusName,
        api::OutcomeName,
        api::ExportFormat,
        api::ScopeName,
        api::WorkspaceRoleName,
        api::AppRoleName,
        api::SecretName,
        api::LoginMethod,
        api::SeatStateName,
        api::AppStatusName,
        api::ChangeAction,
    )),
    modifiers(&SecurityAddon),
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
        openapi.security = Some(vec![
            utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new()),
            utoipa::openapi::security::SecurityRequirement::new("session", Vec::<String>::new()),
        ]);
    }
}

/// Every `/api/v1` route, with its OpenAPI description. The router and the document come from
/// the same list, so the document cannot miss a route.
fn api_router() -> OpenApiRouter<AppState> {
    use api::*;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::list_tokens, auth::create_token))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(
            workspace::get_workspace,
            workspace::update_workspace
        ))
        .routes(routes!(people::list_people, people::create_person))
        .routes(routes!(people::get_person, people::update_person))
        .routes(routes!(
            directory::list_identities,
            directory::create_identity
        ))
        .routes(routes!(
            directory::get_identity,
            directory::replace_identity
        ))
        .routes(routes!(directory::deactivate_identity))
        .routes(routes!(directory::reactivate_identity))
        // Imports take files: a larger body limit on this route only (the inner limit wins).
        .merge(
            OpenApiRouter::new()
                .routes(routes!(directory::import))
                .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .routes(routes!(directory::list_groups, directory::create_group))
        .routes(routes!(
            directory::get_group,
            directory::update_group,
            directory::delete_group
        ))
        .routes(routes!(tasks::list_tasks))
        .routes(routes!(tasks::get_task))
        .routes(routes!(tasks::cancel_task))
        .routes(routes!(audit::list_events))
        .routes(routes!(audit::export))
        .routes(routes!(audit::verify))
        .routes(routes!(
            accounts::list_automation_accounts,
            accounts::create_automation_account
        ))
        .routes(routes!(accounts::get_automation_account))
        .routes(routes!(accounts::reveal))
        .routes(routes!(accounts::list_accounts))
        .routes(routes!(accounts::my_accounts, accounts::add_account))
        .routes(routes!(accounts::connect_account))
        .routes(routes!(accounts::reveal_account))
        .routes(routes!(accounts::list_shares, accounts::share))
        .routes(routes!(accounts::unshare))
        .routes(routes!(accounts::confirm_rotation))
        .routes(routes!(accounts::generate_password))
        .routes(routes!(apps::list_apps, apps::create_app))
        .routes(routes!(apps::get_app, apps::remove_app))
        .routes(routes!(apps::check_app))
        .routes(routes!(apps::reconnect_app))
        .routes(routes!(apps::app_members))
        .routes(routes!(apps::app_assets))
        .routes(routes!(local_partners::list, local_partners::add))
        .routes(routes!(local_partners::get_one))
        .routes(routes!(local_partners::invite))
        .routes(routes!(local_partners::link_native))
        .routes(routes!(local_partners::invite_seat))
        .routes(routes!(local_partners::end))
        .routes(routes!(local_partners::manage_guest))
        .routes(routes!(scim_tokens::list, scim_tokens::create))
        .routes(routes!(scim_tokens::revoke))
        .routes(routes!(oidc::get, oidc::put, oidc::delete))
        .routes(routes!(group_mappings::list, group_mappings::create))
        .routes(routes!(group_mappings::delete))
        .routes(routes!(group_mappings::plan))
        .routes(routes!(group_mappings::apply))
        .routes(routes!(partners::app_partners))
        .routes(routes!(partners::connect_partner))
        .routes(routes!(partners::partner_consent))
        .routes(routes!(partners::stop_sharing))
        .routes(routes!(partners::remove_partner))
        .routes(routes!(partners::disconnect_partner))
        .routes(routes!(access::share_access))
        .routes(routes!(apps::set_rotation))
        .routes(routes!(members::change))
        .routes(routes!(members::match_seat))
        .routes(routes!(members::unmatch_seat))
        .routes(routes!(members::exempt_seat))
        .routes(routes!(members::unexempt_seat))
        .routes(routes!(reports::get_report))
        .routes(routes!(reports::apply_report))
        .routes(routes!(reports::dismiss_report))
        .routes(routes!(members::outbox))
        .routes(routes!(guests::reveal_email))
        .routes(routes!(guests::list_guests, guests::invite_guest))
        .routes(routes!(guests::resend_guest))
        .routes(routes!(guests::revoke_guest))
        .routes(routes!(guests::accept_link))
        .routes(routes!(reports::app_reports))
        .routes(routes!(oauth::put_platform_app))
        .routes(routes!(oauth::oauth_start))
        .routes(routes!(oauth::oauth_callback))
}

/// The OpenAPI document of the API (committed as `openapi.json`; a test checks it is current).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_router().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    contract::complete(&mut doc);
    doc
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let (api, mut doc) = api_router().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    contract::complete(&mut doc);
    let api = api.layer(middleware::from_fn_with_state(
        contract::QueryRules::from_doc(&doc),
        contract::reject_unknown_query,
    ));
    let doc = Arc::new(doc);
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(web::router(state.clone()))
        .nest("/scim/v2", scim::router())
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Unknown routes: JSON under `/api/`, a page in the layout elsewhere.
async fn fallback(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        error::ApiError::NotFound("route".into()).into_response()
    } else {
        web::WebError::NotFound("There is no page at this address.".into()).into_response()
    }
}

async fn readyz(State(s): State<AppState>) -> Response {
    if let Some(w) = &s.worker
        && !w.is_running()
    {
        tracing::warn!("readiness check failed: the worker loop is not running");
        return error::ApiError::WorkerDown.into_response();
    }
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            error::ApiError::Unavailable(e.into()).into_response()
        }
    }
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    if let Ok(counts) = s.store.task_counts().await {
        for status in castellan_domain::tasks::TaskStatus::ALL {
            let n = counts
                .iter()
                .find(|(st, _)| *st == status)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            s.services
                .metrics
                .tasks_by_status
                .get_or_create(&metrics::StatusLabels {
                    status: status.to_string(),
                })
                .set(n);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.services.metrics.render(),
    )
        .into_response()
}

/// Logs each request and counts it in the metrics.
async fn observe(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let mut resp = next.run(req).await;
    let elapsed = started.elapsed();
    // The server's own time, for browsers' developer tools and `castellan bench web`.
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&format!("app;dur={:.2}", elapsed.as_secs_f64() * 1000.0))
    {
        resp.headers_mut().insert("server-timing", v);
    }
    let status = resp.status().as_u16();
    s.services
        .metrics
        .http_requests
        .get_or_create(&metrics::HttpLabels {
            method: method.clone(),
            status,
        })
        .inc();
    s.services
        .metrics
        .http_duration
        .observe(elapsed.as_secs_f64());
    tracing::info!(%method, %path, status, ms = elapsed.as_millis() as u64, "request");
    resp
}

/// Serves until `shutdown` is cancelled, then stops accepting and drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}
