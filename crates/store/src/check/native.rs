//! A first check's rows written to SQLite through its C API (rusqlite), on a connection of
//! the check's own. Through sqlx each statement's arguments were converted from the Any
//! driver's, sent to the connection's worker thread and copied again there, and the worker
//! then waited for the next statement: the writer was on a CPU a little over half its time,
//! and a 100k-member Pinterest first check waited 3.3 s for it. Here one blocking thread
//! binds each row straight from the fetched strings and steps one prepared statement.

use std::path::Path;

use castellan_domain::snapshot::{Row, Table};
use rusqlite::{Connection, TransactionBehavior};

use super::rows::{
    Matches, first_check_columns, has_workspace, lead_columns, seat_match, table_name,
};
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
        // Grants one to a statement (they need no journal, see `statement`), the rest many.
        let many = if t == Table::Grants { 1 } else { MANY };
        let mut stmt = prepare(&tx, t, many, &rows)?;
        let mut chunks = list.chunks_exact(many);
        for chunk in chunks.by_ref() {
            inserted[i] += insert(&mut stmt, t, chunk, &rows)?;
        }
        if !chunks.remainder().is_empty() {
            let mut one = prepare(&tx, t, 1, &rows)?;
            for r in chunks.remainder() {
                inserted[i] += insert(&mut one, t, std::slice::from_ref(r), &rows)?;
            }
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

/// How many rows of a table other than grants one statement inserts (see `statement`).
const MANY: usize = 64;

/// The statement inserting `n` rows of table `t`, its lead columns (`lead_columns`: workspace
/// but for grants, app, time) bound once: SQLite keeps a binding across executions.
fn prepare<'c>(
    tx: &'c rusqlite::Transaction<'_>,
    t: Table,
    n: usize,
    rows: &Rows<'_>,
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = tx.prepare_cached(&statement(t, n)).map_err(bulk)?;
    let mut lead = 1;
    if has_workspace(t) {
        stmt.raw_bind_parameter(lead, rows.ws).map_err(bulk)?;
        lead += 1;
    }
    stmt.raw_bind_parameter(lead, rows.app).map_err(bulk)?;
    stmt.raw_bind_parameter(lead + 1, rows.now).map_err(bulk)?;
    Ok(stmt)
}

/// Inserts `chunk` (rows of table `t`) with `stmt` from `prepare`; returns how many went in.
fn insert(
    stmt: &mut rusqlite::Statement<'_>,
    t: Table,
    chunk: &[Row],
    rows: &Rows<'_>,
) -> Result<u64> {
    let mut at = lead_columns(t).len() + 1;
    for r in chunk {
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
        at += 1;
        if t == Table::Seats {
            let (state, identity, source) = seat_match(r, rows.matches);
            stmt.raw_bind_parameter(at, state).map_err(bulk)?;
            stmt.raw_bind_parameter(at + 1, identity).map_err(bulk)?;
            stmt.raw_bind_parameter(at + 2, source).map_err(bulk)?;
            at += 3;
        }
    }
    Ok(stmt.raw_execute().map_err(bulk)? as u64)
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

/// The insert of `n` rows of table `t`: workspace, app and time (bound once, `?1`…), then
/// each row's key, fields, bucket and (seats) initial state. Grants have no foreign keys
/// (migration 0030) and each column a row sets is filled, so under OR IGNORE nothing can stop
/// the statement halfway and SQLite keeps no journal to undo it alone. Seats keep the upsert:
/// their counting triggers would take on the outer OR. A trigger makes SQLite copy each page
/// a statement changes to a statement journal first (to undo that statement alone); 64 seats
/// to a statement copy a shared page once instead of 64 times: one seat to a statement, the
/// journal took 14% of a 100k-member first check's CPU.
fn statement(t: Table, n: usize) -> String {
    let cols = first_check_columns(t);
    let lead = lead_columns(t).len();
    let per_row = cols.len() - lead;
    let values = (0..n)
        .map(|row| {
            let params = (1..=lead)
                .chain((0..per_row).map(|c| lead + row * per_row + c + 1))
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({params})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let verb = if t == Table::Grants {
        "INSERT OR IGNORE"
    } else {
        "INSERT"
    };
    let mut sql = format!(
        "{verb} INTO {} ({}) VALUES {values}",
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
            statement(Table::Grants, 1),
            "INSERT OR IGNORE INTO app_grants (app_id, first_seen_at, holder, asset_id, permissions, bucket) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        );
        let seats = statement(Table::Seats, 1);
        assert!(seats.contains("kind, bucket, state, identity_id, match_source) VALUES (?1,"));
        assert!(seats.ends_with("?13) ON CONFLICT (app_id, user_id) DO NOTHING"));
        // Two rows share the lead columns and number their own after the first row's.
        let two = statement(Table::Seats, 2);
        assert!(two.contains("?13), (?1, ?2, ?3, ?14, "));
        assert!(two.ends_with("?23) ON CONFLICT (app_id, user_id) DO NOTHING"));
    }
}
