//! IdP groups that manage app members: what a directory group mapped to an app grants, the
//! access a person should hold on the app across every mapped group they are in (the highest
//! role wins), and the one step that brings their seat there — an invitation or an upgrade
//! when they gain access, a downgrade or a removal when they lose it. Additions come before
//! removals in every plan, so a mover holds the new access before losing the old.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::apps::{AppRole, Platform};
use crate::changes::AssetPermissions;
use crate::roles::admin_role;

/// What one mapped group grants on its app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub group: String,
    pub app_role: AppRole,
    pub business_role: String,
    pub assets: Vec<AssetPermissions>,
}

/// The access a person should hold, merged over every path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub app_role: AppRole,
    pub business_role: String,
    /// Each asset with the union of its permissions over every path.
    pub assets: Vec<AssetPermissions>,
    /// The groups it comes from, by name.
    pub via: Vec<String>,
}

/// A business role's rank on its platform: the admin role above the others.
pub fn rank(platform: Platform, role: &str) -> u8 {
    u8::from(role == admin_role(platform))
}

fn app_rank(r: AppRole) -> u8 {
    match r {
        AppRole::Owner => 1,
        AppRole::Collaborator => 0,
    }
}

/// The highest business role and app role over `grants`, and the union of their assets.
pub fn desired(platform: Platform, grants: &[Grant]) -> Option<Desired> {
    let top = grants
        .iter()
        .max_by_key(|g| (rank(platform, &g.business_role), app_rank(g.app_role)))?;
    let app_role = grants
        .iter()
        .map(|g| g.app_role)
        .max_by_key(|r| app_rank(*r))
        .unwrap_or(AppRole::Collaborator);
    let mut assets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for g in grants {
        for a in &g.assets {
            let e = assets.entry(a.asset_id.clone()).or_default();
            for p in &a.permissions {
                if !e.contains(p) {
                    e.push(p.clone());
                }
            }
        }
    }
    let mut via: Vec<String> = grants.iter().map(|g| g.group.clone()).collect();
    via.sort();
    via.dedup();
    Some(Desired {
        app_role,
        business_role: top.business_role.clone(),
        assets: assets
            .into_iter()
            .map(|(asset_id, mut permissions)| {
                permissions.sort();
                AssetPermissions {
                    asset_id,
                    permissions,
                }
            })
            .collect(),
        via,
    })
}

/// The person's seat on the app now (their highest business role), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatNow {
    pub user_id: String,
    pub role: String,
    /// An invitation not yet accepted.
    pub invited: bool,
}

/// What the mappings gave a person earlier (kept, so only that is taken back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Given {
    pub business_role: String,
    /// The role they held before a mapping raised it (none: the mapping invited them).
    pub prior_role: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Invite,
    Upgrade,
    Downgrade,
    Remove,
}

impl StepKind {
    /// Additions run before removals.
    pub fn is_addition(self) -> bool {
        matches!(self, Self::Invite | Self::Upgrade)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Invite => "Invite",
            Self::Upgrade => "Raise role",
            Self::Downgrade => "Lower role",
            Self::Remove => "Remove",
        }
    }
}

/// One person's step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub from_role: Option<String>,
    pub to_role: Option<String>,
    /// The seat it acts on (none for an invitation).
    pub seat: Option<String>,
}

/// The step that brings one active person from `seat` (and what mappings gave them) to
/// `want`; none when they are there, or when their seat holds more than the mappings give and
/// the mappings did not give it (access granted by hand is left alone).
pub fn step(
    platform: Platform,
    want: Option<&Desired>,
    seat: Option<&SeatNow>,
    given: Option<&Given>,
) -> Option<Step> {
    match (want, seat) {
        (Some(w), None) => {
            // Invited before and not yet seen by a check: nothing new to send.
            given.is_none().then(|| Step {
                kind: StepKind::Invite,
                from_role: None,
                to_role: Some(w.business_role.clone()),
                seat: None,
            })
        }
        (Some(w), Some(s)) => {
            let (have, need) = (rank(platform, &s.role), rank(platform, &w.business_role));
            if need > have && !s.invited {
                Some(Step {
                    kind: StepKind::Upgrade,
                    from_role: Some(s.role.clone()),
                    to_role: Some(w.business_role.clone()),
                    seat: Some(s.user_id.clone()),
                })
            } else if need < have && !s.invited && given.is_some_and(|g| g.business_role == s.role)
            {
                Some(Step {
                    kind: StepKind::Downgrade,
                    from_role: Some(s.role.clone()),
                    to_role: Some(w.business_role.clone()),
                    seat: Some(s.user_id.clone()),
                })
            } else {
                None
            }
        }
        (None, Some(s)) => {
            let g = given?;
            match &g.prior_role {
                Some(prior) if *prior != s.role => Some(Step {
                    kind: StepKind::Downgrade,
                    from_role: Some(s.role.clone()),
                    to_role: Some(prior.clone()),
                    seat: Some(s.user_id.clone()),
                }),
                Some(_) => None,
                None => Some(Step {
                    kind: StepKind::Remove,
                    from_role: Some(s.role.clone()),
                    to_role: None,
                    seat: Some(s.user_id.clone()),
                }),
            }
        }
        (None, None) => None,
    }
}

/// What is recorded as given once a step is queued (none: nothing is recorded any more).
pub fn given_after(step: &Step, before: Option<&Given>) -> Option<Given> {
    match step.kind {
        StepKind::Invite => Some(Given {
            business_role: step.to_role.clone().unwrap_or_default(),
            prior_role: None,
        }),
        StepKind::Upgrade | StepKind::Downgrade => {
            let prior = match before {
                Some(b) => b.prior_role.clone(),
                None => step.from_role.clone(),
            };
            let to = step.to_role.clone().unwrap_or_default();
            // Back at the role held before any mapping: the mappings hold nothing any more.
            if before.is_some() && prior.as_deref() == Some(to.as_str()) {
                None
            } else {
                Some(Given {
                    business_role: to,
                    prior_role: prior,
                })
            }
        }
        StepKind::Remove => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(group: &str, role: &str, app: AppRole) -> Grant {
        Grant {
            group: group.into(),
            app_role: app,
            business_role: role.into(),
            assets: vec![AssetPermissions {
                asset_id: format!("a-{group}"),
                permissions: vec!["VIEW".into()],
            }],
        }
    }

    fn seat(role: &str) -> SeatNow {
        SeatNow {
            user_id: "u1".into(),
            role: role.into(),
            invited: false,
        }
    }

    #[test]
    fn the_highest_role_wins_across_paths() {
        let d = desired(
            Platform::Pinterest,
            &[
                g("Marketing", "EMPLOYEE", AppRole::Owner),
                g("Paid Social", "BIZ_ADMIN", AppRole::Collaborator),
            ],
        )
        .unwrap();
        assert_eq!(d.business_role, "BIZ_ADMIN");
        assert_eq!(d.app_role, AppRole::Owner);
        assert_eq!(d.assets.len(), 2);
        assert_eq!(d.via, vec!["Marketing", "Paid Social"]);
        assert!(desired(Platform::Pinterest, &[]).is_none());
    }

    #[test]
    fn joiner_mover_leaver() {
        let p = Platform::Pinterest;
        let admin = desired(p, &[g("A", "BIZ_ADMIN", AppRole::Owner)]).unwrap();
        let emp = desired(p, &[g("B", "EMPLOYEE", AppRole::Collaborator)]).unwrap();
        // Joiner without a seat: invited; invited already: nothing.
        assert_eq!(
            step(p, Some(&emp), None, None).unwrap().kind,
            StepKind::Invite
        );
        let given = Given {
            business_role: "EMPLOYEE".into(),
            prior_role: None,
        };
        assert!(step(p, Some(&emp), None, Some(&given)).is_none());
        // A seat below: raised; a hand-given seat above: left alone.
        assert_eq!(
            step(p, Some(&admin), Some(&seat("EMPLOYEE")), None)
                .unwrap()
                .kind,
            StepKind::Upgrade
        );
        assert!(step(p, Some(&emp), Some(&seat("BIZ_ADMIN")), None).is_none());
        // Mover from an admin group to an employee group: lowered (the mapping gave admin).
        let raised = Given {
            business_role: "BIZ_ADMIN".into(),
            prior_role: None,
        };
        assert_eq!(
            step(p, Some(&emp), Some(&seat("BIZ_ADMIN")), Some(&raised))
                .unwrap()
                .kind,
            StepKind::Downgrade
        );
        // Leaver: removed when the mapping invited them; lowered back when it raised them.
        assert_eq!(
            step(p, None, Some(&seat("EMPLOYEE")), Some(&given))
                .unwrap()
                .kind,
            StepKind::Remove
        );
        let was_raised = Given {
            business_role: "BIZ_ADMIN".into(),
            prior_role: Some("EMPLOYEE".into()),
        };
        let s = step(p, None, Some(&seat("BIZ_ADMIN")), Some(&was_raised)).unwrap();
        assert_eq!(
            (s.kind, s.to_role.as_deref()),
            (StepKind::Downgrade, Some("EMPLOYEE"))
        );
        assert!(given_after(&s, Some(&was_raised)).is_none());
        // Never given by a mapping: never taken.
        assert!(step(p, None, Some(&seat("EMPLOYEE")), None).is_none());
    }
}
