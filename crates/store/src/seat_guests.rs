//! Seats invited as guest users: the link between an app's seat and the guest invited for it.
//! A check matches the seat to the guest once they have joined (a partner's user, not an
//! employee); a revoked guest's seats are listed for removal by the next report.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::{AppId, PersonId};

use crate::audit::append;
use crate::directory::bump_directory_version;
use crate::{Result, Scoped, ms};

impl Scoped<'_> {
    /// Links `user_id` of `app` to the guest `person` (replacing an earlier link); audited. The
    /// directory's version moves on, so the next check matches the seats again.
    pub async fn link_seat_guest(
        &self,
        actor: &Actor,
        app: AppId,
        user_id: &str,
        person: PersonId,
    ) -> Result<()> {
        let now = ms(self.store.env.now());
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO seat_guests (workspace_id, app_id, user_id, person_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (app_id, user_id) DO UPDATE SET person_id = excluded.person_id",
        )
        .bind(self.ws_str())
        .bind(app.to_string())
        .bind(user_id)
        .bind(person.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        bump_directory_version(&mut tx, self.ws).await?;
        append(
            &mut tx,
            &self.store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "seat.invite_guest",
                format!("app:{app}/seat:{user_id}"),
                serde_json::json!({ "person": person.to_string() }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
