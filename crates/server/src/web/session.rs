//! The signed-in browser session (`Web`): the extractor that sends a signed-out request to
//! sign in and back, and a session that must change its one-time password to do so first.

use super::chrome::{Chrome, FLASH_COOKIE, Flash, Nav};
use super::error::WebError;
use crate::auth::{Caller, SESSION_COOKIE, cookie_value as cookie};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use castellan_domain::auth::hash_secret;
use castellan_domain::policy::{Action, AuthMethod, Principal, authorize};

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

/// The path and query the person asked for, to come back to after signing in (GET only: a
/// signed-out POST returns to the page it came from).
pub fn next_of(parts: &Parts) -> String {
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
pub async fn home(web: Web) -> Response {
    if web.require(Action::ReadApps).is_ok() {
        Redirect::to("/apps").into_response()
    } else {
        Redirect::to("/accounts").into_response()
    }
}
