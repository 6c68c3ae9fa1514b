//! Local partners: add a partner organization with its Host Admins and its first Guest Admin
//! (invited with the guest users' single-use link), invite more of its people, see what one
//! may see of it, and link a native partner of an app to it (the same organization). Who may
//! do what follows `domain::local_partners`; a guest of another partner is told nothing.

use castellan_domain::audit::Actor;
use castellan_domain::local_partners::{
    PartnerRole, may_give, may_manage_partner, may_see_partner, parse_domains,
};
use castellan_domain::values::{Email, required_text};
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{AppId, FieldError, LocalPartnerId, PersonId, WorkspaceId};
use castellan_store::local_partners::{LocalPartner, NativeLink, PartnerPerson};
use castellan_store::{Person, StoreError};

use crate::Services;
use crate::error::ServiceError;

/// Who is acting: their person and workspace role.
#[derive(Debug, Clone, Copy)]
pub struct Acting {
    pub person: PersonId,
    pub role: WorkspaceRole,
}

/// A new local partner as a person enters it.
#[derive(Debug, Clone, Copy)]
pub struct NewPartner<'a> {
    pub name: &'a str,
    /// Comma- or space-separated e-mail domains (may be empty).
    pub domains: &'a str,
    /// The first member, invited as Guest Admin.
    pub first_email: &'a str,
    pub first_name: Option<&'a str>,
    pub host_admins: &'a [PersonId],
}

/// A partner with its people and the native partners linked to it.
#[derive(Debug, Clone)]
pub struct PartnerDetail {
    pub partner: LocalPartner,
    pub people: Vec<PartnerPerson>,
    pub native: Vec<NativeLink>,
    /// The caller's role in it, if any.
    pub my_role: Option<PartnerRole>,
    /// The caller may invite and manage its people.
    pub may_manage: bool,
    /// The seats its guests hold on the workspace's apps: shown to the workspace's Admins and
    /// Owners and the partner's Host Admins (the apps are the workspace's to see), else empty.
    pub seats: Vec<castellan_store::partner_reach::PartnerSeat>,
    /// The account cards shared with it as a whole.
    pub cards: Vec<castellan_store::partner_reach::PartnerCard>,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound {
        field: "id",
        what: "local partner",
    }
}

/// The caller's role in `partner`.
async fn role_in(
    svc: &Services,
    ws: WorkspaceId,
    who: Acting,
    partner: LocalPartnerId,
) -> Result<Option<PartnerRole>, ServiceError> {
    Ok(svc
        .store
        .ws(ws)
        .partner_roles(who.person)
        .await?
        .into_iter()
        .find(|(p, _)| *p == partner)
        .map(|(_, r)| r))
}

/// Checks `email` against the partner's domains (none: any address).
fn of_domains(field: &'static str, email: &Email, domains: &[String]) -> Result<(), FieldError> {
    let domain = email
        .as_str()
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_lowercase();
    if domains.is_empty() || domains.contains(&domain) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{email} is not of the partner's domains ({})",
                domains.join(", ")
            ),
        ))
    }
}

/// A new person must not be in the workspace yet: a guest belongs to one partner at most, and
/// an employee is no partner's guest.
async fn must_be_new(
    svc: &Services,
    ws: WorkspaceId,
    field: &'static str,
    email: &Email,
) -> Result<(), ServiceError> {
    match svc.store.ws(ws).person_by_email(email).await {
        Ok(_) => Err(ServiceError::Conflict(FieldError::new(
            field,
            format!("{email} is already a person of the workspace"),
        ))),
        Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Adds a local partner (workspace Admins and Owners): its Host Admins, people of the
/// workspace, and its first member invited as Guest Admin. Everything is checked before
/// anything is written.
pub async fn add_partner(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Acting,
    input: NewPartner<'_>,
) -> Result<(LocalPartner, Person), ServiceError> {
    if who.role < WorkspaceRole::Admin {
        return Err(ServiceError::Forbidden(
            "adding a partner needs the admin workspace role".into(),
        ));
    }
    let name = required_text("name", input.name, 200)?;
    let domains = parse_domains("domains", input.domains)?;
    let email = Email::parse("first_email", input.first_email)?;
    of_domains("first_email", &email, &domains)?;
    must_be_new(svc, ws, "first_email", &email).await?;
    let scoped = svc.store.ws(ws);
    for p in input.host_admins {
        let person = scoped
            .person(*p)
            .await
            .map_err(|_| ServiceError::NotFound {
                field: "host_admins",
                what: "person",
            })?;
        if person.role == WorkspaceRole::Guest || person.disabled {
            return Err(FieldError::new(
                "host_admins",
                format!(
                    "{} is not a person of the workspace who can host a partner",
                    person.email
                ),
            )
            .into());
        }
    }
    if scoped
        .local_partners()
        .await?
        .iter()
        .any(|p| p.name.to_lowercase() == name.to_lowercase())
    {
        return Err(ServiceError::Conflict(FieldError::new(
            "name",
            "a partner with this name already exists",
        )));
    }
    let partner = scoped
        .create_local_partner(actor, &name, &domains, input.host_admins)
        .await?;
    let (person, _) =
        crate::guests::invite(svc, ws, actor, email.as_str(), input.first_name).await?;
    scoped
        .set_partner_person(actor, partner.id, person.id, PartnerRole::GuestAdmin)
        .await?;
    Ok((partner, person))
}

/// Invites `email` into the partner as a Guest Admin or Guest User (the partner's Host and
/// Guest Admins, and the workspace's Admins, may); a guest user of the workspace in no partner
/// yet (say, a native partner's admin invited before) joins it as they are.
#[allow(clippy::too_many_arguments)]
pub async fn invite_into(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Acting,
    partner: LocalPartnerId,
    email: &str,
    display_name: Option<&str>,
    role: PartnerRole,
) -> Result<Person, ServiceError> {
    let scoped = svc.store.ws(ws);
    let p = scoped
        .local_partner(partner)
        .await
        .map_err(|_| not_found())?;
    let mine = role_in(svc, ws, who, partner).await?;
    if !may_see_partner(who.role, mine) {
        return Err(not_found());
    }
    if !may_manage_partner(who.role, mine) {
        return Err(ServiceError::Forbidden(
            "only the partner's Host and Guest Admins invite its people".into(),
        ));
    }
    if p.ended_at.is_some() {
        return Err(ServiceError::Conflict(FieldError::new(
            "id",
            "the partnership has ended",
        )));
    }
    if !role.is_guest() || !may_give(who.role, role) {
        return Err(FieldError::new("role", "role must be guest_admin or guest_user").into());
    }
    let email = Email::parse("email", email)?;
    of_domains("email", &email, &p.domains)?;
    // A guest user of the workspace who is in no partner yet joins this one as they are.
    if let Ok(existing) = scoped.person_by_email(&email).await
        && existing.role == WorkspaceRole::Guest
        && !existing.disabled
        && !scoped
            .partner_roles(existing.id)
            .await?
            .iter()
            .any(|(_, r)| r.is_guest())
    {
        scoped
            .set_partner_person(actor, partner, existing.id, role)
            .await?;
        return Ok(existing);
    }
    must_be_new(svc, ws, "email", &email).await?;
    let (person, _) = crate::guests::invite(svc, ws, actor, email.as_str(), display_name).await?;
    scoped
        .set_partner_person(actor, partner, person.id, role)
        .await?;
    Ok(person)
}

/// The partners the caller may see, each with their role in it.
pub async fn visible(
    svc: &Services,
    ws: WorkspaceId,
    who: Acting,
) -> Result<Vec<(LocalPartner, Option<PartnerRole>)>, ServiceError> {
    let scoped = svc.store.ws(ws);
    let mine = scoped.partner_roles(who.person).await?;
    Ok(scoped
        .local_partners()
        .await?
        .into_iter()
        .filter_map(|p| {
            let r = mine.iter().find(|(id, _)| *id == p.id).map(|(_, r)| *r);
            may_see_partner(who.role, r).then_some((p, r))
        })
        .collect())
}

/// One partner, as the caller may see it (404 for a guest of another partner).
pub async fn detail(
    svc: &Services,
    ws: WorkspaceId,
    who: Acting,
    id: LocalPartnerId,
) -> Result<PartnerDetail, ServiceError> {
    let scoped = svc.store.ws(ws);
    let partner = scoped.local_partner(id).await.map_err(|_| not_found())?;
    let mine = role_in(svc, ws, who, id).await?;
    if !may_see_partner(who.role, mine) {
        return Err(not_found());
    }
    let sees_seats = who.role >= WorkspaceRole::Admin || mine == Some(PartnerRole::HostAdmin);
    Ok(PartnerDetail {
        people: scoped.partner_people(id).await?,
        native: scoped.native_links(id).await?,
        seats: if sees_seats {
            scoped.partner_seats(id).await?
        } else {
            Vec::new()
        },
        cards: scoped.partner_cards(id).await?,
        may_manage: may_manage_partner(who.role, mine),
        my_role: mine,
        partner,
    })
}

/// Ends a partnership (workspace Admins and Owners, its Host Admins): every guest of it is
/// revoked (their links stop working, their accounts are unshared, and the next reports list
/// their seats for removal), the accounts shared with the partner are unshared. Nothing else
/// is removed.
pub async fn end_partner(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Acting,
    id: LocalPartnerId,
) -> Result<PartnerDetail, ServiceError> {
    let mine = role_in(svc, ws, who, id).await?;
    let scoped = svc.store.ws(ws);
    scoped.local_partner(id).await.map_err(|_| not_found())?;
    if !may_see_partner(who.role, mine) {
        return Err(not_found());
    }
    if who.role < WorkspaceRole::Admin && mine != Some(PartnerRole::HostAdmin) {
        return Err(ServiceError::Forbidden(
            "a partnership is ended by its Host Admins or the workspace's Admins".into(),
        ));
    }
    scoped.end_local_partner(actor, id).await?;
    for p in scoped.partner_people(id).await? {
        if p.role.is_guest() && !p.disabled {
            crate::guests::revoke(svc, ws, actor, p.person_id).await?;
        }
    }
    detail(svc, ws, who, id).await
}

/// Links a native partner of an app to a local partner (workspace Admins and Owners).
pub async fn link_native(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Acting,
    local: LocalPartnerId,
    app: &str,
    partner_id: &str,
) -> Result<(), ServiceError> {
    if who.role < WorkspaceRole::Admin {
        return Err(ServiceError::Forbidden(
            "linking a native partner needs the admin workspace role".into(),
        ));
    }
    let scoped = svc.store.ws(ws);
    scoped.local_partner(local).await.map_err(|_| not_found())?;
    let no_app = || ServiceError::NotFound {
        field: "app_id",
        what: "app",
    };
    let app: AppId = app.parse().map_err(|_| no_app())?;
    scoped.app(app).await.map_err(|_| no_app())?;
    scoped
        .partner(app, partner_id)
        .await?
        .ok_or(ServiceError::NotFound {
            field: "partner_id",
            what: "native partner",
        })?;
    Ok(scoped
        .link_native_partner(actor, local, app, partner_id)
        .await?)
}

/// *Invite as guest user* on an unmatched seat (the app's managers): invites the seat's e-mail
/// as a guest user of the workspace, or into a local partner as its Guest User, and links the
/// seat to them; once they join, the next check matches the seat to them (a partner's user,
/// not an employee), and revoking them lists the seat for removal.
#[allow(clippy::too_many_arguments)]
pub async fn invite_seat(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Acting,
    app: AppId,
    user_id: &str,
    partner: Option<LocalPartnerId>,
    display_name: Option<&str>,
) -> Result<Person, ServiceError> {
    let scoped = svc.store.ws(ws);
    scoped.app(app).await?;
    let seat = scoped
        .seat_by_id(app, user_id)
        .await?
        .ok_or(ServiceError::NotFound {
            field: "user_id",
            what: "seat",
        })?;
    if seat.state != castellan_domain::apps::SeatState::Unmatched
        || seat.kind != castellan_domain::apps::SeatKind::Member
    {
        return Err(ServiceError::Conflict(FieldError::new(
            "user_id",
            "only an unmatched member's seat is invited as a guest user",
        )));
    }
    let email = seat
        .email
        .clone()
        .ok_or_else(|| FieldError::new("user_id", "the seat has no e-mail address to invite"))?;
    // A guest already invited for the same address (its seat on another app) is linked again.
    let parsed = Email::parse("user_id", &email)?;
    if let Ok(existing) = scoped.person_by_email(&parsed).await
        && existing.role == WorkspaceRole::Guest
        && !existing.disabled
    {
        let in_partner = match partner {
            Some(p) => scoped
                .partner_roles(existing.id)
                .await?
                .iter()
                .any(|(id, r)| *id == p && r.is_guest()),
            None => true,
        };
        if in_partner {
            scoped
                .link_seat_guest(actor, app, user_id, existing.id)
                .await?;
            return Ok(existing);
        }
    }
    let person = match partner {
        Some(p) => {
            invite_into(
                svc,
                ws,
                actor,
                who,
                p,
                &email,
                display_name.or(seat.display_name.as_deref()),
                PartnerRole::GuestUser,
            )
            .await?
        }
        None => {
            let email = Email::parse("user_id", &email)?;
            must_be_new(svc, ws, "user_id", &email).await?;
            crate::guests::invite(
                svc,
                ws,
                actor,
                email.as_str(),
                display_name.or(seat.display_name.as_deref()),
            )
            .await?
            .0
        }
    };
    scoped
        .link_seat_guest(actor, app, user_id, person.id)
        .await?;
    Ok(person)
}

/// What a partner's managers do to one of its guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestAction {
    /// Give them this role in the partner.
    SetRole(PartnerRole),
    /// A new sign-in link (before they have joined).
    Resend,
    /// End their access: as any guest's revocation (their seats then wait for removal).
    Revoke,
}

/// A partner's Host Admins and Guest Admins (and the workspace's Admins) manage its guests:
/// change a guest's role, resend their link, revoke them. Only a guest of this partner.
pub async fn manage_guest(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Acting,
    partner: LocalPartnerId,
    person: PersonId,
    action: GuestAction,
) -> Result<PartnerPerson, ServiceError> {
    let scoped = svc.store.ws(ws);
    scoped
        .local_partner(partner)
        .await
        .map_err(|_| not_found())?;
    let mine = role_in(svc, ws, who, partner).await?;
    if !may_see_partner(who.role, mine) {
        return Err(not_found());
    }
    if !may_manage_partner(who.role, mine) {
        return Err(ServiceError::Forbidden(
            "only the partner's Host and Guest Admins manage its people".into(),
        ));
    }
    let people = scoped.partner_people(partner).await?;
    let target = people
        .iter()
        .find(|p| p.person_id == person && p.role.is_guest())
        .ok_or(ServiceError::NotFound {
            field: "person_id",
            what: "guest of the partner",
        })?;
    match action {
        GuestAction::SetRole(role) => {
            if !role.is_guest() {
                return Err(
                    FieldError::new("role", "role must be guest_admin or guest_user").into(),
                );
            }
            scoped
                .set_partner_person(actor, partner, person, role)
                .await?;
        }
        GuestAction::Resend => {
            if target.joined {
                return Err(ServiceError::Conflict(FieldError::new(
                    "person_id",
                    "they have joined already: no link to resend",
                )));
            }
            crate::guests::resend(svc, ws, actor, person).await?;
        }
        GuestAction::Revoke => {
            crate::guests::revoke(svc, ws, actor, person).await?;
        }
    }
    scoped
        .partner_people(partner)
        .await?
        .into_iter()
        .find(|p| p.person_id == person)
        .ok_or(ServiceError::NotFound {
            field: "person_id",
            what: "guest of the partner",
        })
}
