//! What the API test modules share: a server with both emulators, the demo directory and a
//! worker (`setup`), its helpers (tasks awaited, checks run, tabs read, the emulators' control
//! API), each platform's facts for the member actions (`P`), and setting a person's password.

use castellan_domain::auth::ApiScope;
use castellan_emulators::{Faults, Running, ScenarioSource, World, scenario as sc};
use castellan_services::worker::WorkerConfig;
use castellan_testkit::TestApp;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(crate) const DIRECTORY: &str = include_str!("../../../castellan/demo/directory.csv");

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
    setup_full(backend, smtp, |_| Default::default()).await
}

/// As [`setup_with`], with the server's settings made from the running emulators.
pub(crate) async fn setup_full(
    backend: castellan_store::Backend,
    smtp: Option<castellan_services::mail::SmtpConfig>,
    settings: impl FnOnce(&castellan_emulators::Running) -> castellan_server::ServerSettings,
) -> Option<Setup> {
    setup_tuned(backend, smtp, settings, |_| {}).await
}

/// As [`setup_full`], with the worker's services adjusted by `tune`.
pub(crate) async fn setup_tuned(
    backend: castellan_store::Backend,
    smtp: Option<castellan_services::mail::SmtpConfig>,
    settings: impl FnOnce(&castellan_emulators::Running) -> castellan_server::ServerSettings,
    tune: impl FnOnce(&mut castellan_services::Services),
) -> Option<Setup> {
    let db = castellan_testkit::TestDb::for_backend(backend).await?;
    let emu = castellan_emulators::start(
        "127.0.0.1:0",
        World::new(ScenarioSource::Demo, 5, Faults::default()).unwrap(),
    )
    .await
    .unwrap();
    let app = TestApp::spawn_with(db, settings(&emu)).await;
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
    tune(&mut svc);
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
        self.check_with(app, "").await
    }

    /// A check for updates with `query` (`?full=true`) added to its request.
    pub(crate) async fn check_with(&self, app: &str, query: &str) -> Value {
        let r = self
            .app
            .post(&self.token, &format!("/api/v1/apps/{app}/check{query}"))
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

    /// The app's assets as the API lists them (one page of up to 500, with their holders).
    pub(crate) async fn assets(&self, app: &str) -> Vec<Value> {
        let v = self
            .get_json(&format!("/api/v1/apps/{app}/assets?limit=500"))
            .await;
        v["items"].as_array().unwrap().clone()
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

impl Setup {
    /// Connects through OAuth: platform app, start, consent page (as the automation user),
    /// callback; then the app connects and a check imports the business.
    /// The workspace's platform app, pointing at the emulator's consent page.
    pub(crate) async fn put_platform_app(&self, platform: &str) {
        let base = self.emu.base_url();
        let (client_id, secret, authorize, token_url) = match platform {
            "pinterest" => (
                sc::PINTEREST_CLIENT_ID,
                sc::PINTEREST_CLIENT_SECRET,
                format!("{base}/oauth/"),
                format!("{base}/v5/oauth/token"),
            ),
            _ => (
                sc::TIKTOK_APP_ID,
                sc::TIKTOK_APP_SECRET,
                format!("{base}/portal/auth"),
                format!("{base}/open_api/v1.3/oauth2/access_token/"),
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
    }

    /// A browser on the consent page at `url`: signs in as `email`, confirms, and comes back to
    /// Castellan's callback (not following its redirect); returns the callback's answer and
    /// the query it was called with.
    pub(crate) async fn consent_as(
        &self,
        platform: &str,
        url: &str,
        email: &str,
    ) -> (reqwest::Response, String) {
        let base = self.emu.base_url();
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let html = browser.get(url).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Confirm"), "{html}");
        let user = html
            .split("<option value=\"")
            .skip(1)
            .find(|o| o.contains(email))
            .unwrap_or_else(|| panic!("{email} is not offered: {html}"))
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
        let query = location.split_once('?').unwrap().1.to_string();
        let r = browser
            .get(self.app.url(&format!("/api/v1/oauth/callback?{query}")))
            .send()
            .await
            .unwrap();
        (r, query)
    }

    pub(crate) async fn connect_with_oauth(&self, platform: &str) -> String {
        let (business, api) = match platform {
            "pinterest" => (sc::PINTEREST_BRAND.to_string(), self.emu.pinterest_url()),
            _ => (sc::TIKTOK_BRAND.to_string(), self.emu.tiktok_url()),
        };
        self.put_platform_app(platform).await;
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
        let (r, query) = self
            .consent_as(platform, &url, "castellan-automation@acme.example.com")
            .await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Connected"));
        // The same state cannot be used twice.
        let browser = reqwest::Client::new();
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

/// What differs between the platforms in these tests.
pub(crate) struct P {
    pub name: &'static str,
    pub biz: u64,
    pub admin: &'static str,
    pub employee: &'static str,
    pub ad_kind: &'static str,
    pub perm: &'static str,
}

pub(crate) const PINTEREST: P = P {
    name: "pinterest",
    biz: sc::PINTEREST_BRAND,
    admin: "BIZ_ADMIN",
    employee: "EMPLOYEE",
    ad_kind: "AD_ACCOUNT",
    perm: "ANALYST",
};

pub(crate) const TIKTOK: P = P {
    name: "tiktok",
    biz: sc::TIKTOK_BRAND,
    admin: "ADMIN",
    employee: "STANDARD",
    ad_kind: "ADVERTISER",
    perm: "OPERATOR",
};

pub(crate) async fn post(s: &Setup, path: &str, body: Value) -> (u16, Value) {
    let r = s.app.post(&s.token, path).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn emu_state(s: &Setup, p: &P) -> Value {
    let path = if p.name == "pinterest" {
        format!("/_emulator/pinterest/businesses/{}", p.biz)
    } else {
        format!("/_emulator/tiktok/bcs/{}", p.biz)
    };
    reqwest::get(format!("{}{path}", s.emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The emulator's member with this e-mail.
pub(crate) fn emu_member(state: &Value, email: &str) -> Option<Value> {
    state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == email)
        .cloned()
}

pub(crate) async fn seat(s: &Setup, app: &str, tab: &str, email: &str) -> Option<Value> {
    s.tab(app, tab)
        .await
        .into_iter()
        .find(|m| m["email"] == email)
}

pub(crate) async fn audit_count(s: &Setup, action: &str) -> usize {
    s.get_json(&format!("/api/v1/audit/events?action={action}&limit=500"))
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .count()
}

/// Gives `person` the password `pw` (hashed as sign-in checks it), leaving whether they must
/// change it as it was.
pub(crate) async fn set_password(app: &TestApp, person: castellan_domain::PersonId, pw: &str) {
    let hash = castellan_server::auth::hash_password(pw.into(), [9u8; 16])
        .await
        .unwrap();
    sqlx::query("UPDATE people SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(person.to_string())
        .execute(app.store.pool())
        .await
        .unwrap();
}

/// Checks `body` against the schema `name` of the served OpenAPI document: what the document
/// says a response is, it is. Returns the mismatches.
pub(crate) fn schema_errors(name: &str, body: &Value) -> Vec<String> {
    let doc: Value = serde_json::from_str(&castellan_server::openapi().to_json().unwrap()).unwrap();
    let mut root = doc.as_object().unwrap().clone();
    root.insert("$ref".into(), json!(format!("#/components/schemas/{name}")));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&Value::Object(root))
        .unwrap();
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}
