//! Apps: the app cards, the Connect app wizard, and App details with its tabs (Members,
//! Assets, Reports, Activity, Settings), Check for updates with live progress, and Remove app.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use castellan_domain::apps::{AppStatus, LoginMethod, MatchSource, Platform, SeatState, Tab};
use castellan_domain::policy::Action;
use castellan_domain::reports::{CheckSummary, ReportStatus};
use castellan_domain::tasks::{TaskPayload, TaskStatus};
use castellan_domain::{AppId, AutomationAccountId};
use castellan_store::{App, TaskFilter};

use super::{
    Chrome, Errors, Flash, Form, Nav, Query, Web, WebError, WebResult, done, invalid, page, when,
    when_opt, with_query,
};
use crate::state::AppState;

pub fn app_id(raw: &str) -> Result<AppId, WebError> {
    raw.parse().map_err(|_| {
        WebError::NotFound("This app does not exist, or is not in your workspace.".into())
    })
}

pub fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Pinterest => "Pinterest",
        Platform::Tiktok => "TikTok",
    }
}

pub fn platform_letter(p: Platform) -> &'static str {
    match p {
        Platform::Pinterest => "P",
        Platform::Tiktok => "T",
    }
}

/// A status as a word, an icon and a colour class (never colour alone).
#[derive(Debug, Clone)]
pub struct StatusView {
    pub word: String,
    pub icon: &'static str,
    pub class: &'static str,
}

impl StatusView {
    pub fn of_app(a: &App, checking: bool) -> Self {
        if checking {
            return Self {
                word: "Checking…".into(),
                icon: "↻",
                class: "status-busy",
            };
        }
        match a.status {
            AppStatus::Connected => Self {
                word: "Connected".into(),
                icon: "✓",
                class: "status-ok",
            },
            AppStatus::Pending => Self {
                word: "Connecting".into(),
                icon: "…",
                class: "status-busy",
            },
            AppStatus::Error => Self {
                word: "Connection failing".into(),
                icon: "✕",
                class: "status-bad",
            },
        }
    }

    pub fn of_task(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Pending => Self {
                word: "Pending".into(),
                icon: "…",
                class: "status-busy",
            },
            TaskStatus::InProgress => Self {
                word: "In progress".into(),
                icon: "↻",
                class: "status-busy",
            },
            TaskStatus::Completed => Self {
                word: "Completed".into(),
                icon: "✓",
                class: "status-ok",
            },
            TaskStatus::Failed => Self {
                word: "Failed".into(),
                icon: "✕",
                class: "status-bad",
            },
            TaskStatus::Cancelled => Self {
                word: "Cancelled".into(),
                icon: "–",
                class: "status-warn",
            },
        }
    }
}

/// A task's progress, live while it runs.
#[derive(Debug, Clone)]
pub struct ProgressView {
    pub app_id: String,
    pub task_id: String,
    pub status: StatusView,
    pub live: bool,
    pub done: i64,
    pub total: Option<i64>,
    pub message: String,
    pub error: Option<String>,
    pub finished: String,
}

impl ProgressView {
    pub fn of(app: AppId, t: &castellan_store::Task) -> Self {
        Self {
            app_id: app.to_string(),
            task_id: t.id.to_string(),
            status: StatusView::of_task(t.status),
            live: !t.status.is_final(),
            done: t.progress_done,
            total: t.progress_total,
            message: t.progress_message.clone().unwrap_or_default(),
            error: t.error.clone(),
            finished: when_opt(&t.finished_at),
        }
    }
}

/// A User Overview tab with its count, as a link.
#[derive(Debug, Clone)]
pub struct TabLink {
    pub label: &'static str,
    pub count: i64,
    pub href: String,
    pub current: bool,
}

/// The User Overview tabs: their names (as in URLs) and labels.
pub const TABS: [(&str, &str); 6] = [
    ("onboarded", "Onboarded"),
    ("unmatched", "Unmatched"),
    ("exempted", "Exempted"),
    ("partner_users", "Partner users"),
    ("invited", "Invited"),
    ("removed", "Removed"),
];

/// An app card (the Apps view) or the head of App details.
#[derive(Debug, Clone)]
pub struct AppHead {
    pub id: String,
    pub label: String,
    pub platform: &'static str,
    pub letter: &'static str,
    pub business_id: String,
    pub status: StatusView,
    pub status_message: Option<String>,
    pub last_check: String,
    pub next_check: String,
    pub tabs: Vec<TabLink>,
    pub assets: i64,
    pub partners: i64,
    pub check: Option<ProgressView>,
    /// Which App details tab is shown.
    pub section: &'static str,
    pub may_manage: bool,
}

impl AppHead {
    pub fn section_link(&self, name: &str) -> String {
        format!("/apps/{}/{name}", self.id)
    }
    pub fn is(&self, name: &str) -> bool {
        self.section == name
    }
}

/// The app's latest check for updates.
async fn latest_check(
    s: &AppState,
    web: &Web,
    app: AppId,
) -> Result<Option<castellan_store::Task>, WebError> {
    Ok(s.store
        .ws(web.ws())
        .tasks(
            &TaskFilter {
                app_id: Some(app),
                kind: Some(castellan_domain::tasks::AppCheck::KIND.to_string()),
                ..Default::default()
            },
            None,
            1,
        )
        .await?
        .items
        .into_iter()
        .next())
}

fn head_of(
    a: &App,
    counts: castellan_store::AppCounts,
    check: Option<&castellan_store::Task>,
    current: Option<&str>,
    section: &'static str,
    may_manage: bool,
) -> AppHead {
    let checking = check.is_some_and(|t| !t.status.is_final());
    let mut tabs: Vec<TabLink> = TABS
        .iter()
        .map(|(name, label)| TabLink {
            label,
            count: 0,
            href: format!("/apps/{}/members?tab={name}", a.id),
            current: current == Some(*name),
        })
        .collect();
    for (state, n) in counts.tabs {
        if let Ok(st) = state.parse::<SeatState>()
            && let Some(i) = TABS.iter().position(|(name, _)| *name == st.tab())
        {
            tabs[i].count = n;
        }
    }
    AppHead {
        id: a.id.to_string(),
        label: a.label.clone(),
        platform: platform_name(a.platform),
        letter: platform_letter(a.platform),
        business_id: a.business_id.clone(),
        status: StatusView::of_app(a, checking),
        status_message: a.status_message.clone(),
        last_check: when_opt(&a.last_check_at),
        next_check: when_opt(&a.next_check_at),
        tabs,
        assets: counts.assets,
        partners: counts.partners,
        check: check.map(|t| ProgressView::of(a.id, t)),
        section,
        may_manage,
    }
}

/// Loads an app of the caller's workspace with its head.
pub async fn load_head(
    s: &AppState,
    web: &Web,
    id: AppId,
    current: Option<&str>,
    section: &'static str,
) -> Result<(App, AppHead), WebError> {
    let scoped = s.store.ws(web.ws());
    let app = scoped.app(id).await?;
    let counts = scoped
        .app_counts(&[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    let check = latest_check(s, web, id).await?;
    let may = web.require(Action::ManageApps).is_ok();
    let head = head_of(&app, counts, check.as_ref(), current, section, may);
    Ok((app, head))
}

#[derive(Template)]
#[template(path = "web/apps.html")]
pub struct AppsPage {
    chrome: Chrome,
    /// What needs attention first: each line's words and the link to the rows behind it.
    attention: Vec<(String, String)>,
    cards: Vec<AppHead>,
    next: Option<String>,
    may_manage: bool,
}

pub async fn list(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    web.require(Action::ReadApps)?;
    let scoped = s.store.ws(web.ws());
    let cursor = q.get("cursor").parse().ok();
    let apps = scoped.apps(cursor, 50).await?;
    let ids: Vec<AppId> = apps.items.iter().map(|a| a.id).collect();
    let mut counts = scoped.app_counts(&ids).await?;
    let may = web.require(Action::ManageApps).is_ok();
    let mut cards = Vec::new();
    let mut attention = Vec::new();
    for a in &apps.items {
        let check = latest_check(&s, &web, a.id).await?;
        let head = head_of(
            a,
            counts.remove(&a.id).unwrap_or_default(),
            check.as_ref(),
            None,
            "",
            may,
        );
        if a.status == AppStatus::Error {
            attention.push((
                format!("{}: connection failing", a.label),
                format!("/apps/{}/settings", a.id),
            ));
        }
        if let Some(r) = scoped.reports(a.id, 1).await?.into_iter().next()
            && r.status == ReportStatus::Open
        {
            attention.push((
                format!(
                    "{}: {} seat(s) of people who left await removal",
                    a.label,
                    r.pending_removal.len()
                ),
                format!("/apps/{}/reports", a.id),
            ));
        }
        if let Some(t) = head
            .tabs
            .iter()
            .find(|t| t.label == "Unmatched" && t.count > 0)
        {
            attention.push((
                format!("{}: {} unmatched seat(s)", a.label, t.count),
                t.href.clone(),
            ));
        }
        cards.push(head);
    }
    page(
        &web,
        &AppsPage {
            chrome: web.chrome(Nav::Apps, "Apps"),
            attention,
            cards,
            next: apps
                .next_cursor
                .map(|c| with_query("/apps", &[("cursor", &c)])),
            may_manage: may,
        },
    )
}

pub async fn details(Path(id): Path<String>) -> WebResult {
    let id = app_id(&id)?;
    Ok(axum::response::Redirect::to(&format!("/apps/{id}/members")).into_response())
}

/// One row of the User Overview.
#[derive(Debug, Clone)]
pub struct SeatRow {
    pub user_id: String,
    pub person: String,
    pub email: String,
    pub username: String,
    pub roles: String,
    pub assets: i64,
    /// The seat's assets and its permissions on each (shown on demand).
    pub holdings: Vec<(String, String)>,
    pub notes: Vec<(&'static str, String)>,
    pub automation: bool,
    pub modal_actions: Vec<(&'static str, String)>,
    pub post_actions: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "web/app_members.html")]
pub struct MembersPage {
    chrome: Chrome,
    head: AppHead,
    tab: String,
    q: String,
    rows: Vec<SeatRow>,
    next: Option<String>,
}

pub async fn members(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    // An unknown tab shows the first one; `guest` is the old name of Partner users.
    let tab_name = match q.get("tab") {
        "guest" => "partner_users",
        t if TABS.iter().any(|(n, _)| *n == t) => t,
        _ => "onboarded",
    };
    let tab = Tab::parse("tab", tab_name).expect("a known tab");
    let (app, head) = load_head(&s, &web, id, Some(tab_name), "members").await?;
    let search = q.get("q").trim().to_string();
    let cursor = q.get("cursor");
    let seats = s
        .store
        .ws(web.ws())
        .seats(
            id,
            tab,
            Some(search.as_str()).filter(|x| !x.is_empty()),
            Some(cursor).filter(|c| !c.is_empty()),
            50,
        )
        .await?;
    let base = format!("/apps/{id}/members/");
    // The page's seats' permissions in one query, for the expandable asset lists.
    let ids: Vec<String> = seats
        .items
        .iter()
        .filter(|s| s.assets > 0)
        .map(|s| s.user_id.clone())
        .collect();
    let mut perms = s.store.ws(web.ws()).seat_permissions(id, &ids).await?;
    let rows = seats
        .items
        .into_iter()
        .map(|seat| {
            let automation = app.automation_user_id.as_deref() == Some(seat.user_id.as_str());
            let mut notes = Vec::new();
            if automation {
                notes.push(("note-info", "Automation account".to_string()));
            }
            if seat.deprovisioned {
                notes.push((
                    "note-warn",
                    "Person deactivated: awaiting removal".to_string(),
                ));
            }
            if let Some(e) = &seat.exemption {
                notes.push((
                    "note-info",
                    match &e.until {
                        Some(u) => format!("Exempt: {} (until {})", e.reason, when(u)),
                        None => format!("Exempt: {}", e.reason),
                    },
                ));
            }
            if seat.match_source == Some(MatchSource::Manual) && seat.state == SeatState::Onboarded
            {
                notes.push(("note-info", "Matched by hand".to_string()));
            }
            if let Some(r) = &seat.removed_at {
                notes.push(("note-warn", format!("Removed {}", when(r))));
            }
            let u = form_urlencoded::byte_serialize(seat.user_id.as_bytes()).collect::<String>();
            let mut modal = Vec::new();
            let mut posts = Vec::new();
            if head.may_manage && !automation {
                match seat.state {
                    SeatState::Unmatched => {
                        modal.push(("Match user", format!("{base}{u}/match")));
                        modal.push(("Exempt user", format!("{base}{u}/exempt")));
                        modal.push(("Remove user", format!("{base}{u}/remove")));
                    }
                    SeatState::Onboarded => {
                        modal.push(("Change role", format!("{base}{u}/role")));
                        modal.push(("Exempt user", format!("{base}{u}/exempt")));
                        modal.push(("Remove user", format!("{base}{u}/remove")));
                        posts.push(("Re-assign", format!("{base}{u}/unmatch")));
                    }
                    SeatState::Exempted => {
                        posts.push(("Un-exempt", format!("{base}{u}/unexempt")));
                        modal.push(("Remove user", format!("{base}{u}/remove")));
                    }
                    SeatState::Invited => {
                        modal.push((
                            "Cancel invite",
                            format!("{base}{u}/remove?action=cancel_invite"),
                        ));
                    }
                    SeatState::PartnerUser | SeatState::Removed => {}
                }
            }
            SeatRow {
                person: seat
                    .display_name
                    .clone()
                    .or_else(|| seat.email.clone())
                    .unwrap_or_else(|| seat.user_id.clone()),
                email: seat.email.clone().unwrap_or_default(),
                username: seat.username.clone().unwrap_or_default(),
                roles: seat.roles.join(", "),
                assets: seat.assets,
                holdings: perms
                    .remove(&seat.user_id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|h| (h.label.unwrap_or(h.asset_id), h.permissions.join(", ")))
                    .collect(),
                notes,
                automation,
                modal_actions: modal,
                post_actions: posts,
                user_id: seat.user_id,
            }
        })
        .collect();
    let tab_s = tab_name.to_string();
    let next = seats.next_cursor.map(|c| {
        with_query(
            &format!("/apps/{id}/members"),
            &[("tab", &tab_s), ("q", &search), ("cursor", &c)],
        )
    });
    page(
        &web,
        &MembersPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Members", head.label)),
            head,
            tab: tab_s,
            q: search,
            rows,
            next,
        },
    )
}

pub struct AssetRow {
    pub asset_id: String,
    pub kind: String,
    pub name: String,
    pub holders_total: i64,
    pub holders: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "web/app_assets.html")]
pub struct AssetsPage {
    chrome: Chrome,
    head: AppHead,
    rows: Vec<AssetRow>,
    kind: String,
    next: Option<String>,
}

pub async fn assets(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "assets").await?;
    let kind = q.get("kind").trim().to_string();
    let page_ = s
        .store
        .ws(web.ws())
        .assets_with_holders(
            id,
            Some(kind.as_str()).filter(|k| !k.is_empty()),
            Some(q.get("cursor")).filter(|c| !c.is_empty()),
            50,
            20,
        )
        .await?;
    let rows = page_
        .items
        .into_iter()
        .map(|a| AssetRow {
            asset_id: a.asset_id,
            kind: a.kind,
            name: a.name.unwrap_or_default(),
            holders_total: a.holders_total,
            holders: a
                .holders
                .into_iter()
                .map(|h| {
                    let who = match h.holder.split_once(':') {
                        Some(("partner", b)) => {
                            format!("Partner {}", h.label.unwrap_or_else(|| b.to_string()))
                        }
                        Some((_, u)) => h.label.unwrap_or_else(|| u.to_string()),
                        None => h.holder,
                    };
                    (who, h.permissions.join(", "))
                })
                .collect(),
        })
        .collect();
    let next = page_.next_cursor.map(|c| {
        with_query(
            &format!("/apps/{id}/assets"),
            &[("kind", &kind), ("cursor", &c)],
        )
    });
    page(
        &web,
        &AssetsPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Assets", head.label)),
            head,
            rows,
            kind,
            next,
        },
    )
}

pub struct ReportRow {
    pub id: String,
    pub created: String,
    pub status: String,
    pub open: bool,
    pub summary: String,
    pub pending: Vec<PendingRow>,
    pub resolution: String,
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
fn report_summary(c: &CheckSummary, pending: usize) -> String {
    format!(
        "{} new, {} changed, {} vanished seats; {} asset and {} grant changes; {} awaiting removal",
        c.seats_new,
        c.seats_changed,
        c.seats_vanished,
        c.assets_new + c.assets_changed + c.assets_vanished,
        c.grants_new + c.grants_changed + c.grants_vanished,
        pending
    )
}

pub async fn reports(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "reports").await?;
    let reports = s
        .store
        .ws(web.ws())
        .reports(id, 20)
        .await?
        .into_iter()
        .map(|r| ReportRow {
            open: r.status == ReportStatus::Open,
            summary: report_summary(&r.summary.counts, r.pending_removal.len()),
            resolution: r
                .resolution
                .as_ref()
                .and_then(|v| {
                    v.get("reason")
                        .and_then(|x| x.as_str())
                        .map(|x| format!("Dismissed: {x}"))
                })
                .unwrap_or_default(),
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
            status: r.status.as_str().replace('_', " "),
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

#[derive(Template)]
#[template(path = "web/app_activity.html")]
pub struct AppActivityPage {
    chrome: Chrome,
    head: AppHead,
    events: Vec<super::activity::EventRow>,
}

pub async fn activity(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    web.require(Action::ReadAudit)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "activity").await?;
    let events = s
        .store
        .ws(web.ws())
        .audit_list(
            &castellan_store::AuditFilter {
                target: Some(format!("app:{id}")),
                ..Default::default()
            },
            None,
            100,
        )
        .await?
        .items
        .into_iter()
        .map(super::activity::EventRow::from)
        .collect();
    page(
        &web,
        &AppActivityPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Activity", head.label)),
            head,
            events,
        },
    )
}

#[derive(Template)]
#[template(path = "web/app_settings.html")]
pub struct AppSettingsPage {
    chrome: Chrome,
    head: AppHead,
    login_method: String,
    account: String,
    api_base_url: String,
    created: String,
    /// The rotation policy: `off`, `after_reveal` or `schedule`, and its days.
    rotation: &'static str,
    rotation_days: String,
}

pub async fn settings(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "settings").await?;
    let account = s
        .store
        .ws(web.ws())
        .automation_account(app.automation_account_id)
        .await
        .map(|a| format!("{} ({})", a.label, a.email))
        .unwrap_or_default();
    page(
        &web,
        &AppSettingsPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Settings", head.label)),
            head,
            login_method: if app.login_method == LoginMethod::Sso {
                "SSO".into()
            } else {
                "Username and password".into()
            },
            account,
            api_base_url: app
                .api_base_url
                .clone()
                .unwrap_or_else(|| "the platform's API".into()),
            created: when(&app.created_at),
            rotation: app.rotation.map(|r| r.kind()).unwrap_or("off"),
            rotation_days: app
                .rotation
                .map(|r| r.days().to_string())
                .unwrap_or_else(|| "90".into()),
        },
    )
}

/// Settings → Password rotation.
pub async fn rotation_submit(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: super::Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    s.store.ws(web.ws()).app(id).await?;
    let days = form.get("days").trim().parse::<i64>().ok();
    let to = format!("/apps/{id}/settings");
    match castellan_services::rotation::set_policy(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        id,
        form.get("policy"),
        days,
    )
    .await
    {
        Ok(None) => Ok(super::done(
            &web,
            &to,
            super::Flash::success("Password rotation is off."),
        )),
        Ok(Some(r)) => Ok(super::done(
            &web,
            &to,
            super::Flash::success(format!(
                "Saved passwords will be rotated {} {} days.",
                if r.kind() == "schedule" {
                    "every"
                } else {
                    "this many days after each reveal:"
                },
                r.days()
            )),
        )),
        Err(e) => match crate::error::ApiError::from(e) {
            crate::error::ApiError::Invalid { message, .. } => {
                Ok(super::done(&web, &to, super::Flash::error(message)))
            }
            other => Err(other.into()),
        },
    }
}

pub async fn check(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let app = s.store.ws(web.ws()).app(id).await?;
    let task = castellan_services::apps::request_check(
        &s.store,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        id,
    )
    .await?;
    Ok(done(
        &web,
        &format!("/apps/{id}/members"),
        Flash::info(format!("Checking {} for updates.", app.label))
            .with_link(format!("/automation/{}", task.id)),
    ))
}

#[derive(Template)]
#[template(path = "web/progress.html")]
pub struct ProgressFragment {
    progress: ProgressView,
}

/// The live progress of the app's check (polled by htmx every second while it runs). When it
/// has ended, the page reloads to show what the check found.
pub async fn progress(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    s.store.ws(web.ws()).app(id).await?;
    let Some(t) = latest_check(&s, &web, id).await? else {
        return Err(WebError::NotFound("This app has no check yet.".into()));
    };
    let view = ProgressView::of(id, &t);
    let finished = !view.live;
    let mut r = super::render(
        Some(&web),
        StatusCode::OK,
        &ProgressFragment { progress: view },
    )?;
    if finished && web.htmx {
        r.headers_mut()
            .insert("hx-refresh", HeaderValue::from_static("true"));
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(Template)]
#[template(path = "web/app_remove.html", blocks = ["dialog"])]
pub struct RemovePage {
    chrome: Chrome,
    head: AppHead,
    standalone: bool,
    reason: String,
    errors: Errors,
}

pub async fn remove_page(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "settings").await?;
    let p = RemovePage {
        chrome: web.chrome(Nav::Apps, format!("Remove {}", head.label)),
        head,
        standalone: !web.htmx,
        reason: String::new(),
        errors: Errors::default(),
    };
    if web.htmx {
        super::page(&web, &p.as_dialog())
    } else {
        page(&web, &p)
    }
}

pub async fn remove_submit(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    form: Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "settings").await?;
    match castellan_services::apps::remove_app(
        &s.store,
        web.ws(),
        &web.caller.actor(),
        id,
        form.get("reason"),
    )
    .await
    {
        Ok(r) => Ok(done(
            &web,
            "/apps",
            Flash::success(format!(
                "{} was removed from Castellan ({} seats, {} assets and {} reports deleted). Nothing was changed on {}.",
                app.label,
                r.seats,
                r.assets,
                r.reports,
                platform_name(app.platform)
            )),
        )),
        Err(e) => {
            let errors = Errors::from_api(e.into(), &["reason"])?;
            invalid(
                &web,
                &RemovePage {
                    chrome: web.chrome(Nav::Apps, format!("Remove {}", head.label)),
                    head,
                    standalone: true,
                    reason: form.get("reason").to_string(),
                    errors,
                },
            )
        }
    }
}

// ----------------------------------------------------------------- Connect app wizard

/// An automation account to pick in the wizard.
pub struct AccountChoice {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "web/connect.html")]
pub struct ConnectPage {
    chrome: Chrome,
    /// `intro`, `select`, `details` or `consent`.
    step: &'static str,
    platform: String,
    platform_label: &'static str,
    accounts: Vec<AccountChoice>,
    form: Form,
    errors: Errors,
    /// The consent page hand-off: where to go to authorize the automation account.
    authorize_url: String,
    /// The platform apps configured for the consent page.
    consent_available: bool,
}

impl ConnectPage {
    pub fn value(&self, name: &str) -> &str {
        self.form.get(name)
    }
    pub fn is(&self, name: &str, value: &str) -> bool {
        self.form.get(name) == value
    }
}

const INTRO_COOKIE: &str = "castellan_hide_connect_intro";

async fn connect_view(
    s: &AppState,
    web: &Web,
    step: &'static str,
    form: Form,
    errors: Errors,
) -> Result<ConnectPage, WebError> {
    let platform = Platform::parse("platform", form.get("platform")).ok();
    let mut accounts = Vec::new();
    let mut consent_available = false;
    if let Some(p) = platform {
        let scoped = s.store.ws(web.ws());
        let chosen = form.get("automation_account_id");
        for a in scoped.automation_accounts(None, 500).await?.items {
            if a.platform == p {
                accounts.push(AccountChoice {
                    selected: chosen == a.id.to_string(),
                    id: a.id.to_string(),
                    label: format!("{} ({})", a.label, a.email),
                });
            }
        }
        consent_available = scoped.platform_app(p).await.is_ok();
    }
    Ok(ConnectPage {
        chrome: web.chrome(Nav::Apps, "Connect app"),
        step,
        platform: platform.map(|p| p.to_string()).unwrap_or_default(),
        platform_label: platform.map(platform_name).unwrap_or(""),
        accounts,
        form,
        errors,
        authorize_url: String::new(),
        consent_available,
    })
}

pub async fn connect_page(
    State(s): State<AppState>,
    web: Web,
    headers: axum::http::HeaderMap,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let hide_intro = super::cookie(&headers, INTRO_COOKIE).is_some();
    let step = match q.get("step") {
        "select" => "select",
        "details" if Platform::parse("platform", q.get("platform")).is_ok() => "details",
        "details" => "select",
        _ if hide_intro => "select",
        _ => "intro",
    };
    let mut form = q.clone();
    if form.get("login_method").is_empty() {
        form.fields.push(("login_method".into(), "password".into()));
    }
    if form.get("account_mode").is_empty() {
        form.fields.push(("account_mode".into(), "existing".into()));
    }
    if form.get("token_mode").is_empty() {
        form.fields.push(("token_mode".into(), "paste".into()));
    }
    let mut view = connect_view(&s, &web, step, form, Errors::default()).await?;
    if step == "details" && view.accounts.is_empty() && q.get("account_mode").is_empty() {
        view.form.fields.retain(|(k, _)| k != "account_mode");
        view.form.fields.push(("account_mode".into(), "new".into()));
    }
    let mut r = page(&web, &view)?;
    if q.checked("hide_intro") {
        r.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&format!(
                "{INTRO_COOKIE}=1; Path=/; SameSite=Strict; HttpOnly; Max-Age=31536000"
            ))
            .expect("ascii"),
        );
    }
    Ok(r)
}

const CONNECT_FIELDS: &[&str] = &[
    "platform",
    "label",
    "business_id",
    "login_method",
    "automation_account_id",
    "account_label",
    "account_email",
    "account_password",
    "account_phone",
    "access_token",
    "api_base_url",
];

/// Maps a service's field names onto the wizard's.
fn wizard_field(e: crate::error::ApiError, new_account: bool) -> crate::error::ApiError {
    use crate::error::ApiError;
    match e {
        ApiError::Invalid {
            field: Some(f),
            message,
            code,
        } if new_account => {
            let f = match f.as_str() {
                "label" => "account_label",
                "email" => "account_email",
                "password" => "account_password",
                "phone" => "account_phone",
                other => other,
            };
            ApiError::Invalid {
                field: Some(f.to_string()),
                message,
                code,
            }
        }
        other => other,
    }
}

pub async fn connect_submit(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageApps)?;
    web.require(Action::ManageAutomationAccounts)?;
    match connect(&s, &web, &form).await {
        Ok(Connected::Queued(queued)) => {
            let (app, task) = *queued;
            Ok(done(
            &web,
            &format!("/apps/{}/members", app.id),
            Flash::success(format!(
                "{} was added. Castellan is checking that its automation account reaches the business.",
                app.label
            ))
            .with_link(format!("/automation/{}", task.id)),
        ))
        }
        Ok(Connected::AwaitingConsent(url)) => {
            let mut view = connect_view(&s, &web, "consent", form, Errors::default()).await?;
            view.authorize_url = url;
            page(&web, &view)
        }
        Err(e) => {
            let errors = Errors::from_api(e, CONNECT_FIELDS)?;
            let view = connect_view(&s, &web, "details", form, errors).await?;
            invalid(&web, &view)
        }
    }
}

enum Connected {
    Queued(Box<(App, castellan_store::Task)>),
    AwaitingConsent(String),
}

async fn connect(
    s: &AppState,
    web: &Web,
    form: &Form,
) -> Result<Connected, crate::error::ApiError> {
    use crate::error::ApiError;
    let fields = castellan_services::apps::AppFields::parse(
        form.get("platform"),
        form.get("label"),
        form.get("business_id"),
        form.get("login_method"),
    )?;
    let platform = fields.platform;
    let api_base_url = castellan_services::apps::parse_api_base_url(
        Some(form.get("api_base_url").trim()).filter(|u| !u.is_empty()),
    )?;
    let new_account = form.get("account_mode") == "new";
    let consent = new_account && form.get("token_mode") == "consent";
    let account: AutomationAccountId = if new_account {
        let token = Some(form.get("access_token").trim())
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if !consent && token.is_none() {
            return Err(ApiError::invalid(
                "access_token",
                "paste the automation account's token, or choose the consent page",
            ));
        }
        if consent {
            s.store.ws(web.ws()).platform_app(platform).await.map_err(|_| {
                ApiError::invalid(
                    "token_mode",
                    format!(
                        "the consent page needs the workspace's {} app: add it in Settings → Platform apps first",
                        platform_name(platform)
                    ),
                )
            })?;
        }
        let (acct, _) = castellan_services::accounts::create_automation_account(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            platform,
            castellan_services::accounts::NewAccount {
                label: form.get("account_label").to_string(),
                email: form.get("account_email").to_string(),
                phone: Some(form.get("account_phone").to_string()),
                password: form.get("account_password").to_string(),
                access_token: if consent { None } else { token },
                ..Default::default()
            },
        )
        .await
        .map_err(|e| wizard_field(e.into(), true))?;
        acct.id
    } else {
        form.get("automation_account_id").parse().map_err(|_| {
            ApiError::invalid(
                "automation_account_id",
                "choose an automation account, or add one",
            )
        })?
    };
    let req = fields.with(account, api_base_url);
    if consent {
        castellan_services::apps::add_app_awaiting_consent(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            req,
        )
        .await?;
        let url =
            crate::api::oauth::authorize_url(s, web.ws(), &web.caller.actor(), account).await?;
        return Ok(Connected::AwaitingConsent(url));
    }
    let (app, task) = castellan_services::apps::connect_app(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        req,
    )
    .await?;
    Ok(Connected::Queued(Box::new((app, task))))
}
