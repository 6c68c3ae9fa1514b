//! Password rotation with a passed-in clock, on both backends: an app's policy makes a
//! connected card due, the scheduler claims it once, the task seals a new password as pending
//! and tells the holders, an Owner confirms, and the earlier password stays sealed.

use std::sync::Arc;

use castellan_domain::apps::{AppRole, CardStatus, Platform};
use castellan_domain::clock::FixedClock;
use castellan_domain::directory::{IdentityInput, JSON_FIELDS, RawIdentity};
use castellan_domain::values::Email;
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{Clock, Env, Timestamp};
use castellan_services::accounts::{Credentials, Holder, NewAccount};
use castellan_testkit::{TestDb, cli};

#[tokio::test]
async fn rotation_falls_due_and_is_confirmed_sqlite() {
    rotation(castellan_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn rotation_falls_due_and_is_confirmed_postgres() {
    rotation(castellan_store::Backend::Postgres).await;
}

async fn rotation(backend: castellan_store::Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let t0: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let clock = Arc::new(FixedClock::new(t0));
    let store = db.store(Env::deterministic(clock.clone(), 11)).await;
    let svc = castellan_testkit::services(&store);
    let (w, _) = store
        .create_workspace_with_owner(
            "rot",
            &Email::parse("email", "owner@rot.example.com").unwrap(),
            "not-a-hash",
            &cli(),
        )
        .await
        .unwrap();
    let ws = w.id;
    let (account, _) = castellan_services::accounts::create_automation_account(
        &svc,
        ws,
        &cli(),
        Platform::Pinterest,
        NewAccount {
            label: "bot".into(),
            email: "bot@rot.example.com".into(),
            password: "bot-password-123".into(),
            access_token: Some("tok".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let scoped = store.ws(ws);
    let app = scoped
        .create_app(
            &cli(),
            &castellan_store::NewApp {
                platform: Platform::Pinterest,
                label: "Acme Pins".into(),
                business_id: "1".into(),
                login_method: castellan_domain::apps::LoginMethod::Password,
                automation_account_id: account.id,
                api_base_url: None,
                next_check_at: None,
            },
        )
        .await
        .unwrap();
    let input = IdentityInput::validate(
        &RawIdentity {
            user_name: "ann",
            primary_email: "ann@rot.example.com",
            active: true,
            ..Default::default()
        },
        &JSON_FIELDS,
    )
    .unwrap();
    let ann = scoped.create_identity(&cli(), &input, "api").await.unwrap();
    let card = scoped
        .share_app_card(&cli(), &app, ann.id, AppRole::Owner, serde_json::json!({}))
        .await
        .unwrap();
    let person = scoped
        .create_person(
            &cli(),
            &Email::parse("email", "ann@rot.example.com").unwrap(),
            None,
            WorkspaceRole::Member,
            None,
        )
        .await
        .unwrap();
    let who = Holder {
        person: person.id,
        email: person.email.clone(),
    };
    castellan_services::accounts::connect_account(
        &svc,
        ws,
        &cli(),
        &who,
        card.id,
        Credentials {
            login: "ann@rot.example.com".into(),
            password: "Old-Password-1".into(),
            totp: None,
        },
    )
    .await
    .unwrap();
    let reveal = || async {
        castellan_services::accounts::reveal_account(&svc, ws, &cli(), &who, card.id, None, None)
            .await
            .unwrap()
    };

    // Every 30 days: not due at 29, due at 30, claimed once.
    castellan_services::rotation::set_policy(&svc, ws, &cli(), app.id, "schedule", Some(30))
        .await
        .unwrap();
    clock.advance(chrono::Duration::days(29));
    assert!(
        castellan_services::rotation::tick(&store)
            .await
            .unwrap()
            .is_empty()
    );
    clock.advance(chrono::Duration::days(1));
    let queued = castellan_services::rotation::tick(&store).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(
        castellan_services::rotation::tick(&store)
            .await
            .unwrap()
            .is_empty(),
        "claimed once"
    );
    let task = scoped.task(queued[0]).await.unwrap();
    assert_eq!(task.kind.as_str(), "account.rotate");

    // The task's work: a pending password, the card Rotation due, the holder told.
    let c = castellan_services::rotation::rotate(&svc, ws, card.id)
        .await
        .unwrap();
    assert_eq!(c.status, CardStatus::RotationDue);
    let r = reveal().await;
    assert_eq!(r.password.expose(), "Old-Password-1");
    let new = r
        .pending_password
        .expect("a new password waits")
        .expose()
        .to_string();
    assert_eq!(new.len(), 24);
    let mail = scoped.outbox(None, 10).await.unwrap().items;
    let told = mail
        .iter()
        .find(|e| e.subject.contains("New password"))
        .expect("the holders are told");
    assert_eq!(told.recipients, vec!["ann@rot.example.com".to_string()]);
    assert!(!told.body.contains(&new), "the e-mail carries no password");
    // Rotating again while one waits changes nothing.
    assert_eq!(
        castellan_services::rotation::rotate(&svc, ws, card.id)
            .await
            .unwrap()
            .status,
        CardStatus::RotationDue
    );
    assert_eq!(reveal().await.pending_password.unwrap().expose(), new);

    // The Owner confirms: the new password is the password; the old one stays sealed.
    let c = castellan_services::rotation::confirm(&svc, ws, &cli(), &who, card.id)
        .await
        .unwrap();
    assert_eq!(c.status, CardStatus::Connected);
    let r = reveal().await;
    assert_eq!(r.password.expose(), new);
    assert!(r.pending_password.is_none());
    assert_eq!(
        scoped.password_versions(card.id).await.unwrap(),
        vec![clock.now()]
    );
    assert!(
        castellan_services::rotation::confirm(&svc, ws, &cli(), &who, card.id)
            .await
            .is_err()
    );

    // Seven days after the last reveal.
    castellan_services::rotation::set_policy(&svc, ws, &cli(), app.id, "after_reveal", Some(7))
        .await
        .unwrap();
    clock.advance(chrono::Duration::days(7) - chrono::Duration::seconds(1));
    assert!(
        castellan_services::rotation::tick(&store)
            .await
            .unwrap()
            .is_empty()
    );
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        castellan_services::rotation::tick(&store)
            .await
            .unwrap()
            .len(),
        1
    );
    let events = scoped
        .audit_list(&Default::default(), None, 500)
        .await
        .unwrap()
        .items;
    for action in ["app.rotation", "account.rotate", "account.rotation.confirm"] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
}
