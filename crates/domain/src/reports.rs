//! What a check for updates reports: the counts of one check (`CheckSummary`) and where a
//! deprovisioning report stands (`ReportStatus`).

use serde::{Deserialize, Serialize};

use crate::named_enum;
use crate::snapshot::Table;

named_enum! {
    /// Where a check's report stands.
    pub enum ReportStatus {
        /// The check found nobody awaiting removal.
        None = "none",
        /// Seats of deactivated people await a decision.
        Open = "open",
        /// Its removals are queued.
        Applying = "applying",
        Applied = "applied",
        /// Some of its removals failed.
        PartiallyApplied = "partially_applied",
        Dismissed = "dismissed",
        /// Nothing is left to do: its seats were removed, exempted or reactivated since.
        Closed = "closed",
    }
}

/// What one check changed, as its report keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckSummary {
    pub seats_new: u64,
    pub seats_changed: u64,
    pub seats_vanished: u64,
    pub assets_new: u64,
    pub assets_changed: u64,
    pub assets_vanished: u64,
    pub grants_new: u64,
    pub grants_changed: u64,
    pub grants_vanished: u64,
    pub partners_new: u64,
    pub partners_changed: u64,
    pub partners_vanished: u64,
    /// Seat, asset, grant and partner rows inserted or updated.
    pub rows_written: u64,
    /// Seats whose match (state or person) changed.
    pub rematched: u64,
    /// Live seats of deactivated people, and how many of them no earlier report listed.
    pub pending_removal: u64,
    pub newly_pending: u64,
    /// The check's report.
    pub report_id: String,
}

impl CheckSummary {
    /// Counts `new`, `changed` and `vanished` rows of table `t`.
    pub fn add(&mut self, t: Table, new: u64, changed: u64, vanished: u64) {
        let (n, c, v) = match t {
            Table::Seats => (
                &mut self.seats_new,
                &mut self.seats_changed,
                &mut self.seats_vanished,
            ),
            Table::Assets => (
                &mut self.assets_new,
                &mut self.assets_changed,
                &mut self.assets_vanished,
            ),
            Table::Grants => (
                &mut self.grants_new,
                &mut self.grants_changed,
                &mut self.grants_vanished,
            ),
            Table::Partners => (
                &mut self.partners_new,
                &mut self.partners_changed,
                &mut self.partners_vanished,
            ),
        };
        *n += new;
        *c += changed;
        *v += vanished;
    }
}

/// What the fetch of one check cost: requests (and retries among them), pages, the rows it
/// read of each table, and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FetchSummary {
    pub requests: u64,
    pub retries: u64,
    pub pages: u64,
    pub seats: u64,
    pub assets: u64,
    pub grants: u64,
    pub partners: u64,
    pub seconds: f64,
    /// The coverage window (see `coverage`): assets whose holders this check read per asset
    /// and kept as last read, partners whose shared assets it kept, and how old the oldest
    /// kept list is (ms since the epoch of its last read).
    pub holders_read: u64,
    pub holders_kept: u64,
    pub shares_kept: u64,
    pub oldest_kept_at: Option<i64>,
}

/// A report's summary as stored: what the check changed and what its fetch cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportSummary {
    pub counts: CheckSummary,
    pub fetch: FetchSummary,
}

/// A seat whose business roles a check found changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChange {
    pub user_id: String,
    /// The roles before and after, each as the JSON list the platform gave.
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A holder whose permissions on an asset a check found changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionChange {
    /// `member:{user id}` or `partner:{business id}`.
    pub holder: String,
    pub asset_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A partner's user who appeared or vanished: they gained or lost access to our shared assets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerUserChange {
    pub partner_id: String,
    /// The user's id on the platform.
    pub user_id: String,
    pub email: Option<String>,
}

/// What a check changed, listed for its report (each list capped).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportChanges {
    pub new_seats: Vec<String>,
    pub vanished_seats: Vec<String>,
    pub role_changes: Vec<RoleChange>,
    pub permission_changes: Vec<PermissionChange>,
    pub new_partners: Vec<String>,
    pub vanished_partners: Vec<String>,
    /// Partners' users who now reach our shared assets, and who no longer do.
    pub new_partner_users: Vec<PartnerUserChange>,
    pub vanished_partner_users: Vec<PartnerUserChange>,
}

/// How a report was resolved: applied (each seat's outcome) or dismissed (by whom and why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Resolution {
    Applied {
        outcomes: Vec<crate::changes::StepOutcome>,
        at: crate::Timestamp,
    },
    Dismissed {
        /// A person's id, or `cli`.
        dismissed_by: String,
        reason: String,
        at: crate::Timestamp,
    },
}
