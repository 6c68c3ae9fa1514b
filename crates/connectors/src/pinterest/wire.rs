//! Pinterest's answers (API v5, Business Access) as typed structs, with only the fields
//! Castellan reads. Ids and `items` are required; names, e-mails, roles and permissions may
//! be absent. `bookmark` may be null or absent on the last page, as the official
//! description says.

use serde::Deserialize;

use crate::wire::{strings, text};

/// A bookmark-paged list (`Paginated`).
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, deserialize_with = "text")]
    pub bookmark: Option<String>,
}

/// The `user` of a member, invite, partner or asset holder.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UserRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
}

/// An asset in a member's or partner's `assets_summary`.
#[derive(Debug, Deserialize)]
pub(crate) struct SummaryItem {
    pub id: String,
    #[serde(default, deserialize_with = "strings")]
    pub permissions: Vec<String>,
}

/// `assets_summary`: the ad accounts and profiles a member or partner holds.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AssetsSummary {
    #[serde(default)]
    pub ad_accounts: Vec<SummaryItem>,
    #[serde(default)]
    pub profiles: Vec<SummaryItem>,
}

/// A row of `/businesses/{id}/members` (members and system users).
#[derive(Debug, Deserialize)]
pub(crate) struct MemberRow {
    pub id: String,
    #[serde(default)]
    pub user: UserRef,
    #[serde(default, deserialize_with = "strings")]
    pub business_roles: Vec<String>,
    #[serde(default)]
    pub assets_summary: Option<AssetsSummary>,
}

/// A row of `/businesses/{id}/invites`.
#[derive(Debug, Deserialize)]
pub(crate) struct InviteRow {
    pub id: String,
    #[serde(default)]
    pub user: UserRef,
    #[serde(default, deserialize_with = "strings")]
    pub business_roles: Vec<String>,
}

/// A row of `/ad_accounts`: where ad accounts' names come from.
#[derive(Debug, Deserialize)]
pub(crate) struct AdAccountRow {
    pub id: String,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CatalogInfo {
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AssetGroupInfo {
    #[serde(default, deserialize_with = "text")]
    pub asset_group_name: Option<String>,
}

/// A row of `/businesses/{id}/assets` or `/businesses/{id}/members/{id}/assets`.
#[derive(Debug, Deserialize)]
pub(crate) struct AssetRow {
    pub asset_id: String,
    #[serde(default)]
    pub catalog_info: Option<CatalogInfo>,
    #[serde(default)]
    pub asset_group_info: Option<AssetGroupInfo>,
    #[serde(default, deserialize_with = "strings")]
    pub permissions: Vec<String>,
}

/// A row of `/businesses/{id}/partners`.
#[derive(Debug, Deserialize)]
pub(crate) struct PartnerRow {
    pub id: String,
    #[serde(default)]
    pub user: UserRef,
    #[serde(default)]
    pub assets_summary: Option<AssetsSummary>,
}

/// A row of `/businesses/{id}/assets/{id}/members`: who holds one asset.
#[derive(Debug, Deserialize)]
pub(crate) struct AssetMemberRow {
    #[serde(default)]
    pub user: UserRef,
    #[serde(default, deserialize_with = "strings")]
    pub permissions: Vec<String>,
}

/// `/user_account`: who the token acts as.
#[derive(Debug, Deserialize)]
pub(crate) struct UserAccount {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub username: Option<String>,
}

/// A row of `/businesses/employers`.
#[derive(Debug, Deserialize)]
pub(crate) struct EmployerRow {
    pub id: String,
    #[serde(default, deserialize_with = "strings")]
    pub business_roles: Vec<String>,
}

/// One item of a bulk write's answer: the invite it made, or why it refused.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BulkItem {
    #[serde(default)]
    pub exception: Option<BulkException>,
    #[serde(default)]
    pub invite: Option<InviteRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BulkException {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InviteRef {
    #[serde(default)]
    pub id: Option<String>,
}

/// A bulk write's answer: `items`, one per member or invite it named (absent on some writes).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BulkAnswer {
    #[serde(default)]
    pub items: Vec<BulkItem>,
}
