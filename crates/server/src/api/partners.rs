//! An app's native partners: each with the assets it uses of ours (with its permissions) and
//! the assets it shares with us, and whether it can be connected.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::PathId;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use castellan_domain::policy::Action;
use serde::Serialize;
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
    /// `pending_onboarding` (it can be connected) or `not_eligible` (no asset shared either
    /// way).
    #[schema(value_type = String, example = "pending_onboarding")]
    pub status: &'static str,
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
            .map(|p| PartnerBody {
                status: if p.eligible() {
                    "pending_onboarding"
                } else {
                    "not_eligible"
                },
                partner_id: p.partner_id,
                name: p.name,
                relation: p.relation,
                uses_our_assets: p.ours.into_iter().map(asset).collect(),
                shares_with_us: p.theirs.into_iter().map(asset).collect(),
            })
            .collect(),
    ))
}
