//! The authorization matrix of local partners' routes for the partner roles: a Member of the
//! workspace outside the partner, the partner's Host Admin, its Guest Admin, its Guest User,
//! and the Guest Admin of another partner, each with the exact expected status. Every cell runs
//! in a fresh world (a partner with its people and an account card shared with it as Owner), so
//! a cell that ends or revokes changes nothing another cell sees. The workspace roles and
//! another workspace's Owner are the columns of `matrix.rs`, which holds the same routes.

use castellan_domain::WorkspaceId;
use castellan_domain::auth::ApiScope;
use castellan_domain::workspace::WorkspaceRole;
use reqwest::Method;
use serde_json::{Value, json};

use castellan_testkit::{TestApp, unique};

/// Callers, in the order of each row's expectations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Who {
    /// A Member of the workspace in no partner.
    Member,
    HostAdmin,
    GuestAdmin,
    GuestUser,
    /// The Guest Admin of another partner of the same workspace.
    OtherGuest,
}

pub(crate) const WHO: [Who; 5] = [
    Who::Member,
    Who::HostAdmin,
    Who::GuestAdmin,
    Who::GuestUser,
    Who::OtherGuest,
];

/// One partner with its people, another partner's Guest Admin, and a card shared with the
/// partner as Owner (its Guest Admins are its Managers).
pub(crate) struct World {
    pub(crate) partner: String,
    pub(crate) partner_name: String,
    pub(crate) guest_user: String,
    pub(crate) card: String,
    pub(crate) partner_share: String,
    pub(crate) member_id: String,
    /// The callers, in `WHO`'s order.
    pub(crate) people: [castellan_domain::PersonId; 5],
    pub(crate) tokens: [String; 5],
}

struct Row {
    method: Method,
    /// `{P}` the partner, `{GU}` its Guest User, `{card}` the shared card, `{share}` the
    /// partner's share of it, `{app}` an app of the workspace, `{member}` the plain Member.
    path: &'static str,
    body: fn(&World) -> Value,
    expect: [u16; 5],
}

fn rows() -> Vec<Row> {
    let r = |method: Method, path: &'static str, body: fn(&World) -> Value, expect| Row {
        method,
        path,
        body,
        expect,
    };
    let none = |_: &World| Value::Null;
    let (g, p) = (Method::GET, Method::POST);
    vec![
        // Each sees their own partners only (the body check below holds the rest out).
        r(g.clone(), "/api/v1/local-partners", none, [200; 5]),
        r(
            p.clone(),
            "/api/v1/local-partners",
            |_| json!({"name": format!("new {}", unique()), "first_email": format!("n{}@new.example.net", unique())}),
            [403; 5],
        ),
        r(
            g.clone(),
            "/api/v1/local-partners/{P}",
            none,
            [404, 200, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{P}/people",
            |_| json!({"email": format!("g{}@p.example.net", unique()), "role": "guest_user"}),
            [404, 201, 201, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{P}/people",
            // Host Admin is named by the workspace's Admins only.
            |_| json!({"email": format!("g{}@p.example.net", unique()), "role": "host_admin"}),
            [404, 400, 400, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{P}/people/{GU}",
            |_| json!({"action": "resend"}),
            [404, 200, 200, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{P}/people/{GU}",
            |_| json!({"action": "set_role", "role": "guest_admin"}),
            [404, 200, 200, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{P}/people/{GU}",
            |_| json!({"action": "revoke"}),
            [404, 200, 200, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{P}/end",
            none,
            [404, 200, 403, 403, 404],
        ),
        // Linking is the workspace's Admins' alone, whatever the partner.
        r(
            p.clone(),
            "/api/v1/local-partners/{P}/native-partners",
            |_| json!({"app_id": "nope", "partner_id": "1"}),
            [403; 5],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{app}/members/nope/invite-guest",
            |w| json!({"partner_id": w.partner}),
            [403; 5],
        ),
        // The card shared with the partner: held by its guests, nobody else.
        r(g.clone(), "/api/v1/me/accounts", none, [200; 5]),
        r(
            p.clone(),
            "/api/v1/accounts/{card}/reveal",
            none,
            [404, 404, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{card}/connect",
            |_| json!({"login": "x@acme.example.com", "password": "y"}),
            [404, 404, 403, 403, 404],
        ),
        r(
            g.clone(),
            "/api/v1/accounts/{card}/shares",
            none,
            [404, 404, 200, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{card}/shares",
            |w| json!({"person_id": w.guest_user, "role": "collaborator"}),
            [404, 404, 201, 403, 404],
        ),
        // A Manager shares within the partner only: not with the workspace's people, not
        // as Owner, not with another partner.
        r(
            p.clone(),
            "/api/v1/accounts/{card}/shares",
            |w| json!({"person_id": w.member_id, "role": "collaborator"}),
            [404, 404, 400, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{card}/shares",
            |w| json!({"person_id": w.guest_user, "role": "owner"}),
            [404, 404, 400, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{card}/shares",
            |w| json!({"partner_id": w.partner, "role": "collaborator"}),
            [404, 404, 400, 403, 404],
        ),
        // The partner's own share is the Owner's to end.
        r(
            Method::DELETE,
            "/api/v1/accounts/{card}/shares/{share}",
            none,
            [404, 404, 403, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{card}/rotation/confirm",
            none,
            [404, 404, 403, 403, 404],
        ),
    ]
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if !body.is_null() {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn ok(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (st, v) = call(app, token, Method::POST, path, body).await;
    assert!(st == 200 || st == 201, "{path}: {st} {v}");
    v
}

pub(crate) async fn world(app: &TestApp, ws: WorkspaceId, owner: &str) -> World {
    let n = unique();
    let token = |p: &str| {
        let p = p.parse().unwrap();
        async move { app.token(ws, p, ApiScope::Admin).await }
    };
    let member = app.person(ws, WorkspaceRole::Member).await;
    let host = app.person(ws, WorkspaceRole::Member).await;
    let partner_name = format!("Partner {n}");
    let v = ok(
        app,
        owner,
        "/api/v1/local-partners",
        json!({"name": partner_name, "first_email": format!("lead{n}@p.example.net"), "host_admins": [host.to_string()]}),
    )
    .await;
    let partner = v["partner"]["id"].as_str().unwrap().to_string();
    let lead = v["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "guest_admin")
        .unwrap()["person_id"]
        .as_str()
        .unwrap()
        .to_string();
    let gu = ok(
        app,
        owner,
        &format!("/api/v1/local-partners/{partner}/people"),
        json!({"email": format!("user{n}@p.example.net"), "role": "guest_user"}),
    )
    .await["person_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = ok(
        app,
        owner,
        "/api/v1/local-partners",
        json!({"name": format!("Other {n}"), "first_email": format!("lead{n}@q.example.net")}),
    )
    .await["people"][0]["person_id"]
        .as_str()
        .unwrap()
        .to_string();
    let card = ok(
        app,
        owner,
        "/api/v1/me/accounts",
        json!({"platform": "pinterest", "label": format!("Card {n}")}),
    )
    .await;
    let card = card["id"]
        .as_str()
        .or(card["card"]["id"].as_str())
        .unwrap()
        .to_string();
    ok(
        app,
        owner,
        &format!("/api/v1/accounts/{card}/connect"),
        json!({"login": "ads@acme.example.com", "password": "Shared-Pw-7781"}),
    )
    .await;
    let share = ok(
        app,
        owner,
        &format!("/api/v1/accounts/{card}/shares"),
        json!({"partner_id": partner, "role": "owner"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    World {
        partner,
        partner_name,
        guest_user: gu.clone(),
        card,
        partner_share: share,
        member_id: member.to_string(),
        people: [
            member,
            host,
            lead.parse().unwrap(),
            gu.parse().unwrap(),
            other.parse().unwrap(),
        ],
        tokens: [
            token(&member.to_string()).await,
            token(&host.to_string()).await,
            token(&lead).await,
            token(&gu).await,
            token(&other).await,
        ],
    }
}

/// An app of the workspace, for the seat routes (its seats do not exist: past authorization
/// the answer would be 404).
pub(crate) async fn fixture_app(app: &TestApp, ws: WorkspaceId, owner: &str) -> String {
    let account = ok(
        app,
        owner,
        "/api/v1/automation-accounts",
        json!({"platform": "tiktok", "label": "fx bot", "email": "fx@matrix.example.com", "password": "fixture-password"}),
    )
    .await["account"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let new = castellan_store::NewApp {
        platform: castellan_domain::apps::Platform::Tiktok,
        label: "fx app".into(),
        business_id: "7".into(),
        login_method: castellan_domain::apps::LoginMethod::Sso,
        automation_account_id: account,
        api_base_url: None,
        next_check_at: None,
    };
    app.store
        .ws(ws)
        .create_app(&castellan_testkit::cli(), &new)
        .await
        .unwrap()
        .id
        .to_string()
}

#[tokio::test]
async fn partner_routes_for_every_partner_role() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("partners-matrix").await;
    let owner = app.token(ws, owner, ApiScope::Admin).await;
    let app_id = fixture_app(&app, ws, &owner).await;

    let mut failures = Vec::new();
    for row in rows() {
        for (i, who) in WHO.iter().enumerate() {
            let w = world(&app, ws, &owner).await;
            let path = row
                .path
                .replace("{P}", &w.partner)
                .replace("{GU}", &w.guest_user)
                .replace("{card}", &w.card)
                .replace("{share}", &w.partner_share)
                .replace("{app}", &app_id);
            let (got, body) = call(
                &app,
                &w.tokens[i],
                row.method.clone(),
                &path,
                (row.body)(&w),
            )
            .await;
            if got != row.expect[i] {
                failures.push(format!(
                    "{} {} as {who:?}: expected {}, got {got} {body}",
                    row.method, row.path, row.expect[i]
                ));
            }
            // Those outside the partner learn nothing of it, even from a 200.
            let text = body.to_string();
            if matches!(who, Who::Member | Who::OtherGuest)
                && (text.contains(&w.partner)
                    || text.contains(&w.partner_name)
                    || text.contains(&w.card))
            {
                failures.push(format!(
                    "{} {} as {who:?}: the answer names the partner or its card: {text}",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "partner authorization mismatches:\n{}",
        failures.join("\n")
    );
}
