//! A first check's rows written to SQLite as multi-row `VALUES` with bound parameters. From
//! a JSON array, SQLite's `json_each` wrote each row back out as text and every `->>` column
//! parsed it again: a fifth of the writer's time in a first check of a million grants.

use castellan_domain::snapshot::{Row, Table};
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Arguments as _};

use super::rows::{first_check_columns, seat_initial_state, table_name};
use crate::Result;

/// Rows per statement, largest first: a batch goes in as statements of these sizes, so each
/// table has a few statement shapes, prepared once per connection and cached.
const SIZES: [usize; 5] = [4000, 400, 40, 4, 1];

/// Rows of one table bound to their statements, ready to run: built while the writer is
/// still busy with the transaction before, so it never waits for the binding.
pub(crate) struct Prepared {
    statements: [String; 5],
    /// Each statement to run: which of `statements`, and its arguments.
    runs: Vec<(usize, AnyArguments<'static>)>,
}

/// Binds rows of one table first seen `now`; the rows are moved in.
pub(crate) fn prepare(ws: &str, app: &str, now: i64, rows: Vec<Row>) -> Result<Prepared> {
    let Some(t) = rows.first().map(|r| r.table) else {
        return Ok(Prepared {
            statements: Default::default(),
            runs: Vec::new(),
        });
    };
    let statements = SIZES.map(|n| statement(t, n, ws, app, now));
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    let mut runs = Vec::new();
    while left > 0 {
        let at = SIZES.iter().position(|&n| n <= left).expect("1 fits");
        let mut args = AnyArguments::default();
        for r in rows.by_ref().take(SIZES[at]) {
            let (bucket, state) = (r.bucket() as i64, seat_initial_state(&r));
            for k in r.key {
                args.add(k).map_err(sqlx::Error::Encode)?;
            }
            for f in r.fields {
                args.add(f).map_err(sqlx::Error::Encode)?;
            }
            args.add(bucket).map_err(sqlx::Error::Encode)?;
            if let Some(state) = state {
                args.add(state).map_err(sqlx::Error::Encode)?;
            }
        }
        runs.push((at, args));
        left -= SIZES[at];
    }
    Ok(Prepared { statements, runs })
}

/// Inserts prepared rows inside the caller's transaction; a key already there is left alone.
/// Returns how many went in.
pub(crate) async fn insert_prepared(conn: &mut AnyConnection, p: Prepared) -> Result<u64> {
    let mut inserted = 0;
    for (at, args) in p.runs {
        inserted += sqlx::query_with(&p.statements[at], args)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(inserted)
}

/// The insert of `n` rows of table `t`, each row's key, fields, bucket and (seats) initial
/// state bound in order. The parameters are anonymous (`?`) and the workspace, app and time
/// are literals: sqlx looks up the name of every parameter it binds, and SQLite finds a
/// numbered one by scanning the statement's list of names, which made a 500-row statement
/// quadratic (half the writer's time). The statement is prepared once per check and shape.
fn statement(t: Table, n: usize, ws: &str, app: &str, now: i64) -> String {
    let cols = first_check_columns(t);
    let per_row = cols.len() - 3;
    let mut sql = match t {
        // Grants have no foreign keys (migration 0030) and each column a row sets is filled
        // (`Row` is built from typed batches), so under OR IGNORE nothing can stop the
        // statement halfway, and SQLite keeps no journal to undo it alone (~10% of writing
        // them). Seats keep the upsert: their counting triggers would take on the outer OR.
        Table::Grants => format!("INSERT OR IGNORE INTO {} (", table_name(t)),
        _ => format!("INSERT INTO {} (", table_name(t)),
    };
    sql.push_str(&cols.join(", "));
    sql.push_str(") VALUES ");
    let shared = format!("({},{},{now}", literal(ws), literal(app));
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&shared);
        sql.push_str(&",?".repeat(per_row));
        sql.push(')');
    }
    if t != Table::Grants {
        sql.push_str(&format!(
            " ON CONFLICT (app_id, {}) DO NOTHING",
            t.key_columns().join(", ")
        ));
    }
    sql
}

/// A SQL string literal (the ids are UUIDs; quotes are doubled all the same).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_binds_its_own_values_after_the_shared_literals() {
        let sql = statement(Table::Grants, 2, "w", "a'b", 7);
        assert!(sql.starts_with("INSERT OR IGNORE INTO app_grants (workspace_id, app_id, first_seen_at, holder, asset_id, permissions, bucket) VALUES "));
        assert!(sql.ends_with("('w','a''b',7,?,?,?,?),('w','a''b',7,?,?,?,?)"));
        let seats = statement(Table::Seats, 1, "w", "a", 7);
        assert!(seats.contains("kind, bucket, state) VALUES ('w','a',7,?,?,?,?,?,?,?,?)"));
        assert!(seats.ends_with("ON CONFLICT (app_id, user_id) DO NOTHING"));
    }
}
