//! The served OpenAPI document against the handlers: every reference resolves, and for every
//! GET operation, each integer query parameter's bounds and each enumerated query
//! parameter's values are exactly what the handler accepts (inside: not refused as bad input;
//! outside: refused with 400 naming the parameter). Unknown parameters are refused too.

use castellan_domain::auth::ApiScope;
use castellan_testkit::{TestApp, cli};
use serde_json::Value;

/// A parameter's schema, with `$ref`s to component schemas followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.extend(x.as_str().map(str::to_string));
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn query_parameters_are_validated_as_documented() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let token = app.token(ws, owner, ApiScope::Admin).await;
    let doc: Value = app
        .get(&token, "/api/v1/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let mut all = Vec::new();
    refs(&doc, &mut all);
    let missing: Vec<&String> = all
        .iter()
        .filter(|r| resolve(&doc, &serde_json::json!({ "$ref": r })).is_null())
        .collect();
    assert!(missing.is_empty(), "unresolvable references: {missing:?}");

    // An app to put in `{id}` paths (the User Overview and the assets are per app).
    let scoped = app.store.ws(ws);
    let (account, _) = scoped
        .create_automation_account(
            &cli(),
            &castellan_store::NewAutomationAccount {
                platform: castellan_domain::apps::Platform::Pinterest,
                label: "bot".into(),
                email: "bot@acme.example.com".into(),
                phone: None,
                token_scopes: None,
                token_expires_at: None,
                secrets: Vec::new(),
            },
        )
        .await
        .unwrap();
    let created = scoped
        .create_app(
            &cli(),
            &castellan_store::NewApp {
                platform: castellan_domain::apps::Platform::Pinterest,
                label: "app".into(),
                business_id: "1".into(),
                login_method: castellan_domain::apps::LoginMethod::Sso,
                automation_account_id: account.id,
                api_base_url: None,
                next_check_at: None,
            },
        )
        .await
        .unwrap();

    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        if path.contains('{') && !path.starts_with("/api/v1/apps/{id}")
            || path.matches('{').count() > 1
        {
            continue;
        }
        let url = path.replace("{id}", &created.id.to_string());
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .collect();
        let mut cases: Vec<(String, String, bool)> = Vec::new();
        for p in &params {
            let name = p["name"].as_str().unwrap().to_string();
            let schema = resolve(&doc, &p["schema"]);
            if let (Some(min), Some(max)) = (schema["minimum"].as_i64(), schema["maximum"].as_i64())
            {
                cases.push((name.clone(), min.to_string(), true));
                cases.push((name.clone(), max.to_string(), true));
                cases.push((name.clone(), (min - 1).to_string(), false));
                cases.push((name.clone(), (max + 1).to_string(), false));
            }
            if let Some(values) = schema["enum"].as_array() {
                for v in values {
                    cases.push((name.clone(), v.as_str().unwrap().to_string(), true));
                }
                cases.push((name.clone(), "not-one-of-them".into(), false));
            }
        }
        // The OAuth callback takes what the platforms send (documented as such).
        if path != "/api/v1/oauth/callback" {
            cases.push(("no_such_parameter".into(), "1".into(), false));
        }
        for (name, value, valid) in cases {
            let q = serde_urlencoded::to_string([(name.as_str(), value.as_str())]).unwrap();
            let r = app.get(&token, &format!("{url}?{q}")).send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let refused_for_it = status == 400 && body["error"]["field"] == name.as_str();
            if valid == refused_for_it || (valid && status == 400) {
                wrong.push(format!(
                    "GET {path} {name}={value}: documented {}, got {status} {body}",
                    if valid { "valid" } else { "invalid" }
                ));
            }
            checked.push(format!("{path} {name}={value}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "document and handlers disagree:\n{}",
        wrong.join("\n")
    );
    // A path id that names nothing is not found, and the answer names the path parameter.
    let r = app
        .get(&token, "/api/v1/apps/not-an-id")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (Some("not_found"), Some("id")),
        "{body}"
    );
    // The check covered the list endpoints' limits and the enumerated parameters.
    for must in [
        "/api/v1/apps limit=500",
        "/api/v1/tasks status=in_progress",
        "/api/v1/audit/events outcome=failure",
        "/api/v1/audit/export format=jsonl",
        "/api/v1/apps/{id}/members tab=partner_users",
        "/api/v1/apps/{id}/members tab=guest",
        "/api/v1/apps/{id}/members limit=501",
    ] {
        assert!(checked.iter().any(|c| c == must), "not checked: {must}");
    }
}

/// JSON Schema's `integer` counts `94.0` as the integer 94, so a body field documented as an
/// integer takes a float with no fraction; one with a fraction, or a string, is refused with
/// 400 naming the field (found by Schemathesis: serde's `i64` refused `94.0`).
#[tokio::test]
async fn integer_body_fields_take_whole_floats() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("acme").await;
    let token = app.token(ws, owner, ApiScope::Admin).await;
    let generate = |body: Value| {
        app.post(&token, "/api/v1/passwords/generate")
            .json(&body)
            .send()
    };
    let r = generate(serde_json::json!({ "length": 94.0 }))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["password"].as_str().unwrap().chars().count(), 94);
    for bad in [serde_json::json!(94.5), serde_json::json!("94")] {
        let r = generate(serde_json::json!({ "length": bad }))
            .await
            .unwrap();
        let (status, err) = castellan_testkit::error_of(r).await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert!(err.to_string().contains("length"), "{bad}: {err}");
    }
}
