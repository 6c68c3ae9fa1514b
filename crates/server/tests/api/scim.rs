//! SCIM replayed: the exact requests Okta and Entra ID send (from their public SCIM references
//! and Microsoft's compatibility notes: every PATCH quirk), and the RFC's filters, sorting,
//! paging, uniqueness, ETags and projections, each step asserting the response and what the
//! directory then holds (read back through the JSON API). Both databases.

use castellan_domain::auth::ApiScope;
use serde_json::{Value, json};
use std::collections::HashMap;

use castellan_testkit::{TestApp, TestDb};

const OKTA: &str = include_str!("scim_fixtures/okta.json");
const ENTRA: &str = include_str!("scim_fixtures/entra.json");
const RFC: &str = include_str!("scim_fixtures/rfc.json");

/// `expected` holds in `actual`: objects key by key, arrays element by element as a subset
/// (each expected element matches some actual element), `"*"` any value, `"<absent>"` none.
fn holds(expected: &Value, actual: Option<&Value>, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::String(s), None) if s == "<absent>" => {}
        (Value::String(s), Some(a)) if s == "<absent>" => {
            out.push(format!("{at}: expected absent, got {a}"))
        }
        (Value::String(s), Some(_)) if s == "*" => {}
        (_, None) => out.push(format!("{at}: missing, expected {expected}")),
        (Value::Object(e), Some(Value::Object(a))) => {
            for (k, v) in e {
                holds(v, a.get(k), &format!("{at}.{k}"), out);
            }
        }
        (Value::Array(e), Some(Value::Array(a))) => {
            for (i, x) in e.iter().enumerate() {
                let ok = a.iter().any(|y| {
                    let mut o = Vec::new();
                    holds(x, Some(y), "", &mut o);
                    o.is_empty()
                });
                if !ok {
                    out.push(format!("{at}[{i}]: {x} not in {}", Value::Array(a.clone())));
                }
            }
        }
        (Value::String(e), Some(Value::String(a)))
            if e.starts_with('~') && !a.contains(&e[1..]) =>
        {
            out.push(format!("{at}: {a:?} does not contain {:?}", &e[1..]));
        }
        (Value::String(e), Some(Value::String(_))) if e.starts_with('~') => {}
        (e, Some(a)) if e != a => out.push(format!("{at}: expected {e}, got {a}")),
        _ => {}
    }
}

fn fill(text: &str, vars: &HashMap<String, String>) -> String {
    let mut t = text.to_string();
    for (k, v) in vars {
        t = t.replace(&format!("{{{k}}}"), v);
    }
    t
}

async fn replay(app: &TestApp, admin: &str, scim: &str, name: &str, fixture: &str) {
    let steps: Vec<Value> = serde_json::from_str(fixture).unwrap();
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("token".into(), scim.to_string());
    let mut failures = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let label = format!("{name} step {n} ({})", step["name"].as_str().unwrap_or(""));
        let method: reqwest::Method = step["method"].as_str().unwrap().parse().unwrap();
        let path = fill(step["path"].as_str().unwrap(), &vars);
        let mut req = app.http.request(method, app.url(&path));
        let auth = step["auth"]
            .as_str()
            .map(|a| fill(a, &vars))
            .unwrap_or(format!("Bearer {scim}"));
        if !auth.is_empty() {
            req = req.header("authorization", auth);
        }
        if let Some(h) = step["headers"].as_object() {
            for (k, v) in h {
                req = req.header(k.as_str(), fill(v.as_str().unwrap(), &vars));
            }
        }
        if !step["body"].is_null() {
            let body = fill(&step["body"].to_string(), &vars);
            let ct = step["content_type"]
                .as_str()
                .unwrap_or("application/scim+json");
            req = req.header("content-type", ct).body(body);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != step["status"].as_u64().unwrap() as u16 {
            failures.push(format!(
                "{label}: status {status}, expected {} — {text}",
                step["status"]
            ));
            continue;
        }
        if !text.is_empty() && !ctype.starts_with("application/scim+json") {
            failures.push(format!("{label}: content type {ctype}"));
        }
        if let Some(e) = step.get("expect") {
            let e: Value = serde_json::from_str(&fill(&e.to_string(), &vars)).unwrap();
            let mut out = Vec::new();
            holds(&e, Some(&body), "body", &mut out);
            failures.extend(out.into_iter().map(|o| format!("{label}: {o}")));
        }
        if let Some(save) = step["save"].as_object() {
            for (k, ptr) in save {
                match body.pointer(ptr.as_str().unwrap()) {
                    Some(Value::String(s)) => {
                        vars.insert(k.clone(), s.clone());
                    }
                    other => failures.push(format!("{label}: nothing to save at {ptr}: {other:?}")),
                }
            }
        }
        if let Some(k) = step["save_etag"].as_str() {
            vars.insert(k.to_string(), etag.clone().unwrap_or_default());
        }
        // What the directory holds now, through the JSON API.
        for (kind, url) in [
            ("identity", "/api/v1/directory/identities/"),
            ("group", "/api/v1/directory/groups/"),
        ] {
            if let Some(checks) = step[format!("stored_{kind}")].as_object() {
                for (var, want) in checks {
                    let id = vars.get(var).cloned().unwrap_or_default();
                    let got: Value = app
                        .get(admin, &format!("{url}{id}"))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let want: Value =
                        serde_json::from_str(&fill(&want.to_string(), &vars)).unwrap();
                    let mut out = Vec::new();
                    holds(&want, Some(&got), &format!("stored {kind} {var}"), &mut out);
                    failures.extend(out.into_iter().map(|o| format!("{label}: {o}")));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

/// A workspace named `ws` on `app`: an Admin's API token and a SCIM token named `name`.
async fn scim_token(app: &TestApp, ws: &str, name: &str) -> (String, String) {
    let (ws, owner) = app.workspace(ws).await;
    let admin = app.token(ws, owner, ApiScope::Admin).await;
    let made: Value = app
        .post(&admin, "/api/v1/scim/tokens")
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = made["secret"].as_str().unwrap().to_string();
    (admin, secret)
}

async fn each_backend(name: &str, fixture: &str) {
    for backend in [
        castellan_store::Backend::Sqlite,
        castellan_store::Backend::Postgres,
    ] {
        let Some(db) = TestDb::for_backend(backend).await else {
            continue;
        };
        let app = TestApp::spawn_with(db, Default::default()).await;
        let (admin, scim) = scim_token(&app, "scim", "Okta production").await;
        replay(
            &app,
            &admin,
            &scim,
            &format!("{name} on {backend:?}"),
            fixture,
        )
        .await;
    }
}

#[tokio::test]
async fn okta_requests_replayed() {
    each_backend("okta", OKTA).await;
}

#[tokio::test]
async fn entra_requests_replayed() {
    each_backend("entra", ENTRA).await;
}

#[tokio::test]
async fn rfc_filters_paging_etags_replayed() {
    each_backend("rfc", RFC).await;
}

/// Tokens: several per workspace, shown once, revoked; a SCIM change is audited with the
/// token's name as actor.
#[tokio::test]
async fn scim_tokens_are_named_revocable_and_audited() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("tokens").await;
    let admin = app.token(ws, owner, ApiScope::Admin).await;
    let make = |name: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let r = app
                .post(&admin, "/api/v1/scim/tokens")
                .json(&json!({"name": name}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()
        }
    };
    let okta = make("Okta").await;
    let entra = make("Entra").await;
    assert!(okta["secret"].as_str().unwrap().starts_with("cscim_"));
    assert!(okta["base_url"].as_str().unwrap().ends_with("/scim/v2"));
    let list: Value = app
        .get(&admin, "/api/v1/scim/tokens")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains(okta["secret"].as_str().unwrap()),
        "shown once"
    );
    let bad = app
        .post(&admin, "/api/v1/scim/tokens")
        .json(&json!({"name": " "}))
        .send()
        .await
        .unwrap();
    let (st, v) = castellan_testkit::error_of(bad).await;
    assert_eq!((st, v["field"].as_str()), (400, Some("name")), "{v}");

    let user = json!({"schemas": [castellan_domain::scim::USER], "userName": "ann@tokens.example.com",
        "emails": [{"value": "ann@tokens.example.com", "type": "work", "primary": true}]});
    let r = app
        .http
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(okta["secret"].as_str().unwrap())
        .json(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let events: Value = app
        .get(&admin, "/api/v1/audit/events?limit=100")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        events.to_string().contains("SCIM token Okta"),
        "the token's name is the actor: {events}"
    );
    // Revoked: refused at once; the other token still works.
    let id = okta["token"]["id"].as_str().unwrap();
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/scim/tokens/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .get(app.url("/scim/v2/Users"))
        .bearer_auth(okta["secret"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(app.url("/scim/v2/Users"))
        .bearer_auth(entra["secret"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A Member may not make one.
    let member = app
        .person(ws, castellan_domain::workspace::WorkspaceRole::Member)
        .await;
    let mt = app.token(ws, member, ApiScope::Admin).await;
    let r = app
        .post(&mt, "/api/v1/scim/tokens")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Creates arriving together share a transaction (group commit): each is answered on its
/// own — a taken `userName` 409 while the others are made — and what a create answers is
/// exactly what a read gives afterwards (its ETag too). Both databases.
#[tokio::test]
async fn concurrent_creates_are_answered_each_on_its_own() {
    for backend in [
        castellan_store::Backend::Sqlite,
        castellan_store::Backend::Postgres,
    ] {
        let Some(db) = TestDb::for_backend(backend).await else {
            continue;
        };
        let app = TestApp::spawn_with(db, Default::default()).await;
        let (admin, token) = scim_token(&app, "burst", "burst").await;
        // 40 creates at once; every fourth repeats an earlier name.
        let sends = (0..40).map(|n| {
            let name = if n % 4 == 3 { n - 1 } else { n };
            let body = json!({"schemas": [castellan_domain::scim::USER], "userName": format!("u{name}@burst.example.com"),
                "emails": [{"value": format!("u{name}@burst.example.com"), "type": "work", "primary": true}], "active": n % 5 != 0});
            let (http, url, token) = (app.http.clone(), app.url("/scim/v2/Users"), token.clone());
            async move {
                let r = http.post(url).bearer_auth(token).json(&body).send().await.unwrap();
                let st = r.status().as_u16();
                let etag = r.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
                (st, etag, r.json::<Value>().await.unwrap())
            }
        });
        let answers = futures_util::future::join_all(sends).await;
        let created: Vec<_> = answers.iter().filter(|a| a.0 == 201).collect();
        assert_eq!(created.len(), 30, "{backend:?}: {answers:?}");
        assert_eq!(
            answers.iter().filter(|a| a.0 == 409).count(),
            10,
            "{backend:?}"
        );
        for (_, etag, body) in created {
            let id = body["id"].as_str().unwrap();
            let r = app
                .http
                .get(app.url(&format!("/scim/v2/Users/{id}")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.headers()
                    .get("etag")
                    .map(|v| v.to_str().unwrap().to_string()),
                etag.clone(),
                "{backend:?}"
            );
            let read: Value = r.json().await.unwrap();
            assert_eq!(
                &read, body,
                "{backend:?}: the create answered what is stored"
            );
        }
        let list: Value = app
            .http
            .get(app.url("/scim/v2/Users?count=0"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["totalResults"], 30, "{backend:?}");
        // The batch's audit events chain like any others.
        let verify: Value = app
            .get(&admin, "/api/v1/audit/verify")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(verify["ok"], true, "{backend:?}: {verify}");
    }
}

/// Concurrent PATCHes of one user, each of its own attribute, all land: a change computed from
/// a user that changed meanwhile is computed again, not written over the other.
#[tokio::test]
async fn concurrent_patches_of_one_user_all_land() {
    for backend in [
        castellan_store::Backend::Sqlite,
        castellan_store::Backend::Postgres,
    ] {
        let Some(db) = TestDb::for_backend(backend).await else {
            continue;
        };
        patches_land(TestApp::spawn_with(db, Default::default()).await).await;
    }
}

async fn patches_land(app: TestApp) {
    let (admin, token) = scim_token(&app, "patches", "p").await;
    let user: Value = app
        .http
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&token)
        .json(
            &json!({"schemas": [castellan_domain::scim::USER], "userName": "p@patches.example.com",
            "emails": [{"value": "p@patches.example.com", "type": "work", "primary": true}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = user["id"].as_str().unwrap().to_string();
    let ops = [
        json!({"op": "replace", "path": "displayName", "value": "Pat"}),
        json!({"op": "replace", "path": "name.givenName", "value": "Pat"}),
        json!({"op": "replace", "path": "name.familyName", "value": "Lee"}),
        json!({"op": "replace", "path": "externalId", "value": "00u9"}),
        json!({"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"}),
        json!({"op": "add", "path": "emails[type eq \"home\"].value", "value": "pat@home.example.org"}),
    ];
    let sends = ops.iter().map(|op| {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]});
        let (http, url, token) = (app.http.clone(), app.url(&format!("/scim/v2/Users/{id}")), token.clone());
        async move { http.patch(url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16() }
    });
    let codes = futures_util::future::join_all(sends).await;
    assert!(codes.iter().all(|c| *c == 200), "{codes:?}");
    let got: Value = app
        .get(&admin, &format!("/api/v1/directory/identities/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            got["display_name"].as_str(),
            got["given_name"].as_str(),
            got["family_name"].as_str(),
            got["external_id"].as_str(),
            got["department"].as_str()
        ),
        (
            Some("Pat"),
            Some("Pat"),
            Some("Lee"),
            Some("00u9"),
            Some("Ops")
        ),
        "{got}"
    );
    assert_eq!(
        got["other_emails"],
        json!(["pat@home.example.org"]),
        "{got}"
    );
}

/// Concurrent membership PATCHes of one group (Okta pushing several changes at once) all land.
#[tokio::test]
async fn concurrent_membership_patches_all_land() {
    for backend in [
        castellan_store::Backend::Sqlite,
        castellan_store::Backend::Postgres,
    ] {
        let Some(db) = TestDb::for_backend(backend).await else {
            continue;
        };
        let app = TestApp::spawn_with(db, Default::default()).await;
        let (admin, token) = scim_token(&app, "members", "m").await;
        let post = |path: &'static str, body: Value| {
            let (http, url, token) = (app.http.clone(), app.url(path), token.clone());
            async move {
                http.post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };
        let group = post(
            "/scim/v2/Groups",
            json!({"schemas": [castellan_domain::scim::GROUP], "displayName": "Push"}),
        )
        .await;
        let gid = group["id"].as_str().unwrap().to_string();
        let mut users = Vec::new();
        for n in 0..8 {
            let u = post("/scim/v2/Users", json!({"schemas": [castellan_domain::scim::USER], "userName": format!("m{n}@members.example.com"),
                "emails": [{"value": format!("m{n}@members.example.com"), "type": "work", "primary": true}]})).await;
            users.push(u["id"].as_str().unwrap().to_string());
        }
        let sends = users.iter().map(|u| {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": [{"value": u}]}]});
            let (http, url, token) = (app.http.clone(), app.url(&format!("/scim/v2/Groups/{gid}")), token.clone());
            async move { http.patch(url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16() }
        });
        let codes = futures_util::future::join_all(sends).await;
        assert!(codes.iter().all(|c| *c == 200), "{backend:?}: {codes:?}");
        let got: Value = app
            .get(&admin, &format!("/api/v1/directory/groups/{gid}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut have: Vec<String> = got["member_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        have.sort();
        users.sort();
        assert_eq!(have, users, "{backend:?}: every member lands");
    }
}
