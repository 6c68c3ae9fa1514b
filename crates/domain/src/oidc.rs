//! OIDC sign-in rules: a workspace's identity-provider settings as validated values, the e-mail
//! domains it admits, and why a person the IdP signed in is refused. No IO: the protocol runs
//! in `services::oidc`.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::values::required_text;

/// What an Admin sets for a workspace's IdP (the client secret travels beside it, sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcSettings {
    /// The IdP's name on the sign-in button: "Sign in with Okta".
    pub display_name: String,
    /// The issuer exactly as the IdP states it in its discovery document.
    pub issuer: String,
    pub client_id: String,
    /// E-mail domains admitted, lower case; empty admits every domain the directory holds.
    pub allowed_domains: Vec<String>,
    /// The claim carrying the person's groups (Okta and Entra: `groups`).
    pub groups_claim: Option<String>,
    /// Local passwords are refused for everyone but Owners (and guest users, who are not in
    /// the corporate IdP).
    pub passwords_owners_only: bool,
    pub enabled: bool,
}

/// The issuer: `https://…`, or `http://` on loopback (a test or local IdP); no query or
/// fragment. Kept as typed otherwise: it must equal the `iss` the IdP puts in its tokens, and
/// some IdPs end it with a slash (Entra's v1 `https://sts.windows.net/{tenant}/`).
pub fn parse_issuer(field: &str, raw: &str) -> Result<String, FieldError> {
    let s = required_text(field, raw, 500)?;
    let rest = if let Some(r) = s.strip_prefix("https://") {
        r
    } else if let Some(r) = s.strip_prefix("http://") {
        let loopback = ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| {
            r.strip_prefix(h)
                .is_some_and(|t| t.is_empty() || t.starts_with([':', '/']))
        });
        if !loopback {
            return Err(FieldError::new(
                field,
                "must start with https:// (http:// only on loopback)",
            ));
        }
        r
    } else {
        return Err(FieldError::new(field, "must start with https://"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(FieldError::new(field, "must name a host"));
    }
    if s.contains(['?', '#', ' ']) {
        return Err(FieldError::new(
            field,
            "must not hold a query, a fragment or spaces",
        ));
    }
    Ok(s)
}

/// Domains separated by commas, spaces or lines: each lower-cased, made of letters, digits,
/// hyphens and at least one dot; duplicates dropped; at most 50.
pub fn parse_domains(field: &str, raw: &str) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for d in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
    {
        let d = d.trim_start_matches('@').to_ascii_lowercase();
        let ok = d.contains('.')
            && d.len() <= 253
            && d.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !ok {
            return Err(FieldError::new(
                field,
                format!("{d:?} is not a domain such as acme.example.com"),
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.len() > 50 {
        return Err(FieldError::new(field, "at most 50 domains"));
    }
    Ok(out)
}

/// A claim name: letters, digits and `_ - . :` (Entra's and Okta's `groups`, or a URI claim).
pub fn parse_claim(field: &str, raw: &str) -> Result<Option<String>, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 200
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
    {
        return Err(FieldError::new(
            field,
            "must be a claim name such as groups",
        ));
    }
    Ok(Some(s.to_string()))
}

/// Whether `email`'s domain is admitted (exactly one of `domains`; every domain when empty).
pub fn domain_allowed(domains: &[String], email: &str) -> bool {
    if domains.is_empty() {
        return true;
    }
    let Some((_, d)) = email.rsplit_once('@') else {
        return false;
    };
    let d = d.to_ascii_lowercase();
    domains.contains(&d)
}

/// Why someone the IdP signed in does not get a session. Each says what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcRefusal {
    /// The IdP gave no e-mail, or one outside the allowed domains.
    DomainNotAllowed {
        email: String,
    },
    NoEmail,
    /// The IdP says it did not verify the e-mail, so it cannot link the person by it.
    EmailUnverified {
        email: String,
    },
    /// No directory identity holds this subject or verified e-mail.
    NoIdentity {
        email: String,
    },
    /// The identity is deactivated (or deleted by the IdP).
    IdentityInactive {
        email: String,
    },
    /// The identity exists and is active, but no Castellan account has its e-mail.
    NoPerson {
        email: String,
    },
    PersonDisabled {
        email: String,
    },
    /// The e-mail matches an identity already linked to another IdP subject.
    LinkedElsewhere {
        email: String,
    },
}

impl OidcRefusal {
    /// A stable code for the API and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DomainNotAllowed { .. } => "domain_not_allowed",
            Self::NoEmail => "no_email",
            Self::EmailUnverified { .. } => "email_unverified",
            Self::NoIdentity { .. } => "no_identity",
            Self::IdentityInactive { .. } => "identity_inactive",
            Self::NoPerson { .. } => "no_person",
            Self::PersonDisabled { .. } => "person_disabled",
            Self::LinkedElsewhere { .. } => "linked_elsewhere",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::DomainNotAllowed { email } => format!(
                "{email} is not in a domain this workspace admits. Sign in with your work account."
            ),
            Self::NoEmail => {
                "Your identity provider did not say your e-mail address, so Castellan cannot tell who you are. Ask your IdP administrator to release the email claim.".into()
            }
            Self::EmailUnverified { email } => format!(
                "Your identity provider has not verified {email}, so Castellan cannot link it to the directory."
            ),
            Self::NoIdentity { email } => format!(
                "{email} is not in this workspace's directory. Ask your IdP administrator to assign you to Castellan."
            ),
            Self::IdentityInactive { email } => format!(
                "{email} is deactivated in this workspace's directory, so it cannot sign in."
            ),
            Self::NoPerson { email } => format!(
                "{email} is in the directory but has no Castellan account. Ask an Admin of the workspace to add you."
            ),
            Self::PersonDisabled { email } => {
                format!("The Castellan account of {email} is disabled.")
            }
            Self::LinkedElsewhere { email } => format!(
                "The directory identity of {email} is linked to another account at your identity provider."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers() {
        assert!(parse_issuer("issuer", "https://acme.okta.com").is_ok());
        assert!(parse_issuer("issuer", "https://sts.windows.net/abc/").is_ok());
        assert!(parse_issuer("issuer", "http://127.0.0.1:4000").is_ok());
        assert!(parse_issuer("issuer", "http://idp.example.com").is_err());
        assert!(parse_issuer("issuer", "https://x/?a=1").is_err());
        assert!(parse_issuer("issuer", "ftp://x").is_err());
        assert_eq!(parse_issuer("issuer", "").unwrap_err().field, "issuer");
    }

    #[test]
    fn domains() {
        assert_eq!(
            parse_domains(
                "allowed_domains",
                "Acme.example.com, @acme.example.org\nacme.example.com"
            )
            .unwrap(),
            vec!["acme.example.com", "acme.example.org"]
        );
        assert!(parse_domains("allowed_domains", "not a domain").is_err());
        let d = vec!["acme.example.com".to_string()];
        assert!(domain_allowed(&d, "a@ACME.example.com"));
        assert!(!domain_allowed(&d, "a@evil.acme.example.com.attacker.test"));
        assert!(!domain_allowed(&d, "a@sub.acme.example.com"));
        assert!(domain_allowed(&[], "a@anything.test"));
    }
}
