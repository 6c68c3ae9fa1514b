//! Invite members: e-mail, role and assets, planned like every change.

use super::common::{AssetChoice, asset_choices};
use crate::state::AppState;
use crate::web::apps::{AppHead, app_id, load_head};
use crate::web::{Chrome, Nav, Web, WebResult, invalid};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;
use castellan_domain::roles::roles;

#[derive(Template)]
#[template(path = "web/invite.html", blocks = ["dialog"])]
pub struct InvitePage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    roles: Vec<&'static str>,
    assets: Vec<AssetChoice>,
}

pub async fn invite_page(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "members").await?;
    let assets = asset_choices(&s, &web, &app).await?;
    dialog!(
        web,
        InvitePage {
            chrome: web.chrome(Nav::Apps, "Invite members"),
            head,
            standalone: !web.htmx,
            roles: roles(app.platform).to_vec(),
            assets,
        },
        true
    )
}
