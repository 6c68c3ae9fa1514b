//! Stop sharing and ending a partnership through the API: previewed with the exact platform
//! calls, refused with a stale plan or an asset the partner does not use, made by a task that
//! the emulated platform shows done, and read back by the check that follows.

use castellan_emulators::scenario as sc;
use serde_json::{Value, json};

use crate::partner_users::connect_brightwave;
use crate::support::{P, PINTEREST, Setup, TIKTOK, post, setup};

async fn brightwave_shares(s: &Setup, p: &P) -> Vec<String> {
    let path = if p.name == "pinterest" {
        format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND)
    } else {
        format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND)
    };
    let agency = if p.name == "pinterest" {
        sc::PINTEREST_BRAND + 1
    } else {
        sc::TIKTOK_BRAND + 1
    }
    .to_string();
    let state = s.control("GET", &path, Value::Null).await;
    let partners = if p.name == "pinterest" {
        state["partners"]["internal"].clone()
    } else {
        state["partners"].clone()
    };
    let Some(bw) = partners
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x.get("business_id").or_else(|| x.get("bc_id")).unwrap() == agency.as_str())
    else {
        return Vec::new();
    };
    let list = if p.name == "pinterest" {
        &bw["assets"]
    } else {
        &bw["sharing"]
    };
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["asset_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Waits for the tasks of the app to settle (the change, then the check it queues).
async fn settle(s: &Setup, task: &Value) -> Value {
    let done = s.wait_task(task["id"].as_str().unwrap()).await;
    // The check the change queued runs next; one more check waits its turn behind it.
    s.check(
        &done["app_id"]
            .as_str()
            .map(String::from)
            .unwrap_or_default(),
    )
    .await;
    done
}

async fn partnership_story(p: &P) {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    assert_eq!(s.check(&app).await["status"], "completed");
    let partner = connect_brightwave(&s, p, &app).await;
    assert_eq!(s.check(&app).await["status"], "completed");
    let base = format!("/api/v1/apps/{app}/partners/{partner}");
    let shared = brightwave_shares(&s, p).await;
    assert_eq!(shared.len(), 2, "{shared:?}");

    // Refusals change nothing.
    let (st, v) = post(
        &s,
        &format!("{base}/stop-sharing"),
        json!({ "assets": ["1234"], "dry_run": true }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (400, Some("assets")),
        "{v}"
    );
    let (st, v) = post(
        &s,
        "/api/v1/apps/{app}/partners/9999/stop-sharing"
            .replace("{app}", &app)
            .as_str(),
        json!({ "dry_run": true }),
    )
    .await;
    assert_eq!(st, 404, "{v}");

    // Preview: the exact calls.
    let one = shared[1].clone();
    let (st, plan) = post(
        &s,
        &format!("{base}/stop-sharing"),
        json!({ "assets": [one], "dry_run": true }),
    )
    .await;
    assert_eq!(st, 200, "{plan}");
    let calls = plan["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{plan}");
    let call = calls[0].as_str().unwrap();
    if p.name == "pinterest" {
        assert!(
            call.starts_with("DELETE ")
                && call.contains(&format!(
                    "/businesses/{}/partners/assets",
                    sc::PINTEREST_BRAND
                ))
                && call.contains(&one)
                && call.contains("INTERNAL"),
            "{call}"
        );
    } else {
        assert!(
            call.starts_with("POST ")
                && call.contains("/bc/partner/asset/delete/")
                && call.contains(&one),
            "{call}"
        );
    }
    assert_eq!(
        brightwave_shares(&s, p).await,
        shared,
        "a dry run calls nothing"
    );
    let (st, v) = post(
        &s,
        &format!("{base}/stop-sharing"),
        json!({ "assets": [one], "plan_hash": "0".repeat(64) }),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("plan_hash")),
        "{v}"
    );
    let (st, v) = post(
        &s,
        &format!("{base}/stop-sharing"),
        json!({ "assets": [one], "plan_hash": plan["plan_hash"] }),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let done = settle(&s, &v["task"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(brightwave_shares(&s, p).await, vec![shared[0].clone()]);
    let listed = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    let bw = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["partner_id"] == partner.as_str())
        .unwrap()
        .clone();
    assert_eq!(bw["uses_our_assets"].as_array().unwrap().len(), 1, "{bw}");
    assert_eq!(
        crate::support::audit_count(&s, "partner.stop_sharing").await,
        1
    );
    // Its users who reached only that asset no longer do.
    let users = s
        .get_json(&format!(
            "/api/v1/apps/{app}/members?tab=partner_users&permissions=true"
        ))
        .await;
    for u in users["items"].as_array().unwrap() {
        for perm in u["permissions"].as_array().unwrap() {
            assert_ne!(perm["asset_id"], one.as_str(), "{u}");
        }
    }

    // End the partnership: previewed, made, read back; the connection goes with it.
    let (st, plan) = post(&s, &format!("{base}/remove"), json!({ "dry_run": true })).await;
    assert_eq!(st, 200, "{plan}");
    let call = plan["calls"][0].as_str().unwrap().to_string();
    if p.name == "pinterest" {
        assert!(
            call.starts_with("DELETE ")
                && call.contains(&format!("/businesses/{}/partners ", sc::PINTEREST_BRAND)),
            "{call}"
        );
    } else {
        assert!(call.contains("/bc/partner/delete/"), "{call}");
    }
    let (st, v) = post(
        &s,
        &format!("{base}/remove"),
        json!({ "plan_hash": plan["plan_hash"] }),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let done = settle(&s, &v["task"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(brightwave_shares(&s, p).await.is_empty());
    let listed = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["partner_id"] == partner.as_str()),
        "{listed}"
    );
    let users = s
        .get_json(&format!("/api/v1/apps/{app}/members?tab=partner_users"))
        .await;
    assert_eq!(users["items"], json!([]), "{users}");
    assert_eq!(crate::support::audit_count(&s, "partner.remove").await, 1);
}

#[tokio::test]
async fn pinterest_stop_sharing_and_remove_a_partner() {
    partnership_story(&PINTEREST).await;
}

#[tokio::test]
async fn tiktok_stop_sharing_and_remove_a_partner() {
    partnership_story(&TIKTOK).await;
}
