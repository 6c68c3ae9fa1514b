//! Changing a native partnership on the platform: stop sharing our assets with a partner, or
//! end the partnership. Previewed with the exact platform calls and the hash of the plan
//! (planned from what the last check found), then made by a durable `partner.change` task
//! only when the plan is the one shown, as member removals are; the app is checked afterwards
//! so Castellan holds what the platform now has.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::partnership::{PartnerPlan, PartnerRequest, PartnerView, plan_partner};
use castellan_domain::tasks::{PartnerChangeTask, TaskTrigger};
use castellan_domain::{AppId, FieldError, PersonId, WorkspaceId};
use castellan_store::Task;

use crate::Services;
use crate::connector::connector_for;
use crate::error::{AsTaskFailure, ServiceError, TaskResult};
use crate::worker::{HandlerResult, TaskContext};
use castellan_domain::tasks::TaskFailure;

/// What a partnership change will do: in words, its platform calls, and its plan's hash.
#[derive(Debug, Clone)]
pub struct PartnerPreview {
    pub summary: String,
    pub calls: Vec<String>,
    pub plan_hash: String,
}

async fn plan(
    svc: &Services,
    ws: WorkspaceId,
    app: AppId,
    partner_id: &str,
    req: &PartnerRequest,
) -> Result<(castellan_store::App, castellan_store::Partner, PartnerPlan), ServiceError> {
    let scoped = svc.store.ws(ws);
    let app = scoped.app(app).await?;
    let partner = scoped
        .partner(app.id, partner_id)
        .await?
        .ok_or(ServiceError::NotFound {
            field: "partner_id",
            what: "partner",
        })?;
    let mut ours: Vec<(String, String)> = partner
        .ours
        .iter()
        .map(|a| (a.asset_id.clone(), a.kind.clone()))
        .collect();
    ours.sort();
    let mut theirs: Vec<String> = partner.theirs.iter().map(|a| a.asset_id.clone()).collect();
    theirs.sort();
    let view = PartnerView {
        partner_id: partner.partner_id.clone(),
        name: partner
            .name
            .clone()
            .unwrap_or_else(|| partner.partner_id.clone()),
        ours,
        theirs,
    };
    let plan = plan_partner(req, &view)?;
    Ok((app, partner, plan))
}

/// The preview: what the change does, its exact calls, and the hash to make it with.
pub async fn preview_partner_change(
    svc: &Services,
    ws: WorkspaceId,
    app: AppId,
    partner_id: &str,
    req: &PartnerRequest,
) -> Result<PartnerPreview, ServiceError> {
    let (app, _, plan) = plan(svc, ws, app, partner_id, req).await?;
    let connector = connector_for(svc, ws, &app)
        .await
        .map_err(|f| ServiceError::Conflict(FieldError::new("app", f.to_string())))?;
    Ok(PartnerPreview {
        calls: connector.describe_partner(&plan.change),
        summary: plan.summary,
        plan_hash: plan.plan_hash,
    })
}

#[allow(clippy::too_many_arguments)]
/// Queues the change when `plan_hash` is the hash of the plan as it stands (a check since the
/// preview that changed the partner refuses it, naming `plan_hash`).
pub async fn request_partner_change(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    app: AppId,
    partner_id: &str,
    req: PartnerRequest,
    plan_hash: &str,
) -> Result<(PartnerPreview, Task), ServiceError> {
    let preview = preview_partner_change(svc, ws, app, partner_id, &req).await?;
    if preview.plan_hash != plan_hash {
        return Err(ServiceError::Conflict(FieldError::new(
            "plan_hash",
            "the partner changed since this was previewed: preview it again",
        )));
    }
    let task = crate::apps::enqueue_for_app(
        &svc.store,
        ws,
        actor,
        created_by,
        app,
        &PartnerChangeTask {
            app_id: app,
            partner_id: partner_id.to_string(),
            request: req,
        },
        TaskTrigger::Person,
    )
    .await?;
    Ok((preview, task))
}

/// The `partner.change` task: planned again from what is held, made on the platform (what is
/// already so is no error, so a retried attempt is safe), audited; ending a connected
/// partnership disconnects it (its users are deleted); then the app is checked.
pub(crate) async fn change(ctx: TaskContext, svc: Services, t: PartnerChangeTask) -> HandlerResult {
    let ws = ctx.task.workspace_id;
    let scoped = ctx.store.ws(ws);
    if !scoped.acquire_app(t.app_id, ctx.task.id).await.task()? {
        return Err(TaskFailure::Busy(
            "another task of this app is running".into(),
        ));
    }
    let out = change_held(&ctx, &svc, &t).await;
    scoped.release_app(t.app_id, ctx.task.id).await.ok();
    if out.is_ok() {
        let actor = Actor::Automation {
            name: "partner.change".into(),
        };
        crate::apps::request_check(&svc.store, ws, &actor, None, t.app_id)
            .await
            .task()?;
    }
    out
}

async fn change_held(ctx: &TaskContext, svc: &Services, t: &PartnerChangeTask) -> HandlerResult {
    let ws = ctx.task.workspace_id;
    let (app, partner, plan) = match plan(svc, ws, t.app_id, &t.partner_id, &t.request).await {
        Ok(p) => p,
        Err(ServiceError::NotFound { .. }) => {
            ctx.log(
                castellan_domain::tasks::LogLevel::Info,
                "nothing to do: the partner is gone already",
            )
            .await;
            return Ok(serde_json::json!({ "calls": [] }));
        }
        Err(e) => return Err(TaskFailure::Permanent(e.to_string())),
    };
    let connector = connector_for(svc, ws, &app).await?;
    let calls = connector.describe_partner(&plan.change);
    let actor = Actor::Automation {
        name: format!("task:{}", ctx.task.id),
    };
    let action = match &t.request {
        PartnerRequest::StopSharing { .. } => "partner.stop_sharing",
        PartnerRequest::Remove => "partner.remove",
    };
    let target = format!("app:{}/partner:{}", app.id, t.partner_id);
    if let Err(e) = connector.apply_partner(&plan.change).await {
        let details = serde_json::json!({ "calls": calls, "error": e.to_string() });
        if !e.is_retryable() {
            svc.store
                .ws(ws)
                .audit(NewAuditEvent {
                    outcome: castellan_domain::audit::Outcome::Failure,
                    ..NewAuditEvent::success(&actor, action, target, details)
                })
                .await
                .ok();
        }
        return Err(e.task_failure());
    }
    svc.store
        .ws(ws)
        .audit(NewAuditEvent::success(
            &actor,
            action,
            target,
            serde_json::json!({ "summary": plan.summary, "calls": calls }),
        ))
        .await
        .task()?;
    if matches!(t.request, PartnerRequest::Remove) && partner.connection.is_some() {
        svc.store
            .ws(ws)
            .disconnect_partner(&actor, app.id, &t.partner_id)
            .await
            .task()?;
    }
    ctx.log(castellan_domain::tasks::LogLevel::Info, &plan.summary)
        .await;
    Ok(serde_json::json!({ "summary": plan.summary, "calls": calls }))
}
