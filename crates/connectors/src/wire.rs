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
