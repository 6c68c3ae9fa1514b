//! The web app: server-rendered pages (askama templates in `templates/web/`) with htmx
//! fragments, on the same listener as the API and built on the same services. One view-model
//! type per page; fragments are template blocks; no SQL and no JSON in templates. Every unsafe
//! request passes the CSRF guard ([`guard`]); every response carries the security headers.

pub mod accounts;
pub mod activity;
pub mod apps;
pub mod assets;
pub mod automation;
pub mod directory;
pub mod guests;
pub mod members;
pub mod settings;
pub mod signin;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use castellan_domain::auth::hash_secret;
use castellan_domain::policy::{Action, AuthMethod, Principal, authorize};
use castellan_domain::workspace::WorkspaceRole;

use crate::auth::{Caller, SESSION_COOKIE, cookie_value as cookie};
use crate::error::ApiError;
use crate::state::AppState;

pub const FLASH_COOKIE: &str = "castellan_flash";
/// The form field (or `X-CSRF-Token` header, for htmx requests) carrying the session's token.
pub const CSRF_FIELD: &str = "csrf_token";

/// Every web route. Reading works with JavaScript off: pages, tabs, paging and search are GET
/// links and forms; actions are POST forms that answer with a redirect.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route(
            "/welcome",
            get(guests::welcome).post(guests::welcome_submit),
        )
        .route("/static/{file}", get(assets::serve))
        .route("/signin", get(signin::page).post(signin::submit))
        .route("/signout", post(signin::signout))
        .route(
            "/password",
            get(signin::password_page).post(signin::password_submit),
        )
        .route("/apps", get(apps::list))
        .route(
            "/apps/connect",
            get(apps::connect_page).post(apps::connect_submit),
        )
        .route("/apps/{id}", get(apps::details))
        .route("/apps/{id}/members", get(apps::members))
        .route("/apps/{id}/assets", get(apps::assets))
        .route("/apps/{id}/reports", get(apps::reports))
        .route("/apps/{id}/activity", get(apps::activity))
        .route("/apps/{id}/settings", get(apps::settings))
        .route("/apps/{id}/check", post(apps::check))
        .route("/apps/{id}/rotation", post(apps::rotation_submit))
        .route("/apps/{id}/progress", get(apps::progress))
        .route(
            "/apps/{id}/remove",
            get(apps::remove_page).post(apps::remove_submit),
        )
        .route(
            "/apps/{id}/members/{user}/match",
            get(members::match_page).post(members::match_submit),
        )
        .route(
            "/apps/{id}/members/{user}/exempt",
            get(members::exempt_page).post(members::exempt_submit),
        )
        .route(
            "/apps/{id}/members/{user}/unexempt",
            post(members::unexempt_submit),
        )
        .route(
            "/apps/{id}/members/{user}/unmatch",
            post(members::unmatch_submit),
        )
        .route(
            "/apps/{id}/members/{user}/remove",
            get(members::remove_page),
        )
        .route("/apps/{id}/members/{user}/role", get(members::role_page))
        .route("/apps/{id}/invite", get(members::invite_page))
        .route(
            "/apps/{id}/access",
            get(members::access_page).post(members::access_submit),
        )
        .route("/apps/{id}/changes/preview", post(members::preview))
        .route("/apps/{id}/changes", post(members::queue))
        .route("/apps/{id}/reports/{report}", get(apps::report_link))
        .route(
            "/apps/{id}/reports/{report}/apply",
            get(members::apply_page).post(members::apply_submit),
        )
        .route(
            "/apps/{id}/reports/{report}/dismiss",
            get(members::dismiss_page).post(members::dismiss_submit),
        )
        .route("/automation", get(automation::list))
        .route("/automation/{id}", get(automation::task))
        .route("/automation/{id}/cancel", post(automation::cancel))
        .route("/directory", get(directory::list))
        .route(
            "/directory/import",
            get(directory::import_page).post(directory::import_submit),
        )
        .route("/directory/guests", get(guests::list))
        .route(
            "/directory/guests/invite",
            get(guests::invite_page).post(guests::invite_submit),
        )
        .route("/directory/guests/{id}/resend", post(guests::resend))
        .route("/directory/guests/{id}/revoke", post(guests::revoke))
        .route("/directory/guests/{id}/link", post(guests::show_link))
        .route("/directory/{id}/deactivate", post(directory::deactivate))
        .route("/directory/{id}/reactivate", post(directory::reactivate))
        .route("/activity", get(activity::list))
        .route("/activity/verify", get(activity::verify))
        .route("/accounts", get(accounts::list))
        .route("/accounts/export.csv", get(accounts::export))
        .route(
            "/accounts/add",
            get(accounts::add_page).post(accounts::add_submit),
        )
        .route("/accounts/{id}", get(accounts::account))
        .route(
            "/accounts/{id}/connect",
            get(accounts::connect_page).post(accounts::connect_submit),
        )
        .route("/accounts/{id}/reveal", post(accounts::reveal))
        .route(
            "/accounts/{id}/rotation/confirm",
            post(accounts::confirm_rotation),
        )
        .route(
            "/accounts/{id}/share",
            get(accounts::share_page).post(accounts::share_submit),
        )
        .route(
            "/accounts/{id}/shares/{share}/remove",
            post(accounts::unshare_submit),
        )
        .route("/settings", get(settings::page_))
        .route("/settings/workspace", post(settings::workspace_submit))
        .route("/settings/people", post(settings::person_create))
        .route("/settings/people/{id}", post(settings::person_update))
        .route(
            "/settings/platform-apps",
            post(settings::platform_app_submit),
        )
        .route(
            "/settings/tokens",
            get(settings::tokens_page).post(settings::token_create),
        )
        .route("/settings/tokens/{id}/revoke", post(settings::token_revoke))
        .layer(middleware::from_fn_with_state(state, guard))
}

/// The navigation items, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Apps,
    Accounts,
    Automation,
    Directory,
    Activity,
    Settings,
    None,
}

/// A message box at the top of the content.
#[derive(Debug, Clone)]
pub struct Flash {
    /// `success`, `info`, `warning` or `error`.
    pub kind: &'static str,
    pub text: String,
    /// An optional "More details" link.
    pub link: Option<String>,
}

impl Flash {
    pub fn success(text: impl Into<String>) -> Self {
        Self {
            kind: "success",
            text: text.into(),
            link: None,
        }
    }
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            kind: "info",
            text: text.into(),
            link: None,
        }
    }
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            kind: "error",
            text: text.into(),
            link: None,
        }
    }
    pub fn with_link(mut self, link: impl Into<String>) -> Self {
        self.link = Some(link.into());
        self
    }
    /// Screen readers announce errors at once (`alert`), the rest politely (`status`).
    pub fn role(&self) -> &'static str {
        if self.kind == "error" || self.kind == "warning" {
            "alert"
        } else {
            "status"
        }
    }
    pub fn icon(&self) -> &'static str {
        match self.kind {
            "success" => "✓",
            "warning" => "!",
            "error" => "✕",
            _ => "i",
        }
    }
    fn encode(&self) -> String {
        let raw = format!(
            "{}\n{}\n{}",
            self.kind,
            self.link.as_deref().unwrap_or(""),
            self.text
        );
        form_urlencoded::byte_serialize(raw.as_bytes()).collect()
    }
    fn decode(v: &str) -> Option<Self> {
        let raw: String = form_urlencoded::parse(format!("x={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?;
        let mut it = raw.splitn(3, '\n');
        let kind = match it.next()? {
            "success" => "success",
            "warning" => "warning",
            "error" => "error",
            _ => "info",
        };
        let link = it.next().filter(|l| l.starts_with('/')).map(str::to_string);
        let text: String = it.next()?.chars().take(500).collect();
        Some(Self { kind, text, link })
    }
}

/// What the layout shows around every page: the workspace, the signed-in person, the
/// navigation they may use, the CSRF token for forms, a message box, and the asset URLs.
pub struct Chrome {
    pub workspace: String,
    pub person_name: String,
    pub person_email: String,
    pub role: WorkspaceRole,
    pub csrf: String,
    pub nav: Nav,
    pub flash: Option<Flash>,
    pub title: String,
}

impl Chrome {
    pub fn may(&self, action: Action) -> bool {
        self.role >= action.requirement().0
    }
    pub fn show_apps(&self) -> bool {
        self.may(Action::ReadApps)
    }
    pub fn show_automation(&self) -> bool {
        self.may(Action::ReadTasks)
    }
    pub fn show_directory(&self) -> bool {
        self.may(Action::ReadDirectory)
    }
    pub fn show_activity(&self) -> bool {
        self.may(Action::ReadAudit)
    }
    pub fn show_settings(&self) -> bool {
        self.may(Action::ReadPeople)
    }
    pub fn current(&self, item: &str) -> bool {
        let n = match item {
            "apps" => Nav::Apps,
            "accounts" => Nav::Accounts,
            "automation" => Nav::Automation,
            "directory" => Nav::Directory,
            "activity" => Nav::Activity,
            "settings" => Nav::Settings,
            _ => Nav::None,
        };
        self.nav == n
    }
    pub fn css(&self) -> String {
        assets::url("app.css")
    }
    pub fn js(&self) -> String {
        assets::url("app.js")
    }
    pub fn htmx(&self) -> String {
        assets::url("htmx.min.js")
    }
}

/// A signed-in browser session, for web handlers. Signed out, the request is sent to the
/// sign-in page and back afterwards; a session that must change its one-time password is
/// sent to the password page first.
pub struct Web {
    pub caller: Caller,
    pub csrf: String,
    pub workspace: String,
    pub person_name: String,
    pub person_email: String,
    pub flash: Option<Flash>,
    /// The request came from htmx (answer with a fragment, or `HX-Redirect`).
    pub htmx: bool,
}

impl Web {
    pub fn p(&self) -> &Principal {
        &self.caller.principal
    }

    pub fn ws(&self) -> castellan_domain::WorkspaceId {
        self.caller.ws()
    }

    /// The one authorization check, as in the API.
    pub fn require(&self, action: Action) -> Result<(), WebError> {
        authorize(&self.caller.principal, action).map_err(|d| WebError::Forbidden(d.to_string()))
    }

    pub fn chrome(&self, nav: Nav, title: impl Into<String>) -> Chrome {
        Chrome {
            workspace: self.workspace.clone(),
            person_name: self.person_name.clone(),
            person_email: self.person_email.clone(),
            role: self.caller.principal.role,
            csrf: self.csrf.clone(),
            nav,
            flash: self.flash.clone(),
            title: title.into(),
        }
    }
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some_and(|v| v == "true")
}

/// The path and query the person asked for, to come back to after signing in (GET only: a
/// signed-out POST returns to the page it came from).
fn next_of(parts: &Parts) -> String {
    if parts.method == Method::GET && !is_htmx(&parts.headers) {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into())
    } else {
        parts
            .headers
            .get("hx-current-url")
            .or_else(|| parts.headers.get(header::REFERER))
            .and_then(|v| v.to_str().ok())
            .and_then(|u| {
                let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
                rest.find('/').map(|i| rest[i..].to_string())
            })
            .unwrap_or_else(|| "/".into())
    }
}

/// A path inside this site to go back to (no scheme, no host, no `//`), or `/apps`.
/// The first page: Apps for those who may read them, else their accounts (guests, Members).
async fn home(web: Web) -> Response {
    if web.require(Action::ReadApps).is_ok() {
        Redirect::to("/apps").into_response()
    } else {
        Redirect::to("/accounts").into_response()
    }
}

pub fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() < 2000
    {
        next.to_string()
    } else {
        "/".into()
    }
}

impl FromRequestParts<AppState> for Web {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, WebError> {
        let htmx = is_htmx(&parts.headers);
        let signin = || WebError::SignIn {
            next: next_of(parts),
            htmx,
        };
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(signin)?;
        let hash = hash_secret(&token);
        let session = s
            .store
            .session_by_token_hash(&hash, s.env.now())
            .await?
            .ok_or_else(signin)?;
        if session.person.must_change_password && parts.uri.path() != "/password" {
            return Err(WebError::Redirect("/password".into(), htmx));
        }
        let workspace = s.store.get_workspace(session.workspace_id).await?.name;
        let flash = cookie(&parts.headers, FLASH_COOKIE).and_then(|v| Flash::decode(&v));
        Ok(Web {
            caller: Caller {
                principal: Principal {
                    workspace_id: session.workspace_id,
                    person_id: session.person.id,
                    role: session.person.role,
                    method: AuthMethod::Session,
                },
                session_hash: Some(hash),
            },
            csrf: session.csrf_token,
            workspace,
            person_name: session.person.display_name.clone().unwrap_or_default(),
            person_email: session.person.email.clone(),
            flash,
            htmx,
        })
    }
}

/// Why a web request did not get its page.
#[derive(Debug)]
pub enum WebError {
    /// Signed out: to the sign-in page, then back to `next`.
    SignIn {
        next: String,
        htmx: bool,
    },
    Redirect(String, bool),
    Forbidden(String),
    NotFound(String),
    /// A refused unsafe request (no or wrong CSRF token, or another site's form).
    Csrf,
    Internal(String),
}

impl From<castellan_store::StoreError> for WebError {
    fn from(e: castellan_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(what) | ApiError::NotFoundAt { what, .. } => WebError::NotFound(
                format!("This {what} does not exist, or is not in your workspace."),
            ),
            ApiError::Forbidden(d) => WebError::Forbidden(d.to_string()),
            ApiError::Unauthenticated => WebError::SignIn {
                next: "/apps".into(),
                htmx: false,
            },
            ApiError::Csrf => WebError::Csrf,
            other => {
                tracing::error!(error = %other, "web request failed");
                WebError::Internal(other.to_string())
            }
        }
    }
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage {
    status: u16,
    heading: String,
    text: String,
    signed_in: bool,
}

fn redirect(to: &str, htmx: bool) -> Response {
    if htmx {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut().insert(
            "hx-redirect",
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
        );
        r
    } else {
        Redirect::to(to).into_response()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, text) = match self {
            WebError::SignIn { next, htmx } => {
                let to = format!(
                    "/signin?next={}",
                    form_urlencoded::byte_serialize(safe_next(&next).as_bytes()).collect::<String>()
                );
                return redirect(&to, htmx);
            }
            WebError::Redirect(to, htmx) => return redirect(&to, htmx),
            WebError::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                "You don't have access to this page".to_string(),
                format!("Ask an Owner of your workspace if you need it ({why})."),
            ),
            WebError::NotFound(text) => (StatusCode::NOT_FOUND, "Not found".to_string(), text),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form could not be accepted".to_string(),
                "It expired or was sent from another site. Nothing was changed; go back, reload the page and try again.".to_string(),
            ),
            WebError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong".to_string(),
                "Castellan could not finish this request. Nothing secret was shown; try again, and see the server's log if it persists.".to_string(),
            ),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            heading,
            text,
            signed_in: status != StatusCode::INTERNAL_SERVER_ERROR,
        };
        match page.render() {
            Ok(html) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(_) => status.into_response(),
        }
    }
}

pub type WebResult<T = Response> = Result<T, WebError>;

/// Renders a page (or a block of it), clearing the message box it showed.
pub fn render<T: Template>(web: Option<&Web>, status: StatusCode, t: &T) -> WebResult {
    let html = t.render().map_err(|e| WebError::Internal(e.to_string()))?;
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    if web.is_some_and(|w| w.flash.is_some() && !w.htmx) {
        r.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&format!(
                "{FLASH_COOKIE}=; Path=/; SameSite=Strict; HttpOnly; Max-Age=0"
            ))
            .expect("ascii"),
        );
    }
    Ok(r)
}

pub fn page<T: Template>(web: &Web, t: &T) -> WebResult {
    render(Some(web), StatusCode::OK, t)
}

/// A form with errors: the same page again, with what was entered, answered 400.
pub fn invalid<T: Template>(web: &Web, t: &T) -> WebResult {
    render(Some(web), StatusCode::BAD_REQUEST, t)
}

/// After an action: back to a page (303, so the browser GETs it), with a message box.
pub fn done(web: &Web, to: &str, flash: Flash) -> Response {
    let mut r = redirect(to, web.htmx);
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{FLASH_COOKIE}={}; Path=/; SameSite=Strict; HttpOnly; Max-Age=60",
            flash.encode()
        ))
        .expect("ascii"),
    );
    r
}

/// A submitted form: its fields in order (repeated names kept, for checkbox lists).
#[derive(Debug, Default, Clone)]
pub struct Form {
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), "on" | "true" | "1" | "yes")
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = WebError;

    async fn from_request(req: Request, _: &S) -> Result<Self, WebError> {
        let bytes = axum::body::to_bytes(req.into_body(), crate::JSON_BODY_LIMIT)
            .await
            .map_err(|_| WebError::Internal("the form is too large".into()))?;
        Ok(Form {
            fields: form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        })
    }
}

/// Query parameters in order (repeated names kept).
#[derive(Debug, Default, Clone)]
pub struct Query(pub Form);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, WebError> {
        Ok(Query(Form {
            fields: form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }))
    }
}

/// The Content-Security-Policy of every page: scripts and styles only from our own static
/// files (no inline script or style), forms only to ourselves, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The CSRF guard and security headers of every web route. An unsafe request must come from
/// this site (`Sec-Fetch-Site: same-origin`, or an `Origin` matching `Host`) and carry the
/// session's token (form field `csrf_token` or header `X-CSRF-Token`). Sign-in has no session
/// yet: it needs only the origin check (and the session cookie is `SameSite=Strict`).
async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let req = if unsafe_method {
        match check_csrf(&s, req).await {
            Ok(req) => req,
            Err(e) => {
                tracing::warn!("refused a web request: CSRF check failed");
                return with_headers(e.into_response());
            }
        }
    } else {
        req
    };
    with_headers(next.run(req).await)
}

fn with_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or("");
            let host = host.to_str().unwrap_or("-");
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
        }
        (Some(_), None) => false,
        // Neither header: not a browser's cross-site form (browsers send Origin on every POST).
        (None, _) => true,
    }
}

async fn check_csrf(s: &AppState, req: Request) -> Result<Request, WebError> {
    if !same_origin(req.headers()) {
        return Err(WebError::Csrf);
    }
    // Signing in and using a guest's sign-in link happen before there is a session.
    if matches!(req.uri().path(), "/signin" | "/welcome") {
        return Ok(req);
    }
    let Some(token) = cookie(req.headers(), SESSION_COOKIE) else {
        // Signed out: the handler sends the person to sign in; nothing runs.
        return Ok(req);
    };
    let Some(session) = s
        .store
        .session_by_token_hash(&hash_secret(&token), s.env.now())
        .await?
    else {
        return Ok(req);
    };
    let expected = session.csrf_token;
    if let Some(h) = req.headers().get("x-csrf-token") {
        return if crate::auth::constant_time_eq(h.as_bytes(), expected.as_bytes()) {
            Ok(req)
        } else {
            Err(WebError::Csrf)
        };
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, crate::IMPORT_BODY_LIMIT)
        .await
        .map_err(|_| WebError::Csrf)?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let sent = if content_type.starts_with("multipart/form-data") {
        multipart_field(&content_type, bytes.clone(), CSRF_FIELD).await
    } else {
        form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned())
    };
    match sent {
        Some(t) if crate::auth::constant_time_eq(t.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(WebError::Csrf),
    }
}

async fn multipart_field(
    content_type: &str,
    bytes: axum::body::Bytes,
    name: &str,
) -> Option<String> {
    let req = Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .ok()?;
    let mut mp = axum::extract::Multipart::from_request(req, &())
        .await
        .ok()?;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// Page links: the cursor for the next page, kept with the other query parameters.
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            format!(
                "{k}={}",
                form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

/// Times as people read them (UTC, to the minute).
pub fn when(t: &castellan_domain::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn when_opt(t: &Option<castellan_domain::Timestamp>) -> String {
    t.as_ref().map(when).unwrap_or_else(|| "never".into())
}

/// Form errors by field, shown beside the fields they name; `general` for the rest.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    pub items: Vec<(String, String)>,
    pub general: Option<String>,
}

impl Errors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn any(&self) -> bool {
        !self.items.is_empty() || self.general.is_some()
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            items: vec![(field.to_string(), message.into())],
            general: None,
        }
    }

    /// Bad input or a refused state as form errors; anything else stays an error page.
    pub fn from_api(e: ApiError, known: &[&str]) -> Result<Self, WebError> {
        let (field, message) = match e {
            ApiError::Invalid { field, message, .. } => (field, message),
            ApiError::Conflict { field, message } => (field, message),
            ApiError::NotFoundAt { field, what } => (Some(field), format!("no such {what}")),
            ApiError::TooManyRequests { .. } => (None, e.to_string()),
            other => return Err(other.into()),
        };
        Ok(match field {
            Some(f) if known.contains(&f.as_str()) => Self::field(&f, message),
            Some(f) => Self {
                items: Vec::new(),
                general: Some(format!("{f}: {message}")),
            },
            None => Self {
                items: Vec::new(),
                general: Some(message),
            },
        })
    }
}
