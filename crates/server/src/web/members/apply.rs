//! Apply a report: the removals of the seats of people who left, planned and queued.

use super::change::ChangePage;
use crate::state::AppState;
use crate::web::apps::{app_id, load_head};
use crate::web::{Errors, Flash, Form, Nav, Query, Web, WebError, WebResult, done, invalid};
use axum::extract::{Path, State};
use castellan_domain::policy::Action;
use castellan_domain::words::count;
use castellan_services::members::{Applied, Handling};

// ------------------------------------------------------------------ Apply, Dismiss report

pub async fn apply_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, report)): Path<(String, String)>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let view = apply_view(&s, &web, id, &report, &q, true).await?;
    let ok = !view.errors.any();
    dialog!(web, view, ok || web.htmx)
}

async fn apply_view(
    s: &AppState,
    web: &Web,
    id: castellan_domain::AppId,
    report: &str,
    form: &Form,
    dry_run: bool,
) -> Result<ChangePage, WebError> {
    let (app, head) = load_head(s, web, id, None, "reports").await?;
    let r = s.store.ws(web.ws()).report(id, report).await?;
    let chosen = form.all("seat");
    let mut fields: Vec<(String, String)> = chosen
        .iter()
        .map(|c| ("seat".to_string(), c.clone()))
        .collect();
    if form.checked("confirm_large_removal") {
        fields.push(("confirm_large_removal".into(), "on".into()));
    }
    let mut view = ChangePage {
        chrome: web.chrome(Nav::Apps, "Apply report"),
        head,
        standalone: !web.htmx,
        title: "Apply report?".into(),
        intro: format!(
            "Removes {} of people deactivated in the directory.",
            count(
                if chosen.is_empty() {
                    r.pending_removal.len()
                } else {
                    chosen.len()
                },
                "seat",
                "seats"
            )
        ),
        steps: Vec::new(),
        fields,
        plan_hash: String::new(),
        confirm_url: format!("/apps/{id}/reports/{report}/apply"),
        confirm_label: "Apply report".into(),
        danger: true,
        errors: Errors::default(),
        back: format!("/apps/{id}/reports"),
    };
    let applied = castellan_services::members::apply_report(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        &app,
        &r,
        Some(chosen).filter(|c| !c.is_empty()),
        Handling {
            dry_run,
            plan_hash: None,
            confirm_large_removal: form.checked("confirm_large_removal"),
            report: None,
        },
    )
    .await;
    match applied {
        Ok(Applied::Planned(p, _)) => {
            view.show_plan(p);
        }
        Ok(Applied::NothingLive) => {
            view.intro = "None of these seats is on the platform any more: applying marks the report applied without calling the platform.".into();
        }
        Err(e) => view.errors = Errors::from_api(crate::error::queue_error(e), &[])?,
    }
    Ok(view)
}

pub async fn apply_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, report)): Path<(String, String)>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let app = s.store.ws(web.ws()).app(id).await?;
    let r = s.store.ws(web.ws()).report(id, &report).await?;
    let chosen = form.all("seat");
    if form.get("plan_hash").is_empty() {
        let mut view = apply_view(&s, &web, id, &report, &form, true).await?;
        view.standalone = true;
        view.errors = Errors::field("plan_hash", "");
        view.errors.general = Some(
            "Review the plan first: a report is applied only with the plan it was shown with."
                .into(),
        );
        return dialog!(web, view, false);
    }
    let applied = castellan_services::members::apply_report(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        &app,
        &r,
        Some(chosen).filter(|c| !c.is_empty()),
        Handling {
            dry_run: false,
            plan_hash: Some(form.get("plan_hash").to_string()).filter(|h| !h.is_empty()),
            confirm_large_removal: form.checked("confirm_large_removal"),
            report: None,
        },
    )
    .await;
    let back = format!("/apps/{id}/reports");
    match applied {
        Ok(Applied::Planned(_, Some(task))) => Ok(done(
            &web,
            &back,
            Flash::info("The report is being applied.")
                .with_link(format!("/automation/{}", task.id)),
        )),
        Ok(Applied::Planned(_, None)) | Ok(Applied::NothingLive) => Ok(done(
            &web,
            &back,
            Flash::success("Nothing left to remove: the report is marked applied."),
        )),
        Err(e) => {
            let mut view = apply_view(&s, &web, id, &report, &form, true).await?;
            view.standalone = true;
            view.errors = Errors::from_api(crate::error::queue_error(e), &[])?;
            dialog!(web, view, false)
        }
    }
}
