//! What the layout shows around every page (`Chrome`: workspace, person, navigation, CSRF
//! token, asset URLs), the message boxes carried in a short-lived cookie (`Flash`), and times
//! as people read them.

use super::assets;
use castellan_domain::policy::Action;
use castellan_domain::workspace::WorkspaceRole;

pub const FLASH_COOKIE: &str = "castellan_flash";

/// The navigation items, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Apps,
    Partners,
    Accounts,
    Automation,
    Directory,
    Activity,
    Settings,
    None,
}

/// A message box at the top of the content.
#[derive(Debug, Clone)]
pub struct Flash {
    /// `success`, `info`, `warning` or `error`.
    pub kind: &'static str,
    pub text: String,
    /// An optional "More details" link.
    pub link: Option<String>,
}

impl Flash {
    pub fn success(text: impl Into<String>) -> Self {
        Self {
            kind: "success",
            text: text.into(),
            link: None,
        }
    }
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            kind: "info",
            text: text.into(),
            link: None,
        }
    }
    /// Done, with something the person should know (shown as a warning).
    pub fn warning(text: impl Into<String>) -> Self {
        Self {
            kind: "warning",
            text: text.into(),
            link: None,
        }
    }
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            kind: "error",
            text: text.into(),
            link: None,
        }
    }
    pub fn with_link(mut self, link: impl Into<String>) -> Self {
        self.link = Some(link.into());
        self
    }
    /// Screen readers announce errors at once (`alert`), the rest politely (`status`).
    pub fn role(&self) -> &'static str {
        if self.kind == "error" || self.kind == "warning" {
            "alert"
        } else {
            "status"
        }
    }
    pub fn icon(&self) -> &'static str {
        match self.kind {
            "success" => "✓",
            "warning" => "!",
            "error" => "✕",
            _ => "i",
        }
    }
    pub(crate) fn encode(&self) -> String {
        let raw = format!(
            "{}\n{}\n{}",
            self.kind,
            self.link.as_deref().unwrap_or(""),
            self.text
        );
        form_urlencoded::byte_serialize(raw.as_bytes()).collect()
    }
    pub(crate) fn decode(v: &str) -> Option<Self> {
        let raw: String = form_urlencoded::parse(format!("x={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?;
        let mut it = raw.splitn(3, '\n');
        let kind = match it.next()? {
            "success" => "success",
            "warning" => "warning",
            "error" => "error",
            _ => "info",
        };
        let link = it.next().filter(|l| l.starts_with('/')).map(str::to_string);
        let text: String = it.next()?.chars().take(500).collect();
        Some(Self { kind, text, link })
    }
}

/// What the layout shows around every page: the workspace, the signed-in person, the
/// navigation they may use, the CSRF token for forms, a message box, and the asset URLs.
pub struct Chrome {
    pub workspace: String,
    pub person_name: String,
    pub person_email: String,
    pub role: WorkspaceRole,
    pub csrf: String,
    pub nav: Nav,
    pub flash: Option<Flash>,
    pub title: String,
}

impl Chrome {
    pub fn may(&self, action: Action) -> bool {
        self.role >= action.requirement().0
    }
    pub fn show_apps(&self) -> bool {
        self.may(Action::ReadApps)
    }
    pub fn show_automation(&self) -> bool {
        self.may(Action::ReadTasks)
    }
    pub fn show_directory(&self) -> bool {
        self.may(Action::ReadDirectory)
    }
    pub fn show_activity(&self) -> bool {
        self.may(Action::ReadAudit)
    }
    pub fn show_settings(&self) -> bool {
        self.may(Action::ReadPeople)
    }
    pub fn current(&self, item: &str) -> bool {
        let n = match item {
            "apps" => Nav::Apps,
            "partners" => Nav::Partners,
            "accounts" => Nav::Accounts,
            "automation" => Nav::Automation,
            "directory" => Nav::Directory,
            "activity" => Nav::Activity,
            "settings" => Nav::Settings,
            _ => Nav::None,
        };
        self.nav == n
    }
    pub fn css(&self) -> String {
        assets::url("app.css")
    }
    pub fn js(&self) -> String {
        assets::url("app.js")
    }
    pub fn htmx(&self) -> String {
        assets::url("htmx.min.js")
    }
}

/// Times as people read them (UTC, to the minute).
pub fn when(t: &castellan_domain::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn when_opt(t: &Option<castellan_domain::Timestamp>) -> String {
    t.as_ref().map(when).unwrap_or_else(|| "never".into())
}
