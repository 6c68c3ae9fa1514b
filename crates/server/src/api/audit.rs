//! The activity log: list, export (CSV or JSON lines) and verify.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use castellan_domain::audit::{AuditEvent, Outcome};
use castellan_domain::policy::Action;
use castellan_store::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::OutcomeName;
use super::{Page, limit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    pub id: String,
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `person:<id>`, `token:<id>` or `automation:<name>`.
    pub actor: String,
    /// `person`, `token` or `automation`.
    pub actor_type: String,
    /// For tokens, the person who owns the token.
    pub actor_person: Option<String>,
    pub action: String,
    pub target: String,
    /// `success` or `failure`.
    pub outcome: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEvent> for AuditEventBody {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            seq: e.seq,
            at: e.at,
            actor: e.actor.reference(),
            actor_type: e.actor.kind().into(),
            actor_person: e.actor.person().map(|p| p.to_string()),
            action: e.action,
            target: e.target,
            outcome: e.outcome.as_str().into(),
            details: e.details,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// An action or a dotted prefix of one (`directory` matches `directory.identity.create`).
    pub action: Option<String>,
    /// `person:<id>`, `token:<id>` or `automation:<name>`.
    pub actor: Option<String>,
    pub target: Option<String>,
    /// `success` or `failure`.
    #[param(value_type = Option<OutcomeName>)]
    pub outcome: Option<String>,
    /// RFC 3339 time, inclusive.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339 time, exclusive.
    #[param(format = DateTime)]
    pub until: Option<String>,
    #[param(pattern = r"^[0-9]{0,18}$")]
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The export's filters (the same as the list's) and its format; it is not paged.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// An action or a dotted prefix of one (`directory` matches `directory.identity.create`).
    pub action: Option<String>,
    /// `person:<id>`, `token:<id>` or `automation:<name>`.
    pub actor: Option<String>,
    pub target: Option<String>,
    /// `success` or `failure`.
    #[param(value_type = Option<OutcomeName>)]
    pub outcome: Option<String>,
    /// RFC 3339 time, inclusive.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339 time, exclusive.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// `csv` (default) or `jsonl`.
    #[param(value_type = Option<super::ExportFormat>)]
    pub format: Option<String>,
}

/// The filters both take.
struct Filters<'a> {
    action: &'a Option<String>,
    actor: &'a Option<String>,
    target: &'a Option<String>,
    outcome: &'a Option<String>,
    since: &'a Option<String>,
    until: &'a Option<String>,
}

macro_rules! filters_of {
    ($q:expr) => {
        Filters {
            action: &$q.action,
            actor: &$q.actor,
            target: &$q.target,
            outcome: &$q.outcome,
            since: &$q.since,
            until: &$q.until,
        }
    };
}

fn time(
    field: &str,
    v: &Option<String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    v.as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| ApiError::invalid(field, format!("{field} must be an RFC 3339 time")))
        })
        .transpose()
}

fn filter(q: Filters<'_>) -> Result<AuditFilter, ApiError> {
    let outcome = match q.outcome.as_deref() {
        None => None,
        Some("success") => Some(Outcome::Success),
        Some("failure") => Some(Outcome::Failure),
        Some(_) => {
            return Err(ApiError::invalid(
                "outcome",
                "outcome must be success or failure",
            ));
        }
    };
    Ok(AuditFilter {
        action: q.action.clone(),
        actor: q.actor.clone(),
        target: q.target.clone(),
        outcome,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
    })
}

/// Activity log events, newest first.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEventBody>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_events(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Page<AuditEventBody>>> {
    let p = caller.require(Action::ReadAudit)?;
    let f = filter(filters_of!(q))?;
    let page = s
        .store
        .ws(p.workspace_id)
        .audit_list(&f, super::seq_cursor(&q.cursor)?, limit(q.limit)?)
        .await?;
    Ok(Json(Page::from_store(page, Into::into)))
}

const CSV_HEADER: &[&str] = &[
    "seq",
    "id",
    "at",
    "actor",
    "actor_type",
    "action",
    "target",
    "outcome",
    "details",
    "prev_hash",
    "hash",
];

/// Export the matching events, oldest first, as CSV or JSON lines (streamed page by page).
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportQuery),
    responses((status = 200, description = "the events, as CSV (format=csv) or JSON lines (format=jsonl)", content(("text/csv"), ("application/x-ndjson"))), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let p = *caller.require(Action::ReadAudit)?;
    let jsonl = match q.format.as_deref() {
        None | Some("csv") => false,
        Some("jsonl") => true,
        Some(_) => return Err(ApiError::invalid("format", "format must be csv or jsonl")),
    };
    let f = filter(filters_of!(q))?;
    let store = s.store.clone();
    let ws = p.workspace_id;
    let stream = async_stream(store, ws, f, jsonl);
    let ct = if jsonl {
        "application/x-ndjson"
    } else {
        "text/csv; charset=utf-8"
    };
    let name = if jsonl { "audit.jsonl" } else { "audit.csv" };
    Ok((
        [
            (header::CONTENT_TYPE, ct.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

fn async_stream(
    store: castellan_store::Store,
    ws: castellan_domain::WorkspaceId,
    f: AuditFilter,
    jsonl: bool,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        if !jsonl {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(CSV_HEADER);
            let _ = tx.send(Ok(w.into_inner().unwrap_or_default())).await;
        }
        let mut after = None;
        loop {
            let page = match store.ws(ws).audit_export_page(&f, after, 500).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let mut buf = Vec::new();
            if jsonl {
                for e in &page.items {
                    let body = AuditEventBody::from(e.clone());
                    buf.extend(serde_json::to_vec(&body).unwrap_or_default());
                    buf.push(b'\n');
                }
            } else {
                let mut w = csv::Writer::from_writer(Vec::new());
                for e in &page.items {
                    let _ = w.write_record([
                        e.seq.to_string(),
                        e.id.to_string(),
                        e.at.to_rfc3339(),
                        e.actor.reference(),
                        e.actor.kind().to_string(),
                        e.action.clone(),
                        e.target.clone(),
                        e.outcome.as_str().to_string(),
                        e.details.to_string(),
                        e.prev_hash.clone(),
                        e.hash.clone(),
                    ]);
                }
                buf = w.into_inner().unwrap_or_default();
            }
            after = page.items.last().map(|e| e.seq);
            if tx.send(Ok(buf)).await.is_err() || page.next_cursor.is_none() {
                return;
            }
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// The first broken event, when the chain is broken.
    pub broken_event_id: Option<String>,
    pub broken_seq: Option<i64>,
    pub reason: Option<String>,
}

/// Walk the workspace's hash chain and report the first broken event.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn verify(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<VerifyResponse>> {
    let p = caller.require(Action::ReadAudit)?;
    Ok(Json(
        match s.store.ws(p.workspace_id).audit_verify().await? {
            Ok(n) => VerifyResponse {
                ok: true,
                events: n,
                broken_event_id: None,
                broken_seq: None,
                reason: None,
            },
            Err(b) => VerifyResponse {
                ok: false,
                events: (b.seq - 1).max(0) as u64,
                broken_event_id: Some(b.event_id.to_string()),
                broken_seq: Some(b.seq),
                reason: Some(b.reason),
            },
        },
    ))
}
