//! Durable tasks: what a task is, its life cycle, the retry rule, and the typed payload of
//! each kind Castellan runs. The queue itself (claim, lease, heartbeat) lives in the store;
//! the worker loop and the one registry of handlers in the services crate.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::ids::{AppId, TaskId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        Self::Pending,
        Self::InProgress,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        raw.parse().map_err(|_| {
            FieldError::new(
                field,
                "must be one of pending, in_progress, completed, failed, cancelled",
            )
        })
    }
}

impl FromStr for TaskStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who started a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskTrigger {
    Person,
    Schedule,
    System,
}

impl TaskTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Schedule => "schedule",
            Self::System => "system",
        }
    }
}

impl FromStr for TaskTrigger {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "person" => Ok(Self::Person),
            "schedule" => Ok(Self::Schedule),
            "system" => Ok(Self::System),
            _ => Err(()),
        }
    }
}

/// A task kind such as `system.noop` or `app.check`: lower-case dotted words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskKind(String);

impl TaskKind {
    pub fn new(raw: &str) -> Result<Self, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.split('.').all(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(FieldError::new(
                "kind",
                "must be lower-case dotted words such as app.check",
            ))
        }
    }
    /// For kinds written in code.
    pub fn from_static(s: &'static str) -> Self {
        Self::new(s).expect("static task kind is valid")
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a task of one kind carries: its kind name and a serde payload. Every kind Castellan
/// runs has one of these below; `castellan_services::tasks::registry` maps each to its handler.
pub trait TaskPayload: Serialize + serde::de::DeserializeOwned {
    const KIND: &'static str;
    /// What people call a task of this kind (the Automation view).
    const TITLE: &'static str;

    fn kind() -> TaskKind {
        TaskKind::from_static(Self::KIND)
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("task payloads serialise")
    }
}

/// `system.noop`: answers at once (a liveness probe for workers).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Noop {}
impl TaskPayload for Noop {
    const KIND: &'static str = "system.noop";
    const TITLE: &'static str = "Liveness probe";
}

/// `system.sleep`: waits `ms` milliseconds in small steps (exercises leases and cancellation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sleep {
    #[serde(default = "Sleep::default_ms")]
    pub ms: u64,
}
impl Sleep {
    fn default_ms() -> u64 {
        1000
    }
}
impl TaskPayload for Sleep {
    const KIND: &'static str = "system.sleep";
    const TITLE: &'static str = "Wait";
}

/// `app.connect`: checks that the app's token reaches the business with an admin role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppConnect {
    pub app_id: AppId,
}
impl TaskPayload for AppConnect {
    const KIND: &'static str = "app.connect";
    const TITLE: &'static str = "Connectivity check";
}

/// `app.check`: a check for updates of one app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppCheck {
    pub app_id: AppId,
    /// Read every list, whatever the coverage window (see `coverage`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
}
impl TaskPayload for AppCheck {
    const KIND: &'static str = "app.check";
    const TITLE: &'static str = "Check for updates";
}

/// `members.change`: one previewed change pushed to the platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembersChange {
    pub app_id: AppId,
    pub request: crate::changes::Request,
    #[serde(default)]
    pub confirm_large_removal: bool,
    /// Set when the change applies a deprovisioning report.
    #[serde(default)]
    pub report_id: Option<String>,
    /// The report's seats being applied (some may be gone already).
    #[serde(default)]
    pub report_seats: Vec<String>,
}
impl TaskPayload for MembersChange {
    const KIND: &'static str = "members.change";
    const TITLE: &'static str = "Change members";
}

/// `directory.group_removals`: the losing half of an applied group-mapping plan, queued once
/// every addition of the same plan has finished, so a mover holds the new access before the
/// old goes (an addition that failed keeps the old access).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRemovals {
    /// The plan's addition tasks, awaited first.
    pub after: Vec<TaskId>,
    pub steps: Vec<GroupRemovalStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRemovalStep {
    pub app_id: AppId,
    pub identity_id: crate::IdentityId,
    pub request: crate::changes::Request,
    /// What the mappings hold for the person afterwards (none: nothing).
    pub given: Option<crate::group_mappings::Given>,
}
impl TaskPayload for GroupRemovals {
    const KIND: &'static str = "directory.group_removals";
    const TITLE: &'static str = "Take back group access";
}

/// `directory.group_sync`: runs the IdP group plan by itself, in a workspace that asked for
/// that (`apply_group_plans`), after the directory, the mappings or an app's seats changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupSync {}
impl TaskPayload for GroupSync {
    const KIND: &'static str = "directory.group_sync";
    const TITLE: &'static str = "Apply IdP group plan";
}

/// `partner.change`: a previewed partnership change (stop sharing, end the partnership)
/// pushed to the platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartnerChangeTask {
    pub app_id: AppId,
    pub partner_id: String,
    pub request: crate::partnership::PartnerRequest,
}
impl TaskPayload for PartnerChangeTask {
    const KIND: &'static str = "partner.change";
    const TITLE: &'static str = "Change a partnership";
}

/// `email.send`: sends one e-mail of the outbox over SMTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailSend {
    pub email_id: String,
}
impl TaskPayload for EmailSend {
    const KIND: &'static str = "email.send";
    const TITLE: &'static str = "Send e-mail";
}

/// How a handler failed: a retryable failure (platform 5xx, 429, timeout) goes back to the
/// queue with backoff until attempts run out; a permanent one fails the task at once; a busy
/// one (another task holds what it needs) waits and runs again without using an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskFailure {
    Retryable(String),
    Permanent(String),
    Busy(String),
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retryable(m) | Self::Permanent(m) | Self::Busy(m) => f.write_str(m),
        }
    }
}

/// Exponential backoff with full jitter: a random delay in [base·2^(n-1) / 2, base·2^(n-1)],
/// capped at `max`. `attempt` counts from 1.
pub fn backoff(attempt: u32, base: Duration, max: Duration, rng: &mut dyn RngCore) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let ceiling = base.saturating_mul(1u32 << exp).min(max);
    let half = ceiling / 2;
    let span = ceiling.saturating_sub(half).as_millis() as u64;
    let jitter = if span == 0 {
        0
    } else {
        rng.next_u64() % (span + 1)
    };
    half + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn kinds() {
        assert!(TaskKind::new("app.check").is_ok());
        assert!(TaskKind::new("system.noop_2").is_ok());
        for bad in ["", "App.check", "a..b", ".a", "a b"] {
            assert!(TaskKind::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_grows_within_bounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for attempt in 1..12 {
            let d = backoff(attempt, base, max, &mut rng);
            let ceiling = (base * 2u32.pow(attempt - 1)).min(max);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(s));
        }
        assert!(TaskStatus::parse("status", "done").is_err());
    }
}

/// `account.rotate`: a card's password rotation fell due: generate and seal a new password as
/// pending, mark the card Rotation due, tell its holders.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountRotate {
    pub card_id: crate::CardId,
}
impl TaskPayload for AccountRotate {
    const KIND: &'static str = "account.rotate";
    const TITLE: &'static str = "Rotate password";
}

crate::named_enum! {
    /// The level of a line of a task's log.
    pub enum LogLevel {
        Info = "info",
        Warn = "warn",
        Error = "error",
    }
}

/// What people call a task of `kind`, for every kind Castellan runs (the kind itself for one
/// it does not know, e.g. from a newer version).
pub fn kind_title(kind: &str) -> &str {
    [
        (Noop::KIND, Noop::TITLE),
        (Sleep::KIND, Sleep::TITLE),
        (AppConnect::KIND, AppConnect::TITLE),
        (AppCheck::KIND, AppCheck::TITLE),
        (MembersChange::KIND, MembersChange::TITLE),
        (PartnerChangeTask::KIND, PartnerChangeTask::TITLE),
        (EmailSend::KIND, EmailSend::TITLE),
        (AccountRotate::KIND, AccountRotate::TITLE),
        (GroupRemovals::KIND, GroupRemovals::TITLE),
        (GroupSync::KIND, GroupSync::TITLE),
    ]
    .into_iter()
    .find(|(k, _)| *k == kind)
    .map_or(kind, |(_, t)| t)
}
