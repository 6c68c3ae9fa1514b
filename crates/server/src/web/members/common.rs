//! What the seat dialogs share: the Members tab's URL and a seat's label.

use crate::state::AppState;
use crate::web::{Web, WebError};
use castellan_domain::roles::asset_permissions;

pub(crate) fn members_url(app: &str, tab: &str) -> String {
    format!("/apps/{app}/members?tab={tab}")
}

pub(crate) async fn seat_label(
    s: &AppState,
    web: &Web,
    app: castellan_domain::AppId,
    user: &str,
) -> Result<(castellan_store::Seat, String), WebError> {
    let seat = s
        .store
        .ws(web.ws())
        .seat_by_id(app, user)
        .await?
        .ok_or_else(|| WebError::NotFound("This seat is not on the app.".into()))?;
    let label = seat.name();
    Ok((seat, label))
}

// --------------------------------------------------------------- Change role, Invite

pub struct AssetChoice {
    pub asset_id: String,
    pub label: String,
    pub permissions: Vec<&'static str>,
}

pub async fn asset_choices(
    s: &AppState,
    web: &Web,
    app: &castellan_store::App,
) -> Result<Vec<AssetChoice>, WebError> {
    Ok(s.store
        .ws(web.ws())
        .asset_page(app.id, None, None, 200)
        .await?
        .items
        .into_iter()
        .map(|a| AssetChoice {
            permissions: asset_permissions(app.platform, &a.kind).to_vec(),
            label: format!(
                "{} ({})",
                a.name.clone().unwrap_or_else(|| a.asset_id.clone()),
                a.kind
            ),
            asset_id: a.asset_id,
        })
        .collect())
}
