//! App integrations: connect one, check it for updates, and the User Overview.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::apps::{SeatState, Tab};
use castellan_domain::policy::Action;
use castellan_domain::{AppId, AutomationAccountId};
use castellan_store::{App, Seat};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tasks::TaskBody;
use super::{Page, PageQuery, cursor, limit};
use super::{SeatStateName, TabName};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct AppBody {
    pub id: String,
    pub platform: String,
    pub label: String,
    pub business_id: String,
    /// `sso` or `password`.
    pub login_method: String,
    pub automation_account_id: String,
    pub api_base_url: Option<String>,
    /// `pending`, `connected` or `error`.
    #[schema(value_type = super::AppStatusName)]
    pub status: String,
    pub status_message: Option<String>,
    pub last_check_at: Option<chrono::DateTime<chrono::Utc>>,
    pub next_check_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When people's saved passwords are rotated: `after_reveal`, `schedule`, or none.
    #[schema(value_type = Option<super::RotationPolicyName>)]
    pub rotation_policy: Option<String>,
    pub rotation_days: Option<u32>,
}

impl From<App> for AppBody {
    fn from(a: App) -> Self {
        Self {
            id: a.id.to_string(),
            platform: a.platform.to_string(),
            label: a.label,
            business_id: a.business_id,
            login_method: a.login_method.to_string(),
            automation_account_id: a.automation_account_id.to_string(),
            api_base_url: a.api_base_url,
            status: a.status.to_string(),
            status_message: a.status_message,
            last_check_at: a.last_check_at,
            rotation_policy: a.rotation.map(|r| r.kind().to_string()),
            rotation_days: a.rotation.map(|r| r.days()),
            next_check_at: a.next_check_at,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    /// `pinterest` or `tiktok`.
    #[schema(value_type = super::PlatformName)]
    pub platform: String,
    /// Label in Castellan.
    #[schema(schema_with = super::schema::text_100)]
    pub label: String,
    /// Pinterest Business Manager id, or TikTok Business Center id.
    #[schema(schema_with = super::schema::business_id)]
    pub business_id: String,
    /// `sso` or `password`.
    #[schema(value_type = super::LoginMethod)]
    pub login_method: String,
    #[schema(schema_with = super::schema::uuid)]
    pub automation_account_id: String,
    /// The platform API's base URL; defaults to the real API host.
    #[schema(schema_with = super::schema::optional_http_url)]
    pub api_base_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApp {
    pub app: AppBody,
    /// The connectivity task checking the token reaches the business as an admin.
    pub task: TaskBody,
}

/// Connect an app integration: creates it and runs the connectivity task.
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", request_body = CreateAppRequest,
    responses((status = 201, body = CreatedApp), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "the automation account does not exist", body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_app(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateAppRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApp>)> {
    let p = *caller.require(Action::ManageApps)?;
    let fields = castellan_services::apps::AppFields::parse(
        &req.platform,
        &req.label,
        &req.business_id,
        &req.login_method,
    )?;
    let account: AutomationAccountId = req.automation_account_id.parse().map_err(|_| {
        ApiError::invalid(
            "automation_account_id",
            "automation_account_id is not an id",
        )
    })?;
    let api_base_url = castellan_services::apps::parse_api_base_url(req.api_base_url.as_deref())?;
    let (app, task) = castellan_services::apps::connect_app(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        Some(p.person_id),
        fields.with(account, api_base_url),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApp {
            app: app.into(),
            task: task.into(),
        }),
    ))
}

/// App integrations (the Apps view): each app's card, with its seats per tab.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps", params(PageQuery),
    responses((status = 200, body = Page<AppDetail>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_apps(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AppDetail>>> {
    let p = caller.require(Action::ReadApps)?;
    let scoped = s.store.ws(p.workspace_id);
    let page = scoped.apps(cursor(&q.cursor)?, limit(q.limit)?).await?;
    let ids: Vec<AppId> = page.items.iter().map(|a| a.id).collect();
    let mut counts = scoped.app_counts(&ids).await?;
    Ok(Json(Page::from_store(page, |a| {
        let c = counts.remove(&a.id).unwrap_or_default();
        AppDetail::new(a, c)
    })))
}

/// An app's card: the app, its seats per User Overview tab, and its asset and partner counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppDetail {
    #[serde(flatten)]
    pub app: AppBody,
    /// Live seats per User Overview tab.
    pub counts: std::collections::BTreeMap<String, i64>,
    /// Live assets.
    pub assets: i64,
    /// Live partner businesses.
    pub partners: i64,
}

impl AppDetail {
    fn new(app: App, c: castellan_store::AppCounts) -> Self {
        let mut counts: std::collections::BTreeMap<String, i64> = SeatState::LIVE
            .iter()
            .map(|t| (t.tab().to_string(), 0))
            .collect();
        for (state, n) in c.tabs {
            if let Ok(st) = state.parse::<SeatState>() {
                counts.insert(st.tab().to_string(), n);
            }
        }
        Self {
            app: app.into(),
            counts,
            assets: c.assets,
            partners: c.partners,
        }
    }
}

/// One app, with its seat counts per tab.
#[utoipa::path(get, path = "/api/v1/apps/{id}", tag = "apps", params(("id" = String, Path, description = "app id")),
    responses((status = 200, body = AppDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_app(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
) -> ApiResult<Json<AppDetail>> {
    let p = caller.require(Action::ReadApps)?;
    let scoped = s.store.ws(p.workspace_id);
    let app = scoped.app(id).await?;
    let c = scoped
        .app_counts(&[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    Ok(Json(AppDetail::new(app, c)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveAppRequest {
    /// Why the app is removed (kept in the activity log).
    #[schema(schema_with = super::schema::text_500)]
    pub reason: String,
}

/// What removing an app deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemovedAppBody {
    pub seats: u64,
    pub assets: u64,
    pub grants: u64,
    pub partners: u64,
    pub reports: u64,
    /// Pending tasks of the app, cancelled.
    pub tasks_cancelled: u64,
}

/// Remove an app from Castellan: the integration and everything imported for it. The platform
/// is not called; the automation account and people's account cards stay. Refused (409) while
/// a task of the app is running.
#[utoipa::path(delete, path = "/api/v1/apps/{id}", tag = "apps", params(("id" = String, Path, description = "app id")), request_body = RemoveAppRequest,
    responses((status = 200, body = RemovedAppBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove_app(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
    ApiJson(req): ApiJson<RemoveAppRequest>,
) -> ApiResult<Json<RemovedAppBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let r = castellan_services::apps::remove_app(
        &s.store,
        p.workspace_id,
        &caller.actor(),
        id,
        &req.reason,
    )
    .await?;
    Ok(Json(RemovedAppBody {
        seats: r.seats,
        assets: r.assets,
        grants: r.grants,
        partners: r.partners,
        reports: r.reports,
        tasks_cancelled: r.tasks_cancelled,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// Read every asset's holders and every partner's shared assets, whatever the coverage
    /// window (TikTok reads a share of them per check; the report says which).
    #[serde(default)]
    pub full: bool,
}

/// Check for updates now (a task; follow it under /api/v1/tasks/{id}).
#[utoipa::path(post, path = "/api/v1/apps/{id}/check", tag = "apps", params(("id" = String, Path, description = "app id"), CheckQuery),
    responses((status = 202, body = TaskBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn check_app(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
    ApiQuery(q): ApiQuery<CheckQuery>,
) -> ApiResult<(StatusCode, Json<TaskBody>)> {
    let p = *caller.require(Action::ManageApps)?;
    s.store.ws(p.workspace_id).app(id).await?;
    let task = castellan_services::apps::request_check_of(
        &s.store,
        p.workspace_id,
        &caller.actor(),
        Some(p.person_id),
        id,
        q.full,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(task.into())))
}

/// Check the app's connection again (after *Connection failing*): the app is `pending` until
/// the `app.connect` task ends, `connected` or `error` with the reason.
#[utoipa::path(post, path = "/api/v1/apps/{id}/connect", tag = "apps", params(("id" = String, Path, description = "app id")),
    responses((status = 202, body = TaskBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reconnect_app(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
) -> ApiResult<(StatusCode, Json<TaskBody>)> {
    let p = *caller.require(Action::ManageApps)?;
    let task = castellan_services::apps::retry_connection(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        Some(p.person_id),
        id,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(task.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatBody {
    /// Platform user id (`invite:…` for a pending invitation, `partner:{partner id}:{user id}`
    /// for a partner's user).
    pub user_id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    /// `member`, `system_user`, `invite` or `partner_user`.
    #[schema(value_type = super::SeatKindName)]
    pub kind: String,
    #[schema(value_type = SeatStateName)]
    pub state: String,
    /// The directory identity the seat is matched to.
    pub identity_id: Option<String>,
    /// Number of assets the seat holds permissions on.
    pub assets: i64,
    pub first_seen_at: chrono::DateTime<chrono::Utc>,
    /// The seat's asset permissions (with `permissions=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<PermissionBody>>,
    /// `auto`, or `manual` for a manual match, unmatch or exemption (checks leave it alone).
    #[schema(value_type = Option<super::MatchSourceName>)]
    pub match_source: Option<String>,
    pub exemption: Option<ExemptionBody>,
    /// When Castellan removed it (the platform confirmed).
    pub removed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its person is deactivated in the directory: it awaits removal.
    pub deprovisioned: bool,
    /// A partner's user: the partner business it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// A partner's user matched by e-mail to a guest user of the workspace: their e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_user: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExemptionBody {
    pub reason: String,
    /// Who exempted it (person id).
    pub by: Option<String>,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it returns to Unmatched.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Permissions on one asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionBody {
    pub asset_id: String,
    /// The asset's type, when known (`AD_ACCOUNT`, `ADVERTISER`, …).
    pub asset_kind: Option<String>,
    pub asset_name: Option<String>,
    pub permissions: Vec<String>,
}

impl From<castellan_store::Holding> for PermissionBody {
    fn from(h: castellan_store::Holding) -> Self {
        Self {
            asset_id: h.asset_id,
            asset_kind: h.asset_kind,
            asset_name: h.label,
            permissions: h.permissions,
        }
    }
}

impl From<Seat> for SeatBody {
    fn from(s: Seat) -> Self {
        Self {
            user_id: s.user_id,
            username: s.username,
            email: s.email,
            display_name: s.display_name,
            roles: s.roles,
            kind: s.kind.to_string(),
            state: s.state.to_string(),
            identity_id: s.identity_id.map(|i| i.to_string()),
            assets: s.assets,
            first_seen_at: s.first_seen_at,
            permissions: None,
            match_source: s.match_source.map(|m| m.to_string()),
            exemption: s.exemption.map(|e| ExemptionBody {
                reason: e.reason,
                by: e.by,
                at: e.at,
                until: e.until,
            }),
            removed_at: s.removed_at,
            deprovisioned: s.deprovisioned,
            partner_id: s.partner_id,
            guest_user: s.guest_user,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// `onboarded` (default), `unmatched`, `exempted`, `partner_users` (`guest` is its old
    /// name, still accepted), `invited`, or `removed` (seats Castellan removed).
    #[param(value_type = Option<TabName>)]
    pub tab: Option<String>,
    /// Search in name, username and e-mail.
    pub q: Option<String>,
    /// Include each seat's asset permissions.
    pub permissions: Option<bool>,
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The User Overview: an app's seats by tab.
#[utoipa::path(get, path = "/api/v1/apps/{id}/members", tag = "apps", params(("id" = String, Path, description = "app id"), MembersQuery),
    responses((status = 200, body = Page<SeatBody>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn app_members(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
    ApiQuery(q): ApiQuery<MembersQuery>,
) -> ApiResult<Json<Page<SeatBody>>> {
    let p = caller.require(Action::ReadApps)?;
    let tab = Tab::parse("tab", q.tab.as_deref().unwrap_or("onboarded"))?;
    let scoped = s.store.ws(p.workspace_id);
    scoped.app(id).await?;
    let page = scoped
        .seats(
            id,
            tab,
            q.q.as_deref().filter(|x| !x.trim().is_empty()),
            q.cursor.as_deref(),
            limit(q.limit)?,
        )
        .await?;
    let mut perms = if q.permissions == Some(true) {
        let ids: Vec<String> = page.items.iter().map(|s| s.user_id.clone()).collect();
        Some(scoped.seat_permissions(id, &ids).await?)
    } else {
        None
    };
    Ok(Json(Page::from_store(page, |seat| {
        let held = perms.as_mut().map(|p| {
            p.remove(&seat.user_id)
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect()
        });
        let mut body = SeatBody::from(seat);
        body.permissions = held;
        body
    })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HolderBody {
    /// `member:{user id}` or `partner:{business id}`.
    pub holder: String,
    /// The member's e-mail or the partner's name, when known.
    pub name: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssetBody {
    pub asset_id: String,
    /// Platform asset type (`AD_ACCOUNT`, `PROFILE`, `CATALOG`, `ADVERTISER`, `PIXEL`, …).
    pub kind: String,
    pub name: Option<String>,
    /// The business that owns it, when not this one.
    pub owner_id: Option<String>,
    pub first_seen_at: chrono::DateTime<chrono::Utc>,
    /// When its holders were last read, when that was before the app's last check (TikTok
    /// reads a share of its assets' holders per check, the coverage window); absent when the
    /// last check read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holders_as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// How many members and partners hold it.
    pub holders_total: i64,
    /// The first 100 holders, by holder key.
    pub holders: Vec<HolderBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssetsQuery {
    /// Only assets of this platform type.
    pub kind: Option<String>,
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// An app's assets, each with who holds it and with which permissions.
#[utoipa::path(get, path = "/api/v1/apps/{id}/assets", tag = "apps", params(("id" = String, Path, description = "app id"), AssetsQuery),
    responses((status = 200, body = Page<AssetBody>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn app_assets(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
    ApiQuery(q): ApiQuery<AssetsQuery>,
) -> ApiResult<Json<Page<AssetBody>>> {
    let p = caller.require(Action::ReadApps)?;
    let scoped = s.store.ws(p.workspace_id);
    scoped.app(id).await?;
    let page = scoped
        .assets_with_holders(
            id,
            q.kind.as_deref().filter(|k| !k.trim().is_empty()),
            q.cursor.as_deref(),
            limit(q.limit)?,
            100,
        )
        .await?;
    Ok(Json(Page::from_store(page, |a| AssetBody {
        asset_id: a.asset_id,
        kind: a.kind,
        name: a.name,
        owner_id: a.owner_id,
        first_seen_at: a.first_seen_at,
        holders_as_of: a.holders_as_of,
        holders_total: a.holders_total,
        holders: a
            .holders
            .into_iter()
            .map(|h| HolderBody {
                holder: h.holder,
                name: h.label,
                permissions: h.permissions,
            })
            .collect(),
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    /// `after_reveal` (days after the last reveal), `schedule` (every `days`) or `off`.
    #[schema(value_type = super::RotationPolicySetting)]
    pub policy: String,
    /// 1 to 3650; required unless `off`.
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(default, deserialize_with = "super::opt_int")]
    pub days: Option<i64>,
}

/// Set the app's password rotation policy for people's saved passwords (Admin). A due
/// rotation becomes an `account.rotate` task.
#[utoipa::path(put, path = "/api/v1/apps/{id}/rotation", tag = "apps", params(("id" = String, Path, description = "app id")), request_body = RotationRequest,
    responses((status = 200, body = AppBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_rotation(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<AppId>,
    ApiJson(req): ApiJson<RotationRequest>,
) -> ApiResult<Json<AppBody>> {
    let p = *caller.require(Action::ManageApps)?;
    s.store.ws(p.workspace_id).app(id).await?;
    castellan_services::rotation::set_policy(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        id,
        &req.policy,
        req.days,
    )
    .await?;
    Ok(Json(s.store.ws(p.workspace_id).app(id).await?.into()))
}
