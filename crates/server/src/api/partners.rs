//! An app's native partners: each with the assets it uses of ours (with its permissions) and
//! the assets it shares with us, and whether it can be connected.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An asset shared between the business and a partner.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerAssetBody {
    pub asset_id: String,
    pub name: Option<String>,
    /// The platform's asset type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The partner's permissions on it (for our assets it uses).
    pub permissions: Vec<String>,
}

/// A partner of the app's business, as the last check found it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerBody {
    pub partner_id: String,
    pub name: Option<String>,
    /// Which way assets go: it uses ours, it shares its own with us, or both.
    #[schema(value_type = String, example = "uses_our_assets")]
    pub relation: String,
    pub uses_our_assets: Vec<PartnerAssetBody>,
    pub shares_with_us: Vec<PartnerAssetBody>,
    /// `pending_onboarding` (it can be connected), `not_eligible` (no asset shared either
    /// way), `connected`, or `connection_failing` (with `status_message`).
    #[schema(value_type = String, example = "pending_onboarding")]
    pub status: &'static str,
    pub status_message: Option<String>,
    /// The automation account that reads the partner's business, once connected.
    pub monitor_account_id: Option<String>,
}

impl From<castellan_store::Partner> for PartnerBody {
    fn from(p: castellan_store::Partner) -> Self {
        Self {
            status: p.status().as_str(),
            status_message: p.connection.as_ref().and_then(|c| c.message.clone()),
            monitor_account_id: p.connection.as_ref().map(|c| c.account.to_string()),
            partner_id: p.partner_id,
            name: p.name,
            relation: p.relation,
            uses_our_assets: p.ours.into_iter().map(asset).collect(),
            shares_with_us: p.theirs.into_iter().map(asset).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectPartnerRequest {
    /// The automation account whose user is an admin of the partner's business (Pinterest's
    /// monitor account; TikTok: the token the partner's Business Center gave).
    pub automation_account_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectedPartnerBody {
    pub partner: PartnerBody,
    /// What the seeds recommend and was not found (a warning, not a refusal).
    pub warning: Option<String>,
}

fn asset(a: castellan_store::PartnerAsset) -> PartnerAssetBody {
    PartnerAssetBody {
        asset_id: a.asset_id,
        name: a.name,
        kind: a.kind,
        permissions: a.permissions,
    }
}

/// The app's partners (Pinterest Business Partners, TikTok Business Partners), by name.
#[utoipa::path(get, path = "/api/v1/apps/{id}/partners", tag = "apps", params(("id" = String, Path, description = "app id")),
    responses((status = 200, body = Vec<PartnerBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn app_partners(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AppId>,
) -> ApiResult<Json<Vec<PartnerBody>>> {
    let p = caller.require(Action::ReadApps)?;
    let scoped = s.store.ws(p.workspace_id);
    scoped.app(id).await?;
    Ok(Json(
        scoped
            .partners(id)
            .await?
            .into_iter()
            .map(PartnerBody::from)
            .collect(),
    ))
}

/// Connect to Castellan: the partner shares an asset one way or the other (409 naming
/// `partner_id` otherwise), and the automation account's token reaches the partner's business
/// as an admin of it (409 naming `automation_account_id` otherwise). Audited.
#[utoipa::path(post, path = "/api/v1/apps/{id}/partners/{partner_id}/connect", tag = "apps",
    params(("id" = String, Path, description = "app id"), ("partner_id" = String, Path, description = "the partner's business id")), request_body = ConnectPartnerRequest,
    responses((status = 200, body = ConnectedPartnerBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn connect_partner(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, partner)): Path<(String, String)>,
    ApiJson(req): ApiJson<ConnectPartnerRequest>,
) -> ApiResult<Json<ConnectedPartnerBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let id = super::members::app_id(&id)?;
    let account = req.automation_account_id.parse().map_err(|_| {
        ApiError::invalid(
            "automation_account_id",
            "automation_account_id is not an id",
        )
    })?;
    let done = castellan_services::partners::connect_partner(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        id,
        &partner,
        account,
    )
    .await?;
    Ok(Json(ConnectedPartnerBody {
        partner: done.partner.into(),
        warning: done.warning,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerConsentRequest {
    /// The account that signs in on the platform's consent page: an automation account's id,
    /// or `card:{id}` for an account card the caller holds (the partner's admin, a guest user,
    /// shared the monitor account with them).
    pub automation_account_id: String,
}

/// Where to send the browser, or the partner connected at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerConsentBody {
    /// The platform's consent page: once confirmed there, the callback connects the partner
    /// (absent when the account already held a token and the partner is connected).
    pub authorize_url: Option<String>,
    /// The partner, when connected at once.
    pub connected: Option<ConnectedPartnerBody>,
}

/// Connect through the platform's consent page (TikTok's *Grant access*; a Pinterest monitor
/// account without a token): an account without a token, or a card the caller holds, gets its
/// token there and the callback connects the partner. An account that holds a token connects
/// at once, as `connect` does.
#[utoipa::path(post, path = "/api/v1/apps/{id}/partners/{partner_id}/consent", tag = "apps",
    params(("id" = String, Path, description = "app id"), ("partner_id" = String, Path, description = "the partner's business id")), request_body = PartnerConsentRequest,
    responses((status = 200, body = PartnerConsentBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn partner_consent(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, partner)): Path<(String, String)>,
    ApiJson(req): ApiJson<PartnerConsentRequest>,
) -> ApiResult<Json<PartnerConsentBody>> {
    use castellan_services::partner_consent::{MonitorChoice, NextStep, connect_through};
    let p = *caller.require(Action::ManageApps)?;
    let id = super::members::app_id(&id)?;
    let choice = MonitorChoice::parse("automation_account_id", &req.automation_account_id)?;
    let who = super::accounts::holder(&s, &caller).await?;
    let next = connect_through(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        Some(&who),
        id,
        &partner,
        choice,
        &s.settings.public_url,
    )
    .await?;
    Ok(Json(match next {
        NextStep::Consent { authorize_url } => PartnerConsentBody {
            authorize_url: Some(authorize_url),
            connected: None,
        },
        NextStep::Connected(done) => PartnerConsentBody {
            authorize_url: None,
            connected: Some(ConnectedPartnerBody {
                partner: done.partner.into(),
                warning: done.warning,
            }),
        },
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopSharingRequest {
    /// Our assets to stop sharing (ids); none: every one the partner uses.
    #[serde(default)]
    pub assets: Vec<String>,
    /// Only plan: return what it does and its platform calls, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The `plan_hash` of a preview: refused (409) if the partner changed since.
    pub plan_hash: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemovePartnerRequest {
    /// Only plan: return what it does and its platform calls, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The `plan_hash` of a preview: refused (409) if the partner changed since.
    pub plan_hash: Option<String>,
}

/// A partnership change: what it does, its exact platform calls, and the task making it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerChangeBody {
    pub summary: String,
    /// The exact platform calls (`METHOD URL body`).
    pub calls: Vec<String>,
    /// Hash of what the plan was computed from; pass it back as `plan_hash` to make it.
    pub plan_hash: String,
    /// The task making it; absent for a dry run.
    pub task: Option<super::tasks::TaskBody>,
}

async fn partner_change(
    s: &AppState,
    caller: &Caller,
    id: &str,
    partner: &str,
    req: castellan_domain::partnership::PartnerRequest,
    dry_run: bool,
    plan_hash: Option<String>,
) -> ApiResult<(axum::http::StatusCode, Json<PartnerChangeBody>)> {
    use castellan_services::partnership::{preview_partner_change, request_partner_change};
    let p = *caller.require(Action::ManageApps)?;
    let id = super::members::app_id(id)?;
    let preview = preview_partner_change(&s.services, p.workspace_id, id, partner, &req).await?;
    if dry_run {
        return Ok((
            axum::http::StatusCode::OK,
            Json(PartnerChangeBody {
                summary: preview.summary,
                calls: preview.calls,
                plan_hash: preview.plan_hash,
                task: None,
            }),
        ));
    }
    let hash = plan_hash.unwrap_or(preview.plan_hash);
    let (preview, task) = request_partner_change(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        Some(p.person_id),
        id,
        partner,
        req,
        &hash,
    )
    .await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(PartnerChangeBody {
            summary: preview.summary,
            calls: preview.calls,
            plan_hash: preview.plan_hash,
            task: Some(task.into()),
        }),
    ))
}

/// Stop sharing our assets with a partner (it and its users lose access): previewed with
/// `dry_run` (the exact calls), then made by a task; the app is checked afterwards. 400
/// naming `assets` for an asset the partner does not use.
#[utoipa::path(post, path = "/api/v1/apps/{id}/partners/{partner_id}/stop-sharing", tag = "apps",
    params(("id" = String, Path, description = "app id"), ("partner_id" = String, Path, description = "the partner's business id")), request_body = StopSharingRequest,
    responses((status = 200, description = "dry run: the plan", body = PartnerChangeBody), (status = 202, description = "queued", body = PartnerChangeBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop_sharing(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, partner)): Path<(String, String)>,
    ApiJson(req): ApiJson<StopSharingRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<PartnerChangeBody>)> {
    partner_change(
        &s,
        &caller,
        &id,
        &partner,
        castellan_domain::partnership::PartnerRequest::StopSharing { assets: req.assets },
        req.dry_run,
        req.plan_hash,
    )
    .await
}

/// End the partnership on the platform, both ways it runs (a connected partner is
/// disconnected too): previewed with `dry_run`, then made by a task; the app is checked
/// afterwards.
#[utoipa::path(post, path = "/api/v1/apps/{id}/partners/{partner_id}/remove", tag = "apps",
    params(("id" = String, Path, description = "app id"), ("partner_id" = String, Path, description = "the partner's business id")), request_body = RemovePartnerRequest,
    responses((status = 200, description = "dry run: the plan", body = PartnerChangeBody), (status = 202, description = "queued", body = PartnerChangeBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove_partner(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, partner)): Path<(String, String)>,
    ApiJson(req): ApiJson<RemovePartnerRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<PartnerChangeBody>)> {
    partner_change(
        &s,
        &caller,
        &id,
        &partner,
        castellan_domain::partnership::PartnerRequest::Remove,
        req.dry_run,
        req.plan_hash,
    )
    .await
}

/// Disconnect: Castellan stops reading the partner's business and deletes its imported users
/// (the automation account stays; the platform is not called). Audited; 404 when it is not connected.
#[utoipa::path(post, path = "/api/v1/apps/{id}/partners/{partner_id}/disconnect", tag = "apps",
    params(("id" = String, Path, description = "app id"), ("partner_id" = String, Path, description = "the partner's business id")),
    responses((status = 200, body = PartnerBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disconnect_partner(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, partner)): Path<(String, String)>,
) -> ApiResult<Json<PartnerBody>> {
    let p = *caller.require(Action::ManageApps)?;
    let id = super::members::app_id(&id)?;
    let left = castellan_services::partners::disconnect_partner(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        id,
        &partner,
    )
    .await?;
    Ok(Json(left.into()))
}
