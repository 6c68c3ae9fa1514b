//! An app's native partners through the API, read back against the emulated business: each
//! partner with the assets it uses of ours and its permissions on them.

use crate::support::{P, PINTEREST, TIKTOK, schema_errors, setup};

async fn partners_as_the_platform_has_them(p: &P) {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    // Before a check nothing is known.
    let none = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    assert_eq!(none, serde_json::json!([]));
    assert_eq!(s.check(&app).await["status"], "completed");
    let v = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    for item in v.as_array().unwrap() {
        assert_eq!(schema_errors("PartnerBody", item), Vec::<String>::new());
    }
    let mut shared: Vec<(usize, Vec<String>)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            assert_eq!(x["status"], "pending_onboarding", "{x}");
            assert_eq!(x["relation"], "uses_our_assets", "{x}");
            let perms: Vec<String> = x["uses_our_assets"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|a| a["permissions"].as_array().unwrap().clone())
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            (x["uses_our_assets"].as_array().unwrap().len(), perms)
        })
        .collect();
    shared.sort();
    // The demo's two agencies: one uses one of our ad accounts, the other two.
    assert_eq!(
        shared.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![1, 2],
        "{v}"
    );
    let expected = if p.name == "pinterest" {
        "CAMPAIGN_MANAGER"
    } else {
        "OPERATOR"
    };
    assert!(
        shared
            .iter()
            .all(|(_, perms)| perms.iter().any(|x| x == expected)),
        "{v}"
    );
}

#[tokio::test]
async fn pinterest_partners_as_the_platform_has_them() {
    partners_as_the_platform_has_them(&PINTEREST).await;
}

#[tokio::test]
async fn tiktok_partners_as_the_platform_has_them() {
    partners_as_the_platform_has_them(&TIKTOK).await;
}

/// Every text a table of the database holds, one string per row.
async fn every_row(s: &crate::support::Setup) -> Vec<String> {
    use sqlx::{Column as _, Row as _};
    let pool = s.app.store.pool();
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String, _>("name").unwrap())
    .collect();
    assert!(tables.len() > 20, "{tables:?}");
    let mut out = Vec::new();
    for t in tables {
        for r in sqlx::query(&format!("SELECT * FROM {t}"))
            .fetch_all(pool)
            .await
            .unwrap()
        {
            let mut line = format!("{t}:");
            for c in r.columns() {
                let i = c.ordinal();
                if let Ok(Some(v)) = r.try_get::<Option<String>, _>(i) {
                    line.push_str(&v);
                } else if let Ok(Some(v)) = r.try_get::<Option<i64>, _>(i) {
                    line.push_str(&v.to_string());
                } else if let Ok(Some(v)) = r.try_get::<Option<Vec<u8>>, _>(i) {
                    line.push_str(&String::from_utf8_lossy(&v));
                }
                line.push('|');
            }
            out.push(line);
        }
    }
    out
}

/// The agency Brightwave also works for another client: after checks of both platforms, with
/// Brightwave connected and its users imported, nothing of that client (its business, its ad account, its owner, the agency's buyer who
/// works only on it) is stored anywhere in Castellan's database.
#[tokio::test]
async fn nothing_of_a_partners_other_client_is_stored() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    // The emulated world does hold that client, shared with the agency.
    let agency: serde_json::Value = s
        .control(
            "GET",
            &format!(
                "/pinterest/businesses/{}",
                castellan_emulators::scenario::PINTEREST_BRAND + 1
            ),
            serde_json::Value::Null,
        )
        .await;
    assert!(
        agency.to_string().to_lowercase().contains("globex"),
        "the agency works for Globex: {agency}"
    );
    // Every id in Globex's own business (its assets, its people), but the businesses Acme does
    // know (itself and the two agencies).
    let sc_p = castellan_emulators::scenario::PINTEREST_BRAND;
    let sc_t = castellan_emulators::scenario::TIKTOK_BRAND;
    let known: Vec<String> = [sc_p, sc_p + 1, sc_p + 2, sc_t, sc_t + 1, sc_t + 2]
        .iter()
        .map(u64::to_string)
        .collect();
    let mut globex_ids: Vec<String> = Vec::new();
    for path in [
        format!("/pinterest/businesses/{}", sc_p + 3),
        format!("/tiktok/bcs/{}", sc_t + 3),
    ] {
        let state = s
            .control("GET", &path, serde_json::Value::Null)
            .await
            .to_string();
        assert!(state.to_lowercase().contains("globex"), "{path}: {state}");
        for id in state
            .split(|c: char| !c.is_ascii_digit())
            .filter(|d| d.len() >= 10)
        {
            if !known.iter().any(|k| k == id) && !globex_ids.iter().any(|g| g == id) {
                globex_ids.push(id.to_string());
            }
        }
    }
    assert!(globex_ids.len() >= 4, "{globex_ids:?}");
    // Brightwave connected: its users who reach our assets are imported, the buyer who works
    // only for Globex never is.
    for p in [&PINTEREST, &TIKTOK] {
        let app = s.connect(p.name).await;
        assert_eq!(s.check(&app).await["status"], "completed");
        crate::partner_users::connect_brightwave(&s, p, &app).await;
        assert_eq!(s.check(&app).await["status"], "completed");
        assert_eq!(s.check(&app).await["status"], "completed");
        let users = s
            .get_json(&format!("/api/v1/apps/{app}/members?tab=partner_users"))
            .await;
        assert!(users["items"].as_array().unwrap().len() >= 3, "{users}");
    }
    let rows = every_row(&s).await;
    assert!(rows.len() > 100, "the checks stored their rows");
    let leaks: Vec<&String> = rows
        .iter()
        .filter(|r| {
            let l = r.to_lowercase();
            l.contains("globex") || globex_ids.iter().any(|id| l.contains(id.as_str()))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "another client's data is stored: {leaks:#?}"
    );
}

/// Connect to Castellan through a monitor account: refused for an account that is not an admin
/// of the partner's business (the app's own automation account; the monitor of another
/// partner), accepted for the partner's admin, with the seeds' guest-user warning; audited.
async fn connect_a_partner(p: &P) {
    use castellan_emulators::scenario as sc;
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    assert_eq!(s.check(&app).await["status"], "completed");
    let token = if p.name == "pinterest" {
        sc::PINTEREST_MONITOR_TOKEN
    } else {
        sc::TIKTOK_MONITOR_TOKEN
    };
    let (st, monitor) = crate::support::post(
        &s,
        "/api/v1/automation-accounts",
        serde_json::json!({ "platform": p.name, "label": "Brightwave monitor", "email": "lead@brightwave.example.net", "password": "monitor-password-1", "access_token": token }),
    )
    .await;
    assert_eq!(st, 201, "{monitor}");
    let monitor = monitor["account"]["id"].as_str().unwrap().to_string();
    let own = s.get_json(&format!("/api/v1/apps/{app}")).await["automation_account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let partners = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    let id_of = |n: usize| {
        partners
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["uses_our_assets"].as_array().unwrap().len() == n)
            .unwrap()["partner_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (brightwave, northstar) = (id_of(2), id_of(1));
    let connect = |partner: String, account: String| {
        let s = &s;
        let app = app.clone();
        async move {
            crate::support::post(
                s,
                &format!("/api/v1/apps/{app}/partners/{partner}/connect"),
                serde_json::json!({ "automation_account_id": account }),
            )
            .await
        }
    };
    let (st, v) = connect(brightwave.clone(), own).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("automation_account_id")),
        "the app's own account is not Brightwave's admin: {v}"
    );
    let (st, v) = connect(northstar, monitor.clone()).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("automation_account_id")),
        "Brightwave's admin is not Northstar's: {v}"
    );
    let (st, v) = connect("9999".into(), monitor.clone()).await;
    assert_eq!(st, 404, "{v}");
    let (st, v) = connect(brightwave.clone(), monitor.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["partner"]["status"], "connected", "{v}");
    assert_eq!(v["partner"]["monitor_account_id"], monitor.as_str());
    assert!(v["warning"].as_str().unwrap().contains("guest user"), "{v}");
    assert_eq!(
        schema_errors("ConnectedPartnerBody", &v),
        Vec::<String>::new()
    );
    let listed = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    let bw = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["partner_id"] == brightwave.as_str())
        .unwrap();
    assert_eq!(bw["status"], "connected", "{bw}");
    assert_eq!(crate::support::audit_count(&s, "partner.connect").await, 1);

    // The admin is demoted behind Castellan's back: the next check completes for the app and
    // marks the partner Connection failing with the reason; restored, it is Connected again.
    let agency = if p.name == "pinterest" {
        sc::PINTEREST_BRAND + 1
    } else {
        sc::TIKTOK_BRAND + 1
    };
    let (path, key) = if p.name == "pinterest" {
        (format!("/pinterest/businesses/{agency}"), "business")
    } else {
        (format!("/tiktok/bcs/{agency}"), "bc")
    };
    let state = s.control("GET", &path, serde_json::Value::Null).await;
    let lead = user_with_email(&state, "lead@brightwave.example.net")
        .unwrap_or_else(|| panic!("no lead in {state}"));
    let (admin, demoted) = if p.name == "pinterest" {
        ("BIZ_ADMIN", "EMPLOYEE")
    } else {
        ("ADMIN", "STANDARD")
    };
    let set_role = |role: &'static str| {
        let s = &s;
        async move {
            s.control(
                "PATCH",
                &format!("/{}/members", p.name),
                serde_json::json!({ key: agency, "user": lead, "role": role }),
            )
            .await
        }
    };
    let guests = || {
        let (s, url) = (
            &s,
            format!("/api/v1/apps/{app}/members?tab=partner_users&limit=200"),
        );
        async move { s.get_json(&url).await["items"].as_array().unwrap().len() }
    };
    s.check(&app).await;
    let before = guests().await;
    assert!(before >= 3, "the partner's users were imported");
    set_role(demoted).await;
    let check = s.check(&app).await;
    assert_eq!(check["status"], "completed", "{check}");
    assert_eq!(
        s.get_json(&format!("/api/v1/apps/{app}")).await["status"],
        "connected"
    );
    let bw = partner(&s, &app, &brightwave).await;
    assert_eq!(bw["status"], "connection_failing", "{bw}");
    assert!(
        bw["status_message"]
            .as_str()
            .unwrap()
            .contains("not an admin"),
        "{bw}"
    );
    assert_eq!(
        guests().await,
        before,
        "a partner that cannot be read keeps its users as last held"
    );
    assert_eq!(check["result"]["changes"]["seats_vanished"], 0, "{check}");
    set_role(admin).await;
    s.check(&app).await;
    assert_eq!(partner(&s, &app, &brightwave).await["status"], "connected");

    // Disconnect: Castellan stops reading it; the account stays; once only.
    let url = format!("/api/v1/apps/{app}/partners/{brightwave}/disconnect");
    let (st, v) = crate::support::post(&s, &url, serde_json::json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "pending_onboarding", "{v}");
    assert!(v["monitor_account_id"].is_null(), "{v}");
    let (st, _) = crate::support::post(&s, &url, serde_json::json!({})).await;
    assert_eq!(st, 404);
    assert_eq!(
        crate::support::audit_count(&s, "partner.disconnect").await,
        1
    );
    assert_eq!(
        s.get_json(&format!("/api/v1/automation-accounts/{monitor}"))
            .await["label"],
        "Brightwave monitor"
    );
}

async fn partner(s: &crate::support::Setup, app: &str, id: &str) -> serde_json::Value {
    s.get_json(&format!("/api/v1/apps/{app}/partners"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["partner_id"] == id)
        .cloned()
        .unwrap()
}

/// The numeric user id of the object (anywhere in `v`) that carries `email`.
fn user_with_email(v: &serde_json::Value, email: &str) -> Option<u64> {
    match v {
        serde_json::Value::Object(o) => {
            if o.values().any(|x| x == email) {
                for k in ["user", "user_id", "id"] {
                    if let Some(id) = o.get(k).and_then(|x| {
                        x.as_u64()
                            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                    }) {
                        return Some(id);
                    }
                }
            }
            o.values().find_map(|x| user_with_email(x, email))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|x| user_with_email(x, email)),
        _ => None,
    }
}

#[tokio::test]
async fn pinterest_partner_connects_through_its_admin() {
    connect_a_partner(&PINTEREST).await;
}

#[tokio::test]
async fn tiktok_partner_connects_through_its_admin() {
    connect_a_partner(&TIKTOK).await;
}
