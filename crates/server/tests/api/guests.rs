//! Guest users over the API (invite, the sealed link, accept once, what a guest reaches, their
//! own accounts shared with the workspace, revoke), sign-in links with a passed-in clock on
//! both backends, and *Share access to the app* on both platforms through the emulators.

use std::sync::Arc;

use castellan_domain::auth::ApiScope;
use castellan_domain::clock::FixedClock;
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{Env, Timestamp};
use castellan_testkit::{TestApp, TestDb, cli, error_of};
use serde_json::{Value, json};

use crate::support::{P, PINTEREST, TIKTOK, audit_count, emu_state, post, seat};

const GUEST_PASSWORD: &str = "guest password 4711";

/// The token of the sign-in link in an e-mail body.
fn token_in(body: &str) -> String {
    let at = body.find("/welcome?token=").expect("a sign-in link") + "/welcome?token=".len();
    body[at..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_guest_story_over_the_api() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    let r = app
        .post(&t, "/api/v1/guests")
        .json(&json!({ "email": "pat@partner.example.com", "display_name": "Pat Partner" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let g: Value = r.json().await.unwrap();
    assert_eq!(
        (g["person"]["role"].as_str(), g["invite"].as_str()),
        (Some("guest"), Some("pending"))
    );
    let guest = g["person"]["id"].as_str().unwrap().to_string();
    let email_id = g["email_id"].as_str().unwrap().to_string();
    // The outbox keeps the e-mail without its link; an Owner's reveal shows it, audited.
    let outbox = app
        .get(&t, "/api/v1/outbox")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        outbox.contains("pat@partner.example.com") && !outbox.contains("token="),
        "{outbox}"
    );
    let r = app
        .post(&t, &format!("/api/v1/outbox/{email_id}/reveal"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let token = token_in(r.json::<Value>().await.unwrap()["body"].as_str().unwrap());
    assert_eq!(audit_count_on(&app, &t, "email.reveal").await, 1);
    assert!(!String::from_utf8_lossy(&crate::accounts::db_files(&app)).contains(&token));
    // A Member may not reveal e-mails or invite guests.
    let member = app.person(ws, WorkspaceRole::Member).await;
    let mt = app.token(ws, member, ApiScope::Admin).await;
    let r = app
        .post(&mt, &format!("/api/v1/outbox/{email_id}/reveal"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The link sets the password once.
    let accept = |pw: &'static str| {
        app.http
            .post(app.url("/api/v1/guest-links/accept"))
            .json(&json!({ "token": token, "password": pw }))
            .send()
    };
    let (st, e) = error_of(accept("short").await.unwrap()).await;
    assert_eq!((st, e["field"].as_str()), (400, Some("password")));
    let r = accept(GUEST_PASSWORD).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(accept(GUEST_PASSWORD).await.unwrap().status(), 404);
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "pat@partner.example.com", "password": GUEST_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A guest reaches their accounts and nothing else.
    let gt = app.token(ws, guest.parse().unwrap(), ApiScope::Write).await;
    for path in [
        "/api/v1/apps",
        "/api/v1/directory/identities",
        "/api/v1/audit/events",
        "/api/v1/people",
        "/api/v1/guests",
        "/api/v1/tasks",
        "/api/v1/accounts",
        "/api/v1/outbox",
    ] {
        assert_eq!(
            app.get(&gt, path).send().await.unwrap().status(),
            403,
            "{path}"
        );
    }
    let r = app
        .post(&gt, "/api/v1/me/accounts")
        .json(&json!({ "platform": "pinterest", "label": "Partner monitor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let card = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(&gt, &format!("/api/v1/accounts/{card}/connect"))
        .json(&json!({ "login": "monitor@partner.example.com", "password": "Partner-Pw-5512", "totp": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let admin = app.person(ws, WorkspaceRole::Admin).await;
    let r = app
        .post(&gt, &format!("/api/v1/accounts/{card}/shares"))
        .json(&json!({ "person_id": admin.to_string(), "role": "collaborator" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let at = app.token(ws, admin, ApiScope::Write).await;
    let mine: Value = app
        .get(&at, "/api/v1/me/accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .any(|h| h["id"] == card.as_str()),
        "{mine}"
    );
    let r: Value = app
        .post(&at, &format!("/api/v1/accounts/{card}/reveal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["login"], "monitor@partner.example.com");
    assert_eq!(r["totp_code"].as_str().map(str::len), Some(6));
    // Guests are Collaborators only on what others share with them.
    let r = app
        .post(&at, "/api/v1/me/accounts")
        .json(&json!({ "platform": "tiktok", "label": "Admin's own" }))
        .send()
        .await
        .unwrap();
    let own = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, e) = error_of(
        app.post(&at, &format!("/api/v1/accounts/{own}/shares"))
            .json(&json!({ "person_id": guest, "role": "owner" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("role")));
    // Revoked: the guest's token stops working.
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/guests/{guest}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.get(&gt, "/api/v1/me").send().await.unwrap().status(),
        401
    );
    for action in [
        "guest.invite",
        "guest.accept",
        "guest.revoke",
        "account.add",
        "account.share",
    ] {
        assert!(audit_count_on(&app, &t, action).await >= 1, "{action}");
    }
}

async fn audit_count_on(app: &TestApp, t: &str, action: &str) -> usize {
    let v: Value = app
        .get(
            t,
            &format!("/api/v1/audit/events?action={action}&limit=500"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .count()
}

#[tokio::test]
async fn sign_in_links_are_single_use_and_expire_sqlite() {
    links_with_a_clock(castellan_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn sign_in_links_are_single_use_and_expire_postgres() {
    links_with_a_clock(castellan_store::Backend::Postgres).await;
}

async fn links_with_a_clock(backend: castellan_store::Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let start: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let clock = Arc::new(FixedClock::new(start));
    let store = db.store(Env::deterministic(clock.clone(), 7)).await;
    let svc = castellan_testkit::services(&store);
    let (w, _) = store
        .create_workspace_with_owner(
            "links",
            &castellan_domain::values::Email::parse("email", "owner@links.example.com").unwrap(),
            "not-a-hash",
            &cli(),
        )
        .await
        .unwrap();
    let link_of = |svc: castellan_services::Services, email_id: String| async move {
        let e = svc.store.ws(w.id).email(&email_id).await.unwrap();
        token_in(
            &castellan_services::guests::full_body(&svc, w.id, &e)
                .await
                .unwrap(),
        )
    };
    // Single use.
    let (_, inv) =
        castellan_services::guests::invite(&svc, w.id, &cli(), "one@x.example.com", None)
            .await
            .unwrap();
    let one = link_of(svc.clone(), inv.email_id.clone().unwrap()).await;
    assert!(
        castellan_services::guests::accept(&svc, &one, "hash-1")
            .await
            .is_ok()
    );
    assert!(
        castellan_services::guests::accept(&svc, &one, "hash-2")
            .await
            .is_err()
    );
    // Valid for 72 hours, not a second more.
    let (two_p, inv) =
        castellan_services::guests::invite(&svc, w.id, &cli(), "two@x.example.com", None)
            .await
            .unwrap();
    let two = link_of(svc.clone(), inv.email_id.clone().unwrap()).await;
    clock.advance(chrono::Duration::hours(72) - chrono::Duration::seconds(1));
    assert!(
        castellan_services::guests::open_link(&svc, &two)
            .await
            .is_ok()
    );
    clock.advance(chrono::Duration::seconds(1));
    assert!(
        castellan_services::guests::open_link(&svc, &two)
            .await
            .is_err()
    );
    assert!(
        castellan_services::guests::accept(&svc, &two, "hash-3")
            .await
            .is_err()
    );
    assert_eq!(
        store
            .ws(w.id)
            .guest(two_p.id)
            .await
            .unwrap()
            .invite
            .unwrap()
            .state(castellan_domain::Clock::now(clock.as_ref())),
        castellan_store::guests::InviteState::Expired
    );
    // A resent link works; the earlier one stays dead.
    let inv = castellan_services::guests::resend(&svc, w.id, &cli(), two_p.id)
        .await
        .unwrap();
    let three = link_of(svc.clone(), inv.email_id.clone().unwrap()).await;
    assert_ne!(two, three);
    assert!(
        castellan_services::guests::accept(&svc, &three, "hash-4")
            .await
            .is_ok()
    );
    assert!(
        castellan_services::guests::accept(&svc, &two, "hash-5")
            .await
            .is_err()
    );
    // A revoked guest's link no longer works.
    let (four_p, inv) =
        castellan_services::guests::invite(&svc, w.id, &cli(), "four@x.example.com", None)
            .await
            .unwrap();
    let four = link_of(svc.clone(), inv.email_id.clone().unwrap()).await;
    castellan_services::guests::revoke(&svc, w.id, &cli(), four_p.id)
        .await
        .unwrap();
    assert!(
        castellan_services::guests::accept(&svc, &four, "hash-6")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn share_access_to_a_pinterest_app() {
    share_access(&PINTEREST).await;
}

#[tokio::test]
async fn share_access_to_a_tiktok_app() {
    share_access(&TIKTOK).await;
}

/// An Owner shares the app with a directory person: their card, the platform's invitation
/// through the connector; accepted in the emulator, the next check links the seat to the card.
async fn share_access(p: &P) {
    let Some(s) = crate::support::setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    assert_eq!(s.check(&app).await["status"], "completed");
    let (_, ann) = post(
        &s,
        "/api/v1/directory/identities",
        json!({ "user_name": "ann.lee", "primary_email": "ann.lee@acme.example.com" }),
    )
    .await;
    let ann_id = ann["id"].as_str().unwrap().to_string();
    // Refused as a whole for a bad role; nothing is written.
    let other_role = if p.name == "pinterest" {
        "STANDARD"
    } else {
        "EMPLOYEE"
    };
    let (st, v) = post(
        &s,
        &format!("/api/v1/apps/{app}/access"),
        json!({ "identity_ids": [ann_id], "app_role": "collaborator", "business_role": other_role }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("role")),
        "{v}"
    );
    // The plan first: the invitation's exact call, nothing sent, no card written.
    let (st, plan) = post(
        &s,
        &format!("/api/v1/apps/{app}/access"),
        json!({ "identity_ids": [ann_id], "app_role": "collaborator", "business_role": p.employee, "dry_run": true }),
    )
    .await;
    assert_eq!(st, 200, "{plan}");
    let inv = &plan["invitations"][0];
    assert_eq!(inv["email"], "ann.lee@acme.example.com", "{plan}");
    let calls = inv["plan"]["steps"][0]["calls"].to_string();
    assert!(calls.contains("ann.lee@acme.example.com"), "{calls}");
    assert_eq!(
        crate::support::schema_errors("SharePlanBody", &plan),
        Vec::<String>::new()
    );
    // A hash of another plan (the role on the app differs) is refused and sends nothing.
    let (st, other) = post(
        &s,
        &format!("/api/v1/apps/{app}/access"),
        json!({ "identity_ids": [ann_id], "app_role": "owner", "business_role": p.employee, "dry_run": true }),
    )
    .await;
    assert_eq!(st, 200);
    let (st, v) = post(
        &s,
        &format!("/api/v1/apps/{app}/access"),
        json!({ "identity_ids": [ann_id], "app_role": "collaborator", "business_role": p.employee, "plan_hash": other["input_hash"] }),
    )
    .await;
    assert_eq!(st, 409, "{v}");
    let (st, v) = post(
        &s,
        &format!("/api/v1/apps/{app}/access"),
        json!({ "identity_ids": [ann_id], "app_role": "collaborator", "business_role": p.employee, "plan_hash": plan["input_hash"] }),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let shared = &v[0];
    assert_eq!(shared["card"]["status"], "connect_your_account");
    let task = s.wait_task(shared["task"]["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "completed", "{task}");
    let ann_person = s
        .app
        .store
        .ws(s.ws)
        .create_person(
            &cli(),
            &castellan_domain::values::Email::parse("email", "ann.lee@acme.example.com").unwrap(),
            Some("Ann Lee"),
            WorkspaceRole::Member,
            None,
        )
        .await
        .unwrap();
    let ann_token = s.app.token(s.ws, ann_person.id, ApiScope::Write).await;
    let mine: Value = s
        .app
        .get(&ann_token, "/api/v1/me/accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["id"], shared["card"]["id"], "{mine}");
    assert_eq!(mine[0]["app_role"], "collaborator");
    // The invitation is on the platform; Ann accepts it there.
    let state = emu_state(&s, p).await;
    if p.name == "pinterest" {
        let inv = state["invites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["invitee"] == "ann.lee@acme.example.com")
            .unwrap_or_else(|| panic!("{state}"))["id"]
            .as_str()
            .unwrap()
            .to_string();
        s.control(
            "POST",
            &format!("/pinterest/invites/{inv}/accept"),
            json!({}),
        )
        .await;
    } else {
        s.control(
            "POST",
            "/tiktok/invites/accept",
            json!({ "bc": p.biz, "email": "ann.lee@acme.example.com" }),
        )
        .await;
    }
    s.check(&app).await;
    let onboarded = seat(&s, &app, "onboarded", "ann.lee@acme.example.com")
        .await
        .expect("Ann's accepted invitation is an onboarded seat");
    assert_eq!(onboarded["identity_id"], ann_id.as_str());
    assert_eq!(audit_count(&s, "app.share").await, 1);
    // Only the app's Owners (and Admins) share access: Ann, a Collaborator, may not.
    let r = s
        .app
        .post(&ann_token, &format!("/api/v1/apps/{app}/access"))
        .json(
            &json!({ "identity_ids": [ann_id], "app_role": "owner", "business_role": p.employee }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
