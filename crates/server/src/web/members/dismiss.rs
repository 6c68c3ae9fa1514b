//! Dismiss a report, with a reason (its seats stay).

use crate::error::ApiError;
use crate::state::AppState;
use crate::web::apps::{AppHead, app_id, load_head};
use crate::web::{Chrome, Errors, Flash, Form, Nav, Web, WebResult, done, invalid};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;

#[derive(Template)]
#[template(path = "web/dismiss.html", blocks = ["dialog"])]
pub struct DismissPage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    report: String,
    reason: String,
    errors: Errors,
}

pub async fn dismiss_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, report)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "reports").await?;
    s.store.ws(web.ws()).report(id, &report).await?;
    dialog!(
        web,
        DismissPage {
            chrome: web.chrome(Nav::Apps, "Dismiss report"),
            head,
            standalone: !web.htmx,
            report,
            reason: String::new(),
            errors: Errors::default(),
        },
        true
    )
}

pub async fn dismiss_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, report)): Path<(String, String)>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    s.store.ws(web.ws()).report(id, &report).await?;
    let result = async {
        castellan_services::seats::dismiss_report(
            &s.services,
            web.ws(),
            castellan_services::seats::Decider {
                actor: &web.caller.actor(),
                by: &web.p().person_id.to_string(),
            },
            id,
            &report,
            form.get("reason"),
        )
        .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => Ok(done(
            &web,
            &format!("/apps/{id}/reports"),
            Flash::success("The report was dismissed; its seats stay on the platform."),
        )),
        Err(e) => {
            let errors = Errors::from_api(e, &["reason"])?;
            let (_, head) = load_head(&s, &web, id, None, "reports").await?;
            dialog!(
                web,
                DismissPage {
                    chrome: web.chrome(Nav::Apps, "Dismiss report"),
                    head,
                    standalone: true,
                    report,
                    reason: form.get("reason").to_string(),
                    errors,
                },
                false
            )
        }
    }
}
