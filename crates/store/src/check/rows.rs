//! The check's bulk row writers and readers: insert, update and vanish rows of the four
//! tables, read the held rows of a bucket range, rebuild missing buckets.

use castellan_domain::apps::SeatKind;
use castellan_domain::snapshot::{self, Held, Row, Table};
use sqlx::{AnyConnection, Row as _};

use super::spool::{PART_BUFFER, Spool};
use crate::sql::*;
use crate::{Backend, Result};

pub(crate) fn table_name(t: Table) -> &'static str {
    match t {
        Table::Seats => "app_seats",
        Table::Assets => "app_assets",
        Table::Grants => "app_grants",
        Table::Partners => "app_partners",
    }
}

pub(crate) fn col(i: usize) -> String {
    format!("j.value->>{i}")
}

/// `x.k1 = j.value->>0 AND x.k2 = j.value->>1`: a held row whose key is in the parameter.
pub(crate) fn key_match(t: Table) -> String {
    t.key_columns()
        .iter()
        .enumerate()
        .map(|(i, k)| format!("x.{k} = {}", col(i)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Key, fields and bucket of each row, as a JSON parameter (written directly: this runs for
/// every row of a first check).
pub(crate) fn rows_json(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 96);
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        for k in &r.key {
            push_json_str(&mut out, k);
            out.push(',');
        }
        for f in &r.fields {
            match f {
                Some(v) => push_json_str(&mut out, v),
                None => out.push_str("null"),
            }
            out.push(',');
        }
        out.push('"');
        out.push_str(&r.bucket().to_string());
        out.push_str("\"]");
    }
    out.push(']');
    out
}

/// Whether the rows of table `t` carry their workspace: all but grants (migration 0030 on
/// PostgreSQL, 0031 on SQLite), where nothing read it and its 36 characters were a fifth of
/// each of a million rows' bytes.
pub(crate) fn has_workspace(t: Table) -> bool {
    t != Table::Grants
}

/// The columns every row of table `t` is written with before its own: the workspace (see
/// [`has_workspace`]), the app and the time first seen.
pub(crate) fn lead_columns(t: Table) -> &'static [&'static str] {
    if has_workspace(t) {
        &["workspace_id", "app_id", "first_seen_at"]
    } else {
        &["app_id", "first_seen_at"]
    }
}

/// The columns a first check writes for each row of table `t`, in the order of [`Row`]: the
/// lead columns ([`lead_columns`]), then key, fields, bucket and (seats) the match: state,
/// person and match source (see [`seat_match`]).
pub(crate) fn first_check_columns(t: Table) -> Vec<&'static str> {
    let mut cols = lead_columns(t).to_vec();
    cols.extend(t.key_columns());
    cols.extend(t.field_columns());
    cols.push("bucket");
    if t == Table::Seats {
        cols.extend(["state", "identity_id", "match_source"]);
    }
    cols
}

/// Seats a first check matched as they arrived (see `first_match`), by user id: the state and
/// person each is written with. Writing them with the seats saved updating the matched seats
/// afterwards (0.46 s of a 100k-member first check's end on PostgreSQL).
pub(crate) type Matches = std::collections::HashMap<String, (&'static str, Option<String>)>;

/// What a first check writes in a seat's last three columns: its match when `matches` has
/// one (source `auto`), or else the tab its kind starts in with no person.
pub(crate) fn seat_match<'a>(
    r: &Row,
    matches: &'a Matches,
) -> (&'static str, Option<&'a str>, Option<&'static str>) {
    match matches.get(&r.key[0]) {
        Some((state, identity)) => (state, identity.as_deref(), Some("auto")),
        None => (seat_initial_state(r).unwrap_or("unmatched"), None, None),
    }
}

/// The match state a new seat starts in: the tab its kind decides (`SeatKind::initial_state`;
/// an unknown kind starts unmatched, as in the skipping insert's SQL); none for other rows.
fn seat_initial_state(r: &Row) -> Option<&'static str> {
    if r.table != Table::Seats {
        return None;
    }
    let kind = r
        .fields
        .get(snapshot::seat::KIND)
        .and_then(|k| k.as_deref()?.parse::<SeatKind>().ok());
    Some(kind.map_or("unmatched", |k| k.initial_state().as_str()))
}

/// The statements that insert the rows of table `t` from a JSON array (see [`rows_json`]),
/// binding first the lead columns' values ([`lead_columns`]) and then the array: a plain
/// insert, and one that leaves a key already there alone.
pub(crate) fn insert_sql(backend: Backend, t: Table) -> (String, String) {
    let (keys, fields) = (t.key_columns(), t.field_columns());
    let n = keys.len() + fields.len();
    let lead = lead_columns(t);
    let mut cols: Vec<String> = lead
        .iter()
        .chain(keys)
        .chain(fields)
        .map(|c| c.to_string())
        .collect();
    let mut vals: Vec<String> = (1..=lead.len()).map(|i| format!("${i}")).collect();
    vals.extend((0..n).map(col));
    cols.push("bucket".into());
    vals.push(format!("CAST({} AS BIGINT)", col(n)));
    if t == Table::Seats {
        // A new seat starts in the tab its kind decides (`SeatKind::initial_state`, which
        // PostgreSQL's COPY applies); matching then moves it.
        cols.push("state".into());
        vals.push(format!(
            "CASE {} WHEN 'invite' THEN 'invited' WHEN 'partner_user' THEN 'partner_user' ELSE 'unmatched' END",
            col(keys.len() + snapshot::seat::KIND)
        ));
    }
    let plain = format!(
        "INSERT INTO {tbl} ({cols}) SELECT {vals} FROM {src} WHERE true",
        tbl = table_name(t),
        cols = cols.join(", "),
        vals = vals.join(", "),
        src = json_rows(backend, lead.len() + 1),
    );
    let skipping = format!(
        "{plain} ON CONFLICT (app_id, {keys}) DO NOTHING",
        keys = keys.join(", ")
    );
    (plain, skipping)
}

/// `q` with the values of table `t`'s lead columns ([`lead_columns`]) bound: workspace `ws`
/// (but for grants), app `app`, first seen `now`.
pub(crate) fn bind_lead<'q, DB: sqlx::Database>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    t: Table,
    ws: &'q str,
    app: &'q str,
    now: i64,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let q = if has_workspace(t) { q.bind(ws) } else { q };
    q.bind(app).bind(now)
}

/// Inserts rows first seen `now`; a key already there is left alone. Returns rows inserted.
pub(crate) async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    ws: &str,
    app: &str,
    now: i64,
    rows: &[Row],
) -> Result<u64> {
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let (plain, sql) = insert_sql(backend, first.table);
    let mut inserted = 0;
    for chunk in rows.chunks(CHUNK) {
        let json = rows_json(chunk);
        if backend == Backend::Postgres {
            // PostgreSQL's ON CONFLICT inserts each row speculatively, which doubled the cost
            // of a first check's million rows (6 µs a row against 3 µs measured). A row is
            // almost never there already, so the plain insert runs first, in a savepoint,
            // and only a chunk holding a duplicate goes again skipping it.
            sqlx::query("SAVEPOINT new_rows")
                .execute(&mut *conn)
                .await?;
            let plain = bind_lead(sqlx::query(&plain), first.table, ws, app, now)
                .bind(&json)
                .execute(&mut *conn)
                .await;
            match plain {
                Ok(done) => {
                    sqlx::query("RELEASE SAVEPOINT new_rows")
                        .execute(&mut *conn)
                        .await?;
                    inserted += done.rows_affected();
                    continue;
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    sqlx::query("ROLLBACK TO SAVEPOINT new_rows")
                        .execute(&mut *conn)
                        .await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        inserted += bind_lead(sqlx::query(&sql), first.table, ws, app, now)
            .bind(json)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(inserted)
}

/// Overwrites the fields of held rows with fetched ones and makes them live again.
pub(crate) async fn update_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    app: &str,
    rows: &[Row],
) -> Result<u64> {
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let t = first.table;
    let (keys, fields) = (t.key_columns(), t.field_columns());
    let sets: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{f} = {}", col(keys.len() + i)))
        .chain([
            format!(
                "bucket = CAST({} AS BIGINT)",
                col(keys.len() + fields.len())
            ),
            "vanished_at = NULL".into(),
            "last_seen_at = NULL".into(),
        ])
        .collect();
    let mut sets = sets;
    if t == Table::Seats {
        // A seat Castellan removed that is back (invited again, say) is matched afresh.
        sets.extend([
            "state = CASE WHEN x.removed_at IS NOT NULL THEN 'unmatched' ELSE x.state END".into(),
            "match_source = CASE WHEN x.removed_at IS NOT NULL THEN NULL ELSE x.match_source END"
                .into(),
            "removed_at = NULL".into(),
        ]);
    }
    let sql = format!(
        "{src} UPDATE {tbl} AS x SET {sets} FROM j WHERE x.app_id = $1 AND {km}",
        tbl = table_name(t),
        sets = sets.join(", "),
        src = json_cte(backend, 2),
        km = key_match(t),
    );
    let mut n = 0;
    for chunk in rows.chunks(CHUNK) {
        n += sqlx::query(&sql)
            .bind(app)
            .bind(rows_json(chunk))
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// Marks live rows vanished at `now`, last seen at `last_seen`.
pub(crate) async fn vanish_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    app: &str,
    now: i64,
    last_seen: Option<i64>,
    rows: &[Row],
) -> Result<u64> {
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let t = first.table;
    let sql = format!(
        "{src} UPDATE {tbl} AS x SET vanished_at = $2, last_seen_at = $3 FROM j WHERE x.app_id = $1 AND x.vanished_at IS NULL AND {km}",
        tbl = table_name(t),
        src = json_cte(backend, 4),
        km = key_match(t),
    );
    let mut n = 0;
    for chunk in rows.chunks(CHUNK) {
        let keys: Vec<Vec<Option<&str>>> = chunk
            .iter()
            .map(|r| r.key.iter().map(|k| Some(k.as_str())).collect())
            .collect();
        n += sqlx::query(&sql)
            .bind(app)
            .bind(now)
            .bind(last_seen)
            .bind(encode(&keys))
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// Held rows a query packs into one JSON array: a row of sqlx's costs a few microseconds
/// (on SQLite a value copied, a row sent between threads), so the million grants a
/// differing check reads took 6–8 s one by one.
const HELD_CHUNK: i64 = 4096;

/// Reads the held rows of `t` (live and vanished) whose stored bucket is in `lo..=hi`, in key
/// order, `HELD_CHUNK` a query packed by the database into one JSON array of
/// `[keys…, fields…, bucket, vanished]`, and hands each to `each` with its bucket. Paged by
/// key (the primary key's order), so memory holds one chunk.
pub(crate) async fn each_held(
    conn: &mut AnyConnection,
    backend: Backend,
    t: Table,
    app: &str,
    range: (usize, usize),
    each: impl FnMut(usize, Held) -> Result<()>,
) -> Result<()> {
    each_held_of(conn, backend, t, app, range, None, each).await
}

/// [`each_held`], of the buckets `only` marks alone when it is given and marks fewer than
/// half: on SQLite the database leaves the others out before packing the rows (a check whose
/// difference is spread thin reads the whole table, but packs and parses a seventh of it: at
/// a million grants the read took 0.6 s instead of 1.4 s). PostgreSQL is given no such
/// filter: with `IN (SELECT … FROM jsonb_array_elements_text(…))` it planned a nested-loop
/// semi join (10 s a chunk of 200,000 rows), with `get_byte` of a bitmap a scan of the whole
/// table a chunk; it filters as it reads instead.
pub(crate) async fn each_held_of(
    conn: &mut AnyConnection,
    backend: Backend,
    t: Table,
    app: &str,
    (lo, hi): (usize, usize),
    only: Option<&[bool]>,
    mut each: impl FnMut(usize, Held) -> Result<()>,
) -> Result<()> {
    let only = only
        .filter(|_| backend == Backend::Sqlite)
        .map(|w| {
            (lo..=hi.min(w.len().saturating_sub(1)))
                .filter(|&b| w[b])
                .collect::<Vec<_>>()
        })
        .filter(|b| b.len() < snapshot::BUCKETS / 2)
        .map(|b| serde_json::to_string(&b).expect("numbers serialise"));
    let (keys, fields) = (t.key_columns(), t.field_columns());
    let cells = [keys, fields].concat().join(", ");
    let order = keys.join(", ");
    let after = (0..keys.len())
        .map(|i| format!("${}", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let pack = match backend {
        Backend::Sqlite => format!(
            "json_group_array(json_array({cells}, bucket, vanished_at IS NOT NULL) ORDER BY {order})"
        ),
        Backend::Postgres => format!(
            "json_agg(json_build_array({cells}, bucket, vanished_at IS NOT NULL) ORDER BY {order})::text"
        ),
    };
    let only_at = keys.len() + 4;
    let filter = match &only {
        None => String::new(),
        Some(_) => format!(" AND bucket IN (SELECT value FROM json_each(${only_at}))"),
    };
    let sql = format!(
        "SELECT {pack} AS rows FROM (SELECT {cells}, bucket, vanished_at FROM {} \
         WHERE app_id = $1 AND bucket >= $2 AND bucket <= $3 AND ({order}) > ({after}){filter} \
         ORDER BY {order} LIMIT {HELD_CHUNK}) s",
        table_name(t)
    );
    let mut cursor: Vec<String> = vec![String::new(); keys.len()];
    loop {
        let mut q = sqlx::query(&sql).bind(app).bind(lo as i64).bind(hi as i64);
        for k in &cursor {
            q = q.bind(k.clone());
        }
        if let Some(only) = &only {
            q = q.bind(only.clone());
        }
        let packed: Option<String> = q.fetch_one(&mut *conn).await?.try_get("rows")?;
        let rows: Vec<Vec<serde_json::Value>> = match packed {
            Some(p) => serde_json::from_str(&p).map_err(|e| {
                crate::StoreError::Corrupt(format!("held rows of {}: {e}", table_name(t)))
            })?,
            None => Vec::new(),
        };
        let n = rows.len();
        for cells in rows {
            let (bucket, held) = held_from(t, cells)?;
            cursor.clone_from(&held.row.key);
            each(bucket, held)?;
        }
        if (n as i64) < HELD_CHUNK {
            return Ok(());
        }
    }
}

/// One packed held row (`[keys…, fields…, bucket, vanished]`) as a [`Held`].
fn held_from(t: Table, cells: Vec<serde_json::Value>) -> Result<(usize, Held)> {
    use serde_json::Value;
    let (k, f) = (t.key_columns().len(), t.field_columns().len());
    let bad = || crate::StoreError::Corrupt(format!("a held row of {}", table_name(t)));
    if cells.len() != k + f + 2 {
        return Err(bad());
    }
    let mut it = cells.into_iter();
    let mut key = Vec::with_capacity(k);
    for v in it.by_ref().take(k) {
        match v {
            Value::String(s) => key.push(s),
            _ => return Err(bad()),
        }
    }
    let mut fields = Vec::with_capacity(f);
    for v in it.by_ref().take(f) {
        fields.push(match v {
            Value::String(s) => Some(s),
            Value::Null => None,
            _ => return Err(bad()),
        });
    }
    let bucket = it.next().and_then(|v| v.as_u64()).ok_or_else(bad)? as usize;
    // SQLite gives the test as 0 or 1, PostgreSQL as a boolean.
    let vanished = match it.next() {
        Some(Value::Bool(b)) => b,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        _ => return Err(bad()),
    };
    Ok((
        bucket,
        Held {
            row: Row {
                table: t,
                key,
                fields,
            },
            vanished,
        },
    ))
}

/// Held rows (live and vanished) whose stored bucket is in `lo..=hi` and wanted.
pub(crate) async fn held_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    t: Table,
    app: &str,
    lo: usize,
    hi: usize,
    wanted: &[bool],
) -> Result<Vec<Held>> {
    let mut out = Vec::new();
    each_held_of(
        conn,
        backend,
        t,
        app,
        (lo, hi),
        Some(wanted),
        |bucket, held| {
            if wanted.get(bucket).copied().unwrap_or(false) {
                out.push(held);
            }
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

/// The held rows of many passes read in one scan of the table (streamed, not held) and
/// split into a spool per pass: `pass_of[bucket]` names the pass of each wanted bucket. A
/// scan per pass read the table as many times as there were passes.
pub(crate) async fn held_partition(
    conn: &mut AnyConnection,
    backend: Backend,
    t: Table,
    app: &str,
    pass_of: &[Option<u16>],
    passes: usize,
) -> Result<Vec<Spool>> {
    let mut parts = (0..passes)
        .map(|_| Spool::buffered(PART_BUFFER))
        .collect::<std::io::Result<Vec<_>>>()?;
    let wanted: Vec<bool> = pass_of.iter().map(Option::is_some).collect();
    each_held_of(
        conn,
        backend,
        t,
        app,
        (0, snapshot::BUCKETS - 1),
        Some(&wanted),
        |bucket, held| {
            if let Some(Some(p)) = pass_of.get(bucket) {
                parts[*p as usize].push_held(bucket, &held)?;
            }
            Ok(())
        },
    )
    .await?;
    Ok(parts)
}

/// Puts every row of `t` in the bucket its key decides (rows written before buckets existed
/// carry 0). Needed only when the table's digests are missing.
pub(crate) async fn rebucket(
    conn: &mut AnyConnection,
    backend: Backend,
    t: Table,
    app: &str,
) -> Result<()> {
    let keys = t.key_columns();
    let rows = sqlx::query(&format!(
        "SELECT {}, bucket FROM {} WHERE app_id = $1",
        keys.join(", "),
        table_name(t)
    ))
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    let mut wrong = Vec::new();
    for r in rows {
        let mut key = Vec::with_capacity(keys.len());
        for k in keys {
            key.push(r.try_get::<String, _>(*k)?);
        }
        let row = Row {
            table: t,
            key,
            fields: Vec::new(),
        };
        if r.try_get::<i64, _>("bucket")? != row.bucket() as i64 {
            wrong.push(row);
        }
    }
    let sql = format!(
        "{src} UPDATE {tbl} AS x SET bucket = CAST({b} AS BIGINT) FROM j WHERE x.app_id = $1 AND {km}",
        tbl = table_name(t),
        b = col(keys.len()),
        src = json_cte(backend, 2),
        km = key_match(t),
    );
    for chunk in wrong.chunks(CHUNK) {
        let values: Vec<Vec<Option<String>>> = chunk
            .iter()
            .map(|r| {
                r.key
                    .iter()
                    .map(|k| Some(k.clone()))
                    .chain([Some(r.bucket().to_string())])
                    .collect()
            })
            .collect();
        sqlx::query(&sql)
            .bind(app)
            .bind(encode(&as_refs(&values)))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection as _;

    type Cells = (String, String, String, Option<i64>, i64);

    async fn read(conn: &mut AnyConnection, lo: usize, hi: usize) -> Vec<Cells> {
        let mut got = Vec::new();
        each_held(
            conn,
            Backend::Sqlite,
            Table::Grants,
            "app",
            (lo, hi),
            |b, h| {
                got.push((
                    h.row.key[0].clone(),
                    h.row.key[1].clone(),
                    h.row.fields[0].clone().unwrap(),
                    h.vanished.then_some(1),
                    b as i64,
                ));
                Ok(())
            },
        )
        .await
        .unwrap();
        got
    }

    /// Held rows come back once each, in key order, with their bucket and vanished flag,
    /// across several packed chunks and within a bucket range; SQLite pages them along the
    /// primary key (no sort).
    #[tokio::test]
    async fn held_rows_are_read_once_each_across_chunks() {
        sqlx::any::install_default_drivers();
        // One connection: each connection to `sqlite::memory:` is a database of its own.
        let mut conn = AnyConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "CREATE TABLE app_grants (app_id TEXT NOT NULL, holder TEXT NOT NULL, asset_id TEXT NOT NULL, \
             permissions TEXT NOT NULL, vanished_at BIGINT, bucket BIGINT NOT NULL, \
             PRIMARY KEY (app_id, holder, asset_id)) WITHOUT ROWID",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        // 2.5 chunks of one app's grants (two assets a holder, so a chunk can end inside a
        // holder), and another app's, which are never read.
        let n = HELD_CHUNK as usize * 5 / 4;
        let mut want = Vec::new();
        for app in ["app", "other"] {
            let rows: Vec<Cells> = (0..n)
                .flat_map(|i| {
                    ["A1", "A2"].map(|a| {
                        let bucket = ((i * 7 + a.len()) % snapshot::BUCKETS) as i64;
                        let vanished = (i % 5 == 0).then_some(1);
                        (
                            format!("member:{i:06}"),
                            a.to_string(),
                            format!("[\"P{i}\"]"),
                            vanished,
                            bucket,
                        )
                    })
                })
                .collect();
            for r in &rows {
                sqlx::query("INSERT INTO app_grants VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(app)
                    .bind(&r.0)
                    .bind(&r.1)
                    .bind(&r.2)
                    .bind(r.3)
                    .bind(r.4)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            if app == "app" {
                want = rows;
            }
        }
        assert_eq!(read(&mut conn, 0, snapshot::BUCKETS - 1).await, want);
        let some: Vec<_> = want
            .iter()
            .filter(|r| (100..=900).contains(&r.4))
            .cloned()
            .collect();
        assert_eq!(read(&mut conn, 100, 900).await, some);
        // Only the wanted buckets, left out by the database (fewer than half are wanted).
        let wanted: Vec<bool> = (0..snapshot::BUCKETS).map(|b| b % 3 == 0).collect();
        let got: Vec<Cells> = held_rows(
            &mut conn,
            Backend::Sqlite,
            Table::Grants,
            "app",
            0,
            snapshot::BUCKETS - 1,
            &wanted,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|h| {
            (
                h.row.key[0].clone(),
                h.row.key[1].clone(),
                h.row.fields[0].clone().unwrap(),
                h.vanished.then_some(1),
                h.row.bucket() as i64,
            )
        })
        .collect();
        let thirds: Vec<_> = want.iter().filter(|r| r.4 % 3 == 0).map(|r| &r.0).collect();
        assert_eq!(got.iter().map(|r| &r.0).collect::<Vec<_>>(), thirds);

        let plan: Vec<String> = sqlx::query(&format!(
            "EXPLAIN QUERY PLAN SELECT holder FROM app_grants WHERE app_id = $1 AND bucket >= $2 AND bucket <= $3 \
             AND (holder, asset_id) > ($4, $5) ORDER BY holder, asset_id LIMIT {HELD_CHUNK}"
        ))
        .bind("app")
        .bind(0)
        .bind(1)
        .bind("")
        .bind("")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("detail").unwrap())
        .collect();
        assert!(
            plan.iter().any(|p| p.contains("PRIMARY KEY"))
                && !plan.iter().any(|p| p.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
