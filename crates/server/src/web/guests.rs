//! Directory → Guest users (invite, resend, show the link to an Owner, revoke) and the
//! welcome page a guest's sign-in link opens (choose a password, signed in).

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use castellan_domain::PersonId;
use castellan_domain::policy::Action;
use castellan_store::guests::InviteState;

use super::{
    Chrome, Errors, Flash, Form, Nav, Query, Web, WebError, WebResult, done, page, render,
};
use crate::auth::{CSRF_COOKIE, SESSION_COOKIE, session_cookie};
use crate::error::ApiError;
use crate::state::AppState;

pub struct GuestRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub expires: String,
    pub invited: String,
    pub may_resend: bool,
    pub may_show_link: bool,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "web/guests.html")]
pub struct GuestsPage {
    chrome: Chrome,
    rows: Vec<GuestRow>,
    may_manage: bool,
    may_reveal: bool,
    /// A link just shown to an Owner: (e-mail, link, until).
    revealed: Option<(String, String, String)>,
}

fn when(t: castellan_domain::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

async fn guests_view(s: &AppState, web: &Web) -> Result<GuestsPage, WebError> {
    web.require(Action::ReadPeople)?;
    let now = s.env.now();
    let rows = castellan_services::guests::list(&s.services, web.ws())
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|g| {
            let state = if g.person.disabled {
                InviteState::Revoked
            } else {
                g.invite
                    .as_ref()
                    .map(|i| i.state(now))
                    .unwrap_or(InviteState::Accepted)
            };
            let (label, class) = match state {
                InviteState::Pending => ("Link sent", "status-busy"),
                InviteState::Expired => ("Link expired", "status-warn"),
                InviteState::Accepted => ("Signed up", "status-ok"),
                InviteState::Revoked => ("Revoked", "status-bad"),
            };
            GuestRow {
                id: g.person.id.to_string(),
                name: g.person.display_name.clone().unwrap_or_default(),
                email: g.person.email.clone(),
                state: label,
                state_class: class,
                expires: match state {
                    InviteState::Pending => g
                        .invite
                        .as_ref()
                        .map(|i| when(i.expires_at))
                        .unwrap_or_default(),
                    _ => String::new(),
                },
                invited: g
                    .invite
                    .as_ref()
                    .map(|i| when(i.created_at))
                    .unwrap_or_default(),
                may_resend: matches!(state, InviteState::Pending | InviteState::Expired),
                may_show_link: state == InviteState::Pending,
                revoked: state == InviteState::Revoked,
            }
        })
        .collect();
    Ok(GuestsPage {
        chrome: web.chrome(Nav::Directory, "Guest users"),
        rows,
        may_manage: web.require(Action::ManagePeople).is_ok(),
        may_reveal: web.require(Action::RevealSecrets).is_ok(),
        revealed: None,
    })
}

pub async fn list(State(s): State<AppState>, web: Web) -> WebResult {
    let view = guests_view(&s, &web).await?;
    page(&web, &view)
}

#[derive(Template)]
#[template(path = "web/guest_invite.html", blocks = ["dialog"])]
pub struct InvitePage {
    chrome: Chrome,
    standalone: bool,
    email: String,
    display_name: String,
    smtp: bool,
    errors: Errors,
}

pub async fn invite_page(State(s): State<AppState>, web: Web) -> WebResult {
    web.require(Action::ManagePeople)?;
    let v = InvitePage {
        chrome: web.chrome(Nav::Directory, "Invite a guest user"),
        standalone: !web.htmx,
        email: String::new(),
        display_name: String::new(),
        smtp: s.services.mail.smtp.is_some(),
        errors: Errors::default(),
    };
    if web.htmx {
        page(&web, &v.as_dialog())
    } else {
        page(&web, &v)
    }
}

pub async fn invite_submit(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManagePeople)?;
    let r = castellan_services::guests::invite(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        form.get("email"),
        Some(form.get("display_name")),
    )
    .await;
    match r {
        Ok((p, _)) => Ok(done(
            &web,
            "/directory/guests",
            Flash::success(format!(
                "Invited {}. The sign-in link works once, for 72 hours.",
                p.email
            )),
        )),
        Err(e) => {
            let errors = Errors::from_api(e.into(), &["email", "display_name"])?;
            let v = InvitePage {
                chrome: web.chrome(Nav::Directory, "Invite a guest user"),
                standalone: true,
                email: form.get("email").to_string(),
                display_name: form.get("display_name").to_string(),
                smtp: s.services.mail.smtp.is_some(),
                errors,
            };
            super::invalid(&web, &v)
        }
    }
}

fn guest_id(raw: &str) -> Result<PersonId, WebError> {
    raw.parse()
        .map_err(|_| WebError::NotFound("This guest user does not exist.".into()))
}

pub async fn resend(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> WebResult {
    web.require(Action::ManagePeople)?;
    let id = guest_id(&id)?;
    match castellan_services::guests::resend(&s.services, web.ws(), &web.caller.actor(), id).await {
        Ok(_) => Ok(done(
            &web,
            "/directory/guests",
            Flash::success("A new sign-in link is on its way; the earlier one no longer works."),
        )),
        Err(e) => match ApiError::from(e) {
            ApiError::Conflict { message, .. } => {
                Ok(done(&web, "/directory/guests", Flash::error(message)))
            }
            other => Err(other.into()),
        },
    }
}

pub async fn revoke(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> WebResult {
    web.require(Action::ManagePeople)?;
    let id = guest_id(&id)?;
    let g = castellan_services::guests::revoke(&s.services, web.ws(), &web.caller.actor(), id)
        .await
        .map_err(ApiError::from)?;
    Ok(done(
        &web,
        "/directory/guests",
        Flash::success(format!("{} can no longer sign in.", g.person.email)),
    ))
}

/// Shows an Owner the pending link of a guest (from the sealed outbox e-mail); audited.
pub async fn show_link(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
) -> WebResult {
    web.require(Action::RevealSecrets)?;
    let id = guest_id(&id)?;
    let g = s.store.ws(web.ws()).guest(id).await?;
    let Some(inv) = g
        .invite
        .filter(|i| i.state(s.env.now()) == InviteState::Pending)
    else {
        return Ok(done(
            &web,
            "/directory/guests",
            Flash::error("This guest has no working link: resend one."),
        ));
    };
    let email_id = inv.email_id.clone().unwrap_or_default();
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let (_, body) = castellan_services::guests::reveal_email(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        &email_id,
        Some(&peer.ip().to_string()),
        ua,
    )
    .await
    .map_err(ApiError::from)?;
    let link = body
        .lines()
        .find(|l| l.contains("/welcome?token="))
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut view = guests_view(&s, &web).await?;
    view.revealed = Some((g.person.email, link, when(inv.expires_at)));
    page(&web, &view)
}

#[derive(Template)]
#[template(path = "web/welcome.html")]
pub struct WelcomePage {
    css: String,
    workspace: String,
    email: String,
    error: Option<String>,
    /// Why the link does not work, instead of the form.
    dead: Option<String>,
}

const DEAD: &str =
    "This sign-in link does not work: it was already used, it expired, or access was revoked.";

async fn welcome_view(s: &AppState, token: &str) -> Result<WelcomePage, WebError> {
    let css = super::assets::url("app.css");
    Ok(
        match castellan_services::guests::open_link(&s.services, token).await {
            Ok(p) => WelcomePage {
                css,
                workspace: s.store.get_workspace(p.workspace_id).await?.name,
                email: p.email,
                error: None,
                dead: None,
            },
            Err(_) => WelcomePage {
                css,
                workspace: String::new(),
                email: String::new(),
                error: None,
                dead: Some(DEAD.into()),
            },
        },
    )
}

pub async fn welcome(State(s): State<AppState>, Query(q): Query) -> WebResult {
    let v = welcome_view(&s, q.get("token")).await?;
    let status = if v.dead.is_some() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    render(None, status, &v)
}

/// Sets the guest's password through the link (once) and signs them in.
pub async fn welcome_submit(State(s): State<AppState>, Query(q): Query, form: Form) -> WebResult {
    let token = q.get("token").to_string();
    match crate::auth::accept_guest_link(&s, &token, form.get("password").to_string()).await {
        Ok(person) => {
            let signed = crate::auth::start_session(&s, person).await?;
            let max_age = signed.ttl.num_seconds();
            let secure = s.settings.secure_cookies;
            let mut r = axum::response::Redirect::to("/accounts").into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(SESSION_COOKIE, &signed.token, true, max_age, secure),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(CSRF_COOKIE, &signed.csrf, false, max_age, secure),
            );
            Ok(crate::web::respond::with_flash(
                r,
                Flash::success(
                    "Welcome to Castellan. Your password is set; the accounts shared with you are below, and Log in on a card shows its credentials.",
                ),
            ))
        }
        Err(ApiError::Invalid { message, .. }) => {
            let mut v = welcome_view(&s, &token).await?;
            v.error = Some(message);
            render(None, StatusCode::BAD_REQUEST, &v)
        }
        Err(ApiError::NotFound(_)) => {
            let v = welcome_view(&s, &token).await?;
            render(None, StatusCode::NOT_FOUND, &v)
        }
        Err(e) => Err(e.into()),
    }
}
