//! The JSON API under `/api/v1`. Each module holds its routes' handlers and wire types (DTOs);
//! handlers check authorization through `Caller::require` and talk to the store.

pub mod accounts;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod directory;
pub mod members;
pub mod oauth;
pub mod people;
pub mod tasks;
pub mod workspace;

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Cursor paging parameters shared by list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Items per page, 1–500 (default 50).
    pub limit: Option<i64>,
}

pub fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

pub fn cursor<T: FromStr>(c: &Option<String>) -> Result<Option<T>, ApiError> {
    c.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| ApiError::invalid("cursor", "cursor is not valid"))
        })
        .transpose()
}

pub fn parse_id<T: FromStr>(field: &str, raw: &str, what: &str) -> Result<T, ApiError> {
    // A malformed id cannot name any row: answer as for a row that does not exist.
    raw.parse().map_err(|_| {
        let _ = field;
        ApiError::NotFound(what.into())
    })
}

/// One page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    pub fn from_store<S>(p: castellan_store::Page<S>, f: impl FnMut(S) -> T) -> Self {
        Self {
            items: p.items.into_iter().map(f).collect(),
            next_cursor: p.next_cursor,
        }
    }
}
