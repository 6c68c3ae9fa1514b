//! Browser tests in real Chromium: the seeds' flows through the web app, keyboard-only
//! dialogs, and axe on every main screen in light and dark colour schemes. Screenshots of every
//! main screen at 1280×800 land in `target/ui-screenshots/`.

mod harness;

use std::time::Duration;

use castellan_emulators::scenario as sc;
use fantoccini::key::Key;
use harness::{Browser, Site, browser_available};

/// The seed's story on Pinterest: sign in → Connect app through the wizard with a new
/// automation account and the emulator's consent page → Check for updates, live → match one
/// Unmatched seat as Owner, exempt one, remove one after reading the plan → deactivate a person
/// in Directory → Check for updates → apply the report → Automation shows every task
/// Completed, and the emulator shows the platform changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinterest_story_in_the_browser() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let b = Browser::start(false).await;

    // Sign-in page, then the forced password change.
    b.goto(&site.url("/apps")).await;
    b.find("#email").await;
    b.screenshot("01-sign-in").await;
    site.sign_in(&b, true).await;
    b.screenshot("02-apps-empty").await;

    // The Connect app wizard.
    b.click_text("Connect app").await;
    b.wait_text("Connect your apps to Castellan", false).await;
    b.screenshot("03-connect-intro").await;
    b.click("input[name=hide_intro]").await;
    b.click_text("Get started").await;
    b.find("input[value=pinterest]")
        .await
        .click()
        .await
        .unwrap();
    b.screenshot("04-connect-select-app").await;
    b.click_text("Next").await;
    b.fill("#label", "Acme Pinterest").await;
    b.fill("#business_id", &sc::PINTEREST_BRAND.to_string())
        .await;
    b.click("input[name=account_mode][value=new]").await;
    b.fill("#account_label", "Pinterest automation").await;
    b.fill("#account_email", "castellan-automation@acme.example.com")
        .await;
    b.fill("#account_password", "bot-password-123").await;
    b.click("input[name=token_mode][value=consent]").await;
    b.click("form details summary").await;
    b.fill("#api_base_url", &site.emu.pinterest_url()).await;
    b.screenshot("05-connect-app-details").await;
    b.click_text("Connect app").await;
    b.find("#consent-link").await;
    b.screenshot("06-connect-consent-hand-off").await;
    b.click("#consent-link").await;
    // The emulator's consent page: sign in as the automation user and confirm.
    b.xpath("//option[contains(., 'castellan-automation@acme.example.com')]")
        .await
        .click()
        .await
        .unwrap();
    b.click_text("Confirm").await;
    b.wait_text("Connected", false).await;
    b.click_text("Continue to Castellan").await;
    b.wait_text("Acme Pinterest", false).await;
    // The connectivity task runs; then the app card says Connected.
    b.wait_text("Connected", true).await;
    b.screenshot("07-apps").await;

    // Check for updates, with its progress live.
    b.click_text("Acme Pinterest").await;
    b.find("button.primary").await;
    b.click_text("Check for updates").await;
    b.find("#check-progress").await;
    b.screenshot("08-check-progress").await;
    b.wait_text("Check for updates: Completed", false).await;
    let text = b.text().await;
    assert!(text.contains("Onboarded"), "{text}");
    b.screenshot("09-members-onboarded").await;

    // Unmatched users.
    b.xpath("//nav[@aria-label='User Overview tabs']//a[contains(., 'Unmatched')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("seat(s) shown", false).await;
    b.screenshot("10-members-unmatched").await;
    let rows =
        b.c.find_all(fantoccini::Locator::Css("tbody tr"))
            .await
            .unwrap();
    assert!(
        rows.len() >= 3,
        "three unmatched seats to work with, found {}",
        rows.len()
    );

    // Match the first as Owner.
    b.click("a[aria-label^='Match user']").await;
    b.find("dialog[open] #match-q").await;
    b.fill("#match-q", "ava.johnson").await;
    b.xpath("//div[@id='match-results']//label[contains(., 'ava.johnson@acme.example.com')]")
        .await;
    b.screenshot("11-dialog-match-user").await;
    b.find("#match-role")
        .await
        .select_by_value("owner")
        .await
        .unwrap();
    b.xpath("//dialog//button[contains(., 'Match user')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("was matched and moved to Onboarded", false)
        .await;

    // Exempt the next Unmatched seat with a reason.
    b.goto(&format!(
        "{}?tab=unmatched",
        b.path().await.split('?').next().unwrap()
    ))
    .await;
    b.click("a[aria-label^='Exempt user']").await;
    b.find("dialog[open] #exempt-reason").await;
    b.fill("#exempt-reason", "Agency contractor, reviewed by security")
        .await;
    b.screenshot("12-dialog-exempt-user").await;
    b.xpath("//dialog//button[contains(., 'Exempt member')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("is exempted", false).await;
    b.screenshot("13-members-exempted").await;

    // Remove the next one after reading its plan.
    let members = b.path().await.split('?').next().unwrap().to_string();
    b.goto(&site.url(&format!("{members}?tab=unmatched"))).await;
    let victim_row = b
        .xpath("(//tbody/tr[.//a[starts-with(@aria-label, 'Remove user')]])[1]")
        .await;
    let victim = victim_row.text().await.unwrap();
    b.click("a[aria-label^='Remove user']").await;
    b.find("dialog[open] code").await;
    let plan = b.find("dialog[open]").await.text().await.unwrap();
    assert!(
        plan.contains("DELETE") || plan.contains("PATCH"),
        "the plan shows the platform calls: {plan}"
    );
    b.screenshot("14-dialog-remove-plan").await;
    b.xpath("//dialog//button[contains(., 'Remove user')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("The change is queued", false).await;
    b.click_text("More details").await;
    b.wait_text("Completed", true).await;
    b.screenshot("15-task-page").await;
    let victim_email = victim
        .split_whitespace()
        .find(|w| w.contains('@'))
        .unwrap_or("")
        .to_string();

    // Deactivate a person who holds a seat: Noah Davis is Onboarded in the demo business.
    b.click_text("Directory").await;
    b.fill("#dq", "noah.davis").await;
    b.click("form[role=search] button").await;
    b.wait_text("noah.davis@acme.example.com", false).await;
    b.click("button[aria-label='Deactivate noah.davis@acme.example.com']")
        .await;
    b.wait_text("was deactivated", false).await;
    b.screenshot("16-directory").await;

    // Check for updates again: the report lists the leaver's seat.
    b.goto(&site.url(&members)).await;
    b.click_text("Check for updates").await;
    b.wait_text("Check for updates: Completed", false).await;
    b.goto(&site.url(&members.replace("/members", "/reports")))
        .await;
    b.wait_text("awaiting removal", false).await;
    b.screenshot("17-reports").await;
    b.xpath("//a[contains(., 'Apply report')]")
        .await
        .click()
        .await
        .unwrap();
    b.find("dialog[open] code").await;
    b.screenshot("18-dialog-apply-report").await;
    b.xpath("//dialog//button[contains(., 'Apply report')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("The report is being applied", false).await;

    // Automation: every task Completed.
    b.click_text("Automation").await;
    let rows_text = || async {
        match b.c.find(fantoccini::Locator::Css("#task-rows tbody")).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    for _ in 0..200 {
        let t = rows_text().await;
        if !t.is_empty() && !t.contains("Pending") && !t.contains("In progress") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let t = rows_text().await;
    assert!(!t.contains("Failed"), "no task failed: {t}");
    assert!(!t.contains("Pending") && !t.contains("In progress"), "{t}");
    assert!(t.contains("Completed"));
    b.screenshot("19-automation").await;

    // The platform changed: the removed seat and the leaver's seat are gone.
    let state = site
        .control(&format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND))
        .await;
    let emails: Vec<String> = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["user"]["email"].as_str().map(str::to_string))
        .collect();
    assert!(
        !emails.contains(&"noah.davis@acme.example.com".to_string()),
        "{emails:?}"
    );
    if !victim_email.is_empty() {
        assert!(
            !emails.contains(&victim_email),
            "{victim_email} was removed: {emails:?}"
        );
    }
}
