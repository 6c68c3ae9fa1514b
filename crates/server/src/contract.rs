//! The API contract's shared parts: the error responses every operation can give (added to
//! the OpenAPI document in one place instead of repeated in each annotation), and the rule for
//! query parameters the document does not name, enforced for every route alike: refused with
//! 400 naming the parameter.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, Ref, RefOr, ResponseBuilder};

use crate::error::ApiError;

/// Said in the document's description, and enforced by [`reject_unknown_query`].
pub const UNKNOWN_QUERY_RULE: &str = "A query parameter an operation does not list is refused with 400 (`invalid`, naming the parameter), on every operation but the OAuth callback, which takes whatever the platforms add.";

/// The consent pages send the browser back here with parameters of the platform's choosing.
const OAUTH_CALLBACK: &str = "/api/v1/oauth/callback";

/// Routes that need no authentication.
const PUBLIC: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/guest-links/accept",
    OAUTH_CALLBACK,
];

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn ensure(op: &mut Operation, code: &str, description: &str) {
    op.responses
        .responses
        .entry(code.to_string())
        .or_insert_with(|| error_response(description));
}

/// Adds the error responses each operation can give, by what it takes: 400 for every one
/// (bad or unknown query parameters, bad bodies), 401 and 403 unless it is public, 404 when
/// its path names something, 413 and 415 when it takes a body, and 503 when the database is
/// unreachable.
pub fn complete(doc: &mut OpenApi) {
    change_request_per_action(doc);
    share_request_one_target(doc);
    rotation_and_generator(doc);
    doc.info.description = Some(format!(
        "{} {UNKNOWN_QUERY_RULE}",
        doc.info.description.clone().unwrap_or_default()
    ));
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = PUBLIC.contains(&path.as_str());
        let ops = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in ops.into_iter().flatten() {
            ensure(
                op,
                "400",
                "bad input: the error names the field or parameter",
            );
            if !public {
                ensure(
                    op,
                    "401",
                    "not signed in, or the token is unknown or expired",
                );
                ensure(
                    op,
                    "403",
                    "the caller's role or token scope does not allow this, or the CSRF check failed",
                );
            }
            if path.contains('{') {
                ensure(op, "404", "not found (or in another workspace)");
            }
            if op.request_body.is_some() {
                ensure(op, "413", "the body is larger than the limit");
                ensure(
                    op,
                    "415",
                    "the body is not of the content type the operation takes",
                );
            }
            ensure(op, "503", "the database is unavailable");
        }
    }
}

/// The query parameters each route (method and path template) takes, from the document.
#[derive(Debug, Default)]
pub struct QueryRules(HashMap<(String, String), HashSet<String>>);

impl QueryRules {
    pub fn from_doc(doc: &OpenApi) -> Arc<Self> {
        let mut map = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                ("GET", item.get.as_ref()),
                ("PUT", item.put.as_ref()),
                ("POST", item.post.as_ref()),
                ("DELETE", item.delete.as_ref()),
                ("PATCH", item.patch.as_ref()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let names = op
                    .parameters
                    .iter()
                    .flatten()
                    .filter(|p| matches!(p.parameter_in, ParameterIn::Query))
                    .map(|p| p.name.clone())
                    .collect();
                map.insert((method.to_string(), path.clone()), names);
            }
        }
        Arc::new(Self(map))
    }
}

/// Refuses a request to a documented route whose query names a parameter the route does not
/// take. The OAuth callback is exempt: the platforms add parameters of their own to it.
pub async fn reject_unknown_query(
    State(rules): State<Arc<QueryRules>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        return next.run(req).await;
    };
    if path == OAUTH_CALLBACK {
        return next.run(req).await;
    }
    if let (Some(allowed), Some(query)) = (
        rules.0.get(&(req.method().as_str().to_string(), path)),
        req.uri().query(),
    ) {
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            if !allowed.contains(name.as_ref()) {
                return ApiError::invalid(
                    name.as_ref(),
                    format!("{name} is not a query parameter of this operation"),
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// `ChangeRequest` as the server reads it: one shape per `action`, each with exactly the
/// fields that action takes (the handler refuses the others), instead of the flat struct's
/// all-optional fields.
fn change_request_per_action(doc: &mut OpenApi) {
    use serde_json::json;
    let common = json!({
        "dry_run": { "type": "boolean", "description": "Only plan: return the steps and their platform calls, change nothing." },
        "plan_hash": { "type": ["string", "null"], "description": "The `input_hash` of a preview: the change is refused if the data changed since." },
        "confirm_large_removal": { "type": "boolean", "description": "Needed when the change removes more than the workspace's share of seats (20%)." }
    });
    let seat = json!({ "type": "string", "description": "The seat (its platform user id)." });
    let role = json!({ "type": "string", "enum": castellan_domain::roles::ALL_ROLES,
        "description": "Business role as the platform names it: Pinterest `BIZ_ADMIN`/`EMPLOYEE`, TikTok `ADMIN`/`STANDARD` (the other platform's role is refused with 409)." });
    let email = serde_json::to_value(crate::api::schema::email()).expect("a schema serialises");
    let variant = |action: &str, required: &[&str], fields: serde_json::Value| {
        let mut props = common.clone();
        props["action"] = json!({ "type": "string", "enum": [action] });
        for (k, v) in fields.as_object().expect("an object") {
            props[k] = v.clone();
        }
        let mut req = vec!["action"];
        req.extend_from_slice(required);
        json!({ "type": "object", "title": action, "required": req, "properties": props, "additionalProperties": false })
    };
    let schema = json!({
        "description": "A change to push to the platform: one shape per `action`.",
        "oneOf": [
            variant("remove", &["seats"], json!({ "seats": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "Seats to remove: at least one." } })),
            variant("set_role", &["seat", "role"], json!({ "seat": seat, "role": role })),
            variant("set_permissions", &["seat", "asset_id", "permissions"], json!({
                "seat": seat, "asset_id": { "type": "string", "description": "The asset." },
                "permissions": { "type": "array", "items": { "type": "string" }, "description": "The permissions to hold on it; none removes them." } })),
            variant("invite", &["email", "role"], json!({
                "email": email, "role": role,
                "assets": { "type": ["array", "null"], "items": { "$ref": "#/components/schemas/AssetPermissionsBody" }, "description": "Asset permissions the invitation carries." } })),
            variant("cancel_invite", &["seat"], json!({ "seat": seat })),
        ],
        "discriminator": { "propertyName": "action" }
    });
    let schema: RefOr<utoipa::openapi::schema::Schema> =
        serde_json::from_value(schema).expect("the ChangeRequest schema is valid");
    if let Some(c) = doc.components.as_mut() {
        c.schemas.insert("ChangeRequest".into(), schema);
    }
}

/// `ShareRequest`: exactly one of `person_id` and `group_id` (the other absent or null), as
/// the handler requires.
fn share_request_one_target(doc: &mut OpenApi) {
    use serde_json::json;
    let uuid = serde_json::to_value(crate::api::schema::uuid()).expect("a schema serialises");
    let role = json!({ "type": "string", "enum": ["owner", "collaborator"], "description": "Owner (shares, manages) or Collaborator (only logs in); a guest user can only be a Collaborator." });
    let variant = |to: &str, other: &str| {
        json!({
            "type": "object",
            "title": to,
            "required": [to, "role"],
            "properties": { to: uuid, other: { "type": "null" }, "role": role },
            "additionalProperties": false
        })
    };
    let schema = json!({
        "description": "Whom to share with: a person of the workspace or a directory group, and the role.",
        "oneOf": [variant("person_id", "group_id"), variant("group_id", "person_id")]
    });
    let schema: RefOr<utoipa::openapi::schema::Schema> =
        serde_json::from_value(schema).expect("the ShareRequest schema is valid");
    if let Some(c) = doc.components.as_mut() {
        c.schemas.insert("ShareRequest".into(), schema);
    }
}

/// `RotationRequest`: `days` required unless the policy is `off`; `GeneratePasswordRequest`:
/// not every kind of character turned off. As the handlers refuse them.
fn rotation_and_generator(doc: &mut OpenApi) {
    use serde_json::json;
    let days =
        json!({ "type": "integer", "minimum": 1, "maximum": 3650, "description": "1 to 3650" });
    let rotation = json!({
        "description": "A password rotation policy: `after_reveal` (days after the last reveal) or `schedule` (every `days`) with `days`, or `off`.",
        "oneOf": [
            { "type": "object", "title": "on", "required": ["policy", "days"], "additionalProperties": false,
              "properties": { "policy": { "type": "string", "enum": ["after_reveal", "schedule"] }, "days": days } },
            { "type": "object", "title": "off", "required": ["policy"], "additionalProperties": false,
              "properties": { "policy": { "type": "string", "enum": ["off"] }, "days": { "type": ["integer", "null"], "minimum": 1, "maximum": 3650 } } }
        ]
    });
    let generator = json!({
        "type": "object",
        "description": "Length (default 24) and the kinds of characters (default all of them).",
        "additionalProperties": false,
        "properties": {
            "length": { "type": ["integer", "null"], "minimum": 12, "maximum": 128 },
            "kinds": { "type": ["array", "null"], "minItems": 1, "uniqueItems": true,
                "items": { "type": "string", "enum": ["lower", "upper", "digits", "symbols"] } }
        }
    });
    for (name, schema) in [
        ("RotationRequest", rotation),
        ("GeneratePasswordRequest", generator),
    ] {
        let schema: RefOr<utoipa::openapi::schema::Schema> =
            serde_json::from_value(schema).expect("the schema is valid");
        if let Some(c) = doc.components.as_mut() {
            c.schemas.insert(name.into(), schema);
        }
    }
}
