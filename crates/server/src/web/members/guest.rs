//! Invite as guest user, on an unmatched seat: its e-mail is invited as a guest user of the
//! workspace or into a local partner; once they join, the next check matches the seat to them.

use super::common::{members_url, seat_label};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::apps::{AppHead, app_id, load_head};
use crate::web::{Chrome, Errors, Flash, Form, Nav, Web, WebResult, done, invalid};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;
use castellan_services::local_partners::Acting;

#[derive(Template)]
#[template(path = "web/seat_guest.html", blocks = ["dialog"])]
pub struct SeatGuestPage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    user_id: String,
    seat: String,
    /// Local partners: (id, name, chosen).
    partners: Vec<(String, String, bool)>,
    errors: Errors,
}

impl SeatGuestPage {
    fn action(&self) -> String {
        format!(
            "/apps/{}/members/{}/guest",
            self.head.id,
            form_urlencoded::byte_serialize(self.user_id.as_bytes()).collect::<String>()
        )
    }
}

async fn view(
    s: &AppState,
    web: &Web,
    id: castellan_domain::AppId,
    user: &str,
    chosen: &str,
    errors: Errors,
) -> Result<SeatGuestPage, crate::web::WebError> {
    let (_, head) = load_head(s, web, id, None, "members").await?;
    let (_, seat) = seat_label(s, web, id, user).await?;
    let partners = s
        .store
        .ws(web.ws())
        .local_partners()
        .await?
        .into_iter()
        .filter(|p| p.ended_at.is_none())
        .map(|p| {
            let id = p.id.to_string();
            let on = id == chosen;
            (id, p.name, on)
        })
        .collect();
    Ok(SeatGuestPage {
        chrome: web.chrome(Nav::Apps, "Invite as guest user"),
        standalone: !web.htmx || errors.any(),
        head,
        user_id: user.to_string(),
        seat,
        partners,
        errors,
    })
}

pub async fn guest_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let v = view(&s, &web, id, &user, "", Errors::default()).await?;
    dialog!(web, v, true)
}

pub async fn guest_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let partner = form.get("partner_id");
    let result = async {
        let partner = match partner {
            "" => None,
            p => Some(
                p.parse()
                    .map_err(|_| ApiError::invalid("partner_id", "choose a partner"))?,
            ),
        };
        Ok::<_, ApiError>(
            castellan_services::local_partners::invite_seat(
                &s.services,
                web.ws(),
                &web.caller.actor(),
                Acting {
                    person: web.p().person_id,
                    role: web.p().role,
                },
                id,
                &user,
                partner,
                None,
            )
            .await?,
        )
    }
    .await;
    match result {
        Ok(person) => Ok(done(
            &web,
            &members_url(&id.to_string(), "unmatched"),
            Flash::success(format!(
                "{} is invited as a guest user: once they join, the next check matches the seat to them.",
                person.email
            )),
        )),
        Err(e) => {
            let errors = Errors::from_api(e, &["partner_id", "user_id"])?;
            let v = view(&s, &web, id, &user, partner, errors).await?;
            dialog!(web, v, false)
        }
    }
}
