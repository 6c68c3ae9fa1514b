//! A connection that cannot reach the platform fails within seconds with the network's reason,
//! and checking it again (`POST /apps/{id}/connect`) runs the check anew.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{post, setup};

#[tokio::test]
async fn an_unreachable_platform_fails_fast_and_can_be_retried() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let (st, acct) = post(
        &s,
        "/api/v1/automation-accounts",
        json!({ "platform": "tiktok", "label": "bot", "email": "castellan-automation@acme.example.com", "password": "bot-password-123", "access_token": castellan_emulators::scenario::TIKTOK_AUTOMATION_TOKEN }),
    )
    .await;
    assert_eq!(st, 201, "{acct}");
    let started = Instant::now();
    let (st, v) = post(
        &s,
        "/api/v1/apps",
        json!({ "platform": "tiktok", "label": "Nowhere", "business_id": castellan_emulators::scenario::TIKTOK_BRAND.to_string(), "login_method": "password", "automation_account_id": acct["account"]["id"], "api_base_url": "http://127.0.0.1:1" }),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let app = v["app"]["id"].as_str().unwrap().to_string();
    let task = s.wait_task(v["task"]["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let a = s.get_json(&format!("/api/v1/apps/{app}")).await;
    assert_eq!(a["status"], "error", "{a}");
    let msg = a["status_message"].as_str().unwrap();
    assert!(
        msg.contains("cannot reach TikTok at http://127.0.0.1:1") && msg.contains("refused"),
        "{msg}"
    );
    // Retry: pending until the check ends, then failing again with its reason.
    let (st, t) = post(&s, &format!("/api/v1/apps/{app}/connect"), json!({})).await;
    assert_eq!(st, 202, "{t}");
    assert_eq!(t["kind"], "app.connect", "{t}");
    let done = s.wait_task(t["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(
        s.get_json(&format!("/api/v1/apps/{app}")).await["status"],
        "error"
    );
}
