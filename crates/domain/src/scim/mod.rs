//! SCIM 2.0 (RFC 7643/7644) rules with no IO: the schema URNs, SCIM errors, filters, PATCH,
//! and how a SCIM User or Group body becomes the directory's identity or group. The HTTP layer
//! lives in `server::scim`, the use cases in `services::scim`.

pub mod filter;
pub mod patch;

use serde_json::Value;

use crate::directory::{FieldNames, IdentityInput, RawIdentity};
use filter::get_ci;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The most resources one list answer holds (advertised as `filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;

/// A SCIM error: its HTTP status, `scimType` and a detail naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidFilter"), detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidSyntax"), detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidPath"), detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some("noTarget"), detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }
    pub fn precondition(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }
}

/// Field names in errors: as SCIM spells the attributes.
const SCIM_FIELDS: FieldNames = FieldNames {
    user_name: "userName",
    primary_email: "emails",
    other_emails: "emails",
    given_name: "name.givenName",
    family_name: "name.familyName",
    display_name: "displayName",
    external_id: "externalId",
    department: "department",
    manager: "manager",
};

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// A boolean as IdPs send it: `true`, or `"True"` (Entra).
fn truthy(v: Option<&Value>, default: bool) -> Result<bool, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{other} is not a boolean"
        ))),
    }
}

/// The manager's id in any shape Entra sends: a bare string, `{"value": …}`, or a list of one.
fn manager(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => manager(a.first()),
        Some(o @ Value::Object(_)) => text(get_ci(o, "value")),
        _ => String::new(),
    }
}

/// A SCIM User body (as posted, put, or patched) as the directory's identity. The work (or
/// primary) e-mail is the identity's e-mail: Castellan matches seats by it, so a user without
/// one is refused, unless the `userName` is an address.
pub fn identity_from_user(doc: &Value) -> Result<IdentityInput, ScimError> {
    let user_name = text(get_ci(doc, "userName"));
    if user_name.trim().is_empty() {
        return Err(ScimError::invalid_value("userName is required"));
    }
    let emails: Vec<&Value> = match get_ci(doc, "emails") {
        Some(Value::Array(a)) => a.iter().collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(ScimError::invalid_value("emails must be a list")),
    };
    let addr = |e: &Value| text(get_ci(e, "value"));
    let primary_at = emails
        .iter()
        .position(|e| truthy(get_ci(e, "primary"), false).unwrap_or(false))
        .or_else(|| {
            emails.iter().position(|e| {
                get_ci(e, "type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("work"))
            })
        })
        .or(if emails.is_empty() { None } else { Some(0) });
    let primary = match primary_at {
        Some(i) => addr(emails[i]),
        None if user_name.contains('@') => user_name.clone(),
        None => {
            return Err(ScimError::invalid_value(
                "emails: a work e-mail is required (Castellan matches seats by it)",
            ));
        }
    };
    let others: Vec<String> = emails
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != primary_at)
        .map(|(_, e)| addr(e))
        .filter(|a| !a.is_empty() && !a.eq_ignore_ascii_case(&primary))
        .collect();
    let name = get_ci(doc, "name");
    let given = text(name.and_then(|n| get_ci(n, "givenName")));
    let family = text(name.and_then(|n| get_ci(n, "familyName")));
    let display = text(get_ci(doc, "displayName"));
    let external = text(get_ci(doc, "externalId"));
    let ent = get_ci(doc, ENTERPRISE_USER);
    let department = text(ent.and_then(|e| get_ci(e, "department")));
    let manager = manager(ent.and_then(|e| get_ci(e, "manager")));
    let active = truthy(get_ci(doc, "active"), true)?;
    IdentityInput::validate(
        &RawIdentity {
            user_name: &user_name,
            primary_email: &primary,
            other_emails: others.iter().map(String::as_str).collect(),
            given_name: &given,
            family_name: &family,
            display_name: &display,
            active,
            external_id: &external,
            department: &department,
            manager: &manager,
        },
        &SCIM_FIELDS,
    )
    .map_err(|e| ScimError::invalid_value(e.to_string()))
}

/// A SCIM Group body: its display name, external id and member ids (as sent).
pub fn group_from_body(doc: &Value) -> Result<(String, Option<String>, Vec<String>), ScimError> {
    let name = text(get_ci(doc, "displayName"));
    if name.trim().is_empty() {
        return Err(ScimError::invalid_value("displayName is required"));
    }
    let external = Some(text(get_ci(doc, "externalId"))).filter(|s| !s.is_empty());
    let members = match get_ci(doc, "members") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| match get_ci(m, "value") {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(ScimError::invalid_value("members[].value must be an id")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ScimError::invalid_value("members must be a list")),
    };
    Ok((name.trim().to_string(), external, members))
}

/// `count` and `startIndex` as RFC 7644 §3.4.2.4 reads them: a start below 1 is 1, a negative
/// count is 0, and no count more than `MAX_RESULTS`.
pub fn paging(start: Option<i64>, count: Option<i64>) -> (usize, usize) {
    let start = start.unwrap_or(1).max(1) as usize;
    let count = count.unwrap_or(100).clamp(0, MAX_RESULTS as i64) as usize;
    (start, count)
}

/// A weak ETag of the resource as served (without its own `meta.version`): it changes exactly
/// when what a client reads changes.
pub fn etag(resource: &Value) -> String {
    use sha2::Digest;
    let mut r = resource.clone();
    if let Some(meta) = r.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("version");
    }
    let digest = sha2::Sha256::digest(r.to_string().as_bytes());
    format!("W/\"{}\"", hex::encode(&digest[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn okta_and_entra_users_become_identities() {
        let okta = json!({"schemas": [USER], "userName": "ann@acme.example.com",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"primary": true, "value": "ann@acme.example.com", "type": "work"}],
            "displayName": "Ann Lee", "locale": "en-US", "externalId": "00u1", "groups": [],
            "password": "secret", "active": true});
        let i = identity_from_user(&okta).unwrap();
        assert_eq!(i.primary_email.as_str(), "ann@acme.example.com");
        assert_eq!(i.given_name.as_deref(), Some("Ann"));
        let entra = json!({"schemas": [USER, ENTERPRISE_USER], "externalId": "ann",
            "userName": "ann@acme.example.com", "active": "False",
            "emails": [{"primary": "True", "type": "work", "value": "ann@acme.example.com"}],
            "meta": {"resourceType": "User"}, "name": {"familyName": "Lee", "givenName": "Ann"},
            "roles": [], ENTERPRISE_USER: {"department": "Ops", "manager": "123"}});
        let i = identity_from_user(&entra).unwrap();
        assert!(!i.active);
        assert_eq!(i.department.as_deref(), Some("Ops"));
        assert_eq!(i.manager.as_deref(), Some("123"));
        let e = identity_from_user(&json!({"userName": "noaddress"})).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidValue"));
    }

    #[test]
    fn paging_follows_the_rfc() {
        assert_eq!(paging(Some(0), Some(-5)), (1, 0));
        assert_eq!(paging(None, Some(1_000_000)), (1, MAX_RESULTS));
    }
}
