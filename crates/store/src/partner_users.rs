//! A connected partner's users as the app's seats (kind `partner_user`, keyed by
//! `domain::apps::partner_user_key`): what a check carries forward when the partner's
//! business cannot be read, and what disconnecting the partner deletes.

use castellan_domain::AppId;
use castellan_domain::apps::partner_user_key;
use castellan_domain::platform::{Batch, GrantRecord, Holder, SeatKind, SeatRecord};
use castellan_domain::snapshot::{Row, Table};
use sqlx::{AnyConnection, Row as _};

use crate::check::holders::drop_from_lists;
use crate::members::adjust_digests;
use crate::{Backend, Result, Scoped};

/// The `LIKE` pattern of a partner's user keys (ids are digits: no wildcard in them).
fn seat_pattern(partner_id: &str) -> String {
    format!("{}%", partner_user_key(partner_id, ""))
}

/// The live seats and grants of a partner's users, as stored.
async fn live_rows(
    conn: &mut AnyConnection,
    app: &str,
    partner_id: &str,
) -> Result<(Vec<SeatRecord>, Vec<GrantRecord>)> {
    let pattern = seat_pattern(partner_id);
    let seats = sqlx::query(
        "SELECT user_id, username, email, display_name, roles FROM app_seats \
         WHERE app_id = $1 AND kind = 'partner_user' AND user_id LIKE $2 AND vanished_at IS NULL ORDER BY user_id",
    )
    .bind(app)
    .bind(&pattern)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(SeatRecord {
            user_id: r.try_get("user_id")?,
            username: r.try_get("username")?,
            email: r.try_get("email")?,
            display_name: r.try_get("display_name")?,
            roles: serde_json::from_str(&r.try_get::<String, _>("roles")?).unwrap_or_default(),
            kind: SeatKind::PartnerUser,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let grants = sqlx::query(
        "SELECT holder, asset_id, permissions FROM app_grants \
         WHERE app_id = $1 AND holder LIKE $2 AND vanished_at IS NULL ORDER BY holder, asset_id",
    )
    .bind(app)
    .bind(format!("member:{pattern}"))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        let holder: String = r.try_get("holder")?;
        Ok(GrantRecord {
            holder: Holder::Member(holder.trim_start_matches("member:").to_string()),
            asset_id: r.try_get("asset_id")?,
            permissions: serde_json::from_str(&r.try_get::<String, _>("permissions")?)
                .unwrap_or_default(),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok((seats, grants))
}

impl Scoped<'_> {
    /// A partner's users as the last check left them, as batches a check can take again (a
    /// partner whose business cannot be read keeps its users until it can).
    pub async fn held_partner_users(&self, app: AppId, partner_id: &str) -> Result<Vec<Batch>> {
        let mut conn = self.store.pool.acquire().await?;
        self.app(app).await?;
        let (seats, grants) = live_rows(&mut conn, &app.to_string(), partner_id).await?;
        Ok(vec![Batch::Grants(grants), Batch::Seats(seats)])
    }
}

/// Deletes a partner's users and their grants, with the digests kept true (the next check
/// then neither finds them vanished nor writes anything for them). Returns the seats deleted.
pub(crate) async fn delete_partner_users(
    conn: &mut AnyConnection,
    backend: Backend,
    ws: &str,
    app: &str,
    partner_id: &str,
) -> Result<u64> {
    let (seats, grants) = live_rows(conn, app, partner_id).await?;
    let pattern = seat_pattern(partner_id);
    // Vanished grants go too; every deleted key leaves its asset's holder list.
    let deleted: Vec<(String, String)> = sqlx::query(
        "DELETE FROM app_grants WHERE app_id = $1 AND holder LIKE $2 RETURNING holder, asset_id",
    )
    .bind(app)
    .bind(format!("member:{pattern}"))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("holder")?, r.try_get("asset_id")?)))
    .collect::<Result<_>>()?;
    drop_from_lists(conn, backend, ws, app, &deleted).await?;
    sqlx::query(
        "DELETE FROM app_seats WHERE app_id = $1 AND kind = 'partner_user' AND user_id LIKE $2",
    )
    .bind(app)
    .bind(&pattern)
    .execute(&mut *conn)
    .await?;
    let seat_rows: Vec<Row> = seats.iter().map(Row::seat).collect();
    let grant_rows: Vec<Row> = grants.iter().map(Row::grant).collect();
    adjust_digests(conn, app, Table::Seats, &seat_rows, &[]).await?;
    adjust_digests(conn, app, Table::Grants, &grant_rows, &[]).await?;
    Ok(seats.len() as u64)
}
