//! Task handlers for app integrations: `app.connect` (the token reaches the business with an
//! admin role) and `app.check` (check for updates: fetch through the connector into staging,
//! apply the difference atomically, re-match seats, record the report).

use std::sync::Arc;

use castellan_connectors::{
    HttpConfig, PinterestConfig, PinterestConnector, TiktokConfig, TiktokConnector,
};
use castellan_domain::apps::Platform;
use castellan_domain::audit::Actor;
use castellan_domain::platform::{Batch, BoxFuture, Connector, ConnectorError, SnapshotSink};
use castellan_domain::tasks::TaskFailure;
use castellan_domain::{AppId, TaskId, WorkspaceId};
use castellan_store::{App, Store};
use castellan_vault::{Binding, SharedKeyring};

use crate::worker::{HandlerResult, Registry, TaskContext};

/// What app tasks need besides the store.
#[derive(Clone)]
pub struct AppDeps {
    pub vault: Arc<SharedKeyring>,
    /// HTTP settings for connectors (rate limit, retries, timeouts).
    pub http: HttpConfig,
    /// E-mail (SMTP, or the outbox only) and the public URL for links.
    pub mail: crate::members::Mail,
}

impl Registry {
    /// Adds the app integration task kinds.
    pub fn with_apps(mut self, deps: AppDeps) -> Self {
        let d = deps.clone();
        self.register("app.connect", move |ctx| connect(ctx, d.clone()));
        let d = deps.clone();
        self.register("members.change", move |ctx| {
            crate::members::change(ctx, d.clone())
        });
        let smtp = deps.mail.smtp.clone();
        self.register("app.check", move |ctx| check(ctx, deps.clone()));
        self.with_mail(smtp)
    }
}

fn failure(e: ConnectorError) -> TaskFailure {
    if e.is_retryable() {
        TaskFailure::Retryable(e.to_string())
    } else {
        TaskFailure::Permanent(e.to_string())
    }
}

fn app_id(ctx: &TaskContext) -> Result<AppId, TaskFailure> {
    ctx.task.payload["app_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TaskFailure::Permanent("payload has no app_id".into()))
}

/// Builds the connector of an app, with the automation account's token from the vault.
pub async fn connector_for(
    store: &Store,
    deps: &AppDeps,
    ws: WorkspaceId,
    app: &App,
) -> Result<Box<dyn Connector>, TaskFailure> {
    let scoped = store.ws(ws);
    let secret = scoped.automation_secret(app.automation_account_id, "access_token").await.map_err(|_| TaskFailure::Permanent("the automation account has no platform token yet: connect it through OAuth or paste a token".into()))?;
    let w = ws.to_string();
    let rec = secret.id.to_string();
    let token = deps
        .vault
        .open(
            &secret.sealed,
            Binding {
                workspace: &w,
                record: &rec,
            },
        )
        .map_err(|e| TaskFailure::Permanent(format!("vault: {e}")))?;
    let refresh = match scoped
        .automation_secret(app.automation_account_id, "refresh_token")
        .await
    {
        Ok(s) => {
            let rec = s.id.to_string();
            deps.vault
                .open(
                    &s.sealed,
                    Binding {
                        workspace: &w,
                        record: &rec,
                    },
                )
                .ok()
                .map(|r| r.expose().to_string())
        }
        Err(_) => None,
    };
    // With the workspace's Pinterest app and a refresh token, an expired access token is
    // refreshed during the fetch and the new tokens are sealed back into the vault.
    let (pinterest_app, on_refresh) =
        match (app.platform, scoped.platform_app(Platform::Pinterest).await) {
            (Platform::Pinterest, Ok(pa)) => {
                let rec = pa.secret.id.to_string();
                let secret = deps
                    .vault
                    .open(
                        &pa.secret.sealed,
                        Binding {
                            workspace: &w,
                            record: &rec,
                        },
                    )
                    .map_err(|e| TaskFailure::Permanent(format!("vault: {e}")))?;
                (
                    Some((pa.client_id.clone(), secret.expose().to_string())),
                    Some(refresh_hook(
                        store.clone(),
                        deps.vault.clone(),
                        ws,
                        app.automation_account_id,
                    )),
                )
            }
            _ => (None, None),
        };
    let c: Box<dyn Connector> = match app.platform {
        Platform::Pinterest => Box::new(
            PinterestConnector::new(PinterestConfig {
                base_url: app
                    .api_base_url
                    .clone()
                    .unwrap_or_else(|| castellan_connectors::pinterest::DEFAULT_BASE_URL.into()),
                business_id: app.business_id.clone(),
                access_token: token.expose().to_string(),
                refresh_token: refresh,
                app: pinterest_app,
                http: deps.http.clone(),
                on_refresh,
            })
            .map_err(failure)?,
        ),
        Platform::Tiktok => Box::new(
            TiktokConnector::new(TiktokConfig {
                base_url: app
                    .api_base_url
                    .clone()
                    .unwrap_or_else(|| castellan_connectors::tiktok::DEFAULT_BASE_URL.into()),
                bc_id: app.business_id.clone(),
                access_token: token.expose().to_string(),
                http: deps.http.clone(),
                per_member_limit: 2000,
            })
            .map_err(failure)?,
        ),
    };
    Ok(c)
}

/// Seals refreshed tokens into the vault (in the background: the hook is called mid-fetch).
fn refresh_hook(
    store: Store,
    vault: Arc<SharedKeyring>,
    ws: WorkspaceId,
    account: castellan_domain::AutomationAccountId,
) -> castellan_connectors::pinterest::RefreshHook {
    Arc::new(move |access: &str, refresh: &str, expires_in: i64| {
        let w = ws.to_string();
        let secrets: Vec<castellan_store::SealedSecret> =
            [("access_token", access), ("refresh_token", refresh)]
                .into_iter()
                .map(|(name, value)| {
                    let id = castellan_domain::SecretId::new(store.env());
                    let rec = id.to_string();
                    let (sealed, version) = store.env().with_rng(|r| {
                        vault.seal(
                            r,
                            Binding {
                                workspace: &w,
                                record: &rec,
                            },
                            &castellan_vault::Secret::new(value),
                        )
                    });
                    castellan_store::SealedSecret {
                        id,
                        name: name.into(),
                        sealed,
                        key_version: i64::from(version),
                    }
                })
                .collect();
        let expires =
            (expires_in > 0).then(|| store.env().now() + chrono::Duration::seconds(expires_in));
        let store = store.clone();
        tokio::spawn(async move {
            let actor = Actor::Automation {
                name: "token-refresh".into(),
            };
            if let Err(e) = store
                .ws(ws)
                .set_automation_tokens(&actor, account, &secrets, expires, None)
                .await
            {
                tracing::error!(error = %e, "storing refreshed tokens failed");
            }
        });
    })
}

async fn connect(ctx: TaskContext, deps: AppDeps) -> HandlerResult {
    let id = app_id(&ctx)?;
    let scoped = ctx.store.ws(ctx.task.workspace_id);
    let app = scoped
        .app(id)
        .await
        .map_err(|e| TaskFailure::Permanent(e.to_string()))?;
    let connector = match connector_for(&ctx.store, &deps, ctx.task.workspace_id, &app).await {
        Ok(c) => c,
        Err(f) => {
            scoped
                .set_app_status(id, "error", Some(&f.to_string()))
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
        Err(e) if e.is_retryable() => return Err(failure(e)),
        Err(e) => Err(format!(
            "the token does not reach business {}: {e}",
            app.business_id
        )),
    };
    match outcome {
        Ok(c) => {
            scoped
                .set_app_status(id, "connected", None)
                .await
                .map_err(|e| TaskFailure::Retryable(e.to_string()))?;
            // Pinterest names the token's user; TikTok's check names the Business Center, so
            // there the automation account's seat is recognised by its e-mail alone.
            if app.platform == Platform::Pinterest {
                scoped
                    .set_automation_user(id, Some(&c.account_id))
                    .await
                    .map_err(|e| TaskFailure::Retryable(e.to_string()))?;
            }
            ctx.log(
                "info",
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
            scoped.set_app_status(id, "error", Some(&msg)).await.ok();
            Err(TaskFailure::Permanent(msg))
        }
    }
}

/// Forwards fetched batches to the writer task and reports progress (at most every
/// half second, so a fetch of thousands of pages does not write thousands of progress rows).
struct Forward {
    tx: tokio::sync::mpsc::Sender<Batch>,
    ctx: TaskContext,
    pages: i64,
    items: i64,
    reported: std::time::Instant,
}

impl SnapshotSink for Forward {
    fn accept(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.ctx.is_cancelled() {
                return Err("cancelled".into());
            }
            self.pages += 1;
            self.items += match &batch {
                Batch::Seats(v) => v.len(),
                Batch::Assets(v) => v.len(),
                Batch::Grants(v) => v.len(),
                Batch::Partners(v) => v.len(),
            } as i64;
            if self.reported.elapsed() >= std::time::Duration::from_millis(500) {
                self.reported = std::time::Instant::now();
                self.ctx
                    .progress(
                        self.pages,
                        None,
                        &format!("{} batches, {} items fetched", self.pages, self.items),
                    )
                    .await;
            }
            self.tx
                .send(batch)
                .await
                .map_err(|_| "the writer stopped".to_string())
        })
    }
}

async fn check(ctx: TaskContext, deps: AppDeps) -> HandlerResult {
    let id = app_id(&ctx)?;
    let scoped = ctx.store.ws(ctx.task.workspace_id);
    let held = scoped
        .acquire_app(id, ctx.task.id)
        .await
        .map_err(|e| TaskFailure::Retryable(e.to_string()))?;
    if !held {
        return Err(TaskFailure::Busy(
            "another task of this app is running".into(),
        ));
    }
    let out = check_held(&ctx, &deps, id).await;
    scoped.release_app(id, ctx.task.id).await.ok();
    out
}

async fn check_held(ctx: &TaskContext, deps: &AppDeps, id: AppId) -> HandlerResult {
    let ws = ctx.task.workspace_id;
    let scoped = ctx.store.ws(ws);
    let app = scoped
        .app(id)
        .await
        .map_err(|e| TaskFailure::Permanent(e.to_string()))?;
    let connector = connector_for(&ctx.store, deps, ws, &app).await?;
    let mut run = scoped
        .begin_check(id, ctx.task.id)
        .await
        .map_err(|e| TaskFailure::Retryable(e.to_string()))?;
    let started = std::time::Instant::now();
    // The writer stores batches while the connector fetches the next pages; the bounded
    // channel keeps a slow database from letting fetched pages pile up in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(16);
    let writer = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            run.accept(&batch).await?;
        }
        Ok::<_, castellan_store::StoreError>(run)
    });
    let mut sink = Forward {
        tx,
        ctx: ctx.clone(),
        pages: 0,
        items: 0,
        reported: std::time::Instant::now(),
    };
    let fetched = connector.fetch(&mut sink).await;
    drop(sink);
    let written = writer
        .await
        .map_err(|e| TaskFailure::Retryable(format!("the writer stopped: {e}")))?;
    let (stats, run) = match (fetched, written) {
        (Ok(stats), Ok(run)) => (stats, run),
        (_, Err(e)) => return Err(TaskFailure::Retryable(e.to_string())),
        (Err(e), Ok(_)) => {
            // Nothing was applied: the previous state stays as it was.
            scoped
                .set_app_status(
                    id,
                    if e.is_retryable() {
                        "connected"
                    } else {
                        "error"
                    },
                    Some(&e.to_string()),
                )
                .await
                .ok();
            return Err(failure(e));
        }
    };
    let fetch = serde_json::json!({ "requests": stats.requests, "retries": stats.retries, "pages": stats.pages, "seats": stats.seats, "assets": stats.assets, "grants": stats.grants, "partners": stats.partners, "seconds": started.elapsed().as_secs_f64() });
    ctx.progress(stats.pages as i64, None, "applying changes")
        .await;
    let actor = Actor::Automation {
        name: "check-for-updates".into(),
    };
    let summary = run
        .finish(&actor, fetch.clone())
        .await
        .map_err(|e| TaskFailure::Retryable(e.to_string()))?;
    if summary.newly_pending > 0 {
        match crate::members::notify_report(&ctx.store, deps, ws, &app, &summary).await {
            Ok(Some(email)) => {
                ctx.log(
                    "info",
                    &format!(
                        "{} deprovisioned people still hold seats; e-mail {email} written",
                        summary.pending_removal
                    ),
                )
                .await
            }
            Ok(None) => {}
            Err(e) => {
                ctx.log("warn", &format!("report e-mail not written: {e}"))
                    .await
            }
        }
    }
    ctx.log(
        "info",
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

/// When an app's next automatic check is due, with random jitter.
pub fn next_check(
    env: &castellan_domain::Env,
    settings: &crate::ServerSettings,
) -> castellan_domain::Timestamp {
    use rand::Rng as _;
    let max = settings.check_jitter.as_secs().max(1);
    let jitter = env.with_rng(|r| r.gen_range(0..max));
    castellan_domain::apps::next_daily_check(
        env.now(),
        settings.check_hour_utc,
        chrono::Duration::seconds(jitter as i64),
    )
}

/// One scheduler pass: ends expired exemptions, enqueues the checks that are due.
pub async fn schedule_tick(
    store: &Store,
    settings: &crate::ServerSettings,
) -> Result<Vec<TaskId>, castellan_store::StoreError> {
    let env = store.env().clone();
    let ended = store.release_expired_exemptions().await?;
    if ended > 0 {
        tracing::info!(seats = ended, "exemptions ended");
    }
    store
        .enqueue_due_checks(|| next_check(&env, settings))
        .await
}

/// Runs the scheduler every `every` until shutdown.
pub async fn run_scheduler(
    store: Store,
    settings: Arc<crate::ServerSettings>,
    every: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        match schedule_tick(&store, &settings).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::info!(count = ids.len(), "scheduled checks for updates")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduling checks failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
