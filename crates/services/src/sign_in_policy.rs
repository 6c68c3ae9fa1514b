//! Who may sign in how: with IdP sign-in on and passwords kept for Owners, a local password
//! is refused for everyone else (guest users excepted). Read by password sign-in; set in
//! `oidc.rs`.

use castellan_domain::WorkspaceId;
use castellan_domain::workspace::WorkspaceRole;
use castellan_store::Person;

use crate::Services;
use crate::error::ServiceError;

/// Whether `person` may sign in with a local password: not when the workspace keeps
/// passwords for Owners only and they are neither an Owner nor a guest user (guests belong to
/// partners, not to the corporate IdP, so the IdP cannot sign them in).
pub async fn password_allowed(svc: &Services, person: &Person) -> Result<bool, ServiceError> {
    if matches!(person.role, WorkspaceRole::Owner | WorkspaceRole::Guest) {
        return Ok(true);
    }
    let c = svc.store.ws(person.workspace_id).oidc_config().await?;
    Ok(!c.is_some_and(|c| c.settings.enabled && c.settings.passwords_owners_only))
}

/// The IdP's name on the sign-in button, when the workspace offers IdP sign-in.
pub async fn idp_name(svc: &Services, ws: WorkspaceId) -> Result<Option<String>, ServiceError> {
    Ok(svc
        .store
        .ws(ws)
        .oidc_config()
        .await?
        .filter(|c| c.settings.enabled)
        .map(|c| c.settings.display_name))
}
