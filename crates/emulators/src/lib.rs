//! Local emulators of Pinterest Business Access (API v5, under `/v5`) and TikTok Business
//! Center (API v1.3, under `/open_api/v1.3`) on one listener, with their consent pages and a
//! control API under `/_emulator` for tests and the demo. Castellan talks to these in tests
//! and in `castellan demo`, and to the real platforms by changing only base URL and
//! credentials.
//!
//! Each platform module documents the choices made where its specification is silent or
//! marked UNCONFIRMED.

mod common;
pub mod control;
pub mod faults;
mod pages;
mod paging;
pub mod pinterest;
pub mod pinterest_state;
pub mod scenario;
pub mod tiktok;
pub mod tiktok_state;
pub mod world;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rand::Rng;
use serde_json::json;

pub use faults::Faults;
pub use scenario::{OnePlatform, Scale, ScenarioSource};
pub use world::World;

/// A route's name for counting: method and path with ids replaced by `{id}`.
fn endpoint_name(method: &str, path: &str) -> String {
    let p: Vec<String> = path
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "{id}".to_string()
            } else {
                s.to_string()
            }
        })
        .collect();
    format!("{method} {}", p.join("/"))
}

/// Counts, delays, throttles and breaks platform requests as the faults say. The latency is
/// added to the answer, after the request has taken effect, as a network's would be: a
/// client that gives up meanwhile (a killed Castellan) has still changed the platform, and
/// a request the log counts is one the platform received and acted on.
async fn platform_faults(State(w): State<Arc<World>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path.starts_with("/open_api/") || path.starts_with("/v5/")) {
        return next.run(req).await;
    }
    let latency = w.faults.lock().expect("faults").latency_ms;
    let answer = faulted(w, req, next).await;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    answer
}

/// [`platform_faults`] but the latency.
async fn faulted(w: Arc<World>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let is_tiktok = path.starts_with("/open_api/");
    *w.counts
        .lock()
        .expect("counts")
        .entry(endpoint_name(&method, &path))
        .or_default() += 1;
    let f = w.faults.lock().expect("faults").clone();
    let category = if is_tiktok {
        "tiktok"
    } else {
        pinterest::category(&method, &path)
    };
    let allowed =
        w.limiter
            .lock()
            .expect("limiter")
            .take(category, f.rate_for(category), Instant::now());
    if !allowed {
        return if is_tiktok {
            tiktok::envelope(
                &w,
                40100,
                "Due to too many requests, requests from this app are temporarily restricted.",
                json!({}),
            )
        } else {
            (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "code": 8, "message": "This request exceeded a rate limit. This can be caused by too many requests within a short time." }))).into_response()
        };
    }
    // Writes: anything but a read or a token exchange.
    let is_write =
        method != "GET" && !path.contains("/oauth") && !path.contains("/oauth2/access_token");
    if is_write {
        let fail = {
            let mut g = w.faults.lock().expect("faults");
            let fail = g.fail_next_writes > 0;
            g.fail_next_writes = g.fail_next_writes.saturating_sub(1);
            fail
        };
        if fail {
            return if is_tiktok {
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "code": 50000, "message": "System error", "request_id": w.request_id(), "data": {} }))).into_response()
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "code": 503, "message": "Service unavailable." })),
                )
                    .into_response()
            };
        }
        if let Some(msg) = &f.refuse_writes {
            return if is_tiktok {
                tiktok::envelope(&w, 40002, msg, json!({}))
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "code": 400, "message": msg })),
                )
                    .into_response()
            };
        }
    }
    let (roll_err, roll_timeout, which): (f64, f64, u8) = {
        let mut rng = w.rng.lock().expect("rng");
        (rng.r#gen(), rng.r#gen(), rng.gen_range(0..3))
    };
    if roll_timeout < f.timeout_rate {
        tokio::time::sleep(Duration::from_millis(f.timeout_ms)).await;
        return (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response();
    }
    if roll_err < f.error_rate {
        let status = [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
        ][which as usize];
        return if is_tiktok {
            (status, Json(json!({ "code": 50000, "message": "System error", "request_id": w.request_id(), "data": {} }))).into_response()
        } else {
            (
                status,
                Json(json!({ "code": status.as_u16(), "message": "Internal server error." })),
            )
                .into_response()
        };
    }
    let answer = next.run(req).await;
    match &f.drop_field {
        Some(d) if path.ends_with(&d.path_suffix) => drop_field(answer, d).await,
        _ => answer,
    }
}

/// The answer without the field `d` names.
async fn drop_field(answer: Response, d: &faults::DropField) -> Response {
    let (parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "unreadable answer").into_response();
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    d.apply(&mut v);
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(v.to_string()))
}

pub fn router(world: Arc<World>) -> Router {
    Router::new()
        .merge(pinterest::routes())
        .merge(tiktok::routes())
        .merge(control::routes())
        .fallback(|req: Request| async move {
            if req.uri().path().starts_with("/open_api/") {
                (StatusCode::OK, Json(json!({ "code": 40400, "message": "Route not found.", "request_id": "", "data": {} }))).into_response()
            } else {
                (StatusCode::NOT_FOUND, Json(json!({ "code": 404, "message": "Not found." }))).into_response()
            }
        })
        .layer(middleware::from_fn_with_state(world.clone(), platform_faults))
        .with_state(world)
}

/// A running emulator: its address and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub world: Arc<World>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Base URL of the Pinterest API (`…/v5`).
    pub fn pinterest_url(&self) -> String {
        format!("{}/v5", self.base_url())
    }
    /// Base URL of the TikTok API (`…/open_api/v1.3`).
    pub fn tiktok_url(&self) -> String {
        format!("{}/open_api/v1.3", self.base_url())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts the emulators on `listen` (use port 0 in tests) in the current runtime.
pub async fn start(listen: &str, world: World) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let world = Arc::new(world);
    let app = router(world.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        world,
        stop: Some(tx),
    })
}
