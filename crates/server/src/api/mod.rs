//! The JSON API under `/api/v1`. Each module holds its routes' handlers and wire types (DTOs);
//! handlers check authorization through `Caller::require` and talk to the store.

pub mod access;
pub mod accounts;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod directory;
pub mod group_mappings;
pub mod guests;
pub mod local_partners;
pub mod members;
pub mod oauth;
pub mod oidc;
pub mod partners;
pub mod people;
pub mod reports;
pub mod schema;
pub mod scim_tokens;
pub mod tasks;
pub mod workspace;

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Cursor paging parameters shared by list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Opaque cursor from the previous page's `next_cursor`.
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
    /// Items per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

pub fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// An optional integer body field as JSON Schema's `integer` has it: `94` and `94.0` are
/// the same value, so a float with no fraction is accepted; `94.5` or a string is refused.
/// (serde's `i64` refuses every float, which would refuse what the document allows.)
pub fn opt_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        // Outside ±2^53 a float is not exact; such values are beyond every stated bound anyway.
        Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!("expected an integer, found {n}"))),
    }
}

/// An id cursor: empty (the first page) or an id in its canonical form, as the document's
/// pattern says.
pub fn cursor<T: FromStr>(c: &Option<String>) -> Result<Option<T>, ApiError> {
    c.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            canonical_uuid(s)
                .then(|| s.parse().ok())
                .flatten()
                .ok_or_else(|| ApiError::invalid("cursor", "cursor is not valid"))
        })
        .transpose()
}

/// A sequence cursor: empty or up to 18 digits.
pub fn seq_cursor(c: &Option<String>) -> Result<Option<i64>, ApiError> {
    c.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            (s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
                .ok_or_else(|| ApiError::invalid("cursor", "cursor is not valid"))
        })
        .transpose()
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits of either case.
pub fn canonical_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The values the API's enumerated strings take, for the document (the handlers check them).
macro_rules! names {
    ($($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? })+) => {
        $(
            $(#[$doc])*
            #[derive(ToSchema)]
            #[schema(rename_all = "snake_case")]
            #[allow(dead_code)]
            pub enum $name { $($variant),+ }
        )+
    };
}

names! {
    /// A platform.
    PlatformName { Pinterest, Tiktok }
    /// A User Overview tab. `guest` is the old name of `partner_users`, still accepted.
    TabName { Onboarded, Unmatched, Exempted, PartnerUsers, Guest, Invited, Removed }
    /// A task's status.
    TaskStatusName { Pending, InProgress, Completed, Failed, Cancelled }
    /// An activity-log event's outcome.
    OutcomeName { Success, Failure }
    /// The activity-log export's format.
    ExportFormat { Csv, Jsonl }
    /// An API token's scope.
    ScopeName { Read, Write, Admin }
    /// A workspace role.
    WorkspaceRoleName { Owner, Admin, Member, Guest }
    /// A person's role on an app's account.
    AppRoleName { Owner, Collaborator }
    /// A stored secret of an automation account.
    SecretName { Password, AccessToken, RefreshToken }
    /// How people sign in to an app.
    LoginMethod { Sso, Password }
    /// Whether an app reaches its business.
    AppStatusName { Pending, Connected, Error }
    /// Where a seat stands.
    SeatStateName { Onboarded, Unmatched, Exempted, PartnerUser, Invited, Removed }
    /// An account card's status.
    CardStatusName { ConnectYourAccount, Connected, SignsInWithSso, RotationDue }
    /// An app's password rotation policy.
    RotationPolicyName { AfterReveal, Schedule }
    /// A password rotation policy to set.
    RotationPolicySetting { AfterReveal, Schedule, Off }
    /// Where a guest user's latest sign-in link stands.
    InviteStateName { Pending, Expired, Accepted, Revoked }
    /// A change pushed to the platform.
    ChangeAction { Remove, SetRole, SetPermissions, Invite, CancelInvite }
    /// Where a check's report stands.
    ReportStatusName { None, Open, Applying, Applied, PartiallyApplied, Dismissed }
    /// Where an outbox e-mail stands.
    EmailStatusName { Kept, Pending, Sent, Failed }
    /// What a seat is on the platform.
    SeatKindName { Member, SystemUser, Invite, PartnerUser }
    /// Who decided a seat's match: a check, or a person.
    MatchSourceName { Auto, Manual }
    /// A task log line's level.
    LogLevelName { Info, Warn, Error }
    /// How one step of a change ended.
    OutcomeKindName { Done, Already, Failed }
    /// A person's role in a local partner.
    PartnerRoleName { HostAdmin, GuestAdmin, GuestUser }
}

/// A path id: a malformed one cannot name any row, so it is answered as for a row that does
/// not exist (404), naming the path parameter.
pub fn parse_id<T: FromStr>(field: &str, raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFoundAt {
        field: field.into(),
        what: what.into(),
    })
}

/// One page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    pub fn from_store<S>(p: castellan_store::Page<S>, f: impl FnMut(S) -> T) -> Self {
        Self {
            items: p.items.into_iter().map(f).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// A JSON answer that must not be cached (a revealed secret, a generated password).
pub fn no_store<T: serde::Serialize>(body: T) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}
