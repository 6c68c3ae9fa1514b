//! A leaver driven by SCIM alone: the IdP deactivates a person (Entra's `"False"`), the next
//! checks' reports list their seats on both apps, applying removes them from both emulators
//! (read back from their control APIs). The deactivation is audited as the SCIM token.

use castellan_emulators::scenario as sc;
use serde_json::{Value, json};

use crate::support::{Setup, post, setup};

async fn scim(s: &Setup, token: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let mut r = s
        .app
        .http
        .request(method, s.app.url(path))
        .bearer_auth(token);
    if !body.is_null() {
        r = r
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let r = r.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_idp_deactivates_a_person_and_their_seats_go() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let mut apps = Vec::new();
    for platform in ["pinterest", "tiktok"] {
        let app = s.connect(platform).await;
        assert_eq!(s.check(&app).await["status"], "completed");
        apps.push(app);
    }
    // Someone the directory matches on both apps.
    let emails = |tab: Vec<Value>| -> Vec<String> {
        tab.iter()
            .filter_map(|m| m["email"].as_str().map(str::to_lowercase))
            .collect()
    };
    let on_pin = emails(s.tab(&apps[0], "onboarded").await);
    let on_tt = emails(s.tab(&apps[1], "onboarded").await);
    let leaver = on_pin
        .iter()
        .find(|e| on_tt.contains(e) && !e.starts_with("castellan-automation"))
        .expect("a person with a seat on both apps")
        .clone();

    let (st, made) = post(&s, "/api/v1/scim/tokens", json!({"name": "Entra ID"})).await;
    assert_eq!(st, 201, "{made}");
    let token = made["secret"].as_str().unwrap().to_string();
    // Entra finds the user by the work address, then disables them.
    let filter = format!("emails[type eq \"work\"].value eq \"{leaver}\"");
    let found = scim(
        &s,
        &token,
        reqwest::Method::GET,
        &format!("/scim/v2/Users?filter={}", urlencode(&filter)),
        Value::Null,
    )
    .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    let id = found["Resources"][0]["id"].as_str().unwrap().to_string();
    let after = scim(
        &s,
        &token,
        reqwest::Method::PATCH,
        &format!("/scim/v2/Users/{id}"),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
    )
    .await;
    assert_eq!(after["active"], false);

    for app in &apps {
        assert_eq!(s.check(app).await["status"], "completed");
        let reports = s.get_json(&format!("/api/v1/apps/{app}/reports")).await;
        let open = reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == "open")
            .expect("an open report")
            .clone();
        let seat = open["pending_removal"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&leaver))
            })
            .unwrap_or_else(|| panic!("{leaver} listed for removal: {open}"))
            .clone();
        let (st, v) = post(
            &s,
            &format!(
                "/api/v1/apps/{app}/reports/{}/apply",
                open["id"].as_str().unwrap()
            ),
            json!({ "seats": [seat["user_id"]] }),
        )
        .await;
        assert!(st == 202 || st == 200, "{v}");
        assert_eq!(
            s.wait_task(v["task"]["id"].as_str().unwrap()).await["status"],
            "completed"
        );
    }
    let pin = s
        .control(
            "GET",
            &format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND),
            Value::Null,
        )
        .await;
    let tt = s
        .control(
            "GET",
            &format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND),
            Value::Null,
        )
        .await;
    assert!(
        !pin["members"].to_string().to_lowercase().contains(&leaver),
        "gone from Pinterest: {}",
        pin["members"]
    );
    assert!(
        !tt["members"].to_string().to_lowercase().contains(&leaver),
        "gone from TikTok: {}",
        tt["members"]
    );
    let events = s.get_json("/api/v1/audit/events?limit=200").await;
    assert!(
        events.to_string().contains("SCIM token Entra ID"),
        "the deactivation is the token's: {events}"
    );
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
