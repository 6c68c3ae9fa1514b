//! Submitted forms and queries with repeated fields kept (checkbox lists), and form errors
//! by field.

use super::error::WebError;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;

/// A submitted form: its fields in order (repeated names kept, for checkbox lists).
#[derive(Debug, Default, Clone)]
pub struct Form {
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), "on" | "true" | "1" | "yes")
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = WebError;

    async fn from_request(req: Request, _: &S) -> Result<Self, WebError> {
        let bytes = axum::body::to_bytes(req.into_body(), crate::JSON_BODY_LIMIT)
            .await
            .map_err(|_| WebError::Internal("the form is too large".into()))?;
        Ok(Form {
            fields: form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        })
    }
}

/// Query parameters in order (repeated names kept).
#[derive(Debug, Default, Clone)]
pub struct Query(pub Form);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, WebError> {
        Ok(Query(Form {
            fields: form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }))
    }
}

pub async fn multipart_field(
    content_type: &str,
    bytes: axum::body::Bytes,
    name: &str,
) -> Option<String> {
    let req = Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .ok()?;
    let mut mp = axum::extract::Multipart::from_request(req, &())
        .await
        .ok()?;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// Form errors by field, shown beside the fields they name; `general` for the rest.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    pub items: Vec<(String, String)>,
    pub general: Option<String>,
}

impl Errors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn any(&self) -> bool {
        !self.items.is_empty() || self.general.is_some()
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            items: vec![(field.to_string(), message.into())],
            general: None,
        }
    }

    /// Bad input or a refused state as form errors; anything else stays an error page.
    pub fn from_api(e: ApiError, known: &[&str]) -> Result<Self, WebError> {
        let (field, message) = match e {
            ApiError::Invalid { field, message, .. } => (field, message),
            ApiError::Conflict { field, message } => (field, message),
            ApiError::NotFoundAt { field, what } => (Some(field), format!("no such {what}")),
            ApiError::TooManyRequests { .. } => (None, e.to_string()),
            other => return Err(other.into()),
        };
        Ok(match field {
            // Shown beside its field, the message drops the API's "field: " prefix.
            Some(f) if known.contains(&f.as_str()) => {
                let bare = message.strip_prefix(&format!("{f}: ")).unwrap_or(&message);
                Self::field(&f, bare)
            }
            Some(f) => Self {
                items: Vec::new(),
                general: Some(format!("{f}: {message}")),
            },
            None => Self {
                items: Vec::new(),
                general: Some(message),
            },
        })
    }
}
