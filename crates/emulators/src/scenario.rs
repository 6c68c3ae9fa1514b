//! Scenarios: what the emulated platforms hold at start (and after a reset). `demo` is a small
//! hand-made world; `Scale` generates a large one deterministically from a seed; a JSON file
//! describes any other.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::common::now_ms;
use crate::pinterest_state::{self as ps, AssetType, Role, perm_bits};
use crate::tiktok_state::{self as ts, BcRole, role_field};

/// Where a world comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScenarioSource {
    Demo,
    Generated(Scale),
    /// A generated business on one platform only.
    GeneratedOne {
        scale: Scale,
        platform: OnePlatform,
    },
    Json(Box<Scenario>),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Scale {
    pub members: usize,
    pub assets: usize,
    pub partners: usize,
    pub grants_per_member: usize,
    /// The first this many partners are whole businesses Castellan can connect: an admin
    /// whose token is [`bench_monitor_token`], and `partner_users` members each holding a
    /// permission on our ad account shared with the partner.
    #[serde(default)]
    pub connected_partners: usize,
    #[serde(default)]
    pub partner_users: usize,
}

/// The monitor token of generated partner `j` (see [`Scale::connected_partners`]).
pub fn bench_monitor_token(platform: OnePlatform, j: usize) -> String {
    match platform {
        OnePlatform::Pinterest => format!("pina_bench_monitor_{j}"),
        OnePlatform::Tiktok => format!("tt_bench_monitor_{j}"),
    }
}

/// The business id of generated partner `j` on each platform.
pub fn generated_partner_id(platform: OnePlatform, j: usize) -> u64 {
    match platform {
        OnePlatform::Pinterest => PINTEREST_BRAND + 50_000_000 + j as u64 * 10,
        OnePlatform::Tiktok => TIKTOK_BRAND + 50_000_000 + j as u64 * 10,
    }
}

/// Our asset shared with generated partner `j`: an ad account (advertiser), the first of that
/// type from `(j * 3) % assets` on, so a connected partner always has one to reach.
fn shared_asset_of(j: u64, assets: u64, is_ad: impl Fn(u64) -> bool) -> Option<u64> {
    (0..assets)
        .map(|k| (j * 3 + k) % assets)
        .find(|&i| is_ad(i))
}

impl ScenarioSource {
    pub fn build(&self, seed: u64) -> Result<(ps::State, ts::State), String> {
        match self {
            ScenarioSource::Demo => demo().apply(),
            ScenarioSource::Json(s) => s.apply(),
            ScenarioSource::Generated(scale) => Ok(generate(*scale, seed)),
            ScenarioSource::GeneratedOne { scale, platform } => {
                Ok(generate_one(*scale, seed, *platform))
            }
        }
    }
}

// ---------------------------------------------------------------- the JSON form

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub pinterest: PinterestScenario,
    pub tiktok: TiktokScenario,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinterestScenario {
    pub apps: Vec<App>,
    pub users: Vec<PUser>,
    pub businesses: Vec<Business>,
    pub members: Vec<PMember>,
    pub assets: Vec<PAsset>,
    pub conversion_tags: Vec<Tag>,
    pub member_grants: Vec<PGrant>,
    pub partnerships: Vec<Partnership>,
    pub partner_grants: Vec<PPartnerGrant>,
    pub invites: Vec<PInvite>,
    pub tokens: Vec<TokenSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub client_id: String,
    pub secret: String,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PUser {
    pub id: u64,
    pub username: String,
    pub email: String,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Business {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub company: Option<String>,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PMember {
    pub business: u64,
    pub user: u64,
    pub role: String,
    #[serde(default)]
    pub system_user: bool,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PAsset {
    pub id: u64,
    pub business: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub id: u64,
    pub ad_account: u64,
    pub name: String,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PGrant {
    pub business: u64,
    pub user: u64,
    pub asset: u64,
    pub permissions: Vec<String>,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partnership {
    /// The business whose assets are shared.
    pub owner: u64,
    pub partner: u64,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PPartnerGrant {
    pub asset: u64,
    pub partner: u64,
    pub permissions: Vec<String>,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PInvite {
    pub id: u64,
    pub business: u64,
    pub invitee: String,
    pub role: String,
    pub created_by: u64,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub token: String,
    pub user: u64,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime from start; none = does not expire.
    #[serde(default)]
    pub expires_in_secs: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TiktokScenario {
    pub apps: Vec<TApp>,
    pub users: Vec<TUser>,
    pub bcs: Vec<Business>,
    pub members: Vec<TMember>,
    pub pending: Vec<TPending>,
    pub assets: Vec<TAsset>,
    pub grants: Vec<TGrant>,
    pub partners: Vec<Partnership>,
    pub shares: Vec<TShare>,
    pub tokens: Vec<TokenSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TApp {
    pub app_id: String,
    pub secret: String,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TUser {
    pub id: u64,
    pub name: String,
    pub email: String,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TMember {
    pub bc: u64,
    pub user: u64,
    pub role: String,
    #[serde(default)]
    pub finance_role: Option<String>,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TPending {
    pub bc: u64,
    pub email: String,
    pub role: String,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TAsset {
    pub id: u64,
    pub bc: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub pixel_code: Option<String>,
    #[serde(default)]
    pub advertiser: Option<u64>,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TGrant {
    pub bc: u64,
    pub user: u64,
    pub asset: u64,
    pub role: Vec<String>,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TShare {
    pub asset: u64,
    pub partner: u64,
    pub role: Vec<String>,
}

fn tiktok_asset_kind(s: &str) -> Result<&'static str, String> {
    ts::ASSET_TYPES
        .iter()
        .copied()
        .find(|k| *k == s)
        .ok_or_else(|| format!("unknown TikTok asset type {s}"))
}

impl Scenario {
    pub fn apply(&self) -> Result<(ps::State, ts::State), String> {
        Ok((self.pinterest.apply()?, self.tiktok.apply()?))
    }
}

impl PinterestScenario {
    fn apply(&self) -> Result<ps::State, String> {
        let mut st = ps::State::new();
        let now = now_ms();
        for a in &self.apps {
            st.apps.insert(
                a.client_id.clone(),
                ps::App {
                    secret: a.secret.clone(),
                },
            );
        }
        for u in &self.users {
            st.users.insert(
                u.id,
                ps::User {
                    id: u.id,
                    username: u.username.clone(),
                    email: u.email.clone(),
                    business: false,
                },
            );
        }
        for b in &self.businesses {
            st.businesses.insert(
                b.id,
                ps::Business {
                    id: b.id,
                    name: b.name.clone(),
                    created_ms: now,
                },
            );
            st.users.insert(
                b.id,
                ps::User {
                    id: b.id,
                    username: b.name.clone(),
                    email: String::new(),
                    business: true,
                },
            );
        }
        let need_user = |st: &ps::State, u: u64| {
            if st.users.contains_key(&u) {
                Ok(())
            } else {
                Err(format!("pinterest: unknown user {u}"))
            }
        };
        let need_biz = |st: &ps::State, b: u64| {
            if st.businesses.contains_key(&b) {
                Ok(())
            } else {
                Err(format!("pinterest: unknown business {b}"))
            }
        };
        for m in &self.members {
            need_biz(&st, m.business)?;
            need_user(&st, m.user)?;
            let role = Role::parse(&m.role).ok_or_else(|| {
                format!(
                    "pinterest: member role {} must be EMPLOYEE or BIZ_ADMIN",
                    m.role
                )
            })?;
            st.members.insert(
                (m.business, m.user),
                ps::Member {
                    role,
                    system_user: m.system_user,
                    created_ms: now,
                },
            );
        }
        for a in &self.assets {
            need_biz(&st, a.business)?;
            let kind = AssetType::parse(&a.kind)
                .ok_or_else(|| format!("pinterest: unknown asset type {}", a.kind))?;
            st.assets.insert(
                a.id,
                ps::Asset {
                    id: a.id,
                    kind,
                    owner: a.business,
                    name: a.name.clone(),
                    created_ms: now,
                },
            );
        }
        for t in &self.conversion_tags {
            st.tags.insert(
                t.id,
                ps::ConversionTag {
                    id: t.id,
                    ad_account: t.ad_account,
                    name: t.name.clone(),
                },
            );
        }
        for p in &self.partnerships {
            need_biz(&st, p.owner)?;
            need_biz(&st, p.partner)?;
            st.partnerships.insert((p.owner, p.partner));
        }
        for g in &self.partner_grants {
            let bits = perm_bits(&g.permissions)?;
            let owner = st
                .assets
                .get(&g.asset)
                .ok_or_else(|| format!("pinterest: unknown asset {}", g.asset))?
                .owner;
            st.partnerships.insert((owner, g.partner));
            st.partner_grants.insert((g.asset, g.partner), bits);
        }
        for g in &self.member_grants {
            let bits = perm_bits(&g.permissions)?;
            if !st.business_reaches(g.business, g.asset) {
                return Err(format!(
                    "pinterest: business {} cannot reach asset {}",
                    g.business, g.asset
                ));
            }
            st.grant(g.business, g.user, g.asset, bits);
        }
        for i in &self.invites {
            let role =
                Role::parse(&i.role).ok_or_else(|| format!("pinterest: invite role {}", i.role))?;
            st.invites.insert(
                i.id,
                ps::Invite {
                    id: i.id,
                    business: i.business,
                    invitee: i.invitee.clone(),
                    role,
                    status: ps::InviteStatus::Pending,
                    sent_ms: now,
                    updated_ms: now,
                    created_by: i.created_by,
                    assets: Default::default(),
                },
            );
        }
        for t in &self.tokens {
            need_user(&st, t.user)?;
            let scopes: BTreeSet<String> = t.scopes.iter().cloned().collect();
            st.tokens.insert(
                t.token.clone(),
                ps::Token {
                    user: t.user,
                    scopes: scopes.clone(),
                    expires_ms: t.expires_in_secs.map(|s| now + s * 1000),
                },
            );
            if let Some(r) = &t.refresh_token {
                st.refresh_tokens.insert(
                    r.clone(),
                    ps::Token {
                        user: t.user,
                        scopes,
                        expires_ms: None,
                    },
                );
            }
        }
        let max = [
            st.users.keys().max(),
            st.assets.keys().max(),
            st.invites.keys().max(),
            st.tags.keys().max(),
        ]
        .into_iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0);
        st.next_id = st.next_id.max(max);
        Ok(st)
    }
}

impl TiktokScenario {
    fn apply(&self) -> Result<ts::State, String> {
        let mut st = ts::State::new();
        for a in &self.apps {
            st.apps.insert(a.app_id.clone(), a.secret.clone());
        }
        for u in &self.users {
            st.users.insert(
                u.id,
                ts::User {
                    id: u.id,
                    name: u.name.clone(),
                    email: u.email.clone(),
                },
            );
        }
        for b in &self.bcs {
            st.bcs.insert(
                b.id,
                ts::Bc {
                    id: b.id,
                    name: b.name.clone(),
                    company: b.company.clone().unwrap_or_else(|| b.name.clone()),
                    kind: "NORMAL".into(),
                },
            );
        }
        for m in &self.members {
            if !st.bcs.contains_key(&m.bc) || !st.users.contains_key(&m.user) {
                return Err(format!(
                    "tiktok: member {} of {} refers to an unknown BC or user",
                    m.user, m.bc
                ));
            }
            let role = BcRole::parse(&m.role)
                .ok_or_else(|| format!("tiktok: role {} must be ADMIN or STANDARD", m.role))?;
            st.members.insert(
                (m.bc, m.user),
                ts::Member {
                    role,
                    finance_role: m.finance_role.clone(),
                },
            );
        }
        for p in &self.pending {
            let role = BcRole::parse(&p.role).ok_or_else(|| format!("tiktok: role {}", p.role))?;
            st.pending.insert(
                (p.bc, p.email.to_lowercase()),
                ts::Pending {
                    email: p.email.clone(),
                    role,
                    status: "PENDING",
                    asset_ids: Vec::new(),
                    advertiser_role: "ANALYST".into(),
                    finance_role: None,
                },
            );
        }
        for a in &self.assets {
            let kind = tiktok_asset_kind(&a.kind)?;
            st.assets.insert(
                a.id,
                ts::Asset {
                    id: a.id,
                    kind,
                    owner: a.bc,
                    name: a.name.clone(),
                    pixel_code: a.pixel_code.clone(),
                    advertiser: a.advertiser,
                },
            );
        }
        for p in &self.partners {
            st.partners.insert((p.owner, p.partner));
            st.partners.insert((p.partner, p.owner));
        }
        for s in &self.shares {
            let owner = st
                .assets
                .get(&s.asset)
                .ok_or_else(|| format!("tiktok: unknown asset {}", s.asset))?
                .owner;
            st.partners.insert((owner, s.partner));
            st.partners.insert((s.partner, owner));
            st.shares.insert((s.asset, s.partner), s.role.clone());
        }
        for g in &self.grants {
            let kind = st
                .assets
                .get(&g.asset)
                .ok_or_else(|| format!("tiktok: unknown asset {}", g.asset))?
                .kind;
            if let Some((_, allowed)) = role_field(kind)
                && let Some(bad) = g.role.iter().find(|r| !allowed.contains(&r.as_str()))
            {
                return Err(format!("tiktok: role {bad} does not fit a {kind}"));
            }
            st.grant(g.bc, g.user, g.asset, g.role.clone());
        }
        for t in &self.tokens {
            st.tokens.insert(
                t.token.clone(),
                ts::Token {
                    user: t.user,
                    advertiser_ids: Vec::new(),
                    app_id: String::new(),
                },
            );
        }
        let max = [
            st.users.keys().max(),
            st.assets.keys().max(),
            st.bcs.keys().max(),
        ]
        .into_iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0);
        st.next_id = st.next_id.max(max);
        Ok(st)
    }
}

// ---------------------------------------------------------------- demo

pub const PINTEREST_BRAND: u64 = 549_755_900_001;
/// The demo agency Brightwave's other client, on both platforms.
pub const OTHER_CLIENT: &str = "Globex Retail";
pub const PINTEREST_AUTOMATION_TOKEN: &str = "pina_demo_automation_token";
pub const PINTEREST_CLIENT_ID: &str = "1500000000000001";
pub const PINTEREST_CLIENT_SECRET: &str = "demo-pinterest-app-secret";
pub const TIKTOK_BRAND: u64 = 7_100_000_000_000_000_001;
pub const TIKTOK_AUTOMATION_TOKEN: &str = "tt_demo_automation_token";
/// The token of Brightwave's admin (the lead), a monitor account of the partner's business, on
/// each platform (read-only scopes on Pinterest).
pub const PINTEREST_MONITOR_TOKEN: &str = "pina_demo_brightwave_monitor";
pub const TIKTOK_MONITOR_TOKEN: &str = "tt_demo_brightwave_monitor";
pub const TIKTOK_APP_ID: &str = "7200000000000000001";
pub const TIKTOK_APP_SECRET: &str = "demo-tiktok-app-secret";

/// (userName, given, family, active in the directory). Same people as Castellan's demo
/// directory: the last two have left the company but still hold seats.
const PEOPLE: &[(&str, bool)] = &[
    ("ava.johnson", true),
    ("liam.smith", true),
    ("olivia.brown", true),
    ("noah.davis", true),
    ("emma.wilson", true),
    ("james.moore", true),
    ("sophia.taylor", true),
    ("lucas.anderson", true),
    ("mia.thomas", true),
    ("ethan.jackson", true),
    ("isabella.white", true),
    ("mason.harris", true),
    ("amelia.martin", true),
    ("logan.thompson", true),
    ("harper.garcia", true),
    ("elijah.martinez", true),
    ("evelyn.robinson", true),
    ("alexander.clark", true),
    ("abigail.rodriguez", true),
    ("michael.lewis", true),
    ("emily.lee", true),
    ("daniel.walker", true),
    ("elizabeth.hall", true),
    ("henry.allen", true),
    ("sofia.young", true),
    ("jackson.king", true),
    ("avery.wright", true),
    ("sebastian.lopez", true),
    ("ella.hill", true),
    ("aiden.scott", true),
    ("scarlett.green", true),
    ("matthew.adams", true),
    ("grace.baker", true),
    ("samuel.gonzalez", true),
    ("chloe.nelson", true),
    ("david.carter", false),
    ("victoria.mitchell", false),
];

/// The demo world, on both platforms: our brand's business (≈40 seats: employees matching the
/// demo directory, two leavers, a personal webmail address, the automation account, a
/// pending invite), a dozen assets, and two agency partners with their own people; one agency
/// also works for another client ([`OTHER_CLIENT`]), whose assets and people never belong in
/// Acme's data.
pub fn demo() -> Scenario {
    Scenario {
        pinterest: demo_pinterest(),
        tiktok: demo_tiktok(),
    }
}

fn demo_pinterest() -> PinterestScenario {
    let mut s = PinterestScenario::default();
    s.apps.push(App {
        client_id: PINTEREST_CLIENT_ID.into(),
        secret: PINTEREST_CLIENT_SECRET.into(),
    });
    let agency_a = PINTEREST_BRAND + 1;
    let agency_b = PINTEREST_BRAND + 2;
    s.businesses = vec![
        Business {
            id: PINTEREST_BRAND,
            name: "Acme Brand".into(),
            company: None,
        },
        Business {
            id: agency_a,
            name: "Brightwave Media".into(),
            company: None,
        },
        Business {
            id: agency_b,
            name: "Northstar Agency".into(),
            company: None,
        },
    ];
    let mut uid = 549_755_910_000u64;
    let mut add_user = |s: &mut PinterestScenario, username: &str, email: &str| {
        uid += 1;
        s.users.push(PUser {
            id: uid,
            username: username.into(),
            email: email.into(),
        });
        uid
    };
    let automation = add_user(
        &mut s,
        "acme_castellan_bot",
        "castellan-automation@acme.example.com",
    );
    s.members.push(PMember {
        business: PINTEREST_BRAND,
        user: automation,
        role: "BIZ_ADMIN".into(),
        system_user: false,
    });
    s.tokens.push(TokenSpec {
        token: PINTEREST_AUTOMATION_TOKEN.into(),
        user: automation,
        scopes: [
            "biz_access:read",
            "biz_access:write",
            "ads:read",
            "user_accounts:read",
        ]
        .map(String::from)
        .to_vec(),
        expires_in_secs: None,
        refresh_token: Some("pinr_demo_automation_refresh".into()),
    });
    let mut asset_id = PINTEREST_BRAND + 1000;
    let mut add_asset = |s: &mut PinterestScenario, business: u64, kind: &str, name: &str| {
        asset_id += 1;
        s.assets.push(PAsset {
            id: asset_id,
            business,
            kind: kind.into(),
            name: name.into(),
        });
        asset_id
    };
    let ads: Vec<u64> = [
        "Acme US Prospecting",
        "Acme US Retargeting",
        "Acme EU Always-on",
        "Acme Holiday 2026",
        "Acme Brand Awareness",
        "Acme Shopping",
    ]
    .iter()
    .map(|n| add_asset(&mut s, PINTEREST_BRAND, "AD_ACCOUNT", n))
    .collect();
    let profiles: Vec<u64> = ["acme", "acmekitchen", "acmeoutdoors"]
        .iter()
        .map(|n| add_asset(&mut s, PINTEREST_BRAND, "PROFILE", n))
        .collect();
    let catalogs: Vec<u64> = ["Acme US catalog", "Acme EU catalog"]
        .iter()
        .map(|n| add_asset(&mut s, PINTEREST_BRAND, "CATALOG", n))
        .collect();
    let group = add_asset(&mut s, PINTEREST_BRAND, "ASSET_GROUP", "Acme Kitchen line");
    let agency_ad = add_asset(&mut s, agency_a, "AD_ACCOUNT", "Brightwave house account");
    for (i, ad) in ads.iter().enumerate() {
        s.conversion_tags.push(Tag {
            id: 2_612_000_000_000 + i as u64,
            ad_account: *ad,
            name: format!("Acme tag {}", i + 1),
        });
    }
    let perms = |p: &[&str]| p.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for (i, (user, _)) in PEOPLE.iter().enumerate() {
        let u = add_user(
            &mut s,
            &user.replace('.', "_"),
            &format!("{user}@acme.example.com"),
        );
        let role = if i < 3 { "BIZ_ADMIN" } else { "EMPLOYEE" };
        s.members.push(PMember {
            business: PINTEREST_BRAND,
            user: u,
            role: role.into(),
            system_user: false,
        });
        s.member_grants.push(PGrant {
            business: PINTEREST_BRAND,
            user: u,
            asset: ads[i % ads.len()],
            permissions: perms(if i % 4 == 0 {
                &["ADMIN"]
            } else {
                &["CAMPAIGN_MANAGER", "ANALYST"]
            }),
        });
        if i % 3 == 0 {
            s.member_grants.push(PGrant {
                business: PINTEREST_BRAND,
                user: u,
                asset: profiles[i % profiles.len()],
                permissions: perms(&["PROFILE_PUBLISHER"]),
            });
        }
        if i % 5 == 0 {
            s.member_grants.push(PGrant {
                business: PINTEREST_BRAND,
                user: u,
                asset: catalogs[i % catalogs.len()],
                permissions: perms(&["CATALOGS_MANAGER"]),
            });
        }
        if i % 7 == 0 {
            s.member_grants.push(PGrant {
                business: PINTEREST_BRAND,
                user: u,
                asset: group,
                permissions: perms(&["ANALYST"]),
            });
        }
    }
    let webmail = add_user(&mut s, "jess_pins_ads", "jess.pins.ads@gmail.com");
    s.members.push(PMember {
        business: PINTEREST_BRAND,
        user: webmail,
        role: "EMPLOYEE".into(),
        system_user: false,
    });
    s.member_grants.push(PGrant {
        business: PINTEREST_BRAND,
        user: webmail,
        asset: ads[0],
        permissions: perms(&["ANALYST"]),
    });
    s.invites.push(PInvite {
        id: 549_755_990_001,
        business: PINTEREST_BRAND,
        invitee: "new.hire@acme.example.com".into(),
        role: "EMPLOYEE".into(),
        created_by: automation,
    });
    // Agencies: their own people, our assets shared with them and passed on to their staff.
    for (agency, name, shared) in [
        (agency_a, "brightwave", vec![ads[0], ads[1]]),
        (agency_b, "northstar", vec![ads[3]]),
    ] {
        for a in &shared {
            s.partner_grants.push(PPartnerGrant {
                asset: *a,
                partner: agency,
                permissions: perms(&["CAMPAIGN_MANAGER", "ANALYST"]),
            });
        }
        for (j, person) in ["lead", "planner", "buyer"].iter().enumerate() {
            let u = add_user(
                &mut s,
                &format!("{name}_{person}"),
                &format!("{person}@{name}.example.net"),
            );
            s.members.push(PMember {
                business: agency,
                user: u,
                role: if j == 0 { "BIZ_ADMIN" } else { "EMPLOYEE" }.into(),
                system_user: false,
            });
            s.member_grants.push(PGrant {
                business: agency,
                user: u,
                asset: shared[j % shared.len()],
                permissions: perms(&["CAMPAIGN_MANAGER"]),
            });
        }
    }
    s.member_grants.push(PGrant {
        business: agency_a,
        user: s
            .users
            .iter()
            .find(|u| u.username == "brightwave_lead")
            .map(|u| u.id)
            .unwrap_or(0),
        asset: agency_ad,
        permissions: perms(&["ADMIN"]),
    });
    let lead = s
        .users
        .iter()
        .find(|u| u.username == "brightwave_lead")
        .map(|u| u.id)
        .unwrap_or(0);
    s.tokens.push(TokenSpec {
        token: PINTEREST_MONITOR_TOKEN.into(),
        user: lead,
        scopes: ["biz_access:read", "ads:read", "user_accounts:read"]
            .map(String::from)
            .to_vec(),
        expires_in_secs: None,
        refresh_token: None,
    });
    // A system user of ours.
    let sys = add_user(&mut s, "acme_reporting_system_user", "");
    s.members.push(PMember {
        business: PINTEREST_BRAND,
        user: sys,
        role: "EMPLOYEE".into(),
        system_user: true,
    });
    // Another client of Brightwave: it shares an ad account with the agency, whose buyer works
    // on it. None of Globex's assets or people may ever reach Acme's data.
    let other = PINTEREST_BRAND + 3;
    s.businesses.push(Business {
        id: other,
        name: OTHER_CLIENT.into(),
        company: None,
    });
    let globex_ad = add_asset(&mut s, other, "AD_ACCOUNT", "Globex Spring Sale");
    s.partner_grants.push(PPartnerGrant {
        asset: globex_ad,
        partner: agency_a,
        permissions: perms(&["CAMPAIGN_MANAGER"]),
    });
    let globex_owner = add_user(&mut s, "globex_owner", "owner@globex.example.com");
    s.members.push(PMember {
        business: other,
        user: globex_owner,
        role: "BIZ_ADMIN".into(),
        system_user: false,
    });
    let globex_buyer = add_user(
        &mut s,
        "brightwave_globex_buyer",
        "globex.buyer@brightwave.example.net",
    );
    s.members.push(PMember {
        business: agency_a,
        user: globex_buyer,
        role: "EMPLOYEE".into(),
        system_user: false,
    });
    s.member_grants.push(PGrant {
        business: agency_a,
        user: globex_buyer,
        asset: globex_ad,
        permissions: perms(&["CAMPAIGN_MANAGER"]),
    });
    s
}

fn demo_tiktok() -> TiktokScenario {
    let mut s = TiktokScenario::default();
    s.apps.push(TApp {
        app_id: TIKTOK_APP_ID.into(),
        secret: TIKTOK_APP_SECRET.into(),
    });
    let agency_a = TIKTOK_BRAND + 1;
    let agency_b = TIKTOK_BRAND + 2;
    s.bcs = vec![
        Business {
            id: TIKTOK_BRAND,
            name: "Acme Brand BC".into(),
            company: Some("Acme Inc.".into()),
        },
        Business {
            id: agency_a,
            name: "Brightwave Media BC".into(),
            company: Some("Brightwave Media LLC".into()),
        },
        Business {
            id: agency_b,
            name: "Northstar Agency BC".into(),
            company: Some("Northstar Agency Ltd".into()),
        },
    ];
    let mut uid = 7_100_000_000_000_100_000u64;
    let mut add_user = |s: &mut TiktokScenario, name: &str, email: &str| {
        uid += 1;
        s.users.push(TUser {
            id: uid,
            name: name.into(),
            email: email.into(),
        });
        uid
    };
    let automation = add_user(
        &mut s,
        "Castellan Automation",
        "castellan-automation@acme.example.com",
    );
    s.members.push(TMember {
        bc: TIKTOK_BRAND,
        user: automation,
        role: "ADMIN".into(),
        finance_role: Some("MANAGER".into()),
    });
    s.tokens.push(TokenSpec {
        token: TIKTOK_AUTOMATION_TOKEN.into(),
        user: automation,
        scopes: Vec::new(),
        expires_in_secs: None,
        refresh_token: None,
    });
    let mut aid = TIKTOK_BRAND + 5000;
    let mut add_asset =
        |s: &mut TiktokScenario, bc: u64, kind: &str, name: &str, adv: Option<u64>| {
            aid += 1;
            let code = (kind == "PIXEL").then(|| format!("C{aid:X}"));
            s.assets.push(TAsset {
                id: aid,
                bc,
                kind: kind.into(),
                name: name.into(),
                pixel_code: code,
                advertiser: adv,
            });
            aid
        };
    let ads: Vec<u64> = [
        "Acme US Prospecting",
        "Acme US Retargeting",
        "Acme EU Always-on",
        "Acme Holiday 2026",
        "Acme Spark Ads",
    ]
    .iter()
    .map(|n| add_asset(&mut s, TIKTOK_BRAND, "ADVERTISER", n, None))
    .collect();
    let pixels: Vec<u64> = ads
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, a)| {
            add_asset(
                &mut s,
                TIKTOK_BRAND,
                "PIXEL",
                &format!("Acme pixel {}", i + 1),
                Some(*a),
            )
        })
        .collect();
    let catalog = add_asset(
        &mut s,
        TIKTOK_BRAND,
        "CATALOG",
        "Acme product catalog",
        None,
    );
    let tt: Vec<u64> = ["@acme", "@acme.kitchen"]
        .iter()
        .map(|n| add_asset(&mut s, TIKTOK_BRAND, "TT_ACCOUNT", n, None))
        .collect();
    let agency_ad = add_asset(
        &mut s,
        agency_a,
        "ADVERTISER",
        "Brightwave house account",
        None,
    );
    let _ = pixels;
    for (i, (user, _)) in PEOPLE.iter().enumerate() {
        let display: String = user
            .split('.')
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ");
        let u = add_user(&mut s, &display, &format!("{user}@acme.example.com"));
        let role = if i < 3 { "ADMIN" } else { "STANDARD" };
        s.members.push(TMember {
            bc: TIKTOK_BRAND,
            user: u,
            role: role.into(),
            finance_role: None,
        });
        let adv_role = ["ADMIN", "OPERATOR", "ANALYST"][i % 3];
        s.grants.push(TGrant {
            bc: TIKTOK_BRAND,
            user: u,
            asset: ads[i % ads.len()],
            role: vec![adv_role.into()],
        });
        if i % 4 == 0 {
            s.grants.push(TGrant {
                bc: TIKTOK_BRAND,
                user: u,
                asset: catalog,
                role: vec!["AD_PROMOTE".into()],
            });
        }
        if i % 6 == 0 {
            s.grants.push(TGrant {
                bc: TIKTOK_BRAND,
                user: u,
                asset: tt[i % tt.len()],
                role: vec!["POST".into(), "LIVE".into()],
            });
        }
    }
    let webmail = add_user(&mut s, "Jess Ads", "jess.tiktok.ads@gmail.com");
    s.members.push(TMember {
        bc: TIKTOK_BRAND,
        user: webmail,
        role: "STANDARD".into(),
        finance_role: None,
    });
    s.grants.push(TGrant {
        bc: TIKTOK_BRAND,
        user: webmail,
        asset: ads[0],
        role: vec!["ANALYST".into()],
    });
    s.pending.push(TPending {
        bc: TIKTOK_BRAND,
        email: "new.hire@acme.example.com".into(),
        role: "STANDARD".into(),
    });
    for (agency, name, shared) in [
        (agency_a, "brightwave", vec![ads[0], ads[1]]),
        (agency_b, "northstar", vec![ads[3]]),
    ] {
        for a in &shared {
            s.shares.push(TShare {
                asset: *a,
                partner: agency,
                role: vec!["OPERATOR".into()],
            });
        }
        for (j, person) in ["Lead", "Planner", "Buyer"].iter().enumerate() {
            let u = add_user(
                &mut s,
                &format!("{name} {person}"),
                &format!("{}@{name}.example.net", person.to_lowercase()),
            );
            s.members.push(TMember {
                bc: agency,
                user: u,
                role: if j == 0 { "ADMIN" } else { "STANDARD" }.into(),
                finance_role: None,
            });
            s.grants.push(TGrant {
                bc: agency,
                user: u,
                asset: shared[j % shared.len()],
                role: vec!["OPERATOR".into()],
            });
        }
    }
    let lead = s
        .users
        .iter()
        .find(|u| u.email == "lead@brightwave.example.net")
        .map(|u| u.id)
        .unwrap_or(0);
    s.grants.push(TGrant {
        bc: agency_a,
        user: lead,
        asset: agency_ad,
        role: vec!["ADMIN".into()],
    });
    s.tokens.push(TokenSpec {
        token: TIKTOK_MONITOR_TOKEN.into(),
        user: lead,
        scopes: Vec::new(),
        expires_in_secs: None,
        refresh_token: None,
    });
    // Brightwave's other client (as on Pinterest): never part of Acme's data.
    let other = TIKTOK_BRAND + 3;
    s.bcs.push(Business {
        id: other,
        name: format!("{OTHER_CLIENT} BC"),
        company: Some(format!("{OTHER_CLIENT} Inc.")),
    });
    let globex_ad = add_asset(&mut s, other, "ADVERTISER", "Globex Spring Sale", None);
    s.shares.push(TShare {
        asset: globex_ad,
        partner: agency_a,
        role: vec!["OPERATOR".into()],
    });
    let globex_owner = add_user(&mut s, "Globex Owner", "owner@globex.example.com");
    s.members.push(TMember {
        bc: other,
        user: globex_owner,
        role: "ADMIN".into(),
        finance_role: None,
    });
    let globex_buyer = add_user(
        &mut s,
        "Brightwave Globex Buyer",
        "globex.buyer@brightwave.example.net",
    );
    s.members.push(TMember {
        bc: agency_a,
        user: globex_buyer,
        role: "STANDARD".into(),
        finance_role: None,
    });
    s.grants.push(TGrant {
        bc: agency_a,
        user: globex_buyer,
        asset: globex_ad,
        role: vec!["OPERATOR".into()],
    });
    s
}

// ---------------------------------------------------------------- generator

/// A large world, deterministic from `seed`, built straight into state (no intermediate
/// scenario) so 100,000 members with 10 grants each take seconds: one brand business per
/// platform with `members` seats, `assets` assets, `partners` partner businesses (each with
/// some of our ad accounts shared and a few users), and `grants_per_member` permissions each.
pub fn generate(scale: Scale, seed: u64) -> (ps::State, ts::State) {
    (
        generate_pinterest(scale, seed),
        generate_tiktok(scale, seed),
    )
}

/// Only one platform's half of [`generate`] (the other is left empty), for measurements
/// that should not carry the other platform's memory.
pub fn generate_one(scale: Scale, seed: u64, platform: OnePlatform) -> (ps::State, ts::State) {
    match platform {
        OnePlatform::Pinterest => (generate_pinterest(scale, seed), ts::State::new()),
        OnePlatform::Tiktok => (ps::State::new(), generate_tiktok(scale, seed)),
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnePlatform {
    Pinterest,
    Tiktok,
}

fn generate_pinterest(scale: Scale, seed: u64) -> ps::State {
    let mut rng = StdRng::seed_from_u64(seed);
    let now = now_ms();
    let mut p = ps::State::new();
    p.apps.insert(
        PINTEREST_CLIENT_ID.into(),
        ps::App {
            secret: PINTEREST_CLIENT_SECRET.into(),
        },
    );
    let brand = PINTEREST_BRAND;
    p.businesses.insert(
        brand,
        ps::Business {
            id: brand,
            name: "Scale Brand".into(),
            created_ms: now,
        },
    );
    p.users.insert(
        brand,
        ps::User {
            id: brand,
            username: "Scale Brand".into(),
            email: String::new(),
            business: true,
        },
    );
    let bot = brand + 10;
    p.users.insert(
        bot,
        ps::User {
            id: bot,
            username: "scale_bot".into(),
            email: "castellan-automation@scale.example.com".into(),
            business: false,
        },
    );
    p.members.insert(
        (brand, bot),
        ps::Member {
            role: Role::BizAdmin,
            system_user: false,
            created_ms: now,
        },
    );
    p.tokens.insert(
        PINTEREST_AUTOMATION_TOKEN.into(),
        ps::Token {
            user: bot,
            scopes: [
                "biz_access:read",
                "biz_access:write",
                "ads:read",
                "user_accounts:read",
            ]
            .map(String::from)
            .into(),
            expires_ms: None,
        },
    );
    let asset_base = brand + 1_000_000;
    let kinds = [
        AssetType::AdAccount,
        AssetType::AdAccount,
        AssetType::AdAccount,
        AssetType::Profile,
        AssetType::Catalog,
    ];
    for i in 0..scale.assets as u64 {
        let kind = kinds[(i % kinds.len() as u64) as usize];
        p.assets.insert(
            asset_base + i,
            ps::Asset {
                id: asset_base + i,
                kind,
                owner: brand,
                name: format!("Asset {i}"),
                created_ms: now,
            },
        );
    }
    let user_base = brand + 10_000_000;
    let ad_perms = perm_bits(&["CAMPAIGN_MANAGER".into(), "ANALYST".into()]).expect("valid");
    let profile_perms = perm_bits(&["PROFILE_PUBLISHER".into()]).expect("valid");
    let catalog_perms = perm_bits(&["CATALOGS_MANAGER".into()]).expect("valid");
    for i in 0..scale.members as u64 {
        let u = user_base + i;
        p.users.insert(
            u,
            ps::User {
                id: u,
                username: format!("member_{i}"),
                email: format!("member{i}@scale.example.com"),
                business: false,
            },
        );
        let role = if i % 50 == 0 {
            Role::BizAdmin
        } else {
            Role::Employee
        };
        p.members.insert(
            (brand, u),
            ps::Member {
                role,
                system_user: false,
                created_ms: now,
            },
        );
        if scale.assets > 0 {
            for _ in 0..scale.grants_per_member {
                let a = asset_base + rng.gen_range(0..scale.assets as u64);
                let bits = match p.assets[&a].kind {
                    AssetType::Profile => profile_perms,
                    AssetType::Catalog => catalog_perms,
                    _ => ad_perms,
                };
                p.grant(brand, u, a, bits);
            }
        }
    }
    let partner_base = brand + 50_000_000;
    let partner_users_base = brand + 60_000_000;
    for j in 0..scale.partners as u64 {
        let b = partner_base + j * 10;
        p.businesses.insert(
            b,
            ps::Business {
                id: b,
                name: format!("Partner {j}"),
                created_ms: now,
            },
        );
        p.users.insert(
            b,
            ps::User {
                id: b,
                username: format!("Partner {j}"),
                email: String::new(),
                business: true,
            },
        );
        p.partnerships.insert((brand, b));
        let connected = (j as usize) < scale.connected_partners;
        let shared = if connected {
            shared_asset_of(j, scale.assets as u64, |i| {
                p.assets[&(asset_base + i)].kind == AssetType::AdAccount
            })
            .map(|i| asset_base + i)
        } else if scale.assets > 0 {
            let a = asset_base + (j * 3) % scale.assets as u64;
            (p.assets[&a].kind == AssetType::AdAccount).then_some(a)
        } else {
            None
        };
        if let Some(a) = shared {
            p.partner_grants.insert((a, b), ad_perms);
        }
        if let (true, Some(a)) = (connected, shared) {
            // The partner's admin (the monitor account) and its people on our ad account.
            let users = (0..=scale.partner_users as u64)
                .map(|k| partner_users_base + j * (scale.partner_users as u64 + 1) + k);
            for (k, u) in users.enumerate() {
                let (name, role) = if k == 0 {
                    (format!("partner{j}_monitor"), ps::Role::BizAdmin)
                } else {
                    (format!("partner{j}_user{k}"), ps::Role::Employee)
                };
                p.users.insert(
                    u,
                    ps::User {
                        id: u,
                        username: name.clone(),
                        email: format!("{name}@partner{j}.example.net"),
                        business: false,
                    },
                );
                p.members.insert(
                    (b, u),
                    ps::Member {
                        role,
                        system_user: false,
                        created_ms: now,
                    },
                );
                p.grant(b, u, a, ad_perms);
                if k == 0 {
                    p.tokens.insert(
                        bench_monitor_token(OnePlatform::Pinterest, j as usize),
                        ps::Token {
                            user: u,
                            scopes: ["biz_access:read", "ads:read", "user_accounts:read"]
                                .map(String::from)
                                .into(),
                            expires_ms: None,
                        },
                    );
                }
            }
        }
    }
    p.next_id = p.next_id.max(partner_base + scale.partners as u64 * 10 + 1);
    p.next_id = p.next_id.max(
        partner_users_base + (scale.connected_partners * (scale.partner_users + 1)) as u64 + 1,
    );
    p
}

fn generate_tiktok(scale: Scale, seed: u64) -> ts::State {
    // Its own stream, so generating TikTok alone gives the same business as generating both.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7717_0c00);
    let mut t = ts::State::new();
    t.apps
        .insert(TIKTOK_APP_ID.into(), TIKTOK_APP_SECRET.into());
    let bc = TIKTOK_BRAND;
    t.bcs.insert(
        bc,
        ts::Bc {
            id: bc,
            name: "Scale Brand BC".into(),
            company: "Scale Inc.".into(),
            kind: "NORMAL".into(),
        },
    );
    let tbot = bc + 10;
    t.users.insert(
        tbot,
        ts::User {
            id: tbot,
            name: "Castellan Automation".into(),
            email: "castellan-automation@scale.example.com".into(),
        },
    );
    t.members.insert(
        (bc, tbot),
        ts::Member {
            role: BcRole::Admin,
            finance_role: None,
        },
    );
    t.tokens.insert(
        TIKTOK_AUTOMATION_TOKEN.into(),
        ts::Token {
            user: tbot,
            advertiser_ids: Vec::new(),
            app_id: TIKTOK_APP_ID.into(),
        },
    );
    let tkinds = [
        "ADVERTISER",
        "ADVERTISER",
        "ADVERTISER",
        "CATALOG",
        "TT_ACCOUNT",
    ];
    let tasset = bc + 1_000_000;
    for i in 0..scale.assets as u64 {
        let kind = tkinds[(i % tkinds.len() as u64) as usize];
        t.assets.insert(
            tasset + i,
            ts::Asset {
                id: tasset + i,
                kind,
                owner: bc,
                name: format!("Asset {i}"),
                pixel_code: None,
                advertiser: None,
            },
        );
    }
    let tuser = bc + 10_000_000;
    for i in 0..scale.members as u64 {
        let u = tuser + i;
        t.users.insert(
            u,
            ts::User {
                id: u,
                name: format!("Member {i}"),
                email: format!("member{i}@scale.example.com"),
            },
        );
        t.members.insert(
            (bc, u),
            ts::Member {
                role: if i % 50 == 0 {
                    BcRole::Admin
                } else {
                    BcRole::Standard
                },
                finance_role: None,
            },
        );
        if scale.assets > 0 {
            for _ in 0..scale.grants_per_member {
                let a = tasset + rng.gen_range(0..scale.assets as u64);
                let role = match t.assets[&a].kind {
                    "CATALOG" => vec!["AD_PROMOTE".to_string()],
                    "TT_ACCOUNT" => vec!["POST".to_string()],
                    _ => vec!["OPERATOR".to_string()],
                };
                t.grant(bc, u, a, role);
            }
        }
    }
    let tpartner = bc + 50_000_000;
    let tpartner_users = bc + 60_000_000;
    for j in 0..scale.partners as u64 {
        let b = tpartner + j * 10;
        t.bcs.insert(
            b,
            ts::Bc {
                id: b,
                name: format!("Partner {j} BC"),
                company: format!("Partner {j}"),
                kind: "AGENCY".into(),
            },
        );
        t.partners.insert((bc, b));
        t.partners.insert((b, bc));
        let connected = (j as usize) < scale.connected_partners;
        let shared = if connected {
            shared_asset_of(j, scale.assets as u64, |i| {
                t.assets[&(tasset + i)].kind == "ADVERTISER"
            })
            .map(|i| tasset + i)
        } else if scale.assets > 0 {
            let a = tasset + (j * 3) % scale.assets as u64;
            (t.assets[&a].kind == "ADVERTISER").then_some(a)
        } else {
            None
        };
        if let Some(a) = shared {
            t.shares.insert((a, b), vec!["ANALYST".into()]);
        }
        if let (true, Some(a)) = (connected, shared) {
            let users = (0..=scale.partner_users as u64)
                .map(|k| tpartner_users + j * (scale.partner_users as u64 + 1) + k);
            for (k, u) in users.enumerate() {
                let (name, role) = if k == 0 {
                    (format!("Partner {j} Monitor"), ts::BcRole::Admin)
                } else {
                    (format!("Partner {j} User {k}"), ts::BcRole::Standard)
                };
                let email = if k == 0 {
                    format!("monitor@partner{j}.example.net")
                } else {
                    format!("user{k}@partner{j}.example.net")
                };
                t.users.insert(u, ts::User { id: u, name, email });
                t.members.insert(
                    (b, u),
                    ts::Member {
                        role,
                        finance_role: None,
                    },
                );
                t.grant(b, u, a, vec!["OPERATOR".to_string()]);
                if k == 0 {
                    t.tokens.insert(
                        bench_monitor_token(OnePlatform::Tiktok, j as usize),
                        ts::Token {
                            user: u,
                            advertiser_ids: Vec::new(),
                            app_id: TIKTOK_APP_ID.into(),
                        },
                    );
                }
            }
        }
    }
    t.next_id = t.next_id.max(tpartner + scale.partners as u64 * 10 + 1);
    t.next_id = t
        .next_id
        .max(tpartner_users + (scale.connected_partners * (scale.partner_users + 1)) as u64 + 1);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_builds_and_round_trips_as_json() {
        let s = demo();
        let (p, t) = s.apply().unwrap();
        let seats = p
            .members
            .range((PINTEREST_BRAND, 0)..=(PINTEREST_BRAND, u64::MAX))
            .filter(|(_, m)| !m.system_user)
            .count();
        assert!((38..=42).contains(&seats), "{seats}");
        assert!(
            p.assets
                .values()
                .filter(|a| a.owner == PINTEREST_BRAND)
                .count()
                >= 12
        );
        assert_eq!(
            p.partnerships
                .iter()
                .filter(|(o, _)| *o == PINTEREST_BRAND)
                .count(),
            2
        );
        assert_eq!(
            t.members
                .range((TIKTOK_BRAND, 0)..=(TIKTOK_BRAND, u64::MAX))
                .count(),
            39
        );
        let json = serde_json::to_string(&s).unwrap();
        let back: Scenario = serde_json::from_str(&json).unwrap();
        assert_eq!(back.apply().unwrap().0.members.len(), p.members.len());
    }

    #[test]
    fn generator_is_deterministic() {
        let scale = Scale {
            members: 300,
            assets: 50,
            partners: 5,
            grants_per_member: 4,
            connected_partners: 2,
            partner_users: 3,
        };
        let (a, _) = generate(scale, 7);
        let (b, _) = generate(scale, 7);
        let (c, _) = generate(scale, 8);
        let keys = |s: &ps::State| s.member_grants.keys().copied().collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b));
        assert_ne!(keys(&a), keys(&c));
        // The brand's 300 and its automation account, and two connected partners with an
        // admin and three users each.
        assert_eq!(a.members.len(), 301 + 2 * 4);
        assert_eq!(
            a.tokens
                .keys()
                .filter(|t| t.starts_with("pina_bench_monitor_"))
                .count(),
            2
        );
    }

    #[test]
    fn bad_references_are_refused() {
        let mut s = Scenario::default();
        s.pinterest.members.push(PMember {
            business: 1,
            user: 2,
            role: "EMPLOYEE".into(),
            system_user: false,
        });
        assert!(s.apply().unwrap_err().contains("unknown business"));
    }
}
