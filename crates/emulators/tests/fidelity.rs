//! What the platforms' official client libraries send and expect, answered as the platforms
//! do: Pinterest's Python SDK writes query booleans as `True`/`False`; TikTok's
//! `bc/member/invite/` carries `ext_user_role` onto the member; `bc/get/` leaves out nulls.

use castellan_emulators::{Faults, Running, ScenarioSource, World, scenario as sc};
use reqwest::Client;
use serde_json::{Value, json};

async fn emulator() -> Running {
    castellan_emulators::start(
        "127.0.0.1:0",
        World::new(ScenarioSource::Demo, 3, Faults::default()).unwrap(),
    )
    .await
    .unwrap()
}

async fn pinterest(emu: &Running, path: &str) -> (u16, Value) {
    let r = Client::new()
        .get(format!("{}/v5{path}", emu.base_url()))
        .bearer_auth(sc::PINTEREST_AUTOMATION_TOKEN)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn pinterest_takes_the_python_sdks_booleans() {
    let emu = emulator().await;
    let b = sc::PINTEREST_BRAND;
    for path in [
        format!("/businesses/{b}/members?assets_summary=True"),
        format!("/businesses/{b}/members?assets_summary=False"),
        format!("/businesses/{b}/partners?assets_summary=True"),
    ] {
        let (st, v) = pinterest(&emu, &path).await;
        assert_eq!(st, 200, "{path}: {v}");
        assert!(v["items"].is_array(), "{path}: {v}");
    }
    let (_, with) = pinterest(
        &emu,
        &format!("/businesses/{b}/members?assets_summary=True"),
    )
    .await;
    assert!(
        with["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| !m["assets_summary"].is_null()),
        "True asks for the summaries: {with}"
    );
    // Anything else is still refused, naming the parameter.
    let (st, v) = pinterest(&emu, &format!("/businesses/{b}/members?assets_summary=yes")).await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("assets_summary"),
        "{v}"
    );
}

async fn tiktok(emu: &Running, method: &str, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", emu.tiktok_url());
    let req = if method == "GET" {
        let q: Vec<(String, String)> = body
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map(str::to_string).unwrap_or(v.to_string()),
                )
            })
            .collect();
        Client::new().get(url).query(&q)
    } else {
        Client::new().post(url).json(&body)
    };
    req.header("Access-Token", sc::TIKTOK_AUTOMATION_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn tiktok_invites_carry_their_finance_role() {
    let emu = emulator().await;
    let bc = sc::TIKTOK_BRAND.to_string();
    // An unknown finance role is refused, naming it; nothing is invited.
    let v = tiktok(
        &emu,
        "POST",
        "/bc/member/invite/",
        json!({ "bc_id": bc, "emails": ["fin@acme.example.com"], "user_role": "STANDARD", "ext_user_role": { "finance_role": "BOSS" } }),
    )
    .await;
    assert_ne!(v["code"], 0, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("finance_role"),
        "{v}"
    );
    let v = tiktok(
        &emu,
        "POST",
        "/bc/member/invite/",
        json!({ "bc_id": bc, "emails": ["fin@acme.example.com"], "user_role": "STANDARD", "ext_user_role": { "finance_role": "MANAGER" } }),
    )
    .await;
    assert_eq!(v["code"], 0, "{v}");
    let find = async || -> Value {
        let v = tiktok(
            &emu,
            "GET",
            "/bc/member/get/",
            json!({ "bc_id": bc, "page_size": "50", "filtering": "{\"relation_status\":\"PENDING\"}" }),
        )
        .await;
        let all = tiktok(
            &emu,
            "GET",
            "/bc/member/get/",
            json!({ "bc_id": bc, "page_size": "50" }),
        )
        .await;
        let mut list: Vec<Value> = v["data"]["list"].as_array().cloned().unwrap_or_default();
        list.extend(all["data"]["list"].as_array().cloned().unwrap_or_default());
        list.into_iter()
            .find(|m| m["user_email"] == "fin@acme.example.com")
            .unwrap_or(Value::Null)
    };
    let pending = find().await;
    assert_eq!(
        pending["ext_user_role"]["finance_role"], "MANAGER",
        "{pending}"
    );
    let r: Value = Client::new()
        .post(format!(
            "{}/_emulator/tiktok/invites/accept",
            emu.base_url()
        ))
        .json(&json!({ "bc": sc::TIKTOK_BRAND, "email": "fin@acme.example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["user_id"].is_string(), "{r}");
    let member = find().await;
    assert_eq!(member["relation_status"], "BOUND", "{member}");
    assert_eq!(
        member["ext_user_role"]["finance_role"], "MANAGER",
        "the finance role survives the accept: {member}"
    );
}

#[tokio::test]
async fn tiktok_bc_get_leaves_out_nulls() {
    let emu = emulator().await;
    let v = tiktok(&emu, "GET", "/bc/get/", json!({})).await;
    assert_eq!(v["code"], 0, "{v}");
    let info = &v["data"]["list"][0]["bc_info"];
    assert!(info.is_object(), "{v}");
    let text = v["data"].to_string();
    assert!(!text.contains("null"), "bc/get/ sends a null: {text}");
    assert!(info.get("organization_type").is_none(), "{info}");
}
