//! Settings → Identity provider in the browser: the Owner makes a SCIM token (shown once,
//! copied), the IdP provisions a person with it, the Directory says the IdP manages them, and
//! the token is revoked (the IdP's next request is refused). Axe in light and dark schemes.

use serde_json::json;

use crate::harness::{Browser, Site, browser_available};

async fn story(dark: bool) {
    if !browser_available() {
        return;
    }
    let tag = if dark { "dark" } else { "light" };
    let site = Site::start().await;
    let b = Browser::start(dark).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url("/settings")).await;
    b.click_text("Identity provider (SCIM and sign-in)").await;
    let text = b.wait_text("SCIM base URL", false).await;
    assert!(text.contains("/scim/v2"), "{text}");
    assert!(text.contains("No SCIM token yet"), "{text}");
    b.assert_no_axe("Identity provider").await;
    // Without a name the form asks for one first (the field is required).
    b.xpath("//button[normalize-space(.)='Make a SCIM token']")
        .await
        .click()
        .await
        .unwrap();
    b.fill("#st-name", "Okta production").await;
    b.xpath("//button[normalize-space(.)='Make a SCIM token']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("Your new SCIM token", false).await;
    let secret = b.find("#scim-secret").await.text().await.unwrap();
    assert!(secret.starts_with("cscim_"), "{secret}");
    b.screenshot(&format!("60-{tag}-identity-provider")).await;
    b.assert_no_axe("a new SCIM token").await;

    // The IdP provisions someone with it.
    let r = site
        .app
        .http
        .post(site.url("/scim/v2/Users"))
        .bearer_auth(secret.trim())
        .header("content-type", "application/scim+json")
        .body(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "nia.okafor@acme.example.com",
                   "name": {"givenName": "Nia", "familyName": "Okafor"},
                   "emails": [{"value": "nia.okafor@acme.example.com", "type": "work", "primary": true}], "active": true})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    b.goto(&site.url("/directory?q=nia")).await;
    let text = b.wait_text("nia.okafor@acme.example.com", false).await;
    assert!(text.contains("From your IdP (SCIM)"), "{text}");
    b.screenshot(&format!("61-{tag}-directory-from-idp")).await;

    // Revoked: the page says so, and the IdP's next request is refused.
    b.goto(&site.url("/settings/identity-provider")).await;
    let text = b.wait_text("Okta production", false).await;
    assert!(!text.contains(secret.trim()), "shown only once");
    b.click("button[aria-label='Revoke Okta production']").await;
    b.wait_text("was revoked", false).await;
    let r = site
        .app
        .http
        .get(site.url("/scim/v2/Users"))
        .bearer_auth(secret.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_in_the_browser() {
    story(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_in_the_dark() {
    story(true).await;
}
