//! Reading platform answers into typed structs: tolerant of fields we do not use, strict on
//! the ones we do, so a renamed or missing field is an error that names the endpoint and the
//! field rather than a silently short fetch.

use castellan_domain::platform::ConnectorError;
use serde::de::DeserializeOwned;
use serde::de::{self, SeqAccess, Visitor};
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
///
/// Read by a visitor of its own rather than an untagged enum: that buffers every value and,
/// for a list, builds and drops an error trying the string first, which was a third of the
/// time spent reading a page of members with their permissions.
pub(crate) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string, a list of strings or null")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(vec![s.to_owned()])
        }
        fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
            Ok(vec![s])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(s) = seq.next_element::<String>()? {
                v.push(s);
            }
            Ok(v)
        }
    }
    d.deserialize_any(OneOrMany)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "strings")]
        permissions: Vec<String>,
    }

    fn read(json: &str) -> Result<Vec<String>, ConnectorError> {
        decode_bytes::<Holder>("/x", json.as_bytes()).map(|h| h.permissions)
    }

    #[test]
    fn strings_take_one_a_list_null_or_nothing() {
        assert_eq!(read(r#"{"permissions":"ADMIN"}"#).unwrap(), ["ADMIN"]);
        assert_eq!(
            read(r#"{"permissions":["ANALYST","CAMPAIGN_MANAGER"]}"#).unwrap(),
            ["ANALYST", "CAMPAIGN_MANAGER"]
        );
        assert!(read(r#"{"permissions":[]}"#).unwrap().is_empty());
        assert!(read(r#"{"permissions":null}"#).unwrap().is_empty());
        assert!(read("{}").unwrap().is_empty());
        // With an escape, the string is not borrowed from the input.
        assert_eq!(read(r#"{"permissions":"A\u0042"}"#).unwrap(), ["AB"]);
    }

    #[test]
    fn strings_name_the_field_of_a_wrong_type() {
        for bad in [r#"{"permissions":7}"#, r#"{"permissions":["A",7]}"#] {
            let e = read(bad).unwrap_err().to_string();
            assert!(e.contains("/x: permissions"), "{e}");
        }
    }
}
