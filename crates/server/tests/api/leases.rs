//! Leases under a large first check on SQLite: while the check writes tens of thousands of
//! rows, its worker's heartbeats keep the lease from ever standing expired, no other claimer
//! can take the task, and polls of the task keep answering quickly.

use std::time::{Duration, Instant};

use castellan_domain::Env;
use castellan_domain::auth::ApiScope;
use castellan_domain::tasks::TaskStatus;
use castellan_emulators::scenario as sc;
use castellan_emulators::{Faults, OnePlatform, Scale, ScenarioSource, World};
use castellan_services::worker::WorkerConfig;
use castellan_testkit::{TestApp, TestDb};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_first_check_keeps_its_lease_on_sqlite() {
    let scale = Scale {
        members: 50_000,
        assets: 400,
        partners: 10,
        grants_per_member: 3,
        ..Default::default()
    };
    let world = World::new(
        ScenarioSource::GeneratedOne {
            scale,
            platform: OnePlatform::Pinterest,
        },
        1,
        Faults::default(),
    )
    .unwrap();
    let emu = castellan_emulators::start("127.0.0.1:0", world)
        .await
        .unwrap();
    let app = TestApp::spawn_with(TestDb::sqlite(), Default::default()).await;
    let (ws, owner) = app.workspace("acme").await;
    let token = app.token(ws, owner, ApiScope::Admin).await;

    // Short beside the outside run's 5 s, with room for a loaded CI machine's scheduling.
    let lease = Duration::from_secs(2);
    let mut cfg = WorkerConfig::new("leases".into());
    cfg.concurrency = 2;
    cfg.lease = lease;
    cfg.poll_interval = Duration::from_millis(20);
    let mut svc = app.services();
    svc.http.rate_per_sec = 0.0;
    let _stop = app.run_worker(svc, cfg);

    let acct: Value = app
        .post(&token, "/api/v1/automation-accounts")
        .json(&json!({ "platform": "pinterest", "label": "bot", "email": "bot@acme.example.com", "password": "bot-password-123", "access_token": sc::PINTEREST_AUTOMATION_TOKEN }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created: Value = app
        .post(&token, "/api/v1/apps")
        .json(&json!({ "platform": "pinterest", "label": "big", "business_id": sc::PINTEREST_BRAND.to_string(), "login_method": "sso", "automation_account_id": acct["account"]["id"], "api_base_url": emu.pinterest_url() }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = created["app"]["id"].as_str().unwrap().to_string();
    let scoped = app.store.ws(ws);
    let connect: castellan_domain::TaskId =
        created["task"]["id"].as_str().unwrap().parse().unwrap();
    for _ in 0..600 {
        if scoped.task(connect).await.unwrap().status.is_final() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let queued: Value = app
        .post(&token, &format!("/api/v1/apps/{app_id}/check"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id: castellan_domain::TaskId = queued["id"].as_str().unwrap().parse().unwrap();

    // Once our worker runs it: another process's worker, trying to claim checks all along.
    for _ in 0..600 {
        if scoped.task(id).await.unwrap().status == TaskStatus::InProgress {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let intruder = {
        let store = castellan_store::Store::connect(&app.db.url, Env::system(), Default::default())
            .await
            .unwrap();
        tokio::spawn(async move {
            let mut stolen = 0;
            loop {
                match store.claim_task("intruder", &["app.check"], lease).await {
                    Ok(Some(t)) if t.task.id == id => stolen += 1,
                    _ => {}
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                if stolen > 0
                    || store
                        .task_any_workspace(id)
                        .await
                        .unwrap()
                        .status
                        .is_final()
                {
                    return stolen;
                }
            }
        })
    };

    let started = Instant::now();
    let (mut expired, mut slow_polls, mut polls, mut ran) = (Vec::new(), Vec::new(), 0, false);
    loop {
        let t0 = Instant::now();
        let r = app
            .get(&token, &format!("/api/v1/tasks/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _: Value = r.json().await.unwrap();
        let took = t0.elapsed();
        polls += 1;
        if took > Duration::from_secs(1) {
            slow_polls.push(took);
        }
        let t = scoped.task(id).await.unwrap();
        if t.status.is_final() {
            assert_eq!(t.status, TaskStatus::Completed, "{:?}", t.error);
            break;
        }
        if t.status == TaskStatus::InProgress {
            ran = true;
            let now = Env::system().now();
            match t.lease_expires_at {
                Some(until) if until >= now => {}
                other => expired.push((started.elapsed(), other, now)),
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the check did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stolen = intruder.await.unwrap();
    let t = scoped.task(id).await.unwrap();
    eprintln!(
        "first check of {} members: {:.1}s, {polls} polls, attempts {}",
        scale.members,
        started.elapsed().as_secs_f64(),
        t.attempts
    );
    eprintln!("stolen {stolen}, expired {expired:?}, slow polls {slow_polls:?}");
    assert!(ran, "the check was seen running");
    assert_eq!(stolen, 0, "another claimer took the running task");
    assert!(expired.is_empty(), "the lease stood expired: {expired:?}");
    assert!(
        slow_polls.is_empty(),
        "task polls slower than 1 s: {slow_polls:?}"
    );
    assert_eq!(t.attempts, 1, "the check ran once");
    let counts: Value = app
        .get(&token, &format!("/api/v1/apps/{app_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Every member is imported (and nobody matches: the directory is empty).
    assert!(
        counts["counts"]["unmatched"].as_u64().unwrap() >= scale.members as u64,
        "{counts}"
    );
}
