//! Managing an app's seats: changes pushed to the platform (previewed first), manual
//! matches, exemptions, deprovisioning reports, and the outbox.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use castellan_domain::changes::{AssetPermissions, Request};
use castellan_domain::policy::Action;
use castellan_domain::{AppId, IdentityId};
use castellan_store::{App, AppRole};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::apps::SeatBody;
use super::tasks::TaskBody;
use super::{Page, limit};
use castellan_services::members::{Handling, Preview};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, queue_error};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::state::AppState;

/// The app of a two-parameter path (`/apps/{id}/members/{user_id}/…`).
pub(crate) fn app_id(raw: &str) -> Result<AppId, ApiError> {
    super::parse_id("id", raw, <AppId as crate::extract::Named>::WHAT)
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetPermissionsBody {
    pub asset_id: String,
    pub permissions: Vec<String>,
}

/// A change to push to the platform. `action` decides which other fields it needs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// `remove`, `set_role`, `set_permissions`, `invite` or `cancel_invite`.
    #[schema(value_type = super::ChangeAction)]
    pub action: String,
    /// Seats to remove (`remove`).
    pub seats: Option<Vec<String>>,
    /// The seat (`set_role`, `set_permissions`, `cancel_invite`).
    pub seat: Option<String>,
    /// Business role as the platform names it (`set_role`, `invite`): Pinterest
    /// `BIZ_ADMIN`/`EMPLOYEE`, TikTok `ADMIN`/`STANDARD`.
    pub role: Option<String>,
    /// The asset (`set_permissions`).
    pub asset_id: Option<String>,
    /// The permissions to hold on it; none removes them (`set_permissions`).
    pub permissions: Option<Vec<String>>,
    /// Address to invite (`invite`).
    pub email: Option<String>,
    /// Asset permissions the invitation carries (`invite`).
    pub assets: Option<Vec<AssetPermissionsBody>>,
    /// Only plan: return the steps and their platform calls, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The `input_hash` of a preview: the change is refused if the data changed since.
    pub plan_hash: Option<String>,
    /// Needed when the change removes more than the workspace's share of seats (20%).
    #[serde(default)]
    pub confirm_large_removal: bool,
}

fn need<T>(v: Option<T>, field: &str, action: &str) -> Result<T, ApiError> {
    v.ok_or_else(|| ApiError::invalid(field, format!("{field} is required for {action}")))
}

impl ChangeRequest {
    /// The fields each action takes (besides `action`, `dry_run`, `plan_hash` and
    /// `confirm_large_removal`); the document states the same per-action shapes.
    fn fields_of(action: &str) -> &'static [&'static str] {
        match action {
            "remove" => &["seats"],
            "set_role" => &["seat", "role"],
            "set_permissions" => &["seat", "asset_id", "permissions"],
            "invite" => &["email", "role", "assets"],
            "cancel_invite" => &["seat"],
            _ => &[],
        }
    }

    fn to_request(&self) -> Result<Request, ApiError> {
        let a = self.action.as_str();
        let given = [
            ("seats", self.seats.is_some()),
            ("seat", self.seat.is_some()),
            ("role", self.role.is_some()),
            ("asset_id", self.asset_id.is_some()),
            ("permissions", self.permissions.is_some()),
            ("email", self.email.is_some()),
            ("assets", self.assets.is_some()),
        ];
        if !Self::fields_of(a).is_empty()
            && let Some((f, _)) = given
                .iter()
                .find(|(f, set)| *set && !Self::fields_of(a).contains(f))
        {
            return Err(ApiError::invalid(
                *f,
                format!("{f} is not a field of the {a} action"),
            ));
        }
        Ok(match a {
            "remove" => Request::Remove {
                seats: need(self.seats.clone(), "seats", a)?,
            },
            "set_role" => Request::SetRole {
                seat: need(self.seat.clone(), "seat", a)?,
                role: need(self.role.clone(), "role", a)?,
            },
            "set_permissions" => Request::SetPermissions {
                seat: need(self.seat.clone(), "seat", a)?,
                asset_id: need(self.asset_id.clone(), "asset_id", a)?,
                permissions: need(self.permissions.clone(), "permissions", a)?,
            },
            "invite" => Request::Invite {
                email: need(self.email.clone(), "email", a)?,
                role: need(self.role.clone(), "role", a)?,
                assets: self
                    .assets
                    .iter()
                    .flatten()
                    .map(|x| AssetPermissions {
                        asset_id: x.asset_id.clone(),
                        permissions: x.permissions.clone(),
                    })
                    .collect(),
            },
            "cancel_invite" => Request::CancelInvite {
                seat: need(self.seat.clone(), "seat", a)?,
            },
            _ => {
                return Err(ApiError::invalid(
                    "action",
                    "action must be remove, set_role, set_permissions, invite or cancel_invite",
                ));
            }
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepBody {
    /// The seat it touches.
    pub seat: String,
    pub summary: String,
    /// The platform-neutral call.
    #[schema(value_type = Object)]
    pub change: serde_json::Value,
    /// The exact platform calls (`METHOD URL body`).
    pub calls: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanBody {
    pub steps: Vec<StepBody>,
    /// Hash of the data the plan was computed from; pass it back as `plan_hash` to apply.
    pub input_hash: String,
}

impl From<Preview> for PlanBody {
    fn from(p: Preview) -> Self {
        Self {
            steps: p
                .plan
                .steps
                .into_iter()
                .zip(p.calls)
                .map(|(s, calls)| StepBody {
                    seat: s.seat,
                    summary: s.summary,
                    change: serde_json::to_value(&s.change).expect("changes serialise"),
                    calls,
                })
                .collect(),
            input_hash: p.plan.input_hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeResponse {
    pub plan: PlanBody,
    /// The task carrying it out; absent for a dry run or a plan with nothing to do.
    pub task: Option<TaskBody>,
}

async fn plan_and_queue(
    s: &AppState,
    caller: &Caller,
    app: &App,
    request: Request,
    h: Handling,
) -> ApiResult<(StatusCode, Json<ChangeResponse>)> {
    let (preview, task) = castellan_services::members::plan_and_queue(
        &s.services,
        caller.ws(),
        &caller.actor(),
        Some(caller.principal.person_id),
        app,
        request,
        h,
    )
    .await
    .map_err(queue_error)?;
    let status = if task.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ChangeResponse {
            plan: preview.into(),
            task: task.map(Into::into),
        }),
    ))
}

/// Change seats on the platform (remove, set a role or permissions, invite, cancel an
/// invitation): previewed with `dry_run`, then run as a task.
#[utoipa::path(post, path = "/api/v1/apps/{id}/changes", tag = "members", params(("id" = String, Path, description = "app id")), request_body = ChangeRequest,
    responses((status = 200, body = ChangeResponse, description = "a dry run, or nothing to do"), (status = 202, body = ChangeResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn change(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
    ApiJson(req): ApiJson<ChangeRequest>,
) -> ApiResult<(StatusCode, Json<ChangeResponse>)> {
    let p = *caller.require(Action::ManageApps)?;
    let app = s.store.ws(p.workspace_id).app(id).await?;
    let request = req.to_request()?;
    plan_and_queue(
        &s,
        &caller,
        &app,
        request,
        Handling {
            dry_run: req.dry_run,
            plan_hash: req.plan_hash.clone(),
            confirm_large_removal: req.confirm_large_removal,
            report: None,
        },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// The directory identity the seat belongs to.
    #[schema(schema_with = super::schema::uuid)]
    pub identity_id: String,
    /// `owner` (shares access, manages configuration) or `collaborator` (only logs in).
    #[schema(value_type = super::AppRoleName)]
    pub role: String,
}

/// *Match and invite* (or re-assign): the seat belongs to this person, who gets the app and an
/// account card. Sticky across checks.
#[utoipa::path(post, path = "/api/v1/apps/{id}/members/{user_id}/match", tag = "members",
    params(("id" = String, Path, description = "app id"), ("user_id" = String, Path, description = "seat")), request_body = MatchRequest,
    responses((status = 200, body = SeatBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn match_seat(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
    ApiJson(req): ApiJson<MatchRequest>,
) -> ApiResult<Json<SeatBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let identity: IdentityId = req
        .identity_id
        .parse()
        .map_err(|_| ApiError::invalid("identity_id", "identity_id is not an id"))?;
    let role = AppRole::parse("role", &req.role)?;
    Ok(Json(
        castellan_services::seats::match_seat(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            id,
            &user,
            identity,
            role,
        )
        .await?
        .into(),
    ))
}

/// Unmatch a seat: Unmatched, and sticky (later checks do not match it again).
#[utoipa::path(post, path = "/api/v1/apps/{id}/members/{user_id}/unmatch", tag = "members",
    params(("id" = String, Path, description = "app id"), ("user_id" = String, Path, description = "seat")),
    responses((status = 200, body = SeatBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unmatch_seat(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<Json<SeatBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    Ok(Json(
        castellan_services::seats::unmatch_seat(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            id,
            &user,
        )
        .await?
        .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExemptRequest {
    /// Why the seat stays unmanaged (1–500 characters).
    #[schema(schema_with = super::schema::text_500)]
    pub reason: String,
    /// After this time the seat returns to Unmatched; must be in the future.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Exempt a seat: it keeps its access on the platform but is not managed or flagged.
#[utoipa::path(post, path = "/api/v1/apps/{id}/members/{user_id}/exempt", tag = "members",
    params(("id" = String, Path, description = "app id"), ("user_id" = String, Path, description = "seat")), request_body = ExemptRequest,
    responses((status = 200, body = SeatBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "expires_at is not in the future", body = ErrorBody)))]
pub async fn exempt_seat(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
    ApiJson(req): ApiJson<ExemptRequest>,
) -> ApiResult<Json<SeatBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    Ok(Json(
        castellan_services::seats::exempt_seat(
            &s.services,
            p.workspace_id,
            castellan_services::seats::Decider {
                actor: &caller.actor(),
                by: &p.person_id.to_string(),
            },
            id,
            &user,
            &req.reason,
            req.expires_at,
        )
        .await?
        .into(),
    ))
}

/// End a seat's exemption: the next check matches it again.
#[utoipa::path(post, path = "/api/v1/apps/{id}/members/{user_id}/unexempt", tag = "members",
    params(("id" = String, Path, description = "app id"), ("user_id" = String, Path, description = "seat")),
    responses((status = 200, body = SeatBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn unexempt_seat(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<Json<SeatBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    Ok(Json(
        castellan_services::seats::unexempt_seat(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            id,
            &user,
        )
        .await?
        .into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailBody {
    pub id: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    /// What it is about (`report:{id}`).
    pub related: Option<String>,
    /// `kept` (no SMTP configured), `pending`, `sent` or `failed`.
    #[schema(value_type = super::EmailStatusName)]
    pub status: String,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<castellan_store::Email> for EmailBody {
    fn from(e: castellan_store::Email) -> Self {
        Self {
            id: e.id,
            recipients: e.recipients,
            subject: e.subject,
            body: e.body,
            related: e.related,
            status: e.status.to_string(),
            error: e.error,
            created_at: e.created_at,
            sent_at: e.sent_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// E-mails Castellan wrote, newest first (sent, pending, or kept when no SMTP is set).
#[utoipa::path(get, path = "/api/v1/outbox", tag = "members", params(OutboxQuery),
    responses((status = 200, body = Page<EmailBody>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn outbox(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<Page<EmailBody>>> {
    let p = caller.require(Action::ReadAudit)?;
    let page = s
        .store
        .ws(p.workspace_id)
        .outbox(q.cursor.as_deref(), limit(q.limit)?)
        .await?;
    Ok(Json(Page::from_store(page, Into::into)))
}
