//! Connect and check for updates against the emulators, for both platforms: members land in
//! the right tabs, a re-check with no upstream change writes nothing, upstream changes are
//! recorded exactly, and a failing check leaves the previous state readable.

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::auth::ApiScope;
use castellan_emulators::{Faults, Running, ScenarioSource, World, scenario as sc};
use castellan_services::worker::WorkerConfig;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use castellan_testkit::TestApp;

const DIRECTORY: &str = include_str!("../../../castellan/demo/directory.csv");

pub(crate) struct Setup {
    pub app: TestApp,
    pub ws: castellan_domain::WorkspaceId,
    pub emu: Running,
    pub token: String,
    stop: CancellationToken,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub(crate) async fn setup(backend: castellan_store::Backend) -> Option<Setup> {
    setup_with(backend, None).await
}

/// A server with both emulators, the demo directory, and a worker (sending e-mail through
/// `smtp` when given).
pub(crate) async fn setup_with(
    backend: castellan_store::Backend,
    smtp: Option<castellan_services::mail::SmtpConfig>,
) -> Option<Setup> {
    let db = castellan_testkit::TestDb::for_backend(backend).await?;
    let app = TestApp::spawn_with(db, Default::default()).await;
    let emu = castellan_emulators::start(
        "127.0.0.1:0",
        World::new(ScenarioSource::Demo, 5, Faults::default()).unwrap(),
    )
    .await
    .unwrap();
    let (ws, owner) = app.workspace("acme").await;
    let token = app.token(ws, owner, ApiScope::Admin).await;
    let r = app
        .post(&token, "/api/v1/directory/import")
        .header("content-type", "text/csv")
        .body(DIRECTORY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut cfg = WorkerConfig::new("sync-test".into());
    cfg.poll_interval = Duration::from_millis(20);
    cfg.backoff_base = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(100);
    let http = castellan_services::HttpConfig {
        rate_per_sec: 0.0,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(100),
        max_retries: 12,
        ..Default::default()
    };
    let mut svc = app.services();
    svc.http = http;
    svc.mail = castellan_services::Mail {
        smtp: smtp.map(Arc::new),
        public_url: app.base.clone(),
    };
    let stop = app.run_worker(svc, cfg);
    Some(Setup {
        app,
        ws,
        emu,
        token,
        stop,
    })
}

impl Setup {
    pub(crate) async fn connect(&self, platform: &str) -> String {
        self.connect_as(platform, "castellan-automation@acme.example.com")
            .await
    }

    /// Connects with an automation account whose e-mail on file is `email`.
    pub(crate) async fn connect_as(&self, platform: &str, email: &str) -> String {
        let (tok, base, business) = match platform {
            "pinterest" => (
                sc::PINTEREST_AUTOMATION_TOKEN,
                self.emu.pinterest_url(),
                sc::PINTEREST_BRAND.to_string(),
            ),
            _ => (
                sc::TIKTOK_AUTOMATION_TOKEN,
                self.emu.tiktok_url(),
                sc::TIKTOK_BRAND.to_string(),
            ),
        };
        let acct: Value = self
            .app
            .post(&self.token, "/api/v1/automation-accounts")
            .json(&json!({ "platform": platform, "label": format!("{platform} bot"), "email": email, "password": "bot-password-123", "access_token": tok }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = self
            .app
            .post(&self.token, "/api/v1/apps")
            .json(&json!({ "platform": platform, "label": format!("Acme {platform}"), "business_id": business, "login_method": "password", "automation_account_id": acct["account"]["id"], "api_base_url": base }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        let id = v["app"]["id"].as_str().unwrap().to_string();
        self.wait_task(v["task"]["id"].as_str().unwrap()).await;
        let app: Value = self
            .app
            .get(&self.token, &format!("/api/v1/apps/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(app["status"], "connected", "{app}");
        id
    }

    pub(crate) async fn wait_task(&self, id: &str) -> Value {
        for _ in 0..600 {
            let t: Value = self
                .app
                .get(&self.token, &format!("/api/v1/tasks/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if ["completed", "failed", "cancelled"].contains(&t["status"].as_str().unwrap()) {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("task {id} did not finish");
    }

    pub(crate) async fn check(&self, app: &str) -> Value {
        let r = self
            .app
            .post(&self.token, &format!("/api/v1/apps/{app}/check"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let t: Value = r.json().await.unwrap();
        self.wait_task(t["id"].as_str().unwrap()).await
    }

    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let r = self.app.get(&self.token, path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    pub(crate) async fn counts(&self, app: &str) -> Value {
        let v: Value = self
            .app
            .get(&self.token, &format!("/api/v1/apps/{app}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["counts"].clone()
    }

    pub(crate) async fn tab(&self, app: &str, tab: &str) -> Vec<Value> {
        let v: Value = self
            .app
            .get(
                &self.token,
                &format!("/api/v1/apps/{app}/members?tab={tab}&limit=500"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .clone()
    }

    pub(crate) async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let r = reqwest::Client::new()
            .request(
                method.parse().unwrap(),
                format!("{}/_emulator{path}", self.emu.base_url()),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}");
        r.json().await.unwrap()
    }
}

async fn full_story(platform: &str, backend: castellan_store::Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let app = s.connect(platform).await;
    let first = s.check(&app).await;
    assert_eq!(first["status"], "completed", "{first}");
    let counts = s.counts(&app).await;
    // 35 active employees match the directory; the automation account, two leavers (inactive
    // in the directory), a personal webmail address (and Pinterest's system user) do not.
    assert_eq!(counts["onboarded"], 35, "{counts}");
    assert_eq!(
        counts["unmatched"],
        if platform == "pinterest" { 5 } else { 4 },
        "{counts}"
    );
    assert_eq!(counts["invited"], 1);
    let unmatched = s.tab(&app, "unmatched").await;
    assert!(
        unmatched
            .iter()
            .any(|m| m["email"].as_str().unwrap_or("").contains("gmail.com"))
    );
    assert!(
        unmatched
            .iter()
            .any(|m| m["email"] == "david.carter@acme.example.com")
    );
    let onboarded = s.tab(&app, "onboarded").await;
    assert!(
        onboarded
            .iter()
            .all(|m| m["identity_id"].is_string() && m["assets"].as_i64().unwrap() >= 1)
    );
    let found: Value = s
        .app
        .get(
            &s.token,
            &format!("/api/v1/apps/{app}/members?tab=onboarded&q=AVA.JOHNSON"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    // The Apps view carries the card counts; the User Overview gives permissions on request.
    let apps = s.get_json("/api/v1/apps").await;
    assert_eq!(apps["items"][0]["counts"]["onboarded"], 35, "{apps}");
    assert!(apps["items"][0]["assets"].as_i64().unwrap() >= 3, "{apps}");
    let with_perms = s
        .get_json(&format!(
            "/api/v1/apps/{app}/members?tab=onboarded&q=ava.johnson&permissions=true"
        ))
        .await;
    let perms = with_perms["items"][0]["permissions"].as_array().unwrap();
    assert_eq!(
        perms.len() as i64,
        with_perms["items"][0]["assets"].as_i64().unwrap(),
        "{with_perms}"
    );
    assert!(
        perms.iter().all(
            |p| p["asset_kind"].is_string() && !p["permissions"].as_array().unwrap().is_empty()
        )
    );
    assert!(
        found["items"][0].get("permissions").is_none(),
        "only on request"
    );
    // Assets with their holders: every permission above shows up under its asset.
    let assets = s
        .get_json(&format!("/api/v1/apps/{app}/assets?limit=500"))
        .await;
    let ava = format!(
        "member:{}",
        with_perms["items"][0]["user_id"].as_str().unwrap()
    );
    for p in perms {
        let asset = assets["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["asset_id"] == p["asset_id"])
            .unwrap_or_else(|| panic!("{p} not in {assets}"));
        let holder = asset["holders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["holder"] == ava.as_str())
            .unwrap();
        assert_eq!(holder["name"], "ava.johnson@acme.example.com");
        assert_eq!(holder["permissions"], p["permissions"]);
        assert!(asset["holders_total"].as_i64().unwrap() >= 1);
    }

    // Nothing changed upstream: nothing is written.
    let again = s.check(&app).await;
    assert_eq!(again["result"]["changes"]["rows_written"], 0, "{again}");
    assert_eq!(again["result"]["rematched"], 0);

    // Upstream changes: a member added, one removed, a role changed, a partner added.
    let (biz_key, biz) = if platform == "pinterest" {
        ("business", sc::PINTEREST_BRAND)
    } else {
        ("bc", sc::TIKTOK_BRAND)
    };
    let gone = onboarded
        .iter()
        .find(|m| m["email"] == "emma.wilson@acme.example.com")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let promoted = onboarded
        .iter()
        .find(|m| m["email"] == "james.moore@acme.example.com")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    s.control("POST", &format!("/{platform}/members"), json!({ biz_key: biz, "email": "newbie@acme.example.com", "role": if platform == "pinterest" { "EMPLOYEE" } else { "STANDARD" } })).await;
    s.control(
        "DELETE",
        &format!("/{platform}/members"),
        json!({ biz_key: biz, "user": gone }),
    )
    .await;
    s.control("PATCH", &format!("/{platform}/members"), json!({ biz_key: biz, "user": promoted, "role": if platform == "pinterest" { "BIZ_ADMIN" } else { "ADMIN" } })).await;
    s.control(
        "POST",
        &format!("/{platform}/partners"),
        json!({ "owner": biz, "partner_name": "Fresh Agency" }),
    )
    .await;
    let third = s.check(&app).await;
    let changes = &third["result"]["changes"];
    assert_eq!(
        (
            changes["seats_new"].as_u64(),
            changes["seats_vanished"].as_u64(),
            changes["seats_changed"].as_u64(),
            changes["partners_new"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{third}"
    );
    let reports: Value = s
        .app
        .get(&s.token, &format!("/api/v1/apps/{app}/reports"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let latest = &reports[0]["changes"];
    assert_eq!(latest["vanished_seats"], json!([gone.to_string()]));
    assert_eq!(latest["role_changes"][0]["user_id"], promoted.to_string());
    assert_eq!(latest["new_partners"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.counts(&app).await["onboarded"],
        34,
        "the leaver's seat is gone; the newcomer is not in the directory"
    );

    // A check that fails midway leaves the previous state readable and unchanged.
    let before = s.tab(&app, "onboarded").await;
    s.control("PUT", "/faults", json!({ "error_rate": 1.0 }))
        .await;
    let failed = s.check(&app).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(s.tab(&app, "onboarded").await, before);
    // With 10% errors and tight rate limits the next check converges to the same state.
    s.control(
        "PUT",
        "/faults",
        json!({ "error_rate": 0.1, "pinterest_ads_read_per_sec": 5.0, "tiktok_qps": 40.0 }),
    )
    .await;
    let healed = s.check(&app).await;
    assert_eq!(healed["status"], "completed", "{healed}");
    assert_eq!(healed["result"]["changes"]["rows_written"], 0, "{healed}");
    assert!(healed["result"]["fetch"]["retries"].as_u64().unwrap() > 0);
    assert_eq!(s.tab(&app, "onboarded").await, before);
}

#[tokio::test]
async fn pinterest_connect_and_check_for_updates_sqlite() {
    full_story("pinterest", castellan_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn tiktok_connect_and_check_for_updates_sqlite() {
    full_story("tiktok", castellan_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn pinterest_connect_and_check_for_updates_postgres() {
    full_story("pinterest", castellan_store::Backend::Postgres).await;
}

#[tokio::test]
async fn tiktok_connect_and_check_for_updates_postgres() {
    full_story("tiktok", castellan_store::Backend::Postgres).await;
}

#[tokio::test]
async fn daily_checks_are_scheduled_once_with_jitter() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect("tiktok").await;
    let detail: Value = s
        .app
        .get(&s.token, &format!("/api/v1/apps/{app}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next: chrono::DateTime<chrono::Utc> =
        detail["next_check_at"].as_str().unwrap().parse().unwrap();
    assert!(
        next > chrono::Utc::now(),
        "the first automatic check is in the future"
    );
    // Make it due, then run the scheduler twice: one task, and the next check moves a day on.
    sqlx::query("UPDATE apps SET next_check_at = 0")
        .execute(s.app.store.pool())
        .await
        .unwrap();
    let settings = castellan_services::Schedule::default();
    let first = castellan_services::apps::schedule_tick(&s.app.store, &settings)
        .await
        .unwrap();
    let second = castellan_services::apps::schedule_tick(&s.app.store, &settings)
        .await
        .unwrap();
    assert_eq!((first.len(), second.len()), (1, 0));
    let task = s.wait_task(&first[0].to_string()).await;
    assert_eq!(
        (
            task["trigger"].as_str(),
            task["kind"].as_str(),
            task["status"].as_str()
        ),
        (Some("schedule"), Some("app.check"), Some("completed"))
    );
    let detail: Value = s
        .app
        .get(&s.token, &format!("/api/v1/apps/{app}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next: chrono::DateTime<chrono::Utc> =
        detail["next_check_at"].as_str().unwrap().parse().unwrap();
    let hours = (next - chrono::Utc::now()).num_hours();
    assert!((0..=25).contains(&hours), "{next}");
}

impl Setup {
    /// Connects through OAuth: platform app, start, consent page (as the automation user),
    /// callback; then the app connects and a check imports the business.
    async fn connect_with_oauth(&self, platform: &str) -> String {
        let base = self.emu.base_url();
        let (client_id, secret, authorize, token_url, business, api) = match platform {
            "pinterest" => (
                sc::PINTEREST_CLIENT_ID,
                sc::PINTEREST_CLIENT_SECRET,
                format!("{base}/oauth/"),
                format!("{base}/v5/oauth/token"),
                sc::PINTEREST_BRAND.to_string(),
                self.emu.pinterest_url(),
            ),
            _ => (
                sc::TIKTOK_APP_ID,
                sc::TIKTOK_APP_SECRET,
                format!("{base}/portal/auth"),
                format!("{base}/open_api/v1.3/oauth2/access_token/"),
                sc::TIKTOK_BRAND.to_string(),
                self.emu.tiktok_url(),
            ),
        };
        let r = self
            .app
            .http
            .put(self.app.url(&format!("/api/v1/platform-apps/{platform}")))
            .bearer_auth(&self.token)
            .json(&json!({ "client_id": client_id, "client_secret": secret, "authorize_url": authorize, "token_url": token_url }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let acct: Value = self
            .app
            .post(&self.token, "/api/v1/automation-accounts")
            .json(&json!({ "platform": platform, "label": format!("{platform} oauth bot"), "email": "castellan-automation@acme.example.com", "password": "bot-password-123" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let acct_id = acct["account"]["id"].as_str().unwrap().to_string();
        let start: Value = self
            .app
            .post(
                &self.token,
                &format!("/api/v1/automation-accounts/{acct_id}/oauth/start"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = start["authorize_url"].as_str().unwrap().to_string();
        // The browser: the consent page, sign in as the automation user, Confirm.
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let html = browser
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Confirm"), "{html}");
        let user = html
            .split("<option value=\"")
            .skip(1)
            .find(|o| o.contains("castellan-automation@acme.example.com"))
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let hidden = |name: &str| -> String {
            let marker = format!("name=\"{name}\" value=\"");
            html.split(&marker)
                .nth(1)
                .map(|r| r.split('"').next().unwrap().replace("&amp;", "&"))
                .unwrap_or_default()
        };
        let confirm_url = if platform == "pinterest" {
            format!("{base}/oauth/")
        } else {
            format!("{base}/portal/auth")
        };
        let mut form: Vec<(String, String)> =
            vec![("user_id".into(), user), ("confirm".into(), "1".into())];
        for k in ["client_id", "app_id", "redirect_uri", "scope", "state"] {
            form.push((k.into(), hidden(k)));
        }
        let r = browser.post(confirm_url).form(&form).send().await.unwrap();
        let location = r.headers()["location"].to_str().unwrap().to_string();
        // Back to Castellan (the configured public URL is another host in this test).
        let query = location.split_once('?').unwrap().1;
        let r = browser
            .get(self.app.url(&format!("/api/v1/oauth/callback?{query}")))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Connected"));
        // The same state cannot be used twice.
        assert_eq!(
            browser
                .get(self.app.url(&format!("/api/v1/oauth/callback?{query}")))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        let acct: Value = self
            .app
            .get(
                &self.token,
                &format!("/api/v1/automation-accounts/{acct_id}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            acct["secrets"]
                .as_array()
                .unwrap()
                .contains(&json!("access_token")),
            "{acct}"
        );
        let r = self
            .app
            .post(&self.token, "/api/v1/apps")
            .json(&json!({ "platform": platform, "label": format!("Acme {platform} (oauth)"), "business_id": business, "login_method": "sso", "automation_account_id": acct_id, "api_base_url": api }))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let id = v["app"]["id"].as_str().unwrap().to_string();
        let t = self.wait_task(v["task"]["id"].as_str().unwrap()).await;
        assert_eq!(t["status"], "completed", "{t}");
        id
    }
}

async fn oauth_story(platform: &str) {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect_with_oauth(platform).await;
    let check = s.check(&app).await;
    assert_eq!(check["status"], "completed", "{check}");
    assert_eq!(s.counts(&app).await["onboarded"], 35);
}

#[tokio::test]
async fn pinterest_connect_through_the_consent_page() {
    oauth_story("pinterest").await;
}

#[tokio::test]
async fn tiktok_connect_through_the_consent_page() {
    oauth_story("tiktok").await;
}
