//! What a local partner reaches: the seats on the workspace's apps held by its guests (seats
//! invited as its guests, and the users of the native partners linked to it matched to its
//! guests by e-mail), and the account cards shared with it as a whole.

use castellan_domain::apps::{AppRole, SeatState};
use castellan_domain::{AppId, CardId, LocalPartnerId};
use sqlx::Row as _;

use crate::{Result, Scoped, StoreError, get_id, get_parsed};

/// A seat on an app held by one of a partner's guests.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerSeat {
    pub app_id: AppId,
    pub app_label: String,
    pub user_id: String,
    pub seat_email: Option<String>,
    pub state: SeatState,
    /// The guest it is theirs.
    pub guest_email: String,
    /// The guest is revoked: the seat waits for removal in the next check's report.
    pub guest_disabled: bool,
    /// Assets the seat holds.
    pub assets: i64,
}

/// An account card shared with a partner as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerCard {
    pub card_id: CardId,
    pub label: String,
    pub role: AppRole,
}

impl Scoped<'_> {
    /// The seats a partner's guests hold on every app (removed and vanished seats left out).
    pub async fn partner_seats(&self, local: LocalPartnerId) -> Result<Vec<PartnerSeat>> {
        sqlx::query(
            "SELECT s.app_id, a.label AS app_label, s.user_id, s.email, s.state, p.email AS guest_email, p.disabled, \
               (SELECT COUNT(*) FROM app_grants g WHERE g.app_id = s.app_id AND g.holder = 'member:' || s.user_id AND g.vanished_at IS NULL) AS assets \
             FROM local_partner_people lp \
             JOIN people p ON p.id = lp.person_id \
             JOIN app_seats s ON s.workspace_id = lp.workspace_id \
             JOIN apps a ON a.id = s.app_id \
             WHERE lp.workspace_id = $1 AND lp.partner_id = $2 AND lp.role <> 'host_admin' \
               AND s.vanished_at IS NULL AND s.state <> 'removed' \
               AND (EXISTS (SELECT 1 FROM seat_guests sg WHERE sg.app_id = s.app_id AND sg.user_id = s.user_id AND sg.person_id = p.id) \
                    OR (s.kind = 'partner_user' AND LOWER(s.email) = p.email_canonical \
                        AND EXISTS (SELECT 1 FROM native_partner_links l WHERE l.app_id = s.app_id AND l.local_partner_id = lp.partner_id \
                                    AND s.user_id LIKE 'partner:' || l.partner_id || ':%'))) \
             ORDER BY a.label, p.email, s.user_id",
        )
        .bind(self.ws_str())
        .bind(local.to_string())
        .fetch_all(&self.store.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(PartnerSeat {
                app_id: get_id(r, "app_id")?,
                app_label: r.try_get("app_label")?,
                user_id: r.try_get("user_id")?,
                seat_email: r.try_get("email")?,
                state: get_parsed(r, "state")?,
                guest_email: r.try_get("guest_email")?,
                guest_disabled: r.try_get::<i64, _>("disabled")? != 0,
                assets: r.try_get("assets")?,
            })
        })
        .collect()
    }

    /// The account cards shared with a partner as a whole.
    pub async fn partner_cards(&self, local: LocalPartnerId) -> Result<Vec<PartnerCard>> {
        sqlx::query(
            "SELECT c.id, c.label, sh.role FROM account_shares sh JOIN account_cards c ON c.id = sh.card_id \
             WHERE sh.workspace_id = $1 AND sh.partner_id = $2 ORDER BY c.label, c.id",
        )
        .bind(self.ws_str())
        .bind(local.to_string())
        .fetch_all(&self.store.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(PartnerCard {
                card_id: get_id(r, "id")?,
                label: r.try_get("label")?,
                role: {
                    let raw: String = r.try_get("role")?;
                    AppRole::parse("role", &raw)
                        .map_err(|_| StoreError::Corrupt(format!("share role {raw}")))?
                },
            })
        })
        .collect()
    }
}
