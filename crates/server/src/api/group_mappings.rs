//! IdP groups that manage app members: a directory group mapped to an app (app role, business
//! role, assets), and the plan that brings every app's seats to what the mapped groups give —
//! previewed with each step's platform calls, applied with the preview's hash. Admins and
//! Owners (the directory is theirs to read, the apps theirs to manage).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use castellan_domain::GroupMappingId;
use castellan_domain::changes::AssetPermissions;
use castellan_domain::policy::Action;
use castellan_services::group_mappings::{GroupPlan, MappingInput};
use castellan_store::GroupMapping;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::members::{AssetPermissionsBody, PlanBody};
use super::tasks::TaskBody;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, queue_error};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMappingBody {
    pub id: String,
    pub group_id: String,
    pub group_name: String,
    pub app_id: String,
    pub app_label: String,
    #[schema(value_type = super::AppRoleName)]
    pub app_role: String,
    pub business_role: String,
    pub assets: Vec<AssetPermissionsBody>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<GroupMapping> for GroupMappingBody {
    fn from(m: GroupMapping) -> Self {
        Self {
            id: m.id.to_string(),
            group_id: m.group_id.to_string(),
            group_name: m.group_name,
            app_id: m.app_id.to_string(),
            app_label: m.app_label,
            app_role: m.app_role.as_str().into(),
            business_role: m.business_role,
            assets: m
                .assets
                .into_iter()
                .map(|a| AssetPermissionsBody {
                    asset_id: a.asset_id,
                    permissions: a.permissions,
                })
                .collect(),
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupMappingRequest {
    #[schema(schema_with = super::schema::uuid)]
    pub group_id: String,
    #[schema(schema_with = super::schema::uuid)]
    pub app_id: String,
    /// The role on the app's account card the members get.
    #[schema(value_type = super::AppRoleName)]
    pub app_role: String,
    /// As the platform names it: Pinterest `EMPLOYEE`/`BIZ_ADMIN`, TikTok `STANDARD`/`ADMIN`.
    #[schema(schema_with = super::schema::business_role)]
    pub business_role: String,
    /// Asset permissions the invitation carries.
    #[serde(default)]
    pub assets: Vec<AssetPermissionsBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MappingQuery {
    /// Only this app's mappings (or plan).
    pub app_id: Option<String>,
}

/// One person's step.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupStepBody {
    pub app_id: String,
    pub app_label: String,
    pub identity_id: String,
    pub email: String,
    /// `invite`, `upgrade` (raise the role), `downgrade` (lower it) or `remove`.
    pub kind: String,
    pub from_role: Option<String>,
    pub to_role: Option<String>,
    /// The groups the access comes from (empty when it is taken back).
    pub via: Vec<String>,
    /// The member change and its exact platform calls.
    pub plan: PlanBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupPlanBody {
    /// Additions (invitations, raised roles) first, then lowered roles and removals.
    pub steps: Vec<GroupStepBody>,
    /// Pass it back as `plan_hash` to apply exactly this.
    pub input_hash: String,
}

impl From<GroupPlan> for GroupPlanBody {
    fn from(p: GroupPlan) -> Self {
        Self {
            input_hash: p.input_hash,
            steps: p
                .steps
                .into_iter()
                .map(|s| GroupStepBody {
                    app_id: s.app_id.to_string(),
                    app_label: s.app_label,
                    identity_id: s.identity_id.to_string(),
                    email: s.email,
                    kind: serde_json::to_value(s.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    from_role: s.from_role,
                    to_role: s.to_role,
                    via: s.via,
                    plan: s.preview.into(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyGroupPlanRequest {
    /// The preview's `input_hash` (409 when the plan changed since).
    pub plan_hash: String,
    #[serde(default)]
    #[schema(schema_with = super::schema::uuid)]
    pub app_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedGroupPlanBody {
    pub plan: GroupPlanBody,
    /// The additions' tasks, then the one that takes access back once they finished.
    pub tasks: Vec<TaskBody>,
}

fn app_filter(raw: Option<&str>) -> Result<Option<castellan_domain::AppId>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| ApiError::NotFoundAt {
                field: "app_id".into(),
                what: "app".into(),
            })
        })
        .transpose()
}

/// The workspace's group mappings.
#[utoipa::path(get, path = "/api/v1/group-mappings", tag = "directory", params(MappingQuery),
    responses((status = 200, body = Vec<GroupMappingBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<MappingQuery>,
) -> ApiResult<Json<Vec<GroupMappingBody>>> {
    let p = *caller.require(Action::ReadDirectory)?;
    let app = app_filter(q.app_id.as_deref())?;
    let all = s.store.ws(p.workspace_id).group_mappings(app, None).await?;
    Ok(Json(all.into_iter().map(Into::into).collect()))
}

/// Map a directory group to an app. Nothing changes on the platform until a plan is applied.
#[utoipa::path(post, path = "/api/v1/group-mappings", tag = "directory", request_body = CreateGroupMappingRequest,
    responses((status = 201, body = GroupMappingBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateGroupMappingRequest>,
) -> ApiResult<(StatusCode, Json<GroupMappingBody>)> {
    let p = *caller.require(Action::ManageApps)?;
    let nf = |field: &str, what: &str| ApiError::NotFoundAt {
        field: field.into(),
        what: what.into(),
    };
    let input = MappingInput {
        group_id: req.group_id.parse().map_err(|_| nf("group_id", "group"))?,
        app_id: req.app_id.parse().map_err(|_| nf("app_id", "app"))?,
        app_role: req.app_role,
        business_role: req.business_role,
        assets: req
            .assets
            .into_iter()
            .map(|a| AssetPermissions {
                asset_id: a.asset_id,
                permissions: a.permissions,
            })
            .collect(),
    };
    let m = castellan_services::group_mappings::create(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        &input,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(m.into())))
}

/// Remove a mapping. What it gave is taken back by the next plan applied.
#[utoipa::path(delete, path = "/api/v1/group-mappings/{id}", tag = "directory", params(("id" = String, Path, description = "Group mapping id")),
    responses((status = 200, body = GroupMappingBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<GroupMappingId>,
) -> ApiResult<Json<GroupMappingBody>> {
    let p = *caller.require(Action::ManageApps)?;
    Ok(Json(
        castellan_services::group_mappings::delete(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            id,
        )
        .await?
        .into(),
    ))
}

/// The plan the mappings would run now: each person's step and its platform calls.
#[utoipa::path(get, path = "/api/v1/group-mappings/plan", tag = "directory", params(MappingQuery),
    responses((status = 200, body = GroupPlanBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn plan(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<MappingQuery>,
) -> ApiResult<Json<GroupPlanBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let app = app_filter(q.app_id.as_deref())?;
    let plan = castellan_services::group_mappings::plan(&s.services, p.workspace_id, app)
        .await
        .map_err(queue_error)?;
    Ok(Json(plan.into()))
}

/// Apply the plan previewed (by its hash): additions are queued at once; lowered roles and
/// removals in a task that waits for them.
#[utoipa::path(post, path = "/api/v1/group-mappings/apply", tag = "directory", request_body = ApplyGroupPlanRequest,
    responses((status = 202, body = AppliedGroupPlanBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ApplyGroupPlanRequest>,
) -> ApiResult<(StatusCode, Json<AppliedGroupPlanBody>)> {
    let p = *caller.require(Action::ManageApps)?;
    let app = app_filter(req.app_id.as_deref())?;
    let out = castellan_services::group_mappings::apply(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        Some(p.person_id),
        app,
        &req.plan_hash,
    )
    .await
    .map_err(queue_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AppliedGroupPlanBody {
            plan: out.plan.into(),
            tasks: out.tasks.into_iter().map(Into::into).collect(),
        }),
    ))
}
