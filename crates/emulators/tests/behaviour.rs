//! Emulator behaviour: writes change later reads as the platforms would, paging holds under
//! concurrent change, the last admin stays, tokens see only what their user may see, and
//! every fault switch works.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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

struct Pin<'a> {
    emu: &'a Running,
    http: Client,
    token: String,
}

impl Pin<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/v5{path}", self.emu.base_url())
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
    async fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
    /// Every item of a paged list.
    async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut bookmark: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let p = match &bookmark {
                Some(b) => format!("{path}{sep}page_size=250&bookmark={b}"),
                None => format!("{path}{sep}page_size=250"),
            };
            let (s, v) = self.get(&p).await;
            assert_eq!(s, 200, "{p}: {v}");
            out.extend(v["items"].as_array().unwrap().iter().cloned());
            match v["bookmark"].as_str() {
                Some(b) => bookmark = Some(b.to_string()),
                None => return out,
            }
        }
    }
}

async fn control(emu: &Running, method: &str, path: &str, body: Value) -> Value {
    let r = Client::new()
        .request(
            method.parse().unwrap(),
            format!("{}/_emulator{path}", emu.base_url()),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}");
    r.json().await.unwrap()
}

async fn pin_state(emu: &Running) -> Value {
    Client::new()
        .get(format!(
            "{}/_emulator/pinterest/businesses/{}",
            emu.base_url(),
            sc::PINTEREST_BRAND
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn pin_user(state: &Value, email: &str) -> String {
    state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == email)
        .unwrap_or_else(|| panic!("{email}"))["user"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn pinterest_writes_show_in_later_reads() {
    let emu = emulator().await;
    let p = Pin {
        emu: &emu,
        http: Client::new(),
        token: sc::PINTEREST_AUTOMATION_TOKEN.into(),
    };
    let b = sc::PINTEREST_BRAND;
    let st = pin_state(&emu).await;
    let liam = pin_user(&st, "liam.smith@acme.example.com");
    let ad = st["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "AD_ACCOUNT")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Invite → pending → accepted on the platform → a member.
    let (s, v) = p.send("POST", &format!("/businesses/{b}/invites"), json!({ "business_role": "EMPLOYEE", "invite_type": "MEMBER_INVITE", "members": ["zoe@acme.example.com"] })).await;
    assert_eq!(s, 200, "{v}");
    let invite = v["items"][0]["invite"]["id"].as_str().unwrap().to_string();
    let pending = p.all(&format!("/businesses/{b}/invites")).await;
    assert!(pending.iter().any(|i| i["id"] == invite.as_str()));
    let accepted = control(
        &emu,
        "POST",
        &format!("/pinterest/invites/{invite}/accept"),
        json!({}),
    )
    .await;
    let zoe = accepted["user_id"].as_str().unwrap().to_string();
    let members = p.all(&format!("/businesses/{b}/members")).await;
    assert!(
        members
            .iter()
            .any(|m| m["id"] == zoe.as_str() && m["business_roles"] == json!(["EMPLOYEE"]))
    );
    assert!(
        !p.all(&format!("/businesses/{b}/invites"))
            .await
            .iter()
            .any(|i| i["id"] == invite.as_str())
    );

    // Role change.
    let (s, _) = p
        .send(
            "PATCH",
            &format!("/businesses/{b}/members"),
            json!([{ "member_id": zoe, "business_role": "BIZ_ADMIN" }]),
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = p
        .get(&format!("/businesses/{b}/members?member_ids={zoe}"))
        .await;
    assert_eq!(v["items"][0]["business_roles"], json!(["BIZ_ADMIN"]));

    // Asset grant, then it shows per member and per asset.
    let (s, _) = p.send("PATCH", &format!("/businesses/{b}/members/assets/access"), json!({ "accesses": [{ "member_id": zoe, "asset_id": ad, "permissions": ["ANALYST"] }] })).await;
    assert_eq!(s, 200);
    let (_, v) = p
        .get(&format!("/businesses/{b}/members/{zoe}/assets"))
        .await;
    assert_eq!(
        v["items"],
        json!([{ "asset_id": ad, "asset_type": "AD_ACCOUNT", "permissions": ["ANALYST"] }])
    );
    assert!(
        p.all(&format!("/businesses/{b}/assets/{ad}/members"))
            .await
            .iter()
            .any(|m| m["user"]["id"] == zoe.as_str())
    );

    // Removing a member removes its asset permissions.
    let (s, v) = p
        .send(
            "DELETE",
            &format!("/businesses/{b}/members"),
            json!({ "members": [{ "member_id": liam, "business_role": "BIZ_ADMIN" }] }),
        )
        .await;
    assert_eq!((s, v["deleted_members"].clone()), (200, json!([liam])));
    assert!(
        !p.all(&format!("/businesses/{b}/members"))
            .await
            .iter()
            .any(|m| m["id"] == liam.as_str())
    );
    let (s, _) = p
        .get(&format!("/businesses/{b}/members/{liam}/assets"))
        .await;
    assert_eq!(s, 404);
    assert!(
        !pin_state(&emu)
            .await
            .to_string()
            .contains(&format!("\"id\":\"{liam}\""))
    );

    // Removing a partner removes its access to our assets (and its people's).
    let partners = p
        .all(&format!("/businesses/{b}/partners?partner_type=INTERNAL"))
        .await;
    let partner = partners[0]["id"].as_str().unwrap().to_string();
    let (_, shared) = p
        .get(&format!("/businesses/{b}/partners/{partner}/assets"))
        .await;
    let shared_ad = shared["items"][0]["asset_id"].as_str().unwrap().to_string();
    assert!(
        p.all(&format!("/businesses/{b}/assets/{shared_ad}/partners"))
            .await
            .iter()
            .any(|x| x["user"]["id"] == partner.as_str())
    );
    let (s, _) = p
        .send(
            "DELETE",
            &format!("/businesses/{b}/partners"),
            json!({ "partner_ids": [partner], "partner_type": "INTERNAL" }),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        !p.all(&format!("/businesses/{b}/partners?partner_type=INTERNAL"))
            .await
            .iter()
            .any(|x| x["id"] == partner.as_str())
    );
    assert!(
        !p.all(&format!("/businesses/{b}/assets/{shared_ad}/partners"))
            .await
            .iter()
            .any(|x| x["user"]["id"] == partner.as_str())
    );
    let agency: Value = Client::new()
        .get(format!(
            "{}/_emulator/pinterest/businesses/{partner}",
            emu.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !agency
            .to_string()
            .contains(&format!("\"asset_id\":\"{shared_ad}\"")),
        "the agency's people lost the shared asset"
    );

    // Partner asset grant and revoke.
    let other = partners[1]["id"].as_str().unwrap().to_string();
    let (s, _) = p.send("PATCH", &format!("/businesses/{b}/partners/assets"), json!({ "accesses": [{ "partner_id": other, "asset_id": ad, "permissions": ["ANALYST"] }] })).await;
    assert_eq!(s, 200);
    assert!(
        p.all(&format!("/businesses/{b}/partners/{other}/assets"))
            .await
            .iter()
            .any(|x| x["asset_id"] == ad.as_str())
    );
    let (s, _) = p
        .send(
            "DELETE",
            &format!("/businesses/{b}/partners/assets"),
            json!({ "accesses": [{ "partner_id": other, "asset_id": ad }] }),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        !p.all(&format!("/businesses/{b}/partners/{other}/assets"))
            .await
            .iter()
            .any(|x| x["asset_id"] == ad.as_str())
    );

    // Cancelled invites leave the pending list.
    let (_, v) = p.send("POST", &format!("/businesses/{b}/invites"), json!({ "business_role": "EMPLOYEE", "invite_type": "MEMBER_INVITE", "members": ["yan@acme.example.com"] })).await;
    let id = v["items"][0]["invite"]["id"].as_str().unwrap().to_string();
    let (_, v) = p
        .send(
            "DELETE",
            &format!("/businesses/{b}/invites"),
            json!({ "invite_ids": [id] }),
        )
        .await;
    assert!(v["items"][0]["exception"].is_null());
    let (_, v) = p
        .send(
            "DELETE",
            &format!("/businesses/{b}/invites"),
            json!({ "invite_ids": [id] }),
        )
        .await;
    assert!(
        v["items"][0]["exception"]["message"].is_string(),
        "cancelling twice is refused per item"
    );
}

#[tokio::test]
async fn pinterest_last_admin_cannot_be_removed_or_demoted() {
    let emu = emulator().await;
    let p = Pin {
        emu: &emu,
        http: Client::new(),
        token: sc::PINTEREST_AUTOMATION_TOKEN.into(),
    };
    let b = sc::PINTEREST_BRAND;
    let admins: Vec<String> = p
        .all(&format!("/businesses/{b}/members?business_roles=BIZ_ADMIN"))
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(admins.len() >= 2);
    let demote_all: Vec<Value> = admins
        .iter()
        .map(|a| json!({ "member_id": a, "business_role": "EMPLOYEE" }))
        .collect();
    let (s, v) = p
        .send(
            "PATCH",
            &format!("/businesses/{b}/members"),
            Value::Array(demote_all),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(v["message"].as_str().unwrap().contains("last admin"));
    let remove_all: Vec<Value> = admins
        .iter()
        .map(|a| json!({ "member_id": a, "business_role": "BIZ_ADMIN" }))
        .collect();
    let (s, _) = p
        .send(
            "DELETE",
            &format!("/businesses/{b}/members"),
            json!({ "members": remove_all }),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        p.all(&format!("/businesses/{b}/members?business_roles=BIZ_ADMIN"))
            .await
            .len(),
        admins.len(),
        "nothing changed"
    );
}

#[tokio::test]
async fn pinterest_bookmarks_hold_while_the_list_changes() {
    let emu = emulator().await;
    let p = Pin {
        emu: &emu,
        http: Client::new(),
        token: sc::PINTEREST_AUTOMATION_TOKEN.into(),
    };
    let b = sc::PINTEREST_BRAND;
    let before: Vec<String> = p
        .all(&format!("/businesses/{b}/members"))
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let (_, first) = p
        .get(&format!("/businesses/{b}/members?page_size=10"))
        .await;
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    // Meanwhile: members on earlier and later pages leave, new ones join.
    let gone = [before[3].clone(), before[20].clone(), before[30].clone()];
    for g in &gone {
        control(
            &emu,
            "DELETE",
            "/pinterest/members",
            json!({ "business": b, "user": g.parse::<u64>().unwrap() }),
        )
        .await;
    }
    control(
        &emu,
        "POST",
        "/pinterest/members",
        json!({ "business": b, "email": "late.joiner@acme.example.com" }),
    )
    .await;
    let mut bookmark = first["bookmark"].as_str().unwrap().to_string();
    loop {
        let (s, v) = p
            .get(&format!(
                "/businesses/{b}/members?page_size=10&bookmark={bookmark}"
            ))
            .await;
        assert_eq!(s, 200);
        seen.extend(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
        match v["bookmark"].as_str() {
            Some(n) => bookmark = n.to_string(),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    for m in before.iter().filter(|m| !gone.contains(m)) {
        assert!(seen.contains(m), "unchanged member {m} was skipped");
    }
    let (s, _) = p
        .get(&format!("/businesses/{b}/members?bookmark=not-a-bookmark"))
        .await;
    assert_eq!(s, 400);
}

/// Signs a user in through the consent page and exchanges the code, as Castellan will.
async fn pinterest_oauth(emu: &Running, email: &str, scope: &str) -> String {
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{}/oauth/?client_id={}&redirect_uri=http://castellan.test/cb&response_type=code&scope={scope}&state=xyz", emu.base_url(), sc::PINTEREST_CLIENT_ID))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Confirm"));
    let user = page
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.contains(email))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = http
        .post(format!("{}/oauth/", emu.base_url()))
        .form(&[
            ("client_id", sc::PINTEREST_CLIENT_ID),
            ("redirect_uri", "http://castellan.test/cb"),
            ("scope", scope),
            ("state", "xyz"),
            ("user_id", &user),
            ("confirm", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with("http://castellan.test/cb?code=") && loc.ends_with("&state=xyz"),
        "{loc}"
    );
    let code = loc
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let t: Value = http
        .post(format!("{}/v5/oauth/token", emu.base_url()))
        .basic_auth(sc::PINTEREST_CLIENT_ID, Some(sc::PINTEREST_CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://castellan.test/cb"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A code works once.
    let again = http
        .post(format!("{}/v5/oauth/token", emu.base_url()))
        .basic_auth(sc::PINTEREST_CLIENT_ID, Some(sc::PINTEREST_CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://castellan.test/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    t["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn pinterest_tokens_see_only_what_their_user_and_scopes_allow() {
    let emu = emulator().await;
    let b = sc::PINTEREST_BRAND;
    let employee = pinterest_oauth(
        &emu,
        "noah.davis@acme.example.com",
        "biz_access:read,ads:read",
    )
    .await;
    let p = Pin {
        emu: &emu,
        http: Client::new(),
        token: employee,
    };
    let (s, _) = p.get(&format!("/businesses/{b}/members")).await;
    assert_eq!(s, 403, "a plain employee does not get the member list");
    let me = pin_user(&pin_state(&emu).await, "noah.davis@acme.example.com");
    let (s, v) = p.get(&format!("/businesses/{b}/members/{me}/assets")).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = p.get("/ad_accounts").await;
    assert_eq!(s, 200);
    assert!(v["items"].as_array().unwrap().iter().all(|a| {
        !a["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("OWNER"))
    }));
    let (s, _) = p.get("/user_account").await;
    assert_eq!(s, 403, "no user_accounts:read scope");

    let reader = pinterest_oauth(
        &emu,
        "castellan-automation@acme.example.com",
        "biz_access:read",
    )
    .await;
    let p = Pin {
        emu: &emu,
        http: Client::new(),
        token: reader,
    };
    let (s, _) = p.get(&format!("/businesses/{b}/members")).await;
    assert_eq!(s, 200);
    let (s, v) = p
        .send(
            "PATCH",
            &format!("/businesses/{b}/members"),
            json!([{ "member_id": "1", "business_role": "EMPLOYEE" }]),
        )
        .await;
    assert_eq!((s, v["code"].as_i64()), (403, Some(29)));
    // An agency's admin reaches its own business, not ours.
    let agency = pinterest_oauth(&emu, "lead@brightwave.example.net", "biz_access:read").await;
    let p = Pin {
        emu: &emu,
        http: Client::new(),
        token: agency,
    };
    assert_eq!(p.get(&format!("/businesses/{b}/members")).await.0, 403);
    assert_eq!(
        p.get(&format!("/businesses/{}/members", b + 1)).await.0,
        200
    );
}

// ---------------------------------------------------------------- TikTok

struct Tt<'a> {
    emu: &'a Running,
    token: String,
}

impl Tt<'_> {
    async fn get(&self, path: &str, q: &[(&str, String)]) -> Value {
        Client::new()
            .get(format!("{}{path}", self.emu.tiktok_url()))
            .query(q)
            .header("Access-Token", &self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        Client::new()
            .post(format!("{}{path}", self.emu.tiktok_url()))
            .header("Access-Token", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
    async fn members(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let v = self
                .get(
                    "/bc/member/get/",
                    &[
                        ("bc_id", sc::TIKTOK_BRAND.to_string()),
                        ("page", page.to_string()),
                        ("page_size", "50".into()),
                    ],
                )
                .await;
            assert_eq!(v["code"], 0, "{v}");
            out.extend(v["data"]["list"].as_array().unwrap().iter().cloned());
            if page >= v["data"]["page_info"]["total_page"].as_u64().unwrap() {
                return out;
            }
        }
        out
    }
}

#[tokio::test]
async fn tiktok_writes_show_in_later_reads_and_the_last_admin_stays() {
    let emu = emulator().await;
    let t = Tt {
        emu: &emu,
        token: sc::TIKTOK_AUTOMATION_TOKEN.into(),
    };
    let bc = sc::TIKTOK_BRAND.to_string();
    let members = t.members().await;
    let liam = members
        .iter()
        .find(|m| m["user_email"] == "liam.smith@acme.example.com")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        members.iter().any(|m| m["relation_status"] == "PENDING"),
        "the demo has a pending invite"
    );

    let v = t
        .post(
            "/bc/member/invite/",
            json!({ "bc_id": bc, "emails": ["zoe@acme.example.com"], "user_role": "STANDARD" }),
        )
        .await;
    assert_eq!(v["code"], 0, "{v}");
    assert!(t.members().await.iter().any(|m| m["user_email"] == "zoe@acme.example.com" && m["relation_status"] == "PENDING"));
    control(
        &emu,
        "POST",
        "/tiktok/invites/accept",
        json!({ "bc": sc::TIKTOK_BRAND, "email": "zoe@acme.example.com" }),
    )
    .await;
    let zoe = t
        .members()
        .await
        .into_iter()
        .find(|m| m["user_email"] == "zoe@acme.example.com")
        .unwrap();
    assert_eq!(zoe["relation_status"], "BOUND");
    let zoe = zoe["user_id"].as_str().unwrap().to_string();

    let v = t
        .post(
            "/bc/member/update/",
            json!({ "bc_id": bc, "user_id": zoe, "user_role": "ADMIN" }),
        )
        .await;
    assert_eq!(v["code"], 0);
    assert!(
        t.members()
            .await
            .iter()
            .any(|m| m["user_id"] == zoe.as_str() && m["user_role"] == "ADMIN")
    );

    let st: Value = Client::new()
        .get(format!("{}/_emulator/tiktok/bcs/{bc}", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let adv = st["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "ADVERTISER")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = t.post("/bc/asset/assign/", json!({ "bc_id": bc, "user_id": zoe, "asset_type": "ADVERTISER", "asset_id": adv, "advertiser_role": "OPERATOR" })).await;
    assert_eq!(v["code"], 0, "{v}");
    let holders = t
        .get(
            "/bc/asset/member/get/",
            &[
                ("bc_id", bc.clone()),
                ("asset_id", adv.clone()),
                ("asset_type", "ADVERTISER".into()),
                ("page_size", "20".into()),
            ],
        )
        .await;
    assert!(
        holders["data"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == zoe.as_str() && m["advertiser_role"] == "OPERATOR")
    );
    let v = t
        .post(
            "/bc/asset/unassign/",
            json!({ "bc_id": bc, "user_id": zoe, "asset_type": "ADVERTISER", "asset_id": adv }),
        )
        .await;
    assert_eq!(v["code"], 0);

    // Removing a member drops its asset permissions.
    let v = t
        .post(
            "/bc/member/delete/",
            json!({ "bc_id": bc, "user_id": liam }),
        )
        .await;
    assert_eq!(v["code"], 0, "{v}");
    assert!(
        !t.members()
            .await
            .iter()
            .any(|m| m["user_id"] == liam.as_str())
    );
    let theirs = t
        .get(
            "/bc/asset/get/",
            &[
                ("bc_id", bc.clone()),
                ("asset_type", "ADVERTISER".into()),
                ("filtering", json!({ "user_id": liam }).to_string()),
            ],
        )
        .await;
    assert_eq!(theirs["data"]["list"], json!([]));

    // Partners: removing one ends every share with it.
    let partners = t.get("/bc/partner/get/", &[("bc_id", bc.clone())]).await;
    let partner = partners["data"]["list"][0]["bc_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sharing = t
        .get(
            "/bc/partner/asset/get/",
            &[
                ("bc_id", bc.clone()),
                ("partner_id", partner.clone()),
                ("asset_type", "ADVERTISER".into()),
                ("share_type", "SHARING".into()),
            ],
        )
        .await;
    assert!(!sharing["data"]["list"].as_array().unwrap().is_empty());
    let v = t
        .post(
            "/bc/partner/delete/",
            json!({ "bc_id": bc, "partner_id": partner }),
        )
        .await;
    assert_eq!(v["code"], 0);
    let partners = t.get("/bc/partner/get/", &[("bc_id", bc.clone())]).await;
    assert!(
        !partners["data"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["bc_id"] == partner.as_str())
    );
    let agency: Value = Client::new()
        .get(format!("{}/_emulator/tiktok/bcs/{partner}", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        agency["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(
                |m| m["assets"].as_array().unwrap().iter().all(|a| !st["assets"]
                    .to_string()
                    .contains(a["asset_id"].as_str().unwrap()))
            ),
        "the agency's people lost our assets"
    );

    // The last admin: demote every admin but one, then the last is refused.
    let admins: Vec<String> = t
        .members()
        .await
        .iter()
        .filter(|m| m["user_role"] == "ADMIN" && m["relation_status"] == "BOUND")
        .map(|m| m["user_id"].as_str().unwrap().to_string())
        .collect();
    for a in &admins[1..] {
        assert_eq!(
            t.post(
                "/bc/member/update/",
                json!({ "bc_id": bc, "user_id": a, "user_role": "STANDARD" })
            )
            .await["code"],
            0
        );
    }
    let last = &admins[0];
    let v = t
        .post(
            "/bc/member/update/",
            json!({ "bc_id": bc, "user_id": last, "user_role": "STANDARD" }),
        )
        .await;
    assert!(
        v["code"] != 0 && v["message"].as_str().unwrap().contains("last admin"),
        "{v}"
    );
    let v = t
        .post(
            "/bc/member/delete/",
            json!({ "bc_id": bc, "user_id": last }),
        )
        .await;
    assert!(
        v["code"] != 0 && v["message"].as_str().unwrap().contains("last admin"),
        "{v}"
    );
}

#[tokio::test]
async fn tiktok_oauth_and_visibility() {
    let emu = emulator().await;
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!(
            "{}/portal/auth?app_id={}&state=s1&redirect_uri=http://castellan.test/tt",
            emu.base_url(),
            sc::TIKTOK_APP_ID
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Confirm"));
    let user = page
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.contains("noah.davis@acme.example.com"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = http
        .post(format!("{}/portal/auth", emu.base_url()))
        .form(&[
            ("app_id", sc::TIKTOK_APP_ID),
            ("redirect_uri", "http://castellan.test/tt"),
            ("state", "s1"),
            ("user_id", &user),
        ])
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let code = loc
        .split("auth_code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    assert!(
        loc.contains(&format!("&code={code}")) && loc.ends_with("state=s1"),
        "{loc}"
    );
    let v: Value = http
        .post(format!("{}/oauth2/access_token/", emu.tiktok_url()))
        .json(&json!({ "app_id": sc::TIKTOK_APP_ID, "secret": "wrong", "auth_code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["code"], 40101);
    let v: Value = http.post(format!("{}/oauth2/access_token/", emu.tiktok_url())).json(&json!({ "app_id": sc::TIKTOK_APP_ID, "secret": sc::TIKTOK_APP_SECRET, "auth_code": code })).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["code"], 0, "{v}");
    let token = v["data"]["access_token"].as_str().unwrap().to_string();
    assert!(!v["data"]["advertiser_ids"].as_array().unwrap().is_empty());
    let again: Value = http.post(format!("{}/oauth2/access_token/", emu.tiktok_url())).json(&json!({ "app_id": sc::TIKTOK_APP_ID, "secret": sc::TIKTOK_APP_SECRET, "auth_code": code })).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["code"], 40110, "an auth_code works once");
    let advs: Value = http
        .get(format!(
            "{}/oauth2/advertiser/get/?app_id={}&secret={}",
            emu.tiktok_url(),
            sc::TIKTOK_APP_ID,
            sc::TIKTOK_APP_SECRET
        ))
        .header("Access-Token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(advs["code"], 0);
    // A STANDARD member sees their BC and their own assets, not the member list.
    let t = Tt { emu: &emu, token };
    let bcs = t.get("/bc/get/", &[]).await;
    assert_eq!(bcs["data"]["list"][0]["user_role"], "STANDARD");
    let v = t
        .get(
            "/bc/member/get/",
            &[("bc_id", sc::TIKTOK_BRAND.to_string())],
        )
        .await;
    assert_eq!(v["code"], 40001);
    let own = t
        .get(
            "/bc/asset/get/",
            &[
                ("bc_id", sc::TIKTOK_BRAND.to_string()),
                ("asset_type", "ADVERTISER".into()),
            ],
        )
        .await;
    assert_eq!(own["code"], 0);
    assert_eq!(own["data"]["list"].as_array().unwrap().len(), 1);
    let t = Tt {
        emu: &emu,
        token: "bogus".into(),
    };
    assert_eq!(t.get("/bc/get/", &[]).await["code"], 40105);
}

// ---------------------------------------------------------------- faults

async fn set_faults(emu: &Running, f: Value) {
    let r = Client::new()
        .put(format!("{}/_emulator/faults", emu.base_url()))
        .json(&f)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn fault_switches() {
    let emu = emulator().await;
    let http = Client::new();
    let pin = || {
        http.get(format!(
            "{}/v5/businesses/{}/members",
            emu.base_url(),
            sc::PINTEREST_BRAND
        ))
        .bearer_auth(sc::PINTEREST_AUTOMATION_TOKEN)
        .send()
    };
    let tt = || {
        http.get(format!("{}/bc/get/", emu.tiktok_url()))
            .header("Access-Token", sc::TIKTOK_AUTOMATION_TOKEN)
            .send()
    };

    // Errors: every request answers 500, 502 or 503.
    set_faults(&emu, json!({ "error_rate": 1.0 })).await;
    let mut statuses = BTreeSet::new();
    for _ in 0..20 {
        statuses.insert(pin().await.unwrap().status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| [500, 502, 503].contains(s)) && statuses.len() >= 2,
        "{statuses:?}"
    );
    assert!(tt().await.unwrap().status().is_server_error());
    // The control API is never broken.
    assert!(
        http.get(format!("{}/_emulator/info", emu.base_url()))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );

    // Latency.
    set_faults(&emu, json!({ "latency_ms": 300 })).await;
    let t0 = Instant::now();
    assert_eq!(pin().await.unwrap().status(), 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));

    // Hangs then 504.
    set_faults(&emu, json!({ "timeout_rate": 1.0, "timeout_ms": 400 })).await;
    let t0 = Instant::now();
    assert_eq!(pin().await.unwrap().status(), 504);
    assert!(t0.elapsed() >= Duration::from_millis(400));
    let short = Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    assert!(
        short
            .get(format!("{}/bc/get/", emu.tiktok_url()))
            .header("Access-Token", sc::TIKTOK_AUTOMATION_TOKEN)
            .send()
            .await
            .unwrap_err()
            .is_timeout()
    );

    // Rate limits per category.
    set_faults(
        &emu,
        json!({ "pinterest_ads_read_per_sec": 2.0, "tiktok_qps": 2.0 }),
    )
    .await;
    let codes: Vec<u16> = futures_statuses(&pin, 4).await;
    assert!(codes.contains(&429), "{codes:?}");
    let r = pin().await.unwrap();
    if r.status() == 429 {
        assert_eq!(r.json::<Value>().await.unwrap()["code"], 8);
    }
    let mut throttled = false;
    for _ in 0..4 {
        let v: Value = tt().await.unwrap().json().await.unwrap();
        throttled |= v["code"] == 40100;
    }
    assert!(throttled);
    // Writes have their own bucket.
    let w = http
        .patch(format!(
            "{}/v5/businesses/{}/members",
            emu.base_url(),
            sc::PINTEREST_BRAND
        ))
        .bearer_auth(sc::PINTEREST_AUTOMATION_TOKEN)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(w.status(), 400, "ads_write is not throttled by ads_read");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(pin().await.unwrap().status(), 200, "the bucket refills");

    // Expiring access tokens: 401 until refreshed.
    set_faults(&emu, json!({ "pinterest_token_ttl_secs": 1 })).await;
    let t: Value = http
        .post(format!("{}/v5/oauth/token", emu.base_url()))
        .basic_auth(sc::PINTEREST_CLIENT_ID, Some(sc::PINTEREST_CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "pinr_demo_automation_refresh"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh = t["access_token"].as_str().unwrap().to_string();
    let me = || {
        http.get(format!(
            "{}/v5/businesses/{}/members",
            emu.base_url(),
            sc::PINTEREST_BRAND
        ))
        .bearer_auth(&fresh)
        .send()
    };
    assert_eq!(me().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(me().await.unwrap().status(), 401);
    control(&emu, "POST", "/pinterest/tokens/expire", json!({})).await;
    assert_eq!(pin().await.unwrap().status(), 401);

    // Bad settings are refused; request counts are kept per endpoint.
    let r = http
        .put(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({ "error_rate": 2.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let counts: Value = http
        .get(format!("{}/_emulator/requests", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        counts["by_endpoint"]["GET /v5/businesses/{id}/members"]
            .as_u64()
            .unwrap()
            >= 20
    );
    assert!(
        counts["by_endpoint"]["GET /open_api/v1.3/bc/get/"]
            .as_u64()
            .unwrap()
            >= 5
    );
    // Reset brings the scenario back.
    control(&emu, "POST", "/reset", json!({ "demo": true })).await;
    set_faults(&emu, json!({})).await;
    let counts: Value = http
        .get(format!("{}/_emulator/requests", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["total"], 0);
}

async fn futures_statuses<F, Fut>(f: &F, n: usize) -> Vec<u16>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(f().await.unwrap().status().as_u16());
    }
    out
}

/// Writes that fail a few times, or are refused for good; reads are untouched.
#[tokio::test]
async fn write_fault_switches() {
    let emu = emulator().await;
    let http = Client::new();
    let pin_write = || {
        http.patch(format!(
            "{}/v5/businesses/{}/members",
            emu.base_url(),
            sc::PINTEREST_BRAND
        ))
        .bearer_auth(sc::PINTEREST_AUTOMATION_TOKEN)
        .json(&json!([{ "member_id": "1", "business_role": "EMPLOYEE" }]))
        .send()
    };
    let pin_read = || {
        http.get(format!(
            "{}/v5/businesses/{}/members",
            emu.base_url(),
            sc::PINTEREST_BRAND
        ))
        .bearer_auth(sc::PINTEREST_AUTOMATION_TOKEN)
        .send()
    };
    let tt_write = || {
        http.post(format!("{}/bc/member/delete/", emu.tiktok_url()))
            .header("Access-Token", sc::TIKTOK_AUTOMATION_TOKEN)
            .json(&json!({ "bc_id": sc::TIKTOK_BRAND.to_string(), "user_id": "1" }))
            .send()
    };
    set_faults(&emu, json!({ "fail_next_writes": 2 })).await;
    assert_eq!(pin_read().await.unwrap().status(), 200);
    assert_eq!(pin_write().await.unwrap().status(), 503);
    assert_eq!(tt_write().await.unwrap().status(), 503);
    // Past the failures, the write is judged on its merits again (no such member: 404).
    assert_eq!(pin_write().await.unwrap().status(), 404);
    set_faults(
        &emu,
        json!({ "refuse_writes": "The business is under review." }),
    )
    .await;
    for _ in 0..3 {
        let r = pin_write().await.unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["message"], "The business is under review.");
    }
    let v: Value = tt_write().await.unwrap().json().await.unwrap();
    assert_eq!(v["code"], 40002);
    assert_eq!(pin_read().await.unwrap().status(), 200);
}
