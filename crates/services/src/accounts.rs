//! Automation accounts: adding one (its secrets sealed in the vault, its account card made),
//! for the API, the web app's Connect app wizard, the CLI and the demo alike.

use castellan_domain::FieldError;
use castellan_domain::apps::{Platform, parse_phone};
use castellan_domain::audit::Actor;
use castellan_domain::values::{Email, required_text};
use castellan_domain::{Timestamp, WorkspaceId};
use castellan_store::{AccountCard, AutomationAccount, NewAutomationAccount};
use castellan_vault::Secret;

use crate::Services;
use crate::apps::ServiceError;
use crate::vault::seal_named;

/// What a person enters for a new automation account.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub label: String,
    pub email: String,
    pub phone: Option<String>,
    pub password: String,
    /// A token pasted from the platform; without one, the platform's consent page gets it.
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub token_scopes: Option<String>,
    pub token_expires_at: Option<Timestamp>,
}

fn secret_field(field: &str, v: &str, max: usize) -> Result<Secret, FieldError> {
    if v.is_empty() {
        return Err(FieldError::new(field, format!("{field} must not be empty")));
    }
    if v.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(Secret::new(v))
}

/// Adds an automation account of `platform`: checks every field (naming the first bad one),
/// seals the password and tokens one by one, and stores the account with its card.
pub async fn create_automation_account(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    platform: Platform,
    req: NewAccount,
) -> Result<(AutomationAccount, AccountCard), ServiceError> {
    let label = required_text("label", &req.label, 100)?;
    let email = Email::parse("email", &req.email)?;
    let phone = req
        .phone
        .as_deref()
        .filter(|x| !x.trim().is_empty())
        .map(|x| parse_phone("phone", x))
        .transpose()?;
    let mut plain = vec![("password", secret_field("password", &req.password, 1024)?)];
    if let Some(t) = &req.access_token {
        plain.push(("access_token", secret_field("access_token", t, 8192)?));
    }
    if let Some(t) = &req.refresh_token {
        plain.push(("refresh_token", secret_field("refresh_token", t, 8192)?));
    }
    let env = svc.store.env();
    let secrets = plain
        .into_iter()
        .map(|(name, value)| seal_named(env, &svc.vault, ws, name, &value))
        .collect();
    let new = NewAutomationAccount {
        platform,
        label,
        email: email.as_str().to_string(),
        phone,
        token_scopes: req.token_scopes,
        token_expires_at: req.token_expires_at,
        secrets,
    };
    Ok(svc
        .store
        .ws(ws)
        .create_automation_account(actor, &new)
        .await?)
}
