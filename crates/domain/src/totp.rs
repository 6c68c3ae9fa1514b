//! Time-based one-time passwords (RFC 6238) for the TOTP secrets people save with their
//! accounts: parsed from an `otpauth://totp/…` URI or a bare base32 secret, and the code for a
//! passed-in time (never the system clock), with the seconds it stays valid.

use crate::FieldError;

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
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if raw.len() > 2048 {
            return Err(FieldError::new(field, "is longer than 2048 characters"));
        }
        if raw.to_ascii_lowercase().starts_with("otpauth://") {
            return totp_rs::Totp::from_url_unchecked(raw)
                .map(Self)
                .map_err(|e| FieldError::new(field, format!("is not a TOTP URI: {e}")));
        }
        let cleaned: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let secret = totp_rs::Secret::try_from_base32(cleaned.trim_end_matches('='))
            .map_err(|_| FieldError::new(field, "must be an otpauth:// URI or a base32 secret"))?;
        if secret.as_ref().len() < 10 {
            return Err(FieldError::new(field, "is too short to be a TOTP secret"));
        }
        Ok(Self(
            totp_rs::Builder::new()
                .with_secret(secret)
                .with_account_name("account")
                .build_noncompliant(),
        ))
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
