//! Automation accounts and the vault: secrets sealed on the way in, never in responses or the
//! database in plain text, revealed only to an Owner and audited; key rotation re-wraps them
//! while the server keeps running.

use std::sync::Arc;

use castellan_domain::Env;
use castellan_domain::auth::ApiScope;
use castellan_testkit::TestDb;

use castellan_testkit::{TestApp, error_of};

const PASSWORD: &str = "Pw-ZXQ-7731-unmistakable";
const TOKEN: &str = "pina_tok-ABC-998877-unmistakable";

/// The SQLite database file and its WAL, as bytes, to grep for plain text.
pub(crate) fn db_files(app: &TestApp) -> Vec<u8> {
    let path = app
        .db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn secrets_are_sealed_and_revealed_only_with_an_audit_event() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    let body = serde_json::json!({
        "platform": "pinterest", "label": "Pinterest automation", "email": "bot@acme.example.com",
        "password": PASSWORD, "phone": "+1 415 555 0100", "access_token": TOKEN, "token_scopes": "biz_access:read,biz_access:write",
    });
    let r = app
        .post(&t, "/api/v1/automation-accounts")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let text = r.text().await.unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains(TOKEN), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Saved with its password: its card is connected (nothing is left for anyone to do).
    assert_eq!(v["card"]["status"], "connected");
    assert_eq!(
        v["account"]["secrets"],
        serde_json::json!(["access_token", "password"])
    );
    let id = v["account"]["id"].as_str().unwrap().to_string();
    let list = app
        .get(&t, "/api/v1/automation-accounts")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(PASSWORD) && !list.contains(TOKEN));
    let cards: serde_json::Value = app
        .get(&t, "/api/v1/accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cards["items"][0]["label"], "Pinterest automation");

    // Bad input names the field and changes nothing.
    for (field, bad) in [
        (
            "platform",
            serde_json::json!({"platform": "myspace", "label": "x", "email": "a@b.co", "password": "p"}),
        ),
        (
            "phone",
            serde_json::json!({"platform": "tiktok", "label": "y", "email": "a@b.co", "password": "p", "phone": "call me"}),
        ),
        (
            "password",
            serde_json::json!({"platform": "tiktok", "label": "z", "email": "a@b.co", "password": ""}),
        ),
    ] {
        let (s, err) = error_of(
            app.post(&t, "/api/v1/automation-accounts")
                .json(&bad)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((s, err["field"].as_str().unwrap()), (400, field));
    }
    let dup = app
        .post(&t, "/api/v1/automation-accounts")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 409);

    // Not in the database file in plain text.
    let bytes = db_files(&app);
    assert!(!bytes.is_empty());
    assert!(
        !contains(&bytes, PASSWORD) && !contains(&bytes, TOKEN),
        "a secret is stored in plain text"
    );

    // The audited reveal.
    let r: serde_json::Value = app
        .post(&t, &format!("/api/v1/automation-accounts/{id}/reveal"))
        .json(&serde_json::json!({"secret": "password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["value"], PASSWORD);
    let events: serde_json::Value = app
        .get(&t, "/api/v1/audit/events?action=automation_account.reveal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
    assert_eq!(events["items"][0]["details"]["secret"], "password");
    // The audit log itself holds no secret either.
    let export = app
        .get(&t, "/api/v1/audit/export?format=jsonl")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!export.contains(PASSWORD) && !export.contains(TOKEN));
}

#[tokio::test]
async fn key_rotation_rewraps_every_secret_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (ring, _) = Env::system()
        .with_rng(|r| castellan_services::load_or_create(None, dir.path(), r))
        .unwrap();
    let file = dir.path().join("master.key");
    let vault = Arc::new(castellan_services::SharedKeyring::new(
        ring,
        Some(file.clone()),
    ));
    let app = TestApp::spawn_full(TestDb::sqlite(), Default::default(), vault).await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = serde_json::json!({ "platform": "tiktok", "label": format!("bot {i}"), "email": "bot@acme.example.com", "password": format!("{PASSWORD}-{i}") });
        let v: serde_json::Value = app
            .post(&t, "/api/v1/automation-accounts")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(v["account"]["id"].as_str().unwrap().to_string());
    }
    let report = castellan_services::vault::rotate_master_key(&app.store, &file, true)
        .await
        .unwrap();
    assert_eq!(
        (
            report.new_version,
            report.rewrapped,
            report.retired_previous
        ),
        (2, 3, true)
    );
    let versions: Vec<i64> = sqlx::query_scalar("SELECT key_version FROM vault_secrets")
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    assert!(versions.iter().all(|v| *v == 2));
    // The running server (which still held key 1) reads the new key file and opens them.
    for (i, id) in ids.iter().enumerate() {
        let r: serde_json::Value = app
            .post(&t, &format!("/api/v1/automation-accounts/{id}/reveal"))
            .json(&serde_json::json!({"secret": "password"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["value"], format!("{PASSWORD}-{i}"));
    }
    // Rotating again with nothing left on the old key is fine.
    let again = castellan_services::vault::rotate_master_key(&app.store, &file, false)
        .await
        .unwrap();
    assert_eq!((again.new_version, again.rewrapped), (3, 3));
}

/// Connect your account, then Log in: a person matched to a seat saves their own credentials
/// with a TOTP secret; only they see them, with the current code; each reveal is audited with
/// the IP and user agent; nothing is in the database in plain text.
#[tokio::test]
async fn a_person_connects_their_own_account_and_only_they_can_reveal_it() {
    own_accounts(castellan_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn own_accounts_and_sharing_on_postgres() {
    own_accounts(castellan_store::Backend::Postgres).await;
}

async fn own_accounts(backend: castellan_store::Backend) {
    let Some(s) = crate::support::setup(backend).await else {
        return;
    };
    let app = s.connect("pinterest").await;
    assert_eq!(s.check(&app).await["status"], "completed");
    // Match the webmail seat to Ava: her card appears ("Connect your account").
    let seat = s
        .tab(&app, "unmatched")
        .await
        .into_iter()
        .find(|m| m["email"] == "jess.pins.ads@gmail.com")
        .unwrap();
    let ava = s
        .get_json("/api/v1/directory/identities?q=ava.johnson")
        .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .app
        .post(
            &s.token,
            &format!(
                "/api/v1/apps/{app}/members/{}/match",
                seat["user_id"].as_str().unwrap()
            ),
        )
        .json(&serde_json::json!({ "identity_id": ava, "role": "collaborator" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ava_person = s
        .app
        .store
        .ws(s.ws)
        .create_person(
            &castellan_testkit::cli(),
            &castellan_domain::values::Email::parse("email", "ava.johnson@acme.example.com")
                .unwrap(),
            Some("Ava Johnson"),
            castellan_domain::workspace::WorkspaceRole::Member,
            None,
        )
        .await
        .unwrap();
    let ava_token = s.app.token(s.ws, ava_person.id, ApiScope::Write).await;
    let bob = s
        .app
        .person(s.ws, castellan_domain::workspace::WorkspaceRole::Admin)
        .await;
    let bob_token = s.app.token(s.ws, bob, ApiScope::Admin).await;
    let mine: serde_json::Value = s
        .app
        .get(&ava_token, "/api/v1/me/accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let card = mine
        .as_array()
        .unwrap()
        .first()
        .unwrap_or_else(|| panic!("{mine}"))
        .clone();
    assert_eq!(card["status"], "connect_your_account");
    let id = card["id"].as_str().unwrap().to_string();
    let bobs: serde_json::Value = s
        .app
        .get(&bob_token, "/api/v1/me/accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bobs.as_array().unwrap().len(), 0, "Bob holds no account");

    // A bad TOTP secret names the field and saves nothing.
    let r = s.app.post(&ava_token, &format!("/api/v1/accounts/{id}/connect"))
        .json(&serde_json::json!({ "login": "ava.johnson@acme.example.com", "password": PASSWORD, "totp": "not a secret!" }))
        .send().await.unwrap();
    let (status, e) = error_of(r).await;
    assert_eq!((status, e["field"].as_str()), (400, Some("totp")), "{e}");
    let totp_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let r = s.app.post(&ava_token, &format!("/api/v1/accounts/{id}/connect"))
        .json(&serde_json::json!({ "login": "ava.johnson@acme.example.com", "password": PASSWORD, "totp": totp_secret }))
        .send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("\"connected\"") && !body.contains(PASSWORD),
        "{body}"
    );

    // Only Ava may reveal; Bob, an Admin, gets 404 (not even that it exists).
    let r = s
        .app
        .post(&bob_token, &format!("/api/v1/accounts/{id}/reveal"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .app
        .post(&ava_token, &format!("/api/v1/accounts/{id}/reveal"))
        .header("user-agent", "castellan-test/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["password"], PASSWORD);
    assert_eq!(v["login"], "ava.johnson@acme.example.com");
    let now = chrono::Utc::now().timestamp() as u64;
    let expected = castellan_domain::totp::Totp::parse("totp", totp_secret).unwrap();
    let code = v["totp_code"].as_str().unwrap().to_string();
    assert!(
        [now.saturating_sub(30), now, now + 30]
            .iter()
            .any(|t| expected.at(*t).code == code),
        "the current code: {code}"
    );
    assert!((1..=30).contains(&v["totp_seconds_left"].as_u64().unwrap()));
    let ev = s
        .get_json("/api/v1/audit/events?action=account.reveal")
        .await;
    let e = &ev["items"][0];
    assert_eq!(e["details"]["user_agent"], "castellan-test/1.0", "{ev}");
    assert_eq!(e["details"]["ip"], "127.0.0.1", "{ev}");
    assert_eq!(e["actor_person"], ava_person.id.to_string(), "{ev}");
    if backend == castellan_store::Backend::Sqlite {
        let files = db_files(&s.app);
        assert!(
            !contains(&files, PASSWORD),
            "no saved password in the database file"
        );
        assert!(
            !contains(&files, totp_secret),
            "no TOTP secret in the database file"
        );
    }
}

/// Rotating the vault master key (and retiring the old one) while people reveal their saved
/// credentials: every reveal answers with the right values and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reveals_during_master_key_rotation_all_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (ring, _) = Env::system()
        .with_rng(|r| castellan_services::load_or_create(None, dir.path(), r))
        .unwrap();
    let file = dir.path().join("master.key");
    let vault = Arc::new(castellan_services::SharedKeyring::new(
        ring,
        Some(file.clone()),
    ));
    let app = TestApp::spawn_full(TestDb::sqlite(), Default::default(), vault).await;
    let (ws, owner) = app.workspace("acme").await;
    let t = app.token(ws, owner, ApiScope::Admin).await;
    // Cards of the Owner's own (as a matched seat would make them).
    let mut cards = Vec::new();
    for i in 0..4 {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO account_cards (id, workspace_id, person_id, label, platform, status, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pinterest', 'connect_your_account', 0, 0)")
            .bind(&id)
            .bind(ws.to_string())
            .bind(owner.to_string())
            .bind(format!("Acme Pinterest {i}"))
            .execute(app.store.pool())
            .await
            .unwrap();
        let r = app
            .post(&t, &format!("/api/v1/accounts/{id}/connect"))
            .json(&serde_json::json!({ "login": "owner@acme.example.com", "password": format!("{PASSWORD}-{i}"), "totp": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        cards.push(id);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for (i, id) in cards.iter().enumerate() {
        let (http, url, t, stop) = (
            app.http.clone(),
            app.url(&format!("/api/v1/accounts/{id}/reveal")),
            t.clone(),
            stop.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 5 {
                let r = http.post(&url).bearer_auth(&t).send().await.unwrap();
                assert_eq!(
                    r.status(),
                    200,
                    "a reveal failed during rotation: {}",
                    r.text().await.unwrap()
                );
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["password"], format!("{PASSWORD}-{i}"));
                assert_eq!(v["totp_code"].as_str().map(str::len), Some(6));
                n += 1;
            }
            n
        }));
    }
    for retire in [false, true, true] {
        castellan_services::vault::rotate_master_key(&app.store, &file, retire)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for r in readers {
        total += r.await.unwrap();
    }
    assert!(total >= 20, "{total} reveals");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT key_version FROM vault_secrets")
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    assert_eq!(versions.len(), 12, "nothing lost: 3 fields × 4 cards");
    assert!(versions.iter().all(|v| *v == 4), "{versions:?}");
    let events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'account.reveal'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(events, i64::from(total), "every reveal is audited");
}
