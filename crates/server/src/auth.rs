//! Who is calling: browser sessions (HttpOnly cookie + CSRF header for writes) and API
//! tokens (`Authorization: Bearer`). Passwords are argon2id; sign-in is throttled per e-mail.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use castellan_domain::audit::Actor;
use castellan_domain::auth::hash_secret;
use castellan_domain::policy::{Action, AuthMethod, Principal, authorize};

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "castellan_session";
pub const CSRF_COOKIE: &str = "castellan_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub use castellan_services::people::{hash_password, verify_password};
pub use castellan_services::throttle::Throttle;

pub use castellan_services::sessions::SignedIn;

pub(crate) fn session_ttl(s: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(s.settings.session_ttl).unwrap_or(chrono::Duration::hours(12))
}

/// Signs in with e-mail and password and creates a session: the one sign-in path of the JSON
/// API and the web app (`castellan_services::sessions` decides).
pub async fn sign_in(
    s: &AppState,
    email: &str,
    password: String,
    workspace: Option<&str>,
) -> Result<SignedIn, ApiError> {
    Ok(castellan_services::sessions::sign_in(
        &s.services,
        &s.throttle,
        session_ttl(s),
        email,
        password,
        workspace,
    )
    .await?)
}

/// A new browser session for `person` (after their password was checked or just set).
pub async fn start_session(
    s: &AppState,
    person: castellan_store::Person,
) -> Result<SignedIn, ApiError> {
    Ok(castellan_services::sessions::start_session(&s.services, session_ttl(s), person).await?)
}

/// Uses a guest's sign-in link. Shared by the API and the web app's welcome page.
pub async fn accept_guest_link(
    s: &AppState,
    token: &str,
    password: String,
) -> Result<castellan_store::Person, ApiError> {
    Ok(castellan_services::sessions::accept_guest_link(&s.services, token, password).await?)
}

/// Changes the caller's own password after checking the current one. Shared by the API and
/// the web app.
pub async fn change_password(
    s: &AppState,
    caller: &Caller,
    current: String,
    new: String,
) -> Result<(), ApiError> {
    let p = *caller.require(Action::UpdateSelf)?;
    Ok(castellan_services::sessions::change_password(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        p.person_id,
        current,
        new,
    )
    .await?)
}

/// A `Set-Cookie` value. Sessions are `SameSite=Strict`: a link from another site (a report
/// e-mail) lands signed out, and the sign-in page sends the person back where they were going.
pub fn session_cookie(
    name: &str,
    value: &str,
    http_only: bool,
    max_age: i64,
    secure: bool,
) -> axum::http::HeaderValue {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict; Max-Age={max_age}");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    axum::http::HeaderValue::from_str(&c).expect("cookie is ASCII")
}

/// An authenticated caller. Handlers call [`Caller::require`] with the action they perform;
/// that is the only authorization check, and it lives in `castellan_domain::policy`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The session token hash, for sign-out.
    pub session_hash: Option<String>,
}

impl Caller {
    pub fn require(&self, action: Action) -> Result<&Principal, ApiError> {
        authorize(&self.principal, action)?;
        Ok(&self.principal)
    }

    pub fn actor(&self) -> Actor {
        match self.principal.method {
            AuthMethod::Session => Actor::Person {
                id: self.principal.person_id,
            },
            AuthMethod::Token { id, .. } => Actor::Token {
                id,
                person_id: self.principal.person_id,
            },
        }
    }

    pub fn ws(&self) -> castellan_domain::WorkspaceId {
        self.principal.workspace_id
    }
}

/// A cookie's value from the request headers (the API's and the web app's one reader).
pub(crate) fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|header| {
            header.split(';').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| v.to_string())
            })
        })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(auth) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let value = auth.to_str().map_err(|_| ApiError::Unauthenticated)?;
            let token = value
                .strip_prefix("Bearer ")
                .ok_or(ApiError::Unauthenticated)?
                .trim();
            let (tok, person) = state
                .store
                .token_by_hash(&hash_secret(token))
                .await?
                .ok_or(ApiError::Unauthenticated)?;
            return Ok(Caller {
                principal: Principal {
                    workspace_id: person.workspace_id,
                    person_id: person.id,
                    role: person.role,
                    method: AuthMethod::Token {
                        id: tok.id,
                        scope: tok.scope,
                    },
                },
                session_hash: None,
            });
        }
        let token =
            cookie_value(&parts.headers, SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
        let hash = hash_secret(&token);
        let session = state
            .store
            .session_by_token_hash(&hash, state.env.now())
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        // Cookies ride along on cross-site requests; a write must also carry the CSRF token,
        // which only our own pages (or the sign-in response) can read.
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let header = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(header.as_bytes(), session.csrf_token.as_bytes()) {
                return Err(ApiError::Csrf);
            }
        }
        Ok(Caller {
            principal: Principal {
                workspace_id: session.workspace_id,
                person_id: session.person.id,
                role: session.person.role,
                method: AuthMethod::Session,
            },
            session_hash: Some(hash),
        })
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_round_trip() {
        let h = hash_password("correct horse battery".into(), [7; 16])
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify_password("wrong".into(), Some(h)).await);
        assert!(!verify_password("anything".into(), None).await);
    }
}
