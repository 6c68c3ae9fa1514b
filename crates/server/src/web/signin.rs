//! Sign-in with the local password, sign-out, and changing one's password (forced after a
//! one-time password).

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use castellan_domain::audit::NewAuditEvent;

use super::{Chrome, Flash, Form, Nav, Query, Web, WebError, WebResult, done, render, safe_next};
use crate::auth::{CSRF_COOKIE, SESSION_COOKIE, session_cookie};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "web/signin.html")]
pub struct SignInPage {
    css: String,
    next: String,
    email: String,
    workspace: String,
    needs_workspace: bool,
    pub error: Option<String>,
    email_error: Option<String>,
    /// "Sign in with <IdP>" for each workspace offering it.
    idps: Vec<IdpButton>,
}

pub struct IdpButton {
    pub href: String,
    pub label: String,
}

/// The sign-in page with its IdP buttons (each carrying `next`).
pub async fn sign_in_page(s: &AppState, next: &str) -> Result<SignInPage, WebError> {
    let options = s.store.oidc_options().await?;
    let several = options.len() > 1;
    let idps = options
        .into_iter()
        .map(|o| IdpButton {
            href: super::with_query(
                &format!("/signin/oidc/{}", o.workspace_id),
                &[("next", next)],
            ),
            label: if several {
                format!("Sign in with {} ({})", o.display_name, o.workspace_name)
            } else {
                format!("Sign in with {}", o.display_name)
            },
        })
        .collect();
    Ok(SignInPage {
        css: super::assets::url("app.css"),
        next: next.to_string(),
        email: String::new(),
        workspace: String::new(),
        needs_workspace: false,
        error: None,
        email_error: None,
        idps,
    })
}

pub async fn page(State(s): State<AppState>, Query(q): Query) -> WebResult {
    render(
        None,
        StatusCode::OK,
        &sign_in_page(&s, &safe_next(q.get("next"))).await?,
    )
}

pub async fn submit(State(s): State<AppState>, form: Form) -> WebResult {
    let next = safe_next(form.get("next"));
    let mut back = sign_in_page(&s, &next).await?;
    back.email = form.get("email").to_string();
    back.workspace = form.get("workspace").to_string();
    back.needs_workspace = !form.get("workspace").is_empty();
    let signed = crate::auth::sign_in(
        &s,
        form.get("email"),
        form.get("password").to_string(),
        Some(form.get("workspace")),
    )
    .await;
    let signed = match signed {
        Ok(x) => x,
        Err(e) => {
            let status = match &e {
                ApiError::TooManyRequests { retry_after_secs } => {
                    back.error = Some(format!(
                        "Too many failed sign-ins for this e-mail. Try again in {} minutes.",
                        retry_after_secs.div_ceil(60)
                    ));
                    StatusCode::TOO_MANY_REQUESTS
                }
                ApiError::Unauthenticated => {
                    back.error = Some("The e-mail or the password is wrong.".into());
                    StatusCode::UNAUTHORIZED
                }
                ApiError::ForbiddenAt { message, .. } => {
                    // Passwords are kept for Owners: the IdP's button is the way in.
                    back.error = Some(sentence(message));
                    StatusCode::FORBIDDEN
                }
                ApiError::Invalid { field, message, .. } => {
                    match field.as_deref() {
                        Some("email") => back.email_error = Some(message.clone()),
                        Some("workspace") => {
                            back.needs_workspace = true;
                            back.error = Some(message.clone());
                        }
                        _ => back.error = Some(message.clone()),
                    }
                    StatusCode::BAD_REQUEST
                }
                _ => return Err(e.into()),
            };
            return render(None, status, &back);
        }
    };
    let max_age = signed.ttl.num_seconds();
    let secure = s.settings.secure_cookies;
    let to = if signed.person.must_change_password {
        "/password".to_string()
    } else {
        next
    };
    let mut r = axum::response::Redirect::to(&to).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(SESSION_COOKIE, &signed.token, true, max_age, secure),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(CSRF_COOKIE, &signed.csrf, false, max_age, secure),
    );
    Ok(r)
}

pub async fn signout(State(s): State<AppState>, web: Web) -> WebResult {
    if let Some(h) = &web.caller.session_hash {
        s.store.delete_session(h).await?;
        s.store
            .ws(web.ws())
            .audit(NewAuditEvent::success(
                &web.caller.actor(),
                "session.delete",
                format!("person:{}", web.p().person_id),
                serde_json::json!({}),
            ))
            .await?;
    }
    let mut r: Response = axum::response::Redirect::to("/signin").into_response();
    let secure = s.settings.secure_cookies;
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(SESSION_COOKIE, "", true, 0, secure),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(CSRF_COOKIE, "", false, 0, secure),
    );
    Ok(r)
}

/// A field error's message as a sentence on its own.
fn sentence(m: &str) -> String {
    let mut c = m.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

#[derive(Template)]
#[template(path = "web/password.html")]
pub struct PasswordPage {
    chrome: Chrome,
    forced: bool,
    current_error: Option<String>,
    new_error: Option<String>,
}

async fn forced(s: &AppState, web: &Web) -> Result<bool, WebError> {
    Ok(s.store
        .ws(web.ws())
        .person(web.p().person_id)
        .await?
        .must_change_password)
}

pub async fn password_page(State(s): State<AppState>, web: Web) -> WebResult {
    let page = PasswordPage {
        chrome: web.chrome(Nav::None, "Change password"),
        forced: forced(&s, &web).await?,
        current_error: None,
        new_error: None,
    };
    super::page(&web, &page)
}

pub async fn password_submit(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    match crate::auth::change_password(
        &s,
        &web.caller,
        form.get("current_password").to_string(),
        form.get("new_password").to_string(),
    )
    .await
    {
        Ok(()) => Ok(done(
            &web,
            "/",
            Flash::success("Your password was changed."),
        )),
        Err(
            ApiError::Invalid { field, message, .. } | ApiError::ForbiddenAt { field, message },
        ) => {
            let mut page = PasswordPage {
                chrome: web.chrome(Nav::None, "Change password"),
                forced: forced(&s, &web).await?,
                current_error: None,
                new_error: None,
            };
            if field.as_deref() == Some("current_password") {
                // The wrong current password is answered 403 (ForbiddenAt) and shown beside it.
                page.current_error = Some(message);
            } else {
                page.new_error = Some(format!("The new password {message}"));
            }
            super::invalid(&web, &page)
        }
        Err(e) => Err(e.into()),
    }
}
