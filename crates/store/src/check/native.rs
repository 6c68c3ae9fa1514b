//! A first check's rows written to SQLite through its C API (rusqlite), on a connection of
//! the check's own. Through sqlx each statement's arguments were converted from the Any
//! driver's, sent to the connection's worker thread and copied again there, and the worker
//! then waited for the next statement: the writer was on a CPU a little over half its time,
//! and a 100k-member Pinterest first check waited 3.3 s for it. Here one blocking thread
//! binds each row straight from the fetched strings and steps one prepared statement.

use std::path::Path;

use castellan_domain::snapshot::{Row, Table};
use rusqlite::{Connection, TransactionBehavior};

use super::rows::{Matches, first_check_columns, has_workspace, seat_match, table_name};
use crate::{Result, SQLITE_PRAGMAS, StoreError};

/// Opens the check's connection to the database file, with the settings of every other
/// connection (`SQLITE_PRAGMAS`). Its page cache keeps the default 2 MB: 16 MB saved ~5% of
/// the writing but put a 500,000-member check's peak at 1.58x the 100k figure (goal: 1.5x).
pub(super) fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(bulk)?;
    for pragma in SQLITE_PRAGMAS {
        conn.execute_batch(pragma).map_err(bulk)?;
    }
    Ok(conn)
}

/// The lease renewal every transaction of the check makes (see `lease::RENEW`): the
/// statement, and the task, owner and new expiry it binds.
pub(super) struct Renewal {
    pub sql: &'static str,
    pub task: String,
    pub owner: String,
    pub until: i64,
}

/// What one transaction writes: rows of the four tables (each sorted by key), first seen
/// `now`, for workspace `ws` and app `app`, and the matches of its seats.
pub(super) struct Rows<'a> {
    pub ws: &'a str,
    pub app: &'a str,
    pub now: i64,
    pub buffer: &'a [Vec<Row>; 4],
    pub matches: &'a Matches,
}

/// Writes `rows` in one transaction that takes the write lock at once and renews the lease
/// first and last (a check that lost it lands nothing); returns how many rows of each table
/// went in (a key already there is left alone). Blocking: run it off the async workers.
pub(super) fn write(
    conn: &mut Connection,
    rows: Rows<'_>,
    renewal: Option<&Renewal>,
    checkpoint: bool,
) -> Result<[u64; 4]> {
    let mut inserted = [0u64; 4];
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(bulk)?;
    renew(&tx, renewal)?;
    for (i, list) in rows.buffer.iter().enumerate() {
        let Some(t) = list.first().map(|r| r.table) else {
            continue;
        };
        let mut stmt = tx.prepare_cached(&statement(t)).map_err(bulk)?;
        // The lead columns (`lead_columns`): workspace (but for grants), app, time.
        let mut lead = 1;
        if has_workspace(t) {
            stmt.raw_bind_parameter(lead, rows.ws).map_err(bulk)?;
            lead += 1;
        }
        stmt.raw_bind_parameter(lead, rows.app).map_err(bulk)?;
        stmt.raw_bind_parameter(lead + 1, rows.now).map_err(bulk)?;
        for r in list {
            let mut at = lead + 2;
            for k in &r.key {
                stmt.raw_bind_parameter(at, k.as_str()).map_err(bulk)?;
                at += 1;
            }
            for f in &r.fields {
                stmt.raw_bind_parameter(at, f.as_deref()).map_err(bulk)?;
                at += 1;
            }
            stmt.raw_bind_parameter(at, r.bucket() as i64)
                .map_err(bulk)?;
            if t == Table::Seats {
                let (state, identity, source) = seat_match(r, rows.matches);
                stmt.raw_bind_parameter(at + 1, state).map_err(bulk)?;
                stmt.raw_bind_parameter(at + 2, identity).map_err(bulk)?;
                stmt.raw_bind_parameter(at + 3, source).map_err(bulk)?;
            }
            inserted[i] += stmt.raw_execute().map_err(bulk)? as u64;
        }
    }
    renew(&tx, renewal)?;
    tx.commit().map_err(bulk)?;
    // Right after its own commit nothing else of this process writes (see `CheckRun::flush`).
    if checkpoint && let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
        tracing::debug!(error = %e, "checkpoint after a first-check write skipped");
    }
    Ok(inserted)
}

/// Extends the lease inside `tx`, or fails with `Conflict(lease)` when it is no longer the
/// check's.
fn renew(tx: &rusqlite::Transaction<'_>, renewal: Option<&Renewal>) -> Result<()> {
    let Some(r) = renewal else {
        return Ok(());
    };
    let n = tx
        .prepare_cached(r.sql)
        // Named: SQLite numbers `$N` parameters in the order they first appear.
        .and_then(|mut s| {
            s.execute(rusqlite::named_params! { "$1": r.task, "$2": r.owner, "$3": r.until })
        })
        .map_err(bulk)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::conflict("lease", crate::LEASE_LOST))
    }
}

/// The insert of one row of table `t`: workspace, app and time, then the row's key, fields,
/// bucket and (seats) initial state. Grants have no foreign keys (migration 0030) and each
/// column a row sets is filled, so under OR IGNORE nothing can stop the statement halfway
/// and SQLite keeps no journal to undo it alone. Seats keep the upsert: their counting
/// triggers would take on the outer OR.
fn statement(t: Table) -> String {
    let cols = first_check_columns(t);
    let params = (1..=cols.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let verb = if t == Table::Grants {
        "INSERT OR IGNORE"
    } else {
        "INSERT"
    };
    let mut sql = format!(
        "{verb} INTO {} ({}) VALUES ({params})",
        table_name(t),
        cols.join(", ")
    );
    if t != Table::Grants {
        sql.push_str(&format!(
            " ON CONFLICT (app_id, {}) DO NOTHING",
            t.key_columns().join(", ")
        ));
    }
    sql
}

/// A failure of SQLite's C API, as the store reports it.
fn bulk(e: rusqlite::Error) -> StoreError {
    StoreError::Bulk(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_has_one_row_statement_binding_every_column() {
        assert_eq!(
            statement(Table::Grants),
            "INSERT OR IGNORE INTO app_grants (app_id, first_seen_at, holder, asset_id, permissions, bucket) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        );
        let seats = statement(Table::Seats);
        assert!(seats.contains("kind, bucket, state, identity_id, match_source) VALUES (?1,"));
        assert!(seats.ends_with("?13) ON CONFLICT (app_id, user_id) DO NOTHING"));
    }
}
