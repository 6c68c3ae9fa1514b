//! App details → Settings: the app's fields, its automation account, and password rotation.

use super::head::{AppHead, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Web, WebResult, page, when};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::apps::LoginMethod;
use castellan_domain::policy::Action;

#[derive(Template)]
#[template(path = "web/app_settings.html")]
pub struct AppSettingsPage {
    chrome: Chrome,
    head: AppHead,
    login_method: String,
    account: String,
    api_base_url: String,
    created: String,
    /// The rotation policy: `off`, `after_reveal` or `schedule`, and its days.
    rotation: &'static str,
    rotation_days: String,
}

pub async fn settings(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "settings").await?;
    let account = s
        .store
        .ws(web.ws())
        .automation_account(app.automation_account_id)
        .await
        .map(|a| format!("{} ({})", a.label, a.email))
        .unwrap_or_default();
    page(
        &web,
        &AppSettingsPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Settings", head.label)),
            head,
            login_method: if app.login_method == LoginMethod::Sso {
                "SSO".into()
            } else {
                "Username and password".into()
            },
            account,
            api_base_url: app
                .api_base_url
                .clone()
                .unwrap_or_else(|| "the platform's API".into()),
            created: when(&app.created_at),
            rotation: app.rotation.map(|r| r.kind()).unwrap_or("off"),
            rotation_days: app
                .rotation
                .map(|r| r.days().to_string())
                .unwrap_or_else(|| "90".into()),
        },
    )
}

/// Settings → Password rotation.
pub async fn rotation_submit(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: crate::web::Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    s.store.ws(web.ws()).app(id).await?;
    let days = form.get("days").trim().parse::<i64>().ok();
    let to = format!("/apps/{id}/settings");
    match castellan_services::rotation::set_policy(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        id,
        form.get("policy"),
        days,
    )
    .await
    {
        Ok(None) => Ok(crate::web::done(
            &web,
            &to,
            crate::web::Flash::success("Password rotation is off."),
        )),
        Ok(Some(r)) => Ok(crate::web::done(
            &web,
            &to,
            crate::web::Flash::success(format!(
                "Saved passwords will be rotated {} {} days.",
                if r.kind() == "schedule" {
                    "every"
                } else {
                    "this many days after each reveal:"
                },
                r.days()
            )),
        )),
        Err(e) => match crate::error::ApiError::from(e) {
            crate::error::ApiError::Invalid { message, .. } => Ok(crate::web::done(
                &web,
                &to,
                crate::web::Flash::error(message),
            )),
            other => Err(other.into()),
        },
    }
}
