//! The lease a check writes under, and the transactions of a first check that renew it.

use castellan_domain::TaskId;
use sqlx::AnyConnection;

use crate::{Backend, Result, Store, StoreError, ms};

/// The lease a check runs under: every write transaction of the check first checks that the
/// lease is still `owner`'s (a check whose task was taken over stops writing) and extends it
/// (so it is fresh when the write lock is released).
#[derive(Debug, Clone)]
pub struct CheckLease {
    pub owner: String,
    pub lease: std::time::Duration,
}

/// Extends a task's lease (`$1` the task, `$2` the owner, `$3` the new expiry) when it is
/// still the owner's.
const RENEW: &str = "UPDATE tasks SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'";

/// Extends `task`'s lease inside the caller's transaction, or fails with `Conflict(lease)`
/// when the lease is no longer `lease.owner`'s.
pub(super) async fn renew_in(
    conn: &mut AnyConnection,
    store: &Store,
    task: TaskId,
    lease: Option<&CheckLease>,
) -> Result<()> {
    let Some((id, owner, until)) = renewal(store, task, lease) else {
        return Ok(());
    };
    let q = sqlx::query(RENEW).bind(id).bind(owner).bind(until);
    renewed(q.execute(&mut *conn).await?.rows_affected())
}

/// [`renew_in`] on a connection of the Postgres driver (a first check's COPY).
pub(super) async fn renew_pg(
    conn: &mut sqlx::PgConnection,
    store: &Store,
    task: TaskId,
    lease: Option<&CheckLease>,
) -> Result<()> {
    let Some((id, owner, until)) = renewal(store, task, lease) else {
        return Ok(());
    };
    let q = sqlx::query(RENEW).bind(id).bind(owner).bind(until);
    renewed(q.execute(&mut *conn).await?.rows_affected())
}

/// What `RENEW` binds (a generic executor cannot be used inside the spawned first-check
/// writes: its higher-ranked bounds defeat their `Send`); none without a lease.
fn renewal<'a>(
    store: &Store,
    task: TaskId,
    lease: Option<&'a CheckLease>,
) -> Option<(String, &'a str, i64)> {
    let l = lease?;
    let until = ms(store.env.now()) + l.lease.as_millis() as i64;
    Some((task.to_string(), l.owner.as_str(), until))
}

fn renewed(rows: u64) -> Result<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::conflict("lease", crate::LEASE_LOST))
    }
}

/// A write transaction of a first check, under its lease: what it writes is unseen until the
/// final transaction.
pub(super) async fn begin_unseen(
    store: &Store,
    task: TaskId,
    lease: Option<&CheckLease>,
) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
    let mut tx = store.begin_write().await?;
    // Every caller renews the lease again just before committing, which is what keeps a
    // check that lost it from landing rows. On PostgreSQL that renewal is the only one: it
    // locks the task's row until the commit, and taken first it would make a second
    // transaction in flight wait for the first before writing anything.
    match store.backend {
        Backend::Sqlite => renew_in(&mut tx, store, task, lease).await?,
        Backend::Postgres => {
            // Nothing is visible before the final, synchronous commit, and a crash before it
            // makes the next check start over: these commits need not wait for the disk.
            sqlx::query("SET LOCAL synchronous_commit TO OFF")
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(tx)
}
