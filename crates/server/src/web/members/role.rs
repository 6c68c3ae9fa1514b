//! Change role and asset permissions of a seat.

use super::common::{AssetChoice, asset_choices, seat_label};
use crate::state::AppState;
use crate::web::apps::{AppHead, app_id, load_head};
use crate::web::{Chrome, Nav, Web, WebResult, invalid};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;
use castellan_domain::roles::roles;

#[derive(Template)]
#[template(path = "web/role.html", blocks = ["dialog"])]
pub struct RolePage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    user_id: String,
    seat: String,
    current: String,
    roles: Vec<&'static str>,
    assets: Vec<AssetChoice>,
}

pub async fn role_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, user)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "members").await?;
    let (seat, label) = seat_label(&s, &web, id, &user).await?;
    let assets = asset_choices(&s, &web, &app).await?;
    dialog!(
        web,
        RolePage {
            chrome: web.chrome(Nav::Apps, "Change role"),
            head,
            standalone: !web.htmx,
            user_id: user,
            seat: label,
            current: seat.roles.join(", "),
            roles: roles(app.platform).to_vec(),
            assets,
        },
        true
    )
}
