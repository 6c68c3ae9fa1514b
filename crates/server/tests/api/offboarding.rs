//! Unmatched seats invited as guest users, and the offboarding of external people: a
//! contractor's seat on both platforms is invited into a local partner, matched to the guest
//! once they join; revoking the guest makes the next checks' reports list both seats, applying
//! them removes the seats from both emulated platforms, and the guest's shared accounts are
//! unshared; audited.

use castellan_emulators::scenario as sc;
use serde_json::{Value, json};

use crate::support::{Setup, post, setup};

const CONTRACTOR: &str = "sam@contractor.example.com";

/// The seat with `email` on `app`, from the tab `tab`.
async fn seat(s: &Setup, app: &str, tab: &str, email: &str) -> Option<Value> {
    let v = s
        .get_json(&format!("/api/v1/apps/{app}/members?tab={tab}&limit=200"))
        .await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["email"] == email)
        .cloned()
}

/// Opens the guest's sign-in link (revealed from the outbox, as an Owner) and sets a password.
async fn accept(s: &Setup, email: &str) {
    let guests = s.get_json("/api/v1/guests").await;
    let g = guests
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["person"]["email"] == email)
        .unwrap()
        .clone();
    let (st, body) = post(
        s,
        &format!("/api/v1/outbox/{}/reveal", g["email_id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let text = body["body"].as_str().unwrap();
    let token = text
        .split("token=")
        .nth(1)
        .unwrap()
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string();
    let r = s
        .app
        .http
        .post(s.app.url("/api/v1/guest-links/accept"))
        .json(&json!({ "token": token, "password": "contractor password 4711" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_revoked_guest_is_offboarded_from_both_platforms() {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    // The contractor works on both platforms' businesses, unknown to the directory.
    s.control(
        "POST",
        "/pinterest/members",
        json!({ "business": sc::PINTEREST_BRAND, "email": CONTRACTOR, "role": "EMPLOYEE" }),
    )
    .await;
    s.control(
        "POST",
        "/tiktok/members",
        json!({ "bc": sc::TIKTOK_BRAND, "email": CONTRACTOR, "name": "Sam Contractor", "role": "STANDARD" }),
    )
    .await;
    let mut apps = Vec::new();
    for p in ["pinterest", "tiktok"] {
        let app = s.connect(p).await;
        assert_eq!(s.check(&app).await["status"], "completed");
        apps.push(app);
    }
    let (st, partner) = post(
        &s,
        "/api/v1/local-partners",
        json!({ "name": "Contractor Co", "domains": "contractor.example.com", "first_email": "boss@contractor.example.com" }),
    )
    .await;
    assert_eq!(st, 201, "{partner}");
    let partner = partner["partner"]["id"].as_str().unwrap().to_string();

    // Invite as guest user, into the partner: the first seat invites, the second links.
    let mut guest = String::new();
    for app in &apps {
        let seat = seat(&s, app, "unmatched", CONTRACTOR).await.unwrap();
        let (st, v) = post(
            &s,
            &format!(
                "/api/v1/apps/{app}/members/{}/invite-guest",
                seat["user_id"].as_str().unwrap()
            ),
            json!({ "partner_id": partner }),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        assert!(guest.is_empty() || guest == v["person_id"].as_str().unwrap());
        guest = v["person_id"].as_str().unwrap().to_string();
    }
    // Refused: a seat that is not an unmatched member's.
    let onboarded = s
        .get_json(&format!(
            "/api/v1/apps/{}/members?tab=onboarded&limit=1",
            apps[0]
        ))
        .await["items"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, v) = post(
        &s,
        &format!("/api/v1/apps/{}/members/{onboarded}/invite-guest", apps[0]),
        json!({}),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("user_id")),
        "{v}"
    );

    // They join; the next checks match both seats to them, as a partner's user.
    accept(&s, CONTRACTOR).await;
    for app in &apps {
        assert_eq!(s.check(app).await["status"], "completed");
        let seat = seat(&s, app, "partner_users", CONTRACTOR)
            .await
            .unwrap_or_else(|| panic!("the seat is a partner's user on {app}"));
        assert_eq!(seat["guest_user"], CONTRACTOR, "{seat}");
    }
    // The partner's page lists both seats, one per app.
    let reach = format!("/api/v1/local-partners/{partner}");
    let seats = s.get_json(&reach).await["seats"].clone();
    assert_eq!(seats.as_array().unwrap().len(), 2, "{seats}");
    assert!(
        seats
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["guest_email"] == CONTRACTOR && x["awaiting_removal"] == false),
        "{seats}"
    );
    // An account shared with them.
    let (_, card) = post(
        &s,
        "/api/v1/me/accounts",
        json!({ "platform": "pinterest", "label": "Shared login" }),
    )
    .await;
    let card = card["id"].as_str().unwrap().to_string();
    let (st, v) = post(
        &s,
        &format!("/api/v1/accounts/{card}/connect"),
        json!({ "login": "x@acme.example.com", "password": "pw-123456" }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = post(
        &s,
        &format!("/api/v1/accounts/{card}/shares"),
        json!({ "person_id": guest, "role": "collaborator" }),
    )
    .await;
    assert_eq!(st, 201, "{v}");

    // Revoked: the next reports list both seats; applying removes them from both platforms.
    let r = s
        .app
        .http
        .delete(s.app.url(&format!("/api/v1/guests/{guest}")))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let shares = s.get_json(&format!("/api/v1/accounts/{card}/shares")).await;
    assert_eq!(
        shares,
        json!([]),
        "the guest's shared accounts are unshared"
    );
    let seats = s.get_json(&reach).await["seats"].clone();
    assert!(
        seats
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["awaiting_removal"] == true),
        "both seats wait for removal: {seats}"
    );
    for app in &apps {
        assert_eq!(s.check(app).await["status"], "completed");
        let reports = s.get_json(&format!("/api/v1/apps/{app}/reports")).await;
        let open = reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == "open")
            .unwrap()
            .clone();
        let listed: Vec<&str> = open["pending_removal"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["email"].as_str().unwrap_or(""))
            .collect();
        assert!(listed.contains(&CONTRACTOR), "{open}");
        let seat = seat(&s, app, "partner_users", CONTRACTOR).await.unwrap();
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
        s.wait_task(v["task"]["id"].as_str().unwrap()).await;
    }
    let pin = s
        .control(
            "GET",
            &format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND),
            Value::Null,
        )
        .await;
    assert!(
        !pin.to_string().contains(CONTRACTOR) || !pin["members"].to_string().contains(CONTRACTOR),
        "{pin}"
    );
    let tt = s
        .control(
            "GET",
            &format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND),
            Value::Null,
        )
        .await;
    assert!(!tt["members"].to_string().contains(CONTRACTOR), "{tt}");
    assert!(!pin["members"].to_string().contains(CONTRACTOR), "{pin}");
    assert_eq!(crate::support::audit_count(&s, "guest.revoke").await, 1);
    assert_eq!(
        crate::support::audit_count(&s, "seat.invite_guest").await,
        2
    );
}
