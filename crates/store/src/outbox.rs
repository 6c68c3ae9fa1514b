//! The outbox: e-mails written (kept when no SMTP is configured), read, and marked sent or
//! failed.

use castellan_domain::Timestamp;
use sqlx::Row as _;

use crate::{Page, Result, Scoped, StoreError, get_opt_time, get_parsed, get_time, ms};

/// An e-mail in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub id: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub related: Option<String>,
    pub status: castellan_domain::outbox::EmailStatus,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

fn email_from_row(r: &sqlx::any::AnyRow) -> Result<Email> {
    Ok(Email {
        id: r.try_get("id")?,
        recipients: serde_json::from_str(&r.try_get::<String, _>("recipients")?)
            .unwrap_or_default(),
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        related: r.try_get("related")?,
        status: get_parsed(r, "status")?,
        error: r.try_get("error")?,
        created_at: get_time(r, "created_at")?,
        sent_at: get_opt_time(r, "sent_at")?,
    })
}

/// Writes one outbox row on `conn` (a transaction's, when the e-mail must land with other
/// rows): `pending` to be sent, or `kept` when there is no SMTP.
pub(crate) async fn insert_email(
    conn: &mut sqlx::AnyConnection,
    s: &Scoped<'_>,
    id: &str,
    recipients: &[String],
    (subject, body): (&str, &str),
    related: Option<&str>,
    send: bool,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (id, workspace_id, recipients, subject, body, related, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(id)
        .bind(s.ws_str())
        .bind(serde_json::to_string(recipients).expect("strings serialise"))
        .bind(subject)
        .bind(body)
        .bind(related)
        .bind(if send { "pending" } else { "kept" })
        .bind(ms(s.store.env.now()))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Scoped<'_> {
    /// Puts an e-mail in the outbox: `pending` to be sent, or `kept` when there is no SMTP.
    pub async fn put_email(
        &self,
        recipients: &[String],
        subject: &str,
        body: &str,
        related: Option<&str>,
        send: bool,
    ) -> Result<Email> {
        let id = self.store.env.new_uuid().to_string();
        let mut conn = self.store.pool.acquire().await?;
        insert_email(
            &mut conn,
            self,
            &id,
            recipients,
            (subject, body),
            related,
            send,
        )
        .await?;
        drop(conn);
        self.email(&id).await
    }

    pub async fn email(&self, id: &str) -> Result<Email> {
        let r = sqlx::query("SELECT * FROM outbox WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id)
            .fetch_optional(&self.store.pool)
            .await?
            .ok_or(StoreError::NotFound("email"))?;
        email_from_row(&r)
    }

    /// The outbox, newest first.
    pub async fn outbox(&self, cursor: Option<&str>, limit: i64) -> Result<Page<Email>> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE workspace_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3")
            .bind(self.ws_str())
            .bind(cursor)
            .bind(limit + 1)
            .fetch_all(&self.store.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(email_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::people::page_by_id(&mut items, limit, |e| {
            e.id.clone()
        }))
    }

    /// Marks an e-mail sent, or failed with why.
    pub async fn mark_email(&self, id: &str, error: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = $3, error = $4, sent_at = $5 WHERE workspace_id = $1 AND id = $2")
            .bind(self.ws_str())
            .bind(id)
            .bind(if error.is_some() { "failed" } else { "sent" })
            .bind(error)
            .bind(error.is_none().then(|| ms(self.store.env.now())))
            .execute(&self.store.pool)
            .await?;
        Ok(())
    }
}
