//! The local-partner story in the browser: an Admin adds a partner with its first member →
//! the Guest Admin joins through the link → invites a Guest User into the partner, who joins
//! and sees the partner but may not invite → the Host Admin shares an account with the partner
//! as Owner (its Managers) → the Guest Admin shares it with the Guest User → who logs in with
//! it and sees the current code; a guest of another partner sees none of it.
//! Axe on each new screen, in light and dark colour schemes.

use crate::harness::{Browser, Site, browser_available};

/// Opens the sign-in link shown to the Owner for `email` and sets a password.
async fn join(site: &Site, owner: &Browser, email: &str, password: &str, dark: bool) -> Browser {
    owner.goto(&site.url("/directory/guests")).await;
    owner
        .click(&format!("button[aria-label='Show link for {email}']"))
        .await;
    let link = owner.find("#guest-link").await.text().await.unwrap();
    let g = Browser::start(dark).await;
    g.goto(link.trim()).await;
    g.fill("#new_password", password).await;
    g.click("main button[type=submit]").await;
    g.wait_text("Welcome to Castellan", false).await;
    g
}

async fn story(dark: bool) {
    if !browser_available() {
        return;
    }
    let tag = if dark { "dark" } else { "light" };
    let site = Site::start().await;
    let b = Browser::start(dark).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url("/partners")).await;
    b.wait_text("No partner yet", false).await;
    b.screenshot(&format!("50-{tag}-partners-empty")).await;
    b.assert_no_axe("Partners").await;
    b.click_text("Add partner").await;
    b.find("dialog[open] #pa-name").await;
    b.fill("#pa-name", "Brightwave Media").await;
    b.fill("#pa-domains", "brightwave.example.net").await;
    b.fill("#pa-email", "lead@brightwave.example.net").await;
    b.fill("#pa-first-name", "Brightwave lead").await;
    b.screenshot(&format!("51-{tag}-add-partner")).await;
    b.assert_no_axe("Add partner").await;
    b.xpath("//dialog//button[normalize-space(.)='Add partner']")
        .await
        .click()
        .await
        .unwrap();
    let page = b.wait_text("is invited as its Guest Admin", false).await;
    assert!(
        page.contains("Host Admin") && page.contains("Guest Admin"),
        "{page}"
    );
    let partner_url = b.path().await;
    b.screenshot(&format!("52-{tag}-partner")).await;
    b.assert_no_axe("a partner's page").await;

    // The Guest Admin joins and invites a Guest User.
    let lead = join(
        &site,
        &b,
        "lead@brightwave.example.net",
        "lead password 4711",
        dark,
    )
    .await;
    lead.goto(&site.url(&partner_url)).await;
    lead.wait_text("You are its Guest Admin", false).await;
    lead.click_text("Invite to partner").await;
    lead.find("dialog[open] #pi-email").await;
    lead.fill("#pi-email", "planner@elsewhere.example.com")
        .await;
    lead.xpath("//dialog//button[normalize-space(.)='Invite']")
        .await
        .click()
        .await
        .unwrap();
    lead.wait_text("is not of the partner's domains", false)
        .await;
    lead.assert_no_axe("Invite to partner, refused").await;
    lead.fill("#pi-email", "planner@brightwave.example.net")
        .await;
    lead.screenshot(&format!("53-{tag}-invite-to-partner"))
        .await;
    lead.xpath("//main//button[normalize-space(.)='Invite'] | //dialog//button[normalize-space(.)='Invite']")
        .await
        .click()
        .await
        .unwrap();
    lead.wait_text("Invited planner@brightwave.example.net", false)
        .await;
    lead.screenshot(&format!("53a-{tag}-partner-people")).await;
    lead.assert_no_axe("a partner's people, as its Guest Admin")
        .await;

    // The Guest User joins: sees the partner, may not invite.
    let planner = join(
        &site,
        &b,
        "planner@brightwave.example.net",
        "planner password 4711",
        dark,
    )
    .await;
    planner.goto(&site.url("/partners")).await;
    planner.wait_text("Guest User", false).await;
    planner.goto(&site.url(&partner_url)).await;
    let text = planner.wait_text("You are its Guest User", false).await;
    assert!(!text.contains("Invite to partner"), "{text}");

    // The Host Admin shares an account with the partner as Owner: its Guest Admins are its
    // Managers.
    b.goto(&site.url("/accounts")).await;
    b.click_text("Add account").await;
    b.find("dialog[open] #add-label").await;
    b.fill("#add-label", "Acme ads login").await;
    b.xpath("//dialog//button[normalize-space(.)='Add account']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("Added Acme ads login", false).await;
    b.click("a[aria-label='Log in to Acme ads login']").await;
    b.find("dialog[open] #ca-password").await;
    b.fill("#ca-login", "ads@acme.example.com").await;
    b.fill("#ca-password", "Shared-Pw-7781").await;
    b.fill("#ca-totp", "JBSWY3DPEHPK3PXP").await;
    b.xpath("//dialog//button[contains(., 'Connect account')]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("is connected", false).await;
    b.click("a[aria-label='Share Acme ads login']").await;
    b.find("dialog[open] #share-with")
        .await
        .select_by_label("Brightwave Media")
        .await
        .unwrap();
    b.find("#share-role")
        .await
        .select_by_value("owner")
        .await
        .unwrap();
    b.screenshot(&format!("53b-{tag}-share-with-partner")).await;
    b.assert_no_axe("Share with a partner").await;
    b.xpath("//dialog//button[normalize-space(.)='Share']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("Shared with Brightwave Media", false).await;

    // The Guest Admin shares it onward with the Guest User, who logs in with it; another
    // partner's guest is not offered to them.
    let r = site
        .app
        .post(&site.token, "/api/v1/local-partners")
        .json(
            &serde_json::json!({ "name": "Vendor Co", "first_email": "vendor@vendor.example.net" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    lead.goto(&site.url("/accounts?show=shared")).await;
    lead.wait_text("Acme ads login", false).await;
    lead.click("a[aria-label='Share Acme ads login']").await;
    let with = lead.find("dialog[open] #share-with").await;
    let options = with.html(false).await.unwrap();
    assert!(
        options.contains("planner@brightwave.example.net")
            && !options.contains("vendor@vendor.example.net"),
        "{options}"
    );
    with.select_by_label("planner@brightwave.example.net")
        .await
        .unwrap();
    lead.xpath("//dialog//button[normalize-space(.)='Share']")
        .await
        .click()
        .await
        .unwrap();
    lead.wait_text("Shared with planner@brightwave.example.net", false)
        .await;
    lead.close().await;
    planner.goto(&site.url("/accounts?show=shared")).await;
    planner.wait_text("Acme ads login", false).await;
    planner
        .click("button[aria-label='Log in to Acme ads login']")
        .await;
    let card = planner.text().await;
    assert!(
        card.contains("Collaborator: shared with partner Brightwave Media"),
        "a Guest User holds a partner's account as Collaborator: {card}"
    );
    let code = planner.find("#rv-code").await.text().await.unwrap();
    assert_eq!(code.trim().len(), 6, "the current code: {code}");
    assert!(planner.text().await.contains("Shared-Pw-7781"));
    planner
        .screenshot(&format!("53c-{tag}-guest-user-logs-in"))
        .await;
    planner.close().await;

    // A guest of another partner sees none of it.
    b.goto(&site.url("/partners")).await;
    b.click_text("Add partner").await;
    b.find("dialog[open] #pa-name").await;
    b.fill("#pa-name", "Northstar Agency").await;
    b.fill("#pa-email", "lead@northstar.example.net").await;
    b.xpath("//dialog//button[normalize-space(.)='Add partner']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("is invited as its Guest Admin", false).await;
    let other = join(
        &site,
        &b,
        "lead@northstar.example.net",
        "other password 4711",
        dark,
    )
    .await;
    other.goto(&site.url("/partners")).await;
    let text = other.wait_text("Northstar", false).await;
    assert!(!text.contains("Brightwave"), "{text}");
    other.goto(&site.url(&partner_url)).await;
    let text = other.text().await;
    assert!(!text.contains("Brightwave lead"), "{text}");
    other.goto(&site.url("/accounts?show=shared")).await;
    let text = other.text().await;
    assert!(!text.contains("Acme ads login"), "{text}");
    other.close().await;
    // Ending the partnership is asked first (and cancelled here): the dialog in this scheme.
    b.goto(&site.url(&partner_url)).await;
    b.click_text("End partnership").await;
    let text = b
        .wait_text("End the partnership with Brightwave", false)
        .await;
    assert!(
        text.contains("1 account shared with the partner is unshared"),
        "{text}"
    );
    b.screenshot(&format!("53d-{tag}-end-partnership")).await;
    b.assert_no_axe("End partnership").await;
    b.click("dialog[open] a[data-close]").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_partner_story_in_the_browser() {
    story(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_partner_story_in_the_dark() {
    story(true).await;
}

/// An unmatched seat → *Invite as guest user* into a partner → the guest joins through the
/// link → Check for updates → the seat is the partner's user, matched to the guest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatched_seat_invited_as_a_guest() {
    if !browser_available() {
        return;
    }
    const JESS: &str = "jess.pins.ads@gmail.com";
    let site = Site::start().await;
    let app = site.connect_api("pinterest").await;
    let r: serde_json::Value = site
        .app
        .post(&site.token, "/api/v1/local-partners")
        .json(&serde_json::json!({ "name": "Freelancers", "first_email": "lead@freelance.example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["partner"]["id"].is_string(), "{r}");
    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url(&format!("/apps/{app}/members?tab=unmatched")))
        .await;
    b.wait_text(JESS, false).await;
    b.click(&format!("summary[aria-label='More options for {JESS}']"))
        .await;
    b.click(&format!("a[aria-label='Invite as guest user {JESS}']"))
        .await;
    b.find("dialog[open] #sg-partner")
        .await
        .select_by_label("Freelancers")
        .await
        .unwrap();
    b.screenshot("54-invite-seat-as-guest").await;
    b.assert_no_axe("Invite as guest user").await;
    b.xpath("//dialog//button[normalize-space(.)='Invite']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("is invited as a guest user", false).await;
    let g = join(&site, &b, JESS, "jess password 4711", false).await;
    g.close().await;
    b.goto(&site.url(&format!("/apps/{app}/members"))).await;
    b.click_text("Check for updates").await;
    b.wait_text("Check for updates: Completed", false).await;
    b.goto(&site.url(&format!("/apps/{app}/members?tab=partner_users")))
        .await;
    let text = b.wait_text(&format!("Guest user: {JESS}"), false).await;
    assert!(text.contains(JESS), "{text}");
    b.screenshot("55-seat-matched-to-guest").await;
    b.assert_no_axe("the guest users tab").await;
    // The Partners page lists the app's native partners too; one is linked to a local partner.
    b.goto(&site.url("/partners")).await;
    b.wait_text("Native partners of apps", false).await;
    b.assert_no_axe("Partners with native partners").await;
    b.xpath("//tr[contains(., 'Brightwave')]//button[normalize-space(.)='Link']")
        .await
        .click()
        .await
        .unwrap();
    let text = b.wait_text("Linked: the native partner", false).await;
    assert!(text.contains("Freelancers"), "{text}");
    b.screenshot("56-partners-with-native").await;
    // The partner's page lists the seat its guest holds, and says what ending it would list.
    b.click_text("Freelancers").await;
    let text = b.wait_text("Seats on apps", false).await;
    assert!(text.contains(JESS), "{text}");
    assert!(text.contains("(1 seat above)"), "{text}");
    b.screenshot("57-partner-seats").await;
    b.assert_no_axe("a partner's seats on apps").await;
    // Ending it is asked first, saying what it revokes and lists.
    b.click_text("End partnership").await;
    let text = b
        .wait_text("End the partnership with Freelancers?", false)
        .await;
    assert!(text.contains("2 guest users are revoked"), "{text}");
    assert!(
        text.contains("1 seat on apps is listed for removal"),
        "{text}"
    );
    b.screenshot("58-end-partnership").await;
    b.assert_no_axe("End partnership").await;
    b.xpath("//dialog//button[normalize-space(.)='End partnership']")
        .await
        .click()
        .await
        .unwrap();
    let text = b.wait_text("has ended", false).await;
    assert!(
        text.contains("Guest revoked: awaiting removal"),
        "the seat waits for the next check's report: {text}"
    );
    b.screenshot("59-partnership-ended").await;
    b.close().await;
}
