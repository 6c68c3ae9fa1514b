//! OAuth code exchange for each platform: the consent page sends the browser back with a code
//! (Pinterest `code`, TikTok `auth_code`), and these turn it into tokens.

use castellan_domain::platform::ConnectorError;
use serde_json::Value;

use crate::http::{Attempt, Http, HttpConfig};
use crate::wire::{Envelope, TokenAnswer, decode};

/// Tokens from a code exchange. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires, when the platform says.
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn status_read(status: reqwest::StatusCode, body: Vec<u8>) -> Attempt<Value> {
    if status.is_server_error() || status.as_u16() == 429 {
        return Attempt::Retry {
            reason: format!("HTTP {}", status.as_u16()),
            after: None,
        };
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) if status.is_success() => Attempt::Done(v),
        Ok(_) => Attempt::Fail(ConnectorError::Rejected(format!(
            "HTTP {}: {}",
            status.as_u16(),
            crate::wire::error_message(&body)
        ))),
        Err(e) => Attempt::Fail(ConnectorError::Protocol(format!(
            "HTTP {}: not JSON: {e}",
            status.as_u16()
        ))),
    }
}

/// Pinterest: `POST {token_url}` (`…/v5/oauth/token`), HTTP Basic with the app id and secret.
pub async fn pinterest_exchange(
    token_url: &str,
    client_id: &str,
    secret: &str,
    code: &str,
    redirect_uri: &str,
) -> Result<Tokens, ConnectorError> {
    let http = Http::new(HttpConfig {
        max_retries: 2,
        ..Default::default()
    })?;
    let v = http
        .run(
            "pinterest code exchange",
            || {
                http.client
                    .post(token_url)
                    .basic_auth(client_id, Some(secret))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code),
                        ("redirect_uri", redirect_uri),
                    ])
            },
            |s, _, b| async move { status_read(s, b) },
        )
        .await?;
    let t: TokenAnswer = decode("pinterest code exchange", v)?;
    Ok(Tokens {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_in: t.expires_in,
        scope: t.scope.and_then(|s| s.as_str().map(str::to_string)),
    })
}

/// TikTok: `POST {token_url}` (`…/open_api/v1.3/oauth2/access_token/`) with a JSON body.
pub async fn tiktok_exchange(
    token_url: &str,
    app_id: &str,
    secret: &str,
    auth_code: &str,
) -> Result<Tokens, ConnectorError> {
    let http = Http::new(HttpConfig {
        max_retries: 2,
        ..Default::default()
    })?;
    let body = serde_json::json!({ "app_id": app_id, "secret": secret, "auth_code": auth_code });
    let v = http
        .run(
            "tiktok code exchange",
            || http.client.post(token_url).json(&body),
            |s, _, b| async move { status_read(s, b) },
        )
        .await?;
    let envelope: Envelope = decode("tiktok code exchange", v)?;
    if envelope.code != 0 {
        return Err(ConnectorError::Rejected(format!(
            "{} (code {})",
            envelope.message, envelope.code
        )));
    }
    let t: TokenAnswer = decode("tiktok code exchange: data", envelope.data)?;
    Ok(Tokens {
        access_token: t.access_token,
        refresh_token: None,
        expires_in: None,
        scope: t.scope.and_then(|s| {
            s.as_array().map(|s| {
                s.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
        }),
    })
}
