//! SCIM discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas, saying
//! exactly what this server stores and does — the attributes listed are those a User or Group
//! keeps; anything else sent is accepted and not kept. `/Bulk` is 501.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use castellan_domain::scim::{ENTERPRISE_USER, GROUP, LIST_RESPONSE, MAX_RESULTS, ScimError, USER};
use serde_json::{Value, json};

use super::wire::{Failure, Scim, ScimResult, base, json_response};
use crate::state::AppState;

pub async fn service_provider_config(State(s): State<AppState>, Scim(_): Scim) -> ScimResult {
    let b = base(&s);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/castellan/castellan#scim",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A SCIM token made in Settings → Identity provider",
                "primary": true
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{b}/ServiceProviderConfig")}
        }),
    ))
}

fn resource_types(b: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "The directory's people",
            "schema": USER,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{b}/ResourceTypes/User")}
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "The directory's groups",
            "schema": GROUP,
            "meta": {"resourceType": "ResourceType", "location": format!("{b}/ResourceTypes/Group")}
        }),
    ]
}

fn list_of(items: Vec<Value>) -> Value {
    json!({"schemas": [LIST_RESPONSE], "totalResults": items.len(), "startIndex": 1, "itemsPerPage": items.len(), "Resources": items})
}

pub async fn list_resource_types(State(s): State<AppState>, Scim(_): Scim) -> ScimResult {
    Ok(json_response(
        StatusCode::OK,
        &list_of(resource_types(&base(&s))),
    ))
}

pub async fn resource_type(
    State(s): State<AppState>,
    Scim(_): Scim,
    Path(id): Path<String>,
) -> ScimResult {
    resource_types(&base(&s))
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&id))
        })
        .map(|r| json_response(StatusCode::OK, &r))
        .ok_or_else(|| Failure(ScimError::not_found(format!("no resource type {id}"))))
}

fn attr(
    name: &str,
    kind: &str,
    required: bool,
    mutability: &str,
    uniqueness: &str,
    case_exact: bool,
) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "required": required, "caseExact": case_exact,
        "mutability": mutability, "returned": "default", "uniqueness": uniqueness, "description": name
    })
}

fn sub(name: &str, kind: &str, mutability: &str) -> Value {
    attr(name, kind, false, mutability, "none", false)
}

fn schemas(b: &str) -> Vec<Value> {
    // Required: seats are matched by the work address, so a user without one is refused.
    let mut emails = attr("emails", "complex", true, "readWrite", "none", false);
    emails["multiValued"] = json!(true);
    emails["description"] =
        json!("E-mail addresses; the work (or primary) one is the address seats are matched by");
    let mut address = sub("value", "string", "readWrite");
    address["required"] = json!(true);
    emails["subAttributes"] = json!([
        address,
        {"name": "type", "type": "string", "multiValued": false, "required": false, "caseExact": false,
         "canonicalValues": ["work", "home", "other"], "mutability": "readWrite", "returned": "default", "uniqueness": "none", "description": "type"},
        sub("primary", "boolean", "readWrite"),
    ]);
    let mut name = attr("name", "complex", false, "readWrite", "none", false);
    name["subAttributes"] = json!([
        sub("givenName", "string", "readWrite"),
        sub("familyName", "string", "readWrite"),
    ]);
    let mut groups = attr("groups", "complex", false, "readOnly", "none", false);
    groups["multiValued"] = json!(true);
    groups["subAttributes"] = json!([
        sub("value", "string", "readOnly"),
        {"name": "$ref", "type": "reference", "referenceTypes": ["Group"], "multiValued": false, "required": false,
         "caseExact": true, "mutability": "readOnly", "returned": "default", "uniqueness": "none", "description": "$ref"},
        sub("display", "string", "readOnly"),
        sub("type", "string", "readOnly"),
    ]);
    let mut manager = attr("manager", "complex", false, "readWrite", "none", false);
    manager["subAttributes"] = json!([sub("value", "string", "readWrite")]);
    let mut members = attr("members", "complex", false, "readWrite", "none", false);
    members["multiValued"] = json!(true);
    members["subAttributes"] = json!([
        {"name": "value", "type": "string", "multiValued": false, "required": false, "caseExact": true,
         "mutability": "immutable", "returned": "default", "uniqueness": "none", "description": "a User's id"},
        {"name": "$ref", "type": "reference", "referenceTypes": ["User"], "multiValued": false, "required": false,
         "caseExact": true, "mutability": "immutable", "returned": "default", "uniqueness": "none", "description": "$ref"},
    ]);
    let schema = |id: &str, name: &str, attributes: Vec<Value>| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id, "name": name, "description": name, "attributes": attributes,
            "meta": {"resourceType": "Schema", "location": format!("{b}/Schemas/{id}")}
        })
    };
    vec![
        schema(
            USER,
            "User",
            vec![
                attr("userName", "string", true, "readWrite", "server", false),
                name,
                attr("displayName", "string", false, "readWrite", "none", false),
                emails,
                // Always held (a user created without it is active), so it cannot be removed.
                attr("active", "boolean", true, "readWrite", "none", false),
                attr("externalId", "string", false, "readWrite", "server", true),
                groups,
            ],
        ),
        schema(
            ENTERPRISE_USER,
            "EnterpriseUser",
            vec![
                attr("department", "string", false, "readWrite", "none", false),
                manager,
            ],
        ),
        schema(
            GROUP,
            "Group",
            vec![
                attr("displayName", "string", true, "readWrite", "server", false),
                members,
                attr("externalId", "string", false, "readWrite", "none", true),
            ],
        ),
    ]
}

pub async fn list_schemas(State(s): State<AppState>, Scim(_): Scim) -> ScimResult {
    Ok(json_response(StatusCode::OK, &list_of(schemas(&base(&s)))))
}

pub async fn schema(
    State(s): State<AppState>,
    Scim(_): Scim,
    Path(id): Path<String>,
) -> ScimResult {
    schemas(&base(&s))
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&id))
        })
        .map(|r| json_response(StatusCode::OK, &r))
        .ok_or_else(|| Failure(ScimError::not_found(format!("no schema {id}"))))
}

pub async fn not_implemented(Scim(_): Scim) -> ScimResult {
    Err(Failure(ScimError::not_implemented(
        "bulk operations are not supported",
    )))
}

pub async fn no_route() -> ScimResult {
    Err(Failure(ScimError::not_found(
        "there is no SCIM endpoint at this path",
    )))
}
