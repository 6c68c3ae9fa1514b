//! The one place errors become HTTP responses. Every error body is
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use castellan_domain::policy::Denied;
use castellan_domain::{FieldError, ValidationErrors};
use castellan_services::members::{PlanError, QueueError};
use castellan_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: names the field.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
        code: &'static str,
    },
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    /// Refused for what the caller proved (a wrong current password), naming the field.
    #[error("{message}")]
    ForbiddenAt {
        field: Option<String>,
        message: String,
    },
    #[error("the CSRF token is missing or wrong")]
    Csrf,
    #[error("{0} not found")]
    NotFound(String),
    /// A path id that names nothing (malformed, or of another workspace): 404, naming the
    /// path parameter.
    #[error("{what} not found")]
    NotFoundAt { field: String, what: String },
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    /// Bad rows in a directory import; the body lists each one.
    #[error("the file has {}; nothing was imported", castellan_domain::words::count(.0.len(), "invalid row", "invalid rows"))]
    InvalidRows(Vec<RowErrorBody>),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// This process was configured to run a worker and its loop is not running.
    #[error("the worker loop is not running")]
    WorkerDown,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowErrorBody {
    pub line: u64,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid`, `not_found`, `forbidden`.
    pub code: String,
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `invalid_rows`: every bad row of an import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<RowErrorBody>>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            message: message.into(),
            code: "invalid",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } | Self::InvalidRows(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::ForbiddenAt { .. } | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::NotFoundAt { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) | Self::WorkerDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::InvalidRows(_) => "invalid_rows",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) | Self::ForbiddenAt { .. } => "forbidden",
            Self::Csrf => "csrf_failed",
            Self::NotFound(_) | Self::NotFoundAt { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Internal(_) => "internal",
            Self::Unavailable(_) | Self::WorkerDown => "unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // The full cause chain goes to the log; the client gets a stable code only.
            tracing::error!(error = ?self, "request failed");
        }
        let (field, rows) = match &self {
            Self::Invalid { field, .. }
            | Self::Conflict { field, .. }
            | Self::ForbiddenAt { field, .. } => (field.clone(), None),
            Self::NotFoundAt { field, .. } => (Some(field.clone()), None),
            Self::InvalidRows(rows) => (None, Some(rows.clone())),
            _ => (None, None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().into(),
                message: self.to_string(),
                field,
                rows,
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Self::TooManyRequests { retry_after_secs } = self {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what.into()),
            StoreError::Conflict { field, message } => Self::Conflict {
                field: Some(field),
                message,
            },
            StoreError::Invalid(v) => v.into(),
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                Self::Unavailable(anyhow::anyhow!("database pool timed out"))
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<castellan_services::ServiceError> for ApiError {
    fn from(e: castellan_services::ServiceError) -> Self {
        match e {
            castellan_services::ServiceError::Invalid(f) => f.into(),
            castellan_services::ServiceError::Conflict(f) => Self::Conflict {
                field: Some(f.field),
                message: f.message,
            },
            castellan_services::ServiceError::NotFound { field, what } => Self::NotFoundAt {
                field: field.into(),
                what: what.into(),
            },
            castellan_services::ServiceError::Forbidden(m) => Self::Forbidden(m),
            castellan_services::ServiceError::ForbiddenAt(f) => Self::ForbiddenAt {
                field: Some(f.field),
                message: f.message,
            },
            castellan_services::ServiceError::Unauthenticated => Self::Unauthenticated,
            castellan_services::ServiceError::TooManyRequests { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            castellan_services::ServiceError::Vault(v) => {
                Self::Internal(anyhow::anyhow!("vault: {v}"))
            }
            castellan_services::ServiceError::Store(s) => s.into(),
            castellan_services::ServiceError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(v: ValidationErrors) -> Self {
        let first = v
            .first()
            .cloned()
            .unwrap_or_else(|| FieldError::new("body", "is invalid"));
        let message = if v.0.len() > 1 {
            v.to_string()
        } else {
            format!("{}: {}", first.field, first.message)
        };
        Self::Invalid {
            field: Some(first.field),
            message,
            code: "invalid",
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ValidationErrors::from(e).into()
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        Self::Forbidden(d.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Why a change could not be planned, for HTTP (shared with the web app).
pub fn plan_error(e: PlanError) -> ApiError {
    match e {
        PlanError::Refused(castellan_domain::changes::Refusal::Invalid(f)) => {
            ApiError::invalid(f.field, f.message)
        }
        PlanError::Refused(castellan_domain::changes::Refusal::Guard(f)) => ApiError::Conflict {
            field: Some(f.field),
            message: f.message,
        },
        PlanError::Failed(m) => ApiError::Conflict {
            field: Some("app".into()),
            message: m,
        },
    }
}

/// Why a change was not queued, for HTTP (shared with the web app).
pub fn queue_error(e: QueueError) -> ApiError {
    match e {
        QueueError::Plan(p) => plan_error(p),
        QueueError::Stale => ApiError::Conflict {
            field: Some("plan_hash".into()),
            message: "the data this plan was computed from has changed since: preview it again"
                .into(),
        },
        QueueError::Store(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::invalid("email", "bad"), 400, "invalid"),
            (ApiError::InvalidRows(vec![]), 400, "invalid_rows"),
            (ApiError::Unauthenticated, 401, "unauthenticated"),
            (ApiError::Forbidden("no".into()), 403, "forbidden"),
            (ApiError::Csrf, 403, "csrf_failed"),
            (ApiError::NotFound("task".into()), 404, "not_found"),
            (
                ApiError::Conflict {
                    field: None,
                    message: "x".into(),
                },
                409,
                "conflict",
            ),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                413,
                "payload_too_large",
            ),
            (
                ApiError::UnsupportedMediaType("x".into()),
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::TooManyRequests {
                    retry_after_secs: 1,
                },
                429,
                "too_many_requests",
            ),
            (ApiError::Internal(anyhow::anyhow!("x")), 500, "internal"),
            (
                ApiError::Unavailable(anyhow::anyhow!("x")),
                503,
                "unavailable",
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status().as_u16(), e.code()), (status, code));
        }
        assert_eq!(
            ApiError::from(StoreError::NotFound("task")).status(),
            StatusCode::NOT_FOUND
        );
    }
}
