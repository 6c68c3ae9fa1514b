//! Changes Castellan pushes to a business center: what an admin asks for ([`Request`]), the
//! platform-neutral calls that carry it out ([`Change`]), and the plan that joins them
//! ([`plan`]) after the guards have had their say.
//!
//! A plan is computed from what Castellan holds about the app (its live seats and their
//! permissions) and carries a hash of exactly those inputs, so a plan previewed earlier can
//! be refused when the data it was computed from has changed since.

use crate::FieldError;
use crate::apps::Platform;
use crate::apps::SeatKind;

/// What an admin asks for on one app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Request {
    /// Remove seats from the business (their asset permissions go with them).
    Remove { seats: Vec<String> },
    /// Change a member's business role.
    SetRole { seat: String, role: String },
    /// Set a member's permissions on one asset; none removes them.
    SetPermissions {
        seat: String,
        asset_id: String,
        permissions: Vec<String>,
    },
    /// Invite an e-mail address with a business role and, optionally, asset permissions.
    Invite {
        email: String,
        role: String,
        #[serde(default)]
        assets: Vec<AssetPermissions>,
    },
    /// Cancel a pending invitation.
    CancelInvite { seat: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AssetPermissions {
    pub asset_id: String,
    pub permissions: Vec<String>,
}

/// One platform call, in platform-neutral form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Change {
    RemoveMember {
        user_id: String,
        /// The member's address, to find it where a platform only searches by text.
        email: Option<String>,
    },
    SetRole {
        user_id: String,
        email: Option<String>,
        role: String,
    },
    Grant {
        user_id: String,
        asset_id: String,
        asset_kind: String,
        permissions: Vec<String>,
    },
    Revoke {
        user_id: String,
        asset_id: String,
        asset_kind: String,
    },
    Invite {
        email: String,
        role: String,
        assets: Vec<(String, String, Vec<String>)>,
    },
    CancelInvite {
        /// The seat's id (`invite:…`) and the invited address.
        seat: String,
        email: Option<String>,
    },
}

impl Change {
    /// Removes a whole seat.
    pub fn is_removal(&self) -> bool {
        matches!(self, Change::RemoveMember { .. })
    }
}

/// A seat as planning sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeatView {
    pub user_id: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub roles: Vec<String>,
    pub kind: SeatKind,
    pub state: crate::apps::SeatState,
    /// (asset id, asset type, permissions), sorted by asset id.
    pub grants: Vec<(String, String, Vec<String>)>,
}

/// The app-wide facts the guards need.
#[derive(Debug, Clone, PartialEq)]
pub struct AppFacts {
    pub platform: Platform,
    /// Live member seats (members and system users, not invites or partner users).
    pub member_seats: u64,
    /// User ids of the live seats holding the admin role.
    pub admins: Vec<String>,
    /// The automation account's own seat: its platform user id, when known, and e-mail.
    pub automation_user_id: Option<String>,
    pub automation_email: String,
    /// Asset id → type, for the assets a request names.
    pub assets: Vec<(String, String)>,
}

/// Planning options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Removals above this share of the member seats need `confirm_large_removal`.
    pub max_removal_share: f64,
    pub confirm_large_removal: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_removal_share: 0.2,
            confirm_large_removal: false,
        }
    }
}

/// A planned call and what it touches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    pub change: Change,
    /// The seat it touches (for an invite: `invite:{email}` until the platform names it).
    pub seat: String,
    /// What it does, in words.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// SHA-256 of the request and of the data the plan was computed from.
    pub input_hash: String,
}

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Bad input, naming the field.
    Invalid(FieldError),
    /// A guard: the automation account, the last admin, a large removal. Names the field.
    Guard(FieldError),
}

impl From<FieldError> for Refusal {
    fn from(e: FieldError) -> Self {
        Refusal::Invalid(e)
    }
}

/// How one step of a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Done,
    /// The platform already looked like that (or the seat was gone): no call was needed.
    Already,
    Failed,
}

/// The outcome of one seat's step: what a change task returns and what applying a report
/// records per seat.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepOutcome {
    pub seat: String,
    pub outcome: OutcomeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StepOutcome {
    pub fn of(step: &Step, outcome: OutcomeKind, error: Option<&str>) -> Self {
        Self {
            seat: step.seat.clone(),
            outcome,
            summary: Some(step.summary.clone()),
            error: error.map(str::to_string),
        }
    }

    /// A seat a report named that is no longer there.
    pub fn gone(seat: &str) -> Self {
        Self {
            seat: seat.to_string(),
            outcome: OutcomeKind::Already,
            summary: Some("not a seat any more".into()),
            error: None,
        }
    }

    pub fn failed(seat: &str, why: &str) -> Self {
        Self {
            seat: seat.to_string(),
            outcome: OutcomeKind::Failed,
            summary: None,
            error: Some(why.to_string()),
        }
    }
}
