//! *Share access to the app* (the seed's "join and connect"): an app's Owner gives people of
//! the directory access to the business. Each gets an account card on the app (*Connect your
//! account*, or *Signs in with SSO*) and a `members.change` task that sends the platform's
//! invitation to their e-mail through the connector; when they accept, the next check matches
//! the new seat to them by e-mail and so links it to the card.

use castellan_domain::IdentityId;
use castellan_domain::apps::AppRole;
use castellan_domain::audit::Actor;
use castellan_domain::changes::{AssetPermissions, Request};
use castellan_domain::{PersonId, WorkspaceId};
use castellan_store::{AccountCard, App, StoreError, Task};

use crate::Services;
use crate::accounts::Holder;
use crate::error::ServiceError;
use crate::members::{Handling, Preview, QueueError, plan_and_queue};

/// What an Owner shares: with whom, their role on the app, and what the invitation carries.
#[derive(Debug, Clone)]
pub struct AccessShare {
    pub identities: Vec<IdentityId>,
    pub app_role: AppRole,
    /// The business role as the platform names it (Pinterest `EMPLOYEE`/`BIZ_ADMIN`, TikTok
    /// `STANDARD`/`ADMIN`).
    pub business_role: String,
    pub assets: Vec<AssetPermissions>,
}

/// One person it was shared with.
#[derive(Debug, Clone)]
pub struct Shared {
    pub identity: IdentityId,
    pub email: String,
    pub card: AccountCard,
    /// The invitation task (none when the platform already has them: nothing to send).
    pub task: Option<Task>,
}

/// Every invitation a share sends, planned: per person, the plan and its calls; one hash over
/// all of them (and the role on the app) that the share runs with.
#[derive(Debug, Clone)]
pub struct SharePlan {
    pub invitations: Vec<(IdentityId, String, Preview)>,
    pub input_hash: String,
}

/// What came of a share: its plan, and (unless a dry run) each person it was shared with.
#[derive(Debug, Clone)]
pub struct ShareOutcome {
    pub plan: SharePlan,
    pub shared: Vec<Shared>,
}

/// Whether `who` is an Owner of `app` (holds an Owner card on it).
pub async fn is_app_owner(
    svc: &Services,
    ws: WorkspaceId,
    who: &Holder,
    app: &App,
) -> Result<bool, StoreError> {
    Ok(svc
        .store
        .ws(ws)
        .held_cards(who.person, &who.email)
        .await?
        .iter()
        .any(|h| {
            // Their own seat card on this app, with the app role Owner (not an account
            // someone shared with them as its Owner).
            h.card.app_id == Some(app.id)
                && h.card.app_role == Some(AppRole::Owner)
                && h.paths.iter().any(|(via, _)| via == "own")
        }))
}

/// Shares access to `app`. Every invitation is planned first (so a bad role, asset or
/// permission changes nothing); a dry run returns the plan alone. Otherwise, when `plan_hash`
/// is given it must be the plan's (else [`QueueError::Stale`]: something changed since it was
/// shown), and each person's card is written and their invitation queued.
pub async fn share_app(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    app: &App,
    share: AccessShare,
    h: Handling,
) -> Result<ShareOutcome, QueueError> {
    if share.identities.is_empty() {
        return Err(QueueError::Plan(crate::members::PlanError::Refused(
            castellan_domain::changes::Refusal::Invalid(castellan_domain::FieldError::new(
                "identity_ids",
                "name at least one person",
            )),
        )));
    }
    let scoped = svc.store.ws(ws);
    let mut people = Vec::new();
    let mut invitations = Vec::new();
    for id in &share.identities {
        let p = scoped.identity(*id).await.map_err(|e| match e {
            StoreError::NotFound(_) => StoreError::NotFound("person in the directory"),
            e => e,
        })?;
        if !p.active {
            return Err(StoreError::conflict(
                "identity_ids",
                format!("{} is deactivated in the directory", p.primary_email),
            )
            .into());
        }
        let request = Request::Invite {
            email: p.primary_email.clone(),
            role: share.business_role.clone(),
            assets: share.assets.clone(),
        };
        let dry = Handling {
            dry_run: true,
            ..Handling::default()
        };
        let (preview, _) =
            plan_and_queue(svc, ws, actor, created_by, app, request.clone(), dry).await?;
        invitations.push((p.id, p.primary_email.clone(), preview));
        people.push((p, request));
    }
    let mut parts = vec![share.app_role.as_str()];
    parts.extend(
        invitations
            .iter()
            .map(|(_, _, pv)| pv.plan.input_hash.as_str()),
    );
    let plan = SharePlan {
        input_hash: castellan_domain::planning::combined_hash(&parts),
        invitations,
    };
    if h.dry_run {
        return Ok(ShareOutcome {
            plan,
            shared: Vec::new(),
        });
    }
    if let Some(hash) = &h.plan_hash
        && *hash != plan.input_hash
    {
        return Err(QueueError::Stale);
    }
    let mut out = Vec::new();
    for (p, request) in people {
        let details = serde_json::json!({
            "email": p.primary_email,
            "business_role": share.business_role,
            "assets": share.assets.iter().map(|a| serde_json::json!({"asset_id": a.asset_id, "permissions": a.permissions})).collect::<Vec<_>>(),
        });
        let card = scoped
            .share_app_card(actor, app, p.id, share.app_role, details)
            .await?;
        let (_, task) = plan_and_queue(
            svc,
            ws,
            actor,
            created_by,
            app,
            request,
            Handling::default(),
        )
        .await?;
        out.push(Shared {
            identity: p.id,
            email: p.primary_email,
            card,
            task,
        });
    }
    Ok(ShareOutcome { plan, shared: out })
}

/// The app, for someone who may share access to it: whoever may manage apps (an Admin or
/// Owner, by `authorize`), or an Owner of the app (a Member with an Owner card on it). The
/// caller must already be allowed `UpdateSelf`.
pub async fn app_for_sharing(
    svc: &Services,
    principal: &castellan_domain::policy::Principal,
    id: castellan_domain::AppId,
) -> Result<castellan_store::App, ServiceError> {
    use castellan_domain::policy::{Action, authorize};
    let ws = principal.workspace_id;
    let scoped = svc.store.ws(ws);
    if authorize(principal, Action::ManageApps).is_ok() {
        return Ok(scoped.app(id).await?);
    }
    let person = scoped.person(principal.person_id).await?;
    let who = Holder {
        person: principal.person_id,
        email: person.email,
    };
    match scoped.app(id).await {
        Ok(app) if is_app_owner(svc, ws, &who, &app).await? => Ok(app),
        // Not an Owner of this app (or no such app): refused alike, so ids cannot be probed.
        _ => Err(ServiceError::Forbidden(
            "only an Owner of this app or an Admin may share access to it".into(),
        )),
    }
}
