//! Settings: workspace rules (matching domain aliases, the largest share one change may
//! remove), people and their roles, the platform apps (secret write-only), the SMTP status,
//! and the caller's own API tokens (the secret shown once).

use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::PersonId;
use castellan_domain::apps::Platform;
use castellan_domain::policy::Action;
use castellan_domain::workspace::{WorkspaceRole, WorkspaceSettings};

use super::{
    Chrome, Errors, Flash, Form, Nav, Web, WebError, WebResult, done, invalid, page, when, when_opt,
};
use crate::error::ApiError;
use crate::state::AppState;

pub struct PersonRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: WorkspaceRole,
    pub disabled: bool,
    pub is_me: bool,
}

pub struct PlatformAppRow {
    pub platform: &'static str,
    pub name: &'static str,
    pub client_id: String,
    pub authorize_url: String,
    pub token_url: String,
    pub configured: bool,
}

#[derive(Template)]
#[template(path = "web/settings.html")]
pub struct SettingsPage {
    chrome: Chrome,
    aliases: String,
    max_share: String,
    apply_group_plans: bool,
    may_edit_workspace: bool,
    /// Admins and Owners reach Settings → Identity provider.
    may_manage_idp: bool,
    people: Vec<PersonRow>,
    roles: Vec<WorkspaceRole>,
    platform_apps: Vec<PlatformAppRow>,
    smtp: String,
    outbox: usize,
    errors: Errors,
    /// A new person's one-time password, shown once.
    created: Option<(String, String)>,
}

async fn build(
    s: &AppState,
    web: &Web,
    form: Option<&Form>,
    errors: Errors,
) -> Result<SettingsPage, WebError> {
    let scoped = s.store.ws(web.ws());
    let ws = scoped.workspace().await?;
    let settings = WorkspaceSettings::from_json(&ws.settings);
    let aliases = settings
        .email_domain_aliases
        .iter()
        .map(|(a, m)| format!("{a} = {m}"))
        .collect::<Vec<_>>()
        .join("\n");
    let people = scoped
        .people(None, 500)
        .await?
        .items
        .into_iter()
        .map(|p| PersonRow {
            is_me: p.id == web.p().person_id,
            id: p.id.to_string(),
            email: p.email,
            name: p.display_name.unwrap_or_default(),
            role: p.role,
            disabled: p.disabled,
        })
        .collect();
    let mut platform_apps = Vec::new();
    for p in [Platform::Pinterest, Platform::Tiktok] {
        let a = scoped.platform_app(p).await.ok();
        platform_apps.push(PlatformAppRow {
            platform: p.as_str(),
            name: p.label(),
            configured: a.is_some(),
            client_id: a.as_ref().map(|a| a.client_id.clone()).unwrap_or_default(),
            authorize_url: a
                .as_ref()
                .map(|a| a.authorize_url.clone())
                .unwrap_or_default(),
            token_url: a.as_ref().map(|a| a.token_url.clone()).unwrap_or_default(),
        });
    }
    let smtp = match &s.services.mail.smtp {
        Some(c) => format!("Sending through {}:{}.", c.host, c.port),
        None => "No SMTP server is configured: e-mails wait in the outbox.".into(),
    };
    let outbox = scoped.outbox(None, 100).await?.items.len();
    let (aliases, max_share) = match form {
        Some(f) => (
            f.get("aliases").to_string(),
            f.get("max_removal_share").to_string(),
        ),
        None => (
            aliases,
            settings
                .max_removal_share
                .map(|x| x.to_string())
                .unwrap_or_default(),
        ),
    };
    let apply_group_plans = match form {
        Some(f) => f.get("apply_group_plans") == "on",
        None => settings.apply_group_plans.unwrap_or(false),
    };
    Ok(SettingsPage {
        chrome: web.chrome(Nav::Settings, "Settings"),
        aliases,
        max_share,
        apply_group_plans,
        may_edit_workspace: web.require(Action::UpdateWorkspace).is_ok(),
        may_manage_idp: web.require(Action::ManageScimTokens).is_ok(),
        people,
        roles: vec![
            WorkspaceRole::Guest,
            WorkspaceRole::Member,
            WorkspaceRole::Admin,
            WorkspaceRole::Owner,
        ],
        platform_apps,
        smtp,
        outbox,
        errors,
        created: None,
    })
}

pub async fn page_(State(s): State<AppState>, web: Web) -> WebResult {
    web.require(Action::ReadPeople)?;
    let view = build(&s, &web, None, Errors::default()).await?;
    page(&web, &view)
}

fn parse_settings(form: &Form) -> Result<WorkspaceSettings, ApiError> {
    let mut aliases = std::collections::BTreeMap::new();
    for (n, line) in form.get("aliases").lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((a, m)) = line.split_once('=') else {
            return Err(ApiError::invalid(
                "aliases",
                format!(
                    "line {}: write alias = main domain, such as acme.co.uk = acme.com",
                    n + 1
                ),
            ));
        };
        aliases.insert(a.trim().to_lowercase(), m.trim().to_lowercase());
    }
    let share = form.get("max_removal_share").trim();
    let max_removal_share = if share.is_empty() {
        None
    } else {
        Some(share.parse::<f64>().map_err(|_| {
            ApiError::invalid(
                "max_removal_share",
                "must be a number above 0 and at most 1",
            )
        })?)
    };
    Ok(WorkspaceSettings {
        email_domain_aliases: aliases,
        max_removal_share,
        apply_group_plans: Some(form.get("apply_group_plans") == "on"),
    })
}

pub async fn workspace_submit(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::UpdateWorkspace)?;
    let result = async {
        let settings = parse_settings(&form)?;
        let stored = s.store.ws(web.ws()).workspace().await?.settings;
        let merged = settings.merged_into(&stored).map_err(|e| {
            let field = if e.field.ends_with("aliases") {
                "aliases"
            } else {
                "max_removal_share"
            };
            ApiError::invalid(field, e.message)
        })?;
        castellan_services::workspace::update_workspace(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            None,
            Some(&merged),
        )
        .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => Ok(done(
            &web,
            "/settings",
            Flash::success("The workspace rules were saved."),
        )),
        Err(e) => {
            let errors = Errors::from_api(e, &["aliases", "max_removal_share"])?;
            let view = build(&s, &web, Some(&form), errors).await?;
            invalid(&web, &view)
        }
    }
}

pub async fn person_create(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManagePeople)?;
    match crate::api::people::create(
        &s,
        &web.caller,
        form.get("email"),
        Some(form.get("display_name")),
        form.get("role"),
    )
    .await
    {
        Ok((person, password)) => {
            let mut view = build(&s, &web, None, Errors::default()).await?;
            view.chrome.flash = Some(Flash::success(format!(
                "{} was added. Give them this one-time password; it is shown once and must be changed at first sign-in.",
                person.email
            )));
            view.created = Some((person.email, password));
            page(&web, &view)
        }
        Err(ApiError::Forbidden(why)) => Err(WebError::Forbidden(why)),
        Err(e) => {
            let errors = Errors::from_api(e, &["email", "display_name", "role"])?;
            let view = build(&s, &web, None, errors).await?;
            invalid(&web, &view)
        }
    }
}

pub async fn person_update(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: Form,
) -> WebResult {
    web.require(Action::ManagePeople)?;
    let id: PersonId = id
        .parse()
        .map_err(|_| WebError::NotFound("This person is not in your workspace.".into()))?;
    let disabled = match form.get("disabled") {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    let role = Some(form.get("role")).filter(|r| !r.is_empty());
    match crate::api::people::update(&s, &web.caller, id, role, None, disabled).await {
        Ok(p) => Ok(done(
            &web,
            "/settings",
            Flash::success(format!(
                "{} is now {}{}.",
                p.email,
                p.role,
                if p.disabled { " (disabled)" } else { "" }
            )),
        )),
        Err(ApiError::Forbidden(why)) => Err(WebError::Forbidden(why)),
        Err(e) => Ok(done(
            &web,
            "/settings",
            Flash::error(Errors::from_api(e, &[])?.general.unwrap_or_default()),
        )),
    }
}

pub async fn platform_app_submit(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageApps)?;
    let result = async {
        let platform = Platform::parse("platform", form.get("platform"))?;
        crate::api::oauth::put(
            &s,
            &web.caller,
            platform,
            castellan_services::oauth::PlatformAppInput {
                client_id: form.get("client_id"),
                client_secret: form.get("client_secret"),
                authorize_url: form.get("authorize_url"),
                token_url: form.get("token_url"),
            },
        )
        .await?;
        Ok::<_, ApiError>(platform)
    }
    .await;
    match result {
        Ok(p) => Ok(done(
            &web,
            "/settings",
            Flash::success(format!("The {} app was saved.", p.label())),
        )),
        Err(e) => {
            let errors = Errors::from_api(
                e,
                &["client_id", "client_secret", "authorize_url", "token_url"],
            )?;
            let view = build(&s, &web, None, errors).await?;
            invalid(&web, &view)
        }
    }
}

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "web/tokens.html")]
pub struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    secret: Option<String>,
    errors: Errors,
    name: String,
}

async fn tokens_view(s: &AppState, web: &Web) -> Result<TokensPage, WebError> {
    let tokens = s
        .store
        .ws(web.ws())
        .tokens(web.p().person_id, None, 200)
        .await?
        .items
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name,
            scope: t.scope.to_string(),
            created: when(&t.created_at),
            last_used: when_opt(&t.last_used_at),
            revoked: t.revoked_at.is_some(),
        })
        .collect();
    Ok(TokensPage {
        chrome: web.chrome(Nav::None, "API tokens"),
        tokens,
        secret: None,
        errors: Errors::default(),
        name: String::new(),
    })
}

pub async fn tokens_page(State(s): State<AppState>, web: Web) -> WebResult {
    web.require(Action::ManageOwnTokens)?;
    let view = tokens_view(&s, &web).await?;
    page(&web, &view)
}

pub async fn token_create(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageOwnTokens)?;
    match crate::api::auth::create_token_as(&s, &web.caller, form.get("name"), form.get("scope"))
        .await
    {
        Ok((_, secret)) => {
            let mut view = tokens_view(&s, &web).await?;
            view.secret = Some(secret);
            view.chrome.flash = Some(Flash::success(
                "The token was created. Copy its secret now: it is shown only once.",
            ));
            page(&web, &view)
        }
        Err(e) => {
            let mut view = tokens_view(&s, &web).await?;
            view.errors = Errors::from_api(e, &["name", "scope"])?;
            view.name = form.get("name").to_string();
            invalid(&web, &view)
        }
    }
}

pub async fn token_revoke(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
) -> WebResult {
    web.require(Action::ManageOwnTokens)?;
    let id = id
        .parse()
        .map_err(|_| WebError::NotFound("This token does not exist.".into()))?;
    let t = castellan_services::people::revoke_token(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        web.p().person_id,
        id,
    )
    .await
    .map_err(crate::error::ApiError::from)?;
    Ok(done(
        &web,
        "/settings/tokens",
        Flash::success(format!("The token {} was revoked.", t.name)),
    ))
}
