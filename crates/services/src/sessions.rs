//! Signing in: with e-mail and password (throttled per e-mail across processes), a new browser
//! session for a person, a guest's single-use sign-in link, and changing one's own password.
//! The server turns a session into cookies; everything else is here.

use castellan_domain::audit::Actor;
use castellan_domain::auth::{generate_secret, hash_secret, validate_new_password};
use castellan_domain::values::Email;
use castellan_domain::{FieldError, PersonId, WorkspaceId};
use castellan_store::Person;

use crate::Services;
use crate::error::ServiceError;
use crate::people::{hash_password, verify_password};
use crate::throttle::Throttle;

/// A new browser session: its secret (the cookie), its CSRF token, and how long it lasts.
pub struct SignedIn {
    pub person: Person,
    pub token: String,
    pub csrf: String,
    pub ttl: chrono::Duration,
}

/// Signs in with e-mail and password (throttled per e-mail) and creates a session lasting
/// `ttl`. `workspace` picks one when the e-mail is in several.
pub async fn sign_in(
    svc: &Services,
    throttle: &Throttle,
    ttl: chrono::Duration,
    email: &str,
    password: String,
    workspace: Option<&str>,
) -> Result<SignedIn, ServiceError> {
    let store = &svc.store;
    let email = Email::parse("email", email)?;
    if password.is_empty() {
        return Err(FieldError::new("password", "password is required").into());
    }
    let now = store.env().now();
    let key = email.canonical();
    if let Err(wait) = throttle.check(store, &key, now).await? {
        return Err(ServiceError::TooManyRequests {
            retry_after_secs: wait,
        });
    }
    let mut candidates = store.credentials_by_email(&email).await?;
    candidates.retain(|c| !c.person.disabled);
    if let Some(ws) = workspace.map(str::trim).filter(|w| !w.is_empty()) {
        let ws = ws.to_lowercase();
        let mut keep = Vec::new();
        for c in candidates {
            if store
                .get_workspace(c.person.workspace_id)
                .await?
                .name
                .to_lowercase()
                == ws
            {
                keep.push(c);
            }
        }
        candidates = keep;
    } else if candidates.len() > 1 {
        return Err(FieldError::new(
            "workspace",
            "this e-mail is in several workspaces; name the workspace",
        )
        .into());
    }
    let cred = candidates.into_iter().next();
    let ok = verify_password(
        password,
        cred.as_ref().and_then(|c| c.password_hash.clone()),
    )
    .await;
    let Some(cred) = cred.filter(|_| ok) else {
        throttle.fail(store, &key, now).await?;
        return Err(ServiceError::Unauthenticated);
    };
    throttle.succeed(store, &key).await?;
    if !crate::sign_in_policy::password_allowed(svc, &cred.person).await? {
        let idp = crate::sign_in_policy::idp_name(svc, cred.person.workspace_id)
            .await?
            .unwrap_or_else(|| "your identity provider".into());
        return Err(ServiceError::ForbiddenAt(FieldError::new(
            "password",
            format!(
                "this workspace signs in with {idp}, not with passwords: use Sign in with {idp}"
            ),
        )));
    }
    start_session(svc, ttl, cred.person).await
}

/// A new browser session for `person` (after their password was checked or just set).
pub async fn start_session(
    svc: &Services,
    ttl: chrono::Duration,
    person: Person,
) -> Result<SignedIn, ServiceError> {
    let env = svc.store.env();
    let token = env.with_rng(|r| generate_secret("", r));
    let csrf = env.with_rng(|r| generate_secret("", r));
    svc.store
        .ws(person.workspace_id)
        .create_session(person.id, &hash_secret(&token), &csrf, env.now() + ttl)
        .await?;
    Ok(SignedIn {
        person,
        token,
        csrf,
        ttl,
    })
}

fn salt(svc: &Services) -> [u8; 16] {
    svc.store.env().with_rng(|r| {
        let mut b = [0u8; 16];
        r.fill_bytes(&mut b);
        b
    })
}

/// Uses a guest's sign-in link: checks the new password, hashes it and sets it through the
/// link, once.
pub async fn accept_guest_link(
    svc: &Services,
    token: &str,
    password: String,
) -> Result<Person, ServiceError> {
    validate_new_password("password", &password)?;
    // The link is checked before the (slow) hash, so a dead link answers at once.
    crate::guests::open_link(svc, token).await?;
    let hash = hash_password(password, salt(svc))
        .await
        .map_err(ServiceError::Internal)?;
    crate::guests::accept(svc, token, &hash).await
}

/// Changes a person's own password after checking the current one (the way out of a one-time
/// password).
pub async fn change_password(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    person: PersonId,
    current: String,
    new: String,
) -> Result<(), ServiceError> {
    validate_new_password("new_password", &new)?;
    let me = svc.store.ws(ws).person(person).await?;
    let email = Email::parse("email", &me.email)?;
    let cred = svc
        .store
        .credentials_by_email(&email)
        .await?
        .into_iter()
        .find(|c| c.person.id == person);
    if !verify_password(current, cred.and_then(|c| c.password_hash)).await {
        // Well-formed but not proven: forbidden, naming the field.
        return Err(ServiceError::ForbiddenAt(FieldError::new(
            "current_password",
            "the current password is wrong",
        )));
    }
    let hash = hash_password(new, salt(svc))
        .await
        .map_err(ServiceError::Internal)?;
    svc.store.ws(ws).set_password(actor, person, &hash).await?;
    Ok(())
}
