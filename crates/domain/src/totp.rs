//! Time-based one-time passwords (RFC 6238) for the TOTP secrets people save with their
//! accounts: parsed from an `otpauth://totp/…` URI or a bare base32 secret, and the code for a
//! passed-in time (never the system clock), with the seconds it stays valid.

use crate::FieldError;

/// The forms the API document states for a TOTP secret, as one pattern: a base32 secret of
/// at least 16 letters (single spaces or hyphens between them, `=` padding), or an
/// `otpauth://totp/` URI with a printable-ASCII label and the parameters `secret` (at least
/// once), `issuer`, `algorithm`, `digits` and `period`, in any order. [`Totp::parse`] refuses
/// anything else and reads the URI itself, so the document and the server agree exactly.
pub const PATTERN: &str = concat!(
    r"^ *(?:otpauth://totp/[!->@-~]*\?(?:",
    r"(?:secret=[A-Za-z2-7]{16,}=*|issuer=[!-%'-~]*|algorithm=(?:SHA1|SHA256|SHA512)|digits=[678]|period=[1-9][0-9]{0,3})&)*",
    r"secret=[A-Za-z2-7]{16,}=*",
    r"(?:&(?:secret=[A-Za-z2-7]{16,}=*|issuer=[!-%'-~]*|algorithm=(?:SHA1|SHA256|SHA512)|digits=[678]|period=[1-9][0-9]{0,3}))*",
    r"|(?:[A-Za-z2-7][ -]?){16,}=*) *$"
);

fn is_b32(c: char) -> bool {
    c.is_ascii_alphabetic() || ('2'..='7').contains(&c)
}

/// A URI's settings, read from a string of the documented form.
struct UriParts<'a> {
    secret: &'a str,
    algorithm: &'a str,
    digits: u8,
    period: u64,
}

/// The parts of `otpauth://totp/…` if it has the form [`PATTERN`] states.
fn uri_parts(s: &str) -> Option<UriParts<'_>> {
    let rest = s.strip_prefix("otpauth://totp/")?;
    let (label, query) = rest.split_once('?')?;
    if !label.chars().all(|c| ('!'..='~').contains(&c)) {
        return None;
    }
    let mut parts = UriParts {
        secret: "",
        algorithm: "SHA1",
        digits: 6,
        period: 30,
    };
    for p in query.split('&') {
        let (k, v) = p.split_once('=')?;
        match k {
            "secret" => {
                let letters = v.trim_end_matches('=');
                if letters.len() < 16 || !letters.chars().all(is_b32) {
                    return None;
                }
                parts.secret = letters;
            }
            "issuer" => {
                if !v.chars().all(|c| ('!'..='~').contains(&c) && c != '&') {
                    return None;
                }
            }
            "algorithm" if matches!(v, "SHA1" | "SHA256" | "SHA512") => parts.algorithm = v,
            "digits" if matches!(v, "6" | "7" | "8") => parts.digits = v.parse().ok()?,
            "period"
                if (1..=4).contains(&v.len())
                    && !v.starts_with('0')
                    && v.chars().all(|c| c.is_ascii_digit()) =>
            {
                parts.period = v.parse().ok()?
            }
            _ => return None,
        }
    }
    (!parts.secret.is_empty()).then_some(parts)
}

/// Whether `s` is a base32 secret of the form [`PATTERN`] states.
fn base32_form(s: &str) -> bool {
    let mut letters = 0;
    let mut after_letter = false;
    for c in s.trim_end_matches('=').chars() {
        if is_b32(c) {
            letters += 1;
            after_letter = true;
        } else if (c == ' ' || c == '-') && after_letter {
            after_letter = false;
        } else {
            return false;
        }
    }
    letters >= 16
}

/// A TOTP generator. Secrets shorter than RFC 4226's recommended 128 bits are accepted:
/// platforms hand out 80-bit ones, and refusing them would leave people without their code.
#[derive(Clone)]
pub struct Totp(totp_rs::Totp);

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        write!(
            f,
            "Totp({} digits, {} s, [redacted])",
            self.0.digits(),
            self.0.step()
        )
    }
}

/// One code and how long it stays valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCode {
    pub code: String,
    pub seconds_left: u64,
}

impl Totp {
    /// Reads what a person pastes: an `otpauth://totp/…` URI (its algorithm, digits and period
    /// are kept) or a base32 secret (spaces and case ignored; SHA-1, 6 digits, 30 s).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if raw.trim().is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if raw.len() > 2048 {
            return Err(FieldError::new(field, "is longer than 2048 characters"));
        }
        let s = raw.trim_matches(' ');
        let (secret, algorithm, digits, period) = if let Some(u) = uri_parts(s) {
            (u.secret.to_string(), u.algorithm, u.digits, u.period)
        } else if base32_form(s) {
            let cleaned: String = s
                .trim_end_matches('=')
                .chars()
                .filter(|c| *c != ' ' && *c != '-')
                .collect();
            (cleaned, "SHA1", 6, 30)
        } else {
            return Err(FieldError::new(
                field,
                "must be an otpauth://totp/ URI with a secret, or a base32 secret of at least 16 letters",
            ));
        };
        let secret = totp_rs::Secret::try_from_base32(secret.to_ascii_uppercase())
            .map_err(|_| FieldError::new(field, "must be an otpauth:// URI or a base32 secret"))?;
        Ok(Self::from_key(secret.as_ref(), algorithm, digits, period))
    }

    /// A generator from raw key bytes (for the RFC's test vectors).
    pub fn from_key(key: &[u8], algorithm: &str, digits: u8, period: u64) -> Self {
        let algorithm = match algorithm {
            "SHA256" => totp_rs::Algorithm::SHA256,
            "SHA512" => totp_rs::Algorithm::SHA512,
            _ => totp_rs::Algorithm::SHA1,
        };
        Self(
            totp_rs::Builder::new()
                .with_algorithm(algorithm)
                .with_digits(digits)
                .with_step_duration(period)
                .with_secret(key.to_vec())
                .with_account_name("account")
                .build_noncompliant(),
        )
    }

    /// The code at `unix_seconds`, and the seconds until the next one.
    pub fn at(&self, unix_seconds: u64) -> TotpCode {
        let step = self.0.step();
        TotpCode {
            code: self.0.generate(unix_seconds).to_string(),
            seconds_left: step - unix_seconds % step,
        }
    }

    pub fn at_time(&self, t: crate::Timestamp) -> TotpCode {
        self.at(t.timestamp().max(0) as u64)
    }
}

#[cfg(test)]
mod form_tests {
    use super::*;

    #[test]
    fn the_documented_forms_and_nothing_else() {
        for ok in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            " gezd gnbv gy3t qojq ",
            "GEZD-GNBV-GY3T-QOJQ==",
            "otpauth://totp/Acme:ann%40acme.example.com?issuer=Acme&secret=gezdgnbvgy3tqojq&digits=6&period=30",
            "otpauth://totp/?algorithm=SHA256&secret=GEZDGNBVGY3TQOJQ",
        ] {
            assert!(Totp::parse("totp", ok).is_ok(), "{ok}");
        }
        for bad in [
            "================",
            "GEZDGNBVGY3TQOJ",
            "GEZD  GNBV GY3T QOJQ",
            "-GEZDGNBVGY3TQOJQ",
            "\tGEZDGNBVGY3TQOJQ",
            "otpauth://totp/x?issuer=Acme",
            "otpauth://totp/x y?secret=GEZDGNBVGY3TQOJQ",
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&digits=9",
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&period=0",
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&foo=1",
            "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ",
        ] {
            assert!(Totp::parse("totp", bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, Appendix B: the published test vectors for all three algorithms.
    #[test]
    fn rfc_6238_test_vectors() {
        let sha1 = Totp::from_key(b"12345678901234567890", "SHA1", 8, 30);
        let sha256 = Totp::from_key(b"12345678901234567890123456789012", "SHA256", 8, 30);
        let sha512 = Totp::from_key(
            b"1234567890123456789012345678901234567890123456789012345678901234",
            "SHA512",
            8,
            30,
        );
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, a, b, c) in vectors {
            assert_eq!(sha1.at(t).code, a, "SHA1 at {t}");
            assert_eq!(sha256.at(t).code, b, "SHA256 at {t}");
            assert_eq!(sha512.at(t).code, c, "SHA512 at {t}");
        }
        assert_eq!(sha1.at(59).seconds_left, 1);
        assert_eq!(sha1.at(60).seconds_left, 30);
    }

    #[test]
    fn base32_secrets_and_otpauth_uris() {
        // "12345678901234567890" in base32, as people paste it (spaces, lower case).
        let b32 = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
        let t = Totp::parse("totp", b32).unwrap();
        assert_eq!(t.at(59).code, "287082", "6 digits by default");
        let uri = "otpauth://totp/Pinterest:ann%40acme.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Pinterest&digits=8&period=30&algorithm=SHA1";
        assert_eq!(Totp::parse("totp", uri).unwrap().at(59).code, "94287082");
        assert_eq!(
            Totp::parse("totp", "not base32!").unwrap_err().field,
            "totp"
        );
        assert_eq!(Totp::parse("totp", "").unwrap_err().field, "totp");
        assert!(Totp::parse("totp", "otpauth://hotp/x?secret=GEZDGNBV").is_err());
        assert!(
            !format!("{t:?}").contains("GEZD"),
            "the secret is not printed"
        );
    }
}
