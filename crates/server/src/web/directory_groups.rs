//! Directory → Groups: each group with its members' count and the apps it is mapped to; an
//! Admin maps a group to an app (app role, business role) or removes a mapping, and reads the
//! plan the mappings run now — each person's invitation, raised or lowered role or removal,
//! with its platform calls — then applies exactly that plan.

use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::group_mappings::StepKind;
use castellan_domain::policy::Action;
use castellan_services::group_mappings::{GroupPlan, MappingInput};

use super::{Chrome, Errors, Flash, Form, Nav, Web, WebError, WebResult, done, invalid, page};
use crate::error::ApiError;
use crate::state::AppState;

pub struct GroupRow {
    pub name: String,
    pub members: usize,
    /// "Acme pinterest: EMPLOYEE, Collaborator", with the mapping's id.
    pub mappings: Vec<(String, String)>,
}

pub struct StepRow {
    pub action: &'static str,
    pub person: String,
    pub app: String,
    pub change: String,
    pub via: String,
    pub calls: Vec<String>,
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "web/directory_groups.html")]
pub struct GroupsPage {
    chrome: Chrome,
    may_see_guests: bool,
    may_manage: bool,
    groups: Vec<GroupRow>,
    group_choices: Vec<Choice>,
    app_choices: Vec<Choice>,
    role_choices: Vec<Choice>,
    steps: Vec<StepRow>,
    plan_hash: String,
    /// Why no plan could be made (an app without a token, say).
    plan_error: Option<String>,
    errors: Errors,
}

fn step_rows(p: &GroupPlan) -> Vec<StepRow> {
    p.steps
        .iter()
        .map(|s| StepRow {
            action: s.kind.label(),
            person: s.email.clone(),
            app: s.app_label.clone(),
            change: match s.kind {
                StepKind::Invite => format!(
                    "Invite as {} ({})",
                    s.to_role.clone().unwrap_or_default(),
                    s.app_role.as_str()
                ),
                StepKind::Remove => format!(
                    "Remove the seat ({})",
                    s.from_role.clone().unwrap_or_default()
                ),
                _ => format!(
                    "{} → {}",
                    s.from_role.clone().unwrap_or_default(),
                    s.to_role.clone().unwrap_or_default()
                ),
            },
            via: if s.via.is_empty() {
                "no mapped group any more".into()
            } else {
                s.via.join(", ")
            },
            calls: s.preview.calls.iter().flatten().cloned().collect(),
        })
        .collect()
}

async fn view(s: &AppState, web: &Web) -> Result<GroupsPage, WebError> {
    web.require(Action::ReadDirectory)?;
    let scoped = s.store.ws(web.ws());
    let mappings = scoped.group_mappings(None, None).await?;
    let mut groups: Vec<_> = scoped.all_groups().await?;
    groups.sort_by_key(|g| g.display_name.to_lowercase());
    let rows = groups
        .iter()
        .map(|g| GroupRow {
            name: g.display_name.clone(),
            members: g.member_ids.len(),
            mappings: mappings
                .iter()
                .filter(|m| m.group_id == g.id)
                .map(|m| {
                    (
                        m.id.to_string(),
                        format!(
                            "{}: {}, {}",
                            m.app_label,
                            m.business_role,
                            if m.app_role == castellan_domain::apps::AppRole::Owner {
                                "Owner"
                            } else {
                                "Collaborator"
                            }
                        ),
                    )
                })
                .collect(),
        })
        .collect();
    let apps = scoped.apps(None, 200).await?.items;
    let may_manage = web.require(Action::ManageApps).is_ok();
    let (steps, plan_hash, plan_error) = if mappings.is_empty() {
        (Vec::new(), String::new(), None)
    } else {
        match castellan_services::group_mappings::plan(&s.services, web.ws(), None).await {
            Ok(p) => (step_rows(&p), p.input_hash, None),
            Err(e) => {
                let e = crate::error::queue_error(e);
                (Vec::new(), String::new(), Some(e.to_string()))
            }
        }
    };
    Ok(GroupsPage {
        chrome: web.chrome(Nav::Directory, "Groups"),
        may_see_guests: web.require(Action::ReadPeople).is_ok(),
        may_manage,
        groups: rows,
        group_choices: groups
            .iter()
            .map(|g| Choice {
                value: g.id.to_string(),
                label: g.display_name.clone(),
            })
            .collect(),
        app_choices: apps
            .iter()
            .map(|a| Choice {
                value: a.id.to_string(),
                label: format!("{} ({})", a.label, a.platform),
            })
            .collect(),
        role_choices: [
            ("EMPLOYEE", "EMPLOYEE (Pinterest employee)"),
            ("BIZ_ADMIN", "BIZ_ADMIN (Pinterest admin)"),
            ("STANDARD", "STANDARD (TikTok standard)"),
            ("ADMIN", "ADMIN (TikTok admin)"),
        ]
        .into_iter()
        .map(|(v, l)| Choice {
            value: v.into(),
            label: l.into(),
        })
        .collect(),
        steps,
        plan_hash,
        plan_error,
        errors: Errors::default(),
    })
}

pub async fn list(State(s): State<AppState>, web: Web) -> WebResult {
    page(&web, &view(&s, &web).await?)
}

fn id_of<T: std::str::FromStr>(form: &Form, field: &str, what: &str) -> Result<T, ApiError> {
    form.get(field).parse().map_err(|_| ApiError::NotFoundAt {
        field: field.into(),
        what: what.into(),
    })
}

pub async fn map(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageApps)?;
    let input = id_of(&form, "group_id", "group").and_then(|group_id| {
        Ok(MappingInput {
            group_id,
            app_id: id_of(&form, "app_id", "app")?,
            app_role: form.get("app_role").to_string(),
            business_role: form.get("business_role").to_string(),
            assets: Vec::new(),
        })
    });
    let out = match input {
        Ok(i) => castellan_services::group_mappings::create(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            &i,
        )
        .await
        .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match out {
        Ok(m) => Ok(done(
            &web,
            "/directory/groups#plan",
            Flash::success(format!(
                "{} is mapped to {}. Nothing changes on the platform until you apply the plan below.",
                m.group_name, m.app_label
            )),
        )),
        Err(e) => {
            let mut v = view(&s, &web).await?;
            v.errors = Errors::from_api(e, &["group_id", "app_id", "app_role", "business_role"])?;
            invalid(&web, &v)
        }
    }
}

pub async fn unmap(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = id
        .parse()
        .map_err(|_| WebError::NotFound("This mapping does not exist.".into()))?;
    let m =
        castellan_services::group_mappings::delete(&s.services, web.ws(), &web.caller.actor(), id)
            .await
            .map_err(ApiError::from)?;
    Ok(done(
        &web,
        "/directory/groups#plan",
        Flash::success(format!(
            "{} is no longer mapped to {}. The plan below takes back what it gave.",
            m.group_name, m.app_label
        )),
    ))
}

pub async fn apply(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageApps)?;
    match castellan_services::group_mappings::apply(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        None,
        form.get("plan_hash"),
    )
    .await
    {
        Ok(out) => Ok(done(
            &web,
            "/automation",
            Flash::success(format!(
                "The plan is queued: {} change{}. Invitations and raised roles go first; lowered roles and removals follow once they are done.",
                out.plan.steps.len(),
                if out.plan.steps.len() == 1 { "" } else { "s" }
            )),
        )),
        Err(e) => {
            let mut v = view(&s, &web).await?;
            v.errors = Errors::from_api(crate::error::queue_error(e), &[])?;
            invalid(&web, &v)
        }
    }
}
