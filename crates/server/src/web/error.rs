//! Why a web request did not get its page (`WebError`), shown inside the layout or as a
//! redirect (to sign in, or `HX-Redirect` for htmx).

use super::links::safe_next;
use crate::error::ApiError;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

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

pub(crate) fn redirect(to: &str, htmx: bool) -> Response {
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
