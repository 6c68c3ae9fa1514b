//! kill -9 in the test suite: `castellan serve` runs as a process over one SQLite database and
//! is killed with SIGKILL at random points of a first check, a re-check and member removals;
//! `castellan vault rotate-key` is killed mid-way. After each kill and restart: no
//! half-written check is visible (an app shows no seats or every seat of one check), no
//! platform write was sent twice (the emulator's request counts), the killed task completes,
//! the audit chain verifies, and the next check converges and changes nothing.
//!
//! `CASTELLAN_KILL_ROUNDS` kills per operation (2 by default, so CI stays quick; more for a
//! long run); `CASTELLAN_KILL_SEED` replays a run's kill points (the seed is printed).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use castellan_domain::auth::{API_TOKEN_PREFIX, ApiScope, generate_secret, hash_secret};
use castellan_domain::clock::Env;
use castellan_emulators::scenario as sc;
use castellan_store::{ConnectOptions, Store};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

fn castellan(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_castellan"));
    c.current_dir(dir)
        .env("RUST_LOG", "warn")
        .env_remove("CASTELLAN_DATABASE_URL")
        // A dead server's task is taken over soon after the restart.
        .env("CASTELLAN_WORKER__LEASE_SECS", "2")
        .env("CASTELLAN_WORKER__POLL_MS", "50")
        // The emulator is not the platform: no need to keep to its documented rate.
        .env("CASTELLAN_CONNECTORS__PINTEREST_RATE_PER_SEC", "0");
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `castellan serve`, killed with SIGKILL on drop (or by [`Serve::kill`]).
struct Serve {
    child: Child,
    base: String,
    _stdout: BufReader<ChildStdout>,
}

impl Serve {
    /// Starts on the same port each time, so the app's OAuth and links stay valid.
    fn start(dir: &Path, listen: &str) -> Self {
        let mut child = castellan(dir)
            .args(["serve", "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let base = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(base.starts_with("http://"), "{line}");
        Serve {
            child,
            base,
            _stdout: out,
        }
    }

    /// SIGKILL: no chance to finish a transaction, release a lease or flush anything.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct World {
    dir: tempfile::TempDir,
    listen: String,
    token: String,
    store: Store,
    emu: castellan_emulators::Running,
    http: reqwest::Client,
}

impl World {
    async fn api(&self, base: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn task(&self, id: &str) -> (String, Option<String>) {
        sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT status, result FROM tasks WHERE id = $1",
        )
        .bind(id)
        .fetch_one(self.store.pool())
        .await
        .unwrap()
    }

    /// Asks for a check for updates of `app`; the queued task.
    async fn check(&self, base: &str, app: &str) -> Value {
        self.api(
            base,
            reqwest::Method::POST,
            &format!("/api/v1/apps/{app}/check"),
            json!({}),
        )
        .await
    }

    /// Waits for the task to finish; it must complete. Its result.
    async fn wait(&self, id: &str) -> Value {
        for _ in 0..2400 {
            let (status, result) = self.task(id).await;
            match status.as_str() {
                "completed" => {
                    return result
                        .and_then(|r| serde_json::from_str(&r).ok())
                        .unwrap_or(Value::Null);
                }
                "failed" | "cancelled" => panic!("task {id} ended {status}: {result:?}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        panic!("task {id} did not finish");
    }

    /// Restarts the server and waits for the task.
    async fn finish(&self, id: &str) -> (Serve, Value) {
        let serve = Serve::start(self.dir.path(), &self.listen);
        let v = self.wait(id).await;
        (serve, v)
    }

    /// The seats a reader sees: none before the app's first completed check, else the live
    /// ones.
    async fn visible_seats(&self, app: &str) -> i64 {
        let checked: Option<i64> =
            sqlx::query_scalar("SELECT last_check_at FROM apps WHERE id = $1")
                .bind(app)
                .fetch_one(self.store.pool())
                .await
                .unwrap();
        if checked.is_none() {
            return 0;
        }
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM app_seats WHERE app_id = $1 AND vanished_at IS NULL",
        )
        .bind(app)
        .fetch_one(self.store.pool())
        .await
        .unwrap()
    }

    async fn emulator(&self) -> Value {
        reqwest::get(format!(
            "{}/_emulator/pinterest/businesses/{}",
            self.emu.base_url(),
            sc::PINTEREST_BRAND
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
    }

    /// Member removals the platform received, from its request counts.
    async fn removals_sent(&self) -> u64 {
        let v: Value = reqwest::get(format!("{}/_emulator/requests", self.emu.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["by_endpoint"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("DELETE") && k.contains("members"))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum()
    }

    fn audit_verifies(&self) {
        let out = ok(castellan(self.dir.path()).args(["audit", "verify"]));
        assert!(!out.to_lowercase().contains("broken"), "{out}");
    }
}

fn rounds() -> usize {
    std::env::var("CASTELLAN_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_at_random_points_loses_nothing() {
    let seed: u64 = std::env::var("CASTELLAN_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().r#gen());
    eprintln!(
        "kill test: CASTELLAN_KILL_SEED={seed} CASTELLAN_KILL_ROUNDS={}",
        rounds()
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let world = castellan_emulators::World::new(
        castellan_emulators::ScenarioSource::GeneratedOne {
            scale: castellan_emulators::Scale {
                members: 6_000,
                assets: 300,
                partners: 0,
                grants_per_member: 3,
                ..Default::default()
            },
            platform: castellan_emulators::OnePlatform::Pinterest,
        },
        7,
        Default::default(),
    )
    .unwrap();
    let emu = castellan_emulators::start("127.0.0.1:0", world)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    ok(castellan(dir.path()).args([
        "admin",
        "bootstrap",
        "--workspace",
        "Acme",
        "--email",
        "owner@acme.example.com",
    ]));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("castellan-data/castellan.db").display()
    );
    let store = Store::connect(&url, Env::system(), ConnectOptions::default())
        .await
        .unwrap();
    let ws = store.workspace_by_name("Acme").await.unwrap();
    let owner = store.ws(ws.id).people(None, 10).await.unwrap().items[0].id;
    let token = generate_secret(API_TOKEN_PREFIX, &mut rand::thread_rng());
    store
        .ws(ws.id)
        .create_token(
            &castellan_domain::audit::Actor::Automation {
                name: "kill test".into(),
            },
            owner,
            "kill test",
            ApiScope::Admin,
            &hash_secret(&token),
        )
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let w = World {
        dir,
        listen: format!("127.0.0.1:{port}"),
        token,
        store,
        emu,
        http: reqwest::Client::new(),
    };
    let post = reqwest::Method::POST;
    let serve = Serve::start(w.dir.path(), &w.listen);
    let base = serve.base.clone();
    // The same server runs the first check below.
    let acct = w
        .api(&base, post.clone(), "/api/v1/automation-accounts", json!({ "platform": "pinterest", "label": "bot", "email": "castellan-automation@acme.example.com", "password": "bot-password-123", "access_token": sc::PINTEREST_AUTOMATION_TOKEN }))
        .await;
    let created = w
        .api(&base, post.clone(), "/api/v1/apps", json!({ "platform": "pinterest", "label": "Acme Pins", "business_id": sc::PINTEREST_BRAND.to_string(), "login_method": "password", "automation_account_id": acct["account"]["id"], "api_base_url": w.emu.pinterest_url() }))
        .await;
    let app = created["app"]["id"].as_str().unwrap().to_string();
    w.wait(created["task"]["id"].as_str().unwrap()).await;
    // A platform answers in tens of milliseconds. The emulator answers at once, and the first
    // check became fast enough (SQLite's rows written through its C API) that most kills
    // landed after the operation had finished, and CI saw a run with none mid-operation.
    w.api(
        &w.emu.base_url(),
        reqwest::Method::PUT,
        "/_emulator/faults",
        json!({ "latency_ms": 20 }),
    )
    .await;
    // Kills, and those that landed while the operation was still running.
    let (mut kills, mut mid) = (0, 0);

    // A first check, killed twice at random points (a task killed more often than its
    // attempts allow fails by design: a task that crashes its worker must not loop forever):
    // nothing is visible until it completes, then every seat at once.
    let t = w.check(&serve.base, &app).await;
    let check = t["id"].as_str().unwrap().to_string();
    let mut serve = Some(serve);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..2500))).await;
        serve.take().unwrap().kill();
        kills += 1;
        let (status, _) = w.task(&check).await;
        if status != "completed" {
            mid += 1;
            assert_eq!(
                w.visible_seats(&app).await,
                0,
                "a half-written first check is hidden"
            );
        }
        serve = Some(Serve::start(w.dir.path(), &w.listen));
    }
    let mut serve = serve.unwrap();
    w.wait(&check).await;
    let members = w.emulator().await["members"].as_array().unwrap().len() as i64;
    let mut live = w.visible_seats(&app).await;
    assert_eq!(live, members, "every member of the business, once");
    w.audit_verifies();

    // Each cycle: the platform gains three members; a re-check killed at a random point
    // (readers see the old snapshot or the new one, never a mix); then a member removal
    // killed at a random point (the platform receives it once, and the seat goes).
    let before = w.removals_sent().await;
    for cycle in 0..rounds() {
        for k in 0..3 {
            w.api(
                &w.emu.base_url(),
                post.clone(),
                "/_emulator/pinterest/members",
                json!({ "business": sc::PINTEREST_BRAND, "email": format!("joiner{cycle}x{k}@acme.example.com"), "role": "EMPLOYEE" }),
            )
            .await;
        }
        let t = w.check(&serve.base, &app).await;
        let recheck = t["id"].as_str().unwrap().to_string();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..1200))).await;
        serve.kill();
        kills += 1;
        if w.task(&recheck).await.0 != "completed" {
            mid += 1;
        }
        let seen = w.visible_seats(&app).await;
        assert!(
            seen == live || seen == live + 3,
            "old ({live}) or new ({}) snapshot, saw {seen}",
            live + 3
        );
        let (s, _) = w.finish(&recheck).await;
        live += 3;
        assert_eq!(w.visible_seats(&app).await, live);

        let seat: String = sqlx::query_scalar(
            "SELECT user_id FROM app_seats WHERE app_id = $1 AND vanished_at IS NULL AND email = $2",
        )
        .bind(&app)
        .bind(format!("joiner{cycle}x0@acme.example.com"))
        .fetch_one(w.store.pool())
        .await
        .unwrap();
        let t = w
            .api(
                &s.base,
                post.clone(),
                &format!("/api/v1/apps/{app}/changes"),
                json!({ "action": "remove", "seats": [seat] }),
            )
            .await;
        let id = t["task"]["id"]
            .as_str()
            .or(t["id"].as_str())
            .unwrap()
            .to_string();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
        s.kill();
        kills += 1;
        if w.task(&id).await.0 != "completed" {
            mid += 1;
        }
        let (s, _) = w.finish(&id).await;
        serve = s;
        assert_eq!(
            w.removals_sent().await - before,
            cycle as u64 + 1,
            "each removal reached the platform once"
        );
        assert!(
            !w.emulator().await["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["user"]["id"] == seat.as_str()),
            "the seat is gone from the platform"
        );
        live = w.visible_seats(&app).await;
    }

    // The next check converges: nothing new, changed or vanished but the removed seats, and
    // the one after writes nothing.
    for pass in 0..2 {
        let t = w.check(&serve.base, &app).await;
        let result = w.wait(t["id"].as_str().unwrap()).await;
        if pass == 1 {
            assert_eq!(result["changes"]["rows_written"], 0, "converged: {result}");
        }
    }
    drop(serve);

    // Master-key rotation killed mid-way, then run again: every secret opens.
    for _ in 0..rounds() {
        let mut c = castellan(w.dir.path())
            .args(["vault", "rotate-key"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..150)));
        if c.try_wait().unwrap().is_none() {
            mid += 1;
        }
        let _ = c.kill();
        let _ = c.wait();
        kills += 1;
    }
    ok(castellan(w.dir.path()).args(["vault", "rotate-key", "--retire"]));
    let serve = Serve::start(w.dir.path(), &w.listen);
    let t = w.check(&serve.base, &app).await;
    let result = w.wait(t["id"].as_str().unwrap()).await;
    assert_eq!(
        result["changes"]["rows_written"], 0,
        "the secrets open: {result}"
    );
    drop(serve);
    w.audit_verifies();
    eprintln!("kill test: {kills} kills ({mid} mid-operation), 0 invariant failures (seed {seed})");
    assert!(mid > 0, "at least one kill landed mid-operation");
}
