//! Credentials: API token scopes, secret generation and hashing. Secrets (session tokens, API
//! tokens, one-time passwords) are random, shown once, and only their SHA-256 is stored.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::FieldError;

/// What an API token may do. Ordered: `Admin` implies `Write` implies `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    Read,
    Write,
    Admin,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        raw.parse()
            .map_err(|_| FieldError::new(field, "must be one of read, write, admin"))
    }
}

impl FromStr for ApiScope {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            _ => Err(()),
        }
    }
}

impl fmt::Display for ApiScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Prefix of API tokens, so leaked ones are easy to recognise and scan for.
pub const API_TOKEN_PREFIX: &str = "cst_";

/// A random secret: `prefix` + 64 hex characters (256 bits).
pub fn generate_secret(prefix: &str, rng: &mut dyn RngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A one-time password a person can type: 20 characters from an unambiguous alphabet
/// (about 100 bits).
pub fn generate_password(rng: &mut dyn RngCore) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| {
            let i = (rng.next_u32() as usize) % ALPHABET.len();
            ALPHABET[i] as char
        })
        .collect()
}

/// SHA-256 of a high-entropy secret, hex-encoded. Fine for random tokens (no need for a slow
/// hash: they cannot be guessed); passwords use argon2id in the server instead.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Minimum rules for a password a person chooses.
pub fn validate_new_password(field: &str, pw: &str) -> Result<(), FieldError> {
    if pw.chars().count() < 12 {
        return Err(FieldError::new(field, "must be at least 12 characters"));
    }
    if pw.chars().count() > 1024 {
        return Err(FieldError::new(field, "is longer than 1024 characters"));
    }
    Ok(())
}
