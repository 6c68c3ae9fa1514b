//! Control of the emulator itself: what it holds, its faults, a reset to a scenario, and the
//! requests counted per endpoint.

use super::common::{W, fail, ok};
use crate::faults::Faults;
use crate::scenario::{self, Scale, Scenario, ScenarioSource};
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

pub(crate) async fn info(State(w): W) -> Response {
    let kind = match &*w.source.lock().expect("source") {
        ScenarioSource::Demo => "demo".to_string(),
        ScenarioSource::Generated(s) => format!("generated ({} members)", s.members),
        ScenarioSource::GeneratedOne { scale, platform } => {
            format!("generated ({} members, {platform:?} only)", scale.members)
        }
        ScenarioSource::Json(_) => "file".to_string(),
    };
    ok(json!({
        "scenario": kind,
        "seed": w.seed,
        "pinterest": {
            "api": "/v5", "consent_page": "/oauth/", "business_id": scenario::PINTEREST_BRAND.to_string(),
            "automation_token": scenario::PINTEREST_AUTOMATION_TOKEN, "client_id": scenario::PINTEREST_CLIENT_ID, "client_secret": scenario::PINTEREST_CLIENT_SECRET,
        },
        "tiktok": {
            "api": "/open_api/v1.3", "consent_page": "/portal/auth", "bc_id": scenario::TIKTOK_BRAND.to_string(),
            "automation_token": scenario::TIKTOK_AUTOMATION_TOKEN, "app_id": scenario::TIKTOK_APP_ID, "app_secret": scenario::TIKTOK_APP_SECRET,
        },
    }))
}

pub(crate) async fn get_faults(State(w): W) -> Response {
    ok(serde_json::to_value(&*w.faults.lock().expect("faults")).expect("faults serialise"))
}

pub(crate) async fn put_faults(State(w): W, Json(f): Json<Faults>) -> Response {
    if let Err(e) = f.validate() {
        return fail(e);
    }
    *w.faults.lock().expect("faults") = f.clone();
    w.limiter.lock().expect("limiter").reset();
    ok(serde_json::to_value(f).expect("faults serialise"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    #[serde(default)]
    demo: bool,
    #[serde(default)]
    generate: Option<Scale>,
    #[serde(default)]
    scenario: Option<Box<Scenario>>,
}

pub(crate) async fn reset(State(w): W, Json(b): Json<ResetBody>) -> Response {
    let source = match (b.demo, b.generate, b.scenario) {
        (true, None, None) => ScenarioSource::Demo,
        (false, Some(s), None) => ScenarioSource::Generated(s),
        (false, None, Some(s)) => ScenarioSource::Json(s),
        (false, None, None) => w.source.lock().expect("source").clone(),
        _ => {
            return fail(
                "give one of demo, generate, scenario (or none to rebuild the current one)",
            );
        }
    };
    match w.reset(source) {
        Ok(()) => ok(json!({ "reset": true })),
        Err(e) => fail(e),
    }
}

pub(crate) async fn requests(State(w): W) -> Response {
    let counts = w.counts();
    let total: u64 = counts.values().sum();
    ok(json!({ "total": total, "by_endpoint": counts }))
}

pub(crate) async fn clear_requests(State(w): W) -> Response {
    w.clear_counts();
    ok(json!({ "cleared": true }))
}
