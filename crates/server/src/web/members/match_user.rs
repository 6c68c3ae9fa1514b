//! Match user (a live search of the directory) and re-assign (unmatch).

use super::common::{members_url, seat_label};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::apps::{AppHead, app_id, load_head};
use crate::web::{
    Chrome, Errors, Flash, Form, Nav, Query, Web, WebError, WebResult, done, invalid,
};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::IdentityId;
use castellan_domain::policy::Action;
use castellan_store::{AppRole, IdentityFilter};

// ------------------------------------------------------------------------- Match user

/// The live search's answer: the people found (step 1's list alone).
#[derive(Template)]
#[template(path = "web/match_results.html")]
pub struct MatchResults {
    q: String,
    results: Vec<IdentityChoice>,
}

pub struct IdentityChoice {
    pub id: String,
    pub name: String,
    pub email: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "web/match.html", blocks = ["dialog"])]
pub struct MatchPage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    user_id: String,
    seat: String,
    q: String,
    results: Vec<IdentityChoice>,
    /// Step 2 (Select role): the person chosen in step 1 (Match with → Next).
    chosen: Option<IdentityChoice>,
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

    /// Back to step 1, with the search and the choice kept.
    fn back(&self) -> String {
        crate::web::with_query(
            &self.base(),
            &[
                ("q", &self.q),
                (
                    "identity_id",
                    self.chosen.as_ref().map(|c| c.id.as_str()).unwrap_or(""),
                ),
            ],
        )
    }
}

/// The person chosen in step 1, if `raw` names an active identity.
async fn chosen(s: &AppState, web: &Web, raw: &str) -> Result<Option<IdentityChoice>, WebError> {
    let Ok(id) = raw.parse::<IdentityId>() else {
        return Ok(None);
    };
    let Ok(i) = s.store.ws(web.ws()).identity(id).await else {
        return Ok(None);
    };
    if !i.active {
        return Ok(None);
    }
    Ok(Some(choice(i, true)))
}

fn choice(i: castellan_store::Identity, checked: bool) -> IdentityChoice {
    IdentityChoice {
        checked,
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
        .map(|i| {
            let checked = single || chosen == i.id.to_string();
            choice(i, checked)
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
    // Next (step 1 → 2) without a person chosen stays on step 1 and says so.
    let picked = chosen(&s, &web, q.get("identity_id")).await?;
    let mut errors = Errors::default();
    let picked = match (q.get("step"), picked) {
        ("role", Some(p)) => Some(p),
        ("role", None) => {
            errors.items.push((
                "identity_id".into(),
                "choose the person to match with".into(),
            ));
            None
        }
        _ => None,
    };
    let view = MatchPage {
        chrome: web.chrome(Nav::Apps, "Match user"),
        head,
        standalone: !web.htmx,
        user_id: user,
        seat,
        q: q.get("q").to_string(),
        results,
        chosen: picked,
        role: if q.get("role").is_empty() {
            "collaborator".into()
        } else {
            q.get("role").into()
        },
        errors,
    };
    // The live search asks for the results alone.
    if web.htmx && q.get("fragment") == "results" {
        return crate::web::page(
            &web,
            &MatchResults {
                q: view.q,
                results: view.results,
            },
        );
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
                seat.name()
            )),
        )),
        Err(e) => {
            let errors = Errors::from_api(e, &["identity_id", "role"])?;
            let (_, head) = load_head(&s, &web, id, None, "members").await?;
            let (_, seat) = seat_label(&s, &web, id, &user).await?;
            let results = search(&s, &web, form.get("q"), form.get("identity_id")).await?;
            let picked = chosen(&s, &web, form.get("identity_id")).await?;
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
                    chosen: picked,
                    role: form.get("role").to_string(),
                    errors,
                },
                false
            )
        }
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
                seat.name()
            )),
        )),
        Err(e) => Ok(done(
            &web,
            &members_url(&id.to_string(), "onboarded"),
            Flash::error(Errors::from_api(e.into(), &[])?.general.unwrap_or_default()),
        )),
    }
}
