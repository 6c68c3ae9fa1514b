//! Check for updates from App details, Retry of a failing connection, and the check's live
//! progress (an htmx fragment that polls).

use super::head::{ProgressView, app_id, latest_check};
use crate::state::AppState;
use crate::web::{Flash, Form, Web, WebError, WebResult, done};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use castellan_domain::policy::Action;

/// Check for updates; with `full` set (the *Full check* button of apps read in a coverage
/// window), every asset's holders and every partner's shared assets are read.
pub async fn check(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let app = s.store.ws(web.ws()).app(id).await?;
    let full = form.checked("full");
    let task = castellan_services::apps::request_check_of(
        &s.store,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        id,
        full,
    )
    .await?;
    let what = if full {
        "Checking {} for updates, every asset and partner in full."
    } else {
        "Checking {} for updates."
    };
    Ok(done(
        &web,
        &format!("/apps/{id}/members"),
        Flash::info(what.replace("{}", &app.label)).with_link(format!("/automation/{}", task.id)),
    ))
}

/// Retry on an app whose connection is failing: checks the connection again.
pub async fn retry(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let app = s.store.ws(web.ws()).app(id).await?;
    let task = castellan_services::apps::retry_connection(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        id,
    )
    .await
    .map_err(crate::error::ApiError::from)?;
    Ok(done(
        &web,
        &format!("/apps/{id}/members"),
        Flash::info(format!("Connecting {} again.", app.label))
            .with_link(format!("/automation/{}", task.id)),
    ))
}

#[derive(Template)]
#[template(path = "web/progress.html")]
pub struct ProgressFragment {
    progress: ProgressView,
}

/// The live progress of the app's check (polled by htmx every second while it runs). When it
/// has ended, the page reloads to show what the check found.
pub async fn progress(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    s.store.ws(web.ws()).app(id).await?;
    let Some(t) = latest_check(&s, &web, id).await? else {
        return Err(WebError::NotFound("This app has no check yet.".into()));
    };
    let view = ProgressView::of(id, &t);
    let finished = !view.live;
    let mut r = crate::web::render(
        Some(&web),
        StatusCode::OK,
        &ProgressFragment { progress: view },
    )?;
    if finished && web.htmx {
        r.headers_mut()
            .insert("hx-refresh", HeaderValue::from_static("true"));
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
