//! Managing members through Castellan against the emulators, for both platforms: each action
//! with its effect read back from the emulator, its task and audit event, and its
//! idempotence; the guards; a plan refused after its inputs changed; the whole leaver story
//! with e-mail through an SMTP server on loopback; and faults.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::{
    P, PINTEREST, Setup, TIKTOK, audit_count, emu_member, emu_state, post, seat, setup, setup_with,
};

/// Previews a change, applies it with the preview's hash, and waits for its task.
async fn change(s: &Setup, app: &str, body: Value) -> (Value, Value) {
    let mut preview = body.clone();
    preview["dry_run"] = json!(true);
    let (status, plan) = post(s, &format!("/api/v1/apps/{app}/changes"), preview).await;
    assert_eq!(status, 200, "{plan}");
    assert!(plan["task"].is_null());
    let mut apply = body;
    apply["plan_hash"] = plan["plan"]["input_hash"].clone();
    let (status, queued) = post(s, &format!("/api/v1/apps/{app}/changes"), apply).await;
    assert_eq!(status, 202, "{queued}");
    let task = s.wait_task(queued["task"]["id"].as_str().unwrap()).await;
    (plan, task)
}

/// Runs the same change task again (as a retry or a second run would): it must find
/// nothing to do.
async fn run_again(s: &Setup, app: &str, request: Value) {
    let t = castellan_domain::tasks::MembersChange {
        app_id: app.parse().unwrap(),
        request: serde_json::from_value(request).unwrap(),
        confirm_large_removal: false,
        report_id: None,
        report_seats: Vec::new(),
    };
    let task = castellan_services::members::enqueue(
        &s.app.store,
        s.ws,
        &castellan_domain::audit::Actor::Automation {
            name: "test".into(),
        },
        None,
        &t,
    )
    .await
    .unwrap();
    let done = s.wait_task(&task.id.to_string()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["steps"].as_array().map(Vec::len),
        Some(0),
        "{done}"
    );
}

async fn each_action(p: &P) {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    assert_eq!(s.check(&app).await["status"], "completed");
    let gmail = if p.name == "pinterest" {
        "jess.pins.ads@gmail.com"
    } else {
        "jess.tiktok.ads@gmail.com"
    };
    let g = seat(&s, &app, "unmatched", gmail).await.unwrap();
    let gid = g["user_id"].as_str().unwrap().to_string();
    let members = |rest: &str| format!("/api/v1/apps/{app}/members/{gid}/{rest}");

    // Exempt: a reason is required (1–500 characters), the seat moves to Exempted with who
    // and when, and un-exempting brings it back.
    for bad in ["", &"x".repeat(501)] {
        let (st, v) = post(&s, &members("exempt"), json!({ "reason": bad })).await;
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (400, Some("reason")),
            "{v}"
        );
    }
    let (st, v) = post(
        &s,
        &members("exempt"),
        json!({ "reason": "agency contractor until the Q4 launch" }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "exempted");
    assert_eq!(
        v["exemption"]["reason"],
        "agency contractor until the Q4 launch"
    );
    assert!(v["exemption"]["by"].is_string() && v["exemption"]["at"].is_string());
    assert!(seat(&s, &app, "exempted", gmail).await.is_some());
    // Checks leave an exemption alone.
    s.check(&app).await;
    assert!(seat(&s, &app, "exempted", gmail).await.is_some());
    let (st, v) = post(&s, &members("unexempt"), json!({})).await;
    assert_eq!((st, v["state"].as_str()), (200, Some("unmatched")), "{v}");
    // An exemption with an end returns the seat to Unmatched once it passes.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (st, v) = post(
        &s,
        &members("exempt"),
        json!({ "reason": "trial", "expires_at": soon }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = post(
        &s,
        &members("exempt"),
        json!({ "reason": "late", "expires_at": "2001-01-01T00:00:00Z" }),
    )
    .await;
    // A past end is a conflict with the clock, not malformed input (the document says 409).
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("expires_at"))
    );
    tokio::time::sleep(Duration::from_millis(1700)).await;
    castellan_services::schedule::schedule_tick(&s.app.store, &Default::default())
        .await
        .unwrap();
    assert!(seat(&s, &app, "unmatched", gmail).await.is_some());
    assert!(seat(&s, &app, "exempted", gmail).await.is_none());
    assert_eq!(audit_count(&s, "member.exempt").await, 2);

    // Match and invite: pick a person found in the directory and an app role.
    let (st, person) = post(
        &s,
        "/api/v1/directory/identities",
        json!({ "user_name": "jess.smith", "primary_email": "jess.smith@acme.example.com" }),
    )
    .await;
    assert_eq!(st, 201, "{person}");
    let found = s
        .get_json("/api/v1/directory/identities?q=jess.smith")
        .await;
    let jess = found["items"][0]["id"].as_str().unwrap().to_string();
    let (st, v) = post(
        &s,
        &members("match"),
        json!({ "identity_id": jess, "role": "maker" }),
    )
    .await;
    assert_eq!((st, v["error"]["field"].as_str()), (400, Some("role")));
    let (st, v) = post(
        &s,
        &members("match"),
        json!({ "identity_id": jess, "role": "owner" }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (
            v["state"].as_str(),
            v["identity_id"].as_str(),
            v["match_source"].as_str()
        ),
        (Some("onboarded"), Some(jess.as_str()), Some("manual"))
    );
    let cards = s.get_json("/api/v1/accounts?limit=200").await;
    let card = cards["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["identity_id"] == jess.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            card["status"].as_str(),
            card["app_role"].as_str(),
            card["app_id"].as_str()
        ),
        (
            Some("connect_your_account"),
            Some("owner"),
            Some(app.as_str())
        )
    );
    // Sticky: a check does not undo it.
    s.check(&app).await;
    assert_eq!(
        seat(&s, &app, "onboarded", gmail).await.unwrap()["identity_id"],
        jess.as_str()
    );
    // Re-assign to another person.
    let ava = s
        .get_json("/api/v1/directory/identities?q=ava.johnson")
        .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = post(
        &s,
        &members("match"),
        json!({ "identity_id": ava, "role": "collaborator" }),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(audit_count(&s, "member.match").await, 1);
    assert_eq!(audit_count(&s, "member.reassign").await, 1);
    // Unmatch an automatically matched seat: it stays unmatched across checks.
    let emma = seat(&s, &app, "onboarded", "emma.wilson@acme.example.com")
        .await
        .unwrap();
    let (st, v) = post(
        &s,
        &format!(
            "/api/v1/apps/{app}/members/{}/unmatch",
            emma["user_id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("unmatched")));
    s.check(&app).await;
    assert!(
        seat(&s, &app, "unmatched", "emma.wilson@acme.example.com")
            .await
            .is_some()
    );

    // Update a role: the preview names the exact calls; the platform shows the new role;
    // Castellan's copy follows at once; asking again plans nothing.
    let james = seat(&s, &app, "onboarded", "james.moore@acme.example.com")
        .await
        .unwrap();
    let jid = james["user_id"].as_str().unwrap().to_string();
    let req = json!({ "action": "set_role", "seat": jid, "role": p.admin });
    let (plan, task) = change(&s, &app, req.clone()).await;
    assert_eq!(task["status"], "completed", "{task}");
    let calls = plan["plan"]["steps"][0]["calls"].as_array().unwrap();
    assert!(
        calls[0]
            .as_str()
            .unwrap()
            .contains(if p.name == "pinterest" {
                "PATCH"
            } else {
                "/bc/member/update/"
            }),
        "{calls:?}"
    );
    assert_eq!(
        emu_member(&emu_state(&s, p).await, "james.moore@acme.example.com").unwrap()["role"],
        p.admin
    );
    assert_eq!(
        seat(&s, &app, "onboarded", "james.moore@acme.example.com")
            .await
            .unwrap()["roles"],
        json!([p.admin])
    );
    assert_eq!(audit_count(&s, "member.set_role").await, 1);
    let (st, again) = post(&s, &format!("/api/v1/apps/{app}/changes"), req.clone()).await;
    assert_eq!(
        (st, again["plan"]["steps"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{again}"
    );
    run_again(
        &s,
        &app,
        json!({ "action": "set_role", "seat": jid, "role": p.admin }),
    )
    .await;
    assert_eq!(
        audit_count(&s, "member.set_role").await,
        1,
        "a second run changes nothing"
    );
    // A check afterwards finds nothing new: the stored state matched the platform.
    let clean = s.check(&app).await;
    assert_eq!(clean["result"]["changes"]["rows_written"], 0, "{clean}");

    // Asset permissions: give, then take.
    let st0 = emu_state(&s, p).await;
    let asset = st0["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["type"] == p.ad_kind
                && !emu_member(&st0, "james.moore@acme.example.com").unwrap()["assets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["asset_id"] == a["id"])
        })
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, task) = change(&s, &app, json!({ "action": "set_permissions", "seat": jid, "asset_id": asset, "permissions": [p.perm] })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let held = |st: &Value| {
        emu_member(st, "james.moore@acme.example.com").unwrap()["assets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["asset_id"] == asset.as_str())
    };
    assert!(held(&emu_state(&s, p).await));
    let perms = s
        .get_json(&format!(
            "/api/v1/apps/{app}/members?tab=onboarded&q=james.moore&permissions=true"
        ))
        .await;
    assert!(
        perms["items"][0]["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["asset_id"] == asset.as_str() && x["permissions"] == json!([p.perm]))
    );
    // The asset lists its new holder.
    let assets = s.assets(&app).await;
    let listed = assets
        .iter()
        .find(|a| a["asset_id"] == asset.as_str())
        .unwrap();
    assert!(
        listed["holders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["holder"] == format!("member:{jid}") && h["permissions"] == json!([p.perm])),
        "{listed}"
    );
    let (_, task) = change(
        &s,
        &app,
        json!({ "action": "set_permissions", "seat": jid, "asset_id": asset, "permissions": [] }),
    )
    .await;
    assert_eq!(task["status"], "completed", "{task}");
    assert!(!held(&emu_state(&s, p).await));
    assert_eq!(
        (
            audit_count(&s, "member.grant").await,
            audit_count(&s, "member.revoke").await
        ),
        (1, 1)
    );
    let (st, v) = post(&s, &format!("/api/v1/apps/{app}/changes"), json!({ "action": "set_permissions", "seat": jid, "asset_id": asset, "permissions": ["NOT_A_PERMISSION"], "dry_run": true })).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("permissions")),
        "{v}"
    );

    // Invite a new member: Invited at once; accepted on the platform, the next check makes it
    // a member matched to the person.
    post(
        &s,
        "/api/v1/directory/identities",
        json!({ "user_name": "newbie", "primary_email": "newbie@acme.example.com" }),
    )
    .await;
    let (st, v) = post(&s, &format!("/api/v1/apps/{app}/changes"), json!({ "action": "invite", "email": "not an address", "role": p.employee, "dry_run": true })).await;
    assert_eq!((st, v["error"]["field"].as_str()), (400, Some("email")));
    let (_, task) = change(
        &s,
        &app,
        json!({ "action": "invite", "email": "newbie@acme.example.com", "role": p.employee }),
    )
    .await;
    assert_eq!(task["status"], "completed", "{task}");
    assert!(
        seat(&s, &app, "invited", "newbie@acme.example.com")
            .await
            .is_some()
    );
    assert_eq!(audit_count(&s, "member.invite").await, 1);
    run_again(&s, &app, json!({ "action": "invite", "email": "newbie@acme.example.com", "role": p.employee, "assets": [] })).await;
    if p.name == "pinterest" {
        let inv = emu_state(&s, p).await["invites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["invitee"] == "newbie@acme.example.com")
            .unwrap()["id"]
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
            json!({ "bc": p.biz, "email": "newbie@acme.example.com" }),
        )
        .await;
    }
    s.check(&app).await;
    let newbie = seat(&s, &app, "onboarded", "newbie@acme.example.com")
        .await
        .expect("the accepted invite is a matched member");
    assert!(newbie["identity_id"].is_string());
    assert!(
        seat(&s, &app, "invited", "newbie@acme.example.com")
            .await
            .is_none()
    );
    // Invite and cancel.
    change(
        &s,
        &app,
        json!({ "action": "invite", "email": "maybe@acme.example.com", "role": p.employee }),
    )
    .await;
    let inv = seat(&s, &app, "invited", "maybe@acme.example.com")
        .await
        .unwrap();
    let (_, task) = change(
        &s,
        &app,
        json!({ "action": "cancel_invite", "seat": inv["user_id"] }),
    )
    .await;
    assert_eq!(task["status"], "completed", "{task}");
    assert!(
        seat(&s, &app, "invited", "maybe@acme.example.com")
            .await
            .is_none()
    );
    let st1 = emu_state(&s, p).await;
    let still_pending = if p.name == "pinterest" {
        st1["invites"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["invitee"] == "maybe@acme.example.com" && i["status"] == "PENDING")
    } else {
        st1["pending"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["email"] == "maybe@acme.example.com")
    };
    assert!(!still_pending);
    run_again(
        &s,
        &app,
        json!({ "action": "cancel_invite", "seat": inv["user_id"] }),
    )
    .await;

    // Remove an unmatched seat, then an onboarded one: gone from the platform with their
    // permissions, shown as Removed, and a second run does nothing.
    for (tab, email) in [
        ("onboarded", gmail),
        ("onboarded", "mia.thomas@acme.example.com"),
    ] {
        let seat_now = seat(&s, &app, tab, email).await.unwrap();
        let uid = seat_now["user_id"].as_str().unwrap().to_string();
        let (plan, task) = change(&s, &app, json!({ "action": "remove", "seats": [uid] })).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert!(
            plan["plan"]["steps"][0]["summary"]
                .as_str()
                .unwrap()
                .contains("remove")
        );
        assert!(emu_member(&emu_state(&s, p).await, email).is_none());
        let removed = seat(&s, &app, "removed", email).await.unwrap();
        assert!(removed["removed_at"].is_string());
        run_again(&s, &app, json!({ "action": "remove", "seats": [uid] })).await;
    }
    assert_eq!(audit_count(&s, "member.remove").await, 2);
    let clean = s.check(&app).await;
    assert_eq!(clean["result"]["changes"]["rows_written"], 0, "{clean}");
    // Every task of this app left its log.
    let tasks = s
        .get_json(&format!(
            "/api/v1/tasks?kind=members.change&app={app}&limit=100"
        ))
        .await;
    let first = tasks["items"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = s.get_json(&format!("/api/v1/tasks/{first}")).await;
    assert!(!detail["log"].as_array().unwrap().is_empty(), "{detail}");
}

#[tokio::test]
async fn pinterest_member_actions_take_effect_once() {
    each_action(&PINTEREST).await;
}

#[tokio::test]
async fn tiktok_member_actions_take_effect_once() {
    each_action(&TIKTOK).await;
}

#[tokio::test]
async fn guards_refuse_with_a_clear_error() {
    let p = &PINTEREST;
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    s.check(&app).await;
    let changes = format!("/api/v1/apps/{app}/changes");
    let bot = seat(
        &s,
        &app,
        "unmatched",
        "castellan-automation@acme.example.com",
    )
    .await
    .unwrap();
    let bot_id = bot["user_id"].as_str().unwrap().to_string();
    // The automation account's own seat: never removed, never demoted.
    let (st, v) = post(
        &s,
        &changes,
        json!({ "action": "remove", "seats": [bot_id], "dry_run": true }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("seats")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("automation account")
    );
    let (st, v) = post(
        &s,
        &changes,
        json!({ "action": "set_role", "seat": bot_id, "role": p.employee }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("seat")),
        "{v}"
    );
    // A large share of the business needs confirmation.
    let many: Vec<String> = s
        .tab(&app, "onboarded")
        .await
        .iter()
        .filter(|m| m["roles"] == json!([p.employee]))
        .take(12)
        .map(|m| m["user_id"].as_str().unwrap().to_string())
        .collect();
    let (st, v) = post(
        &s,
        &changes,
        json!({ "action": "remove", "seats": many, "dry_run": true }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("confirm_large_removal")),
        "{v}"
    );
    let (st, v) = post(&s, &changes, json!({ "action": "remove", "seats": many, "dry_run": true, "confirm_large_removal": true })).await;
    assert_eq!(
        (st, v["plan"]["steps"].as_array().map(Vec::len)),
        (200, Some(12)),
        "{v}"
    );
    // The share is a workspace setting.
    let r = s
        .app
        .http
        .patch(format!("{}/api/v1/workspace", s.app.base))
        .bearer_auth(&s.token)
        .json(&json!({ "settings": { "max_removal_share": 0.5 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, _) = post(
        &s,
        &changes,
        json!({ "action": "remove", "seats": many, "dry_run": true }),
    )
    .await;
    assert_eq!(st, 200);
    let r = s
        .app
        .http
        .patch(format!("{}/api/v1/workspace", s.app.base))
        .bearer_auth(&s.token)
        .json(&json!({ "settings": { "max_removal_share": 7 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Nothing was queued by any refusal.
    let tasks = s
        .get_json(&format!("/api/v1/tasks?kind=members.change&app={app}"))
        .await;
    assert!(tasks["items"].as_array().unwrap().is_empty());
}

/// The last admin of a business is never removed or demoted, even when Castellan does not
/// recognise it as the automation account's own seat (TikTok names no user on connect, and
/// this automation account's e-mail on file differs from its seat's).
#[tokio::test]
async fn the_last_admin_stays() {
    let p = &TIKTOK;
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect_as(p.name, "ops-mailbox@acme.example.com").await;
    for email in [
        "ava.johnson@acme.example.com",
        "liam.smith@acme.example.com",
        "olivia.brown@acme.example.com",
    ] {
        let user: u64 = emu_member(&emu_state(&s, p).await, email).unwrap()["user"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        s.control(
            "PATCH",
            "/tiktok/members",
            json!({ "bc": p.biz, "user": user, "role": p.employee }),
        )
        .await;
    }
    s.check(&app).await;
    let changes = format!("/api/v1/apps/{app}/changes");
    let bot = seat(
        &s,
        &app,
        "unmatched",
        "castellan-automation@acme.example.com",
    )
    .await
    .unwrap();
    let (st, v) = post(
        &s,
        &changes,
        json!({ "action": "remove", "seats": [bot["user_id"]], "dry_run": true }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("seats")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last admin"),
        "{v}"
    );
    let (st, v) = post(
        &s,
        &changes,
        json!({ "action": "set_role", "seat": bot["user_id"], "role": p.employee }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("role")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last admin"),
        "{v}"
    );
}

#[tokio::test]
async fn a_plan_is_refused_once_its_inputs_changed() {
    let p = &TIKTOK;
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    s.check(&app).await;
    let changes = format!("/api/v1/apps/{app}/changes");
    let noah = seat(&s, &app, "onboarded", "noah.davis@acme.example.com")
        .await
        .unwrap();
    let req = json!({ "action": "remove", "seats": [noah["user_id"]] });
    let mut dry = req.clone();
    dry["dry_run"] = json!(true);
    let (_, plan) = post(&s, &changes, dry.clone()).await;
    let hash = plan["plan"]["input_hash"].as_str().unwrap().to_string();
    // Behind Castellan's back Noah gets another advertiser; a check records it.
    let user: u64 = noah["user_id"].as_str().unwrap().parse().unwrap();
    let st = emu_state(&s, p).await;
    let adv = st["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .find(|a| {
            !emu_member(&st, "noah.davis@acme.example.com").unwrap()["assets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["asset_id"] == a.as_str())
                && st["assets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["id"] == a.as_str() && x["type"] == "ADVERTISER")
        })
        .unwrap();
    s.control("POST", "/tiktok/grants", json!({ "bc": p.biz, "user": user, "asset": adv.parse::<u64>().unwrap(), "role": ["ANALYST"] })).await;
    s.check(&app).await;
    let mut apply = req.clone();
    apply["plan_hash"] = json!(hash);
    let (st, v) = post(&s, &changes, apply).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("plan_hash")),
        "{v}"
    );
    assert!(emu_member(&emu_state(&s, p).await, "noah.davis@acme.example.com").is_some());
    // A fresh preview has a new hash, and applies.
    let (_, plan2) = post(&s, &changes, dry).await;
    assert_ne!(plan2["plan"]["input_hash"].as_str().unwrap(), hash);
    let mut apply = req;
    apply["plan_hash"] = plan2["plan"]["input_hash"].clone();
    let (st, v) = post(&s, &changes, apply).await;
    assert_eq!(st, 202, "{v}");
}

/// A minimal SMTP server on loopback that keeps what it receives.
/// (recipients, message text) of one e-mail received.
type Received = (Vec<String>, String);

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Received>>>);

impl Sink {
    async fn start() -> (Self, u16) {
        let sink = Sink::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let s = sink.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    w.write_all(b"220 sink ESMTP\r\n").await.ok();
                    let (mut rcpt, mut data, mut in_data) = (Vec::new(), String::new(), false);
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                // Undo quoted-printable soft breaks and `=3D`.
                                let text = std::mem::take(&mut data)
                                    .replace("=\n", "")
                                    .replace("=3D", "=");
                                s.0.lock().unwrap().push((std::mem::take(&mut rcpt), text));
                                w.write_all(b"250 queued\r\n").await.ok();
                            } else {
                                data.push_str(&line);
                                data.push('\n');
                            }
                            continue;
                        }
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            rcpt.push(
                                line[8..]
                                    .trim()
                                    .trim_matches(|c| c == '<' || c == '>')
                                    .to_string(),
                            );
                            b"250 ok\r\n"
                        } else if upper.starts_with("DATA") {
                            in_data = true;
                            b"354 go on\r\n"
                        } else if upper.starts_with("QUIT") {
                            w.write_all(b"221 bye\r\n").await.ok();
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        w.write_all(reply).await.ok();
                    }
                });
            }
        });
        (sink, port)
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.0.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.0.lock().unwrap().clone()
    }
}

async fn open_report(s: &Setup, app: &str) -> Value {
    let reports = s.get_json(&format!("/api/v1/apps/{app}/reports")).await;
    reports[0].clone()
}

async fn apply_report(s: &Setup, app: &str, report: &Value) -> Value {
    let id = report["id"].as_str().unwrap();
    let (st, v) = post(
        s,
        &format!("/api/v1/apps/{app}/reports/{id}/apply"),
        json!({}),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    s.wait_task(v["task"]["id"].as_str().unwrap()).await
}

/// Import the directory, connect both platforms, check; deactivate a person; check: each
/// report lists exactly their seat and an e-mail arrives; apply: the emulators no longer
/// have them; the next check is clean.
async fn leaver_story(backend: castellan_store::Backend) {
    let (sink, port) = Sink::start().await;
    let smtp = castellan_services::mail::SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: castellan_services::mail::Tls::None,
        username: None,
        password: None,
        from: "Castellan <castellan@acme.example.com>".into(),
    };
    let Some(s) = setup_with(backend, Some(smtp)).await else {
        return;
    };
    let apps = [
        (&PINTEREST, s.connect("pinterest").await),
        (&TIKTOK, s.connect("tiktok").await),
    ];
    // The first checks find the directory's two leavers; their reports are applied.
    for (_, app) in &apps {
        assert_eq!(s.check(app).await["status"], "completed");
        let r = open_report(&s, app).await;
        assert_eq!(r["status"], "open", "{r}");
        let who: Vec<&str> = r["pending_removal"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["email"].as_str().unwrap())
            .collect();
        assert_eq!(
            who,
            vec![
                "david.carter@acme.example.com",
                "victoria.mitchell@acme.example.com"
            ]
        );
        let done = apply_report(&s, app, &r).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            s.get_json(&format!(
                "/api/v1/apps/{app}/reports/{}",
                r["id"].as_str().unwrap()
            ))
            .await["status"],
            "applied"
        );
        // Applying twice does nothing the second time.
        let (st, v) = post(
            &s,
            &format!(
                "/api/v1/apps/{app}/reports/{}/apply",
                r["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (409, Some("status")),
            "{v}"
        );
    }
    sink.wait_for(2).await;
    let before = sink.0.lock().unwrap().len();
    assert_eq!(before, 2, "one e-mail per report");

    // Noah leaves the company.
    let noah = s
        .get_json("/api/v1/directory/identities?q=noah.davis")
        .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = post(
        &s,
        &format!("/api/v1/directory/identities/{noah}/deactivate"),
        json!({}),
    )
    .await;
    assert_eq!(st, 200);
    for (p, app) in &apps {
        let check = s.check(app).await;
        assert_eq!(check["result"]["changes"]["pending_removal"], 1, "{check}");
        let r = open_report(&s, app).await;
        assert_eq!(r["status"], "open");
        let listed = r["pending_removal"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{r}");
        assert_eq!(listed[0]["email"], "noah.davis@acme.example.com");
        assert_eq!(listed[0]["person"], "Noah Davis");
        assert_eq!(listed[0]["roles"], json!([p.employee]));
        assert!(
            s.tab(app, "unmatched")
                .await
                .iter()
                .any(|m| m["email"] == "noah.davis@acme.example.com" && m["deprovisioned"] == true)
        );
    }
    let mails = sink.wait_for(before + 2).await;
    assert_eq!(mails.len(), before + 2, "one e-mail per app");
    for (rcpt, body) in &mails[before..] {
        assert_eq!(rcpt, &vec!["owner@acme.example.com".to_string()]);
        assert!(
            body.contains("Noah Davis") && body.contains("noah.davis@acme.example.com"),
            "{body}"
        );
        assert!(body.contains("/reports/"), "{body}");
    }
    // The sink has the message before the sender records it as sent: wait for the record.
    let sent = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .take(2)
            .all(|e| e["status"] == "sent")
    };
    let mut outbox = s.get_json("/api/v1/outbox").await;
    for _ in 0..100 {
        if sent(&outbox) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        outbox = s.get_json("/api/v1/outbox").await;
    }
    assert!(
        outbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .take(2)
            .all(|e| e["status"] == "sent"),
        "{outbox}"
    );
    // Apply: the platforms no longer have Noah; the next check is clean.
    for (p, app) in &apps {
        let r = open_report(&s, app).await;
        let done = apply_report(&s, app, &r).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert!(emu_member(&emu_state(&s, p).await, "noah.davis@acme.example.com").is_none());
        let r = s
            .get_json(&format!(
                "/api/v1/apps/{app}/reports/{}",
                r["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(r["status"], "applied");
        assert_eq!(r["resolution"]["outcomes"][0]["outcome"], "done", "{r}");
        let next = s.check(app).await;
        assert_eq!(next["result"]["changes"]["rows_written"], 0, "{next}");
        assert_eq!(next["result"]["changes"]["pending_removal"], 0, "{next}");
        assert_eq!(open_report(&s, app).await["status"], "none");
    }
    assert_eq!(
        sink.0.lock().unwrap().len(),
        before + 2,
        "a clean check sends nothing"
    );
}

/// Re-checks do not pile reports up: an app has one open report, which each check brings up
/// to date; a seat removed or exempted leaves it; with nothing left it closes itself, and the
/// Removed tab's count is the rows it lists.
async fn one_open_report(p: &P) {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    let reports_url = format!("/api/v1/apps/{app}/reports");
    let open_ones = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "open")
            .cloned()
            .collect()
    };
    s.check(&app).await;
    let first = open_report(&s, &app).await;
    assert_eq!(first["status"], "open", "{first}");
    for _ in 0..2 {
        let again = s.check(&app).await;
        assert_eq!(again["result"]["changes"]["rows_written"], 0, "{again}");
        let all = s.get_json(&reports_url).await;
        let open = open_ones(&all);
        assert_eq!(open.len(), 1, "{all}");
        assert_eq!(open[0]["id"], first["id"]);
        assert_eq!(open[0]["pending_removal"].as_array().unwrap().len(), 2);
    }
    let listed: Vec<String> = first["pending_removal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_str().unwrap().to_string())
        .collect();
    // One leaver is removed by hand: the report lists only the other.
    let (_, task) = change(
        &s,
        &app,
        json!({ "action": "remove", "seats": [listed[0]] }),
    )
    .await;
    assert_eq!(task["status"], "completed", "{task}");
    let r = s
        .get_json(&format!("{reports_url}/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(r["status"], "open");
    let left: Vec<&str> = r["pending_removal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(left, vec![listed[1].as_str()]);
    // The Removed tab lists the removed seat, its count says so, and it carries no
    // "awaiting removal" mark.
    let removed = s.tab(&app, "removed").await;
    assert_eq!(removed.len(), 1);
    let detail = s.get_json(&format!("/api/v1/apps/{app}")).await;
    assert_eq!(detail["counts"]["removed"], 1, "{detail}");
    // The other is exempted: nothing is left and the report closes itself.
    let (st, v) = post(
        &s,
        &format!("/api/v1/apps/{app}/members/{}/exempt", listed[1]),
        json!({ "reason": "kept for the handover" }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let r = s
        .get_json(&format!("{reports_url}/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(r["status"], "closed", "{r}");
    s.check(&app).await;
    assert!(open_ones(&s.get_json(&reports_url).await).is_empty());
}

#[tokio::test]
async fn pinterest_has_one_open_report() {
    one_open_report(&PINTEREST).await;
}

#[tokio::test]
async fn tiktok_has_one_open_report() {
    one_open_report(&TIKTOK).await;
}

#[tokio::test]
async fn the_leaver_story_sqlite() {
    leaver_story(castellan_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn the_leaver_story_postgres() {
    leaver_story(castellan_store::Backend::Postgres).await;
}

/// A removal that meets 5xx is retried and succeeds; one the platform refuses fails with
/// that error on the task and the report, and nothing else changes.
#[tokio::test]
async fn removals_under_faults() {
    for p in [&PINTEREST, &TIKTOK] {
        let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
            return;
        };
        let app = s.connect(p.name).await;
        s.check(&app).await;
        // Transient: the next two writes answer 503.
        s.control("PUT", "/faults", json!({ "fail_next_writes": 2 }))
            .await;
        s.control("DELETE", "/requests", json!({})).await;
        let emma = seat(&s, &app, "onboarded", "emma.wilson@acme.example.com")
            .await
            .unwrap();
        let (_, task) = change(
            &s,
            &app,
            json!({ "action": "remove", "seats": [emma["user_id"]] }),
        )
        .await;
        assert_eq!(task["status"], "completed", "{task}");
        assert!(emu_member(&emu_state(&s, p).await, "emma.wilson@acme.example.com").is_none());
        let counts: Value = reqwest::get(format!("{}/_emulator/requests", s.emu.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let writes: u64 = counts["by_endpoint"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("DELETE") || k.contains("/member/delete/"))
            .map(|(_, v)| v.as_u64().unwrap())
            .sum();
        assert_eq!(writes, 3, "two 503s, then the call that worked: {counts}");
        // Permanent: the platform refuses every write. The report shows the failure, the task
        // fails with the platform's message, and Castellan and the platform keep the seats.
        s.control(
            "PUT",
            "/faults",
            json!({ "refuse_writes": "The business is under review." }),
        )
        .await;
        let r = open_report(&s, &app).await;
        assert_eq!(r["status"], "open", "{r}");
        let done = apply_report(&s, &app, &r).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert!(
            done["error"]
                .as_str()
                .unwrap()
                .contains("The business is under review."),
            "{done}"
        );
        let r = s
            .get_json(&format!(
                "/api/v1/apps/{app}/reports/{}",
                r["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(r["status"], "partially_applied", "{r}");
        let outcomes = r["resolution"]["outcomes"].as_array().unwrap();
        assert_eq!(outcomes.len(), 2);
        assert!(
            outcomes.iter().all(|o| o["outcome"] == "failed"
                && o["error"].as_str().unwrap().contains("under review")),
            "{r}"
        );
        for email in [
            "david.carter@acme.example.com",
            "victoria.mitchell@acme.example.com",
        ] {
            assert!(emu_member(&emu_state(&s, p).await, email).is_some());
            assert!(
                seat(&s, &app, "unmatched", email).await.is_some(),
                "{email} is still held"
            );
        }
        s.control("PUT", "/faults", json!({})).await;
        let next = s.check(&app).await;
        assert_eq!(
            next["result"]["changes"]["rows_written"], 0,
            "nothing else changed: {next}"
        );
        // The leavers stay: dismiss what is open, with a reason.
        let r = open_report(&s, &app).await;
        let (status, dismissed) = post(
            &s,
            &format!(
                "/api/v1/apps/{app}/reports/{}/dismiss",
                r["id"].as_str().unwrap()
            ),
            json!({ "reason": "kept on purpose" }),
        )
        .await;
        assert_eq!(status, 200, "{dismissed}");
        assert_eq!(dismissed["resolution"]["reason"], "kept on purpose");
        // Every report, open, applied, partly applied or dismissed, is what the document says.
        let reports = s.get_json(&format!("/api/v1/apps/{app}/reports")).await;
        for r in reports.as_array().unwrap() {
            let errors = crate::support::schema_errors("ReportBody", r);
            assert!(errors.is_empty(), "{errors:?} in {r}");
        }
    }
}

/// Removing an app deletes what was imported for it, never calls the platform, keeps the
/// automation account, is audited, and is refused while a task of the app runs.
#[tokio::test]
async fn removing_an_app_deletes_its_rows_and_never_calls_the_platform() {
    let s = setup(castellan_store::Backend::Sqlite).await.unwrap();
    let app = s.connect("tiktok").await;
    let check = s.check(&app).await;
    assert_eq!(check["status"], "completed", "{check}");
    let before = s.counts(&app).await;
    assert!(before["onboarded"].as_i64().unwrap() > 0, "{before}");
    let accounts_before = s.get_json("/api/v1/automation-accounts").await["items"]
        .as_array()
        .unwrap()
        .len();

    let remove = |reason: &'static str| {
        s.app
            .http
            .delete(s.app.url(&format!("/api/v1/apps/{app}")))
            .bearer_auth(&s.token)
            .json(&json!({ "reason": reason }))
            .send()
    };
    // A running task of the app holds it: removal is refused with a clear message.
    sqlx::query("INSERT INTO tasks (id, workspace_id, kind, payload, status, trigger_kind, app_id, attempts, max_attempts, run_at, created_at, updated_at, lease_expires_at) VALUES ($1, $2, 'noop', '{}', 'in_progress', 'system', $3, 1, 5, 0, 0, 0, 9999999999999)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(s.ws.to_string())
        .bind(&app)
        .execute(s.app.store.pool())
        .await
        .unwrap();
    let r = remove("retired").await.unwrap();
    let (status, body) = castellan_testkit::error_of(r).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("running"),
        "{body}"
    );
    sqlx::query("UPDATE tasks SET status = 'completed' WHERE kind = 'noop'")
        .execute(s.app.store.pool())
        .await
        .unwrap();

    // A reason is required.
    let r = remove("  ").await.unwrap();
    let (status, body) = castellan_testkit::error_of(r).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "reason", "{body}");
    assert_eq!(
        s.counts(&app).await,
        before,
        "a refused removal changes nothing"
    );

    reqwest::Client::new()
        .delete(format!("{}/_emulator/requests", s.emu.base_url()))
        .send()
        .await
        .unwrap();
    let r = remove("retired business").await.unwrap();
    assert_eq!(r.status(), 200);
    let removed: Value = r.json().await.unwrap();
    assert!(removed["seats"].as_u64().unwrap() > 0, "{removed}");
    let calls: Value = reqwest::get(format!("{}/_emulator/requests", s.emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        calls["total"], 0,
        "removing an app never calls the platform: {calls}"
    );
    let r = s
        .app
        .get(&s.token, &format!("/api/v1/apps/{app}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    for table in [
        "app_seats",
        "app_assets",
        "app_grants",
        "app_partners",
        "app_asset_holders",
        "check_reports",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE app_id = $1"))
            .bind(&app)
            .fetch_one(s.app.store.pool())
            .await
            .unwrap();
        assert_eq!(n, 0, "{table} keeps rows of a removed app");
    }
    assert_eq!(
        s.get_json("/api/v1/automation-accounts").await["items"]
            .as_array()
            .unwrap()
            .len(),
        accounts_before,
        "the automation account stays"
    );
    let ev = s.get_json("/api/v1/audit/events?action=app.delete").await;
    assert_eq!(
        ev["items"][0]["details"]["reason"], "retired business",
        "{ev}"
    );
}
