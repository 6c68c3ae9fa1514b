//! The lease a check writes under, and the transactions of a first check that renew it.

use std::sync::{Arc, Mutex};

use castellan_domain::TaskId;
use castellan_domain::snapshot::Row;
use sqlx::AnyConnection;
use tokio::sync::oneshot;

use super::copy::{copy_rows, tsv};
use super::native::{self, Renewal, Rows};
use super::rows::Matches;
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

/// One transaction of a first check's rows (the four tables' rows, in table order): unseen
/// until the check's final transaction, and landing only while the check holds its lease.
pub(super) struct FirstWrite {
    pub store: Store,
    pub ws: String,
    pub app: String,
    pub now: i64,
    pub task: TaskId,
    pub lease: Option<CheckLease>,
    /// Seconds spent writing, added up over the check (for its debug line).
    pub writing_secs: Arc<Mutex<f64>>,
    /// SQLite: checkpoint the log after committing (see `CheckRun::flush`).
    pub checkpoint: bool,
    /// SQLite: the check's connection of SQLite's own C API (see `native`).
    pub native: Option<Arc<Mutex<rusqlite::Connection>>>,
    /// The matches of the seats it writes.
    pub matches: Matches,
}

/// Each table's rows in key order: each transaction then touches neighbouring index pages.
fn sorted(mut buffer: [Vec<Row>; 4]) -> [Vec<Row>; 4] {
    for rows in &mut buffer {
        // Stable: it finds the runs already in order (a member's grants, the members' pages)
        // and merges them, where the unstable sort compared every row again.
        rows.sort_by(|a, b| a.key.cmp(&b.key));
    }
    buffer
}

/// Runs `f` (tens of milliseconds of CPU for a transaction's 20,000 rows) on a blocking
/// thread: on the runtime's few workers it held up the pages and task polls served beside a
/// first check, and the fetch's next request.
async fn off_workers<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Corrupt(format!("first-check writer: {e}")))
}

impl FirstWrite {
    /// SQLite: sorts the rows while the write before (`turn` fires when it has committed)
    /// still runs, then writes them through the check's own connection (see `native`) and
    /// fires `done` for the next.
    pub async fn sqlite(
        mut self,
        buffer: [Vec<Row>; 4],
        turn: Option<oneshot::Receiver<()>>,
        done: oneshot::Sender<()>,
    ) -> Result<[u64; 4]> {
        let buffer = off_workers(move || sorted(buffer)).await?;
        let native = self
            .native
            .clone()
            .ok_or_else(|| StoreError::Corrupt("no bulk connection on SQLite".into()))?;
        // A write before that failed dropped its sender: the check fails as it settles that
        // write, so whether this one lands does not matter.
        if let Some(turn) = turn {
            let _ = turn.await;
        }
        let started = std::time::Instant::now();
        // The process's other writers queue for the writer pool's one connection: holding it
        // keeps them waiting in order rather than in SQLite's busy handler. It moves into the
        // blocking write, so a check dropped meanwhile (which stops only the async part)
        // still holds it until that write ends: a next check's clean-up cannot run first.
        let token = self.store.writer.acquire().await?;
        let renewal =
            renewal(&self.store, self.task, self.lease.as_ref()).map(|(task, owner, until)| {
                Renewal {
                    sql: RENEW,
                    task,
                    owner: owner.to_string(),
                    until,
                }
            });
        let (ws, app, now, checkpoint, matches) = (
            self.ws.clone(),
            self.app.clone(),
            self.now,
            self.checkpoint,
            std::mem::take(&mut self.matches),
        );
        let inserted = tokio::task::spawn_blocking(move || {
            let mut conn = native.lock().expect("bulk connection");
            let rows = Rows {
                ws: &ws,
                app: &app,
                now,
                buffer: &buffer,
                matches: &matches,
            };
            let r = native::write(&mut conn, rows, renewal.as_ref(), checkpoint);
            drop(token);
            r
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("first-check writer: {e}")))??;
        self.add_time(started);
        let _ = done.send(());
        Ok(inserted)
    }

    /// PostgreSQL: the rows go in with COPY, through the Postgres driver's pool.
    pub async fn postgres(mut self, buffer: [Vec<Row>; 4]) -> Result<[u64; 4]> {
        // Sorted and put in COPY's text before a connection is taken.
        let (ws, app, now, matches) = (
            self.ws.clone(),
            self.app.clone(),
            self.now,
            std::mem::take(&mut self.matches),
        );
        let (buffer, data, matches) = off_workers(move || {
            let buffer = sorted(buffer);
            let data = buffer
                .each_ref()
                .map(|rows| tsv(&ws, &app, now, rows, &matches));
            (buffer, data, matches)
        })
        .await?;
        let started = std::time::Instant::now();
        let pg = self
            .store
            .copy
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("no COPY pool on PostgreSQL".into()))?;
        let mut inserted = [0u64; 4];
        let mut tx = pg.begin().await?;
        // Nothing is visible before the final, synchronous commit, and a crash before it
        // makes the next check start over: these commits need not wait for the disk.
        sqlx::query("SET LOCAL synchronous_commit TO OFF")
            .execute(&mut *tx)
            .await?;
        for (i, (rows, data)) in buffer.iter().zip(&data).enumerate() {
            inserted[i] =
                copy_rows(&mut tx, &self.ws, &self.app, self.now, rows, data, &matches).await?;
        }
        renew_pg(&mut tx, &self.store, self.task, self.lease.as_ref()).await?;
        tx.commit().await?;
        self.add_time(started);
        Ok(inserted)
    }

    fn add_time(&self, started: std::time::Instant) {
        *self.writing_secs.lock().expect("timing") += started.elapsed().as_secs_f64();
    }
}
