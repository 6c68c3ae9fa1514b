//! Who is calling: browser sessions (HttpOnly cookie + CSRF header for writes) and API
//! tokens (`Authorization: Bearer`). Passwords are argon2id; sign-in is throttled per e-mail.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use castellan_domain::Timestamp;
use castellan_domain::audit::Actor;
use castellan_domain::auth::hash_secret;
use castellan_domain::policy::{Action, AuthMethod, Principal, authorize};

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "castellan_session";
pub const CSRF_COOKIE: &str = "castellan_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes), off the async
/// threads because it is deliberately slow.
pub async fn hash_password(password: String, salt_bytes: [u8; 16]) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hash: {e}"))
    })
    .await?
}

/// Checks a password against a stored hash. With no hash (unknown person, or no local
/// password) it still does the work on a dummy, so timing does not reveal which e-mails exist.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2xv3Y3uR8n2gxp7Hz2bW5f7q2q5yqGv0kS6gk0jz2aQ";
        let real = hash.is_some();
        let h = hash.unwrap_or_else(|| DUMMY.to_string());
        let ok = PasswordHash::new(&h).map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
        real && ok.unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Counts failed sign-ins per key (the e-mail) in a sliding window, in memory. Per process:
/// with several `serve` processes each keeps its own count, which still bounds guessing.
pub struct Throttle {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Timestamp>>>,
}

impl Throttle {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when the key has used up its failures.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), u64> {
        let mut map = self.failures.lock().expect("throttle poisoned");
        let window = chrono::Duration::from_std(self.window).unwrap_or_default();
        let list = map.entry(key.to_string()).or_default();
        list.retain(|t| *t + window > now);
        if list.len() as u32 >= self.max {
            let oldest = list[0];
            let wait = (oldest + window - now).num_seconds().max(1) as u64;
            return Err(wait);
        }
        Ok(())
    }

    pub fn fail(&self, key: &str, now: Timestamp) {
        let mut map = self.failures.lock().expect("throttle poisoned");
        map.entry(key.to_string()).or_default().push(now);
        // Keep memory bounded under a spray of distinct keys.
        if map.len() > 100_000 {
            map.clear();
        }
    }

    pub fn succeed(&self, key: &str) {
        self.failures.lock().expect("throttle poisoned").remove(key);
    }
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

fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
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
        let token = cookie_value(parts, SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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

    #[test]
    fn throttle_window() {
        let t = Throttle::new(2, Duration::from_secs(60));
        let now = castellan_domain::clock::from_millis(1_000_000);
        assert!(t.check("a", now).is_ok());
        t.fail("a", now);
        t.fail("a", now);
        assert!(t.check("a", now).is_err());
        assert!(t.check("b", now).is_ok());
        assert!(t.check("a", now + chrono::Duration::seconds(61)).is_ok());
    }
}
