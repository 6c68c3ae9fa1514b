//! A check for updates as the store runs it ([`CheckRun`]).
//!
//! Fetched batches arrive while the connector pages through the platform. Each row's
//! fingerprint is added to the digest of its bucket (see `castellan_domain::snapshot`):
//!
//! - **First check** of an app (it has no committed snapshot yet): rows go straight into the
//!   app's tables as they arrive, in small transactions. Readers do not see them: an app
//!   without a completed check shows no seats, assets or partners. The final transaction
//!   stores the digests, matches the seats and marks the app checked, which makes the whole
//!   snapshot visible at once. A first check that dies leaves invisible rows that the next
//!   one deletes before it starts.
//! - **Later checks**: rows are spooled to an unnamed temporary file (gone with the process).
//!   At the end, buckets whose digests equal the stored ones are skipped unread; only rows of
//!   differing buckets are read back from the spool and from the database and diffed. The
//!   difference (new, changed, reappeared, vanished rows), the new digests, the re-matching
//!   and the report are written in one transaction, so readers see the previous snapshot
//!   until it commits and a check that dies changes nothing. A check that finds no change
//!   writes no seat, asset, grant or partner row.
//!
//! Invariant: an app's stored digests always describe its live rows. Anything else that
//! changes those rows must adjust or drop the digests (a missing digest makes the next check
//! diff that whole table).

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::matching::MatchConfig;
use castellan_domain::platform::Batch;
use castellan_domain::snapshot::{self, BUCKETS, Digests, Held, Row, RowDiff, Table};
use castellan_domain::{AppId, IdentityId, TaskId, WorkspaceId};
use sqlx::{AnyConnection, Row as _};

use crate::apps::{App, CheckSummary};
use crate::audit::append;
use crate::{Backend, Result, Scoped, Store, StoreError, get_id, get_opt_id, ms};

/// Rows per bulk statement (one JSON parameter each).
const CHUNK: usize = 2000;
/// Rows diffed at once: bounds the memory of a check that finds many changes.
const PASS_ROWS: u64 = 50_000;
/// Rows a first check writes per transaction: fewer, larger commits write each index page
/// to the log fewer times.
const FIRST_CHECK_TX_ROWS: usize = 20_000;
/// Entries per list in a check report.
const REPORT_CAP: usize = 1000;

pub(crate) fn table_name(t: Table) -> &'static str {
    match t {
        Table::Seats => "app_seats",
        Table::Assets => "app_assets",
        Table::Grants => "app_grants",
        Table::Partners => "app_partners",
    }
}

/// The rows of a JSON array parameter `$n`, as a table `j` with one column `value`.
pub(crate) fn json_rows(backend: Backend, n: usize) -> String {
    json_rows_as(backend, n, "j")
}

/// The same, named `alias`.
pub(crate) fn json_rows_as(backend: Backend, n: usize, alias: &str) -> String {
    match backend {
        Backend::Sqlite => format!("json_each(${n}) AS {alias}"),
        Backend::Postgres => format!("json_array_elements(${n}::json) AS {alias}"),
    }
}

fn col(i: usize) -> String {
    format!("j.value->>{i}")
}

/// `x.k1 = j.value->>0 AND x.k2 = j.value->>1`: a held row whose key is in the parameter.
fn key_match(t: Table) -> String {
    t.key_columns()
        .iter()
        .enumerate()
        .map(|(i, k)| format!("x.{k} = {}", col(i)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn encode(rows: &[Vec<Option<&str>>]) -> String {
    serde_json::to_string(rows).expect("strings serialise")
}

/// Key, fields and bucket of each row, as a JSON parameter (written directly: this runs for
/// every row of a first check).
fn rows_json(rows: &[Row]) -> String {
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

fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("strings serialise"));
    }
}

fn as_refs(v: &[Vec<Option<String>>]) -> Vec<Vec<Option<&str>>> {
    v.iter()
        .map(|r| r.iter().map(|c| c.as_deref()).collect())
        .collect()
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
        "UPDATE {tbl} AS x SET {sets} FROM {src} WHERE x.app_id = $1 AND {km}",
        tbl = table_name(t),
        sets = sets.join(", "),
        src = json_rows(backend, 2),
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
        "UPDATE {tbl} AS x SET vanished_at = $2, last_seen_at = $3 FROM {src} WHERE x.app_id = $1 AND x.vanished_at IS NULL AND {km}",
        tbl = table_name(t),
        src = json_rows(backend, 4),
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

/// Held rows (live and vanished) whose stored bucket is in `lo..=hi` and wanted.
async fn held_rows(
    conn: &mut AnyConnection,
    t: Table,
    app: &str,
    lo: usize,
    hi: usize,
    wanted: &[bool],
) -> Result<Vec<Held>> {
    let (keys, fields) = (t.key_columns(), t.field_columns());
    let sql = format!(
        "SELECT {}, {}, bucket, vanished_at FROM {} WHERE app_id = $1 AND bucket >= $2 AND bucket <= $3",
        keys.join(", "),
        fields.join(", "),
        table_name(t)
    );
    let rows = sqlx::query(&sql)
        .bind(app)
        .bind(lo as i64)
        .bind(hi as i64)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let bucket: i64 = r.try_get("bucket")?;
        if !wanted.get(bucket as usize).copied().unwrap_or(false) {
            continue;
        }
        let mut key = Vec::with_capacity(keys.len());
        for k in keys {
            key.push(r.try_get::<String, _>(*k)?);
        }
        let mut f = Vec::with_capacity(fields.len());
        for c in fields {
            f.push(r.try_get::<Option<String>, _>(*c)?);
        }
        out.push(Held {
            row: Row {
                table: t,
                key,
                fields: f,
            },
            vanished: r.try_get::<Option<i64>, _>("vanished_at")?.is_some(),
        });
    }
    Ok(out)
}

/// Puts every row of `t` in the bucket its key decides (rows written before buckets existed
/// carry 0). Needed only when the table's digests are missing.
async fn rebucket(conn: &mut AnyConnection, backend: Backend, t: Table, app: &str) -> Result<()> {
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
        "UPDATE {tbl} AS x SET bucket = CAST({b} AS BIGINT) FROM {src} WHERE x.app_id = $1 AND {km}",
        tbl = table_name(t),
        b = col(keys.len()),
        src = json_rows(backend, 2),
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

/// Fetched rows of one table, in an unnamed temporary file: each row as its bucket (u16),
/// key and fields, strings length-prefixed (u32; `u32::MAX` for a missing field).
struct Spool {
    file: BufWriter<std::fs::File>,
}

impl Spool {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            file: BufWriter::with_capacity(256 * 1024, tempfile::tempfile()?),
        })
    }

    fn push(&mut self, row: &Row) -> std::io::Result<()> {
        let w = &mut self.file;
        w.write_all(&(row.bucket() as u16).to_le_bytes())?;
        w.write_all(&[row.key.len() as u8, row.fields.len() as u8])?;
        for s in row
            .key
            .iter()
            .map(|k| Some(k.as_str()))
            .chain(row.fields.iter().map(|f| f.as_deref()))
        {
            match s {
                Some(s) => {
                    w.write_all(&(s.len() as u32).to_le_bytes())?;
                    w.write_all(s.as_bytes())?;
                }
                None => w.write_all(&u32::MAX.to_le_bytes())?,
            }
        }
        Ok(())
    }

    /// The spooled rows whose bucket is wanted.
    fn read(&mut self, t: Table, wanted: &[bool]) -> std::io::Result<Vec<Row>> {
        self.file.flush()?;
        let mut f = self.file.get_ref().try_clone()?;
        f.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::with_capacity(256 * 1024, f);
        let mut out = Vec::new();
        let mut head = [0u8; 4];
        loop {
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let bucket = u16::from_le_bytes([head[0], head[1]]) as usize;
            let (nk, nf) = (head[2] as usize, head[3] as usize);
            let mut vals = Vec::with_capacity(nk + nf);
            for _ in 0..nk + nf {
                let mut len = [0u8; 4];
                r.read_exact(&mut len)?;
                let len = u32::from_le_bytes(len);
                if len == u32::MAX {
                    vals.push(None);
                } else {
                    let mut buf = vec![0u8; len as usize];
                    r.read_exact(&mut buf)?;
                    vals.push(Some(String::from_utf8(buf).map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
                    })?));
                }
            }
            if !wanted[bucket] {
                continue;
            }
            let fields = vals.split_off(nk);
            out.push(Row {
                table: t,
                key: vals.into_iter().map(Option::unwrap_or_default).collect(),
                fields,
            });
        }
        Ok(out)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Corrupt(format!("check spool: {e}"))
    }
}

/// The lease a check runs under: every write transaction of the check first checks that the
/// lease is still `owner`'s (a check whose task was taken over stops writing) and extends it
/// (so it is fresh when the write lock is released).
#[derive(Debug, Clone)]
pub struct CheckLease {
    pub owner: String,
    pub lease: std::time::Duration,
}

/// Extends `task`'s lease inside the caller's transaction, or fails with `Conflict(lease)`
/// when the lease is no longer `lease.owner`'s.
async fn renew_in(
    conn: &mut AnyConnection,
    store: &Store,
    task: TaskId,
    lease: Option<&CheckLease>,
) -> Result<()> {
    let Some(l) = lease else { return Ok(()) };
    let now = ms(store.env.now());
    let n = sqlx::query(
        "UPDATE tasks SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'",
    )
    .bind(task.to_string())
    .bind(&l.owner)
    .bind(now + l.lease.as_millis() as i64)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::conflict("lease", crate::LEASE_LOST))
    }
}

/// One check for updates in progress (see the module docs).
pub struct CheckRun {
    store: Store,
    lease: Option<CheckLease>,
    ws: WorkspaceId,
    app: App,
    task: TaskId,
    now: i64,
    initial: bool,
    /// The stored digests (later checks; `None` when missing).
    held: [Option<Digests>; 4],
    fetched: [Digests; 4],
    spools: [Option<Spool>; 4],
    /// First check: rows inserted per table, and the first new seats for the report.
    inserted: [u64; 4],
    new_seats: Vec<String>,
    /// First check: rows waiting for the next transaction.
    buffer: [Vec<Row>; 4],
    buffered: usize,
    in_flight: Option<tokio::task::JoinHandle<Result<[u64; 4]>>>,
}

impl Drop for CheckRun {
    /// A check dropped before it finished (failed, cancelled) stops its write in flight, so
    /// no row of it lands after the next check has cleared the leftovers.
    fn drop(&mut self) {
        if let Some(h) = self.in_flight.take() {
            h.abort();
        }
    }
}

impl Scoped<'_> {
    /// Starts a check of `app` for `task`. The caller holds the app (see `acquire_app`), so no
    /// other check runs beside it.
    pub async fn begin_check(&self, app: AppId, task: TaskId) -> Result<CheckRun> {
        let app = self.app(app).await?;
        let a = app.id.to_string();
        let initial = app.last_check_at.is_none();
        let mut held: [Option<Digests>; 4] = Default::default();
        if initial {
            // Leftovers of a first check that died.
            let mut tx = self.store.begin_write().await?;
            for t in Table::ALL {
                sqlx::query(&format!("DELETE FROM {} WHERE app_id = $1", table_name(t)))
                    .bind(&a)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM app_digests WHERE app_id = $1")
                .bind(&a)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        } else {
            let rows = sqlx::query("SELECT tbl, digests FROM app_digests WHERE app_id = $1")
                .bind(&a)
                .fetch_all(&self.store.pool)
                .await?;
            for r in rows {
                let name: String = r.try_get("tbl")?;
                if let Some(t) = Table::ALL.into_iter().find(|t| t.as_str() == name) {
                    // Unreadable digests count as missing: that table is diffed in full.
                    held[t.index()] = Digests::decode(&r.try_get::<String, _>("digests")?);
                }
            }
        }
        let spools = if initial {
            Default::default()
        } else {
            [
                Some(Spool::new()?),
                Some(Spool::new()?),
                Some(Spool::new()?),
                Some(Spool::new()?),
            ]
        };
        Ok(CheckRun {
            store: self.store.clone(),
            lease: None,
            ws: self.ws,
            now: ms(self.store.env.now()),
            app,
            task,
            initial,
            held,
            fetched: Default::default(),
            spools,
            inserted: [0; 4],
            new_seats: Vec::new(),
            buffer: Default::default(),
            buffered: 0,
            in_flight: None,
        })
    }
}

impl CheckRun {
    /// Writes only while `lease` holds (see [`CheckLease`]).
    pub fn leased(mut self, lease: CheckLease) -> Self {
        self.lease = Some(lease);
        self
    }

    async fn renew_lease(&self, conn: &mut AnyConnection) -> Result<()> {
        renew_in(conn, &self.store, self.task, self.lease.as_ref()).await
    }

    /// Whether this is the app's first check (rows are written as they come).
    pub fn is_initial(&self) -> bool {
        self.initial
    }

    /// Takes one fetched batch.
    pub async fn accept(&mut self, batch: &Batch) -> Result<()> {
        let rows = Row::from_batch(batch);
        let Some(t) = rows.first().map(|r| r.table) else {
            return Ok(());
        };
        for r in &rows {
            self.fetched[t.index()].add(r);
        }
        if self.initial {
            if t == Table::Seats {
                let room = REPORT_CAP.saturating_sub(self.new_seats.len());
                self.new_seats
                    .extend(rows.iter().take(room).map(|r| r.key[0].clone()));
            }
            self.buffered += rows.len();
            self.buffer[t.index()].extend(rows);
            if self.buffered >= FIRST_CHECK_TX_ROWS {
                self.flush().await?;
            }
        } else if let Some(spool) = &mut self.spools[t.index()] {
            for r in &rows {
                spool.push(r)?;
            }
        }
        Ok(())
    }

    /// First check: hands the buffered rows to a transaction of their own, which runs while
    /// the next rows arrive; waits first for the one before it (one in flight at a time, so
    /// memory stays bounded and rows are written in order).
    async fn flush(&mut self) -> Result<()> {
        self.settle().await?;
        if self.buffered == 0 {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        self.buffered = 0;
        let (store, w, a, now, task, lease) = (
            self.store.clone(),
            self.ws.to_string(),
            self.app.id.to_string(),
            self.now,
            self.task,
            self.lease.clone(),
        );
        self.in_flight = Some(tokio::spawn(async move {
            let mut tx = store.begin_write().await?;
            renew_in(&mut tx, &store, task, lease.as_ref()).await?;
            if store.backend == Backend::Postgres {
                // Nothing is visible before the final, synchronous commit, and a crash before
                // it makes the next check start over: these commits need not wait for the disk.
                sqlx::query("SET LOCAL synchronous_commit TO OFF")
                    .execute(&mut *tx)
                    .await?;
            }
            let mut inserted = [0u64; 4];
            for (i, mut rows) in buffer.into_iter().enumerate() {
                // In key order, each transaction touches neighbouring index pages.
                rows.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                inserted[i] = insert_rows(&mut tx, store.backend, &w, &a, now, &rows).await?;
            }
            renew_in(&mut tx, &store, task, lease.as_ref()).await?;
            tx.commit().await?;
            Ok(inserted)
        }));
        Ok(())
    }

    /// Waits for the transaction in flight, if any.
    async fn settle(&mut self) -> Result<()> {
        if let Some(h) = self.in_flight.take() {
            let n = h
                .await
                .map_err(|e| StoreError::Corrupt(format!("first-check writer: {e}")))??;
            for (total, n) in self.inserted.iter_mut().zip(n) {
                *total += n;
            }
        }
        Ok(())
    }

    /// Applies what was fetched (see the module docs), matches the seats, and records the
    /// report and the audit event. `fetch` (request counts, duration) goes into the report.
    pub async fn finish(mut self, actor: &Actor, fetch: serde_json::Value) -> Result<CheckSummary> {
        self.flush().await?;
        self.settle().await?;
        let store = self.store.clone();
        let backend = store.backend;
        let (w, a) = (self.ws.to_string(), self.app.id.to_string());
        // Which buckets differ, per table.
        let mut differing: [Vec<bool>; 4] = Default::default();
        for t in Table::ALL {
            let i = t.index();
            differing[i] = match (&self.held[i], self.initial) {
                (_, true) => vec![false; BUCKETS],
                (Some(h), false) => {
                    let mut v = vec![false; BUCKETS];
                    for b in h.differing(&self.fetched[i]) {
                        v[b] = true;
                    }
                    v
                }
                (None, false) => vec![true; BUCKETS],
            };
        }
        let seats_differ = self.initial || differing[0].iter().any(|&d| d);
        let (dir_version, settings) = self.directory_version().await?;
        let rematch = seats_differ || self.app.matched_version != Some(dir_version);
        let identities = if rematch {
            Some(load_identities(&store, self.ws).await?)
        } else {
            None
        };
        let cfg = MatchConfig::from_workspace(
            &castellan_domain::workspace::WorkspaceSettings::from_json(&settings),
        );
        // Matching is CPU work over every seat: when the write below does not change seats (a
        // first check wrote them already; a later one whose seats are unchanged), it is planned
        // before taking the write lock, so heartbeats and claims do not wait behind it.
        let changes_seats = !self.initial && differing[0].iter().any(|&d| d);
        let early = match &identities {
            Some(ids) if !changes_seats => {
                let mut conn = store.pool.acquire().await?;
                Some(plan_rematch(&mut conn, self.ws, self.app.id, ids, &cfg).await?)
            }
            _ => None,
        };

        let mut tx = store.begin_write().await?;
        self.renew_lease(&mut tx).await?;
        let mut s = CheckSummary::default();
        let mut report = Report::default();
        if self.initial {
            (s.seats_new, s.assets_new, s.grants_new, s.partners_new) = (
                self.inserted[0],
                self.inserted[1],
                self.inserted[2],
                self.inserted[3],
            );
            report.new_seats = std::mem::take(&mut self.new_seats);
            report.new_seats.sort();
        } else {
            for t in Table::ALL {
                let i = t.index();
                if !differing[i].iter().any(|&d| d) {
                    continue;
                }
                if self.held[i].is_none() {
                    rebucket(&mut tx, backend, t, &a).await?;
                }
                let held = self.held[i].clone().unwrap_or_default();
                let mut spool = self.spools[i].take().expect("later checks spool");
                for (lo, hi) in passes(&differing[i], &held, &self.fetched[i]) {
                    let mut wanted = vec![false; BUCKETS];
                    wanted[lo..=hi].copy_from_slice(&differing[i][lo..=hi]);
                    let held_rows = held_rows(&mut tx, t, &a, lo, hi, &wanted).await?;
                    let fetched = spool.read(t, &wanted)?;
                    let d = snapshot::diff(held_rows, fetched);
                    report.add(t, &d);
                    let new = d.new.clone();
                    let changed: Vec<Row> = d.changed.iter().map(|(r, _)| r.clone()).collect();
                    let ins = insert_rows(&mut tx, backend, &w, &a, self.now, &new).await?;
                    let upd = update_rows(&mut tx, backend, &a, &changed).await?;
                    let van = vanish_rows(
                        &mut tx,
                        backend,
                        &a,
                        self.now,
                        self.app.last_check_at.map(ms),
                        &d.vanished,
                    )
                    .await?;
                    s.add(t, ins, upd, van);
                }
            }
        }
        s.rows_written = s.seats_new
            + s.seats_changed
            + s.seats_vanished
            + s.assets_new
            + s.assets_changed
            + s.assets_vanished
            + s.grants_new
            + s.grants_changed
            + s.grants_vanished
            + s.partners_new
            + s.partners_changed
            + s.partners_vanished;
        // Digests of the tables that changed (all of them after a first check).
        for t in Table::ALL {
            let i = t.index();
            if self.initial || differing[i].iter().any(|&d| d) {
                sqlx::query(
                    "INSERT INTO app_digests (workspace_id, app_id, tbl, digests) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (app_id, tbl) DO UPDATE SET digests = excluded.digests",
                )
                .bind(&w)
                .bind(&a)
                .bind(t.as_str())
                .bind(self.fetched[i].encode())
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(identities) = &identities {
            let plan = match early {
                Some(p) => p,
                None => plan_rematch(&mut tx, self.ws, self.app.id, identities, &cfg).await?,
            };
            s.rematched = apply_rematch(&mut tx, backend, self.app.id, &plan).await?;
        }
        let pending = pending_removal(&mut tx, &a).await?;
        // Seats no earlier report of the app listed: what a notification is news about.
        let earlier = sqlx::query(
            "SELECT pending_removal FROM check_reports WHERE app_id = $1 AND pending_removal <> '[]'",
        )
        .bind(&a)
        .fetch_all(&mut *tx)
        .await?;
        let mut listed = std::collections::HashSet::new();
        for r in &earlier {
            let v: serde_json::Value =
                serde_json::from_str(&r.try_get::<String, _>("pending_removal")?)
                    .unwrap_or_default();
            for p in v.as_array().into_iter().flatten() {
                if let Some(u) = p["user_id"].as_str() {
                    listed.insert(u.to_string());
                }
            }
        }
        s.pending_removal = pending.len() as u64;
        s.newly_pending = pending
            .iter()
            .filter(|p| p["user_id"].as_str().is_some_and(|u| !listed.contains(u)))
            .count() as u64;
        let report_id = store.env.new_uuid().to_string();
        s.report_id = report_id.clone();
        sqlx::query("INSERT INTO check_reports (id, workspace_id, app_id, task_id, created_at, summary, changes, pending_removal, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&report_id)
            .bind(&w)
            .bind(&a)
            .bind(self.task.to_string())
            .bind(self.now)
            .bind(serde_json::json!({ "counts": s, "fetch": fetch }).to_string())
            .bind(report.into_json().to_string())
            .bind(serde_json::Value::Array(pending.clone()).to_string())
            .bind(if pending.is_empty() { "none" } else { "open" })
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE apps SET status = 'connected', status_message = NULL, last_check_at = $3, updated_at = $3, \
             matched_version = COALESCE($4, matched_version) WHERE workspace_id = $1 AND id = $2",
        )
        .bind(&w)
        .bind(&a)
        .bind(self.now)
        .bind(identities.as_ref().map(|_| dir_version))
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "app.check",
                format!("app:{}", self.app.id),
                serde_json::to_value(&s).expect("summary serialises"),
            ),
        )
        .await?;
        // Renewed last as well, so the lease is fresh when the write lock is released.
        self.renew_lease(&mut tx).await?;
        tx.commit().await?;
        Ok(s)
    }

    async fn directory_version(&self) -> Result<(i64, serde_json::Value)> {
        let r = sqlx::query("SELECT directory_version, settings FROM workspaces WHERE id = $1")
            .bind(self.ws.to_string())
            .fetch_one(&self.store.pool)
            .await?;
        Ok((
            r.try_get("directory_version")?,
            crate::get_json(&r, "settings")?,
        ))
    }
}

/// Splits the differing buckets into contiguous ranges of at most about `PASS_ROWS` rows.
fn passes(differing: &[bool], held: &Digests, fetched: &Digests) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut rows = 0u64;
    for (b, _) in differing.iter().enumerate().filter(|(_, d)| **d) {
        let n = u64::from(held.counts[b]) + u64::from(fetched.counts[b]);
        if let Some(s) = start
            && rows + n > PASS_ROWS
        {
            out.push((s, b - 1));
            start = None;
            rows = 0;
        }
        start.get_or_insert(b);
        rows += n;
    }
    if let Some(s) = start {
        out.push((s, BUCKETS - 1));
    }
    // With the held digests missing their counts are zeros and a pass is sized by what was
    // fetched alone; that happens once, after an upgrade or a dropped digest.
    out
}

/// What a check changed, listed for its report (each list capped).
#[derive(Default)]
struct Report {
    new_seats: Vec<String>,
    vanished_seats: Vec<String>,
    role_changes: Vec<serde_json::Value>,
    permission_changes: Vec<serde_json::Value>,
    new_partners: Vec<String>,
    vanished_partners: Vec<String>,
}

fn push_capped<T>(v: &mut Vec<T>, items: impl Iterator<Item = T>) {
    let room = REPORT_CAP.saturating_sub(v.len());
    v.extend(items.take(room));
}

impl Report {
    fn add(&mut self, t: Table, d: &RowDiff) {
        use snapshot::seat::ROLES;
        match t {
            Table::Seats => {
                push_capped(&mut self.new_seats, d.new.iter().map(|r| r.key[0].clone()));
                // A seat that came back is new again to whoever reads the report.
                push_capped(
                    &mut self.new_seats,
                    d.changed
                        .iter()
                        .filter(|(_, h)| h.vanished)
                        .map(|(r, _)| r.key[0].clone()),
                );
                push_capped(&mut self.vanished_seats, d.vanished.iter().map(|r| r.key[0].clone()));
                push_capped(
                    &mut self.role_changes,
                    d.changed
                        .iter()
                        .filter(|(r, h)| !h.vanished && r.fields[ROLES] != h.row.fields[ROLES])
                        .map(|(r, h)| serde_json::json!({ "user_id": r.key[0], "from": h.row.fields[ROLES], "to": r.fields[ROLES] })),
                );
            }
            Table::Grants => push_capped(
                &mut self.permission_changes,
                d.changed
                    .iter()
                    .filter(|(_, h)| !h.vanished)
                    .map(|(r, h)| serde_json::json!({ "holder": r.key[0], "asset_id": r.key[1], "from": h.row.fields[0], "to": r.fields[0] })),
            ),
            Table::Partners => {
                push_capped(
                    &mut self.new_partners,
                    d.new
                        .iter()
                        .chain(d.changed.iter().filter(|(_, h)| h.vanished).map(|(r, _)| r))
                        .map(|r| r.key[0].clone()),
                );
                push_capped(&mut self.vanished_partners, d.vanished.iter().map(|r| r.key[0].clone()));
            }
            Table::Assets => {}
        }
    }

    fn into_json(mut self) -> serde_json::Value {
        self.new_seats.sort();
        self.new_partners.sort();
        serde_json::json!({
            "new_seats": self.new_seats,
            "vanished_seats": self.vanished_seats,
            "role_changes": self.role_changes,
            "permission_changes": self.permission_changes,
            "new_partners": self.new_partners,
            "vanished_partners": self.vanished_partners,
        })
    }
}

/// Live seats of deactivated people (not exempted), for the report.
async fn pending_removal(conn: &mut AnyConnection, app: &str) -> Result<Vec<serde_json::Value>> {
    let rows = sqlx::query(
        "SELECT s.user_id, s.email, s.username, s.roles, s.state, i.id AS identity_id, i.user_name, i.display_name, i.primary_email \
         FROM app_seats s JOIN identities i ON i.id = s.identity_id WHERE s.app_id = $1 AND s.vanished_at IS NULL \
         AND s.state <> 'exempted' AND s.kind IN ('member', 'system_user') AND i.active = 0 ORDER BY s.user_id",
    )
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let roles: serde_json::Value =
                serde_json::from_str(&r.try_get::<String, _>("roles")?).unwrap_or_default();
            let person = match r.try_get::<Option<String>, _>("display_name")? {
                Some(d) => d,
                None => r.try_get("user_name")?,
            };
            Ok(serde_json::json!({
                "user_id": r.try_get::<String, _>("user_id")?,
                "email": r.try_get::<Option<String>, _>("email")?,
                "username": r.try_get::<Option<String>, _>("username")?,
                "roles": roles,
                "identity_id": r.try_get::<String, _>("identity_id")?,
                "person": person,
                "person_email": r.try_get::<String, _>("primary_email")?,
            }))
        })
        .collect()
}

/// An identity as matching sees it: id, userName, e-mails, active.
type IdentityRow = (IdentityId, String, Vec<String>, bool);

async fn load_identities(store: &Store, ws: WorkspaceId) -> Result<Vec<IdentityRow>> {
    let rows = sqlx::query("SELECT id, user_name, primary_email, other_emails, active FROM identities WHERE workspace_id = $1")
        .bind(ws.to_string())
        .fetch_all(&store.pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let other: Vec<String> =
            serde_json::from_str(&r.try_get::<String, _>("other_emails")?).unwrap_or_default();
        let mut emails = vec![r.try_get::<String, _>("primary_email")?];
        emails.extend(other);
        out.push((
            get_id(r, "id")?,
            r.try_get("user_name")?,
            emails,
            r.try_get::<i64, _>("active")? != 0,
        ));
    }
    Ok(out)
}

/// Re-matches the app's live seats that are not manually decided to `identities`; writes
/// only the seats whose state or person changed. Returns how many changed.
pub(crate) async fn plan_rematch(
    conn: &mut AnyConnection,
    ws: WorkspaceId,
    app: AppId,
    identities: &[IdentityRow],
    cfg: &MatchConfig,
) -> Result<Rematch> {
    use castellan_domain::matching::{Candidate, Outcome, SeatKey, match_all};
    struct S {
        user_id: String,
        username: Option<String>,
        email: Option<String>,
        kind: String,
        state: String,
        identity: Option<IdentityId>,
    }
    // Streamed: a large business's seats are not held as rows as well as here.
    let mut rows = Vec::new();
    {
        use futures_util::TryStreamExt;
        let mut seats = sqlx::query(
            "SELECT user_id, username, email, kind, state, identity_id FROM app_seats WHERE workspace_id = $1 AND app_id = $2 \
             AND vanished_at IS NULL AND (match_source IS NULL OR match_source = 'auto') AND state <> 'exempted'",
        )
        .bind(ws.to_string())
        .bind(app.to_string())
        .fetch(&mut *conn);
        while let Some(r) = seats.try_next().await? {
            rows.push(S {
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                email: r.try_get("email")?,
                kind: r.try_get("kind")?,
                state: r.try_get("state")?,
                identity: get_opt_id(&r, "identity_id")?,
            });
        }
    }
    let keys: Vec<SeatKey> = rows
        .iter()
        .map(|s| SeatKey {
            email: s.email.as_deref(),
            username: s.username.as_deref(),
            partner: s.kind == "partner_user",
        })
        .collect();
    let candidates = |active: bool| {
        identities
            .iter()
            .filter(move |i| i.3 == active)
            .map(|(id, u, e, _)| Candidate {
                id: *id,
                user_name: u,
                emails: e.iter().map(String::as_str).collect(),
            })
    };
    let outcomes = match_all(cfg, &keys, candidates(true));
    // A seat no active person claims may belong to a leaver: linked to the deactivated
    // identity it stays Unmatched, and reports list it as pending removal.
    let leavers = match_all(cfg, &keys, candidates(false));
    let leaver_of: Vec<Option<IdentityId>> = outcomes
        .iter()
        .zip(leavers)
        .map(|(o, l)| match (o, l) {
            (Outcome::Unmatched, Outcome::Matched(id, _)) => Some(id),
            _ => None,
        })
        .collect();
    let mut changes: Vec<Vec<Option<String>>> = Vec::new();
    for ((s, outcome), leaver) in rows.iter().zip(outcomes).zip(leaver_of) {
        let (state, identity) = match (s.kind.as_str(), outcome) {
            ("invite", _) => ("invited", None),
            (_, Outcome::PartnerUser) => ("partner_user", None),
            (_, Outcome::Matched(id, _)) => ("onboarded", Some(id)),
            (_, Outcome::Unmatched) => ("unmatched", leaver),
        };
        if state != s.state || identity != s.identity {
            changes.push(vec![
                Some(s.user_id.clone()),
                Some(state.into()),
                identity.map(|i| i.to_string()),
            ]);
        }
    }
    Ok(Rematch { changes })
}

/// Seats whose match changes: `[user_id, state, identity_id]` each.
pub(crate) struct Rematch {
    changes: Vec<Vec<Option<String>>>,
}

/// Writes a planned rematch. A seat matched by hand or exempted since the plan was read keeps
/// what the person did.
pub(crate) async fn apply_rematch(
    conn: &mut AnyConnection,
    backend: Backend,
    app: AppId,
    plan: &Rematch,
) -> Result<u64> {
    let sql = format!(
        "UPDATE app_seats AS x SET state = j.value->>1, identity_id = j.value->>2, match_source = 'auto' FROM {} \
         WHERE x.app_id = $1 AND x.user_id = j.value->>0 \
         AND (x.match_source IS NULL OR x.match_source = 'auto') AND x.state <> 'exempted'",
        json_rows(backend, 2)
    );
    for chunk in plan.changes.chunks(CHUNK) {
        sqlx::query(&sql)
            .bind(app.to_string())
            .bind(encode(&as_refs(chunk)))
            .execute(&mut *conn)
            .await?;
    }
    Ok(plan.changes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_cover_differing_buckets_in_bounded_ranges() {
        let mut differing = vec![false; BUCKETS];
        let mut held = Digests::default();
        let fetched = Digests::default();
        for b in [3, 10, 11, 4000] {
            differing[b] = true;
            held.counts[b] = 30_000;
        }
        let p = passes(&differing, &held, &fetched);
        assert_eq!(p, vec![(3, 9), (10, 10), (11, 3999), (4000, BUCKETS - 1)]);
        assert!(passes(&vec![false; BUCKETS], &held, &fetched).is_empty());
        held.counts = vec![1; BUCKETS];
        assert_eq!(
            passes(&vec![true; BUCKETS], &held, &fetched),
            vec![(0, BUCKETS - 1)]
        );
    }
}
