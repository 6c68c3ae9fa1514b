//! Reading platform answers into typed structs: tolerant of fields we do not use, strict on
//! the ones we do, so a renamed or missing field is an error that names the endpoint and the
//! field rather than a silently short fetch.

use castellan_domain::platform::ConnectorError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Decodes `v`, the answer of `endpoint`, as `T`; a mismatch names the endpoint and the
/// field's path.
pub(crate) fn decode<T: DeserializeOwned>(
    endpoint: &str,
    v: serde_json::Value,
) -> Result<T, ConnectorError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ConnectorError::Protocol(if path == "." {
            format!("{endpoint}: {inner}")
        } else {
            format!("{endpoint}: {path}: {inner}")
        })
    })
}

/// Decodes the raw JSON `body`, the answer of `endpoint`, as `T`, straight from its bytes (no
/// intermediate `Value`); a mismatch names the endpoint and the field's path.
pub(crate) fn decode_bytes<T: DeserializeOwned>(
    endpoint: &str,
    body: &[u8],
) -> Result<T, ConnectorError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ConnectorError::Protocol(if path == "." {
            format!("{endpoint}: {inner}")
        } else {
            format!("{endpoint}: {path}: {inner}")
        })
    })
}

/// A list of strings the platform sends as one string, a list, or null.
pub(crate) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// A text the platform may leave empty or null: `None` then.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// An error answer's body: the platforms put a readable `message` in it.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
}

/// The message of an error answer, or the start of the body when it has none.
pub(crate) fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect())
}

/// TikTok's envelope around every answer: `{code, message, request_id, data}`; `code` 0 is
/// success.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// A token endpoint's answer (Pinterest's `/oauth/token`; TikTok's inside its envelope).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Pinterest: a comma-separated string; TikTok: a list of scope numbers or names.
    #[serde(default)]
    pub scope: Option<serde_json::Value>,
}
