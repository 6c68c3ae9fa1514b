//! Check reports: what a check changed (its summary typed as `ReportSummaryBody`), the seats of
//! deactivated people awaiting removal, applying a report (its removals planned first) and
//! dismissing it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use castellan_domain::policy::Action;
use castellan_services::members::Handling;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::members::{ChangeResponse, PlanBody, app_id};
use super::{OutcomeKindName, ReportStatusName};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, queue_error};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;

/// What one check changed, counted per table.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckCountsBody {
    pub seats_new: u64,
    pub seats_changed: u64,
    pub seats_vanished: u64,
    pub assets_new: u64,
    pub assets_changed: u64,
    pub assets_vanished: u64,
    pub grants_new: u64,
    pub grants_changed: u64,
    pub grants_vanished: u64,
    pub partners_new: u64,
    pub partners_changed: u64,
    pub partners_vanished: u64,
    /// Seat, asset, grant and partner rows inserted or updated.
    pub rows_written: u64,
    /// Seats whose match (state or person) changed.
    pub rematched: u64,
    /// Live seats of deactivated people after the check.
    pub pending_removal: u64,
    /// Of those, the ones no earlier report listed.
    pub newly_pending: u64,
    /// The check's report.
    pub report_id: String,
}

/// What the check's fetch cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct FetchBody {
    pub requests: u64,
    /// Requests sent again after a 5xx, a 429 or a timeout (counted in `requests`).
    pub retries: u64,
    pub pages: u64,
    pub seats: u64,
    pub assets: u64,
    pub grants: u64,
    pub partners: u64,
    pub seconds: f64,
}

/// A report's summary: what the check changed and what its fetch cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportSummaryBody {
    pub counts: CheckCountsBody,
    pub fetch: FetchBody,
}

impl From<castellan_domain::reports::ReportSummary> for ReportSummaryBody {
    fn from(r: castellan_domain::reports::ReportSummary) -> Self {
        let c = r.counts;
        let f = r.fetch;
        Self {
            counts: CheckCountsBody {
                seats_new: c.seats_new,
                seats_changed: c.seats_changed,
                seats_vanished: c.seats_vanished,
                assets_new: c.assets_new,
                assets_changed: c.assets_changed,
                assets_vanished: c.assets_vanished,
                grants_new: c.grants_new,
                grants_changed: c.grants_changed,
                grants_vanished: c.grants_vanished,
                partners_new: c.partners_new,
                partners_changed: c.partners_changed,
                partners_vanished: c.partners_vanished,
                rows_written: c.rows_written,
                rematched: c.rematched,
                pending_removal: c.pending_removal,
                newly_pending: c.newly_pending,
                report_id: c.report_id,
            },
            fetch: FetchBody {
                requests: f.requests,
                retries: f.retries,
                pages: f.pages,
                seats: f.seats,
                assets: f.assets,
                grants: f.grants,
                partners: f.partners,
                seconds: f.seconds,
            },
        }
    }
}

/// A seat whose business roles changed: before and after, each the JSON list the platform gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleChangeBody {
    pub user_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A holder (`member:{user id}` or `partner:{business id}`) whose permissions on an asset
/// changed: before and after, each the JSON list the platform gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionChangeBody {
    pub holder: String,
    pub asset_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// What a check changed, listed (each list capped).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportChangesBody {
    pub new_seats: Vec<String>,
    pub vanished_seats: Vec<String>,
    pub role_changes: Vec<RoleChangeBody>,
    pub permission_changes: Vec<PermissionChangeBody>,
    pub new_partners: Vec<String>,
    pub vanished_partners: Vec<String>,
    /// Partners' users who now reach our shared assets.
    pub new_partner_users: Vec<PartnerUserChangeBody>,
    /// Partners' users who no longer do.
    pub vanished_partner_users: Vec<PartnerUserChangeBody>,
}

/// A partner's user who appeared or vanished.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerUserChangeBody {
    pub partner_id: String,
    /// The user's id on the platform.
    pub user_id: String,
    pub email: Option<String>,
}

impl From<castellan_domain::reports::PartnerUserChange> for PartnerUserChangeBody {
    fn from(c: castellan_domain::reports::PartnerUserChange) -> Self {
        Self {
            partner_id: c.partner_id,
            user_id: c.user_id,
            email: c.email,
        }
    }
}

impl From<castellan_domain::reports::ReportChanges> for ReportChangesBody {
    fn from(c: castellan_domain::reports::ReportChanges) -> Self {
        Self {
            new_seats: c.new_seats,
            vanished_seats: c.vanished_seats,
            role_changes: c
                .role_changes
                .into_iter()
                .map(|r| RoleChangeBody {
                    user_id: r.user_id,
                    from: r.from,
                    to: r.to,
                })
                .collect(),
            permission_changes: c
                .permission_changes
                .into_iter()
                .map(|p| PermissionChangeBody {
                    holder: p.holder,
                    asset_id: p.asset_id,
                    from: p.from,
                    to: p.to,
                })
                .collect(),
            new_partners: c.new_partners,
            vanished_partners: c.vanished_partners,
            new_partner_users: c.new_partner_users.into_iter().map(Into::into).collect(),
            vanished_partner_users: c
                .vanished_partner_users
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

/// How one seat's removal ended when the report was applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatOutcomeBody {
    pub seat: String,
    /// `done`, `already` (the platform already showed it, or the seat was gone) or `failed`.
    #[schema(value_type = OutcomeKindName)]
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a report was resolved: applied, with each seat's outcome, or dismissed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ResolutionBody {
    Applied {
        outcomes: Vec<SeatOutcomeBody>,
        at: chrono::DateTime<chrono::Utc>,
    },
    Dismissed {
        /// A person's id, or `cli`.
        dismissed_by: String,
        reason: String,
        at: chrono::DateTime<chrono::Utc>,
    },
}

impl From<castellan_domain::reports::Resolution> for ResolutionBody {
    fn from(r: castellan_domain::reports::Resolution) -> Self {
        use castellan_domain::changes::OutcomeKind;
        use castellan_domain::reports::Resolution;
        match r {
            Resolution::Applied { outcomes, at } => Self::Applied {
                outcomes: outcomes
                    .into_iter()
                    .map(|o| SeatOutcomeBody {
                        seat: o.seat,
                        outcome: match o.outcome {
                            OutcomeKind::Done => "done",
                            OutcomeKind::Already => "already",
                            OutcomeKind::Failed => "failed",
                        }
                        .into(),
                        summary: o.summary,
                        error: o.error,
                    })
                    .collect(),
                at,
            },
            Resolution::Dismissed {
                dismissed_by,
                reason,
                at,
            } => Self::Dismissed {
                dismissed_by,
                reason,
                at,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportBody {
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The check task that wrote it.
    pub task_id: Option<String>,
    /// Counts of what changed, and what the fetch cost.
    pub summary: ReportSummaryBody,
    /// New, changed and vanished seats; role, permission and partner changes.
    pub changes: ReportChangesBody,
    /// Seats of people deactivated in the directory, awaiting removal.
    pub pending_removal: Vec<PendingRemovalBody>,
    /// `none` (nothing to remove), `open`, `applying`, `applied`, `partially_applied` or
    /// `dismissed`.
    #[schema(value_type = ReportStatusName)]
    pub status: String,
    /// Per-seat outcomes of applying it (with each failure's reason), or the dismissal.
    pub resolution: Option<ResolutionBody>,
    /// The task applying it.
    pub apply_task: Option<String>,
}

/// A seat of someone deactivated in the directory, awaiting removal.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingRemovalBody {
    /// The seat.
    pub user_id: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub roles: Vec<String>,
    /// The deactivated identity it is linked to, and that person's name and e-mail.
    pub identity_id: String,
    pub person: String,
    pub person_email: String,
}

impl From<castellan_store::PendingRemoval> for PendingRemovalBody {
    fn from(p: castellan_store::PendingRemoval) -> Self {
        Self {
            user_id: p.user_id,
            email: p.email,
            username: p.username,
            roles: p.roles,
            identity_id: p.identity_id,
            person: p.person,
            person_email: p.person_email,
        }
    }
}

impl From<castellan_store::Report> for ReportBody {
    fn from(r: castellan_store::Report) -> Self {
        Self {
            id: r.id,
            created_at: r.created_at,
            task_id: r.task_id,
            summary: r.summary.into(),
            changes: r.changes.into(),
            pending_removal: r.pending_removal.into_iter().map(Into::into).collect(),
            status: r.status.to_string(),
            resolution: r.resolution.map(Into::into),
            apply_task: r.apply_task,
        }
    }
}

/// Reports of the latest checks for updates, newest first.
#[utoipa::path(get, path = "/api/v1/apps/{id}/reports", tag = "apps", params(("id" = String, Path, description = "app id")),
    responses((status = 200, body = Vec<ReportBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn app_reports(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
) -> ApiResult<Json<Vec<ReportBody>>> {
    let p = caller.require(Action::ReadApps)?;
    let scoped = s.store.ws(p.workspace_id);
    scoped.app(id).await?;
    Ok(Json(
        scoped
            .reports(id, 20)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// One check report, with the seats of deprovisioned people it lists.
#[utoipa::path(get, path = "/api/v1/apps/{id}/reports/{report_id}", tag = "members",
    params(("id" = String, Path, description = "app id"), ("report_id" = String, Path, description = "report")),
    responses((status = 200, body = ReportBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_report(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, report)): Path<(String, String)>,
) -> ApiResult<Json<ReportBody>> {
    let p = caller.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    Ok(Json(
        s.store.ws(p.workspace_id).report(id, &report).await?.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyReportRequest {
    /// The seats to remove (at least one); all the report lists when absent.
    #[schema(min_items = 1)]
    pub seats: Option<Vec<String>>,
    #[serde(default)]
    pub dry_run: bool,
    pub plan_hash: Option<String>,
    #[serde(default)]
    pub confirm_large_removal: bool,
}

/// Apply a deprovisioning report: removes the seats it lists (all or some) on the platform.
#[utoipa::path(post, path = "/api/v1/apps/{id}/reports/{report_id}/apply", tag = "members",
    params(("id" = String, Path, description = "app id"), ("report_id" = String, Path, description = "report")), request_body = ApplyReportRequest,
    responses((status = 200, body = ChangeResponse), (status = 202, body = ChangeResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply_report(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, report)): Path<(String, String)>,
    ApiJson(req): ApiJson<ApplyReportRequest>,
) -> ApiResult<(StatusCode, Json<ChangeResponse>)> {
    let p = *caller.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let scoped = s.store.ws(p.workspace_id);
    let app = scoped.app(id).await?;
    let r = scoped.report(id, &report).await?;
    let applied = castellan_services::members::apply_report(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        Some(p.person_id),
        &app,
        &r,
        req.seats.clone(),
        Handling {
            dry_run: req.dry_run,
            plan_hash: req.plan_hash.clone(),
            confirm_large_removal: req.confirm_large_removal,
            report: None,
        },
    )
    .await
    .map_err(queue_error)?;
    match applied {
        castellan_services::members::Applied::Planned(preview, task) => Ok((
            if task.is_some() {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            },
            Json(ChangeResponse {
                plan: preview.into(),
                task: task.map(|t| (*t).into()),
            }),
        )),
        castellan_services::members::Applied::NothingLive if req.dry_run => Ok((
            StatusCode::OK,
            Json(ChangeResponse {
                plan: PlanBody {
                    steps: Vec::new(),
                    input_hash: String::new(),
                },
                task: None,
            }),
        )),
        castellan_services::members::Applied::NothingLive => Err(ApiError::Conflict {
            field: Some("seats".into()),
            message:
                "none of these seats is on the platform any more; the report is marked applied"
                    .into(),
        }),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    /// Why the seats stay (1–500 characters).
    #[schema(schema_with = super::schema::text_500)]
    pub reason: String,
}

/// Dismiss a deprovisioning report (its seats stay).
#[utoipa::path(post, path = "/api/v1/apps/{id}/reports/{report_id}/dismiss", tag = "members",
    params(("id" = String, Path, description = "app id"), ("report_id" = String, Path, description = "report")), request_body = DismissRequest,
    responses((status = 200, body = ReportBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn dismiss_report(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, report)): Path<(String, String)>,
    ApiJson(req): ApiJson<DismissRequest>,
) -> ApiResult<Json<ReportBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let by = caller.principal.person_id.to_string();
    Ok(Json(
        castellan_services::seats::dismiss_report(
            &s.services,
            p.workspace_id,
            castellan_services::seats::Decider {
                actor: &caller.actor(),
                by: &by,
            },
            id,
            &report,
            &req.reason,
        )
        .await?
        .into(),
    ))
}
