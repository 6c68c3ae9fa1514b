//! Remove app: what removing it deletes (nothing on the platform), confirmed with a reason.

use super::head::{AppHead, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Errors, Flash, Form, Nav, Web, WebResult, done, invalid, page};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;

#[derive(Template)]
#[template(path = "web/app_remove.html", blocks = ["dialog"])]
pub struct RemovePage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    reason: String,
    errors: Errors,
}

pub async fn remove_page(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "settings").await?;
    let p = RemovePage {
        chrome: web.chrome(Nav::Apps, format!("Remove {}", head.label)),
        head,
        standalone: !web.htmx,
        reason: String::new(),
        errors: Errors::default(),
    };
    if web.htmx {
        crate::web::page(&web, &p.as_dialog())
    } else {
        page(&web, &p)
    }
}

pub async fn remove_submit(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "settings").await?;
    match castellan_services::apps::remove_app(
        &s.store,
        web.ws(),
        &web.caller.actor(),
        id,
        form.get("reason"),
    )
    .await
    {
        Ok(r) => Ok(done(
            &web,
            "/apps",
            Flash::success(format!(
                "{} was removed from Castellan ({} seats, {} assets and {} reports deleted). Nothing was changed on {}.",
                app.label,
                r.seats,
                r.assets,
                r.reports,
                app.platform.label()
            )),
        )),
        Err(e) => {
            let errors = Errors::from_api(e.into(), &["reason"])?;
            invalid(
                &web,
                &RemovePage {
                    chrome: web.chrome(Nav::Apps, format!("Remove {}", head.label)),
                    head,
                    standalone: true,
                    reason: form.get("reason").to_string(),
                    errors,
                },
            )
        }
    }
}
