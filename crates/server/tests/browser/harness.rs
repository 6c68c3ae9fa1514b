//! Driving Debian's Chromium through chromedriver (W3C WebDriver, fantoccini) against the
//! real server on port 0 with both emulators and a worker; screenshots under
//! `target/ui-screenshots/`, axe-core (vendored, MPL-2.0) for accessibility.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use castellan_domain::auth::ApiScope;
use castellan_emulators::{Faults, Running, ScenarioSource, World, scenario as sc};
use castellan_services::worker::WorkerConfig;
use castellan_testkit::TestApp;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const OWNER: &str = "owner@acme.example.com";
pub const OWNER_PASSWORD: &str = "first one-time password";
pub const NEW_PASSWORD: &str = "browser-tests-password-1";
const DIRECTORY: &str = include_str!("../../../castellan/demo/directory.csv");
const AXE: &str = include_str!("../vendor/axe-core-4.14.1/axe.min.js");

/// Whether the browser is here; CI (`CASTELLAN_REQUIRE_BROWSER=1`) fails when it is not.
pub fn browser_available() -> bool {
    let here =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !here {
        if std::env::var("CASTELLAN_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!(
                "CASTELLAN_REQUIRE_BROWSER=1 but Debian's chromium and chromium-driver are not installed"
            );
        }
        eprintln!(
            "skipping: install Debian's chromium and chromium-driver to run the browser tests"
        );
    }
    here
}

/// A chromedriver process on a port of its own; on drop it and every process it started (the
/// browser and its helpers) are killed, so no browser outlives its test, passed or failed.
pub struct Driver {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Collect the tree first: once chromedriver is gone its browser is re-parented to init
        // and can no longer be told apart from another test's.
        let tree = descendants(self.child.id());
        let _ = self.child.kill();
        for pid in &tree {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.wait();
    }
}

/// Every live process below `root` (by parent id, read from `/proc`).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = parent_of(pid) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == p && !out.contains(&pid) {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// The parent id in `/proc/<pid>/stat` (the field after the parenthesised command name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether a process is alive (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// A browser session: a fresh profile, 1280×800, light or dark colour scheme.
pub struct Browser {
    pub c: Client,
    _driver: Driver,
}

impl Browser {
    /// The chromedriver's process id (its browser runs below it).
    pub fn driver_pid(&self) -> u32 {
        self._driver.child.id()
    }

    /// Ends the WebDriver session (the browser quits), then the driver.
    pub async fn close(self) {
        let _ = self.c.clone().close().await;
    }

    pub async fn start(dark: bool) -> Self {
        Self::start_with(dark, true).await
    }

    /// A session with JavaScript on or off.
    pub async fn start_with(dark: bool, javascript: bool) -> Self {
        // chromedriver now and then exits before it listens when several start at once;
        // start it again (a few times) rather than fail the story.
        let (child, port, lines) = 'spawn: {
            for _ in 0..3 {
                let mut child = Command::new(CHROMEDRIVER)
                    .arg("--port=0")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start chromedriver");
                let out = child.stdout.take().unwrap();
                let mut lines = BufReader::new(out).lines();
                let port = loop {
                    let Some(line) = lines.next() else { break None };
                    let line = line.unwrap();
                    if let Some(rest) = line.split("started successfully on port ").nth(1) {
                        break Some(
                            rest.trim_end_matches('.')
                                .trim()
                                .parse::<u16>()
                                .expect("a port"),
                        );
                    }
                };
                match port {
                    Some(port) => break 'spawn (child, port, lines),
                    None => {
                        child.wait().ok();
                    }
                }
            }
            panic!("chromedriver did not print its port three times");
        };
        // Drain the rest so chromedriver never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,800".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut blink = vec![if dark {
            "preferredColorScheme=0"
        } else {
            "preferredColorScheme=1"
        }];
        if !javascript {
            blink.push("scriptEnabled=false");
        }
        args.push(format!("--blink-settings={}", blink.join(",")));
        if dark {
            args.push("--force-dark-mode".into());
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let mut tries = 0;
        let c = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if tries < 20 => {
                    tries += 1;
                    eprintln!("waiting for chromedriver: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        // The viewport, not the window, is 1280×800.
        c.set_window_size(1280, 800).await.ok();
        if let Ok(v) = c
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            && let (Some(w), Some(h)) = (v[0].as_u64(), v[1].as_u64())
        {
            c.set_window_size(1280 + (1280 - w as u32), 800 + (800 - h as u32))
                .await
                .ok();
        }
        Browser {
            c,
            _driver: Driver {
                child,
                _profile: profile,
            },
        }
    }

    pub async fn goto(&self, url: &str) {
        self.c.goto(url).await.unwrap();
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.wait_for(css).await
    }

    /// Waits up to 20 s for an element.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                self.screenshot("failure").await;
                panic!("no element {css}: {e}\n{}", self.text().await)
            }
        }
    }

    pub async fn xpath(&self, xp: &str) -> fantoccini::elements::Element {
        match self
            .c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::XPath(xp))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                self.screenshot("failure").await;
                panic!("no element {xp}: {e}\n{}", self.text().await)
            }
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.ok();
        e.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.c
            .execute(
                "arguments[0].scrollIntoView({block: 'center'});",
                vec![serde_json::to_value(&el).unwrap()],
            )
            .await
            .ok();
        if let Err(e) = el.click().await {
            self.screenshot("failure").await;
            panic!("cannot click {css}: {e}");
        }
    }

    /// Clicks the button or link whose text contains `text`.
    pub async fn click_text(&self, text: &str) {
        self.xpath(&format!(
            "//*[self::button or self::a][contains(normalize-space(.), '{text}')]"
        ))
        .await
        .click()
        .await
        .unwrap();
    }

    /// The page's visible text (empty while a navigation replaces the page).
    pub async fn text(&self) -> String {
        for _ in 0..20 {
            if let Ok(body) = self.c.find(Locator::Css("body")).await
                && let Ok(t) = body.text().await
            {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        String::new()
    }

    pub async fn path(&self) -> String {
        let u = self.c.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Waits until the page's text contains `needle` (reloading with `reload`).
    pub async fn wait_text(&self, needle: &str, reload: bool) -> String {
        for _ in 0..200 {
            let t = self.text().await;
            if t.contains(needle) {
                return t;
            }
            if reload {
                self.c.refresh().await.ok();
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        panic!("the page never said {needle:?}: {}", self.text().await);
    }

    /// Presses a key in whatever has focus.
    pub async fn press(&self, k: fantoccini::key::Key) {
        self.c
            .active_element()
            .await
            .unwrap()
            .send_keys(&k.to_string())
            .await
            .unwrap();
    }

    /// What has focus: its aria-label, else its id, else its text.
    pub async fn focused(&self) -> String {
        self.c
            .execute(
                "const e = document.activeElement; return e ? (e.getAttribute('aria-label') || e.id || e.textContent) : '';",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Runs axe-core on the page (WCAG 2.0–2.2, A and AA) and returns the violations.
    pub async fn axe(&self) -> Vec<Value> {
        self.c.execute(AXE, vec![]).await.unwrap();
        let r = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa']}})\
                   .then(r => done(JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3)})))))\
                   .catch(e => done('ERR ' + e));",
                vec![],
            )
            .await
            .unwrap();
        let s = r.as_str().unwrap().to_string();
        assert!(!s.starts_with("ERR"), "axe failed: {s}");
        serde_json::from_str(&s).unwrap()
    }

    /// The buttons and links in table rows whose text wraps onto a second line.
    pub async fn wrapped_controls(&self) -> Vec<String> {
        let v = self
            .c
            .execute(
                "const out = [];\
                 document.querySelectorAll('td .button, td button, td summary').forEach(e => {\
                   if (!e.offsetParent) { return; }\
                   const cs = getComputedStyle(e);\
                   const lh = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.3;\
                   const inner = e.getBoundingClientRect().height - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom) - parseFloat(cs.borderTopWidth) - parseFloat(cs.borderBottomWidth);\
                   if (inner > lh * 1.5) { out.push(e.textContent.trim()); }\
                 });\
                 return out;",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(v).unwrap_or_default()
    }

    /// Fails the test with every axe violation on the page as it is now.
    pub async fn assert_no_axe(&self, what: &str) {
        let v = self.axe().await;
        assert!(v.is_empty(), "axe on {what}: {v:#?}");
    }

    pub async fn dark(&self) -> bool {
        self.c
            .execute(
                "return window.matchMedia('(prefers-color-scheme: dark)').matches;",
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap()
    }
}

pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots")
}

/// The server with a worker, both emulators, the demo directory and an Owner with a one-time
/// password; the platform apps point at the emulators' consent pages.
pub struct Site {
    pub app: TestApp,
    ws: castellan_domain::WorkspaceId,
    pub emu: Running,
    pub token: String,
    stop: CancellationToken,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Site {
    pub async fn start() -> Self {
        Self::start_tuned(|_| {}).await
    }

    /// The site, with the worker's services adjusted by `tune`.
    pub async fn start_tuned(tune: impl FnOnce(&mut castellan_services::Services)) -> Self {
        let app = TestApp::spawn_public(castellan_testkit::TestDb::sqlite()).await;
        let emu = castellan_emulators::start(
            "127.0.0.1:0",
            World::new(ScenarioSource::Demo, 5, Faults::default()).unwrap(),
        )
        .await
        .unwrap();
        let (ws, owner) = app.workspace("acme").await;
        let token = app.token(ws, owner, ApiScope::Admin).await;
        let hash = castellan_server::auth::hash_password(OWNER_PASSWORD.into(), [9; 16])
            .await
            .unwrap();
        sqlx::query("UPDATE people SET password_hash = $1, must_change_password = 1 WHERE id = $2")
            .bind(hash)
            .bind(owner.to_string())
            .execute(app.store.pool())
            .await
            .unwrap();
        let r = app
            .post(&token, "/api/v1/directory/import")
            .header("content-type", "text/csv")
            .body(DIRECTORY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let base = emu.base_url();
        for (platform, id, secret, authorize, token_url) in [
            (
                "pinterest",
                sc::PINTEREST_CLIENT_ID,
                sc::PINTEREST_CLIENT_SECRET,
                format!("{base}/oauth/"),
                format!("{base}/v5/oauth/token"),
            ),
            (
                "tiktok",
                sc::TIKTOK_APP_ID,
                sc::TIKTOK_APP_SECRET,
                format!("{base}/portal/auth"),
                format!("{base}/open_api/v1.3/oauth2/access_token/"),
            ),
        ] {
            let r = app
                .http
                .put(app.url(&format!("/api/v1/platform-apps/{platform}")))
                .bearer_auth(&token)
                .json(&json!({ "client_id": id, "client_secret": secret, "authorize_url": authorize, "token_url": token_url }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let mut cfg = WorkerConfig::new("browser-test".into());
        cfg.poll_interval = Duration::from_millis(50);
        cfg.backoff_base = Duration::from_millis(50);
        cfg.backoff_max = Duration::from_millis(200);
        let mut svc = app.services();
        svc.http = castellan_services::HttpConfig {
            rate_per_sec: 0.0,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(100),
            max_retries: 12,
            ..Default::default()
        };
        svc.mail = castellan_services::Mail {
            smtp: None,
            public_url: app.base.clone(),
        };
        tune(&mut svc);
        let stop = app.run_worker(svc, cfg);
        Site {
            app,
            ws,
            emu,
            token,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    pub fn ws(&self) -> castellan_domain::WorkspaceId {
        self.ws
    }

    /// Signs in through the sign-in page (and the forced password change, the first time).
    pub async fn sign_in(&self, b: &Browser, first_time: bool) {
        b.goto(&self.url("/apps")).await;
        b.find("#email").await;
        assert!(
            b.path().await.starts_with("/signin?next="),
            "{}",
            b.path().await
        );
        b.fill("#email", OWNER).await;
        b.fill(
            "#password",
            if first_time {
                OWNER_PASSWORD
            } else {
                NEW_PASSWORD
            },
        )
        .await;
        b.click("button[type=submit]").await;
        if first_time {
            b.find("#new_password").await;
            assert_eq!(b.path().await, "/password");
            b.fill("#current_password", OWNER_PASSWORD).await;
            b.fill("#new_password", NEW_PASSWORD).await;
            b.click("main button[type=submit]").await;
        }
        // Wait for the redirect to land (every page's navigation says "Apps", the password
        // page's too): a test that navigates before it would be sent back to /apps.
        for _ in 0..200 {
            let path = b.path().await;
            if !path.starts_with("/signin") && !path.starts_with("/password") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        b.wait_text("Apps", false).await;
    }

    pub async fn api(&self, path: &str) -> Value {
        let r = self.app.get(&self.token, path).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn control(&self, path: &str) -> Value {
        reqwest::get(format!("{}/_emulator{path}", self.emu.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Connects an app through the API (for tests about other screens).
    pub async fn connect_api(&self, platform: &str) -> String {
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
            .json(&json!({ "platform": platform, "label": format!("{platform} bot"), "email": "castellan-automation@acme.example.com", "password": "bot-password-123", "access_token": tok }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let v: Value = self
            .app
            .post(&self.token, "/api/v1/apps")
            .json(&json!({ "platform": platform, "label": format!("Acme {platform}"), "business_id": business, "login_method": "password", "automation_account_id": acct["account"]["id"], "api_base_url": base }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = v["app"]["id"].as_str().unwrap().to_string();
        self.wait_task(v["task"]["id"].as_str().unwrap()).await;
        let done = self.check(&id).await;
        assert_eq!(done["status"], "completed", "{done}");
        id
    }

    /// Checks `app` for updates through the API; returns the finished task.
    pub async fn check(&self, app: &str) -> Value {
        let t: Value = self
            .app
            .post(&self.token, &format!("/api/v1/apps/{app}/check"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        self.wait_task(t["id"].as_str().unwrap()).await
    }

    pub async fn wait_task(&self, id: &str) -> Value {
        for _ in 0..600 {
            let t = self.api(&format!("/api/v1/tasks/{id}")).await;
            if ["completed", "failed", "cancelled"].contains(&t["status"].as_str().unwrap()) {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("task {id} did not finish");
    }
}
