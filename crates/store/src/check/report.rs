//! What a check reports: the capped lists of rows it added, changed and vanished, and the
//! seats of deactivated people still on the platform (pending removal).

use castellan_domain::apps::split_partner_user_key;
use castellan_domain::reports::{PartnerUserChange, PermissionChange, ReportChanges, RoleChange};
use castellan_domain::snapshot::{self, RowDiff, Table};
use sqlx::{AnyConnection, Row as _};

use super::REPORT_CAP;
use crate::Result;

/// What a check changed, listed for its report (each list capped).
#[derive(Default)]
pub(crate) struct Report {
    pub(crate) new_seats: Vec<String>,
    pub(crate) vanished_seats: Vec<String>,
    pub(crate) role_changes: Vec<RoleChange>,
    pub(crate) permission_changes: Vec<PermissionChange>,
    pub(crate) new_partners: Vec<String>,
    pub(crate) vanished_partners: Vec<String>,
    pub(crate) new_partner_users: Vec<PartnerUserChange>,
    pub(crate) vanished_partner_users: Vec<PartnerUserChange>,
}

/// A partner's user, for the report; `None` for any other seat.
fn partner_user(r: &snapshot::Row) -> Option<PartnerUserChange> {
    let (partner, user) = split_partner_user_key(&r.key[0])?;
    Some(PartnerUserChange {
        partner_id: partner.to_string(),
        user_id: user.to_string(),
        email: r.fields[snapshot::seat::EMAIL].clone(),
    })
}

pub(crate) fn push_capped<T>(v: &mut Vec<T>, items: impl Iterator<Item = T>) {
    let room = REPORT_CAP.saturating_sub(v.len());
    v.extend(items.take(room));
}

impl Report {
    pub(crate) fn add(&mut self, t: Table, d: &RowDiff) {
        use snapshot::seat::ROLES;
        match t {
            Table::Seats => {
                // Partners' users are listed apart: who gained or lost access through a partner.
                push_capped(
                    &mut self.new_partner_users,
                    d.new
                        .iter()
                        .chain(d.changed.iter().filter(|(_, h)| h.vanished).map(|(r, _)| r))
                        .filter_map(partner_user),
                );
                push_capped(
                    &mut self.vanished_partner_users,
                    d.vanished.iter().filter_map(partner_user),
                );
                push_capped(&mut self.new_seats, d.new.iter().map(|r| r.key[0].clone()));
                // A seat that came back is new again to whoever reads the report.
                push_capped(
                    &mut self.new_seats,
                    d.changed
                        .iter()
                        .filter(|(_, h)| h.vanished)
                        .map(|(r, _)| r.key[0].clone()),
                );
                push_capped(
                    &mut self.vanished_seats,
                    d.vanished.iter().map(|r| r.key[0].clone()),
                );
                push_capped(
                    &mut self.role_changes,
                    d.changed
                        .iter()
                        .filter(|(r, h)| !h.vanished && r.fields[ROLES] != h.row.fields[ROLES])
                        .map(|(r, h)| RoleChange {
                            user_id: r.key[0].clone(),
                            from: h.row.fields[ROLES].clone(),
                            to: r.fields[ROLES].clone(),
                        }),
                );
            }
            Table::Grants => push_capped(
                &mut self.permission_changes,
                d.changed
                    .iter()
                    .filter(|(_, h)| !h.vanished)
                    .map(|(r, h)| PermissionChange {
                        holder: r.key[0].clone(),
                        asset_id: r.key[1].clone(),
                        from: h.row.fields[0].clone(),
                        to: r.fields[0].clone(),
                    }),
            ),
            Table::Partners => {
                push_capped(
                    &mut self.new_partners,
                    d.new
                        .iter()
                        .chain(d.changed.iter().filter(|(_, h)| h.vanished).map(|(r, _)| r))
                        .map(|r| r.key[0].clone()),
                );
                push_capped(
                    &mut self.vanished_partners,
                    d.vanished.iter().map(|r| r.key[0].clone()),
                );
            }
            Table::Assets => {}
        }
    }

    pub(crate) fn into_changes(mut self) -> ReportChanges {
        self.new_seats.sort();
        self.new_partners.sort();
        self.new_partner_users
            .sort_by(|a, b| (&a.partner_id, &a.user_id).cmp(&(&b.partner_id, &b.user_id)));
        self.vanished_partner_users
            .sort_by(|a, b| (&a.partner_id, &a.user_id).cmp(&(&b.partner_id, &b.user_id)));
        ReportChanges {
            new_partner_users: self.new_partner_users,
            vanished_partner_users: self.vanished_partner_users,
            new_seats: self.new_seats,
            vanished_seats: self.vanished_seats,
            role_changes: self.role_changes,
            permission_changes: self.permission_changes,
            new_partners: self.new_partners,
            vanished_partners: self.vanished_partners,
        }
    }
}

/// Live seats of deactivated people (not exempted), and of revoked guest users they were
/// invited as, for the report.
pub(crate) async fn pending_removal(
    conn: &mut AnyConnection,
    app: &str,
) -> Result<Vec<crate::PendingRemoval>> {
    let rows = sqlx::query(
        "SELECT s.user_id, s.email, s.username, s.roles, s.state, i.id AS identity_id, i.user_name, i.display_name, i.primary_email \
         FROM app_seats s JOIN identities i ON i.id = s.identity_id WHERE s.app_id = $1 AND s.vanished_at IS NULL \
         AND s.state <> 'exempted' AND s.kind IN ('member', 'system_user') AND i.active = 0 \
         UNION ALL SELECT s.user_id, s.email, s.username, s.roles, s.state, 'guest:' || p.id AS identity_id, p.email AS user_name, p.display_name, p.email AS primary_email \
         FROM app_seats s JOIN seat_guests sg ON sg.app_id = s.app_id AND sg.user_id = s.user_id JOIN people p ON p.id = sg.person_id \
         WHERE s.app_id = $1 AND s.vanished_at IS NULL AND s.state <> 'exempted' AND p.disabled = 1 ORDER BY 1",
    )
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let roles: Vec<String> =
                serde_json::from_str(&r.try_get::<String, _>("roles")?).unwrap_or_default();
            let person = match r.try_get::<Option<String>, _>("display_name")? {
                Some(d) => d,
                None => r.try_get("user_name")?,
            };
            Ok(crate::PendingRemoval {
                user_id: r.try_get("user_id")?,
                email: r.try_get("email")?,
                username: r.try_get("username")?,
                roles,
                identity_id: r.try_get("identity_id")?,
                person,
                person_email: r.try_get("primary_email")?,
            })
        })
        .collect()
}

/// The seats earlier reports of the app listed as pending removal.
pub(crate) async fn listed_before(
    conn: &mut AnyConnection,
    app: &str,
) -> Result<std::collections::HashSet<String>> {
    let earlier = sqlx::query(
        "SELECT pending_removal FROM check_reports WHERE app_id = $1 AND pending_removal <> '[]'",
    )
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    let mut listed = std::collections::HashSet::new();
    for r in &earlier {
        let v: serde_json::Value =
            serde_json::from_str(&r.try_get::<String, _>("pending_removal")?).unwrap_or_default();
        for p in v.as_array().into_iter().flatten() {
            if let Some(u) = p["user_id"].as_str() {
                listed.insert(u.to_string());
            }
        }
    }
    Ok(listed)
}
