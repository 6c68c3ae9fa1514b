//! Conformance of the emulators to the official descriptions in `../shared/specs` (or
//! `CASTELLAN_SPECS_DIR`): every Pinterest response, success and error, validates against the
//! response schema of `openapi.json`; every TikTok endpoint's parameters, enums and response
//! fields match its yml file. Skips with a message when the specs are absent, unless
//! `CASTELLAN_REQUIRE_SPECS=1`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use castellan_emulators::{ScenarioSource, World, scenario as sc};
use serde_json::{Map, Value, json};

fn specs_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CASTELLAN_SPECS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs"));
    if dir.join("pinterest/openapi.json").exists() && dir.join("tiktok/yml_files").exists() {
        return Some(dir);
    }
    let msg = format!(
        "official specs not found at {} (set CASTELLAN_SPECS_DIR)",
        dir.display()
    );
    if std::env::var("CASTELLAN_REQUIRE_SPECS").as_deref() == Ok("1") {
        panic!("CASTELLAN_REQUIRE_SPECS=1: {msg}");
    }
    eprintln!("skipping spec conformance: {msg}");
    None
}

async fn emulator() -> castellan_emulators::Running {
    let world = World::new(ScenarioSource::Demo, 1, Default::default()).unwrap();
    castellan_emulators::start("127.0.0.1:0", world)
        .await
        .unwrap()
}

/// OpenAPI 3.0 schema → JSON Schema 2020-12: `nullable: true` becomes a null alternative.
fn to_json_schema(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (_, child) in m.iter_mut() {
                to_json_schema(child);
            }
            if m.remove("nullable") == Some(Value::Bool(true)) {
                match m.get("type").cloned() {
                    Some(Value::String(t)) => {
                        m.insert("type".into(), json!([t, "null"]));
                        if let Some(Value::Array(e)) = m.get_mut("enum") {
                            e.push(Value::Null);
                        }
                    }
                    _ => {
                        let inner = Value::Object(std::mem::take(m));
                        m.insert("anyOf".into(), json!([inner, { "type": "null" }]));
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(to_json_schema),
        _ => {}
    }
}

struct Pinterest {
    doc: Value,
}

impl Pinterest {
    fn load(dir: &std::path::Path) -> Self {
        let mut doc: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("pinterest/openapi.json")).unwrap(),
        )
        .unwrap();
        to_json_schema(&mut doc);
        Self { doc }
    }

    /// Validates `body` as the answer with `status` of `method path`; returns the errors.
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in the spec");
        let responses = &op["responses"];
        let resp = if responses[status.to_string()].is_object() {
            &responses[status.to_string()]
        } else {
            &responses["default"]
        };
        let schema = resp["content"]["application/json"]["schema"].clone();
        assert!(
            schema.is_object(),
            "{method} {path} {status}: no schema in the spec"
        );
        let mut root = self.doc.as_object().unwrap().clone();
        root.insert("$ref".into(), json!("#/x-target"));
        root.insert("x-target".into(), schema);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&Value::Object(root))
            .unwrap();
        validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect()
    }
}

#[tokio::test]
async fn pinterest_responses_validate_against_the_openapi_schemas() {
    let Some(dir) = specs_dir() else { return };
    let spec = Pinterest::load(&dir);
    // The check bites: a wrong shape is reported.
    assert!(
        !spec
            .check(
                "get",
                "/businesses/{business_id}/members",
                200,
                &json!({ "items": [{ "id": 5 }], "bookmark": 1 })
            )
            .is_empty()
    );
    assert!(
        !spec
            .check(
                "get",
                "/businesses/{business_id}/members",
                401,
                &json!({ "message": "x" })
            )
            .is_empty()
    );
    let emu = emulator().await;
    let http = reqwest::Client::new();
    let base = emu.base_url();
    let token = sc::PINTEREST_AUTOMATION_TOKEN;
    let biz = sc::PINTEREST_BRAND;
    let state: Value = http
        .get(format!("{base}/_emulator/pinterest/businesses/{biz}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let member = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "liam.smith@acme.example.com")
        .unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let removable = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "victoria.mitchell@acme.example.com")
        .unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ad = state["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "AD_ACCOUNT")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let partner = state["partners"]["internal"][0]["business_id"]
        .as_str()
        .unwrap()
        .to_string();
    let invite = state["invites"][0]["id"].as_str().unwrap().to_string();

    // (method, spec path, request path, body, expected status)
    let calls: Vec<(&str, &str, String, Option<Value>, u16)> = vec![
        ("get", "/user_account", "/user_account".into(), None, 200),
        (
            "get",
            "/user_account/businesses",
            "/user_account/businesses".into(),
            None,
            200,
        ),
        (
            "get",
            "/businesses/employers",
            "/businesses/employers".into(),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/members",
            format!("/businesses/{biz}/members?assets_summary=true&page_size=5"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/members",
            format!("/businesses/{biz}/members?fetch_system_users=true"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/members",
            format!("/businesses/{biz}/members?page_size=0"),
            None,
            400,
        ),
        (
            "get",
            "/businesses/{business_id}/members",
            format!("/businesses/{biz}/members?business_roles=OWNER"),
            None,
            400,
        ),
        (
            "patch",
            "/businesses/{business_id}/members",
            format!("/businesses/{biz}/members"),
            Some(json!([{ "member_id": member, "business_role": "BIZ_ADMIN" }])),
            200,
        ),
        (
            "patch",
            "/businesses/{business_id}/members",
            format!("/businesses/{biz}/members"),
            Some(json!([{ "member_id": member, "business_role": "KING" }])),
            400,
        ),
        (
            "get",
            "/businesses/{business_id}/members/{member_id}/assets",
            format!("/businesses/{biz}/members/{member}/assets?asset_type=AD_ACCOUNT"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/members/{member_id}/assets",
            format!("/businesses/{biz}/members/1/assets"),
            None,
            404,
        ),
        (
            "patch",
            "/businesses/{business_id}/members/assets/access",
            format!("/businesses/{biz}/members/assets/access"),
            Some(
                json!({ "accesses": [{ "member_id": member, "asset_id": ad, "permissions": ["ANALYST"] }] }),
            ),
            200,
        ),
        (
            "delete",
            "/businesses/{business_id}/members/assets/access",
            format!("/businesses/{biz}/members/assets/access"),
            Some(json!({ "accesses": [{ "member_id": member, "asset_id": ad }] })),
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/partners",
            format!("/businesses/{biz}/partners?partner_type=INTERNAL&assets_summary=true"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/partners",
            format!("/businesses/{biz}/partners?partner_type=EXTERNAL"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/partners/{partner_id}/assets",
            format!("/businesses/{biz}/partners/{partner}/assets?partner_type=INTERNAL"),
            None,
            200,
        ),
        (
            "patch",
            "/businesses/{business_id}/partners/assets",
            format!("/businesses/{biz}/partners/assets"),
            Some(
                json!({ "accesses": [{ "partner_id": partner, "asset_id": ad, "permissions": ["ANALYST"] }] }),
            ),
            200,
        ),
        (
            "delete",
            "/businesses/{business_id}/partners/assets",
            format!("/businesses/{biz}/partners/assets"),
            Some(
                json!({ "accesses": [{ "partner_id": partner, "asset_id": ad, "partner_type": "INTERNAL" }] }),
            ),
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/assets",
            format!("/businesses/{biz}/assets?asset_type=CATALOG"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/assets",
            format!("/businesses/{biz}/assets"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/assets/{asset_id}/members",
            format!("/businesses/{biz}/assets/{ad}/members"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/assets/{asset_id}/partners",
            format!("/businesses/{biz}/assets/{ad}/partners"),
            None,
            200,
        ),
        (
            "get",
            "/businesses/{business_id}/invites",
            format!("/businesses/{biz}/invites"),
            None,
            200,
        ),
        (
            "post",
            "/businesses/{business_id}/invites",
            format!("/businesses/{biz}/invites"),
            Some(
                json!({ "business_role": "EMPLOYEE", "invite_type": "MEMBER_INVITE", "members": ["someone@acme.example.com", "ava.johnson@acme.example.com"] }),
            ),
            200,
        ),
        (
            "post",
            "/businesses/{business_id}/invites/assets/access",
            format!("/businesses/{biz}/invites/assets/access"),
            Some(
                json!({ "invites": [{ "invite_id": invite, "invite_type": "MEMBER_INVITE", "asset_id_to_permissions": { ad.clone(): ["ANALYST"] } }] }),
            ),
            200,
        ),
        (
            "delete",
            "/businesses/{business_id}/invites",
            format!("/businesses/{biz}/invites"),
            Some(json!({ "invite_ids": [invite, "1"] })),
            200,
        ),
        (
            "delete",
            "/businesses/{business_id}/members",
            format!("/businesses/{biz}/members"),
            Some(json!({ "members": [{ "member_id": removable, "business_role": "EMPLOYEE" }] })),
            200,
        ),
        (
            "delete",
            "/businesses/{business_id}/partners",
            format!("/businesses/{biz}/partners"),
            Some(json!({ "partner_ids": ["999"], "partner_type": "INTERNAL" })),
            404,
        ),
        (
            "delete",
            "/businesses/{business_id}/partners",
            format!("/businesses/{biz}/partners"),
            Some(json!({ "partner_ids": [partner], "partner_type": "INTERNAL" })),
            200,
        ),
        (
            "get",
            "/ad_accounts",
            "/ad_accounts?page_size=2".into(),
            None,
            200,
        ),
        (
            "get",
            "/ad_accounts/{ad_account_id}/conversion_tags",
            format!("/ad_accounts/{ad}/conversion_tags"),
            None,
            200,
        ),
        (
            "get",
            "/ad_accounts/{ad_account_id}/conversion_tags",
            "/ad_accounts/1/conversion_tags".into(),
            None,
            404,
        ),
    ];
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for (method, spec_path, path, body, expected) in &calls {
        let mut req = http
            .request(
                method.to_uppercase().parse().unwrap(),
                format!("{base}/v5{path}"),
            )
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let value: Value = resp.json().await.unwrap();
        if status != *expected {
            failures.push(format!(
                "{method} {path}: expected {expected}, got {status}: {value}"
            ));
            continue;
        }
        covered.insert((*method, *spec_path, status < 300));
        for e in spec.check(method, spec_path, status, &value) {
            failures.push(format!("{method} {path} ({status}): {e}"));
        }
    }
    // Errors common to every route: no token (401), wrong scope (403), throttled (429).
    let bad = http
        .get(format!("{base}/v5/businesses/{biz}/members"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    failures.extend(spec.check(
        "get",
        "/businesses/{business_id}/members",
        401,
        &bad.json().await.unwrap(),
    ));
    let r = http
        .get(format!("{base}/v5/user_account"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    failures.extend(spec.check("get", "/user_account", 401, &r.json().await.unwrap()));
    // Every operation the emulator serves was answered with success and checked.
    for (method, path) in castellan_emulators::pinterest::OPERATIONS {
        if !covered.contains(&(*method, *path, true)) {
            failures.push(format!("{method} {path}: no successful call checked"));
        }
    }
    assert!(
        failures.is_empty(),
        "Pinterest responses that do not fit the spec:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn pinterest_oauth_token_responses_validate() {
    let Some(dir) = specs_dir() else { return };
    let spec = Pinterest::load(&dir);
    let emu = emulator().await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v5/oauth/token", emu.base_url()))
        .basic_auth(sc::PINTEREST_CLIENT_ID, Some(sc::PINTEREST_CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "pinr_demo_automation_refresh"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        spec.check("post", "/oauth/token", 200, &v),
        Vec::<String>::new()
    );
    let r = http
        .post(format!("{}/v5/oauth/token", emu.base_url()))
        .basic_auth("x", Some("y"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        spec.check("post", "/oauth/token", 401, &r.json().await.unwrap()),
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------- TikTok

struct TikTokOp {
    method: String,
    path: String,
    /// Parameter (or body field) name → (required, valid enum values when it is an enum).
    params: Map<String, Value>,
    /// The response rule (field tree) when the spec gives one.
    response_rule: Option<Value>,
}

fn load_tiktok(dir: &std::path::Path) -> Vec<TikTokOp> {
    let mut ops = Vec::new();
    for entry in std::fs::read_dir(dir.join("tiktok/yml_files")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yml") {
            continue;
        }
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (p, item) in doc["paths"].as_object().unwrap() {
            for (m, op) in item.as_object().unwrap() {
                let mut params = Map::new();
                let enum_of = |schema: &Value| -> Value {
                    schema["x-open-enum"]["enums"]
                        .as_array()
                        .map(|e| {
                            json!(
                                e.iter()
                                    .filter(|x| x["is_valid"] == true)
                                    .map(|x| x["key"].clone())
                                    .collect::<Vec<_>>()
                            )
                        })
                        .unwrap_or(Value::Null)
                };
                for param in op["parameters"].as_array().cloned().unwrap_or_default() {
                    let name = param["name"].as_str().unwrap().to_string();
                    if name == "Access-Token" {
                        continue;
                    }
                    let schema = if param["schema"].is_object() {
                        param["schema"].clone()
                    } else {
                        param["content"]["application/json"]["schema"].clone()
                    };
                    let mut fields = Map::new();
                    if let Some(props) = schema["properties"].as_object() {
                        for (k, v) in props {
                            fields.insert(k.clone(), enum_of(v));
                        }
                    }
                    params.insert(name, json!({ "required": param["required"] == true, "enum": enum_of(&schema), "fields": fields }));
                }
                if let Some(schema) =
                    op["requestBody"]["content"]["application/json"]["schema"].as_object()
                {
                    let required: Vec<Value> = schema
                        .get("required")
                        .and_then(|r| r.as_array())
                        .cloned()
                        .unwrap_or_default();
                    for (k, v) in schema
                        .get("properties")
                        .and_then(|p| p.as_object())
                        .cloned()
                        .unwrap_or_default()
                    {
                        params.insert(k.clone(), json!({ "required": required.contains(&json!(k)), "enum": enum_of(&v), "fields": {} }));
                    }
                }
                let rule = op["x-open-rules"]["response_rule"].clone();
                ops.push(TikTokOp {
                    method: m.to_uppercase(),
                    path: p.clone(),
                    params,
                    response_rule: (!rule.is_null()).then_some(rule),
                });
            }
        }
    }
    ops
}

/// Fields `bc/get/` leaves out when they have no value (it drops nulls), and that the emulated
/// data leaves empty: a Business Center's `organization_type` and its caller's `finance_role`.
const MAY_BE_NULL: &[&str] = &["organization_type", "finance_role"];

/// Checks `data` against a response rule: the same field names, no more and no fewer.
fn check_rule(rule: &Value, data: &Value, at: &str, errors: &mut Vec<String>) {
    let (Some(rule), Some(obj)) = (rule.as_object(), data.as_object()) else {
        errors.push(format!("{at}: expected an object, got {data}"));
        return;
    };
    let names: BTreeSet<String> = rule
        .keys()
        .map(|k| k.trim_end_matches("[]").to_string())
        .collect();
    for k in obj.keys() {
        if !names.contains(k) {
            errors.push(format!("{at}.{k}: not in the spec's response fields"));
        }
    }
    for (k, sub) in rule {
        let name = k.trim_end_matches("[]");
        let Some(v) = obj.get(name) else {
            // parent_bc is for tiered Business Centers only; TikTok drops null fields, and
            // these are null where the emulated data has no value for them.
            if name != "parent_bc" && !MAY_BE_NULL.contains(&name) {
                errors.push(format!("{at}.{name}: missing"));
            }
            continue;
        };
        let inner = match sub {
            Value::Array(a) => a.first().cloned(),
            Value::Object(_) => Some(sub.clone()),
            _ => None,
        };
        let Some(inner) = inner else { continue };
        if k.ends_with("[][]") {
            for (i, item) in v.as_array().cloned().unwrap_or_default().iter().enumerate() {
                check_rule(&inner, item, &format!("{at}.{name}[{i}]"), errors);
            }
        } else if !v.is_null() {
            check_rule(&inner, v, &format!("{at}.{name}"), errors);
        }
    }
}

#[tokio::test]
async fn tiktok_parameters_enums_and_response_fields_match_the_yml_files() {
    let Some(dir) = specs_dir() else { return };
    let ops = load_tiktok(&dir);
    // The check bites: an invented or missing field is reported.
    let rule = &ops
        .iter()
        .find(|o| o.path == "/bc/member/get/")
        .unwrap()
        .response_rule
        .clone()
        .unwrap();
    let mut errs = Vec::new();
    check_rule(
        rule,
        &json!({ "list": [{ "user_id": "1", "nickname": "x" }], "page_info": {} }),
        "probe",
        &mut errs,
    );
    assert!(
        errs.iter().any(|e| e.contains("nickname"))
            && errs.iter().any(|e| e.contains("user_email: missing")),
        "{errs:?}"
    );
    let emu = emulator().await;
    let http = reqwest::Client::new();
    let base = emu.tiktok_url();
    let bc = sc::TIKTOK_BRAND.to_string();
    let state: Value = http
        .get(format!("{}/_emulator/tiktok/bcs/{bc}", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let advertiser = state["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "ADVERTISER")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let member = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "liam.smith@acme.example.com")
        .unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let partner = state["partners"][0]["bc_id"].as_str().unwrap().to_string();

    // A valid request for each served endpoint.
    let valid: Vec<(&str, Value)> = vec![
        ("/bc/get/", json!({})),
        ("/bc/member/get/", json!({ "bc_id": bc, "page_size": 50 })),
        (
            "/bc/member/invite/",
            json!({ "bc_id": bc, "emails": ["x1@acme.example.com"], "user_role": "STANDARD" }),
        ),
        (
            "/bc/member/update/",
            json!({ "bc_id": bc, "user_id": member, "user_role": "STANDARD" }),
        ),
        (
            "/bc/member/delete/",
            json!({ "bc_id": bc, "user_email": "x1@acme.example.com" }),
        ),
        ("/bc/partner/get/", json!({ "bc_id": bc })),
        (
            "/bc/partner/add/",
            json!({ "bc_id": bc, "partner_id": partner, "asset_type": "ADVERTISER", "asset_ids": [advertiser], "advertiser_role": "ANALYST" }),
        ),
        (
            "/bc/partner/asset/get/",
            json!({ "bc_id": bc, "partner_id": partner, "asset_type": "ADVERTISER", "share_type": "SHARING" }),
        ),
        (
            "/bc/asset/get/",
            json!({ "bc_id": bc, "asset_type": "ADVERTISER", "filtering": { "user_id": member } }),
        ),
        (
            "/bc/asset/admin/get/",
            json!({ "bc_id": bc, "asset_type": "ADVERTISER" }),
        ),
        (
            "/bc/asset/member/get/",
            json!({ "bc_id": bc, "asset_id": advertiser, "asset_type": "ADVERTISER", "page_size": 20 }),
        ),
        (
            "/bc/asset/partner/get/",
            json!({ "bc_id": bc, "asset_id": advertiser, "asset_type": "ADVERTISER" }),
        ),
        (
            "/bc/asset/assign/",
            json!({ "bc_id": bc, "user_id": member, "asset_id": advertiser, "asset_type": "ADVERTISER", "advertiser_role": "OPERATOR" }),
        ),
        (
            "/bc/asset/unassign/",
            json!({ "bc_id": bc, "user_id": member, "asset_id": advertiser, "asset_type": "ADVERTISER" }),
        ),
        (
            "/advertiser/info/",
            json!({ "advertiser_ids": [advertiser] }),
        ),
        (
            "/pixel/list/",
            json!({ "advertiser_id": advertiser, "page_size": 20 }),
        ),
        (
            "/bc/partner/asset/delete/",
            json!({ "bc_id": bc, "partner_id": partner, "asset_type": "ADVERTISER", "asset_ids": [advertiser] }),
        ),
        (
            "/bc/partner/delete/",
            json!({ "bc_id": bc, "partner_id": partner }),
        ),
    ];
    let send = |path: &str, method: &str, params: &Value| {
        let url = format!("{base}{path}");
        let req = if method == "GET" {
            let q: Vec<(String, String)> = params
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                    )
                })
                .collect();
            http.get(url).query(&q)
        } else {
            http.post(url).json(params)
        };
        req.header("Access-Token", sc::TIKTOK_AUTOMATION_TOKEN)
            .send()
    };
    let mut failures = Vec::new();
    for (path, params) in &valid {
        let op = ops
            .iter()
            .find(|o| o.path == *path)
            .unwrap_or_else(|| panic!("{path} has no yml file"));
        // Every parameter we send is one the spec defines.
        for k in params.as_object().unwrap().keys() {
            if !op.params.contains_key(k) {
                failures.push(format!("{path}: parameter {k} is not in the spec"));
            }
        }
        let v: Value = send(path, &op.method, params)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for key in ["code", "message", "request_id", "data"] {
            if v.get(key).is_none() {
                failures.push(format!("{path}: envelope lacks {key}"));
            }
        }
        if v["code"] != 0 {
            failures.push(format!("{path}: valid request answered {v}"));
            continue;
        }
        if let Some(rule) = &op.response_rule {
            check_rule(rule, &v["data"], path, &mut failures);
        }
        // Each required parameter, when missing, is refused naming it.
        for (name, meta) in &op.params {
            if meta["required"] == true && params.get(name).is_some() {
                let mut without = params.clone();
                without.as_object_mut().unwrap().remove(name);
                let r: Value = send(path, &op.method, &without)
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if r["code"] == 0 || !r["message"].as_str().unwrap_or("").contains(name.as_str()) {
                    failures.push(format!("{path}: missing required {name} answered {r}"));
                }
            }
            // An enum accepts none but its valid keys: an invalid value is refused naming it.
            if meta["enum"].is_array() && params.get(name).is_some() {
                let mut wrong = params.clone();
                wrong[name] = json!("NOT_A_VALUE");
                let r: Value = send(path, &op.method, &wrong)
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if r["code"] != 40002
                    || !r["message"].as_str().unwrap_or("").contains(name.as_str())
                {
                    failures.push(format!("{path}: invalid enum {name} answered {r}"));
                }
            }
        }
        // An unknown parameter is refused.
        let mut extra = params.clone();
        extra["colour"] = json!("red");
        let r: Value = send(path, &op.method, &extra)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["code"] != 40002 {
            failures.push(format!("{path}: unknown parameter answered {r}"));
        }
    }
    // Enum values the spec marks valid are the ones accepted for the main enums.
    let bc_member = ops.iter().find(|o| o.path == "/bc/member/get/").unwrap();
    let statuses = bc_member.params["filtering"]["fields"]["relation_status"]
        .as_array()
        .unwrap()
        .clone();
    for s in statuses {
        let r: Value = send(
            "/bc/member/get/",
            "GET",
            &json!({ "bc_id": bc, "filtering": { "relation_status": s } }),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if r["code"] != 0 {
            failures.push(format!(
                "/bc/member/get/: valid relation_status {s} refused: {r}"
            ));
        }
    }
    // Token errors.
    let r: Value = http
        .get(format!("{base}/bc/get/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 40104);
    assert!(
        failures.is_empty(),
        "TikTok emulator vs spec:\n{}",
        failures.join("\n")
    );
}

/// Our ad account shared with the agency Brightwave (the demo's partner), from the control
/// API of `platform`.
async fn shared_with_brightwave(emu: &castellan_emulators::Running, platform: &str) -> String {
    let (path, key, id_key, list) = if platform == "pinterest" {
        (
            format!("/_emulator/pinterest/businesses/{}", sc::PINTEREST_BRAND),
            "business_id",
            (sc::PINTEREST_BRAND + 1).to_string(),
            "internal",
        )
    } else {
        (
            format!("/_emulator/tiktok/bcs/{}", sc::TIKTOK_BRAND),
            "bc_id",
            (sc::TIKTOK_BRAND + 1).to_string(),
            "",
        )
    };
    let state: Value = reqwest::get(format!("{}{path}", emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let partners = if list.is_empty() {
        state["partners"].clone()
    } else {
        state["partners"][list].clone()
    };
    let p = partners
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[key] == id_key.as_str())
        .unwrap_or_else(|| panic!("no Brightwave in {state}"))
        .clone();
    let shared = if platform == "pinterest" {
        &p["assets"]
    } else {
        &p["sharing"]
    };
    shared[0]["asset_id"].as_str().unwrap().to_string()
}

/// The partner side, as a connected partner is read: the monitor account's token (the
/// partner's admin) on the partner's business, and the members of our asset shared with it.
/// Every answer validates against the official schemas; the negative control shows a
/// mangled answer does not.
#[tokio::test]
async fn pinterest_partner_side_responses_validate_against_the_openapi_schemas() {
    let Some(dir) = specs_dir() else { return };
    let spec = Pinterest::load(&dir);
    let emu = emulator().await;
    let http = reqwest::Client::new();
    let agency = sc::PINTEREST_BRAND + 1;
    let asset = shared_with_brightwave(&emu, "pinterest").await;
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", emu.pinterest_url());
        async move {
            let r = http
                .get(url)
                .bearer_auth(sc::PINTEREST_MONITOR_TOKEN)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let mut failures = Vec::new();
    let calls = [
        ("/user_account", "/user_account".to_string(), 200),
        (
            "/businesses/employers",
            "/businesses/employers?page_size=250".to_string(),
            200,
        ),
        (
            "/businesses/{business_id}/assets/{asset_id}/members",
            format!("/businesses/{agency}/assets/{asset}/members?page_size=250"),
            200,
        ),
        // The monitor account is nobody in our own business.
        (
            "/businesses/{business_id}/members",
            format!("/businesses/{}/members", sc::PINTEREST_BRAND),
            403,
        ),
    ];
    let mut members = Value::Null;
    for (spec_path, path, want) in calls {
        let (status, body) = get(path.clone()).await;
        if status != want {
            failures.push(format!("{path}: {status} (wanted {want}): {body}"));
            continue;
        }
        for e in spec.check("get", spec_path, status, &body) {
            failures.push(format!("{path}: {e}"));
        }
        if spec_path.ends_with("/members") && status == 200 {
            members = body;
        }
    }
    let items = members["items"].as_array().cloned().unwrap_or_default();
    assert!(
        items
            .iter()
            .any(|m| m["user"]["email"] == "lead@brightwave.example.net"),
        "{members}"
    );
    // Negative control: permissions as a bare string are caught.
    let mut mangled = members.clone();
    mangled["items"][0]["permissions"] = json!("CAMPAIGN_MANAGER");
    assert!(
        !spec
            .check(
                "get",
                "/businesses/{business_id}/assets/{asset_id}/members",
                200,
                &mangled
            )
            .is_empty(),
        "the check must catch a mangled partner-side answer"
    );
    assert!(
        failures.is_empty(),
        "Pinterest partner side vs spec:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn tiktok_partner_side_responses_match_the_yml_files() {
    let Some(dir) = specs_dir() else { return };
    let ops = load_tiktok(&dir);
    let emu = emulator().await;
    let http = reqwest::Client::new();
    let agency = (sc::TIKTOK_BRAND + 1).to_string();
    let asset = shared_with_brightwave(&emu, "tiktok").await;
    let mut failures = Vec::new();
    let mut rows = Value::Null;
    for (path, params) in [
        ("/bc/get/", vec![]),
        (
            "/bc/asset/member/get/",
            vec![
                ("bc_id", agency.clone()),
                ("asset_id", asset.clone()),
                ("asset_type", "ADVERTISER".to_string()),
                ("page_size", "20".to_string()),
            ],
        ),
    ] {
        let op = ops.iter().find(|o| o.path == path).unwrap();
        for (k, _) in &params {
            if !op.params.contains_key(*k) {
                failures.push(format!("{path}: parameter {k} is not in the spec"));
            }
        }
        let v: Value = http
            .get(format!("{}{path}", emu.tiktok_url()))
            .query(&params)
            .header("Access-Token", sc::TIKTOK_MONITOR_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["code"] != 0 {
            failures.push(format!("{path}: the monitor's request answered {v}"));
            continue;
        }
        if let Some(rule) = &op.response_rule {
            check_rule(rule, &v["data"], path, &mut failures);
        }
        if path == "/bc/asset/member/get/" {
            rows = v["data"].clone();
        }
    }
    assert!(
        rows["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_email"] == "lead@brightwave.example.net"),
        "{rows}"
    );
    // The monitor token reads nothing of our own Business Center.
    let v: Value = http
        .get(format!("{}/bc/member/get/", emu.tiktok_url()))
        .query(&[("bc_id", sc::TIKTOK_BRAND.to_string())])
        .header("Access-Token", sc::TIKTOK_MONITOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(v["code"], 0, "{v}");
    // The rows carry what the digest lists and the connector reads (the yml names only `list`
    // and `page_info`).
    for m in rows["list"].as_array().unwrap() {
        for k in ["user_id", "user_name", "user_email", "advertiser_role"] {
            if m.get(k).is_none() {
                failures.push(format!("/bc/asset/member/get/: a row lacks {k}: {m}"));
            }
        }
    }
    // Negative control: the list under another name is caught.
    let rule = ops
        .iter()
        .find(|o| o.path == "/bc/asset/member/get/")
        .unwrap()
        .response_rule
        .clone()
        .unwrap();
    let mut mangled = rows.clone();
    let list = mangled.as_object_mut().unwrap().remove("list").unwrap();
    mangled["members"] = list;
    let mut errs = Vec::new();
    check_rule(&rule, &mangled, "negative control", &mut errs);
    assert!(
        errs.iter().any(|e| e.contains("members")) && errs.iter().any(|e| e.contains("list")),
        "the check must catch a mangled partner-side answer: {errs:?}"
    );
    assert!(
        failures.is_empty(),
        "TikTok partner side vs spec:\n{}",
        failures.join("\n")
    );
}
