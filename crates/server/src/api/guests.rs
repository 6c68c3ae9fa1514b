//! Guest users (Admin): invite an external person by e-mail with a single-use sign-in link,
//! resend it, revoke their access; the link's own use (public: set a password); and an
//! Owner's audited reveal of an outbox e-mail that carries a link.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use castellan_domain::PersonId;
use castellan_domain::policy::Action;
use castellan_store::guests::Guest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::people::PersonBody;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct GuestBody {
    pub person: PersonBody,
    /// Where the latest sign-in link stands; none for a guest added before links existed.
    #[schema(value_type = Option<super::InviteStateName>)]
    pub invite: Option<String>,
    pub invited_at: Option<chrono::DateTime<chrono::Utc>>,
    pub link_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The outbox e-mail carrying the latest link (an Owner may reveal it).
    pub email_id: Option<String>,
}

pub fn guest_body(g: Guest, now: castellan_domain::Timestamp) -> GuestBody {
    GuestBody {
        invite: g.invite.as_ref().map(|i| i.state(now).as_str().to_string()),
        invited_at: g.invite.as_ref().map(|i| i.created_at),
        link_expires_at: g.invite.as_ref().map(|i| i.expires_at),
        email_id: g.invite.and_then(|i| i.email_id),
        person: g.person.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteGuestRequest {
    #[schema(schema_with = super::schema::email)]
    pub email: String,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub display_name: Option<String>,
}

/// Guest users, each with their latest sign-in link's state.
#[utoipa::path(get, path = "/api/v1/guests", tag = "people",
    responses((status = 200, body = Vec<GuestBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_guests(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<GuestBody>>> {
    caller.require(Action::ReadPeople)?;
    let now = s.env.now();
    Ok(Json(
        castellan_services::guests::list(&s.services, caller.ws())
            .await?
            .into_iter()
            .map(|g| guest_body(g, now))
            .collect(),
    ))
}

/// Invite a guest user: the role Guest and a sign-in link valid 72 hours, once, sent by
/// e-mail (kept in the outbox, link sealed, without SMTP).
#[utoipa::path(post, path = "/api/v1/guests", tag = "people", request_body = InviteGuestRequest,
    responses((status = 201, body = GuestBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn invite_guest(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<InviteGuestRequest>,
) -> ApiResult<(StatusCode, Json<GuestBody>)> {
    caller.require(Action::ManagePeople)?;
    let (person, _) = castellan_services::guests::invite(
        &s.services,
        caller.ws(),
        &caller.actor(),
        &req.email,
        req.display_name.as_deref(),
    )
    .await?;
    let g = s.store.ws(caller.ws()).guest(person.id).await?;
    Ok((StatusCode::CREATED, Json(guest_body(g, s.env.now()))))
}

/// Send a guest a new sign-in link (the earlier one stops working).
#[utoipa::path(post, path = "/api/v1/guests/{id}/resend", tag = "people", params(("id" = String, Path, description = "the guest's person id")),
    responses((status = 200, body = GuestBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resend_guest(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<PersonId>,
) -> ApiResult<Json<GuestBody>> {
    caller.require(Action::ManagePeople)?;
    castellan_services::guests::resend(&s.services, caller.ws(), &caller.actor(), id).await?;
    let g = s.store.ws(caller.ws()).guest(id).await?;
    Ok(Json(guest_body(g, s.env.now())))
}

/// Revoke a guest's access: their link stops working, they are disabled and signed out.
#[utoipa::path(delete, path = "/api/v1/guests/{id}", tag = "people", params(("id" = String, Path, description = "the guest's person id")),
    responses((status = 200, body = GuestBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_guest(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<PersonId>,
) -> ApiResult<Json<GuestBody>> {
    caller.require(Action::ManagePeople)?;
    let g =
        castellan_services::guests::revoke(&s.services, caller.ws(), &caller.actor(), id).await?;
    Ok(Json(guest_body(g, s.env.now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptLinkRequest {
    /// The token of the sign-in link (`/welcome?token=…`).
    #[schema(schema_with = super::schema::text_200)]
    pub token: String,
    #[schema(schema_with = super::schema::new_password)]
    pub password: String,
}

/// Use a guest's sign-in link (no sign-in needed): sets their password, once. A used,
/// expired, revoked or unknown link is not found. Then sign in with `POST /api/v1/auth/login`.
#[utoipa::path(post, path = "/api/v1/guest-links/accept", tag = "auth", request_body = AcceptLinkRequest,
    responses((status = 200, body = PersonBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn accept_link(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<AcceptLinkRequest>,
) -> ApiResult<Json<PersonBody>> {
    let p = crate::auth::accept_guest_link(&s, &req.token, req.password).await?;
    Ok(Json(p.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedEmail {
    pub id: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The body as sent, a sign-in link included.
    pub body: String,
}

/// An outbox e-mail in full, its sealed sign-in link included (Owner; audited with who, IP
/// and user agent; `Cache-Control: no-store`). For a workspace without SMTP, to hand a guest
/// their link.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/reveal", tag = "members", params(("id" = String, Path, description = "outbox e-mail id")),
    responses((status = 200, body = RevealedEmail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reveal_email(
    State(s): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
) -> ApiResult<Response> {
    caller.require(Action::RevealSecrets)?;
    let id: uuid::Uuid = super::parse_id("id", &id, "e-mail")?;
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let (email, body) = castellan_services::guests::reveal_email(
        &s.services,
        caller.ws(),
        &caller.actor(),
        &id.to_string(),
        Some(&peer.ip().to_string()),
        ua,
    )
    .await?;
    Ok(super::no_store(RevealedEmail {
        id: email.id,
        recipients: email.recipients,
        subject: email.subject,
        body,
    }))
}
