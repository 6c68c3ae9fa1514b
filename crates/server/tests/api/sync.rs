//! Connect and check for updates against the emulators, for both platforms: members land in
//! the right tabs, a re-check with no upstream change writes nothing, upstream changes are
//! recorded exactly, and a failing check leaves the previous state readable.

use crate::support::setup;
use castellan_emulators::scenario as sc;
use serde_json::{Value, json};

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
    let first = castellan_services::schedule::schedule_tick(&s.app.store, &settings)
        .await
        .unwrap();
    let second = castellan_services::schedule::schedule_tick(&s.app.store, &settings)
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
