//! Row actions of the User Overview and the Reports tab, as dialogs: Match user (live
//! directory search), Exempt user, Un-exempt, Re-assign (unmatch), Remove user, Change role
//! and asset permissions, Invite members, and Apply or Dismiss a report. Every change that
//! reaches the platform shows its plan — the seats and the exact platform calls — first, and
//! is queued only with that plan's hash.

use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::IdentityId;
use castellan_domain::changes::{AssetPermissions, Request, asset_permissions, roles};
use castellan_domain::policy::Action;
use castellan_services::members::{Applied, Handling};
use castellan_store::{AppRole, IdentityFilter};

use super::apps::{AppHead, app_id, load_head};
use super::{Chrome, Errors, Flash, Form, Nav, Query, Web, WebError, WebResult, done, invalid};
use crate::error::ApiError;
use crate::state::AppState;

/// Shows a dialog: its fragment for htmx (opened as a modal by app.js), or a page of its own
/// (JavaScript off, or a form sent back with errors).
macro_rules! dialog {
    ($web:expr, $view:expr, $ok:expr) => {{
        let v = $view;
        if $web.htmx && $ok {
            super::page(&$web, &v.as_dialog())
        } else if $ok {
            super::page(&$web, &v)
        } else {
            invalid(&$web, &v)
        }
    }};
}

fn members_url(app: &str, tab: &str) -> String {
    format!("/apps/{app}/members?tab={tab}")
}

async fn seat_label(
    s: &AppState,
    web: &Web,
    app: castellan_domain::AppId,
    user: &str,
) -> Result<(castellan_store::Seat, String), WebError> {
    let seat = s
        .store
        .ws(web.ws())
        .seat_by_id(app, user)
        .await?
        .ok_or_else(|| WebError::NotFound("This seat is not on the app.".into()))?;
    let label = seat
        .display_name
        .clone()
        .or_else(|| seat.email.clone())
        .unwrap_or_else(|| seat.user_id.clone());
    Ok((seat, label))
}

// ------------------------------------------------------------------------- Match user

pub struct IdentityChoice {
    pub id: String,
    pub name: String,
    pub email: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "web/match.html", blocks = ["dialog", "results"])]
pub struct MatchPage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    user_id: String,
    seat: String,
    q: String,
    results: Vec<IdentityChoice>,
    role: String,
    errors: Errors,
}

impl MatchPage {
    fn base(&self) -> String {
        format!(
            "/apps/{}/members/{}/match",
            self.head.id,
            form_urlencoded::byte_serialize(self.user_id.as_bytes()).collect::<String>()
        )
    }
}

async fn search(
    s: &AppState,
    web: &Web,
    q: &str,
    chosen: &str,
) -> Result<Vec<IdentityChoice>, WebError> {
    if q.trim().is_empty() {
        return Ok(Vec::new());
    }
    let found = s
        .store
        .ws(web.ws())
        .identities(
            &IdentityFilter {
                query: Some(q.trim().to_string()),
                active: Some(true),
            },
            None,
            10,
        )
        .await?
        .items;
    let single = found.len() == 1;
    Ok(found
        .into_iter()
        .map(|i| IdentityChoice {
            checked: single || chosen == i.id.to_string(),
            name: i
                .display_name
                .clone()
                .or_else(|| {
                    Some(format!(
                        "{} {}",
                        i.given_name.clone().unwrap_or_default(),
                        i.family_name.clone().unwrap_or_default()
                    ))
                    .filter(|n| !n.trim().is_empty())
                })
                .unwrap_or_else(|| i.user_name.clone()),
            email: i.primary_email,
            id: i.id.to_string(),
        })
        .collect())
}

pub async fn match_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "members").await?;
    let (_, seat) = seat_label(&s, &web, id, &user).await?;
    let results = search(&s, &web, q.get("q"), q.get("identity_id")).await?;
    let view = MatchPage {
        chrome: web.chrome(Nav::Apps, "Match user"),
        head,
        standalone: !web.htmx,
        user_id: user,
        seat,
        q: q.get("q").to_string(),
        results,
        role: if q.get("role").is_empty() {
            "collaborator".into()
        } else {
            q.get("role").into()
        },
        errors: Errors::default(),
    };
    // The live search asks for the results alone.
    if web.htmx && q.get("fragment") == "results" {
        return super::page(&web, &view.as_results());
    }
    dialog!(web, view, true)
}

pub async fn match_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    s.store.ws(web.ws()).app(id).await?;
    let result = async {
        let identity: IdentityId = form
            .get("identity_id")
            .parse()
            .map_err(|_| ApiError::invalid("identity_id", "choose the person to match with"))?;
        let role = AppRole::parse("role", form.get("role"))?;
        Ok::<_, ApiError>(
            castellan_services::seats::match_seat(
                &s.services,
                web.ws(),
                &web.caller.actor(),
                id,
                &user,
                identity,
                role,
            )
            .await?,
        )
    }
    .await;
    match result {
        Ok(seat) => Ok(done(
            &web,
            &members_url(&id.to_string(), "onboarded"),
            Flash::success(format!(
                "{} was matched and moved to Onboarded.",
                seat.email.unwrap_or(seat.user_id)
            )),
        )),
        Err(e) => {
            let errors = Errors::from_api(e, &["identity_id", "role"])?;
            let (_, head) = load_head(&s, &web, id, None, "members").await?;
            let (_, seat) = seat_label(&s, &web, id, &user).await?;
            let results = search(&s, &web, form.get("q"), form.get("identity_id")).await?;
            dialog!(
                web,
                MatchPage {
                    chrome: web.chrome(Nav::Apps, "Match user"),
                    head,
                    standalone: true,
                    user_id: user,
                    seat,
                    q: form.get("q").to_string(),
                    results,
                    role: form.get("role").to_string(),
                    errors,
                },
                false
            )
        }
    }
}

// ------------------------------------------------------------------------- Exempt user

#[derive(Template)]
#[template(path = "web/exempt.html", blocks = ["dialog"])]
pub struct ExemptPage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    user_id: String,
    seat: String,
    reason: String,
    until: String,
    errors: Errors,
}

impl ExemptPage {
    fn action(&self) -> String {
        format!(
            "/apps/{}/members/{}/exempt",
            self.head.id,
            form_urlencoded::byte_serialize(self.user_id.as_bytes()).collect::<String>()
        )
    }
}

pub async fn exempt_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "members").await?;
    let (_, seat) = seat_label(&s, &web, id, &user).await?;
    dialog!(
        web,
        ExemptPage {
            chrome: web.chrome(Nav::Apps, "Exempt user"),
            head,
            standalone: !web.htmx,
            user_id: user,
            seat,
            reason: String::new(),
            until: String::new(),
            errors: Errors::default(),
        },
        true
    )
}

/// An end date (`YYYY-MM-DD`): the exemption ends at the end of that day, UTC.
fn parse_until(raw: &str) -> Result<Option<castellan_domain::Timestamp>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid("expires_at", "must be a date such as 2027-01-31"))?;
    Ok(Some(
        d.and_hms_opt(23, 59, 59).expect("valid time").and_utc(),
    ))
}

pub async fn exempt_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    s.store.ws(web.ws()).app(id).await?;
    let result = async {
        let until = parse_until(form.get("expires_at"))?;
        Ok::<_, ApiError>(
            castellan_services::seats::exempt_seat(
                &s.services,
                web.ws(),
                castellan_services::seats::Decider {
                    actor: &web.caller.actor(),
                    by: &web.p().person_id.to_string(),
                },
                id,
                &user,
                form.get("reason"),
                until,
            )
            .await?,
        )
    }
    .await;
    match result {
        Ok(seat) => Ok(done(
            &web,
            &members_url(&id.to_string(), "exempted"),
            Flash::success(format!(
                "{} is exempted and moved to Exempted.",
                seat.email.unwrap_or(seat.user_id)
            )),
        )),
        Err(e) => {
            let errors = Errors::from_api(e, &["reason", "expires_at"])?;
            let (_, head) = load_head(&s, &web, id, None, "members").await?;
            let (_, seat) = seat_label(&s, &web, id, &user).await?;
            dialog!(
                web,
                ExemptPage {
                    chrome: web.chrome(Nav::Apps, "Exempt user"),
                    head,
                    standalone: true,
                    user_id: user,
                    seat,
                    reason: form.get("reason").to_string(),
                    until: form.get("expires_at").to_string(),
                    errors,
                },
                false
            )
        }
    }
}

pub async fn unexempt_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    match castellan_services::seats::unexempt_seat(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        id,
        &user,
    )
    .await
    {
        // Another workspace's app, or no such seat: a 404, not a message.
        Err(castellan_services::ServiceError::Store(
            e @ castellan_store::StoreError::NotFound(_),
        )) => Err(e.into()),
        Ok(seat) => Ok(done(
            &web,
            &members_url(&id.to_string(), seat.state.tab()),
            Flash::success(format!(
                "{} is no longer exempt.",
                seat.email.unwrap_or(seat.user_id)
            )),
        )),
        Err(e) => Ok(done(
            &web,
            &members_url(&id.to_string(), "exempted"),
            Flash::error(Errors::from_api(e.into(), &[])?.general.unwrap_or_default()),
        )),
    }
}

pub async fn unmatch_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    match castellan_services::seats::unmatch_seat(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        id,
        &user,
    )
    .await
    {
        // Another workspace's app, or no such seat: a 404, not a message.
        Err(castellan_services::ServiceError::Store(
            e @ castellan_store::StoreError::NotFound(_),
        )) => Err(e.into()),
        Ok(seat) => Ok(done(
            &web,
            &members_url(&id.to_string(), "unmatched"),
            Flash::success(format!(
                "{} was unmatched and returned to Unmatched.",
                seat.email.unwrap_or(seat.user_id)
            )),
        )),
        Err(e) => Ok(done(
            &web,
            &members_url(&id.to_string(), "onboarded"),
            Flash::error(Errors::from_api(e.into(), &[])?.general.unwrap_or_default()),
        )),
    }
}

// ------------------------------------------------------------- changes: plan, then queue

pub struct StepView {
    pub summary: String,
    pub calls: Vec<String>,
}

#[derive(Template)]
#[template(path = "web/change.html", blocks = ["dialog"])]
pub struct ChangePage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    title: String,
    intro: String,
    steps: Vec<StepView>,
    /// The request's fields, sent again with the confirmation.
    fields: Vec<(String, String)>,
    plan_hash: String,
    confirm_url: String,
    confirm_label: String,
    danger: bool,
    errors: Errors,
    back: String,
}

impl ChangePage {
    /// The plan to confirm: its steps with their platform calls, and its hash.
    fn show_plan(&mut self, p: castellan_services::members::Preview) {
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
fn request_of(form: &Form) -> Result<Request, ApiError> {
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

fn describe(r: &Request) -> (String, String, String, bool) {
    match r {
        Request::Remove { seats } => (
            "Remove user?".into(),
            format!(
                "{} seat(s) lose their access to the business and every asset on the platform.",
                seats.len()
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

async fn change_view(
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

// --------------------------------------------------------------- Change role, Invite

pub struct AssetChoice {
    pub asset_id: String,
    pub label: String,
    pub permissions: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "web/role.html", blocks = ["dialog"])]
pub struct RolePage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    user_id: String,
    seat: String,
    current: String,
    roles: Vec<&'static str>,
    assets: Vec<AssetChoice>,
}

pub async fn asset_choices(
    s: &AppState,
    web: &Web,
    app: &castellan_store::App,
) -> Result<Vec<AssetChoice>, WebError> {
    Ok(s.store
        .ws(web.ws())
        .assets_with_holders(app.id, None, None, 200, 0)
        .await?
        .items
        .into_iter()
        .map(|a| AssetChoice {
            permissions: asset_permissions(app.platform, &a.kind).to_vec(),
            label: format!(
                "{} ({})",
                a.name.clone().unwrap_or_else(|| a.asset_id.clone()),
                a.kind
            ),
            asset_id: a.asset_id,
        })
        .collect())
}

pub async fn role_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "members").await?;
    let (seat, label) = seat_label(&s, &web, id, &user).await?;
    let assets = asset_choices(&s, &web, &app).await?;
    dialog!(
        web,
        RolePage {
            chrome: web.chrome(Nav::Apps, "Change role"),
            head,
            standalone: !web.htmx,
            user_id: user,
            seat: label,
            current: seat.roles.join(", "),
            roles: roles(app.platform).to_vec(),
            assets,
        },
        true
    )
}

#[derive(Template)]
#[template(path = "web/invite.html", blocks = ["dialog"])]
pub struct InvitePage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    roles: Vec<&'static str>,
    assets: Vec<AssetChoice>,
}

pub async fn invite_page(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "members").await?;
    let assets = asset_choices(&s, &web, &app).await?;
    dialog!(
        web,
        InvitePage {
            chrome: web.chrome(Nav::Apps, "Invite members"),
            head,
            standalone: !web.htmx,
            roles: roles(app.platform).to_vec(),
            assets,
        },
        true
    )
}

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
            "Removes {} seat(s) of people deactivated in the directory.",
            if chosen.is_empty() {
                r.pending_removal.len()
            } else {
                chosen.len()
            }
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
    errors: super::Errors,
}

async fn access_view(
    s: &AppState,
    web: &Web,
    app: &castellan_store::App,
    errors: super::Errors,
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
        platform: super::apps::platform_name(app.platform),
        people,
        roles: roles(app.platform).to_vec(),
        assets: asset_choices(s, web, app).await?,
        back: if web.require(Action::ReadApps).is_ok() {
            members_url(&app.id.to_string(), "onboarded")
        } else {
            "/accounts".into()
        },
        errors,
    })
}

/// The Share access dialog (the app's Owners and Admins).
pub async fn access_page(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    let id = app_id(&id)?;
    let app = crate::api::access::app_for_sharing(&s, &web.caller, id).await?;
    let v = access_view(&s, &web, &app, super::Errors::default()).await?;
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
    };
    let result = async {
        let share = crate::api::access::share_request(&req)?;
        castellan_services::access::share_app(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            Some(web.p().person_id),
            &app,
            share,
        )
        .await
        .map_err(crate::error::queue_error)
    }
    .await;
    match result {
        Ok(shared) => {
            let who: Vec<String> = shared.iter().map(|x| x.email.clone()).collect();
            let back = if web.require(Action::ReadApps).is_ok() {
                members_url(&app.id.to_string(), "invited")
            } else {
                "/accounts".into()
            };
            Ok(super::done(
                &web,
                &back,
                super::Flash::success(format!(
                    "Shared {} with {}. Invitations are on their way; each of them now has the app's card.",
                    app.label,
                    who.join(", ")
                )),
            ))
        }
        Err(e) => {
            let errors = super::Errors::from_api(e, &["identity_ids", "role"])?;
            let v = access_view(&s, &web, &app, errors).await?;
            invalid(&web, &v)
        }
    }
}
