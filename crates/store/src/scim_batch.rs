//! Group commit for an IdP's user creates: creates arriving together (an IdP provisioning a
//! directory sends many at once) are written by one task in one write transaction, each in a
//! savepoint of its own so one refused create (a taken `userName`) leaves the others; each
//! caller is answered only after the commit, so a 201 is durable. On SQLite, where writes are
//! serial, this spreads a commit's cost over the batch instead of paying it per user.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::directory::IdentityInput;
use castellan_domain::{IdentityId, WorkspaceId};
use tokio::sync::{mpsc, oneshot};

use crate::audit::append;
use crate::directory::{audit_activity_change, insert_identity_row, update_identity_fields};
use crate::records::ScimCreateJob as CreateJob;
use crate::{Identity, Result, Scoped, Store, StoreError, get_id, ms};

/// At most this many creates share a transaction.
const MAX_BATCH: usize = 64;

/// The batching task stops after this long without work (and starts again on the next).
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The create's writes. SQLite first tries the INSERT alone: a refused statement there leaves
/// the transaction as it was, so no savepoint is needed, and a `userName` the IdP deleted
/// before is looked for only when the INSERT finds a key taken.
async fn create_one(
    tx: &mut sqlx::AnyConnection,
    s: &Scoped<'_>,
    job: &CreateJob,
) -> Result<Identity> {
    let input = &job.input;
    let now = ms(s.store.env.now());
    // A new identity is described as written, without reading it back.
    let made = |id: IdentityId| Identity {
        id,
        workspace_id: s.ws,
        user_name: input.user_name.clone(),
        primary_email: input.primary_email.as_str().to_string(),
        other_emails: input
            .other_emails
            .iter()
            .map(|e| e.as_str().to_string())
            .collect(),
        given_name: input.given_name.clone(),
        family_name: input.family_name.clone(),
        display_name: input.display_name.clone(),
        active: input.active,
        deactivated_at: (!input.active).then(|| castellan_domain::clock::from_millis(now)),
        external_id: input.external_id.clone(),
        department: input.department.clone(),
        manager: input.manager.clone(),
        source: "scim".into(),
        scim_deleted_at: None,
        scim_emails: job
            .emails
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok()),
        groups: Vec::new(),
        created_at: castellan_domain::clock::from_millis(now),
        updated_at: castellan_domain::clock::from_millis(now),
    };
    let insert = async |tx: &mut sqlx::AnyConnection| {
        // The batch bumps the directory version once, after its last job.
        insert_identity_row(tx, s, input, "scim", job.emails.as_deref(), now).await
    };
    let deleted = match s.store.backend {
        crate::Backend::Sqlite => match insert(tx).await {
            Ok(id) => {
                audit_create(tx, s, job, id, false).await?;
                return Ok(made(id));
            }
            // Whichever key SQLite found taken first: the identity an IdP deleted holds them all.
            Err(StoreError::Conflict { field, message }) => {
                match deleted_by_user_name(tx, s, &input.user_name).await? {
                    Some(old) => old,
                    None => return Err(StoreError::Conflict { field, message }),
                }
            }
            Err(e) => return Err(e),
        },
        crate::Backend::Postgres => match deleted_by_user_name(tx, s, &input.user_name).await? {
            Some(old) => old,
            None => {
                let id = insert(tx).await?;
                audit_create(tx, s, job, id, false).await?;
                return Ok(made(id));
            }
        },
    };
    let before = s.identity(deleted).await?;
    update_identity_fields(tx, s, &before, input).await?;
    audit_activity_change(tx, s, &job.actor, &before, input.active).await?;
    sqlx::query("UPDATE identities SET source = 'scim', scim_deleted_at = NULL, scim_emails = $3 WHERE workspace_id = $1 AND id = $2")
        .bind(s.ws_str())
        .bind(deleted.to_string())
        .bind(job.emails.as_deref())
        .execute(&mut *tx)
        .await?;
    audit_create(tx, s, job, deleted, true).await?;
    // Brought back: read as the transaction sees it.
    let row = sqlx::query("SELECT * FROM identities WHERE workspace_id = $1 AND id = $2")
        .bind(s.ws_str())
        .bind(deleted.to_string())
        .fetch_one(&mut *tx)
        .await?;
    crate::directory::identity_from_row(&row)
}

async fn deleted_by_user_name(
    tx: &mut sqlx::AnyConnection,
    s: &Scoped<'_>,
    user_name: &str,
) -> Result<Option<IdentityId>> {
    sqlx::query("SELECT id FROM identities WHERE workspace_id = $1 AND user_name_canonical = $2 AND scim_deleted_at IS NOT NULL")
        .bind(s.ws_str())
        .bind(user_name.to_lowercase())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| get_id::<IdentityId>(&r, "id"))
        .transpose()
}

async fn audit_create(
    tx: &mut sqlx::AnyConnection,
    s: &Scoped<'_>,
    job: &CreateJob,
    id: IdentityId,
    revived: bool,
) -> Result<()> {
    let input = &job.input;
    append(
        tx,
        &s.store.env,
        s.ws,
        NewAuditEvent::success(
            &job.actor,
            "directory.identity.create",
            format!("identity:{id}"),
            serde_json::json!({ "user_name": input.user_name, "email": input.primary_email.as_str(), "active": input.active, "source": "scim", "revived": revived }),
        ),
    )
    .await?;
    Ok(())
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<CreateJob>) {
    loop {
        let first = match tokio::time::timeout(IDLE, rx.recv()).await {
            Ok(Some(j)) => j,
            _ => return,
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut tx = match store.begin_write().await {
            Ok(tx) => tx,
            Err(e) => {
                let msg = e.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(StoreError::Database(sqlx::Error::Protocol(
                        msg.clone(),
                    ))));
                }
                continue;
            }
        };
        let mut results = Vec::with_capacity(jobs.len());
        let mut poisoned: Option<String> = None;
        for job in &jobs {
            let s = store.ws(job.ws);
            let savepoint = store.backend == crate::Backend::Postgres;
            let r = async {
                if savepoint {
                    sqlx::query("SAVEPOINT scim_create")
                        .execute(&mut *tx)
                        .await?;
                }
                match create_one(&mut tx, &s, job).await {
                    Ok(id) => {
                        if savepoint {
                            sqlx::query("RELEASE SAVEPOINT scim_create")
                                .execute(&mut *tx)
                                .await?;
                        }
                        Ok(id)
                    }
                    // SQLite: a refused INSERT changed nothing; anything else that failed
                    // after a write leaves the batch unsure, so it is not committed.
                    Err(e @ StoreError::Conflict { .. }) if !savepoint => Err(e),
                    Err(e) if !savepoint => {
                        poisoned = Some(e.to_string());
                        Err(e)
                    }
                    Err(e) => {
                        sqlx::query("ROLLBACK TO SAVEPOINT scim_create")
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("RELEASE SAVEPOINT scim_create")
                            .execute(&mut *tx)
                            .await?;
                        Err(e)
                    }
                }
            }
            .await;
            results.push(r);
        }
        // The directory moved on once for the batch's workspaces.
        let mut touched: Vec<WorkspaceId> = jobs
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(j, _)| j.ws)
            .collect();
        touched.sort();
        touched.dedup();
        let mut failed = poisoned;
        for ws in touched {
            if let Err(e) = crate::directory::bump_directory_version(&mut tx, ws).await {
                failed = Some(e.to_string());
            }
        }
        let committed = match failed {
            Some(e) => Err(e),
            None => tx.commit().await.map_err(|e| e.to_string()),
        };
        for (job, r) in jobs.into_iter().zip(results) {
            let r = match (&committed, r) {
                (Ok(()), r) => r,
                (Err(msg), Ok(_)) => Err(StoreError::Database(sqlx::Error::Protocol(msg.clone()))),
                (Err(_), Err(e)) => Err(e),
            };
            let _ = job.reply.send(r);
        }
    }
}

impl Scoped<'_> {
    /// An IdP creates a user: the identity (the IdP's, with its e-mail entries as sent), or one
    /// it deleted before under the same `userName` brought back; audited. Grouped with other
    /// creates arriving at the same time into one transaction; answered after its commit.
    pub async fn scim_create_identity(
        &self,
        actor: &Actor,
        input: &IdentityInput,
        emails: Option<&serde_json::Value>,
    ) -> Result<Identity> {
        let (reply, answer) = oneshot::channel();
        let mut job = CreateJob {
            ws: self.ws,
            actor: actor.clone(),
            input: input.clone(),
            emails: emails.map(|e| e.to_string()),
            reply,
        };
        // The task may have stopped when idle: start one and send again.
        for _ in 0..2 {
            let sender = {
                let mut slot = self
                    .store
                    .scim_creates
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                match slot.as_ref().filter(|s| !s.is_closed()) {
                    Some(s) => s.clone(),
                    None => {
                        let (tx, rx) = mpsc::unbounded_channel();
                        tokio::spawn(run(self.store.clone(), rx));
                        *slot = Some(tx.clone());
                        tx
                    }
                }
            };
            match sender.send(job) {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(StoreError::Database(sqlx::Error::Protocol(
                            "the create was not answered".into(),
                        )))
                    });
                }
                Err(mpsc::error::SendError(back)) => job = back,
            }
        }
        Err(StoreError::Database(sqlx::Error::Protocol(
            "the create could not be queued".into(),
        )))
    }
}
