//! Remove user, and every change to the platform planned first (its seats and exact calls)
//! and queued only with the hash of the plan shown.

use crate::error::ApiError;
use crate::state::AppState;
use crate::web::apps::{AppHead, app_id, load_head};
use crate::web::{
    Chrome, Errors, Flash, Form, Nav, Query, Web, WebError, WebResult, done, invalid,
};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::changes::{AssetPermissions, Request};
use castellan_domain::policy::Action;
use castellan_domain::words::count;
use castellan_services::members::Handling;

// ------------------------------------------------------------- changes: plan, then queue

pub struct StepView {
    pub summary: String,
    pub calls: Vec<String>,
}

#[derive(Template)]
#[template(path = "web/change.html", blocks = ["dialog"])]
pub struct ChangePage {
    pub(crate) chrome: Chrome,
    pub(crate) head: AppHead,
    pub(crate) standalone: bool,
    pub(crate) title: String,
    pub(crate) intro: String,
    pub(crate) steps: Vec<StepView>,
    /// The request's fields, sent again with the confirmation.
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) plan_hash: String,
    pub(crate) confirm_url: String,
    pub(crate) confirm_label: String,
    pub(crate) danger: bool,
    pub(crate) errors: Errors,
    pub(crate) back: String,
}

impl ChangePage {
    /// The plan to confirm: its steps with their platform calls, and its hash.
    pub(crate) fn show_plan(&mut self, p: castellan_services::members::Preview) {
        self.plan_hash = p.plan.input_hash;
        self.steps = p
            .plan
            .steps
            .into_iter()
            .zip(p.calls)
            .map(|(st, calls)| StepView {
                summary: st.summary,
                calls,
            })
            .collect();
    }
}

/// The change a form describes (the same fields as the API's `ChangeRequest`).
pub(crate) fn request_of(form: &Form) -> Result<Request, ApiError> {
    let need = |f: &str| {
        let v = form.get(f).trim().to_string();
        if v.is_empty() {
            Err(ApiError::invalid(f, format!("{f} is required")))
        } else {
            Ok(v)
        }
    };
    Ok(match form.get("action") {
        "remove" => {
            let seats = form.all("seats");
            if seats.is_empty() {
                return Err(ApiError::invalid("seats", "choose at least one seat"));
            }
            Request::Remove { seats }
        }
        "set_role" => Request::SetRole {
            seat: need("seat")?,
            role: need("role")?,
        },
        "set_permissions" => Request::SetPermissions {
            seat: need("seat")?,
            asset_id: need("asset_id")?,
            permissions: form.all("permissions"),
        },
        "invite" => Request::Invite {
            email: need("email")?,
            role: need("role")?,
            assets: form
                .all("grant")
                .into_iter()
                .filter_map(|g| {
                    let (asset, perm) = g.split_once(':')?;
                    Some(AssetPermissions {
                        asset_id: asset.to_string(),
                        permissions: vec![perm.to_string()],
                    })
                })
                .collect(),
        },
        "cancel_invite" => Request::CancelInvite {
            seat: need("seat")?,
        },
        _ => return Err(ApiError::invalid("action", "unknown change")),
    })
}

pub(crate) fn describe(r: &Request) -> (String, String, String, bool) {
    match r {
        Request::Remove { seats } => (
            "Remove user?".into(),
            format!(
                "{} {} their access to the business and every asset on the platform.",
                count(seats.len(), "seat", "seats"),
                if seats.len() == 1 { "loses" } else { "lose" }
            ),
            "Remove user".into(),
            true,
        ),
        Request::SetRole { role, .. } => (
            "Change role".into(),
            format!("The seat's business role becomes {role}."),
            "Change role".into(),
            false,
        ),
        Request::SetPermissions { asset_id, .. } => (
            "Change asset permissions".into(),
            format!("The seat's permissions on asset {asset_id} change."),
            "Change permissions".into(),
            false,
        ),
        Request::Invite { email, .. } => (
            "Invite member".into(),
            format!("The platform sends {email} an invitation."),
            "Send invitation".into(),
            false,
        ),
        Request::CancelInvite { .. } => (
            "Cancel invite?".into(),
            "The pending invitation is withdrawn on the platform.".into(),
            "Cancel invite".into(),
            true,
        ),
    }
}

pub(crate) async fn change_view(
    s: &AppState,
    web: &Web,
    id: castellan_domain::AppId,
    form: &Form,
) -> Result<ChangePage, WebError> {
    let (app, head) = load_head(s, web, id, None, "members").await?;
    let fields: Vec<(String, String)> = form
        .fields
        .iter()
        .filter(|(k, v)| {
            !v.is_empty()
                && matches!(
                    k.as_str(),
                    "action"
                        | "seats"
                        | "seat"
                        | "role"
                        | "asset_id"
                        | "permissions"
                        | "email"
                        | "grant"
                        | "confirm_large_removal"
                )
        })
        .cloned()
        .collect();
    let back = format!("/apps/{id}/members");
    let mut view = ChangePage {
        chrome: web.chrome(Nav::Apps, "Review the plan"),
        head,
        standalone: !web.htmx,
        title: "Review the plan".into(),
        intro: String::new(),
        steps: Vec::new(),
        fields,
        plan_hash: String::new(),
        confirm_url: format!("/apps/{id}/changes"),
        confirm_label: "Confirm".into(),
        danger: false,
        errors: Errors::default(),
        back,
    };
    let request = match request_of(form) {
        Ok(r) => r,
        Err(e) => {
            view.errors = Errors::from_api(e, &[])?;
            return Ok(view);
        }
    };
    let (title, intro, confirm, danger) = describe(&request);
    view.title = title;
    view.intro = intro;
    view.confirm_label = confirm;
    view.danger = danger;
    match castellan_services::members::preview(
        &s.services,
        web.ws(),
        &app,
        &request,
        form.checked("confirm_large_removal"),
    )
    .await
    {
        Ok(p) => {
            view.show_plan(p);
        }
        Err(e) => view.errors = Errors::from_api(crate::error::plan_error(e), &[])?,
    }
    Ok(view)
}

/// Remove user (or Cancel invite): the plan with its exact platform calls, then confirm.
pub async fn remove_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let form = if q.get("action") == "cancel_invite" {
        Form {
            fields: vec![
                ("action".into(), "cancel_invite".into()),
                ("seat".into(), user),
            ],
        }
    } else {
        Form {
            fields: vec![("action".into(), "remove".into()), ("seats".into(), user)],
        }
    };
    let view = change_view(&s, &web, id, &form).await?;
    let ok = !view.errors.any();
    dialog!(web, view, ok || web.htmx)
}

/// Any change's plan (Change role, asset permissions, Invite members post their fields here).
pub async fn preview(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let mut view = change_view(&s, &web, id, &form).await?;
    view.standalone = true;
    let ok = !view.errors.any();
    dialog!(web, view, ok)
}

/// Queues a previewed change with its plan's hash: refused if what it was computed from has
/// changed since.
pub async fn queue(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let app = s.store.ws(web.ws()).app(id).await?;
    let result = async {
        let request = request_of(&form)?;
        if form.get("plan_hash").is_empty() {
            return Err(ApiError::invalid(
                "plan_hash",
                "review the plan first: a change runs only with the plan it was shown with",
            ));
        }
        castellan_services::members::plan_and_queue(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            Some(web.p().person_id),
            &app,
            request,
            Handling {
                dry_run: false,
                plan_hash: Some(form.get("plan_hash").to_string()).filter(|h| !h.is_empty()),
                confirm_large_removal: form.checked("confirm_large_removal"),
                report: None,
            },
        )
        .await
        .map_err(crate::error::queue_error)
    }
    .await;
    match result {
        Ok((_, Some(task))) => Ok(done(
            &web,
            &format!("/apps/{id}/members"),
            Flash::info("The change is queued; its task runs now.")
                .with_link(format!("/automation/{}", task.id)),
        )),
        Ok((_, None)) => Ok(done(
            &web,
            &format!("/apps/{id}/members"),
            Flash::info("Nothing to do: the platform already has it."),
        )),
        Err(e) => {
            let mut view = change_view(&s, &web, id, &form).await?;
            view.standalone = true;
            view.errors = Errors::from_api(e, &[])?;
            dialog!(web, view, false)
        }
    }
}
