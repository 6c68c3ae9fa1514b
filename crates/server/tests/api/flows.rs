//! API behaviour: sign-in, CSRF, throttling, bad input, directory, audit export.

use castellan_domain::auth::ApiScope;
use castellan_domain::workspace::WorkspaceRole;

use crate::support::set_password;
use castellan_testkit::{TestApp, error_of};

fn cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn session_cookie_is_http_only_and_writes_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.workspace("acme").await;
    set_password(&app, owner, "a good long password").await;
    let r = app.http.post(app.url("/api/v1/auth/login")).json(&serde_json::json!({"email": "OWNER@acme.example.com", "password": "a good long password"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let set = cookies(&r);
    let session = set
        .iter()
        .find(|c| c.starts_with("castellan_session="))
        .unwrap()
        .clone();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(body["must_change_password"], true);
    let cookie = session.split(';').next().unwrap().to_string();

    let me = app
        .http
        .get(app.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(
        me.json::<serde_json::Value>().await.unwrap()["auth_method"],
        "session"
    );
    let mint = serde_json::json!({"name": "cli", "scope": "read"});
    let (status, err) = error_of(
        app.http
            .post(app.url("/api/v1/tokens"))
            .header("cookie", &cookie)
            .json(&mint)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "csrf_failed")
    );
    let ok = app
        .http
        .post(app.url("/api/v1/tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&mint)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    let created: serde_json::Value = ok.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("cst_"));
    // The secret is stored only hashed.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
        .bind(secret)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(
        app.get(secret, "/api/v1/me").send().await.unwrap().status(),
        200
    );

    let out = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(
        app.http
            .get(app.url("/api/v1/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn sign_in_is_throttled_per_email() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.workspace("acme").await;
    set_password(&app, owner, "a good long password").await;
    let login = |pw: &'static str| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "owner@acme.example.com", "password": pw}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(login("wrong").await.unwrap().status(), 401);
    }
    let r = login("a good long password").await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // Unknown e-mails fail the same way as wrong passwords.
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "nobody@acme.example.com", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn one_time_password_then_own_password() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    let r = app.post(&t, "/api/v1/people").json(&serde_json::json!({"email": "new@acme.example.com", "role": "member", "display_name": "New"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let otp = r.json::<serde_json::Value>().await.unwrap()["one_time_password"]
        .as_str()
        .unwrap()
        .to_string();
    let login = |pw: String| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "new@acme.example.com", "password": pw}))
            .send()
    };
    let r = login(otp.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("castellan_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let short = app
        .http
        .post(app.url("/api/v1/me/password"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"current_password": otp, "new_password": "short"}))
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(short).await;
    assert_eq!(
        (status, err["field"].as_str().unwrap()),
        (400, "new_password")
    );
    let ok = app
        .http
        .post(app.url("/api/v1/me/password"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"current_password": otp, "new_password": "my own long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(login(otp).await.unwrap().status(), 401);
    let r = login("my own long password".into()).await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["must_change_password"],
        false
    );
}

#[tokio::test]
async fn role_rules_and_last_owner() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let admin = app.person(ws, WorkspaceRole::Admin).await;
    let at = app.token(ws, admin, ApiScope::Admin).await;
    let r = app
        .post(&at, "/api/v1/people")
        .json(&serde_json::json!({"email": "o2@acme.example.com", "role": "owner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let ot = app.token(ws, owner, ApiScope::Admin).await;
    let r = app
        .http
        .patch(app.url(&format!("/api/v1/people/{owner}")))
        .bearer_auth(&ot)
        .json(&serde_json::json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(r).await;
    assert_eq!((status, err["field"].as_str().unwrap()), (409, "role"));
    let r = app
        .http
        .patch(app.url(&format!("/api/v1/people/{admin}")))
        .bearer_auth(&ot)
        .json(&serde_json::json!({"role": "boss"}))
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(r).await;
    assert_eq!((status, err["field"].as_str().unwrap()), (400, "role"));
}

#[tokio::test]
async fn bad_input_gets_clear_errors_naming_the_field() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    let post = |body: &'static str| {
        app.post(&t, "/api/v1/directory/identities")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(&str, u16, &str, &str)> = vec![
        ("{not json", 400, "malformed_json", "body"),
        (
            r#"{"user_name":"a","primary_email":"a@acme.example.com","shoe_size":4}"#,
            400,
            "invalid",
            "shoe_size",
        ),
        (
            r#"{"user_name":7,"primary_email":"a@acme.example.com"}"#,
            400,
            "invalid",
            "user_name",
        ),
        (
            r#"{"primary_email":"a@acme.example.com"}"#,
            400,
            "invalid",
            "user_name",
        ),
        (
            r#"{"user_name":"a","primary_email":"not-an-email"}"#,
            400,
            "invalid",
            "primary_email",
        ),
        (
            r#"{"user_name":"a","primary_email":"a@acme.example.com","other_emails":["x"]}"#,
            400,
            "invalid",
            "other_emails",
        ),
    ];
    for (body, status, code, field) in cases {
        let (s, err) = error_of(post(body).await.unwrap()).await;
        assert_eq!(
            (
                s,
                err["code"].as_str().unwrap(),
                err["field"].as_str().unwrap()
            ),
            (status, code, field),
            "{body}: {err}"
        );
    }
    // Nothing was created by the bad requests.
    let list: serde_json::Value = app
        .get(&t, "/api/v1/directory/identities")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    let r = app
        .post(&t, "/api/v1/directory/identities")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let huge = format!(
        r#"{{"user_name":"{}","primary_email":"a@acme.example.com"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let (s, err) = error_of(
        app.post(&t, "/api/v1/directory/identities")
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str().unwrap()),
        (413, "payload_too_large")
    );
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=zzz", "cursor"),
        ("colour=red", "colour"),
        ("active=maybe", "active"),
    ] {
        let (s, err) = error_of(
            app.get(&t, &format!("/api/v1/directory/identities?{q}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, err["field"].as_str().unwrap_or("")),
            (400, field),
            "{q}: {err}"
        );
    }
    let (s, err) = error_of(
        app.get(&t, "/api/v1/tasks?status=done")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, err["field"].as_str().unwrap()), (400, "status"));
    let (s, err) = error_of(app.get(&t, "/api/v1/nowhere").send().await.unwrap()).await;
    assert_eq!((s, err["code"].as_str().unwrap()), (404, "not_found"));
}

fn thousand_rows_with_three_bad() -> String {
    let mut csv = String::from("userName,email,givenName,familyName,active,department,groups\n");
    for i in 0..1000 {
        let line = match i {
            100 => format!("user{i},not-an-email,U,{i},true,Sales,Staff\n"),
            500 => format!(",user{i}@acme.example.com,U,{i},true,Sales,Staff\n"),
            900 => format!("user{i},user{i}@acme.example.com,U,{i},sometimes,Sales,Staff\n"),
            _ => format!("user{i},user{i}@acme.example.com,U,{i},true,Sales,Staff\n"),
        };
        csv.push_str(&line);
    }
    csv
}

#[tokio::test]
async fn import_with_three_bad_rows_in_a_thousand_reports_them_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    let audit_before = app.store.ws(ws).audit_verify().await.unwrap().unwrap();
    let csv = thousand_rows_with_three_bad();
    let r = app
        .post(&t, "/api/v1/directory/import")
        .header("content-type", "text/csv")
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    let (s, err) = error_of(r).await;
    assert_eq!((s, err["code"].as_str().unwrap()), (400, "invalid_rows"));
    let rows: Vec<(u64, String)> = err["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (102, "email".to_string()),
            (502, "userName".to_string()),
            (902, "active".to_string())
        ]
    );
    let list: serde_json::Value = app
        .get(&t, "/api/v1/directory/identities")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    assert_eq!(
        app.store.ws(ws).audit_verify().await.unwrap().unwrap(),
        audit_before,
        "no audit event either"
    );

    let r = app
        .post(&t, "/api/v1/directory/import?skip_invalid=true")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (
            body["created"].as_u64(),
            body["errors"].as_array().unwrap().len()
        ),
        (Some(997), 3)
    );
    let page: serde_json::Value = app
        .get(&t, "/api/v1/directory/identities?limit=500")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 500);
    let next = page["next_cursor"].as_str().unwrap();
    let page2: serde_json::Value = app
        .get(
            &t,
            &format!("/api/v1/directory/identities?limit=500&cursor={next}"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2["items"].as_array().unwrap().len(), 497);
    assert!(page2["next_cursor"].is_null());
}

#[tokio::test]
async fn import_accepts_files_larger_than_the_json_limit() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    let mut csv = String::from("userName,email,department\n");
    for i in 0..12_000 {
        csv.push_str(&format!(
            "person{i},person{i}@acme.example.com,{}\n",
            "d".repeat(150)
        ));
    }
    assert!(csv.len() > 2 * 1024 * 1024);
    let r = app
        .post(&t, "/api/v1/directory/import?dry_run=true")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["valid_rows"],
        12_000
    );
}

#[tokio::test]
async fn deactivation_is_recorded_and_audit_exports() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    let r = app.post(&t, "/api/v1/directory/identities").json(&serde_json::json!({"user_name": "alice", "primary_email": "Alice@acme.example.com", "given_name": "Alice"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r: serde_json::Value = app
        .post(&t, &format!("/api/v1/directory/identities/{id}/deactivate"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], false);
    assert!(r["deactivated_at"].is_string());
    let found: serde_json::Value = app
        .get(&t, "/api/v1/directory/identities?q=ALICE&active=false")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);

    let events: serde_json::Value = app
        .get(&t, "/api/v1/audit/events?action=directory.identity")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["directory.identity.deactivate", "directory.identity.create"]
    );
    assert_eq!(events["items"][0]["actor_type"], "token");
    assert_eq!(events["items"][0]["actor_person"], owner.to_string());

    let csv = app
        .get(&t, "/api/v1/audit/export?format=csv&action=directory")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let recs: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(&recs[1][5], "directory.identity.deactivate");
    let jsonl = app
        .get(&t, "/api/v1/audit/export?format=jsonl")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 4);
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64())
    );
    let verify: serde_json::Value = app
        .get(&t, "/api/v1/audit/verify")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["events"].as_u64(), Some(lines.len() as u64));
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let m = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("castellan_http_requests_total"), "{m}");
    assert!(m.contains("castellan_tasks{status=\"pending\"}"), "{m}");
    let doc: serde_json::Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/directory/import"]["post"].is_object());
    // Once the database is gone, readiness fails while liveness holds.
    app.store.close().await;
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// The consent-page callback reflects the platform's `error` parameter into its HTML page:
/// a `<script>` sent there comes back escaped, never as markup.
#[tokio::test]
async fn oauth_callback_escapes_the_platforms_error() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let token = app.token(ws, owner, ApiScope::Admin).await;
    let r = app
        .http
        .put(app.url("/api/v1/platform-apps/pinterest"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "client_id": "1", "client_secret": "s", "authorize_url": "https://example.com/oauth/", "token_url": "https://example.com/token" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let acct: serde_json::Value = app
        .post(&token, "/api/v1/automation-accounts")
        .json(&serde_json::json!({ "platform": "pinterest", "label": "bot", "email": "bot@acme.example.com", "password": "bot-password-123" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = acct["account"]["id"].as_str().unwrap();
    let start: serde_json::Value = app
        .post(
            &token,
            &format!("/api/v1/automation-accounts/{id}/oauth/start"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = start["authorize_url"].as_str().unwrap();
    let state = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("state="))
        .expect("the authorize URL carries a state");
    let attack = "<script>alert(document.cookie)</script>";
    let query = serde_urlencoded::to_string([("state", state), ("error", attack)]).unwrap();
    let r = app
        .http
        .get(app.url(&format!("/api/v1/oauth/callback?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = r.text().await.unwrap();
    assert!(!body.contains("<script"), "{body}");
    assert!(
        body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;"),
        "the error is shown, escaped: {body}"
    );
}
