//! Request extractors whose rejections use Castellan's error format: JSON bodies (malformed
//! JSON, unknown or mistyped fields name the field; oversize bodies answer 413) and query
//! strings.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Request types use `#[serde(deny_unknown_fields)]`, so a misspelt field is an
/// error rather than silently ignored.
pub struct ApiJson<T>(pub T);

pub(crate) fn body_error(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit: crate::JSON_BODY_LIMIT,
        }
    } else {
        ApiError::invalid("body", e.body_text())
    }
}

/// Picks the field out of serde's messages such as "unknown field `x`, expected …".
fn field_from_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_string())
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON (Content-Type: application/json)".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is an object: serde would otherwise read a struct from an array by position.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::invalid("body", "the body must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::Invalid {
                field: Some("body".into()),
                message: format!("malformed JSON: {inner}"),
                code: "malformed_json",
            };
        }
        let msg = inner.to_string();
        let named = field_from_message(&msg);
        let field = if msg.starts_with("unknown field") || msg.starts_with("missing field") {
            let name = named.unwrap_or_default();
            if path == "." {
                name
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path
            } else {
                format!("{path}.{name}")
            }
        } else if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::invalid(field.clone(), format!("{field}: {msg}"))
    })
}

/// A query string. Query types use `deny_unknown_fields` too.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let msg = e.into_inner().to_string();
                let field = field_from_message(&msg)
                    .filter(|_| msg.contains("field"))
                    .unwrap_or(path);
                ApiError::invalid(field.clone(), format!("query parameter {field}: {msg}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field(r: Result<Body, ApiError>) -> String {
        match r.unwrap_err() {
            ApiError::Invalid { field, .. } => field.unwrap(),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(field(parse_json(br#"{"name": 1}"#)), "name");
        assert_eq!(field(parse_json(br#"{"nam": "x"}"#)), "nam");
        assert_eq!(field(parse_json(br#"{}"#)), "name");
        assert_eq!(
            field(parse_json(br#"{"name":"x","inner":{"count":"a"}}"#)),
            "inner.count"
        );
        assert_eq!(
            field(parse_json(br#"{"name":"x","inner":{"cnt":1}}"#)),
            "inner.cnt"
        );
        assert!(matches!(
            parse_json::<Body>(b"{not json"),
            Err(ApiError::Invalid {
                code: "malformed_json",
                ..
            })
        ));
    }
}

/// What a kind of row is called in a "not found" answer.
pub trait Named: std::str::FromStr {
    const WHAT: &'static str;
}

macro_rules! named {
    ($($t:ty => $what:literal),+ $(,)?) => {
        $(impl Named for $t { const WHAT: &'static str = $what; })+
    };
}

named! {
    castellan_domain::AppId => "app",
    castellan_domain::TaskId => "task",
    castellan_domain::TokenId => "token",
    castellan_domain::PersonId => "person",
    castellan_domain::IdentityId => "identity",
    castellan_domain::GroupId => "group",
    castellan_domain::AutomationAccountId => "automation account",
    castellan_domain::CardId => "account card",
    castellan_domain::LocalPartnerId => "local partner",
    castellan_domain::ScimTokenId => "SCIM token",
    castellan_domain::GroupMappingId => "group mapping",
}

/// The typed id of a route's `{id}`. A malformed one cannot name any row, so it is answered
/// as a row that does not exist (404), naming the path parameter, before the handler runs.
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T: Named + Send> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let not_found = || ApiError::NotFoundAt {
            field: "id".into(),
            what: T::WHAT.into(),
        };
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| not_found())?;
        raw.parse().map(PathId).map_err(|_| not_found())
    }
}
