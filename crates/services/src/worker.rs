//! The task worker: claims tasks from the database, runs the handler registered for their
//! kind, keeps the lease alive, and records the outcome. Handlers are registered in one place
//! ([`crate::tasks::registry`]); the queue never needs to know about a new kind. The claim
//! loop is supervised: a panicking handler fails its own task, a panicking loop is restarted,
//! and [`WorkerHealth`] tells readiness checks whether the loop is running.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt as _;
use tracing::Instrument as _;

use castellan_domain::tasks::{LogLevel, TaskFailure, TaskPayload, backoff};
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
    lease: Duration,
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

    pub async fn log(&self, level: LogLevel, message: &str) {
        if let Err(e) = self.store.task_log(&self.task, level, message).await {
            tracing::warn!(task = %self.task.id, error = %e, "log line not recorded");
        }
    }

    /// The lease owner: which worker runs this.
    pub fn worker(&self) -> &str {
        &self.claimed.owner
    }

    /// The lease this task runs under, for store writes that must stop once it is lost.
    pub fn check_lease(&self) -> castellan_store::CheckLease {
        castellan_store::CheckLease {
            owner: self.claimed.owner.clone(),
            lease: self.lease,
        }
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

/// Task kinds and their handlers. The one filled registry is [`crate::tasks::registry`].
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl Registry {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Registers a handler that reads the task's payload itself.
    pub fn register<F, Fut>(&mut self, kind: &str, f: F)
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        castellan_domain::tasks::TaskKind::new(kind).expect("registered task kinds are valid");
        self.handlers
            .insert(kind.to_string(), Arc::new(move |ctx| Box::pin(f(ctx))));
    }

    /// Registers the handler of `P::KIND`; a payload that does not parse as `P` fails the
    /// task permanently, naming what is wrong.
    pub fn register_typed<P, F, Fut>(&mut self, f: F)
    where
        P: TaskPayload + Send + 'static,
        F: Fn(TaskContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let f = Arc::new(f);
        self.register(P::KIND, move |ctx: TaskContext| {
            let f = f.clone();
            async move {
                let raw = match &ctx.task.payload {
                    serde_json::Value::Null => serde_json::json!({}),
                    v => v.clone(),
                };
                let p: P = serde_json::from_value(raw)
                    .map_err(|e| TaskFailure::Permanent(format!("payload: {e}")))?;
                f(ctx, p).await
            }
        });
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.handlers.keys().cloned().collect();
        k.sort();
        k
    }
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

/// Whether a worker's claim loop is running, for readiness checks. The loop marks itself
/// alive on start and dead when it ends or unwinds (a guard's `Drop`).
#[derive(Clone, Debug, Default)]
pub struct WorkerHealth {
    alive: Arc<AtomicBool>,
}

impl WorkerHealth {
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a claim loop runs.
    pub fn is_running(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    fn guard(&self) -> AliveGuard {
        self.alive.store(true, Ordering::SeqCst);
        AliveGuard(self.alive.clone())
    }
}

struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Runs [`run`] until `shutdown`, restarting the loop (after a pause) if it panics, so a
/// worker never dies silently. Ends only once `shutdown` is cancelled.
pub async fn supervise(
    store: Store,
    registry: Registry,
    cfg: WorkerConfig,
    metrics: Arc<Metrics>,
    health: WorkerHealth,
    shutdown: CancellationToken,
) {
    loop {
        let looped = tokio::spawn(run_with_health(
            store.clone(),
            registry.clone(),
            cfg.clone(),
            metrics.clone(),
            health.clone(),
            shutdown.clone(),
        ));
        match looped.await {
            Ok(()) if shutdown.is_cancelled() => return,
            Ok(()) => {
                tracing::error!(worker = %cfg.id, "worker loop ended unexpectedly; restarting")
            }
            Err(e) => {
                tracing::error!(worker = %cfg.id, error = %e, "worker loop panicked; restarting")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.poll_interval * 4) => {}
            _ = shutdown.cancelled() => return,
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
    run_with_health(store, registry, cfg, metrics, WorkerHealth::new(), shutdown).await
}

/// [`run`], marking `health` alive while the loop runs.
pub async fn run_with_health(
    store: Store,
    registry: Registry,
    cfg: WorkerConfig,
    metrics: Arc<Metrics>,
    health: WorkerHealth,
    shutdown: CancellationToken,
) {
    let _alive = health.guard();
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
                let task = &claimed.task;
                let span = tracing::info_span!("task", id = %task.id, kind = %task.kind, attempt = task.attempts);
                running.spawn(
                    async move {
                        execute(store, registry, cfg, metrics, shutdown, claimed).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
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
        store.task_log(&task, LogLevel::Error, &msg).await.ok();
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
        tokio::spawn(
            async move {
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
            }
            .in_current_span(),
        )
    };
    let ctx = TaskContext {
        task: task.clone(),
        store: store.clone(),
        claimed: claimed.clone(),
        cancel: cancel.clone(),
        lease: cfg.lease,
    };
    // A panicking handler fails its own task; the worker and its other tasks go on.
    let run = std::panic::AssertUnwindSafe(handler(ctx))
        .catch_unwind()
        .map(|r| {
            r.unwrap_or_else(|panic| {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(panic = %why, "task handler panicked");
                Err(TaskFailure::Permanent(format!(
                    "the handler panicked: {why}"
                )))
            })
        });
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
                    LogLevel::Warn,
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
                .task_log(&task, LogLevel::Info, "cancelled on request")
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
                .task_log(&task, LogLevel::Info, &format!("{msg}; waiting"))
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
                    LogLevel::Warn,
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
            store
                .task_log(&task, LogLevel::Error, &f.to_string())
                .await
                .ok();
            finish(TaskEnd::Failed(f.to_string())).await;
            count("failed");
        }
    }
}
