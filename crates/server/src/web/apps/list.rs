//! Apps: the app cards with what needs attention, and App details' default tab.

use super::head::{AppHead, app_id, head_of, latest_check};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Query, Web, WebResult, page, with_query};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use castellan_domain::AppId;
use castellan_domain::apps::AppStatus;
use castellan_domain::policy::Action;
use castellan_domain::words::count;

/// One line of *Needs attention*: its words, the rows behind it, and Retry for a failing
/// connection.
pub struct Attention {
    pub text: String,
    pub href: String,
    pub retry: Option<String>,
}

#[derive(Template)]
#[template(path = "web/apps.html")]
pub struct AppsPage {
    chrome: Chrome,
    /// What needs attention first: each line's words and the link to the rows behind it.
    attention: Vec<Attention>,
    cards: Vec<AppHead>,
    next: Option<String>,
    may_manage: bool,
}

pub async fn list(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    web.require(Action::ReadApps)?;
    let scoped = s.store.ws(web.ws());
    let cursor = q.get("cursor").parse().ok();
    let apps = scoped.apps(cursor, 50).await?;
    let ids: Vec<AppId> = apps.items.iter().map(|a| a.id).collect();
    let mut counts = scoped.app_counts(&ids).await?;
    let may = web.require(Action::ManageApps).is_ok();
    let mut cards = Vec::new();
    let mut attention = Vec::new();
    for a in &apps.items {
        let check = latest_check(&s, &web, a.id).await?;
        let head = head_of(
            a,
            counts.remove(&a.id).unwrap_or_default(),
            check.as_ref(),
            None,
            "",
            may,
        );
        if a.status == AppStatus::Error {
            attention.push(Attention {
                text: match &a.status_message {
                    Some(m) => format!("{}: connection failing: {m}", a.label),
                    None => format!("{}: connection failing", a.label),
                },
                href: format!("/apps/{}/settings", a.id),
                retry: may.then(|| format!("/apps/{}/retry", a.id)),
            });
        }
        if let Some(r) = scoped.open_report(a.id).await? {
            attention.push(Attention {
                text: format!(
                    "{}: {} of people who left await removal",
                    a.label,
                    count(r.pending_removal.len(), "seat", "seats")
                ),
                href: format!("/apps/{}/reports", a.id),
                retry: None,
            });
        }
        if let Some(t) = head
            .tabs
            .iter()
            .find(|t| t.label == "Unmatched" && t.count > 0)
        {
            attention.push(Attention {
                text: format!(
                    "{}: {}",
                    a.label,
                    count(t.count, "unmatched seat", "unmatched seats")
                ),
                href: t.href.clone(),
                retry: None,
            });
        }
        cards.push(head);
    }
    page(
        &web,
        &AppsPage {
            chrome: web.chrome(Nav::Apps, "Apps"),
            attention,
            cards,
            next: apps
                .next_cursor
                .map(|c| with_query("/apps", &[("cursor", &c)])),
            may_manage: may,
        },
    )
}

pub async fn details(Path(id): Path<String>) -> WebResult {
    let id = app_id(&id)?;
    Ok(axum::response::Redirect::to(&format!("/apps/{id}/members")).into_response())
}
