//! No secret reaches the logs (at any level) or the database file in plain text, across a
//! whole connect + check for updates against the emulators. Its own test binary, because it
//! installs the process-wide log subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use castellan_domain::auth::ApiScope;
use castellan_emulators::{Faults, ScenarioSource, World, scenario as sc};
use castellan_services::worker::WorkerConfig;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PASSWORD: &str = "Hunter2-automation-password-zz9";
const CLIENT_SECRET: &str = "client-secret-qq8-never-logged";
const PERSONAL_PASSWORD: &str = "Personal-pw-kk4-own-account";
const TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

#[tokio::test]
async fn secrets_stay_out_of_logs_and_the_database() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();

    let app = castellan_testkit::TestApp::spawn().await;
    let emu = castellan_emulators::start(
        "127.0.0.1:0",
        World::new(
            ScenarioSource::Demo,
            9,
            Faults {
                error_rate: 0.2,
                ..Default::default()
            },
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let (ws, owner) = app.workspace("acme").await;
    let token = app.token(ws, owner, ApiScope::Admin).await;
    let mut cfg = WorkerConfig::new("secrets".into());
    cfg.poll_interval = Duration::from_millis(20);
    let http = castellan_services::HttpConfig {
        rate_per_sec: 0.0,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        max_retries: 12,
        ..Default::default()
    };
    let mut svc = app.services();
    svc.http = http;
    let stop = app.run_worker(svc, cfg);

    let r = app
        .http
        .put(app.url("/api/v1/platform-apps/tiktok"))
        .bearer_auth(&token)
        .json(&json!({ "client_id": sc::TIKTOK_APP_ID, "client_secret": CLIENT_SECRET, "authorize_url": format!("{}/portal/auth", emu.base_url()), "token_url": format!("{}/oauth2/access_token/", emu.tiktok_url()) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let acct: Value = app
        .post(&token, "/api/v1/automation-accounts")
        .json(&json!({ "platform": "tiktok", "label": "bot", "email": "castellan-automation@acme.example.com", "password": PASSWORD, "access_token": sc::TIKTOK_AUTOMATION_TOKEN }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v: Value = app
        .post(&token, "/api/v1/apps")
        .json(&json!({ "platform": "tiktok", "label": "Acme", "business_id": sc::TIKTOK_BRAND.to_string(), "login_method": "password", "automation_account_id": acct["account"]["id"], "api_base_url": emu.tiktok_url() }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = v["app"]["id"].as_str().unwrap().to_string();
    let check: Value = app
        .post(&token, &format!("/api/v1/apps/{app_id}/check"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = check["id"].as_str().unwrap().to_string();
    let mut done = false;
    for _ in 0..600 {
        let t: Value = app
            .get(&token, &format!("/api/v1/tasks/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if t["status"] == "completed" {
            done = true;
            break;
        }
        assert_ne!(t["status"], "failed", "{t}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done);
    // A person's own account: saved with a password and a TOTP secret, then revealed (the
    // one audited way out); neither reaches the logs or the database file in plain text.
    let me: Value = app
        .post(&token, "/api/v1/directory/identities")
        .json(&json!({ "user_name": "owner", "primary_email": "owner@acme.example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unmatched: Value = app
        .get(
            &token,
            &format!("/api/v1/apps/{app_id}/members?tab=unmatched"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seat = unmatched["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] != "castellan-automation@acme.example.com")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(
            &token,
            &format!("/api/v1/apps/{app_id}/members/{seat}/match"),
        )
        .json(&json!({ "identity_id": me["id"], "role": "owner" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mine: Value = app
        .get(&token, "/api/v1/me/accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let card = mine[0]["id"].as_str().unwrap().to_string();
    let r = app
        .post(&token, &format!("/api/v1/accounts/{card}/connect"))
        .json(&json!({ "login": "owner@acme.example.com", "password": PERSONAL_PASSWORD, "totp": TOTP_SECRET }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains(PERSONAL_PASSWORD));
    let r = app
        .post(&token, &format!("/api/v1/accounts/{card}/reveal"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().contains(PERSONAL_PASSWORD),
        "the audited reveal"
    );
    // A guest's sign-in link: its token is only in the audited reveal of the sealed e-mail;
    // it is used through the welcome page (the token in the query, which no log line holds).
    let g: Value = app
        .post(&token, "/api/v1/guests")
        .json(&json!({ "email": "pat@partner.example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let email_id = g["email_id"].as_str().unwrap().to_string();
    let body: Value = app
        .post(&token, &format!("/api/v1/outbox/{email_id}/reveal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = body["body"].as_str().unwrap();
    let at = body.find("token=").unwrap() + "token=".len();
    let link_token = body[at..].split_whitespace().next().unwrap().to_string();
    for path in [
        "/api/v1/guests",
        "/api/v1/outbox",
        "/api/v1/audit/events?limit=500",
    ] {
        let text = app
            .get(&token, path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains(&link_token), "the link token is in {path}");
    }
    let r = app
        .http
        .post(app.url(&format!("/welcome?token={link_token}")))
        .form(&[("password", "guest password 4711")])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    stop.cancel();

    let log = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(
        log.contains("request") && log.len() > 1000,
        "logs were captured"
    );
    let path = app
        .db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let mut db = Vec::new();
    for suffix in ["", "-wal"] {
        if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
            db.extend(b);
        }
    }
    for secret in [
        PASSWORD,
        PERSONAL_PASSWORD,
        TOTP_SECRET,
        CLIENT_SECRET,
        sc::TIKTOK_AUTOMATION_TOKEN,
        token.as_str(),
        link_token.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret is in the logs: {secret}");
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is in the database file: {secret}"
        );
    }
}
