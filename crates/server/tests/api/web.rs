//! The web app over HTTP (no browser): every web route × every workspace role, signed out,
//! and another workspace's ids, with the exact outcome the policy gives; the CSRF guard; the
//! session cookie's flags; a sign-in throttle shared by every process on one database.

use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{PersonId, WorkspaceId};
use castellan_server::{AppState, ServerSettings};
use castellan_services::Services;
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::support::{Setup, setup};

const PASSWORD: &str = "web matrix password 1";

/// A browser-like client signed in as one person: its cookies and CSRF token.
struct Session {
    http: reqwest::Client,
    csrf: String,
}

/// `PASSWORD` for `person`, who need not change it.
async fn set_password(s: &Setup, person: PersonId) {
    crate::support::set_password(&s.app, person, PASSWORD).await;
    sqlx::query("UPDATE people SET must_change_password = 0 WHERE id = $1")
        .bind(person.to_string())
        .execute(s.app.store.pool())
        .await
        .unwrap();
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn sign_in(s: &Setup, email: &str, workspace: &str) -> Session {
    let http = client();
    let r = http
        .post(s.app.url("/signin"))
        .header("origin", &s.app.base)
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("workspace", workspace),
            ("next", "/apps"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{email} signs in");
    let csrf = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("castellan_csrf="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap();
    Session { http, csrf }
}

async fn person(s: &Setup, ws: WorkspaceId, role: WorkspaceRole) -> String {
    let id = s.app.person(ws, role).await;
    set_password(s, id).await;
    s.app.store.ws(ws).person(id).await.unwrap().email
}

/// Outcomes per caller: signed out, Guest, Member, Admin, Owner, the Owner of another
/// workspace (with workspace A's ids). `S` is the sign-in redirect.
const S: u16 = 1;

struct Row {
    post: bool,
    path: String,
    form: Vec<(&'static str, String)>,
    expect: [u16; 6],
}

#[tokio::test]
async fn every_web_route_answers_as_the_policy_says_for_every_caller() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect("pinterest").await;
    assert_eq!(s.check(&app).await["status"], "completed");
    let (ws_b, owner_b) = s.app.workspace("other").await;
    let owner_a = s.get_json("/api/v1/me").await["person"]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_a_id: PersonId = s.get_json("/api/v1/me").await["person"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    set_password(&s, owner_a_id).await;
    set_password(&s, owner_b).await;
    let guest = person(&s, s.ws, WorkspaceRole::Guest).await;
    let member = person(&s, s.ws, WorkspaceRole::Member).await;
    let admin = person(&s, s.ws, WorkspaceRole::Admin).await;
    let mut sessions = vec![None];
    for (email, ws) in [
        (guest.as_str(), "acme"),
        (member.as_str(), "acme"),
        (admin.as_str(), "acme"),
        (owner_a.as_str(), "acme"),
        ("owner@other.example.com", "other"),
    ] {
        sessions.push(Some(sign_in(&s, email, ws).await));
    }
    let _ = ws_b;

    // Workspace A's ids.
    let seat = s
        .tab(&app, "unmatched")
        .await
        .into_iter()
        .find(|m| m["email"] != "castellan-automation@acme.example.com")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let report = s.get_json(&format!("/api/v1/apps/{app}/reports")).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let task = s.get_json("/api/v1/tasks?limit=1").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let identity = s.get_json("/api/v1/directory/identities?limit=1").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let person_id = s.app.person(s.ws, WorkspaceRole::Member).await.to_string();
    // A local partner nobody of the callers belongs to: only Admins and Owners see it.
    let local = s
        .app
        .store
        .ws(s.ws)
        .create_local_partner(&castellan_testkit::cli(), "fx partner", &[], &[])
        .await
        .unwrap()
        .id;
    let guest = castellan_services::guests::invite(
        &s.app.services(),
        s.ws,
        &castellan_testkit::cli(),
        "fx-guest@partner.example.com",
        None,
    )
    .await
    .unwrap()
    .0
    .id;
    // An automation account's card: held by the workspace's Owners only (reveal, audited), never
    // shared or changed through the card; 404 for everyone else.
    let card = s.get_json("/api/v1/accounts").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = s.get_json("/api/v1/tokens").await["items"][0]["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());

    let scim_token = s
        .app
        .store
        .ws(s.ws)
        .create_scim_token(&castellan_testkit::cli(), "fx", "fx-scim-hash")
        .await
        .unwrap()
        .id;
    let g = |path: String, expect: [u16; 6]| Row {
        post: false,
        path,
        form: Vec::new(),
        expect,
    };
    let p = |path: String, form: Vec<(&'static str, String)>, expect: [u16; 6]| Row {
        post: true,
        path,
        form,
        expect,
    };
    let a = format!("/apps/{app}");
    let rows = vec![
        // Home: Apps for those who read them, else All accounts.
        g("/".into(), [S, 303, 303, 303, 303, 303]),
        // A sign-in link that is not one: the welcome page says so, whoever asks.
        g("/welcome?token=nope".into(), [404, 404, 404, 404, 404, 404]),
        // The directory (everyone's names and e-mails) is for Admins and Owners.
        g("/directory".into(), [S, 403, 403, 200, 200, 200]),
        g("/directory/guests".into(), [S, 403, 403, 200, 200, 200]),
        g(
            "/directory/guests/invite".into(),
            [S, 403, 403, 200, 200, 200],
        ),
        g("/accounts/add".into(), [S, 200, 200, 200, 200, 200]),
        // Partners: anyone may open the page (it lists what they may see); adding one is for
        // Admins and Owners; a partner's page only for those who may see it.
        g("/partners".into(), [S, 200, 200, 200, 200, 200]),
        g("/partners/add".into(), [S, 403, 403, 200, 200, 200]),
        g(format!("/partners/{local}"), [S, 404, 404, 200, 200, 404]),
        g(
            format!("/partners/{local}/invite"),
            [S, 404, 404, 200, 200, 404],
        ),
        p(
            format!("/partners/{local}/invite"),
            vec![
                ("email", "x@p.example.com".into()),
                ("role", "guest_user".into()),
            ],
            // The Admin invites the address; the Owner's same form is told it is taken.
            [S, 404, 404, 303, 400, 404],
        ),
        p(
            format!("/partners/{local}/people/{person_id}/resend"),
            vec![],
            // The person is no guest of the partner: not found, for those who may see it.
            [S, 404, 404, 404, 404, 404],
        ),
        p(
            "/partners/link".into(),
            vec![
                ("local_partner_id", local.to_string()),
                ("app_id", "nope".into()),
                ("partner_id", "1".into()),
            ],
            [S, 403, 403, 404, 404, 404],
        ),
        g(
            format!("/partners/{local}/end"),
            [S, 404, 404, 200, 200, 404],
        ),
        p(
            format!("/partners/{local}/end"),
            vec![],
            // The Admin ends it; the Owner's second try is told (on the page) it has ended.
            [S, 404, 404, 303, 303, 404],
        ),
        g(format!("/apps/{app}/access"), [S, 403, 403, 200, 200, 404]),
        g("/signin".into(), [200, 200, 200, 200, 200, 200]),
        // Directory → Groups: the directory's readers see it; mapping and plans are Admins'.
        g("/directory/groups".into(), [S, 403, 403, 200, 200, 200]),
        p(
            "/directory/groups/mappings".into(),
            vec![
                ("group_id", uuid::Uuid::now_v7().to_string()),
                ("app_id", uuid::Uuid::now_v7().to_string()),
                ("app_role", "collaborator".into()),
                ("business_role", "EMPLOYEE".into()),
            ],
            [S, 403, 403, 400, 400, 400],
        ),
        p(
            format!("/directory/groups/mappings/{}/remove", uuid::Uuid::now_v7()),
            vec![],
            [S, 403, 403, 404, 404, 404],
        ),
        p(
            "/directory/groups/apply".into(),
            vec![("plan_hash", "not the plan's".into())],
            [S, 403, 403, 400, 400, 400],
        ),
        // OIDC sign-in: public; without this browser's flow cookie the callback is refused,
        // and a workspace without an IdP has nothing to start.
        g(
            "/signin/oidc/callback?code=x&state=y".into(),
            [400, 400, 400, 400, 400, 400],
        ),
        g(
            format!("/signin/oidc/{}", uuid::Uuid::now_v7()),
            [404, 404, 404, 404, 404, 404],
        ),
        // Test sign-in: Admins and Owners; nothing is set up yet.
        g(
            "/settings/identity-provider/oidc/test".into(),
            [S, 403, 403, 404, 404, 404],
        ),
        // Only Owners set who the IdP signs in; the other workspace's Owner sets their own.
        p(
            "/settings/identity-provider/oidc".into(),
            vec![
                ("display_name", "Okta".into()),
                ("issuer", "https://acme.okta.example.com".into()),
                ("client_id", "castellan".into()),
                ("client_secret", "s3cret".into()),
                ("enabled", "on".into()),
            ],
            [S, 403, 403, 403, 303, 303],
        ),
        p(
            "/settings/identity-provider/oidc/remove".into(),
            vec![],
            [S, 403, 403, 403, 303, 303],
        ),
        g("/password".into(), [S, 200, 200, 200, 200, 200]),
        g("/apps".into(), [S, 403, 403, 200, 200, 200]),
        g("/apps/connect".into(), [S, 403, 403, 200, 200, 200]),
        g(a.clone(), [303, 303, 303, 303, 303, 303]),
        g(format!("{a}/members"), [S, 403, 403, 200, 200, 404]),
        g(
            format!("{a}/members?tab=unmatched"),
            [S, 403, 403, 200, 200, 404],
        ),
        g(format!("{a}/assets"), [S, 403, 403, 200, 200, 404]),
        g(format!("{a}/partners"), [S, 403, 403, 200, 200, 404]),
        g(
            format!("{a}/partners/999/connect"),
            [S, 403, 403, 404, 404, 404],
        ),
        g(
            format!("{a}/partners/999/change/remove"),
            [S, 403, 403, 404, 404, 404],
        ),
        g(format!("{a}/reports"), [S, 403, 403, 200, 200, 404]),
        g(
            format!("{a}/reports/{report}"),
            [S, 403, 403, 303, 303, 404],
        ),
        g(format!("{a}/activity"), [S, 403, 403, 200, 200, 404]),
        g(format!("{a}/settings"), [S, 403, 403, 200, 200, 404]),
        g(format!("{a}/progress"), [S, 403, 403, 200, 200, 404]),
        g(format!("{a}/remove"), [S, 403, 403, 200, 200, 404]),
        g(
            format!("{a}/members/{seat}/match"),
            [S, 403, 403, 200, 200, 404],
        ),
        g(
            format!("{a}/members/{seat}/exempt"),
            [S, 403, 403, 200, 200, 404],
        ),
        g(
            format!("{a}/members/{seat}/guest"),
            [S, 403, 403, 200, 200, 404],
        ),
        g(
            format!("{a}/members/{seat}/remove"),
            [S, 403, 403, 200, 200, 404],
        ),
        g(
            format!("{a}/members/{seat}/role"),
            [S, 403, 403, 200, 200, 404],
        ),
        g(format!("{a}/invite"), [S, 403, 403, 200, 200, 404]),
        g(
            format!("{a}/reports/{report}/apply"),
            [S, 403, 403, 200, 200, 404],
        ),
        g(
            format!("{a}/reports/{report}/dismiss"),
            [S, 403, 403, 200, 200, 404],
        ),
        g("/automation".into(), [S, 403, 403, 200, 200, 200]),
        g(format!("/automation/{task}"), [S, 403, 403, 200, 200, 404]),
        g("/directory/import".into(), [S, 403, 403, 200, 200, 200]),
        g("/activity".into(), [S, 403, 403, 200, 200, 200]),
        g("/activity/verify".into(), [S, 403, 403, 200, 200, 200]),
        g("/accounts".into(), [S, 200, 200, 200, 200, 200]),
        g(
            format!("/accounts/{card}/connect"),
            [S, 404, 404, 404, 403, 404],
        ),
        g(
            format!("/accounts/{card}/share"),
            [S, 404, 404, 404, 403, 404],
        ),
        g(format!("/accounts/{card}"), [S, 404, 404, 404, 200, 404]),
        g(
            format!("/accounts/export.csv?card={card}"),
            [S, 404, 404, 404, 200, 404],
        ),
        g("/settings".into(), [S, 403, 403, 200, 200, 200]),
        g("/settings/tokens".into(), [S, 403, 200, 200, 200, 200]),
        g(
            format!("/apps/{}/members", uuid::Uuid::now_v7()),
            [S, 403, 403, 404, 404, 404],
        ),
        g("/no-such-page".into(), [404, 404, 404, 404, 404, 404]),
        // Writes: harmless forms (bad input answers 400 with the form again, past authorization).
        p(format!("{a}/check"), vec![], [S, 403, 403, 303, 303, 404]),
        p(
            format!("{a}/remove"),
            vec![("reason", String::new())],
            [S, 403, 403, 400, 400, 404],
        ),
        p(
            format!("{a}/members/{seat}/match"),
            vec![("role", "owner".into())],
            [S, 403, 403, 400, 400, 404],
        ),
        p(
            format!("{a}/members/{seat}/exempt"),
            vec![("reason", String::new())],
            [S, 403, 403, 400, 400, 404],
        ),
        p(
            format!("{a}/members/{seat}/unexempt"),
            vec![],
            [S, 403, 403, 303, 303, 404],
        ),
        p(
            format!("{a}/members/{seat}/unmatch"),
            vec![],
            [S, 403, 403, 303, 303, 404],
        ),
        p(
            format!("{a}/changes/preview"),
            vec![("action", "remove".into())],
            [S, 403, 403, 400, 400, 404],
        ),
        p(
            format!("{a}/changes"),
            vec![("action", "remove".into())],
            [S, 403, 403, 400, 400, 404],
        ),
        p(
            format!("{a}/reports/{report}/apply"),
            vec![],
            [S, 403, 403, 400, 400, 404],
        ),
        p(
            format!("{a}/reports/{report}/dismiss"),
            vec![("reason", String::new())],
            [S, 403, 403, 400, 400, 404],
        ),
        p(
            "/apps/connect".into(),
            vec![("platform", "pinterest".into())],
            [S, 403, 403, 400, 400, 400],
        ),
        p(
            format!("{a}/partners/999/connect"),
            vec![("automation_account_id", "x".into())],
            [S, 403, 403, 404, 404, 404],
        ),
        p(
            format!("{a}/partners/999/disconnect"),
            vec![],
            [S, 403, 403, 404, 404, 404],
        ),
        p(
            format!("{a}/partners/999/change/stop-sharing"),
            vec![("plan_hash", "x".into())],
            [S, 403, 403, 404, 404, 404],
        ),
        p(format!("{a}/retry"), vec![], [S, 403, 403, 303, 303, 404]),
        p(
            format!("/automation/{task}/cancel"),
            vec![],
            [S, 403, 403, 303, 303, 404],
        ),
        // Deactivate asks first (the leaver signal); the question is for directory writers.
        g(
            format!("/directory/{identity}/deactivate"),
            [S, 403, 403, 200, 200, 404],
        ),
        p(
            format!("/directory/{identity}/reactivate"),
            vec![],
            [S, 403, 403, 303, 303, 404],
        ),
        p(
            "/settings/workspace".into(),
            vec![("max_removal_share", "7".into())],
            [S, 403, 403, 403, 400, 400],
        ),
        p(
            "/settings/people".into(),
            vec![("email", "not an e-mail".into()), ("role", "member".into())],
            [S, 403, 403, 400, 400, 400],
        ),
        p(
            format!("/settings/people/{person_id}"),
            vec![("role", "member".into())],
            [S, 403, 403, 303, 303, 404],
        ),
        p(
            "/settings/platform-apps".into(),
            vec![("platform", "pinterest".into())],
            [S, 403, 403, 400, 400, 400],
        ),
        p(
            "/settings/tokens".into(),
            vec![("name", String::new()), ("scope", "read".into())],
            [S, 403, 400, 400, 400, 400],
        ),
        p(
            "/directory/guests/invite".into(),
            vec![("email", "not an address".into())],
            [S, 403, 403, 400, 400, 400],
        ),
        p(
            format!("/directory/guests/{guest}/resend"),
            vec![],
            [S, 403, 403, 303, 303, 404],
        ),
        p(
            format!("/directory/guests/{guest}/link"),
            vec![],
            [S, 403, 403, 403, 200, 404],
        ),
        p(
            format!("/directory/guests/{guest}/revoke"),
            vec![],
            [S, 403, 403, 303, 303, 404],
        ),
        p(
            format!("/apps/{app}/rotation"),
            vec![("policy", "schedule".into()), ("days", "30".into())],
            [S, 403, 403, 303, 303, 404],
        ),
        p(
            format!("/accounts/{card}/rotation/confirm"),
            vec![],
            [S, 404, 404, 404, 403, 404],
        ),
        p(
            "/accounts/add".into(),
            vec![("platform", "pinterest".into()), ("label", "Mine".into())],
            [S, 303, 303, 303, 303, 303],
        ),
        p(
            format!("/apps/{app}/access"),
            vec![
                ("app_role", "collaborator".into()),
                ("business_role", "EMPLOYEE".into()),
            ],
            [S, 403, 403, 400, 400, 404],
        ),
        p(
            format!("/accounts/{card}/connect"),
            vec![("login", "x".into()), ("password", "y".into())],
            [S, 404, 404, 404, 403, 404],
        ),
        p(
            format!("/accounts/{card}/reveal"),
            vec![],
            [S, 404, 404, 404, 200, 404],
        ),
        p(
            format!("/accounts/{card}/share"),
            vec![("with", "person:x".into()), ("role", "owner".into())],
            [S, 404, 404, 404, 403, 404],
        ),
        p(
            format!("/accounts/{card}/shares/{}/remove", uuid::Uuid::now_v7()),
            vec![],
            [S, 404, 404, 404, 403, 404],
        ),
        g(
            "/settings/identity-provider".into(),
            [S, 403, 403, 200, 200, 200],
        ),
        p(
            "/settings/identity-provider/tokens".into(),
            vec![("name", "Okta".into())],
            [S, 403, 403, 200, 200, 200],
        ),
        p(
            format!("/settings/identity-provider/tokens/{scim_token}/revoke"),
            vec![],
            // The Admin revokes it; the Owner's second try finds no live token.
            [S, 403, 403, 303, 404, 404],
        ),
        p(
            format!("/settings/tokens/{token}/revoke"),
            vec![],
            [S, 403, 404, 404, 303, 404],
        ),
    ];
    let mut wrong = Vec::new();
    for row in &rows {
        for (i, sess) in sessions.iter().enumerate() {
            let url = s.app.url(&row.path);
            let anon = client();
            let http = sess.as_ref().map(|x| &x.http).unwrap_or(&anon);
            let r = if row.post {
                let mut form = row.form.clone();
                if let Some(x) = sess {
                    form.push(("csrf_token", x.csrf.clone()));
                }
                http.post(&url)
                    .header("origin", &s.app.base)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
            } else {
                http.get(&url).send().await.unwrap()
            };
            let status = r.status().as_u16();
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let got = if status == 303 && location.starts_with("/signin?next=") {
                S
            } else {
                status
            };
            let html = r.text().await.unwrap_or_default();
            if got != row.expect[i] {
                wrong.push(format!(
                    "{} {} as #{i}: expected {}, got {got} {location} {}",
                    if row.post { "POST" } else { "GET" },
                    row.path,
                    row.expect[i],
                    html.chars().take(200).collect::<String>()
                ));
            }
            // Error pages live inside the layout's frame and never leak JSON.
            if got == 403 || got == 404 {
                assert!(
                    html.contains("<main") && !html.contains("{\"error\""),
                    "{}: {html}",
                    row.path
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "web authorization mismatches:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_site_are_refused_and_change_nothing() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let me = s.get_json("/api/v1/me").await;
    let owner: PersonId = me["person"]["id"].as_str().unwrap().parse().unwrap();
    set_password(&s, owner).await;
    let sess = sign_in(&s, me["person"]["email"].as_str().unwrap(), "acme").await;
    let id = s
        .get_json("/api/v1/directory/identities?q=noah.davis")
        .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = s.app.url(&format!("/directory/{id}/deactivate"));
    let active = || async {
        s.get_json(&format!("/api/v1/directory/identities/{id}"))
            .await["active"]
            .clone()
    };
    let audit = || async {
        s.get_json("/api/v1/audit/events?limit=500").await["items"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = audit().await;
    let attempts: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "no token",
            sess.http
                .post(&url)
                .header("origin", &s.app.base)
                .form(&[("x", "1")]),
        ),
        (
            "a wrong token",
            sess.http
                .post(&url)
                .header("origin", &s.app.base)
                .form(&[("csrf_token", "0".repeat(64))]),
        ),
        (
            "another origin",
            sess.http
                .post(&url)
                .header("origin", "https://evil.example")
                .form(&[("csrf_token", sess.csrf.clone())]),
        ),
        (
            "a cross-site fetch",
            sess.http
                .post(&url)
                .header("sec-fetch-site", "cross-site")
                .form(&[("csrf_token", sess.csrf.clone())]),
        ),
        (
            "a wrong header token",
            sess.http
                .post(&url)
                .header("origin", &s.app.base)
                .header("x-csrf-token", "nope"),
        ),
    ];
    for (what, req) in attempts {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{what} is refused");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("This form could not be accepted"),
            "{what}: {html}"
        );
        assert_eq!(active().await, Value::Bool(true), "{what} changed nothing");
    }
    assert_eq!(audit().await, before, "nothing was recorded either");
    // The same form from our own page goes through.
    let r = sess
        .http
        .post(&url)
        .header("origin", &s.app.base)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", sess.csrf.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(active().await, Value::Bool(false));
}

#[tokio::test]
async fn pages_carry_a_strict_csp_and_the_session_cookie_is_strict() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let me = s.get_json("/api/v1/me").await;
    let owner: PersonId = me["person"]["id"].as_str().unwrap().parse().unwrap();
    set_password(&s, owner).await;
    let r = client()
        .post(s.app.url("/signin"))
        .header("origin", &s.app.base)
        .form(&[
            ("email", me["person"]["email"].as_str().unwrap()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("castellan_session="))
        .unwrap()
        .to_string();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "plain HTTP here");
    let page = client().get(s.app.url("/signin")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains(" style=\""),
        "no inline script or style"
    );
    // Static files are content-addressed and cached for a year.
    let js = html
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = client().get(s.app.url(&js)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{js}");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(
        client()
            .get(s.app.url("/static/app.css"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn secure_cookies_are_marked_secure() {
    let app = castellan_testkit::TestApp::spawn_with(
        castellan_testkit::TestDb::sqlite(),
        ServerSettings {
            secure_cookies: true,
            ..Default::default()
        },
    )
    .await;
    let (_, owner) = app.workspace("acme").await;
    let hash = castellan_server::auth::hash_password(PASSWORD.into(), [5; 16])
        .await
        .unwrap();
    sqlx::query("UPDATE people SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(owner.to_string())
        .execute(app.store.pool())
        .await
        .unwrap();
    let r = client()
        .post(app.url("/signin"))
        .form(&[("email", "owner@acme.example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("castellan_session="))
        .unwrap()
        .to_string();
    assert!(
        session.contains("Secure") && session.contains("SameSite=Strict"),
        "{session}"
    );
}

/// Two server processes on one database share the sign-in throttle: failures on one count on
/// the other.
#[tokio::test]
async fn the_sign_in_throttle_holds_across_processes_sharing_a_database() {
    let app = castellan_testkit::TestApp::spawn().await;
    let (_, owner) = app.workspace("acme").await;
    let hash = castellan_server::auth::hash_password(PASSWORD.into(), [5; 16])
        .await
        .unwrap();
    sqlx::query("UPDATE people SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(owner.to_string())
        .execute(app.store.pool())
        .await
        .unwrap();
    // A second server over the same database (another process would open it the same way).
    let store2 = app.db.store(castellan_domain::Env::system()).await;
    let state2 = AppState::new(
        Services::new(store2, app.vault.clone()),
        ServerSettings::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base2 = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(castellan_server::serve(
        listener,
        state2,
        app.shutdown.clone(),
    ));
    let sign_in = |base: String, pw: &'static str| async move {
        client()
            .post(format!("{base}/signin"))
            .form(&[("email", "owner@acme.example.com"), ("password", pw)])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    for i in 0..5 {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            base2.clone()
        };
        assert_eq!(sign_in(base, "wrong password").await, 401);
    }
    assert_eq!(
        sign_in(base2.clone(), PASSWORD).await,
        429,
        "the other process refuses too"
    );
    assert_eq!(sign_in(app.base.clone(), PASSWORD).await, 429);
}

/// A signed-out htmx request is told where to go (`HX-Redirect`) instead of getting the
/// sign-in page as a fragment; a form with a bad field comes back naming it, with what was
/// entered kept.
#[tokio::test]
async fn signed_out_htmx_requests_redirect_and_form_errors_name_their_field() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let r = client()
        .get(s.app.url("/automation?fragment=rows"))
        .header("hx-request", "true")
        .header("hx-current-url", format!("{}/automation", s.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["hx-redirect"].to_str().unwrap(),
        "/signin?next=%2Fautomation"
    );
    let me = s.get_json("/api/v1/me").await;
    let owner: PersonId = me["person"]["id"].as_str().unwrap().parse().unwrap();
    set_password(&s, owner).await;
    let sess = sign_in(&s, me["person"]["email"].as_str().unwrap(), "acme").await;
    let r = sess
        .http
        .post(s.app.url("/apps/connect"))
        .header("origin", &s.app.base)
        .form(&[
            ("csrf_token", sess.csrf.as_str()),
            ("platform", "pinterest"),
            ("label", "Kept label"),
            ("business_id", "not-a-number"),
            ("login_method", "password"),
            ("account_mode", "new"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"business-error\""),
        "the error sits by its field: {html}"
    );
    assert!(
        html.contains("must be the numeric id of the business"),
        "{html}"
    );
    assert!(
        html.contains("value=\"Kept label\""),
        "what was entered is kept"
    );
    assert!(html.contains("aria-invalid=\"true\""));
    assert_eq!(
        s.get_json("/api/v1/apps").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Signing in sends the person back where they were going.
    let r = client()
        .post(s.app.url("/signin"))
        .header("origin", &s.app.base)
        .form(&[
            ("email", me["person"]["email"].as_str().unwrap()),
            ("password", PASSWORD),
            ("next", "/directory?q=ava"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/directory?q=ava");
    let r = client()
        .post(s.app.url("/signin"))
        .header("origin", &s.app.base)
        .form(&[
            ("email", me["person"]["email"].as_str().unwrap()),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/", "never to another site");
}

/// CSV import from the Directory page: a file with bad rows comes back with each row's error
/// and imports nothing; sign-out ends the session.
#[tokio::test]
async fn csv_import_shows_each_bad_row_and_sign_out_ends_the_session() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let me = s.get_json("/api/v1/me").await;
    let owner: PersonId = me["person"]["id"].as_str().unwrap().parse().unwrap();
    set_password(&s, owner).await;
    let sess = sign_in(&s, me["person"]["email"].as_str().unwrap(), "acme").await;
    let before = s.get_json("/api/v1/directory/identities?limit=500").await["items"]
        .as_array()
        .unwrap()
        .len();
    let csv = "userName,email\nnew.person,new.person@acme.example.com\nbad.row,not-an-email\n,missing@acme.example.com\n";
    let boundary = "castellanboundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n",
        sess.csrf
    );
    let r = sess
        .http
        .post(s.app.url("/directory/import"))
        .header("origin", &s.app.base)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Rows with errors") && html.contains("nothing was imported"),
        "{html}"
    );
    assert!(
        html.contains("<td>3</td>") && html.contains("<td>4</td>"),
        "lines 3 and 4 are named: {html}"
    );
    let after = s.get_json("/api/v1/directory/identities?limit=500").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing was imported");

    let r = sess
        .http
        .post(s.app.url("/signout"))
        .header("origin", &s.app.base)
        .form(&[("csrf_token", sess.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/signin");
    let r = sess.http.get(s.app.url("/apps")).send().await.unwrap();
    assert_eq!(r.status(), 303, "signed out");
}

/// Where the server points new apps (the demo's embedded emulators), a wizard that leaves the
/// API base URL empty connects to; the app then connects for real.
#[tokio::test]
async fn a_new_apps_api_defaults_to_where_the_server_points() {
    let Some(s) = crate::support::setup_full(castellan_store::Backend::Sqlite, None, |emu| {
        ServerSettings {
            default_api_base: vec![(
                castellan_domain::apps::Platform::Pinterest,
                emu.pinterest_url(),
            )],
            ..Default::default()
        }
    })
    .await
    else {
        return;
    };
    let me = s.get_json("/api/v1/me").await;
    let owner: PersonId = me["person"]["id"].as_str().unwrap().parse().unwrap();
    set_password(&s, owner).await;
    let sess = sign_in(&s, me["person"]["email"].as_str().unwrap(), "acme").await;
    // Enter app details shows the address it will use.
    let page = sess
        .http
        .get(s.app.url("/apps/connect?step=details&platform=pinterest"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&s.emu.pinterest_url()), "{page}");
    let brand = castellan_emulators::scenario::PINTEREST_BRAND.to_string();
    let r = sess
        .http
        .post(s.app.url("/apps/connect"))
        .header("origin", &s.app.base)
        .form(&[
            ("csrf_token", sess.csrf.as_str()),
            ("platform", "pinterest"),
            ("label", "Demo pins"),
            ("business_id", brand.as_str()),
            ("login_method", "password"),
            ("api_base_url", ""),
            ("account_mode", "new"),
            ("account_label", "Demo bot"),
            ("account_email", "castellan-automation@acme.example.com"),
            ("account_password", "bot-password-123"),
            ("token_mode", "paste"),
            (
                "access_token",
                castellan_emulators::scenario::PINTEREST_AUTOMATION_TOKEN,
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let apps = s.get_json("/api/v1/apps").await;
    let app = &apps["items"][0];
    assert_eq!(app["api_base_url"], s.emu.pinterest_url().as_str(), "{app}");
    let mut last = Value::Null;
    for _ in 0..200 {
        last = s
            .get_json(&format!("/api/v1/apps/{}", app["id"].as_str().unwrap()))
            .await;
        if last["status"] == "connected" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the app never connected: {last}");
}
