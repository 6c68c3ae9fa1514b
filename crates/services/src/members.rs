//! Changes pushed to a business center (`members.change` tasks) and the e-mail a check sends
//! when its report lists deprovisioned people. Planning is shared by the preview (API and
//! CLI) and the task, so both see the same steps and the same input hash.

use castellan_domain::audit::Actor;
use castellan_domain::changes::{Options, OutcomeKind, Plan, Refusal, Request, StepOutcome};
use castellan_domain::tasks::{MembersChange, TaskFailure, TaskTrigger};
use castellan_domain::{AppId, FieldError, PersonId, WorkspaceId};
use castellan_store::{App, NewTask, Store};

use crate::Services;
use crate::connector::connector_for;
use crate::error::TaskResult;
use crate::worker::{HandlerResult, TaskContext};

/// A plan and the exact platform calls of each step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub plan: Plan,
    /// Per step, the calls it makes (`METHOD URL body`).
    pub calls: Vec<Vec<String>>,
}

/// Why planning failed.
#[derive(Debug)]
pub enum PlanError {
    Refused(Refusal),
    /// The app cannot be reached (no token, vault) or the store failed.
    Failed(String),
}

impl From<castellan_store::StoreError> for PlanError {
    fn from(e: castellan_store::StoreError) -> Self {
        PlanError::Failed(e.to_string())
    }
}

/// The options a workspace sets: `max_removal_share` (0 to 1, default 0.2).
pub fn options(
    settings: &castellan_domain::workspace::WorkspaceSettings,
    confirm_large_removal: bool,
) -> Options {
    Options {
        max_removal_share: settings
            .max_removal_share
            .unwrap_or(Options::default().max_removal_share),
        confirm_large_removal,
    }
}

/// Plans `request` on `app` from what Castellan holds now.
pub async fn preview(
    svc: &Services,
    ws: WorkspaceId,
    app: &App,
    request: &Request,
    confirm_large_removal: bool,
) -> Result<Preview, PlanError> {
    let scoped = svc.store.ws(ws);
    let account = scoped.automation_account(app.automation_account_id).await?;
    let (seat_ids, emails, assets) = named(request);
    let (seats, facts) = scoped
        .plan_inputs(app, &account.email, &seat_ids, &emails, &assets)
        .await?;
    let settings = castellan_domain::workspace::WorkspaceSettings::from_json(
        &scoped.workspace().await?.settings,
    );
    let plan = castellan_domain::planning::plan(
        request,
        &seats,
        &facts,
        options(&settings, confirm_large_removal),
    )
    .map_err(PlanError::Refused)?;
    let connector = connector_for(svc, ws, app)
        .await
        .map_err(|e| PlanError::Failed(e.to_string()))?;
    let calls = plan
        .steps
        .iter()
        .map(|s| connector.describe(&s.change))
        .collect();
    Ok(Preview { plan, calls })
}

/// The seats, e-mails and assets a request names.
fn named(r: &Request) -> (Vec<String>, Vec<String>, Vec<String>) {
    match r {
        Request::Remove { seats } => (seats.clone(), Vec::new(), Vec::new()),
        Request::SetRole { seat, .. } | Request::CancelInvite { seat } => {
            (vec![seat.clone()], Vec::new(), Vec::new())
        }
        Request::SetPermissions { seat, asset_id, .. } => {
            (vec![seat.clone()], Vec::new(), vec![asset_id.clone()])
        }
        Request::Invite { email, assets, .. } => (
            Vec::new(),
            vec![email.clone()],
            assets.iter().map(|a| a.asset_id.clone()).collect(),
        ),
    }
}

/// The seats applying `report` targets: those chosen (all it lists when none are), and of
/// them the ones still live. Refuses a report that is not open and seats it does not list.
pub async fn report_targets(
    store: &Store,
    ws: WorkspaceId,
    report: &castellan_store::Report,
    chosen: Option<Vec<String>>,
) -> Result<(Vec<String>, Vec<String>), PlanError> {
    if report.status != castellan_domain::reports::ReportStatus::Open {
        return Err(PlanError::Refused(Refusal::Guard(FieldError::new(
            "status",
            format!(
                "the report is {}: only an open report can be applied",
                report.status
            ),
        ))));
    }
    let listed: Vec<String> = report
        .pending_removal
        .iter()
        .map(|p| p.user_id.clone())
        .collect();
    let seats = match chosen {
        None => listed.clone(),
        Some(c) if c.is_empty() => {
            return Err(PlanError::Refused(Refusal::Invalid(FieldError::new(
                "seats",
                "name at least one seat",
            ))));
        }
        Some(c) => c,
    };
    if let Some(bad) = seats.iter().find(|c| !listed.contains(c)) {
        // Which seats a report lists is the report's state: a conflict, not malformed input.
        return Err(PlanError::Refused(Refusal::Guard(FieldError::new(
            "seats",
            format!("{bad} is not a seat this report lists"),
        ))));
    }
    let mut live = Vec::new();
    for u in &seats {
        if store.ws(ws).seat_by_id(report.app_id, u).await?.is_some() {
            live.push(u.clone());
        }
    }
    Ok((seats, live))
}

/// How the caller wants a plan handled.
#[derive(Debug, Clone, Default)]
pub struct Handling {
    pub dry_run: bool,
    /// The preview's hash, to refuse a plan whose inputs changed.
    pub plan_hash: Option<String>,
    pub confirm_large_removal: bool,
    /// The report (and its seats) the change applies.
    pub report: Option<(String, Vec<String>)>,
}

/// Why a change was not queued.
#[derive(Debug)]
pub enum QueueError {
    Plan(PlanError),
    /// The plan's inputs changed since the preview whose hash the caller sent.
    Stale,
    Store(castellan_store::StoreError),
}

impl From<castellan_store::StoreError> for QueueError {
    fn from(e: castellan_store::StoreError) -> Self {
        Self::Store(e)
    }
}

/// Plans a change and, unless it is a dry run or there is nothing to do, queues it (marking
/// the report it applies as being applied). The API, the web app and the CLI all call this.
pub async fn plan_and_queue(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<castellan_domain::PersonId>,
    app: &App,
    request: Request,
    h: Handling,
) -> Result<(Preview, Option<castellan_store::Task>), QueueError> {
    let preview = preview(svc, ws, app, &request, h.confirm_large_removal)
        .await
        .map_err(QueueError::Plan)?;
    if let Some(hash) = &h.plan_hash
        && *hash != preview.plan.input_hash
    {
        return Err(QueueError::Stale);
    }
    if h.dry_run || (preview.plan.steps.is_empty() && h.report.is_none()) {
        return Ok((preview, None));
    }
    let t = MembersChange {
        app_id: app.id,
        request,
        confirm_large_removal: h.confirm_large_removal,
        report_id: h.report.as_ref().map(|r| r.0.clone()),
        report_seats: h.report.as_ref().map(|r| r.1.clone()).unwrap_or_default(),
    };
    let task = enqueue(&svc.store, ws, actor, created_by, &t).await?;
    if let Some((r, seats)) = &h.report {
        svc.store
            .ws(ws)
            .start_report(actor, app.id, r, task.id, seats)
            .await?;
    }
    Ok((preview, Some(task)))
}

/// Queues a change (after the caller checked the preview's hash).
pub async fn enqueue(
    store: &Store,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<castellan_domain::PersonId>,
    t: &MembersChange,
) -> Result<castellan_store::Task, castellan_store::StoreError> {
    let mut task = NewTask::of(t, TaskTrigger::Person);
    task.app_id = Some(t.app_id);
    task.created_by = created_by;
    store.ws(ws).enqueue(actor, task).await
}

pub(crate) async fn change(ctx: TaskContext, svc: Services, t: MembersChange) -> HandlerResult {
    let app_id = t.app_id;
    let scoped = ctx.store.ws(ctx.task.workspace_id);
    let held = scoped.acquire_app(app_id, ctx.task.id).await.task()?;
    if !held {
        return Err(TaskFailure::Busy(
            "another task of this app is running".into(),
        ));
    }
    let out = change_held(&ctx, &svc, app_id, &t).await;
    scoped.release_app(app_id, ctx.task.id).await.ok();
    out
}

async fn change_held(
    ctx: &TaskContext,
    svc: &Services,
    app_id: AppId,
    t: &MembersChange,
) -> HandlerResult {
    let ws = ctx.task.workspace_id;
    let scoped = ctx.store.ws(ws);
    let app = scoped.app(app_id).await.task()?;
    let last_attempt = ctx.task.attempts >= ctx.task.max_attempts;
    // Seats already gone (an earlier attempt or run removed them) are done, not an error.
    let mut request = t.request.clone();
    let invite_gone = match &request {
        Request::CancelInvite { seat } => scoped.seat_by_id(app_id, seat).await.task()?.is_none(),
        _ => false,
    };
    if invite_gone {
        request = Request::Remove { seats: Vec::new() };
    }
    if let Request::Remove { seats } = &mut request {
        let mut live = Vec::new();
        for s in seats.iter() {
            if scoped.seat_by_id(app_id, s).await.task()?.is_some() {
                live.push(s.clone());
            }
        }
        *seats = live;
    }
    if matches!(&request, Request::Remove { seats } if seats.is_empty()) {
        ctx.log(
            castellan_domain::tasks::LogLevel::Info,
            "nothing to do: the seats are gone already",
        )
        .await;
        if let Some(report) = &t.report_id {
            let all: Vec<StepOutcome> = t
                .report_seats
                .iter()
                .map(|s| StepOutcome::gone(s))
                .collect();
            scoped.finish_report(app_id, report, &all).await.task()?;
        }
        return Ok(serde_json::json!({ "steps": [] }));
    }
    // Planned again from what is held now: steps an earlier attempt completed are gone, and
    // the guards see today's seats.
    let preview = match preview(svc, ws, &app, &request, t.confirm_large_removal).await {
        Ok(p) => p,
        Err(PlanError::Refused(r)) => {
            let e = match r {
                Refusal::Invalid(e) | Refusal::Guard(e) => e,
            };
            let msg = format!("{}: {}", e.field, e.message);
            report_failed(ctx, app_id, t, &msg).await;
            return Err(TaskFailure::Permanent(msg));
        }
        Err(PlanError::Failed(m)) => {
            if last_attempt {
                report_failed(ctx, app_id, t, &m).await;
            }
            return Err(TaskFailure::Retryable(m));
        }
    };
    let connector = connector_for(svc, ws, &app).await?;
    let actor = Actor::Automation {
        name: format!("task:{}", ctx.task.id),
    };
    let total = preview.plan.steps.len() as i64;
    let mut outcomes: Vec<StepOutcome> = Vec::new();
    let mut failures = Vec::new();
    for (i, step) in preview.plan.steps.iter().enumerate() {
        ctx.progress(i as i64, Some(total), &step.summary).await;
        match connector.apply(&step.change).await {
            Ok(applied) => {
                scoped
                    .record_applied(&actor, app_id, Some(ctx.task.id), step, &applied)
                    .await
                    .task()?;
                let (kind, word) = if applied.already {
                    (OutcomeKind::Already, "already")
                } else {
                    (OutcomeKind::Done, "done")
                };
                ctx.log(
                    castellan_domain::tasks::LogLevel::Info,
                    &format!("{}: {word}", step.summary),
                )
                .await;
                outcomes.push(StepOutcome::of(step, kind, None));
            }
            Err(e) if e.is_retryable() && !last_attempt => {
                ctx.log(
                    castellan_domain::tasks::LogLevel::Warn,
                    &format!("{}: {e}", step.summary),
                )
                .await;
                return Err(TaskFailure::Retryable(e.to_string()));
            }
            Err(e) => {
                let msg = e.to_string();
                ctx.log(
                    castellan_domain::tasks::LogLevel::Error,
                    &format!("{}: {msg}", step.summary),
                )
                .await;
                scoped
                    .record_refused(&actor, app_id, Some(ctx.task.id), step, &msg)
                    .await
                    .ok();
                failures.push(format!("{}: {msg}", step.seat));
                outcomes.push(StepOutcome::of(step, OutcomeKind::Failed, Some(&msg)));
            }
        }
    }
    ctx.progress(total, Some(total), "done").await;
    if let Some(report) = &t.report_id {
        // Seats the report named that needed no call were gone already.
        let mut all = outcomes.clone();
        for s in &t.report_seats {
            if !preview.plan.steps.iter().any(|st| &st.seat == s) {
                all.push(StepOutcome::gone(s));
            }
        }
        scoped.finish_report(app_id, report, &all).await.task()?;
    }
    if !failures.is_empty() {
        return Err(TaskFailure::Permanent(format!(
            "{} of {} changes failed: {}",
            failures.len(),
            total,
            failures.join("; ")
        )));
    }
    Ok(serde_json::json!({ "steps": outcomes, "input_hash": preview.plan.input_hash }))
}

/// A report whose change could not run: every seat failed for `why`.
async fn report_failed(ctx: &TaskContext, app: AppId, t: &MembersChange, why: &str) {
    let Some(report) = &t.report_id else {
        return;
    };
    let outcomes: Vec<StepOutcome> = t
        .report_seats
        .iter()
        .map(|s| StepOutcome::failed(s, why))
        .collect();
    ctx.store
        .ws(ctx.task.workspace_id)
        .finish_report(app, report, &outcomes)
        .await
        .ok();
}

/// What applying a report came to.
#[derive(Debug)]
pub enum Applied {
    /// The removal of the report's live seats: previewed, and queued unless a dry run.
    Planned(Preview, Option<Box<castellan_store::Task>>),
    /// None of the chosen seats is on the platform any more. Unless a dry run, the report is
    /// marked applied (each seat already gone).
    NothingLive,
}

/// Applies a deprovisioning report: removes its chosen (or all) seats that are still live, as
/// one previewed change tied to the report. The one way the API and the web app apply one.
#[allow(clippy::too_many_arguments)]
pub async fn apply_report(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    app: &App,
    report: &castellan_store::Report,
    chosen: Option<Vec<String>>,
    h: Handling,
) -> Result<Applied, QueueError> {
    let (seats, live) = report_targets(&svc.store, ws, report, chosen)
        .await
        .map_err(QueueError::Plan)?;
    if live.is_empty() {
        if !h.dry_run {
            let outcomes: Vec<castellan_domain::changes::StepOutcome> = seats
                .iter()
                .map(|u| castellan_domain::changes::StepOutcome::gone(u))
                .collect();
            svc.store
                .ws(ws)
                .finish_report(app.id, &report.id, &outcomes)
                .await
                .map_err(QueueError::Store)?;
        }
        return Ok(Applied::NothingLive);
    }
    let h = Handling {
        report: (!h.dry_run).then(|| (report.id.clone(), seats.clone())),
        ..h
    };
    let (preview, task) = plan_and_queue(
        svc,
        ws,
        actor,
        created_by,
        app,
        Request::Remove { seats: live },
        h,
    )
    .await?;
    Ok(Applied::Planned(preview, task.map(Box::new)))
}
