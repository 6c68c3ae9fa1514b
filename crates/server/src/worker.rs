//! The task worker: claims tasks from the database, runs the handler registered for their
//! kind, keeps the lease alive, and records the outcome. Handlers are registered in one place
//! ([`Registry::standard`]); the queue never needs to know about a new kind.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use castellan_domain::tasks::{TaskFailure, backoff};
use castellan_store::{ClaimedTask, Store, StoreError, Task, TaskEnd};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, TaskLabels};

pub type HandlerResult = Result<serde_json::Value, TaskFailure>;
type BoxFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;
type Handler = Arc<dyn Fn(TaskContext) -> BoxFuture + Send + Sync>;

/// What a handler gets: the task, and ways to report progress, log, and notice cancellation.
#[derive(Clone)]
pub struct TaskContext {
    pub task: Task,
    pub store: Store,
    claimed: Arc<ClaimedTask>,
    cancel: CancellationToken,
}

impl TaskContext {
    pub async fn progress(&self, done: i64, total: Option<i64>, message: &str) {
        if let Err(e) = self
            .store
            .task_progress(&self.claimed, done, total, Some(message))
            .await
        {
            tracing::warn!(task = %self.task.id, error = %e, "progress not recorded");
        }
    }

    pub async fn log(&self, level: &str, message: &str) {
        if let Err(e) = self.store.task_log(&self.task, level, message).await {
            tracing::warn!(task = %self.task.id, error = %e, "log line not recorded");
        }
    }

    /// The lease owner: which worker runs this.
    pub fn worker(&self) -> &str {
        &self.claimed.owner
    }

    /// True once cancellation was requested (or the lease was lost).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when cancellation is requested.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}

/// Task kinds and their handlers.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl Registry {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every kind Castellan knows. Later features add their kinds here.
    pub fn standard() -> Self {
        let mut r = Self::empty();
        r.register("system.noop", |ctx| async move {
            Ok(serde_json::json!({ "ok": true, "worker": ctx.worker() }))
        });
        r.register("system.sleep", sleep_handler);
        r
    }

    pub fn register<F, Fut>(&mut self, kind: &str, f: F)
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        castellan_domain::tasks::TaskKind::new(kind).expect("registered task kinds are valid");
        self.handlers
            .insert(kind.to_string(), Arc::new(move |ctx| Box::pin(f(ctx))));
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.handlers.keys().cloned().collect();
        k.sort();
        k
    }
}

/// `system.sleep {"ms": N}`: waits N milliseconds in small steps, reporting progress and
/// honouring cancellation. Used to exercise leases, shutdown and cancellation end to end.
async fn sleep_handler(ctx: TaskContext) -> HandlerResult {
    let total = ctx
        .task
        .payload
        .get("ms")
        .and_then(|v| v.as_u64())
        .unwrap_or(1000);
    let step = 100u64;
    let mut done = 0;
    while done < total {
        if ctx.is_cancelled() {
            return Err(TaskFailure::Permanent("cancelled".into()));
        }
        let d = step.min(total - done);
        tokio::time::sleep(Duration::from_millis(d)).await;
        done += d;
        ctx.progress(done as i64, Some(total as i64), "sleeping")
            .await;
    }
    Ok(serde_json::json!({ "slept_ms": total }))
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Lease owner name; unique per worker (host, pid and a random suffix by default).
    pub id: String,
    /// Tasks run at once by this worker.
    pub concurrency: usize,
    pub lease: Duration,
    /// How long to wait when the queue is empty.
    pub poll_interval: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// On shutdown, how long running tasks may take to finish before they are released.
    pub shutdown_grace: Duration,
}

impl WorkerConfig {
    pub fn new(id: String) -> Self {
        Self {
            id,
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Runs until `shutdown` is cancelled; then stops claiming, lets running tasks finish within
/// the grace period, and releases the rest back to the queue.
pub async fn run(
    store: Store,
    registry: Registry,
    cfg: WorkerConfig,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let kinds = registry.kinds();
    let kind_refs: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let mut running = tokio::task::JoinSet::new();
    tracing::info!(worker = %cfg.id, kinds = ?kinds, "worker started");
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = shutdown.cancelled() => break,
        };
        if shutdown.is_cancelled() {
            break;
        }
        match store.claim_task(&cfg.id, &kind_refs, cfg.lease).await {
            Ok(Some(claimed)) => {
                let (store, registry, cfg, metrics, shutdown) = (
                    store.clone(),
                    registry.clone(),
                    cfg.clone(),
                    metrics.clone(),
                    shutdown.clone(),
                );
                running.spawn(async move {
                    execute(store, registry, cfg, metrics, shutdown, claimed).await;
                    drop(permit);
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(cfg.poll_interval) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %e, "claiming a task failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(cfg.poll_interval * 4) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
        // Reap finished runs so the set does not grow.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
    tracing::info!(worker = %cfg.id, "worker stopped");
}

async fn execute(
    store: Store,
    registry: Registry,
    cfg: WorkerConfig,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    claimed: ClaimedTask,
) {
    let task = claimed.task.clone();
    let kind = task.kind.to_string();
    let span = tracing::info_span!("task", id = %task.id, kind = %kind, attempt = task.attempts);
    let _enter = span.enter();
    let claimed = Arc::new(claimed);
    let finish = |end: TaskEnd| {
        let store = store.clone();
        let claimed = claimed.clone();
        async move {
            match store.finish_task(&claimed, end).await {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) => tracing::warn!(
                    "lease lost before the task could be finished; another worker owns it"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "recording the task outcome failed; the lease will expire and it will run again")
                }
            }
        }
    };
    let count = |outcome: &str| {
        metrics
            .tasks_finished
            .get_or_create(&TaskLabels {
                kind: kind.clone(),
                outcome: outcome.into(),
            })
            .inc()
    };

    if task.attempts > task.max_attempts {
        let msg = format!(
            "gave up after {} attempts (the last one stopped without finishing)",
            task.max_attempts
        );
        store.task_log(&task, "error", &msg).await.ok();
        finish(TaskEnd::Failed(msg)).await;
        count("failed");
        return;
    }
    let Some(handler) = registry.handlers.get(&kind).cloned() else {
        finish(TaskEnd::Failed(format!("no handler for task kind {kind}"))).await;
        count("failed");
        return;
    };
    let cancel = CancellationToken::new();
    let lost = CancellationToken::new();
    let heartbeat = {
        let (store, claimed, cancel, lost, lease) = (
            store.clone(),
            claimed.clone(),
            cancel.clone(),
            lost.clone(),
            cfg.lease,
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match store.heartbeat(&claimed, lease).await {
                    Ok(true) => cancel.cancel(),
                    Ok(false) => {}
                    Err(StoreError::Conflict { .. }) => {
                        lost.cancel();
                        cancel.cancel();
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                }
            }
        })
    };
    let ctx = TaskContext {
        task: task.clone(),
        store: store.clone(),
        claimed: claimed.clone(),
        cancel: cancel.clone(),
    };
    let run = handler(ctx);
    tokio::pin!(run);
    let grace = cfg.shutdown_grace;
    let outcome = tokio::select! {
        r = &mut run => Some(r),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => None,
    };
    heartbeat.abort();
    if lost.is_cancelled() {
        tracing::warn!("lease lost while running; leaving the task to its new owner");
        count("lease_lost");
        return;
    }
    match outcome {
        None => {
            store
                .task_log(
                    &task,
                    "warn",
                    "worker shutting down; task released back to the queue",
                )
                .await
                .ok();
            finish(TaskEnd::Released).await;
            count("released");
        }
        Some(Ok(result)) => {
            finish(TaskEnd::Completed(result)).await;
            count("completed");
        }
        Some(Err(_)) if cancel.is_cancelled() => {
            store
                .task_log(&task, "info", "cancelled on request")
                .await
                .ok();
            finish(TaskEnd::Cancelled).await;
            count("cancelled");
        }
        Some(Err(TaskFailure::Busy(msg))) => {
            let delay = store.env().with_rng(|r| {
                backoff(
                    1,
                    cfg.poll_interval.max(Duration::from_millis(200)) * 4,
                    cfg.backoff_max,
                    r,
                )
            });
            let at = store.env().now() + chrono::Duration::from_std(delay).unwrap_or_default();
            store
                .task_log(&task, "info", &format!("{msg}; waiting"))
                .await
                .ok();
            finish(TaskEnd::Deferred { at }).await;
            count("deferred");
        }
        Some(Err(TaskFailure::Retryable(msg))) if task.attempts < task.max_attempts => {
            let delay = store
                .env()
                .with_rng(|r| backoff(task.attempts as u32, cfg.backoff_base, cfg.backoff_max, r));
            let at = store.env().now() + chrono::Duration::from_std(delay).unwrap_or_default();
            store
                .task_log(
                    &task,
                    "warn",
                    &format!(
                        "attempt {} failed: {msg}; retrying in {}s",
                        task.attempts,
                        delay.as_secs()
                    ),
                )
                .await
                .ok();
            finish(TaskEnd::Retry { error: msg, at }).await;
            count("retry");
        }
        Some(Err(f)) => {
            store.task_log(&task, "error", &f.to_string()).await.ok();
            finish(TaskEnd::Failed(f.to_string())).await;
            count("failed");
        }
    }
}
