//! The `castellan` binary end to end: real processes on real databases.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use castellan_domain::Env;
use castellan_store::{ConnectOptions, Store};
use castellan_testkit::TestDb;

fn castellan(dir: &Path, db_url: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_castellan"));
    c.current_dir(dir)
        .env("RUST_LOG", "warn")
        .env_remove("CASTELLAN_DATABASE_URL")
        // The emulators are not the platforms: no need to keep to their documented rates.
        .env("CASTELLAN_CONNECTORS__PINTEREST_RATE_PER_SEC", "0")
        .env("CASTELLAN_CONNECTORS__TIKTOK_RATE_PER_SEC", "0");
    if let Some(u) = db_url {
        c.env("CASTELLAN_DATABASE_URL", u);
    }
    c
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn store(url: &str) -> Store {
    Store::connect(url, Env::system(), ConnectOptions::default())
        .await
        .unwrap()
}

async fn wait_for(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {secs}s waiting for {what}");
}

#[tokio::test]
async fn serve_on_a_clean_directory_creates_the_sqlite_file_and_answers_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = castellan(dir.path(), None)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let r = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        reqwest::get(format!("{url}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(dir.path().join("castellan-data/castellan.db").exists());
    // The vault key is generated on first run, readable by its owner only.
    let key = dir.path().join("castellan-data/master.key");
    assert!(key.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    terminate(&mut child);
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
}

#[tokio::test]
async fn two_worker_processes_on_postgres_run_2000_tasks_exactly_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    ok(castellan(dir.path(), Some(&db.url))
        .args([
            "admin",
            "bootstrap",
            "--workspace",
            "acme",
            "--email",
            "owner@acme.example.com",
        ])
        .output()
        .unwrap());
    ok(castellan(dir.path(), Some(&db.url))
        .args(["tasks", "enqueue", "system.noop", "--count", "2000"])
        .output()
        .unwrap());
    let spawn = || {
        Killed(
            castellan(dir.path(), Some(&db.url))
                .args(["worker", "--concurrency", "4"])
                .env("CASTELLAN_WORKER__POLL_MS", "20")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let (mut w1, mut w2) = (spawn(), spawn());
    let s = store(&db.url).await;
    wait_for("2000 completed tasks", 120, async || {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tasks WHERE status = 'completed'")
            .fetch_one(s.pool())
            .await
            .unwrap()
            == 2000
    })
    .await;
    terminate(&mut w1.0);
    terminate(&mut w2.0);
    assert!(w1.0.wait().unwrap().success() && w2.0.wait().unwrap().success());
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT attempts, result FROM tasks")
        .fetch_all(s.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2000);
    assert!(
        rows.iter().all(|(a, _)| *a == 1),
        "every task was claimed exactly once"
    );
    let mut by_worker = std::collections::HashMap::new();
    for (_, result) in &rows {
        let v: serde_json::Value = serde_json::from_str(result).unwrap();
        *by_worker
            .entry(v["worker"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(
        by_worker.len(),
        2,
        "both processes took work: {by_worker:?}"
    );
    // One completion event per task in the audit log.
    let done: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'task.completed'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(done, 2000);
    s.close().await;
}

#[tokio::test]
async fn a_killed_workers_task_is_picked_up_after_its_lease_expires() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    ok(castellan(dir.path(), Some(&db.url))
        .args([
            "admin",
            "bootstrap",
            "--workspace",
            "acme",
            "--email",
            "owner@acme.example.com",
        ])
        .output()
        .unwrap());
    let id = ok(castellan(dir.path(), Some(&db.url))
        .args([
            "tasks",
            "enqueue",
            "system.sleep",
            "--payload",
            r#"{"ms": 3000}"#,
        ])
        .output()
        .unwrap());
    let id = id.trim().to_string();
    let worker = || {
        castellan(dir.path(), Some(&db.url))
            .arg("worker")
            .env("CASTELLAN_WORKER__LEASE_SECS", "2")
            .env("CASTELLAN_WORKER__POLL_MS", "50")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let s = store(&db.url).await;
    let mut first = Killed(worker());
    let status = async || {
        sqlx::query_as::<_, (String, Option<String>, i64)>(
            "SELECT status, lease_owner, attempts FROM tasks WHERE id = $1",
        )
        .bind(&id)
        .fetch_one(s.pool())
        .await
        .unwrap()
    };
    wait_for("the first worker to hold the task", 30, async || {
        status().await.0 == "in_progress"
    })
    .await;
    let (_, first_owner, _) = status().await;
    first.0.kill().unwrap(); // SIGKILL: no chance to release the task
    first.0.wait().unwrap();
    assert_eq!(
        status().await.0,
        "in_progress",
        "the dead worker's lease still stands"
    );
    let _second = Killed(worker());
    wait_for(
        "the task to complete on the second worker",
        60,
        async || status().await.0 == "completed",
    )
    .await;
    let (_, _, attempts) = status().await;
    assert_eq!(attempts, 2);
    let result: String = sqlx::query_scalar("SELECT result FROM tasks WHERE id = $1")
        .bind(&id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&result).unwrap()["slept_ms"],
        3000
    );
    assert!(first_owner.is_some());
    s.close().await;
}

fn thousand_rows_with_three_bad() -> String {
    let mut csv = String::from("userName,email,active\n");
    for i in 0..1000 {
        csv.push_str(&match i {
            10 => format!("user{i},user{i}@@acme.example.com,true\n"),
            20 => format!("user{i},user{i}@acme.example.com,perhaps\n"),
            30 => format!("user5,user{i}@acme.example.com,true\n"),
            _ => format!("user{i},user{i}@acme.example.com,true\n"),
        });
    }
    csv
}

#[tokio::test]
async fn directory_import_reports_bad_rows_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    ok(castellan(dir.path(), None)
        .args([
            "admin",
            "bootstrap",
            "--workspace",
            "acme",
            "--email",
            "owner@acme.example.com",
        ])
        .output()
        .unwrap());
    std::fs::write(
        dir.path().join("people.csv"),
        thousand_rows_with_three_bad(),
    )
    .unwrap();
    let out = castellan(dir.path(), None)
        .args(["directory", "import", "people.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let reported: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("people.csv: line"))
        .collect();
    assert_eq!(reported.len(), 3, "{err}");
    assert!(reported[0].contains("line 12, email"), "{err}");
    assert!(reported[1].contains("line 22, active"), "{err}");
    assert!(
        reported[2].contains("line 32, userName") && reported[2].contains("duplicates line 7"),
        "{err}"
    );
    let url = format!(
        "sqlite://{}",
        dir.path().join("castellan-data/castellan.db").display()
    );
    let s = store(&url).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identities")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing imported");
    let out = ok(castellan(dir.path(), None)
        .args([
            "directory",
            "import",
            "people.csv",
            "--skip-invalid",
            "--json",
        ])
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["created"].as_u64(), v["skipped_rows"].as_u64()),
        (Some(997), Some(3))
    );
    s.close().await;
}

#[tokio::test]
async fn audit_verify_names_the_tampered_event() {
    let dir = tempfile::tempdir().unwrap();
    ok(castellan(dir.path(), None)
        .args([
            "admin",
            "bootstrap",
            "--workspace",
            "acme",
            "--email",
            "owner@acme.example.com",
        ])
        .output()
        .unwrap());
    std::fs::write(
        dir.path().join("p.csv"),
        "userName,email\na,a@acme.example.com\nb,b@acme.example.com\n",
    )
    .unwrap();
    ok(castellan(dir.path(), None)
        .args(["directory", "import", "p.csv"])
        .output()
        .unwrap());
    let out = ok(castellan(dir.path(), None)
        .args(["audit", "verify"])
        .output()
        .unwrap());
    assert!(out.contains("3 events, chain intact"), "{out}");
    let url = format!(
        "sqlite://{}",
        dir.path().join("castellan-data/castellan.db").display()
    );
    let s = store(&url).await;
    let id: String = sqlx::query_scalar("SELECT id FROM audit_events WHERE seq = 2")
        .fetch_one(s.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET action = 'person.delete' WHERE id = $1")
        .bind(&id)
        .execute(s.pool())
        .await
        .unwrap();
    s.close().await;
    let out = castellan(dir.path(), None)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&id) && err.contains("seq 2"), "{err}");
}

#[test]
fn vault_rotate_key_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    ok(castellan(dir.path(), None)
        .args([
            "admin",
            "bootstrap",
            "--workspace",
            "acme",
            "--email",
            "owner@acme.example.com",
        ])
        .output()
        .unwrap());
    let out = ok(castellan(dir.path(), None)
        .args(["vault", "rotate-key", "--retire"])
        .output()
        .unwrap());
    assert!(
        out.contains("rotated to version 2") && out.contains("old keys retired"),
        "{out}"
    );
    let key: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("castellan-data/master.key")).unwrap(),
    )
    .unwrap();
    assert_eq!(key["current"], 2);
    assert_eq!(key["keys"].as_array().unwrap().len(), 1);
    // With the key given by configuration, the file-based rotation is refused.
    let out = castellan(dir.path(), None)
        .args(["vault", "rotate-key"])
        .env(
            "CASTELLAN_MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn bad_configuration_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = castellan(dir.path(), None)
        .args(["migrate"])
        .env("CASTELLAN_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log_format"));
}

/// `castellan members`, `reports` and `outbox` on a served database: a change is planned,
/// queued, run by the server's worker and awaited; a report is applied; the e-mail waits in
/// the outbox (no SMTP configured). Multi-threaded: the CLI runs as blocking child
/// processes while the in-process emulator must keep answering the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_reports_from_the_cli() {
    use castellan_domain::auth::{API_TOKEN_PREFIX, ApiScope, generate_secret, hash_secret};
    use castellan_emulators::scenario as sc;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| ok(castellan(dir.path(), None).args(args).output().unwrap());
    run(&[
        "admin",
        "bootstrap",
        "--workspace",
        "Acme",
        "--email",
        "owner@acme.example.com",
    ]);
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/directory.csv");
    run(&["directory", "import", csv]);
    // An API token for the owner, to connect the app through the API.
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("castellan-data/castellan.db").display()
    );
    let db = store(&url).await;
    let ws = db.workspace_by_name("Acme").await.unwrap();
    let owner = db.ws(ws.id).people(None, 10).await.unwrap().items[0].id;
    let secret = generate_secret(API_TOKEN_PREFIX, &mut rand::thread_rng());
    db.ws(ws.id)
        .create_token(
            &castellan_domain::audit::Actor::Automation {
                name: "test".into(),
            },
            owner,
            "cli test",
            ApiScope::Admin,
            &hash_secret(&secret),
        )
        .await
        .unwrap();
    let emu = castellan_emulators::start(
        "127.0.0.1:0",
        castellan_emulators::World::new(
            castellan_emulators::ScenarioSource::Demo,
            3,
            Default::default(),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let mut child = castellan(dir.path(), None)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _serve = Killed(child);
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&secret)
            .json(&body)
            .send()
    };
    let acct: serde_json::Value = post("/api/v1/automation-accounts", serde_json::json!({ "platform": "pinterest", "label": "bot", "email": "castellan-automation@acme.example.com", "password": "bot-password-123", "access_token": sc::PINTEREST_AUTOMATION_TOKEN }))
        .await.unwrap().json().await.unwrap();
    let created: serde_json::Value = post("/api/v1/apps", serde_json::json!({ "platform": "pinterest", "label": "Acme Pins", "business_id": sc::PINTEREST_BRAND.to_string(), "login_method": "password", "automation_account_id": acct["account"]["id"], "api_base_url": emu.pinterest_url() }))
        .await.unwrap().json().await.unwrap();
    assert!(created["app"]["id"].is_string(), "{created}");
    wait_for("the app to connect", 60, async || {
        run(&["apps", "list", "--json"]).contains("\"connected\"")
    })
    .await;
    let out = run(&["apps", "check", "Acme Pins", "--wait", "--json"]);
    assert!(out.contains("\"completed\""), "{out}");

    // Members: list, preview a removal, run it.
    let unmatched = run(&[
        "members",
        "list",
        "Acme Pins",
        "--tab",
        "unmatched",
        "--json",
    ]);
    let gmail: serde_json::Value = unmatched
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|s| s["email"] == "jess.pins.ads@gmail.com")
        .unwrap();
    let seat = gmail["user_id"].as_str().unwrap().to_string();
    let plan = run(&["members", "remove", "Acme Pins", &seat, "--dry-run"]);
    assert!(plan.contains("DELETE") && plan.contains(&seat), "{plan}");
    let done = run(&["members", "remove", "Acme Pins", &seat, "--wait", "--json"]);
    assert!(done.contains("\"completed\""), "{done}");
    let state: serde_json::Value = reqwest::get(format!(
        "{}/_emulator/pinterest/businesses/{}",
        emu.base_url(),
        sc::PINTEREST_BRAND
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        !state["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user"]["email"] == "jess.pins.ads@gmail.com")
    );
    // A refused change exits 1 naming the field.
    let bot = castellan(dir.path(), None)
        .args([
            "members",
            "remove",
            "Acme Pins",
            "549755910001",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(!bot.status.success());
    assert!(String::from_utf8_lossy(&bot.stdout).contains("automation account"));
    // Exempt, with the reason shown.
    let noah = run(&[
        "members",
        "list",
        "Acme Pins",
        "--search",
        "noah.davis",
        "--json",
    ]);
    let noah: serde_json::Value = serde_json::from_str(noah.lines().next().unwrap()).unwrap();
    let ex = run(&[
        "members",
        "exempt",
        "Acme Pins",
        noah["user_id"].as_str().unwrap(),
        "--reason",
        "shared analytics login",
        "--json",
    ]);
    assert!(
        ex.contains("\"exempted\"") && ex.contains("shared analytics login"),
        "{ex}"
    );

    // Checking the connection again: the server's worker runs it; the app stays connected.
    let again: serde_json::Value =
        serde_json::from_str(run(&["apps", "reconnect", "Acme Pins", "--wait", "--json"]).trim())
            .unwrap();
    assert_eq!(
        (again["status"].as_str(), again["app_status"].as_str()),
        (Some("completed"), Some("connected")),
        "{again}"
    );

    // Partners: the demo business's two agencies, with the ad accounts they use.
    let partners = run(&["partners", "list", "Acme Pins", "--json"]);
    let mut used: Vec<usize> = partners
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|p| {
            assert_eq!(p["status"], "pending_onboarding", "{p}");
            p["uses_our_assets"].as_array().unwrap().len()
        })
        .collect();
    used.sort();
    assert_eq!(used, vec![1, 2], "{partners}");
    // Connect Brightwave (the partner using two of our ad accounts) through its admin's
    // account; the app's own automation account is refused.
    let brightwave = partners
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|p| p["uses_our_assets"].as_array().unwrap().len() == 2)
        .unwrap()["partner_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post("/api/v1/automation-accounts", serde_json::json!({ "platform": "pinterest", "label": "Brightwave monitor", "email": "lead@brightwave.example.net", "password": "monitor-password-1", "access_token": sc::PINTEREST_MONITOR_TOKEN }))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let refused = castellan(dir.path(), None)
        .args([
            "partners",
            "connect",
            "Acme Pins",
            &brightwave,
            "--account",
            "bot",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not an admin")
            || String::from_utf8_lossy(&refused.stderr).contains("does not reach"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let connected: serde_json::Value = serde_json::from_str(
        run(&[
            "partners",
            "connect",
            "Acme Pins",
            &brightwave,
            "--account",
            "Brightwave monitor",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(connected["status"], "connected", "{connected}");
    let out = run(&["partners", "disconnect", "Acme Pins", &brightwave]);
    assert!(out.contains("is disconnected"), "{out}");
    // An account without a token goes through the consent page: the address is printed.
    let r = post("/api/v1/automation-accounts", serde_json::json!({ "platform": "pinterest", "label": "Brightwave no token", "email": "lead@brightwave.example.net", "password": "monitor-password-1" }))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .put(format!("{base}/api/v1/platform-apps/pinterest"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({ "client_id": sc::PINTEREST_CLIENT_ID, "client_secret": sc::PINTEREST_CLIENT_SECRET, "authorize_url": format!("{}/oauth/", emu.base_url()), "token_url": format!("{}/v5/oauth/token", emu.base_url()) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let consent = run(&[
        "partners",
        "connect",
        "Acme Pins",
        &brightwave,
        "--account",
        "Brightwave no token",
        "--json",
    ]);
    let consent: serde_json::Value = serde_json::from_str(consent.trim()).unwrap();
    assert_eq!(consent["status"], "awaiting_consent", "{consent}");
    assert!(
        consent["authorize_url"]
            .as_str()
            .unwrap()
            .contains("state="),
        "{consent}"
    );
    // Stop sharing and ending the partnership: the exact calls first, then the task.
    let plan = run(&[
        "partners",
        "stop-sharing",
        "Acme Pins",
        &brightwave,
        "--dry-run",
    ]);
    assert!(
        plan.contains("DELETE ") && plan.contains("/partners/assets"),
        "{plan}"
    );
    let plan = run(&["partners", "remove", "Acme Pins", &brightwave, "--dry-run"]);
    assert!(plan.contains("End the partnership"), "{plan}");
    assert!(plan.contains("partner_type"), "{plan}");
    let done = run(&[
        "partners",
        "stop-sharing",
        "Acme Pins",
        &brightwave,
        "--wait",
    ]);
    assert!(done.contains("completed"), "{done}");

    // Local partners: add one, invite into it (within its domains), link the native partner.
    let out = run(&[
        "partners",
        "local",
        "add",
        "Brightwave Media",
        "--first-email",
        "lead@brightwave.example.net",
        "--domains",
        "brightwave.example.net",
    ]);
    assert!(out.contains("Guest Admin"), "{out}");
    let refused = castellan(dir.path(), None)
        .args([
            "partners",
            "local",
            "invite",
            "Brightwave Media",
            "planner@elsewhere.example.com",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("domains"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    run(&[
        "partners",
        "local",
        "invite",
        "Brightwave Media",
        "planner@brightwave.example.net",
    ]);
    let list = run(&["partners", "local", "list", "--json"]);
    let bw: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    let roles: Vec<(&str, &str)> = bw["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["email"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("lead@brightwave.example.net", "guest_admin"),
            ("planner@brightwave.example.net", "guest_user")
        ],
        "{list}"
    );
    let out = run(&[
        "partners",
        "local",
        "link",
        "Brightwave Media",
        "Acme Pins",
        &brightwave,
    ]);
    assert!(out.contains("Linked"), "{out}");
    let out = run(&["partners", "local", "end", "Brightwave Media"]);
    assert!(out.contains("2 guest(s) revoked"), "{out}");

    // Reports: the first check found the directory's two leavers; apply removes them.
    let reports = run(&["reports", "list", "Acme Pins", "--json"]);
    let open: serde_json::Value = reports
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["status"] == "open")
        .unwrap();
    assert_eq!(open["pending_removal"].as_array().unwrap().len(), 2);
    let id = open["id"].as_str().unwrap().to_string();
    let shown = run(&["reports", "show", "Acme Pins", &id]);
    assert!(
        shown.contains("David Carter") && shown.contains("Victoria Mitchell"),
        "{shown}"
    );
    let applied = run(&["reports", "apply", "Acme Pins", &id, "--wait"]);
    assert!(applied.contains("completed"), "{applied}");
    let after = run(&["reports", "show", "Acme Pins", &id, "--json"]);
    assert!(after.contains("\"applied\""), "{after}");
    // The report's e-mail waits in the outbox: no SMTP server is configured.
    let outbox = run(&["outbox", "--json"]);
    // The report's, among the guest invitations the partner steps above wrote.
    let mail: serde_json::Value = serde_json::from_str(
        outbox
            .lines()
            .find(|l| !l.contains("invited as a guest user"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(mail["status"], "kept");
    assert!(
        mail["body"].as_str().unwrap().contains("David Carter"),
        "{mail}"
    );
    // The e-mail links to the report in the web app.
    assert!(mail["body"].as_str().unwrap().contains("/apps/"), "{mail}");

    // A person's own account from the CLI: the Owner's seat card, connected through the API,
    // listed and revealed with `castellan accounts`.
    let me: serde_json::Value = post(
        "/api/v1/directory/identities",
        serde_json::json!({ "user_name": "owner", "primary_email": "owner@acme.example.com" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let left = run(&[
        "members",
        "list",
        "Acme Pins",
        "--tab",
        "unmatched",
        "--json",
    ]);
    let seat: serde_json::Value = left
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|s| s["email"] != "castellan-automation@acme.example.com")
        .unwrap();
    let app_id = created["app"]["id"].as_str().unwrap();
    let r = post(
        &format!(
            "/api/v1/apps/{app_id}/members/{}/match",
            seat["user_id"].as_str().unwrap()
        ),
        serde_json::json!({ "identity_id": me["id"], "role": "owner" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let listed = run(&[
        "accounts",
        "list",
        "--as",
        "owner@acme.example.com",
        "--json",
    ]);
    let card: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(card["role"], "owner", "{listed}");
    let card_id = card["id"].as_str().unwrap().to_string();
    let r = post(&format!("/api/v1/accounts/{card_id}/connect"), serde_json::json!({ "login": "owner@acme.example.com", "password": "cli-personal-pw-1", "totp": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" }))
        .await.unwrap();
    assert_eq!(r.status(), 200);
    let shown = run(&[
        "accounts",
        "reveal",
        &card_id,
        "--as",
        "owner@acme.example.com",
        "--json",
    ]);
    let shown: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(shown["password"], "cli-personal-pw-1");
    assert_eq!(
        shown["totp_code"].as_str().map(str::len),
        Some(6),
        "{shown}"
    );
    // Shared with a local partner: every guest of it holds it.
    run(&[
        "partners",
        "local",
        "add",
        "Contractor Co",
        "--first-email",
        "sam@contractor.example.com",
    ]);
    let out = run(&[
        "accounts",
        "share",
        &card_id,
        "--as",
        "owner@acme.example.com",
        "--partner",
        "Contractor Co",
    ]);
    assert!(out.contains("shared with Contractor Co"), "{out}");

    // Guest users from the CLI: invite (the link printed only on request, audited), list,
    // resend, revoke.
    let invited = run(&[
        "guests",
        "invite",
        "pat@partner.example.com",
        "--name",
        "Pat",
        "--show-link",
    ]);
    assert!(invited.contains("/welcome?token=cgl_"), "{invited}");
    let listed = run(&["guests", "list", "--json"]);
    // Pat, among the local partner's people invited above.
    let g: serde_json::Value =
        serde_json::from_str(listed.lines().find(|l| l.contains("pat@")).unwrap()).unwrap();
    assert_eq!(
        (g["email"].as_str(), g["link"].as_str()),
        (Some("pat@partner.example.com"), Some("pending")),
        "{listed}"
    );
    let resent = run(&["guests", "resend", "pat@partner.example.com"]);
    assert!(!resent.contains("token="), "{resent}");
    run(&["guests", "revoke", "pat@partner.example.com"]);
    let listed = run(&["guests", "list", "--json"]);
    assert!(listed.contains("\"revoked\""), "{listed}");

    // SCIM tokens from the CLI: made (the secret printed once with the base URL), listed,
    // revoked by name; a blank name is refused.
    let made = run(&["scim", "tokens", "create", "Okta production"]);
    assert!(made.contains("/scim/v2"), "{made}");
    assert!(made.contains("bearer token (shown once): cscim_"), "{made}");
    let listed = run(&["scim", "tokens", "list", "--json"]);
    let t: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(
        (t["name"].as_str(), t["revoked"].as_bool()),
        (Some("Okta production"), Some(false)),
        "{listed}"
    );
    assert!(!listed.contains("cscim_"), "{listed}");
    let blank = castellan(dir.path(), None)
        .args(["scim", "tokens", "create", " "])
        .output()
        .unwrap();
    assert!(!blank.status.success());
    assert!(String::from_utf8_lossy(&blank.stderr).contains("name"));
    run(&["scim", "tokens", "revoke", "Okta production"]);
    let listed = run(&["scim", "tokens", "list", "--json"]);
    assert!(listed.contains("\"revoked\":true"), "{listed}");

    // IdP sign-in from the CLI: the secret only from the environment (required the first
    // time, naming the field), never printed back.
    let no_secret = castellan(dir.path(), None)
        .args([
            "oidc",
            "set",
            "--name",
            "Okta",
            "--issuer",
            "https://acme.okta.example.com",
            "--client-id",
            "castellan",
        ])
        .output()
        .unwrap();
    assert!(!no_secret.status.success());
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("client_secret"));
    let set = ok(castellan(dir.path(), None)
        .env("OKTA_SECRET", "very-secret-value")
        .args([
            "oidc",
            "set",
            "--name",
            "Okta",
            "--issuer",
            "https://acme.okta.example.com",
            "--client-id",
            "castellan",
            "--client-secret-env",
            "OKTA_SECRET",
            "--allowed-domains",
            "acme.example.com",
            "--passwords-owners-only",
        ])
        .output()
        .unwrap());
    assert!(set.contains("/signin/oidc/callback"), "{set}");
    let shown = run(&["oidc", "show", "--json"]);
    let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(
        (
            v["client_secret_set"].as_bool(),
            v["passwords_owners_only"].as_bool()
        ),
        (Some(true), Some(true)),
        "{shown}"
    );
    assert!(!shown.contains("very-secret-value"), "{shown}");
    run(&["oidc", "remove"]);
    assert!(run(&["oidc", "show"]).contains("not set up"));

    // IdP groups from the CLI: map a directory group to the app, read the plan with its calls,
    // a stale hash refused naming it, unmap.
    let mapped = run(&["groups", "map", "Legal", "Acme Pins", "--role", "EMPLOYEE"]);
    assert!(mapped.contains("mapped Legal to Acme Pins"), "{mapped}");
    let listed = run(&["groups", "mappings", "--json"]);
    let m: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    let plan: serde_json::Value =
        serde_json::from_str(run(&["groups", "plan", "--json"]).trim()).unwrap();
    assert!(plan["input_hash"].is_string(), "{plan}");
    for st in plan["steps"].as_array().unwrap() {
        assert!(!st["calls"].as_array().unwrap().is_empty(), "{st}");
    }
    let stale = castellan(dir.path(), None)
        .args(["groups", "apply", "--plan-hash", "stale"])
        .output()
        .unwrap();
    assert!(!stale.status.success());
    assert!(String::from_utf8_lossy(&stale.stderr).contains("plan_hash"));
    run(&["groups", "unmap", m["id"].as_str().unwrap()]);
    assert!(run(&["groups", "plan"]).contains("nothing to do"));

    // Removing the app: a reason is required; the platform is not called.
    let no_reason = castellan(dir.path(), None)
        .args(["apps", "remove", "Acme Pins", "--reason", " "])
        .output()
        .unwrap();
    assert!(!no_reason.status.success());
    reqwest::Client::new()
        .delete(format!("{}/_emulator/requests", emu.base_url()))
        .send()
        .await
        .unwrap();
    let removed = run(&[
        "apps",
        "remove",
        "Acme Pins",
        "--reason",
        "moved to another team",
        "--json",
    ]);
    let removed: serde_json::Value = serde_json::from_str(removed.trim()).unwrap();
    assert!(
        removed["removed"]["seats"].as_u64().unwrap() > 0,
        "{removed}"
    );
    let calls: serde_json::Value = reqwest::get(format!("{}/_emulator/requests", emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["total"], 0, "{calls}");
    assert_eq!(run(&["apps", "list", "--json"]).trim(), "");
}

/// Careless input is refused, naming what is wrong, and changes nothing: out-of-range flags,
/// a typo in the configuration file, an unreachable PostgreSQL (within seconds, host and port
/// named), a mistyped data directory (no new database left behind), and with `--json` the
/// error is JSON.
#[test]
fn careless_input_is_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    ok(castellan(dir.path(), None)
        .args([
            "admin",
            "bootstrap",
            "--workspace",
            "acme",
            "--email",
            "owner@acme.example.com",
        ])
        .output()
        .unwrap());
    let refused = |args: &[&str], needle: &str| {
        let out = castellan(dir.path(), None).args(args).output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?} succeeded: {all}");
        assert!(
            all.contains(needle),
            "{args:?} did not name {needle:?}: {all}"
        );
        all
    };
    refused(&["outbox", "--limit", "0"], "--limit");
    refused(&["outbox", "--limit=-1"], "--limit");
    refused(
        &["tasks", "enqueue", "system.noop", "--count", "0"],
        "--count",
    );
    refused(&["worker", "--concurrency", "0"], "--concurrency");

    std::fs::write(dir.path().join("castellan.toml"), "lisen = \"x\"\n").unwrap();
    let e = refused(&["apps", "list"], "`lisen`");
    assert!(e.contains("castellan.toml"), "{e}");
    std::fs::remove_file(dir.path().join("castellan.toml")).unwrap();

    let started = Instant::now();
    refused(
        &[
            "--database-url",
            "postgres://castellan@127.0.0.1:1/castellan",
            "apps",
            "list",
        ],
        "127.0.0.1:1",
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    refused(
        &["--data-dir", "castellan-dta", "apps", "list"],
        "castellan-dta",
    );
    assert!(
        !dir.path().join("castellan-dta").exists(),
        "a read-only command created a database"
    );

    let out = castellan(dir.path(), None)
        .args(["apps", "check", "No such app", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    assert!(v["error"].as_str().unwrap().contains("No such app"), "{v}");
}

/// `castellan demo` keeps its data in a folder of its own and removes it on exit.
#[test]
fn the_demo_removes_its_folder_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = castellan(dir.path(), None)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let mut data = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("data in ").nth(1) {
            data = Some(std::path::PathBuf::from(rest.trim_end_matches(").")));
            break;
        }
    }
    // Keep reading, so the demo never writes into a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    let data = data.expect("the demo names its folder");
    assert!(data.join("castellan.db").exists(), "{}", data.display());
    terminate(&mut child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!data.exists(), "{} is left behind", data.display());
}
