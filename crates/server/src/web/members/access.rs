//! Share access to the app: pick people of the directory, review every invitation's plan (its
//! exact calls), then send them with that plan's hash.

use super::common::{AssetChoice, asset_choices, members_url};
use crate::state::AppState;
use crate::web::apps::app_id;
use crate::web::{Chrome, Form, Nav, Web, WebError, WebResult, invalid};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;
use castellan_domain::roles::roles;

// ------------------------------------------------------------------ Share access

#[derive(Template)]
#[template(path = "web/access.html", blocks = ["dialog"])]
pub struct AccessPage {
    chrome: Chrome,
    standalone: bool,
    app_id: String,
    app_label: String,
    platform: &'static str,
    /// Active people of the directory: (id, name, e-mail).
    people: Vec<(String, String, String)>,
    roles: Vec<&'static str>,
    assets: Vec<AssetChoice>,
    back: String,
    errors: crate::web::Errors,
    /// Step 2: the invitations planned, with the choices carried as hidden fields and the
    /// plan's hash that Share access runs with.
    plan: Option<SharePlanView>,
}

/// One step of an invitation: what it does, and its exact calls.
pub type StepView = (String, Vec<String>);

/// The plan shown before anything is sent.
pub struct SharePlanView {
    /// Per person: their e-mail, and each step.
    pub invitations: Vec<(String, Vec<StepView>)>,
    pub fields: Vec<(String, String)>,
    pub hash: String,
}

async fn access_view(
    s: &AppState,
    web: &Web,
    app: &castellan_store::App,
    errors: crate::web::Errors,
) -> Result<AccessPage, WebError> {
    let filter = castellan_store::IdentityFilter {
        query: None,
        active: Some(true),
    };
    let people = s
        .store
        .ws(web.ws())
        .identities(&filter, None, 200)
        .await?
        .items
        .into_iter()
        .map(|i| {
            let name = i
                .display_name
                .clone()
                .unwrap_or_else(|| i.user_name.clone());
            (i.id.to_string(), name, i.primary_email)
        })
        .collect();
    Ok(AccessPage {
        chrome: web.chrome(Nav::Apps, format!("Share access to {}", app.label)),
        standalone: !web.htmx || errors.any(),
        app_id: app.id.to_string(),
        app_label: app.label.clone(),
        platform: app.platform.label(),
        people,
        roles: roles(app.platform).to_vec(),
        assets: asset_choices(s, web, app).await?,
        back: if web.require(Action::ReadApps).is_ok() {
            members_url(&app.id.to_string(), "onboarded")
        } else {
            "/accounts".into()
        },
        errors,
        plan: None,
    })
}

/// The Share access dialog (the app's Owners and Admins).
pub async fn access_page(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    let id = app_id(&id)?;
    let app = crate::api::access::app_for_sharing(&s, &web.caller, id).await?;
    let v = access_view(&s, &web, &app, crate::web::Errors::default()).await?;
    dialog!(web, v, true)
}

pub async fn access_submit(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: Form,
) -> WebResult {
    let id = app_id(&id)?;
    let app = crate::api::access::app_for_sharing(&s, &web.caller, id).await?;
    let req = crate::api::access::ShareAccessRequest {
        identity_ids: form.all("identity_id"),
        app_role: form.get("app_role").to_string(),
        business_role: form.get("business_role").to_string(),
        assets: form
            .all("grant")
            .into_iter()
            .filter_map(|g| {
                let (asset, perm) = g.split_once(':')?;
                Some(crate::api::members::AssetPermissionsBody {
                    asset_id: asset.to_string(),
                    permissions: vec![perm.to_string()],
                })
            })
            .collect(),
        dry_run: false,
        plan_hash: None,
    };
    // Review plan (no hash yet) shows every invitation's calls; Share access sends them, only
    // as shown (the plan's hash).
    let plan_hash = Some(form.get("plan_hash").to_string()).filter(|h| !h.is_empty());
    let dry_run = plan_hash.is_none();
    let result = async {
        let share = crate::api::access::share_request(&req)?;
        castellan_services::access::share_app(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            Some(web.p().person_id),
            &app,
            share,
            castellan_services::members::Handling {
                dry_run,
                plan_hash,
                ..Default::default()
            },
        )
        .await
        .map_err(crate::error::queue_error)
    }
    .await;
    match result {
        Ok(out) if dry_run => {
            let mut v = access_view(&s, &web, &app, crate::web::Errors::default()).await?;
            let mut fields: Vec<(String, String)> = form
                .fields
                .iter()
                .filter(|(k, _)| {
                    ["identity_id", "app_role", "business_role", "grant"].contains(&k.as_str())
                })
                .cloned()
                .collect();
            fields.retain(|(k, v)| k != "grant" || !v.is_empty());
            v.plan = Some(SharePlanView {
                invitations: out
                    .plan
                    .invitations
                    .into_iter()
                    .map(|(_, email, preview)| {
                        let steps = preview
                            .plan
                            .steps
                            .into_iter()
                            .zip(preview.calls)
                            .map(|(st, calls)| (st.summary, calls))
                            .collect();
                        (email, steps)
                    })
                    .collect(),
                fields,
                hash: out.plan.input_hash,
            });
            dialog!(web, v, true)
        }
        Ok(out) => {
            let who: Vec<String> = out.shared.iter().map(|x| x.email.clone()).collect();
            let back = if web.require(Action::ReadApps).is_ok() {
                members_url(&app.id.to_string(), "invited")
            } else {
                "/accounts".into()
            };
            Ok(crate::web::done(
                &web,
                &back,
                crate::web::Flash::success(format!(
                    "Shared {} with {}. Invitations are on their way; each of them now has the app's card.",
                    app.label,
                    who.join(", ")
                )),
            ))
        }
        Err(e) => {
            let errors = crate::web::Errors::from_api(e, &["identity_ids", "role"])?;
            let v = access_view(&s, &web, &app, errors).await?;
            invalid(&web, &v)
        }
    }
}
