//! Store conformance for what people and tasks write about seats and cards, on SQLite and
//! PostgreSQL: a manual match, the digests a recorded platform change leaves, sharing a card,
//! claiming due rotations, and consuming a consent page's one-time state.

use castellan_domain::apps::{AppRole, CardStatus, MatchSource, Platform, SeatState};
use castellan_domain::changes::{Change, Step};
use castellan_domain::platform::{Applied, Batch};
use castellan_domain::values::Email;
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{Env, SecretId};
use castellan_store::{SealedSecret, ShareTarget, StoreError};
use castellan_testkit::TestDb;

#[macro_use]
mod support;

use support::world::{batches, business, seat};
use support::*;

conformance!(
    matching_a_seat_is_sticky_and_stays_in_its_workspace,
    a_recorded_change_leaves_digests_that_match_the_platform,
    sharing_a_card_reaches_its_holder_until_unshared,
    due_rotations_are_claimed_once,
    a_consent_state_is_consumed_once_and_not_after_it_expires,
);

async fn matching_a_seat_is_sticky_and_stays_in_its_workspace(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 31)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let (other, _) = workspace(&store, "globex").await;
    let ann = store
        .ws(ws)
        .create_identity(
            &cli(),
            &identity("ann", "ann@acme.example.com", true),
            "api",
        )
        .await
        .unwrap();
    let app = app_for_checks(&store, ws).await;
    // A personal address matches nobody: the seat is Unmatched.
    let snapshot = vec![Batch::Seats(vec![seat(
        "2001",
        "ann.p@gmail.com",
        "EMPLOYEE",
    )])];
    run_check(&store, ws, app, &snapshot).await;
    let before = store.ws(ws).seat_by_id(app, "2001").await.unwrap().unwrap();
    assert_eq!(before.state, SeatState::Unmatched);

    let full = store.ws(ws).app(app).await.unwrap();
    let matched = store
        .ws(ws)
        .match_seat(&cli(), &full, "2001", ann.id, AppRole::Collaborator)
        .await
        .unwrap();
    assert_eq!(matched.state, SeatState::Onboarded);
    assert_eq!(matched.identity_id, Some(ann.id));
    assert_eq!(matched.match_source, Some(MatchSource::Manual));
    // The person got a card on the app with the role.
    let cards = store.ws(ws).account_cards(None, 50).await.unwrap().items;
    let card = cards
        .iter()
        .find(|c| c.app_id == Some(app) && c.identity_id == Some(ann.id))
        .expect("a card for the matched person");
    assert_eq!(card.app_role, Some(AppRole::Collaborator));
    // A later check of the same business leaves the manual match alone.
    let again = run_check(&store, ws, app, &snapshot).await;
    assert_eq!(again.rows_written, 0);
    let after = store.ws(ws).seat_by_id(app, "2001").await.unwrap().unwrap();
    assert_eq!(
        (after.state, after.identity_id, after.match_source),
        (
            SeatState::Onboarded,
            Some(ann.id),
            Some(MatchSource::Manual)
        )
    );
    // Another workspace finds neither the app nor the seat.
    assert!(matches!(
        store.ws(other).app(app).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .ws(other)
            .seat_by_id(app, "2001")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_recorded_change_leaves_digests_that_match_the_platform(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 32)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let app = app_for_checks(&store, ws).await;
    let mut world = business(12);
    let first = run_check(&store, ws, app, &batches(&world)).await;
    assert_eq!(first.seats_new, 12);

    // Castellan removes seat 1003; the platform confirms it is gone.
    let step = Step {
        change: Change::RemoveMember {
            user_id: "1003".into(),
            email: Some("person3@acme.example.com".into()),
        },
        seat: "1003".into(),
        summary: "remove person3".into(),
    };
    let applied = Applied {
        already: false,
        seat: None,
        grant: None,
    };
    store
        .ws(ws)
        .record_applied(&cli(), app, None, &step, &applied)
        .await
        .unwrap();
    // The seat left the live tabs at once.
    let gone = store.ws(ws).seat_by_id(app, "1003").await.unwrap();
    assert!(
        gone.as_ref().is_none_or(|s| s.state == SeatState::Removed),
        "{gone:?}"
    );
    assert_eq!(counts(&store, ws, app).await.get("unmatched"), Some(&11));

    // The platform now shows the business without that member and its grants. The digests
    // the recorded change left are exactly those of a first check of that business (in
    // another workspace), and the next check writes nothing.
    world.0.retain(|s| s.user_id != "1003");
    world
        .2
        .retain(|g| g.holder != castellan_domain::platform::Holder::Member("1003".into()));
    let (fresh_ws, _) = workspace(&store, "globex").await;
    let fresh = app_for_checks(&store, fresh_ws).await;
    run_check(&store, fresh_ws, fresh, &batches(&world)).await;
    let (recorded, expected) = (digests(&store, app).await, digests(&store, fresh).await);
    assert_eq!(recorded.len(), 4);
    assert!(
        recorded == expected,
        "the recorded change left digests unlike the platform's"
    );
    let next = run_check(&store, ws, app, &batches(&world)).await;
    assert_eq!(
        (next.rows_written, next.seats_vanished, next.grants_vanished),
        (0, 0, 0),
        "{next:?}"
    );
}

async fn sharing_a_card_reaches_its_holder_until_unshared(db: &TestDb) {
    let store = db.store(Env::deterministic(clock(), 33)).await;
    let (ws, owner) = workspace(&store, "acme").await;
    let (other, _) = workspace(&store, "globex").await;
    let ben_mail = "ben@acme.example.com";
    let ben = store
        .ws(ws)
        .create_person(
            &cli(),
            &Email::parse("email", ben_mail).unwrap(),
            None,
            WorkspaceRole::Member,
            None,
        )
        .await
        .unwrap();
    let card = store
        .ws(ws)
        .add_card(&cli(), owner, Platform::Tiktok, "Acme TikTok")
        .await
        .unwrap();
    let held = |s: &castellan_store::Store| {
        let s = s.clone();
        async move {
            s.ws(ws)
                .held_cards(ben.id, ben_mail)
                .await
                .unwrap()
                .into_iter()
                .map(|h| (h.card.id, h.role))
                .collect::<Vec<_>>()
        }
    };
    assert!(held(&store).await.is_empty());

    let share = store
        .ws(ws)
        .share_card(
            &cli(),
            card.id,
            ShareTarget::Person(ben.id),
            AppRole::Collaborator,
        )
        .await
        .unwrap();
    assert_eq!(share.with, ben_mail);
    assert_eq!(store.ws(ws).shares(card.id).await.unwrap().len(), 1);
    assert_eq!(held(&store).await, vec![(card.id, AppRole::Collaborator)]);
    // Another workspace cannot share it.
    assert!(matches!(
        store
            .ws(other)
            .share_card(&cli(), card.id, ShareTarget::Person(ben.id), AppRole::Owner)
            .await,
        Err(StoreError::NotFound(_))
    ));

    store
        .ws(ws)
        .unshare_card(&cli(), card.id, share.id)
        .await
        .unwrap();
    assert!(store.ws(ws).shares(card.id).await.unwrap().is_empty());
    assert!(held(&store).await.is_empty());
}

async fn due_rotations_are_claimed_once(db: &TestDb) {
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 34)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let ann = store
        .ws(ws)
        .create_identity(
            &cli(),
            &identity("ann", "ann@acme.example.com", true),
            "api",
        )
        .await
        .unwrap();
    let app = app_for_checks(&store, ws).await;
    run_check(
        &store,
        ws,
        app,
        &[Batch::Seats(vec![seat(
            "2001",
            "ann@acme.example.com",
            "EMPLOYEE",
        )])],
    )
    .await;
    let full = store.ws(ws).app(app).await.unwrap();
    store
        .ws(ws)
        .match_seat(&cli(), &full, "2001", ann.id, AppRole::Owner)
        .await
        .unwrap();
    let card = store
        .ws(ws)
        .account_cards(None, 50)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|c| c.identity_id == Some(ann.id))
        .unwrap();
    let sealed = SealedSecret {
        id: SecretId::new(store.env()),
        name: "password".into(),
        sealed: "sealed-by-the-vault".into(),
        key_version: 1,
    };
    let connected = store
        .ws(ws)
        .connect_card(&cli(), card.id, &[sealed])
        .await
        .unwrap();
    assert_eq!(connected.status, CardStatus::Connected);
    store
        .ws(ws)
        .set_rotation(
            &cli(),
            app,
            Some(castellan_domain::passwords::Rotation::Schedule { days: 30 }),
        )
        .await
        .unwrap();

    // Not due yet; due after 30 days, claimed once however often the scheduler asks.
    assert!(
        store
            .claim_due_rotations(store.env().now())
            .await
            .unwrap()
            .is_empty()
    );
    clock.advance(chrono::Duration::days(31));
    let now = store.env().now();
    let due = store.claim_due_rotations(now).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].workspace_id, due[0].card), (ws, card.id));
    assert!(store.claim_due_rotations(now).await.unwrap().is_empty());
    clock.advance(chrono::Duration::days(1));
    assert!(
        store
            .claim_due_rotations(store.env().now())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_consent_state_is_consumed_once_and_not_after_it_expires(db: &TestDb) {
    let clock = clock();
    let store = db.store(Env::deterministic(clock.clone(), 35)).await;
    let (ws, _) = workspace(&store, "acme").await;
    let (acct, _) = store
        .ws(ws)
        .create_automation_account(
            &cli(),
            &castellan_store::NewAutomationAccount {
                platform: Platform::Tiktok,
                label: "bot".into(),
                email: "bot@acme.example.com".into(),
                phone: None,
                token_scopes: None,
                token_expires_at: None,
                secrets: Vec::new(),
            },
        )
        .await
        .unwrap();
    let now = store.env().now();
    for (hash, expires) in [
        ("fresh", now + chrono::Duration::minutes(15)),
        ("stale", now + chrono::Duration::minutes(1)),
    ] {
        store
            .ws(ws)
            .create_oauth_state(
                &cli(),
                acct.id,
                Platform::Tiktok,
                hash,
                "https://castellan.example.com/api/v1/oauth/callback",
                expires,
                None,
            )
            .await
            .unwrap();
    }
    let found = store.consume_oauth_state("fresh").await.unwrap().unwrap();
    assert_eq!(
        (
            found.workspace_id,
            found.automation_account_id,
            found.platform
        ),
        (ws, acct.id, Platform::Tiktok)
    );
    assert_eq!(
        found.redirect_uri,
        "https://castellan.example.com/api/v1/oauth/callback"
    );
    assert!(store.consume_oauth_state("fresh").await.unwrap().is_none());
    assert!(
        store
            .consume_oauth_state("unknown")
            .await
            .unwrap()
            .is_none()
    );
    clock.advance(chrono::Duration::minutes(2));
    assert!(store.consume_oauth_state("stale").await.unwrap().is_none());
}

/// An app's stored digests, table by table.
async fn digests(
    store: &castellan_store::Store,
    app: castellan_domain::AppId,
) -> Vec<(String, String)> {
    use sqlx::Row;
    sqlx::query("SELECT tbl, digests FROM app_digests WHERE app_id = $1 ORDER BY tbl")
        .bind(app.to_string())
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("tbl"), r.get("digests")))
        .collect()
}
