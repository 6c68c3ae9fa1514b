//! The worker against a real database: exactly-once execution across independent pools,
//! retries, permanent failures, cancellation, and release on shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use castellan_domain::tasks::{TaskFailure, TaskKind, TaskStatus, TaskTrigger};
use castellan_domain::{Env, TaskId};
use castellan_services::Metrics;
use castellan_services::worker::{self, Registry, WorkerConfig};
use castellan_store::{Backend, NewTask, Store};
use castellan_testkit::TestDb;
use tokio_util::sync::CancellationToken;

use castellan_testkit::cli;

fn fast(id: &str) -> WorkerConfig {
    let mut c = WorkerConfig::new(id.into());
    c.concurrency = 4;
    c.lease = Duration::from_secs(3);
    c.poll_interval = Duration::from_millis(20);
    c.backoff_base = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(100);
    c.shutdown_grace = Duration::from_millis(200);
    c
}

async fn wait_until<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, f: F) {
    for _ in 0..600 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn count(store: &Store, status: TaskStatus) -> i64 {
    store
        .task_counts()
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == status)
        .map(|(_, n)| n)
        .unwrap_or(0)
}

async fn exactly_once(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    // Two independent pools on one database, as two processes would have.
    let a = db.store(Env::system()).await;
    let b = castellan_store::Store::connect(&db.url, Env::system(), Default::default())
        .await
        .unwrap();
    let ws = a
        .create_workspace_with_owner(
            "acme",
            &castellan_domain::values::Email::parse("e", "o@acme.example.com").unwrap(),
            "h",
            &cli(),
        )
        .await
        .unwrap()
        .0
        .id;
    let kind = TaskKind::from_static("test.count");
    let tasks: Vec<NewTask> = (0..2000)
        .map(|i| {
            NewTask::new(
                kind.clone(),
                serde_json::json!({ "i": i }),
                TaskTrigger::System,
            )
        })
        .collect();
    a.ws(ws).enqueue_many(&cli(), tasks).await.unwrap();

    let runs: Arc<Mutex<HashMap<TaskId, u32>>> = Arc::default();
    let mut registry = Registry::empty();
    let r = runs.clone();
    registry.register("test.count", move |ctx| {
        let r = r.clone();
        async move {
            *r.lock().unwrap().entry(ctx.task.id).or_default() += 1;
            Ok(serde_json::json!(null))
        }
    });
    let stop = CancellationToken::new();
    // Leases long enough not to expire under a loaded CI machine: this test is about claims;
    // what happens when a lease does expire is tested on its own (and is at-least-once).
    let long = |id: &str| {
        let mut c = fast(id);
        c.lease = Duration::from_secs(120);
        c
    };
    let w1 = tokio::spawn(worker::run(
        a.clone(),
        registry.clone(),
        long("w1"),
        Arc::new(Metrics::new()),
        stop.clone(),
    ));
    let w2 = tokio::spawn(worker::run(
        b.clone(),
        registry,
        long("w2"),
        Arc::new(Metrics::new()),
        stop.clone(),
    ));
    wait_until("all tasks completed", || async {
        count(&a, TaskStatus::Completed).await == 2000
    })
    .await;
    stop.cancel();
    w1.await.unwrap();
    w2.await.unwrap();
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 2000);
    assert!(
        runs.values().all(|&n| n == 1),
        "some task ran more than once"
    );
    let owners: Vec<(String, i64)> =
        sqlx::query_as("SELECT COALESCE(lease_owner, 'none'), attempts FROM tasks")
            .fetch_all(b.pool())
            .await
            .unwrap();
    assert!(owners.iter().all(|(_, attempts)| *attempts == 1));
    b.close().await;
}

#[tokio::test]
async fn two_pools_run_2000_tasks_exactly_once_sqlite() {
    exactly_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn two_pools_run_2000_tasks_exactly_once_postgres() {
    exactly_once(Backend::Postgres).await;
}

#[tokio::test]
async fn retries_failures_cancellation_and_shutdown() {
    let db = TestDb::sqlite();
    let store = db.store(Env::system()).await;
    let ws = store
        .create_workspace_with_owner(
            "acme",
            &castellan_domain::values::Email::parse("e", "o@acme.example.com").unwrap(),
            "h",
            &cli(),
        )
        .await
        .unwrap()
        .0
        .id;
    let mut registry = castellan_services::tasks::registry(&castellan_testkit::services(&store));
    let flaky_calls = Arc::new(Mutex::new(0));
    let fc = flaky_calls.clone();
    registry.register("test.flaky", move |ctx| {
        let fc = fc.clone();
        async move {
            let n = {
                let mut g = fc.lock().unwrap();
                *g += 1;
                *g
            };
            ctx.log(
                castellan_domain::tasks::LogLevel::Info,
                &format!("call {n}"),
            )
            .await;
            if n < 3 {
                Err(TaskFailure::Retryable("platform answered 503".into()))
            } else {
                Ok(serde_json::json!({"calls": n}))
            }
        }
    });
    registry.register("test.broken", |_| async {
        Err(TaskFailure::Permanent(
            "platform answered 400: invalid member".into(),
        ))
    });
    let s = store.ws(ws);
    let flaky = s
        .enqueue(
            &cli(),
            NewTask::new(
                TaskKind::from_static("test.flaky"),
                serde_json::json!({}),
                TaskTrigger::Person,
            ),
        )
        .await
        .unwrap();
    let broken = s
        .enqueue(
            &cli(),
            NewTask::new(
                TaskKind::from_static("test.broken"),
                serde_json::json!({}),
                TaskTrigger::Person,
            ),
        )
        .await
        .unwrap();
    let mut long = NewTask::new(
        TaskKind::from_static("system.sleep"),
        serde_json::json!({"ms": 60_000}),
        TaskTrigger::Person,
    );
    long.max_attempts = 3;
    let long = s.enqueue(&cli(), long).await.unwrap();
    let stop = CancellationToken::new();
    let mut cfg = fast("w");
    cfg.lease = Duration::from_millis(600);
    let w = tokio::spawn(worker::run(
        store.clone(),
        registry.clone(),
        cfg.clone(),
        Arc::new(Metrics::new()),
        stop.clone(),
    ));

    wait_until("flaky task completed", || async {
        s.task(flaky.id).await.unwrap().status == TaskStatus::Completed
    })
    .await;
    let t = s.task(flaky.id).await.unwrap();
    assert_eq!(
        (t.attempts, t.result),
        (3, Some(serde_json::json!({"calls": 3})))
    );
    let log = s.task_logs(flaky.id).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.message.contains("503") && l.message.contains("retrying"))
    );

    wait_until("broken task failed", || async {
        s.task(broken.id).await.unwrap().status == TaskStatus::Failed
    })
    .await;
    let t = s.task(broken.id).await.unwrap();
    assert_eq!(t.attempts, 1);
    assert_eq!(
        t.error.as_deref(),
        Some("platform answered 400: invalid member")
    );

    // Cancel a running task: the worker sees it at the next heartbeat.
    wait_until("sleep running", || async {
        s.task(long.id).await.unwrap().progress_done > 0
    })
    .await;
    s.cancel_task(&cli(), long.id).await.unwrap();
    wait_until("sleep cancelled", || async {
        s.task(long.id).await.unwrap().status == TaskStatus::Cancelled
    })
    .await;

    // Shutdown: a task still running after the grace period goes back to the queue.
    let again = s
        .enqueue(
            &cli(),
            NewTask::new(
                TaskKind::from_static("system.sleep"),
                serde_json::json!({"ms": 60_000}),
                TaskTrigger::Person,
            ),
        )
        .await
        .unwrap();
    wait_until("second sleep running", || async {
        s.task(again.id).await.unwrap().progress_done > 0
    })
    .await;
    stop.cancel();
    w.await.unwrap();
    let t = s.task(again.id).await.unwrap();
    assert_eq!(
        (t.status, t.attempts, t.lease_owner),
        (TaskStatus::Pending, 0, None)
    );
    let events = s
        .audit_list(
            &castellan_store::AuditFilter {
                action: Some("task".into()),
                ..Default::default()
            },
            None,
            50,
        )
        .await
        .unwrap();
    let actions: Vec<&str> = events.items.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"task.failed")
            && actions.contains(&"task.completed")
            && actions.contains(&"task.cancelled"),
        "{actions:?}"
    );
}

/// A handler that panics fails its own task; the worker goes on with the others and keeps
/// claiming afterwards.
#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_task() {
    let db = TestDb::sqlite();
    let store = db.store(Env::system()).await;
    let ws = store
        .create_workspace_with_owner(
            "acme",
            &castellan_domain::values::Email::parse("e", "o@acme.example.com").unwrap(),
            "h",
            &cli(),
        )
        .await
        .unwrap()
        .0
        .id;
    let mut registry = castellan_services::tasks::registry(&castellan_testkit::services(&store));
    registry.register("test.panic", |_| async {
        if true {
            panic!("the handler fell over");
        }
        Ok(serde_json::json!(null))
    });
    let s = store.ws(ws);
    let actor = cli();
    let enqueue = |kind: &'static str| {
        s.enqueue(
            &actor,
            NewTask::new(
                TaskKind::from_static(kind),
                serde_json::json!({}),
                TaskTrigger::Person,
            ),
        )
    };
    let boom = enqueue("test.panic").await.unwrap();
    let before = enqueue("system.noop").await.unwrap();
    let stop = CancellationToken::new();
    let w = tokio::spawn(worker::supervise(
        store.clone(),
        registry,
        fast("panics"),
        Arc::new(Metrics::new()),
        worker::WorkerHealth::new(),
        stop.clone(),
    ));
    wait_until("the panicking task failed", || async {
        s.task(boom.id).await.unwrap().status == TaskStatus::Failed
    })
    .await;
    let t = s.task(boom.id).await.unwrap();
    assert_eq!(t.attempts, 1, "a panic is not retried");
    assert!(
        t.error
            .as_deref()
            .unwrap_or("")
            .contains("the handler fell over"),
        "{:?}",
        t.error
    );
    // Queued after the panic: the same worker still claims and runs tasks.
    let after = enqueue("system.noop").await.unwrap();
    for id in [before.id, after.id] {
        wait_until("the other tasks completed", || async {
            s.task(id).await.unwrap().status == TaskStatus::Completed
        })
        .await;
    }
    stop.cancel();
    w.await.unwrap();
}

/// `/readyz` answers 200 while the configured worker's loop runs and 503 once it stopped.
#[tokio::test]
async fn readyz_reports_a_worker_loop_that_stopped() {
    let health = worker::WorkerHealth::new();
    let app = castellan_testkit::TestApp::spawn_reporting(
        TestDb::sqlite(),
        Default::default(),
        castellan_testkit::test_vault(),
        health.clone(),
    )
    .await;
    let ready = || async {
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, 503, "no worker loop has started yet");
    let stop = app.run_worker_with(app.services(), fast("readyz"), health.clone());
    wait_until("the worker loop running", || async { health.is_running() }).await;
    assert_eq!(ready().await, 200);
    stop.cancel();
    wait_until("the worker loop stopped", || async { !health.is_running() }).await;
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("worker"),
        "{body}"
    );
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the process itself is alive"
    );
}

/// Every kind the one registry runs has a name people read in the Automation view (a kind
/// added without one would show its raw name, as `account.rotate` once did).
#[tokio::test]
async fn every_registered_kind_has_a_title() {
    let db = TestDb::sqlite();
    let store = db.store(Env::system()).await;
    let registry = castellan_services::tasks::registry(&castellan_testkit::services(&store));
    let kinds = registry.kinds();
    assert!(kinds.iter().any(|k| k == "account.rotate"), "{kinds:?}");
    for k in kinds {
        assert_ne!(
            castellan_domain::tasks::kind_title(&k),
            k,
            "{k} has no title"
        );
    }
}
