//! Exempt user (a reason, optionally until a date) and un-exempt.

use super::common::{members_url, seat_label};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::apps::{AppHead, app_id, load_head};
use crate::web::{Chrome, Errors, Flash, Form, Nav, Web, WebResult, done, invalid};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;

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
                seat.name()
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
            Flash::success(format!("{} is no longer exempt.", seat.name())),
        )),
        Err(e) => Ok(done(
            &web,
            &members_url(&id.to_string(), "exempted"),
            Flash::error(Errors::from_api(e.into(), &[])?.general.unwrap_or_default()),
        )),
    }
}
