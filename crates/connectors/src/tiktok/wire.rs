//! TikTok Business Center's answers as typed structs (the `data` of `{code, message,
//! request_id, data}`), with only the fields Castellan reads. Identifying fields and paging are
//! required; names, e-mails and roles may be absent.

use serde::Deserialize;

use crate::wire::{strings, text};

/// A page-numbered list: `list` and `page_info.total_page` (a list without its paging is an
/// error, not a last page).
#[derive(Debug, Deserialize)]
pub(crate) struct Paged<T> {
    #[serde(default = "Vec::new")]
    pub list: Vec<T>,
    pub page_info: PageInfo,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageInfo {
    pub total_page: u64,
}

/// A row of `/bc/member/get/`: a member, or a pending invitee (no user id yet).
#[derive(Debug, Deserialize)]
pub(crate) struct MemberRow {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub user_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub user_email: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub user_role: Vec<String>,
    /// `BOUND`, `PENDING`, `UNBOUND` or `REJECTED`.
    #[serde(default)]
    pub relation_status: Option<String>,
}

/// The role fields of an asset row or an asset's member row, whichever applies.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Roles {
    #[serde(default, deserialize_with = "strings")]
    pub advertiser_role: Vec<String>,
    #[serde(default, deserialize_with = "strings")]
    pub catalog_role: Vec<String>,
    #[serde(default, deserialize_with = "strings")]
    pub store_role: Vec<String>,
    #[serde(default, deserialize_with = "strings")]
    pub form_library_role: Vec<String>,
    #[serde(default, deserialize_with = "strings")]
    pub tt_account_roles: Vec<String>,
}

impl Roles {
    pub fn all(self) -> Vec<String> {
        let mut out = self.advertiser_role;
        out.extend(self.catalog_role);
        out.extend(self.store_role);
        out.extend(self.form_library_role);
        out.extend(self.tt_account_roles);
        out
    }
}

/// A row of `/bc/asset/member/get/`: a member holding one asset.
#[derive(Debug, Deserialize)]
pub(crate) struct AssetMemberRow {
    pub user_id: String,
    #[serde(default, deserialize_with = "text")]
    pub user_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub user_email: Option<String>,
    #[serde(flatten)]
    pub roles: Roles,
}

/// A row of `/bc/asset/admin/get/`, `/bc/asset/get/` or `/bc/partner/asset/get/`.
#[derive(Debug, Deserialize)]
pub(crate) struct AssetRow {
    pub asset_id: String,
    #[serde(default, deserialize_with = "text")]
    pub asset_name: Option<String>,
    /// `OWNER_PARTNER` for an asset a partner shares with us.
    #[serde(default)]
    pub relation_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub owner_bc_name: Option<String>,
    #[serde(flatten)]
    pub roles: Roles,
}

/// A row of `/bc/partner/get/`.
#[derive(Debug, Deserialize)]
pub(crate) struct PartnerRow {
    pub bc_id: String,
    #[serde(default, deserialize_with = "text")]
    pub bc_name: Option<String>,
}

/// `/bc/get/`: the business centers the token's user belongs to.
#[derive(Debug, Deserialize)]
pub(crate) struct BcList {
    #[serde(default = "Vec::new")]
    pub list: Vec<BcRow>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BcRow {
    pub bc_info: BcInfo,
    #[serde(default)]
    pub user_role: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BcInfo {
    pub bc_id: String,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
}
