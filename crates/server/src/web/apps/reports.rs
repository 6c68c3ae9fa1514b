//! App details → Reports: each check's counts and the seats of people who left, and the link
//! a report e-mail carries.

use super::head::{AppHead, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Web, WebResult, page, when};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use castellan_domain::policy::Action;
use castellan_domain::reports::{CheckSummary, ReportStatus};

pub struct ReportRow {
    pub id: String,
    pub created: String,
    pub status: String,
    pub open: bool,
    pub summary: String,
    pub pending: Vec<PendingRow>,
    pub resolution: String,
    /// Partners' users who gained or lost access to our shared assets, one line each.
    pub partner_users: Vec<String>,
    /// What the check read and what it kept from earlier checks (the coverage window).
    pub coverage: String,
}

pub struct PendingRow {
    pub user_id: String,
    pub email: String,
    pub person: String,
    pub roles: String,
}

#[derive(Template)]
#[template(path = "web/app_reports.html")]
pub struct ReportsPage {
    chrome: Chrome,
    head: AppHead,
    reports: Vec<ReportRow>,
}

/// What a check changed, in words; `pending` is the number of seats the report lists for
/// removal (the report's own list, not a count stored beside it).
fn report_summary(c: &CheckSummary, status: ReportStatus, pending: usize) -> String {
    let changes = format!(
        "{} new, {} changed, {} vanished seats; {} asset and {} grant changes",
        c.seats_new,
        c.seats_changed,
        c.seats_vanished,
        c.assets_new + c.assets_changed + c.assets_vanished,
        c.grants_new + c.grants_changed + c.grants_vanished,
    );
    match status {
        // A check that found people awaiting removal while a report was open brought that
        // report up to date instead of opening another.
        ReportStatus::None if c.pending_removal > 0 => format!(
            "{changes}; {} awaiting removal, listed in the open report",
            c.pending_removal
        ),
        ReportStatus::None | ReportStatus::Closed => changes,
        _ => format!("{changes}; {pending} awaiting removal"),
    }
}

/// What a check covered, in words: empty when it read every list (or before the window).
fn coverage_line(f: &castellan_domain::reports::FetchSummary) -> String {
    if f.holders_kept + f.shares_kept == 0 {
        return String::new();
    }
    let oldest = f
        .oldest_kept_at
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| format!(" (the oldest as read on {})", when(&t)))
        .unwrap_or_default();
    use castellan_domain::words::count;
    format!(
        "Coverage window: read the holders of {}; kept {} holders and {} shared assets as earlier checks read them{oldest}. A full check reads them all.",
        count(f.holders_read, "asset", "assets"),
        count(f.holders_kept, "asset's", "assets'"),
        count(f.shares_kept, "partner's", "partners'"),
    )
}

/// A report's status as the page says it.
fn status_word(s: ReportStatus) -> &'static str {
    match s {
        ReportStatus::None => "No removals",
        ReportStatus::Open => "Open",
        ReportStatus::Applying => "Applying",
        ReportStatus::Applied => "Applied",
        ReportStatus::PartiallyApplied => "Partly applied",
        ReportStatus::Dismissed => "Dismissed",
        ReportStatus::Closed => "Closed",
    }
}

pub async fn reports(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "reports").await?;
    // The open report first (later checks keep it up to date), then each check, newest first.
    let mut all = s.store.ws(web.ws()).reports(id, 20).await?;
    if !all.iter().any(|r| r.status == ReportStatus::Open)
        && let Some(open) = s.store.ws(web.ws()).open_report(id).await?
    {
        all.push(open);
    }
    all.sort_by_key(|r| r.status != ReportStatus::Open);
    let partner_names: std::collections::HashMap<String, String> = s
        .store
        .ws(web.ws())
        .partners(id)
        .await?
        .into_iter()
        .map(|p| (p.partner_id.clone(), p.name.unwrap_or(p.partner_id)))
        .collect();
    let line = |verb: &str, c: &castellan_domain::reports::PartnerUserChange| {
        let who = c
            .email
            .clone()
            .unwrap_or_else(|| format!("user {}", c.user_id));
        let partner = partner_names.get(&c.partner_id).unwrap_or(&c.partner_id);
        format!("{who} ({partner}) {verb}")
    };
    let reports = all
        .into_iter()
        .map(|r| ReportRow {
            partner_users: r
                .changes
                .new_partner_users
                .iter()
                .map(|c| line("now reaches our shared assets", c))
                .chain(
                    r.changes
                        .vanished_partner_users
                        .iter()
                        .map(|c| line("no longer reaches our shared assets", c)),
                )
                .collect(),
            open: r.status == ReportStatus::Open,
            coverage: coverage_line(&r.summary.fetch),
            summary: report_summary(&r.summary.counts, r.status, r.pending_removal.len()),
            resolution: match &r.resolution {
                Some(castellan_domain::reports::Resolution::Dismissed { reason, .. }) => {
                    format!("Dismissed: {reason}")
                }
                _ if r.status == ReportStatus::Closed => {
                    "Closed: nothing is left to do (its seats were removed, exempted or reactivated)."
                        .to_string()
                }
                _ => String::new(),
            },
            pending: r
                .pending_removal
                .into_iter()
                .map(|p| PendingRow {
                    user_id: p.user_id,
                    email: p.email.unwrap_or_default(),
                    person: format!("{} <{}>", p.person, p.person_email),
                    roles: p.roles.join(", "),
                })
                .collect(),
            status: status_word(r.status).to_string(),
            created: when(&r.created_at),
            id: r.id,
        })
        .collect();
    page(
        &web,
        &ReportsPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Reports", head.label)),
            head,
            reports,
        },
    )
}

/// A report's own address (the report e-mail links here): the Reports tab, at that report.
pub async fn report_link(
    State(s): State<AppState>,
    web: Web,
    Path((id, report)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    let r = s.store.ws(web.ws()).report(id, &report).await?;
    Ok(
        axum::response::Redirect::to(&format!("/apps/{id}/reports#report-{}", r.id))
            .into_response(),
    )
}
