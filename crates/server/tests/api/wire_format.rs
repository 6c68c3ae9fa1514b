//! A platform that changes its wire format: when a list answer loses its paging field (TikTok's
//! `page_info`, Pinterest's `items`), the check fails with an error that names the endpoint
//! and the field, instead of stopping after the first page as if the list had ended, and what
//! the previous check stored stays as it was.

use castellan_store::Backend;
use serde_json::json;

use crate::support::setup;

async fn wire_change_fails_the_check(platform: &str, suffix: &str, field: &str, named: &[&str]) {
    let Some(s) = setup(Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(platform).await;
    let first = s.check(&app).await;
    assert_eq!(first["status"], "completed", "{first}");
    let counts = s.counts(&app).await;
    let onboarded = s.tab(&app, "onboarded").await;
    let unmatched = s.tab(&app, "unmatched").await;
    assert!(!onboarded.is_empty());

    s.control(
        "PUT",
        "/faults",
        json!({ "drop_field": { "path_suffix": suffix, "field": field } }),
    )
    .await;
    let failed = s.check(&app).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap_or_default();
    for n in named {
        assert!(error.contains(n), "the error names {n:?}: {error}");
    }
    // Nothing the failed check saw was applied.
    assert_eq!(s.counts(&app).await, counts);
    assert_eq!(s.tab(&app, "onboarded").await, onboarded);
    assert_eq!(s.tab(&app, "unmatched").await, unmatched);
    // The app says why, and the next check after the platform is fixed succeeds unchanged.
    let detail = s.get_json(&format!("/api/v1/apps/{app}")).await;
    assert_eq!(detail["status"], "error", "{detail}");
    let message = detail["status_message"].as_str().unwrap_or_default();
    assert!(message.contains(named[0]), "{detail}");
    s.control("PUT", "/faults", json!({})).await;
    let healed = s.check(&app).await;
    assert_eq!(healed["status"], "completed", "{healed}");
    assert_eq!(healed["result"]["changes"]["rows_written"], 0, "{healed}");
}

#[tokio::test]
async fn tiktok_members_without_page_info_fail_the_check() {
    wire_change_fails_the_check(
        "tiktok",
        "/bc/member/get/",
        "data.page_info",
        &["/bc/member/get/", "page_info"],
    )
    .await;
}

#[tokio::test]
async fn tiktok_assets_without_total_page_fail_the_check() {
    wire_change_fails_the_check(
        "tiktok",
        "/bc/asset/admin/get/",
        "data.page_info.total_page",
        &["/bc/asset/admin/get/", "page_info", "total_page"],
    )
    .await;
}

#[tokio::test]
async fn pinterest_members_without_items_fail_the_check() {
    wire_change_fails_the_check("pinterest", "/members", "items", &["/members", "items"]).await;
}
