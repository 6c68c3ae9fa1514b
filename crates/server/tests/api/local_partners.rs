//! Local partners through the API: an Admin adds one with its Host Admin and first Guest
//! Admin; the Guest Admin invites a Guest User; each sees and may do only what their role in
//! the partner allows; a guest of another partner and a Member see nothing of it; a native
//! partner is linked to it; bad input names its field and changes nothing.

use castellan_domain::auth::ApiScope;
use serde_json::{Value, json};

use crate::support::{Setup, setup};

async fn call(s: &Setup, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = s.app.url(path);
    let req = match method {
        "GET" => s.app.http.get(url),
        _ => s.app.http.post(url).json(&body),
    };
    let r = req.bearer_auth(token).send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn token_of(s: &Setup, person: &str) -> String {
    s.app
        .token(s.ws, person.parse().unwrap(), ApiScope::Write)
        .await
}

#[tokio::test]
async fn a_local_partner_with_its_admins_and_guests() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let owner = s.token.clone();
    let me = s.get_json("/api/v1/me").await;
    let host = me["id"]
        .as_str()
        .or(me["person"]["id"].as_str())
        .unwrap()
        .to_string();
    let add = |body: Value| {
        let (s, owner) = (&s, owner.clone());
        async move { call(s, &owner, "POST", "/api/v1/local-partners", body).await }
    };
    // Bad input names its field; nothing is written.
    for (body, field) in [
        (
            json!({ "name": "", "first_email": "lead@brightwave.example.net" }),
            "name",
        ),
        (
            json!({ "name": "Brightwave", "domains": "not a domain!", "first_email": "lead@brightwave.example.net" }),
            "domains",
        ),
        (
            json!({ "name": "Brightwave", "domains": "brightwave.example.net", "first_email": "lead@elsewhere.example.com" }),
            "first_email",
        ),
        (
            json!({ "name": "Brightwave", "first_email": "not an address" }),
            "first_email",
        ),
        (
            json!({ "name": "Brightwave", "first_email": "lead@brightwave.example.net", "host_admins": ["nope"] }),
            "host_admins",
        ),
    ] {
        let (st, v) = add(body).await;
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (400, Some(field)),
            "{v}"
        );
    }
    assert_eq!(s.get_json("/api/v1/local-partners").await, json!([]));
    let (st, created) = add(json!({ "name": "Brightwave Media", "domains": "brightwave.example.net", "first_email": "lead@brightwave.example.net", "first_name": "Brightwave lead", "host_admins": [host] })).await;
    assert_eq!(st, 201, "{created}");
    let id = created["partner"]["id"].as_str().unwrap().to_string();
    let roles: Vec<(String, String)> = created["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["email"].as_str().unwrap().to_string(),
                p["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(roles.len(), 2, "{created}");
    assert!(
        roles.contains(&("lead@brightwave.example.net".into(), "guest_admin".into())),
        "{roles:?}"
    );
    assert!(roles.iter().any(|(_, r)| r == "host_admin"), "{roles:?}");
    let (st, v) =
        add(json!({ "name": "brightwave media", "first_email": "x@brightwave.example.net" })).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("name")),
        "{v}"
    );
    assert_eq!(
        crate::support::audit_count(&s, "local_partner.create").await,
        1
    );

    // The Guest Admin invites a Guest User of the partner (its domain only).
    let lead_id = created["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "guest_admin")
        .unwrap()["person_id"]
        .as_str()
        .unwrap()
        .to_string();
    let lead = token_of(&s, &lead_id).await;
    let people = format!("/api/v1/local-partners/{id}/people");
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &people,
        json!({ "email": "planner@elsewhere.example.com", "role": "guest_user" }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("email")),
        "{v}"
    );
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &people,
        json!({ "email": "planner@brightwave.example.net", "role": "host_admin" }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("role")),
        "{v}"
    );
    let (st, planner) = call(
        &s,
        &lead,
        "POST",
        &people,
        json!({ "email": "planner@brightwave.example.net", "role": "guest_user" }),
    )
    .await;
    assert_eq!(st, 201, "{planner}");
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &people,
        json!({ "email": "planner@brightwave.example.net", "role": "guest_user" }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("email")),
        "{v}"
    );

    // The Guest User sees the partner but manages nothing.
    let planner = token_of(&s, planner["person_id"].as_str().unwrap()).await;
    let (st, v) = call(
        &s,
        &planner,
        "GET",
        &format!("/api/v1/local-partners/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["may_manage"], false);
    assert_eq!(v["partner"]["my_role"], "guest_user");
    assert_eq!(v["people"].as_array().unwrap().len(), 3);
    let (st, _) = call(
        &s,
        &planner,
        "POST",
        &people,
        json!({ "email": "buyer@brightwave.example.net", "role": "guest_user" }),
    )
    .await;
    assert_eq!(st, 403);

    // A guest of another partner, and a Member of the workspace, see nothing of it.
    let (st, other) =
        add(json!({ "name": "Northstar Agency", "first_email": "lead@northstar.example.net" }))
            .await;
    assert_eq!(st, 201, "{other}");
    let other_lead = other["people"][0]["person_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other_lead = token_of(&s, &other_lead).await;
    let member = s
        .app
        .person(s.ws, castellan_domain::workspace::WorkspaceRole::Member)
        .await;
    let member = s.app.token(s.ws, member, ApiScope::Write).await;
    for t in [&other_lead, &member] {
        let (st, _) = call(
            &s,
            t,
            "GET",
            &format!("/api/v1/local-partners/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(st, 404);
        let (st, _) = call(
            &s,
            t,
            "POST",
            &people,
            json!({ "email": "x@brightwave.example.net", "role": "guest_user" }),
        )
        .await;
        assert_eq!(st, 404);
        let (st, list) = call(&s, t, "GET", "/api/v1/local-partners", Value::Null).await;
        assert_eq!(st, 200);
        assert!(!list.to_string().contains("Brightwave"), "{list}");
    }
    // Their own partner, to the other lead.
    let (_, list) = call(
        &s,
        &other_lead,
        "GET",
        "/api/v1/local-partners",
        Value::Null,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // A native partner of an app is linked to it (the same organization).
    let app = s.connect("pinterest").await;
    assert_eq!(s.check(&app).await["status"], "completed");
    let native = (castellan_emulators::scenario::PINTEREST_BRAND + 1).to_string();
    let link = format!("/api/v1/local-partners/{id}/native-partners");
    let (st, _) = call(
        &s,
        &lead,
        "POST",
        &link,
        json!({ "app_id": app, "partner_id": native }),
    )
    .await;
    assert_eq!(st, 403);
    let (st, v) = call(
        &s,
        &owner,
        "POST",
        &link,
        json!({ "app_id": app, "partner_id": "999" }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (404, Some("partner_id")),
        "{v}"
    );
    let (st, v) = call(
        &s,
        &owner,
        "POST",
        &link,
        json!({ "app_id": app, "partner_id": native }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["native_partners"][0]["partner_id"],
        native.as_str(),
        "{v}"
    );
}

/// An account shared with a partner as Owner reaches every guest of it as its Managers, who
/// share it onward within the partner only, as Collaborator; the Guest User then logs in with
/// it and sees the current code; a guest of another partner holds none of it.
#[tokio::test]
async fn an_account_shared_with_a_partner() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let owner = s.token.clone();
    let add = |name: &'static str, first: &'static str| {
        let (s, owner) = (&s, owner.clone());
        async move {
            let (st, v) = call(
                s,
                &owner,
                "POST",
                "/api/v1/local-partners",
                json!({ "name": name, "first_email": first }),
            )
            .await;
            assert_eq!(st, 201, "{v}");
            let id = v["partner"]["id"].as_str().unwrap().to_string();
            let lead = v["people"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["role"] == "guest_admin")
                .unwrap()["person_id"]
                .as_str()
                .unwrap()
                .to_string();
            (id, lead)
        }
    };
    let (bw, lead_id) = add("Brightwave Media", "lead@brightwave.example.net").await;
    let (_, other_id) = add("Northstar Agency", "lead@northstar.example.net").await;
    let lead = token_of(&s, &lead_id).await;
    let other = token_of(&s, &other_id).await;
    let (st, planner) = call(
        &s,
        &lead,
        "POST",
        &format!("/api/v1/local-partners/{bw}/people"),
        json!({ "email": "planner@brightwave.example.net", "role": "guest_user" }),
    )
    .await;
    assert_eq!(st, 201, "{planner}");
    let planner_id = planner["person_id"].as_str().unwrap().to_string();
    let planner = token_of(&s, &planner_id).await;

    // The Owner's account, with its one-time codes, shared with the partner as Owner.
    let (st, card) = call(
        &s,
        &owner,
        "POST",
        "/api/v1/me/accounts",
        json!({ "platform": "pinterest", "label": "Acme ads login" }),
    )
    .await;
    assert!(st == 201 || st == 200, "{card}");
    let card = card["id"]
        .as_str()
        .or(card["card"]["id"].as_str())
        .unwrap()
        .to_string();
    let (st, v) = call(&s, &owner, "POST", &format!("/api/v1/accounts/{card}/connect"), json!({ "login": "ads@acme.example.com", "password": "Shared-Pw-7781", "totp": "JBSWY3DPEHPK3PXP" })).await;
    assert_eq!(st, 200, "{v}");
    let shares = format!("/api/v1/accounts/{card}/shares");
    let (st, v) = call(
        &s,
        &owner,
        "POST",
        &shares,
        json!({ "partner_id": bw, "role": "owner" }),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["partner_id"], bw.as_str(), "{v}");

    // The Guest Admin holds it through the partner; the other partner's guest does not.
    let (_, mine) = call(&s, &lead, "GET", "/api/v1/me/accounts", Value::Null).await;
    assert!(mine.to_string().contains("Acme ads login"), "{mine}");
    assert!(
        mine.to_string().contains("partner:Brightwave Media"),
        "the card says which partner it came through: {mine}"
    );
    let (_, theirs) = call(&s, &other, "GET", "/api/v1/me/accounts", Value::Null).await;
    assert!(!theirs.to_string().contains("Acme ads login"), "{theirs}");
    let (st, _) = call(
        &s,
        &other,
        "POST",
        &format!("/api/v1/accounts/{card}/reveal"),
        json!({}),
    )
    .await;
    assert_eq!(st, 404);

    // A Manager shares onward within the partner only, as Collaborator.
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &shares,
        json!({ "person_id": other_id, "role": "collaborator" }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("person_id")),
        "{v}"
    );
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &shares,
        json!({ "person_id": planner_id, "role": "owner" }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("role")),
        "{v}"
    );
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &format!("/api/v1/accounts/{card}/connect"),
        json!({ "login": "x", "password": "y" }),
    )
    .await;
    assert_eq!(
        st, 403,
        "a Manager shares; it does not change the account: {v}"
    );
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &shares,
        json!({ "person_id": planner_id, "role": "collaborator" }),
    )
    .await;
    assert_eq!(st, 201, "{v}");

    // The Guest User logs in with it: the password and the current code.
    let (st, shown) = call(
        &s,
        &planner,
        "POST",
        &format!("/api/v1/accounts/{card}/reveal"),
        json!({}),
    )
    .await;
    assert_eq!(st, 200, "{shown}");
    assert_eq!(shown["password"], "Shared-Pw-7781", "{shown}");
    assert_eq!(
        shown["totp_code"].as_str().map(str::len),
        Some(6),
        "{shown}"
    );
    assert!(crate::support::audit_count(&s, "account.share").await >= 2);
}

/// Ending a partnership: its Guest Admin may not; its Host Admin (or an Admin) does, and every
/// guest of it is revoked, the accounts shared with it unshared; once only.
#[tokio::test]
async fn ending_a_partnership_revokes_its_guests() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let owner = s.token.clone();
    let (st, created) = call(
        &s,
        &owner,
        "POST",
        "/api/v1/local-partners",
        json!({ "name": "Brightwave Media", "first_email": "lead@brightwave.example.net" }),
    )
    .await;
    assert_eq!(st, 201, "{created}");
    let id = created["partner"]["id"].as_str().unwrap().to_string();
    let lead_id = created["people"][0]["person_id"]
        .as_str()
        .unwrap()
        .to_string();
    let lead = token_of(&s, &lead_id).await;
    let (st, card) = call(
        &s,
        &owner,
        "POST",
        "/api/v1/me/accounts",
        json!({ "platform": "tiktok", "label": "Agency login" }),
    )
    .await;
    assert_eq!(st, 201, "{card}");
    let card = card["id"].as_str().unwrap().to_string();
    let (st, v) = call(
        &s,
        &owner,
        "POST",
        &format!("/api/v1/accounts/{card}/shares"),
        json!({ "partner_id": id, "role": "collaborator" }),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let end = format!("/api/v1/local-partners/{id}/end");
    let (st, _) = call(&s, &lead, "POST", &end, Value::Null).await;
    assert_eq!(st, 403);
    let (st, v) = call(&s, &owner, "POST", &end, Value::Null).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["partner"]["ended_at"].is_string(), "{v}");
    assert!(
        v["people"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["role"] == "host_admin" || p["disabled"] == true),
        "{v}"
    );
    let (st, _) = call(&s, &owner, "POST", &end, Value::Null).await;
    assert_eq!(st, 409);
    assert_eq!(
        s.get_json(&format!("/api/v1/accounts/{card}/shares")).await,
        json!([])
    );
    // The revoked lead's token no longer works.
    let (st, _) = call(&s, &lead, "GET", "/api/v1/local-partners", Value::Null).await;
    assert_eq!(st, 401);
    assert_eq!(
        crate::support::audit_count(&s, "local_partner.end").await,
        1
    );
}

/// A partner's Guest Admin manages its guests: a new role, a new link, revocation; a Guest
/// User and a guest of another partner may not; only guests of the partner are managed.
#[tokio::test]
async fn a_guest_admin_manages_the_partners_guests() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let owner = s.token.clone();
    let (_, created) = call(
        &s,
        &owner,
        "POST",
        "/api/v1/local-partners",
        json!({ "name": "Brightwave Media", "first_email": "lead@brightwave.example.net" }),
    )
    .await;
    let id = created["partner"]["id"].as_str().unwrap().to_string();
    let lead = token_of(&s, created["people"][0]["person_id"].as_str().unwrap()).await;
    let (_, other) = call(
        &s,
        &owner,
        "POST",
        "/api/v1/local-partners",
        json!({ "name": "Northstar", "first_email": "lead@northstar.example.net" }),
    )
    .await;
    let other = token_of(&s, other["people"][0]["person_id"].as_str().unwrap()).await;
    let (st, planner) = call(
        &s,
        &lead,
        "POST",
        &format!("/api/v1/local-partners/{id}/people"),
        json!({ "email": "planner@brightwave.example.net", "role": "guest_user" }),
    )
    .await;
    assert_eq!(st, 201, "{planner}");
    let planner_id = planner["person_id"].as_str().unwrap().to_string();
    let planner = token_of(&s, &planner_id).await;
    let url = format!("/api/v1/local-partners/{id}/people/{planner_id}");
    // Not theirs to manage.
    let (st, _) = call(&s, &planner, "POST", &url, json!({ "action": "resend" })).await;
    assert_eq!(st, 403);
    let (st, _) = call(&s, &other, "POST", &url, json!({ "action": "revoke" })).await;
    assert_eq!(st, 404);
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &url,
        json!({ "action": "set_role", "role": "host_admin" }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("role")),
        "{v}"
    );
    let (st, v) = call(&s, &lead, "POST", &url, json!({ "action": "dance" })).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("action")),
        "{v}"
    );
    // A new link, a new role, then revoked.
    let (st, v) = call(&s, &lead, "POST", &url, json!({ "action": "resend" })).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = call(
        &s,
        &lead,
        "POST",
        &url,
        json!({ "action": "set_role", "role": "guest_admin" }),
    )
    .await;
    assert_eq!((st, v["role"].as_str()), (200, Some("guest_admin")), "{v}");
    let (st, _) = call(
        &s,
        &planner,
        "POST",
        &format!("/api/v1/local-partners/{id}/people"),
        json!({ "email": "buyer@brightwave.example.net", "role": "guest_user" }),
    )
    .await;
    assert_eq!(st, 201, "now a Guest Admin, they invite");
    let (st, v) = call(&s, &lead, "POST", &url, json!({ "action": "revoke" })).await;
    assert_eq!((st, v["disabled"].as_bool()), (200, Some(true)), "{v}");
    // The Host Admin is no guest to manage.
    let me = s.get_json("/api/v1/me").await;
    let host = me["id"]
        .as_str()
        .or(me["person"]["id"].as_str())
        .unwrap()
        .to_string();
    let (st, _) = call(
        &s,
        &lead,
        "POST",
        &format!("/api/v1/local-partners/{id}/people/{host}"),
        json!({ "action": "revoke" }),
    )
    .await;
    assert_eq!(st, 404);
}

/// A guest user of the workspace in no partner yet (a native partner's admin invited earlier)
/// joins a local partner as they are; a guest of another partner does not.
#[tokio::test]
async fn an_existing_guest_joins_a_partner() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let owner = s.token.clone();
    let (st, g) = call(
        &s,
        &owner,
        "POST",
        "/api/v1/guests",
        json!({ "email": "lead@brightwave.example.net" }),
    )
    .await;
    assert_eq!(st, 201, "{g}");
    let (_, a) = call(
        &s,
        &owner,
        "POST",
        "/api/v1/local-partners",
        json!({ "name": "Brightwave Media", "first_email": "boss@brightwave.example.net" }),
    )
    .await;
    let a = a["partner"]["id"].as_str().unwrap().to_string();
    let (st, v) = call(
        &s,
        &owner,
        "POST",
        &format!("/api/v1/local-partners/{a}/people"),
        json!({ "email": "lead@brightwave.example.net", "role": "guest_admin" }),
    )
    .await;
    assert_eq!((st, v["role"].as_str()), (201, Some("guest_admin")), "{v}");
    let (_, b) = call(
        &s,
        &owner,
        "POST",
        "/api/v1/local-partners",
        json!({ "name": "Northstar", "first_email": "x@northstar.example.net" }),
    )
    .await;
    let b = b["partner"]["id"].as_str().unwrap().to_string();
    let (st, v) = call(
        &s,
        &owner,
        "POST",
        &format!("/api/v1/local-partners/{b}/people"),
        json!({ "email": "lead@brightwave.example.net", "role": "guest_user" }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("email")),
        "a guest belongs to one partner: {v}"
    );
}
