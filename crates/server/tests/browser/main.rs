//! Browser tests in real Chromium: the seeds' flows through the web app, keyboard-only
//! dialogs, and axe on every main screen in light and dark colour schemes. Screenshots of every
//! main screen at 1280×800 land in `target/ui-screenshots/`.

mod cleanup;
mod coverage;
mod group_mappings;
mod harness;
mod identity_provider;
mod local_partners;
mod newcomer;
mod oidc;
mod partners;
mod people;

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
    let select = b.text().await;
    assert!(
        select.contains("Pinterest Business") && select.contains("TikTok Business Center"),
        "{select}"
    );
    b.screenshot("04-connect-select-app").await;
    b.assert_no_axe("Select app").await;
    b.click_text("Next").await;
    // Enter app details: the app's own fields only.
    b.fill("#label", "Acme Pinterest").await;
    b.fill("#business_id", &sc::PINTEREST_BRAND.to_string())
        .await;
    assert!(
        b.c.find(fantoccini::Locator::Css("#account_email"))
            .await
            .is_err(),
        "the automation account is the next step"
    );
    b.click("form details summary").await;
    b.fill("#api_base_url", &site.emu.pinterest_url()).await;
    b.screenshot("05-connect-app-details").await;
    b.assert_no_axe("Enter app details").await;
    b.click_text("Next").await;
    // Add automation account (none exists yet), its token through the consent page: the
    // pasted-token field is not shown for that branch.
    b.fill("#account_label", "Pinterest automation").await;
    b.fill("#account_email", "castellan-automation@acme.example.com")
        .await;
    b.fill("#account_password", "bot-password-123").await;
    assert!(
        b.find("input[name=token_mode][value=consent]")
            .await
            .is_selected()
            .await
            .unwrap()
    );
    assert!(
        !b.find("#access_token").await.is_displayed().await.unwrap(),
        "only the chosen branch's fields show"
    );
    b.screenshot("05b-connect-automation-account").await;
    b.assert_no_axe("Add automation account").await;
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
    b.wait_text("seats shown", false).await;
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
    // Two steps, as the article has them: Match with → Next → Select role → Match user.
    b.xpath("//dialog//button[contains(., 'Next')]")
        .await
        .click()
        .await
        .unwrap();
    b.find("dialog[open] #match-role")
        .await
        .select_by_value("owner")
        .await
        .unwrap();
    let step2 = b.find("dialog[open]").await.text().await.unwrap();
    assert!(
        step2.contains("Step 2 of 2") && step2.contains("ava.johnson@acme.example.com"),
        "{step2}"
    );
    b.screenshot("11b-dialog-match-user-role").await;
    b.assert_no_axe("Match user, step 2").await;
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
    // Exempt user and Remove user sit under the row's More options.
    assert!(
        !b.c.find(fantoccini::Locator::Css("a[aria-label^='Exempt user']"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap(),
        "Exempt user is under More options"
    );
    b.click("summary[aria-label^='More options']").await;
    b.screenshot("12a-members-row-menu").await;
    b.assert_no_axe("a row's More options").await;
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
    b.click("summary[aria-label^='More options']").await;
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
    b.click("a[aria-label='Deactivate noah.davis@acme.example.com']")
        .await;
    // It asks first, naming the person and what follows.
    let confirm = b.find("dialog[open]").await.text().await.unwrap();
    assert!(
        confirm.contains("Deactivate Noah Davis?") && confirm.contains("listed for removal")
            || confirm.contains("lists their seats for removal"),
        "{confirm}"
    );
    b.screenshot("16a-dialog-deactivate").await;
    b.xpath("//dialog//button[contains(., 'Deactivate')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("was deactivated", false).await;
    b.screenshot("16-directory").await;

    // Check for updates again: the report lists the leaver's seat.
    b.goto(&site.url(&members)).await;
    b.click_text("Check for updates").await;
    b.wait_text("Check for updates: Completed", false).await;
    b.goto(&site.url(&members.replace("/members", "/reports")))
        .await;
    b.wait_text("awaiting removal", false).await;
    // Each report counts what its check changed (the first one added the business's seats,
    // read from the typed summary; the page once read a key the summary did not have).
    let reports = b.text().await;
    assert!(
        reports.contains(
            "0 new, 0 changed, 0 vanished seats; 0 asset and 0 grant changes; 1 awaiting removal"
        ),
        "{reports}"
    );
    assert!(
        reports.contains(" new, 0 changed, 0 vanished seats; 12 asset and"),
        "{reports}"
    );
    assert!(
        !reports.contains(
            "0 new, 0 changed, 0 vanished seats; 0 asset and 0 grant changes; 2 awaiting"
        ),
        "{reports}"
    );
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

/// TikTok with a pasted token: connect through the wizard, check, then remove the app from
/// its Settings tab; removing never calls the platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiktok_pasted_token_check_and_remove() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url("/apps/connect?step=details&platform=tiktok"))
        .await;
    b.fill("#label", "Acme TikTok").await;
    b.fill("#business_id", &sc::TIKTOK_BRAND.to_string()).await;
    b.click("form details summary").await;
    b.fill("#api_base_url", &site.emu.tiktok_url()).await;
    b.click_text("Next").await;
    b.fill("#account_label", "TikTok automation").await;
    b.fill("#account_email", "castellan-automation@acme.example.com")
        .await;
    b.fill("#account_password", "bot-password-123").await;
    b.click("input[name=token_mode][value=paste]").await;
    b.fill("#access_token", sc::TIKTOK_AUTOMATION_TOKEN).await;
    b.click_text("Connect app").await;
    b.wait_text("was added", false).await;
    b.wait_text("Connected", true).await;
    b.click_text("Check for updates").await;
    b.wait_text("Check for updates: Completed", false).await;
    let t = b.text().await;
    assert!(t.contains("Onboarded"), "{t}");
    // Remove it: Settings tab → Remove app → a reason → confirm.
    reqwest::Client::new()
        .delete(format!("{}/_emulator/requests", site.emu.base_url()))
        .send()
        .await
        .unwrap();
    b.xpath("//nav[@aria-label='App sections']//a[contains(., 'Settings')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("App details", false).await;
    b.screenshot("20-app-settings").await;
    b.xpath("//section//a[contains(., 'Remove app')]")
        .await
        .click()
        .await
        .unwrap();
    b.find("dialog[open] #remove-reason").await;
    // Without a reason the dialog stays, naming the field.
    b.xpath("//dialog//button[contains(., 'Remove app')]")
        .await
        .click()
        .await
        .unwrap();
    assert!(
        b.find("dialog[open]")
            .await
            .text()
            .await
            .unwrap()
            .contains("Remove")
    );
    b.fill(
        "#remove-reason",
        "The TikTok business moved to another team",
    )
    .await;
    b.screenshot("21-dialog-remove-app").await;
    b.xpath("//dialog//button[contains(., 'Remove app')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("was removed from Castellan", false).await;
    assert!(b.text().await.contains("Nothing was changed on TikTok"));
    let calls = site.control("/requests").await;
    assert_eq!(
        calls["total"], 0,
        "removing an app never calls the platform: {calls}"
    );
    let apps = site.api("/api/v1/apps").await;
    assert_eq!(apps["items"].as_array().unwrap().len(), 0, "{apps}");
    let accounts = site.api("/api/v1/automation-accounts").await;
    assert_eq!(
        accounts["items"].as_array().unwrap().len(),
        1,
        "the automation account stays"
    );
}

/// Keyboard only: reach Match user with Tab, open it with Enter, close it with Escape (focus
/// returns to the button), open it again, type the person, Tab to the choice and submit with
/// Enter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_match_user_dialog_works_with_the_keyboard_alone() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api("pinterest").await;
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url(&format!("/apps/{app}/members?tab=unmatched&q=jess")))
        .await;
    b.find("a[aria-label^='Match user']").await;
    // Tab from the search box until the Match user button has focus.
    b.find("#q").await.click().await.unwrap();
    let mut reached = false;
    for _ in 0..20 {
        b.press(Key::Tab).await;
        if b.focused().await.starts_with("Match user") {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches the Match user button");
    b.press(Key::Enter).await;
    b.find("dialog[open] #match-q").await;
    assert_eq!(b.focused().await, "match-q", "focus moves into the dialog");
    b.press(Key::Escape).await;
    for _ in 0..50 {
        if b.c
            .find(fantoccini::Locator::Css("dialog[open]"))
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        b.c.find(fantoccini::Locator::Css("dialog[open]"))
            .await
            .is_err(),
        "Escape closes it"
    );
    assert!(
        b.focused().await.starts_with("Match user"),
        "focus returns to the button"
    );
    b.press(Key::Enter).await;
    b.find("dialog[open] #match-q").await;
    b.c.active_element()
        .await
        .unwrap()
        .send_keys("ava.johnson")
        .await
        .unwrap();
    b.xpath("//div[@id='match-results']//input[@type='radio' and @checked]")
        .await;
    // Step 1 — Tab: Search button, the person, Cancel, Next.
    let tab_to = async |label: &str| {
        for _ in 0..8 {
            b.press(Key::Tab).await;
            if b.focused().await.trim() == label {
                return true;
            }
        }
        false
    };
    assert!(tab_to("Next").await, "Tab reaches the dialog's Next button");
    b.press(Key::Enter).await;
    // Step 2: focus is on the role; Tab: Back, Match user.
    b.find("dialog[open] #match-role").await;
    for _ in 0..50 {
        if b.focused().await == "match-role" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        b.focused().await,
        "match-role",
        "step 2 starts at Select role"
    );
    assert!(
        tab_to("Match user").await,
        "Tab reaches the dialog's Match user button"
    );
    b.screenshot("22-keyboard-match-dialog").await;
    b.press(Key::Enter).await;
    b.wait_text("was matched and moved to Onboarded", false)
        .await;
}

/// axe-core on every main screen, in the light and the dark colour scheme: no WCAG 2.2 A or
/// AA violation. The screens not shot by the stories are shot here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_accessibility_violation_on_any_main_screen() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api("pinterest").await;
    // A report with a seat awaiting removal, and a finished task with a log.
    let noah: serde_json::Value = site.api("/api/v1/directory/identities?q=noah.davis").await;
    let id = noah["items"][0]["id"].as_str().unwrap().to_string();
    site.app
        .post(
            &site.token,
            &format!("/api/v1/directory/identities/{id}/deactivate"),
        )
        .send()
        .await
        .unwrap();
    let task = site.check(&app).await["id"].as_str().unwrap().to_string();
    let seat = site
        .api(&format!("/api/v1/apps/{app}/members?tab=unmatched&q=jess"))
        .await["items"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ava = site.api("/api/v1/directory/identities?q=ava.johnson").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let screens: Vec<(&str, String)> = vec![
        ("apps", "/apps".into()),
        ("members", format!("/apps/{app}/members")),
        (
            "members-unmatched",
            format!("/apps/{app}/members?tab=unmatched"),
        ),
        ("assets", format!("/apps/{app}/assets")),
        ("partners", format!("/apps/{app}/partners")),
        ("reports", format!("/apps/{app}/reports")),
        ("app-activity", format!("/apps/{app}/activity")),
        ("app-settings", format!("/apps/{app}/settings")),
        (
            "match-user",
            format!("/apps/{app}/members/{seat}/match?q=ava"),
        ),
        (
            "match-user-role",
            format!("/apps/{app}/members/{seat}/match?q=ava&step=role&identity_id={ava}"),
        ),
        ("exempt-user", format!("/apps/{app}/members/{seat}/exempt")),
        ("remove-user", format!("/apps/{app}/members/{seat}/remove")),
        ("invite", format!("/apps/{app}/invite")),
        ("connect-intro", "/apps/connect".into()),
        ("connect-select", "/apps/connect?step=select".into()),
        ("deactivate", format!("/directory/{ava}/deactivate")),
        (
            "connect-details",
            "/apps/connect?step=details&platform=pinterest".into(),
        ),
        (
            "connect-account",
            "/apps/connect?step=account&platform=pinterest&label=Second&business_id=549755900001&login_method=password".into(),
        ),
        ("automation", "/automation".into()),
        ("task", format!("/automation/{task}")),
        ("directory", "/directory".into()),
        ("import", "/directory/import".into()),
        ("activity", "/activity".into()),
        ("settings", "/settings".into()),
        ("tokens", "/settings/tokens".into()),
        ("accounts", "/accounts".into()),
        ("password", "/password".into()),
        ("not-found", format!("/apps/{}", uuid::Uuid::now_v7())),
    ];
    let mut failures = Vec::new();
    for dark in [false, true] {
        let b = Browser::start(dark).await;
        assert_eq!(
            b.dark().await,
            dark,
            "the colour scheme is {}",
            if dark { "dark" } else { "light" }
        );
        b.goto(&site.url("/signin")).await;
        b.find("#email").await;
        let scheme = if dark { "dark" } else { "light" };
        for v in b.axe().await {
            failures.push(format!("signin ({scheme}): {v}"));
        }
        b.screenshot(&format!("axe-{scheme}-signin")).await;
        site.sign_in(&b, !dark).await;
        for (name, path) in &screens {
            b.goto(&site.url(path)).await;
            b.find("main").await;
            for v in b.axe().await {
                failures.push(format!("{name} ({scheme}): {v}"));
            }
            // Nothing in a table row wraps at 1280 px.
            for w in b.wrapped_controls().await {
                failures.push(format!("{name} ({scheme}): {w:?} wraps in its row"));
            }
            b.screenshot(&format!("axe-{scheme}-{name}")).await;
        }
        // A row's More options, opened.
        b.goto(&site.url(&format!("/apps/{app}/members?tab=unmatched")))
            .await;
        b.click("summary[aria-label^='More options']").await;
        for v in b.axe().await {
            failures.push(format!("row menu ({scheme}): {v}"));
        }
        for w in b.wrapped_controls().await {
            failures.push(format!("row menu ({scheme}): {w:?} wraps in its row"));
        }
        b.screenshot(&format!("axe-{scheme}-row-menu")).await;
    }
    assert!(
        failures.is_empty(),
        "axe found violations:\n{}",
        failures.join("\n")
    );
}

/// With JavaScript off, reading and acting still work: tabs and paging are links, search is a
/// GET form, and a dialog is a page of its own whose form posts as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_works_with_javascript_off() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api("pinterest").await;
    let b = Browser::start_with(false, false).await;
    let js: Result<serde_json::Value, _> = b.c.execute("return 1;", vec![]).await;
    let _ = js; // WebDriver may still run scripts; the page's own scripts do not run.
    site.sign_in(&b, true).await;
    b.goto(&site.url(&format!("/apps/{app}/members"))).await;
    b.xpath("//nav[@aria-label='User Overview tabs']//a[contains(., 'Unmatched')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("seats shown", false).await;
    assert!(b.path().await.contains("tab=unmatched"));
    b.fill("#q", "jess").await;
    b.click("form[role=search] button").await;
    b.wait_text("jess.pins.ads@gmail.com", false).await;
    // Match user opens as a page; its search is a GET form; the match posts normally.
    b.click("a[aria-label^='Match user']").await;
    b.find("dialog[open].standalone #match-q").await;
    assert!(b.path().await.ends_with("/match"), "{}", b.path().await);
    b.fill("#match-q", "ava.johnson").await;
    b.xpath("//dialog//form[@role='search']//button")
        .await
        .click()
        .await
        .unwrap();
    b.xpath("//div[@id='match-results']//input[@type='radio' and @checked]")
        .await;
    // Next is a GET form too: step 2 is a page of its own.
    b.xpath("//dialog//button[contains(., 'Next')]")
        .await
        .click()
        .await
        .unwrap();
    b.find("dialog[open].standalone #match-role").await;
    assert!(b.path().await.contains("step=role"), "{}", b.path().await);
    b.xpath("//dialog//button[contains(., 'Match user')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("was matched and moved to Onboarded", false)
        .await;
    b.screenshot("23-javascript-off-after-match").await;
}

/// Connect your account and Log in, in the browser: the Owner's seat is matched to them, their
/// card asks them to connect; they save a login, a password and a TOTP secret; Log in shows
/// them with the current code (and axe finds nothing on either screen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_your_account_then_log_in() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api("pinterest").await;
    let r = site
        .app
        .post(&site.token, "/api/v1/directory/identities")
        .json(&serde_json::json!({ "user_name": "owner", "primary_email": harness::OWNER }))
        .send()
        .await
        .unwrap();
    let me: serde_json::Value = r.json().await.unwrap();
    let seat = site
        .api(&format!("/api/v1/apps/{app}/members?tab=unmatched&q=jess"))
        .await["items"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = site
        .app
        .post(
            &site.token,
            &format!("/api/v1/apps/{app}/members/{seat}/match"),
        )
        .json(&serde_json::json!({ "identity_id": me["id"], "role": "owner" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.click_text("All accounts").await;
    b.wait_text("Connect your account", false).await;
    b.click("a[aria-label^='Log in']").await;
    b.find("dialog[open] #ca-password").await;
    b.fill("#ca-password", "Jess-Pins-Password-42").await;
    b.fill("#ca-totp", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").await;
    b.screenshot("24-dialog-connect-your-account").await;
    let v = b.axe().await;
    assert!(v.is_empty(), "axe on the connect dialog: {v:?}");
    b.xpath("//dialog//button[contains(., 'Connect account')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("is connected", false).await;
    // The automation account's card is the Owner's too (connected, by the wizard); this is
    // the seat's card.
    b.click("button[aria-label='Log in to Acme pinterest']")
        .await;
    b.find("#rv-password").await;
    let t = b.text().await;
    assert!(
        t.contains("Jess-Pins-Password-42") && t.contains("s left"),
        "{t}"
    );
    b.screenshot("25-log-in-revealed").await;
    let v = b.axe().await;
    assert!(v.is_empty(), "axe on the revealed credentials: {v:?}");
    // Share it with Ben as Collaborator; Ben signs in and logs in with the current code.
    let ben = site
        .app
        .store
        .ws(site.ws())
        .create_person(
            &castellan_testkit::cli(),
            &castellan_domain::values::Email::parse("email", "ben@acme.example.com").unwrap(),
            Some("Ben"),
            castellan_domain::workspace::WorkspaceRole::Member,
            Some(
                &castellan_server::auth::hash_password("ben-password-12345".into(), [4; 16])
                    .await
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    sqlx::query("UPDATE people SET must_change_password = 0 WHERE id = $1")
        .bind(ben.id.to_string())
        .execute(site.app.store.pool())
        .await
        .unwrap();
    b.goto(&site.url("/accounts")).await;
    b.click("a[aria-label^='Share']").await;
    b.find("dialog[open] #share-with")
        .await
        .select_by_label("ben@acme.example.com")
        .await
        .unwrap();
    b.screenshot("26-dialog-share").await;
    let v = b.axe().await;
    assert!(v.is_empty(), "axe on the share dialog: {v:?}");
    b.xpath("//dialog//button[normalize-space(.)='Share']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("Shared with ben@acme.example.com as Collaborator", false)
        .await;
    let ben_b = Browser::start(false).await;
    ben_b.goto(&site.url("/accounts")).await;
    ben_b.fill("#email", "ben@acme.example.com").await;
    ben_b.fill("#password", "ben-password-12345").await;
    ben_b.click("button[type=submit]").await;
    ben_b
        .wait_text("Collaborator: shared with you", false)
        .await;
    assert!(
        ben_b
            .c
            .find(fantoccini::Locator::Css("a[aria-label^='Share']"))
            .await
            .is_err(),
        "a Collaborator cannot share"
    );
    ben_b.click("button[aria-label^='Log in']").await;
    ben_b.find("#rv-code").await;
    assert!(ben_b.text().await.contains("Jess-Pins-Password-42"));
    ben_b.screenshot("27-collaborator-logs-in").await;
    // The account's page lists its activity; the filters are links.
    b.goto(&site.url("/accounts?show=needs_connecting")).await;
    b.wait_text("Your accounts", false).await;
    assert!(
        b.c.find(fantoccini::Locator::Css("a[aria-label^='Share']"))
            .await
            .is_err(),
        "nothing needs connecting"
    );
    b.goto(&site.url("/accounts?show=mine")).await;
    b.xpath("//h3/a[contains(., 'Acme pinterest')]")
        .await
        .click()
        .await
        .unwrap();
    let t = b.wait_text("account.reveal", false).await;
    assert!(
        t.contains("account.share") && t.contains("account.connect"),
        "{t}"
    );
    b.screenshot("28-account-activity").await;
    let v = b.axe().await;
    assert!(v.is_empty(), "axe on the account page: {v:?}");
    let ev = site
        .api("/api/v1/audit/events?action=account&limit=100")
        .await;
    let actions: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"account.connect") && actions.contains(&"account.share"),
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "account.reveal").count(),
        2,
        "{actions:?}"
    );
}
