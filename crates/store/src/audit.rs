//! Appending to and reading the hash-chained activity log.

use castellan_domain::audit::{
    Actor, AuditEvent, ChainBreak, ChainVerifier, NewAuditEvent, Outcome, event_hash,
};
use castellan_domain::{AuditEventId, Env, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{Page, Result, Scoped, StoreError, get_id, get_json, get_time, ms};

/// Appends one event inside the caller's transaction, so the change and its record commit
/// together. The head row (created with the workspace) is updated first: that takes the row
/// lock on PostgreSQL, so concurrent appenders queue up and the chain never forks.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    env: &Env,
    ws: WorkspaceId,
    ev: NewAuditEvent,
) -> Result<AuditEvent> {
    let ws_s = ws.to_string();
    let head = sqlx::query(
        "UPDATE audit_heads SET seq = seq + 1 WHERE workspace_id = $1 RETURNING seq, hash",
    )
    .bind(&ws_s)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("workspace"))?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let id = AuditEventId::new(env);
    let at = castellan_domain::clock::from_millis(ms(env.now()));
    let hash = event_hash(
        id,
        ws,
        seq,
        at,
        &ev.actor,
        &ev.action,
        &ev.target,
        ev.outcome,
        &ev.details,
        &prev_hash,
    );
    sqlx::query(
        "INSERT INTO audit_events (id, workspace_id, seq, at, actor, actor_ref, action, target, outcome, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id.to_string())
    .bind(&ws_s)
    .bind(seq)
    .bind(ms(at))
    .bind(serde_json::to_string(&ev.actor).expect("actor serialises"))
    .bind(ev.actor.reference())
    .bind(&ev.action)
    .bind(&ev.target)
    .bind(ev.outcome.as_str())
    .bind(ev.details.to_string())
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_heads SET hash = $2 WHERE workspace_id = $1")
        .bind(&ws_s)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(AuditEvent {
        id,
        workspace_id: ws,
        seq,
        at,
        actor: ev.actor,
        action: ev.action,
        target: ev.target,
        outcome: ev.outcome,
        details: ev.details,
        prev_hash,
        hash,
    })
}

fn event_from_row(row: &AnyRow) -> Result<AuditEvent> {
    let actor: Actor = serde_json::from_value(get_json(row, "actor")?)
        .map_err(|e| StoreError::Corrupt(format!("audit actor: {e}")))?;
    let outcome = match row.try_get::<String, _>("outcome")?.as_str() {
        "success" => Outcome::Success,
        "failure" => Outcome::Failure,
        other => return Err(StoreError::Corrupt(format!("audit outcome {other:?}"))),
    };
    Ok(AuditEvent {
        id: get_id(row, "id")?,
        workspace_id: get_id(row, "workspace_id")?,
        seq: row.try_get("seq")?,
        at: get_time(row, "at")?,
        actor,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome,
        details: get_json(row, "details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Filters for listing events; all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Matches the action exactly or as a dotted prefix (`directory` matches `directory.identity.create`).
    pub action: Option<String>,
    /// `person:<id>`, `token:<id>` or `automation:<name>`.
    pub actor: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<Outcome>,
    pub since: Option<castellan_domain::Timestamp>,
    pub until: Option<castellan_domain::Timestamp>,
}

/// A handle for code outside the store that must append in its own transaction.
pub struct AuditTx;

impl Scoped<'_> {
    /// Records one event on its own (for events that go with no other change, such as a
    /// sign-in).
    pub async fn audit(&self, ev: NewAuditEvent) -> Result<AuditEvent> {
        let mut tx = self.store.begin_write().await?;
        let e = append(&mut tx, &self.store.env, self.ws, ev).await?;
        tx.commit().await?;
        Ok(e)
    }

    /// Events, newest first, `limit` at a time. The cursor is the `seq` to continue below.
    pub async fn audit_list(
        &self,
        filter: &AuditFilter,
        cursor: Option<i64>,
        limit: i64,
    ) -> Result<Page<AuditEvent>> {
        self.audit_query(filter, cursor, limit, true).await
    }

    /// Events, oldest first, for export.
    pub async fn audit_export_page(
        &self,
        filter: &AuditFilter,
        after_seq: Option<i64>,
        limit: i64,
    ) -> Result<Page<AuditEvent>> {
        self.audit_query(filter, after_seq, limit, false).await
    }

    async fn audit_query(
        &self,
        f: &AuditFilter,
        cursor: Option<i64>,
        limit: i64,
        desc: bool,
    ) -> Result<Page<AuditEvent>> {
        let mut sql = String::from("SELECT * FROM audit_events WHERE workspace_id = $1");
        let mut n = 1;
        let mut next = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('?', &format!("${n}")));
        };
        if cursor.is_some() {
            next(&mut sql, if desc { " AND seq < ?" } else { " AND seq > ?" });
        }
        if f.action.is_some() {
            next(&mut sql, " AND (action = ?");
            next(&mut sql, " OR action LIKE ?)");
        }
        if f.actor.is_some() {
            next(&mut sql, " AND actor_ref = ?");
        }
        if f.target.is_some() {
            next(&mut sql, " AND target = ?");
        }
        if f.outcome.is_some() {
            next(&mut sql, " AND outcome = ?");
        }
        if f.since.is_some() {
            next(&mut sql, " AND at >= ?");
        }
        if f.until.is_some() {
            next(&mut sql, " AND at < ?");
        }
        sql.push_str(if desc {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq ASC"
        });
        next(&mut sql, " LIMIT ?");
        let mut q = sqlx::query(&sql).bind(self.ws_str());
        if let Some(c) = cursor {
            q = q.bind(c);
        }
        if let Some(a) = &f.action {
            q = q.bind(a.clone()).bind(format!("{}.%", a.replace('%', "")));
        }
        if let Some(a) = &f.actor {
            q = q.bind(a.clone());
        }
        if let Some(t) = &f.target {
            q = q.bind(t.clone());
        }
        if let Some(o) = f.outcome {
            q = q.bind(o.as_str());
        }
        if let Some(s) = f.since {
            q = q.bind(ms(s));
        }
        if let Some(u) = f.until {
            q = q.bind(ms(u));
        }
        let rows = q.bind(limit + 1).fetch_all(&self.store.pool).await?;
        let mut items = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Walks the whole chain of this workspace in pages and reports the first broken event.
    pub async fn audit_verify(&self) -> Result<std::result::Result<u64, ChainBreak>> {
        let mut v = ChainVerifier::default();
        let mut after = 0i64;
        loop {
            let rows = sqlx::query("SELECT * FROM audit_events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000")
                .bind(self.ws_str())
                .bind(after)
                .fetch_all(&self.store.pool)
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let e = match event_from_row(row) {
                    Ok(e) => e,
                    Err(err) => {
                        let id = get_id(row, "id").unwrap_or(AuditEventId(uuid::Uuid::nil()));
                        let seq: i64 = row.try_get("seq").unwrap_or(-1);
                        return Ok(Err(ChainBreak {
                            event_id: id,
                            seq,
                            reason: format!("unreadable: {err}"),
                        }));
                    }
                };
                if let Err(b) = v.push(&e) {
                    return Ok(Err(b));
                }
                after = e.seq;
            }
        }
        // The head must point at the last event: catches deletion of the newest rows.
        let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE workspace_id = $1")
            .bind(self.ws_str())
            .fetch_optional(&self.store.pool)
            .await?;
        if let Some(head) = head {
            let seq: i64 = head.try_get("seq")?;
            let hash: String = head.try_get("hash")?;
            if seq != v.count() as i64 || hash != v.last_hash() {
                return Ok(Err(ChainBreak {
                    event_id: AuditEventId(uuid::Uuid::nil()),
                    seq: v.count() as i64 + 1,
                    reason: format!(
                        "the log ends at seq {} but its head says {seq} (events were removed from the end)",
                        v.count()
                    ),
                }));
            }
        }
        Ok(Ok(v.count()))
    }
}
