//! The native-partner story in the browser: the Partners tab, Connect to Castellan from a
//! partner's More options, the seed's dialogs, and the partner Connected.

use serde_json::{Value, json};

use crate::harness::{Browser, Site, browser_available};
use castellan_emulators::scenario as sc;

async fn partner_story(platform: &str) {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api(platform).await;
    // The partner's admin's account, added to the workspace (the monitor account).
    let token = if platform == "pinterest" {
        sc::PINTEREST_MONITOR_TOKEN
    } else {
        sc::TIKTOK_MONITOR_TOKEN
    };
    let r: Value = site
        .app
        .post(&site.token, "/api/v1/automation-accounts")
        .json(&json!({ "platform": platform, "label": "Brightwave monitor", "email": "lead@brightwave.example.net", "password": "monitor-password-1", "access_token": token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["account"]["id"].is_string(), "{r}");
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url(&format!("/apps/{app}/partners"))).await;
    let tab = b.wait_text("Pending onboarding", false).await;
    let title = if platform == "pinterest" {
        "Pinterest Business Partners"
    } else {
        "TikTok Business Partners"
    };
    assert!(tab.contains(title), "{tab}");
    b.screenshot(&format!("40-{platform}-partners")).await;
    b.assert_no_axe("the Partners tab").await;
    b.click("summary[aria-label^='More options for Brightwave']")
        .await;
    b.click("a[aria-label^='Connect Brightwave']").await;
    let (intro, select) = if platform == "pinterest" {
        (
            "Connect your partner to Castellan",
            "Select monitor account",
        )
    } else {
        ("Connect your partner token", "Grant access")
    };
    b.wait_text(intro, false).await;
    b.screenshot(&format!("41-{platform}-connect-partner-intro"))
        .await;
    b.assert_no_axe("Connect your partner").await;
    b.click_text("Get started").await;
    b.wait_text(select, false).await;
    b.xpath("//dialog//label[contains(., 'Brightwave monitor')]/input")
        .await
        .click()
        .await
        .unwrap();
    b.screenshot(&format!("42-{platform}-select-monitor-account"))
        .await;
    b.assert_no_axe(select).await;
    b.xpath("//dialog//button[contains(., 'Confirm')]")
        .await
        .click()
        .await
        .unwrap();
    let done = b.wait_text("is connected to Castellan", false).await;
    assert!(done.contains("Connected"), "{done}");
    b.screenshot(&format!("43-{platform}-partner-connected"))
        .await;
    let listed = site.api(&format!("/api/v1/apps/{app}/partners")).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "connected"
                && p["name"].as_str().unwrap_or("").starts_with("Brightwave")),
        "{listed}"
    );
    // Disconnect, from the same menu.
    b.click("summary[aria-label^='More options for Brightwave']")
        .await;
    b.click("button[aria-label^='Disconnect Brightwave']").await;
    b.wait_text("is disconnected", false).await;
    b.wait_text("Pending onboarding", false).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinterest_partner_story_in_the_browser() {
    partner_story("pinterest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiktok_partner_story_in_the_browser() {
    partner_story("tiktok").await;
}
