//! Guest users: an Admin invites an external person by e-mail with the workspace role Guest.
//! They get a single-use sign-in link, valid 72 hours, and set their password with it. The
//! link's token is stored only as a hash; the e-mail that carries it keeps its full body
//! sealed in the vault, so the database never holds a working link in plain text.

use castellan_domain::audit::Actor;
use castellan_domain::auth::{generate_secret, hash_secret};
use castellan_domain::tasks::{EmailSend, TaskTrigger};
use castellan_domain::values::{Email, optional_text};
use castellan_domain::{PersonId, Timestamp, WorkspaceId};
use castellan_store::guests::{Guest, GuestInvite, NewInvite};
use castellan_store::{NewTask, Person, StoreError};
use castellan_vault::Secret;

use crate::Services;
use crate::error::ServiceError;
use crate::vault::{open_sealed, seal_named};

/// How long a sign-in link works.
pub const LINK_TTL: chrono::Duration = chrono::Duration::hours(72);

/// What the sealed e-mail body says in the outbox instead of the link.
pub const SEALED_LINK: &str =
    "[the sign-in link is sealed in the vault; an Owner can reveal it from the outbox]";

/// The sign-in link for a token.
pub fn link(svc: &Services, token: &str) -> String {
    format!(
        "{}/welcome?token={token}",
        svc.mail.public_url.trim_end_matches('/')
    )
}

fn body(workspace: &str, link: &str, expires_at: Timestamp) -> String {
    format!(
        "You have been invited to the Castellan workspace {workspace} as a guest user.\n\n\
         Open this link to set your password (it works once, until {}):\n{link}\n\n\
         As a guest you see only the accounts shared with you and those you add.\n",
        expires_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Writes the invitation e-mail: its body without the link for the outbox, its full body
/// sealed, and (with SMTP) a task that sends it.
async fn compose(
    svc: &Services,
    ws: WorkspaceId,
) -> Result<
    (
        String,
        Timestamp,
        String,
        String,
        castellan_store::SealedSecret,
    ),
    ServiceError,
> {
    let env = svc.store.env();
    let token = env.with_rng(|r| generate_secret("cgl_", r));
    let expires_at = env.now() + LINK_TTL;
    let name = svc.store.get_workspace(ws).await?.name;
    let full = body(&name, &link(svc, &token), expires_at);
    let redacted = body(&name, SEALED_LINK, expires_at);
    let sealed = seal_named(env, &svc.vault, ws, "body", &Secret::new(full));
    Ok((
        token,
        expires_at,
        redacted,
        env.new_uuid().to_string(),
        sealed,
    ))
}

async fn queue_send(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    email_id: &str,
) -> Result<(), ServiceError> {
    if svc.mail.smtp.is_some() {
        let t = NewTask::of(
            &EmailSend {
                email_id: email_id.to_string(),
            },
            TaskTrigger::Person,
        );
        svc.store.ws(ws).enqueue(actor, t).await?;
    }
    Ok(())
}

const SUBJECT: &str = "[Castellan] You are invited as a guest user";

/// Invites `email` as a guest user and sends the link. The API, the web app and the CLI call this.
pub async fn invite(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    email: &str,
    display_name: Option<&str>,
) -> Result<(Person, GuestInvite), ServiceError> {
    let email = Email::parse("email", email)?;
    let display = optional_text("display_name", display_name.unwrap_or(""), 256)?;
    let (token, expires_at, redacted, email_id, sealed) = compose(svc, ws).await?;
    let new = NewInvite {
        token_hash: &hash_secret(&token),
        expires_at,
        subject: SUBJECT,
        redacted_body: &redacted,
        sealed_body: &sealed,
        send: svc.mail.smtp.is_some(),
        email_id: &email_id,
    };
    let out = svc
        .store
        .ws(ws)
        .invite_guest(actor, &email, display.as_deref(), &new)
        .await?;
    queue_send(svc, ws, actor, &email_id).await?;
    Ok(out)
}

/// A new link for a guest who has not set a password yet; the earlier one stops working.
pub async fn resend(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    person: PersonId,
) -> Result<GuestInvite, ServiceError> {
    let (token, expires_at, redacted, email_id, sealed) = compose(svc, ws).await?;
    let new = NewInvite {
        token_hash: &hash_secret(&token),
        expires_at,
        subject: SUBJECT,
        redacted_body: &redacted,
        sealed_body: &sealed,
        send: svc.mail.smtp.is_some(),
        email_id: &email_id,
    };
    let inv = svc
        .store
        .ws(ws)
        .resend_guest_invite(actor, person, &new)
        .await?;
    queue_send(svc, ws, actor, &email_id).await?;
    Ok(inv)
}

pub async fn revoke(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    person: PersonId,
) -> Result<Guest, ServiceError> {
    Ok(svc.store.ws(ws).revoke_guest(actor, person).await?)
}

pub async fn list(svc: &Services, ws: WorkspaceId) -> Result<Vec<Guest>, ServiceError> {
    Ok(svc.store.ws(ws).guests().await?)
}

/// The guest a sign-in link names while it still works (unused, unexpired, not revoked).
/// A link that does not work is not found, whatever the reason, so a link cannot be probed.
pub async fn open_link(svc: &Services, token: &str) -> Result<Person, ServiceError> {
    let now = svc.store.env().now();
    match svc.store.guest_invite_by_token(&hash_secret(token)).await? {
        Some((inv, p))
            if inv.state(now) == castellan_store::guests::InviteState::Pending && !p.disabled =>
        {
            Ok(p)
        }
        _ => Err(StoreError::NotFound("sign-in link").into()),
    }
}

/// Uses a sign-in link once: sets the guest's password (`password_hash`, hashed by the caller)
/// and returns them. A second use, an expired or a revoked link is not found.
pub async fn accept(
    svc: &Services,
    token: &str,
    password_hash: &str,
) -> Result<Person, ServiceError> {
    let p = open_link(svc, token).await?;
    svc.store
        .ws(p.workspace_id)
        .accept_guest_invite(&hash_secret(token), password_hash)
        .await?
        .ok_or_else(|| StoreError::NotFound("sign-in link").into())
}

/// An outbox e-mail as sent: its full body opened from the vault when it was sealed (an
/// invitation), else as stored. For the SMTP sender and the audited reveal.
pub async fn full_body(
    svc: &Services,
    ws: WorkspaceId,
    email: &castellan_store::Email,
) -> Result<String, ServiceError> {
    match svc.store.ws(ws).sealed_email_body(&email.id).await? {
        Some(s) => open_sealed(&svc.vault, ws, s.id, &s.sealed)
            .map(|b| b.expose().to_string())
            .map_err(|e| StoreError::Corrupt(e.to_string()).into()),
        None => Ok(email.body.clone()),
    }
}

/// Shows an outbox e-mail in full to an Owner (an invitation's link included, for a
/// workspace without SMTP); audited with who, IP and browser.
pub async fn reveal_email(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    email_id: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<(castellan_store::Email, String), ServiceError> {
    let scoped = svc.store.ws(ws);
    let email = scoped.email(email_id).await?;
    let body = full_body(svc, ws, &email).await?;
    scoped
        .audit(castellan_domain::audit::NewAuditEvent::success(
            actor,
            "email.reveal",
            format!("email:{email_id}"),
            serde_json::json!({ "ip": ip, "user_agent": user_agent }),
        ))
        .await?;
    Ok((email, body))
}
