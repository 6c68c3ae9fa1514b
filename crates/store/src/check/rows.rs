//! The check's bulk row writers and readers: insert, update and vanish rows of the four
//! tables, read the held rows of a bucket range, rebuild missing buckets.

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
    let t = first.table;
    let (keys, fields) = (t.key_columns(), t.field_columns());
    let n = keys.len() + fields.len();
    let mut cols: Vec<String> = keys.iter().chain(fields).map(|c| c.to_string()).collect();
    let mut vals: Vec<String> = (0..n).map(col).collect();
    cols.push("bucket".into());
    vals.push(format!("CAST({} AS BIGINT)", col(n)));
    if t == Table::Seats {
        // A new seat starts in the tab its kind decides; matching then moves it.
        cols.push("state".into());
        vals.push(format!(
            "CASE {} WHEN 'invite' THEN 'invited' WHEN 'partner_user' THEN 'partner_user' ELSE 'unmatched' END",
            col(keys.len() + snapshot::seat::KIND)
        ));
    }
    let sql = format!(
        "INSERT INTO {tbl} (workspace_id, app_id, first_seen_at, {cols}) SELECT $1, $2, $3, {vals} FROM {src} \
         WHERE true ON CONFLICT (app_id, {keys}) DO NOTHING",
        tbl = table_name(t),
        cols = cols.join(", "),
        vals = vals.join(", "),
        src = json_rows(backend, 4),
        keys = keys.join(", "),
    );
    let mut inserted = 0;
    for chunk in rows.chunks(CHUNK) {
        inserted += sqlx::query(&sql)
            .bind(ws)
            .bind(app)
            .bind(now)
            .bind(rows_json(chunk))
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

/// The columns a held row is read from.
fn held_select(t: Table) -> String {
    format!(
        "SELECT {}, {}, bucket, vanished_at FROM {} WHERE app_id = $1",
        t.key_columns().join(", "),
        t.field_columns().join(", "),
        table_name(t)
    )
}

/// A held row as read by [`held_select`], with its stored bucket.
fn held_of(t: Table, r: &sqlx::any::AnyRow) -> Result<(usize, Held)> {
    let (keys, fields) = (t.key_columns(), t.field_columns());
    let bucket: i64 = r.try_get("bucket")?;
    let mut key = Vec::with_capacity(keys.len());
    for k in keys {
        key.push(r.try_get::<String, _>(*k)?);
    }
    let mut f = Vec::with_capacity(fields.len());
    for c in fields {
        f.push(r.try_get::<Option<String>, _>(*c)?);
    }
    Ok((
        bucket as usize,
        Held {
            row: Row {
                table: t,
                key,
                fields: f,
            },
            vanished: r.try_get::<Option<i64>, _>("vanished_at")?.is_some(),
        },
    ))
}

/// Held rows (live and vanished) whose stored bucket is in `lo..=hi` and wanted.
pub(crate) async fn held_rows(
    conn: &mut AnyConnection,
    t: Table,
    app: &str,
    lo: usize,
    hi: usize,
    wanted: &[bool],
) -> Result<Vec<Held>> {
    let rows = sqlx::query(&format!(
        "{} AND bucket >= $2 AND bucket <= $3",
        held_select(t)
    ))
    .bind(app)
    .bind(lo as i64)
    .bind(hi as i64)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let (bucket, held) = held_of(t, r)?;
        if wanted.get(bucket).copied().unwrap_or(false) {
            out.push(held);
        }
    }
    Ok(out)
}

/// The held rows of many passes read in one scan of the table (streamed, not held) and
/// split into a spool per pass: `pass_of[bucket]` names the pass of each wanted bucket. A
/// scan per pass read the table as many times as there were passes.
pub(crate) async fn held_partition(
    conn: &mut AnyConnection,
    t: Table,
    app: &str,
    pass_of: &[Option<u16>],
    passes: usize,
) -> Result<Vec<Spool>> {
    use futures_util::TryStreamExt;
    let mut parts = (0..passes)
        .map(|_| Spool::buffered(PART_BUFFER))
        .collect::<std::io::Result<Vec<_>>>()?;
    let sql = held_select(t);
    let mut rows = sqlx::query(&sql).bind(app).fetch(&mut *conn);
    while let Some(r) = rows.try_next().await? {
        let (bucket, held) = held_of(t, &r)?;
        if let Some(Some(p)) = pass_of.get(bucket) {
            parts[*p as usize].push_held(bucket, &held)?;
        }
    }
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
