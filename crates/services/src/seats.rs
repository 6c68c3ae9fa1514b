//! What a person decides about one seat, and its rules: match it to a person of the directory,
//! unmatch it, exempt it (with a reason, until a future time) and end the exemption, and
//! dismiss a deprovisioning report. The one way the API, the web app and the CLI do each.

use castellan_domain::apps::{AppRole, SeatState};
use castellan_domain::audit::Actor;
use castellan_domain::values::required_text;
use castellan_domain::{AppId, FieldError, IdentityId, Timestamp, WorkspaceId};
use castellan_store::{Report, Seat, StoreError};

use crate::Services;
use crate::error::ServiceError;

/// Who decides: the audit actor, and how the seat or report records them (`by`: a person's id,
/// or `cli` for the host's operators).
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    pub actor: &'a Actor,
    pub by: &'a str,
}

/// *Match and invite* (or re-assign): the seat belongs to `identity`, who gets the app with
/// `role` and an account card. Only a member's or a system user's seat has a person, and only
/// an active person of the directory can be given one.
pub async fn match_seat(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    app: AppId,
    user_id: &str,
    identity: IdentityId,
    role: AppRole,
) -> Result<Seat, ServiceError> {
    let scoped = svc.store.ws(ws);
    let app = scoped.app(app).await?;
    let seat = scoped.live_seat(app.id, user_id).await?;
    if !seat.kind.has_person() {
        return Err(ServiceError::Conflict(FieldError::new(
            "user_id",
            format!("a seat of kind {} cannot be matched to a person", seat.kind),
        )));
    }
    let person = scoped.identity(identity).await.map_err(|e| match e {
        StoreError::NotFound(_) => ServiceError::Conflict(FieldError::new(
            "identity_id",
            "no such person in the directory",
        )),
        e => e.into(),
    })?;
    if !person.active {
        return Err(ServiceError::Conflict(FieldError::new(
            "identity_id",
            "that person is deactivated in the directory",
        )));
    }
    Ok(scoped
        .match_seat(actor, &app, user_id, identity, role)
        .await?)
}

/// Unmatches a seat: Unmatched, and sticky (later checks do not match it again).
pub async fn unmatch_seat(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    app: AppId,
    user_id: &str,
) -> Result<Seat, ServiceError> {
    Ok(svc.store.ws(ws).unmatch_seat(actor, app, user_id).await?)
}

/// Exempts a seat from matching: a reason is required and an end, when given, must be in the
/// future.
pub async fn exempt_seat(
    svc: &Services,
    ws: WorkspaceId,
    who: Decider<'_>,
    app: AppId,
    user_id: &str,
    reason: &str,
    until: Option<Timestamp>,
) -> Result<Seat, ServiceError> {
    let reason = required_text("reason", reason, 500)?;
    if let Some(t) = until
        && t <= svc.store.env().now()
    {
        // Whether a time is past depends on the clock, not on the request: a conflict.
        return Err(ServiceError::Conflict(FieldError::new(
            "expires_at",
            "expires_at must be in the future",
        )));
    }
    Ok(svc
        .store
        .ws(ws)
        .exempt_seat(who.actor, who.by, app, user_id, &reason, until)
        .await?)
}

/// Ends a seat's exemption: the next check matches it again.
pub async fn unexempt_seat(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    app: AppId,
    user_id: &str,
) -> Result<Seat, ServiceError> {
    let scoped = svc.store.ws(ws);
    let seat = scoped.live_seat(app, user_id).await?;
    if seat.state != SeatState::Exempted {
        return Err(ServiceError::Conflict(FieldError::new(
            "user_id",
            "the seat is not exempted",
        )));
    }
    Ok(scoped.unexempt_seat(actor, app, user_id).await?)
}

/// Dismisses an open deprovisioning report (its seats stay); a reason is required.
pub async fn dismiss_report(
    svc: &Services,
    ws: WorkspaceId,
    who: Decider<'_>,
    app: AppId,
    report: &str,
    reason: &str,
) -> Result<Report, ServiceError> {
    let reason = required_text("reason", reason, 500)?;
    Ok(svc
        .store
        .ws(ws)
        .dismiss_report(who.actor, who.by, app, report, &reason)
        .await?)
}
