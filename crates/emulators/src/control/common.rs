//! What the control handlers share: the world they act on, and their answers.

use crate::world::World;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) type W = State<Arc<World>>;

pub(crate) fn fail(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.into() })),
    )
        .into_response()
}

pub(crate) fn ok(v: Value) -> Response {
    Json(v).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssetBody {
    #[serde(default)]
    pub(crate) business: Option<u64>,
    #[serde(default)]
    pub(crate) bc: Option<u64>,
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) asset: Option<u64>,
    #[serde(default)]
    pub(crate) advertiser: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartnerBody {
    pub(crate) owner: u64,
    #[serde(default)]
    pub(crate) partner: Option<u64>,
    #[serde(default)]
    pub(crate) partner_name: Option<String>,
}
