//! People of the workspace with a local password: adding one (a one-time password, returned
//! once, under the rule of which roles a caller may give) and the argon2id hashing of
//! passwords, off the async threads because it is deliberately slow.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use castellan_domain::WorkspaceId;
use castellan_domain::audit::Actor;
use castellan_domain::auth::generate_password;
use castellan_domain::policy::may_assign_role;
use castellan_domain::values::{Email, optional_text};
use castellan_domain::workspace::WorkspaceRole;
use castellan_store::Person;

use crate::Services;
use crate::error::ServiceError;

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes), off the async
/// threads because it is deliberately slow.
pub async fn hash_password(password: String, salt_bytes: [u8; 16]) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hash: {e}"))
    })
    .await?
}

/// Checks a password against a stored hash. With no hash (unknown person, or no local
/// password) it still does the work on a dummy, so timing does not reveal which e-mails exist.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2xv3Y3uR8n2gxp7Hz2bW5f7q2q5yqGv0kS6gk0jz2aQ";
        let real = hash.is_some();
        let h = hash.unwrap_or_else(|| DUMMY.to_string());
        let ok = PasswordHash::new(&h).map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
        real && ok.unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Adds a person with a one-time password (returned once). `by_role` is the caller's
/// workspace role: a caller may only give the roles `may_assign_role` allows.
pub async fn create_person(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    by_role: WorkspaceRole,
    email: &str,
    display_name: Option<&str>,
    role: &str,
) -> Result<(Person, String), ServiceError> {
    let email = Email::parse("email", email)?;
    let display = optional_text("display_name", display_name.unwrap_or(""), 256)?;
    let role = WorkspaceRole::parse("role", role)?;
    if !may_assign_role(by_role, None, role) {
        return Err(ServiceError::Forbidden(format!(
            "a {by_role} cannot create a {role}"
        )));
    }
    let env = svc.store.env();
    let password = env.with_rng(generate_password);
    let salt = env.with_rng(|r| {
        let mut b = [0u8; 16];
        r.fill_bytes(&mut b);
        b
    });
    let hash = hash_password(password.clone(), salt)
        .await
        .map_err(ServiceError::Internal)?;
    let person = svc
        .store
        .ws(ws)
        .create_person(actor, &email, display.as_deref(), role, Some(&hash))
        .await?;
    Ok((person, password))
}

/// Changes a person's role, display name or disabled flag (each when given), under the rule of
/// which roles a caller of `by_role` may give and take.
#[allow(clippy::too_many_arguments)]
pub async fn update_person(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    by_role: WorkspaceRole,
    id: castellan_domain::PersonId,
    role: Option<&str>,
    display_name: Option<&str>,
    disabled: Option<bool>,
) -> Result<Person, ServiceError> {
    let scoped = svc.store.ws(ws);
    let current = scoped.person(id).await?;
    let role = role.map(|r| WorkspaceRole::parse("role", r)).transpose()?;
    let target = role.unwrap_or(current.role);
    if !may_assign_role(by_role, Some(current.role), target) {
        return Err(ServiceError::Forbidden(format!(
            "a {by_role} cannot change a {} into a {target}",
            current.role
        )));
    }
    let display_name = display_name
        .map(|d| optional_text("display_name", d, 256))
        .transpose()?;
    let update = castellan_store::PersonUpdate {
        role,
        display_name,
        disabled,
    };
    Ok(scoped.update_person(actor, id, &update).await?)
}

/// Creates an API token for `person`; the secret is returned once and only its hash kept.
pub async fn create_token(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    person: castellan_domain::PersonId,
    name: &str,
    scope: &str,
) -> Result<(castellan_store::ApiToken, String), ServiceError> {
    use castellan_domain::auth::{API_TOKEN_PREFIX, ApiScope, generate_secret, hash_secret};
    let name = castellan_domain::values::required_text("name", name, 100)?;
    let scope = ApiScope::parse("scope", scope)?;
    let secret = svc
        .store
        .env()
        .with_rng(|r| generate_secret(API_TOKEN_PREFIX, r));
    let token = svc
        .store
        .ws(ws)
        .create_token(actor, person, &name, scope, &hash_secret(&secret))
        .await?;
    Ok((token, secret))
}

/// Revokes one of `person`'s own tokens.
pub async fn revoke_token(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    person: castellan_domain::PersonId,
    id: castellan_domain::TokenId,
) -> Result<castellan_store::ApiToken, ServiceError> {
    Ok(svc.store.ws(ws).revoke_token(actor, person, id).await?)
}
