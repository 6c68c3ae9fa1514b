//! Pinterest Business Access state: platform users, businesses, memberships, assets,
//! permissions held by members and partners, invites, and OAuth tokens.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Asset permissions, in the order of the spec's `Permissions` enum; stored as a bitmask.
pub const PERMISSIONS: [&str; 12] = [
    "ADMIN",
    "ANALYST",
    "FINANCE_MANAGER",
    "FINANCE_EDIT",
    "FINANCE_VIEW",
    "AUDIENCE_MANAGER",
    "CAMPAIGN_MANAGER",
    "CATALOGS_MANAGER",
    "CATALOGS_VIEWER",
    "PROFILE_PUBLISHER",
    "CONSUMER_USER",
    "BIZ_PINNER_LIST_SHARER",
];

pub fn perm_bits(names: &[String]) -> Result<u16, String> {
    let mut bits = 0;
    for n in names {
        let i = PERMISSIONS
            .iter()
            .position(|p| p == n)
            .ok_or_else(|| format!("Invalid permission: {n}"))?;
        bits |= 1 << i;
    }
    Ok(bits)
}

pub fn perm_names(bits: u16) -> Vec<&'static str> {
    PERMISSIONS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, p)| *p)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssetType {
    AdAccount,
    Profile,
    AssetGroup,
    Catalog,
    Consumer,
}

impl AssetType {
    pub const ALL: [AssetType; 5] = [
        Self::AdAccount,
        Self::Profile,
        Self::AssetGroup,
        Self::Catalog,
        Self::Consumer,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdAccount => "AD_ACCOUNT",
            Self::Profile => "PROFILE",
            Self::AssetGroup => "ASSET_GROUP",
            Self::Catalog => "CATALOG",
            Self::Consumer => "CONSUMER",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Employee,
    BizAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Employee => "EMPLOYEE",
            Role::BizAdmin => "BIZ_ADMIN",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EMPLOYEE" => Some(Role::Employee),
            "BIZ_ADMIN" => Some(Role::BizAdmin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub email: String,
    /// A business account (the business itself) rather than a person.
    pub business: bool,
}

#[derive(Debug, Clone)]
pub struct Business {
    pub id: u64,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub role: Role,
    pub system_user: bool,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Asset {
    pub id: u64,
    pub kind: AssetType,
    pub owner: u64,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct ConversionTag {
    pub id: u64,
    pub ad_account: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InviteStatus {
    Pending,
    Accepted,
    Declined,
    Cancelled,
    Expired,
}

impl InviteStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Accepted => "ACCEPTED",
            Self::Declined => "DECLINED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Invite {
    pub id: u64,
    pub business: u64,
    /// E-mail or username the invite was sent to.
    pub invitee: String,
    pub role: Role,
    pub status: InviteStatus,
    pub sent_ms: i64,
    pub updated_ms: i64,
    pub created_by: u64,
    /// Asset permissions granted on acceptance.
    pub assets: BTreeMap<u64, u16>,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub user: u64,
    pub scopes: BTreeSet<String>,
    /// Unix ms; None = does not expire.
    pub expires_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub secret: String,
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub user: u64,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: BTreeSet<String>,
}

#[derive(Debug, Default)]
pub struct State {
    pub users: BTreeMap<u64, User>,
    pub businesses: BTreeMap<u64, Business>,
    /// (business, user) → membership.
    pub members: BTreeMap<(u64, u64), Member>,
    pub assets: BTreeMap<u64, Asset>,
    pub tags: BTreeMap<u64, ConversionTag>,
    /// (business, user, asset) → permissions the business gave the member on the asset.
    pub member_grants: BTreeMap<(u64, u64, u64), u16>,
    /// (asset, business, user): the same grants indexed by asset.
    pub grants_by_asset: BTreeSet<(u64, u64, u64)>,
    /// (owner, partner): `partner` may use assets of `owner` (INTERNAL for the owner,
    /// EXTERNAL for the partner).
    pub partnerships: BTreeSet<(u64, u64)>,
    /// (asset, partner) → permissions.
    pub partner_grants: BTreeMap<(u64, u64), u16>,
    pub invites: BTreeMap<u64, Invite>,
    pub tokens: HashMap<String, Token>,
    pub refresh_tokens: HashMap<String, Token>,
    pub codes: HashMap<String, Grant>,
    pub apps: HashMap<String, App>,
    pub next_id: u64,
}

impl State {
    pub fn new() -> Self {
        Self {
            next_id: 549_755_813_888,
            ..Default::default()
        }
    }

    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        let l = login.to_lowercase();
        self.users.values().find(|u| {
            !u.business && (u.email.to_lowercase() == l || u.username.to_lowercase() == l)
        })
    }

    pub fn member(&self, business: u64, user: u64) -> Option<&Member> {
        self.members.get(&(business, user))
    }

    pub fn admins(&self, business: u64) -> usize {
        self.members
            .range((business, 0)..=(business, u64::MAX))
            .filter(|(_, m)| m.role == Role::BizAdmin && !m.system_user)
            .count()
    }

    pub fn grant(&mut self, business: u64, user: u64, asset: u64, bits: u16) {
        self.member_grants.insert((business, user, asset), bits);
        self.grants_by_asset.insert((asset, business, user));
    }

    pub fn revoke(&mut self, business: u64, user: u64, asset: u64) -> bool {
        self.grants_by_asset.remove(&(asset, business, user));
        self.member_grants
            .remove(&(business, user, asset))
            .is_some()
    }

    /// Removes a membership and every permission it held in that business.
    pub fn remove_member(&mut self, business: u64, user: u64) -> bool {
        let held: Vec<u64> = self
            .member_grants
            .range((business, user, 0)..=(business, user, u64::MAX))
            .map(|((_, _, a), _)| *a)
            .collect();
        for a in held {
            self.revoke(business, user, a);
        }
        self.members.remove(&(business, user)).is_some()
    }

    /// Ends a partnership: the partner loses its permissions on the owner's assets, and the
    /// partner's members lose what the partner had passed on from those assets.
    pub fn remove_partnership(&mut self, owner: u64, partner: u64) -> bool {
        let owned: Vec<u64> = self
            .assets
            .values()
            .filter(|a| a.owner == owner)
            .map(|a| a.id)
            .collect();
        for a in owned {
            if self.partner_grants.remove(&(a, partner)).is_some() {
                let users: Vec<u64> = self
                    .grants_by_asset
                    .range((a, partner, 0)..=(a, partner, u64::MAX))
                    .map(|(_, _, u)| *u)
                    .collect();
                for u in users {
                    self.revoke(partner, u, a);
                }
            }
        }
        self.partnerships.remove(&(owner, partner))
    }

    /// Does `business` reach `asset` (owns it, or a partner shared it)?
    pub fn business_reaches(&self, business: u64, asset: u64) -> bool {
        self.assets.get(&asset).is_some_and(|a| a.owner == business)
            || self.partner_grants.contains_key(&(asset, business))
    }
}
