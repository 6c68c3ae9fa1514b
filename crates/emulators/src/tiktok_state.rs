//! TikTok Business Center state: platform users, Business Centers (BCs), members and pending
//! invitees, assets of every type, per-asset roles of members, partner relations with the
//! assets shared each way, and OAuth tokens.

use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BcRole {
    Admin,
    Standard,
}

impl BcRole {
    pub fn as_str(self) -> &'static str {
        match self {
            BcRole::Admin => "ADMIN",
            BcRole::Standard => "STANDARD",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ADMIN" => Some(Self::Admin),
            "STANDARD" => Some(Self::Standard),
            _ => None,
        }
    }
}

pub const ASSET_TYPES: [&str; 8] = [
    "ADVERTISER",
    "CATALOG",
    "PIXEL",
    "TT_ACCOUNT",
    "TIKTOK_SHOP",
    "STOREFRONT",
    "LEAD",
    "DOMAIN",
];

/// The role field and its valid values for each asset type.
pub fn role_field(asset_type: &str) -> Option<(&'static str, &'static [&'static str])> {
    match asset_type {
        "ADVERTISER" => Some(("advertiser_role", &["ADMIN", "OPERATOR", "ANALYST"])),
        "CATALOG" => Some(("catalog_role", &["ADMIN", "AD_PROMOTE"])),
        "TIKTOK_SHOP" => Some(("store_role", &["MANAGER", "AD_PROMOTION"])),
        "TT_ACCOUNT" => Some(("tt_account_roles", &["POST", "LIVE", "DIRECT_MESSAGE"])),
        "LEAD" => Some(("form_library_role", &["ADMIN"])),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone)]
pub struct Bc {
    pub id: u64,
    pub name: String,
    pub company: String,
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub role: BcRole,
    pub finance_role: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub email: String,
    pub role: BcRole,
    pub status: &'static str,
    pub asset_ids: Vec<u64>,
    pub advertiser_role: String,
    /// `ext_user_role.finance_role` of the invitation, given to the member on accept.
    pub finance_role: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Asset {
    pub id: u64,
    pub kind: &'static str,
    pub owner: u64,
    pub name: String,
    /// For pixels: the pixel code and the advertiser it belongs to.
    pub pixel_code: Option<String>,
    pub advertiser: Option<u64>,
}

/// A role on an asset: one value, or several for TikTok accounts.
pub type AssetRole = Vec<String>;

#[derive(Debug, Clone)]
pub struct Token {
    pub user: u64,
    pub advertiser_ids: Vec<u64>,
    pub app_id: String,
}

#[derive(Debug, Default)]
pub struct State {
    pub users: BTreeMap<u64, User>,
    pub bcs: BTreeMap<u64, Bc>,
    pub members: BTreeMap<(u64, u64), Member>,
    /// (bc, lower-case e-mail) → invitee.
    pub pending: BTreeMap<(u64, String), Pending>,
    pub assets: BTreeMap<u64, Asset>,
    /// (bc, user, asset) → role the BC gave the member on the asset.
    pub grants: BTreeMap<(u64, u64, u64), AssetRole>,
    pub grants_by_asset: BTreeSet<(u64, u64, u64)>,
    /// Both directions of every partner relation: (bc, partner).
    pub partners: BTreeSet<(u64, u64)>,
    /// (asset, partner bc) → role: the asset's owner shares it with the partner.
    pub shares: BTreeMap<(u64, u64), AssetRole>,
    pub tokens: HashMap<String, Token>,
    pub apps: HashMap<String, String>,
    pub codes: HashMap<String, (String, u64)>,
    pub next_id: u64,
}

impl State {
    pub fn new() -> Self {
        Self {
            next_id: 7_000_000_000_000_000_000,
            ..Default::default()
        }
    }

    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn admins(&self, bc: u64) -> usize {
        self.members
            .range((bc, 0)..=(bc, u64::MAX))
            .filter(|(_, m)| m.role == BcRole::Admin)
            .count()
    }

    pub fn grant(&mut self, bc: u64, user: u64, asset: u64, role: AssetRole) {
        self.grants.insert((bc, user, asset), role);
        self.grants_by_asset.insert((asset, bc, user));
    }

    pub fn revoke(&mut self, bc: u64, user: u64, asset: u64) -> bool {
        self.grants_by_asset.remove(&(asset, bc, user));
        self.grants.remove(&(bc, user, asset)).is_some()
    }

    pub fn remove_member(&mut self, bc: u64, user: u64) -> bool {
        let held: Vec<u64> = self
            .grants
            .range((bc, user, 0)..=(bc, user, u64::MAX))
            .map(|((_, _, a), _)| *a)
            .collect();
        for a in held {
            self.revoke(bc, user, a);
        }
        self.members.remove(&(bc, user)).is_some()
    }

    /// Stops sharing `asset` with `partner`; the partner's members lose it too.
    pub fn unshare(&mut self, asset: u64, partner: u64) -> bool {
        let users: Vec<u64> = self
            .grants_by_asset
            .range((asset, partner, 0)..=(asset, partner, u64::MAX))
            .map(|(_, _, u)| *u)
            .collect();
        for u in users {
            self.revoke(partner, u, asset);
        }
        self.shares.remove(&(asset, partner)).is_some()
    }

    /// Ends the relation both ways, with every share between the two.
    pub fn remove_partner(&mut self, bc: u64, partner: u64) -> bool {
        let shared: Vec<(u64, u64)> = self
            .shares
            .keys()
            .filter(|(a, p)| {
                self.assets.get(a).is_some_and(|x| {
                    (x.owner == bc && *p == partner) || (x.owner == partner && *p == bc)
                })
            })
            .copied()
            .collect();
        for (a, p) in shared {
            self.unshare(a, p);
        }
        self.partners.remove(&(partner, bc));
        self.partners.remove(&(bc, partner))
    }

    /// Does the BC reach the asset (owns it, or a partner shares it)?
    pub fn reaches(&self, bc: u64, asset: u64) -> bool {
        self.assets.get(&asset).is_some_and(|a| a.owner == bc)
            || self.shares.contains_key(&(asset, bc))
    }
}
