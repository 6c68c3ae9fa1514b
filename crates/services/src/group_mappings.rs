//! IdP groups that manage app members: Admins map a directory group to an app (app role,
//! business role, assets); a plan brings every app's seats to what its mapped groups give —
//! invitations (the *Share access* invitation, with its account card) and raised roles first,
//! then lowered roles and removals, queued only once the additions have finished. Every step is
//! previewed with its platform calls and the plan runs only with the hash of the plan shown.

use std::collections::{BTreeMap, BTreeSet};

use castellan_domain::apps::AppRole;
use castellan_domain::audit::Actor;
use castellan_domain::changes::{AssetPermissions, Request};
use castellan_domain::group_mappings::{
    Desired, Given, Grant, SeatNow, StepKind, desired, given_after, rank, step,
};
use castellan_domain::tasks::{
    GroupRemovalStep, GroupRemovals, GroupSync, TaskFailure, TaskPayload, TaskStatus, TaskTrigger,
};
use castellan_domain::{
    AppId, FieldError, GroupId, GroupMappingId, IdentityId, PersonId, WorkspaceId,
};
use castellan_store::{GroupMapping, NewTask, StoreError, Task};

use crate::Services;
use crate::access::{AccessShare, share_app};
use crate::error::{ServiceError, TaskResult};
use crate::members::{Handling, Preview, QueueError, plan_and_queue};
use crate::worker::{HandlerResult, TaskContext};

/// A mapping as entered.
#[derive(Debug, Clone)]
pub struct MappingInput {
    pub group_id: GroupId,
    pub app_id: AppId,
    pub app_role: String,
    pub business_role: String,
    pub assets: Vec<AssetPermissions>,
}

/// Maps a group to an app; the roles are checked against the app's platform.
pub async fn create(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    input: &MappingInput,
) -> Result<GroupMapping, ServiceError> {
    let scoped = svc.store.ws(ws);
    scoped.group(input.group_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => ServiceError::NotFound {
            field: "group_id",
            what: "group",
        },
        e => e.into(),
    })?;
    let app = scoped.app(input.app_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => ServiceError::NotFound {
            field: "app_id",
            what: "app",
        },
        e => e.into(),
    })?;
    let app_role = AppRole::parse("app_role", &input.app_role)?;
    let roles = castellan_domain::roles::roles(app.platform);
    if !roles.contains(&input.business_role.as_str()) {
        return Err(FieldError::new(
            "business_role",
            format!("must be one of {} on {}", roles.join(", "), app.platform),
        )
        .into());
    }
    for a in &input.assets {
        if a.asset_id.trim().is_empty() {
            return Err(FieldError::new("assets", "each asset needs an asset_id").into());
        }
    }
    let m = scoped
        .create_group_mapping(
            actor,
            input.group_id,
            input.app_id,
            app_role,
            &input.business_role,
            &input.assets,
        )
        .await?;
    nudge(svc, ws, actor).await;
    Ok(m)
}

pub async fn delete(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: GroupMappingId,
) -> Result<GroupMapping, ServiceError> {
    let m = svc.store.ws(ws).delete_group_mapping(actor, id).await?;
    nudge(svc, ws, actor).await;
    Ok(m)
}

/// One person's step on one app, with its platform calls.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub app_id: AppId,
    pub app_label: String,
    pub identity_id: IdentityId,
    pub email: String,
    pub kind: StepKind,
    pub from_role: Option<String>,
    pub to_role: Option<String>,
    /// The groups the access comes from (empty when it is taken back).
    pub via: Vec<String>,
    pub app_role: AppRole,
    pub assets: Vec<AssetPermissions>,
    pub request: Request,
    pub given: Option<Given>,
    pub preview: Preview,
}

/// Every step, additions first, and the hash the plan runs with.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    pub steps: Vec<PlannedStep>,
    pub input_hash: String,
}

/// Plans every app with mappings (or one): what each active member of its mapped groups should
/// hold, against their matched seat and what the mappings gave them. People deactivated in the
/// directory are the deprovisioning report's, not the plan's.
pub async fn plan(
    svc: &Services,
    ws: WorkspaceId,
    only: Option<AppId>,
) -> Result<GroupPlan, QueueError> {
    let scoped = svc.store.ws(ws);
    let mappings = scoped.group_mappings(only, None).await?;
    let mut apps: BTreeSet<AppId> = mappings.iter().map(|m| m.app_id).collect();
    // Apps whose mappings are gone may still hold what they gave.
    if let Some(a) = only {
        apps.insert(a);
    }
    let mut steps = Vec::new();
    for app_id in apps {
        let app = scoped.app(app_id).await?;
        let by_id: BTreeMap<GroupMappingId, &GroupMapping> = mappings
            .iter()
            .filter(|m| m.app_id == app_id)
            .map(|m| (m.id, m))
            .collect();
        let mut wants: BTreeMap<IdentityId, (String, bool, Vec<Grant>)> = BTreeMap::new();
        for mm in scoped.mapped_members(app_id).await? {
            let Some(m) = by_id.get(&mm.mapping) else {
                continue;
            };
            let e = wants
                .entry(mm.identity_id)
                .or_insert_with(|| (mm.email.clone(), mm.active, Vec::new()));
            e.2.push(Grant {
                group: m.group_name.clone(),
                app_role: m.app_role,
                business_role: m.business_role.clone(),
                assets: m.assets.clone(),
            });
        }
        let mut seats: BTreeMap<IdentityId, SeatNow> = BTreeMap::new();
        for s in scoped.matched_member_seats(app_id).await? {
            let Some(id) = s.identity_id else { continue };
            let role = s
                .roles
                .iter()
                .max_by_key(|r| rank(app.platform, r))
                .cloned()
                .unwrap_or_default();
            let now = SeatNow {
                user_id: s.user_id.clone(),
                role,
                invited: s.state == castellan_domain::apps::SeatState::Invited,
            };
            // A person with two seats: the higher one counts.
            let keep = seats
                .get(&id)
                .is_none_or(|o| rank(app.platform, &now.role) > rank(app.platform, &o.role));
            if keep {
                seats.insert(id, now);
            }
        }
        let given: BTreeMap<IdentityId, Given> =
            scoped.group_grants(app_id).await?.into_iter().collect();
        let people: BTreeSet<IdentityId> = wants.keys().chain(given.keys()).copied().collect();
        for id in people {
            let (email, active, grants) = match wants.get(&id) {
                Some((e, a, g)) => (e.clone(), *a, g.clone()),
                None => {
                    let i = scoped.identity(id).await?;
                    (i.primary_email, i.active, Vec::new())
                }
            };
            if !active {
                continue;
            }
            let want: Option<Desired> = desired(app.platform, &grants);
            let Some(st) = step(app.platform, want.as_ref(), seats.get(&id), given.get(&id)) else {
                continue;
            };
            let seat = st.seat.clone().unwrap_or_default();
            let request = match st.kind {
                StepKind::Invite => Request::Invite {
                    email: email.clone(),
                    role: st.to_role.clone().unwrap_or_default(),
                    assets: want.as_ref().map(|w| w.assets.clone()).unwrap_or_default(),
                },
                StepKind::Upgrade | StepKind::Downgrade => Request::SetRole {
                    seat,
                    role: st.to_role.clone().unwrap_or_default(),
                },
                StepKind::Remove if seats.get(&id).is_some_and(|s| s.invited) => {
                    Request::CancelInvite { seat }
                }
                StepKind::Remove => Request::Remove { seats: vec![seat] },
            };
            let preview = crate::members::preview(svc, ws, &app, &request, false)
                .await
                .map_err(QueueError::Plan)?;
            steps.push(PlannedStep {
                app_id,
                app_label: app.label.clone(),
                identity_id: id,
                email,
                kind: st.kind,
                from_role: st.from_role.clone(),
                to_role: st.to_role.clone(),
                via: want.as_ref().map(|w| w.via.clone()).unwrap_or_default(),
                app_role: want.as_ref().map_or(AppRole::Collaborator, |w| w.app_role),
                assets: want.as_ref().map(|w| w.assets.clone()).unwrap_or_default(),
                given: given_after(&st, given.get(&id)),
                request,
                preview,
            });
        }
    }
    // Additions first (a stable sort keeps each group's own order).
    steps.sort_by_key(|s| !s.kind.is_addition());
    let parts: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "{}:{}:{:?}:{}:{}",
                s.app_id,
                s.identity_id,
                s.kind,
                s.app_role.as_str(),
                s.preview.plan.input_hash
            )
        })
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    Ok(GroupPlan {
        input_hash: castellan_domain::planning::combined_hash(&refs),
        steps,
    })
}

/// What an applied plan queued.
#[derive(Debug, Clone)]
pub struct AppliedPlan {
    pub plan: GroupPlan,
    /// The additions' tasks, then the task that takes access back once they finished.
    pub tasks: Vec<Task>,
}

/// Runs the plan shown (`plan_hash`; a changed plan is refused as stale): additions queued at
/// once, removals in a task that waits for them.
pub async fn apply(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    only: Option<AppId>,
    plan_hash: &str,
) -> Result<AppliedPlan, QueueError> {
    let p = plan(svc, ws, only).await?;
    if p.input_hash != plan_hash {
        return Err(QueueError::Stale);
    }
    let scoped = svc.store.ws(ws);
    let mut tasks = Vec::new();
    let mut removals = Vec::new();
    for s in &p.steps {
        if !s.kind.is_addition() {
            removals.push(GroupRemovalStep {
                app_id: s.app_id,
                identity_id: s.identity_id,
                request: s.request.clone(),
                given: s.given.clone(),
            });
            continue;
        }
        let app = scoped.app(s.app_id).await?;
        let task = match s.kind {
            StepKind::Invite => {
                let out = share_app(
                    svc,
                    ws,
                    actor,
                    created_by,
                    &app,
                    AccessShare {
                        identities: vec![s.identity_id],
                        app_role: s.app_role,
                        business_role: s.to_role.clone().unwrap_or_default(),
                        assets: s.assets.clone(),
                    },
                    Handling::default(),
                )
                .await?;
                out.shared.into_iter().next().and_then(|x| x.task)
            }
            _ => {
                plan_and_queue(
                    svc,
                    ws,
                    actor,
                    created_by,
                    &app,
                    s.request.clone(),
                    Handling::default(),
                )
                .await?
                .1
            }
        };
        scoped
            .set_group_grant(s.app_id, s.identity_id, s.given.as_ref())
            .await?;
        tasks.extend(task);
    }
    if !removals.is_empty() {
        let payload = GroupRemovals {
            after: tasks.iter().map(|t| t.id).collect(),
            steps: removals,
        };
        let mut t = NewTask::of(&payload, TaskTrigger::Person);
        t.created_by = created_by;
        tasks.push(scoped.enqueue(actor, t).await?);
    }
    Ok(AppliedPlan { plan: p, tasks })
}

/// `directory.group_removals`: waits (without spending attempts) until every addition of its
/// plan has finished; if one did not complete, the old access is kept and the task says why;
/// otherwise each lowered role or removal is queued as a member change.
pub(crate) async fn removals_task(
    ctx: TaskContext,
    svc: Services,
    t: GroupRemovals,
) -> HandlerResult {
    let ws = ctx.task.workspace_id;
    let scoped = ctx.store.ws(ws);
    for id in &t.after {
        let a = scoped.task(*id).await.task()?;
        match a.status {
            TaskStatus::Completed => {}
            TaskStatus::Pending | TaskStatus::InProgress => {
                return Err(TaskFailure::Busy(
                    "waiting for the plan's additions to finish".into(),
                ));
            }
            TaskStatus::Failed | TaskStatus::Cancelled => {
                return Err(TaskFailure::Permanent(format!(
                    "an addition of the plan did not complete (task {id}): the old access is kept"
                )));
            }
        }
    }
    let actor = Actor::Automation {
        name: "group mappings".into(),
    };
    let mut queued = Vec::new();
    for s in &t.steps {
        let app = scoped.app(s.app_id).await.task()?;
        let (_, task) = plan_and_queue(
            &svc,
            ws,
            &actor,
            ctx.task.created_by,
            &app,
            s.request.clone(),
            Handling::default(),
        )
        .await
        .map_err(|e| TaskFailure::Permanent(format!("{e:?}")))?;
        scoped
            .set_group_grant(s.app_id, s.identity_id, s.given.as_ref())
            .await
            .task()?;
        if let Some(task) = task {
            queued.push(task.id.to_string());
        }
    }
    Ok(serde_json::json!({ "queued": queued }))
}

/// After the directory, the mappings or an app's seats changed: in a workspace that applies
/// its group plans by itself, queues one `directory.group_sync` (none while one waits).
pub async fn after_change(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
) -> Result<(), StoreError> {
    let scoped = svc.store.ws(ws);
    let settings = castellan_domain::workspace::WorkspaceSettings::from_json(
        &scoped.workspace().await?.settings,
    );
    if settings.apply_group_plans != Some(true)
        || scoped.group_mappings(None, None).await?.is_empty()
    {
        return Ok(());
    }
    let waiting = scoped
        .tasks(
            &castellan_store::TaskFilter {
                status: Some(TaskStatus::Pending),
                kind: Some(GroupSync::KIND.into()),
                app_id: None,
            },
            None,
            1,
        )
        .await?;
    if waiting.items.is_empty() {
        scoped
            .enqueue(actor, NewTask::of(&GroupSync {}, TaskTrigger::System))
            .await?;
    }
    Ok(())
}

/// `directory.group_sync`: the plan of the moment, applied (a workspace that reviews its
/// plans is left alone: the plan waits in Directory → Groups).
pub(crate) async fn sync_task(ctx: TaskContext, svc: Services) -> HandlerResult {
    let ws = ctx.task.workspace_id;
    let scoped = ctx.store.ws(ws);
    let settings = castellan_domain::workspace::WorkspaceSettings::from_json(
        &scoped.workspace().await.task()?.settings,
    );
    if settings.apply_group_plans != Some(true) {
        return Ok(serde_json::json!({ "skipped": "the workspace reviews its group plans" }));
    }
    let actor = Actor::Automation {
        name: "group mappings".into(),
    };
    let fail = |e: QueueError| match e {
        QueueError::Store(e) => TaskFailure::Retryable(e.to_string()),
        e => TaskFailure::Permanent(format!("{e:?}")),
    };
    let p = plan(&svc, ws, None).await.map_err(fail)?;
    if p.steps.is_empty() {
        return Ok(serde_json::json!({ "steps": 0 }));
    }
    let out = apply(&svc, ws, &actor, None, None, &p.input_hash)
        .await
        .map_err(fail)?;
    Ok(serde_json::json!({
        "steps": out.plan.steps.len(),
        "tasks": out.tasks.iter().map(|t| t.id.to_string()).collect::<Vec<_>>(),
    }))
}

/// [`after_change`] for callers whose own change already succeeded: a failure to queue the
/// sync is logged, not theirs (the next change or check queues it again).
pub async fn nudge(svc: &Services, ws: WorkspaceId, actor: &Actor) {
    if let Err(e) = after_change(svc, ws, actor).await {
        tracing::warn!(error = %e, "could not queue the IdP group plan");
    }
}
