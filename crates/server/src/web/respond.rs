//! Answers of web handlers: a rendered page (clearing the message box it showed), a form
//! with errors (400), and the redirect after an action with its message box.

use super::chrome::{FLASH_COOKIE, Flash};
use super::error::{WebError, WebResult, redirect};
use super::session::Web;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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
    with_flash(redirect(to, web.htmx), flash)
}

/// Adds the message the next page shows (for a response built by hand, e.g. a sign-in).
pub fn with_flash(mut r: Response, flash: Flash) -> Response {
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
