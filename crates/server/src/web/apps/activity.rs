//! App details → Activity: the app's events in the activity log.

use super::head::{AppHead, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Web, WebResult, page};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;

#[derive(Template)]
#[template(path = "web/app_activity.html")]
pub struct AppActivityPage {
    chrome: Chrome,
    head: AppHead,
    events: Vec<crate::web::activity::EventRow>,
}

pub async fn activity(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    web.require(Action::ReadAudit)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "activity").await?;
    let events = s
        .store
        .ws(web.ws())
        .audit_list(
            &castellan_store::AuditFilter {
                target: Some(format!("app:{id}")),
                ..Default::default()
            },
            None,
            100,
        )
        .await?
        .items
        .into_iter()
        .map(crate::web::activity::EventRow::from)
        .collect();
    page(
        &web,
        &AppActivityPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Activity", head.label)),
            head,
            events,
        },
    )
}
