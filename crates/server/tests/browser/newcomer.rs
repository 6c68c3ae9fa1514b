//! What a new user stumbled on, walked in the browser: a failing connection shown with its
//! reason and Retry, seats without an e-mail named, and the Reports tab with one open report.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Browser, Site, browser_available};
use castellan_emulators::scenario as sc;

/// An app whose API cannot be reached says *Connection failing* with the network's reason and
/// a Retry on its card, under Needs attention and on App details, within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_connection_shows_its_reason_and_retry() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let acct: Value = site
        .app
        .post(&site.token, "/api/v1/automation-accounts")
        .json(&json!({ "platform": "pinterest", "label": "bot", "email": "castellan-automation@acme.example.com", "password": "bot-password-123", "access_token": sc::PINTEREST_AUTOMATION_TOKEN }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Nothing listens on port 1.
    let v: Value = site
        .app
        .post(&site.token, "/api/v1/apps")
        .json(&json!({ "platform": "pinterest", "label": "Unreachable Pins", "business_id": sc::PINTEREST_BRAND.to_string(), "login_method": "password", "automation_account_id": acct["account"]["id"], "api_base_url": "http://127.0.0.1:1" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let task = site.wait_task(v["task"]["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the connection check gave up after {:?}",
        started.elapsed()
    );
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    let apps = b.wait_text("Connection failing", false).await;
    assert!(
        apps.contains("cannot reach Pinterest at http://127.0.0.1:1"),
        "{apps}"
    );
    assert!(
        apps.contains("Needs attention") && apps.contains("Unreachable Pins: connection failing"),
        "{apps}"
    );
    b.find("button[aria-label='Retry connecting Unreachable Pins']")
        .await;
    b.screenshot("30-apps-connection-failing").await;
    b.assert_no_axe("Apps with a failing connection").await;
    b.goto(&site.url(&format!(
        "/apps/{}/members",
        v["app"]["id"].as_str().unwrap()
    )))
    .await;
    let details = b.wait_text("Connection failing", false).await;
    assert!(details.contains("cannot reach Pinterest"), "{details}");
    b.screenshot("31-app-details-connection-failing").await;
    // Retry checks the connection again: Connecting, then failing again with its reason.
    b.click_text("Retry").await;
    b.wait_text("Connecting Unreachable Pins again", false)
        .await;
    b.goto(&site.url("/apps")).await;
    b.wait_text("cannot reach Pinterest", true).await;
    b.close().await;
}

/// A seat the platform gives no e-mail for is named by its username, with the id beside it,
/// in the row and in what an action says; the Reports tab counts right and keeps one open
/// report however often the app is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_are_named_and_reports_do_not_pile_up() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api("pinterest").await;
    for _ in 0..2 {
        site.check(&app).await;
    }
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url(&format!("/apps/{app}/members?tab=unmatched")))
        .await;
    let text = b.wait_text("seats shown", false).await;
    assert!(
        text.contains("acme_reporting_system_user") && text.contains("ID 549755910046"),
        "{text}"
    );
    // Exempt it: the message names it, not its id.
    b.click("summary[aria-label='More options for acme_reporting_system_user']")
        .await;
    b.click("a[aria-label='Exempt user acme_reporting_system_user']")
        .await;
    b.fill(
        "#exempt-reason",
        "Reporting integration, owned by data team",
    )
    .await;
    b.xpath("//dialog//button[contains(., 'Exempt member')]")
        .await
        .click()
        .await
        .unwrap();
    let done = b.wait_text("is exempted", false).await;
    assert!(
        done.contains("acme_reporting_system_user is exempted"),
        "{done}"
    );
    // One open report after three checks, with the first check's real counts.
    b.goto(&site.url(&format!("/apps/{app}/reports"))).await;
    let reports = b.wait_text("awaiting removal", false).await;
    assert_eq!(
        reports.lines().filter(|l| l.trim() == "Open").count(),
        1,
        "{reports}"
    );
    // The open report comes first.
    let open_at = reports.find("Open report").expect("an open report");
    let check_at = reports.find("Check of").expect("the later checks");
    assert!(open_at < check_at, "{reports}");
    assert!(
        reports.contains("listed in the open report"),
        "later checks point at the open report: {reports}"
    );
    b.screenshot("32-reports-one-open").await;
    b.close().await;
}

/// A long login wraps inside the reveal panel instead of running past its edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_login_wraps_inside_the_reveal_panel() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let card: Value = site
        .app
        .post(&site.token, "/api/v1/me/accounts")
        .json(&json!({ "platform": "tiktok", "label": "Long login" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = card["id"].as_str().unwrap();
    let login = format!(
        "{}@agency-with-a-very-long-domain-name.example.com",
        "x".repeat(90)
    );
    let r = site
        .app
        .post(&site.token, &format!("/api/v1/accounts/{id}/connect"))
        .json(&json!({ "login": login, "password": "Long-Login-Password-1" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url("/accounts")).await;
    b.click("button[aria-label='Log in to Long login']").await;
    b.find("#rv-login").await;
    let overflow = b
        .c
        .execute(
            "const code = document.getElementById('rv-login'); const panel = code.closest('.reveal');\
             return code.getBoundingClientRect().right - panel.getBoundingClientRect().right;",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    b.screenshot("33-reveal-long-login").await;
    assert!(
        overflow <= 0.0,
        "the login runs {overflow}px past the panel"
    );
    b.close().await;
}

/// App cards line up: More options sits at the same place on every card, whatever the
/// length of the app's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_cards_line_up() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    site.connect_api("pinterest").await;
    site.connect_api("tiktok").await;
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.find("#app-cards summary").await;
    let offsets = b
        .c
        .execute(
            "return Array.from(document.querySelectorAll('#app-cards .app-card')).map(c => {\
               const s = c.querySelector('summary').getBoundingClientRect();\
               const r = c.getBoundingClientRect();\
               return [Math.round(s.top - r.top), Math.round(r.right - s.right), Math.round(r.top)];\
             });",
            vec![],
        )
        .await
        .unwrap();
    let offsets: Vec<[i64; 3]> = serde_json::from_value(offsets).unwrap();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    assert_eq!(
        offsets[0][..2],
        offsets[1][..2],
        "More options moves: {offsets:?}"
    );
    assert_eq!(
        offsets[0][2], offsets[1][2],
        "the cards share a row: {offsets:?}"
    );
    b.screenshot("34-apps-cards").await;
    b.close().await;
}
