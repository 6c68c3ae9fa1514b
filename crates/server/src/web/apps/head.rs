//! What every App details tab shares: the app's head (name, status, counts, tabs), the status
//! and check-progress views, and reading the app id from the path.

use crate::state::AppState;
use crate::web::{Web, WebError, when_opt};
use castellan_domain::AppId;
use castellan_domain::apps::{AppStatus, Platform, SeatState};
use castellan_domain::policy::Action;
use castellan_domain::tasks::{TaskPayload, TaskStatus};
use castellan_store::{App, TaskFilter};

pub fn app_id(raw: &str) -> Result<AppId, WebError> {
    raw.parse().map_err(|_| {
        WebError::NotFound("This app does not exist, or is not in your workspace.".into())
    })
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
    pub label: String,
    pub count: i64,
    pub href: String,
    pub current: bool,
}

/// The User Overview tabs: their names (as in URLs) and labels.
pub const TABS: [(&str, &str); 6] = [
    ("onboarded", "Onboarded"),
    ("unmatched", "Unmatched"),
    ("exempted", "Exempted"),
    // Named per platform as the seats say it ("Pinterest Business guest users"): see `tab_label`.
    ("partner_users", "Business guest users"),
    ("invited", "Invited"),
    ("removed", "Removed"),
];

/// A User Overview tab's name; partners' users are the platform's "Business guest users".
fn tab_label(platform: castellan_domain::apps::Platform, name: &str, label: &str) -> String {
    if name == "partner_users" {
        format!("{} {label}", platform.label())
    } else {
        label.to_string()
    }
}

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
    /// The app's last check kept lists unread (TikTok's coverage window): a full check is
    /// offered beside the usual one. A business small enough to be read in full every check
    /// never shows it.
    pub windowed: bool,
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
pub(crate) async fn latest_check(
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

pub(crate) fn head_of(
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
            label: tab_label(a.platform, name, label),
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
        platform: a.platform.label(),
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
        // The last check kept lists unread: a full check has something to read.
        windowed: check.and_then(|t| t.result.as_ref()).is_some_and(|r| {
            r["fetch"]["holders_kept"].as_u64().unwrap_or(0)
                + r["fetch"]["shares_kept"].as_u64().unwrap_or(0)
                > 0
        }),
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
