//! Password rotation for people's saved accounts. An app's policy (N days after the last
//! reveal, or every N days) makes a card due; the scheduler claims it once and queues
//! `account.rotate`, which generates and seals a new password as *pending*, marks the card
//! *Rotation due* and tells its holders. No platform API changes a person's password, so a
//! holder sets it on the platform and an Owner confirms; earlier passwords stay sealed.

use castellan_domain::audit::Actor;
use castellan_domain::passwords::{Recipe, Rotation, generate};
use castellan_domain::tasks::{AccountRotate, TaskTrigger};
use castellan_domain::{AppId, CardId, TaskId, WorkspaceId};
use castellan_store::{AccountCard, NewTask, Store, StoreError};
use castellan_vault::Secret;

use crate::Services;
use crate::accounts::Holder;
use crate::error::ServiceError;
use crate::error::TaskResult;
use crate::vault::seal_named;
use crate::worker::{HandlerResult, TaskContext};

const ROTATOR: &str = "password-rotation";

/// Sets an app's policy (`after_reveal`, `schedule` or `off`, with `days`).
pub async fn set_policy(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    app: AppId,
    policy: &str,
    days: Option<i64>,
) -> Result<Option<Rotation>, ServiceError> {
    let rotation = Rotation::parse(policy, days)?;
    svc.store.ws(ws).set_rotation(actor, app, rotation).await?;
    Ok(rotation)
}

/// One scheduler pass: claims every card due now and queues its `account.rotate`.
pub async fn tick(store: &Store) -> Result<Vec<TaskId>, StoreError> {
    let now = store.env().now();
    let mut queued = Vec::new();
    for due in store.claim_due_rotations(now).await? {
        let t = NewTask::of(&AccountRotate { card_id: due.card }, TaskTrigger::System);
        let task = store
            .ws(due.workspace_id)
            .enqueue(
                &Actor::Automation {
                    name: ROTATOR.into(),
                },
                t,
            )
            .await?;
        queued.push(task.id);
    }
    Ok(queued)
}

/// Rotates one card: a new password (24 characters of every class) sealed as pending, the
/// card Rotation due, an e-mail to its holders (without the password).
pub async fn rotate(
    svc: &Services,
    ws: WorkspaceId,
    card: CardId,
) -> Result<AccountCard, ServiceError> {
    let scoped = svc.store.ws(ws);
    let c = scoped.account_card(card).await?;
    if c.status != castellan_domain::apps::CardStatus::Connected {
        // Disconnected since, or already waiting for a confirmation: nothing to do.
        return Ok(c);
    }
    let env = svc.store.env();
    let password = env.with_rng(|r| generate(&Recipe::default(), r));
    let sealed = seal_named(
        env,
        &svc.vault,
        ws,
        "password_pending",
        &Secret::new(password),
    );
    let actor = Actor::Automation {
        name: ROTATOR.into(),
    };
    let c = scoped.set_pending_password(&actor, card, &sealed).await?;
    let to = scoped.card_holder_emails(card).await?;
    if !to.is_empty() {
        let link = format!(
            "{}/accounts/{card}",
            svc.mail.public_url.trim_end_matches('/')
        );
        let body = format!(
            "The password saved for {label} is due for rotation, and Castellan has generated a new one.\n\n\
             No platform API changes a person's password, so Castellan cannot change it for you:\n\
             1. Log in to the account in Castellan: it shows the current password and the new one.\n\
             2. Sign in to {platform} and change the password to the new one.\n\
             3. An Owner of the account confirms in Castellan that the platform has it.\n\n{link}\n",
            label = c.label,
            platform = c.platform,
        );
        let send = svc.mail.smtp.is_some();
        let email = scoped
            .put_email(
                &to,
                &format!("[Castellan] New password for {}", c.label),
                &body,
                Some(&format!("account_card:{card}")),
                send,
            )
            .await?;
        if send {
            let t = NewTask::of(
                &castellan_domain::tasks::EmailSend { email_id: email.id },
                TaskTrigger::System,
            );
            scoped.enqueue(&actor, t).await?;
        }
    }
    Ok(c)
}

/// An Owner of the card confirms the platform has the new password.
pub async fn confirm(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: &Holder,
    card: CardId,
) -> Result<AccountCard, ServiceError> {
    crate::accounts::owned(svc, ws, who, card).await?;
    Ok(svc.store.ws(ws).confirm_rotation(actor, card).await?)
}

pub(crate) async fn rotate_task(
    ctx: TaskContext,
    svc: Services,
    p: AccountRotate,
) -> HandlerResult {
    let c = rotate(&svc, ctx.task.workspace_id, p.card_id)
        .await
        .task()?;
    Ok(serde_json::json!({ "card_id": p.card_id.to_string(), "status": c.status.as_str() }))
}
