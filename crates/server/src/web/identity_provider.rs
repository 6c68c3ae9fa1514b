//! Settings → Identity provider: the SCIM base URL an IdP (Okta, Entra ID) provisions the
//! directory through, and its bearer tokens — made (the secret shown once), listed with their
//! last use, revoked; and OIDC sign-in (set by Owners in `identity_provider_oidc.rs`). For
//! the workspace's Admins and Owners.

use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;
use castellan_services::local_partners::Acting;

use super::{
    Chrome, Errors, Flash, Form, Nav, Web, WebError, WebResult, done, invalid, page, when, when_opt,
};
use crate::error::ApiError;
use crate::state::AppState;

pub struct ScimTokenRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "web/identity_provider.html")]
pub struct IdentityProviderPage {
    chrome: Chrome,
    base_url: String,
    tokens: Vec<ScimTokenRow>,
    /// A new token's secret, shown once.
    secret: Option<String>,
    name: String,
    errors: Errors,
    pub oidc: OidcForm,
}

/// The OIDC settings as the form shows them (the secret never: only whether one is held).
#[derive(Default)]
pub struct OidcForm {
    pub configured: bool,
    /// Owners edit; Admins read.
    pub may_configure: bool,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub secret_set: bool,
    pub allowed_domains: String,
    pub groups_claim: String,
    pub passwords_owners_only: bool,
    pub enabled: bool,
    pub redirect_uri: String,
    pub errors: Errors,
}

fn acting(web: &Web) -> Acting {
    Acting {
        person: web.p().person_id,
        role: web.p().role,
    }
}

pub(super) async fn view(s: &AppState, web: &Web) -> Result<IdentityProviderPage, WebError> {
    let oidc = castellan_services::oidc::settings(&s.services, web.ws(), web.p().role)
        .await
        .map_err(ApiError::from)?;
    let may_configure = web.require(Action::ConfigureSignIn).is_ok();
    let oidc = match oidc {
        Some(v) => OidcForm {
            configured: true,
            may_configure,
            display_name: v.settings.display_name,
            issuer: v.settings.issuer,
            client_id: v.settings.client_id,
            secret_set: v.client_secret_set,
            allowed_domains: v.settings.allowed_domains.join(", "),
            groups_claim: v.settings.groups_claim.unwrap_or_default(),
            passwords_owners_only: v.settings.passwords_owners_only,
            enabled: v.settings.enabled,
            redirect_uri: v.redirect_uri,
            errors: Errors::default(),
        },
        None => OidcForm {
            may_configure,
            enabled: true,
            groups_claim: "groups".into(),
            redirect_uri: castellan_services::oidc::redirect_uri(&s.services),
            ..OidcForm::default()
        },
    };
    let tokens = castellan_services::scim::tokens(&s.services, web.ws(), acting(web))
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|t| ScimTokenRow {
            id: t.id.to_string(),
            name: t.name,
            created: when(&t.created_at),
            last_used: when_opt(&t.last_used_at),
            revoked: t.revoked_at.is_some(),
        })
        .collect();
    Ok(IdentityProviderPage {
        chrome: web.chrome(Nav::Settings, "Identity provider"),
        base_url: crate::api::scim_tokens::scim_base(s),
        tokens,
        secret: None,
        name: String::new(),
        errors: Errors::default(),
        oidc,
    })
}

pub async fn page_(State(s): State<AppState>, web: Web) -> WebResult {
    web.require(Action::ManageScimTokens)?;
    page(&web, &view(&s, &web).await?)
}

pub async fn token_create(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageScimTokens)?;
    match castellan_services::scim::create_token(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        acting(&web),
        form.get("name"),
    )
    .await
    .map_err(ApiError::from)
    {
        Ok((_, secret)) => {
            let mut v = view(&s, &web).await?;
            v.secret = Some(secret);
            v.chrome.flash = Some(Flash::success(
                "The SCIM token was made. Copy it into your identity provider now: it is shown only once.",
            ));
            page(&web, &v)
        }
        Err(e) => {
            let mut v = view(&s, &web).await?;
            v.errors = Errors::from_api(e, &["name"])?;
            v.name = form.get("name").to_string();
            invalid(&web, &v)
        }
    }
}

pub async fn token_revoke(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
) -> WebResult {
    web.require(Action::ManageScimTokens)?;
    let id = id
        .parse()
        .map_err(|_| WebError::NotFound("This SCIM token does not exist.".into()))?;
    let t = castellan_services::scim::revoke_token(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        acting(&web),
        id,
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done(
        &web,
        "/settings/identity-provider",
        Flash::success(format!(
            "The SCIM token {} was revoked: the identity provider's next request with it is refused.",
            t.name
        )),
    ))
}
