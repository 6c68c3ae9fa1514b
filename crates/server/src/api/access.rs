//! *Share access to the app*: who may share an app (its Owners, and workspace Admins and
//! Owners), and the request that invites several people at once.

use super::tasks::TaskBody;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::AppId;
use castellan_domain::policy::Action;
use castellan_store::App;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareAccessRequest {
    /// People of the directory to give access to.
    #[schema(schema_with = super::schema::uuid_list_nonempty)]
    pub identity_ids: Vec<String>,
    /// Their role on the app's account card.
    #[schema(value_type = super::AppRoleName)]
    pub app_role: String,
    /// The business role the invitation gives, as the platform names it: Pinterest
    /// `EMPLOYEE`/`BIZ_ADMIN`, TikTok `STANDARD`/`ADMIN`.
    #[schema(schema_with = super::schema::business_role)]
    pub business_role: String,
    /// Asset permissions the invitation carries.
    #[serde(default)]
    pub assets: Vec<super::members::AssetPermissionsBody>,
    /// Plan only: answer 200 with every invitation's plan and the hash to send back.
    #[serde(default)]
    pub dry_run: bool,
    /// The dry run's `input_hash`: the share runs only if nothing changed since (409 when it
    /// did). Without it the share runs as planned now.
    #[serde(default)]
    pub plan_hash: Option<String>,
}

/// One person's invitation, planned.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationPlanBody {
    pub identity_id: String,
    pub email: String,
    pub plan: super::members::PlanBody,
}

/// What a share would send: each invitation's plan, and the hash to apply it with.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharePlanBody {
    pub invitations: Vec<InvitationPlanBody>,
    /// Pass it back as `plan_hash` to share exactly this.
    pub input_hash: String,
}

impl From<castellan_services::access::SharePlan> for SharePlanBody {
    fn from(p: castellan_services::access::SharePlan) -> Self {
        Self {
            invitations: p
                .invitations
                .into_iter()
                .map(|(id, email, preview)| InvitationPlanBody {
                    identity_id: id.to_string(),
                    email,
                    plan: preview.into(),
                })
                .collect(),
            input_hash: p.input_hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SharedAccessBody {
    pub identity_id: String,
    pub email: String,
    pub card: super::accounts::CardBody,
    /// The task that sends the platform's invitation (none when nothing needs sending).
    pub task: Option<TaskBody>,
}

/// Share access to the app (the app's Owners, and Admins): each person gets an account card
/// on the app and an invitation from the platform to their e-mail, sent by a `members.change`
/// task; when they accept, the next check links their seat to the card. With `dry_run`, the
/// plan of every invitation (200) and nothing changes; apply it with its `plan_hash` (202).
#[utoipa::path(post, path = "/api/v1/apps/{id}/access", tag = "apps", params(("id" = String, Path, description = "app id")), request_body = ShareAccessRequest,
    responses((status = 200, description = "the plan (dry run)", body = SharePlanBody), (status = 202, body = Vec<SharedAccessBody>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn share_access(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<AppId>,
    ApiJson(req): ApiJson<ShareAccessRequest>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let share = share_request(&req)?;
    let app = app_for_sharing(&s, &caller, id).await?;
    let out = castellan_services::access::share_app(
        &s.services,
        caller.ws(),
        &caller.actor(),
        Some(caller.principal.person_id),
        &app,
        share,
        castellan_services::members::Handling {
            dry_run: req.dry_run,
            plan_hash: req.plan_hash.clone(),
            ..Default::default()
        },
    )
    .await
    .map_err(crate::error::queue_error)?;
    if req.dry_run {
        return Ok((StatusCode::OK, Json(SharePlanBody::from(out.plan))).into_response());
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(
            out.shared
                .into_iter()
                .map(|x| SharedAccessBody {
                    identity_id: x.identity.to_string(),
                    email: x.email,
                    card: x.card.into(),
                    task: x.task.map(Into::into),
                })
                .collect::<Vec<_>>(),
        ),
    )
        .into_response())
}

/// The app, for someone who may share access to it (`castellan_services::access` decides).
/// Shared with the web app.
pub async fn app_for_sharing(s: &AppState, caller: &Caller, id: AppId) -> Result<App, ApiError> {
    caller.require(Action::UpdateSelf)?;
    Ok(castellan_services::access::app_for_sharing(&s.services, &caller.principal, id).await?)
}

/// The request checked field by field (shared with the web app's form).
pub fn share_request(
    req: &ShareAccessRequest,
) -> Result<castellan_services::access::AccessShare, ApiError> {
    let identities = req
        .identity_ids
        .iter()
        .map(|i| {
            super::canonical_uuid(i)
                .then(|| i.parse().ok())
                .flatten()
                .ok_or_else(|| ApiError::invalid("identity_ids", format!("{i:?} is not an id")))
        })
        .collect::<Result<Vec<castellan_domain::IdentityId>, _>>()?;
    Ok(castellan_services::access::AccessShare {
        identities,
        app_role: castellan_domain::apps::AppRole::parse("app_role", &req.app_role)?,
        business_role: req.business_role.trim().to_string(),
        assets: req
            .assets
            .iter()
            .map(|a| castellan_domain::changes::AssetPermissions {
                asset_id: a.asset_id.clone(),
                permissions: a.permissions.clone(),
            })
            .collect(),
    })
}
