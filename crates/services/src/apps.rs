//! Task handlers for app integrations: `app.connect` (the token reaches the business with an
//! admin role) and `app.check` (check for updates: fetch through the connector into staging,
//! apply the difference atomically, re-match seats, record the report).

use castellan_domain::apps::{AppStatus, Platform};
use castellan_domain::audit::Actor;
use castellan_domain::coverage::{FetchScope, Kept};
use castellan_domain::platform::{Batch, BoxFuture, SinkError, SnapshotSink};
use castellan_domain::tasks::{AppCheck, AppConnect, TaskFailure, TaskPayload, TaskTrigger};
use castellan_domain::{AppId, AutomationAccountId, FieldError, PersonId, WorkspaceId};
use castellan_store::{App, NewApp, NewTask, Store, StoreError, Task};

use crate::Services;
use crate::connector::connection_check_http;
// Kept at its old address for the front ends (`castellan_services::apps::connector_for`).
pub use crate::connector::connector_for;
use crate::error::ServiceError;
use crate::error::{AsTaskFailure, TaskResult};
use crate::schedule::next_check;
use crate::worker::{HandlerResult, TaskContext};

/// What connecting an app asks for; `connect_app` checks it against the automation account.
#[derive(Debug, Clone)]
pub struct ConnectApp {
    pub platform: Platform,
    pub label: String,
    pub business_id: String,
    pub login_method: castellan_domain::apps::LoginMethod,
    pub automation_account_id: AutomationAccountId,
    pub api_base_url: Option<String>,
}

/// An app's own fields, as a person enters them (the API and the web app's wizard check
/// them here, naming the first bad one).
#[derive(Debug, Clone)]
pub struct AppFields {
    pub platform: Platform,
    pub label: String,
    pub business_id: String,
    pub login_method: castellan_domain::apps::LoginMethod,
}

impl AppFields {
    pub fn parse(
        platform: &str,
        label: &str,
        business_id: &str,
        login_method: &str,
    ) -> Result<Self, FieldError> {
        let platform = Platform::parse("platform", platform)?;
        let label = castellan_domain::values::required_text("label", label, 100)?;
        let business_id = castellan_domain::values::required_text("business_id", business_id, 40)?;
        if !business_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                "business_id",
                "business_id must be the numeric id of the business",
            ));
        }
        let login_method = login_method
            .parse()
            .map_err(|_| FieldError::new("login_method", "login_method must be sso or password"))?;
        Ok(Self {
            platform,
            label,
            business_id,
            login_method,
        })
    }

    pub fn with(
        self,
        automation_account_id: AutomationAccountId,
        api_base_url: Option<String>,
    ) -> ConnectApp {
        ConnectApp {
            platform: self.platform,
            label: self.label,
            business_id: self.business_id,
            login_method: self.login_method,
            automation_account_id,
            api_base_url,
        }
    }
}

/// The platform API's base URL, when not the real host: `http(s)://host[:port][/path]`, a
/// host name or IPv4 address (no IPv6 literal), at most 2,000 characters, no whitespace. The
/// OpenAPI document states the same rule as a pattern.
pub fn parse_api_base_url(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    raw.map(|u| parse_http_url("api_base_url", u)).transpose()
}

/// An http(s) URL as the API takes them (see [`parse_api_base_url`]), naming `field`.
pub fn parse_http_url(field: &str, u: &str) -> Result<String, FieldError> {
    let bad = || {
        FieldError::new(
            field,
            format!("{field} must be an http(s) URL: http(s)://host[:port][/path]"),
        )
    };
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or_else(bad)?;
    if u.chars().count() > 2000 || u.chars().any(|c| c.is_whitespace() || c == '\u{feff}') {
        return Err(bad());
    }
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~'));
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()));
    if !host_ok || !port_ok {
        return Err(bad());
    }
    Ok(u.to_string())
}

/// Connects an app: creates the integration over an automation account of the same platform,
/// its first automatic check scheduled, and queues `app.connect`.
pub async fn connect_app(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    req: ConnectApp,
) -> Result<(App, Task), ServiceError> {
    let app = create_app(svc, ws, actor, req).await?;
    let task = enqueue_for_app(
        &svc.store,
        ws,
        actor,
        created_by,
        app.id,
        &AppConnect { app_id: app.id },
        trigger(created_by),
    )
    .await?;
    Ok((app, task))
}

/// Creates an app whose automation account has no token yet: it stays *pending* until the
/// platform's consent page hands one over, and [`connect_waiting_apps`] then connects it.
pub async fn add_app_awaiting_consent(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    req: ConnectApp,
) -> Result<App, ServiceError> {
    create_app(svc, ws, actor, req).await
}

/// After an automation account got its tokens: queues `app.connect` for each of its apps that
/// is still pending.
pub async fn connect_waiting_apps(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    account: castellan_domain::AutomationAccountId,
) -> Result<Vec<Task>, StoreError> {
    let mut queued = Vec::new();
    let mut cursor = None;
    loop {
        let page = svc.store.ws(ws).apps(cursor, 500).await?;
        for app in &page.items {
            if app.automation_account_id == account
                && app.status == castellan_domain::apps::AppStatus::Pending
            {
                queued.push(
                    enqueue_for_app(
                        &svc.store,
                        ws,
                        actor,
                        None,
                        app.id,
                        &AppConnect { app_id: app.id },
                        TaskTrigger::System,
                    )
                    .await?,
                );
            }
        }
        match page.next_cursor.and_then(|c| c.parse().ok()) {
            Some(c) => cursor = Some(c),
            None => return Ok(queued),
        }
    }
}

async fn create_app(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    req: ConnectApp,
) -> Result<App, ServiceError> {
    let scoped = svc.store.ws(ws);
    let acct = scoped
        .automation_account(req.automation_account_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => ServiceError::NotFound {
                field: "automation_account_id",
                what: "automation account",
            },
            e => e.into(),
        })?;
    if acct.platform != req.platform {
        // Which platform an existing account is for is its state: a conflict.
        return Err(ServiceError::Conflict(FieldError::new(
            "automation_account_id",
            format!(
                "the automation account is for {}, not {}",
                acct.platform, req.platform
            ),
        )));
    }
    Ok(scoped
        .create_app(
            actor,
            &NewApp {
                platform: req.platform,
                label: req.label,
                business_id: req.business_id,
                login_method: req.login_method,
                automation_account_id: req.automation_account_id,
                api_base_url: req.api_base_url,
                next_check_at: Some(next_check(svc.store.env(), &svc.schedule)),
            },
        )
        .await?)
}

/// Queues a check for updates of `app`, asked for by someone (the API, the web app, the CLI;
/// the scheduler's checks are queued by the store with the trigger `schedule`).
pub async fn request_check(
    store: &Store,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    app: AppId,
) -> Result<Task, StoreError> {
    request_check_of(store, ws, actor, created_by, app, false).await
}

/// Queues a check of `app` that reads every list whatever the coverage window (`full`), or
/// one as the window has it.
pub async fn request_check_of(
    store: &Store,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    app: AppId,
    full: bool,
) -> Result<Task, StoreError> {
    enqueue_for_app(
        store,
        ws,
        actor,
        created_by,
        app,
        &AppCheck { app_id: app, full },
        TaskTrigger::Person,
    )
    .await
}

/// What a check of `app` reads (see `castellan_domain::coverage`): everything when `full`,
/// on a first check, or without a window for its platform; else the window over the ages of
/// the lists the store holds.
pub async fn fetch_scope(
    svc: &Services,
    ws: WorkspaceId,
    app: &castellan_store::App,
    full: bool,
) -> Result<FetchScope, ServiceError> {
    let window = svc.coverage.for_platform(app.platform);
    if full || window.window <= 1 || app.last_check_at.is_none() {
        return Ok(FetchScope::everything());
    }
    let ages = svc.store.ws(ws).coverage_ages(app.id).await?;
    Ok(FetchScope {
        full: false,
        window: window.window,
        min_per_check: window.min_per_check,
        holders_read: ages.holders,
        shares_read: ages.shares,
    })
}

/// Removes an app from Castellan (never from the platform): the integration and everything its
/// checks imported go; the automation account and people's account cards stay. A reason is
/// required, for the activity log.
pub async fn remove_app(
    store: &Store,
    ws: WorkspaceId,
    actor: &Actor,
    app: AppId,
    reason: &str,
) -> Result<castellan_store::RemovedApp, ServiceError> {
    let reason = castellan_domain::values::required_text("reason", reason, 500)?;
    Ok(store.ws(ws).remove_app(actor, app, &reason).await?)
}

/// A person started it, or the system did (demo, CLI without a person).
fn trigger(created_by: Option<PersonId>) -> TaskTrigger {
    if created_by.is_some() {
        TaskTrigger::Person
    } else {
        TaskTrigger::System
    }
}

/// Queues a task of `app` (shown with the app in Automation).
pub async fn enqueue_for_app<P: TaskPayload>(
    store: &Store,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    app: AppId,
    payload: &P,
    trigger: TaskTrigger,
) -> Result<Task, StoreError> {
    let mut t = NewTask::of(payload, trigger);
    t.app_id = Some(app);
    t.created_by = created_by;
    store.ws(ws).enqueue(actor, t).await
}

/// Tries a failing (or never finished) connection again: the app is *Connecting* until
/// `app.connect` ends.
pub async fn retry_connection(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    created_by: Option<PersonId>,
    app: AppId,
) -> Result<Task, ServiceError> {
    let scoped = svc.store.ws(ws);
    scoped.app(app).await?;
    scoped.set_app_status(app, AppStatus::Pending, None).await?;
    Ok(enqueue_for_app(
        &svc.store,
        ws,
        actor,
        created_by,
        app,
        &AppConnect { app_id: app },
        trigger(created_by),
    )
    .await?)
}

pub(crate) async fn connect(ctx: TaskContext, svc: Services, id: AppId) -> HandlerResult {
    let scoped = ctx.store.ws(ctx.task.workspace_id);
    let app = scoped.app(id).await.task()?;
    let mut quick = svc.clone();
    quick.http = connection_check_http(&svc.http);
    let connector = match connector_for(&quick, ctx.task.workspace_id, &app).await {
        Ok(c) => c,
        Err(f) => {
            scoped
                .set_app_status(id, AppStatus::Error, Some(&f.to_string()))
                .await
                .ok();
            return Err(f);
        }
    };
    let outcome = match connector.check().await {
        Ok(c) if !c.missing_scopes.is_empty() => Err(format!(
            "the token lacks the scopes {}",
            c.missing_scopes.join(", ")
        )),
        Ok(c) if !c.admin => Err(format!(
            "the automation account reaches business {} but is not an admin (Pinterest: Manager / BIZ_ADMIN; TikTok: Admin)",
            app.business_id
        )),
        Ok(c) => Ok(c),
        Err(e) if e.is_retryable() => Err(format!(
            "cannot reach {} at {}: {e}",
            app.platform.label(),
            app.api_base_url.as_deref().unwrap_or("its API")
        )),
        Err(e) => Err(format!(
            "the token does not reach business {}: {e}",
            app.business_id
        )),
    };
    match outcome {
        Ok(c) => {
            scoped
                .set_app_status(id, AppStatus::Connected, None)
                .await
                .task()?;
            // Pinterest names the token's user; TikTok's check names the Business Center, so
            // there the automation account's seat is recognised by its e-mail alone.
            if app.platform == Platform::Pinterest {
                scoped
                    .set_automation_user(id, Some(&c.account_id))
                    .await
                    .task()?;
            }
            ctx.log(
                castellan_domain::tasks::LogLevel::Info,
                &format!(
                    "connected as {} ({})",
                    c.account_name.unwrap_or_default(),
                    c.account_id
                ),
            )
            .await;
            Ok(serde_json::json!({ "connected": true }))
        }
        Err(msg) => {
            scoped
                .set_app_status(id, AppStatus::Error, Some(&msg))
                .await
                .ok();
            Err(TaskFailure::Permanent(msg))
        }
    }
}

/// Forwards fetched batches to the writer task and reports progress (at most every
/// half second, so a fetch of thousands of pages does not write thousands of progress rows).
///
/// A progress row is written beside the fetch, never in its way: on SQLite it waits for the
/// write lock, which a first check's writer holds much of the time, and a fetch that waited
/// with it would stop overlapping with the writes. A report still in flight skips the next.
struct Forward<'s> {
    tx: tokio::sync::mpsc::Sender<Batch>,
    ctx: TaskContext,
    pages: i64,
    items: i64,
    reported: std::time::Instant,
    reporting: Option<tokio::task::JoinHandle<()>>,
    /// Partners and the assets of ours each uses, for reading connected partners' users.
    sight: crate::partners::PartnerSight,
    /// What the check reads, and when the oldest list it kept was read.
    scope: &'s FetchScope,
    oldest_kept: Option<i64>,
}

impl Forward<'_> {
    /// Waits for the progress report in flight, so a later one cannot be overtaken by it.
    async fn settle(&mut self) {
        if let Some(h) = self.reporting.take() {
            h.await.ok();
        }
    }
}

impl SnapshotSink for Forward<'_> {
    fn accept(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            if self.ctx.is_cancelled() {
                return Err(SinkError::Cancelled);
            }
            self.pages += 1;
            self.sight.see(&batch);
            self.items += match &batch {
                Batch::Seats(v) => v.len(),
                Batch::Assets(v) => v.len(),
                Batch::Grants(v) => v.len(),
                Batch::Partners(v) => v.len(),
                Batch::Kept(v) => {
                    for k in v {
                        let at = match k {
                            Kept::Holders(a) => self.scope.holders_read.get(a),
                            Kept::Shares(p) => self.scope.shares_read.get(p),
                        };
                        if let Some(&at) = at {
                            self.oldest_kept = Some(self.oldest_kept.map_or(at, |o| o.min(at)));
                        }
                    }
                    0
                }
            } as i64;
            let idle = self.reporting.as_ref().is_none_or(|h| h.is_finished());
            if idle && self.reported.elapsed() >= std::time::Duration::from_millis(500) {
                self.reported = std::time::Instant::now();
                let (ctx, done) = (self.ctx.clone(), self.pages);
                let message = format!("{} batches, {} items fetched", self.pages, self.items);
                self.reporting = Some(tokio::spawn(async move {
                    ctx.progress(done, None, &message).await;
                }));
            }
            self.tx.send(batch).await.map_err(|_| SinkError::Stopped)
        })
    }
}

pub(crate) async fn check(ctx: TaskContext, svc: Services, id: AppId, full: bool) -> HandlerResult {
    let scoped = ctx.store.ws(ctx.task.workspace_id);
    let held = scoped.acquire_app(id, ctx.task.id).await.task()?;
    if !held {
        return Err(TaskFailure::Busy(
            "another task of this app is running".into(),
        ));
    }
    let out = check_held(&ctx, &svc, id, full).await;
    scoped.release_app(id, ctx.task.id).await.ok();
    if out.is_ok() {
        // The seats are fresh: a workspace applying its group plans by itself runs the next.
        let actor = castellan_domain::audit::Actor::Automation {
            name: "check for updates".into(),
        };
        crate::group_mappings::nudge(&svc, ctx.task.workspace_id, &actor).await;
    }
    out
}

async fn check_held(ctx: &TaskContext, svc: &Services, id: AppId, full: bool) -> HandlerResult {
    let ws = ctx.task.workspace_id;
    let scoped = ctx.store.ws(ws);
    let app = scoped.app(id).await.task()?;
    let connector = connector_for(svc, ws, &app).await?;
    let scope = fetch_scope(svc, ws, &app, full).await.task()?;
    let mut run = scoped
        .begin_check(id, ctx.task.id)
        .await
        .task()?
        .leased(ctx.check_lease())
        .keeping(!scope.full && scope.window > 1);
    let started = std::time::Instant::now();
    // The writer stores batches while the connector fetches the next pages; the bounded
    // channel keeps a slow database from letting fetched pages pile up in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(16);
    let writer = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            run.accept(batch).await?;
        }
        Ok::<_, castellan_store::StoreError>(run)
    });
    let mut sink = Forward {
        tx,
        ctx: ctx.clone(),
        pages: 0,
        items: 0,
        reported: std::time::Instant::now(),
        reporting: None,
        sight: Default::default(),
        oldest_kept: None,
        scope: &scope,
    };
    let mut fetched = connector.fetch(&scope, &mut sink).await;
    // Connected partners' users join the same check, so they are diffed like every other row.
    let mut partner_failures = Vec::new();
    if let Ok(stats) = &mut fetched {
        let sight = std::mem::take(&mut sink.sight);
        match crate::partners::read_partner_users(svc, ws, &app, &sight, &mut sink).await {
            Ok((s, failing)) => {
                stats.requests += s.requests;
                stats.retries += s.retries;
                stats.pages += s.pages;
                stats.seats += s.seats;
                stats.grants += s.grants;
                partner_failures = failing;
            }
            // Without them, the partners' users would look vanished: nothing is applied.
            Err(e) => {
                fetched = Err(castellan_domain::platform::ConnectorError::Unavailable(
                    format!("partners' users not read: {e}"),
                ))
            }
        }
    }
    let fetch_secs = started.elapsed().as_secs_f64();
    sink.settle().await;
    let oldest_kept = sink.oldest_kept;
    drop(sink);
    let written = writer
        .await
        .map_err(|e| TaskFailure::Retryable(format!("the writer stopped: {e}")))?;
    let (stats, run) = match (fetched, written) {
        (Ok(stats), Ok(run)) => (stats, run),
        (_, Err(e)) => return Err(e.task_failure()),
        (Err(e), Ok(_)) => {
            // Nothing was applied: the previous state stays as it was.
            scoped
                .set_app_status(
                    id,
                    if e.is_retryable() {
                        AppStatus::Connected
                    } else {
                        AppStatus::Error
                    },
                    Some(&e.to_string()),
                )
                .await
                .ok();
            return Err(e.task_failure());
        }
    };
    let fetch = castellan_domain::reports::FetchSummary {
        requests: stats.requests,
        retries: stats.retries,
        pages: stats.pages,
        seats: stats.seats,
        assets: stats.assets,
        grants: stats.grants,
        partners: stats.partners,
        seconds: started.elapsed().as_secs_f64(),
        holders_read: stats.holders_read,
        holders_kept: stats.holders_kept,
        shares_kept: stats.shares_kept,
        oldest_kept_at: oldest_kept,
    };
    ctx.progress(stats.pages as i64, None, "applying changes")
        .await;
    let actor = Actor::Automation {
        name: "check-for-updates".into(),
    };
    let summary = run.finish(&actor, fetch.clone()).await.task()?;
    // Where a check's time goes: fetching, the writes it waited for, and the end (holder
    // lists, matching, the final transaction).
    tracing::debug!(
        app = %id,
        fetch_secs,
        written_secs = fetch.seconds,
        total_secs = started.elapsed().as_secs_f64(),
        "check applied"
    );
    if summary.newly_pending > 0 {
        match crate::reports::notify_report(svc, ws, &app, &summary).await {
            Ok(Some(email)) => {
                ctx.log(
                    castellan_domain::tasks::LogLevel::Info,
                    &format!(
                        "{} deprovisioned people still hold seats; e-mail {email} written",
                        summary.pending_removal
                    ),
                )
                .await
            }
            Ok(None) => {}
            Err(e) => {
                ctx.log(
                    castellan_domain::tasks::LogLevel::Warn,
                    &format!("report e-mail not written: {e}"),
                )
                .await
            }
        }
    }
    // A failing partner marks the partner, never the app's check.
    for f in partner_failures {
        ctx.log(
            castellan_domain::tasks::LogLevel::Warn,
            &format!("partner connection failing: {f}"),
        )
        .await;
    }
    ctx.log(
        castellan_domain::tasks::LogLevel::Info,
        &format!(
            "{} requests, {} seats, {} rows written, {} seats re-matched, {:.1}s",
            stats.requests,
            stats.seats,
            summary.rows_written,
            summary.rematched,
            started.elapsed().as_secs_f64()
        ),
    )
    .await;
    Ok(
        serde_json::json!({ "changes": summary, "fetch": fetch, "rematched": summary.rematched, "seconds": started.elapsed().as_secs_f64() }),
    )
}
