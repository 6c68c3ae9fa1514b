//! The native-partner story in the browser, as the seeds tell it: the partner's admin, a guest
//! user, adds the monitor account and shares it → Partners tab → Connect to Castellan from the
//! partner's More options, in the seed's dialogs → the platform's consent page, signed in as
//! the monitor account → Connected → Check for updates → the "… Business guest users" tab
//! lists exactly the partner's users who reach our assets, read back from the emulator.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::{self, Browser, Site, browser_available};
use castellan_emulators::scenario as sc;

const LEAD: &str = "lead@brightwave.example.net";

/// The owner invites Brightwave's admin as a guest user; the guest sets a password, adds the
/// monitor account (its login and password) and shares it with the owner.
async fn guest_shares_the_monitor_account(site: &Site, b: &Browser, platform: &str) {
    b.goto(&site.url("/directory/guests")).await;
    b.click_text("Invite guest").await;
    b.find("dialog[open] #gi-email").await;
    b.fill("#gi-email", LEAD).await;
    b.fill("#gi-name", "Brightwave lead").await;
    b.xpath("//dialog//button[normalize-space(.)='Invite']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text(&format!("Invited {LEAD}"), false).await;
    b.click("button[aria-label^='Show link']").await;
    let link = b.find("#guest-link").await.text().await.unwrap();
    let g = Browser::start(false).await;
    g.goto(link.trim()).await;
    g.fill("#new_password", "guest password 4711").await;
    g.click("main button[type=submit]").await;
    g.wait_text("Welcome to Castellan", false).await;
    g.click_text("Add account").await;
    g.find("dialog[open] #add-label").await;
    g.find("#add-platform")
        .await
        .select_by_value(platform)
        .await
        .unwrap();
    g.fill("#add-label", "Brightwave monitor").await;
    g.xpath("//dialog//button[normalize-space(.)='Add account']")
        .await
        .click()
        .await
        .unwrap();
    g.wait_text("Added Brightwave monitor", false).await;
    g.click("a[aria-label='Log in to Brightwave monitor']")
        .await;
    g.find("dialog[open] #ca-password").await;
    g.fill("#ca-login", LEAD).await;
    g.fill("#ca-password", "Monitor-Pw-3318").await;
    g.xpath("//dialog//button[contains(., 'Connect account')]")
        .await
        .click()
        .await
        .unwrap();
    g.wait_text("is connected", false).await;
    g.click("a[aria-label='Share Brightwave monitor']").await;
    g.find("dialog[open] #share-with")
        .await
        .select_by_label(harness::OWNER)
        .await
        .unwrap();
    g.xpath("//dialog//button[normalize-space(.)='Share']")
        .await
        .click()
        .await
        .unwrap();
    g.wait_text("Shared with owner@acme.example.com", false)
        .await;
    g.screenshot(&format!("39-{platform}-guest-shares-monitor"))
        .await;
    g.close().await;
}

/// E-mails of the partner's members who hold a permission on one of our assets, with it, as
/// the emulated partner business holds them.
async fn expected(site: &Site, platform: &str) -> BTreeSet<String> {
    let (partner, ours) = if platform == "pinterest" {
        (
            format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND + 1),
            format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND),
        )
    } else {
        (
            format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND + 1),
            format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND),
        )
    };
    let ours = site.control(&ours).await;
    let ours: BTreeSet<&str> = ours["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let partner = site.control(&partner).await;
    let mut out = BTreeSet::new();
    for m in partner["members"].as_array().unwrap() {
        for a in m["assets"].as_array().unwrap() {
            if ours.contains(a["asset_id"].as_str().unwrap()) {
                let perms: Vec<String> = a
                    .get("permissions")
                    .or_else(|| a.get("role"))
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect();
                out.insert(format!(
                    "{} {}",
                    m["user"]["email"].as_str().unwrap(),
                    perms.join(", ")
                ));
            }
        }
    }
    out
}

async fn partner_story(platform: &str) {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api(platform).await;
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    guest_shares_the_monitor_account(&site, &b, platform).await;

    b.goto(&site.url(&format!("/apps/{app}/partners"))).await;
    let tab = b.wait_text("Pending onboarding", false).await;
    let (title, label) = if platform == "pinterest" {
        ("Pinterest Business Partners", "Pinterest")
    } else {
        ("TikTok Business Partners", "TikTok")
    };
    assert!(tab.contains(title), "{tab}");
    b.screenshot(&format!("40-{platform}-partners")).await;
    b.assert_no_axe("the Partners tab").await;
    b.click("summary[aria-label^='More options for Brightwave']")
        .await;
    b.click("a[aria-label^='Connect Brightwave']").await;
    let (intro, select, go) = if platform == "pinterest" {
        (
            "Connect your partner to Castellan",
            "Select monitor account",
            "Confirm",
        )
    } else {
        ("Connect your partner token", "Grant access", "Next")
    };
    b.wait_text(intro, false).await;
    b.screenshot(&format!("41-{platform}-connect-partner-intro"))
        .await;
    b.assert_no_axe("Connect your partner").await;
    b.click_text("Get started").await;
    b.wait_text(select, false).await;
    b.xpath("//dialog//label[contains(., 'Brightwave monitor (shared with you)')]/input")
        .await
        .click()
        .await
        .unwrap();
    b.screenshot(&format!("42-{platform}-select-monitor-account"))
        .await;
    b.assert_no_axe(select).await;
    b.xpath(&format!("//dialog//button[contains(., '{go}')]"))
        .await
        .click()
        .await
        .unwrap();
    // On to the platform's consent page, signed in as the monitor account.
    b.find("#consent-link").await;
    b.screenshot(&format!("42a-{platform}-consent-hand-off"))
        .await;
    b.assert_no_axe("the consent hand-off").await;
    b.click("#consent-link").await;
    b.xpath(&format!("//option[contains(., '{LEAD}')]"))
        .await
        .click()
        .await
        .unwrap();
    b.screenshot(&format!("42b-{platform}-consent-page")).await;
    b.click_text("Confirm").await;
    let done = b.wait_text("is connected to Castellan", false).await;
    assert!(done.contains("Connected"), "{done}");
    assert_eq!(b.path().await, format!("/apps/{app}/partners"));
    b.screenshot(&format!("43-{platform}-partner-connected"))
        .await;

    // Check for updates, then the partner's users in the User Overview.
    b.click_text("Check for updates").await;
    b.wait_text("Check for updates: Completed", false).await;
    b.goto(&site.url(&format!("/apps/{app}/members"))).await;
    let tab_name = format!("{label} Business guest users");
    b.xpath(&format!(
        "//nav[@aria-label='User Overview tabs']//a[contains(., '{tab_name}')]"
    ))
    .await
    .click()
    .await
    .unwrap();
    b.wait_text("Partner: Brightwave", false).await;
    b.screenshot(&format!("44-{platform}-business-guest-users"))
        .await;
    b.assert_no_axe(&tab_name).await;
    // Exactly the partner's users who reach our assets, with their permissions.
    let rows =
        b.c.find_all(fantoccini::Locator::Css("tbody tr"))
            .await
            .unwrap();
    let mut shown = BTreeSet::new();
    for r in rows {
        let html = r.html(false).await.unwrap();
        let email = html
            .split(|c: char| c == '<' || c == '>' || c.is_whitespace())
            .find(|w| w.contains("@brightwave.example.net") || w.contains('@'))
            .unwrap()
            .to_string();
        let perms = html
            .split("<li>")
            .skip(1)
            .map(|li| {
                li.split("</li>")
                    .next()
                    .unwrap()
                    .split(": ")
                    .nth(1)
                    .unwrap()
                    .to_string()
            })
            .collect::<Vec<_>>();
        for p in perms {
            shown.insert(format!("{email} {p}"));
        }
    }
    assert_eq!(shown, expected(&site, platform).await);
    let text = b.text().await;
    assert!(text.contains(&format!("Guest user: {LEAD}")), "{text}");

    // Disconnect, from the same menu: its users go.
    b.goto(&site.url(&format!("/apps/{app}/partners"))).await;
    b.click("summary[aria-label^='More options for Brightwave']")
        .await;
    b.click("button[aria-label^='Disconnect Brightwave']").await;
    b.wait_text("is disconnected", false).await;
    b.wait_text("Pending onboarding", false).await;
    let users = site
        .api(&format!("/api/v1/apps/{app}/members?tab=partner_users"))
        .await;
    assert_eq!(users["items"], serde_json::json!([]), "{users}");
    let _: Value = users;

    // Stop sharing one of our ad accounts with the partner: previewed with the exact call.
    b.click("summary[aria-label^='More options for Brightwave']")
        .await;
    b.click("a[aria-label^='Stop sharing with Brightwave']")
        .await;
    b.wait_text("no longer use", false).await;
    b.xpath("//dialog//label[contains(., 'Retargeting')]/input")
        .await
        .click()
        .await
        .unwrap();
    b.click_text("Preview").await;
    let preview = b.wait_text("Castellan makes these calls", false).await;
    let call = if platform == "pinterest" {
        "partners/assets"
    } else {
        "/bc/partner/asset/delete/"
    };
    assert!(preview.contains(call), "{preview}");
    b.screenshot(&format!("45-{platform}-stop-sharing-preview"))
        .await;
    b.assert_no_axe("Stop sharing").await;
    b.xpath("//dialog//button[normalize-space(.)='Confirm']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("queued", false).await;
    for _ in 0..100 {
        let shared = site
            .api(&format!("/api/v1/apps/{app}/partners"))
            .await
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str().unwrap_or("").starts_with("Brightwave"))
            .map(|p| p["uses_our_assets"].as_array().unwrap().len());
        if shared == Some(1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.goto(&site.url(&format!("/apps/{app}/partners"))).await;
    let text = b.text().await;
    assert!(!text.contains("Acme US Retargeting"), "{text}");
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
