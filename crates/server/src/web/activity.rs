//! Activity: the audit log with filters, CSV export (the API's export, which the session
//! cookie authorizes) and chain verification.

use askama::Template;
use axum::extract::State;
use castellan_domain::audit::{AuditEvent, Outcome};
use castellan_domain::policy::Action;
use castellan_store::AuditFilter;

use super::{Chrome, Flash, Nav, Query, Web, WebResult, page, when, with_query};
use crate::state::AppState;

/// One event as a row.
pub struct EventRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ok: bool,
    pub details: String,
}

impl From<AuditEvent> for EventRow {
    fn from(e: AuditEvent) -> Self {
        let details = match &e.details {
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            serde_json::Value::Object(m) => m
                .iter()
                .take(6)
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let v: String = v.chars().take(80).collect();
                    format!("{k}: {v}")
                })
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string().chars().take(200).collect(),
        };
        Self {
            seq: e.seq,
            at: when(&e.at),
            actor: e.actor.reference(),
            action: e.action,
            target: e.target,
            ok: e.outcome == Outcome::Success,
            details,
        }
    }
}

#[derive(Template)]
#[template(path = "web/activity.html")]
pub struct ActivityPage {
    chrome: Chrome,
    events: Vec<EventRow>,
    action: String,
    actor: String,
    target: String,
    outcome: String,
    next: Option<String>,
    export: String,
}

fn filter_of(q: &super::Form) -> AuditFilter {
    let opt = |k: &str| Some(q.get(k).trim().to_string()).filter(|v| !v.is_empty());
    AuditFilter {
        action: opt("action"),
        actor: opt("actor"),
        target: opt("target"),
        outcome: match q.get("outcome") {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        },
        ..Default::default()
    }
}

async fn build(
    s: &AppState,
    web: &Web,
    q: &super::Form,
    flash: Option<Flash>,
) -> Result<ActivityPage, super::WebError> {
    let f = filter_of(q);
    let cursor = q.get("cursor").parse().ok();
    let events = s.store.ws(web.ws()).audit_list(&f, cursor, 50).await?;
    let params = |cursor: &str| {
        [
            ("action", q.get("action").to_string()),
            ("actor", q.get("actor").to_string()),
            ("target", q.get("target").to_string()),
            ("outcome", q.get("outcome").to_string()),
            ("cursor", cursor.to_string()),
        ]
    };
    let next = events.next_cursor.as_ref().map(|c| {
        let p = params(c);
        let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with_query("/activity", &refs)
    });
    let mut export_p = params("").to_vec();
    export_p.push(("format", "csv".into()));
    let refs: Vec<(&str, &str)> = export_p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut chrome = web.chrome(Nav::Activity, "Activity");
    if flash.is_some() {
        chrome.flash = flash;
    }
    Ok(ActivityPage {
        chrome,
        events: events.items.into_iter().map(EventRow::from).collect(),
        action: q.get("action").to_string(),
        actor: q.get("actor").to_string(),
        target: q.get("target").to_string(),
        outcome: q.get("outcome").to_string(),
        next,
        export: with_query("/api/v1/audit/export", &refs),
    })
}

pub async fn list(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    web.require(Action::ReadAudit)?;
    let view = build(&s, &web, &q, None).await?;
    page(&web, &view)
}

/// Walks the whole chain and shows the result above the log.
pub async fn verify(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    web.require(Action::ReadAudit)?;
    let flash = match s.store.ws(web.ws()).audit_verify().await? {
        Ok(n) => Flash::success(format!(
            "The activity log's chain is intact: {n} events verified."
        )),
        Err(b) => Flash::error(format!(
            "The chain is broken at event {}: {}",
            b.seq, b.reason
        )),
    };
    let view = build(&s, &web, &q, Some(flash)).await?;
    page(&web, &view)
}
