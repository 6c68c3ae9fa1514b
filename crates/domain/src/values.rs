//! Validated values: parse once at the edge, carry the proven type inward.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// An e-mail address: trimmed, one `@`, a non-empty local part, a dotted domain, no spaces.
/// The original spelling is kept; comparisons use [`Email::canonical`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let bad = |m: &str| FieldError::new(field, m);
        if s.is_empty() {
            return Err(bad("is required"));
        }
        // Counted as sent, in characters, as the API document's maxLength counts.
        if raw.chars().count() > 254 {
            return Err(bad("is longer than 254 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not contain spaces"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(bad("must contain '@'"));
        };
        if local.is_empty() || local.contains('@') {
            return Err(bad("must have exactly one '@' and a name before it"));
        }
        if domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad("must have a domain such as example.com after '@'"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lower-cased form used for uniqueness and look-ups.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A required, trimmed, single-line text of bounded length (names, labels).
pub fn required_text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    optional_text(field, s, max).map(|o| o.unwrap_or_default())
}

/// An optional trimmed text: empty becomes `None`.
pub fn optional_text(field: &str, raw: &str, max: usize) -> Result<Option<String>, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(s.to_string()))
}

/// Parses the spellings of a boolean people put in spreadsheets.
pub fn parse_bool(field: &str, raw: &str) -> Result<bool, FieldError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" => Ok(true),
        "false" | "0" | "no" | "n" => Ok(false),
        _ => Err(FieldError::new(field, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_cases() {
        for ok in ["a@b.co", " Alice@Example.com ", "a+tag@x.y.z"] {
            assert!(Email::parse("email", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "a@@b.com",
            "a@b..com",
            "a@.com",
        ] {
            let e = Email::parse("email", bad).unwrap_err();
            assert_eq!(e.field, "email", "{bad}");
        }
        assert_eq!(Email::parse("e", "A@B.COM").unwrap().canonical(), "a@b.com");
    }

    #[test]
    fn bools_and_text() {
        assert!(parse_bool("active", "Yes").unwrap());
        assert!(!parse_bool("active", "0").unwrap());
        assert!(parse_bool("active", "maybe").is_err());
        assert!(required_text("name", "  ", 10).is_err());
        assert!(required_text("name", "abcdefghijk", 10).is_err());
        assert_eq!(optional_text("x", " ", 3).unwrap(), None);
    }
}
