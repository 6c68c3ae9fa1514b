//! Partners (in the navigation): the workspace's local partners one may see, with their people
//! and the native partners linked to them; Add partner (Admins), a partner's page, and Invite
//! to partner (its Host and Guest Admins). The rules are the services' (`local_partners`).

use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::LocalPartnerId;
use castellan_domain::local_partners::PartnerRole;
use castellan_domain::policy::Action;
use castellan_domain::workspace::WorkspaceRole;
use castellan_services::local_partners::{self as lp, Acting};

use super::{Chrome, Errors, Flash, Form, Nav, Web, WebError, WebResult, done, page};
use crate::error::ApiError;
use crate::state::AppState;

fn acting(web: &Web) -> Acting {
    Acting {
        person: web.p().person_id,
        role: web.p().role,
    }
}

pub struct PartnerRow {
    pub id: String,
    pub name: String,
    pub domains: String,
    pub my_role: String,
    pub ended: bool,
}

/// A native partner found by an app's checks, for the workspace's Admins.
pub struct NativeRow {
    pub app_id: String,
    pub app: String,
    pub partner_id: String,
    pub name: String,
    pub status: &'static str,
    /// The local partner it is linked to: (id, name).
    pub linked: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "web/local_partners.html")]
pub struct PartnersPage {
    chrome: Chrome,
    rows: Vec<PartnerRow>,
    may_add: bool,
    native: Vec<NativeRow>,
    /// Local partners a native partner can be linked to: (id, name).
    locals: Vec<(String, String)>,
}

pub async fn list(State(s): State<AppState>, web: Web) -> WebResult {
    web.require(Action::ReadLocalPartners)?;
    let rows = lp::visible(&s.services, web.ws(), acting(&web))
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|(p, r)| PartnerRow {
            id: p.id.to_string(),
            name: p.name,
            domains: p.domains.join(", "),
            my_role: r.map(|r| r.label().to_string()).unwrap_or_default(),
            ended: p.ended_at.is_some(),
        })
        .collect();
    let admin = web.p().role >= WorkspaceRole::Admin;
    let mut native = Vec::new();
    let mut locals = Vec::new();
    if admin {
        let scoped = s.store.ws(web.ws());
        let all_locals = scoped.local_partners().await?;
        let links = scoped.all_native_links().await?;
        for app in scoped.apps(None, 500).await?.items {
            for p in scoped.partners(app.id).await? {
                let linked = links
                    .iter()
                    .find(|(a, pid, _)| *a == app.id && *pid == p.partner_id)
                    .and_then(|(_, _, l)| all_locals.iter().find(|x| x.id == *l))
                    .map(|l| (l.id.to_string(), l.name.clone()));
                native.push(NativeRow {
                    app_id: app.id.to_string(),
                    app: format!("{} ({})", app.label, app.platform.label()),
                    name: p.name.clone().unwrap_or_else(|| p.partner_id.clone()),
                    status: p.status().label(),
                    partner_id: p.partner_id,
                    linked,
                });
            }
        }
        locals = all_locals
            .into_iter()
            .filter(|l| l.ended_at.is_none())
            .map(|l| (l.id.to_string(), l.name))
            .collect();
    }
    page(
        &web,
        &PartnersPage {
            chrome: web.chrome(Nav::Partners, "Partners"),
            rows,
            may_add: admin,
            native,
            locals,
        },
    )
}

/// Links a native partner (of an app) to a local partner, from the Partners page.
pub async fn link_submit(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageLocalPartners)?;
    let local = partner_id(form.get("local_partner_id"))?;
    lp::link_native(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        acting(&web),
        local,
        form.get("app_id"),
        form.get("partner_id"),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done(
        &web,
        "/partners",
        Flash::success("Linked: the native partner is that local partner's organization."),
    ))
}

#[derive(Template)]
#[template(path = "web/partner_add.html", blocks = ["dialog"])]
pub struct AddPage {
    chrome: Chrome,
    standalone: bool,
    name: String,
    domains: String,
    first_email: String,
    first_name: String,
    /// People of the workspace who may host it: (id, label, chosen).
    hosts: Vec<(String, String, bool)>,
    errors: Errors,
}

async fn add_view(
    s: &AppState,
    web: &Web,
    form: &Form,
    errors: Errors,
) -> Result<AddPage, WebError> {
    let chosen = form.all("host_admins");
    let hosts = s
        .store
        .ws(web.ws())
        .people(None, 500)
        .await?
        .items
        .into_iter()
        .filter(|p| p.role >= WorkspaceRole::Member && !p.disabled)
        .map(|p| {
            let id = p.id.to_string();
            let label = match &p.display_name {
                Some(n) => format!("{n} ({})", p.email),
                None => p.email.clone(),
            };
            let on = chosen.contains(&id) || (chosen.is_empty() && p.id == web.p().person_id);
            (id, label, on)
        })
        .collect();
    Ok(AddPage {
        chrome: web.chrome(Nav::Partners, "Add partner"),
        standalone: !web.htmx || errors.any(),
        name: form.get("name").to_string(),
        domains: form.get("domains").to_string(),
        first_email: form.get("first_email").to_string(),
        first_name: form.get("first_name").to_string(),
        hosts,
        errors,
    })
}

pub async fn add_page(State(s): State<AppState>, web: Web) -> WebResult {
    web.require(Action::ManageLocalPartners)?;
    if web.p().role < WorkspaceRole::Admin {
        return Err(WebError::Forbidden(
            "Adding a partner needs the admin workspace role.".into(),
        ));
    }
    let v = add_view(&s, &web, &Form::default(), Errors::default()).await?;
    if web.htmx {
        page(&web, &v.as_dialog())
    } else {
        page(&web, &v)
    }
}

pub async fn add_submit(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageLocalPartners)?;
    let hosts: Vec<castellan_domain::PersonId> = form
        .all("host_admins")
        .iter()
        .filter_map(|h| h.parse().ok())
        .collect();
    let first_name = form.get("first_name").trim();
    match lp::add_partner(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        acting(&web),
        lp::NewPartner {
            name: form.get("name"),
            domains: form.get("domains"),
            first_email: form.get("first_email"),
            first_name: (!first_name.is_empty()).then_some(first_name),
            host_admins: &hosts,
        },
    )
    .await
    {
        Ok((p, person)) => Ok(done(
            &web,
            &format!("/partners/{}", p.id),
            Flash::success(format!(
                "Added {}: {} is invited as its Guest Admin (Directory → Guest users has the sign-in link).",
                p.name, person.email
            )),
        )),
        Err(e) => {
            let errors =
                Errors::from_api(e.into(), &["name", "domains", "first_email", "host_admins"])?;
            let v = add_view(&s, &web, &form, errors).await?;
            crate::web::invalid(&web, &v)
        }
    }
}

pub struct PersonRow {
    pub id: String,
    /// A guest of the partner (its managers act on them).
    pub guest: bool,
    pub joined: bool,
    pub disabled: bool,
    pub is_admin: bool,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub state: &'static str,
    pub state_class: &'static str,
}

#[derive(Template)]
#[template(path = "web/local_partner.html")]
pub struct PartnerPage {
    chrome: Chrome,
    id: String,
    name: String,
    domains: String,
    my_role: String,
    may_manage: bool,
    /// Its Host Admins and the workspace's Admins end it.
    may_end: bool,
    ended: bool,
    /// The person viewing (no actions on their own row).
    me: String,
    people: Vec<PersonRow>,
    native: Vec<(String, String)>,
    /// Its guests' seats on the apps, for the workspace's Admins and its Host Admins.
    seats: Vec<SeatRow>,
    sees_seats: bool,
    /// Seats of revoked guests: the next checks' reports list them for removal.
    awaiting_removal: usize,
    /// Accounts shared with the partner as a whole: (label, role, link).
    cards: Vec<(String, &'static str, String)>,
}

/// A guest's seat on an app, as the partner's page lists it.
pub struct SeatRow {
    app: String,
    href: String,
    seat: String,
    guest: String,
    assets: i64,
    awaiting_removal: bool,
}

fn partner_id(raw: &str) -> Result<LocalPartnerId, WebError> {
    raw.parse()
        .map_err(|_| WebError::NotFound("No such partner.".into()))
}

pub async fn detail(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadLocalPartners)?;
    let id = partner_id(&id)?;
    let d = lp::detail(&s.services, web.ws(), acting(&web), id)
        .await
        .map_err(ApiError::from)?;
    let scoped = s.store.ws(web.ws());
    let mut native = Vec::new();
    for n in &d.native {
        let app = scoped.app(n.app_id).await?;
        let name = scoped
            .partner(n.app_id, &n.partner_id)
            .await?
            .and_then(|p| p.name)
            .unwrap_or_else(|| n.partner_id.clone());
        native.push((
            format!("{} ({})", name, app.label),
            format!("/apps/{}/partners", app.id),
        ));
    }
    let people = d
        .people
        .iter()
        .map(|p| {
            let (state, state_class) = match (p.role, p.disabled, p.joined) {
                (PartnerRole::HostAdmin, _, _) => ("Workspace member", "status-ok"),
                (_, true, _) => ("Revoked", "status-bad"),
                (_, false, true) => ("Signed up", "status-ok"),
                (_, false, false) => ("Link sent", "status-busy"),
            };
            PersonRow {
                id: p.person_id.to_string(),
                guest: p.role.is_guest(),
                joined: p.joined,
                disabled: p.disabled,
                is_admin: p.role == PartnerRole::GuestAdmin,
                name: p.display_name.clone().unwrap_or_default(),
                email: p.email.clone(),
                role: p.role.label(),
                state,
                state_class,
            }
        })
        .collect();
    page(
        &web,
        &PartnerPage {
            chrome: web.chrome(Nav::Partners, d.partner.name.clone()),
            id: d.partner.id.to_string(),
            name: d.partner.name,
            domains: d.partner.domains.join(", "),
            my_role: d.my_role.map(|r| r.label().to_string()).unwrap_or_default(),
            may_manage: d.may_manage && d.partner.ended_at.is_none(),
            may_end: d.partner.ended_at.is_none()
                && (web.p().role >= WorkspaceRole::Admin
                    || d.my_role == Some(PartnerRole::HostAdmin)),
            ended: d.partner.ended_at.is_some(),
            me: web.p().person_id.to_string(),
            people,
            native,
            awaiting_removal: d.seats.iter().filter(|x| x.guest_disabled).count(),
            sees_seats: web.p().role >= WorkspaceRole::Admin
                || d.my_role == Some(PartnerRole::HostAdmin),
            seats: d
                .seats
                .into_iter()
                .map(|x| SeatRow {
                    href: format!("/apps/{}/members", x.app_id),
                    app: x.app_label,
                    seat: x.seat_email.unwrap_or(x.user_id),
                    guest: x.guest_email,
                    assets: x.assets,
                    awaiting_removal: x.guest_disabled,
                })
                .collect(),
            cards: d
                .cards
                .into_iter()
                .map(|c| {
                    let role = match c.role {
                        castellan_domain::apps::AppRole::Owner => {
                            "Manager: its Guest Admins share it within the partner"
                        }
                        castellan_domain::apps::AppRole::Collaborator => {
                            "Collaborator: log in only"
                        }
                    };
                    (c.label, role, format!("/accounts/{}", c.card_id))
                })
                .collect(),
        },
    )
}

#[derive(Template)]
#[template(path = "web/partner_end.html", blocks = ["dialog"])]
pub struct EndPage {
    chrome: Chrome,
    standalone: bool,
    id: String,
    partner: String,
    /// Its guests still active (each is revoked).
    guests: usize,
    cards: usize,
    seats: usize,
    sees_seats: bool,
}

/// End partnership, asked first: what it revokes, unshares and lists for removal.
pub async fn end_page(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageLocalPartners)?;
    let id = partner_id(&id)?;
    let d = lp::detail(&s.services, web.ws(), acting(&web), id)
        .await
        .map_err(ApiError::from)?;
    let host = web.p().role >= WorkspaceRole::Admin || d.my_role == Some(PartnerRole::HostAdmin);
    if !host {
        return Err(WebError::Forbidden(
            "A partnership is ended by its Host Admins or the workspace's Admins.".into(),
        ));
    }
    if d.partner.ended_at.is_some() {
        return Ok(done(
            &web,
            &format!("/partners/{id}"),
            Flash::warning("This partnership has ended already."),
        ));
    }
    let v = EndPage {
        chrome: web.chrome(Nav::Partners, "End partnership"),
        standalone: !web.htmx,
        id: id.to_string(),
        guests: d
            .people
            .iter()
            .filter(|p| p.role.is_guest() && !p.disabled)
            .count(),
        cards: d.cards.len(),
        seats: d.seats.iter().filter(|x| !x.guest_disabled).count(),
        sees_seats: host,
        partner: d.partner.name,
    };
    if web.htmx {
        page(&web, &v.as_dialog())
    } else {
        page(&web, &v)
    }
}

/// End partnership (posted from its confirmation).
pub async fn end_submit(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageLocalPartners)?;
    let id = partner_id(&id)?;
    let d = match lp::end_partner(&s.services, web.ws(), &web.caller.actor(), acting(&web), id)
        .await
        .map_err(ApiError::from)
    {
        Ok(d) => d,
        // Ended already (a second click, another tab): said on the page.
        Err(ApiError::Conflict { message, .. }) => {
            return Ok(done(
                &web,
                &format!("/partners/{id}"),
                Flash::warning(message),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(done(
        &web,
        &format!("/partners/{id}"),
        Flash::success(format!(
            "The partnership with {} has ended: its guests are revoked, and the next checks list their seats for removal.",
            d.partner.name
        )),
    ))
}

/// A partner's managers on one of its guests: `make-admin`, `make-user`, `resend`, `revoke`.
pub async fn guest_action(
    State(s): State<AppState>,
    web: Web,
    Path((id, person, action)): Path<(String, String, String)>,
) -> WebResult {
    web.require(Action::ManageLocalPartners)?;
    let id = partner_id(&id)?;
    let person: castellan_domain::PersonId = person
        .parse()
        .map_err(|_| WebError::NotFound("No such person.".into()))?;
    let act = match action.as_str() {
        "make-admin" => lp::GuestAction::SetRole(PartnerRole::GuestAdmin),
        "make-user" => lp::GuestAction::SetRole(PartnerRole::GuestUser),
        "resend" => lp::GuestAction::Resend,
        "revoke" => lp::GuestAction::Revoke,
        _ => return Err(WebError::NotFound("No such action.".into())),
    };
    let flash = match lp::manage_guest(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        acting(&web),
        id,
        person,
        act,
    )
    .await
    .map_err(ApiError::from)
    {
        Ok(p) => Flash::success(match act {
            lp::GuestAction::SetRole(r) => format!("{} is now a {}.", p.email, r.label()),
            lp::GuestAction::Resend => format!("A new sign-in link is on its way to {}.", p.email),
            lp::GuestAction::Revoke => format!(
                "{} is revoked: their accounts are unshared, and the next checks list their seats for removal.",
                p.email
            ),
        }),
        Err(ApiError::Conflict { message, .. }) => Flash::warning(message),
        Err(e) => return Err(e.into()),
    };
    Ok(done(&web, &format!("/partners/{id}"), flash))
}

#[derive(Template)]
#[template(path = "web/partner_invite.html", blocks = ["dialog"])]
pub struct InvitePage {
    chrome: Chrome,
    standalone: bool,
    id: String,
    partner: String,
    email: String,
    display_name: String,
    role: String,
    errors: Errors,
}

async fn invite_view(
    s: &AppState,
    web: &Web,
    id: LocalPartnerId,
    form: &Form,
    errors: Errors,
) -> Result<InvitePage, WebError> {
    let d = lp::detail(&s.services, web.ws(), acting(web), id)
        .await
        .map_err(ApiError::from)?;
    if !d.may_manage {
        return Err(WebError::Forbidden(
            "Only the partner's Host and Guest Admins invite its people.".into(),
        ));
    }
    Ok(InvitePage {
        chrome: web.chrome(Nav::Partners, "Invite to partner"),
        standalone: !web.htmx || errors.any(),
        id: id.to_string(),
        partner: d.partner.name,
        email: form.get("email").to_string(),
        display_name: form.get("display_name").to_string(),
        role: match form.get("role") {
            "" => "guest_user".to_string(),
            r => r.to_string(),
        },
        errors,
    })
}

pub async fn invite_page(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageLocalPartners)?;
    let id = partner_id(&id)?;
    let v = invite_view(&s, &web, id, &Form::default(), Errors::default()).await?;
    if web.htmx {
        page(&web, &v.as_dialog())
    } else {
        page(&web, &v)
    }
}

pub async fn invite_submit(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageLocalPartners)?;
    let id = partner_id(&id)?;
    let role: Result<PartnerRole, _> = form.get("role").parse();
    let result = match role {
        Ok(role) => {
            let name = form.get("display_name").trim();
            lp::invite_into(
                &s.services,
                web.ws(),
                &web.caller.actor(),
                acting(&web),
                id,
                form.get("email"),
                (!name.is_empty()).then_some(name),
                role,
            )
            .await
            .map_err(ApiError::from)
        }
        Err(_) => Err(ApiError::invalid(
            "role",
            "role must be guest_admin or guest_user",
        )),
    };
    match result {
        Ok(person) => Ok(done(
            &web,
            &format!("/partners/{id}"),
            Flash::success(format!("Invited {} into the partner.", person.email)),
        )),
        Err(e) => {
            let errors = Errors::from_api(e, &["email", "role"])?;
            let v = invite_view(&s, &web, id, &form, errors).await?;
            crate::web::invalid(&web, &v)
        }
    }
}
