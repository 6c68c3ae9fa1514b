//! Planning a change: the guards (the automation account's own seat, the last admin, roles
//! and permissions the platform has) and the platform-neutral calls, with the SHA-256 of the
//! inputs the plan was computed from.

use crate::FieldError;
use crate::apps::Platform;
use crate::apps::SeatKind;
use crate::changes::{
    AppFacts, AssetPermissions, Change, Options, Plan, Refusal, Request, SeatView, Step,
};
use crate::roles::{admin_role, check_permissions, check_role, is_business_admin};
use sha2::{Digest, Sha256};

fn is_automation(s: &SeatView, f: &AppFacts) -> bool {
    f.automation_user_id.as_deref() == Some(s.user_id.as_str())
        || s.email
            .as_deref()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case(f.automation_email.trim()))
}

/// Plans `req` against `seats` (every live seat the request names, with its permissions) and
/// the app's facts. Steps already true of the held data are left out, so a plan of a change
/// already made is empty.
pub fn plan(
    req: &Request,
    seats: &[SeatView],
    facts: &AppFacts,
    opts: Options,
) -> Result<Plan, Refusal> {
    let cx = Planning {
        seats,
        facts,
        opts,
        admin: admin_role(facts.platform),
    };
    let steps = match req {
        Request::Remove { seats: ids } => plan_remove(&cx, ids)?,
        Request::SetRole { seat: id, role } => plan_set_role(&cx, id, role)?,
        Request::SetPermissions {
            seat: id,
            asset_id,
            permissions,
        } => plan_set_permissions(&cx, id, asset_id, permissions)?,
        Request::Invite {
            email,
            role,
            assets,
        } => plan_invite(&cx, email, role, assets)?,
        Request::CancelInvite { seat: id } => plan_cancel_invite(&cx, id)?,
    };
    Ok(Plan {
        steps,
        input_hash: input_hash(req, seats, facts),
    })
}

/// What every request kind plans against.
struct Planning<'a> {
    seats: &'a [SeatView],
    facts: &'a AppFacts,
    opts: Options,
    admin: &'static str,
}

impl Planning<'_> {
    /// The live seat `id`, or a refusal naming `field`.
    fn seat(&self, field: &str, id: &str) -> Result<&SeatView, Refusal> {
        // Which seats are live is the app's state: a conflict, not malformed input.
        self.seats.iter().find(|s| s.user_id == id).ok_or_else(|| {
            Refusal::Guard(FieldError::new(
                field,
                format!("{id} is not a live seat of this app"),
            ))
        })
    }
}

/// Removing seats: never the automation account's, never the last admin, and no more than
/// the share the workspace allows without confirmation.
fn plan_remove(cx: &Planning<'_>, ids: &[String]) -> Result<Vec<Step>, Refusal> {
    let facts = cx.facts;
    let opts = cx.opts;
    let _admin = cx.admin;
    let seat = |field: &str, id: &str| cx.seat(field, id);
    let mut steps = Vec::new();
    if ids.is_empty() {
        return Err(FieldError::new("seats", "name at least one seat").into());
    }
    let mut removed_admins = 0;
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) {
            continue;
        }
        let s = seat("seats", id)?;
        if is_automation(s, facts) {
            return Err(Refusal::Guard(FieldError::new(
                "seats",
                format!("{id} is the automation account's own seat: Castellan never removes it"),
            )));
        }
        match s.kind {
            SeatKind::Invite => steps.push(Step {
                change: Change::CancelInvite {
                    seat: s.user_id.clone(),
                    email: s.email.clone(),
                },
                seat: s.user_id.clone(),
                summary: format!("cancel the invitation of {}", label(s)),
            }),
            SeatKind::PartnerUser => {
                return Err(FieldError::new(
                    "seats",
                    format!("{id} is a partner's user: remove it in the partner's business"),
                )
                .into());
            }
            SeatKind::Member | SeatKind::SystemUser => {
                if is_business_admin(cx.facts.platform, &s.roles) {
                    removed_admins += 1;
                }
                steps.push(Step {
                    change: Change::RemoveMember {
                        user_id: s.user_id.clone(),
                        email: s.email.clone(),
                    },
                    seat: s.user_id.clone(),
                    summary: format!(
                        "remove {} ({}) and the permissions on {} assets",
                        label(s),
                        s.roles.join(", "),
                        s.grants.len()
                    ),
                });
            }
        }
    }
    if removed_admins > 0 && removed_admins >= facts.admins.len() {
        return Err(Refusal::Guard(FieldError::new(
            "seats",
            "this would remove the last admin of the business",
        )));
    }
    let removals = steps.iter().filter(|s| s.change.is_removal()).count() as u64;
    let share = removals as f64 / facts.member_seats.max(1) as f64;
    if share > opts.max_removal_share && !opts.confirm_large_removal {
        return Err(Refusal::Guard(FieldError::new(
            "confirm_large_removal",
            format!(
                "this removes {removals} of {} seats ({:.0}%, above {:.0}%): confirm it with confirm_large_removal",
                facts.member_seats,
                share * 100.0,
                opts.max_removal_share * 100.0
            ),
        )));
    }
    Ok(steps)
}

/// Changing a member's business role: never demoting the automation account or the last admin.
fn plan_set_role(cx: &Planning<'_>, id: &str, role: &String) -> Result<Vec<Step>, Refusal> {
    let facts = cx.facts;
    let admin = cx.admin;
    let seat = |field: &str, id: &str| cx.seat(field, id);
    let mut steps = Vec::new();
    check_role(facts.platform, role)?;
    let s = member_seat(seat("seat", id)?)?;
    let demotes = is_business_admin(cx.facts.platform, &s.roles) && role != admin;
    if demotes && is_automation(s, facts) {
        return Err(Refusal::Guard(FieldError::new(
            "seat",
            format!("{id} is the automation account's own seat: Castellan never demotes it"),
        )));
    }
    if demotes && facts.admins.len() <= 1 {
        return Err(Refusal::Guard(FieldError::new(
            "role",
            "this would demote the last admin of the business",
        )));
    }
    if s.roles != [role.clone()] {
        steps.push(Step {
            change: Change::SetRole {
                user_id: s.user_id.clone(),
                email: s.email.clone(),
                role: role.clone(),
            },
            seat: s.user_id.clone(),
            summary: format!(
                "change the role of {} from {} to {role}",
                label(s),
                s.roles.join(", ")
            ),
        });
    }
    Ok(steps)
}

/// Setting a member's permissions on one asset (none takes them away).
fn plan_set_permissions(
    cx: &Planning<'_>,
    id: &str,
    asset_id: &String,
    permissions: &[String],
) -> Result<Vec<Step>, Refusal> {
    let facts = cx.facts;
    let seat = |field: &str, id: &str| cx.seat(field, id);
    let mut steps = Vec::new();
    let s = member_seat(seat("seat", id)?)?;
    let kind = asset_kind(facts, "asset_id", asset_id)?;
    let mut wanted = permissions.to_vec();
    wanted.sort();
    wanted.dedup();
    let held = s.grants.iter().find(|g| &g.0 == asset_id);
    if wanted.is_empty() {
        if held.is_some() {
            steps.push(Step {
                change: Change::Revoke {
                    user_id: s.user_id.clone(),
                    asset_id: asset_id.clone(),
                    asset_kind: kind.clone(),
                },
                seat: s.user_id.clone(),
                summary: format!("take {}'s permissions on {asset_id}", label(s)),
            });
        }
    } else {
        check_permissions(facts.platform, &kind, "permissions", &wanted)?;
        if held.map(|g| &g.2) != Some(&wanted) {
            steps.push(Step {
                change: Change::Grant {
                    user_id: s.user_id.clone(),
                    asset_id: asset_id.clone(),
                    asset_kind: kind.clone(),
                    permissions: wanted.clone(),
                },
                seat: s.user_id.clone(),
                summary: format!(
                    "give {} {} on {kind} {asset_id}",
                    label(s),
                    wanted.join(", ")
                ),
            });
        }
    }
    Ok(steps)
}

/// Inviting an address with a role and asset permissions (TikTok: advertisers only, one role).
fn plan_invite(
    cx: &Planning<'_>,
    email: &str,
    role: &String,
    assets: &[AssetPermissions],
) -> Result<Vec<Step>, Refusal> {
    let seats = cx.seats;
    let facts = cx.facts;
    let mut steps = Vec::new();
    // Malformed input is refused as invalid; what only the app's state rules out (a role of
    // the other platform, an asset it does not have, a permission its kind does not take, a
    // person who already holds a seat) is a conflict (`Guard`).
    let email = crate::values::Email::parse("email", email)?;
    check_role(facts.platform, role)?;
    let mut planned = Vec::new();
    for (i, a) in assets.iter().enumerate() {
        let field = format!("assets[{i}]");
        let kind = asset_kind(facts, &format!("{field}.asset_id"), &a.asset_id)?;
        let mut p = a.permissions.clone();
        p.sort();
        p.dedup();
        check_permissions(facts.platform, &kind, &format!("{field}.permissions"), &p)
            .map_err(Refusal::Guard)?;
        planned.push((a.asset_id.clone(), kind, p));
    }
    // TikTok invitations carry advertisers only, all with one role.
    if facts.platform == Platform::Tiktok
        && (planned.iter().any(|(_, k, _)| k != "ADVERTISER")
            || planned.windows(2).any(|w| w[0].2 != w[1].2))
    {
        return Err(Refusal::Guard(FieldError::new(
            "assets",
            "a TikTok invitation can carry advertisers only, all with the same role",
        )));
    }
    let already = seats.iter().find(|s| {
        s.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
    });
    if let Some(s) = already {
        if s.kind != SeatKind::Invite {
            return Err(Refusal::Guard(FieldError::new(
                "email",
                format!("{email} already holds seat {}", s.user_id),
            )));
        }
    } else {
        steps.push(Step {
            change: Change::Invite {
                email: email.as_str().to_string(),
                role: role.clone(),
                assets: planned,
            },
            seat: format!("invite:{}", email.as_str().to_lowercase()),
            summary: format!("invite {email} as {role}"),
        });
    }
    Ok(steps)
}

/// Cancelling a pending invitation.
fn plan_cancel_invite(cx: &Planning<'_>, id: &str) -> Result<Vec<Step>, Refusal> {
    let seat = |field: &str, id: &str| cx.seat(field, id);
    let mut steps = Vec::new();
    let s = seat("seat", id)?;
    if s.kind != SeatKind::Invite {
        return Err(FieldError::new("seat", format!("{id} is not an invitation")).into());
    }
    steps.push(Step {
        change: Change::CancelInvite {
            seat: s.user_id.clone(),
            email: s.email.clone(),
        },
        seat: s.user_id.clone(),
        summary: format!("cancel the invitation of {}", label(s)),
    });
    Ok(steps)
}

fn member_seat(s: &SeatView) -> Result<&SeatView, Refusal> {
    if s.kind.has_person() {
        Ok(s)
    } else {
        Err(FieldError::new(
            "seat",
            format!("{} is not a member of the business", s.user_id),
        )
        .into())
    }
}

fn asset_kind(facts: &AppFacts, field: &str, id: &str) -> Result<String, Refusal> {
    facts
        .assets
        .iter()
        .find(|(a, _)| a == id)
        .map(|(_, k)| k.clone())
        .ok_or_else(|| {
            Refusal::Guard(FieldError::new(
                field,
                format!("{id} is not a live asset of this app"),
            ))
        })
}

fn label(s: &SeatView) -> String {
    s.email
        .clone()
        .or_else(|| s.username.clone())
        .unwrap_or_else(|| s.user_id.clone())
}

/// SHA-256 (hex) of the request and the inputs a plan reads, in a fixed order.
pub fn input_hash(req: &Request, seats: &[SeatView], facts: &AppFacts) -> String {
    let mut seats: Vec<&SeatView> = seats.iter().collect();
    seats.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let mut admins = facts.admins.clone();
    admins.sort();
    let mut assets = facts.assets.clone();
    assets.sort();
    let canonical = serde_json::json!({
        "request": req,
        "seats": seats,
        "member_seats": facts.member_seats,
        "admins": admins,
        "assets": assets,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// One hash over several plans' hashes and whatever else a combined change depends on (in
/// order): a plan of many parts runs only as a whole that was shown.
pub fn combined_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: &str, role: &str) -> SeatView {
        SeatView {
            user_id: id.into(),
            email: Some(format!("{id}@acme.example.com")),
            username: None,
            roles: vec![role.into()],
            kind: SeatKind::Member,
            state: crate::apps::SeatState::Unmatched,
            grants: vec![("A1".into(), "AD_ACCOUNT".into(), vec!["ADMIN".into()])],
        }
    }

    fn facts(seats: &[SeatView]) -> AppFacts {
        AppFacts {
            platform: Platform::Pinterest,
            member_seats: 10,
            admins: seats
                .iter()
                .filter(|s| s.roles[0] == "BIZ_ADMIN")
                .map(|s| s.user_id.clone())
                .collect(),
            automation_user_id: Some("bot".into()),
            automation_email: "castellan@acme.example.com".into(),
            assets: vec![
                ("A1".into(), "AD_ACCOUNT".into()),
                ("C1".into(), "CATALOG".into()),
            ],
        }
    }

    fn guard_field(r: Result<Plan, Refusal>) -> String {
        match r {
            Err(Refusal::Guard(e)) => e.field,
            other => panic!("expected a guard, got {other:?}"),
        }
    }

    #[test]
    fn removals_are_planned_and_guarded() {
        let seats = vec![
            seat("bot", "BIZ_ADMIN"),
            seat("ann", "BIZ_ADMIN"),
            seat("bob", "EMPLOYEE"),
        ];
        let f = facts(&seats);
        let opts = Options::default();
        let p = plan(
            &Request::Remove {
                seats: vec!["bob".into(), "bob".into()],
            },
            &seats,
            &f,
            opts,
        )
        .unwrap();
        assert_eq!(
            p.steps.iter().map(|s| &s.change).collect::<Vec<_>>(),
            vec![&Change::RemoveMember {
                user_id: "bob".into(),
                email: Some("bob@acme.example.com".into())
            }]
        );
        // The automation account's own seat, by id or by e-mail.
        assert_eq!(
            guard_field(plan(
                &Request::Remove {
                    seats: vec!["bot".into()]
                },
                &seats,
                &f,
                opts
            )),
            "seats"
        );
        let mut by_mail = seats.clone();
        by_mail[2].email = Some("Castellan@acme.example.com ".into());
        assert_eq!(
            guard_field(plan(
                &Request::Remove {
                    seats: vec!["bob".into()]
                },
                &by_mail,
                &facts(&by_mail),
                opts
            )),
            "seats"
        );
        // The last admin.
        let one_admin = vec![seat("ann", "BIZ_ADMIN"), seat("bob", "EMPLOYEE")];
        assert_eq!(
            guard_field(plan(
                &Request::Remove {
                    seats: vec!["ann".into()]
                },
                &one_admin,
                &facts(&one_admin),
                opts
            )),
            "seats"
        );
        // A large share needs confirmation.
        let many: Vec<SeatView> = (0..4).map(|i| seat(&format!("u{i}"), "EMPLOYEE")).collect();
        let mut fm = facts(&many);
        fm.admins = vec!["someone".into()];
        let req = Request::Remove {
            seats: many.iter().map(|s| s.user_id.clone()).collect(),
        };
        assert_eq!(
            guard_field(plan(&req, &many, &fm, opts)),
            "confirm_large_removal"
        );
        let confirmed = Options {
            confirm_large_removal: true,
            ..opts
        };
        assert_eq!(plan(&req, &many, &fm, confirmed).unwrap().steps.len(), 4);
        // An unknown seat names the field (a conflict with the app's state).
        match plan(
            &Request::Remove {
                seats: vec!["zed".into()],
            },
            &seats,
            &f,
            opts,
        ) {
            Err(Refusal::Guard(e)) => assert_eq!(e.field, "seats"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn roles_and_permissions_are_checked_and_idempotent() {
        let seats = vec![
            seat("bot", "BIZ_ADMIN"),
            seat("ann", "BIZ_ADMIN"),
            seat("bob", "EMPLOYEE"),
        ];
        let f = facts(&seats);
        let o = Options::default();
        let set = |id: &str, role: &str| Request::SetRole {
            seat: id.into(),
            role: role.into(),
        };
        assert_eq!(
            plan(&set("bob", "EMPLOYEE"), &seats, &f, o)
                .unwrap()
                .steps
                .len(),
            0,
            "already so"
        );
        assert_eq!(
            plan(&set("bob", "BIZ_ADMIN"), &seats, &f, o)
                .unwrap()
                .steps
                .len(),
            1
        );
        assert_eq!(
            guard_field(plan(&set("bot", "EMPLOYEE"), &seats, &f, o)),
            "seat"
        );
        let two = vec![seat("ann", "BIZ_ADMIN"), seat("bob", "EMPLOYEE")];
        assert_eq!(
            guard_field(plan(&set("ann", "EMPLOYEE"), &two, &facts(&two), o)),
            "role"
        );
        // ADMIN is a TikTok role: valid by the document's enum, refused by this Pinterest app's
        // state, so a conflict rather than invalid input.
        match plan(&set("bob", "ADMIN"), &seats, &f, o) {
            Err(Refusal::Guard(e)) => assert_eq!(e.field, "role"),
            other => panic!("{other:?}"),
        }
        let perms = |asset: &str, p: &[&str]| Request::SetPermissions {
            seat: "bob".into(),
            asset_id: asset.into(),
            permissions: p.iter().map(|s| s.to_string()).collect(),
        };
        assert!(
            plan(&perms("A1", &["ADMIN"]), &seats, &f, o)
                .unwrap()
                .steps
                .is_empty()
        );
        assert!(matches!(
            plan(&perms("A1", &[]), &seats, &f, o).unwrap().steps[0].change,
            Change::Revoke { .. }
        ));
        assert!(matches!(
            plan(&perms("C1", &["CATALOGS_ADMIN"]), &seats, &f, o)
                .unwrap()
                .steps[0]
                .change,
            Change::Grant { .. }
        ));
        match plan(&perms("C1", &["ADMIN"]), &seats, &f, o) {
            Err(Refusal::Invalid(e)) => assert_eq!(e.field, "permissions"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_hash_follows_the_inputs() {
        let seats = vec![seat("ann", "BIZ_ADMIN"), seat("bob", "EMPLOYEE")];
        let f = facts(&seats);
        let req = Request::Remove {
            seats: vec!["bob".into()],
        };
        let a = plan(&req, &seats, &f, Options::default()).unwrap();
        let mut reversed = seats.clone();
        reversed.reverse();
        assert_eq!(
            a.input_hash,
            plan(&req, &reversed, &f, Options::default())
                .unwrap()
                .input_hash
        );
        let mut changed = seats.clone();
        changed[1].grants.clear();
        assert_ne!(
            a.input_hash,
            plan(&req, &changed, &f, Options::default())
                .unwrap()
                .input_hash
        );
    }

    #[test]
    fn invites_check_the_address_and_the_assets() {
        let seats = vec![seat("ann", "BIZ_ADMIN")];
        let f = facts(&seats);
        let o = Options::default();
        let inv = |email: &str, perms: &[&str]| Request::Invite {
            email: email.into(),
            role: "EMPLOYEE".into(),
            assets: vec![AssetPermissions {
                asset_id: "A1".into(),
                permissions: perms.iter().map(|s| s.to_string()).collect(),
            }],
        };
        let p = plan(&inv("New@Acme.example.com", &["ANALYST"]), &seats, &f, o).unwrap();
        assert_eq!(p.steps[0].seat, "invite:new@acme.example.com");
        match plan(&inv("not-an-address", &["ANALYST"]), &seats, &f, o) {
            Err(Refusal::Invalid(e)) => assert_eq!(e.field, "email"),
            other => panic!("{other:?}"),
        }
        match plan(
            &inv("x@acme.example.com", &["CATALOGS_ADMIN"]),
            &seats,
            &f,
            o,
        ) {
            // Which permissions an asset takes depends on its kind, the app's state: a conflict.
            Err(Refusal::Guard(e)) => assert_eq!(e.field, "assets[0].permissions"),
            other => panic!("{other:?}"),
        }
        match plan(&inv("ann@acme.example.com", &["ANALYST"]), &seats, &f, o) {
            // Already holding a seat is the app's state too.
            Err(Refusal::Guard(e)) => assert_eq!(e.field, "email"),
            other => panic!("{other:?}"),
        }
    }
}
