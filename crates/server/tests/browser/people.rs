//! People's accounts in the browser: the seed's "join and connect" story on Pinterest and on
//! TikTok (an Owner shares the app with Ann → her card → the platform's invitation, accepted
//! in the emulator → Check for updates links her seat → she connects with a TOTP secret and
//! shares with Ben → Ben logs in with the current code), and the guest story.

use serde_json::{Value, json};

use crate::harness::{self, Browser, Site, browser_available};

/// A Member who signs in with a password.
async fn member(site: &Site, email: &str, password: &str) {
    let p = site
        .app
        .store
        .ws(site.ws())
        .create_person(
            &castellan_testkit::cli(),
            &castellan_domain::values::Email::parse("email", email).unwrap(),
            None,
            castellan_domain::workspace::WorkspaceRole::Member,
            Some(
                &castellan_server::auth::hash_password(password.into(), [5; 16])
                    .await
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    sqlx::query("UPDATE people SET must_change_password = 0 WHERE id = $1")
        .bind(p.id.to_string())
        .execute(site.app.store.pool())
        .await
        .unwrap();
}

async fn sign_in_as(site: &Site, email: &str, password: &str) -> Browser {
    let b = Browser::start(false).await;
    b.goto(&site.url("/accounts")).await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("button[type=submit]").await;
    b.wait_text("All accounts", false).await;
    b
}

fn actions(ev: &Value) -> Vec<String> {
    ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_access_story_on_pinterest() {
    share_access_story("pinterest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_access_story_on_tiktok() {
    share_access_story("tiktok").await;
}

async fn share_access_story(platform: &str) {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api(platform).await;
    let r = site
        .app
        .post(&site.token, "/api/v1/directory/identities")
        .json(&json!({ "user_name": "ann.lee", "primary_email": "ann.lee@acme.example.com", "given_name": "Ann", "family_name": "Lee" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ann_identity = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    member(&site, "ann.lee@acme.example.com", "ann-password-12345").await;
    member(&site, "ben@acme.example.com", "ben-password-12345").await;

    // The Owner shares the app with Ann: Owner of its account, an employee business role.
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url(&format!("/apps/{app}/members"))).await;
    b.click_text("Share access").await;
    b.find("dialog[open] #access-app-role").await;
    b.xpath("//dialog//label[contains(., 'ann.lee@acme.example.com')]/input")
        .await
        .click()
        .await
        .unwrap();
    b.screenshot(&format!("30-{platform}-dialog-share-access"))
        .await;
    let v = b.axe().await;
    assert!(v.is_empty(), "axe on the Share access dialog: {v:?}");
    // Ann is made an Owner of the app's account: she manages and shares her own card.
    b.find("#access-app-role")
        .await
        .select_by_value("owner")
        .await
        .unwrap();
    // Review plan: the exact invitation call is shown before anything is sent.
    b.xpath("//dialog//button[normalize-space(.)='Review plan']")
        .await
        .click()
        .await
        .unwrap();
    let plan = b.wait_text("The plan", false).await;
    assert!(
        plan.contains("ann.lee@acme.example.com") && plan.contains("POST"),
        "the plan shows the invitation's call: {plan}"
    );
    b.screenshot(&format!("30b-{platform}-share-access-plan"))
        .await;
    b.assert_no_axe("the Share access plan").await;
    b.xpath("//dialog//button[normalize-space(.)='Share access']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("Invitations are on their way", false).await;
    // The invitation task reaches the platform.
    let mut invited = false;
    for _ in 0..200 {
        let state = if platform == "pinterest" {
            site.control(&format!(
                "/pinterest/businesses/{}",
                castellan_emulators::scenario::PINTEREST_BRAND
            ))
            .await
        } else {
            site.control(&format!(
                "/tiktok/bcs/{}",
                castellan_emulators::scenario::TIKTOK_BRAND
            ))
            .await
        };
        if state.to_string().contains("ann.lee@acme.example.com") {
            invited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(invited, "the invitation appears in the emulator");

    // Ann's All accounts: the app's card, Connect your account.
    let ann = sign_in_as(&site, "ann.lee@acme.example.com", "ann-password-12345").await;
    ann.wait_text("Connect your account", false).await;
    ann.screenshot(&format!("31-{platform}-ann-connect-your-account"))
        .await;

    // Ann accepts on the platform (the emulator's control API stands in for her).
    let http = reqwest::Client::new();
    let base = site.emu.base_url();
    if platform == "pinterest" {
        let st = site
            .control(&format!(
                "/pinterest/businesses/{}",
                castellan_emulators::scenario::PINTEREST_BRAND
            ))
            .await;
        let inv = st["invites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["invitee"] == "ann.lee@acme.example.com")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = http
            .post(format!("{base}/_emulator/pinterest/invites/{inv}/accept"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    } else {
        let r = http
            .post(format!("{base}/_emulator/tiktok/invites/accept"))
            .json(&json!({ "bc": castellan_emulators::scenario::TIKTOK_BRAND, "email": "ann.lee@acme.example.com" }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    // Check for updates: Ann's seat is Onboarded and linked to her.
    b.goto(&site.url(&format!("/apps/{app}"))).await;
    b.click_text("Check for updates").await;
    let mut linked = None;
    for _ in 0..200 {
        let v = site
            .api(&format!(
                "/api/v1/apps/{app}/members?tab=onboarded&limit=500"
            ))
            .await;
        linked = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == "ann.lee@acme.example.com")
            .cloned();
        if linked.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let linked = linked.expect("Ann's seat is onboarded");
    assert_eq!(
        linked["identity_id"],
        ann_identity.as_str(),
        "linked to Ann"
    );
    b.goto(&site.url(&format!("/apps/{app}/members?tab=onboarded&q=ann.lee")))
        .await;
    b.wait_text("ann.lee@acme.example.com", false).await;
    b.screenshot(&format!("32-{platform}-ann-onboarded")).await;

    // Ann connects her account with a TOTP secret, then shares it with Ben.
    ann.goto(&site.url("/accounts")).await;
    ann.click("a[aria-label^='Log in']").await;
    ann.find("dialog[open] #ca-password").await;
    ann.fill("#ca-password", "Ann-Platform-Password-9").await;
    ann.fill("#ca-totp", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        .await;
    ann.xpath("//dialog//button[contains(., 'Connect account')]")
        .await
        .click()
        .await
        .unwrap();
    ann.wait_text("is connected", false).await;
    // As an Owner of the app's account she shares her card.
    ann.click("a[aria-label^='Share']").await;
    ann.find("dialog[open] #share-with")
        .await
        .select_by_label("ben@acme.example.com")
        .await
        .unwrap();
    ann.xpath("//dialog//button[normalize-space(.)='Share']")
        .await
        .click()
        .await
        .unwrap();
    ann.wait_text("Shared with ben@acme.example.com as Collaborator", false)
        .await;

    // Ben logs in and sees the current code.
    let ben = sign_in_as(&site, "ben@acme.example.com", "ben-password-12345").await;
    ben.click("button[aria-label^='Log in']").await;
    let code = ben.find("#rv-code").await.text().await.unwrap();
    assert_eq!(code.trim().len(), 6, "{code}");
    assert!(ben.text().await.contains("Ann-Platform-Password-9"));
    ben.screenshot(&format!("33-{platform}-ben-logs-in")).await;

    // Each step is in the activity log.
    let all = actions(&site.api("/api/v1/audit/events?limit=500").await);
    for a in [
        "app.share",
        "member.invite",
        "account.connect",
        "account.share",
        "account.reveal",
    ] {
        assert!(all.iter().any(|x| x == a), "{a} missing from {all:?}");
    }
}

/// The guest story: invite a guest → the link (shown to the Owner from the sealed outbox
/// e-mail) → set a password → the guest adds an account, connects and shares it with an Admin
/// → the Admin sees it; every other page answers the guest 403 or 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_story_in_the_browser() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url("/directory/guests")).await;
    b.click_text("Invite guest").await;
    b.find("dialog[open] #gi-email").await;
    b.fill("#gi-email", "pat@partner.example.com").await;
    b.fill("#gi-name", "Pat Partner").await;
    b.screenshot("34-dialog-invite-guest").await;
    let v = b.axe().await;
    assert!(v.is_empty(), "axe on the invite dialog: {v:?}");
    b.xpath("//dialog//button[normalize-space(.)='Invite']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("Invited pat@partner.example.com", false).await;
    b.click("button[aria-label^='Show link']").await;
    let link = b.find("#guest-link").await.text().await.unwrap();
    assert!(link.contains("/welcome?token="), "{link}");
    b.screenshot("35-guest-users").await;
    let v = b.axe().await;
    assert!(v.is_empty(), "axe on Guest users: {v:?}");

    // The guest opens the link and sets a password.
    let g = Browser::start(false).await;
    g.goto(link.trim()).await;
    g.find("#new_password").await;
    g.screenshot("36-welcome").await;
    let v = g.axe().await;
    assert!(v.is_empty(), "axe on the welcome page: {v:?}");
    g.fill("#new_password", "guest password 4711").await;
    g.click("main button[type=submit]").await;
    // They land on a welcome, not a bare page.
    g.wait_text("Welcome to Castellan", false).await;
    assert_eq!(g.path().await, "/accounts");
    g.screenshot("36b-guest-welcomed").await;
    // The link works once.
    let again = Browser::start(false).await;
    again.goto(link.trim()).await;
    again
        .wait_text("This sign-in link does not work", false)
        .await;

    // The guest adds an account, connects it, shares it with the Admin.
    g.click_text("Add account").await;
    g.find("dialog[open] #add-label").await;
    g.fill("#add-label", "Partner monitor").await;
    g.xpath("//dialog//button[normalize-space(.)='Add account']")
        .await
        .click()
        .await
        .unwrap();
    g.wait_text("Added Partner monitor", false).await;
    g.click("a[aria-label='Log in to Partner monitor']").await;
    g.find("dialog[open] #ca-password").await;
    g.fill("#ca-login", "monitor@partner.example.com").await;
    g.fill("#ca-password", "Partner-Pw-5512").await;
    g.xpath("//dialog//button[contains(., 'Connect account')]")
        .await
        .click()
        .await
        .unwrap();
    g.wait_text("is connected", false).await;
    g.click("a[aria-label='Share Partner monitor']").await;
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
    g.wait_text("Shared with owner@acme.example.com as Collaborator", false)
        .await;
    g.screenshot("37-guest-accounts").await;

    // The Owner sees it and logs in with it.
    b.goto(&site.url("/accounts?show=shared")).await;
    b.wait_text("Partner monitor", false).await;
    b.click("button[aria-label='Log in to Partner monitor']")
        .await;
    b.find("#rv-password").await;
    assert!(b.text().await.contains("Partner-Pw-5512"));

    // The account's activity, as CSV, for a holder.
    let mine = site.api("/api/v1/me/accounts").await;
    let card = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "Partner monitor")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_cookie =
        b.c.get_named_cookie(castellan_server::auth::SESSION_COOKIE)
            .await
            .unwrap();
    let csv = reqwest::Client::new()
        .get(site.url(&format!("/accounts/export.csv?card={card}")))
        .header(
            "cookie",
            format!(
                "{}={}",
                castellan_server::auth::SESSION_COOKIE,
                owner_cookie.value()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    for a in [
        "account.add",
        "account.connect",
        "account.share",
        "account.reveal",
    ] {
        assert!(csv.contains(a), "{a} missing from the CSV: {csv}");
    }

    // Everything else answers the guest 403 or 404.
    let cookie =
        g.c.get_named_cookie(castellan_server::auth::SESSION_COOKIE)
            .await
            .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/apps",
        "/apps/connect",
        "/automation",
        "/directory",
        "/directory/guests",
        "/directory/import",
        "/activity",
        "/settings",
        "/settings/tokens",
        "/api/v1/apps",
        "/api/v1/people",
        "/api/v1/audit/events",
    ] {
        let r = http
            .get(site.url(path))
            .header(
                "cookie",
                format!(
                    "{}={}",
                    castellan_server::auth::SESSION_COOKIE,
                    cookie.value()
                ),
            )
            .send()
            .await
            .unwrap();
        assert!(
            [403, 404].contains(&r.status().as_u16()),
            "{path}: {}",
            r.status()
        );
    }
    let all = actions(&site.api("/api/v1/audit/events?limit=500").await);
    for a in [
        "guest.invite",
        "email.reveal",
        "guest.accept",
        "account.add",
        "account.connect",
        "account.share",
        "account.reveal",
    ] {
        assert!(all.iter().any(|x| x == a), "{a} missing from {all:?}");
    }
}
