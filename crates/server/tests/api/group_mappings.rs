//! IdP groups that manage app members, on both emulated platforms: two groups mapped to the
//! Pinterest app with different roles and one to the TikTok app. Joiners are invited (the
//! person in both Pinterest groups as admin: the highest role wins); a stale plan is refused;
//! a mover from the Pinterest group to the TikTok group is invited on TikTok before their
//! Pinterest seat is removed (the removal is queued only after the invitation completed); a
//! mover between the two Pinterest groups is lowered; a leaver's seat is removed. Every plan is
//! read with its platform calls, and every outcome read back from the emulators.

use serde_json::{Value, json};

use crate::support::{PINTEREST, Setup, TIKTOK, emu_member, emu_state, post, setup};

async fn identity(s: &Setup, user: &str) -> (String, String) {
    let email = format!("{user}@acme.example.com");
    let (st, v) = post(
        s,
        "/api/v1/directory/identities",
        json!({ "user_name": user, "primary_email": email }),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    (v["id"].as_str().unwrap().to_string(), email)
}

async fn group(s: &Setup, name: &str, members: &[&str]) -> String {
    let (st, v) = post(
        s,
        "/api/v1/directory/groups",
        json!({ "display_name": name, "member_ids": members }),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn set_members(s: &Setup, group: &str, members: &[&str]) {
    let r = s
        .app
        .http
        .patch(s.app.url(&format!("/api/v1/directory/groups/{group}")))
        .bearer_auth(&s.token)
        .json(&json!({ "member_ids": members }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn map(s: &Setup, group: &str, app: &str, app_role: &str, role: &str) -> (u16, Value) {
    post(
        s,
        "/api/v1/group-mappings",
        json!({ "group_id": group, "app_id": app, "app_role": app_role, "business_role": role }),
    )
    .await
}

async fn plan(s: &Setup) -> Value {
    s.get_json("/api/v1/group-mappings/plan").await
}

/// `(kind, email, app label, to_role)` of each step, in order.
fn steps(p: &Value) -> Vec<(String, String, String, Option<String>)> {
    p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["kind"].as_str().unwrap().to_string(),
                x["email"].as_str().unwrap().to_string(),
                x["app_label"].as_str().unwrap().to_string(),
                x["to_role"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Applies `p` and waits for every task it queued (and those its removal task queued).
async fn apply(s: &Setup, p: &Value) -> Vec<Value> {
    let (st, v) = post(
        s,
        "/api/v1/group-mappings/apply",
        json!({ "plan_hash": p["input_hash"] }),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let mut done = Vec::new();
    for t in v["tasks"].as_array().unwrap() {
        let t = s.wait_task(t["id"].as_str().unwrap()).await;
        assert_eq!(t["status"], "completed", "{t}");
        for q in t["result"]["queued"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let q = s.wait_task(q.as_str().unwrap()).await;
            assert_eq!(q["status"], "completed", "{q}");
            done.push(q);
        }
        done.push(t);
    }
    done
}

/// Accepts the platform's invitation of `email` and checks the app again.
async fn accept(s: &Setup, platform: &str, app: &str, email: &str) {
    if platform == "pinterest" {
        let inv = emu_state(s, &PINTEREST).await["invites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["invitee"] == email && i["status"] == "PENDING")
            .unwrap_or_else(|| panic!("an invitation of {email}"))["id"]
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
            json!({ "bc": TIKTOK.biz, "email": email }),
        )
        .await;
    }
    assert_eq!(s.check(app).await["status"], "completed");
}

fn role_of(state: &Value, email: &str) -> Option<String> {
    emu_member(state, email).map(|m| m["role"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn idp_groups_invite_raise_lower_and_remove_on_sqlite() {
    story(castellan_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn idp_groups_invite_raise_lower_and_remove_on_postgres() {
    story(castellan_store::Backend::Postgres).await;
}

async fn story(backend: castellan_store::Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let pin = s.connect("pinterest").await;
    let tik = s.connect("tiktok").await;
    for app in [&pin, &tik] {
        assert_eq!(s.check(app).await["status"], "completed");
    }
    let (jo, jo_mail) = identity(&s, "jo.joiner").await;
    let (two, two_mail) = identity(&s, "tu.twopaths").await;
    let users = group(&s, "Social Users", &[&jo, &two]).await;
    let admins = group(&s, "Social Admins", &[&two]).await;
    let tiktokers = group(&s, "TikTok Users", &[]).await;

    // Bad input names its field and maps nothing.
    let (st, v) = map(&s, &users, &pin, "collaborator", "ADMIN").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("business_role")),
        "{v}"
    );
    let (st, v) = map(&s, &users, &pin, "boss", "EMPLOYEE").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("app_role")),
        "{v}"
    );
    assert_eq!(plan(&s).await["steps"], json!([]));

    let (st, v) = map(&s, &users, &pin, "collaborator", "EMPLOYEE").await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = map(&s, &users, &pin, "collaborator", "EMPLOYEE").await;
    assert_eq!(st, 409, "one mapping per group and app");
    assert_eq!(map(&s, &admins, &pin, "owner", "BIZ_ADMIN").await.0, 201);
    assert_eq!(
        map(&s, &tiktokers, &tik, "collaborator", "STANDARD")
            .await
            .0,
        201
    );

    // Joiners: both invited; the person in both groups as admin (the highest role wins).
    let p = plan(&s).await;
    let mut got = steps(&p);
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "invite".into(),
                jo_mail.clone(),
                "Acme pinterest".into(),
                Some("EMPLOYEE".into())
            ),
            (
                "invite".into(),
                two_mail.clone(),
                "Acme pinterest".into(),
                Some("BIZ_ADMIN".into())
            ),
        ],
        "{p}"
    );
    let two_step = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["email"] == two_mail.as_str())
        .unwrap();
    assert_eq!(two_step["via"], json!(["Social Admins", "Social Users"]));
    let calls = two_step["plan"]["steps"][0]["calls"].to_string();
    assert!(
        calls.contains("POST") && calls.contains("BIZ_ADMIN"),
        "{calls}"
    );
    // A plan whose inputs changed since it was shown is refused, changing nothing.
    let (st, v) = post(
        &s,
        "/api/v1/group-mappings/apply",
        json!({ "plan_hash": "stale" }),
    )
    .await;
    assert_eq!(st, 409, "{v}");
    apply(&s, &p).await;
    let state = emu_state(&s, &PINTEREST).await;
    let invites: Vec<(String, String)> = state["invites"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "PENDING")
        .map(|i| {
            (
                i["invitee"].as_str().unwrap().into(),
                i["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        invites.contains(&(jo_mail.clone(), "EMPLOYEE".into())),
        "{invites:?}"
    );
    assert!(
        invites.contains(&(two_mail.clone(), "BIZ_ADMIN".into())),
        "{invites:?}"
    );
    // Invited and not yet seen by a check: nothing more to do.
    assert_eq!(plan(&s).await["steps"], json!([]));
    accept(&s, "pinterest", &pin, &jo_mail).await;
    accept(&s, "pinterest", &pin, &two_mail).await;
    let state = emu_state(&s, &PINTEREST).await;
    assert_eq!(role_of(&state, &jo_mail).as_deref(), Some("EMPLOYEE"));
    assert_eq!(role_of(&state, &two_mail).as_deref(), Some("BIZ_ADMIN"));
    assert_eq!(plan(&s).await["steps"], json!([]), "converged");

    // A mover from the Pinterest group to the TikTok group: the TikTok invitation first, the
    // Pinterest removal queued only once it completed.
    set_members(&s, &users, &[&two]).await;
    set_members(&s, &tiktokers, &[&jo]).await;
    let p = plan(&s).await;
    assert_eq!(
        steps(&p),
        vec![
            (
                "invite".into(),
                jo_mail.clone(),
                "Acme tiktok".into(),
                Some("STANDARD".into())
            ),
            (
                "remove".into(),
                jo_mail.clone(),
                "Acme pinterest".into(),
                None
            ),
        ],
        "{p}"
    );
    let remove_calls = p["steps"][1]["plan"]["steps"][0]["calls"].to_string();
    assert!(
        remove_calls.contains("DELETE") || remove_calls.contains("PATCH"),
        "{remove_calls}"
    );
    let tasks = apply(&s, &p).await;
    let invite = tasks.iter().find(|t| t["app_id"] == tik.as_str()).unwrap();
    let removal = tasks
        .iter()
        .find(|t| t["app_id"] == pin.as_str() && t["kind"] == "members.change")
        .unwrap();
    assert!(
        removal["created_at"].as_str().unwrap() >= invite["finished_at"].as_str().unwrap(),
        "the removal was queued after the invitation finished: {invite} {removal}"
    );
    let tstate = emu_state(&s, &TIKTOK).await;
    assert!(
        tstate.to_string().contains(&jo_mail),
        "invited on TikTok: {tstate}"
    );
    assert_eq!(
        role_of(&emu_state(&s, &PINTEREST).await, &jo_mail),
        None,
        "gone from Pinterest"
    );
    accept(&s, "tiktok", &tik, &jo_mail).await;
    assert_eq!(
        role_of(&emu_state(&s, &TIKTOK).await, &jo_mail).as_deref(),
        Some("STANDARD")
    );

    // A mover between the Pinterest groups: out of the admins, still a user — lowered.
    set_members(&s, &admins, &[]).await;
    let p = plan(&s).await;
    assert_eq!(
        steps(&p),
        vec![(
            "downgrade".into(),
            two_mail.clone(),
            "Acme pinterest".into(),
            Some("EMPLOYEE".into())
        )],
        "{p}"
    );
    apply(&s, &p).await;
    assert_eq!(
        role_of(&emu_state(&s, &PINTEREST).await, &two_mail).as_deref(),
        Some("EMPLOYEE")
    );

    // A leaver: out of the last group — removed.
    set_members(&s, &users, &[]).await;
    s.check(&pin).await;
    let p = plan(&s).await;
    assert_eq!(
        steps(&p),
        vec![(
            "remove".into(),
            two_mail.clone(),
            "Acme pinterest".into(),
            None
        )],
        "{p}"
    );
    apply(&s, &p).await;
    assert_eq!(role_of(&emu_state(&s, &PINTEREST).await, &two_mail), None);
    s.check(&pin).await;
    s.check(&tik).await;
    assert_eq!(plan(&s).await["steps"], json!([]), "converged");

    // A workspace that applies its plans by itself: a joiner is invited with no one applying.
    let r = s
        .app
        .http
        .patch(s.app.url("/api/v1/workspace"))
        .bearer_auth(&s.token)
        .json(&json!({ "settings": { "apply_group_plans": "yes" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a boolean, named");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["field"], "settings.apply_group_plans", "{v}");
    let r = s
        .app
        .http
        .patch(s.app.url("/api/v1/workspace"))
        .bearer_auth(&s.token)
        .json(&json!({ "settings": { "apply_group_plans": true } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (sy, sy_mail) = identity(&s, "sy.sync").await;
    set_members(&s, &users, &[&sy]).await;
    let mut invited = false;
    for _ in 0..200 {
        let st = emu_state(&s, &PINTEREST).await;
        if st["invites"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["invitee"] == sy_mail.as_str() && i["role"] == "EMPLOYEE")
        {
            invited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(invited, "the group sync invited the joiner by itself");
    let syncs = s
        .get_json("/api/v1/tasks?kind=directory.group_sync&limit=10")
        .await;
    assert!(
        syncs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["status"] == "completed"),
        "{syncs}"
    );
}
