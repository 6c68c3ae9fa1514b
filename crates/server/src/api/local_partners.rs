//! Local partners: organizations of guest users with Host Admins and Guest Admins. Any
//! signed-in person may call these; each answers only what their role in the partner allows
//! (a guest of another partner gets 404).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::LocalPartnerId;
use castellan_domain::local_partners::PartnerRole;
use castellan_domain::policy::Action;
use castellan_services::local_partners::{self as lp, Acting};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct LocalPartnerBody {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The caller's role in it, if any.
    #[schema(value_type = Option<super::PartnerRoleName>)]
    pub my_role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerPersonBody {
    pub person_id: String,
    pub email: String,
    pub display_name: Option<String>,
    #[schema(value_type = super::PartnerRoleName)]
    pub role: String,
    /// A guest who has set a password through their link.
    pub joined: bool,
    /// Revoked.
    pub disabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NativeLinkBody {
    pub app_id: String,
    pub partner_id: String,
}

/// A seat on an app held by one of the partner's guests.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerSeatBody {
    pub app_id: String,
    pub app_label: String,
    pub user_id: String,
    pub seat_email: Option<String>,
    #[schema(value_type = super::SeatStateName)]
    pub state: String,
    /// The guest whose seat it is.
    pub guest_email: String,
    /// The guest is revoked: the next check's report lists the seat for removal.
    pub awaiting_removal: bool,
    /// Assets the seat holds.
    pub assets: i64,
}

/// An account card shared with the partner as a whole.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerCardBody {
    pub card_id: String,
    pub label: String,
    /// `owner`: its Guest Admins are its Managers; `collaborator`: its guests log in only.
    #[schema(value_type = super::AppRoleName)]
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocalPartnerDetailBody {
    pub partner: LocalPartnerBody,
    pub people: Vec<PartnerPersonBody>,
    /// Native partners of apps that are this organization.
    pub native_partners: Vec<NativeLinkBody>,
    /// The seats its guests hold on the workspace's apps (for the workspace's Admins and
    /// Owners and the partner's Host Admins; empty for its guests).
    pub seats: Vec<PartnerSeatBody>,
    /// Account cards shared with the partner as a whole.
    pub cards: Vec<PartnerCardBody>,
    /// The caller may invite and manage its people.
    pub may_manage: bool,
}

fn body(
    p: castellan_store::local_partners::LocalPartner,
    mine: Option<PartnerRole>,
) -> LocalPartnerBody {
    LocalPartnerBody {
        id: p.id.to_string(),
        name: p.name,
        domains: p.domains,
        created_at: p.created_at,
        ended_at: p.ended_at,
        my_role: mine.map(|r| r.as_str().to_string()),
    }
}

fn acting(caller: &Caller) -> Acting {
    Acting {
        person: caller.principal.person_id,
        role: caller.principal.role,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPartnerRequest {
    pub name: String,
    /// E-mail domains, comma- or space-separated; the partner's people must use one.
    #[serde(default)]
    pub domains: String,
    /// The first member, invited as Guest Admin with a single-use sign-in link.
    #[schema(schema_with = super::schema::email)]
    pub first_email: String,
    pub first_name: Option<String>,
    /// People of the workspace who manage the partnership (ids).
    #[serde(default)]
    pub host_admins: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitePartnerPersonRequest {
    #[schema(schema_with = super::schema::email)]
    pub email: String,
    pub display_name: Option<String>,
    /// `guest_admin` or `guest_user`.
    #[schema(value_type = super::PartnerRoleName)]
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkNativeRequest {
    pub app_id: String,
    /// The native partner's business id on the app's platform.
    pub partner_id: String,
}

/// The local partners the caller may see (all of them for Admins and Owners; their own for
/// Host Admins and the partner's people).
#[utoipa::path(get, path = "/api/v1/local-partners", tag = "partners",
    responses((status = 200, body = Vec<LocalPartnerBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<LocalPartnerBody>>> {
    let p = *caller.require(Action::ReadLocalPartners)?;
    let all = lp::visible(&s.services, p.workspace_id, acting(&caller)).await?;
    Ok(Json(all.into_iter().map(|(p, r)| body(p, r)).collect()))
}

/// Add a local partner (Admins and Owners): its Host Admins and its first member, invited as
/// Guest Admin. 409 naming `name` or `first_email` when taken.
#[utoipa::path(post, path = "/api/v1/local-partners", tag = "partners", request_body = AddPartnerRequest,
    responses((status = 201, body = LocalPartnerDetailBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AddPartnerRequest>,
) -> ApiResult<(StatusCode, Json<LocalPartnerDetailBody>)> {
    let p = *caller.require(Action::ManageLocalPartners)?;
    let hosts = req
        .host_admins
        .iter()
        .map(|h| {
            h.parse()
                .map_err(|_| ApiError::invalid("host_admins", format!("{h} is not a person id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (partner, _) = lp::add_partner(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        acting(&caller),
        lp::NewPartner {
            name: &req.name,
            domains: &req.domains,
            first_email: &req.first_email,
            first_name: req.first_name.as_deref(),
            host_admins: &hosts,
        },
    )
    .await?;
    let d = lp::detail(&s.services, p.workspace_id, acting(&caller), partner.id).await?;
    Ok((StatusCode::CREATED, Json(detail_body(d))))
}

fn detail_body(d: lp::PartnerDetail) -> LocalPartnerDetailBody {
    LocalPartnerDetailBody {
        partner: body(d.partner, d.my_role),
        people: d
            .people
            .into_iter()
            .map(|x| PartnerPersonBody {
                person_id: x.person_id.to_string(),
                email: x.email,
                display_name: x.display_name,
                role: x.role.as_str().to_string(),
                joined: x.joined,
                disabled: x.disabled,
            })
            .collect(),
        native_partners: d
            .native
            .into_iter()
            .map(|n| NativeLinkBody {
                app_id: n.app_id.to_string(),
                partner_id: n.partner_id,
            })
            .collect(),
        may_manage: d.may_manage,
        seats: d
            .seats
            .into_iter()
            .map(|x| PartnerSeatBody {
                app_id: x.app_id.to_string(),
                app_label: x.app_label,
                user_id: x.user_id,
                seat_email: x.seat_email,
                state: x.state.as_str().to_string(),
                guest_email: x.guest_email,
                awaiting_removal: x.guest_disabled,
                assets: x.assets,
            })
            .collect(),
        cards: d
            .cards
            .into_iter()
            .map(|c| PartnerCardBody {
                card_id: c.card_id.to_string(),
                label: c.label,
                role: c.role.as_str().to_string(),
            })
            .collect(),
    }
}

/// One local partner with its people and linked native partners (404 unless the caller may
/// see it).
#[utoipa::path(get, path = "/api/v1/local-partners/{id}", tag = "partners", params(("id" = String, Path, description = "local partner id")),
    responses((status = 200, body = LocalPartnerDetailBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<LocalPartnerId>,
) -> ApiResult<Json<LocalPartnerDetailBody>> {
    let p = *caller.require(Action::ReadLocalPartners)?;
    Ok(Json(detail_body(
        lp::detail(&s.services, p.workspace_id, acting(&caller), id).await?,
    )))
}

/// Invite a person into the partner as Guest Admin or Guest User (its Host and Guest Admins,
/// and the workspace's Admins, may): a guest user of the workspace with a single-use link.
#[utoipa::path(post, path = "/api/v1/local-partners/{id}/people", tag = "partners", params(("id" = String, Path, description = "local partner id")), request_body = InvitePartnerPersonRequest,
    responses((status = 201, body = PartnerPersonBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn invite(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<LocalPartnerId>,
    ApiJson(req): ApiJson<InvitePartnerPersonRequest>,
) -> ApiResult<(StatusCode, Json<PartnerPersonBody>)> {
    let p = *caller.require(Action::ManageLocalPartners)?;
    let role: PartnerRole = req
        .role
        .parse()
        .map_err(|_| ApiError::invalid("role", "role must be guest_admin or guest_user"))?;
    let person = lp::invite_into(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        acting(&caller),
        id,
        &req.email,
        req.display_name.as_deref(),
        role,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(PartnerPersonBody {
            person_id: person.id.to_string(),
            email: person.email,
            display_name: person.display_name,
            role: role.as_str().to_string(),
            joined: false,
            disabled: person.disabled,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManageGuestRequest {
    /// `set_role` (with `role`), `resend` or `revoke`.
    pub action: String,
    /// `guest_admin` or `guest_user` (for `set_role`).
    #[schema(value_type = Option<super::PartnerRoleName>)]
    pub role: Option<String>,
}

/// Manage one of the partner's guests (its Host and Guest Admins, the workspace's Admins):
/// change their role, resend their sign-in link, or revoke them.
#[utoipa::path(post, path = "/api/v1/local-partners/{id}/people/{person_id}", tag = "partners",
    params(("id" = String, Path, description = "local partner id"), ("person_id" = String, Path, description = "the guest")), request_body = ManageGuestRequest,
    responses((status = 200, body = PartnerPersonBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn manage_guest(
    State(s): State<AppState>,
    caller: Caller,
    axum::extract::Path((id, person)): axum::extract::Path<(String, String)>,
    ApiJson(req): ApiJson<ManageGuestRequest>,
) -> ApiResult<Json<PartnerPersonBody>> {
    let p = *caller.require(Action::ManageLocalPartners)?;
    let nf = |what: &str| ApiError::NotFoundAt {
        field: "id".into(),
        what: what.into(),
    };
    let id: LocalPartnerId = id.parse().map_err(|_| nf("local partner"))?;
    let person: castellan_domain::PersonId = person.parse().map_err(|_| nf("person"))?;
    let action =
        match req.action.as_str() {
            "set_role" => {
                lp::GuestAction::SetRole(req.role.as_deref().unwrap_or("").parse().map_err(
                    |_| ApiError::invalid("role", "role must be guest_admin or guest_user"),
                )?)
            }
            "resend" => lp::GuestAction::Resend,
            "revoke" => lp::GuestAction::Revoke,
            _ => {
                return Err(ApiError::invalid(
                    "action",
                    "action must be set_role, resend or revoke",
                ));
            }
        };
    let x = lp::manage_guest(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        acting(&caller),
        id,
        person,
        action,
    )
    .await?;
    Ok(Json(PartnerPersonBody {
        person_id: x.person_id.to_string(),
        email: x.email,
        display_name: x.display_name,
        role: x.role.as_str().to_string(),
        joined: x.joined,
        disabled: x.disabled,
    }))
}

/// End the partnership (its Host Admins, the workspace's Admins): every guest of it is revoked
/// and the accounts shared with it unshared; the next checks' reports list their seats for
/// removal. 409 when it has ended already.
#[utoipa::path(post, path = "/api/v1/local-partners/{id}/end", tag = "partners", params(("id" = String, Path, description = "local partner id")),
    responses((status = 200, body = LocalPartnerDetailBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn end(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<LocalPartnerId>,
) -> ApiResult<Json<LocalPartnerDetailBody>> {
    let p = *caller.require(Action::ManageLocalPartners)?;
    Ok(Json(detail_body(
        lp::end_partner(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            acting(&caller),
            id,
        )
        .await?,
    )))
}

/// Link a native partner of an app to this local partner (Admins and Owners): the same
/// organization.
#[utoipa::path(post, path = "/api/v1/local-partners/{id}/native-partners", tag = "partners", params(("id" = String, Path, description = "local partner id")), request_body = LinkNativeRequest,
    responses((status = 200, body = LocalPartnerDetailBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn link_native(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<LocalPartnerId>,
    ApiJson(req): ApiJson<LinkNativeRequest>,
) -> ApiResult<Json<LocalPartnerDetailBody>> {
    let p = *caller.require(Action::ManageLocalPartners)?;
    lp::link_native(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        acting(&caller),
        id,
        &req.app_id,
        &req.partner_id,
    )
    .await?;
    Ok(Json(detail_body(
        lp::detail(&s.services, p.workspace_id, acting(&caller), id).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteSeatRequest {
    /// Into this local partner, as its Guest User (none: a guest user of the workspace).
    #[schema(schema_with = super::schema::optional_uuid)]
    pub partner_id: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitedSeatBody {
    /// The guest user invited for the seat.
    pub person_id: String,
    pub email: String,
    pub partner_id: Option<String>,
}

/// *Invite as guest user* on an unmatched seat: its e-mail is invited as a guest user (of the
/// workspace, or into a local partner); once they join, the next check matches the seat to
/// them, and revoking them lists the seat for removal. 409 naming `user_id` for a seat that is
/// not an unmatched member's.
#[utoipa::path(post, path = "/api/v1/apps/{id}/members/{user_id}/invite-guest", tag = "members",
    params(("id" = String, Path, description = "app id"), ("user_id" = String, Path, description = "the seat")), request_body = InviteSeatRequest,
    responses((status = 201, body = InvitedSeatBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn invite_seat(
    State(s): State<AppState>,
    caller: Caller,
    axum::extract::Path((id, user_id)): axum::extract::Path<(String, String)>,
    ApiJson(req): ApiJson<InviteSeatRequest>,
) -> ApiResult<(StatusCode, Json<InvitedSeatBody>)> {
    let p = *caller.require(Action::ManageApps)?;
    let app = super::members::app_id(&id)?;
    let partner = req
        .partner_id
        .as_deref()
        .map(|x| {
            x.parse::<LocalPartnerId>()
                .map_err(|_| ApiError::invalid("partner_id", "partner_id is not an id"))
        })
        .transpose()?;
    let person = lp::invite_seat(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        acting(&caller),
        app,
        &user_id,
        partner,
        req.display_name.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitedSeatBody {
            person_id: person.id.to_string(),
            email: person.email,
            partner_id: partner.map(|p| p.to_string()),
        }),
    ))
}
