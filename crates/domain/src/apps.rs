//! Platforms and the things that connect Castellan to them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::named_enum;

named_enum! {
    /// How people sign in to an app: with SSO (Castellan keeps no credentials) or a password.
    pub enum LoginMethod {
        Sso = "sso",
        Password = "password",
    }
}

named_enum! {
    /// What a seat is on the platform.
    pub enum SeatKind {
        Member = "member",
        SystemUser = "system_user",
        /// A pending invitation (not a member yet).
        Invite = "invite",
        /// A user of a partner business (seen through a connected native partner).
        PartnerUser = "partner_user",
    }
}

/// How a partner's user is keyed among the app's seats: `partner:{partner id}:{user id}`, so
/// a person who is both our member and a partner's, or in two partners, holds a seat each.
pub fn partner_user_key(partner_id: &str, user_id: &str) -> String {
    format!("partner:{partner_id}:{user_id}")
}

/// The partner and the platform user id of a seat keyed by [`partner_user_key`].
pub fn split_partner_user_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix("partner:")?.split_once(':')
}

impl SeatKind {
    /// Only a member's or a system user's seat belongs to a person of the directory.
    pub fn has_person(self) -> bool {
        matches!(self, Self::Member | Self::SystemUser)
    }

    /// The tab a seat first seen by a check starts in; matching then moves a person's seat.
    pub fn initial_state(self) -> SeatState {
        match self {
            Self::Invite => SeatState::Invited,
            Self::PartnerUser => SeatState::PartnerUser,
            Self::Member | Self::SystemUser => SeatState::Unmatched,
        }
    }
}

named_enum! {
    /// Who decided a seat's match: a check (`auto`), or a person (`manual`: a match, unmatch
    /// or exemption that checks leave alone).
    pub enum MatchSource {
        Auto = "auto",
        Manual = "manual",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    /// Pinterest Business Manager (API v5, Business Access).
    Pinterest,
    /// TikTok Business Center (API for Business v1.3).
    Tiktok,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Pinterest, Platform::Tiktok];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Pinterest => "pinterest",
            Platform::Tiktok => "tiktok",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        raw.parse()
            .map_err(|_| FieldError::new(field, "must be pinterest or tiktok"))
    }

    /// The platform's name as people write it.
    pub fn label(self) -> &'static str {
        match self {
            Platform::Pinterest => "Pinterest",
            Platform::Tiktok => "TikTok",
        }
    }
}

named_enum! {
    /// Where a native partner stands with Castellan.
    pub enum PartnerStatus {
        /// An asset is shared one way or the other: it can be connected.
        PendingOnboarding = "pending_onboarding",
        /// No asset is shared either way.
        NotEligible = "not_eligible",
        Connected = "connected",
        /// Its account no longer reaches the partner's business as an admin.
        ConnectionFailing = "connection_failing",
    }
}

impl PartnerStatus {
    /// What people read.
    pub fn label(self) -> &'static str {
        match self {
            Self::PendingOnboarding => "Pending onboarding",
            Self::NotEligible => "Not eligible",
            Self::Connected => "Connected",
            Self::ConnectionFailing => "Connection failing",
        }
    }
}

impl FromStr for Platform {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pinterest" => Ok(Platform::Pinterest),
            "tiktok" => Ok(Platform::Tiktok),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of an account card: a person's (or the automation account's) own login to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardStatus {
    /// Credentials not saved yet.
    ConnectYourAccount,
    Connected,
    /// The app signs in with SSO: Castellan asks for and keeps no credentials.
    SignsInWithSso,
    /// A new password waits (sealed) until an Owner confirms the platform has it.
    RotationDue,
}

impl CardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::ConnectYourAccount => "connect_your_account",
            CardStatus::Connected => "connected",
            CardStatus::SignsInWithSso => "signs_in_with_sso",
            CardStatus::RotationDue => "rotation_due",
        }
    }
}

impl FromStr for CardStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "connect_your_account" => Ok(Self::ConnectYourAccount),
            "connected" => Ok(Self::Connected),
            "signs_in_with_sso" => Ok(Self::SignsInWithSso),
            "rotation_due" => Ok(Self::RotationDue),
            _ => Err(()),
        }
    }
}

/// Phone numbers as people type them: digits with an optional leading `+`, spaces, dashes,
/// dots and brackets allowed; 6 to 20 digits.
pub fn parse_phone(field: &str, raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let ok = s
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -.()".contains(c) || (c == '+' && i == 0));
    if !ok || !(6..=20).contains(&digits) {
        return Err(FieldError::new(
            field,
            "must be a phone number such as +1 415 555 0100",
        ));
    }
    Ok(s.to_string())
}

/// A person's role on an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppRole {
    /// Shares access and manages the configuration.
    Owner,
    /// Only logs in.
    Collaborator,
}

impl AppRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AppRole::Owner => "owner",
            AppRole::Collaborator => "collaborator",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "owner" => Ok(AppRole::Owner),
            "collaborator" => Ok(AppRole::Collaborator),
            _ => Err(FieldError::new(field, "must be owner or collaborator")),
        }
    }
}

/// Whether an app integration reaches its business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppStatus {
    /// Created; the connectivity task has not finished.
    Pending,
    Connected,
    /// The last connect or check failed for good (the message says why).
    Error,
}

impl AppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Connected => "connected",
            Self::Error => "error",
        }
    }
}

impl FromStr for AppStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [Self::Pending, Self::Connected, Self::Error]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for AppStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a live seat stands in the User Overview. Partner users (people of partner
/// businesses) are `PartnerUser`, never the workspace role Guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatState {
    Onboarded,
    Unmatched,
    Exempted,
    PartnerUser,
    Invited,
    /// Removed by Castellan (and confirmed by the platform): kept, vanished, for the record.
    Removed,
}

impl SeatState {
    /// The states of live seats, one User Overview tab each.
    pub const LIVE: [SeatState; 5] = [
        Self::Onboarded,
        Self::Unmatched,
        Self::Exempted,
        Self::PartnerUser,
        Self::Invited,
    ];
    pub const ALL: [SeatState; 6] = [
        Self::Onboarded,
        Self::Unmatched,
        Self::Exempted,
        Self::PartnerUser,
        Self::Invited,
        Self::Removed,
    ];

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Onboarded => "onboarded",
            Self::Unmatched => "unmatched",
            Self::Exempted => "exempted",
            Self::PartnerUser => "partner_user",
            Self::Invited => "invited",
            Self::Removed => "removed",
        }
    }

    /// The User Overview tab that lists it.
    pub fn tab(self) -> &'static str {
        match self {
            Self::PartnerUser => "partner_users",
            other => other.as_str(),
        }
    }
}

impl FromStr for SeatState {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

impl fmt::Display for SeatState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A User Overview tab: the live seats of one state, or the seats Castellan removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Seats(SeatState),
    Removed,
}

impl Tab {
    /// Every tab name, as the API and the CLI take them (`guest` is accepted as the old name
    /// of `partner_users`).
    pub const NAMES: [&'static str; 6] = [
        "onboarded",
        "unmatched",
        "exempted",
        "partner_users",
        "invited",
        "removed",
    ];

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "removed" => Ok(Self::Removed),
            "guest" => Ok(Self::Seats(SeatState::PartnerUser)),
            _ => SeatState::LIVE
                .into_iter()
                .find(|s| s.tab() == raw)
                .map(Self::Seats)
                .ok_or_else(|| {
                    FieldError::new(
                        field,
                        format!("{field} must be one of {}", Self::NAMES.join(", ")),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_user_keys_round_trip() {
        let k = partner_user_key("549755813890", "549755813999");
        assert_eq!(k, "partner:549755813890:549755813999");
        assert_eq!(
            split_partner_user_key(&k),
            Some(("549755813890", "549755813999"))
        );
        assert_eq!(split_partner_user_key("549755813999"), None);
        assert_eq!(split_partner_user_key("invite:a@b.c"), None);
    }

    #[test]
    fn platforms_and_phones() {
        assert_eq!(
            Platform::parse("platform", "tiktok").unwrap(),
            Platform::Tiktok
        );
        assert_eq!(
            Platform::parse("platform", "facebook").unwrap_err().field,
            "platform"
        );
        assert!(parse_phone("phone", "+1 (415) 555-0100").is_ok());
        assert!(parse_phone("phone", "call me").is_err());
        assert!(parse_phone("phone", "12+34").is_err());
    }
}

/// When an app's next automatic check for updates is due: the first `hour` (UTC) strictly
/// after `after`, plus `jitter` (which the caller draws at random, so apps do not all start at
/// once).
pub fn next_daily_check(
    after: crate::Timestamp,
    hour: u32,
    jitter: chrono::Duration,
) -> crate::Timestamp {
    use chrono::{Duration, TimeZone, Timelike};
    let hour = hour.min(23);
    let today = chrono::Utc
        .with_ymd_and_hms(
            chrono::Datelike::year(&after),
            chrono::Datelike::month(&after),
            chrono::Datelike::day(&after),
            hour,
            0,
            0,
        )
        .single()
        .unwrap_or(after);
    let base = if today > after && after.hour() < hour {
        today
    } else {
        today + Duration::days(1)
    };
    base + jitter
}

#[cfg(test)]
mod schedule_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_daily_check_is_the_next_occurrence_plus_jitter() {
        let at = |h, m| chrono::Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        let j = chrono::Duration::minutes(7);
        assert_eq!(next_daily_check(at(1, 0), 3, j), at(3, 7));
        assert_eq!(
            next_daily_check(at(3, 0), 3, j),
            at(3, 7) + chrono::Duration::days(1)
        );
        assert_eq!(
            next_daily_check(at(22, 0), 3, chrono::Duration::zero()),
            at(3, 0) + chrono::Duration::days(1)
        );
    }

    #[test]
    fn partner_users_tab_keeps_the_old_name_guest() {
        for raw in ["partner_users", "guest"] {
            assert_eq!(
                Tab::parse("tab", raw),
                Ok(Tab::Seats(SeatState::PartnerUser))
            );
        }
        assert_eq!(Tab::parse("tab", "removed"), Ok(Tab::Removed));
        assert!(Tab::parse("tab", "partner_user").is_err());
        for s in SeatState::ALL {
            assert_eq!(s.as_str().parse::<SeatState>(), Ok(s));
        }
    }
}
