//! A connected partner's users through the API, read back against the emulated partner
//! business: exactly those who reach our shared assets, with their permissions, matched to the
//! workspace's guest users by e-mail, diffed like every other row and reported when they
//! appear or vanish; disconnecting deletes them.

use std::collections::{BTreeMap, BTreeSet};

use castellan_emulators::scenario as sc;
use serde_json::{Value, json};

use crate::support::{P, PINTEREST, Setup, TIKTOK, post, setup};

/// Brightwave's business (the partner) and Acme's (ours), as the control API names them.
fn paths(p: &P) -> (String, String, u64) {
    if p.name == "pinterest" {
        (
            format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND + 1),
            format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND),
            sc::PINTEREST_BRAND + 1,
        )
    } else {
        (
            format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND + 1),
            format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND),
            sc::TIKTOK_BRAND + 1,
        )
    }
}

/// (e-mail, asset id, permissions) of each partner member's permission on one of our assets,
/// as the emulated partner business holds them.
async fn expected(s: &Setup, p: &P) -> BTreeSet<(String, String, Vec<String>)> {
    let (partner, ours, _) = paths(p);
    let ours = s.control("GET", &ours, Value::Null).await;
    let our_assets: BTreeSet<String> = ours["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let partner = s.control("GET", &partner, Value::Null).await;
    let mut out = BTreeSet::new();
    for m in partner["members"].as_array().unwrap() {
        let email = m["user"]["email"].as_str().unwrap().to_string();
        for a in m["assets"].as_array().unwrap() {
            let asset = a["asset_id"].as_str().unwrap().to_string();
            if !our_assets.contains(&asset) {
                continue;
            }
            let perms = a
                .get("permissions")
                .or_else(|| a.get("role"))
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            out.insert((email.clone(), asset, perms));
        }
    }
    out
}

/// The guest-users tab as the API lists it: (e-mail, asset id, permissions) per permission.
async fn listed(s: &Setup, app: &str) -> (BTreeSet<(String, String, Vec<String>)>, Vec<Value>) {
    let v = s
        .get_json(&format!(
            "/api/v1/apps/{app}/members?tab=partner_users&permissions=true&limit=200"
        ))
        .await;
    let items = v["items"].as_array().unwrap().clone();
    let mut out = BTreeSet::new();
    for seat in &items {
        assert_eq!(seat["kind"], "partner_user", "{seat}");
        assert_eq!(seat["state"], "partner_user", "{seat}");
        for perm in seat["permissions"].as_array().unwrap() {
            let mut perms: Vec<String> = perm["permissions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            perms.sort();
            out.insert((
                seat["email"].as_str().unwrap().to_string(),
                perm["asset_id"].as_str().unwrap().to_string(),
                perms,
            ));
        }
    }
    (out, items)
}

/// Each asset's holder total and shown holder keys, as the API's assets list gives them.
async fn holders_of(s: &Setup, app: &str) -> BTreeMap<String, (i64, Vec<String>)> {
    s.assets(app)
        .await
        .iter()
        .map(|a| {
            let shown = a["holders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["holder"].as_str().unwrap().to_string())
                .collect();
            (
                a["asset_id"].as_str().unwrap().to_string(),
                (a["holders_total"].as_i64().unwrap(), shown),
            )
        })
        .collect()
}

fn sorted(v: BTreeSet<(String, String, Vec<String>)>) -> BTreeSet<(String, String, Vec<String>)> {
    v.into_iter()
        .map(|(e, a, mut p)| {
            p.sort();
            (e, a, p)
        })
        .collect()
}

/// Connects Brightwave through its admin's token; returns the partner id.
pub(crate) async fn connect_brightwave(s: &Setup, p: &P, app: &str) -> String {
    let token = if p.name == "pinterest" {
        sc::PINTEREST_MONITOR_TOKEN
    } else {
        sc::TIKTOK_MONITOR_TOKEN
    };
    let (st, monitor) = post(
        s,
        "/api/v1/automation-accounts",
        json!({ "platform": p.name, "label": format!("Brightwave {} monitor", p.name), "email": "lead@brightwave.example.net", "password": "monitor-password-1", "access_token": token }),
    )
    .await;
    assert_eq!(st, 201, "{monitor}");
    let partner = paths(p).2.to_string();
    let (st, v) = post(
        s,
        &format!("/api/v1/apps/{app}/partners/{partner}/connect"),
        json!({ "automation_account_id": monitor["account"]["id"] }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    partner
}

/// The report row a check wrote of its own changes (an open report of an earlier check may be
/// the one its result names).
async fn own_report(s: &Setup, app: &str, check: &Value) -> Value {
    let all = s.get_json(&format!("/api/v1/apps/{app}/reports")).await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|r| r["task_id"] == check["id"])
        .cloned()
        .unwrap_or_else(|| panic!("no report of {check} in {all}"))
}

async fn partner_users_story(p: &P) {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    assert_eq!(s.check(&app).await["status"], "completed");
    // The partner's admin is a guest user of the workspace.
    let (st, v) = post(
        &s,
        "/api/v1/guests",
        json!({ "email": "lead@brightwave.example.net", "display_name": "Brightwave lead" }),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let partner = connect_brightwave(&s, p, &app).await;
    let first = s.check(&app).await;
    assert_eq!(first["status"], "completed", "{first}");

    // Exactly the partner's users who reach our shared assets, with their permissions.
    let want = sorted(expected(&s, p).await);
    assert!(
        want.len() >= 3,
        "the demo's agency works on our assets: {want:?}"
    );
    let (got, items) = listed(&s, &app).await;
    assert_eq!(got, want);
    assert!(
        items.iter().all(|x| x["partner_id"] == partner.as_str()),
        "{items:?}"
    );
    // Nobody who works only for the partner's other client.
    assert!(
        !items
            .iter()
            .any(|x| x["email"].as_str().unwrap().contains("globex")),
        "{items:?}"
    );
    // Matched to the guest user by e-mail; the others are not guest users.
    for seat in &items {
        let lead = seat["email"] == "lead@brightwave.example.net";
        assert_eq!(
            seat["guest_user"].as_str(),
            lead.then_some("lead@brightwave.example.net"),
            "{seat}"
        );
    }
    // Linked to a local partner (the same organization), the native partner's users match
    // only that partner's guests: the lead is a guest of the workspace in no partner, so
    // unmatched until they join it; the check writes nothing for either.
    let lead_of = |items: &[Value]| {
        items
            .iter()
            .find(|x| x["email"] == "lead@brightwave.example.net")
            .unwrap()["guest_user"]
            .clone()
    };
    let (st, v) = post(
        &s,
        "/api/v1/local-partners",
        json!({ "name": "Brightwave Media", "first_email": "ops@brightwave.example.net" }),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let local = v["partner"]["id"].as_str().unwrap().to_string();
    let (st, v) = post(
        &s,
        &format!("/api/v1/local-partners/{local}/native-partners"),
        json!({ "app_id": app, "partner_id": partner }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(lead_of(&listed(&s, &app).await.1), Value::Null);
    let (st, v) = post(
        &s,
        &format!("/api/v1/local-partners/{local}/people"),
        json!({ "email": "lead@brightwave.example.net", "role": "guest_admin" }),
    )
    .await;
    assert_eq!(
        st, 201,
        "the workspace's guest joins the partner as they are: {v}"
    );
    assert_eq!(
        lead_of(&listed(&s, &app).await.1),
        "lead@brightwave.example.net"
    );

    let report = own_report(&s, &app, &first).await;
    let appeared = report["changes"]["new_partner_users"].as_array().unwrap();
    assert_eq!(
        appeared.len(),
        items.len(),
        "the first check lists every partner user it found: {report}"
    );

    // A check that finds nothing new writes nothing.
    let again = s.check(&app).await;
    assert_eq!(again["result"]["changes"]["rows_written"], 0, "{again}");

    // Behind Castellan's back: the buyer loses access, a new hire gains it.
    let (partner_path, _, agency) = paths(p);
    let state = s.control("GET", &partner_path, Value::Null).await;
    let member_of = |email: &str| {
        state["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["email"] == email)
            .unwrap()
            .clone()
    };
    let buyer = member_of("buyer@brightwave.example.net");
    let buyer_id: u64 = buyer["user"]["id"].as_str().map_or_else(
        || buyer["user"]["id"].as_u64().unwrap(),
        |x| x.parse().unwrap(),
    );
    let shared_asset: u64 = buyer["assets"][0]["asset_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (bkey, perm_key, perm) = if p.name == "pinterest" {
        ("business", "permissions", json!(["ANALYST"]))
    } else {
        ("bc", "role", json!(["ANALYST"]))
    };
    s.control(
        "DELETE",
        &format!("/{}/grants", p.name),
        json!({ bkey: agency, "user": buyer_id, "asset": shared_asset }),
    )
    .await;
    let hire = s
        .control(
            "POST",
            &format!("/{}/members", p.name),
            json!({ bkey: agency, "email": "new.hire@brightwave.example.net", "role": if p.name == "pinterest" { "EMPLOYEE" } else { "STANDARD" } }),
        )
        .await;
    let hire_id: u64 = hire["user_id"]
        .as_str()
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("{hire}"));
    s.control(
        "POST",
        &format!("/{}/grants", p.name),
        json!({ bkey: agency, "user": hire_id, "asset": shared_asset, perm_key: perm }),
    )
    .await;
    let third = s.check(&app).await;
    assert_eq!(third["status"], "completed", "{third}");
    let report = own_report(&s, &app, &third).await;
    let emails = |k: &str| -> Vec<String> {
        report["changes"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["email"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        emails("new_partner_users"),
        vec!["new.hire@brightwave.example.net"],
        "{report}"
    );
    assert_eq!(
        emails("vanished_partner_users"),
        vec!["buyer@brightwave.example.net"],
        "{report}"
    );
    assert_eq!(
        sorted(listed(&s, &app).await.0),
        sorted(expected(&s, p).await)
    );

    // Disconnected: its users are deleted; the next check writes nothing for them. The
    // Assets page's totals lose exactly their permissions (they are counted from each
    // asset's holder list, which must lose their keys).
    let before = holders_of(&s, &app).await;
    let mut lost: BTreeMap<String, i64> = BTreeMap::new();
    for (_, asset, _) in listed(&s, &app).await.0 {
        *lost.entry(asset).or_default() += 1;
    }
    assert!(!lost.is_empty());
    let (st, v) = post(
        &s,
        &format!("/api/v1/apps/{app}/partners/{partner}/disconnect"),
        json!({}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(listed(&s, &app).await.1.is_empty());
    let after = holders_of(&s, &app).await;
    for (asset, (total, _)) in &before {
        let want = total - lost.get(asset).copied().unwrap_or(0);
        assert_eq!(
            after[asset].0, want,
            "asset {asset}: {before:?} then {after:?}"
        );
    }
    assert!(
        after
            .values()
            .all(|(_, hs)| hs.iter().all(|h| !h.starts_with("member:partner:"))),
        "{after:?}"
    );
    let after = s.check(&app).await;
    assert_eq!(after["result"]["changes"]["rows_written"], 0, "{after}");
}

#[tokio::test]
async fn pinterest_partner_users_are_imported_diffed_and_reported() {
    partner_users_story(&PINTEREST).await;
}

#[tokio::test]
async fn tiktok_partner_users_are_imported_diffed_and_reported() {
    partner_users_story(&TIKTOK).await;
}

/// Connecting through the platform's consent page (TikTok's Grant access; a Pinterest monitor
/// account without a token): the callback connects the partner and sends the browser to the
/// Partners tab; consent given as someone who is not the partner's admin connects nothing and
/// says why.
async fn partner_through_the_consent_page(p: &P) {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    assert_eq!(s.check(&app).await["status"], "completed");
    s.put_platform_app(p.name).await;
    let partner = paths(p).2.to_string();
    let account = |label: &'static str, email: &'static str| {
        let s = &s;
        async move {
            let (st, v) = post(
                s,
                "/api/v1/automation-accounts",
                json!({ "platform": p.name, "label": label, "email": email, "password": "monitor-password-1" }),
            )
            .await;
            assert_eq!(st, 201, "{v}");
            v["account"]["id"].as_str().unwrap().to_string()
        }
    };
    let consent = |account: String| {
        let (s, app, partner) = (&s, app.clone(), partner.clone());
        async move {
            let (st, v) = post(
                s,
                &format!("/api/v1/apps/{app}/partners/{partner}/consent"),
                json!({ "automation_account_id": account }),
            )
            .await;
            assert_eq!(st, 200, "{v}");
            assert!(v["connected"].is_null(), "{v}");
            v["authorize_url"].as_str().unwrap().to_string()
        }
    };
    // A planner is no admin of the agency: the token is kept, the partner is not connected.
    let planner = account("Brightwave planner", "planner@brightwave.example.net").await;
    let url = consent(planner).await;
    let (r, _) = s
        .consent_as(p.name, &url, "planner@brightwave.example.net")
        .await;
    assert_eq!(r.status(), 409);
    let body = r.text().await.unwrap();
    assert!(body.contains("not an admin"), "{body}");
    assert!(body.contains(&format!("/apps/{app}/partners")), "{body}");
    let listed = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    let status = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|x| x["partner_id"] == partner.as_str())
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&listed), "pending_onboarding");
    // The partner's admin: connected, and back to the Partners tab with the message.
    let lead = account("Brightwave lead", LEAD).await;
    let url = consent(lead.clone()).await;
    // A monitor reads the partner's business: it is asked for read scopes only.
    assert!(!url.contains("write"), "{url}");
    let (r, _) = s.consent_as(p.name, &url, LEAD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/apps/{app}/partners")
    );
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("castellan_flash"),
        "the Partners tab says it"
    );
    let listed = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    assert_eq!(status(&listed), "connected", "{listed}");
    // Now that the account holds a token, the same call connects at once.
    let (st, v) = post(
        &s,
        &format!("/api/v1/apps/{app}/partners/{partner}/consent"),
        json!({ "automation_account_id": lead }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["authorize_url"].is_null(), "{v}");
    assert_eq!(v["connected"]["partner"]["status"], "connected", "{v}");
    // And its users come with the next check.
    assert_eq!(s.check(&app).await["status"], "completed");
    assert!(listed_count(&s, &app).await >= 3);
}

const LEAD: &str = "lead@brightwave.example.net";

async fn listed_count(s: &Setup, app: &str) -> usize {
    listed(s, app).await.1.len()
}

#[tokio::test]
async fn pinterest_partner_connects_through_the_consent_page() {
    partner_through_the_consent_page(&PINTEREST).await;
}

#[tokio::test]
async fn tiktok_partner_connects_through_the_consent_page() {
    partner_through_the_consent_page(&TIKTOK).await;
}
