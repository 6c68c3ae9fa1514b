//! The emulators' HTML pages (the platforms' consent pages and their refusals), rendered by
//! askama so that every value put into them is escaped.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// A consent page: the emulated person picks the account to sign in as and confirms.
#[derive(Template)]
#[template(path = "consent.html")]
pub(crate) struct Consent<'a> {
    pub title: &'a str,
    pub heading: String,
    /// The app and what it asks for (Pinterest shows its scopes).
    pub app: &'a str,
    pub asks: Option<&'a str>,
    pub action: &'a str,
    pub hidden: Vec<(&'a str, &'a str)>,
    pub pick: &'a str,
    /// (user id, label) per account offered.
    pub users: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "refusal.html")]
struct Refusal<'a> {
    message: &'a str,
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

impl IntoResponse for Consent<'_> {
    fn into_response(self) -> Response {
        render(&self)
    }
}

/// A 400 page saying why the consent request is refused.
pub(crate) fn refusal(message: &str) -> Response {
    let mut r = render(&Refusal { message });
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}
