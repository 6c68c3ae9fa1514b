//! Directory → Groups in the browser: an Admin maps an IdP group to the Pinterest app, reads
//! the plan (the joiner's invitation and its platform call), applies it, and the emulated
//! platform holds the invitation. Axe on the Groups screen with its plan.

use serde_json::{Value, json};

use crate::harness::{Browser, Site, browser_available};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_group_mapped_to_an_app_invites_its_members() {
    if !browser_available() {
        return;
    }
    let site = Site::start().await;
    let app = site.connect_api("pinterest").await;
    let r = site
        .app
        .post(&site.token, "/api/v1/directory/identities")
        .json(&json!({ "user_name": "nina.new", "primary_email": "nina.new@acme.example.com", "given_name": "Nina", "family_name": "New" }))
        .send()
        .await
        .unwrap();
    let nina: Value = r.json().await.unwrap();
    let r = site
        .app
        .post(&site.token, "/api/v1/directory/groups")
        .json(&json!({ "display_name": "Pinterest Editors", "member_ids": [nina["id"]] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let b = Browser::start(false).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url("/directory")).await;
    b.click_text("Groups").await;
    b.wait_text("Map a group to an app", false).await;
    b.find("#gm-group")
        .await
        .select_by_label("Pinterest Editors")
        .await
        .unwrap();
    b.find("#gm-role")
        .await
        .select_by_value("EMPLOYEE")
        .await
        .unwrap();
    b.click_text("Map group").await;
    let t = b.wait_text("Pinterest Editors is mapped to", false).await;
    assert!(
        t.contains("nina.new@acme.example.com") && t.contains("Invite as EMPLOYEE (collaborator)"),
        "{t}"
    );
    b.click("#plan-card details summary").await;
    let calls = b.find("#plan-card details").await.text().await.unwrap();
    assert!(
        calls.contains("POST") && calls.contains("EMPLOYEE"),
        "{calls}"
    );
    b.screenshot("68-directory-groups-plan").await;
    b.assert_no_axe("Directory → Groups with a plan").await;
    b.click_text("Apply plan").await;
    b.wait_text("The plan is queued: 1 change", false).await;
    // The invitation task runs; the platform holds the invitation.
    let mut invited = false;
    for _ in 0..100 {
        let st: Value = reqwest::get(format!(
            "{}/_emulator/pinterest/businesses/{}",
            site.emu.base_url(),
            castellan_emulators::scenario::PINTEREST_BRAND
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if st["invites"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["invitee"] == "nina.new@acme.example.com" && i["role"] == "EMPLOYEE")
        {
            invited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(invited, "the platform holds Nina's invitation");
    b.goto(&site.url("/directory/groups")).await;
    let t = b.wait_text("Pinterest Editors", false).await;
    assert!(t.contains("nothing to do"), "invited, so nothing more: {t}");
    let _ = app;
    b.close().await;
}
