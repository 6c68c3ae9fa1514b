//! What a connector reads from a business center, in platform-neutral form, and the
//! `Connector` port every platform module implements. A connector streams batches into a
//! [`SnapshotSink`] so a sync never holds a whole business in memory.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A seat: a member of the business, a system user, a partner's user, or a pending invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRecord {
    /// Platform user id (for a pending invite without a user: the invite id or e-mail).
    pub user_id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// Business roles as the platform names them (`BIZ_ADMIN`, `EMPLOYEE`, `ADMIN`, `STANDARD`).
    pub roles: Vec<String>,
    pub kind: SeatKind,
}

pub use crate::apps::SeatKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRecord {
    pub id: String,
    /// Platform asset type (`AD_ACCOUNT`, `PROFILE`, `CATALOG`, `ADVERTISER`, `PIXEL`, …).
    pub kind: String,
    pub name: Option<String>,
    /// The business that owns it, when not ours.
    pub owner_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Holder {
    Member(String),
    Partner(String),
}

/// Permissions a member or partner holds on one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub holder: Holder,
    pub asset_id: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerRelation {
    /// The partner uses our assets.
    UsesOurAssets,
    /// We use the partner's assets.
    SharesWithUs,
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    pub id: String,
    pub name: Option<String>,
    pub relation: PartnerRelation,
}

/// One of our assets shared with a partner: the partner's users who hold it are read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharedAsset {
    pub id: String,
    /// Platform asset type, as [`AssetRecord::kind`].
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    Seats(Vec<SeatRecord>),
    Assets(Vec<AssetRecord>),
    Grants(Vec<GrantRecord>),
    Partners(Vec<PartnerRecord>),
    /// Lists not read this check (see `coverage`): the store keeps them as it holds them.
    Kept(Vec<crate::coverage::Kept>),
}

/// Receives batches as they are fetched.
pub trait SnapshotSink: Send {
    fn accept(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), SinkError>>;
}

/// Why a sink refused a batch: the fetch stops either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// The check was cancelled (on request, or the process is stopping).
    Cancelled,
    /// What stores the batches stopped; its own error says why.
    Stopped,
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cancelled => "cancelled",
            Self::Stopped => "the writer stopped",
        })
    }
}

/// What a connector can do on its platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub members: bool,
    pub roles: bool,
    pub assets: bool,
    pub asset_permissions: bool,
    pub partners: bool,
    pub invites: bool,
    pub invite_member: bool,
    pub remove_member: bool,
    pub change_role: bool,
}

/// Counters of one fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub requests: u64,
    pub retries: u64,
    pub pages: u64,
    pub seats: u64,
    pub assets: u64,
    pub grants: u64,
    pub partners: u64,
    /// Assets whose holders were read per asset and kept unread, and partners whose shared
    /// assets were kept unread (see `coverage`).
    pub holders_read: u64,
    pub holders_kept: u64,
    pub shares_kept: u64,
}

/// Who the token acts as and what it may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connectivity {
    pub account_id: String,
    pub account_name: Option<String>,
    /// The token's user administers the business.
    pub admin: bool,
    pub missing_scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// The token is invalid or expired and could not be refreshed.
    Unauthorized(String),
    /// The token lacks a scope or role for this.
    Forbidden(String),
    NotFound(String),
    /// The platform refused the request as invalid.
    Rejected(String),
    /// Still failing after retries (5xx, 429, timeouts, network): worth trying later.
    Unavailable(String),
    /// The platform answered something we cannot read.
    Protocol(String),
    /// The sink refused a batch.
    Sink(SinkError),
}

impl ConnectorError {
    /// Worth retrying the whole operation later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            Self::Forbidden(m) => write!(f, "forbidden: {m}"),
            Self::NotFound(m) => write!(f, "not found: {m}"),
            Self::Rejected(m) => write!(f, "rejected by the platform: {m}"),
            Self::Unavailable(m) => write!(f, "platform unavailable: {m}"),
            Self::Protocol(m) => write!(f, "unexpected platform answer: {m}"),
            Self::Sink(m) => write!(f, "could not store what was fetched: {m}"),
        }
    }
}

impl std::error::Error for ConnectorError {}

/// What a change left on the platform, read back after it (or found already so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The platform already looked like this: no call was made.
    pub already: bool,
    /// The seat afterwards; `None` when it is gone (removed, cancelled).
    pub seat: Option<SeatRecord>,
    /// The seat's permissions afterwards on the asset the change named (none: revoked).
    pub grant: Option<GrantRecord>,
}

/// A business center on one platform.
pub trait Connector: Send + Sync {
    fn capabilities(&self) -> Capabilities;
    /// Checks the token reaches the business with the needed role and scopes.
    fn check(&self) -> BoxFuture<'_, Result<Connectivity, ConnectorError>>;
    /// Streams everything the business holds into `sink`; lists `scope` leaves unread are
    /// sent as [`Batch::Kept`] instead.
    fn fetch<'a>(
        &'a self,
        scope: &'a crate::coverage::FetchScope,
        sink: &'a mut dyn SnapshotSink,
    ) -> BoxFuture<'a, Result<FetchStats, ConnectorError>>;
    /// With a token of a partner's business (the connector's business is the partner's): the
    /// partner's users who hold one of `assets` (ours, shared with the partner) as seats of
    /// kind `PartnerUser` keyed by their own user id, and their grants on those assets. Nothing
    /// else of the partner's business is read, so its other clients never reach Castellan.
    fn fetch_partner_users<'a>(
        &'a self,
        assets: &'a [SharedAsset],
        sink: &'a mut dyn SnapshotSink,
    ) -> BoxFuture<'a, Result<FetchStats, ConnectorError>>;
    /// The platform calls a partnership change makes, one line each, for previews.
    fn describe_partner(&self, change: &crate::partnership::PartnerChange) -> Vec<String>;
    /// Makes a partnership change; what is already so (a partnership already ended) is no
    /// error.
    fn apply_partner<'a>(
        &'a self,
        change: &'a crate::partnership::PartnerChange,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;
    /// The platform calls `change` makes, one line each (`METHOD path body`), for previews.
    fn describe(&self, change: &crate::changes::Change) -> Vec<String>;
    /// Makes `change` unless the platform already shows it, then reads the result back.
    /// Running it twice makes no call the second time.
    fn apply<'a>(
        &'a self,
        change: &'a crate::changes::Change,
    ) -> BoxFuture<'a, Result<Applied, ConnectorError>>;
}
