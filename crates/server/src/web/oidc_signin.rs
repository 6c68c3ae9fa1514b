//! Sign-in with the workspace's identity provider (OIDC): the button's start (to the IdP with
//! state, nonce and PKCE kept in a short-lived cookie), the IdP's callback (a session, or the
//! reason no one was signed in), and an Admin's *Test sign-in*, which reports what the IdP said
//! and what Castellan would make of it without signing anyone in.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use castellan_domain::policy::Action;
use castellan_services::oidc::{Callback, Finished, Flow, OidcError, Purpose, TestReport};

use super::signin::sign_in_page;
use super::{Query, Web, WebResult, render, safe_next};
use crate::auth::{CSRF_COOKIE, SESSION_COOKIE, cookie_value, session_cookie, session_ttl};
use crate::state::AppState;

const FLOW_COOKIE: &str = "castellan_oidc";

/// The flow's cookie: only for the callback's path, sent on the IdP's top-level redirect back
/// (Lax), gone after ten minutes.
fn flow_cookie(s: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let mut c = format!(
        "{FLOW_COOKIE}={value}; Path=/signin/oidc; SameSite=Lax; HttpOnly; Max-Age={max_age}"
    );
    if s.settings.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie is ASCII")
}

/// The sign-in page saying why the IdP's sign-in did not work.
async fn failed(s: &AppState, next: &str, e: OidcError) -> WebResult {
    let e = match e {
        OidcError::Service(inner) => return Err(crate::error::ApiError::from(inner).into()),
        e => e,
    };
    let status = match &e {
        OidcError::Refused(_) => StatusCode::FORBIDDEN,
        OidcError::Protocol(_) => StatusCode::BAD_GATEWAY,
        OidcError::NotConfigured => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    tracing::info!(error = %e, "OIDC sign-in refused");
    let mut page = sign_in_page(s, next).await?;
    page.error = Some(e.to_string());
    let mut r = render(None, status, &page)?;
    r.headers_mut()
        .append(header::SET_COOKIE, flow_cookie(s, "", 0));
    Ok(r)
}

async fn begin(
    s: &AppState,
    ws: castellan_domain::WorkspaceId,
    purpose: Purpose,
    next: &str,
) -> WebResult {
    match castellan_services::oidc::start(&s.services, ws, purpose, next).await {
        Ok((url, flow)) => {
            let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response();
            r.headers_mut()
                .append(header::SET_COOKIE, flow_cookie(s, &flow.to_cookie(), 600));
            Ok(r)
        }
        Err(e) => failed(s, next, e).await,
    }
}

/// "Sign in with <IdP>": to the IdP's authorization page.
pub async fn start(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    Query(q): Query,
) -> WebResult {
    let next = safe_next(q.get("next"));
    let Ok(ws) = ws.parse() else {
        return failed(&s, &next, OidcError::NotConfigured).await;
    };
    begin(&s, ws, Purpose::SignIn, &next).await
}

/// *Test sign-in* from Settings → Identity provider (Admins and Owners).
pub async fn test_start(State(s): State<AppState>, web: Web) -> WebResult {
    web.require(Action::ReadSignIn)?;
    begin(&s, web.ws(), Purpose::Test, "/settings/identity-provider").await
}

#[derive(Template)]
#[template(path = "web/signin_continue.html")]
pub struct ContinuePage {
    css: String,
    to: String,
}

#[derive(Template)]
#[template(path = "web/oidc_test.html")]
pub struct TestPage {
    css: String,
    issuer: String,
    subject: String,
    email: String,
    email_verified: String,
    groups: Vec<String>,
    /// Who would be signed in, or why no one would be.
    admitted: Option<String>,
    refused: Option<String>,
}

fn test_page(r: &TestReport) -> TestPage {
    let v = &r.vouched;
    TestPage {
        css: super::assets::url("app.css"),
        issuer: r.issuer.clone(),
        subject: v.subject.clone(),
        email: v.email.clone().unwrap_or_else(|| "(none)".into()),
        email_verified: match v.email_verified {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => "not said".into(),
        },
        groups: v.groups.clone(),
        admitted: r.outcome.as_ref().ok().map(|p| {
            format!(
                "{} would be signed in as {} ({}).",
                v.email.as_deref().unwrap_or(&v.subject),
                p.email,
                p.role
            )
        }),
        refused: r.outcome.as_ref().err().map(|e| e.message()),
    }
}

/// The IdP's answer. The flow comes from this browser's cookie, so a callback this browser did
/// not start is refused; a test's report shows only what the IdP said about the person who
/// signed in there and what Castellan would do with them.
pub async fn callback(State(s): State<AppState>, headers: HeaderMap, Query(q): Query) -> WebResult {
    let opt = |k: &str| Some(q.get(k).to_string()).filter(|v| !v.is_empty());
    let Some(flow) = cookie_value(&headers, FLOW_COOKIE).and_then(|c| Flow::from_cookie(&c)) else {
        return failed(&s, "/", OidcError::StateMismatch).await;
    };
    let cb = Callback {
        code: opt("code"),
        state: opt("state"),
        iss: opt("iss"),
        error: opt("error"),
        error_description: opt("error_description"),
    };
    let next = safe_next(&flow.next);
    match castellan_services::oidc::finish(&s.services, session_ttl(&s), &flow, &cb).await {
        Ok(Finished::SignedIn(signed)) => {
            // A page that moves on by itself rather than a redirect: the session cookie is
            // SameSite=Strict, and a redirect chain that began at the IdP's site would not
            // carry it to the next page.
            let mut r = render(
                None,
                StatusCode::OK,
                &ContinuePage {
                    css: super::assets::url("app.css"),
                    to: next,
                },
            )?;
            let max_age = signed.ttl.num_seconds();
            let secure = s.settings.secure_cookies;
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                session_cookie(SESSION_COOKIE, &signed.token, true, max_age, secure),
            );
            h.append(
                header::SET_COOKIE,
                session_cookie(CSRF_COOKIE, &signed.csrf, false, max_age, secure),
            );
            h.append(header::SET_COOKIE, flow_cookie(&s, "", 0));
            Ok(r)
        }
        Ok(Finished::Tested(report)) => {
            let mut r: Response = render(None, StatusCode::OK, &test_page(&report))?;
            r.headers_mut()
                .append(header::SET_COOKIE, flow_cookie(&s, "", 0));
            Ok(r)
        }
        Err(e) => failed(&s, &next, e).await,
    }
}
