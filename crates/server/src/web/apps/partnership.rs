//! Partners tab → More options → *Stop sharing* and *Remove partnership*: the dialog shows what
//! the change does and its exact platform calls; Confirm queues it with the plan's hash, so a
//! partner changed since the preview is refused.

use super::head::app_id;
use crate::state::AppState;
use crate::web::{Chrome, Nav, Query, Web, WebResult, page};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::partnership::PartnerRequest;
use castellan_domain::policy::Action;

#[derive(Template)]
#[template(path = "web/partner_change.html", blocks = ["dialog"])]
pub struct PartnerChangePage {
    chrome: Chrome,
    standalone: bool,
    title: &'static str,
    partner: String,
    /// `choose` (which assets; stop sharing only) or `preview` (the calls → Confirm).
    step: &'static str,
    base: String,
    back: String,
    /// Our assets the partner uses: (id, label, chosen).
    assets: Vec<(String, String, bool)>,
    summary: String,
    calls: Vec<String>,
    plan_hash: String,
    errors: crate::web::Errors,
}

fn request(kind: &str, assets: Vec<String>) -> PartnerRequest {
    if kind == "remove" {
        PartnerRequest::Remove
    } else {
        PartnerRequest::StopSharing { assets }
    }
}

async fn view(
    s: &AppState,
    web: &Web,
    app: castellan_domain::AppId,
    partner: &str,
    kind: &str,
    chosen: Vec<String>,
    preview: bool,
) -> Result<PartnerChangePage, crate::web::WebError> {
    let p = s
        .store
        .ws(web.ws())
        .partner(app, partner)
        .await?
        .ok_or_else(|| crate::web::WebError::NotFound("This partner is not on the app.".into()))?;
    let name = p.name.clone().unwrap_or_else(|| p.partner_id.clone());
    let mut page = PartnerChangePage {
        chrome: web.chrome(Nav::Apps, "Partnership"),
        standalone: !web.htmx,
        title: if kind == "remove" {
            "Remove partnership"
        } else {
            "Stop sharing"
        },
        partner: name,
        step: if preview || kind == "remove" {
            "preview"
        } else {
            "choose"
        },
        base: format!("/apps/{app}/partners/{partner}/change/{kind}"),
        back: format!("/apps/{app}/partners"),
        assets: p
            .ours
            .iter()
            .map(|a| {
                let label = format!(
                    "{} ({})",
                    a.name.clone().unwrap_or_else(|| a.asset_id.clone()),
                    a.kind
                );
                (a.asset_id.clone(), label, chosen.contains(&a.asset_id))
            })
            .collect(),
        summary: String::new(),
        calls: Vec::new(),
        plan_hash: String::new(),
        errors: crate::web::Errors::default(),
    };
    if page.step == "preview" {
        match castellan_services::partnership::preview_partner_change(
            &s.services,
            web.ws(),
            app,
            partner,
            &request(kind, chosen),
        )
        .await
        {
            Ok(pv) => {
                page.summary = pv.summary;
                page.calls = pv.calls;
                page.plan_hash = pv.plan_hash;
            }
            Err(e) => {
                page.errors = crate::web::Errors::from_api(e.into(), &["assets"])?;
                page.step = "choose";
            }
        }
    }
    Ok(page)
}

/// The dialog: which assets (stop sharing), then what it does and its calls.
pub async fn change_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, partner, kind)): Path<(String, String, String)>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let kind = if kind == "remove" {
        "remove"
    } else {
        "stop-sharing"
    };
    let v = view(
        &s,
        &web,
        id,
        &partner,
        kind,
        q.all("asset"),
        q.get("step") == "preview",
    )
    .await?;
    if web.htmx {
        page(&web, &v.as_dialog())
    } else {
        page(&web, &v)
    }
}

/// Confirm: queues the change with the previewed plan's hash.
pub async fn change_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, partner, kind)): Path<(String, String, String)>,
    form: crate::web::Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let kind = if kind == "remove" {
        "remove"
    } else {
        "stop-sharing"
    };
    let assets = form.all("asset");
    match castellan_services::partnership::request_partner_change(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        id,
        &partner,
        request(kind, assets.clone()),
        form.get("plan_hash"),
    )
    .await
    {
        Ok((pv, _)) => Ok(crate::web::done(
            &web,
            &format!("/apps/{id}/partners"),
            crate::web::Flash::success(format!(
                "{}: queued; the app is checked once it is done.",
                pv.summary
            )),
        )),
        Err(e) => {
            let mut v = view(&s, &web, id, &partner, kind, assets, true).await?;
            v.standalone = true;
            v.errors = crate::web::Errors::from_api(e.into(), &["assets", "plan_hash"])?;
            crate::web::invalid(&web, &v)
        }
    }
}
