//! Settings → Identity provider → Sign-in with OIDC: an Owner saves the IdP's settings (the
//! client secret write-only) or removes them. *Test sign-in* starts in `oidc_signin.rs`.

use axum::extract::State;
use castellan_domain::policy::Action;
use castellan_services::oidc::OidcInput;

use super::identity_provider::view;
use super::{Errors, Flash, Form, Web, WebResult, done, invalid};
use crate::error::ApiError;
use crate::state::AppState;

fn input(form: &Form) -> OidcInput {
    OidcInput {
        display_name: form.get("display_name").to_string(),
        issuer: form.get("issuer").to_string(),
        client_id: form.get("client_id").to_string(),
        client_secret: Some(form.get("client_secret").to_string()),
        allowed_domains: form.get("allowed_domains").to_string(),
        groups_claim: form.get("groups_claim").to_string(),
        passwords_owners_only: form.get("passwords_owners_only") == "on",
        enabled: form.get("enabled") == "on",
    }
}

pub async fn save(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ConfigureSignIn)?;
    let i = input(&form);
    match castellan_services::oidc::configure(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        web.p().role,
        &i,
    )
    .await
    .map_err(ApiError::from)
    {
        Ok(v) => Ok(done(
            &web,
            "/settings/identity-provider",
            Flash::success(if v.settings.enabled {
                format!(
                    "Sign-in with {} is saved: the sign-in page offers it. Try it with Test sign-in.",
                    v.settings.display_name
                )
            } else {
                "Sign-in with the identity provider is saved, turned off.".to_string()
            }),
        )),
        Err(e) => {
            let mut v = view(&s, &web).await?;
            v.oidc.errors = Errors::from_api(
                e,
                &[
                    "display_name",
                    "issuer",
                    "client_id",
                    "client_secret",
                    "allowed_domains",
                    "groups_claim",
                ],
            )?;
            // What was typed stays (the secret never comes back).
            v.oidc.display_name = i.display_name;
            v.oidc.issuer = i.issuer;
            v.oidc.client_id = i.client_id;
            v.oidc.allowed_domains = i.allowed_domains;
            v.oidc.groups_claim = i.groups_claim;
            v.oidc.passwords_owners_only = i.passwords_owners_only;
            v.oidc.enabled = i.enabled;
            invalid(&web, &v)
        }
    }
}

pub async fn remove(State(s): State<AppState>, web: Web) -> WebResult {
    web.require(Action::ConfigureSignIn)?;
    castellan_services::oidc::remove(&s.services, web.ws(), &web.caller.actor(), web.p().role)
        .await
        .map_err(ApiError::from)?;
    Ok(done(
        &web,
        "/settings/identity-provider",
        Flash::success(
            "Sign-in with the identity provider was removed: everyone signs in with a password again.",
        ),
    ))
}
