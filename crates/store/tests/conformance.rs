//! The store conformance suite: every case is written once and run against SQLite and
//! PostgreSQL (`conformance::sqlite::*`, `conformance::postgres::*`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use castellan_domain::audit::{Actor, Outcome};
use castellan_domain::auth::ApiScope;
use castellan_domain::directory::{IdentityInput, JSON_FIELDS, RawIdentity, plan_csv_import};
use castellan_domain::tasks::{TaskKind, TaskStatus, TaskTrigger};
use castellan_domain::values::Email;
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{Env, FixedClock, IdentityId, PersonId};
use castellan_store::testing::TestDb;
use castellan_store::{
    AuditFilter, IdentityFilter, NewTask, PersonUpdate, Store, StoreError, TaskEnd, TaskFilter,
};

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(castellan_domain::clock::from_millis(
        1_800_000_000_000,
    )))
}

fn cli() -> Actor {
    Actor::Automation {
        name: "test".into(),
    }
}

fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

async fn workspace(store: &Store, name: &str) -> (castellan_domain::WorkspaceId, PersonId) {
    let (w, p) = store
        .create_workspace_with_owner(
            name,
            &email(&format!("owner@{name}.example.com")),
            "hash",
            &cli(),
        )
        .await
        .unwrap();
    (w.id, p.id)
}

fn identity(user: &str, mail: &str, active: bool) -> IdentityInput {
    IdentityInput::validate(
        &RawIdentity {
            user_name: user,
            primary_email: mail,
            active,
            given_name: "Given",
            ..Default::default()
        },
        &JSON_FIELDS,
    )
    .unwrap()
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = castellan_store::testing::TestDb::sqlite();
                    super::$case(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = castellan_store::testing::TestDb::postgres().await else { return };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

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
    let again = s
        .import_identities(&cli(), &plan.rows, plan.groups_column, "people.csv")
        .await
        .unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 300));
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
    assert!(matches!(missing, StoreError::Invalid(_)));
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
    store.task_log(&c.task, "info", "hello").await.unwrap();
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
