//! The CSRF guard of every unsafe request (a token in the form or the `X-CSRF-Token` header,
//! and the request from this site) and the security headers with a strict CSP.

use super::error::WebError;
use super::form::multipart_field;
use crate::auth::{SESSION_COOKIE, cookie_value as cookie};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use castellan_domain::auth::hash_secret;

/// The form field (or `X-CSRF-Token` header, for htmx requests) carrying the session's token.
pub const CSRF_FIELD: &str = "csrf_token";

/// The Content-Security-Policy of every page: scripts and styles only from our own static
/// files (no inline script or style), forms only to ourselves, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The CSRF guard and security headers of every web route. An unsafe request must come from
/// this site (`Sec-Fetch-Site: same-origin`, or an `Origin` matching `Host`) and carry the
/// session's token (form field `csrf_token` or header `X-CSRF-Token`). Sign-in has no session
/// yet: it needs only the origin check (and the session cookie is `SameSite=Strict`).
pub async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
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
