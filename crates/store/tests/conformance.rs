//! The store conformance suite: every case is written once and run against SQLite and
//! PostgreSQL (`conformance::sqlite::*`, `conformance::postgres::*`).

use std::collections::HashMap;
use std::time::Duration;

use castellan_domain::audit::{Actor, Outcome};
use castellan_domain::auth::ApiScope;
use castellan_domain::directory::plan_csv_import;
use castellan_domain::tasks::{TaskKind, TaskStatus, TaskTrigger};
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{Env, IdentityId};
use castellan_store::{
    AuditFilter, IdentityFilter, NewTask, PersonUpdate, StoreError, TaskEnd, TaskFilter,
};
use castellan_testkit::TestDb;

#[macro_use]
mod support;

use support::*;

conformance!(
    workspaces_are_isolated,
    workspace_names_are_unique,
    last_owner_is_kept,
    tokens_and_sessions,
    identities_and_deactivation,
    csv_import_writes_only_changes,
    groups_crud,
    task_claim_lease_and_finish,
    expired_lease_returns_task_to_queue,
    retry_release_and_cancel,
    concurrent_claims_run_each_task_once,
    audit_chain_detects_tampering,
    audit_filters_and_paging,
    checks_write_only_differences,
    first_check_that_dies_leaves_nothing_visible,
    missing_digests_are_rebuilt,
    a_check_that_lost_its_lease_stops_writing,
    one_task_holds_an_app,
    directory_changes_rematch_without_rewriting,
    asset_holders_follow_the_grants,
    member_search_folds_case_within_each_field,
    checks_in_many_passes_write_what_one_pass_writes,
    a_first_check_writes_rows_listed_twice_once,
    a_first_check_lands_grants_listed_per_asset_and_per_holder_once,
    kept_lists_carry_their_grants_however_early_they_are_named,
);

async fn workspaces_are_isolated(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 1)).await;
    let (a, owner_a) = workspace(&store, "acme").await;
    let (b, _) = workspace(&store, "globex").await;
    let ident = store
        .ws(a)
        .create_identity(
            &cli(),
            &identity("alice", "alice@acme.example.com", true),
            "api",
        )
        .await
        .unwrap();
    // Rows of A are not found through B.
    assert!(matches!(
        store.ws(b).identity(ident.id).await,
        Err(StoreError::NotFound("identity"))
    ));
    assert!(matches!(
        store.ws(b).person(owner_a).await,
        Err(StoreError::NotFound("person"))
    ));
    assert!(
        store
            .ws(b)
            .identities(&IdentityFilter::default(), None, 50)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        store
            .ws(a)
            .identities(&IdentityFilter::default(), None, 50)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // The same userName may exist in both workspaces.
    store
        .ws(b)
        .create_identity(
            &cli(),
            &identity("alice", "alice@acme.example.com", true),
            "api",
        )
        .await
        .unwrap();
    assert_eq!(store.ws(a).audit_verify().await.unwrap(), Ok(3));
    assert_eq!(store.ws(b).audit_verify().await.unwrap(), Ok(3));
}

async fn workspace_names_are_unique(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 2)).await;
    workspace(&store, "acme").await;
    let err = store
        .create_workspace_with_owner("ACME", &email("x@y.example.com"), "h", &cli())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { ref field, .. } if field == "workspace"),
        "{err:?}"
    );
    assert_eq!(store.list_workspaces().await.unwrap().len(), 1);
    assert_eq!(
        store.workspace_by_name(" Acme ").await.unwrap().name,
        "acme"
    );
}

async fn last_owner_is_kept(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 3)).await;
    let (ws, owner) = workspace(&store, "acme").await;
    let s = store.ws(ws);
    let err = s
        .update_person(
            &cli(),
            owner,
            &PersonUpdate {
                role: Some(WorkspaceRole::Admin),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { ref field, .. } if field == "role"));
    let second = s
        .create_person(
            &cli(),
            &email("two@acme.example.com"),
            None,
            WorkspaceRole::Owner,
            None,
        )
        .await
        .unwrap();
    let demoted = s
        .update_person(
            &cli(),
            owner,
            &PersonUpdate {
                role: Some(WorkspaceRole::Admin),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(demoted.role, WorkspaceRole::Admin);
    let dup = s
        .create_person(
            &cli(),
            &email("TWO@acme.example.com"),
            None,
            WorkspaceRole::Member,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict { ref field, .. } if field == "email"));
    assert_eq!(s.people(None, 10).await.unwrap().items.len(), 2);
    assert_eq!(
        s.person(second.id).await.unwrap().role,
        WorkspaceRole::Owner
    );
}

async fn tokens_and_sessions(db: &TestDb) {
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 4)).await;
    let (ws, owner) = workspace(&store, "acme").await;
    let s = store.ws(ws);
    let t = s
        .create_token(&cli(), owner, "ci", ApiScope::Write, "tokenhash")
        .await
        .unwrap();
    let (found, person) = store.token_by_hash("tokenhash").await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.scope, person.id),
        (t.id, ApiScope::Write, owner)
    );
    s.revoke_token(&cli(), owner, t.id).await.unwrap();
    assert!(store.token_by_hash("tokenhash").await.unwrap().is_none());
    assert!(
        s.revoke_token(&cli(), owner, t.id)
            .await
            .unwrap()
            .revoked_at
            .is_some()
    );

    let expires = clock.now() + chrono::Duration::hours(1);
    s.create_session(owner, "sesshash", "csrf", expires)
        .await
        .unwrap();
    let sess = store
        .session_by_token_hash("sesshash", clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sess.person.id, sess.csrf_token.as_str()), (owner, "csrf"));
    clock.advance(chrono::Duration::hours(2));
    assert!(
        store
            .session_by_token_hash("sesshash", clock.now())
            .await
            .unwrap()
            .is_none()
    );
}

use castellan_domain::Clock;

async fn identities_and_deactivation(db: &TestDb) {
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 5)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let s = store.ws(ws);
    let a = s
        .create_identity(
            &cli(),
            &identity("alice", "alice@acme.example.com", true),
            "api",
        )
        .await
        .unwrap();
    let dup = s
        .create_identity(
            &cli(),
            &identity("bob", "ALICE@acme.example.com", true),
            "api",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(dup, StoreError::Conflict { ref field, .. } if field == "primary_email"),
        "{dup:?}"
    );
    clock.advance(chrono::Duration::minutes(5));
    let off = s.set_identity_active(&cli(), a.id, false).await.unwrap();
    assert!(!off.active);
    assert_eq!(off.deactivated_at, Some(clock.now()));
    let events = s
        .audit_list(
            &AuditFilter {
                action: Some("directory.identity.deactivate".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(events.items.len(), 1);
    assert_eq!(events.items[0].target, format!("identity:{}", a.id));
    // Deactivating again changes nothing.
    s.set_identity_active(&cli(), a.id, false).await.unwrap();
    assert_eq!(
        s.identities(
            &IdentityFilter {
                active: Some(false),
                ..Default::default()
            },
            None,
            10
        )
        .await
        .unwrap()
        .items
        .len(),
        1
    );
    let on = s.set_identity_active(&cli(), a.id, true).await.unwrap();
    assert_eq!(on.deactivated_at, None);
    let found = s
        .identities(
            &IdentityFilter {
                query: Some("ALI".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
}

async fn csv_import_writes_only_changes(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 6)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let s = store.ws(ws);
    let mut csv = String::from("userName,email,displayName,active,groups\n");
    for i in 0..300 {
        csv.push_str(&format!(
            "user{i},user{i}@acme.example.com,User {i},true,Staff;Team{}\n",
            i % 3
        ));
    }
    let plan = plan_csv_import(csv.as_bytes());
    assert!(plan.errors.is_empty());
    let sum = s
        .import_identities(&cli(), &plan.rows, plan.groups_column, "people.csv")
        .await
        .unwrap();
    assert_eq!(
        (sum.created, sum.updated, sum.unchanged, sum.groups_created),
        (300, 0, 0, 4)
    );
    // Checks rematch their seats when the directory's version moved: an import with changes
    // moves it, one without does not.
    let version = || async {
        sqlx::query_scalar::<_, i64>("SELECT directory_version FROM workspaces WHERE id = $1")
            .bind(ws.to_string())
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    let v1 = version().await;
    assert!(v1 > 0);
    let again = s
        .import_identities(&cli(), &plan.rows, plan.groups_column, "people.csv")
        .await
        .unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 300));
    assert_eq!(version().await, v1, "nothing changed");
    let csv2 = csv.replace(
        "user7,user7@acme.example.com,User 7,true",
        "user7,user7@acme.example.com,User 7,false",
    );
    let plan2 = plan_csv_import(csv2.as_bytes());
    let third = s
        .import_identities(&cli(), &plan2.rows, plan2.groups_column, "people.csv")
        .await
        .unwrap();
    assert_eq!(
        (third.updated, third.deactivated, third.unchanged),
        (1, 1, 299)
    );
    assert!(version().await > v1, "one identity changed");
    let page = s
        .identities(
            &IdentityFilter {
                active: Some(false),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.items[0].user_name, "user7");
    assert!(page.items[0].deactivated_at.is_some());
    assert_eq!(page.items[0].groups.len(), 2);
    // A conflict in one row rolls back the whole file and names the line.
    let bad = plan_csv_import(
        b"userName,email\nnewperson,new@acme.example.com\nother,user1@acme.example.com\n",
    );
    let err = s
        .import_identities(&cli(), &bad.rows, bad.groups_column, "bad.csv")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { ref field, .. } if field == "line 3: primary_email"),
        "{err:?}"
    );
    let search = s
        .identities(
            &IdentityFilter {
                query: Some("newperson".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert!(search.items.is_empty());
}

async fn groups_crud(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 7)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let s = store.ws(ws);
    let a = s
        .create_identity(
            &cli(),
            &identity("alice", "alice@acme.example.com", true),
            "api",
        )
        .await
        .unwrap();
    let g = s
        .create_group(&cli(), "Marketing", None, &[a.id, a.id])
        .await
        .unwrap();
    assert_eq!(g.member_ids, vec![a.id]);
    let dup = s
        .create_group(&cli(), "marketing", None, &[])
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict { .. }));
    let missing = s
        .create_group(&cli(), "Ads", None, &[IdentityId(uuid::Uuid::nil())])
        .await
        .unwrap_err();
    // A member id that names nobody is a conflict with the directory, naming the field.
    assert!(matches!(missing, StoreError::Conflict { ref field, .. } if field == "member_ids"));
    let g2 = s
        .update_group(&cli(), g.id, Some("Brand"), Some(&[]))
        .await
        .unwrap();
    assert_eq!(
        (g2.display_name.as_str(), g2.member_ids.len()),
        ("Brand", 0)
    );
    s.delete_group(&cli(), g.id).await.unwrap();
    assert!(matches!(s.group(g.id).await, Err(StoreError::NotFound(_))));
}

fn noop() -> NewTask {
    NewTask::new(
        TaskKind::from_static("system.noop"),
        serde_json::json!({}),
        TaskTrigger::System,
    )
}

async fn task_claim_lease_and_finish(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 8)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let t = store.ws(ws).enqueue(&cli(), noop()).await.unwrap();
    assert_eq!(t.status, TaskStatus::Pending);
    assert!(
        store
            .claim_task("w1", &["other.kind"], Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    let c = store
        .claim_task("w1", &["system.noop"], Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.task.id, c.task.status, c.task.attempts),
        (t.id, TaskStatus::InProgress, 1)
    );
    assert!(
        store
            .claim_task("w2", &["system.noop"], Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.heartbeat(&c, Duration::from_secs(30)).await.unwrap());
    store
        .task_progress(&c, 3, Some(10), Some("pages"))
        .await
        .unwrap();
    store
        .task_log(&c.task, castellan_domain::tasks::LogLevel::Info, "hello")
        .await
        .unwrap();
    store
        .finish_task(&c, TaskEnd::Completed(serde_json::json!({"ok": true})))
        .await
        .unwrap();
    let done = store.ws(ws).task(t.id).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!((done.progress_done, done.progress_total), (3, Some(10)));
    assert_eq!(done.result, Some(serde_json::json!({"ok": true})));
    assert_eq!(
        store.ws(ws).task_logs(t.id).await.unwrap()[0].message,
        "hello"
    );
    // Finishing twice is refused: the lease is gone.
    assert!(matches!(
        store.finish_task(&c, TaskEnd::Failed("x".into())).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn expired_lease_returns_task_to_queue(db: &TestDb) {
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 9)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let t = store.ws(ws).enqueue(&cli(), noop()).await.unwrap();
    let dead = store
        .claim_task("dead-worker", &["system.noop"], Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    clock.advance(chrono::Duration::seconds(29));
    assert!(
        store
            .claim_task("w2", &["system.noop"], Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    clock.advance(chrono::Duration::seconds(2));
    let c = store
        .claim_task("w2", &["system.noop"], Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.task.id, c.task.attempts), (t.id, 2));
    // The dead worker cannot finish or heartbeat any more.
    assert!(
        store
            .heartbeat(&dead, Duration::from_secs(30))
            .await
            .is_err()
    );
    assert!(
        store
            .finish_task(&dead, TaskEnd::Completed(serde_json::json!(null)))
            .await
            .is_err()
    );
    store
        .finish_task(&c, TaskEnd::Completed(serde_json::json!(null)))
        .await
        .unwrap();
}

async fn retry_release_and_cancel(db: &TestDb) {
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 10)).await;
    let (ws, owner) = workspace(&store, "acme").await;
    let s = store.ws(ws);
    let t = s.enqueue(&cli(), noop()).await.unwrap();
    let c = store
        .claim_task("w", &["system.noop"], Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let later = clock.now() + chrono::Duration::seconds(10);
    store
        .finish_task(
            &c,
            TaskEnd::Retry {
                error: "503".into(),
                at: later,
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_task("w", &["system.noop"], Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    clock.advance(chrono::Duration::seconds(11));
    let c2 = store
        .claim_task("w", &["system.noop"], Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c2.task.attempts, 2);
    store.finish_task(&c2, TaskEnd::Released).await.unwrap();
    let released = s.task(t.id).await.unwrap();
    assert_eq!(
        (released.status, released.attempts),
        (TaskStatus::Pending, 1)
    );
    // Cancel: running → requested (seen on heartbeat); pending → cancelled at once.
    let c3 = store
        .claim_task("w", &["system.noop"], Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let person = Actor::Person { id: owner };
    s.cancel_task(&person, t.id).await.unwrap();
    assert!(store.heartbeat(&c3, Duration::from_secs(30)).await.unwrap());
    store.finish_task(&c3, TaskEnd::Cancelled).await.unwrap();
    assert_eq!(s.task(t.id).await.unwrap().status, TaskStatus::Cancelled);
    assert!(matches!(
        s.cancel_task(&person, t.id).await,
        Err(StoreError::Conflict { .. })
    ));
    let p = s.enqueue(&cli(), noop()).await.unwrap();
    assert_eq!(
        s.cancel_task(&person, p.id).await.unwrap().status,
        TaskStatus::Cancelled
    );
    let listed = s
        .tasks(
            &TaskFilter {
                status: Some(TaskStatus::Cancelled),
                ..Default::default()
            },
            None,
            1,
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let next = s
        .tasks(
            &TaskFilter {
                status: Some(TaskStatus::Cancelled),
                ..Default::default()
            },
            listed.next_cursor.map(|c| c.parse().unwrap()),
            1,
        )
        .await
        .unwrap();
    assert_eq!(next.items.len(), 1);
    assert!(next.next_cursor.is_none());
}

async fn concurrent_claims_run_each_task_once(db: &TestDb) {
    let store = db.store(Env::system()).await;
    let (ws, _) = workspace(&store, "acme").await;
    store
        .ws(ws)
        .enqueue_many(&cli(), (0..200).map(|_| noop()).collect())
        .await
        .unwrap();
    let mut handles = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = store
                .claim_task(&format!("w{w}"), &["system.noop"], Duration::from_secs(60))
                .await
                .unwrap()
            {
                store
                    .finish_task(&c, TaskEnd::Completed(serde_json::json!(null)))
                    .await
                    .unwrap();
                mine.push(c.task.id);
            }
            mine
        }));
    }
    let mut counts: HashMap<_, u32> = HashMap::new();
    for h in handles {
        for id in h.await.unwrap() {
            *counts.entry(id).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), 200);
    assert!(counts.values().all(|&n| n == 1));
}

async fn audit_chain_detects_tampering(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 11)).await;
    let (ws, _) = workspace(&store, "acme").await;
    for i in 0..5 {
        store
            .ws(ws)
            .create_identity(
                &cli(),
                &identity(&format!("u{i}"), &format!("u{i}@acme.example.com"), true),
                "api",
            )
            .await
            .unwrap();
    }
    assert_eq!(store.ws(ws).audit_verify().await.unwrap(), Ok(7));
    sqlx::query("UPDATE audit_events SET details = '{\"user_name\":\"mallory\"}' WHERE workspace_id = $1 AND seq = 4")
        .bind(ws.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    let brk = store.ws(ws).audit_verify().await.unwrap().unwrap_err();
    assert_eq!(brk.seq, 4);
}

async fn audit_filters_and_paging(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 12)).await;
    let (ws, owner) = workspace(&store, "acme").await;
    let s = store.ws(ws);
    for i in 0..5 {
        s.create_identity(
            &Actor::Person { id: owner },
            &identity(&format!("u{i}"), &format!("u{i}@acme.example.com"), true),
            "api",
        )
        .await
        .unwrap();
    }
    let by_action = s
        .audit_list(
            &AuditFilter {
                action: Some("directory".into()),
                ..Default::default()
            },
            None,
            3,
        )
        .await
        .unwrap();
    assert_eq!(by_action.items.len(), 3);
    assert_eq!(by_action.items[0].seq, 7);
    let rest = s
        .audit_list(
            &AuditFilter {
                action: Some("directory".into()),
                ..Default::default()
            },
            by_action.next_cursor.map(|c| c.parse().unwrap()),
            3,
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 2);
    assert!(rest.next_cursor.is_none());
    let by_actor = s
        .audit_list(
            &AuditFilter {
                actor: Some(format!("person:{owner}")),
                outcome: Some(Outcome::Success),
                ..Default::default()
            },
            None,
            50,
        )
        .await
        .unwrap();
    assert_eq!(by_actor.items.len(), 5);
    let export = s
        .audit_export_page(&AuditFilter::default(), Some(5), 50)
        .await
        .unwrap();
    assert_eq!(
        export.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![6, 7]
    );
}

// ------------------------------------------------------------------ checks for updates

async fn checks_write_only_differences(db: &TestDb) {
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 20)).await;
    let (ws, _) = workspace(&store, "acme").await;
    store
        .ws(ws)
        .create_identity(
            &cli(),
            &identity("p0", "Person0@ACME.example.com", true),
            "api",
        )
        .await
        .unwrap();
    let app = app_for_checks(&store, ws).await;
    let mut biz = world::business(60);
    let first = run_check(&store, ws, app, &world::batches(&biz)).await;
    assert_eq!(
        (
            first.seats_new,
            first.assets_new,
            first.grants_new,
            first.partners_new
        ),
        (60, 20, 120, 2)
    );
    assert_eq!(first.rows_written, 202);
    assert_eq!(first.rematched, 1, "person0 matches the directory");
    let c = counts(&store, ws, app).await;
    assert_eq!((c["onboarded"], c["unmatched"]), (1, 59));

    // The same picture in another order, with a member listed twice: nothing is written.
    let mut shuffled = world::batches(&biz);
    shuffled.reverse();
    shuffled.push(castellan_domain::platform::Batch::Seats(vec![
        biz.0[3].clone(),
    ]));
    let mut again = run_check(&store, ws, app, &shuffled).await;
    again.report_id.clear();
    assert_eq!(again, castellan_store::CheckSummary::default(), "{again:?}");

    // Upstream: a role changed, a member left (with grants), a permission changed, an asset
    // and a member added, a partner gone.
    biz.0[5].roles = vec!["BIZ_ADMIN".into()];
    let gone = biz.0.remove(9);
    biz.2
        .retain(|g| g.holder != castellan_domain::platform::Holder::Member(gone.user_id.clone()));
    biz.2[0].permissions = vec!["ANALYST".into()];
    biz.1.push(castellan_domain::platform::AssetRecord {
        id: "A99".into(),
        kind: "PROFILE".into(),
        name: None,
        owner_id: None,
    });
    biz.0
        .push(world::seat("5000", "newbie@acme.example.com", "EMPLOYEE"));
    biz.3.pop();
    clock.advance(chrono::Duration::minutes(1));
    let third = run_check(&store, ws, app, &world::batches(&biz)).await;
    assert_eq!(
        (third.seats_new, third.seats_changed, third.seats_vanished),
        (1, 1, 1),
        "{third:?}"
    );
    assert_eq!(
        (
            third.assets_new,
            third.grants_changed,
            third.grants_vanished
        ),
        (1, 1, 2)
    );
    assert_eq!(third.partners_vanished, 1);
    assert_eq!(third.rows_written, 8);
    let changes = store
        .ws(ws)
        .reports(app, 1)
        .await
        .unwrap()
        .remove(0)
        .changes;
    let changes = serde_json::to_value(changes).unwrap();
    assert_eq!(changes["new_seats"], serde_json::json!(["5000"]));
    assert_eq!(changes["vanished_seats"], serde_json::json!([gone.user_id]));
    assert_eq!(changes["role_changes"][0]["user_id"], "1005");
    assert_eq!(changes["role_changes"][0]["to"], "[\"BIZ_ADMIN\"]");
    assert_eq!(changes["permission_changes"][0]["holder"], "member:1000");
    assert_eq!(changes["vanished_partners"], serde_json::json!(["P2"]));
    assert_eq!(counts(&store, ws, app).await["unmatched"], 59);

    // The member comes back: the same row lives again.
    biz.0.push(gone);
    clock.advance(chrono::Duration::minutes(1));
    let back = run_check(&store, ws, app, &world::batches(&biz)).await;
    assert_eq!((back.seats_new, back.seats_changed), (0, 1));
    let changes = store
        .ws(ws)
        .reports(app, 1)
        .await
        .unwrap()
        .remove(0)
        .changes;
    let changes = serde_json::to_value(changes).unwrap();
    assert_eq!(changes["new_seats"], serde_json::json!(["1009"]));
    assert_eq!(
        run_check(&store, ws, app, &world::batches(&biz))
            .await
            .rows_written,
        0
    );
    assert_eq!(
        store.ws(ws).audit_verify().await.unwrap().map(|_| ()),
        Ok(())
    );
}

/// A re-check that differs in many buckets is diffed in many passes (the table and the spool
/// each read once and split by pass): it writes what one pass writes, and the next check
/// writes nothing.
/// A platform may list a row twice (a member on two pages, a grant in a summary and an
/// asset's list): a first check writes it once and fails nothing (on PostgreSQL the rows go
/// in without ON CONFLICT first, and a chunk holding a duplicate goes again skipping it,
/// the seats with the match they were written with by COPY).
async fn a_first_check_writes_rows_listed_twice_once(db: &TestDb) {
    use castellan_domain::platform::Batch;
    let store = db.store(Env::deterministic(clock(), 21)).await;
    let (ws, _) = workspace(&store, "acme").await;
    // The seat listed twice matches the directory.
    store
        .ws(ws)
        .create_identity(
            &cli(),
            &identity("p3", "Person3@ACME.example.com", true),
            "api",
        )
        .await
        .unwrap();
    let app = app_for_checks(&store, ws).await;
    // More seats than SQLite's writer puts in one statement (64), so the duplicates meet
    // inside a statement of many rows.
    let biz = world::business(140);
    let mut batches = world::batches(&biz);
    // Twice in one batch, and again in a batch of its own.
    batches.push(Batch::Seats(vec![biz.0[3].clone(), biz.0[3].clone()]));
    batches.push(Batch::Grants(vec![biz.2[0].clone(), biz.2[1].clone()]));
    batches.push(Batch::Grants(vec![biz.2[0].clone()]));
    let first = run_check(&store, ws, app, &batches).await;
    assert_eq!(
        (
            first.seats_new,
            first.assets_new,
            first.grants_new,
            first.partners_new
        ),
        (
            140,
            biz.1.len() as u64,
            biz.2.len() as u64,
            biz.3.len() as u64
        ),
        "{first:?}"
    );
    assert_eq!(first.rematched, 1);
    let c = counts(&store, ws, app).await;
    assert_eq!((c["onboarded"], c["unmatched"]), (1, 139));
    let mut again = run_check(&store, ws, app, &world::batches(&biz)).await;
    again.report_id.clear();
    assert_eq!(again, castellan_store::CheckSummary::default(), "{again:?}");
}

/// A first check gathers the grants of lists that name a different holder in each row (per
/// asset) and writes them in sorted sweeps on SQLite, before the lists per holder that follow;
/// each grant lands once whichever way it came, and the next check finds nothing changed.
async fn a_first_check_lands_grants_listed_per_asset_and_per_holder_once(db: &TestDb) {
    use castellan_domain::platform::{Batch, GrantRecord};
    let store = db.store(Env::deterministic(clock(), 23)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let biz = world::business(60);
    let mut batches: Vec<Batch> = biz.0.chunks(7).map(|c| Batch::Seats(c.to_vec())).collect();
    batches.extend(biz.1.chunks(7).map(|c| Batch::Assets(c.to_vec())));
    // A0..A9 are listed per asset (a different holder in every row), the rest per holder.
    let per_asset = |g: &GrantRecord| g.asset_id[1..].parse::<u32>().expect("A<n>") < 10;
    for a in 0..10 {
        let list: Vec<GrantRecord> = biz
            .2
            .iter()
            .filter(|g| g.asset_id == format!("A{a}"))
            .cloned()
            .collect();
        assert!(list.len() > 2, "each asset has holders");
        batches.push(Batch::Grants(list));
    }
    let mut by_holder: Vec<GrantRecord> = biz.2.iter().filter(|g| !per_asset(g)).cloned().collect();
    // One grant of a per-asset list is listed again with its holder's.
    let twice = biz
        .2
        .iter()
        .find(|g| per_asset(g))
        .expect("a grant")
        .clone();
    let at = by_holder
        .iter()
        .position(|g| g.holder == twice.holder)
        .unwrap_or(0);
    by_holder.insert(at, twice);
    let mut holder_batch: Vec<GrantRecord> = Vec::new();
    for g in by_holder {
        if holder_batch.last().is_some_and(|l| l.holder != g.holder) {
            batches.push(Batch::Grants(std::mem::take(&mut holder_batch)));
        }
        holder_batch.push(g);
    }
    batches.push(Batch::Grants(holder_batch));
    batches.push(Batch::Partners(biz.3.clone()));
    let first = run_check(&store, ws, app, &batches).await;
    assert_eq!(first.grants_new, biz.2.len() as u64, "{first:?}");
    let mut again = run_check(&store, ws, app, &world::batches(&biz)).await;
    again.report_id.clear();
    assert_eq!(again, castellan_store::CheckSummary::default(), "{again:?}");
}

/// A coverage window's kept lists carry their grants forward, whether the connector names
/// them after the members (read beside the fetch) or before any (that read is stale, and the
/// end reads them again); a member gone takes its kept grants with it.
async fn kept_lists_carry_their_grants_however_early_they_are_named(db: &TestDb) {
    use castellan_domain::coverage::Kept;
    use castellan_domain::platform::{Batch, Holder};
    let store = db.store(Env::deterministic(clock(), 41)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let biz = world::business(30);
    run_check(&store, ws, app, &world::batches(&biz)).await;
    // A0..A9 kept, A10..A19 read.
    let kept: Vec<String> = (0..10).map(|i| format!("A{i}")).collect();
    let read = |g: &castellan_domain::platform::GrantRecord| !kept.contains(&g.asset_id);
    let check = |seats: Vec<castellan_domain::platform::SeatRecord>, kept_first: bool| {
        let mut batches = Vec::new();
        let named = Batch::Kept(kept.iter().map(|a| Kept::Holders(a.clone())).collect());
        if kept_first {
            batches.push(named.clone());
        }
        batches.extend(seats.chunks(7).map(|c| Batch::Seats(c.to_vec())));
        batches.extend(biz.1.chunks(7).map(|c| Batch::Assets(c.to_vec())));
        if !kept_first {
            batches.push(named);
        }
        let grants: Vec<_> = biz
            .2
            .iter()
            .filter(|g| read(g))
            .filter(|g| {
                seats
                    .iter()
                    .any(|s| g.holder == Holder::Member(s.user_id.clone()))
            })
            .cloned()
            .collect();
        batches.extend(grants.chunks(7).map(|c| Batch::Grants(c.to_vec())));
        batches.push(Batch::Partners(biz.3.clone()));
        batches
    };
    let store = &store;
    let run = |batches: Vec<Batch>| async move {
        run_check_as(store, ws, app, &batches, |r| r.keeping(true)).await
    };
    for kept_first in [false, true] {
        let s = run(check(biz.0.clone(), kept_first)).await;
        assert_eq!(s.rows_written, 0, "kept first: {kept_first}, {s:?}");
    }
    // A member who left loses its read and its kept grants at once.
    let gone = Holder::Member(biz.0[0].user_id.clone());
    let held = biz.2.iter().filter(|g| g.holder == gone).count() as u64;
    assert!(held > 0 && biz.2.iter().any(|g| g.holder == gone && !read(g)));
    let s = run(check(biz.0[1..].to_vec(), false)).await;
    assert_eq!((s.seats_vanished, s.grants_vanished), (1, held), "{s:?}");
}

async fn checks_in_many_passes_write_what_one_pass_writes(db: &TestDb) {
    use castellan_domain::platform::{Batch, Holder};
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 31)).await;
    let (one_ws, _) = workspace(&store, "one").await;
    let (many_ws, _) = workspace(&store, "many").await;
    let one = app_for_checks(&store, one_ws).await;
    let many = app_for_checks(&store, many_ws).await;
    let mut biz = world::business(80);
    for (ws, app) in [(one_ws, one), (many_ws, many)] {
        run_check(&store, ws, app, &world::batches(&biz)).await;
    }
    // Changes all over the buckets: 30 members leave (with their grants), 40 join with a
    // grant each, every tenth grant left changes its permission, a role changes.
    let gone: Vec<String> = biz.0.drain(10..40).map(|s| s.user_id).collect();
    biz.2
        .retain(|g| !matches!(&g.holder, Holder::Member(h) if gone.contains(h)));
    for i in 0..40 {
        let id = format!("{}", 7000 + i);
        biz.0.push(world::seat(
            &id,
            &format!("new{i}@acme.example.com"),
            "EMPLOYEE",
        ));
        biz.2
            .push(world::grant(&id, &format!("A{}", i % 20), "ANALYST"));
    }
    for g in biz.2.iter_mut().step_by(10) {
        g.permissions = vec!["CAMPAIGN_MANAGER".into()];
    }
    biz.0[0].roles = vec!["BIZ_ADMIN".into()];
    clock.advance(chrono::Duration::minutes(1));
    let batches: Vec<Batch> = world::batches(&biz);
    let mut a = run_check(&store, one_ws, one, &batches).await;
    let mut b = run_check_in_passes(&store, many_ws, many, &batches, 7).await;
    (a.report_id, b.report_id) = (String::new(), String::new());
    assert_eq!(a, b);
    assert_eq!(
        (a.seats_new, a.seats_vanished, a.seats_changed, a.grants_new),
        (40, 30, 1, 40),
        "{a:?}"
    );
    assert!(a.grants_vanished >= 30 && a.grants_changed > 0, "{a:?}");
    assert_eq!(
        counts(&store, one_ws, one).await,
        counts(&store, many_ws, many).await
    );
    for (ws, app) in [(one_ws, one), (many_ws, many)] {
        assert_eq!(
            run_check_in_passes(&store, ws, app, &batches, 7)
                .await
                .rows_written,
            0
        );
    }
    // Removing an app removes its snapshot rows (no cascade does it on PostgreSQL).
    store
        .ws(many_ws)
        .remove_app(&cli(), many, "test")
        .await
        .unwrap();
    for t in [
        "app_seats",
        "app_assets",
        "app_grants",
        "app_partners",
        "app_asset_holders",
    ] {
        let left: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM {t} WHERE app_id = $1"
        ))
        .bind(many.to_string())
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(left, 0, "{t}");
    }
    assert!(counts(&store, one_ws, one).await["unmatched"] > 0);
}

/// Each asset's holders (the Assets page) after a first check, and after later checks that add,
/// drop and bring back grants.
/// Member search: a case-folded substring of the e-mail, username or display name, never
/// across two of them; on SQLite the fields are matched one by one, on PostgreSQL their
/// lower-cased join (`search`, migration 0027), and both must answer alike.
async fn member_search_folds_case_within_each_field(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 29)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let mut biz = world::business(30);
    biz.0[3].display_name = Some("Ada LOVELACE".into());
    run_check(&store, ws, app, &world::batches(&biz)).await;
    let found = |q: &'static str| {
        let store = store.clone();
        async move {
            store
                .ws(ws)
                .seats(
                    app,
                    castellan_domain::apps::Tab::Seats(
                        castellan_domain::apps::SeatState::Unmatched,
                    ),
                    Some(q),
                    None,
                    100,
                )
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|s| s.user_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("PERSON12@").await, vec!["1012"], "e-mail, any case");
    assert_eq!(found("User1029").await, vec!["1029"], "username");
    assert_eq!(found("lovelace").await, vec!["1003"], "display name");
    assert_eq!(found("ada love").await, vec!["1003"]);
    assert!(
        found("example.comuser").await.is_empty(),
        "not across fields"
    );
    assert!(found("nobody").await.is_empty());
    assert_eq!(found("person2").await.len(), 11, "person2 and person20–29");
}

async fn asset_holders_follow_the_grants(db: &TestDb) {
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 25)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let holders = |id: &'static str| {
        let store = store.clone();
        async move {
            let page = store
                .ws(ws)
                .assets_with_holders(app, None, None, 100, 3)
                .await
                .unwrap();
            let a = page.items.into_iter().find(|a| a.asset_id == id).unwrap();
            let shown: Vec<String> = a.holders.into_iter().map(|h| h.holder).collect();
            (a.holders_total, shown)
        }
    };
    // Asset A0 is held by members 1000, 1020 and 1040 (i % 20) and 1013, 1033, 1053 (i + 7).
    let mut biz = world::business(60);
    run_check(&store, ws, app, &world::batches(&biz)).await;
    assert_eq!(
        holders("A0").await,
        (
            6,
            vec![
                "member:1000".into(),
                "member:1013".into(),
                "member:1020".into()
            ]
        )
    );
    assert_eq!(holders("A7").await.0, 6);

    // 1000 loses A0, 1001 gains it, and a new asset gets its first holder.
    biz.2.retain(|g| {
        !(g.asset_id == "A0"
            && g.holder == castellan_domain::platform::Holder::Member("1000".into()))
    });
    biz.2.push(world::grant("1001", "A0", "ANALYST"));
    biz.1.push(castellan_domain::platform::AssetRecord {
        id: "A99".into(),
        kind: "PROFILE".into(),
        name: None,
        owner_id: None,
    });
    biz.2.push(world::grant("1002", "A99", "ADMIN"));
    clock.advance(chrono::Duration::minutes(1));
    let later = run_check(&store, ws, app, &world::batches(&biz)).await;
    assert_eq!(
        (later.grants_new, later.grants_vanished),
        (2, 1),
        "{later:?}"
    );
    assert_eq!(
        holders("A0").await,
        (
            6,
            vec![
                "member:1001".into(),
                "member:1013".into(),
                "member:1020".into()
            ]
        )
    );
    assert_eq!(holders("A99").await, (1, vec!["member:1002".into()]));

    // The grant comes back: its holder is listed again, once.
    biz.2.push(world::grant("1000", "A0", "ADMIN"));
    clock.advance(chrono::Duration::minutes(1));
    run_check(&store, ws, app, &world::batches(&biz)).await;
    assert_eq!(
        holders("A0").await,
        (
            7,
            vec![
                "member:1000".into(),
                "member:1001".into(),
                "member:1013".into()
            ]
        )
    );
}

async fn first_check_that_dies_leaves_nothing_visible(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 21)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let biz = world::business(30);
    let batches = world::batches(&biz);
    {
        let task = castellan_domain::TaskId::new(store.env());
        let mut run = store.ws(ws).begin_check(app, task).await.unwrap();
        assert!(run.is_initial());
        for b in &batches[..5] {
            run.accept(b.clone()).await.unwrap();
        }
        // Rows are written, but nobody sees them before the check completes.
        assert!(counts(&store, ws, app).await.is_empty());
        // The run is dropped here, as by a killed process.
    }
    assert!(counts(&store, ws, app).await.is_empty());
    let page = store
        .ws(ws)
        .seats(
            app,
            castellan_domain::apps::Tab::Seats(castellan_domain::apps::SeatState::Unmatched),
            None,
            None,
            100,
        )
        .await
        .unwrap();
    assert!(page.items.is_empty());
    let done = run_check(&store, ws, app, &batches).await;
    assert_eq!(
        (done.seats_new, done.grants_new),
        (30, 60),
        "leftovers were cleared first"
    );
    assert_eq!(counts(&store, ws, app).await["unmatched"], 30);
    // A later check that dies changes nothing either.
    {
        let task = castellan_domain::TaskId::new(store.env());
        let mut run = store.ws(ws).begin_check(app, task).await.unwrap();
        assert!(!run.is_initial());
        run.accept(batches[0].clone()).await.unwrap();
    }
    assert_eq!(counts(&store, ws, app).await["unmatched"], 30);
    assert_eq!(run_check(&store, ws, app, &batches).await.rows_written, 0);
}

/// A check whose task was taken over by another worker stops writing: its transactions find
/// the lease gone, and nothing of it becomes visible.
async fn a_check_that_lost_its_lease_stops_writing(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 23)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let batches = world::batches(&world::business(30));
    store
        .ws(ws)
        .enqueue(
            &cli(),
            NewTask::new(
                TaskKind::from_static("app.check"),
                serde_json::json!({}),
                TaskTrigger::Person,
            ),
        )
        .await
        .unwrap();
    let lease = Duration::from_secs(30);
    let claimed = store
        .claim_task("w1", &["app.check"], lease)
        .await
        .unwrap()
        .unwrap();
    let mut run = store
        .ws(ws)
        .begin_check(app, claimed.task.id)
        .await
        .unwrap()
        .leased(castellan_store::CheckLease {
            owner: "w1".into(),
            lease,
        });
    run.accept(batches[0].clone()).await.unwrap();
    // Another worker takes the task over (as after an expired lease).
    sqlx::query("UPDATE tasks SET lease_owner = 'w2' WHERE id = $1")
        .bind(claimed.task.id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    let mut refused = None;
    for b in &batches[1..] {
        if let Err(e) = run.accept(b.clone()).await {
            refused = Some(e);
            break;
        }
    }
    let e = match refused {
        Some(e) => e,
        None => run.finish(&cli(), Default::default()).await.unwrap_err(),
    };
    assert!(
        matches!(&e, castellan_store::StoreError::Conflict { field, .. } if field == "lease"),
        "{e:?}"
    );
    assert!(
        counts(&store, ws, app).await.is_empty(),
        "nothing became visible"
    );
    let a = store.ws(ws).app(app).await.unwrap();
    assert!(a.last_check_at.is_none());
}

async fn missing_digests_are_rebuilt(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 22)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let mut biz = world::business(40);
    run_check(&store, ws, app, &world::batches(&biz)).await;
    // As after the upgrade that introduced digests: none stored, every row in bucket 0.
    sqlx::query("DELETE FROM app_digests")
        .execute(store.pool())
        .await
        .unwrap();
    for t in ["app_seats", "app_assets", "app_grants", "app_partners"] {
        sqlx::query(&format!("UPDATE {t} SET bucket = 0"))
            .execute(store.pool())
            .await
            .unwrap();
    }
    let rebuilt = run_check(&store, ws, app, &world::batches(&biz)).await;
    assert_eq!(rebuilt.rows_written, 0, "{rebuilt:?}");
    biz.0[0].email = Some("moved@acme.example.com".into());
    let changed = run_check(&store, ws, app, &world::batches(&biz)).await;
    assert_eq!((changed.seats_changed, changed.rows_written), (1, 1));
    assert_eq!(
        run_check(&store, ws, app, &world::batches(&biz))
            .await
            .rows_written,
        0
    );
}

async fn one_task_holds_an_app(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 23)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut t = NewTask::new(
            TaskKind::from_static("app.check"),
            serde_json::json!({}),
            TaskTrigger::Person,
        );
        t.app_id = Some(app);
        ids.push(store.ws(ws).enqueue(&cli(), t).await.unwrap().id);
    }
    let a = store
        .claim_task("w1", &["app.check"], Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let b = store
        .claim_task("w2", &["app.check"], Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(store.ws(ws).acquire_app(app, a.task.id).await.unwrap());
    assert!(
        store.ws(ws).acquire_app(app, a.task.id).await.unwrap(),
        "holding again is fine"
    );
    assert!(!store.ws(ws).acquire_app(app, b.task.id).await.unwrap());
    // Once the holder is no longer running, the app is free even without a release.
    store
        .finish_task(&a, TaskEnd::Completed(serde_json::json!({})))
        .await
        .unwrap();
    assert!(store.ws(ws).acquire_app(app, b.task.id).await.unwrap());
    store.ws(ws).release_app(app, b.task.id).await.unwrap();
    assert!(store.ws(ws).acquire_app(app, ids[0]).await.unwrap());
}

async fn directory_changes_rematch_without_rewriting(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 24)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let mut biz = world::business(10);
    biz.0[1].email = Some("person1@acme.co.uk".into());
    let batches = world::batches(&biz);
    run_check(&store, ws, app, &batches).await;
    assert_eq!(counts(&store, ws, app).await["unmatched"], 10);
    store
        .ws(ws)
        .create_identity(
            &cli(),
            &identity("p0", "person0@acme.example.com", true),
            "api",
        )
        .await
        .unwrap();
    store
        .ws(ws)
        .create_identity(
            &cli(),
            &identity("p1", "person1@acme.example.com", true),
            "api",
        )
        .await
        .unwrap();
    let s = run_check(&store, ws, app, &batches).await;
    assert_eq!((s.rows_written, s.rematched), (0, 1));
    // A domain alias in the settings matches the second one.
    store
        .ws(ws)
        .update_workspace(
            &cli(),
            None,
            Some(&serde_json::json!({ "email_domain_aliases": { "acme.co.uk": "acme.example.com" } })),
        )
        .await
        .unwrap();
    let s = run_check(&store, ws, app, &batches).await;
    assert_eq!((s.rows_written, s.rematched), (0, 1));
    assert_eq!(counts(&store, ws, app).await["onboarded"], 2);
    // Nothing changed anywhere: matching is not even run.
    assert_eq!(run_check(&store, ws, app, &batches).await.rematched, 0);
}
